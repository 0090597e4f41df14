"""The notes demo (the `seed_demo` hook, after the core's): the three demo creators each
post image notes that tag the demo products, with #topics, a mention and a location;
Mia's note on the repair cream is labelled sponsored by itself (she collaborates with
Camellia Skin); and Lin buys that cream from the note, so the purchase is credited to
Mia and earns her a commission in the demo campaign.

Idempotent: a note is skipped when its author already has one with that title, and the
purchase once Lin has bought from the note. Images are drawn with Pillow (no network,
no files shipped) and stored through `core.catalog.media.store_image`, like any upload.
"""

from __future__ import annotations

import io
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.auth.models import User
from core.catalog.models import Brand
from core.auth.permissions import Actor
from core.db import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

# creator handle -> (the audience the demo creator brings along, their colour)
DEMO_AUTHORS = {"mia.skin": (48_000, (214, 92, 120)), "leo.trails": (6_200, (62, 128, 98)), "jun.tea": (210_000, (168, 128, 64))}
SPONSORED_NOTE = "山茶花修护霜两周记录"
LIP_BALM_NOTE = "茶席边的润唇膏"  # Jun's content for the lip balm campaign, awaiting the brand's review
# handle, title, body, [(sku, image_position, x_ppm, y_ppm)], images, location, hours ago
DEMO_NOTES: list[tuple[str, str, str, list[tuple[str, int | None, int | None, int | None]], int, dict[str, Any] | None, int]] = [
    ("mia.skin", SPONSORED_NOTE,
     "敏感肌的夜间修护三步：卸妆油 → 修护霜 → 润唇膏。山茶花修护霜用了两周，脸颊泛红明显少了，质地不闷。\n"
     "Two weeks with the repair cream: less redness, not heavy.\n#护肤 #敏感肌 #夜间修护",
     [("CS-CREAM-50", 0, 520_000, 610_000), ("CS-OIL-150", 1, 430_000, 380_000)], 3, {"place_name": "衡山路", "city": "上海", "lat_e6": 31_204_300, "lng_e6": 121_446_500}, 5),
    ("mia.skin", "通勤包里的小确幸",
     "每天通勤都会带的蜜桃色润唇膏，淡淡显色。Peach balm in every bag.\n#好物分享 #护肤",
     [("CS-LIP-PEACH", 0, 500_000, 500_000)], 2, None, 30),
    ("mia.skin", "卸妆油空瓶记",
     "第三瓶了，乳化快不糊眼，敏感肌也能放心用。#空瓶记 #护肤",
     [("CS-OIL-250", None, None, None)], 1, None, 75),
    ("leo.trails", "莫干山一日轻徒步",
     "十五公里，竹林和古道。防风外套塞进胸袋只有拳头大，18 升背包刚好。\nA 15 km loop in the bamboo.\n#徒步 #周末去哪儿",
     [("NT-WJ-BLU-M", 0, 480_000, 420_000), ("NT-DP18-GRA", 1, 500_000, 560_000)], 3, {"place_name": "莫干山", "city": "湖州", "lat_e6": 30_606_000, "lng_e6": 119_870_000}, 10),
    ("leo.trails", "美利奴袜子真的不臭",
     "连穿两天也没味道，徒步党必备。Merino socks, two days, no smell.\n#徒步 #好物分享",
     [("NT-SOCK-M", None, None, None)], 1, None, 50),
    ("jun.tea", "冷泡乌龙的正确打开方式",
     "一袋乌龙 + 500ml 冷水，冰箱里放 6 小时。配一人食玻璃壶刚好。@mia.skin 说想学！\n#冷泡茶 #一人食",
     [("TR-CBO-10", 0, 450_000, 520_000), ("TR-POT-300", 1, 500_000, 480_000)], 2, {"place_name": "翠湖", "city": "昆明", "lat_e6": 25_048_000, "lng_e6": 102_705_000}, 3),
    ("jun.tea", LIP_BALM_NOTE,
     "热茶一杯接一杯，嘴唇最先干。自然色润唇膏放在茶盘边，喝完抹一下。\nTea after tea dries my lips: the natural balm sits by the tray.\n#好物分享 #茶",
     [("CS-LIP-NAT", 0, 500_000, 520_000)], 2, None, 2),
    ("jun.tea", "茉莉银针 · 下午茶",
     "七窨茉莉，花香不压茶味，下午三点的一杯。#茶 #好物分享",
     [("TR-JSN-50", None, None, None)], 2, None, 20),
    # more of everyday posting, so the explore feed has pages to scroll
    ("mia.skin", "换季护肤清单", "换季脸干起皮，精简成三步：温和洁面、保湿、防晒。#护肤 #换季", [("CS-CREAM-50", None, None, None)], 2, None, 100),
    ("mia.skin", "油皮也能用的面霜", "以为会闷痘，结果很清爽。Not greasy at all. #护肤 #油皮", [("CS-CREAM-50", None, None, None)], 1, None, 120),
    ("mia.skin", "卸妆三步不搓脸", "干手干脸、打圈一分钟、温水乳化。#卸妆 #护肤", [("CS-OIL-150", None, None, None)], 1, None, 140),
    ("mia.skin", "唇膏颜色对比", "蜜桃和裸粉放一起，日常选蜜桃。#彩妆 #好物分享", [("CS-LIP-PEACH", None, None, None)], 2, None, 160),
    ("mia.skin", "出差护肤小样", "三天出差只带卸妆油和修护霜。#出差 #护肤", [("CS-OIL-150", None, None, None)], 1, None, 180),
    ("leo.trails", "新手徒步装备", "外套、背包、好袜子，先把这三样配齐。Beginner kit. #徒步 #装备", [("NT-WJ-BLU-M", None, None, None)], 2, None, 90),
    ("leo.trails", "雨天徒步小记", "小雨里的古道更安静，外套防泼水够用。#徒步 #雨天", [("NT-WJ-BLU-M", None, None, None)], 1, None, 110),
    ("leo.trails", "18升背包装什么", "水、外套、头灯、能量棒，刚好装满。#徒步 #装备", [("NT-DP18-GRA", None, None, None)], 2, None, 130),
    ("leo.trails", "城市夜跑路线", "滨江十公里，路灯好、人少。#跑步 #周末去哪儿", [("NT-SOCK-M", None, None, None)], 1, None, 150),
    ("leo.trails", "露营第一晚", "风有点大，羊毛袜救了我。First camp night. #露营 #徒步", [("NT-SOCK-M", None, None, None)], 1, None, 170),
    ("jun.tea", "办公室冷泡茶", "早上泡好，下午就能喝。#冷泡茶 #打工人", [("TR-CBO-10", None, None, None)], 1, None, 95),
    ("jun.tea", "一人食下午茶", "玻璃壶 + 茉莉银针 + 一块小蛋糕。#一人食 #茶", [("TR-POT-300", None, None, None)], 2, None, 115),
    ("jun.tea", "乌龙的三种喝法", "热泡、冷泡、做奶茶，各有味道。Three ways with oolong. #茶", [("TR-CBO-10", None, None, None)], 2, None, 135),
    ("jun.tea", "送长辈的茶礼", "茉莉银针罐装好看，长辈也爱喝。#送礼 #茶", [("TR-JSN-50", None, None, None)], 1, None, 155),
    ("jun.tea", "茶具收纳", "一人食茶壶不占地方，洗起来也方便。#收纳 #一人食", [("TR-POT-300", None, None, None)], 1, None, 175),
    ("jun.tea", "周末茶会准备", "三款茶、两种点心，四个朋友刚好。#茶 #周末去哪儿", [("TR-JSN-50", None, None, None), ("TR-CBO-10", None, None, None)], 2, None, 190),
]
DEMO_BUYER = "shopper@demo.zhongcao.dev"
DEMO_BRAND = "camellia-skin"  # the core demo's brand whose creator Mia is
DEMO_CARD = "5555 5555 5555 4444"  # sandbox (the core demo's shopper card)
DEMO_ADDRESS = {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "region": "SH", "country": "CN"}


def note_image(colour: tuple[int, int, int], initial: str, index: int) -> bytes:
    """A 3:4 picture: a colour wash, a round 'product' and the creator's initial."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = 600, 800
    shade = index * 18
    top = tuple(max(0, min(255, c + 40 - shade)) for c in colour)
    bottom = tuple(max(0, min(255, c - 40 - shade)) for c in colour)
    img = Image.new("RGB", (width, height))
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / (height - 1)
        draw.line([(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    r = 150 + 20 * (index % 3)
    cx, cy = width // 2, height // 2 + 40
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=tuple(min(255, c + 70) for c in colour))
    try:
        font: Any = ImageFont.load_default(size=160)
    except TypeError:  # Pillow without FreeType
        font = ImageFont.load_default()
    draw.text((cx, cy), initial, fill=(255, 255, 255), font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()


def _actor(user: User) -> Actor:
    return Actor(user_id=user.id, email=user.email, display_name=user.display_name, locale="zh-CN", roles=frozenset({"creator"}))


async def seed_notes_demo(session: AsyncSession, runtime: Runtime) -> None:
    from core.campaigns.models import CreatorProfile
    from core.catalog.media import remove_files, store_image
    from core.catalog.models import Variant
    from plugins.notes import notes as svc
    from plugins.notes.models import Note
    from plugins.notes.profiles import ensure_profile

    authors: dict[str, User] = {}
    for handle, (audience, _colour) in DEMO_AUTHORS.items():
        user_id = (await session.execute(select(CreatorProfile.user_id).where(CreatorProfile.handle == handle))).scalar_one_or_none()
        if user_id is None:
            continue  # the core demo did not make this creator
        user = await session.get(User, user_id)
        assert user is not None
        authors[handle] = user
        profile = await ensure_profile(session, user.id)
        if profile.follower_count == 0 and profile.note_count == 0:
            # the audience the demo creator brought from elsewhere (their creator card's
            # figure), so the demo's tiers stay micro / koc / mid; real follows add to it
            profile.follower_count = audience
    await session.flush()
    await seed_follows(session, runtime, authors)
    skus = {sku for *_, tags, _n, _loc, _h in DEMO_NOTES for sku, *_ in tags}
    variants = dict((await session.execute(select(Variant.sku, Variant.id).where(Variant.sku.in_(skus)))).all())
    now = utcnow()
    for handle, title, body, tags, image_count, location, hours_ago in DEMO_NOTES:
        author = authors.get(handle)
        if author is None or any(sku not in variants for sku, *_ in tags):
            continue
        if (await session.execute(select(Note.id).where(Note.author_user_id == author.id, Note.title == title))).first() is not None:
            continue
        colour = DEMO_AUTHORS[handle][1]
        stored = [await store_image(runtime.settings.media_dir, f"notes/{author.id}", note_image(colour, handle[0].upper(), i)) for i in range(image_count)]
        data = svc.NoteIn(
            title=title, body=body, publish=True, location=svc.LocationIn(**location) if location else None,
            tags=[svc.TagIn(variant_id=variants[sku], image_position=pos, x_ppm=x, y_ppm=y) for sku, pos, x, y in tags],
        )
        try:
            await svc.create_note(session, runtime, _actor(author), data, images=stored, now=now - timedelta(hours=hours_ago))
        except BaseException:
            await remove_files(runtime.settings.media_dir, [f for s in stored for f in s.files])
            raise
    await session.flush()
    await seed_note_purchase(session, runtime, authors.get("mia.skin"))
    await seed_note_submission(session, runtime, authors.get("jun.tea"))


async def seed_note_submission(session: AsyncSession, runtime: Runtime, jun: User | None) -> None:
    """Jun submits his lip balm note as the content of his collaboration on it (the core
    demo's review campaign, sample delivered), so the brand's board has a note to review
    with its disclosure check. The note is committed first: the campaign service reads it
    through the `resolve_content` hook in its own session."""
    from core.campaigns import collaborations
    from core.campaigns.models import Campaign, CampaignProduct, Collaboration, CollabStatus
    from core.catalog.models import Product, Variant
    from plugins.notes.models import Note

    if jun is None:
        return
    note_id = (await session.execute(select(Note.id).where(Note.author_user_id == jun.id, Note.title == LIP_BALM_NOTE))).scalar_one_or_none()
    collab_id = (
        await session.execute(
            select(Collaboration.id)
            .join(Campaign, Campaign.id == Collaboration.campaign_id)
            .join(CampaignProduct, CampaignProduct.campaign_id == Campaign.id)
            .join(Product, Product.id == CampaignProduct.product_id)
            .join(Variant, Variant.product_id == Product.id)
            .where(Collaboration.creator_user_id == jun.id, Collaboration.status == CollabStatus.SAMPLE_DELIVERED, Variant.sku == "CS-LIP-NAT")
            .limit(1)
        )
    ).scalar_one_or_none()
    if note_id is None or collab_id is None:
        return
    await session.commit()
    await collaborations.submit_content(session, runtime, _actor(jun), collab_id, kind="note", ref=str(note_id))


async def seed_follows(session: AsyncSession, runtime: Runtime, authors: dict[str, User]) -> None:
    """Lin follows Mia and Camellia Skin (real follows: she hears when they go live)."""
    from plugins.notes.profiles import ensure_profile, follow, follow_brand

    lin = (await session.execute(select(User).where(User.email == DEMO_BUYER))).scalar_one_or_none()
    mia = authors.get("mia.skin")
    if lin is None or mia is None:
        return
    await follow(session, runtime, lin.id, (await ensure_profile(session, mia.id)).handle)  # a repeat changes nothing
    if (await session.execute(select(Brand.id).where(Brand.slug == DEMO_BRAND))).first() is not None:
        await follow_brand(session, runtime, lin.id, DEMO_BRAND)


async def seed_note_purchase(session: AsyncSession, runtime: Runtime, mia: User | None) -> None:
    """Lin buys the repair cream from Mia's sponsored note: cart from the note, checkout,
    sandbox payment, attribution (what the `order.paid` handler does, at once). The
    purchase goes through services with their own transactions, so this commits the
    seed's work so far (as the core's attribution demo does)."""
    from core.campaigns.attribution import attribute_order
    from core.catalog.models import Variant
    from core.orders import cart as carts
    from core.orders import checkout as checkouts
    from core.orders.models import Order
    from core.payments import service as payments
    from plugins.notes import notes as svc
    from plugins.notes.models import Note, NoteTouch

    if mia is None:
        return
    lin = (await session.execute(select(User).where(User.email == DEMO_BUYER))).scalar_one_or_none()
    note_id = (await session.execute(select(Note.id).where(Note.author_user_id == mia.id, Note.title == SPONSORED_NOTE))).scalar_one_or_none()
    cream = (await session.execute(select(Variant.id).where(Variant.sku == "CS-CREAM-50"))).scalar_one_or_none()
    if lin is None or note_id is None or cream is None:
        return
    if (await session.execute(select(NoteTouch.id).where(NoteTouch.note_id == note_id, NoteTouch.user_id == lin.id).limit(1))).first() is not None:
        return
    await session.commit()  # the notes, visible to the purchase's own transactions
    buyer = Actor(user_id=lin.id, email=lin.email, display_name=lin.display_name, locale="zh-CN", roles=frozenset())
    async with runtime.db.session() as s:
        cart = await carts.new_cart(s, user_id=lin.id)
        await svc.add_to_cart(s, runtime, buyer, note_id, cart_token=cart.token, variant_id=cream, quantity=1, visitor_id=str(uuid.uuid4()))
        checkout = await checkouts.start_checkout(s, runtime, cart, buyer, email=None, address=DEMO_ADDRESS)
        await s.commit()
    await payments.pay(runtime, checkout.token, buyer, payment_method=DEMO_CARD, provider_name="sandbox")
    async with runtime.db.read_session() as s:
        order_id = (await s.execute(select(Order.id).where(Order.checkout_id == checkout.id))).scalar_one()
    await attribute_order(runtime, order_id)

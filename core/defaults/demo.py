"""The core's demo data: one account per role, a few brands and their catalogue. Idempotent."""

from __future__ import annotations

import asyncio
import uuid
import io
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.auth.models import User
from core.auth.permissions import Actor
from core.auth.service import grant_role, signup
from core.catalog import media as catalog_media
from core.catalog import service as catalog
from core.catalog.models import Brand, BrandMember, Category, Product, ProductStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

DEMO_PASSWORD = "zhongcao-demo"
DEMO_DOMAIN = "demo.zhongcao.dev"


async def demo_accounts(runtime: Runtime) -> list[str]:
    """Every demo login, the plugins' included (they make their own), oldest first."""
    async with runtime.db.read_session() as s:
        return list((await s.execute(select(User.email).where(User.email.like(f"%@{DEMO_DOMAIN}")).order_by(User.id))).scalars())


DEMO_USERS = [
    ("shopper@demo.zhongcao.dev", "小林 Lin", ()),
    ("brand@demo.zhongcao.dev", "山茶花 Camellia Team", ()),
    ("creator@demo.zhongcao.dev", "种草小达人 Mia", ("creator",)),
    ("staff@demo.zhongcao.dev", "平台运营 Ops", ()),
    ("leo@demo.zhongcao.dev", "周末徒步 Leo", ("creator",)),
    ("jun@demo.zhongcao.dev", "一人食茶 Jun", ("creator",)),
]
# handle, bio, categories, region, followers, avg engagement, image / video note price (CNY fen), payout
DEMO_CREATORS = {
    "creator@demo.zhongcao.dev": ("mia.skin", "敏感肌女孩的温和护肤日记 · Gentle skincare for sensitive skin.", ["beauty", "skincare"], "CN-SH", 48_000, 3_100, 180_000, 320_000, "sandbox"),
    "leo@demo.zhongcao.dev": ("leo.trails", "周末两天一夜的轻装徒步 · Light weekend hikes.", ["outdoor"], "CN-ZJ", 6_200, 540, 40_000, 70_000, "sandbox"),
    "jun@demo.zhongcao.dev": ("jun.tea", "冷泡茶和小茶具 · Cold brew and small teaware.", ["tea", "lifestyle"], "CN-YN", 210_000, 9_800, 900_000, 1_500_000, "sandbox"),
}
DEMO_BRANDS = [
    ("camellia-skin", "山茶花护肤 Camellia Skin", "温和修护的国货护肤 · Gentle skincare made in Yunnan."),
    ("north-trail", "北行户外 North Trail", "轻量徒步装备 · Light hiking gear for weekend trails."),
    ("tea-ritual", "茶事 Tea Ritual", "一人食茶具与冷泡茶 · Single-serve teaware and cold brew."),
]


async def seed_core_demo(session: AsyncSession, runtime: Runtime) -> None:
    users: dict[str, User] = {}
    for email, name, roles in DEMO_USERS:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
        if user is None:
            user = await signup(session, runtime, email=email, password=DEMO_PASSWORD, display_name=name, roles=roles)
        users[email] = user
    await grant_role(session, users["staff@demo.zhongcao.dev"].id, "staff")
    for slug, name, description in DEMO_BRANDS:
        brand = (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none()
        if brand is None:
            brand = Brand(slug=slug, name=name, description=description)
            session.add(brand)
            await session.flush()
        if slug == "camellia-skin" and await session.get(BrandMember, (brand.id, users["brand@demo.zhongcao.dev"].id)) is None:
            session.add(BrandMember(brand_id=brand.id, user_id=users["brand@demo.zhongcao.dev"].id, role="owner"))
    await session.flush()
    await seed_catalog_demo(session, runtime)
    await seed_stock_demo(session)
    await seed_creators_demo(session, users)
    await seed_campaigns_demo(session, runtime)
    await seed_attribution_demo(session, runtime)  # after the campaigns demo: Mia's link, code MIA15, attributed orders
    await seed_payouts_demo(session, runtime)  # after what earns: it pays what the demo data above earned
    await seed_second_campaign_demo(session, runtime)  # earns nothing yet; after the payouts, whose run it would only contend with
    await seed_review_campaign_demo(session, runtime)


async def seed_creators_demo(session: AsyncSession, users: dict[str, User]) -> None:
    """Three creators of different tiers, figures self-reported (the notes plugin replaces them)."""
    from core.campaigns.models import CreatorProfile
    from core.campaigns.profiles import engagement_rate_ppm

    for email, (handle, bio, categories, region, followers, engagement, image, video, payout) in DEMO_CREATORS.items():
        user_id = users[email].id
        if (await session.execute(select(CreatorProfile.id).where(CreatorProfile.user_id == user_id))).first() is None:
            session.add(CreatorProfile(
                user_id=user_id, handle=handle, bio=bio, categories=categories, region=region, followers=followers, avg_engagement=engagement,
                engagement_rate_ppm=engagement_rate_ppm(engagement, followers), stats_source="self_reported", rate_currency="CNY",
                rate_image_minor=image, rate_video_minor=video, payout_method=payout, payout_details={},
            ))
    await session.flush()


# ---------------------------------------------------------------- catalogue

# slug, name, parent slug
DEMO_CATEGORIES = [
    ("beauty", "美妆护肤 Beauty", None),
    ("creams", "面霜 Creams", "beauty"),
    ("outdoor", "户外 Outdoor", None),
    ("tea", "茶 Tea", None),
]
# brand -> (image colour, image initial)
DEMO_BRAND_LOOK = {"camellia-skin": ((196, 62, 92), "C"), "north-trail": ((46, 104, 84), "N"), "tea-ritual": ((150, 112, 52), "T")}
# brand, slug, title, description, category, tags, option names, [(sku, options, grams, CNY fen, compare-at fen)], status
DEMO_PRODUCTS: list[tuple[str, str, str, str, str, list[str], list[str], list[tuple[str, dict[str, str], int, int, int | None]], str]] = [
    ("camellia-skin", "camellia-repair-cream", "山茶花修护面霜 Camellia Repair Cream",
     "山茶籽油 + 神经酰胺，夜间修护泛红屏障。\nCamellia seed oil and ceramides for an overnight barrier repair.",
     "creams", ["面霜", "修护", "sensitive skin"], ["volume"],
     [("CS-CREAM-30", {"volume": "30ml"}, 120, 16800, 19800), ("CS-CREAM-50", {"volume": "50ml"}, 170, 25800, 29800)], "active"),
    ("camellia-skin", "camellia-cleansing-oil", "山茶花卸妆油 Camellia Cleansing Oil",
     "乳化快、不糊眼，敏感肌可用。\nRinses clean, gentle around the eyes.",
     "beauty", ["卸妆", "cleansing"], ["volume"],
     [("CS-OIL-150", {"volume": "150ml"}, 210, 12900, None), ("CS-OIL-250", {"volume": "250ml"}, 320, 18900, 21900)], "active"),
    ("camellia-skin", "camellia-lip-balm", "山茶花润唇膏 Camellia Lip Balm",
     "微微显色的滋润唇膏。\nA nourishing balm with a hint of colour.",
     "beauty", ["唇膏", "gift"], ["colour"],
     [("CS-LIP-NAT", {"colour": "自然 Natural"}, 20, 3900, None), ("CS-LIP-PEACH", {"colour": "蜜桃 Peach"}, 20, 4500, None),
      ("CS-LIP-ROSE", {"colour": "玫瑰 Rose"}, 20, 4500, 5900)], "active"),
    ("camellia-skin", "camellia-night-mask", "山茶花晚安面膜 Camellia Night Mask",
     "即将上新：免洗睡眠面膜。\nComing soon: a leave-on sleeping mask.",
     "beauty", ["面膜", "new"], ["volume"],
     [("CS-MASK-80", {"volume": "80ml"}, 140, 13900, None)], "draft"),
    ("north-trail", "north-trail-wind-jacket", "轻量防风外套 Ultralight Wind Jacket",
     "98 克，可收进胸袋。\n98 g and packs into its own chest pocket.",
     "outdoor", ["徒步", "hiking", "ultralight"], ["colour", "size"],
     [("NT-WJ-BLK-M", {"colour": "黑 Black", "size": "M"}, 98, 39900, None), ("NT-WJ-BLK-L", {"colour": "黑 Black", "size": "L"}, 102, 39900, None),
      ("NT-WJ-BLU-M", {"colour": "雾蓝 Mist Blue", "size": "M"}, 98, 42900, 49900)], "active"),
    ("north-trail", "north-trail-daypack-18l", "18升徒步背包 18L Daypack",
     "周末一日徒步刚好。\nRight-sized for a day on the trail.",
     "outdoor", ["徒步", "hiking", "背包"], ["colour"],
     [("NT-DP18-GRA", {"colour": "石墨 Graphite"}, 640, 29900, None), ("NT-DP18-OLV", {"colour": "橄榄 Olive"}, 640, 29900, 35900)], "active"),
    ("north-trail", "north-trail-merino-socks", "美利奴徒步袜 Merino Hiking Socks",
     "不闷脚、不易臭。\nWarm, breathable, and slow to smell.",
     "outdoor", ["hiking", "袜子"], ["size"],
     [("NT-SOCK-S", {"size": "S"}, 60, 6900, 8900), ("NT-SOCK-M", {"size": "M"}, 65, 6900, 8900), ("NT-SOCK-L", {"size": "L"}, 70, 6900, 8900)], "active"),
    ("tea-ritual", "tea-ritual-cold-brew-oolong", "冷泡乌龙 Cold Brew Oolong",
     "冷水 6 小时，回甘清爽。\nSix hours in cold water for a bright, sweet cup.",
     "tea", ["冷泡茶", "cold brew", "乌龙"], ["pack"],
     [("TR-CBO-10", {"pack": "10袋 10 sachets"}, 60, 4900, None), ("TR-CBO-30", {"pack": "30袋 30 sachets"}, 170, 12900, 14700)], "active"),
    ("tea-ritual", "tea-ritual-solo-teapot", "一人食玻璃茶壶 Solo Glass Teapot",
     "耐热玻璃，内置滤网。\nHeat-proof glass with a built-in strainer.",
     "tea", ["茶具", "teaware", "gift"], ["capacity"],
     [("TR-POT-300", {"capacity": "300ml"}, 320, 8900, None), ("TR-POT-450", {"capacity": "450ml"}, 410, 10900, 12900)], "active"),
    ("tea-ritual", "tea-ritual-jasmine-silver-needle", "茉莉银针 Jasmine Silver Needle",
     "七窨茉莉，花香不压茶味。\nSeven rounds of jasmine scenting, the tea still shows.",
     "tea", ["茉莉", "jasmine", "gift"], ["weight"],
     [("TR-JSN-50", {"weight": "50g"}, 80, 9800, None), ("TR-JSN-100", {"weight": "100g"}, 130, 17800, 19600)], "active"),
]
DEMO_SHIPPING = (1000, 19900)  # ¥10, free from ¥199
DEMO_TAX = ("CN", "13", True)


def demo_image(colour: tuple[int, int, int], initial: str, shade: int) -> bytes:
    """A coloured square with the brand's initial: no network, no files shipped."""
    from PIL import Image, ImageDraw, ImageFont

    size = 800
    base = tuple(max(0, min(255, c + shade)) for c in colour)
    img = Image.new("RGB", (size, size), base)
    draw = ImageDraw.Draw(img)
    draw.ellipse((140, 140, size - 140, size - 140), fill=tuple(min(255, c + 60) for c in base))
    try:
        font: Any = ImageFont.load_default(size=360)
    except TypeError:  # Pillow without FreeType
        font = ImageFont.load_default()
    draw.text((size / 2, size / 2), initial, fill=(255, 255, 255), font=font, anchor="mm")
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


async def seed_catalog_demo(session: AsyncSession, runtime: Runtime) -> None:
    """Categories, products with variants, CNY prices and images, shipping and tax rates.
    Goes through the catalogue services, as a seeding actor that owns the demo brands.
    Products that exist already are left as they are. Stock is seeded separately."""
    brands = {b.slug: b for b in (await session.execute(select(Brand).where(Brand.slug.in_(DEMO_BRAND_LOOK)))).scalars()}
    seeder = Actor(
        user_id=0, email="seed@demo.zhongcao.dev", display_name="demo seed", locale="en",
        roles=frozenset({"staff"}), brand_roles={b.id: "owner" for b in brands.values()},
    )
    categories: dict[str, Category] = {c.slug: c for c in (await session.execute(select(Category))).scalars()}
    for position, (slug, name, parent) in enumerate(DEMO_CATEGORIES):
        if slug not in categories:
            parent_id = categories[parent].id if parent else None
            categories[slug] = await catalog.create_category(session, seeder, slug=slug, name=name, parent_id=parent_id, position=position)
    existing = set((await session.execute(select(Product.slug).where(Product.slug.in_([p[1] for p in DEMO_PRODUCTS])))).scalars())
    for index, (brand_slug, slug, title, description, category, tags, option_names, variants, status) in enumerate(DEMO_PRODUCTS):
        brand = brands.get(brand_slug)
        if brand is None or slug in existing:
            continue
        product = await catalog.create_product(
            session, seeder, brand.id, slug=slug, title=title, description=description,
            category_id=categories[category].id, tags=tags, option_names=option_names,
        )
        for sku, options, grams, amount, compare_at in variants:
            variant = await catalog.create_variant(session, seeder, product.id, sku=sku, options=options, weight_grams=grams)
            await catalog.set_variant_price(session, seeder, variant.id, "CNY", amount, compare_at)
        colour, initial = DEMO_BRAND_LOOK[brand_slug]
        png = demo_image(colour, initial, shade=(index % 4) * 14 - 20)
        prepared = await asyncio.to_thread(catalog_media.prepare_image, png)
        await catalog_media.add_product_media(session, runtime.settings, seeder, product.id, prepared, alt=title)
        if status == ProductStatus.ACTIVE:
            await catalog.set_product_status(session, seeder, product.id, status)
    for brand in brands.values():  # set once: a later change by the brand is kept
        if not any(r.currency == "CNY" for r in await catalog.shipping_rates(session, brand.id)):
            await catalog.set_shipping_rate(session, seeder, brand.id, "CNY", *DEMO_SHIPPING)
    if not any(r.region == DEMO_TAX[0] for r in await catalog.tax_rates(session)):
        await catalog.set_tax_rate(session, seeder, *DEMO_TAX)


DEMO_STOCK = 60
DEMO_LOW_STOCK = {"CS-CREAM-30": 4}  # "only 4 left" on one product page


async def seed_stock_demo(session: AsyncSession) -> None:
    """Stock for every demo variant that has none yet, at each brand's main warehouse."""
    from core.catalog.models import Variant
    from core.inventory import service as inventory
    from core.inventory.models import StockLevel

    rows = (
        await session.execute(
            select(Variant.id, Variant.sku, Product.brand_id)
            .join(Product, Product.id == Variant.product_id)
            .join(Brand, Brand.id == Product.brand_id)
            .where(Brand.slug.in_(DEMO_BRAND_LOOK))
            .outerjoin(StockLevel, StockLevel.variant_id == Variant.id)
            .where(StockLevel.variant_id.is_(None))
        )
    ).all()
    for variant_id, sku, brand_id in rows:
        location = await inventory.ensure_location(session, brand_id)
        await inventory.receive_stock(session, variant_id=variant_id, location_id=location.id, quantity=DEMO_LOW_STOCK.get(sku, DEMO_STOCK))


# ---------------------------------------------------------------- campaigns

DEMO_CAMPAIGN_BRAND = "camellia-skin"
DEMO_CAMPAIGN_CREATOR = "creator@demo.zhongcao.dev"  # mia.skin
DEMO_SAMPLE_SKU = "CS-CREAM-50"
DEMO_SAMPLE_TRACKING = ("顺丰 SF Express", "SF1400000001")
DEMO_POST_URL = "https://www.xiaohongshu.com/explore/demo-camellia-repair-cream"


async def seed_campaigns_demo(session: AsyncSession, runtime: Runtime) -> None:
    """Camellia Skin's open campaign seeding the repair cream (10 samples, 12% commission,
    15% for new buyers, ¥300 per note, micro and mid creators in beauty or skincare), and
    Mia's collaboration in it taken through the real services: applied, accepted, sample
    shipped (a zero-price order with tracking), delivered, an external post submitted,
    approved with the disclosure confirmed, published. Idempotent: nothing happens once
    the campaign exists. Find the collaboration with `demo_collaboration`."""
    from core.campaigns import campaigns, collaborations
    from core.campaigns.models import Campaign
    from core.catalog.models import Variant

    brand = (await session.execute(select(Brand).where(Brand.slug == DEMO_CAMPAIGN_BRAND))).scalar_one_or_none()
    cream = (await session.execute(select(Product).where(Product.slug == "camellia-repair-cream"))).scalar_one_or_none()
    sample = (await session.execute(select(Variant).where(Variant.sku == DEMO_SAMPLE_SKU))).scalar_one_or_none()
    owner = (await session.execute(select(User).where(User.email == "brand@demo.zhongcao.dev"))).scalar_one_or_none()
    mia = (await session.execute(select(User).where(User.email == DEMO_CAMPAIGN_CREATOR))).scalar_one_or_none()
    if brand is None or cream is None or sample is None or owner is None or mia is None:
        return
    if (await session.execute(select(Campaign.id).where(Campaign.brand_id == brand.id, Campaign.title == DEMO_CAMPAIGN_TITLE))).first() is not None:
        return
    team = Actor(user_id=owner.id, email=owner.email, display_name=owner.display_name, locale="zh-CN", roles=frozenset(), brand_roles={brand.id: "owner"})
    creator = Actor(user_id=mia.id, email=mia.email, display_name=mia.display_name, locale="zh-CN", roles=frozenset({"creator"}))
    campaign = await campaigns.create_campaign(session, runtime, team, brand.slug, {
        "title": DEMO_CAMPAIGN_TITLE,
        "brief": "山茶花修护霜新品种草：分享你的夜间修护流程，真实记录 7 天皮肤变化，笔记需标注「广告」。\n"
                 "Seeding the new repair cream: share your night routine and 7 days of honest results; label the note as sponsored.",
        "budget_minor": 5_000_000, "fixed_fee_minor": 30_000, "recruitment": "open",
        "eligibility": {"tiers": ["micro", "mid"], "categories": ["beauty", "skincare"]},
        "products": [{"product_id": cream.id, "sample_variant_id": sample.id, "sample_quantity": 10,
                      "commission": {"kind": "percent", "rate_percent": "12", "new_buyer_rate_percent": "15"}}],
    })
    await campaigns.open_campaign(session, runtime, team, campaign.id)
    collab = await collaborations.apply(
        session, runtime, creator, campaign.id, message="敏感肌五年，最近在找温和的修护面霜，很想试试！",
        shipping_address={"name": "Mia 陈", "phone": "+86 139 0000 0000", "line1": "徐汇区衡山路 8 号", "city": "上海", "region": "SH", "country": "CN"},
    )
    await collaborations.accept(session, runtime, team, collab.id)
    carrier, tracking = DEMO_SAMPLE_TRACKING
    await collaborations.ship_sample(session, runtime, team, collab.id, carrier=carrier, tracking_number=tracking)
    await collaborations.mark_delivered(session, runtime, creator, collab.id)
    await collaborations.submit_content(session, runtime, creator, collab.id, kind="url", ref=DEMO_POST_URL)
    await collaborations.approve(session, runtime, team, collab.id, disclosure_confirmed=True, comment="开头已标注「广告」，通过 · Clearly labelled as sponsored: approved")
    await collaborations.publish(session, runtime, creator, collab.id)


DEMO_SECOND_CAMPAIGN_TITLE = "卸妆油真实测评 / Cleansing oil, honest reviews"
DEMO_SECOND_SAMPLE_SKU = "CS-OIL-150"


async def seed_second_campaign_demo(session: AsyncSession, runtime: Runtime) -> None:
    """A second open campaign of Camellia Skin whose board has work to do: Mia is invited
    (her portal shows the invitation), Leo has applied (the brand decides), Jun was accepted
    and has his sample on the way. Through the real services, like the first. Idempotent:
    nothing happens once the campaign exists."""
    from core.campaigns import campaigns, collaborations
    from core.campaigns.models import Campaign
    from core.catalog.models import Variant

    brand = (await session.execute(select(Brand).where(Brand.slug == DEMO_CAMPAIGN_BRAND))).scalar_one_or_none()
    owner = (await session.execute(select(User).where(User.email == "brand@demo.zhongcao.dev"))).scalar_one_or_none()
    if brand is None or owner is None:
        return
    if (await session.execute(select(Campaign.id).where(Campaign.brand_id == brand.id, Campaign.title == DEMO_SECOND_CAMPAIGN_TITLE))).first() is not None:
        return
    team = _actor(owner, {brand.id: "owner"})

    oil = (await session.execute(select(Product).where(Product.slug == "camellia-cleansing-oil"))).scalar_one_or_none()
    sample = (await session.execute(select(Variant).where(Variant.sku == DEMO_SECOND_SAMPLE_SKU))).scalar_one_or_none()
    others = {u.email: u for u in (await session.execute(select(User).where(User.email.in_(["leo@demo.zhongcao.dev", "jun@demo.zhongcao.dev"])))).scalars()}
    if oil is None or sample is None or len(others) < 2:
        return
    campaign = await campaigns.create_campaign(session, runtime, team, brand.slug, {
        "title": DEMO_SECOND_CAMPAIGN_TITLE,
        "brief": "卸妆油上脸一周：乳化、眼妆、肤感，好坏都写。\nOne week with the cleansing oil: emulsifying, eye make-up, how skin feels; the good and the bad.",
        "budget_minor": 2_000_000, "recruitment": "open",
        "products": [{"product_id": oil.id, "sample_variant_id": sample.id, "sample_quantity": 6,
                      "commission": {"kind": "percent", "rate_percent": "10"}}],
    })
    await campaigns.open_campaign(session, runtime, team, campaign.id)
    await collaborations.invite(session, runtime, team, campaign.id, handle="mia.skin", message="很喜欢你的夜间修护笔记，想请你试试卸妆油 · We loved your night-routine notes.")
    leo, jun = _actor(others["leo@demo.zhongcao.dev"]), _actor(others["jun@demo.zhongcao.dev"])
    await collaborations.apply(session, runtime, leo, campaign.id, message="徒步回来卸防晒正需要 · After a hike I need to take off sunscreen.",
                               shipping_address={"name": "Leo 王", "phone": "+86 137 0000 0000", "line1": "西湖区文三路 1 号", "city": "杭州", "region": "ZJ", "country": "CN"})
    applied = await collaborations.apply(session, runtime, jun, campaign.id, message="茶席前后都要干净的脸 · A clean face before tea.",
                                         shipping_address={"name": "Jun 李", "phone": "+86 136 0000 0000", "line1": "五华区翠湖路 2 号", "city": "昆明", "region": "YN", "country": "CN"})
    await collaborations.accept(session, runtime, team, applied.id)
    await collaborations.ship_sample(session, runtime, team, applied.id, carrier="顺丰 SF Express", tracking_number="SF1400000002")


DEMO_REVIEW_CAMPAIGN_TITLE = "润唇膏口袋好物 / Lip balm pocket picks"
DEMO_REVIEW_SAMPLE_SKU = "CS-LIP-NAT"
DEMO_REVIEW_POSTING_DAYS = 3  # so Mia's deadline shows as close on her dashboard
DEMO_LEO_DRAFT_URL = "https://www.xiaohongshu.com/explore/demo-leo-lip-balm-draft"


async def seed_review_campaign_demo(session: AsyncSession, runtime: Runtime) -> None:
    """A third open campaign of Camellia Skin, in the middle of content review: every
    creator has their sample; Mia's posting deadline is three days away, Leo's draft came
    back with changes requested, and Jun's note (the notes demo submits it) waits for the
    brand's review. Idempotent: nothing happens once the campaign exists."""
    from core.campaigns import campaigns, collaborations
    from core.campaigns.models import Campaign
    from core.catalog.models import Variant

    brand = (await session.execute(select(Brand).where(Brand.slug == DEMO_CAMPAIGN_BRAND))).scalar_one_or_none()
    balm = (await session.execute(select(Product).where(Product.slug == "camellia-lip-balm"))).scalar_one_or_none()
    sample = (await session.execute(select(Variant).where(Variant.sku == DEMO_REVIEW_SAMPLE_SKU))).scalar_one_or_none()
    emails = [DEMO_CAMPAIGN_CREATOR, "leo@demo.zhongcao.dev", "jun@demo.zhongcao.dev", "brand@demo.zhongcao.dev"]
    users = {u.email: u for u in (await session.execute(select(User).where(User.email.in_(emails)))).scalars()}
    if brand is None or balm is None or sample is None or len(users) < len(emails):
        return
    if (await session.execute(select(Campaign.id).where(Campaign.brand_id == brand.id, Campaign.title == DEMO_REVIEW_CAMPAIGN_TITLE))).first() is not None:
        return
    team = _actor(users["brand@demo.zhongcao.dev"], {brand.id: "owner"})
    campaign = await campaigns.create_campaign(session, runtime, team, brand.slug, {
        "title": DEMO_REVIEW_CAMPAIGN_TITLE,
        "brief": "润唇膏放进包里的一天：通勤、运动、喝茶后，哪一刻最需要它？笔记需标注「广告」。\n"
                 "A day with the lip balm in your pocket: commute, trail or tea, when do you reach for it? Label the note as sponsored.",
        "budget_minor": 800_000, "fixed_fee_minor": 10_000, "recruitment": "open", "posting_days": DEMO_REVIEW_POSTING_DAYS,
        "products": [{"product_id": balm.id, "sample_variant_id": sample.id, "sample_quantity": 5,
                      "commission": {"kind": "percent", "rate_percent": "8"}}],
    })
    await campaigns.open_campaign(session, runtime, team, campaign.id)
    pitches = {
        DEMO_CAMPAIGN_CREATOR: ("通勤包里常备润唇膏，想试试自然色 · Always one in my bag.", {"name": "Mia 陈", "phone": "+86 139 0000 0000", "line1": "徐汇区衡山路 8 号", "city": "上海", "region": "SH", "country": "CN"}),
        "leo@demo.zhongcao.dev": ("山上风大嘴唇干 · Windy ridges, dry lips.", {"name": "Leo 王", "phone": "+86 137 0000 0000", "line1": "西湖区文三路 1 号", "city": "杭州", "region": "ZJ", "country": "CN"}),
        "jun@demo.zhongcao.dev": ("喝完热茶嘴唇容易干 · Hot tea dries my lips.", {"name": "Jun 李", "phone": "+86 136 0000 0000", "line1": "五华区翠湖路 2 号", "city": "昆明", "region": "YN", "country": "CN"}),
    }
    collabs = {}
    for number, (email, (pitch, address)) in enumerate(pitches.items(), start=3):
        creator = _actor(users[email])
        collab = await collaborations.apply(session, runtime, creator, campaign.id, message=pitch, shipping_address=address)
        await collaborations.accept(session, runtime, team, collab.id)
        await collaborations.ship_sample(session, runtime, team, collab.id, carrier="顺丰 SF Express", tracking_number=f"SF140000000{number}")
        await collaborations.mark_delivered(session, runtime, creator, collab.id)
        collabs[email] = (creator, collab)
    leo, draft = collabs["leo@demo.zhongcao.dev"]
    await collaborations.submit_content(session, runtime, leo, draft.id, kind="url", ref=DEMO_LEO_DRAFT_URL)
    await collaborations.request_changes(session, runtime, team, draft.id, comment="请在开头标注「广告」，并拍一张产品特写 · Please label it as sponsored up front and add a close-up of the balm.")


async def demo_collaboration(session: AsyncSession) -> Any:
    """Mia's collaboration in the demo campaign (by brand, campaign title and creator), or None."""
    from core.campaigns.models import Campaign, Collaboration

    return (
        await session.execute(
            select(Collaboration)
            .join(Campaign, Campaign.id == Collaboration.campaign_id)
            .join(Brand, Brand.id == Campaign.brand_id)
            .join(User, User.id == Collaboration.creator_user_id)
            .where(Brand.slug == DEMO_CAMPAIGN_BRAND, Campaign.title == DEMO_CAMPAIGN_TITLE, User.email == DEMO_CAMPAIGN_CREATOR)
        )
    ).scalar_one_or_none()


# ---------------------------------------------------------------- attribution

DEMO_CAMPAIGN_TITLE = "山茶花修护霜 种草计划 / Repair Cream seeding"
DEMO_CODE = "MIA15"
DEMO_GUEST = "guest.lin@demo.zhongcao.dev"
DEMO_ADDRESS = {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "region": "SH", "country": "CN"}
DEMO_CARD = "5555 5555 5555 4444"  # sandbox; not 4242, which demo visitors may pay with as Mia (a shared card is a self-referral)


def _actor(user: User, brand_roles: dict[int, str] | None = None) -> Actor:
    return Actor(user_id=user.id, email=user.email, display_name=user.display_name, locale="en", roles=frozenset({"creator"}), brand_roles=brand_roles or {})


async def seed_attribution_demo(session: AsyncSession, runtime: Runtime) -> None:
    """Mia's tracked link and code MIA15 (15% off) in Camellia Skin's repair-cream
    campaign, and two demo shoppers' orders through the real cart, checkout and sandbox
    payment: a guest who came through the link, and Lin with the code (one jar of two
    refunded afterwards: a pro rata clawback). Both are shipped, so their commissions
    wait out the campaign's holding period. Idempotent: nothing happens once Mia's
    collaboration has a commission.

    The campaign and Mia's collaboration are the campaigns demo's; if that demo has not
    created them, they are created here (same title) so that it finds them. The orders go
    through services with their own transactions, so this commits the seed's work so far."""
    from core.campaigns import attribution, commissions
    from core.campaigns.models import Campaign, CampaignProduct, Collaboration, Commission, CommissionRate, CreatorProfile, DiscountCode, TrackedLink
    from core.catalog.models import Variant
    from core.db import utcnow
    from core.orders import cart as carts
    from core.orders import checkout as checkouts
    from core.orders import refunds
    from core.orders import service as orders
    from core.orders.models import Order, OrderLine
    from core.payments import service as payments

    brand = (await session.execute(select(Brand).where(Brand.slug == "camellia-skin"))).scalar_one_or_none()
    cream = (await session.execute(select(Product).where(Product.slug == "camellia-repair-cream"))).scalar_one_or_none()
    balm = (await session.execute(select(Product).where(Product.slug == "camellia-lip-balm"))).scalar_one_or_none()
    mia_id = (await session.execute(select(CreatorProfile.user_id).where(CreatorProfile.handle == "mia.skin"))).scalar_one_or_none()
    if brand is None or cream is None or balm is None or mia_id is None:
        return
    mia = await session.get(User, mia_id)
    owner = (await session.execute(select(User).where(User.email == "brand@demo.zhongcao.dev"))).scalar_one()
    shopper = (await session.execute(select(User).where(User.email == "shopper@demo.zhongcao.dev"))).scalar_one()
    cream_variants = list((await session.execute(select(Variant).where(Variant.product_id == cream.id).order_by(Variant.id))).scalars())
    balm_variant = (await session.execute(select(Variant).where(Variant.product_id == balm.id).order_by(Variant.id).limit(1))).scalar_one()

    campaign = (await session.execute(select(Campaign).where(Campaign.brand_id == brand.id, Campaign.title == DEMO_CAMPAIGN_TITLE).order_by(Campaign.id).limit(1))).scalar_one_or_none()
    if campaign is None:  # the campaigns demo did not run: the least it would have made
        campaign = Campaign(
            brand_id=brand.id, title=DEMO_CAMPAIGN_TITLE, brief="修护霜新品种草。Seeding the repair cream with skincare creators.", status="open", currency="CNY",
            attribution_days=30, attribution_model="last", hold_days=30, opened_at=utcnow(),
        )
        session.add(campaign)
        await session.flush()
    if campaign.status not in ("open", "closed"):
        return
    item = (await session.execute(select(CampaignProduct).where(CampaignProduct.campaign_id == campaign.id, CampaignProduct.product_id == cream.id))).scalar_one_or_none()
    if item is None:
        item = CampaignProduct(campaign_id=campaign.id, product_id=cream.id, sample_variant_id=cream_variants[0].id, sample_quantity=0)
        session.add(item)
        await session.flush()
    if (await session.execute(select(CommissionRate.id).where(CommissionRate.campaign_product_id == item.id))).first() is None:
        session.add(CommissionRate(campaign_product_id=item.id, effective_from=utcnow(), kind="percent", rate_ppm=100_000, created_by=owner.id))
    collab = (await session.execute(select(Collaboration).where(Collaboration.campaign_id == campaign.id, Collaboration.creator_user_id == mia.id))).scalar_one_or_none()
    if collab is None:
        collab = Collaboration(campaign_id=campaign.id, creator_user_id=mia.id, status="published", origin="invited", published_at=utcnow())
        session.add(collab)
        await session.flush()
    if collab.status not in attribution.EARNING_STATUSES:
        return
    link = (await session.execute(select(TrackedLink).where(TrackedLink.collaboration_id == collab.id).order_by(TrackedLink.id).limit(1))).scalar_one_or_none()
    if link is None:
        link = await attribution.create_link(session, _actor(mia), collaboration_id=collab.id, target="product", product_id=cream.id)
    if (await session.execute(select(DiscountCode.id).where(DiscountCode.code == DEMO_CODE))).first() is None and campaign.status == "open":
        await attribution.create_code(session, _actor(mia), collaboration_id=collab.id, code=DEMO_CODE, discount_ppm=150_000)
    if (await session.execute(select(Commission.id).where(Commission.collaboration_id == collab.id).limit(1))).first() is not None:
        return
    await session.commit()  # what the orders below need, visible to their own transactions

    brand_staff = _actor(owner, {brand.id: "owner"})
    lin = Actor(user_id=shopper.id, email=shopper.email, display_name=shopper.display_name, locale="zh-CN", roles=frozenset())
    placed: list[int] = []

    async def purchase(actor: Actor | None, lines: list[tuple[int, int]], *, code: str | None = None, via_link: bool = False) -> None:
        visitor = str(uuid.uuid4())
        async with runtime.db.session() as s:
            if via_link:
                await attribution.record_click(s, link.code, visitor)
            cart = await carts.new_cart(s, user_id=actor.user_id if actor else None)
            for variant_id, quantity in lines:
                await carts.set_line(s, cart, variant_id=variant_id, quantity=quantity)
            await attribution.remember_visitor(s, cart, visitor)
            if code:
                await attribution.apply_code(s, cart, code)
            checkout = await checkouts.start_checkout(s, runtime, cart, actor, email=None if actor else DEMO_GUEST, address=DEMO_ADDRESS)
            await s.commit()
        await payments.pay(runtime, checkout.token, actor, payment_method=DEMO_CARD, provider_name="sandbox")
        async with runtime.db.read_session() as s:
            order_id = (await s.execute(select(Order.id).where(Order.checkout_id == checkout.id))).scalar_one()
        await attribution.attribute_order(runtime, order_id)  # what the order.paid handler does, at once
        async with runtime.db.session() as s:
            await orders.fulfil(s, runtime, brand_staff, order_id, carrier="顺丰 SF Express", tracking_number=f"SF{order_id:010d}")
            await s.commit()
        await commissions.start_holding(runtime, order_id)
        placed.append(order_id)

    await purchase(None, [(cream_variants[-1].id, 1)], via_link=True)  # the 50ml: the 30ml stays "only 4 left"
    await purchase(lin, [(cream_variants[-1].id, 2), (balm_variant.id, 1)], code=DEMO_CODE)
    # Lin sends one jar back: half of the cream line (and a share of the order's shipping)
    async with runtime.db.read_session() as s:
        code_order = await s.get(Order, placed[-1])
        cream_line = (await s.execute(select(OrderLine).where(OrderLine.order_id == placed[-1], OrderLine.product_id == cream.id))).scalar_one()
    await refunds.refund_directly(runtime, brand_staff, code_order.id, amount_minor=cream_line.total_minor // 2, reason="demo: one jar came back", restock_line_ids=[])
    await commissions.reverse_refunded(runtime, code_order.id)


# ---------------------------------------------------------------- payouts

DEMO_PAYOUT_RUN = "demo-payouts-1"
DEMO_PAYOUT_CREATOR = "mia.skin"
DEMO_PAYOUT_BRAND = "camellia-skin"


async def seed_payouts_demo(session: AsyncSession, runtime: Runtime) -> None:
    """Mia's commissions on Camellia Skin's campaigns, approved by travelling past their
    holding period, then paid in the payout run `demo-payouts-1` (sandbox, inside this
    seed's transaction). Does nothing while Mia has nothing approved; idempotent (the
    run's key)."""
    from datetime import timedelta

    from sqlalchemy import func

    from core.campaigns.models import (
        Commission,
        CommissionStatus,
        CreatorProfile,
        PayoutRun,
    )
    from core.campaigns.payouts import run_payouts
    from core.db import utcnow
    from core.ledger import service as ledger
    from core.ledger.models import AccountKind

    if (await session.execute(select(PayoutRun.id).where(PayoutRun.key == DEMO_PAYOUT_RUN))).first() is not None:
        return
    mia = (await session.execute(select(CreatorProfile.user_id).where(CreatorProfile.handle == DEMO_PAYOUT_CREATOR))).scalar_one_or_none()
    brand = (await session.execute(select(Brand.id).where(Brand.slug == DEMO_PAYOUT_BRAND))).scalar_one_or_none()
    if mia is None or brand is None:
        return
    due = (
        await session.execute(
            select(func.max(Commission.approve_after)).where(
                Commission.creator_user_id == mia, Commission.brand_id == brand, Commission.status == CommissionStatus.PENDING, Commission.approve_after.is_not(None)
            )
        )
    ).scalar_one_or_none()
    if due is not None:
        try:
            from core.campaigns.commissions import approve_batch
        except ImportError:  # no commission approval yet: pay only what is approved already
            pass
        else:
            await approve_batch(session, max(due, utcnow()) + timedelta(seconds=1))
    if -await ledger.balance(session, AccountKind.CREATOR_AVAILABLE, mia, "CNY") <= 0:
        return
    # the demo pays whatever is approved, even under the usual minimum
    await run_payouts(runtime, currency="CNY", key=DEMO_PAYOUT_RUN, session=session, minimum_minor=0)

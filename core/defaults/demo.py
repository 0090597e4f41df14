"""The core's demo data: one account per role, a few brands and their catalogue. Idempotent."""

from __future__ import annotations

import asyncio
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
DEMO_USERS = [
    ("shopper@demo.zhongcao.dev", "小林 Lin", ()),
    ("brand@demo.zhongcao.dev", "山茶花 Camellia Team", ()),
    ("creator@demo.zhongcao.dev", "种草小达人 Mia", ("creator",)),
    ("staff@demo.zhongcao.dev", "平台运营 Ops", ()),
]
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

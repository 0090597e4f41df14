"""Search at scale: 100,000 products and 100,000 notes of mixed Chinese and English text,
indexed by the embedded backends (SQLite FTS5, PostgreSQL pg_trgm); reindex and
incremental indexing throughput, and query latency through the API.

Run from the project root with the project venv:

    .venv/bin/python bench/search.py [--backend sqlite|postgres|both]
        [--products 100000] [--notes 100000] [--queries 200] [--incremental 2000]
        [--workers 2] [--inprocess-queries 30] [--explain] [--json PATH]

PostgreSQL runs on a private server with `shared_buffers` 1GB (`--pg-shared-buffers`), as
a production server is tuned; its default 128MB holds less than one index's table.

For each backend, on a fresh database (`zhongcao db upgrade`):

1. **Fixture** (timed, no target): brands, a category tree, active products (one
   variant each with a CNY price and stock; titles like "修护面霜 Repair Cream 50ml"),
   authors with notes profiles, topics, and published public notes whose bodies (50-300
   characters) mix Chinese sentences and English words. Fixed seed; bulk INSERTs
   (SQLAlchemy Core executemany), not the API. Planner statistics afterwards: SQLite gets
   what the `core.planner_statistics` job gives a running install, PostgreSQL ANALYZE
   (as autovacuum would).
2. **Indexing, in process, through the real service**: `runtime.search.rebuild()` of
   `products`, then `notes` (a full reindex into a new physical index, then the swap):
   seconds and documents/s. Then incremental indexing: `--incremental` documents of each
   index changed in the database, queued with `runtime.search.enqueue()` and indexed by
   `runtime.search.drain()` (what the `search.drain` job runs): documents/s.
3. **Latency over HTTP**: `core.asgi:app` under granian (`--workers`), then one httpx
   client sends `--queries` sequential requests per query class and index, shuffled
   together (`GET /api/v1/search/{products,notes}?q=...`, 20 hits, facets and highlights
   on, as the storefront asks): 1-, 2- and 4-character CJK terms, an English word, an
   empty query (browse with facets, assorted sorts and pages), filters only (products:
   brand + price range; notes: topic + time range) and a 2-character CJK term with
   filters (price range + in stock; at least N likes). Terms are drawn from the
   generated vocabulary, each as rarely repeated as the vocabulary allows (the backends
   cache totals and facets per query). p50/p95/p99 per class and index, the matches (total)
   typical of each class. **Target: p95 <= 50 ms** per class (PASS/MISS per class and
   overall).
4. **Where the time goes, in process**: `--inprocess-queries` other queries per class
   and index through `runtime.search.search()` (no HTTP; the backend's per-process
   cache of totals and facets emptied before each, as any write to the index does):
   server time, the SQL share and statements per search; for the (up to four) classes
   that missed worst (every class with `--explain`) the plan of the slowest statement
   (EXPLAIN QUERY PLAN on SQLite, EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL). The
   indexing steps list their SQL statements by total time too.

Exit 0 whether the target is met or missed; 1 if the fixture, the indexing or a server
failed, or a request answered an error.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Self

from _support import (
    PG_DB_PREFIX,
    BenchError,
    PostgresServer,
    clean_env_names,
    conditions,
    db_upgrade,
    exit_on_sigterm,
    fmt_ms,
    free_port,
    has_module,
    insert_rows,
    make_runtime,
    percentile,
    print_conditions,
    table,
    tail,
    write_json,
    zhongcao_env,
    zhongcao_server,
)
from sqlalchemy.exc import DBAPIError

TARGET_MS = 50.0
CLASSES = {
    "cjk1": "1-char CJK",
    "cjk2": "2-char CJK",
    "cjk4": "4-char CJK",
    "english": "English word",
    "browse": "empty (browse)",
    "filtered": "filters only",
    "cjk2_filtered": "2-char CJK + filters",
}
INDEXES = ("products", "notes")
EXPLAIN_MISSED = 4  # plans printed for at most this many missed classes per backend (the worst p95 first)

# --------------------------------------------------------------------------- vocabulary

SKIN = (("修护", "Repair"), ("保湿", "Hydrating"), ("美白", "Brightening"), ("控油", "Oil Control"), ("抗老", "Anti-aging"), ("舒缓", "Soothing"),
        ("滋润", "Nourishing"), ("温和", "Gentle"), ("紧致", "Firming"), ("清透", "Clear"), ("焕亮", "Radiance"), ("净化", "Purifying"))  # fmt: skip
MAKEUP = (("持久", "Long-lasting"), ("哑光", "Matte"), ("水润", "Dewy"), ("丝绒", "Velvet"), ("轻薄", "Sheer"), ("显白", "Glow"), ("柔雾", "Soft Focus"), ("珠光", "Shimmer"))
WEAR = (("宽松", "Oversized"), ("复古", "Vintage"), ("纯棉", "Cotton"), ("通勤", "Office"), ("休闲", "Casual"), ("百搭", "Basic"), ("修身", "Slim"), ("羊毛", "Wool"))
FOOD = (("有机", "Organic"), ("低糖", "Low Sugar"), ("浓香", "Rich"), ("手工", "Handmade"), ("精选", "Select"), ("原味", "Original"), ("冻干", "Freeze-dried"))
HOME = (("北欧", "Nordic"), ("简约", "Minimal"), ("手作", "Handcrafted"), ("柔软", "Soft"), ("日式", "Japanese"), ("奶油", "Cream"))
TECH = (("降噪", "Noise-cancelling"), ("无线", "Wireless"), ("快充", "Fast-charge"), ("便携", "Portable"), ("轻量", "Lightweight"), ("磁吸", "Magnetic"))
GENERIC = (("经典", "Classic"), ("限定", "Limited"), ("新款", "New"), ("升级", "Upgraded"))
ML, G = ("15ml", "30ml", "50ml", "100ml", "200ml"), ("100g", "250g", "500g", "1kg")
# top category: (slug, name, weight, effects, leaves); leaf: (slug, name, product types (cn, en), sizes)
CATALOG = (
    ("skincare", "护肤", 30, SKIN, (
        ("creams", "面霜", (("面霜", "Cream"), ("眼霜", "Eye Cream"), ("晚霜", "Night Cream")), ML),
        ("serums", "精华", (("精华液", "Serum"), ("精华油", "Face Oil"), ("安瓶", "Ampoule")), ML),
        ("toners", "化妆水", (("爽肤水", "Toner"), ("化妆水", "Essence Water"), ("喷雾", "Face Mist")), ML),
        ("cleansers", "洁面", (("洁面乳", "Cleanser"), ("卸妆油", "Cleansing Oil"), ("洁面泡沫", "Foam")), ML),
        ("masks", "面膜", (("面膜", "Sheet Mask"), ("泥膜", "Clay Mask"), ("睡眠面膜", "Sleeping Mask")), ("5 pcs", "10 pcs", "50ml", "100ml")),
        ("sun", "防晒", (("防晒霜", "Sunscreen"), ("防晒喷雾", "Sun Spray"), ("隔离霜", "Primer")), ML),
    )),
    ("makeup", "彩妆", 20, MAKEUP, (
        ("lips", "唇部", (("口红", "Lipstick"), ("唇釉", "Lip Glaze"), ("润唇膏", "Lip Balm")), ("#01", "#02", "#05", "#11", "#26")),
        ("base", "底妆", (("粉底液", "Foundation"), ("气垫", "Cushion"), ("遮瑕", "Concealer")), ("30ml", "15g", "#N10", "#W20")),
        ("eyes", "眼部", (("眼影盘", "Eyeshadow Palette"), ("睫毛膏", "Mascara"), ("眼线笔", "Eyeliner")), ("9 colours", "black", "brown")),
        ("cheeks", "修容", (("腮红", "Blush"), ("高光", "Highlighter"), ("修容盘", "Contour")), ("5g", "8g", "#03")),
    )),
    ("care", "个护", 12, SKIN, (
        ("hair", "洗发护发", (("洗发水", "Shampoo"), ("护发素", "Conditioner"), ("发膜", "Hair Mask")), ML + ("500ml",)),
        ("body", "身体护理", (("沐浴露", "Body Wash"), ("身体乳", "Body Lotion"), ("护手霜", "Hand Cream")), ML + ("500ml",)),
        ("oral", "口腔护理", (("牙膏", "Toothpaste"), ("电动牙刷", "Electric Toothbrush"), ("漱口水", "Mouthwash")), ("120g", "500ml", "1 pc")),
    )),
    ("fragrance", "香氛", 8, GENERIC, (
        ("perfume", "香水", (("香水", "Eau de Parfum"), ("淡香水", "Eau de Toilette")), ("30ml", "50ml", "100ml")),
        ("home-scent", "家居香氛", (("香薰蜡烛", "Scented Candle"), ("扩香", "Reed Diffuser")), ("200g", "100ml")),
    )),
    ("apparel", "服饰", 12, WEAR, (
        ("tops", "上装", (("T恤", "T-shirt"), ("卫衣", "Hoodie"), ("衬衫", "Shirt"), ("针织衫", "Cardigan")), ("S", "M", "L", "XL")),
        ("bottoms", "下装", (("牛仔裤", "Jeans"), ("半身裙", "Skirt"), ("阔腿裤", "Wide-leg Pants")), ("S", "M", "L")),
        ("outerwear", "外套", (("风衣", "Trench Coat"), ("羽绒服", "Down Jacket"), ("西装外套", "Blazer")), ("S", "M", "L")),
        ("shoes", "鞋履", (("运动鞋", "Sneakers"), ("乐福鞋", "Loafers"), ("短靴", "Ankle Boots")), ("36", "37", "38", "39", "40")),
    )),
    ("food", "食品", 8, FOOD, (
        ("coffee", "咖啡", (("咖啡豆", "Coffee Beans"), ("挂耳咖啡", "Drip Coffee"), ("冷萃", "Cold Brew")), G),
        ("tea", "茶饮", (("绿茶", "Green Tea"), ("乌龙茶", "Oolong Tea"), ("花茶", "Flower Tea")), G),
        ("snacks", "零食", (("坚果", "Mixed Nuts"), ("燕麦片", "Oat Flakes"), ("黑巧克力", "Dark Chocolate")), G),
    )),
    ("home", "家居", 6, HOME, (
        ("tableware", "餐具", (("马克杯", "Mug"), ("陶瓷碗", "Ceramic Bowl"), ("玻璃杯", "Glass Tumbler")), ("350ml", "500ml", "set of 2")),
        ("bedding", "床品", (("四件套", "Bedding Set"), ("抱枕", "Cushion"), ("毛毯", "Throw Blanket")), ("1.5m", "1.8m", "45x45cm")),
    )),
    ("digital", "数码", 4, TECH, (
        ("audio", "音频", (("蓝牙耳机", "Wireless Earbuds"), ("头戴耳机", "Headphones"), ("音箱", "Speaker")), ("black", "white", "2025")),
        ("accessories", "配件", (("充电宝", "Power Bank"), ("手机壳", "Phone Case"), ("数据线", "USB-C Cable")), ("10000mAh", "20W", "1m")),
    )),
)  # fmt: skip
BRAND_CN = "花雪青木露云素初禾溪月山白栀兰橘柚森茶沐"
BRAND_EN = ("Lumi", "Camellia", "Aurora", "Nori", "Velvet", "Mori", "Haze", "Bloom", "Kiko", "Sora", "Yuki", "Ember", "Lune", "Maple", "Oasis", "Pebble",
            "Quill", "Rue", "Saffron", "Tidal", "Umber", "Vale", "Willow", "Zephyr", "Atelier", "Botanic", "Cirrus", "Dune", "Fable", "Grove")  # fmt: skip
TAGS = ("敏感肌", "干皮", "油皮", "学生党", "平价", "大牌平替", "国货", "新品", "礼盒", "旅行装", "小众", "网红", "vegan", "cruelty-free", "bestseller", "gift", "travel-size", "limited")
SUITS = ("适合敏感肌", "干皮油皮都能用", "四季通用", "日常通勤必备", "送礼自用皆宜", "学生党友好", "上班族首选")
TEXTURES = ("质地轻盈好吸收", "清爽不黏腻", "温和无刺激", "香味淡雅", "做工细致", "手感柔软", "口感醇厚", "续航持久")
EN_LINES = ("Lightweight texture for daily use.", "Dermatologist tested.", "Made with care.", "Best seller of the season.", "Limited edition packaging.",
            "Free shipping over 99 yuan.", "Vegan formula.", "Gift box available.")  # fmt: skip
TOPICS = (("skincare", "护肤"), ("outfit", "穿搭"), ("food", "美食"), ("travel", "旅行"), ("fitness", "健身"), ("home", "家居"), ("baby", "母婴"), ("gadgets", "数码"),
          ("makeup", "彩妆"), ("reading", "读书"), ("coffee", "咖啡"), ("tea", "喝茶"), ("baking", "烘焙"), ("camping", "露营"), ("photo", "摄影"), ("pets", "宠物"),
          ("scent", "香水"), ("hair", "发型"), ("cycling", "骑行"), ("ceramics", "陶艺"), ("study", "学习"), ("career", "职场"), ("wedding", "婚礼"), ("nails", "美甲"),
          ("ootd", "OOTD"), ("citywalk", "citywalk"), ("vlog", "vlog"), ("latte", "latte art"), ("hiking", "hiking"), ("vintage", "vintage"),
          ("gardening", "gardening"), ("films", "films"), ("desk", "desk setup"), ("brunch", "brunch"), ("yoga", "yoga"), ("running", "running"))  # fmt: skip
CITIES = ("上海", "北京", "杭州", "成都", "广州", "深圳", "南京", "重庆", "西安", "厦门", "大理", "长沙")
PHRASES = ("真实测评", "物超所值", "回购无数", "平价好物", "宝藏好物", "强烈推荐", "性价比高", "闭眼入手", "踩雷预警", "干货分享", "沉浸体验", "新手入门",
           "日常通勤", "周末出游", "温柔氛围", "清爽不腻", "高级质感", "无限回购", "小众宝藏", "惊喜满满")  # fmt: skip
EN_WORDS = tuple("""
routine review daily vlog OOTD glow texture vibe haul unboxing skincare makeup weekend brunch latte minimal vintage cozy aesthetic budget
favorite reset morning night coffee travel citywalk workout summer autumn winter spring outfit picnic camping matcha smoothie journal playlist
selfcare sunset beach bakery croissant sourdough espresso cappuccino americano mocha macaron cheesecake tiramisu dumpling noodles hotpot ramen
sushi avocado granola yogurt salad toast pancake waffle muffin cookie donut bagel pizza burger taco curry kimchi bubble boba lemonade mojito
wine whisky cocktail rooftop gallery museum library bookstore vinyl cinema concert festival market flower garden balcony bedroom kitchen studio
office desk laptop tablet camera lens film polaroid tripod drone headphones speaker keyboard monitor charger backpack tote wallet sneakers
loafers boots sandals denim linen cashmere knit cardigan blazer trench hoodie sweater skirt dress jeans trousers scarf beanie sunglasses
earrings necklace bracelet perfume candle diffuser incense pottery ceramic vase plant succulent orchid tulip lavender rosemary basil mint
yoga pilates running cycling hiking climbing swimming tennis badminton skating surfing skiing marathon stretching meditation breathing sleep
hydration collagen retinol niacinamide peptide ceramide sunscreen toner serum essence cleanser primer concealer blush highlighter mascara
eyeliner lipstick gloss contour palette brushes sponge manicure pedicure haircut bangs perm highlights balayage ponytail braid bun curls
puppy kitten hamster parrot aquarium weekday commute subway airport hotel hostel roadtrip island mountain lake river forest desert snow
rainy cloudy sunny breeze starry moonlight firework lantern temple street alley
""".split())  # fmt: skip  # noqa: SIM905 - a word list reads better as text
FEELS = ("很服帖", "不搓泥", "水水润润", "清清爽爽", "一点都不闷", "软软糯糯", "香香的")
TEXTURE_WORDS = ("轻盈", "细腻", "绵密", "清爽", "厚重", "丝滑")
NICKS = ("小满", "阿七", "橘子", "桃桃", "Momo", "Lily", "阿鹿", "糖糖", "Coco", "小鱼", "Yuki", "大卷", "柚子", "Nana", "栗子", "Kiki")
SENTENCES = (
    "最近入手了{brand}的{eff}{item}，{p4}！", "质地{tex}，上脸{feel}，整体{p4}。", "在{city}逛街的时候顺手带回来的{item}，{p4}。",
    "用了两周，{item}的效果比想象中好，{en}感拉满。", "姐妹们冲，这个价格{p4}，学生党也能入手。", "今天的{en}：{item}搭配{item2}，通勤约会都合适。",
    "唯一的缺点是包装有点简陋，其他都{p4}。", "整体打分{score}分，会继续回购。", "记录一下我的{en} routine，早晚都在用{item}。",
    "说实话一开始没抱期望，结果{p4}。", "{city}的{topic}真的太好逛了，周末{p4}。", "敏感肌可以放心用，没有刺激感，{en}必备。",
    "这次分享的是{topic}相关的{p4}，欢迎收藏。", "和朋友一起去了{city}，顺便拍了很多{en}照片。", "It is my {en} favorite，真的{p4}。",
    "坚持了{days}天的{topic}打卡，今天来交作业。", "{item}的颜色很显白，黄皮也可以闭眼入。", "有人问链接，评论区统一回复，{en}同款。",
    "{eff}效果肉眼可见，{item2}也一起安排上了。", "Weekend {en} in {city_en}，{topic}爱好者狂喜。",
)  # fmt: skip
TITLES = ("{item}真实测评", "{eff}{item}分享", "{city}{topic}攻略", "{p4}｜{item}", "{en} {topic}日记", "这支{item}{p4}", "{topic}新手入门", "一周{en}合集", "{brand}{item} review")
CITY_EN = ("Shanghai", "Beijing", "Hangzhou", "Chengdu", "Guangzhou", "Shenzhen")


def _cjk(text: str) -> bool:
    from core.search.base import is_cjk

    return bool(text) and all(is_cjk(ch) for ch in text)


def _english(words: list[str]) -> list[str]:
    from core.search.base import query_terms

    return sorted({t for w in words for t in query_terms(w) if len(t) >= 3 and t.isalpha() and t.isascii()})


def _cjk_terms(words: list[str]) -> dict[str, list[str]]:
    """1- and 2-character terms: the characters and the bigrams of the CJK vocabulary."""
    from core.search.base import is_cjk, query_terms

    runs = {r for w in words for r in query_terms(w) if is_cjk(r[0])}
    return {"cjk1": sorted({ch for r in runs for ch in r}), "cjk2": sorted({r[i : i + 2] for r in runs for i in range(len(r) - 1)})}


# --------------------------------------------------------------------------- fixture


@dataclass
class Fixture:
    brands: int = 0
    categories: int = 0
    products: int = 0
    in_stock: int = 0
    authors: int = 0
    topics: int = 0
    notes: int = 0
    note_topics: int = 0
    video_notes: int = 0
    body_chars_mean: float = 0.0
    body_chars_range: str = ""
    rows: int = 0
    seconds: float = 0.0
    generate_seconds: float = 0.0
    statistics: str = ""
    db_bytes: int | None = None
    # what the queries draw from
    terms: dict[str, dict[str, list[str]]] = field(default_factory=dict, repr=False)  # index -> class -> terms
    brand_slugs: list[str] = field(default_factory=list, repr=False)
    topic_keys: list[str] = field(default_factory=list, repr=False)
    product_ids: list[int] = field(default_factory=list, repr=False)
    note_ids: list[int] = field(default_factory=list, repr=False)
    now: int = 0


def _weighted(rng: random.Random, items: list, cum: list[float]):
    return items[bisect_right(cum, rng.random() * cum[-1])]


def generate(args: argparse.Namespace, now: datetime) -> tuple[dict[str, list[dict]], Fixture]:
    """Every row of the fixture (parents first) and what the queries will draw from."""
    rng = random.Random(args.seed)
    fx = Fixture(now=int(now.timestamp()))
    rows: dict[str, list[dict]] = {k: [] for k in ("brand", "category", "stock_location", "product", "variant", "variant_price", "stock_level",
                                                    "user_account", "notes_profile", "notes_topic", "notes_note", "notes_note_topic")}  # fmt: skip
    # -- brands: "青禾 Mori", popularity skewed
    n_brands = max(10, args.products // 500)
    pairs = [(a + b, e) for e in BRAND_EN for a in BRAND_CN for b in BRAND_CN if a != b]
    rng.shuffle(pairs)
    brands = []
    for i, (cn, en) in enumerate(pairs[:n_brands], 1):
        brands.append((i, cn, en, f"{en.lower()}-{i}"))
        rows["brand"].append({"id": i, "slug": f"{en.lower()}-{i}", "name": f"{cn} {en}", "description": "", "created_at": now, "updated_at": now})
        rows["stock_location"].append({"id": i, "brand_id": i, "name": "主仓 Main warehouse", "position": 0})
    brand_cum = list(accumulate(1.0 / (r + 1) ** 0.8 for r in range(n_brands)))
    fx.brand_slugs = [b[3] for b in brands]
    # -- categories: tops, then leaves
    leaves = []  # (category id, top index, leaf)
    cid = 0
    for t, (slug, name, _w, _eff, subs) in enumerate(CATALOG):
        cid += 1
        top_id = cid
        rows["category"].append({"id": top_id, "parent_id": None, "slug": slug, "name": name, "position": t})
        for p, leaf in enumerate(subs):
            cid += 1
            rows["category"].append({"id": cid, "parent_id": top_id, "slug": leaf[0], "name": leaf[1], "position": p})
            leaves.append((cid, t, leaf))
    top_cum = list(accumulate(c[2] for c in CATALOG))
    by_top = {t: [lf for lf in leaves if lf[1] == t] for t in range(len(CATALOG))}
    # -- products: one variant each, a CNY price, stock at the brand's location
    cn_words: list[str] = list(TAGS) + [c["name"] for c in rows["category"]] + [b[1] for b in brands]
    en_words: list[str] = [b[2] for b in brands] + list(TAGS) + list(EN_LINES)
    combos: set[str] = set()
    for pid in range(1, args.products + 1):
        t = bisect_right(top_cum, rng.random() * top_cum[-1])
        cat_id, _, (_, _, types, sizes) = rng.choice(by_top[t])
        (tcn, ten), (ecn, een) = rng.choice(types), rng.choice(CATALOG[t][3] + GENERIC)
        _bid, bcn, _ben, _ = brand = _weighted(rng, brands, brand_cum)
        title = f"{ecn}{tcn} {een} {ten} {rng.choice(sizes)}"
        if rng.random() < 0.3:
            title = f"{bcn} {title}"
        combos.add(ecn + tcn)
        description = f"{ecn}配方，{rng.choice(SUITS)}，{rng.choice(TEXTURES)}。{rng.choice(EN_LINES)}"
        created = now - timedelta(seconds=rng.random() * 730 * 86_400)
        rows["product"].append({
            "id": pid, "brand_id": brand[0], "slug": f"p{pid}", "title": title, "description": description, "status": "active", "category_id": cat_id,
            "tags": rng.sample(TAGS, rng.choice((1, 2, 2, 3, 4))), "option_names": [], "created_at": created, "updated_at": created,
        })  # fmt: skip
        rows["variant"].append({"id": pid, "product_id": pid, "sku": f"SKU-{pid}", "options": {}, "weight_grams": 0, "position": 0, "is_active": True, "created_at": created, "updated_at": created})
        yuan = min(4_999, max(9, round(rng.lognormvariate(5.0, 0.8))))
        rows["variant_price"].append({"variant_id": pid, "currency": "CNY", "amount_minor": yuan * 100 - 1 if yuan % 10 == 0 else yuan * 100, "compare_at_minor": None})
        available = 0 if rng.random() < 0.12 else rng.randint(1, 500)
        fx.in_stock += available > 0
        rows["stock_level"].append({"variant_id": pid, "location_id": brand[0], "on_hand": available, "available": available, "reserved": 0, "committed": 0})
    for _, _, _, _, subs in CATALOG:
        for _, _, types, _ in subs:
            cn_words += [c for c, _ in types]
            en_words += [e for _, e in types]
    for effects in (SKIN, MAKEUP, WEAR, FOOD, HOME, TECH, GENERIC):
        cn_words += [c for c, _ in effects]
        en_words += [e for _, e in effects]
    fx.terms["products"] = {**_cjk_terms(cn_words), "cjk4": sorted(c for c in combos if len(c) == 4 and _cjk(c)), "english": _english(en_words)}
    fx.product_ids = list(range(1, args.products + 1))

    # -- authors, topics, notes (all published and public)
    n_authors = max(20, args.notes // 20)
    first_user = 1
    authors = list(range(first_user, first_user + n_authors))
    for u in authors:
        nick = f"{rng.choice(NICKS)}{u % 1000}"
        rows["user_account"].append({"id": u, "email": f"author{u}@search.bench.invalid", "password_hash": "!bench-no-login", "display_name": nick, "locale": "zh-CN",
                                     "is_active": True, "auth_epoch": 0, "created_at": now, "updated_at": now})  # fmt: skip
        rows["notes_profile"].append({"user_id": u, "handle": f"creator{u}", "bio": "", "avatar_path": None, "follower_count": 0, "following_count": 0,
                                      "note_count": 0, "likes_received": 0, "banned_until": None, "ban_reason": "", "created_at": now})  # fmt: skip
    author_cum = list(accumulate(1.0 / (r + 1) ** 0.7 for r in range(n_authors)))
    topic_cum = list(accumulate(1.0 / (r + 1) ** 0.6 for r in range(len(TOPICS))))
    items = [c for _, _, _, _, subs in CATALOG for _, _, types, _ in subs for c, _ in types]
    effects = [c for group in (SKIN, MAKEUP, WEAR, FOOD, HOME, TECH) for c, _ in group]
    topic_count = [0] * len(TOPICS)
    combos = set()  # "保湿面霜" as written in a title or a body
    note_count: dict[int, int] = {}
    lengths = []
    for nid in range(1, args.notes + 1):
        author = _weighted(rng, authors, author_cum)
        tset = sorted({bisect_right(topic_cum, rng.random() * topic_cum[-1]) for _ in range(rng.choice((1, 1, 2, 2, 3)))})
        for t in tset:
            topic_count[t] += 1
        note_count[author] = note_count.get(author, 0) + 1
        fill = {
            "brand": rng.choice(brands)[1], "eff": rng.choice(effects), "item": rng.choice(items), "item2": rng.choice(items), "p4": rng.choice(PHRASES),
            "tex": rng.choice(TEXTURE_WORDS), "feel": rng.choice(FEELS), "city": rng.choice(CITIES), "city_en": rng.choice(CITY_EN), "en": rng.choice(EN_WORDS),
            "topic": TOPICS[tset[0]][1], "score": rng.randint(6, 10), "days": rng.randint(7, 100),
        }  # fmt: skip
        template = rng.choice(TITLES)
        title = template.format(**fill)[:20]
        if "{eff}{item}" in template:
            combos.add(fill["eff"] + fill["item"])
        tags = " ".join("#" + TOPICS[t][1].replace(" ", "") for t in tset)
        want = rng.randint(50, 300) - len(tags) - 1
        body = ""
        while len(body) < want:
            fill.update(en=rng.choice(EN_WORDS), p4=rng.choice(PHRASES), item2=rng.choice(items), city=rng.choice(CITIES))
            template = rng.choice(SENTENCES)
            body += template.format(**fill)
            if "{eff}{item}" in template and len(body) <= want:
                combos.add(fill["eff"] + fill["item"])
        body = f"{body[:want]} {tags}"
        lengths.append(len(body))
        at = now - timedelta(seconds=rng.random() * 365 * 86_400)
        kind = "video" if rng.random() < 0.15 else "image"
        fx.video_notes += kind == "video"
        likes = min(1_000_000, int(rng.paretovariate(1.1) * 5) - 5)
        rows["notes_note"].append({
            "id": nid, "author_user_id": author, "kind": kind, "title": title, "body": body, "status": "published", "visibility": "public", "publish_at": None,
            "published_at": at, "deleted_at": None, "city": fill["city"] if rng.random() < 0.3 else None, "sponsored": rng.random() < 0.03,
            "sponsored_brand_ids": [], "moderation": "allow", "moderation_reasons": [], "like_count": likes, "collect_count": likes // rng.randint(2, 6),
            "comment_count": likes // rng.randint(5, 20), "share_count": 0, "impression_count": likes * 20, "version": 1, "created_at": at, "updated_at": at,
        })  # fmt: skip
        rows["notes_note_topic"].extend({"note_id": nid, "topic_id": t + 1} for t in tset)
    rows["notes_topic"] = [{"id": i + 1, "key": key, "name": name, "note_count": topic_count[i]} for i, (key, name) in enumerate(TOPICS)]
    for r in rows["notes_profile"]:
        r["note_count"] = note_count.get(r["user_id"], 0)
    note_cn = items + effects + list(PHRASES) + list(CITIES) + [n for _, n in TOPICS] + [b[1] for b in brands] + list(TEXTURE_WORDS)
    note_en = list(EN_WORDS) + [n for _, n in TOPICS] + list(CITY_EN) + [n for n in NICKS]
    fx.terms["notes"] = {**_cjk_terms(note_cn), "cjk4": sorted(set(PHRASES) | {c for c in combos if len(c) == 4}), "english": _english(note_en)}
    fx.topic_keys = [k for k, _ in TOPICS]
    fx.note_ids = list(range(1, args.notes + 1))
    fx.brands, fx.categories, fx.products = len(brands), len(rows["category"]), args.products
    fx.authors, fx.topics, fx.notes, fx.note_topics = n_authors, len(TOPICS), args.notes, len(rows["notes_note_topic"])
    fx.body_chars_mean = statistics.mean(lengths) if lengths else 0.0
    fx.body_chars_range = f"{min(lengths)}-{max(lengths)}" if lengths else "-"
    return rows, fx


async def build_fixture(runtime, args: argparse.Namespace) -> Fixture:
    from sqlalchemy import text

    from core.db import Base

    started = time.perf_counter()
    rows, fx = generate(args, datetime.now(UTC).replace(microsecond=0))
    fx.generate_seconds = time.perf_counter() - started
    tables = Base.metadata.tables
    written = 0
    async with runtime.db.engine.begin() as conn:  # parents first (foreign keys are checked on both backends)
        for name, batch in rows.items():
            written += await insert_rows(conn, tables[name], batch)
    if runtime.db.is_sqlite:
        from core.db import refresh_planner_statistics

        analyzed = await refresh_planner_statistics(runtime.db)  # what the periodic job does in a running install
        fx.statistics = f"core.planner_statistics: {len(analyzed)} tables"
    else:
        async with runtime.db.engine.begin() as conn:  # explicit ids: keep the sequences ahead of them
            for name in ("brand", "category", "stock_location", "product", "variant", "user_account", "notes_topic", "notes_note"):
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
        async with runtime.db.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))
        fx.statistics = "ANALYZE"
    fx.rows, fx.seconds = written, time.perf_counter() - started
    return fx


# --------------------------------------------------------------------------- SQL timing


class SqlTimer:
    """The statements run on the runtime's engine while entered: (statement, parameters,
    seconds); parameters only with `keep_params` (a rebuild sends megabytes of them)."""

    def __init__(self, runtime, *, keep_params: bool = False) -> None:
        self.engine = runtime.db.engine.sync_engine
        self.keep_params = keep_params
        self.log: list[tuple[str, object, float]] = []
        self.started = 0.0
        self.wall = 0.0

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info.setdefault("bench_t0", []).append(time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.log.append((statement, parameters if self.keep_params else None, time.perf_counter() - conn.info["bench_t0"].pop()))

    def __enter__(self) -> Self:
        from sqlalchemy import event

        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        from sqlalchemy import event

        self.wall = time.perf_counter() - self.started
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    @property
    def seconds(self) -> float:
        return sum(e for _, _, e in self.log)

    def top(self, n: int = 6) -> list[dict]:
        """The statements by total time (grouped by their first 100 characters)."""
        groups: dict[str, list[float]] = {}
        for statement, _, e in self.log:
            g = groups.setdefault(" ".join(statement.split())[:100], [0, 0.0])
            g[0] += 1
            g[1] += e
        ranked = sorted(groups.items(), key=lambda kv: -kv[1][1])[:n]
        return [{"statement": k, "count": int(c), "seconds": t} for k, (c, t) in ranked]


# --------------------------------------------------------------------------- indexing


async def planner_statistics(runtime) -> str:
    """What a running install has after the indexes filled: the periodic statistics job on
    SQLite (a full ANALYZE if that job fails), autovacuum's ANALYZE on PostgreSQL."""
    from sqlalchemy import text

    if not runtime.db.is_sqlite:
        async with runtime.db.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))
        return "ANALYZE"
    from core.db import refresh_planner_statistics

    try:
        return f"core.planner_statistics: {len(await refresh_planner_statistics(runtime.db))} tables"
    except DBAPIError as exc:  # reported; the bench goes on with full statistics
        async with runtime.db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        return f"core.planner_statistics FAILED ({type(exc).__name__}: {str(exc).splitlines()[0][:120]}); full ANALYZE instead"


async def search_bytes(runtime) -> int | None:
    """Bytes of the physical indexes that answer (SQLite: the pages of their tables and
    indexes, when the dbstat table exists)."""
    from sqlalchemy import text

    from core.search.models import SearchAlias

    async with runtime.db.read_session() as s:
        physical = [p for (p,) in (await s.execute(text(f"SELECT physical FROM {SearchAlias.__tablename__}"))).all()]
        like = [f"search_{p}_%" for p in physical]
        try:
            if runtime.db.is_sqlite:
                sql = "SELECT coalesce(sum(d.pgsize), 0) FROM dbstat d JOIN sqlite_master m ON m.name = d.name WHERE " + " OR ".join(f"m.tbl_name LIKE :p{i}" for i in range(len(like)))
            else:
                sql = "SELECT coalesce(sum(pg_total_relation_size(oid)), 0) FROM pg_class WHERE relkind = 'r' AND (" + " OR ".join(f"relname LIKE :p{i}" for i in range(len(like))) + ")"
            return int((await s.execute(text(sql), {f"p{i}": v for i, v in enumerate(like)})).scalar_one())
        except DBAPIError:  # SQLite built without the dbstat table
            return None


async def index_phase(url: str, var_dir: Path, secret: str, fx: Fixture, args: argparse.Namespace) -> dict:
    from sqlalchemy import bindparam, delete, func, select, text

    from core.search.models import SearchQueueItem

    runtime = make_runtime(var_dir, url, secret)
    out: dict = {"rebuild": {}, "incremental": {}}
    rng = random.Random(args.seed + 1)
    try:
        service = runtime.search
        # an installation that already has its (empty) indexes: creating them queues every
        # document, which the rebuilds below index anyway
        t0 = time.perf_counter()
        await service.ensure_indexes()
        async with runtime.db.session() as s:
            out["queued_at_creation"] = (await s.execute(delete(SearchQueueItem))).rowcount
            await s.commit()
        out["create_s"] = time.perf_counter() - t0
        for name in INDEXES:
            print(f"    rebuild {name} ...", flush=True)
            with SqlTimer(runtime) as sql:
                status = await service.rebuild(name)
            took = sql.wall
            out["rebuild"][name] = {"documents": status.documents, "seconds": took, "per_s": status.documents / took, "physical": status.physical,
                                    "sql_s": sql.seconds, "statements": sql.top()}  # fmt: skip
            print(f"    {name}: {status.documents:,} documents in {took:.1f} s ({status.documents / took:,.0f}/s)", flush=True)
        t0 = time.perf_counter()
        out["statistics"] = await planner_statistics(runtime)
        out["statistics_s"] = time.perf_counter() - t0
        # incremental: documents changed in the database (a new version), queued, drained
        stamp = datetime.now(UTC)
        changes = {
            "products": (fx.product_ids, "UPDATE product SET updated_at = :at WHERE id IN :ids"),
            "notes": (fx.note_ids, "UPDATE notes_note SET like_count = like_count + 1, version = version + 1, updated_at = :at WHERE id IN :ids"),
        }
        for name, (ids, change) in changes.items():
            chosen = sorted(rng.sample(ids, min(args.incremental, len(ids))))
            async with runtime.db.session() as s:
                for i in range(0, len(chosen), 500):
                    await s.execute(text(change).bindparams(bindparam("ids", expanding=True)), {"at": stamp, "ids": chosen[i : i + 500]})
                await s.commit()
            t0 = time.perf_counter()
            await service.enqueue({name: {str(x) for x in chosen}})
            enqueue_s = time.perf_counter() - t0
            handled = 0
            with SqlTimer(runtime) as sql:
                while step := await service.drain():
                    handled += step
            drain_s = sql.wall
            out["incremental"][name] = {"documents": len(chosen), "handled": handled, "enqueue_s": enqueue_s, "drain_s": drain_s, "per_s": handled / drain_s if drain_s else None,
                                        "sql_s": sql.seconds, "statements": sql.top()}  # fmt: skip
            print(f"    incremental {name}: {len(chosen):,} queued in {enqueue_s:.2f} s, drained ({handled:,}) in {drain_s:.2f} s ({handled / max(drain_s, 1e-9):,.0f}/s)", flush=True)
        async with runtime.db.read_session() as s:
            out["queued_after"] = (await s.execute(select(func.count()).select_from(SearchQueueItem))).scalar_one()
        out["search_bytes"] = await search_bytes(runtime)
        if runtime.db.is_sqlite:
            async with runtime.db.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await runtime.search.close()
        await runtime.dispose_loop_databases()
    return out


# --------------------------------------------------------------------------- queries


@dataclass
class Query:
    index: str
    cls: str
    params: dict[str, str]


def plan_queries(fx: Fixture, n: int, seed: int) -> list[Query]:
    """`n` queries per class and index; terms drawn in a shuffled cycle through the vocabulary."""
    rng = random.Random(seed)
    out: list[Query] = []
    day = 86_400

    def cycle(terms: list[str]) -> list[str]:
        drawn: list[str] = []
        while len(drawn) < n:
            batch = list(terms)
            rng.shuffle(batch)
            drawn += batch
        return drawn[:n]

    for index in INDEXES:
        terms = fx.terms[index]
        sorts = ("relevance", "newest", "price_asc", "price_desc") if index == "products" else ("relevance", "newest", "likes", "collects", "comments")
        for cls in ("cjk1", "cjk2", "cjk4", "english"):
            out += [Query(index, cls, {"q": t}) for t in cycle(terms[cls])]
        out += [Query(index, "browse", {"q": "", "sort": rng.choice(sorts), "page": str(rng.choice((1, 1, 1, 2, 3, 5)))}) for _ in range(n)]
        for cls, with_term in (("filtered", False), ("cjk2_filtered", True)):
            for t in cycle(terms["cjk2"]) if with_term else [None] * n:
                if index == "products":
                    low = rng.choice((0, 50, 100, 200, 300)) * 100
                    params = {"price_min": str(low), "price_max": str(low + rng.choice((100, 200, 500)) * 100)}
                    params |= {"q": t, "in_stock": "true"} if t else {"brand": rng.choice(fx.brand_slugs)}
                else:
                    params = {"q": t, "likes_min": str(rng.choice((10, 50, 100)))} if t else {"topics": rng.choice(fx.topic_keys), "created_at_min": str(fx.now - rng.choice((30, 90, 180)) * day)}
                out.append(Query(index, cls, params))
    rng.shuffle(out)
    return out


@dataclass
class Sample:
    index: str
    cls: str
    ms: float
    status: int
    total: int | None
    params: dict[str, str] = field(default_factory=dict)


def http_phase(backend: str, env: dict[str, str], port: int, fx: Fixture, args: argparse.Namespace, tmp: Path) -> dict:
    import httpx

    queries = plan_queries(fx, args.queries, args.seed + 2)
    warm = plan_queries(fx, max(1, args.warmup // (len(CLASSES) * len(INDEXES))), args.seed + 3)
    log_path = tmp / f"zhongcao-{backend}.log"
    print(f"  == core.asgi:app under granian ({args.workers} workers, {backend}): {len(warm)} warm-up requests, then {len(queries):,} measured, one at a time", flush=True)
    samples: list[Sample] = []
    started = time.perf_counter()
    with zhongcao_server(env, args.workers, port, log_path) as srv, httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120.0) as client:
        for q in warm:
            client.get(f"/api/v1/search/{q.index}", params=q.params)
        for i, q in enumerate(queries, 1):
            t0 = time.perf_counter()
            r = client.get(f"/api/v1/search/{q.index}", params=q.params)
            ms = (time.perf_counter() - t0) * 1e3
            samples.append(Sample(q.index, q.cls, ms, r.status_code, r.json().get("total") if r.status_code == 200 else None, q.params))
            if i % 500 == 0:
                print(f"    {i:,}/{len(queries):,} requests", flush=True)
        if not srv.alive():
            raise BenchError(f"server died\n{tail(log_path)}")
    wall = time.perf_counter() - started
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    errors = [s for s in samples if s.status != 200]
    if errors:
        raise BenchError(f"{len(errors)} requests answered an error, e.g. {errors[0].status} for {errors[0].index} {errors[0].params}\n{tail(log_path, 40)}")
    errors_logged = [line.strip() for line in log.splitlines() if "Traceback" in line or "Error" in line or " ERROR " in line or '"level": "error"' in line]
    return {"samples": samples, "wall_s": wall, "log_errors": len(errors_logged), "log_error_lines": list(dict.fromkeys(errors_logged))[:6]}


def summary(samples: list[Sample]) -> dict:
    ms = [s.ms for s in samples]
    totals = sorted(s.total for s in samples if s.total is not None)
    return {
        "n": len(samples), "p50": percentile(ms, 50), "p95": percentile(ms, 95), "p99": percentile(ms, 99), "max": max(ms) if ms else None,
        "errors": sum(1 for s in samples if s.status != 200), "distinct": len({json.dumps(s.params, sort_keys=True) for s in samples}),
        "matches_p50": percentile(totals, 50) if totals else None, "matches_p10": percentile(totals, 10) if totals else None,
        "matches_p90": percentile(totals, 90) if totals else None,
    }  # fmt: skip


# --------------------------------------------------------------------------- in process


async def inprocess_phase(url: str, var_dir: Path, secret: str, fx: Fixture, args: argparse.Namespace, explain: set[tuple[str, str]] | None) -> dict:
    """Server time without HTTP, the SQL share, and the plans of the slowest statements
    (`explain`: the (index, class) pairs to explain; None: all)."""
    from core.search.api import parse_query

    runtime = make_runtime(var_dir, url, secret)
    queries = plan_queries(fx, args.inprocess_queries, args.seed + 4)
    out: dict = {"times": [], "plans": []}
    slowest: dict[tuple[str, str], tuple[float, str, object, dict]] = {}
    try:
        service = runtime.search

        async def run(q: Query) -> tuple[float, float, object]:
            query = parse_query(service.index(q.index), {k: [v] for k, v in q.params.items()})
            cache = getattr(service.backend, "_aggregates", None)  # SQLite's per-process totals and facets
            if isinstance(cache, dict):
                cache.clear()  # as after any write to the index: the cost a live shop sees
            t0, c0 = time.perf_counter(), time.process_time()
            result = await service.search(q.index, query)
            return (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3, result

        for q in plan_queries(fx, 1, args.seed + 5):  # warm-up: aliases, compiled statements
            await run(q)
        for q in queries:
            with SqlTimer(runtime, keep_params=True) as sql:
                ms, cpu, result = await run(q)
            out["times"].append({"index": q.index, "cls": q.cls, "ms": ms, "cpu_ms": cpu, "sql_ms": sql.seconds * 1e3, "statements": len(sql.log), "total": result.total})
            if sql.log:
                statement, params, e = max(sql.log, key=lambda c: c[2])
                key = (q.index, q.cls)
                if key not in slowest or slowest[key][0] < e:
                    slowest[key] = (e, statement, params, q.params)
        for key, (e, statement, params, qparams) in sorted(slowest.items()):
            if explain is not None and key not in explain:
                continue
            prefix = "EXPLAIN QUERY PLAN " if runtime.db.is_sqlite else "EXPLAIN (ANALYZE, BUFFERS) "
            async with runtime.db.engine.connect() as conn:
                try:
                    rows = (await conn.exec_driver_sql(prefix + statement, params)).all()
                    plan = _sqlite_plan(rows) if runtime.db.is_sqlite else [str(r[0]) for r in rows]
                except DBAPIError as exc:  # a plan is a diagnostic
                    plan = [f"(EXPLAIN failed: {exc})"]
                await conn.rollback()
            out["plans"].append({"index": key[0], "cls": key[1], "statement_ms": e * 1e3, "query": qparams, "sql": statement, "plan": plan})
    finally:
        await runtime.search.close()
        await runtime.dispose_loop_databases()
    return out


def _sqlite_plan(rows: list) -> list[str]:
    """EXPLAIN QUERY PLAN rows (id, parent, -, detail) as an indented tree."""
    depth: dict[int, int] = {0: -1}
    out = []
    for node, parent, _, detail in rows:
        depth[node] = depth.get(parent, -1) + 1
        out.append("  " * depth[node] + str(detail))
    return out


# --------------------------------------------------------------------------- one backend


def one_backend(backend: str, args: argparse.Namespace, tmp: Path, pg: PostgresServer | None) -> dict:
    var_dir = tmp / f"var-{backend}"
    var_dir.mkdir()
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{var_dir / 'zhongcao.db'}"
    else:
        assert pg is not None
        url = pg.create_database(f"{PG_DB_PREFIX}_search_{uuid.uuid4().hex[:6]}")
    env = zhongcao_env(var_dir, free_port(), url)
    secret = env["ZHONGCAO_SECRET_KEY"]
    print(f"== {backend}", flush=True)
    db_upgrade(env)

    async def prepare() -> Fixture:
        runtime = make_runtime(var_dir, url, secret)
        try:
            return await build_fixture(runtime, args)
        finally:
            await runtime.dispose_loop_databases()

    fx = asyncio.run(prepare())
    if backend == "sqlite":
        fx.db_bytes = sum(p.stat().st_size for p in var_dir.glob("zhongcao.db*"))
    print(f"  fixture: {fx.rows:,} rows in {fx.seconds:.1f} s ({fx.generate_seconds:.1f} s generating): {fx.products:,} products of {fx.brands} brands, "
          f"{fx.notes:,} notes by {fx.authors:,} authors; statistics: {fx.statistics}", flush=True)  # fmt: skip
    result: dict = {"backend": backend, "fixture": fx}
    print("  indexing in process (runtime.search) ...", flush=True)
    result["indexing"] = asyncio.run(index_phase(url, var_dir, secret, fx, args))
    if result["indexing"]["queued_after"]:
        raise BenchError(f"{result['indexing']['queued_after']} documents still queued after the drain")
    missed: dict[tuple[str, str], float] = {}
    if not args.no_http:
        port = free_port()
        server_env = zhongcao_env(var_dir, port, url)
        server_env["ZHONGCAO_SECRET_KEY"] = secret
        http = http_phase(backend, server_env, port, fx, args, tmp)
        result["http"] = http
        for index in INDEXES:
            for cls in CLASSES:
                p95 = summary([s for s in http["samples"] if s.index == index and s.cls == cls])["p95"]
                if p95 is None or p95 > TARGET_MS:
                    missed[(index, cls)] = p95 or 0.0
    if args.inprocess_queries:
        print(f"  in process: {args.inprocess_queries} queries per class and index (server time, SQL share, plans) ...", flush=True)
        worst = set(sorted(missed, key=lambda k: -missed[k])[:EXPLAIN_MISSED])
        result["inprocess"] = asyncio.run(inprocess_phase(url, var_dir, secret, fx, args, None if args.explain else worst))
    return result


# --------------------------------------------------------------------------- report


def mb(n: int | None) -> str:
    return f"{n / 1e6:,.0f} MB" if n else "-"


def report(results: list[dict], args: argparse.Namespace) -> list[str]:
    print(f"\nLoad average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\nFixture (bulk INSERTs, not timed against a target)")
    rows = []
    for r in results:
        fx: Fixture = r["fixture"]
        rows.append([
            r["backend"], f"{fx.products:,}", str(fx.brands), str(fx.categories), f"{fx.in_stock / max(fx.products, 1):.0%}", f"{fx.notes:,}", f"{fx.authors:,}",
            str(fx.topics), f"{fx.note_topics:,}", f"{fx.body_chars_mean:.0f} ({fx.body_chars_range})", f"{fx.rows:,}", f"{fx.seconds:.1f}", mb(fx.db_bytes),
        ])  # fmt: skip
    print(table(["backend", "products", "brands", "categories", "in stock", "notes", "authors", "topics", "note topics", "body chars", "rows", "load s", "db"], rows, right=set(range(1, 13))))

    print("\nIndexing through the service, in process (full reindex: rebuild into a new physical index, then swap)")
    rows = []
    for r in results:
        ix = r["indexing"]
        for name in INDEXES:
            rb, inc = ix["rebuild"][name], ix["incremental"][name]
            rows.append([r["backend"], name, f"{rb['documents']:,}", f"{rb['seconds']:.1f}", f"{rb['per_s']:,.0f}", f"{inc['documents']:,}", f"{inc['enqueue_s']:.2f}",
                         f"{inc['drain_s']:.2f}", f"{inc['per_s']:,.0f}" if inc["per_s"] else "-"])  # fmt: skip
    print(table(["backend", "index", "documents", "reindex s", "reindex docs/s", "changed", "enqueue s", "drain s", "drain docs/s"], rows, right=set(range(2, 9))))
    for r in results:
        ix = r["indexing"]
        print(f"  {r['backend']}: indexes created in {ix['create_s']:.1f} s ({ix['queued_at_creation']:,} documents queued then, cleared: the rebuilds index them); "
              f"statistics after indexing: {ix['statistics']} ({ix['statistics_s']:.1f} s); live physical indexes {mb(ix['search_bytes'])}")  # fmt: skip
    print("\nWhere the indexing time goes: SQL statements by total time (the rest of the wall time is Python: loading objects, building documents, normalizing, grams)")
    rows = []
    for r in results:
        ix = r["indexing"]
        for name in INDEXES:
            for step, m, wall in (("reindex", ix["rebuild"][name], ix["rebuild"][name]["seconds"]), ("drain", ix["incremental"][name], ix["incremental"][name]["drain_s"])):
                rows.append([r["backend"], f"{name} {step}", "(all SQL)", "", f"{m['sql_s']:.2f}", f"{m['sql_s'] / max(wall, 1e-9):.0%}"])
                rows += [[r["backend"], f"{name} {step}", "  " + st["statement"][:90], f"{st['count']:,}", f"{st['seconds']:.2f}", f"{st['seconds'] / max(wall, 1e-9):.0%}"] for st in m["statements"]]
    print(table(["backend", "step", "statement", "count", "s", "of wall"], rows, right={3, 4, 5}))

    verdicts: list[str] = []
    http = [r for r in results if "http" in r]
    if http:
        print(f"\nLatency through the API, one client, sequential (granian {args.workers} workers; {args.queries} requests per class and index, classes shuffled together)")
        rows = []
        for r in http:
            for index in INDEXES:
                for cls, label in CLASSES.items():
                    s = summary([x for x in r["http"]["samples"] if x.index == index and x.cls == cls])
                    verdict = "PASS" if s["p95"] is not None and s["p95"] <= TARGET_MS else "MISS"
                    matches = f"{s['matches_p50']:,} ({s['matches_p10']:,}-{s['matches_p90']:,})" if s["matches_p50"] is not None else "-"
                    rows.append([r["backend"], index, label, str(s["n"]), str(s["distinct"]), matches, fmt_ms(s["p50"]), fmt_ms(s["p95"]), fmt_ms(s["p99"]), fmt_ms(s["max"]), str(s["errors"]), verdict])
        print(table(["backend", "index", "class", "n", "distinct", "matches p50 (p10-p90)", "p50", "p95", "p99", "max", "errors", f"p95<={TARGET_MS:.0f}"], rows, right=set(range(3, 11))))
        for r in http:
            h = r["http"]
            print(f"  {r['backend']}: {len(h['samples']):,} requests in {h['wall_s']:.0f} s; error lines in the server log: {h['log_errors']}")
            for line in h["log_error_lines"]:
                print(f"    log: {line[:200]}")

    inproc = [r for r in results if "inprocess" in r]
    if inproc:
        print(f"\nServer time in process (runtime.search.search, no HTTP; {args.inprocess_queries} other queries per class and index; "
              "backend caches of totals and facets cleared before each search, as any write to the index does)")
        rows = []
        for r in inproc:
            for index in INDEXES:
                for cls, label in CLASSES.items():
                    t = [x for x in r["inprocess"]["times"] if x["index"] == index and x["cls"] == cls]
                    if not t:
                        continue
                    ms = [x["ms"] for x in t]
                    sql = sum(x["sql_ms"] for x in t) / max(sum(ms), 1e-9)
                    rows.append([r["backend"], index, label, str(len(t)), fmt_ms(percentile(ms, 50)), fmt_ms(percentile(ms, 95)), fmt_ms(statistics.mean(x["cpu_ms"] for x in t)),
                                 f"{sql:.0%}", f"{statistics.mean(x['statements'] for x in t):.1f}"])  # fmt: skip
        print(table(["backend", "index", "class", "n", "p50", "p95", "mean CPU", "SQL share", "statements"], rows, right=set(range(3, 9))))
        for r in inproc:
            for p in r["inprocess"]["plans"]:
                print(f"\n  {r['backend']} {p['index']} {CLASSES[p['cls']]}: slowest statement {fmt_ms(p['statement_ms'])} for {p['query']}")
                print("    " + " ".join(p["sql"].split())[:1500])
                for line in p["plan"][:60]:
                    print(f"      {line}")

    if http:
        print()
        for r in http:
            missed = []
            for index in INDEXES:
                for cls, label in CLASSES.items():
                    p95 = summary([x for x in r["http"]["samples"] if x.index == index and x.cls == cls])["p95"]
                    v = "PASS" if p95 is not None and p95 <= TARGET_MS else "MISS"
                    verdicts.append(v)
                    if v == "MISS":
                        missed.append(f"{index} {label} ({fmt_ms(p95)})")
                    print(f"{r['backend']}: {index} {label}: p95 {fmt_ms(p95)} (target <= {TARGET_MS:.0f} ms): {v}")
            print(f"{r['backend']}: overall: {'PASS' if not missed else 'MISS'}" + (f" ({len(missed)} of {len(INDEXES) * len(CLASSES)} classes missed)" if missed else ""))
        print(f"overall: {'PASS' if verdicts and all(v == 'PASS' for v in verdicts) else 'MISS'}")
    return verdicts


def to_json(results: list[dict], cond: dict) -> dict:
    out = []
    for r in results:
        fx: Fixture = r["fixture"]
        item = {"backend": r["backend"], "fixture": {k: v for k, v in asdict(fx).items() if k not in ("terms", "brand_slugs", "topic_keys", "product_ids", "note_ids")}}
        item["indexing"] = r["indexing"]
        if "http" in r:
            item["http"] = {
                "wall_s": r["http"]["wall_s"], "log_errors": r["http"]["log_errors"], "log_error_lines": r["http"]["log_error_lines"],
                "classes": {f"{i}/{c}": summary([x for x in r["http"]["samples"] if x.index == i and x.cls == c]) for i in INDEXES for c in CLASSES},
                "samples": [asdict(s) for s in r["http"]["samples"]],
            }  # fmt: skip
        if "inprocess" in r:
            item["inprocess"] = r["inprocess"]
        out.append(item)
    return {"conditions": cond, "target_ms": TARGET_MS, "results": out}


# --------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--products", type=int, default=100_000)
    p.add_argument("--notes", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--incremental", type=int, default=2_000, help="changed documents queued and drained, per index")
    p.add_argument("--queries", type=int, default=200, help="requests per query class and index over HTTP")
    p.add_argument("--warmup", type=int, default=42, help="warm-up requests (spread over the classes)")
    p.add_argument("--inprocess-queries", type=int, default=30, help="queries per class and index in process (0: skip)")
    p.add_argument("--explain", action="store_true", help="plans of every class's slowest statement (default: the 4 classes that missed worst)")
    p.add_argument("--workers", type=int, default=2, help="granian workers (default 2)")
    p.add_argument("--no-http", action="store_true", help="no server: fixture, indexing and in-process figures only")
    p.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync/synchronous_commit on")
    p.add_argument("--pg-shared-buffers", default="1GB", help="PostgreSQL shared_buffers (default 1GB; PostgreSQL's own default is 128MB)")
    p.add_argument("--json", metavar="PATH", help="also write conditions and results as JSON")
    args = p.parse_args(argv)
    if args.products < 100 or args.notes < 100 or min(args.queries, args.workers) < 1 or args.incremental < 1 or args.inprocess_queries < 0:
        p.error("--products and --notes >= 100; --queries, --workers, --incremental >= 1; --inprocess-queries >= 0")
    args.backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    results: list[dict] = []
    failed = False
    # shared_buffers as a production server is tuned (~25% of RAM): PostgreSQL's default 128MB
    # holds less than one index's table here, and every broad search would read through the OS
    pg_cm = PostgresServer(durable=args.pg_durable, shared_buffers=args.pg_shared_buffers) if "postgres" in args.backends else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="zc-bench-search-") as tmp_s, pg_cm as pg:
        settings = {
            "backends": ",".join(args.backends), "products": f"{args.products:,}", "notes": f"{args.notes:,}", "seed": args.seed,
            "queries": f"{args.queries} per class and index (+{args.warmup} warm-up)", "incremental": f"{args.incremental:,} per index",
            "workers": args.workers, "server": "granian --interface asgi" + (" --loop uvloop" if has_module("uvloop") else ""),
            "sqlite": "WAL, synchronous=NORMAL",
        }  # fmt: skip
        cond = conditions(settings, pg)
        import sqlite3

        cond["sqlite_library"] = sqlite3.sqlite_version
        print_conditions(cond)
        print(f"  sqlite library {sqlite3.sqlite_version}   target p95 <= {TARGET_MS:.0f} ms per query class through the API")
        print()
        for name in clean_env_names():  # the in-process runtimes read the environment too
            os.environ.pop(name, None)
        for backend in args.backends:
            try:
                results.append(one_backend(backend, args, Path(tmp_s), pg if backend == "postgres" else None))
            except BenchError as exc:
                failed = True
                print(f"  ERROR ({backend}): {exc}", file=sys.stderr)
    cond["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if results:
        report(results, args)
    if args.json:
        write_json(args.json, to_json(results, cond))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

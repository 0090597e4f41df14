"""Notes and feed at scale: 100,000 notes, 10,000 users and 1,000,000 interactions on
SQLite and on a private PostgreSQL; the explore feed's server time, the note detail
API against the bare app, and the server workers' resident memory.

Run from the project root with the project venv:

    .venv/bin/python bench/feed.py [--backend sqlite|postgres|both]
        [--notes 100000] [--users 10000] [--interactions 1000000]
        [--viewers 200] [--pages 5] [--workers 2] [--duration 10s] [--profile]

For each backend, on a fresh database (migrated in-process):

1. **Fixture** (timed, not measured against a target): users (a tenth of them
   creators) with notes profiles and follows, notes over the last 120 days (ids in
   publishing order; 97% published and public, the rest private, drafts or deleted)
   with 1-6 images each (rows pointing at one shared small image file), 1-3 topics and,
   on a quarter of them, product tags; and the interactions (impressions, likes,
   collects into a board, comments) in skewed proportions: user activity is
   log-normal (5% of users never engage), note popularity is heavy-tailed, and each
   user has two preferred topics that draw 70% of what they see (planted
   preferences). Written with multi-row INSERTs (SQLAlchemy Core executemany); the
   counters on notes, topics, profiles and boards are computed from the rows written
   and then checked against them with SQL. PostgreSQL gets ANALYZE afterwards (as
   autovacuum would); SQLite gets what the `core.planner_statistics` periodic job does
   in a running install (`core.db.refresh_planner_statistics`: sampled ANALYZE of the
   tables that grew), or nothing with `--sqlite-no-statistics`, or a full ANALYZE with
   `--sqlite-analyze`.
2. **Explore, in process** (the server time): `plugins.feed.explore.explore_page` for
   `--viewers` viewers (10% anonymous, 10% who never engaged, the rest drawn from the
   users who did), one after the other, each scrolling `--pages` pages of 20 cards
   (the first page starts a session and ranks a batch, the next ones read it). p50 and
   p95 per page kind and per kind of viewer. **Target: p95 <= 30 ms** for a page of 20
   cards (PASS/MISS, for all pages and for first pages alone).
3. **Over HTTP** (the client's view): `core.asgi:app` under granian (`--workers`),
   the same sessions through httpx with bearer tokens, first one at a time, then
   `--http-concurrency` viewers at once; the bare app (bench/bare_app.py) and the
   public note detail `GET /api/v1/notes/{id}` with wrk exactly as
   bench/product_page.py does (one note, and 2,000 notes in turn through a wrk
   script): requests/s as a ratio to the bare app measured in the same run.
4. **Memory**: VmRSS (and VmHWM, the peak) of each granian worker process from
   /proc/<pid>/status after start-up, after the explore load and after the detail load.

With `--profile`, or when the explore target is missed, the feed is also profiled
in process (not timed with the rest): time per phase of a page (timing wrappers
around the feed's functions), the SQL statements by total time, then cProfile's own
time by package and the top functions.

Exit 0 whether the target is met or missed; 1 if a server, wrk, the fixture or its
counter check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import cProfile
import functools
import os
import pstats
import random
import re
import secrets
import shutil
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
from types import SimpleNamespace

from _support import (
    PG_DB_PREFIX,
    BenchError,
    PostgresServer,
    ServerProcess,
    base_env,
    clean_env_names,
    conditions,
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
from http_overhead import Result, measure, parse_wrk, probe

TARGET_MS = 30.0
PAGE = 20
DAYS = 120
MEDIA_FILE = "bench/shared.webp"
TOPIC_NAMES = (
    "护肤", "穿搭", "美食", "旅行", "健身", "家居", "母婴", "数码", "彩妆", "读书",
    "咖啡", "茶", "烘焙", "露营", "摄影", "宠物", "香水", "发型", "骑行", "陶艺",
    "skincare", "OOTD", "makeup", "hiking", "latte", "baking", "citywalk", "fitness", "vintage", "gardening",
    "films", "perfume", "haircare", "cycling", "ceramics", "books", "pets", "camping", "desk", "nails",
)  # fmt: skip
# shares of the interactions (the rest are impressions)
SHARE_LIKES, SHARE_COLLECTS, SHARE_COMMENTS = 0.15, 0.045, 0.025
COMMENTS = ("好用！", "求链接", "收藏了，谢谢分享", "这个颜色好看", "用了一周，确实不错", "Love this!", "where is this?", "同款get", "博主皮肤好好", "种草了")


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--notes", type=int, default=100_000)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--interactions", type=int, default=1_000_000, help="impressions + likes + collects + comments")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--viewers", type=int, default=200, help="explore sessions measured in process")
    p.add_argument("--pages", type=int, default=5, help="pages of 20 cards per session (5 = one ranked batch of 100)")
    p.add_argument("--profile", action="store_true", help="profile the feed in process even if the target is met")
    p.add_argument("--no-profile", action="store_true", help="never profile")
    p.add_argument("--profile-viewers", type=int, default=30, help="sessions per profiling pass")
    p.add_argument("--no-http", action="store_true", help="in-process figures only (no server, no wrk, no memory)")
    p.add_argument("--http-sessions", type=int, default=40, help="explore sessions over HTTP, one at a time")
    p.add_argument("--http-concurrency", type=int, default=8, help="viewers at once in the concurrent HTTP explore run")
    p.add_argument("--http-duration", type=float, default=15.0, help="seconds of the concurrent HTTP explore run")
    p.add_argument("--detail-notes", type=int, default=2_000, help="notes the rotating detail run cycles through")
    p.add_argument("--workers", type=int, default=2, help="granian workers (default 2)")
    p.add_argument("--duration", default="10s", help="wrk measurement per URL (default 10s)")
    p.add_argument("--warmup", default="2s", help="wrk warm-up per URL (default 2s)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--timeout", default="10s", help="wrk per-request timeout (default 10s)")
    p.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync/synchronous_commit on")
    p.add_argument("--sqlite-analyze", action="store_true", help="run a full ANALYZE on SQLite after the fixture")
    p.add_argument("--sqlite-no-statistics", action="store_true", help="leave SQLite without planner statistics (by default the fixture gets what the core.planner_statistics job gives a running install)")
    p.add_argument("--json", metavar="PATH", help="also write conditions and results as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="print raw wrk output")
    args = p.parse_args(argv)
    for name in ("duration", "warmup", "timeout"):
        if not re.fullmatch(r"\d+[smh]?", getattr(args, name)):
            p.error(f"--{name}: expected e.g. 10s, 2m")
    if args.users < 20 or args.notes < 100 or args.interactions < 0:
        p.error("--users >= 20, --notes >= 100, --interactions >= 0")
    if min(args.viewers, args.pages, args.workers, args.connections, args.threads, args.http_concurrency) < 1:
        p.error("--viewers, --pages, --workers, --connections, --threads, --http-concurrency >= 1")
    args.backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    return args


# --------------------------------------------------------------------------- fixture


@dataclass
class Fixture:
    users: int = 0
    creators: int = 0
    notes: int = 0
    visible_notes: int = 0
    images: int = 0
    topics: int = 0
    note_topics: int = 0
    product_tags: int = 0
    follows: int = 0
    impressions: int = 0
    impression_views: int = 0  # sum of impression counts
    likes: int = 0
    collects: int = 0
    comments: int = 0
    boards: int = 0
    rows: int = 0
    seconds: float = 0.0
    generate_seconds: float = 0.0
    check: str = "?"
    db_bytes: int | None = None
    # for the measurements
    first_user: int = 1
    activity: dict[int, int] = field(default_factory=dict, repr=False)  # user id -> interactions
    detail_note: int = 0
    detail_notes: list[int] = field(default_factory=list, repr=False)

    def interactions(self) -> int:
        return self.impressions + self.likes + self.collects + self.comments


def _cum(weights: list[float]) -> list[float]:
    return list(accumulate(weights))


def _pick(rng: random.Random, population: list[int], cum: list[float]) -> int:
    return population[bisect_right(cum, rng.random() * cum[-1]) if cum[-1] > 0 else rng.randrange(len(population))]


def write_shared_image(media_dir: Path) -> tuple[int, int]:
    """The one small image every image row points at (a webp, like the uploads' copies)."""
    from PIL import Image

    path = media_dir / MEDIA_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.new("RGB", (320, 427), (236, 196, 180))
    img.save(path, "WEBP", quality=70)
    return img.size


async def build_fixture(runtime, args: argparse.Namespace) -> Fixture:  # noqa: ANN001, C901, PLR0915
    """Everything written set-based in one transaction per table group; returns the counts."""
    from sqlalchemy import func, select

    from core.auth.models import User, UserRole
    from core.catalog.models import Brand, Product, Variant, VariantPrice
    from plugins.notes.models import (
        Board,
        Collect,
        Comment,
        Follow,
        Impression,
        Like,
        Note,
        NoteImage,
        NotesProfile,
        NoteTopic,
        ProductTag,
        Topic,
    )

    fx = Fixture()
    rng = random.Random(args.seed)
    started = time.perf_counter()
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS)
    width, height = write_shared_image(runtime.settings.media_dir)
    sizes = {"320": {"path": MEDIA_FILE, "width": width, "height": height}, "960": {"path": MEDIA_FILE, "width": width, "height": height}}

    async with runtime.db.session() as s:  # a few catalog rows through the ORM, for product tags
        variants: list[tuple[int, int, int]] = []  # (product, variant, brand)
        for b in range(5):
            brand = Brand(slug=f"bench-brand-{b}", name=f"Bench Brand {b}")
            s.add(brand)
            await s.flush()
            for n in range(getattr(args, "products_per_brand", 20)):  # bench/storefront_pages.py asks for more
                product = Product(brand_id=brand.id, slug=f"bench-{b}-{n}", title=f"Bench product {b}-{n}", status="active")
                s.add(product)
                await s.flush()
                variant = Variant(product_id=product.id, sku=f"BENCH-{b}-{n}")
                s.add(variant)
                await s.flush()
                s.add(VariantPrice(variant_id=variant.id, currency="CNY", amount_minor=rng.choice([3_900, 9_900, 12_900, 25_800])))
                variants.append((product.id, variant.id, brand.id))
        await s.commit()
        first_user = ((await s.execute(select(func.max(User.id)))).scalar() or 0) + 1
        first_note = ((await s.execute(select(func.max(Note.id)))).scalar() or 0) + 1
        first_topic = ((await s.execute(select(func.max(Topic.id)))).scalar() or 0) + 1
        first_board = ((await s.execute(select(func.max(Board.id)))).scalar() or 0) + 1

    # -- people: activity (log-normal, 5% never engage), creators with a productivity
    user_ids = list(range(first_user, first_user + args.users))
    fx.first_user = first_user
    n_creators = max(2, args.users // 10)
    creators = user_ids[:n_creators]
    activity_w = [0.0 if rng.random() < 0.05 else rng.lognormvariate(0.0, 1.2) for _ in user_ids]
    productivity = {c: 1.0 / (rank + 1) ** 0.8 for rank, c in enumerate(rng.sample(creators, len(creators)))}

    # -- topics: their sizes are skewed too
    n_topics = min(len(TOPIC_NAMES), max(5, args.notes // 2_500))
    topic_ids = list(range(first_topic, first_topic + n_topics))
    topic_cum = _cum([1.0 / (i + 1) ** 0.7 for i in range(n_topics)])
    creator_topic = {c: rng.randrange(n_topics) if rng.random() < 0.3 else bisect_right(topic_cum, rng.random() * topic_cum[-1]) for c in creators}
    creator_cum = _cum([productivity[c] for c in creators])

    # -- notes, in publishing order (ids follow time, as they would)
    times = sorted(start + timedelta(seconds=rng.random() * DAYS * 86_400) for _ in range(args.notes))
    note_ids = list(range(first_note, first_note + args.notes))
    note_author: list[int] = []
    note_topics: list[list[int]] = []
    note_visible: list[bool] = []
    note_quality: list[float] = []
    notes_rows, image_rows, nt_rows, tag_rows = [], [], [], []
    for i, (nid, at) in enumerate(zip(note_ids, times)):
        author = _pick(rng, creators, creator_cum)
        main = creator_topic[author]
        tset = [main]
        if rng.random() < 0.35:
            tset.append(rng.randrange(n_topics))
        if rng.random() < 0.15:
            tset.append(rng.randrange(n_topics))
        tset = sorted(set(tset))
        roll = rng.random()
        status, visibility, deleted_at = "published", "public", None
        if roll < 0.01:
            visibility = "private"
        elif roll < 0.02:
            status = "draft"
        elif roll < 0.03:
            status, deleted_at = "deleted", now - timedelta(days=rng.random() * 10)
        visible = status == "published" and visibility == "public"
        note_author.append(author)
        note_topics.append(tset)
        note_visible.append(visible)
        note_quality.append(rng.paretovariate(1.6) if visible else 0.0)
        names = [TOPIC_NAMES[t] for t in tset]
        notes_rows.append({
            "id": nid, "author_user_id": author, "kind": "image", "title": f"{names[0]}分享 {i}"[:20],
            "body": f"今天聊聊{names[0]}：用了一个月的真实感受，细节都在图里。{' '.join('#' + n for n in names)}",
            "status": status, "visibility": visibility, "publish_at": None, "published_at": at if status != "draft" else None, "deleted_at": deleted_at,
            "city": rng.choice([None, None, "上海", "北京", "杭州", "成都"]), "sponsored": False, "sponsored_brand_ids": [], "moderation": "allow",
            "moderation_reasons": [], "like_count": 0, "collect_count": 0, "comment_count": 0, "share_count": 0, "impression_count": 0, "version": 1,
            "created_at": at, "updated_at": at,
        })  # fmt: skip
        for pos in range(rng.choices((1, 2, 3, 4, 6), weights=(30, 25, 20, 15, 10))[0]):
            image_rows.append({"note_id": nid, "position": pos, "path": MEDIA_FILE, "width": width, "height": height, "sizes": sizes, "alt": ""})
        nt_rows.extend({"note_id": nid, "topic_id": topic_ids[t]} for t in tset)
        if rng.random() < 0.25:
            for product_id, variant_id, brand_id in rng.sample(variants, rng.choice((1, 1, 2))):
                tag_rows.append({
                    "note_id": nid, "product_id": product_id, "variant_id": variant_id, "brand_id": brand_id,
                    "image_position": 0, "x_ppm": rng.randrange(1_000_000), "y_ppm": rng.randrange(1_000_000),
                })  # fmt: skip

    # -- who sees what: 70% from the two preferred topics' notes, 30% from all; weighted by
    # quality, damped for notes under three days old (they had less time to be seen)
    def weight(i: int) -> float:
        age_h = (now - times[i]).total_seconds() / 3600
        return note_quality[i] * min(1.0, (age_h + 6) / 72)

    visible_idx = [i for i in range(args.notes) if note_visible[i]]
    all_cum = _cum([weight(i) for i in visible_idx])
    by_topic: dict[int, list[int]] = {t: [] for t in range(n_topics)}
    for i in visible_idx:
        for t in note_topics[i]:
            by_topic[t].append(i)
    topic_pool = {t: (idx, _cum([weight(i) for i in idx])) for t, idx in by_topic.items() if idx}
    total_w = sum(activity_w) or 1.0
    likes_rows, collect_rows, comment_rows, imp_rows, board_rows, follow_rows = [], [], [], [], [], []
    board_id = first_board
    for u, w in zip(user_ids, activity_w):
        k = round(args.interactions * w / total_w)
        if k <= 0:
            continue
        n_like, n_collect, n_comment = round(k * SHARE_LIKES), round(k * SHARE_COLLECTS), round(k * SHARE_COMMENTS)
        n_seen = max(1, k - n_like - n_collect - n_comment)
        prefs = rng.sample(sorted(topic_pool), min(2, len(topic_pool)))
        seen: dict[int, None] = {}
        for _ in range(n_seen * 3):
            if len(seen) >= n_seen:
                break
            if rng.random() < 0.7:
                idx, cum = topic_pool[rng.choice(prefs)]
                i = _pick(rng, idx, cum)
            else:
                i = _pick(rng, visible_idx, all_cum)
            if note_author[i] != u:
                seen.setdefault(i)
        seen_list = list(seen)
        if not seen_list:
            continue
        # engagement falls on the notes seen, preferring the preferred topics
        pref_set = set(prefs)
        eng_w = _cum([4.0 if pref_set.intersection(note_topics[i]) else 1.0 for i in seen_list])

        def engaged(n: int, _seen: list[int] = seen_list, _cum_w: list[float] = eng_w) -> list[int]:
            out: dict[int, None] = {}
            for _ in range(n * 4):
                if len(out) >= min(n, len(_seen)):
                    break
                out.setdefault(_pick(rng, _seen, _cum_w))
            return list(out)

        for i in seen_list:
            first_at = times[i] + (now - times[i]) * rng.random()
            count = 1 if rng.random() < 0.6 else rng.randint(2, 6)
            last_at = first_at + (now - first_at) * rng.random() if count > 1 else first_at
            imp_rows.append({"user_id": u, "note_id": note_ids[i], "count": count, "first_at": first_at, "last_at": last_at})
        for i in engaged(n_like):
            likes_rows.append({"user_id": u, "note_id": note_ids[i], "created_at": times[i] + (now - times[i]) * rng.random()})
        collected = engaged(n_collect)
        if collected:
            board_rows.append({"id": board_id, "owner_user_id": u, "name": "默认收藏夹", "private": False, "note_count": len(collected), "created_at": start})
            for i in collected:
                collect_rows.append({"user_id": u, "note_id": note_ids[i], "board_id": board_id, "created_at": times[i] + (now - times[i]) * rng.random()})
            board_id += 1
        for _ in range(n_comment):
            i = _pick(rng, seen_list, eng_w)
            comment_rows.append({
                "note_id": note_ids[i], "author_user_id": u, "parent_id": None, "body": rng.choice(COMMENTS), "status": "visible",
                "like_count": 0, "reply_count": 0, "created_at": times[i] + (now - times[i]) * rng.random(),
            })  # fmt: skip
        fx.activity[u] = len(seen_list) + n_like + len(collected) + n_comment

    # -- follows: 3-40 creators each, mostly of the preferred topics' creators
    by_main: dict[int, list[int]] = {}
    for c in creators:
        by_main.setdefault(creator_topic[c], []).append(c)
    main_cum = {t: _cum([productivity[c] for c in cs]) for t, cs in by_main.items()}
    for u in user_ids:
        want = min(len(creators) - 1, max(3, min(40, round(rng.lognormvariate(2.3, 0.7)))))
        chosen: dict[int, None] = {}
        for _ in range(want * 4):
            if len(chosen) >= want:
                break
            t = creator_topic[creators[rng.randrange(len(creators))]] if rng.random() < 0.4 else rng.randrange(n_topics)
            c = _pick(rng, by_main[t], main_cum[t]) if rng.random() < 0.6 and t in by_main else _pick(rng, creators, creator_cum)
            if c != u:
                chosen.setdefault(c)
        follow_rows.extend({"follower_user_id": u, "followee_user_id": c, "created_at": start + (now - start) * rng.random()} for c in chosen)

    # -- counters, from the rows
    like_c, collect_c, comment_c, imp_c = {}, {}, {}, {}
    for r in likes_rows:
        like_c[r["note_id"]] = like_c.get(r["note_id"], 0) + 1
    for r in collect_rows:
        collect_c[r["note_id"]] = collect_c.get(r["note_id"], 0) + 1
    for r in comment_rows:
        comment_c[r["note_id"]] = comment_c.get(r["note_id"], 0) + 1
    for r in imp_rows:
        imp_c[r["note_id"]] = imp_c.get(r["note_id"], 0) + r["count"]
    note_count, received = {}, {}
    topic_count = [0] * n_topics
    for row, tset, visible in zip(notes_rows, note_topics, note_visible):
        nid = row["id"]
        row.update(like_count=like_c.get(nid, 0), collect_count=collect_c.get(nid, 0), comment_count=comment_c.get(nid, 0), impression_count=imp_c.get(nid, 0))
        received[row["author_user_id"]] = received.get(row["author_user_id"], 0) + row["like_count"] + row["collect_count"]
        if visible:
            note_count[row["author_user_id"]] = note_count.get(row["author_user_id"], 0) + 1
            for t in tset:
                topic_count[t] += 1
    followers, following = {}, {}
    for r in follow_rows:
        followers[r["followee_user_id"]] = followers.get(r["followee_user_id"], 0) + 1
        following[r["follower_user_id"]] = following.get(r["follower_user_id"], 0) + 1
    user_rows = [
        {"id": u, "email": f"bench{u}@feed.bench.invalid", "password_hash": "!bench-no-login", "display_name": f"用户{u}" if u % 3 else f"Bench user {u}",
         "locale": "zh-CN", "is_active": True, "auth_epoch": 0, "created_at": start, "updated_at": start}
        for u in user_ids
    ]  # fmt: skip
    profile_rows = [
        {"user_id": u, "handle": f"bench{u}", "bio": "", "avatar_path": MEDIA_FILE if u % 4 == 0 else None, "follower_count": followers.get(u, 0),
         "following_count": following.get(u, 0), "note_count": note_count.get(u, 0), "likes_received": received.get(u, 0),
         "banned_until": None, "ban_reason": "", "created_at": start}
        for u in user_ids
    ]  # fmt: skip
    topic_rows = [{"id": topic_ids[t], "key": TOPIC_NAMES[t].casefold(), "name": TOPIC_NAMES[t], "note_count": topic_count[t]} for t in range(n_topics)]
    fx.generate_seconds = time.perf_counter() - started

    # -- write: parents first (foreign keys are checked on both backends)
    async with runtime.db.engine.begin() as conn:
        rows = await insert_rows(conn, User.__table__, user_rows)
        rows += await insert_rows(conn, UserRole.__table__, [{"user_id": c, "role": "creator"} for c in creators])
        rows += await insert_rows(conn, NotesProfile.__table__, profile_rows)
        rows += await insert_rows(conn, Topic.__table__, topic_rows)
        rows += await insert_rows(conn, Note.__table__, notes_rows)
        rows += await insert_rows(conn, NoteImage.__table__, image_rows)
        rows += await insert_rows(conn, NoteTopic.__table__, nt_rows)
        rows += await insert_rows(conn, ProductTag.__table__, tag_rows)
        rows += await insert_rows(conn, Follow.__table__, follow_rows)
        rows += await insert_rows(conn, Board.__table__, board_rows)
    async with runtime.db.engine.begin() as conn:  # the big one on its own
        rows += await insert_rows(conn, Impression.__table__, imp_rows)
    async with runtime.db.engine.begin() as conn:
        rows += await insert_rows(conn, Like.__table__, likes_rows)
        rows += await insert_rows(conn, Collect.__table__, collect_rows)
        rows += await insert_rows(conn, Comment.__table__, comment_rows)
    if runtime.db.is_sqlite and args.sqlite_analyze:
        from sqlalchemy import text

        async with runtime.db.engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
    elif runtime.db.is_sqlite and not args.sqlite_no_statistics:
        from core.db import refresh_planner_statistics

        stats_started = time.perf_counter()
        analyzed = await refresh_planner_statistics(runtime.db)  # what the periodic job does in a running install
        print(f"  sqlite: planner statistics for {len(analyzed)} tables in {time.perf_counter() - stats_started:.2f} s (core.planner_statistics)", flush=True)
    if not runtime.db.is_sqlite:
        from sqlalchemy import text

        async with runtime.db.engine.begin() as conn:  # explicit ids: keep the sequences ahead of them
            for name in ("user_account", "notes_note", "notes_topic", "notes_board"):
                await conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
        async with runtime.db.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))
    fx.seconds = time.perf_counter() - started
    fx.rows = rows
    fx.users, fx.creators, fx.notes, fx.visible_notes = len(user_rows), len(creators), len(notes_rows), len(visible_idx)
    fx.images, fx.topics, fx.note_topics, fx.product_tags = len(image_rows), n_topics, len(nt_rows), len(tag_rows)
    fx.follows, fx.impressions, fx.likes, fx.collects, fx.comments, fx.boards = len(follow_rows), len(imp_rows), len(likes_rows), len(collect_rows), len(comment_rows), len(board_rows)
    fx.impression_views = sum(r["count"] for r in imp_rows)

    # notes for the detail page: public ones; the fixed one has 3+ images, topics and a product tag
    tagged = {r["note_id"] for r in tag_rows}
    images_of: dict[int, int] = {}
    for r in image_rows:
        images_of[r["note_id"]] = images_of.get(r["note_id"], 0) + 1
    public = [note_ids[i] for i in visible_idx]
    rich = [n for n in public if n in tagged and images_of.get(n, 0) >= 3]
    fx.detail_note = max(rich or public, key=lambda n: (like_c.get(n, 0), n))
    fx.detail_notes = random.Random(args.seed + 1).sample(public, min(args.detail_notes, len(public)))
    return fx


async def check_counters(runtime) -> str:  # noqa: ANN001
    """The denormalised counters against the rows they count (one SQL query each)."""
    from sqlalchemy import text

    checks = {
        "likes": "SELECT count(*) FROM notes_note n WHERE n.like_count <> (SELECT count(*) FROM notes_like l WHERE l.note_id = n.id)",
        "collects": "SELECT count(*) FROM notes_note n WHERE n.collect_count <> (SELECT count(*) FROM notes_collect c WHERE c.note_id = n.id)",
        "comments": "SELECT count(*) FROM notes_note n WHERE n.comment_count <> (SELECT count(*) FROM notes_comment c WHERE c.note_id = n.id AND c.status = 'visible')",
        "impressions": "SELECT count(*) FROM notes_note n WHERE n.impression_count <> (SELECT coalesce(sum(i.count), 0) FROM notes_impression i WHERE i.note_id = n.id)",
        "followers": "SELECT count(*) FROM notes_profile p WHERE p.follower_count <> (SELECT count(*) FROM notes_follow f WHERE f.followee_user_id = p.user_id)",
        "following": "SELECT count(*) FROM notes_profile p WHERE p.following_count <> (SELECT count(*) FROM notes_follow f WHERE f.follower_user_id = p.user_id)",
        "board notes": "SELECT count(*) FROM notes_board b WHERE b.note_count <> (SELECT count(*) FROM notes_collect c WHERE c.board_id = b.id)",
        "topic notes": (
            "SELECT count(*) FROM notes_topic t WHERE t.note_count <> (SELECT count(*) FROM notes_note_topic x JOIN notes_note n ON n.id = x.note_id"
            " WHERE x.topic_id = t.id AND n.status = 'published' AND n.visibility = 'public')"
        ),
    }
    wrong = []
    async with runtime.db.read_session() as s:
        for name, sql in checks.items():
            n = (await s.execute(text(sql))).scalar_one()
            if n:
                wrong.append(f"{name}: {n} off")
    return "consistent" if not wrong else "WRONG: " + ", ".join(wrong)


async def prepare(backend: str, url: str, var_dir: Path, secret: str, args: argparse.Namespace) -> Fixture:
    from core import migrate

    runtime = make_runtime(var_dir, url, secret)
    try:
        await migrate.upgrade(runtime)
        fx = await build_fixture(runtime, args)
        print(
            f"  {backend}: fixture written in {fx.seconds:.1f} s ({fx.generate_seconds:.1f} s generating, {fx.rows / max(fx.seconds - fx.generate_seconds, 1e-9):,.0f} rows/s inserting): "
            f"{fx.users:,} users ({fx.creators:,} creators), {fx.notes:,} notes ({fx.visible_notes:,} public), {fx.images:,} images, {fx.topics} topics, "
            f"{fx.product_tags:,} product tags, {fx.follows:,} follows, {fx.interactions():,} interactions "
            f"({fx.impressions:,} impressions ({fx.impression_views:,} views), {fx.likes:,} likes, {fx.collects:,} collects, {fx.comments:,} comments)",
            flush=True,
        )
        started = time.perf_counter()
        fx.check = await check_counters(runtime)
        print(f"  {backend}: counters {fx.check} ({time.perf_counter() - started:.1f} s)", flush=True)
    finally:
        await runtime.dispose_loop_databases()
    return fx


# --------------------------------------------------------------------------- viewers


def pick_viewers(fx: Fixture, n: int, seed: int) -> list[tuple[str, int | None]]:
    """10% anonymous, 10% who never engaged, the rest among those who did ("light" below
    the median activity, "heavy" at or above it)."""
    rng = random.Random(seed)
    active = sorted(u for u, k in fx.activity.items() if k > 0)
    cold = [u for u in range(fx.first_user, fx.first_user + fx.users) if fx.activity.get(u, 0) == 0]
    median = statistics.median(fx.activity[u] for u in active) if active else 0
    out: list[tuple[str, int | None]] = []
    n_anon = max(1, n // 10)
    n_cold = max(1, n // 10) if cold else 0
    out += [("anonymous", None)] * n_anon
    out += [("cold", u) for u in rng.sample(cold, min(n_cold, len(cold)))]
    for u in rng.sample(active, min(n - len(out), len(active))):
        out.append(("heavy" if fx.activity[u] >= median else "light", u))
    rng.shuffle(out)
    return out


@dataclass
class PageTime:
    viewer: str
    page: int  # 0: the first page (starts a session)
    ms: float
    cpu_ms: float
    cards: int


def summarize(times: list[PageTime], select) -> tuple[int, float | None, float | None, float | None, float | None]:  # noqa: ANN001
    vals = [t.ms for t in times if select(t)]
    if not vals:
        return 0, None, None, None, None
    return len(vals), percentile(vals, 50), percentile(vals, 95), percentile(vals, 99), max(vals)


# --------------------------------------------------------------------------- in process


async def run_sessions(runtime, viewers: list[tuple[str, int | None]], pages: int) -> list[PageTime]:  # noqa: ANN001
    from plugins.feed import explore

    out = []
    for kind, uid in viewers:
        cursor = None
        for page in range(pages):
            t0, c0 = time.perf_counter(), time.process_time()
            result = await explore.explore_page(runtime, uid, cursor=cursor, limit=PAGE)
            out.append(PageTime(kind, page, (time.perf_counter() - t0) * 1e3, (time.process_time() - c0) * 1e3, len(result.items)))
            cursor = result.next_cursor
            if cursor is None:
                break
    return out


async def explore_in_process(url: str, var_dir: Path, secret: str, viewers: list[tuple[str, int | None]], args: argparse.Namespace) -> dict:
    from plugins.feed.retrieval import forget_popular, popular_now
    from plugins.feed.settings import feed_settings
    from plugins.notes.engagement import start_impression_timer, stop_impression_timer

    runtime = make_runtime(var_dir, url, secret)
    try:
        start_impression_timer(runtime)
        warm = viewers[: min(10, len(viewers))]
        await run_sessions(runtime, [(k, u) for k, u in warm], 2)  # caches, compiled statements, the OS page cache
        forget_popular(runtime)
        popular_ms = None
        async with runtime.db.read_session() as read:
            t0 = time.perf_counter()
            with contextlib.suppress(TypeError):  # its signature is the feed's to change
                await popular_now(read, runtime, feed_settings(runtime), datetime.now(UTC))
                popular_ms = (time.perf_counter() - t0) * 1e3
        started = time.perf_counter()
        times = await run_sessions(runtime, viewers, args.pages)
        wall = time.perf_counter() - started
        await stop_impression_timer(runtime)
    finally:
        await runtime.dispose_loop_databases()
    return {"times": times, "wall_s": wall, "popular_ms": popular_ms, "popular_cache_s": feed_settings(runtime).popular_cache_seconds}


# --------------------------------------------------------------------------- profiling


_phase: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("bench_feed_phase", default=None)


class PhaseTimer:
    """Inclusive and exclusive wall time per feed function, and the SQL run inside each."""

    TARGETS = (
        ("plugins.feed.explore", ("explore_page", "open_session", "refill", "rank_batch", "load_profile", "load_stats", "note_cards", "_history",
                                  "injected_cards", "_log_impressions", "rank", "arrange", "exploration_pool")),
        ("plugins.feed.retrieval", ("popular_now",)),
    )  # fmt: skip
    CHANNELS = ("follow", "topic", "recent", "fresh", "nearby", "popular")

    def __init__(self) -> None:
        self.incl: dict[str, float] = {}
        self.excl: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.sql: dict[str, list[float]] = {}  # phase -> [statements, seconds]
        self.statements: dict[tuple[str, str], list[float]] = {}  # (phase, statement) -> [count, seconds]
        self._saved: list[tuple[object, str, object]] = []

    def reset(self) -> None:
        self.incl.clear(), self.excl.clear(), self.calls.clear(), self.sql.clear(), self.statements.clear()

    def wrap(self, name: str, fn):  # noqa: ANN001, ANN201
        """`fn` timed under `name`; its time is taken off its caller's exclusive time."""
        timer = self

        def enter() -> tuple[list[str] | None, contextvars.Token, float]:
            parent = _phase.get()
            return parent, _phase.set([*(parent or []), name]), time.perf_counter()

        def leave(parent: list[str] | None, token: contextvars.Token, t0: float) -> None:
            elapsed = time.perf_counter() - t0
            _phase.reset(token)
            timer.incl[name] = timer.incl.get(name, 0.0) + elapsed
            timer.excl[name] = timer.excl.get(name, 0.0) + elapsed
            timer.calls[name] = timer.calls.get(name, 0) + 1
            if parent:
                timer.excl[parent[-1]] = timer.excl.get(parent[-1], 0.0) - elapsed

        if asyncio.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def awrapper(*a, **kw):  # noqa: ANN002, ANN003, ANN202
                parent, token, t0 = enter()
                try:
                    return await fn(*a, **kw)
                finally:
                    leave(parent, token, t0)

            return awrapper

        @functools.wraps(fn)
        def wrapper(*a, **kw):  # noqa: ANN002, ANN003, ANN202
            parent, token, t0 = enter()
            try:
                return fn(*a, **kw)
            finally:
                leave(parent, token, t0)

        return wrapper

    @contextlib.contextmanager
    def patched(self, runtime):  # noqa: ANN001
        import importlib

        from sqlalchemy import event

        from plugins.feed import retrieval

        for module_name, names in self.TARGETS:
            module = importlib.import_module(module_name)
            for name in names:
                fn = getattr(module, name, None)
                if not callable(fn):  # the feed code changed: time what is still there
                    continue
                self._saved.append((module, name, fn))
                setattr(module, name, self.wrap(name, fn))
        for name in self.CHANNELS:
            fn = getattr(retrieval.Channels, name, None)
            if not callable(fn):
                continue
            self._saved.append((retrieval.Channels, name, fn))
            setattr(retrieval.Channels, name, self.wrap(f"channel {name}", fn))

        def before(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202, ARG001, PLR0913
            conn.info.setdefault("bench_t0", []).append(time.perf_counter())

        def after(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202, ARG001, PLR0913
            elapsed = time.perf_counter() - conn.info["bench_t0"].pop()
            stack = _phase.get()
            phase = stack[-1] if stack else "(outside)"
            agg = self.sql.setdefault(phase, [0, 0.0])
            agg[0] += 1
            agg[1] += elapsed
            st = self.statements.setdefault((phase, normalize_sql(statement)), [0, 0.0])
            st[0] += 1
            st[1] += elapsed

        engine = runtime.db.engine.sync_engine
        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        try:
            yield self
        finally:
            event.remove(engine, "before_cursor_execute", before)
            event.remove(engine, "after_cursor_execute", after)
            for owner, name, fn in reversed(self._saved):
                setattr(owner, name, fn)
            self._saved.clear()


def normalize_sql(statement: str) -> str:
    s = re.sub(r"\s+", " ", statement).strip()
    s = re.sub(r"\$\d+(?:::(?:TIMESTAMP WITH(?:OUT)? TIME ZONE|[A-Z]+)(?:\[\])?)?|%\(\w+\)s", "?", s)
    s = re.sub(r"\((?:\s*\?\s*,)+\s*\?\s*\)", "(?…)", s)
    s = re.sub(r"__\[POSTCOMPILE_\w+\]", "(?…)", s)
    return s


def short_sql(s: str, width: int = 150) -> str:
    s = re.sub(r"^SELECT (?:(?!\bFROM\b).){40,}? FROM", "SELECT … FROM", s)
    return s if len(s) <= width else s[: width - 1] + "…"


PACKAGES = (
    ("plugins/feed/", "plugins.feed"), ("plugins/notes/", "plugins.notes"), ("/core/", "core"), ("sqlalchemy", "sqlalchemy"), ("asyncpg", "asyncpg"),
    ("aiosqlite", "aiosqlite"), ("msgspec", "msgspec"), ("pydantic", "pydantic"), ("litestar", "litestar"), ("asyncio", "asyncio"), ("uvloop", "uvloop"),
)  # fmt: skip


def package_of(filename: str) -> str:
    if filename.startswith(("~", "<")):
        return "builtins (C)"
    for needle, name in PACKAGES:
        if needle in filename:
            return name
    return "other (stdlib, ...)"


async def profile_feed(url: str, var_dir: Path, secret: str, viewers: list[tuple[str, int | None]], args: argparse.Namespace) -> dict:
    """Two passes on other viewers: timing wrappers + SQL timing, then cProfile."""
    from plugins.notes.engagement import start_impression_timer, stop_impression_timer

    runtime = make_runtime(var_dir, url, secret)
    half = max(1, len(viewers) // 2)
    out: dict = {}
    try:
        start_impression_timer(runtime)
        await run_sessions(runtime, viewers[:3], 2)  # warm
        timer = PhaseTimer()
        with timer.patched(runtime):
            first = await run_sessions(runtime, viewers[:half], 1)  # first pages only
            first_phase = (dict(timer.incl), dict(timer.excl), dict(timer.calls), {k: list(v) for k, v in timer.sql.items()}, dict(timer.statements))
            timer.reset()
            # then the rest of those sessions would need cursors: run whole sessions for the next-page view
            rest = await run_sessions(runtime, viewers[half:], args.pages)
            rest_phase = (dict(timer.incl), dict(timer.excl), dict(timer.calls), {k: list(v) for k, v in timer.sql.items()}, dict(timer.statements))
        out["first"] = {"pages": len(first), "ms": [t.ms for t in first], "phases": first_phase}
        out["session"] = {"pages": len(rest), "first_pages": sum(1 for t in rest if t.page == 0), "ms": [t.ms for t in rest], "phases": rest_phase}
        prof = cProfile.Profile()
        prof.enable()
        prof_pages = await run_sessions(runtime, viewers[:half], 1)
        prof.disable()
        out["cprofile"] = (prof, len(prof_pages))
        await stop_impression_timer(runtime)
    finally:
        await runtime.dispose_loop_databases()
    return out


def print_profile(backend: str, prof: dict) -> None:
    def phase_table(title: str, data: dict, per: int) -> None:
        incl, excl, calls, sql, statements = data["phases"]
        print(f"  {title}: {per} pages, mean {statistics.mean(data['ms']):.1f} ms, p95 {percentile(data['ms'], 95):.1f} ms (with the timing wrappers)")
        rows = []
        for name in sorted(incl, key=lambda k: -excl.get(k, 0.0)):
            n_sql, t_sql = sql.get(name, [0, 0.0])
            rows.append([
                name, f"{calls[name] / per:.2f}", f"{incl[name] * 1e3 / per:.2f}", f"{excl[name] * 1e3 / per:.2f}", f"{n_sql / per:.1f}", f"{t_sql * 1e3 / per:.2f}",
            ])  # fmt: skip
        if "(outside)" in sql:
            n_sql, t_sql = sql["(outside)"]
            rows.append(["(outside the wrapped functions)", "", "", "", f"{n_sql / per:.1f}", f"{t_sql * 1e3 / per:.2f}"])
        print("    " + table(["function (per page)", "calls", "incl ms", "excl ms", "SQL stmts", "SQL ms"], rows, right={1, 2, 3, 4, 5}).replace("\n", "\n    "))
        top = sorted(statements.items(), key=lambda kv: -kv[1][1])[:12]
        print("    slowest SQL (total over the pass, per page):")
        srows = [[phase, f"{n / per:.2f}", f"{t * 1e3 / n:.2f}", f"{t * 1e3 / per:.2f}", short_sql(stmt)] for (phase, stmt), (n, t) in top]
        print("    " + table(["in", "n/page", "ms each", "ms/page", "statement"], srows, right={1, 2, 3}).replace("\n", "\n    "))
        print()

    print(f"\nProfile ({backend}): where the time of an explore page goes")
    phase_table("first pages (new session: rank a batch of 100)", prof["first"], prof["first"]["pages"])
    phase_table(f"whole sessions ({prof['session']['first_pages']} sessions)", prof["session"], prof["session"]["pages"])
    cp, pages = prof["cprofile"]
    stats = pstats.Stats(cp)
    total = sum(v[2] for v in stats.stats.values())  # type: ignore[attr-defined]
    by_pkg: dict[str, float] = {}
    for (filename, _line, _fn), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        by_pkg[package_of(filename)] = by_pkg.get(package_of(filename), 0.0) + tt
    print(f"  cProfile, {pages} first pages (this thread only: aiosqlite's thread and the database server are not in it): own time by package, per page")
    print("  " + table(["package", "ms/page", "share"], [[k, f"{v * 1e3 / pages:.2f}", f"{v / total:.0%}"] for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])], right={1, 2}).replace("\n", "\n  "))
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:20]  # type: ignore[attr-defined]
    rows = [[f"{Path(f).name}:{line}({fn})", f"{nc / pages:.0f}", f"{tt * 1e3 / pages:.2f}", f"{ct * 1e3 / pages:.2f}"] for (f, line, fn), (_cc, nc, tt, ct, _c) in top]
    print("  top functions by own time:")
    print("  " + table(["function", "calls/page", "own ms/page", "cum ms/page"], rows, right={1, 2, 3}).replace("\n", "\n  "))
    feed = sorted(((k, v) for k, v in stats.stats.items() if "plugins/feed/" in k[0]), key=lambda kv: -kv[1][3])[:12]  # type: ignore[attr-defined]
    rows = [[f"{Path(f).name}:{line}({fn})", f"{nc / pages:.0f}", f"{tt * 1e3 / pages:.2f}", f"{ct * 1e3 / pages:.2f}"] for (f, line, fn), (_cc, nc, tt, ct, _c) in feed]
    print("  the feed's functions by cumulative time (coroutines: summed over their resumptions):")
    print("  " + table(["function", "calls/page", "own ms/page", "cum ms/page"], rows, right={1, 2, 3}).replace("\n", "\n  "))
    sys.stdout.flush()


# --------------------------------------------------------------------------- HTTP


def issue_tokens(var_dir: Path, url: str, secret: str, user_ids: list[int]) -> dict[int, str]:
    from core.auth.service import issue_token

    runtime = make_runtime(var_dir, url, secret)
    return {u: issue_token(runtime, SimpleNamespace(id=u, auth_epoch=0))[0] for u in user_ids}


async def http_sessions(port: int, viewers: list[tuple[str, int | None]], tokens: dict[int, str], pages: int, concurrency: int, duration: float | None) -> dict:
    """Explore sessions through HTTP: one loop per concurrent viewer, each taking the next
    viewer in turn (cycling when `duration` is set), following next_cursor."""
    import httpx

    times: list[PageTime] = []
    errors: dict[str, int] = {}
    queue = list(viewers)
    next_i = 0
    deadline = None if duration is None else time.perf_counter() + duration

    async def loop() -> None:
        nonlocal next_i
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=httpx.Timeout(60.0)) as client:
            while True:
                if deadline is None and next_i >= len(queue):
                    return
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                kind, uid = queue[next_i % len(queue)]
                next_i += 1
                headers = {"Authorization": f"Bearer {tokens[uid]}"} if uid is not None else {}
                cursor = None
                for page in range(pages):
                    params = {"limit": PAGE} | ({"cursor": cursor} if cursor else {})
                    t0 = time.perf_counter()
                    resp = await client.get("/api/v1/feed/explore", params=params, headers=headers)
                    ms = (time.perf_counter() - t0) * 1e3
                    if resp.status_code != 200:
                        errors[str(resp.status_code)] = errors.get(str(resp.status_code), 0) + 1
                        break
                    body = resp.json()
                    times.append(PageTime(kind, page, ms, 0.0, len(body["items"])))
                    cursor = body.get("next_cursor")
                    if not cursor:
                        break

    started = time.perf_counter()
    await asyncio.gather(*(loop() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {"times": times, "wall_s": wall, "errors": errors, "concurrency": concurrency}


def group_members(leader: int) -> list[int]:
    from http_overhead import live_group_members

    return sorted(live_group_members(leader))


def rss_of(pid: int) -> dict[str, int | str]:
    out: dict[str, int | str] = {"pid": pid}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0])  # kB
        out["cmd"] = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()[:80]
    except OSError:
        pass
    return out


def memory_snapshot(srv: ServerProcess) -> dict[str, object]:
    leader = srv.proc.pid
    members = [rss_of(p) for p in group_members(leader)]
    workers = [m for m in members if m["pid"] != leader]
    main = next((m for m in members if m["pid"] == leader), {})
    return {"workers": workers, "main": main}


def wrk_script(ids: list[int], path: Path) -> Path:
    path.write_text(
        "local ids = {" + ",".join(map(str, ids)) + "}\n"
        "local counter = 0\n"
        "function setup(thread) thread:set('offset', math.random(#ids)) end\n"
        "function init(args) counter = tonumber(offset) or 0 end\n"
        "function request()\n"
        "  counter = counter + 1\n"
        "  return wrk.format('GET', '/api/v1/notes/' .. ids[(counter % #ids) + 1])\n"
        "end\n"
    )
    return path


def measure_script(srv: ServerProcess, result: Result, args: argparse.Namespace, script: Path, probe_path: str) -> None:
    """`measure` with a wrk script that rotates the path."""
    import subprocess

    status, size, _ = probe(f"http://127.0.0.1:{srv.port}{probe_path}")
    result.response_bytes = size
    if not 200 <= status < 300:
        result.status, result.note = "error", f"{probe_path} answered HTTP {status}; not benchmarked"
        return
    base = ["wrk", f"-t{args.threads}", f"-c{args.connections}", "--timeout", args.timeout, "-s", str(script)]
    url = f"http://127.0.0.1:{srv.port}/"
    print(f"  {result.label}: warm-up {args.warmup} ...", flush=True)
    subprocess.run([*base, f"-d{args.warmup}", url], capture_output=True, text=True, check=False)
    print(f"  {result.label}: wrk -t{args.threads} -c{args.connections} -d{args.duration} --latency -s rotate.lua ...", flush=True)
    proc = subprocess.run([*base, f"-d{args.duration}", "--latency", url], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {proc.stdout}\n{proc.stderr}")
    if args.verbose:
        print(proc.stdout)
    for key, value in parse_wrk(proc.stdout).items():
        setattr(result, key, value)
    if not srv.alive():
        raise BenchError(f"{srv.server} died while measuring {result.label}\n--- log tail ---\n{tail(srv.log_path)}")
    notes = []
    if result.non_2xx_3xx:
        notes.append(f"{result.non_2xx_3xx} non-2xx/3xx")
    if result.socket_errors:
        notes.append("socket errors " + ", ".join(f"{k} {v}" for k, v in result.socket_errors.items()))
    result.note = "; ".join(notes)
    print(f"  {result.label}: {result.requests_per_sec:,.0f} req/s, p99 {fmt_ms(result.latency_p99_ms)}" + (f"  ({result.note})" if result.note else ""), flush=True)


def http_phase(backend: str, url: str, var_dir: Path, secret: str, fx: Fixture, args: argparse.Namespace, tmp: Path) -> dict:
    out: dict = {}
    bare = Result("granian", "bare", "/", "bare /")
    print(f"  == bare app ({args.workers} workers)", flush=True)
    port = free_port()
    with ServerProcess("granian", "bare_app:app", args.workers, port, base_env(), tmp / f"bare-{backend}.log") as srv:
        srv.wait_ready("/")
        measure(srv, bare, args)
    if bare.status == "error":
        raise BenchError(f"bare app: {bare.note}")

    viewers = pick_viewers(fx, max(args.http_sessions, 4 * args.http_concurrency), args.seed + 2)
    tokens = issue_tokens(var_dir, url, secret, [u for _, u in viewers if u is not None])
    port = free_port()
    env = zhongcao_env(var_dir, port, url)
    env["ZHONGCAO_SECRET_KEY"] = secret  # the tokens above are signed with it
    print(f"  == zhongcao core.asgi:app ({args.workers} workers, {backend})", flush=True)
    with zhongcao_server(env, args.workers, port, tmp / f"zhongcao-{backend}.log") as srv:
        time.sleep(1.0)
        out["mem_start"] = memory_snapshot(srv)
        print(f"  explore over HTTP: {args.http_sessions} sessions one at a time ...", flush=True)
        asyncio.run(http_sessions(port, viewers[:2], tokens, 2, 1, None))  # warm-up
        out["http_seq"] = asyncio.run(http_sessions(port, viewers[: args.http_sessions], tokens, args.pages, 1, None))
        print(f"  explore over HTTP: {args.http_concurrency} viewers at once for {args.http_duration:.0f} s ...", flush=True)
        out["http_conc"] = asyncio.run(http_sessions(port, viewers, tokens, args.pages, args.http_concurrency, args.http_duration))
        out["mem_explore"] = memory_snapshot(srv)
        if not srv.alive():
            raise BenchError(f"server died during the explore load\n{tail(srv.log_path)}")
        health = Result("granian", "zhongcao", "/health", "zhongcao /health")
        fixed = Result("granian", "zhongcao", f"/api/v1/notes/{fx.detail_note}", f"zhongcao GET /api/v1/notes/{fx.detail_note}")
        rotating = Result("granian", "zhongcao", "/api/v1/notes/{id}", f"zhongcao GET /api/v1/notes/{{{len(fx.detail_notes):,} ids in turn}}")
        measure(srv, health, args)
        measure(srv, fixed, args)
        measure_script(srv, rotating, args, wrk_script(fx.detail_notes, tmp / f"rotate-{backend}.lua"), f"/api/v1/notes/{fx.detail_notes[0]}")
        out["mem_detail"] = memory_snapshot(srv)
    for r in (health, fixed, rotating):
        if r.status == "error":
            raise BenchError(f"{r.label}: {r.note}")
        r.ratio_to_bare = r.requests_per_sec / bare.requests_per_sec if bare.requests_per_sec else None
    out["wrk"] = [bare, health, fixed, rotating]
    return out


# --------------------------------------------------------------------------- one backend


def one_backend(backend: str, args: argparse.Namespace, tmp: Path, pg: PostgresServer | None) -> dict:
    var_dir = tmp / f"var-{backend}"
    var_dir.mkdir()
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{var_dir / 'zhongcao.db'}"
    else:
        assert pg is not None
        url = pg.create_database(f"{PG_DB_PREFIX}_feed_{uuid.uuid4().hex[:6]}")
    secret = secrets.token_urlsafe(32)
    print(f"== {backend}", flush=True)
    fx = asyncio.run(prepare(backend, url, var_dir, secret, args))
    if backend == "sqlite":
        fx.db_bytes = sum(p.stat().st_size for p in var_dir.glob("zhongcao.db*"))
    result: dict = {"backend": backend, "fixture": fx}
    if not fx.check.startswith("consistent"):
        raise BenchError(f"{backend}: fixture counters {fx.check}")

    viewers = pick_viewers(fx, args.viewers, args.seed)
    print(f"  {backend}: explore in process, {len(viewers)} viewers x {args.pages} pages ...", flush=True)
    ex = asyncio.run(explore_in_process(url, var_dir, secret, viewers, args))
    result["explore"] = ex
    times = ex["times"]
    _n, _p50, p95_all, _p99, _mx = summarize(times, lambda t: True)
    _n, _p50, p95_first, _p99, _mx = summarize(times, lambda t: t.page == 0)
    print(f"  {backend}: {len(times)} pages in {ex['wall_s']:.1f} s; p95 all pages {fmt_ms(p95_all)}, first pages {fmt_ms(p95_first)}", flush=True)
    missed = (p95_all or 0) > TARGET_MS or (p95_first or 0) > TARGET_MS
    if not args.no_profile and (args.profile or missed):
        print(f"  {backend}: profiling the feed in process ({args.profile_viewers} other viewers) ...", flush=True)
        others = pick_viewers(fx, args.profile_viewers * 2, args.seed + 3)[: args.profile_viewers]
        result["profile"] = asyncio.run(profile_feed(url, var_dir, secret, others, args))
    if not args.no_http:
        result.update(http_phase(backend, url, var_dir, secret, fx, args, tmp))
    return result


# --------------------------------------------------------------------------- report


def kb(v: object) -> str:
    return f"{int(v) / 1024:,.0f} MB" if isinstance(v, int) else "-"


def report(results: list[dict], args: argparse.Namespace) -> list[str]:
    verdicts = []
    print()
    print(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\nFixture")
    rows = []
    for r in results:
        fx: Fixture = r["fixture"]
        rows.append([
            r["backend"], f"{fx.users:,}", f"{fx.notes:,}", f"{fx.images:,}", f"{fx.follows:,}", f"{fx.impressions:,}", f"{fx.likes:,}", f"{fx.collects:,}",
            f"{fx.comments:,}", f"{fx.interactions():,}", f"{fx.seconds:.1f}", f"{fx.rows / max(fx.seconds - fx.generate_seconds, 1e-9):,.0f}", fx.check,
        ])  # fmt: skip
    print(table(["backend", "users", "notes", "images", "follows", "impressions", "likes", "collects", "comments", "interactions", "load s", "rows/s", "counters"], rows, right=set(range(1, 12))))

    print(f"\nExplore feed, server time in process (explore_page, {PAGE} cards a page, viewers one after the other)")
    rows = []
    for r in results:
        times = r["explore"]["times"]
        for label, sel in (
            ("all pages", lambda t: True), ("first pages (rank a batch)", lambda t: t.page == 0), ("next pages (read the session)", lambda t: t.page > 0),
            ("  first: anonymous", lambda t: t.page == 0 and t.viewer == "anonymous"), ("  first: cold (no engagement)", lambda t: t.page == 0 and t.viewer == "cold"),
            ("  first: light", lambda t: t.page == 0 and t.viewer == "light"), ("  first: heavy", lambda t: t.page == 0 and t.viewer == "heavy"),
        ):  # fmt: skip
            n, p50, p95, p99, mx = summarize(times, sel)
            if not n:
                continue
            sel_times = [t for t in times if sel(t)]
            cpu = statistics.mean(t.cpu_ms for t in sel_times)
            cards = statistics.mean(t.cards for t in sel_times)
            rows.append([r["backend"], label, str(n), fmt_ms(p50), fmt_ms(p95), fmt_ms(p99), fmt_ms(mx), fmt_ms(cpu), f"{cards:.1f}"])
    print(table(["backend", "pages", "n", "p50", "p95", "p99", "max", "mean CPU", "cards"], rows, right={2, 3, 4, 5, 6, 7, 8}))
    for r in results:
        ex = r["explore"]
        print(f"  {r['backend']}: popular-now list computed in {fmt_ms(ex['popular_ms'])} once per {ex['popular_cache_s']:.0f} s per process (inside the pages that recompute it)")
    print()
    for r in results:
        times = r["explore"]["times"]
        p95_all = summarize(times, lambda t: True)[2]
        p95_first = summarize(times, lambda t: t.page == 0)[2]
        for label, value in (("every page", p95_all), ("first page of a session", p95_first)):
            v = "PASS" if value is not None and value <= TARGET_MS else "MISS"
            verdicts.append(v)
            print(f"{r['backend']}: explore p95 {label} {fmt_ms(value)} (target <= {TARGET_MS:.0f} ms): {v}")

    if any("profile" in r for r in results):
        for r in results:
            if "profile" in r:
                print_profile(r["backend"], r["profile"])

    http = [r for r in results if "wrk" in r]
    if not http:
        return verdicts
    print(f"\nExplore feed over HTTP (client's view: granian {args.workers} workers, httpx on the same machine; includes the bearer-token actor lookup)")
    rows = []
    for r in http:
        for key, label in (("http_seq", "one viewer at a time"), ("http_conc", f"{args.http_concurrency} viewers at once")):
            h = r[key]
            times = h["times"]
            for sub, sel in (("all", lambda t: True), ("first", lambda t: t.page == 0), ("next", lambda t: t.page > 0)):
                n, p50, p95, p99, mx = summarize(times, sel)
                if not n:
                    continue
                errors = ", ".join(f"{k}: {v}" for k, v in h["errors"].items()) or "0"
                rows.append([r["backend"], label, sub, str(n), f"{len(times) / h['wall_s']:,.1f}" if sub == "all" else "", fmt_ms(p50), fmt_ms(p95), fmt_ms(p99), fmt_ms(mx), errors if sub == "all" else ""])
    print(table(["backend", "load", "pages", "n", "pages/s", "p50", "p95", "p99", "max", "errors"], rows, right={3, 4, 5, 6, 7, 8}))

    print(f"\nNote detail API vs the bare app (wrk -t{args.threads} -c{args.connections} -d{args.duration}, granian {args.workers} workers, same run)")
    rows = []
    for r in http:
        for res in r["wrk"]:
            ratio = "1.00x" if res.app == "bare" else (f"{res.ratio_to_bare:.2f}x" if res.ratio_to_bare is not None else "-")
            rows.append([r["backend"], res.label, f"{res.requests_per_sec:,.0f}", fmt_ms(res.latency_p50_ms), fmt_ms(res.latency_p99_ms), ratio, f"{res.response_bytes} B", res.note])
    print(table(["backend", "target", "req/s", "p50", "p99", "vs bare", "body", "notes"], rows, right={2, 3, 4, 5, 6}))

    print("\nMemory: resident set (VmRSS) of the granian worker processes; peak = VmHWM at the end")
    rows = []
    for r in http:
        start, explore_, detail = r["mem_start"], r["mem_explore"], r["mem_detail"]
        by_pid = {w["pid"]: w for w in start["workers"]}
        for w in detail["workers"]:
            pid = w["pid"]
            e = next((x for x in explore_["workers"] if x["pid"] == pid), {})
            rows.append([r["backend"], f"worker {pid}", kb(by_pid.get(pid, {}).get("VmRSS")), kb(e.get("VmRSS")), kb(w.get("VmRSS")), kb(w.get("VmHWM")), kb(w.get("RssAnon"))])
        total = lambda snap: sum(int(w.get("VmRSS", 0)) for w in snap["workers"])  # noqa: E731
        rows.append([r["backend"], f"{len(detail['workers'])} workers, total", kb(total(start)), kb(total(explore_)), kb(total(detail)), kb(sum(int(w.get("VmHWM", 0)) for w in detail["workers"])), ""])
        main = detail["main"]
        rows.append([r["backend"], f"granian main {main.get('pid', '?')}", kb(start["main"].get("VmRSS")), kb(explore_["main"].get("VmRSS")), kb(main.get("VmRSS")), kb(main.get("VmHWM")), kb(main.get("RssAnon"))])
    print(table(["backend", "process", "after start", "after explore", "after detail", "peak", "anon (end)"], rows, right={2, 3, 4, 5, 6}))
    return verdicts


def to_json(results: list[dict], cond: dict) -> dict:
    def clean(r: dict) -> dict:
        out = {}
        for k, v in r.items():
            if k == "fixture":
                out[k] = {f: getattr(v, f) for f in ("users", "creators", "notes", "visible_notes", "images", "topics", "note_topics", "product_tags", "follows",
                                                     "impressions", "impression_views", "likes", "collects", "comments", "boards", "rows", "seconds", "check", "db_bytes")}  # fmt: skip
            elif k == "explore":
                out[k] = {"wall_s": v["wall_s"], "popular_ms": v["popular_ms"], "pages": [asdict(t) for t in v["times"]]}
            elif k in ("http_seq", "http_conc"):
                out[k] = {"wall_s": v["wall_s"], "errors": v["errors"], "concurrency": v["concurrency"], "pages": [asdict(t) for t in v["times"]]}
            elif k == "wrk":
                out[k] = [asdict(x) for x in v]
            elif k == "profile":
                out[k] = {"first_ms": v["first"]["ms"], "session_ms": v["session"]["ms"]}
            else:
                out[k] = v
        return out

    return {"conditions": cond, "target_ms": TARGET_MS, "results": [clean(r) for r in results]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not args.no_http and shutil.which("wrk") is None:
        print("wrk not found; install it with: apt-get install -y wrk (or pass --no-http)", file=sys.stderr)
        return 1
    exit_on_sigterm()
    results: list[dict] = []
    failed = False
    pg_cm = PostgresServer(durable=args.pg_durable) if "postgres" in args.backends else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="zc-bench-feed-") as tmp_s, pg_cm as pg:
        settings = {
            "backends": ",".join(args.backends), "notes": f"{args.notes:,}", "users": f"{args.users:,}", "interactions": f"{args.interactions:,}",
            "viewers": f"{args.viewers} x {args.pages} pages of {PAGE}", "workers": args.workers,
            "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration} --timeout {args.timeout} (warm-up {args.warmup})",
            "http": "off" if args.no_http else f"{args.http_sessions} sessions, then {args.http_concurrency} at once for {args.http_duration:.0f} s",
            "server": "granian --interface asgi" + (" --loop uvloop" if has_module("uvloop") else ""), "sqlite": "WAL, synchronous=NORMAL, " + ("full ANALYZE after the fixture" if args.sqlite_analyze else "no statistics" if args.sqlite_no_statistics else "statistics as core.planner_statistics makes them"),
        }  # fmt: skip
        cond = conditions(settings, pg)
        print_conditions(cond)
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

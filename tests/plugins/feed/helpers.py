"""Rows for feed tests, inserted directly (the feed reads the notes plugin's tables)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from core.db import utcnow
from plugins.feed.settings import FeedSettings, use_settings

# fast, deterministic settings: no cache between requests, small batches so refills happen
TEST_SETTINGS = {"popular_cache_seconds": 0, "stats_cache_seconds": 0, "batch_size": 20}


def feed_settings_for(runtime: Any, **overrides: Any) -> FeedSettings:
    settings = FeedSettings(**{**TEST_SETTINGS, **overrides})
    use_settings(runtime, settings)
    return settings


async def topic(runtime: Any, key: str) -> int:
    from plugins.notes.models import Topic

    async with runtime.db.session() as s:
        found = (await s.execute(select(Topic).where(Topic.key == key))).scalar_one_or_none()
        if found is None:
            found = Topic(key=key, name=key, note_count=0)
            s.add(found)
            await s.commit()
        return found.id


async def note(
    runtime: Any,
    author_id: int,
    *,
    title: str = "a note",
    topics: tuple[str, ...] = (),
    age: timedelta = timedelta(hours=1),
    likes: int = 0,
    collects: int = 0,
    comments: int = 0,
    impressions: int = 0,
    status: str = "published",
    visibility: str = "public",
    lat: float | None = None,
    lng: float | None = None,
    image: bool = True,
    published_at: datetime | None = None,
) -> int:
    from plugins.notes.models import Note, NoteImage, NoteTopic, Topic

    at = published_at or utcnow() - age
    async with runtime.db.session() as s:
        topic_ids = []
        for key in topics:
            found = (await s.execute(select(Topic.id).where(Topic.key == key))).scalar_one_or_none()
            if found is None:
                t = Topic(key=key, name=key, note_count=0)
                s.add(t)
                await s.flush()
                found = t.id
            topic_ids.append(found)
        n = Note(
            author_user_id=author_id, title=title, body="", status=status, visibility=visibility,
            published_at=at if status != "draft" else None, deleted_at=at if status == "deleted" else None,
            like_count=likes, collect_count=collects, comment_count=comments, impression_count=impressions,
            lat_e6=round(lat * 1e6) if lat is not None else None, lng_e6=round(lng * 1e6) if lng is not None else None,
            created_at=at, updated_at=at,
        )
        s.add(n)
        await s.flush()
        for t in topic_ids:
            s.add(NoteTopic(note_id=n.id, topic_id=t))
            await s.execute(update(Topic).where(Topic.id == t).values(note_count=Topic.note_count + 1))
        if image:
            sizes = {"360": {"path": f"notes/{n.id}-360.webp", "width": 360, "height": 480}, "1080": {"path": f"notes/{n.id}-1080.webp", "width": 1080, "height": 1440}}
            s.add(NoteImage(note_id=n.id, position=0, path=f"notes/{n.id}.jpg", width=1080, height=1440, sizes=sizes))
            s.add(NoteImage(note_id=n.id, position=1, path=f"notes/{n.id}-b.jpg", width=100, height=100, sizes={}))
        await s.commit()
        return n.id


async def like(runtime: Any, user_id: int, note_id: int) -> None:
    from plugins.notes.models import Like, Note

    async with runtime.db.session() as s:
        s.add(Like(user_id=user_id, note_id=note_id))
        await s.execute(update(Note).where(Note.id == note_id).values(like_count=Note.like_count + 1))
        await s.commit()


async def collect(runtime: Any, user_id: int, note_id: int) -> None:
    from plugins.notes.models import Board, Collect, Note

    async with runtime.db.session() as s:
        board = (await s.execute(select(Board).where(Board.owner_user_id == user_id))).scalar_one_or_none()
        if board is None:
            board = Board(owner_user_id=user_id, name="saved")
            s.add(board)
            await s.flush()
        s.add(Collect(user_id=user_id, note_id=note_id, board_id=board.id))
        await s.execute(update(Note).where(Note.id == note_id).values(collect_count=Note.collect_count + 1))
        await s.commit()


async def follow(runtime: Any, follower_id: int, followee_id: int) -> None:
    from plugins.notes.models import Follow

    async with runtime.db.session() as s:
        s.add(Follow(follower_user_id=follower_id, followee_user_id=followee_id))
        await s.commit()


async def set_status(runtime: Any, note_id: int, **values: Any) -> None:
    from plugins.notes.models import Note

    async with runtime.db.session() as s:
        await s.execute(update(Note).where(Note.id == note_id).values(**values))
        await s.commit()


async def pages(client: Any, path: str, headers: dict[str, str] | None = None, limit: int = 10, max_pages: int = 100, between: Any = None) -> list[dict]:
    """Every card of a feed, page by page, until next_cursor is None."""
    cards: list[dict] = []
    cursor = None
    for i in range(max_pages):
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(path, params=params, headers=headers or {})
        assert response.status_code == 200, response.text
        body = response.json()
        cards.extend(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return cards
        if between is not None:
            await between(i)
    raise AssertionError(f"no end after {max_pages} pages")


def runs(cards: list[dict], key: Any) -> int:
    """The longest run of consecutive cards with the same key."""
    best = run = 0
    last = object()
    for c in cards:
        k = key(c)
        run = run + 1 if k == last and k is not None else 1
        last = k
        best = max(best, run)
    return best


async def tag(runtime: Any, note_id: int, *variants: Any) -> None:
    """Tag catalog variants (from zc_make_product) on a note, as the notes plugin stores them."""
    from core.catalog.models import Product
    from plugins.notes.models import ProductTag

    async with runtime.db.session() as s:
        for v in variants:
            brand_id = (await s.execute(select(Product.brand_id).where(Product.id == v.product_id))).scalar_one()
            s.add(ProductTag(note_id=note_id, product_id=v.product_id, variant_id=v.id, brand_id=brand_id))
        await s.commit()


async def follow_brand(runtime: Any, user_id: int, slug: str) -> None:
    from core.catalog.models import Brand
    from plugins.notes.models import BrandFollow

    async with runtime.db.session() as s:
        brand_id = (await s.execute(select(Brand.id).where(Brand.slug == slug))).scalar_one()
        s.add(BrandFollow(user_id=user_id, brand_id=brand_id))
        await s.commit()

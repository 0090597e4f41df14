"""The newest-first feeds (following, a topic's channel) and the topics a viewer picks
at sign-up (cold start)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, literal, or_, select, union_all

from core.db import utcnow
from core.errors import NotFound, ValidationFailed
from plugins.feed import cursor as cursors
from plugins.feed.cards import FeedPage, TopicFeedPage, TopicOut
from plugins.feed.explore import _log_impressions
from plugins.feed.models import TopicPick
from plugins.feed.retrieval import _visible, note_cards, notes_enabled
from plugins.feed.settings import feed_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

FOLLOWING = "following"
TOPIC = "topic"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    """Exact microseconds since the epoch (no float rounding, so the keyset never repeats a note)."""
    return ((at if at.tzinfo else at.replace(tzinfo=UTC)) - EPOCH) // timedelta(microseconds=1)


def _check_limit(runtime: Runtime, limit: int) -> None:
    page_max = feed_settings(runtime).page_max
    if not 1 <= limit <= page_max:
        raise ValidationFailed(f"limit must lie within 1..{page_max}")


def _after(runtime: Runtime, cursor: str | None, kind: str, viewer_id: int | None, topic_id: int | None = None) -> tuple[datetime, int] | None:
    """The (published time, id) of the last note the cursor's page served."""
    if not cursor:
        return None
    payload = cursors.verify(runtime, cursor, kind=kind, viewer_id=viewer_id)
    if payload.get("c") != topic_id:
        raise cursors.InvalidCursor("this cursor belongs to another topic: load the feed again without a cursor")
    return EPOCH + timedelta(microseconds=int(payload["t"])), int(payload["i"])


def _newest_first(query: Any, after: tuple[datetime, int] | None, limit: int) -> Any:
    """Readable notes published by now, after the keyset, newest first, one more than a page."""
    from plugins.notes.models import Note

    query = query.where(_visible(), Note.published_at <= utcnow())
    if after is not None:
        at, note_id = after
        query = query.where(Note.published_at <= at, or_(Note.published_at < at, and_(Note.published_at == at, Note.id < note_id)))  # the plain bound: an index range from the cursor
    return query.order_by(Note.published_at.desc(), Note.id.desc()).limit(limit + 1)


async def _serve(runtime: Runtime, session: AsyncSession, viewer_id: int | None, rows: list[Any], limit: int, mark: dict[str, Any]) -> FeedPage:
    """Rows of (id, published_at, source) as cards, their impressions logged, and the
    cursor after the last (`mark` names the feed)."""
    more = len(rows) > limit
    rows = rows[:limit]
    cards = await note_cards(session, [r.id for r in rows], {r.id: r.source for r in rows})
    items = [cards[r.id] for r in rows if r.id in cards]
    await _log_impressions(runtime, viewer_id, [c.note_id for c in items if c.note_id is not None])
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = cursors.sign(runtime, {**mark, "u": viewer_id or 0, "t": _micros(last.published_at), "i": last.id})
    return FeedPage(items=items, next_cursor=next_cursor)


async def following_page(runtime: Runtime, session: AsyncSession, viewer_id: int, *, cursor: str | None, limit: int) -> FeedPage:
    """Notes of the authors the viewer follows (source "follow") and notes that tag a
    product of a brand they follow (source "brand", what people say about it), newest
    first (keyset on published time, id)."""
    from plugins.notes.models import BrandFollow, Follow, Note, ProductTag

    _check_limit(runtime, limit)
    after = _after(runtime, cursor, FOLLOWING, viewer_id)
    if not notes_enabled(runtime):
        return FeedPage(items=[], next_cursor=None)
    # one statement, a newest-first page of each kind merged: each part walks its own
    # index (the author's notes; the brand's tags) and stops at its limit, where one
    # condition "author followed OR brand tagged" would scan all recent notes to filter
    followed = select(Follow.followee_user_id).where(Follow.follower_user_id == viewer_id)
    people = select(Note.id, Note.published_at, literal("follow").label("source")).where(Note.author_user_id.in_(followed))
    brands = select(BrandFollow.brand_id).where(BrandFollow.user_id == viewer_id)
    tagged = select(ProductTag.note_id).where(ProductTag.brand_id.in_(brands))  # a semi-join: one row per note, however many tags
    about = select(Note.id, Note.published_at, literal("brand").label("source")).where(Note.id.in_(tagged), Note.author_user_id != viewer_id)
    both = union_all(*(select(_newest_first(q, after, limit).subquery()) for q in (people, about))).subquery()
    query = (
        select(both.c.id, both.c.published_at, func.max(both.c.source).label("source"))  # in both: "follow" (> "brand")
        .group_by(both.c.id, both.c.published_at)
        .order_by(both.c.published_at.desc(), both.c.id.desc())
        .limit(limit + 1)
    )
    rows = list((await session.execute(query)).all())
    return await _serve(runtime, session, viewer_id, rows, limit, {"k": FOLLOWING})


async def find_topic(runtime: Runtime, session: AsyncSession, key: str) -> TopicOut:
    """A topic by its key (or its name, any case: 护肤, Skincare); NotFound if none."""
    if notes_enabled(runtime):
        from plugins.notes.models import Topic
        from plugins.notes.notes import TOPIC_MAX_CHARS, topic_key

        key = topic_key(key.lstrip("#"))
        if 0 < len(key) <= TOPIC_MAX_CHARS * 2:
            found = (await session.execute(select(Topic).where(Topic.key == key))).scalar_one_or_none()
            if found is not None:
                return _topic_out(found)
    raise NotFound("no such topic")


async def topic_page(runtime: Runtime, session: AsyncSession, viewer_id: int | None, key: str, *, cursor: str | None, limit: int) -> TopicFeedPage:
    """A topic's channel: its notes readable by anyone, newest first (keyset on published
    time, id). Unknown topic: NotFound; a cursor of another feed or topic: InvalidCursor."""
    from plugins.notes.models import Note, NoteTopic

    _check_limit(runtime, limit)
    topic = await find_topic(runtime, session, key)
    after = _after(runtime, cursor, TOPIC, viewer_id, topic.id)
    # a semi-join, so the database may walk the topic's (topic_id, note_id) index or the
    # newest readable notes, whichever is cheaper for this topic's size
    in_topic = select(NoteTopic.note_id).where(NoteTopic.topic_id == topic.id)
    query = _newest_first(select(Note.id, Note.published_at, literal("topic").label("source")).where(Note.id.in_(in_topic)), after, limit)
    rows = list((await session.execute(query)).all())
    page = await _serve(runtime, session, viewer_id, rows, limit, {"k": TOPIC, "c": topic.id})
    return TopicFeedPage(topic=topic, items=page.items, next_cursor=page.next_cursor)


def _topic_out(t) -> TopicOut:
    return TopicOut(id=t.id, key=t.key, name=t.name, note_count=t.note_count)


async def suggested_topics(runtime: Runtime, session: AsyncSession, *, limit: int = 30) -> list[TopicOut]:
    """Topics to offer at sign-up: those with the most notes."""
    if not notes_enabled(runtime):
        return []
    from plugins.notes.models import Topic

    rows = (await session.execute(select(Topic).where(Topic.note_count > 0).order_by(Topic.note_count.desc(), Topic.id).limit(limit))).scalars().all()
    return [_topic_out(t) for t in rows]


async def picked_topics(runtime: Runtime, session: AsyncSession, viewer_id: int) -> list[TopicOut]:
    if not notes_enabled(runtime):
        return []
    from plugins.notes.models import Topic

    rows = (
        await session.execute(select(Topic).join(TopicPick, TopicPick.topic_id == Topic.id).where(TopicPick.user_id == viewer_id).order_by(Topic.id))
    ).scalars().all()
    return [_topic_out(t) for t in rows]


async def pick_topics(runtime: Runtime, session: AsyncSession, viewer_id: int, topic_ids: list[int]) -> list[TopicOut]:
    """Replace the viewer's picks. Unknown topics are refused; nothing is half-written."""
    s = feed_settings(runtime)
    wanted = list(dict.fromkeys(topic_ids))
    if len(wanted) != len(topic_ids):
        raise ValidationFailed("each topic may be picked once", extra={"fields": {"topic_ids": "duplicates"}})
    if len(wanted) > s.picks_max:
        raise ValidationFailed(f"pick at most {s.picks_max} topics", extra={"fields": {"topic_ids": "too many"}})
    if wanted and not notes_enabled(runtime):
        raise ValidationFailed("topics are not available: the notes plugin is disabled")
    if wanted:
        from plugins.notes.models import Topic

        valid = [i for i in wanted if isinstance(i, int) and 0 < i < 2**63]
        known = set((await session.execute(select(Topic.id).where(Topic.id.in_(valid)))).scalars()) if valid else set()
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise ValidationFailed(f"no such topic: {', '.join(map(str, unknown))}", extra={"fields": {"topic_ids": "unknown topic"}, "unknown": unknown})
    await session.execute(delete(TopicPick).where(TopicPick.user_id == viewer_id))
    now = utcnow()
    session.add_all([TopicPick(user_id=viewer_id, topic_id=t, created_at=now) for t in wanted])
    await session.flush()
    return await picked_topics(runtime, session, viewer_id)

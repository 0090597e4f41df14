"""The follow feed and the topics a viewer picks at sign-up (cold start)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import and_, delete, or_, select

from core.db import utcnow
from core.errors import ValidationFailed
from plugins.feed import cursor as cursors
from plugins.feed.cards import FeedPage, TopicOut
from plugins.feed.explore import _log_impressions
from plugins.feed.models import TopicPick
from plugins.feed.retrieval import _visible, note_cards, notes_enabled
from plugins.feed.settings import feed_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

FOLLOWING = "following"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(at: datetime) -> int:
    """Exact microseconds since the epoch (no float rounding, so the keyset never repeats a note)."""
    return ((at if at.tzinfo else at.replace(tzinfo=UTC)) - EPOCH) // timedelta(microseconds=1)


async def following_page(runtime: Runtime, session: AsyncSession, viewer_id: int, *, cursor: str | None, limit: int) -> FeedPage:
    """Notes of the authors the viewer follows, newest first (keyset on published time, id)."""
    from plugins.notes.models import Follow, Note

    s = feed_settings(runtime)
    if not 1 <= limit <= s.page_max:
        raise ValidationFailed(f"limit must lie within 1..{s.page_max}")
    after: tuple[datetime, int] | None = None
    if cursor:
        payload = cursors.verify(runtime, cursor, kind=FOLLOWING, viewer_id=viewer_id)
        after = (EPOCH + timedelta(microseconds=int(payload["t"])), int(payload["i"]))
    if not notes_enabled(runtime):
        return FeedPage(items=[], next_cursor=None)
    followed = select(Follow.followee_user_id).where(Follow.follower_user_id == viewer_id)
    query = select(Note.id, Note.published_at).where(Note.author_user_id.in_(followed), _visible(), Note.published_at <= utcnow())
    if after is not None:
        at, note_id = after
        query = query.where(or_(Note.published_at < at, and_(Note.published_at == at, Note.id < note_id)))
    rows = (await session.execute(query.order_by(Note.published_at.desc(), Note.id.desc()).limit(limit + 1))).all()
    more = len(rows) > limit
    rows = rows[:limit]
    cards = await note_cards(session, [r.id for r in rows], {r.id: "follow" for r in rows})
    items = [cards[r.id] for r in rows if r.id in cards]
    await _log_impressions(runtime, viewer_id, [c.note_id for c in items if c.note_id is not None])
    next_cursor = None
    if more:
        last = rows[-1]
        next_cursor = cursors.sign(runtime, {"k": FOLLOWING, "u": viewer_id, "t": _micros(last.published_at), "i": last.id})
    return FeedPage(items=items, next_cursor=next_cursor)


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

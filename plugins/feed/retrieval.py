"""Reading the notes plugin's tables for the feed: the viewer's profile, the retrieval
channels, note statistics and cards. Read only; everything goes through
`plugins.notes.models`, imported when used so the feed loads without the notes plugin.
"""

from __future__ import annotations

import math
import time
import weakref
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, literal, select, union_all

from plugins.feed.cards import CardAuthor, CardImage, FeedCard
from plugins.feed.models import SessionCard, TopicPick
from plugins.feed.ranker import (
    Context,
    NoteStats,
    ViewerProfile,
    build_profile,
    popularity,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime
    from plugins.feed.settings import FeedSettings

KM_PER_DEGREE = 111.32


def notes_enabled(runtime: Runtime) -> bool:
    return runtime.pm.get_plugin("notes") is not None


def _visible():
    from plugins.notes.notes import readable_by_anyone

    return readable_by_anyone()


# ---------------------------------------------------------------- the viewer


async def load_profile(session: AsyncSession, user_id: int | None, settings: FeedSettings, now: datetime) -> ViewerProfile:
    """Affinities from the viewer's recent likes, collects and comments, their follows and picks."""
    if user_id is None:
        return ViewerProfile(user_id=None)
    from plugins.notes.models import (
        Collect,
        Comment,
        CommentStatus,
        Follow,
        Like,
        Note,
        NoteTopic,
    )

    since = now - timedelta(days=settings.affinity_days)
    acts = union_all(
        select(literal("like").label("kind"), Like.note_id.label("note_id"), Like.created_at.label("at")).where(Like.user_id == user_id, Like.created_at >= since),
        select(literal("collect"), Collect.note_id, Collect.created_at).where(Collect.user_id == user_id, Collect.created_at >= since),
        select(literal("comment"), Comment.note_id, Comment.created_at).where(
            Comment.author_user_id == user_id, Comment.created_at >= since, Comment.status == CommentStatus.VISIBLE
        ),
    ).subquery()
    rows = (
        await session.execute(
            select(acts.c.kind, acts.c.note_id, Note.author_user_id)
            .join(Note, Note.id == acts.c.note_id)
            .order_by(acts.c.at.desc())
            .limit(settings.affinity_events)
        )
    ).all()
    # the engaged notes' topics, the follows and the picks in one statement
    parts = [
        select(literal("follow").label("kind"), Follow.followee_user_id.label("a"), literal(0).label("b")).where(Follow.follower_user_id == user_id),
        select(literal("pick"), TopicPick.topic_id, literal(0)).where(TopicPick.user_id == user_id),
    ]
    note_ids = {r.note_id for r in rows}
    if note_ids:
        parts.append(select(literal("topic"), NoteTopic.note_id, NoteTopic.topic_id).where(NoteTopic.note_id.in_(note_ids)))
    topics: dict[int, list[int]] = {}
    follows: list[int] = []
    picks: list[int] = []
    for kind, a, b in (await session.execute(union_all(*parts))).all():
        if kind == "topic":
            topics.setdefault(a, []).append(b)
        elif kind == "follow":
            follows.append(a)
        else:
            picks.append(a)
    return build_profile(
        user_id, ((r.kind, r.note_id, r.author_user_id, topics.get(r.note_id, ())) for r in rows), follows, picks, settings
    )


# ---------------------------------------------------------------- note statistics


def _stats_columns():
    from plugins.notes.models import Note

    return (Note.id, Note.author_user_id, Note.published_at, Note.like_count, Note.collect_count, Note.comment_count, Note.impression_count)


def _stats(row: Any) -> NoteStats:
    return NoteStats(
        note_id=row[0], author_id=row[1], published_at=row[2], likes=row[3], collects=row[4], comments=row[5], impressions=row[6]
    )


async def attach_topics(session: AsyncSession, stats: dict[int, NoteStats]) -> None:
    from plugins.notes.models import NoteTopic

    missing = [i for i, st in stats.items() if not st.topic_ids]
    if not missing:
        return
    found: dict[int, list[int]] = {}
    query = select(NoteTopic.note_id, NoteTopic.topic_id).where(NoteTopic.note_id.in_(bindparam("ids", expanding=True)))
    for note_id, topic_id in (await session.execute(query, {"ids": missing})).all():
        found.setdefault(note_id, []).append(topic_id)
    for note_id, topic_ids in found.items():
        stats[note_id].topic_ids = tuple(sorted(topic_ids))


class StatsCache:
    """Ranking statistics of recently ranked notes, kept in process for `seconds`.

    Reading ~900 candidates' rows (and their topics) was most of the cost of ranking a
    batch, and they are the same for every viewer. Counters a few seconds old rank as
    well as fresh ones; what is served is checked again when the page is read (a note
    deleted or hidden meanwhile is left out), so nothing wrong is ever shown.
    """

    def __init__(self, seconds: float, max_notes: int) -> None:
        self.seconds, self.max_notes = seconds, max_notes
        self._entries: dict[int, tuple[float, NoteStats]] = {}  # oldest first
        self.hits = self.misses = 0

    def take(self, note_ids: Iterable[int], now: datetime) -> tuple[dict[int, NoteStats], list[int]]:
        """The cached statistics among `note_ids` (published by `now`), and the ids to read."""
        found: dict[int, NoteStats] = {}
        missing: list[int] = []
        clock = time.monotonic()
        entries = self._entries
        for note_id in note_ids:
            entry = entries.get(note_id)
            if entry is not None and entry[0] > clock:
                if entry[1].published_at <= now:
                    found[note_id] = entry[1]
            else:
                missing.append(note_id)
        self.hits += len(found)
        self.misses += len(missing)
        return found, missing

    def keep(self, stats: Iterable[NoteStats]) -> None:
        until = time.monotonic() + self.seconds
        entries = self._entries
        for st in stats:
            entries.pop(st.note_id, None)  # re-inserted at the young end
            entries[st.note_id] = (until, st)
        while len(entries) > self.max_notes:
            del entries[next(iter(entries))]

    def __len__(self) -> int:
        return len(self._entries)


_stats_caches: weakref.WeakKeyDictionary[object, StatsCache] = weakref.WeakKeyDictionary()


def stats_cache(runtime: Runtime, s: FeedSettings) -> StatsCache | None:
    """The runtime's statistics cache, None when `stats_cache_seconds` is 0."""
    if s.stats_cache_seconds <= 0 or s.stats_cache_notes <= 0:
        return None
    cache = _stats_caches.get(runtime)
    if cache is None or (cache.seconds, cache.max_notes) != (s.stats_cache_seconds, s.stats_cache_notes):
        cache = _stats_caches[runtime] = StatsCache(s.stats_cache_seconds, s.stats_cache_notes)
    return cache


async def load_stats(session: AsyncSession, note_ids: Iterable[int], now: datetime, cache: StatsCache | None = None) -> dict[int, NoteStats]:
    """Statistics of the notes among `note_ids` that are still readable by anyone (those
    in `cache` as of when they were read)."""
    from plugins.notes.models import Note

    stats: dict[int, NoteStats] = {}
    if cache is not None:
        stats, ids = cache.take(set(note_ids), now)
    else:
        ids = list(set(note_ids))
    if not ids:
        return stats
    fetched: dict[int, NoteStats] = {}
    # one cached statement with an expanding parameter: no per-value coercion and compile
    query = select(*_stats_columns()).where(Note.id.in_(bindparam("ids", expanding=True)), _visible(), Note.published_at <= bindparam("now"))
    for i in range(0, len(ids), 900):
        rows = (await session.execute(query, {"ids": ids[i : i + 900], "now": now})).all()
        fetched.update((r[0], _stats(r)) for r in rows)
    await attach_topics(session, fetched)
    if cache is not None:
        cache.keep(fetched.values())
    stats.update(fetched)
    return stats


# ---------------------------------------------------------------- retrieval channels


class Channels:
    """The explore feed's retrieval channels, each a list of note ids best-first, never
    the viewer's own notes nor any already placed in the session."""

    def __init__(self, session: AsyncSession, runtime: Runtime, settings: FeedSettings, now: datetime, viewer_id: int | None, session_id: int | None) -> None:
        self.session, self.runtime, self.s, self.now = session, runtime, settings, now
        self.viewer_id, self.session_id = viewer_id, session_id

    def _eligible(self, query: Any) -> Any:
        from plugins.notes.models import Note

        query = query.where(_visible(), Note.published_at <= self.now)
        if self.viewer_id is not None:
            query = query.where(Note.author_user_id != self.viewer_id)
        if self.session_id is not None:
            placed = select(SessionCard.note_id).where(SessionCard.session_id == self.session_id, SessionCard.note_id.is_not(None))
            query = query.where(Note.id.not_in(placed))
        return query

    async def _ids(self, query: Any) -> list[int]:
        return list((await self.session.execute(query)).scalars().all())

    async def follow(self, profile: ViewerProfile) -> list[int]:
        from plugins.notes.models import Note

        if not profile.follows:
            return []
        since = self.now - timedelta(days=self.s.follow_days)
        query = select(Note.id).where(Note.author_user_id.in_(profile.follows), Note.published_at >= since)
        return await self._ids(self._eligible(query).order_by(Note.published_at.desc(), Note.id.desc()).limit(self.s.per_source))

    async def topic(self, profile: ViewerProfile) -> list[int]:
        from plugins.notes.models import Note, NoteTopic

        topics = profile.top_topics(self.s.max_topics)
        if not topics:
            return []
        # per topic, newest (highest id) first: each part walks the (topic_id, note_id)
        # index backwards and stops at its limit (one condition over all topics would
        # gather and sort every note of them); the parts go to the database as one statement
        per_topic = max(20, self.s.per_source // len(topics))
        parts = []
        for order, topic_id in enumerate(topics):
            query = select(NoteTopic.note_id.label("note_id"), literal(order).label("topic_order")).join(Note, Note.id == NoteTopic.note_id)
            query = self._eligible(query.where(NoteTopic.topic_id == topic_id)).order_by(NoteTopic.note_id.desc()).limit(per_topic)
            parts.append(select(query.subquery()))
        both = union_all(*parts).subquery()
        rows = (await self.session.execute(select(both.c.note_id).order_by(both.c.topic_order, both.c.note_id.desc()))).scalars()
        found = dict.fromkeys(rows)
        return list(found)[: self.s.per_source]

    async def recent(self) -> list[int]:
        """Newest notes: the channel that makes sure a long session reaches every note."""
        from plugins.notes.models import Note

        return await self._ids(self._eligible(select(Note.id)).order_by(Note.published_at.desc(), Note.id.desc()).limit(self.s.per_source))

    async def fresh(self) -> list[int]:
        from plugins.notes.models import Note

        since = self.now - timedelta(days=self.s.fresh_days)
        query = select(Note.id).where(Note.published_at >= since, Note.impression_count < self.s.fresh_max_impressions)
        return await self._ids(self._eligible(query).order_by(Note.published_at.desc(), Note.id.desc()).limit(self.s.per_source))

    async def nearby(self, lat_e6: int | None, lng_e6: int | None) -> dict[int, float]:
        """Notes within nearby_km of the viewer, newest first, with their closeness (1 .. 0)."""
        from plugins.notes.models import Note

        if lat_e6 is None or lng_e6 is None:
            return {}
        dlat = self.s.nearby_km / KM_PER_DEGREE
        dlng = dlat / max(0.01, math.cos(math.radians(lat_e6 / 1e6)))
        box = and_(
            Note.lat_e6.between(lat_e6 - int(dlat * 1e6), lat_e6 + int(dlat * 1e6)),
            Note.lng_e6.between(lng_e6 - int(dlng * 1e6), lng_e6 + int(dlng * 1e6)),
        )
        query = select(Note.id, Note.lat_e6, Note.lng_e6).where(box, Note.published_at >= self.now - timedelta(days=self.s.nearby_days))
        rows = (await self.session.execute(self._eligible(query).order_by(Note.published_at.desc(), Note.id.desc()).limit(self.s.per_source * 2))).all()
        out: dict[int, float] = {}
        for note_id, lat, lng in rows:
            km = distance_km(lat_e6, lng_e6, lat, lng)
            if km <= self.s.nearby_km and len(out) < self.s.per_source:
                out[note_id] = 1.0 - km / self.s.nearby_km
        return out

    async def popular(self, exclude: set[int]) -> tuple[list[NoteStats], Context]:
        """Popular now, from the process-wide list (see `popular_now`), and what the ranker
        needs of it: the mean engagement rate of recent notes (the prior) and the top
        popularity (trend is relative to it)."""
        placed: set[int] = set()
        if self.session_id is not None:
            placed = set((await self.session.execute(select(SessionCard.note_id).where(SessionCard.session_id == self.session_id, SessionCard.note_id.is_not(None)))).scalars())
        ranked, prior = await popular_now(self.session, self.runtime, self.s, self.now)
        out = []
        for st in ranked:
            if st.note_id in exclude or st.note_id in placed or st.author_id == self.viewer_id:
                continue
            out.append(st)
            if len(out) >= self.s.per_source:
                break
        return out, Context(prior=prior, top_popularity=popularity(ranked[0], self.now, self.s) if ranked else 0.0)


def distance_km(lat1_e6: int, lng1_e6: int, lat2_e6: int, lng2_e6: int) -> float:
    lat1, lng1, lat2, lng2 = (math.radians(v / 1e6) for v in (lat1_e6, lng1_e6, lat2_e6, lng2_e6))
    a = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(min(1.0, a)))


_popular: weakref.WeakKeyDictionary[object, tuple[float, list[NoteStats], float | None]] = weakref.WeakKeyDictionary()


async def popular_now(session: AsyncSession, runtime: Runtime, s: FeedSettings, now: datetime) -> tuple[list[NoteStats], float | None]:
    """Notes of the last `popular_days` by time-decayed engagement, best first, and their
    mean engagement rate. The same for every viewer, so computed once per
    `popular_cache_seconds` per process."""
    from plugins.notes.models import Note

    cached = _popular.get(runtime)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    since = now - timedelta(days=s.popular_days)
    recent = and_(_visible(), Note.published_at >= since, Note.published_at <= now)
    weighted = Note.like_count * s.like_weight + Note.collect_count * s.collect_weight + Note.comment_count * s.comment_weight
    limit = max(1000, s.per_source * 5)
    rows = (await session.execute(select(*_stats_columns()).where(recent).order_by(weighted.desc(), Note.id.desc()).limit(limit))).all()
    stats = {r[0]: _stats(r) for r in rows}
    ranked = sorted(stats.values(), key=lambda st: (-popularity(st, now, s), -st.note_id))[: s.per_source * 3]
    await attach_topics(session, {st.note_id: st for st in ranked})
    total_engaged, total_impressions = (await session.execute(select(func.sum(weighted), func.sum(Note.impression_count)).where(recent))).one()
    prior = float(total_engaged) / float(total_impressions) if total_impressions else None
    if s.popular_cache_seconds > 0:
        _popular[runtime] = (time.monotonic() + s.popular_cache_seconds, ranked, prior)
    return ranked, prior


def forget_popular(runtime: Runtime) -> None:
    _popular.pop(runtime, None)


# ---------------------------------------------------------------- cards


async def note_cards(session: AsyncSession, note_ids: Sequence[int], sources: dict[int, str] | None = None) -> dict[int, FeedCard]:
    """Cards of the notes among `note_ids` still readable by anyone (a deleted, hidden or
    now private note has none)."""
    from core.auth.models import User
    from core.catalog.media import media_url
    from plugins.notes.models import Note, NoteImage, NotesProfile

    if not note_ids:
        return {}
    # one statement: the note, its first image and its author (three round trips before)
    first_position = select(func.min(NoteImage.position)).where(NoteImage.note_id == Note.id).correlate(Note).scalar_subquery()
    query = (
        select(
            Note.id, Note.author_user_id, Note.kind, Note.title, Note.like_count, Note.sponsored, Note.poster_path,
            NoteImage.path.label("image_path"), NoteImage.width, NoteImage.height, NoteImage.sizes,
            User.id.label("author_row"), User.display_name, NotesProfile.handle, NotesProfile.avatar_path,
        )
        .outerjoin(NoteImage, and_(NoteImage.note_id == Note.id, NoteImage.position == first_position))
        .outerjoin(User, User.id == Note.author_user_id)
        .outerjoin(NotesProfile, NotesProfile.user_id == Note.author_user_id)
        .where(Note.id.in_(bindparam("ids", expanding=True)), _visible())
    )
    notes = (await session.execute(query, {"ids": list(note_ids)})).all()
    cards = {}
    for n in notes:
        cover = None
        if n.image_path is not None:
            sizes = [v for v in (n.sizes or {}).values() if isinstance(v, dict) and "path" in v]
            if sizes:
                small = min(sizes, key=lambda v: (v.get("width", 0), v["path"]))
                cover = CardImage(url=media_url(small["path"]), width=small.get("width", 0), height=small.get("height", 0))
            else:
                cover = CardImage(url=media_url(n.image_path), width=n.width, height=n.height)
        elif n.poster_path:
            cover = CardImage(url=media_url(n.poster_path), width=0, height=0)
        author = None
        if n.author_row is not None:
            author = CardAuthor(
                user_id=n.author_user_id, handle=n.handle or f"u{n.author_user_id}", display_name=n.display_name,
                avatar_url=media_url(n.avatar_path) if n.avatar_path else None,
            )
        cards[n.id] = FeedCard(
            kind="note", ref=str(n.id), note_id=n.id, title=n.title, cover=cover, author=author, like_count=n.like_count,
            sponsored=bool(n.sponsored), source=(sources or {}).get(n.id, ""), extra={"note_kind": n.kind},
        )
    return cards

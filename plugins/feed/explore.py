"""The explore feed: sessions of ranked cards, read page by page with a signed cursor.

A load without a cursor starts a session. The feed ranks a batch of cards
(`batch_size`) from the retrieval channels and other plugins' `feed_candidates`,
arranges them (exploration share, injected cards, diversity) and appends them to the
session in order. A page is the next cards from the cursor's position; when the placed
cards run out, the next batch is ranked from what the session has not placed yet. So
within a session no note repeats, and nothing placed is ever skipped: scrolling reads
one fixed sequence. A note that became unreadable meanwhile (deleted, hidden) is left
out of the page, and the page is filled from the following positions.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import select, update

from core.db import utcnow
from core.errors import ValidationFailed
from core.plugin_manager import PluginError
from plugins.feed import cursor as cursors
from plugins.feed.cards import FeedCard, FeedPage, FeedPosition, FeedViewer
from plugins.feed.models import FeedSession, SessionCard
from plugins.feed.ranker import (
    SOURCE_ORDER,
    Placed,
    Scored,
    ViewerProfile,
    arrange,
    exploration_pool,
    rank,
    score,
)
from plugins.feed.retrieval import (
    Channels,
    load_profile,
    load_stats,
    note_cards,
    notes_enabled,
    stats_cache,
)
from plugins.feed.settings import FeedSettings, feed_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

log = logging.getLogger("zhongcao.feed")
CURSOR_KIND = "explore"


def location_e6(lat: float | None, lng: float | None) -> tuple[int | None, int | None]:
    if lat is None and lng is None:
        return None, None
    if lat is None or lng is None:
        raise ValidationFailed("share both lat and lng, or neither", extra={"fields": {"lat" if lat is None else "lng": "missing"}})
    if not (-90 <= lat <= 90) or not (-180 <= lng <= 180):
        raise ValidationFailed("lat must lie within -90..90 and lng within -180..180")
    return round(lat * 1_000_000), round(lng * 1_000_000)


@dataclass
class Batch:
    """A ranked, arranged batch (what `explain` prints and a session appends)."""

    placed: list[Placed]
    profile: ViewerProfile
    channel_sizes: dict[str, int]
    prior_rate: float  # the engagement-rate prior the quality part used
    prior_source: str  # "set", "mean of recent notes" or "default (no impressions yet)"


async def rank_batch(
    session: AsyncSession,
    runtime: Runtime,
    *,
    viewer_id: int | None,
    session_id: int | None,
    start: int,
    batch: int,
    n: int,
    seed: int,
    lat_e6: int | None,
    lng_e6: int | None,
    history: list[Placed],
    now: datetime,
) -> Batch:
    s = feed_settings(runtime)
    profile = await load_profile(session, viewer_id, s, now)
    channels = Channels(session, runtime, s, now, viewer_id, session_id if start else None)  # nothing to exclude yet at 0
    profile.closeness = await channels.nearby(lat_e6, lng_e6)
    found: dict[str, list[int]] = {
        "follow": await channels.follow(profile),
        "nearby": list(profile.closeness),
        "topic": await channels.topic(profile),
        "recent": await channels.recent(),
    }
    fresh_ids = await channels.fresh()
    popular, ctx = await channels.popular(exclude=profile.engaged_notes)
    found["popular"] = [st.note_id for st in popular]
    candidates: dict[int, str] = {}
    for source in (*SOURCE_ORDER, "recent"):
        for note_id in found.get(source, ()):
            if note_id not in profile.engaged_notes:
                candidates.setdefault(note_id, source)
    stats = await load_stats(session, [*candidates, *fresh_ids], now, stats_cache(runtime, s))
    ranked = rank(candidates, stats, profile, now, s, ctx)
    fresh = [st for i in fresh_ids if (st := stats.get(i)) is not None and i not in profile.engaged_notes]
    pool = exploration_pool(fresh, seed + batch)
    for c in pool:
        c.score, c.parts = score(c.stats, profile, now, s, ctx)
    injected = await injected_cards(runtime, session, profile, FeedPosition(session_id=session_id or 0, position=start, batch=batch), n, lat_e6, lng_e6, s)
    placed = arrange(ranked, pool, injected, n=n, start=start, history=history, s=s)
    sizes = {k: len(v) for k, v in found.items()} | {"fresh": len(fresh_ids), "injected": len(injected)}
    source = "set" if s.prior_rate_ppm is not None else "mean of recent notes" if ctx.prior else "default (no impressions yet)"
    return Batch(placed=placed, profile=profile, channel_sizes=sizes, prior_rate=s.prior_rate(ctx.prior), prior_source=source)


async def injected_cards(
    runtime: Runtime, session: AsyncSession, profile: ViewerProfile, position: FeedPosition, n: int, lat_e6: int | None, lng_e6: int | None, s: FeedSettings
) -> list[tuple[str, FeedCard]]:
    """Other plugins' cards (`feed_candidates`), minus those the session already shows."""
    viewer = FeedViewer(user_id=profile.user_id, lat_e6=lat_e6, lng_e6=lng_e6, topic_ids=tuple(profile.top_topics(s.max_topics)))
    limit = max(1, n // s.inject_every + 1)
    out: list[tuple[str, FeedCard]] = []
    seen: set[tuple[str, str]] = set()
    if position.session_id and position.position:
        rows = (await session.execute(select(SessionCard.kind, SessionCard.ref).where(SessionCard.session_id == position.session_id, SessionCard.kind != "note"))).all()
        seen = {(r.kind, r.ref) for r in rows}
    for plugin, cards in await runtime.pm.acall_each("feed_candidates", viewer=viewer, cursor=position, limit=limit, runtime=runtime, session=session):
        taken = 0
        for card in cards:
            if not isinstance(card, FeedCard) or card.kind == "note" or not card.ref or len(card.ref) > 64 or len(card.kind) > 20:
                raise PluginError(f"plugin {plugin!r}: hook feed_candidates: expected FeedCard items with a kind other than 'note' and a ref of 1-64 characters, got {card!r}")
            key = (card.kind, card.ref)
            if key in seen or taken >= limit:
                continue
            seen.add(key)
            taken += 1
            out.append((plugin, card))
    return out


# ---------------------------------------------------------------- sessions


async def _history(session: AsyncSession, runtime: Runtime, session_id: int, size: int, s: FeedSettings, now: datetime) -> list[Placed]:
    """The session's last cards, for the diversity rule across batches."""
    if size == 0:
        return []
    rows = (
        await session.execute(
            select(SessionCard.note_id, SessionCard.source).where(SessionCard.session_id == session_id, SessionCard.position >= size - s.max_run).order_by(SessionCard.position)
        )
    ).all()
    stats = await load_stats(session, [r.note_id for r in rows if r.note_id is not None], now, stats_cache(runtime, s))
    out = []
    for r in rows:
        st = stats.get(r.note_id) if r.note_id is not None else None
        out.append(Placed(source=r.source, author_id=st.author_id if st else None, topic_ids=st.topic_ids if st else ()))
    return out


def _card_rows(session_id: int, start: int, placed: list[Placed]) -> list[dict[str, Any]]:
    rows = []
    for i, p in enumerate(placed):
        if p.scored is not None:
            note_id = p.scored.stats.note_id
            rows.append({"session_id": session_id, "position": start + i, "kind": "note", "ref": str(note_id), "note_id": note_id, "source": p.source, "card": None})
        else:
            card = p.card
            rows.append({"session_id": session_id, "position": start + i, "kind": card.kind, "ref": card.ref, "note_id": None, "source": p.source[:20], "card": _card_json(card)})
    return rows


async def refill(runtime: Runtime, session_id: int, *, needed_size: int) -> None:
    """Rank the session's next batch unless it already holds `needed_size` cards, is
    exhausted or full. Ranking (and other plugins' hooks) run before the write
    transaction; the append is skipped if another request appended meanwhile."""
    s = feed_settings(runtime)
    now = utcnow()
    async with runtime.db.read_session() as read:
        fs = await read.get(FeedSession, session_id)
        if fs is None or fs.exhausted or fs.size >= needed_size or fs.size >= s.session_max_cards:
            return
        size, batches = fs.size, fs.batches
        history = await _history(read, runtime, session_id, size, s, now)
        n = min(s.batch_size, s.session_max_cards - size)
        result = await rank_batch(
            read, runtime, viewer_id=fs.user_id, session_id=session_id, start=size, batch=batches, n=n, seed=fs.seed,
            lat_e6=fs.lat_e6, lng_e6=fs.lng_e6, history=history, now=now,
        )
    async with runtime.db.session() as write:
        query = select(FeedSession).where(FeedSession.id == session_id)
        if not runtime.db.is_sqlite:
            query = query.with_for_update()
        fs = (await write.execute(query)).scalar_one_or_none()
        if fs is None or fs.size != size:
            return  # another request appended this batch
        await _append_batch(write, session_id, size, batches, result.placed, now)
        await write.commit()


async def _append_batch(write: AsyncSession, session_id: int, size: int, batches: int, placed: list[Placed], now: datetime) -> None:
    """Write a ranked batch after the session's `size` cards (none: the session is exhausted)."""
    rows = _card_rows(session_id, size, placed)
    if rows:
        await write.execute(SessionCard.__table__.insert(), rows)
    await write.execute(
        update(FeedSession).where(FeedSession.id == session_id).values(size=size + len(rows), batches=batches + 1, exhausted=not rows, refilled_at=now)
    )


def _card_json(card: FeedCard) -> dict[str, Any]:
    return msgspec.to_builtins(card)


def _card_from_json(data: dict[str, Any], source: str) -> FeedCard:
    return _with_source(msgspec.convert(data, FeedCard), source)


async def open_session(runtime: Runtime, viewer_id: int | None, lat_e6: int | None, lng_e6: int | None, *, head: int) -> tuple[int, list[FeedCard], int]:
    """A new session with its first batch ranked. Returns the session id, the first
    cards (up to `head`, those still readable) and the position after them, read from
    the batch just ranked rather than back from the database."""
    s = feed_settings(runtime)
    now = utcnow()
    seed = secrets.randbits(31)
    async with runtime.db.session() as write:
        fs = FeedSession(user_id=viewer_id, seed=seed, lat_e6=lat_e6, lng_e6=lng_e6, size=0, batches=0, exhausted=False, created_at=now, refilled_at=now)
        write.add(fs)
        await write.commit()
        session_id = fs.id
    n = min(s.batch_size, s.session_max_cards)
    async with runtime.db.read_session() as read:
        result = await rank_batch(
            read, runtime, viewer_id=viewer_id, session_id=session_id, start=0, batch=0, n=n, seed=seed, lat_e6=lat_e6, lng_e6=lng_e6, history=[], now=now
        )
        first = result.placed[: head + head // 4]  # a few spare, should some be unreadable by now
        notes = await note_cards(read, [p.scored.stats.note_id for p in first if p.scored is not None])
    async with runtime.db.session() as write:
        await _append_batch(write, session_id, 0, 0, result.placed, now)
        await write.commit()
    items: list[FeedCard] = []
    position = 0
    for p in first:
        if len(items) >= head:
            break
        position += 1
        if p.scored is not None:
            card = notes.get(p.scored.stats.note_id)
            if card is not None:
                items.append(_with_source(card, p.source))
        else:
            items.append(_with_source(p.card, p.source))
    return session_id, items, position


def _with_source(card: FeedCard, source: str) -> FeedCard:
    return msgspec.structs.replace(card, source=source)


async def expire_sessions(runtime: Runtime) -> int:
    """Delete sessions past `session_ttl_hours` with their cards (a periodic job), in
    slices so no transaction grows large. Returns how many went."""
    s = feed_settings(runtime)
    cutoff = utcnow() - timedelta(hours=s.session_ttl_hours)
    gone = 0
    while True:
        async with runtime.db.session() as write:
            old = list((await write.execute(select(FeedSession.id).where(FeedSession.created_at < cutoff).limit(200))).scalars())
            if not old:
                return gone
            await write.execute(SessionCard.__table__.delete().where(SessionCard.session_id.in_(old)))
            await write.execute(FeedSession.__table__.delete().where(FeedSession.id.in_(old)))
            await write.commit()
            gone += len(old)


async def explore_page(
    runtime: Runtime, viewer_id: int | None, *, cursor: str | None, limit: int, lat: float | None = None, lng: float | None = None
) -> FeedPage:
    s = feed_settings(runtime)
    if not 1 <= limit <= s.page_max:
        raise ValidationFailed(f"limit must lie within 1..{s.page_max}")
    if not notes_enabled(runtime):
        return FeedPage(items=[], next_cursor=None)
    items: list[FeedCard] = []
    if cursor:
        payload = cursors.verify(runtime, cursor, kind=CURSOR_KIND, viewer_id=viewer_id)
        session_id, position = int(payload["s"]), int(payload["p"])
        async with runtime.db.read_session() as read:
            fs = await read.get(FeedSession, session_id)
        if fs is None or fs.user_id != viewer_id or fs.created_at < utcnow() - timedelta(hours=s.session_ttl_hours):
            raise cursors.CursorExpired("this feed session has expired: load the feed again without a cursor")
    else:
        lat_e6, lng_e6 = location_e6(lat, lng)
        session_id, items, position = await open_session(runtime, viewer_id, lat_e6, lng_e6, head=limit)
    end = False
    for _ in range(10):  # each round reads placed cards, or ranks one more batch
        if len(items) >= limit:
            break
        async with runtime.db.read_session() as read:
            fs = await read.get(FeedSession, session_id)
            assert fs is not None
            size, done = fs.size, fs.exhausted or fs.size >= s.session_max_cards
            rows = (
                await read.execute(
                    select(SessionCard).where(SessionCard.session_id == session_id, SessionCard.position >= position).order_by(SessionCard.position).limit(limit - len(items))
                )
            ).scalars().all()
            notes = await note_cards(read, [r.note_id for r in rows if r.note_id is not None])
        for r in rows:
            position = r.position + 1
            if r.note_id is not None:
                card = notes.get(r.note_id)
                if card is not None:
                    items.append(_with_source(card, r.source))
            elif r.card:
                items.append(_card_from_json(r.card, r.source))
        if len(items) >= limit:
            break
        if position < size:
            continue  # some placed notes were no longer readable: read on
        if done:
            end = True
            break
        await refill(runtime, session_id, needed_size=position + limit - len(items))
    await _log_impressions(runtime, viewer_id, [c.note_id for c in items if c.note_id is not None])
    next_cursor = None if end else cursors.sign(runtime, {"k": CURSOR_KIND, "u": viewer_id or 0, "s": session_id, "p": position})
    return FeedPage(items=items, next_cursor=next_cursor)


async def _log_impressions(runtime: Runtime, viewer_id: int | None, note_ids: list[int]) -> None:
    """Hand the served notes to the notes plugin's impression buffer (written in batches;
    an anonymous viewer's count only on the note)."""
    if not note_ids:
        return
    try:
        from plugins.notes.engagement import record_impressions
    except ImportError:  # the notes plugin without impression logging
        return
    try:
        await record_impressions(runtime, viewer_id, note_ids)
    except Exception:
        log.exception("recording %d impressions failed", len(note_ids))


# ---------------------------------------------------------------- explain


@dataclass
class Explained:
    position: int
    kind: str
    ref: str
    title: str
    source: str
    score: float | None
    parts: dict[str, float]
    author: str
    topics: tuple[int, ...]
    relaxed: bool


@dataclass
class Explanation:
    profile: ViewerProfile
    channel_sizes: dict[str, int]
    prior_rate: float
    prior_source: str
    cards: list[Explained]


async def explain(runtime: Runtime, viewer_id: int | None, *, limit: int = 20, lat: float | None = None, lng: float | None = None) -> Explanation:
    """The first `limit` cards a new session would get, and why (nothing is written)."""
    if not notes_enabled(runtime):
        return Explanation(ViewerProfile(user_id=viewer_id), {}, feed_settings(runtime).prior_rate(), "", [])
    lat_e6, lng_e6 = location_e6(lat, lng)
    now = utcnow()
    async with runtime.db.read_session() as read:
        result = await rank_batch(
            read, runtime, viewer_id=viewer_id, session_id=None, start=0, batch=0, n=limit, seed=0, lat_e6=lat_e6, lng_e6=lng_e6, history=[], now=now
        )
        notes = await note_cards(read, [p.scored.stats.note_id for p in result.placed if p.scored is not None])
    out = []
    for i, p in enumerate(result.placed):
        if p.scored is not None:
            sc: Scored = p.scored
            card = notes.get(sc.stats.note_id)
            out.append(Explained(
                position=i, kind="note", ref=str(sc.stats.note_id), title=card.title if card else "?", source=p.source, score=sc.score, parts=dict(sc.parts),
                author=f"@{card.author.handle}" if card and card.author else str(sc.stats.author_id), topics=sc.stats.topic_ids, relaxed=p.relaxed,
            ))
        else:
            out.append(Explained(position=i, kind=p.card.kind, ref=p.card.ref, title=p.card.title, source=p.source, score=None, parts={}, author="", topics=(), relaxed=False))
    return Explanation(result.profile, result.channel_sizes, result.prior_rate, result.prior_source, out)

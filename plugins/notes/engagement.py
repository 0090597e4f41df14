"""Engagement on notes: likes, collects into boards, comments (replies one level deep)
with their likes, shares, and impressions for the feed.

Every counter moves with a conditional statement in the same transaction as the row it
counts: `INSERT ... ON CONFLICT DO NOTHING RETURNING`, then +1 only when a row came back;
`DELETE ... RETURNING`, then -1 only when one went. A double like counts once and an
unlike undoes it, however many requests race. Services take the caller's session and
never commit (the API does); their events are recorded in that same transaction.

Impressions are the exception to "a row per action": a feed page shows 20 cards, so
`record_impressions` only adds to an in-process buffer, which is flushed in batches (one
upsert and one counter update per batch) by a timer, when it grows large or old, and at
shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import threading
import time
import weakref
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import and_, bindparam, func, or_, select, text, update
from sqlalchemy.exc import IntegrityError

from core.db import dialect_insert, utcnow, valid_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event
from plugins.notes.models import (
    Board,
    Collect,
    Comment,
    CommentLike,
    CommentStatus,
    Impression,
    Like,
    ModerationCase,
    Note,
    NotesProfile,
    NoteStatus,
    Share,
    Verdict,
    Visibility,
)
from plugins.notes.profiles import ensure_profile, require_not_banned

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime

log = logging.getLogger("zhongcao.notes.engagement")

NOTES = Note.__table__
LIKES = Like.__table__
BOARDS = Board.__table__
COLLECTS = Collect.__table__
COMMENTS = Comment.__table__
COMMENT_LIKES = CommentLike.__table__
SHARES = Share.__table__
IMPRESSIONS = Impression.__table__
PROFILES = NotesProfile.__table__

DEFAULT_BOARD = "Saved"  # where a collect without a board goes; the owner may rename it
MAX_BOARD_NAME = 40
MAX_BOARDS = 200
MAX_COMMENT = 1000
FIRST_REPLIES = 3  # replies shown under each top-level comment in a list
SHARE_CHANNELS = ("link", "wechat", "moments", "weibo", "qq", "qzone", "douyin", "other")
SHARE_REPEAT_SECONDS = 30  # the same user sharing the same note to the same channel again within this counts once

ENGAGEMENT_EVENT_TYPES = {
    "note.liked": "A user liked a note (payload: note_id, user_id, author_user_id).",
    "note.unliked": "A user took back their like (payload: note_id, user_id, author_user_id).",
    "note.collected": "A user saved a note into one of their boards (payload: note_id, user_id, author_user_id, board_id).",
    "note.uncollected": "A user removed a note from their boards (payload: note_id, user_id, author_user_id, board_id).",
    "note.shared": "A user shared a note through a channel (payload: note_id, user_id, author_user_id, channel).",
    "comment.added": "A comment or reply became visible on a note (payload: comment_id, note_id, parent_id, user_id, author_user_id).",
}


def _keep_updated_at() -> dict[str, Any]:
    """Counter updates are not edits: keep the note's `updated_at` (its Core `onupdate`)."""
    return {"updated_at": NOTES.c.updated_at}


# ---------------------------------------------------------------- which notes can be engaged with


class NoteRef(NamedTuple):
    id: int
    author_user_id: int
    status: str
    visibility: str


def visible_to(viewer_id: int | None) -> Any:
    """SQL condition: notes a viewer may see in lists (published; public or their own)."""
    public = NOTES.c.visibility == Visibility.PUBLIC
    mine = NOTES.c.author_user_id == viewer_id if viewer_id is not None else None
    return and_(NOTES.c.status == NoteStatus.PUBLISHED, or_(public, mine) if mine is not None else public)


async def engageable_note(session: AsyncSession, viewer_id: int | None, note_id: int, *, lock: bool = False) -> NoteRef:
    """A published note that is public or the viewer's own; anything else (missing,
    draft, scheduled, hidden by moderation, deleted, someone else's private note) is 404."""
    row = None
    if valid_id(note_id):
        query = select(NOTES.c.id, NOTES.c.author_user_id, NOTES.c.status, NOTES.c.visibility).where(NOTES.c.id == note_id)
        row = (await session.execute(query.with_for_update() if lock else query)).first()
    if row is None or row.status != NoteStatus.PUBLISHED or (row.visibility != Visibility.PUBLIC and row.author_user_id != viewer_id):
        raise NotFound("no such note")
    return NoteRef(*row)


async def _note_counter(session: AsyncSession, note_id: int, column: str, delta: int) -> int:
    """Move one of a note's counters and give its new value (never below zero)."""
    col = NOTES.c[column]
    stmt = update(NOTES).where(NOTES.c.id == note_id)
    if delta < 0:
        stmt = stmt.where(col >= -delta)
    value = (await session.execute(stmt.values({column: col + delta, **_keep_updated_at()}).returning(col))).scalar_one_or_none()
    if value is None:  # already at zero: report what is there
        value = (await session.execute(select(col).where(NOTES.c.id == note_id))).scalar_one()
    return value


async def _likes_received(session: AsyncSession, author_id: int, delta: int) -> None:
    """The author's profile counts likes + collects on their notes."""
    if delta > 0:
        await ensure_profile(session, author_id)
    stmt = update(PROFILES).where(PROFILES.c.user_id == author_id)
    if delta < 0:
        stmt = stmt.where(PROFILES.c.likes_received >= -delta)
    await session.execute(stmt.values(likes_received=PROFILES.c.likes_received + delta))


# ---------------------------------------------------------------- likes


@dataclass(frozen=True)
class LikeState:
    liked: bool
    like_count: int


async def like_note(session: AsyncSession, runtime: Runtime, user_id: int, note_id: int) -> LikeState:
    """Like a note; liking it again changes nothing."""
    note = await engageable_note(session, user_id, note_id)
    inserted = (await session.execute(
        dialect_insert(session, LIKES).values(user_id=user_id, note_id=note.id, created_at=utcnow())
        .on_conflict_do_nothing().returning(LIKES.c.note_id)
    )).first()
    if inserted is None:
        return LikeState(True, await _current(session, note.id, "like_count"))
    count = await _note_counter(session, note.id, "like_count", +1)
    await _likes_received(session, note.author_user_id, +1)
    record_event(session, runtime, "note.liked", {"note_id": note.id, "user_id": user_id, "author_user_id": note.author_user_id})
    return LikeState(True, count)


async def unlike_note(session: AsyncSession, runtime: Runtime, user_id: int, note_id: int) -> LikeState:
    note = await engageable_note(session, user_id, note_id)
    deleted = (await session.execute(
        LIKES.delete().where(LIKES.c.user_id == user_id, LIKES.c.note_id == note.id).returning(LIKES.c.note_id)
    )).first()
    if deleted is None:
        return LikeState(False, await _current(session, note.id, "like_count"))
    count = await _note_counter(session, note.id, "like_count", -1)
    await _likes_received(session, note.author_user_id, -1)
    record_event(session, runtime, "note.unliked", {"note_id": note.id, "user_id": user_id, "author_user_id": note.author_user_id})
    return LikeState(False, count)


async def _current(session: AsyncSession, note_id: int, column: str) -> int:
    return (await session.execute(select(NOTES.c[column]).where(NOTES.c.id == note_id))).scalar_one()


async def liked_and_collected(session: AsyncSession, user_id: int | None, note_ids: list[int]) -> tuple[set[int], dict[int, int]]:
    """Which of these notes the user liked, and the board each collected one is in (for cards)."""
    if user_id is None or not note_ids:
        return set(), {}
    liked = set((await session.execute(select(LIKES.c.note_id).where(LIKES.c.user_id == user_id, LIKES.c.note_id.in_(note_ids)))).scalars())
    collected = {n: b for n, b in await session.execute(select(COLLECTS.c.note_id, COLLECTS.c.board_id).where(COLLECTS.c.user_id == user_id, COLLECTS.c.note_id.in_(note_ids)))}
    return liked, collected


# ---------------------------------------------------------------- boards and collects


def _board_name(name: Any) -> str:
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_BOARD_NAME or any(ord(ch) < 32 for ch in name):
        raise ValidationFailed(f"board name: 1-{MAX_BOARD_NAME} characters, no control characters", extra={"fields": {"name": "invalid"}})
    return name


async def own_board(session: AsyncSession, owner_id: int, board_id: int, *, lock: bool = False) -> Board:
    """One of the owner's boards; another user's board id is 404, exactly like a missing one."""
    board = None
    if valid_id(board_id):
        query = select(Board).where(Board.id == board_id, Board.owner_user_id == owner_id)
        board = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if board is None:
        raise NotFound("no such board")
    return board


async def _board_count(session: AsyncSession, owner_id: int) -> int:
    return (await session.execute(select(func.count()).select_from(BOARDS).where(BOARDS.c.owner_user_id == owner_id))).scalar_one()


async def _insert_board(session: AsyncSession, owner_id: int, name: str, private: bool) -> int | None:
    """The new board's id, or None when the owner already has one by that name."""
    if await _board_count(session, owner_id) >= MAX_BOARDS:
        raise ValidationFailed(f"you have {MAX_BOARDS} boards already; delete one first")
    row = (await session.execute(
        dialect_insert(session, BOARDS).values(owner_user_id=owner_id, name=name, private=private, note_count=0, created_at=utcnow())
        .on_conflict_do_nothing().returning(BOARDS.c.id)
    )).first()
    return row[0] if row else None


async def create_board(session: AsyncSession, owner_id: int, name: str, *, private: bool = False) -> Board:
    name = _board_name(name)
    board_id = await _insert_board(session, owner_id, name, private)
    if board_id is None:
        raise Conflict("you already have a board with that name", extra={"fields": {"name": "taken"}})
    return await own_board(session, owner_id, board_id)


async def board_named(session: AsyncSession, owner_id: int, name: str) -> int:
    """The owner's board of that name, created (public) if they have none."""
    name = _board_name(name)
    query = select(BOARDS.c.id).where(BOARDS.c.owner_user_id == owner_id, BOARDS.c.name == name)
    found = (await session.execute(query)).scalar_one_or_none()
    if found is not None:
        return found
    created = await _insert_board(session, owner_id, name, False)
    return created if created is not None else (await session.execute(query)).scalar_one()


async def update_board(session: AsyncSession, owner_id: int, board_id: int, *, name: str | None = None, private: bool | None = None) -> Board:
    board = await own_board(session, owner_id, board_id)
    if name is not None:
        name = _board_name(name)
        if name != board.name:
            taken = (await session.execute(select(BOARDS.c.id).where(BOARDS.c.owner_user_id == owner_id, BOARDS.c.name == name))).first()
            if taken is not None:
                raise Conflict("you already have a board with that name", extra={"fields": {"name": "taken"}})
            board.name = name
    if private is not None:
        board.private = private
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:  # the unique (owner, name) lost a race
        raise Conflict("you already have a board with that name", extra={"fields": {"name": "taken"}}) from None
    return board


async def delete_board(session: AsyncSession, runtime: Runtime, owner_id: int, board_id: int) -> int:
    """Delete a board and uncollect the notes in it; returns how many were uncollected."""
    board = await own_board(session, owner_id, board_id, lock=True)
    removed = (await session.execute(
        COLLECTS.delete().where(COLLECTS.c.user_id == owner_id, COLLECTS.c.board_id == board.id).returning(COLLECTS.c.note_id)
    )).scalars().all()
    await _after_uncollect(session, runtime, owner_id, board.id, sorted(removed))
    await session.execute(BOARDS.delete().where(BOARDS.c.id == board.id))
    session.expunge(board)
    return len(removed)


async def _after_uncollect(session: AsyncSession, runtime: Runtime, user_id: int, board_id: int, note_ids: list[int]) -> None:
    """Counters and events for collects that were just deleted (one by one, in note order)."""
    if not note_ids:
        return
    authors = dict((await session.execute(select(NOTES.c.id, NOTES.c.author_user_id).where(NOTES.c.id.in_(note_ids)))).all())
    for note_id in note_ids:
        await _note_counter(session, note_id, "collect_count", -1)
    per_author: dict[int, int] = defaultdict(int)
    for note_id in note_ids:
        per_author[authors[note_id]] += 1
    for author_id, n in sorted(per_author.items()):
        await _likes_received(session, author_id, -n)
    await session.execute(update(BOARDS).where(BOARDS.c.id == board_id, BOARDS.c.note_count >= len(note_ids)).values(note_count=BOARDS.c.note_count - len(note_ids)))
    for note_id in note_ids:
        record_event(session, runtime, "note.uncollected", {"note_id": note_id, "user_id": user_id, "author_user_id": authors[note_id], "board_id": board_id})


@dataclass(frozen=True)
class CollectState:
    collected: bool
    board_id: int | None
    collect_count: int


async def collect_note(session: AsyncSession, runtime: Runtime, user_id: int, note_id: int, *, board_id: int | None = None, board_name: str | None = None) -> CollectState:
    """Save a note into a board (by id, by name: created if new, or the default board).
    A note is collected once per user: collecting it again into another board moves it."""
    note = await engageable_note(session, user_id, note_id)
    if board_id is not None and board_name is not None:
        raise ValidationFailed("give board_id or board_name, not both")
    if board_id is not None:
        target = (await own_board(session, user_id, board_id)).id
    else:
        target = await board_named(session, user_id, board_name if board_name is not None else DEFAULT_BOARD)
    for _ in range(3):  # an insert that conflicts with a concurrent uncollect tries again
        inserted = (await session.execute(
            dialect_insert(session, COLLECTS).values(user_id=user_id, note_id=note.id, board_id=target, created_at=utcnow())
            .on_conflict_do_nothing().returning(COLLECTS.c.note_id)
        )).first()
        if inserted is not None:
            await session.execute(update(BOARDS).where(BOARDS.c.id == target).values(note_count=BOARDS.c.note_count + 1))
            count = await _note_counter(session, note.id, "collect_count", +1)
            await _likes_received(session, note.author_user_id, +1)
            record_event(session, runtime, "note.collected", {"note_id": note.id, "user_id": user_id, "author_user_id": note.author_user_id, "board_id": target})
            return CollectState(True, target, count)
        current = (await session.execute(
            select(COLLECTS.c.board_id).where(COLLECTS.c.user_id == user_id, COLLECTS.c.note_id == note.id).with_for_update()
        )).scalar_one_or_none()
        if current is None:
            continue
        if current != target:
            moved = (await session.execute(
                update(COLLECTS).where(COLLECTS.c.user_id == user_id, COLLECTS.c.note_id == note.id, COLLECTS.c.board_id == current)
                .values(board_id=target, created_at=utcnow()).returning(COLLECTS.c.note_id)  # saved there now
            )).first()
            if moved is None:
                continue
            for bid, delta in sorted(((current, -1), (target, +1))):
                stmt = update(BOARDS).where(BOARDS.c.id == bid)
                if delta < 0:
                    stmt = stmt.where(BOARDS.c.note_count >= 1)
                await session.execute(stmt.values(note_count=BOARDS.c.note_count + delta))
        return CollectState(True, target, await _current(session, note.id, "collect_count"))
    raise Conflict("this note is being collected and uncollected at once; try again")


async def uncollect_note(session: AsyncSession, runtime: Runtime, user_id: int, note_id: int) -> CollectState:
    note = await engageable_note(session, user_id, note_id)
    removed = (await session.execute(
        COLLECTS.delete().where(COLLECTS.c.user_id == user_id, COLLECTS.c.note_id == note.id).returning(COLLECTS.c.board_id)
    )).scalar_one_or_none()
    if removed is not None:
        await _after_uncollect(session, runtime, user_id, removed, [note.id])
    return CollectState(False, None, await _current(session, note.id, "collect_count"))


async def list_boards(session: AsyncSession, owner_id: int, viewer_id: int | None) -> list[Board]:
    """A user's boards, oldest first; their private boards only to themselves."""
    query = select(Board).where(Board.owner_user_id == owner_id).order_by(Board.created_at, Board.id)
    if viewer_id != owner_id:
        query = query.where(Board.private.is_(False))
    return list((await session.execute(query)).scalars())


async def readable_board(session: AsyncSession, board_id: int, viewer_id: int | None) -> Board:
    """A public board, or the viewer's own private one; otherwise 404."""
    board = await session.get(Board, board_id) if valid_id(board_id) else None
    if board is None or (board.private and board.owner_user_id != viewer_id):
        raise NotFound("no such board")
    return board


async def board_note_ids(session: AsyncSession, board: Board, viewer_id: int | None, *, limit: int, offset: int) -> list[int]:
    """The notes saved in a board that the viewer may see, last saved first."""
    rows = await session.execute(
        select(COLLECTS.c.note_id).join(NOTES, NOTES.c.id == COLLECTS.c.note_id)
        .where(COLLECTS.c.user_id == board.owner_user_id, COLLECTS.c.board_id == board.id, visible_to(viewer_id))
        .order_by(COLLECTS.c.created_at.desc(), COLLECTS.c.note_id.desc()).limit(limit).offset(offset)
    )
    return list(rows.scalars())


async def liked_note_ids(session: AsyncSession, user_id: int, *, limit: int, offset: int) -> list[int]:
    """The notes the user liked (that they may still see), last liked first."""
    rows = await session.execute(
        select(LIKES.c.note_id).join(NOTES, NOTES.c.id == LIKES.c.note_id)
        .where(LIKES.c.user_id == user_id, visible_to(user_id))
        .order_by(LIKES.c.created_at.desc(), LIKES.c.note_id.desc()).limit(limit).offset(offset)
    )
    return list(rows.scalars())


async def collected_note_ids(session: AsyncSession, user_id: int, *, limit: int, offset: int) -> list[int]:
    """Every note the user collected, across boards, last saved first."""
    rows = await session.execute(
        select(COLLECTS.c.note_id).join(NOTES, NOTES.c.id == COLLECTS.c.note_id)
        .where(COLLECTS.c.user_id == user_id, visible_to(user_id))
        .order_by(COLLECTS.c.created_at.desc(), COLLECTS.c.note_id.desc()).limit(limit).offset(offset)
    )
    return list(rows.scalars())


# ---------------------------------------------------------------- comments


def _comment_text(body: Any) -> str:
    text = body.strip() if isinstance(body, str) else ""
    if not text or len(text) > MAX_COMMENT or any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise ValidationFailed(f"comment: 1-{MAX_COMMENT} characters, no control characters", extra={"fields": {"body": "invalid"}})
    return text


async def _comment_row(session: AsyncSession, comment_id: int, *, lock: bool = False) -> Any:
    if not valid_id(comment_id):
        return None
    query = select(COMMENTS).where(COMMENTS.c.id == comment_id)
    return (await session.execute(query.with_for_update() if lock else query)).first()


async def _lock_thread_row(session: AsyncSession, comment_id: int) -> Any:
    """A comment row locked for change, its top-level comment locked first (PostgreSQL):
    every writer takes a thread's locks parent first, so deleting a reply while its
    thread is deleted waits instead of deadlocking. (`parent_id` never changes.)"""
    row = await _comment_row(session, comment_id)
    if row is None:
        return None
    if row.parent_id is not None:
        await _comment_row(session, row.parent_id, lock=True)
    return await _comment_row(session, comment_id, lock=True)


async def _count_visible(session: AsyncSession, runtime: Runtime, comment: Any, note_author_id: int) -> None:
    """A comment just became visible: the note's count, its parent's reply count, the event."""
    await _note_counter(session, comment.note_id, "comment_count", +1)
    if comment.parent_id is not None:
        await session.execute(update(COMMENTS).where(COMMENTS.c.id == comment.parent_id).values(reply_count=COMMENTS.c.reply_count + 1))
    record_event(session, runtime, "comment.added", {
        "comment_id": comment.id, "note_id": comment.note_id, "parent_id": comment.parent_id,
        "user_id": comment.author_user_id, "author_user_id": note_author_id,
    })


async def add_comment(session: AsyncSession, runtime: Runtime, user_id: int, note_id: int, body: str, *, parent_id: int | None = None) -> Comment:
    """Comment on a note, or reply to a comment. A reply to a reply joins its top-level
    comment's thread (one level deep). Moderation decides first: blocked is refused
    (422, with the reasons), held is kept hidden until staff allow it."""
    from plugins.notes import moderation

    text = _comment_text(body)
    verdict = await moderation.moderate(runtime, "comment", text, user_id)  # before the transaction starts: a plugin may call out
    note = await engageable_note(session, user_id, note_id)
    await require_not_banned(session, user_id, "comment")
    top: int | None = None
    if parent_id is not None:
        answered = await _comment_row(session, parent_id)
        if answered is None or answered.note_id != note.id or answered.status != CommentStatus.VISIBLE:
            raise NotFound("no such comment")
        top = answered.parent_id if answered.parent_id is not None else answered.id
        thread = await _comment_row(session, top, lock=True)  # locked: the thread cannot be deleted under this reply
        if thread.status != CommentStatus.VISIBLE:
            raise NotFound("no such comment")
    if verdict.verdict == Verdict.BLOCK:
        raise moderation.refuse(verdict, "this comment")
    await ensure_profile(session, user_id)
    visible = verdict.verdict == Verdict.ALLOW
    comment = Comment(note_id=note.id, author_user_id=user_id, parent_id=top, body=text,
                      status=CommentStatus.VISIBLE if visible else CommentStatus.HIDDEN, like_count=0, reply_count=0, created_at=utcnow())
    session.add(comment)
    await session.flush()
    if visible:
        await _count_visible(session, runtime, comment, note.author_user_id)
    else:
        await moderation.open_case(session, "comment", comment.id, verdict)
    return comment


async def delete_comment(session: AsyncSession, runtime: Runtime, actor: Actor, comment_id: int) -> None:
    """Its author, the note's author or platform staff delete a comment (a top-level
    comment takes its replies with it); anyone else gets 404."""
    for _ in range(3):
        row = await _lock_thread_row(session, comment_id)
        if row is None or row.status == CommentStatus.DELETED:
            raise NotFound("no such comment")
        note_author = (await session.execute(select(NOTES.c.author_user_id).where(NOTES.c.id == row.note_id))).scalar_one()
        if actor.user_id not in (row.author_user_id, note_author) and not actor.is_staff:
            raise NotFound("no such comment")
        done = (await session.execute(
            update(COMMENTS).where(COMMENTS.c.id == row.id, COMMENTS.c.status == row.status)
            .values(status=CommentStatus.DELETED).returning(COMMENTS.c.id)
        )).first()
        if done is not None:
            break
    else:
        raise Conflict("this comment is changing; try again")
    gone = 1 if row.status == CommentStatus.VISIBLE else 0
    withdrawn = [row.id] if row.status == CommentStatus.HIDDEN else []
    if row.parent_id is None:  # its thread goes with it
        replies = {}
        for status in (CommentStatus.VISIBLE, CommentStatus.HIDDEN):
            replies[status] = (await session.execute(
                update(COMMENTS).where(COMMENTS.c.parent_id == row.id, COMMENTS.c.status == status)
                .values(status=CommentStatus.DELETED).returning(COMMENTS.c.id)
            )).scalars().all()
        visible_replies = len(replies[CommentStatus.VISIBLE])
        if visible_replies:
            await session.execute(
                update(COMMENTS).where(COMMENTS.c.id == row.id, COMMENTS.c.reply_count >= visible_replies)
                .values(reply_count=COMMENTS.c.reply_count - visible_replies)
            )
        gone += visible_replies  # (only a visible comment can have replies)
        withdrawn.extend(replies[CommentStatus.HIDDEN])
    elif gone:
        await session.execute(update(COMMENTS).where(COMMENTS.c.id == row.parent_id, COMMENTS.c.reply_count >= 1).values(reply_count=COMMENTS.c.reply_count - 1))
    if gone:
        await _note_counter(session, row.note_id, "comment_count", -gone)
    if withdrawn:  # held content nobody needs to review any more
        cases = ModerationCase.__table__
        await session.execute(cases.delete().where(cases.c.kind == "comment", cases.c.ref_id.in_(withdrawn), cases.c.status == "open"))


async def decide_comment_case(session: AsyncSession, runtime: Runtime, comment_id: int, *, allow: bool) -> None:
    """Apply a staff decision on a held comment (`plugins.notes.moderation.decide_case`
    has closed its case): allowed, it shows and counts; blocked, it stays hidden. A
    comment deleted meanwhile, or whose thread is gone, stays as it is."""
    row = await _lock_thread_row(session, comment_id)
    if not allow or row is None or row.status != CommentStatus.HIDDEN:
        return
    if row.parent_id is not None:
        parent_status = (await session.execute(select(COMMENTS.c.status).where(COMMENTS.c.id == row.parent_id))).scalar_one()
        if parent_status != CommentStatus.VISIBLE:
            return
    done = (await session.execute(
        update(COMMENTS).where(COMMENTS.c.id == row.id, COMMENTS.c.status == CommentStatus.HIDDEN).values(status=CommentStatus.VISIBLE).returning(COMMENTS.c.id)
    )).first()
    if done is not None:
        note_author = (await session.execute(select(NOTES.c.author_user_id).where(NOTES.c.id == row.note_id))).scalar_one()
        await _count_visible(session, runtime, row, note_author)


async def review_comment(session: AsyncSession, runtime: Runtime, actor: Actor | None, comment_id: int, *, allow: bool) -> Any:
    """Platform staff decide a held comment by its id (its open moderation case)."""
    from core.auth.permissions import require_staff
    from plugins.notes import moderation

    require_staff(actor)
    row = await _comment_row(session, comment_id)
    if row is None or row.status == CommentStatus.DELETED:
        raise NotFound("no such comment")
    cases = ModerationCase.__table__
    case_id = (await session.execute(
        select(cases.c.id).where(cases.c.kind == "comment", cases.c.ref_id == row.id).order_by(cases.c.id.desc()).limit(1)
    )).scalar_one_or_none()
    if case_id is None:
        raise Conflict("this comment is not waiting for review")
    await moderation.decide_case(session, runtime, actor, case_id, allow=allow)
    return await _comment_row(session, row.id)


@dataclass(frozen=True)
class CommentLikeState:
    liked: bool
    like_count: int


async def _likeable_comment(session: AsyncSession, user_id: int, comment_id: int) -> Any:
    row = await _comment_row(session, comment_id)
    if row is None or row.status != CommentStatus.VISIBLE:
        raise NotFound("no such comment")
    try:
        await engageable_note(session, user_id, row.note_id)
    except NotFound:
        raise NotFound("no such comment") from None
    return row


async def like_comment(session: AsyncSession, user_id: int, comment_id: int) -> CommentLikeState:
    row = await _likeable_comment(session, user_id, comment_id)
    inserted = (await session.execute(
        dialect_insert(session, COMMENT_LIKES).values(user_id=user_id, comment_id=row.id, created_at=utcnow())
        .on_conflict_do_nothing().returning(COMMENT_LIKES.c.comment_id)
    )).first()
    if inserted is None:
        return CommentLikeState(True, (await session.execute(select(COMMENTS.c.like_count).where(COMMENTS.c.id == row.id))).scalar_one())
    count = (await session.execute(update(COMMENTS).where(COMMENTS.c.id == row.id).values(like_count=COMMENTS.c.like_count + 1).returning(COMMENTS.c.like_count))).scalar_one()
    return CommentLikeState(True, count)


async def unlike_comment(session: AsyncSession, user_id: int, comment_id: int) -> CommentLikeState:
    row = await _likeable_comment(session, user_id, comment_id)
    deleted = (await session.execute(
        COMMENT_LIKES.delete().where(COMMENT_LIKES.c.user_id == user_id, COMMENT_LIKES.c.comment_id == row.id).returning(COMMENT_LIKES.c.comment_id)
    )).first()
    if deleted is None:
        return CommentLikeState(False, (await session.execute(select(COMMENTS.c.like_count).where(COMMENTS.c.id == row.id))).scalar_one())
    count = (await session.execute(
        update(COMMENTS).where(COMMENTS.c.id == row.id, COMMENTS.c.like_count >= 1).values(like_count=COMMENTS.c.like_count - 1).returning(COMMENTS.c.like_count)
    )).scalar_one_or_none()
    return CommentLikeState(False, count or 0)


@dataclass
class CommentView:
    """A visible comment for lists, with its first replies when it is a top-level one."""

    comment: Any  # a notes_comment row
    liked_by_me: bool = False
    replies: list[CommentView] = field(default_factory=list)


async def readable_note(session: AsyncSession, viewer_id: int | None, note_id: int) -> NoteRef:
    """For reading (comments): not deleted, and published + public unless it is the viewer's own."""
    row = None
    if valid_id(note_id):
        row = (await session.execute(select(NOTES.c.id, NOTES.c.author_user_id, NOTES.c.status, NOTES.c.visibility).where(NOTES.c.id == note_id))).first()
    if row is None or row.status == NoteStatus.DELETED:
        raise NotFound("no such note")
    if row.author_user_id != viewer_id and (row.status != NoteStatus.PUBLISHED or row.visibility != Visibility.PUBLIC):
        raise NotFound("no such note")
    return NoteRef(*row)


async def list_comments(session: AsyncSession, note_id: int, viewer_id: int | None, *, limit: int = 20, offset: int = 0, replies: int = FIRST_REPLIES) -> list[CommentView]:
    """Top-level comments, newest first, each with its first `replies` replies (oldest first)."""
    await readable_note(session, viewer_id, note_id)
    tops = (await session.execute(
        select(COMMENTS).where(COMMENTS.c.note_id == note_id, COMMENTS.c.parent_id.is_(None), COMMENTS.c.status == CommentStatus.VISIBLE)
        .order_by(COMMENTS.c.created_at.desc(), COMMENTS.c.id.desc()).limit(limit).offset(offset)
    )).all()
    views = [CommentView(t) for t in tops]
    if tops and replies > 0:
        rank = func.row_number().over(partition_by=COMMENTS.c.parent_id, order_by=(COMMENTS.c.created_at, COMMENTS.c.id)).label("rank")
        inner = (
            select(COMMENTS, rank)
            .where(COMMENTS.c.parent_id.in_([t.id for t in tops]), COMMENTS.c.status == CommentStatus.VISIBLE)
            .subquery()
        )
        rows = (await session.execute(select(inner).where(inner.c.rank <= replies).order_by(inner.c.parent_id, inner.c.rank))).all()
        by_parent: dict[int, list[CommentView]] = defaultdict(list)
        for r in rows:
            by_parent[r.parent_id].append(CommentView(r))
        for v in views:
            v.replies = by_parent.get(v.comment.id, [])
    await _mark_liked(session, viewer_id, views)
    return views


async def list_replies(session: AsyncSession, comment_id: int, viewer_id: int | None, *, limit: int = 20, offset: int = 0) -> list[CommentView]:
    """A top-level comment's visible replies, oldest first."""
    row = await _comment_row(session, comment_id)
    if row is None or row.status != CommentStatus.VISIBLE:
        raise NotFound("no such comment")
    await readable_note(session, viewer_id, row.note_id)
    top = row.parent_id if row.parent_id is not None else row.id
    rows = (await session.execute(
        select(COMMENTS).where(COMMENTS.c.parent_id == top, COMMENTS.c.status == CommentStatus.VISIBLE)
        .order_by(COMMENTS.c.created_at, COMMENTS.c.id).limit(limit).offset(offset)
    )).all()
    views = [CommentView(r) for r in rows]
    await _mark_liked(session, viewer_id, views)
    return views


async def count_top_level(session: AsyncSession, note_id: int) -> int:
    """Visible top-level comments of a note (the note's comment_count includes replies)."""
    return (await session.execute(
        select(func.count()).select_from(COMMENTS).where(COMMENTS.c.note_id == note_id, COMMENTS.c.parent_id.is_(None), COMMENTS.c.status == CommentStatus.VISIBLE)
    )).scalar_one()


async def count_replies(session: AsyncSession, comment_id: int) -> int:
    """The reply count of the thread a comment belongs to."""
    row = await _comment_row(session, comment_id)
    if row is None:
        return 0
    if row.parent_id is None:
        return row.reply_count
    return (await session.execute(select(COMMENTS.c.reply_count).where(COMMENTS.c.id == row.parent_id))).scalar_one()


async def note_of_comment(session: AsyncSession, comment_id: int) -> int:
    """The note a comment is on (404 for a missing or deleted comment)."""
    row = await _comment_row(session, comment_id)
    if row is None or row.status == CommentStatus.DELETED:
        raise NotFound("no such comment")
    return row.note_id


async def _mark_liked(session: AsyncSession, viewer_id: int | None, views: list[CommentView]) -> None:
    every = [v for top in views for v in (top, *top.replies)]
    if viewer_id is None or not every:
        return
    liked = set((await session.execute(
        select(COMMENT_LIKES.c.comment_id).where(COMMENT_LIKES.c.user_id == viewer_id, COMMENT_LIKES.c.comment_id.in_([v.comment.id for v in every]))
    )).scalars())
    for v in every:
        v.liked_by_me = v.comment.id in liked


# ---------------------------------------------------------------- shares


@dataclass(frozen=True)
class ShareState:
    share_count: int
    counted: bool  # False for a repeat of the same share within SHARE_REPEAT_SECONDS


async def share_note(session: AsyncSession, runtime: Runtime, user_id: int, note_id: int, channel: str = "link") -> ShareState:
    """Count and log a share. A repeat of the same share (user, note, channel) within a
    short window is a double click and counts once."""
    if channel not in SHARE_CHANNELS:
        raise ValidationFailed(f"channel: one of {', '.join(SHARE_CHANNELS)}", extra={"fields": {"channel": "invalid"}})
    note = await engageable_note(session, user_id, note_id, lock=True)  # serialises shares of this note (PostgreSQL)
    since = utcnow() - timedelta(seconds=SHARE_REPEAT_SECONDS)
    repeat = (await session.execute(
        select(SHARES.c.id).where(SHARES.c.note_id == note.id, SHARES.c.user_id == user_id, SHARES.c.channel == channel, SHARES.c.created_at >= since).limit(1)
    )).first()
    if repeat is not None:
        return ShareState(await _current(session, note.id, "share_count"), False)
    await session.execute(SHARES.insert().values(note_id=note.id, user_id=user_id, channel=channel, created_at=utcnow()))
    count = await _note_counter(session, note.id, "share_count", +1)
    record_event(session, runtime, "note.shared", {"note_id": note.id, "user_id": user_id, "author_user_id": note.author_user_id, "channel": channel})
    return ShareState(count, True)


# ---------------------------------------------------------------- impressions


def _env_float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class _Seen:
    count: int
    first_at: datetime
    last_at: datetime


class ImpressionBuffer:
    """Impressions of one process, summed per (viewer, note) until the next flush.

    Thread-safe (the swap is under a lock), so any event loop of the process may record;
    a flush writes on the loop that runs it. Settings: ZHONGCAO_NOTES_IMPRESSION_FLUSH_SECONDS
    (timer, and the oldest an entry may get before a record triggers a flush; default 5)
    and ZHONGCAO_NOTES_IMPRESSION_MAX_PENDING (pairs before a flush is triggered; default 2000).
    """

    def __init__(self, flush_seconds: float | None = None, max_pending: int | None = None) -> None:
        self.flush_seconds = flush_seconds if flush_seconds is not None else _env_float("ZHONGCAO_NOTES_IMPRESSION_FLUSH_SECONDS", 5.0)
        self.max_pending = max_pending if max_pending is not None else int(_env_float("ZHONGCAO_NOTES_IMPRESSION_MAX_PENDING", 2000))
        self._lock = threading.Lock()
        self._pending: dict[tuple[int | None, int], _Seen] = {}
        self._oldest: float | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._timer: asyncio.Task[None] | None = None
        self.flushes = 0  # batches written, for tests and metrics
        self.written = 0  # impressions written

    def add(self, user_id: int | None, note_ids: list[int]) -> bool:
        """Buffer; True when it is time to flush (large or old)."""
        now = utcnow()
        with self._lock:
            for note_id in note_ids:
                seen = self._pending.get((user_id, note_id))
                if seen is None:
                    self._pending[(user_id, note_id)] = _Seen(1, now, now)
                else:
                    seen.count += 1
                    seen.last_at = now
            if self._oldest is None:
                self._oldest = time.monotonic()
            return len(self._pending) >= self.max_pending or time.monotonic() - self._oldest >= self.flush_seconds

    def take(self) -> dict[tuple[int | None, int], _Seen]:
        with self._lock:
            batch, self._pending, self._oldest = self._pending, {}, None
            return batch

    def put_back(self, batch: dict[tuple[int | None, int], _Seen]) -> None:
        """A failed flush returns its batch, merged, so the next flush writes it (bounded)."""
        with self._lock:
            if len(self._pending) + len(batch) > 10 * self.max_pending:
                log.error("impression buffer full; dropping %d pairs", len(batch))
                return
            for key, seen in batch.items():
                mine = self._pending.get(key)
                if mine is None:
                    self._pending[key] = seen
                else:
                    mine.count += seen.count
                    mine.first_at = min(mine.first_at, seen.first_at)
                    mine.last_at = max(mine.last_at, seen.last_at)
            if self._oldest is None:
                self._oldest = time.monotonic()

    @property
    def pending(self) -> int:
        with self._lock:
            return sum(s.count for s in self._pending.values())

    def flush_soon(self, runtime: Runtime) -> None:
        """Flush in a task of the running loop (the caller does not wait for the write)."""
        if any(not t.done() for t in self._tasks):
            return  # one is under way; what is added meanwhile goes with the next
        task = asyncio.get_running_loop().create_task(flush_impressions(runtime), name="notes-impressions-flush")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def wait(self) -> None:
        """Wait for the background flushes started on this loop (one runtime may serve
        apps on several loops, e.g. test clients; another loop's tasks finish there)."""
        here = asyncio.get_running_loop()
        for task in list(self._tasks):
            if task.get_loop() is not here:
                continue
            with contextlib.suppress(Exception):  # logged by the flush
                await task


_BUFFERS: weakref.WeakKeyDictionary[Any, ImpressionBuffer] = weakref.WeakKeyDictionary()
_BUFFERS_LOCK = threading.Lock()


def impression_buffer(runtime: Runtime) -> ImpressionBuffer:
    """The runtime's buffer (one per runtime: per process in production)."""
    with _BUFFERS_LOCK:
        buffer = _BUFFERS.get(runtime)
        if buffer is None:
            buffer = _BUFFERS[runtime] = ImpressionBuffer()
        return buffer


async def record_impressions(runtime: Runtime, user_id: int | None, note_ids: list[int]) -> None:
    """A viewer was shown these notes' cards. Buffered in process, never a write per card:
    flushed in batches by the timer (`start_impression_timer`), when the buffer grows or
    ages, and at shutdown. An anonymous viewer (`user_id` None) only counts on the note."""
    ids = [n for n in note_ids if valid_id(n)]
    if not ids:
        return
    buffer = impression_buffer(runtime)
    if buffer.add(user_id, ids):
        buffer.flush_soon(runtime)


async def flush_impressions(runtime: Runtime) -> int:
    """Write what is buffered: one upsert into notes_impression (count, first and last
    seen) and one counter update on the notes, per batch. Returns impressions written."""
    buffer = impression_buffer(runtime)
    batch = buffer.take()
    if not batch:
        return 0
    try:
        written = await _write_impressions(runtime, batch)
    except Exception:
        log.exception("could not write %d impression pairs; keeping them for the next flush", len(batch))
        buffer.put_back(batch)
        raise
    buffer.flushes += 1
    buffer.written += written
    return written


async def _write_impressions(runtime: Runtime, batch: dict[tuple[int | None, int], _Seen]) -> int:
    from core.auth.models import User

    note_ids = sorted({n for _, n in batch})
    user_ids = sorted({u for u, _ in batch if u is not None})
    async with runtime.db.session() as session:
        # a note or account removed meanwhile would fail the whole batch on its foreign key
        notes = set((await session.execute(select(NOTES.c.id).where(NOTES.c.id.in_(note_ids)))).scalars())
        users = set((await session.execute(select(User.id).where(User.id.in_(user_ids)))).scalars()) if user_ids else set()
        rows = [
            {"user_id": u, "note_id": n, "count": s.count, "first_at": s.first_at, "last_at": s.last_at}
            for (u, n), s in sorted(batch.items(), key=lambda kv: (kv[0][0] or 0, kv[0][1]))  # one lock order: no deadlocks between processes
            if u is not None and u in users and n in notes
        ]
        per_note: dict[int, int] = defaultdict(int)
        for (u, n), s in batch.items():
            if n in notes and (u is None or u in users):
                per_note[n] += s.count
        if session.bind.dialect.name == "postgresql":
            await _write_impressions_pg(session, rows, per_note)
        else:
            if rows:
                # one cached statement run for many rows (a 500-row VALUES list was compiled
                # afresh for every chunk: ~100 ms of the event loop per 2,000 pairs)
                stmt = dialect_insert(session, IMPRESSIONS)
                await session.execute(
                    stmt.on_conflict_do_update(
                        index_elements=[IMPRESSIONS.c.user_id, IMPRESSIONS.c.note_id],
                        set_={"count": IMPRESSIONS.c.count + stmt.excluded.count, "last_at": stmt.excluded.last_at},
                    ),
                    rows,
                )
            if per_note:
                await session.execute(
                    update(NOTES).where(NOTES.c.id == bindparam("nid"))
                    .values(impression_count=NOTES.c.impression_count + bindparam("n"), updated_at=NOTES.c.updated_at),
                    [{"nid": n, "n": c} for n, c in sorted(per_note.items())],
                )
        await session.commit()
    return sum(per_note.values())


_PG_UPSERT_IMPRESSIONS = text(
    "INSERT INTO notes_impression (user_id, note_id, count, first_at, last_at) "
    "SELECT * FROM unnest(CAST(:users AS bigint[]), CAST(:notes AS bigint[]), CAST(:counts AS integer[]), "
    "CAST(:firsts AS timestamptz[]), CAST(:lasts AS timestamptz[])) "
    "ON CONFLICT (user_id, note_id) DO UPDATE SET count = notes_impression.count + excluded.count, last_at = excluded.last_at"
)
_PG_COUNT_IMPRESSIONS = text(
    "UPDATE notes_note AS n SET impression_count = n.impression_count + d.seen "
    "FROM unnest(CAST(:notes AS bigint[]), CAST(:seen AS bigint[])) AS d(id, seen) WHERE n.id = d.id"
)


async def _write_impressions_pg(session: AsyncSession, rows: list[dict[str, Any]], per_note: dict[int, int]) -> None:
    """PostgreSQL: each of the two writes as one statement over arrays (thousands of
    executions in a pipeline cost the server ~10x more, next to the feed's reads)."""
    if rows:
        await session.execute(_PG_UPSERT_IMPRESSIONS, {
            "users": [r["user_id"] for r in rows], "notes": [r["note_id"] for r in rows], "counts": [r["count"] for r in rows],
            "firsts": [r["first_at"] for r in rows], "lasts": [r["last_at"] for r in rows],
        })
    if per_note:
        ordered = sorted(per_note.items())  # one lock order: no deadlocks between processes
        await session.execute(_PG_COUNT_IMPRESSIONS, {"notes": [n for n, _ in ordered], "seen": [c for _, c in ordered]})


async def _impression_timer(runtime: Runtime) -> None:
    buffer = impression_buffer(runtime)
    while True:
        await asyncio.sleep(buffer.flush_seconds)
        with contextlib.suppress(Exception):  # logged; the batch waits for the next tick
            await flush_impressions(runtime)


def start_impression_timer(runtime: Runtime) -> None:
    """Flush every `flush_seconds` on the running loop (the web app's `startup`)."""
    buffer = impression_buffer(runtime)
    if buffer._timer is None or buffer._timer.done():
        buffer._timer = asyncio.get_running_loop().create_task(_impression_timer(runtime), name="notes-impressions-timer")


async def stop_impression_timer(runtime: Runtime) -> None:
    """Stop the timer and write what is left (the web app's `shutdown`)."""
    buffer = impression_buffer(runtime)
    timer, buffer._timer = buffer._timer, None
    if timer is not None:
        loop = timer.get_loop()
        if loop is asyncio.get_running_loop():
            timer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await timer
        elif not loop.is_closed():  # started by an app on another loop: stop it there
            loop.call_soon_threadsafe(timer.cancel)
    await buffer.wait()
    with contextlib.suppress(Exception):  # logged; shutting down must not raise
        await flush_impressions(runtime)

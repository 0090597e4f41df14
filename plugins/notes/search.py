"""The `notes` search index: published public notes, with their topics, author and
engagement counts (Xiaohongshu sorts search by newest and most liked, collected or
commented)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.search.base import SearchIndex, Sort

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime


@dataclass
class NoteSource:
    id: int
    version: int
    kind: str
    title: str
    body: str
    topics: list[tuple[str, str]]  # (key, name)
    author_handle: str
    author_name: str
    published_at: int
    likes: int
    collects: int
    comments: int
    sponsored: bool
    cover: str | None


async def load_notes(session: AsyncSession, runtime: Runtime, ids: list[str]) -> Mapping[str, NoteSource]:
    from core.auth.models import User
    from core.catalog.media import media_url
    from plugins.notes.models import Note, NoteImage, NotesProfile, NoteTopic, Topic
    from plugins.notes.notes import readable_by_anyone

    wanted = [int(i) for i in ids if i.isdigit()]
    if not wanted:
        return {}
    rows = (await session.execute(
        select(Note, User.display_name, NotesProfile.handle)
        .outerjoin(User, User.id == Note.author_user_id).outerjoin(NotesProfile, NotesProfile.user_id == Note.author_user_id)
        .where(Note.id.in_(wanted), readable_by_anyone())
    )).all()  # fmt: skip
    if not rows:
        return {}
    found = [r[0].id for r in rows]
    topics: dict[int, list[tuple[str, str]]] = {}
    for note_id, key, name in (await session.execute(
        select(NoteTopic.note_id, Topic.key, Topic.name).join(Topic, Topic.id == NoteTopic.topic_id).where(NoteTopic.note_id.in_(found)).order_by(Topic.key)
    )).all():  # fmt: skip
        topics.setdefault(note_id, []).append((key, name))
    covers: dict[int, str] = {}
    for note_id, path in (await session.execute(
        select(NoteImage.note_id, NoteImage.path).where(NoteImage.note_id.in_(found)).order_by(NoteImage.note_id, NoteImage.position)
    )).all():  # fmt: skip
        covers.setdefault(note_id, media_url(path))
    out: dict[str, NoteSource] = {}
    for note, display_name, handle in rows:
        out[str(note.id)] = NoteSource(
            id=note.id, version=note.version, kind=note.kind, title=note.title, body=note.body, topics=topics.get(note.id, []),
            author_handle=handle or f"u{note.author_user_id}", author_name=display_name or "",
            published_at=int(note.published_at.timestamp()) if note.published_at else 0,
            likes=note.like_count, collects=note.collect_count, comments=note.comment_count, sponsored=bool(note.sponsored),
            cover=covers.get(note.id) or (media_url(note.poster_path) if note.poster_path else None),
        )
    return out


async def note_ids(session: AsyncSession, runtime: Runtime, after: str | None, limit: int) -> list[str]:
    from plugins.notes.models import Note
    from plugins.notes.notes import readable_by_anyone

    query = select(Note.id).where(readable_by_anyone()).order_by(Note.id).limit(limit)
    if after is not None:
        query = query.where(Note.id > int(after))
    return [str(i) for i in (await session.execute(query)).scalars()]


def note_document(obj: NoteSource) -> dict[str, Any]:
    return {
        "version": obj.version,
        "title": obj.title,
        "topics_text": " ".join(name for _, name in obj.topics),
        "author_text": f"{obj.author_handle} {obj.author_name}",
        "body": obj.body,
        "type": obj.kind,
        "topics": [key for key, _ in obj.topics],
        "author": obj.author_handle,
        "created_at": obj.published_at,
        "likes": obj.likes,
        "collects": obj.collects,
        "comments": obj.comments,
        "sponsored": obj.sponsored,
        "cover": obj.cover,
        "author_name": obj.author_name,
    }


def _note(payload: dict[str, Any]) -> list[Any]:
    return [payload.get("note_id")]


NOTES = SearchIndex(
    name="notes",
    searchable=("title", "topics_text", "author_text", "body"),
    filterable={"type": "keyword", "topics": "keywords", "author": "keyword", "created_at": "time", "likes": "int", "collects": "int", "comments": "int", "sponsored": "bool"},
    sortable=("created_at", "likes", "collects", "comments"),
    sorts={"newest": Sort("created_at"), "likes": Sort("likes"), "collects": Sort("collects"), "comments": Sort("comments")},
    ranking=(("likes", True), ("created_at", True)),
    browse="newest",
    facets=("type", "topics"),
    ranges=("created_at", "likes"),
    suggest="title",
    load=load_notes,
    ids=note_ids,
    events={
        "note.published": _note, "note.hidden": _note, "note.deleted": _note,
        "note.liked": _note, "note.unliked": _note, "note.collected": _note, "note.uncollected": _note, "comment.added": _note,
        "note.updated": lambda payload: payload.get("ids", ()),
    },
)


async def author_renamed(runtime: Runtime, user_ids: list[int]) -> int:
    """Authors changed their name or handle: their notes' search documents carry both, so
    each note is marked updated (search reindexes it). Repeating it only reindexes again."""
    from core.events import mark_changed
    from plugins.notes.models import Note

    async with runtime.db.read_session() as session:
        note_ids = list((await session.execute(select(Note.id).where(Note.author_user_id.in_([int(u) for u in user_ids])))).scalars())
    if note_ids:
        async with runtime.db.session() as session:
            for note_id in note_ids:
                mark_changed(session, "note.updated", note_id)
            await session.commit()
    return len(note_ids)

"""Helpers for the engagement tests: notes inserted directly (status and visibility as
asked), users with their bearer tokens, outbox events by type."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from core.db import utcnow
from core.events import OutboxEvent
from core.testing import api_token
from plugins.notes.models import Note, NoteStatus, Visibility

API = "/api/v1/notes"


async def make_note(runtime: Any, author_id: int, *, status: str = NoteStatus.PUBLISHED, visibility: str = Visibility.PUBLIC, title: str = "好物分享") -> int:
    async with runtime.db.session() as session:
        note = Note(author_user_id=author_id, kind="image", title=title, body="", status=status, visibility=visibility,
                    published_at=utcnow() if status == NoteStatus.PUBLISHED else None)
        session.add(note)
        await session.commit()
        return note.id


async def note_row(runtime: Any, note_id: int) -> Note:
    async with runtime.db.read_session() as session:
        note = await session.get(Note, note_id)
        assert note is not None
        return note


async def count(runtime: Any, model: Any, *where: Any) -> int:
    async with runtime.db.read_session() as session:
        return (await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one()


async def events(runtime: Any, type_: str) -> list[dict[str, Any]]:
    async with runtime.db.read_session() as session:
        rows = (await session.execute(select(OutboxEvent.payload).where(OutboxEvent.type == type_).order_by(OutboxEvent.id))).scalars().all()
        return list(rows)


@dataclass
class Person:
    id: int
    email: str
    auth: dict[str, str]


async def person(client: Any, make_user: Any, name: str, **kw: Any) -> Person:
    user = await make_user(f"{name}@example.com", **kw)
    return Person(user.id, user.email, await api_token(client, user.email))

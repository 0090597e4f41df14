"""Write, count, list and clear a user's notices (see core.notices)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import dialect_insert, utcnow, valid_id
from core.errors import ValidationFailed
from core.notices.models import Notice

ROWS_PER_INSERT = 500  # SQLite allows 32,766 bound values per statement; a row binds 9


async def notify(
    session: AsyncSession, user_ids: Iterable[int], *, kind: str, key: str, message: str, args: dict[str, str] | None = None,
    url: str = "", image_url: str = "", at: datetime | None = None,
) -> int:
    """Tell these users one thing. Idempotent per user and `key`: telling again (a retried
    job, a repeated event) adds nothing. `url` is a path on this site (never another
    site: a notice must not be a way to send users elsewhere). Returns how many users
    were told now."""
    problems = {
        "kind": None if kind and len(kind) <= 60 else "1-60 characters",
        "key": None if key and len(key) <= 120 else "1-120 characters",
        "message": None if message and len(message) <= 200 else "1-200 characters",
        "url": None if url == "" or (url.startswith("/") and not url.startswith("//") and len(url) <= 500) else "a path on this site, starting with /",
    }
    if any(problems.values()):
        found = {k: v for k, v in problems.items() if v}
        raise ValidationFailed("; ".join(f"{k}: {v}" for k, v in found.items()), extra={"fields": found})
    ids = sorted({i for i in user_ids if valid_id(i)})
    now = at or utcnow()
    told = 0
    for start in range(0, len(ids), ROWS_PER_INSERT):
        rows = [
            {"user_id": i, "kind": kind, "key": key, "message": message, "args": dict(args or {}), "url": url, "image_url": image_url[:500], "created_at": now, "seen_at": None}
            for i in ids[start : start + ROWS_PER_INSERT]
        ]
        result = await session.execute(dialect_insert(session, Notice.__table__).values(rows).on_conflict_do_nothing(index_elements=["user_id", "key"]))
        told += max(result.rowcount or 0, 0)
    return told


async def unseen_count(session: AsyncSession, user_id: int) -> int:
    return (await session.execute(select(func.count()).select_from(Notice).where(Notice.user_id == user_id, Notice.seen_at.is_(None)))).scalar_one()


async def notices_of(session: AsyncSession, user_id: int, *, unseen_only: bool = False, limit: int = 20, offset: int = 0) -> list[Notice]:
    """Newest first."""
    query = select(Notice).where(Notice.user_id == user_id)
    if unseen_only:
        query = query.where(Notice.seen_at.is_(None))
    return list((await session.execute(query.order_by(Notice.id.desc()).limit(limit).offset(offset))).scalars())


async def mark_seen(session: AsyncSession, user_id: int, ids: list[int] | None = None) -> int:
    """Clear her notices: all, or those of `ids` (anybody else's ids are ignored).
    Idempotent: returns how many were still unseen."""
    query = update(Notice).where(Notice.user_id == user_id, Notice.seen_at.is_(None))
    if ids is not None:
        query = query.where(Notice.id.in_([i for i in ids if valid_id(i)] or [0]))
    result = await session.execute(query.values(seen_at=utcnow()).execution_options(synchronize_session=False))
    return result.rowcount or 0


def notice_text(notice: Notice, translate: Callable[..., str]) -> str:
    """The notice in the reader's language (its writer registered the translation)."""
    args: dict[str, Any] = notice.args or {}
    try:
        return translate(notice.message, **args)
    except (KeyError, IndexError, ValueError):  # a translation naming a placeholder the notice lacks
        return notice.message.format_map(_Blank({k: str(v) for k, v in args.items()}))


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""

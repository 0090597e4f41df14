"""JSON API for the caller's notices: /api/v1/me/notices."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
from litestar import Controller, Request, get, post

from core.auth.permissions import Actor, require_actor
from core.catalog.api import Limit, Offset
from core.i18n import translator
from core.notices import service
from core.web import login_required, strict_body

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime


class NoticeOut(msgspec.Struct):
    id: int
    kind: str  # who wrote it and why, e.g. "live.room_live"
    text: str  # in the caller's account language
    message: str  # the English message before its placeholders are filled
    args: dict[str, str]
    url: str  # a path on the storefront, or ""
    image_url: str
    created_at: datetime
    seen: bool


class NoticePage(msgspec.Struct):
    items: list[NoticeOut]
    unseen_count: int  # all her unseen notices, not only this page's


class SeenIn(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[int] | None = None  # none: every notice


class SeenOut(msgspec.Struct):
    marked: int  # notices that were still unseen


class NoticeController(Controller):
    path = "/me/notices"
    tags = ["notices"]

    @get("/", guards=[login_required])
    async def list_notices(self, session: AsyncSession, runtime: Runtime, actor: Actor | None, unseen_only: bool = False, limit: Limit = 20, offset: Offset = 0) -> NoticePage:
        """The caller's notices, newest first (a room she follows went live, ...). Reading
        them does not clear them: POST `/seen` does."""
        actor = require_actor(actor)
        rows = await service.notices_of(session, actor.user_id, unseen_only=unseen_only, limit=limit, offset=offset)
        translate = translator(runtime, actor.locale)
        return NoticePage(
            items=[
                NoticeOut(
                    id=n.id, kind=n.kind, text=service.notice_text(n, translate), message=n.message, args={k: str(v) for k, v in (n.args or {}).items()},
                    url=n.url, image_url=n.image_url, created_at=n.created_at, seen=n.seen_at is not None,
                )
                for n in rows
            ],
            unseen_count=await service.unseen_count(session, actor.user_id),
        )

    @post("/seen", guards=[login_required], status_code=200)
    async def mark_seen(self, data: SeenIn, request: Request, session: AsyncSession, actor: Actor | None) -> SeenOut:
        """Mark the caller's notices seen: all, or those of `ids` (other users' ids are
        ignored). Safe to repeat."""
        actor = require_actor(actor)
        data = await strict_body(request, data)
        marked = await service.mark_seen(session, actor.user_id, data.ids)
        await session.commit()
        return SeenOut(marked=marked)


NOTICE_CONTROLLERS = [NoticeController]

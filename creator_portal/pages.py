"""Core portal pages: the dashboard a brand member or creator lands on."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, get

from core.auth.permissions import Actor
from core.catalog import service as catalog
from core.web import login_required, render

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


class PortalPages(Controller):
    path = "/"

    @get("/", guards=[login_required])
    async def dashboard(self, request: Request, session: AsyncSession, actor: Actor | None) -> Any:
        assert actor is not None
        memberships = await catalog.brands_of_user(session, actor.user_id)
        return await render(request, "portal/dashboard.html", {"memberships": memberships})

"""Core storefront pages. Thin: services do the work, templates only show it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, get

from core.catalog import service as catalog
from core.web import login_required, render

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


class StorefrontPages(Controller):
    path = "/"

    @get("/")
    async def home(self, request: Request, session: AsyncSession) -> Any:
        brands = await catalog.list_brands(session, limit=24)
        return await render(request, "storefront/home.html", {"brands": brands})

    @get("/brands/{slug:str}")
    async def brand(self, request: Request, slug: str, session: AsyncSession) -> Any:
        brand = await catalog.get_brand_by_slug(session, slug)
        return await render(request, "storefront/brand.html", {"brand": brand})

    @get("/account", guards=[login_required])
    async def account(self, request: Request) -> Any:
        return await render(request, "storefront/account.html")

"""Core storefront pages. Thin: services do the work, templates only show it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, get

from core.catalog import service as catalog
from core.web import GUEST_CACHE, login_required, render
from storefront.commerce import product_card

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

NEW_ARRIVALS = 6
BRAND_PRODUCTS = 48


class StorefrontPages(Controller):
    path = "/"

    @get("/", opt={GUEST_CACHE: True})
    async def home(self, request: Request, session: AsyncSession) -> Any:
        brands = await catalog.list_brands(session, limit=24)
        products = await catalog.list_active_products(session, limit=NEW_ARRIVALS)
        return await render(request, "storefront/home.html", {"brands": brands, "cards": [product_card(v) for v in products]})

    @get("/brands/{slug:str}", opt={GUEST_CACHE: True})
    async def brand(self, request: Request, slug: str, session: AsyncSession) -> Any:
        brand = await catalog.get_brand_by_slug(session, slug)
        products = await catalog.list_active_products(session, brand_slug=brand.slug, limit=BRAND_PRODUCTS)
        return await render(request, "storefront/brand.html", {"brand": brand, "cards": [product_card(v) for v in products]})

    @get("/account", guards=[login_required])
    async def account(self, request: Request) -> Any:
        return await render(request, "storefront/account.html")

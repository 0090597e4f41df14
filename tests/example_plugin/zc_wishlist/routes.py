"""HTTP routes. The core mounts them under the plugin's prefix:
API handlers under /api/v1/wishlist, storefront pages under /wishlist."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, get, post
from sqlalchemy import select

from core.auth.permissions import Actor
from core.catalog import service as catalog
from core.events import record_event
from core.web import login_required, render
from zc_wishlist.models import WishlistItem

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

EVENT_ITEM_ADDED = "wishlist.item_added"


class ItemIn(msgspec.Struct, forbid_unknown_fields=True):
    brand_slug: str


class ItemOut(msgspec.Struct):
    id: int
    brand_slug: str
    created_at: datetime


def item_out(item: WishlistItem) -> ItemOut:
    return ItemOut(id=item.id, brand_slug=item.brand_slug, created_at=item.created_at)


async def items_of(session: AsyncSession, user_id: int) -> list[WishlistItem]:
    rows = await session.execute(select(WishlistItem).where(WishlistItem.user_id == user_id).order_by(WishlistItem.id))
    return list(rows.scalars())


# ---------------------------------------------------------------- API


@post("/items", guards=[login_required], status_code=201)
async def add_item(data: ItemIn, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> ItemOut:
    """Add a brand to the caller's wishlist."""
    assert actor is not None
    item = WishlistItem(user_id=actor.user_id, brand_slug=data.brand_slug)
    session.add(item)
    # Write first, then read: on SQLite a transaction that reads and only then writes
    # fails with SQLITE_BUSY_SNAPSHOT if a background job committed in between.
    await session.flush()
    await catalog.get_brand_by_slug(session, data.brand_slug)  # 404 for an unknown brand (nothing is committed)
    record_event(session, runtime, EVENT_ITEM_ADDED, {"item_id": item.id, "user_id": actor.user_id, "brand_slug": item.brand_slug})
    await session.commit()
    return item_out(item)


@get("/items", guards=[login_required])
async def list_items(session: AsyncSession, actor: Actor | None) -> list[ItemOut]:
    """The caller's wishlist, oldest first."""
    assert actor is not None
    return [item_out(i) for i in await items_of(session, actor.user_id)]


API_ROUTES = [add_item, list_items]


# ---------------------------------------------------------------- storefront


@get("/", guards=[login_required])
async def wishlist_page(request: Request, session: AsyncSession, actor: Actor | None) -> Any:
    assert actor is not None
    items = await items_of(session, actor.user_id)
    return await render(request, "wishlist/index.html", {"items": items})


STOREFRONT_ROUTES = [wishlist_page]

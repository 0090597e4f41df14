"""Entry point of the `wishlist` plugin (group `zhongcao.plugins`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import escape
from sqlalchemy.exc import IntegrityError

from core import hookimpl
from zc_wishlist import __version__  # noqa: F401 - read by `zhongcao plugins`

if TYPE_CHECKING:
    from core.events import Event
    from core.runtime import Runtime

HERE = Path(__file__).resolve().parent


@hookimpl
def register_models() -> list[type]:
    from zc_wishlist.models import WishlistItem, WishlistNotification

    return [WishlistItem, WishlistNotification]


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("wishlist", HERE / "migrations" / "versions")


@hookimpl
def register_event_types() -> dict[str, str]:
    return {"wishlist.item_added": "A user added a brand to their wishlist."}


@hookimpl
def register_routes(surface: str) -> list[Any]:
    from zc_wishlist.routes import API_ROUTES, STOREFRONT_ROUTES

    return {"api": API_ROUTES, "storefront": STOREFRONT_ROUTES}.get(surface, [])


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return {
        "zh-CN": {
            "My wishlist": "我的心愿单",
            "Your wishlist is empty.": "心愿单还是空的。",
            "Added on {date}": "添加于 {date}",
        }
    }


@hookimpl
def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    if slot == "account_menu":
        label = escape(context["_"]("My wishlist"))
        return f'<p><a href="/wishlist/" data-testid="wishlist-link">{label}</a></p>'
    return None


@hookimpl
async def handle_event(event: Event, runtime: Runtime) -> None:
    """Runs after the commit that recorded the event; at least once, so idempotent."""
    if event.type != "wishlist.item_added":
        return
    from zc_wishlist.models import WishlistNotification

    async with runtime.db.session() as session:
        session.add(
            WishlistNotification(event_id=event.id, item_id=event.payload["item_id"], user_id=event.payload["user_id"])
        )
        try:
            await session.commit()
        except IntegrityError:  # delivered before (unique event_id): nothing to do
            await session.rollback()

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import hookimpl
from core.web import static_assets
from storefront.translations import TRANSLATIONS

HERE = Path(__file__).resolve().parent


@hookimpl
def register_routes(surface: str) -> list[Any]:
    if surface != "storefront":
        return []
    from core.auth.pages import make_auth_controller
    from storefront.commerce import CommercePages
    from storefront.pages import StorefrontPages
    from storefront.search import SearchPage

    return [
        StorefrontPages,
        CommercePages,
        SearchPage,
        make_auth_controller(path="/", template_dir="storefront", landing="/"),
        static_assets("/static/storefront", HERE / "static", name="storefront_static"),
    ]


@hookimpl
async def page_context(template: str, context: dict[str, Any], runtime: Any) -> dict[str, Any] | None:
    """The top bar's count of unseen notices, on every storefront page of a signed-in
    shopper (one indexed count)."""
    actor = context.get("actor")
    if actor is None or context.get("surface") != "storefront":
        return None
    from core.notices import service as notices

    async with runtime.db.read_session() as session:
        return {"notice_count": await notices.unseen_count(session, actor.user_id)}


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return TRANSLATIONS

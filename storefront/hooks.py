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
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return TRANSLATIONS

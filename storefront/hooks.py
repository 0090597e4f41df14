from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.static_files import create_static_files_router

from core import hookimpl
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
        create_static_files_router(path="/static/storefront", directories=[HERE / "static"], include_in_schema=False, opt={"skip_session": True}),
    ]


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return TRANSLATIONS

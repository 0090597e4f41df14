from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar.static_files import create_static_files_router

from core import hookimpl
from creator_portal.translations import TRANSLATIONS

HERE = Path(__file__).resolve().parent


@hookimpl
def register_routes(surface: str) -> list[Any]:
    if surface != "creator_portal":
        return []
    from core.auth.pages import make_auth_controller
    from creator_portal.commerce import BrandOrderPages, BrandProductPages
    from creator_portal.pages import PortalPages

    return [
        PortalPages,
        BrandProductPages,
        BrandOrderPages,
        make_auth_controller(path="/", template_dir="portal", landing="/creator", signup_roles=("creator",)),
        create_static_files_router(path="/static", directories=[HERE / "static"], include_in_schema=False),
    ]


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return TRANSLATIONS

from __future__ import annotations

from pathlib import Path
from typing import Any

from core import hookimpl
from core.i18n import merge_catalogs
from core.web import static_assets
from creator_portal.translations import TRANSLATIONS

HERE = Path(__file__).resolve().parent


@hookimpl
def register_routes(surface: str) -> list[Any]:
    if surface != "creator_portal":
        return []
    from core.auth.pages import make_auth_controller
    from creator_portal.campaigns import BrandCampaignPages
    from creator_portal.commerce import BrandOrderPages, BrandProductPages
    from creator_portal.creator import CreatorPages
    from creator_portal.discovery import CreatorDiscoveryPages
    from creator_portal.money import BrandMoneyPages, CreatorEarningsPages
    from creator_portal.pages import PortalPages
    from creator_portal.stock import BrandStockPages
    from creator_portal.staff import StaffPayoutPages

    return [
        PortalPages,
        StaffPayoutPages,
        BrandProductPages,
        BrandOrderPages,
        BrandCampaignPages,
        CreatorPages,
        CreatorDiscoveryPages,
        BrandMoneyPages,
        CreatorEarningsPages,
        BrandStockPages,
        make_auth_controller(path="/", template_dir="portal", landing="/creator", signup_roles=("creator",)),
        static_assets("/static", HERE / "static", name="portal_static"),
    ]


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    from creator_portal.campaigns import TRANSLATIONS as CAMPAIGN_TRANSLATIONS
    from creator_portal.creator import TRANSLATIONS as CREATOR_TRANSLATIONS
    from creator_portal.discovery import TRANSLATIONS as DISCOVERY_TRANSLATIONS
    from creator_portal.money import TRANSLATIONS as MONEY_TRANSLATIONS
    from creator_portal.stock import TRANSLATIONS as STOCK_TRANSLATIONS
    from creator_portal.staff import TRANSLATIONS as STAFF_TRANSLATIONS

    return merge_catalogs(TRANSLATIONS, CAMPAIGN_TRANSLATIONS, CREATOR_TRANSLATIONS, DISCOVERY_TRANSLATIONS, MONEY_TRANSLATIONS, STAFF_TRANSLATIONS, STOCK_TRANSLATIONS)

"""The core's own hook implementations, registered first under the name `core`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import hookimpl
from core.defaults.demo import seed_core_demo
from core.defaults.translations import CORE_TRANSLATIONS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


@hookimpl
def register_models() -> list[type]:
    from core.auth.models import User, UserRole
    from core.catalog.models import Brand, BrandMember
    from core.events import EventReceipt, OutboxEvent

    return [User, UserRole, Brand, BrandMember, OutboxEvent, EventReceipt]


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("core", ROOT.parent / "migrations" / "versions")


@hookimpl
def register_routes(surface: str) -> list[Any]:
    if surface != "api":
        return []
    from core.auth.api import AuthController, me
    from core.catalog.api import BrandController

    return [AuthController, me, BrandController]


@hookimpl
def register_templates() -> list[Path]:
    return [ROOT / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return CORE_TRANSLATIONS


@hookimpl(tryfirst=True)
async def seed_demo(session: AsyncSession, runtime: Runtime) -> None:
    await seed_core_demo(session, runtime)

"""The core's own hook implementations, registered first under the name `core`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import hookimpl
from core.jobs import Job
from core.defaults.demo import seed_core_demo
from core.defaults.translations import CORE_TRANSLATIONS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.events import Event
    from core.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


@hookimpl
def register_models() -> list[type]:
    from core.auth.models import User, UserRole
    from core.catalog import models as catalog
    from core.events import EventReceipt, OutboxEvent
    from core.inventory import models as inventory
    from core.orders import models as orders
    from core.payments import models as payments

    return [
        User, UserRole, OutboxEvent, EventReceipt,
        catalog.Brand, catalog.BrandMember, catalog.Category, catalog.Product, catalog.Variant, catalog.VariantPrice,
        catalog.ProductMedia, catalog.ShippingRate, catalog.TaxRate,
        inventory.StockLocation, inventory.StockLevel, inventory.StockPool, inventory.StockHold,
        orders.Cart, orders.CartLine, orders.Checkout, orders.Order, orders.OrderLine, orders.OrderTransition, orders.Refund,
        payments.Payment, payments.ProviderEvent,
    ]


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("core", ROOT.parent / "migrations" / "versions")


@hookimpl
def register_routes(surface: str) -> list[Any]:
    if surface != "api":
        return []
    from core.auth.api import AuthController, me
    from core.catalog.api import CATALOG_CONTROLLERS
    from core.orders.api import ORDER_CONTROLLERS
    from core.payments.api import PAYMENT_CONTROLLERS

    return [AuthController, me, *CATALOG_CONTROLLERS, *ORDER_CONTROLLERS, *PAYMENT_CONTROLLERS]


@hookimpl
def register_event_types() -> dict[str, str]:
    from core.orders.service import ORDER_EVENT_TYPES

    return {
        "user.signed_up": "A new account was created.",
        "brand.member_added": "A user joined a brand's staff.",
        **ORDER_EVENT_TYPES,
        "order.refund_requested": "A shopper asked for a refund; the brand decides.",
        "payment.late_success": "Money was taken for a checkout that had already closed; it is refunded.",
    }


@hookimpl
def register_jobs() -> list[Job]:
    from core.orders.checkout import expire_checkouts

    async def expire(runtime: Runtime) -> None:
        await expire_checkouts(runtime)

    return [Job(name="core.expire_checkouts", fn=expire, queue="default", max_retries=3)]


@hookimpl
def register_payment_providers(runtime: Runtime) -> list[Any]:
    from core.payments.providers import SandboxProvider

    providers: list[Any] = [SandboxProvider()]
    if runtime.settings.stripe_secret_key:
        from core.payments.stripe_provider import StripeProvider

        providers.append(StripeProvider(runtime.settings))
    return providers


@hookimpl
async def handle_event(event: Event, runtime: Runtime) -> None:
    if event.type == "payment.late_success":
        from core.payments.service import refund_late_payment

        await refund_late_payment(runtime, event.payload["payment_id"])


@hookimpl
def register_templates() -> list[Path]:
    return [ROOT / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return CORE_TRANSLATIONS


@hookimpl(tryfirst=True)
async def seed_demo(session: AsyncSession, runtime: Runtime) -> None:
    await seed_core_demo(session, runtime)

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

    from core.campaigns.commissions import CommissionContext, CommissionTerms
    from core.events import Event
    from core.pricing import PricingCart
    from core.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


@hookimpl
def register_models() -> list[type]:
    from core.auth.models import User, UserRole
    from core.catalog import models as catalog
    from core.events import EventReceipt, OutboxEvent
    from core.inventory import models as inventory
    from core.campaigns import models as campaigns
    from core.ledger import models as ledger
    from core.notices.models import Notice
    from core.orders import models as orders
    from core.payments import models as payments
    from core.search import models as search

    return [
        User, UserRole, OutboxEvent, EventReceipt,
        catalog.Brand, catalog.BrandMember, catalog.Category, catalog.Product, catalog.Variant, catalog.VariantPrice,
        catalog.ProductMedia, catalog.ShippingRate, catalog.TaxRate,
        inventory.StockLocation, inventory.StockLevel, inventory.StockPool, inventory.StockHold,
        orders.Cart, orders.CartLine, orders.Checkout, orders.Order, orders.OrderLine, orders.OrderTransition, orders.Refund,
        payments.Payment, payments.ProviderEvent,
        ledger.LedgerAccount, ledger.LedgerTransaction, ledger.LedgerEntry,
        campaigns.CreatorProfile, campaigns.Campaign, campaigns.CampaignProduct, campaigns.CommissionRate,
        campaigns.Collaboration, campaigns.CollaborationTransition, campaigns.TrackedLink, campaigns.Click, campaigns.DiscountCode,
        campaigns.Attribution, campaigns.Commission, campaigns.PayoutRun, campaigns.Payout, campaigns.CreatorShortlist,
        search.SearchAlias, search.SearchQueueItem,
        Notice,
    ]


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("core", ROOT.parent / "migrations" / "versions")


@hookimpl
def register_routes(surface: str) -> list[Any]:
    if surface == "storefront":
        from core.campaigns.api_attribution import STOREFRONT_ROUTES

        return list(STOREFRONT_ROUTES)  # /r/{code}: tracked links (the storefront imports no plugin)
    if surface != "api":
        return []
    from core.campaigns.api_attribution import ATTRIBUTION_CONTROLLERS
    from core.auth.api import AuthController, me
    from core.campaigns.api import CAMPAIGN_CONTROLLERS
    from core.campaigns.api_campaigns import CAMPAIGN_API
    from core.campaigns.api_payouts import PAYOUT_CONTROLLERS
    from core.catalog.api import CATALOG_CONTROLLERS
    from core.notices.api import NOTICE_CONTROLLERS
    from core.orders.api import ORDER_CONTROLLERS
    from core.payments.api import PAYMENT_CONTROLLERS
    from core.search.api import SEARCH_CONTROLLERS

    return [
        AuthController, me, *CATALOG_CONTROLLERS, *ORDER_CONTROLLERS, *PAYMENT_CONTROLLERS, *CAMPAIGN_CONTROLLERS, *CAMPAIGN_API, *PAYOUT_CONTROLLERS,
        *ATTRIBUTION_CONTROLLERS, *SEARCH_CONTROLLERS, *NOTICE_CONTROLLERS,
    ]


@hookimpl
def register_event_types() -> dict[str, str]:
    from core.campaigns.campaigns import CAMPAIGN_EVENT_TYPES
    from core.campaigns.collaborations import COLLABORATION_EVENT_TYPES
    from core.campaigns.payouts import PAYOUT_EVENT_TYPES
    from core.orders.service import ORDER_EVENT_TYPES

    return {
        "user.signed_up": "A new account was created.",
        "user.renamed": "Accounts changed the name others see (display name, or a plugin's handle): `ids` (user ids); copies of the name, e.g. in search documents, follow.",
        "creator.changed": "Creator profiles changed (card, rates, audience figures): `ids` (user ids).",
        "product.changed": "Products changed what shoppers see of them (text, status, variants, prices, media, stock received, a location selling out or back in stock): `ids`.",
        "brand.member_added": "A user joined a brand's staff.",
        **ORDER_EVENT_TYPES,
        "order.refund_requested": "A shopper asked for a refund; the brand decides.",
        "payment.authorized": "A payment was authorized but not captured (manual capture); its checkout and stock stay held until capture, cancellation or `authorization_hold_hours`.",
        "payment.late_success": "Money was taken for a checkout that had already closed; it is refunded.",
        **CAMPAIGN_EVENT_TYPES,
        **COLLABORATION_EVENT_TYPES,
        **PAYOUT_EVENT_TYPES,
    }


@hookimpl
def register_jobs() -> list[Job]:
    from core.orders.checkout import expire_checkouts

    async def expire(runtime: Runtime) -> None:
        await expire_checkouts(runtime)

    async def collaboration_deadlines(runtime: Runtime) -> None:
        from core.campaigns.collaborations import run_deadlines

        await run_deadlines(runtime)

    async def approve_commissions(runtime: Runtime) -> None:
        from core.campaigns.commissions import approve_due

        await approve_due(runtime)

    async def drain_search(runtime: Runtime) -> None:
        await runtime.search.drain()

    async def planner_statistics(runtime: Runtime) -> None:
        from core.db import refresh_planner_statistics

        await refresh_planner_statistics(runtime.db)

    return [
        Job(name="search.drain", fn=drain_search, queue="default", max_retries=5, periodic=True, every_seconds=60.0),
        Job(name="core.planner_statistics", fn=planner_statistics, queue="default", max_retries=1, periodic=True, every_seconds=300.0),
        Job(name="core.expire_checkouts", fn=expire, queue="default", max_retries=3, periodic=True),
        Job(name="campaigns.approve_commissions", fn=approve_commissions, queue="default", max_retries=3, periodic=True),
        Job(name="campaigns.collaboration_deadlines", fn=collaboration_deadlines, queue="default", max_retries=3, periodic=True),
    ]


@hookimpl
def register_payment_providers(runtime: Runtime) -> list[Any]:
    from core.payments.providers import SandboxProvider

    providers: list[Any] = [SandboxProvider()]
    if runtime.settings.stripe_secret_key:
        from core.payments.stripe_provider import StripeProvider

        providers.append(StripeProvider(runtime.settings))
    return providers


@hookimpl
def register_payout_providers(runtime: Runtime) -> list[Any]:
    from core.campaigns.payouts import BankPayoutProvider, SandboxPayoutProvider

    providers: list[Any] = [SandboxPayoutProvider(), BankPayoutProvider()]
    if runtime.settings.stripe_secret_key:
        from core.campaigns.payouts import StripePayoutProvider

        providers.append(StripePayoutProvider(runtime.settings))
    return providers


@hookimpl
def register_search_indexes() -> list[Any]:
    from core.campaigns.search import CREATORS
    from core.catalog.search import PRODUCTS

    return [PRODUCTS, CREATORS]


@hookimpl
def search_document(index: str, obj: Any, runtime: Runtime) -> dict[str, Any] | None:
    if index == "products":
        from core.catalog.search import product_document

        return product_document(obj)
    if index == "creators":
        from core.campaigns.search import creator_document

        return creator_document(obj)
    return None


@hookimpl
async def handle_event(event: Event, runtime: Runtime) -> None:
    await runtime.search.on_event(event)  # documents the event names: queued for the search.drain job
    if event.type == "payment.late_success":
        from core.payments.service import refund_late_payment

        await refund_late_payment(runtime, event.payload["payment_id"])
    elif event.type == "order.paid":
        from core.campaigns.attribution import attribute_order

        await attribute_order(runtime, event.payload["order_id"])  # codes, links, plugins -> commissions
    elif event.type == "order.fulfilled":
        from core.campaigns.commissions import start_holding

        await start_holding(runtime, event.payload["order_id"])  # the holding period starts at delivery
    elif event.type == "order.refunded":
        from core.campaigns.commissions import reverse_refunded

        await reverse_refunded(runtime, event.payload["order_id"])  # pro rata clawback, once per refund


@hookimpl
def price_adjustments(cart: PricingCart, runtime: Runtime) -> Any:
    """Creator codes on the cart: their discount on their campaign's products."""
    from core.campaigns.attribution import code_adjustments

    return code_adjustments(cart, runtime)


@hookimpl(trylast=True)
def commission_policy(context: CommissionContext) -> CommissionTerms | None:
    """The campaign's own terms, in force at payment: what applies unless a plugin decides."""
    return context.terms


@hookimpl
def register_templates() -> list[Path]:
    return [ROOT / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return CORE_TRANSLATIONS


@hookimpl(tryfirst=True)
async def seed_demo(session: AsyncSession, runtime: Runtime) -> None:
    await seed_core_demo(session, runtime)

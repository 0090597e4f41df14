"""Entry point of the `group_buy` plugin (group `zhongcao.plugins`).

Everything goes through the core's public hooks and services: the team price is a
`price_adjustments` discount on the plugin's own carts, seats are core checkouts with
manual capture, events drive captures and voids, `attribute_sale` pays a creator leader.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import hookimpl
from core.web import PageModules
from plugins.group_buy import __version__  # noqa: F401 - read by `zhongcao plugins`

if TYPE_CHECKING:
    from core.campaigns.attribution import SaleCandidate, SaleContext
    from core.events import Event
    from core.jobs import Job
    from core.pricing import Adjustment, PricingCart
    from core.runtime import Runtime

HERE = Path(__file__).resolve().parent


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("group_buy", HERE / "migrations" / "versions")


@hookimpl
def register_models() -> tuple[type, ...]:
    from plugins.group_buy.models import MODELS

    return MODELS


# ---------------------------------------------------------------- routes, pages and slots
# api.py: the JSON API (/api/v1/group-buy); pages.py: the shopper's pages (/group-buy) and
# the storefront's slots; portal.py: brand staff's offers (/creator/group-buy) and the
# portal's slots. Each page module has TRANSLATIONS, page_context and render_slot.


def _page_modules() -> tuple[Any, ...]:
    from plugins.group_buy import pages, portal

    return (pages, portal)


PAGES = PageModules(_page_modules)


@hookimpl
def register_routes(surface: str) -> list[Any]:
    if surface == "api":
        from plugins.group_buy.api import API_CONTROLLERS

        return list(API_CONTROLLERS)
    if surface == "storefront":
        from core.web import static_assets
        from plugins.group_buy.pages import STOREFRONT_PAGES

        return [*STOREFRONT_PAGES, static_assets("/static", HERE / "static", name="group_buy_static")]
    if surface == "creator_portal":
        from plugins.group_buy.portal import PORTAL_PAGES

        return list(PORTAL_PAGES)
    return []


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    return PAGES.translations()


@hookimpl
async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    return await PAGES.page_context(template, context, runtime)


@hookimpl
def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    return PAGES.render_slot(slot, context)


# ---------------------------------------------------------------- demo and feed (demo.py, feed.py)


@hookimpl
async def seed_demo(session: Any, runtime: Runtime) -> None:
    from plugins.group_buy.demo import seed_demo as seed

    await seed(session, runtime)


@hookimpl(optionalhook=True)
async def feed_candidates(viewer: Any, cursor: Any, limit: int, runtime: Runtime, session: Any) -> list[Any]:
    """Teams about to fill, as explore-feed cards (the feed plugin's hook), read with the feed's session."""
    from plugins.group_buy.feed import feed_candidates as candidates

    return await candidates(viewer, cursor, limit, runtime, session)


# ---------------------------------------------------------------- events, jobs, money


@hookimpl
def register_event_types() -> dict[str, str]:
    from plugins.group_buy.service import EVENT_TYPES

    return EVENT_TYPES


@hookimpl
def register_jobs() -> list[Job]:
    from core.jobs import LATER_QUEUE, Job
    from plugins.group_buy import service

    async def expire(runtime: Runtime, team_id: int) -> None:
        await service.expire_team(runtime, team_id)

    async def sweep(runtime: Runtime) -> None:
        await service.sweep(runtime)

    return [
        Job(name=service.EXPIRE_JOB, fn=expire, queue=LATER_QUEUE, max_retries=5),
        Job(name=service.SWEEP_JOB, fn=sweep, queue="default", max_retries=1, periodic=True, every_seconds=60.0),
    ]


@hookimpl
async def handle_event(event: Event, runtime: Runtime) -> None:
    from plugins.group_buy import service

    payload = event.payload
    if event.type == "payment.authorized":
        await service.on_authorized(runtime, int(payload["checkout_id"]))
    elif event.type == "order.cancelled":
        await service.on_checkout_closed(runtime, int(payload["order_id"]))
    elif event.type == "group_buy.team_succeeded":
        await service.capture_team(runtime, int(payload["team_id"]))
    elif event.type == "group_buy.team_failed":
        await service.release_team(runtime, int(payload["team_id"]))


async def _seat(runtime: Runtime, cart: PricingCart) -> Any:
    from plugins.group_buy.models import CART_KIND
    from plugins.group_buy.service import seat_of_cart

    if cart.cart_kind != CART_KIND or cart.cart_id is None:
        return None
    async with runtime.db.read_session() as session:  # the seat was committed before its checkout began
        return await seat_of_cart(session, cart.cart_id)


@hookimpl
async def price_adjustments(cart: PricingCart, runtime: Runtime) -> list[Adjustment]:
    """A team seat's cart costs the team price (the offer's, in force when the seat was
    taken: an offer changed later does not reprice a checkout)."""
    from core.pricing import Adjustment
    from plugins.group_buy.service import ADJUSTMENT_CODE, ADJUSTMENT_PRIORITY

    found = await _seat(runtime, cart)
    if found is None:
        return []
    _member, offer = found
    out = []
    for line in cart.lines:
        if line.variant_id == offer.variant_id and cart.currency == offer.currency and line.unit_price_minor > offer.team_price_minor:
            out.append(Adjustment(
                code=ADJUSTMENT_CODE, label="拼团价 Team price", amount_minor=-(line.unit_price_minor - offer.team_price_minor) * line.quantity,
                priority=ADJUSTMENT_PRIORITY, variant_id=line.variant_id,
            ))  # fmt: skip
    return out


@hookimpl
async def validate_checkout(cart: PricingCart, runtime: Runtime) -> list[str]:
    """A group-buy cart is one seat: one unit of the offer's variant, nothing else."""
    from plugins.group_buy.models import CART_KIND

    if cart.cart_kind != CART_KIND:
        return []
    found = await _seat(runtime, cart)
    if found is None:
        return ["this team purchase has no seat"]
    _member, offer = found
    if [(ln.variant_id, ln.quantity) for ln in cart.lines] != [(offer.variant_id, 1)]:
        return ["a team seat is one unit of the team's product"]
    return []


@hookimpl
async def attribute_sale(order: SaleContext, runtime: Runtime) -> list[SaleCandidate]:
    """A team's orders belong to its leader when she is a creator with a campaign for the
    product: the core keeps the candidate only for an eligible collaboration."""
    from sqlalchemy import select

    from core.campaigns.attribution import SaleCandidate
    from plugins.group_buy.models import GroupOffer, Team, TeamMember

    async with runtime.db.read_session() as session:
        row = (
            await session.execute(
                select(Team.id, Team.leader_user_id, Team.created_at, GroupOffer.variant_id)
                .join(TeamMember, TeamMember.team_id == Team.id)
                .join(GroupOffer, GroupOffer.id == Team.offer_id)
                .where(TeamMember.checkout_id == order.checkout_id)
            )
        ).first()
    if row is None:
        return []
    touched: datetime = row.created_at
    return [SaleCandidate(creator_user_id=row.leader_user_id, source="group_buy", touched_at=touched, variant_ids=(row.variant_id,), ref=str(row.id), priority=50)]

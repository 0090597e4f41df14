"""Entry point of the `live` plugin (group `zhongcao.plugins`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import hookimpl
from plugins.live import __version__  # noqa: F401 - read by `zhongcao plugins`
from plugins.live import specs as HOOKSPECS  # noqa: F401, N812 - register_stream_providers, published for other plugins

if TYPE_CHECKING:
    from core.campaigns.attribution import SaleCandidate, SaleContext
    from core.events import Event
    from core.pricing import Adjustment, PricingCart
    from core.runtime import Runtime

HERE = Path(__file__).resolve().parent


@hookimpl
def register_migrations() -> tuple[str, Path]:
    return ("live", HERE / "migrations" / "versions")


@hookimpl
def register_models() -> tuple[type, ...]:
    from plugins.live.models import MODELS

    return MODELS


@hookimpl
def register_event_types() -> dict[str, str]:
    from plugins.live.service import EVENT_TYPES

    return EVENT_TYPES


@hookimpl
def register_jobs() -> list[Any]:
    from core.jobs import LATER_QUEUE, Job
    from plugins.live import service

    async def end_deal(runtime: Runtime, deal_id: int) -> None:
        await service.end_deal(runtime, deal_id)

    async def start_deal(runtime: Runtime, deal_id: int) -> None:
        await service.start_deal(runtime, deal_id)

    async def sweep(runtime: Runtime) -> None:
        await service.sweep(runtime)

    return [
        Job(name=service.START_DEAL_JOB, fn=start_deal, queue=LATER_QUEUE, max_retries=5),
        Job(name=service.END_DEAL_JOB, fn=end_deal, queue=LATER_QUEUE, max_retries=5),
        Job(name=service.SWEEP_JOB, fn=sweep, queue="default", max_retries=1, periodic=True, every_seconds=30.0),
    ]


@hookimpl
async def shutdown(app: Any, runtime: Runtime) -> None:
    """The rooms' tickers stop and the room's Redis client closes with the app."""
    hub = getattr(runtime, "_live_hub", None)
    if hub is not None:
        await hub.close()


@hookimpl
async def handle_event(event: Event, runtime: Runtime) -> None:
    """A room that went live tells its followers. A deal purchase paid counts for good;
    one whose checkout closed unpaid stops counting against the buyer's limit (its units
    went back to the deal's pool)."""
    from plugins.live import service

    if event.type == "live.room_live":
        await service.tell_followers(runtime, int(event.payload["room_id"]))
    elif event.type == "order.paid":
        await service.on_paid(runtime, int(event.payload["order_id"]))
    elif event.type == "order.cancelled":
        await service.on_checkout_closed(runtime, int(event.payload["order_id"]))


async def _deal_of(runtime: Runtime, cart: PricingCart) -> Any:
    from plugins.live.models import CART_KIND
    from plugins.live.service import deal_of_cart

    if cart.cart_kind != CART_KIND or cart.cart_id is None:
        return None
    async with runtime.db.read_session() as session:  # the claim was committed before its checkout began
        return await deal_of_cart(session, cart.cart_id)


@hookimpl
async def price_adjustments(cart: PricingCart, runtime: Runtime) -> list[Adjustment]:
    """A deal purchase costs the deal price, only while the deal runs."""
    from core.db import utcnow
    from core.pricing import Adjustment
    from plugins.live.service import ADJUSTMENT_CODE, ADJUSTMENT_PRIORITY, DealState, deal_state

    found = await _deal_of(runtime, cart)
    if found is None:
        return []
    _claim, deal = found
    if deal_state(deal, utcnow()) != DealState.RUNNING:
        return []
    return [
        Adjustment(
            code=ADJUSTMENT_CODE, label="直播秒杀 Flash deal", amount_minor=-(line.unit_price_minor - deal.deal_price_minor) * line.quantity,
            priority=ADJUSTMENT_PRIORITY, variant_id=line.variant_id,
        )
        for line in cart.lines
        if line.variant_id == deal.variant_id and cart.currency == deal.currency and line.unit_price_minor > deal.deal_price_minor
    ]


@hookimpl
async def validate_checkout(cart: PricingCart, runtime: Runtime) -> list[str]:
    """A deal purchase is its claim's units of the deal's variant, while the deal runs: a
    deal that ended is refused however old the cart (its price would be gone anyway)."""
    from core.db import utcnow
    from plugins.live.models import CART_KIND
    from plugins.live.service import DealState, deal_state

    if cart.cart_kind != CART_KIND:
        return []
    found = await _deal_of(runtime, cart)
    if found is None:
        return ["this flash-deal purchase has no deal"]
    claim, deal = found
    if deal_state(deal, utcnow()) != DealState.RUNNING:
        return ["this flash deal has ended"]
    if [(ln.variant_id, ln.quantity) for ln in cart.lines] != [(deal.variant_id, claim.quantity)]:
        return ["a flash-deal purchase is the deal's product only"]
    return []


@hookimpl
async def attribute_sale(order: SaleContext, runtime: Runtime) -> list[SaleCandidate]:
    """A purchase made in a room belongs to its host: the core keeps the candidate only
    when she is a creator with an eligible collaboration for the product."""
    from sqlalchemy import select

    from core.campaigns.attribution import SaleCandidate
    from plugins.live.models import DealClaim, FlashDeal, LiveRoom

    async with runtime.db.read_session() as session:
        row = (
            await session.execute(
                select(LiveRoom.id, LiveRoom.host_user_id, DealClaim.created_at, FlashDeal.variant_id)
                .join(FlashDeal, FlashDeal.id == DealClaim.deal_id)
                .join(LiveRoom, LiveRoom.id == DealClaim.room_id)
                .where(DealClaim.checkout_id == order.checkout_id)
            )
        ).first()
    if row is None:
        return []
    return [SaleCandidate(creator_user_id=row.host_user_id, source="live", touched_at=row.created_at, variant_ids=(row.variant_id,), ref=str(row.id), priority=50)]


@hookimpl
def register_routes(surface: str) -> list[Any]:
    if surface == "api":
        from plugins.live.api import API_CONTROLLERS

        return list(API_CONTROLLERS)
    if surface == "storefront":
        from core.web import static_assets
        from plugins.live.pages import STOREFRONT_PAGES
        from plugins.live.room import room_socket

        return [room_socket, *STOREFRONT_PAGES, static_assets("/static", HERE / "static", name="live_static")]
    if surface == "creator_portal":
        from plugins.live.portal import PORTAL_PAGES

        return list(PORTAL_PAGES)
    return []


@hookimpl
def register_templates() -> list[Path]:
    return [HERE / "templates"]


@hookimpl
def register_translations() -> dict[str, dict[str, str]]:
    from core.i18n import merge_catalogs
    from plugins.live import pages, portal

    return merge_catalogs(pages.TRANSLATIONS, portal.TRANSLATIONS)


@hookimpl
def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    if slot == "profile_badges" and context.get("live_room_on_air"):
        from markupsafe import Markup

        return Markup(
            '<a class="live-badge live-badge-live" href="/live/{}" data-testid="profile-live-badge" '
            'style="background:#e6002d;color:#fff;padding:.1rem .45rem;border-radius:4px;font-weight:700;font-size:.75rem;text-decoration:none">{}</a>'
        ).format(context["live_room_on_air"], context["_"]("LIVE"))
    from plugins.live.portal import render_slot as portal_slot

    return portal_slot(slot, context)


@hookimpl
async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    """A profile page (the notes plugin's): whether its person is on air now (one query)."""
    if template != "notes/people_profile.html" or context.get("owner") is None:
        return None
    from plugins.live.feed import live_room_of_host

    async with runtime.db.read_session() as session:
        return {"live_room_on_air": await live_room_of_host(session, context["owner"]["user_id"])}


@hookimpl(optionalhook=True)
async def feed_candidates(viewer: Any, cursor: Any, limit: int, runtime: Runtime, session: Any) -> list[Any]:
    """Rooms on air, as explore-feed cards (the feed plugin's hook), read with the feed's session."""
    from plugins.live.feed import feed_candidates as candidates

    return await candidates(viewer, cursor, limit, runtime, session)


@hookimpl
async def seed_demo(session: Any, runtime: Runtime) -> None:
    from plugins.live.demo import seed_demo as seed

    await seed(session, runtime)


@hookimpl
def register_stream_providers(runtime: Runtime) -> list[Any]:
    """The plugin's own: self-hosted nginx with the RTMP module (docs/live.md)."""
    from plugins.live.streams import NginxRtmp

    return [NginxRtmp()]

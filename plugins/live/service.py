"""Live rooms and their flash deals.

Who may do what:
- a brand's staff make rooms for their brand (hosted by themselves or by a creator,
  named by handle), add co-hosts and moderators, and define flash deals;
- the host, a co-host or the brand's staff run the room: go live, pin products (only
  the room's brand's, at most three at once), launch deals, end the room;
- anyone reads a room that is not only scheduled in private (every room is public once
  made: a schedule is an announcement).
A room or deal another caller cannot run is "not found", like a missing one.

A flash deal sells from a stock pool of its own, carved from general stock when the deal
is made (so a deal can never promise units the brand does not have), through the core's
checkout: a purchase is a one-off cart (kind "live") of the deal's variant, checked out
with `pools={variant: deal pool}`, priced at the deal price by `price_adjustments` while
the deal runs. Units are taken by the core's conditional UPDATE of the pool, so a deal
never sells more than its quantity; a buyer refused there has no checkout, so she is
never charged. When a deal ends its unsold units go back to general stock (the `end`
job at its end time, and a sweep that also returns units of checkouts that lapsed later).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import secrets
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update

from core import realtime
from core.auth.models import User
from core.auth.permissions import Actor, can_act_for_brand, require_actor
from core.campaigns.campaigns import brand_for
from core.campaigns.models import CreatorProfile
from core.catalog.models import Brand, Product, ProductStatus, Variant, VariantPrice
from core.db import utcnow, valid_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event
from core.inventory import service as inventory
from core.inventory.service import OutOfStock
from core.inventory.models import StockPool
from core.notices import service as notices
from core.orders import cart as carts
from core.orders import checkout as checkouts
from core.orders.models import Checkout, CheckoutStatus
from plugins.live.models import (
    CART_KIND,
    COUNTDOWN_RANGE,
    DURATION_RANGE,
    MAX_PINS,
    DealClaim,
    FlashDeal,
    LiveRoom,
    RoomBan,
    RoomEvent,
    RoomMember,
    RoomRole,
    RoomStatus,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

log = logging.getLogger("zhongcao.live")

END_DEAL_JOB = "live.end_deal"
START_DEAL_JOB = "live.start_deal"
SWEEP_JOB = "live.sweep"
CHECKOUT_MINUTES = 10  # a deal purchase's unpaid checkout: its units go back to the deal when it lapses
ADJUSTMENT_CODE = "live_flash_deal"
ADJUSTMENT_PRIORITY = 5  # the deal price is the price: before codes and other discounts
MAX_TITLE = 120
MAX_PER_CUSTOMER = 10
POOL_PREFIX = "live-deal-"

EVENT_TYPES = {
    "live.room_live": "A room went live: followers of its host and of its brand get a notice (RoomLive; payload: room_id, host_user_id, brand_id, title).",
    "live.room_ended": "A room ended: its deals end and the replay is ready (RoomEnded; payload: room_id).",
    "live.deal_launched": "A flash deal's countdown started (DealLaunched; payload: deal_id, room_id, starts_at, ends_at).",
    "live.deal_ended": "A flash deal ended and its unsold units went back to general stock (DealEnded; payload: deal_id, room_id, sold, returned).",
}


class DealState:
    READY = "ready"  # made, not launched
    COUNTDOWN = "countdown"
    RUNNING = "running"
    ENDED = "ended"


def deal_state(deal: FlashDeal, now: datetime) -> str:
    if deal.ended_at is not None or (deal.ends_at is not None and deal.ends_at <= now):
        return DealState.ENDED
    if deal.starts_at is None:
        return DealState.READY
    return DealState.RUNNING if deal.starts_at <= now else DealState.COUNTDOWN


def offset_ms(room: LiveRoom, at: datetime) -> int:
    """Where `at` falls in the room's stream (0 before it went live)."""
    if room.started_at is None:
        return 0
    return max(0, int((at - room.started_at).total_seconds() * 1000))


def _whole(value: Any, what: str, lowest: int, highest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise ValidationFailed(f"{what} must be a whole number from {lowest} to {highest}", extra={"fields": {what.replace(" ", "_"): "out of range"}})
    return value


def _title(raw: Any) -> str:
    title = raw.strip() if isinstance(raw, str) else ""
    if not title or len(title) > MAX_TITLE or not title.isprintable():
        raise ValidationFailed(f"a room needs a title of at most {MAX_TITLE} characters", extra={"fields": {"title": "invalid"}})
    return title


# ---------------------------------------------------------------- what the room hears (plugins.live.room)


def room_channel(runtime: Runtime, room_id: int) -> str:
    return realtime.channel_name(runtime, "live", room_id)


async def announce(runtime: Runtime, room_id: int, message: dict[str, Any]) -> None:
    """Tell everyone in the room, on every web process (after the commit it reports)."""
    await realtime.publish(runtime, room_channel(runtime, room_id), message)


def deal_message(deal: FlashDeal, left: int, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    return {
        "id": deal.id, "product_id": deal.product_id, "variant_id": deal.variant_id, "currency": deal.currency, "deal_price_minor": deal.deal_price_minor,
        "quantity": deal.quantity, "left": left, "per_customer_limit": deal.per_customer_limit, "state": deal_state(deal, now),
        "starts_at": deal.starts_at.isoformat() if deal.starts_at else None, "ends_at": deal.ends_at.isoformat() if deal.ends_at else None,
    }  # fmt: skip


async def announce_deal(runtime: Runtime, deal_id: int) -> None:
    async with runtime.db.read_session() as session:
        deal = await session.get(FlashDeal, deal_id)
        if deal is None:
            return
        message = {"type": "deal", "deal": deal_message(deal, await units_left(session, deal))}
    await announce(runtime, deal.room_id, message)


async def room_state(session: AsyncSession, room: LiveRoom) -> dict[str, Any]:
    """The room as a new viewer first sees it."""
    now = utcnow()
    deals = [deal_message(d, await units_left(session, d), now) for d in await deals_of_room(session, room.id)]
    return {
        "room": {"id": room.id, "title": room.title, "status": room.status, "playback_url": room.playback_url, "chat_interval_seconds": room.chat_interval_seconds, "likes": room.likes},
        "pinned": [int(p) for p in room.pinned or []], "deals": deals,
    }


async def add_likes(runtime: Runtime, room_id: int, n: int) -> int:
    """Add a batch of likes (one write however many taps); returns the room's total."""
    async with runtime.db.session() as session:
        total = (
            await session.execute(update(LiveRoom).where(LiveRoom.id == room_id).values(likes=LiveRoom.likes + n).returning(LiveRoom.likes))
        ).scalar_one_or_none()
        await session.commit()
    return int(total or 0)


async def set_chat_interval(runtime: Runtime, room_id: int, seconds: int) -> None:
    async with runtime.db.session() as session:
        await session.execute(update(LiveRoom).where(LiveRoom.id == room_id).values(chat_interval_seconds=seconds, updated_at=utcnow()))
        await session.commit()


async def restrict(runtime: Runtime, room_id: int, user_id: int, *, until: datetime | None, by_user_id: int) -> str | None:
    """Mute a viewer until a time, or ban her (`until` None). Those who run or moderate
    the room cannot be; returns why, or None when done. Again: the newer restriction wins."""
    async with runtime.db.session() as session:
        room = await session.get(LiveRoom, room_id)
        if room is None:
            return "no such room"
        staff = await session.get(RoomMember, (room_id, user_id))
        target = await session.get(User, user_id)
        if target is None:
            return "no such viewer"
        from core.auth.service import load_actor

        target_actor = await load_actor(session, user_id)
        if user_id == room.host_user_id or staff is not None or (target_actor is not None and can_act_for_brand(target_actor, room.brand_id)):
            return "the room's hosts and moderators cannot be muted or banned"
        ban = await session.get(RoomBan, (room_id, user_id))
        if ban is None:
            session.add(RoomBan(room_id=room_id, user_id=user_id, until=until, by_user_id=by_user_id, created_at=utcnow()))
        else:
            ban.until, ban.by_user_id, ban.created_at = until, by_user_id, utcnow()
        await session.commit()
    return None


# ---------------------------------------------------------------- rooms


async def create_room(
    session: AsyncSession, runtime: Runtime, actor: Actor | None, brand_slug: str, *, title: Any, scheduled_at: datetime | None = None,
    host_handle: str | None = None, cover_url: Any = "",
) -> LiveRoom:
    """A brand's staff schedule a room, hosted by themselves or by a creator (her handle)."""
    brand = await brand_for(session, actor, brand_slug)
    actor = require_actor(actor)
    host = actor.user_id
    if host_handle:
        profile = (await session.execute(select(CreatorProfile).where(CreatorProfile.handle == str(host_handle).strip().lstrip("@").lower()))).scalar_one_or_none()
        if profile is None:
            raise ValidationFailed("no creator has that handle", extra={"fields": {"host": "unknown"}})
        host = profile.user_id
    now = utcnow()
    if scheduled_at is not None and scheduled_at.tzinfo is None:
        raise ValidationFailed("scheduled_at needs a time zone", extra={"fields": {"scheduled_at": "invalid"}})
    cover = cover_url.strip() if isinstance(cover_url, str) else ""
    if cover and not (cover.startswith("https://") or cover.startswith("/")) or len(cover) > 500:
        raise ValidationFailed("the cover is an https:// address or a local path", extra={"fields": {"cover_url": "invalid"}})
    from plugins.live.streams import provider_for

    provider = provider_for(runtime)
    key = secrets.token_urlsafe(24)
    room = LiveRoom(
        brand_id=brand.id, host_user_id=host, title=_title(title), cover_url=cover, status=RoomStatus.SCHEDULED, scheduled_at=scheduled_at or now,
        ingest_key=key, stream_provider=provider.name, pinned=[], chat_interval_seconds=2, peak_viewers=0, likes=0,
    )
    session.add(room)
    await session.flush()
    room.playback_url = provider.playback_url(room)  # computed, not asked: no network call in the transaction
    return room


async def get_room(session: AsyncSession, room_id: Any, *, lock: bool = False) -> LiveRoom:
    query = select(LiveRoom).where(LiveRoom.id == room_id)
    if lock:
        query = query.with_for_update()
    room = (await session.execute(query)).scalar_one_or_none() if valid_id(room_id) else None
    if room is None:
        raise NotFound("no such room")
    return room


async def roles_in_room(session: AsyncSession, actor: Actor | None, room: LiveRoom) -> set[str]:
    """Of host, brand (the brand's staff), co_host and moderator: the caller's."""
    if actor is None:
        return set()
    roles = set()
    if actor.user_id == room.host_user_id:
        roles.add("host")
    if can_act_for_brand(actor, room.brand_id):
        roles.add("brand")
    member = (await session.execute(select(RoomMember.role).where(RoomMember.room_id == room.id, RoomMember.user_id == actor.user_id))).scalar_one_or_none()
    if member is not None:
        roles.add(member)
    return roles


RUNNERS = ("host", "brand", RoomRole.CO_HOST)
MODERATORS = (*RUNNERS, RoomRole.MODERATOR)


async def room_to_run(session: AsyncSession, actor: Actor | None, room_id: Any, *, roles: tuple[str, ...] = RUNNERS, lock: bool = False) -> LiveRoom:
    """A room the caller runs (host, co-host, the brand's staff); any other is 404."""
    require_actor(actor)
    room = await get_room(session, room_id, lock=lock)
    if not await roles_in_room(session, actor, room) & set(roles):
        raise NotFound("no such room")
    return room


async def _event(session: AsyncSession, room: LiveRoom, kind: str, *, product_id: int | None = None, deal_id: int | None = None, detail: str = "", at: datetime | None = None) -> RoomEvent:
    at = at or utcnow()
    row = RoomEvent(room_id=room.id, kind=kind, offset_ms=offset_ms(room, at), product_id=product_id, deal_id=deal_id, detail=detail, at=at)
    session.add(row)
    return row


async def go_live(session: AsyncSession, runtime: Runtime, actor: Actor | None, room_id: Any) -> LiveRoom:
    """Scheduled -> live (again: nothing changes). Followers are told through the event."""
    room = await room_to_run(session, actor, room_id, lock=True)
    if room.status == RoomStatus.LIVE:
        return room
    if room.status == RoomStatus.ENDED:
        raise Conflict("this room has ended")
    now = utcnow()
    room.status, room.started_at = RoomStatus.LIVE, now
    await _event(session, room, "live", at=now)
    record_event(session, runtime, "live.room_live", {"room_id": room.id, "host_user_id": room.host_user_id, "brand_id": room.brand_id, "title": room.title})
    return room


async def end_room(session: AsyncSession, runtime: Runtime, actor: Actor | None, room_id: Any) -> LiveRoom:
    """Live (or scheduled) -> ended; its deals stop at once. Idempotent."""
    room = await room_to_run(session, actor, room_id, lock=True)
    if room.status == RoomStatus.ENDED:
        return room
    now = utcnow()
    room.status, room.ended_at = RoomStatus.ENDED, now
    if room.pinned:
        for pid in room.pinned:
            await _event(session, room, "unpin", product_id=pid, at=now)
        room.pinned = []
    await _event(session, room, "ended", at=now)
    await session.execute(
        update(FlashDeal).where(FlashDeal.room_id == room.id, FlashDeal.ended_at.is_(None), (FlashDeal.ends_at.is_(None)) | (FlashDeal.ends_at > now))
        .values(ends_at=now, updated_at=now).execution_options(synchronize_session=False)
    )  # fmt: skip
    record_event(session, runtime, "live.room_ended", {"room_id": room.id})
    return room


async def _room_product(session: AsyncSession, room: LiveRoom, product_id: Any) -> Product:
    product = await session.get(Product, product_id) if valid_id(product_id) else None
    if product is None or product.brand_id != room.brand_id:
        raise NotFound("no such product in this room's shop")  # another brand's product is not found, like a missing one
    if product.status != ProductStatus.ACTIVE.value:
        raise Conflict("this product is not for sale right now")
    return product


async def pin(session: AsyncSession, actor: Actor | None, room_id: Any, product_id: Any) -> LiveRoom:
    """Pin one of the room's brand's products on top; a fourth pushes the oldest out.
    Pinning a pinned product again changes nothing."""
    room = await room_to_run(session, actor, room_id, lock=True)
    if room.status != RoomStatus.LIVE:
        raise Conflict("products are pinned while the room is live")
    product = await _room_product(session, room, product_id)
    pinned = [int(p) for p in room.pinned or []]
    if product.id in pinned:
        return room
    now = utcnow()
    pinned.insert(0, product.id)
    for dropped in pinned[MAX_PINS:]:
        await _event(session, room, "unpin", product_id=dropped, at=now)
    room.pinned = pinned[:MAX_PINS]
    await _event(session, room, "pin", product_id=product.id, at=now)
    return room


async def unpin(session: AsyncSession, actor: Actor | None, room_id: Any, product_id: Any) -> LiveRoom:
    room = await room_to_run(session, actor, room_id, lock=True)
    pinned = [int(p) for p in room.pinned or []]
    if product_id in pinned:
        room.pinned = [p for p in pinned if p != product_id]
        await _event(session, room, "unpin", product_id=product_id)
    return room


async def add_member(session: AsyncSession, actor: Actor | None, room_id: Any, handle: Any, role: Any) -> RoomMember:
    """The host or the brand's staff add a co-host or a moderator (a user by creator handle
    or e-mail). Adding again changes the role."""
    room = await room_to_run(session, actor, room_id, roles=("host", "brand"))
    if role not in (RoomRole.CO_HOST, RoomRole.MODERATOR):
        raise ValidationFailed("role is co_host or moderator", extra={"fields": {"role": "invalid"}})
    text = handle.strip().lstrip("@").lower() if isinstance(handle, str) else ""
    user_id = None
    if "@" in text:
        user_id = (await session.execute(select(User.id).where(func.lower(User.email) == text))).scalar_one_or_none()
    elif text:
        user_id = (await session.execute(select(CreatorProfile.user_id).where(CreatorProfile.handle == text))).scalar_one_or_none()
    if user_id is None:
        raise ValidationFailed("no user has that handle or e-mail", extra={"fields": {"handle": "unknown"}})
    if user_id == room.host_user_id:
        raise Conflict("the host runs the room already")
    member = await session.get(RoomMember, (room.id, user_id))
    if member is None:
        member = RoomMember(room_id=room.id, user_id=user_id, role=role)
        session.add(member)
    else:
        member.role = role
    await session.flush()
    return member


# ---------------------------------------------------------------- flash deals


@dataclass(frozen=True)
class DealInput:
    variant_id: Any
    deal_price_minor: Any
    quantity: Any
    per_customer_limit: Any = 1
    countdown_seconds: Any = 30
    duration_seconds: Any = 300
    currency: Any = "CNY"
    location_id: Any = None


async def create_deal(session: AsyncSession, runtime: Runtime, actor: Actor | None, room_id: Any, data: DealInput) -> FlashDeal:
    """The brand's staff define a flash deal for a room: its units are set aside from
    general stock now (refused if the brand does not have them), sold when launched."""
    actor = require_actor(actor)
    room = await room_to_run(session, actor, room_id, roles=("brand",))
    if room.status == RoomStatus.ENDED:
        raise Conflict("this room has ended")
    if not valid_id(data.variant_id):
        raise NotFound("no such variant in this room's shop")
    row = (await session.execute(select(Variant, Product).join(Product, Product.id == Variant.product_id).where(Variant.id == data.variant_id))).first()
    if row is None or row.Product.brand_id != room.brand_id:
        raise NotFound("no such variant in this room's shop")
    variant, product = row
    if not variant.is_active or product.status != ProductStatus.ACTIVE.value:
        raise Conflict("this product is not for sale right now")
    currency = data.currency.upper() if isinstance(data.currency, str) else ""
    regular = (await session.execute(select(VariantPrice.amount_minor).where(VariantPrice.variant_id == variant.id, VariantPrice.currency == currency))).scalar_one_or_none()
    if regular is None:
        raise ValidationFailed(f"this variant has no price in {currency or 'that currency'}", extra={"fields": {"currency": "unpriced"}})
    price = _whole(data.deal_price_minor, "deal price minor", 1, 10**13)
    if price >= regular:
        raise ValidationFailed(f"a flash deal undercuts the regular price ({regular} minor units)", extra={"fields": {"deal_price_minor": "not lower"}})
    quantity = _whole(data.quantity, "quantity", 1, 1_000_000)
    per_customer = _whole(data.per_customer_limit, "per customer limit", 1, MAX_PER_CUSTOMER)
    countdown = _whole(data.countdown_seconds, "countdown seconds", *COUNTDOWN_RANGE)
    duration = _whole(data.duration_seconds, "duration seconds", *DURATION_RANGE)
    if data.location_id is None:
        location = await inventory.ensure_location(session, room.brand_id)
    else:
        location = await inventory.location_of_brand(session, room.brand_id, data.location_id)
    deal = FlashDeal(
        room_id=room.id, brand_id=room.brand_id, product_id=product.id, variant_id=variant.id, currency=currency, deal_price_minor=price,
        quantity=quantity, per_customer_limit=per_customer, countdown_seconds=countdown, duration_seconds=duration, returned=0,
    )
    session.add(deal)
    await session.flush()
    try:
        async with session.begin_nested():
            pool = await inventory.create_pool(session, name=f"{POOL_PREFIX}{deal.id}", variant_id=variant.id, location_id=location.id, quantity=quantity)
    except OutOfStock:
        available = (await inventory.stock_by_location(session, [variant.id])).get(variant.id, [])
        here = next((lv.available for lv in available if lv.location_id == location.id), 0)
        raise ValidationFailed(
            f"only {here} units of {variant.sku} are in stock at {location.name}: a deal cannot offer {quantity}", extra={"fields": {"quantity": "more than in stock"}}
        ) from None
    deal.pool_id = pool.id
    return deal


async def deal_to_run(session: AsyncSession, actor: Actor | None, deal_id: Any, *, roles: tuple[str, ...] = RUNNERS, lock: bool = False) -> tuple[FlashDeal, LiveRoom]:
    require_actor(actor)
    query = select(FlashDeal).where(FlashDeal.id == deal_id)
    if lock:
        query = query.with_for_update()
    deal = (await session.execute(query)).scalar_one_or_none() if valid_id(deal_id) else None
    if deal is None:
        raise NotFound("no such deal")
    room = await get_room(session, deal.room_id)
    if not await roles_in_room(session, actor, room) & set(roles):
        raise NotFound("no such deal")
    return deal, room


async def launch_deal(session: AsyncSession, runtime: Runtime, actor: Actor | None, deal_id: Any) -> FlashDeal:
    """Start the countdown (the room must be live). Launching again changes nothing."""
    deal, room = await deal_to_run(session, actor, deal_id, lock=True)
    if deal.launched_at is not None:
        return deal
    if deal.ended_at is not None:
        raise Conflict("this deal has ended")
    if room.status != RoomStatus.LIVE:
        raise Conflict("a deal is launched while the room is live")
    now = utcnow()
    deal.launched_at = now
    deal.starts_at = now + timedelta(seconds=deal.countdown_seconds)
    deal.ends_at = deal.starts_at + timedelta(seconds=deal.duration_seconds)
    await _event(session, room, "deal_launched", product_id=deal.product_id, deal_id=deal.id, at=now)
    record_event(session, runtime, "live.deal_launched", {"deal_id": deal.id, "room_id": room.id, "starts_at": deal.starts_at.isoformat(), "ends_at": deal.ends_at.isoformat()})
    return deal


def schedule_deal_times(runtime: Runtime, deal: FlashDeal) -> None:
    """After the commit that launched it: tell the room when the countdown is over (the
    deal's card turns buyable on every open page), and end the deal at its end time (the
    sweep also does)."""
    now = utcnow()
    if deal.starts_at is not None:
        runtime.jobs.send_later(START_DEAL_JOB, max(0.0, (deal.starts_at - now).total_seconds()) + 0.1, deal.id)
    if deal.ends_at is not None:
        runtime.jobs.send_later(END_DEAL_JOB, max(0.0, (deal.ends_at - now).total_seconds()) + 0.5, deal.id)


async def start_deal(runtime: Runtime, deal_id: int) -> bool:
    """The deal's countdown is over: announce it running. Announcing twice (a retried job)
    tells viewers the same thing again; a deal stopped meanwhile is left alone."""
    async with runtime.db.read_session() as session:
        deal = await session.get(FlashDeal, deal_id)
        if deal is None or deal.starts_at is None:
            return False
        early = (deal.starts_at - utcnow()).total_seconds()
    if early > 0:  # a timer that fired a little early
        await asyncio.sleep(min(early, 5.0))
    async with runtime.db.read_session() as session:
        deal = await session.get(FlashDeal, deal_id)
        if deal is None or deal_state(deal, utcnow()) != DealState.RUNNING:
            return False
    await announce_deal(runtime, deal_id)
    return True


async def stop_deal(session: AsyncSession, actor: Actor | None, deal_id: Any) -> FlashDeal:
    """The host ends a deal early (or cancels one not launched); `end_deal` gives the units back."""
    deal, room = await deal_to_run(session, actor, deal_id, lock=True)
    now = utcnow()
    if deal_state(deal, now) != DealState.ENDED:
        deal.ends_at = now
    return deal


async def end_deal(runtime: Runtime, deal_id: int) -> int:
    """A deal whose time is up: give its unsold units back to general stock. Idempotent:
    run again (the sweep), it gives back only what came back to the pool since (a
    checkout that lapsed). Returns the units given back now."""
    now = utcnow()
    async with runtime.db.session() as session:
        deal = (await session.execute(select(FlashDeal).where(FlashDeal.id == deal_id).with_for_update())).scalar_one_or_none()
        if deal is None or deal.ends_at is None or deal.ends_at > now:
            return 0
        first = deal.ended_at is None
        given = await inventory.release_pool(session, deal.pool_id) if deal.pool_id is not None else 0
        deal.returned += given
        if first:
            deal.ended_at = now
            room = await session.get(LiveRoom, deal.room_id)
            assert room is not None
            await _event(session, room, "deal_ended", product_id=deal.product_id, deal_id=deal.id, at=min(now, deal.ends_at) if deal.ends_at else now)
            record_event(session, runtime, "live.deal_ended", {"deal_id": deal.id, "room_id": deal.room_id, "sold": await units_sold(session, deal), "returned": deal.returned})
        await session.commit()
    if first:
        await announce_deal(runtime, deal_id)
    return given


# What follows the commit of a change to a room: the API and the host's console both call
# these, so a viewer sees the same whichever was used.


async def after_go_live(runtime: Runtime, room_id: int) -> None:
    await announce(runtime, room_id, {"type": "room", "status": RoomStatus.LIVE})


async def after_end_room(runtime: Runtime, room_id: int) -> None:
    """Its deals give their units back; viewers see the pins cleared and the room ended."""
    await end_deals_of_room(runtime, room_id)
    await announce(runtime, room_id, {"type": "pins", "pinned": []})
    await announce(runtime, room_id, {"type": "room", "status": RoomStatus.ENDED})


async def after_pins(runtime: Runtime, room_id: int, pinned: list[int]) -> None:
    await announce(runtime, room_id, {"type": "pins", "pinned": pinned})


async def after_launch(runtime: Runtime, deal: FlashDeal) -> None:
    schedule_deal_times(runtime, deal)
    await announce_deal(runtime, deal.id)


async def end_deals_of_room(runtime: Runtime, room_id: int) -> None:
    """After the commit that ended a room (its deals' time is up): give their units back now."""
    async with runtime.db.read_session() as session:
        ids = (await session.execute(select(FlashDeal.id).where(FlashDeal.room_id == room_id, FlashDeal.ended_at.is_(None)))).scalars().all()
    for deal_id in ids:
        await end_deal(runtime, deal_id)


async def sweep(runtime: Runtime, limit: int = 200) -> int:
    """Ended deals whose pool still has units (their end job was lost, or a checkout lapsed
    after the end): give them back. Returns how many deals were looked at."""
    now = utcnow()
    async with runtime.db.read_session() as session:
        ids = (
            await session.execute(
                select(FlashDeal.id).join(StockPool, StockPool.id == FlashDeal.pool_id)
                .where(FlashDeal.ends_at <= now, (FlashDeal.ended_at.is_(None)) | (StockPool.available > 0)).limit(limit)
            )
        ).scalars().all()  # fmt: skip
    for deal_id in ids:
        await end_deal(runtime, deal_id)
    return len(ids)


async def units_sold(session: AsyncSession, deal: FlashDeal) -> int:
    """Units paid for (committed from the pool, shipped ones included)."""
    if deal.pool_id is None:
        return 0
    pool = await session.get(StockPool, deal.pool_id, populate_existing=True)
    return deal.quantity - deal.returned - (pool.available + pool.reserved if pool else 0)


def _selling_pool(deal: FlashDeal) -> int | None:
    """The pool a deal still sells from: none once it ended (its units went back)."""
    return deal.pool_id if deal.ended_at is None else None


async def units_left(session: AsyncSession, deal: FlashDeal) -> int:
    """What viewers can still buy: the pool's free units (held ones may come back)."""
    pool_id = _selling_pool(deal)
    if pool_id is None:
        return 0
    return (await session.execute(select(StockPool.available).where(StockPool.id == pool_id))).scalar_one_or_none() or 0


@dataclass(frozen=True)
class DealFigures:
    left: int  # as units_left
    regular_price_minor: int | None  # the variant's own price in the deal's currency (struck through beside the deal's)


async def deal_figures(session: AsyncSession, deals: list[FlashDeal]) -> dict[int, DealFigures]:
    """Units left and regular price of each deal, in two queries however many deals: what
    the API and the room's panel show of them."""
    if not deals:
        return {}
    pools = {d.id: _selling_pool(d) for d in deals}
    pool_ids = {p for p in pools.values() if p is not None}
    available = dict((await session.execute(select(StockPool.id, StockPool.available).where(StockPool.id.in_(pool_ids)))).all()) if pool_ids else {}
    prices = {
        (v, c): a
        for v, c, a in (await session.execute(
            select(VariantPrice.variant_id, VariantPrice.currency, VariantPrice.amount_minor).where(VariantPrice.variant_id.in_({d.variant_id for d in deals}))
        )).all()
    }  # fmt: skip
    return {
        d.id: DealFigures(left=available.get(pools[d.id], 0) or 0, regular_price_minor=prices.get((d.variant_id, d.currency)))
        for d in deals
    }


# ---------------------------------------------------------------- buying from a deal


# The claim `buy` is checking out in this task: (cart id, claim, deal). The pricing hooks
# ask `deal_of_cart` about it while the checkout's writing transaction is open; answering
# from here spares them a second pooled connection, which under a crowd deadlocks the
# pool (every checkout holding one connection and waiting for another).
_CLAIM_IN_CHECKOUT: ContextVar[tuple[int, DealClaim, FlashDeal] | None] = ContextVar("live_claim_in_checkout", default=None)


@dataclass(frozen=True)
class Purchase:
    claim_id: int
    checkout_token: str
    created: bool = True  # False: her unpaid purchase, asked for again


async def buy(runtime: Runtime, actor: Actor | None, deal_id: Any, *, quantity: Any = 1, address: dict[str, Any]) -> Purchase:
    """A viewer buys from a running deal without leaving the room: a claim within her
    per-customer limit, then a checkout held from the deal's pool. Sold out, ended or over
    her limit, she is refused before any payment exists. Asked again while her purchase
    is unpaid (a double click, a retry), the answer is that purchase."""
    actor = require_actor(actor)
    qty = _whole(quantity, "quantity", 1, MAX_PER_CUSTOMER)
    now = utcnow()
    async with runtime.db.session() as session:
        deal = await session.get(FlashDeal, deal_id) if valid_id(deal_id) else None
        if deal is None:
            raise NotFound("no such deal")
        state = deal_state(deal, now)
        if state == DealState.ENDED:
            raise Conflict("this flash deal has ended")
        if state != DealState.RUNNING:
            raise Conflict("this flash deal has not started yet")
        # her own user row first: two purchases she makes at the same moment are counted in turn
        await session.execute(select(User.id).where(User.id == actor.user_id).with_for_update())
        # a double click, a retried request: her purchase still being paid for is the answer
        pending = (
            await session.execute(
                select(DealClaim.id, Checkout.token, Checkout.status)
                .outerjoin(Checkout, Checkout.id == DealClaim.checkout_id)
                .where(DealClaim.deal_id == deal.id, DealClaim.user_id == actor.user_id, DealClaim.status == "open")
                .order_by(DealClaim.id.desc()).limit(1)
            )
        ).first()  # fmt: skip
        if pending is not None:
            if pending.token is None:
                raise Conflict("your purchase from this deal is being prepared: try again in a moment")
            if pending.status == CheckoutStatus.OPEN:
                return Purchase(claim_id=pending.id, checkout_token=pending.token, created=False)
        held = (
            await session.execute(
                select(func.coalesce(func.sum(DealClaim.quantity), 0)).where(DealClaim.deal_id == deal.id, DealClaim.user_id == actor.user_id, DealClaim.status != "closed")
            )
        ).scalar_one()
        if held + qty > deal.per_customer_limit:
            raise Conflict(f"you can buy at most {deal.per_customer_limit} of this deal" + (f" ({held} already)" if held else ""))
        if await units_left(session, deal) < qty:
            raise Conflict("this flash deal has sold out")
        cart = await carts.new_cart(session, user_id=actor.user_id, currency=deal.currency, kind=CART_KIND)
        await carts.set_line(session, cart, variant_id=deal.variant_id, quantity=qty)
        claim = DealClaim(deal_id=deal.id, room_id=deal.room_id, user_id=actor.user_id, quantity=qty, cart_id=cart.id, status="open")
        session.add(claim)
        await session.flush()
        claim_id, cart_id, pool_id, variant_id, room_id = claim.id, cart.id, deal.pool_id, deal.variant_id, deal.room_id
        await session.commit()
        session.expunge_all()  # the claim and deal as committed, for the pricing hooks below
    try:
        async with runtime.db.session() as session:
            cart = await session.get(carts.Cart, cart_id)
            assert cart is not None
            known = _CLAIM_IN_CHECKOUT.set((cart_id, claim, deal))
            try:
                checkout = await checkouts.start_checkout(
                    session, runtime, cart, actor, email=None, address=address, hold_minutes=CHECKOUT_MINUTES,
                    pools={variant_id: pool_id} if pool_id else None, return_path=f"/live/{room_id}",
                )
            finally:
                _CLAIM_IN_CHECKOUT.reset(known)
            await session.execute(update(DealClaim).where(DealClaim.id == claim_id).values(checkout_id=checkout.id, updated_at=utcnow()))
            token = checkout.token
            await session.commit()
    except OutOfStock:
        await close_claim(runtime, claim_id)
        raise Conflict("this flash deal has sold out") from None
    except BaseException:
        await close_claim(runtime, claim_id)
        raise
    await announce_deal(runtime, deal_id)  # units left, for everyone watching
    return Purchase(claim_id=claim_id, checkout_token=token)


async def close_claim(runtime: Runtime, claim_id: int) -> bool:
    """A claim whose checkout never came to be, or closed unpaid, stops counting."""
    async with runtime.db.session() as session:
        done = await session.execute(update(DealClaim).where(DealClaim.id == claim_id, DealClaim.status == "open").values(status="closed", updated_at=utcnow()))
        await session.commit()
    return done.rowcount == 1


async def on_checkout_closed(runtime: Runtime, order_id: int) -> None:
    """`order.cancelled`: a deal purchase's unpaid checkout closed; its claim stops counting
    (its units went back to the pool with the hold)."""
    from core.orders.models import Order

    async with runtime.db.read_session() as session:
        claim_id = (
            await session.execute(select(DealClaim.id).join(Order, Order.checkout_id == DealClaim.checkout_id).where(Order.id == order_id, DealClaim.status == "open"))
        ).scalar_one_or_none()
    if claim_id is not None:
        await close_claim(runtime, claim_id)


async def on_paid(runtime: Runtime, order_id: int) -> None:
    from core.orders.models import Order

    async with runtime.db.session() as session:
        checkout_id = (await session.execute(select(Order.checkout_id).where(Order.id == order_id))).scalar_one_or_none()
        if checkout_id is not None:
            await session.execute(update(DealClaim).where(DealClaim.checkout_id == checkout_id, DealClaim.status == "open").values(status="paid", updated_at=utcnow()))
            await session.commit()


async def deal_of_cart(session: AsyncSession, cart_id: int) -> tuple[DealClaim, FlashDeal] | None:
    known = _CLAIM_IN_CHECKOUT.get()
    if known is not None and known[0] == cart_id:  # asked by the pricing hooks of our own checkout: no query
        return known[1], known[2]
    row = (await session.execute(select(DealClaim, FlashDeal).join(FlashDeal, FlashDeal.id == DealClaim.deal_id).where(DealClaim.cart_id == cart_id))).first()
    return (row[0], row[1]) if row else None


async def checkout_is_open(session: AsyncSession, checkout_id: int) -> bool:
    status = (await session.execute(select(Checkout.status).where(Checkout.id == checkout_id))).scalar_one_or_none()
    return status == CheckoutStatus.OPEN


# ---------------------------------------------------------------- reading


async def timeline(session: AsyncSession, room_id: int) -> list[RoomEvent]:
    return list((await session.execute(select(RoomEvent).where(RoomEvent.room_id == room_id).order_by(RoomEvent.offset_ms, RoomEvent.id))).scalars())


@dataclass(frozen=True)
class Chapter:
    """A stretch of the replay about one product: from its pin (or deal) to its unpin."""

    product_id: int
    start_ms: int
    end_ms: int | None
    deal_id: int | None


def chapters(events: list[RoomEvent]) -> list[Chapter]:
    """Product chapters of a replay: each pin, or deal launch, opens one for its product;
    its unpin (or the deal's end, or the stream's end) closes it."""
    out: list[Chapter] = []
    open_at: dict[int, tuple[int, int | None]] = {}
    end_ms = None
    for e in events:
        if e.kind in ("pin", "deal_launched") and e.product_id is not None:
            if e.product_id not in open_at:
                open_at[e.product_id] = (e.offset_ms, e.deal_id)
        elif e.kind in ("unpin", "deal_ended") and e.product_id is not None and e.product_id in open_at:
            start, deal_id = open_at.pop(e.product_id)
            out.append(Chapter(e.product_id, start, e.offset_ms, deal_id))
        elif e.kind == "ended":
            end_ms = e.offset_ms
    for pid, (start, deal_id) in open_at.items():
        out.append(Chapter(pid, start, end_ms, deal_id))
    return sorted(out, key=lambda c: (c.start_ms, c.product_id))


async def rooms(session: AsyncSession, *, status: str | None = None, brand_id: int | None = None, host_user_id: int | None = None, limit: int = 20, offset: int = 0) -> list[LiveRoom]:
    query = select(LiveRoom)
    if status is not None:
        query = query.where(LiveRoom.status == status)
    if brand_id is not None:
        query = query.where(LiveRoom.brand_id == brand_id)
    if host_user_id is not None:
        query = query.where(LiveRoom.host_user_id == host_user_id)
    order = (LiveRoom.started_at.desc(), LiveRoom.id.desc()) if status == RoomStatus.LIVE else (LiveRoom.scheduled_at.desc(), LiveRoom.id.desc())
    return list((await session.execute(query.order_by(*order).limit(limit).offset(offset))).scalars())


async def deals_of_room(session: AsyncSession, room_id: int) -> list[FlashDeal]:
    return list((await session.execute(select(FlashDeal).where(FlashDeal.room_id == room_id).order_by(FlashDeal.id))).scalars())


async def brand_of_room(session: AsyncSession, room: LiveRoom) -> Brand:
    brand = await session.get(Brand, room.brand_id)
    assert brand is not None
    return brand


# ---------------------------------------------------------------- followers hear a room went live

FOLLOWERS_PER_PAGE = 1000
ROOM_LIVE_NOTICE = "{host} is live: {title}"
BRAND_ROOM_LIVE_NOTICE = "{brand} is live: {title}"


async def _follower_pages(runtime: Runtime, *, user_id: int | None = None, brand_id: int | None = None) -> Any:
    """Pages of follower ids from every `follower_ids` implementation (the notes plugin's
    published hook; none without it). The next page starts after the lowest last id of the
    implementations that filled theirs, so none is skipped (some may repeat: telling is
    idempotent)."""
    hook = getattr(runtime.pm.hook, "follower_ids", None)
    if hook is None:
        return
    after = 0
    while True:
        answers = []
        for answer in hook(user_id=user_id, brand_id=brand_id, after=after, limit=FOLLOWERS_PER_PAGE, runtime=runtime):
            answers.append(list(await answer if inspect.isawaitable(answer) else answer or []))
        ids = sorted({i for answer in answers for i in answer})
        if ids:
            yield ids
        full = [answer[-1] for answer in answers if len(answer) >= FOLLOWERS_PER_PAGE]
        if not full:
            return
        after = min(full)


async def tell_followers(runtime: Runtime, room_id: int) -> int:
    """Tell the host's followers, and the brand's, that the room is live: one notice per
    follower and room, however often this runs. A room that has ended since tells nobody.
    Returns how many were told now."""
    async with runtime.db.read_session() as session:
        room = await session.get(LiveRoom, room_id)
        if room is None or room.status != RoomStatus.LIVE:
            return 0
        brand = await brand_of_room(session, room)
        from core.auth.service import display_names

        host = (await display_names(session, {room.host_user_id})).get(room.host_user_id, "")
    told = 0
    key, url = f"live.room:{room.id}", f"/live/{room.id}"
    for audience, message in (({"user_id": room.host_user_id}, ROOM_LIVE_NOTICE), ({"brand_id": room.brand_id}, BRAND_ROOM_LIVE_NOTICE)):
        async for ids in _follower_pages(runtime, **audience):
            async with runtime.db.session() as session:
                told += await notices.notify(
                    session, [i for i in ids if i != room.host_user_id], kind="live.room_live", key=key, message=message,
                    args={"host": host, "brand": brand.name, "title": room.title}, url=url, image_url=room.cover_url,
                )
                await session.commit()
    return told

"""Team purchases (拼团): offers, opening and joining teams, and how teams end.

Money and stock stay the core's: a seat is a one-off core cart (kind "group_buy") checked
out with manual capture, priced at the team price through `price_adjustments`, and held
from the offer's stock pool when it has one. This module decides who may take a seat and
when a team ends:

- a seat is taken by one conditional UPDATE of the team row (`seats_taken < size`), in
  the transaction that inserts the member, before any checkout or payment exists: a
  joiner who loses the race is refused before her card is touched;
- a card authorized (`payment.authorized`) makes the member `authorized`; the last one
  makes the team `succeeded`, and the `group_buy.team_succeeded` handler captures every
  authorization (each capture is idempotent, and the core retries the handler until it
  is done);
- a team whose time runs out (a delayed job, and a sweep in case the job is lost) fails,
  or with `auto_complete` succeeds with whoever paid; the `group_buy.team_failed`
  handler closes every member's checkout, which voids the authorization (a provider that
  captured anyway is refunded by the core when its success arrives).

No provider is called inside a transaction: captures and voids run in event handlers,
between transactions.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.exc import IntegrityError

from core.auth.models import User
from core.auth.permissions import Actor, require_actor
from core.campaigns.campaigns import brand_for
from core.catalog.models import Product, ProductStatus, Variant, VariantPrice
from core.db import utcnow, valid_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event
from core.inventory.models import StockLocation, StockPool
from core.money import validate_currency
from core.orders import cart as carts
from core.orders import checkout as checkouts
from core.orders.models import Checkout, CheckoutStatus, Order
from core.payments import service as payments
from core.payments.models import Payment, PaymentStatus
from plugins.group_buy.models import (
    CART_KIND,
    DEFAULT_TIME_LIMIT_MINUTES,
    HOLDING,
    MAX_TEAM_SIZE,
    MIN_TEAM_SIZE,
    GroupOffer,
    MemberStatus,
    Team,
    TeamMember,
    TeamStatus,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

log = logging.getLogger("zhongcao.group_buy")

EXPIRE_JOB = "group_buy.expire_team"
SWEEP_JOB = "group_buy.sweep"
CHECKOUT_MINUTES = 15  # a seat's unpaid checkout: the seat is freed when it lapses
ADJUSTMENT_CODE = "group_buy"
ADJUSTMENT_PRIORITY = 5  # before codes and other discounts: the team price is the price

EVENT_TYPES = {
    "group_buy.team_opened": "A leader's card was authorized: the team is open for others to join (TeamOpened; payload: team_id, offer_id, leader_user_id, size, expires_at).",
    "group_buy.team_joined": "A member's card was authorized in an open team (TeamJoined; payload: team_id, user_id, authorized, size).",
    "group_buy.team_succeeded": "A team filled (or its time ran out with auto-complete on): its authorizations are captured (TeamSucceeded; payload: team_id, offer_id, reason, members).",
    "group_buy.team_failed": "A team's time ran out before it filled, or its leader never paid: its authorizations are voided (TeamFailed; payload: team_id, offer_id, reason).",
}


# ---------------------------------------------------------------- offers


@dataclass(frozen=True)
class OfferInput:
    variant_id: Any
    team_price_minor: Any
    team_size: Any
    currency: Any = None
    time_limit_minutes: Any = DEFAULT_TIME_LIMIT_MINUTES
    per_user_limit: Any = 1
    total_limit: Any = None
    pool_id: Any = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    auto_complete: Any = False


def _whole(value: Any, what: str, lowest: int, highest: int, field: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise ValidationFailed(f"{what} is a whole number from {lowest} to {highest}", extra={"fields": {field or what.replace(" ", "_"): "invalid"}})
    return value


async def solo_price(session: AsyncSession, variant_id: int, currency: str) -> int | None:
    return (await session.execute(select(VariantPrice.amount_minor).where(VariantPrice.variant_id == variant_id, VariantPrice.currency == currency))).scalar_one_or_none()


async def _checked(session: AsyncSession, runtime: Runtime, brand_id: int, data: OfferInput) -> tuple[dict[str, Any], list[str]]:
    """The offer's columns, or a 422 naming the field; plus warnings for the brand."""
    warnings: list[str] = []
    row = None
    if valid_id(data.variant_id):
        row = (
            await session.execute(
                select(Variant.id, Product.brand_id).join(Product, Product.id == Variant.product_id).where(Variant.id == data.variant_id)
            )
        ).first()
    if row is None or row.brand_id != brand_id:
        raise NotFound("no such variant")
    try:
        currency = validate_currency(data.currency or carts.DEFAULT_CURRENCY)
    except ValueError as exc:
        raise ValidationFailed(str(exc), extra={"fields": {"currency": "invalid"}}) from exc
    size = _whole(data.team_size, "team size", MIN_TEAM_SIZE, MAX_TEAM_SIZE)
    price = _whole(data.team_price_minor, "team price", 1, 10**12, "team_price_minor")
    solo = await solo_price(session, row.id, currency)
    if solo is None:
        raise ValidationFailed(f"this variant has no {currency} price to compare the team price with", extra={"fields": {"currency": "invalid"}})
    if price > solo:
        raise ValidationFailed("the team price must be lower than the solo price", extra={"fields": {"team_price_minor": "invalid"}, "solo_price_minor": solo})
    if price == solo:
        warnings.append("the team price is the same as the solo price: shoppers gain nothing by teaming up")
    hold_minutes = runtime.settings.authorization_hold_hours * 60  # an authorization must outlive the team
    limit = _whole(data.time_limit_minutes, "time limit minutes", 5, hold_minutes)
    per_user = _whole(data.per_user_limit, "per user limit", 1, 1000)
    total = None if data.total_limit in (None, "") else _whole(data.total_limit, "total limit", size, 10**9)
    pool_id = None
    if data.pool_id not in (None, ""):
        pool = None
        if valid_id(data.pool_id):
            pool = (
                await session.execute(
                    select(StockPool).join(StockLocation, StockLocation.id == StockPool.location_id).where(StockPool.id == data.pool_id, StockLocation.brand_id == brand_id)
                )
            ).scalar_one_or_none()
        if pool is None:
            raise NotFound("no such stock pool")
        if pool.variant_id != row.id:
            raise ValidationFailed("the stock pool holds another variant", extra={"fields": {"pool_id": "invalid"}})
        pool_id = pool.id
    starts = data.starts_at or utcnow()
    if data.ends_at is not None and data.ends_at <= starts:
        raise ValidationFailed("the offer must end after it starts", extra={"fields": {"ends_at": "invalid"}})
    if not isinstance(data.auto_complete, bool):
        raise ValidationFailed("auto_complete is true or false", extra={"fields": {"auto_complete": "invalid"}})
    columns = {
        "variant_id": row.id, "currency": currency, "team_price_minor": price, "team_size": size, "time_limit_minutes": limit, "per_user_limit": per_user,
        "total_limit": total, "pool_id": pool_id, "starts_at": starts, "ends_at": data.ends_at, "auto_complete": data.auto_complete,
    }
    return columns, warnings


async def create_offer(session: AsyncSession, runtime: Runtime, actor: Actor | None, brand_slug: str, data: OfferInput) -> tuple[GroupOffer, list[str]]:
    """A brand's new team offer (brand staff only); returns it with warnings to show."""
    brand = await brand_for(session, actor, brand_slug)
    columns, warnings = await _checked(session, runtime, brand.id, data)
    offer = GroupOffer(brand_id=brand.id, active=True, units_promised=0, **columns)
    session.add(offer)
    await session.flush()
    return offer, warnings


async def offer_for_brand(session: AsyncSession, actor: Actor | None, offer_id: Any, *, lock: bool = False) -> GroupOffer:
    """An offer of one of the caller's brands; any other id is 404."""
    from core.auth.permissions import can_act_for_brand

    actor = require_actor(actor)
    offer = None
    if valid_id(offer_id):
        query = select(GroupOffer).where(GroupOffer.id == offer_id)
        offer = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    if offer is None or not can_act_for_brand(actor, offer.brand_id):
        raise NotFound("no such offer")
    return offer


async def update_offer(session: AsyncSession, runtime: Runtime, actor: Actor | None, offer_id: Any, changes: dict[str, Any]) -> tuple[GroupOffer, list[str]]:
    """Change an offer. Open teams keep the size and price they opened with (their
    members agreed to those); the variant cannot change."""
    offer = await offer_for_brand(session, actor, offer_id, lock=True)
    allowed = {"team_price_minor", "team_size", "time_limit_minutes", "per_user_limit", "total_limit", "pool_id", "ends_at", "auto_complete", "active"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(f"cannot change {', '.join(sorted(unknown))}")
    if "active" in changes and not isinstance(changes["active"], bool):
        raise ValidationFailed("active is true or false", extra={"fields": {"active": "invalid"}})
    current = OfferInput(
        variant_id=offer.variant_id, currency=offer.currency, team_price_minor=offer.team_price_minor, team_size=offer.team_size, time_limit_minutes=offer.time_limit_minutes,
        per_user_limit=offer.per_user_limit, total_limit=offer.total_limit, pool_id=offer.pool_id, starts_at=offer.starts_at, ends_at=offer.ends_at, auto_complete=offer.auto_complete,
    )
    merged = OfferInput(**{**current.__dict__, **{k: v for k, v in changes.items() if k != "active"}})
    columns, warnings = await _checked(session, runtime, offer.brand_id, merged)
    if columns["total_limit"] is not None and columns["total_limit"] < offer.units_promised:
        raise Conflict(f"{offer.units_promised} units are promised to open and finished teams already: the total limit cannot go below that")
    for key, value in columns.items():
        setattr(offer, key, value)
    if "active" in changes:
        offer.active = changes["active"]
    await session.flush()
    return offer, warnings


async def offers_of_brand(session: AsyncSession, actor: Actor | None, brand_slug: str, *, limit: int = 50, offset: int = 0) -> list[GroupOffer]:
    brand = await brand_for(session, actor, brand_slug)
    rows = await session.execute(select(GroupOffer).where(GroupOffer.brand_id == brand.id).order_by(GroupOffer.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars())


def is_live(offer: GroupOffer, now: datetime) -> bool:
    return offer.active and offer.starts_at <= now and (offer.ends_at is None or offer.ends_at > now)


async def live_offers_of_variants(session: AsyncSession, variant_ids: list[int], now: datetime | None = None) -> dict[int, GroupOffer]:
    """Variant id -> its live offer (the newest), for product pages and the feed."""
    if not variant_ids:
        return {}
    now = now or utcnow()
    rows = await session.execute(
        select(GroupOffer)
        .where(GroupOffer.variant_id.in_(variant_ids), GroupOffer.active.is_(True), GroupOffer.starts_at <= now, (GroupOffer.ends_at.is_(None)) | (GroupOffer.ends_at > now))
        .order_by(GroupOffer.id)
    )
    return {o.variant_id: o for o in rows.scalars()}


# ---------------------------------------------------------------- taking a seat

# The seat `_check_out` is checking out in this task: (cart id, member, offer). The
# pricing hooks (`price_adjustments`, `validate_checkout`) ask `seat_of_cart` about it
# while the checkout's writing transaction is open; answering from here spares them a
# second pooled connection. On SQLite that second connection deadlocked under a crowd:
# every pooled connection waiting for the write lock (BEGIN IMMEDIATE) that the checkout
# held while it waited for a connection, until busy_timeout gave "database is locked".
_SEAT_IN_CHECKOUT: ContextVar[tuple[int, TeamMember, GroupOffer] | None] = ContextVar("group_buy_seat_in_checkout", default=None)


@dataclass(frozen=True)
class Seat:
    team_id: int
    member_id: int
    checkout_token: str


async def _sellable(session: AsyncSession, offer: GroupOffer) -> None:
    row = (
        await session.execute(
            select(Variant.is_active, Product.status).join(Product, Product.id == Variant.product_id).where(Variant.id == offer.variant_id)
        )
    ).first()
    if row is None or not row.is_active or row.status != ProductStatus.ACTIVE:
        raise Conflict("this product is not for sale right now")


async def _check_per_user(session: AsyncSession, offer: GroupOffer, user_id: int) -> None:
    """Within the seat's transaction. Her own user row is locked first (PostgreSQL; SQLite
    has one writer anyway), so two seats she takes at the same moment are counted one
    after the other and the limit holds."""
    await session.execute(select(User.id).where(User.id == user_id).with_for_update())
    held = (
        await session.execute(select(func.count()).select_from(TeamMember).where(TeamMember.offer_id == offer.id, TeamMember.user_id == user_id, TeamMember.status.in_(HOLDING)))
    ).scalar_one()
    if held >= offer.per_user_limit:
        raise Conflict(f"you can be in at most {offer.per_user_limit} team{'s' if offer.per_user_limit != 1 else ''} of this offer")


async def _new_seat_cart(session: AsyncSession, offer: GroupOffer, user_id: int) -> int:
    cart = await carts.new_cart(session, user_id=user_id, currency=offer.currency, kind=CART_KIND)
    await carts.set_line(session, cart, variant_id=offer.variant_id, quantity=1)
    return cart.id


async def open_team(runtime: Runtime, actor: Actor | None, offer_id: Any, *, address: dict[str, Any]) -> Seat:
    """A leader opens a team: a seat for her and a checkout at the team price. Others can
    join once her card is authorized."""
    actor = require_actor(actor)
    now = utcnow()
    async with runtime.db.session() as session:
        offer = await session.get(GroupOffer, offer_id) if valid_id(offer_id) else None
        if offer is None or not is_live(offer, now):
            raise NotFound("no such offer")
        await _sellable(session, offer)
        await _check_per_user(session, offer, actor.user_id)
        promised = await session.execute(
            update(GroupOffer)
            .where(GroupOffer.id == offer.id, (GroupOffer.total_limit.is_(None)) | (GroupOffer.units_promised + offer.team_size <= GroupOffer.total_limit))
            .values(units_promised=GroupOffer.units_promised + offer.team_size)
            .execution_options(synchronize_session=False)
        )
        if promised.rowcount != 1:
            raise Conflict("this offer has sold out")
        team = Team(
            offer_id=offer.id, leader_user_id=actor.user_id, size=offer.team_size, status=TeamStatus.OPEN, seats_taken=1, authorized_count=0,
            expires_at=now + timedelta(minutes=offer.time_limit_minutes),
        )
        session.add(team)
        await session.flush()
        member = TeamMember(team_id=team.id, offer_id=offer.id, user_id=actor.user_id, is_leader=True, status=MemberStatus.SEATED, cart_id=await _new_seat_cart(session, offer, actor.user_id))
        session.add(member)
        await session.flush()
        team_id, member_id, expires_at = team.id, member.id, team.expires_at
        await session.commit()
    runtime.jobs.send_later(EXPIRE_JOB, (expires_at - utcnow()).total_seconds() + 1, team_id)
    return await _check_out(runtime, actor, offer, team_id, member_id, address)


async def join_team(runtime: Runtime, actor: Actor | None, team_id: Any, *, address: dict[str, Any]) -> Seat:
    """Take a seat in someone's open team (through its share link), or be told why not,
    before any payment exists."""
    actor = require_actor(actor)
    now = utcnow()
    async with runtime.db.session() as session:
        team = await session.get(Team, team_id) if valid_id(team_id) else None
        if team is None:
            raise NotFound("no such team")
        offer = await session.get(GroupOffer, team.offer_id)
        assert offer is not None
        mine = (await session.execute(select(TeamMember.id, TeamMember.status, TeamMember.is_leader).where(TeamMember.team_id == team.id, TeamMember.user_id == actor.user_id))).first()
        if mine is not None and (mine.is_leader or mine.status != MemberStatus.LEFT):  # one who gave her seat up (unpaid) may take one again
            raise Conflict("this is your own team" if mine.is_leader else "you are in this team already")
        await _sellable(session, offer)
        await _check_per_user(session, offer, actor.user_id)
        taken = await session.execute(
            update(Team)
            .where(Team.id == team.id, Team.status == TeamStatus.OPEN, Team.seats_taken < Team.size, Team.expires_at > now, _leader_has_paid())
            .values(seats_taken=Team.seats_taken + 1, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if taken.rowcount != 1:
            wanted = team.id
            await session.rollback()  # expires `team`: only its id is used below
            raise Conflict(await _why_not(session, wanted, now))
        if mine is not None:  # her earlier, unpaid seat (its checkout is closed): the new one replaces it
            await session.execute(delete(TeamMember).where(TeamMember.id == mine.id, TeamMember.status == MemberStatus.LEFT).execution_options(synchronize_session=False))
        member = TeamMember(team_id=team.id, offer_id=offer.id, user_id=actor.user_id, is_leader=False, status=MemberStatus.SEATED, cart_id=await _new_seat_cart(session, offer, actor.user_id))
        try:
            async with session.begin_nested():  # the same shopper twice at once: the unique (team, user) decides
                session.add(member)
        except IntegrityError:
            await session.rollback()
            raise Conflict("you are in this team already") from None
        member_id, team_id = member.id, team.id
        await session.commit()
    return await _check_out(runtime, actor, offer, team_id, member_id, address)


def _leader_has_paid() -> Any:
    """The leader's card is authorized: counted already, or (a friend following the share
    link a moment after the leader paid) only on the payment, its event still on its way."""
    paid = (
        exists()
        .where(
            TeamMember.team_id == Team.id, TeamMember.is_leader.is_(True), Payment.checkout_id == TeamMember.checkout_id,
            Payment.status.in_((PaymentStatus.AUTHORIZED, PaymentStatus.SUCCEEDED)),
        )
        .correlate(Team)  # the team row being updated (or read), never a join of its own
    )
    return (Team.authorized_count >= 1) | paid


async def _why_not(session: AsyncSession, team_id: int, now: datetime) -> str:
    team = await session.get(Team, team_id, populate_existing=True)
    assert team is not None
    if team.status == TeamStatus.SUCCEEDED:
        return "this team is full: it has succeeded already"
    if team.status == TeamStatus.FAILED:
        return "this team has closed without filling"
    if team.expires_at <= now:
        return "this team's time has run out"
    if not (await session.execute(select(_leader_has_paid()).where(Team.id == team_id))).scalar_one():
        return "this team opens once its leader has paid"
    return "this team is full: every seat is taken or being paid for"


async def _check_out(runtime: Runtime, actor: Actor, offer: GroupOffer, team_id: int, member_id: int, address: dict[str, Any]) -> Seat:
    """The seat's checkout (manual capture, the team price, the offer's pool). If it
    cannot be made (no stock, a bad address), the seat is given back."""
    try:
        async with runtime.db.session() as session:
            member = await session.get(TeamMember, member_id)
            assert member is not None
            cart = await session.get(carts.Cart, member.cart_id)
            assert cart is not None
            seat_token = _SEAT_IN_CHECKOUT.set((member.cart_id, member, offer))
            try:
                checkout = await checkouts.start_checkout(
                    session, runtime, cart, actor, email=None, address=address, hold_minutes=CHECKOUT_MINUTES, capture_method="manual",
                    pools={offer.variant_id: offer.pool_id} if offer.pool_id else None, return_path=f"/group-buy/teams/{team_id}",
                )
            finally:
                _SEAT_IN_CHECKOUT.reset(seat_token)
            member.checkout_id = checkout.id
            token = checkout.token
            await session.commit()
    except BaseException:
        await leave_seat(runtime, member_id)
        raise
    return Seat(team_id=team_id, member_id=member_id, checkout_token=token)


# ---------------------------------------------------------------- what happens to a seat


async def leave_seat(runtime: Runtime, member_id: int) -> bool:
    """A seat whose checkout closed before the card was authorized is freed; a leader who
    never paid takes her team down with her (nobody could join it yet). Idempotent."""
    async with runtime.db.session() as session:
        left = (
            await session.execute(
                update(TeamMember)
                .where(TeamMember.id == member_id, TeamMember.status == MemberStatus.SEATED)
                .values(status=MemberStatus.LEFT, updated_at=utcnow())
                .returning(TeamMember.team_id, TeamMember.is_leader)
            )
        ).first()
        if left is None:
            return False
        await session.execute(update(Team).where(Team.id == left.team_id).values(seats_taken=Team.seats_taken - 1, updated_at=utcnow()).execution_options(synchronize_session=False))
        if left.is_leader:
            await _close(session, runtime, left.team_id, TeamStatus.FAILED, "leader_left")
        await session.commit()
    return True


async def on_checkout_closed(runtime: Runtime, order_id: int) -> None:
    """`order.cancelled`: if it was a seat's unpaid checkout, the seat is freed."""
    async with runtime.db.read_session() as session:
        member_id = (
            await session.execute(
                select(TeamMember.id).join(Order, Order.checkout_id == TeamMember.checkout_id).where(Order.id == order_id, TeamMember.status == MemberStatus.SEATED)
            )
        ).scalar_one_or_none()
    if member_id is not None:
        await leave_seat(runtime, member_id)


async def on_authorized(runtime: Runtime, checkout_id: int) -> None:
    """`payment.authorized`: the member's card holds the team price. The last seat's
    authorization makes the team succeed. An authorization for a team that ended
    meanwhile is voided."""
    void = False
    async with runtime.db.session() as session:
        member = (
            await session.execute(
                update(TeamMember)
                .where(TeamMember.checkout_id == checkout_id, TeamMember.status == MemberStatus.SEATED)
                .values(status=MemberStatus.AUTHORIZED, updated_at=utcnow())
                .returning(TeamMember.team_id, TeamMember.user_id, TeamMember.is_leader)
            )
        ).first()
        if member is None:
            # not a seat, or counted already (a repeated event); or the seat was given up
            gone = (await session.execute(select(TeamMember.status).where(TeamMember.checkout_id == checkout_id))).scalar_one_or_none()
            void = gone in (MemberStatus.LEFT, MemberStatus.REFUNDED)
        else:
            team = (
                await session.execute(
                    update(Team)
                    .where(Team.id == member.team_id, Team.status == TeamStatus.OPEN)
                    .values(authorized_count=Team.authorized_count + 1, updated_at=utcnow())
                    .returning(Team.id, Team.offer_id, Team.size, Team.authorized_count, Team.expires_at, Team.leader_user_id)
                )
            ).first()
            if team is None:  # the team ended while she paid: her seat goes, her card is released
                await session.execute(update(TeamMember).where(TeamMember.checkout_id == checkout_id).values(status=MemberStatus.REFUNDED).execution_options(synchronize_session=False))
                void = True
            else:
                if member.is_leader:
                    record_event(session, runtime, "group_buy.team_opened", {
                        "team_id": team.id, "offer_id": team.offer_id, "leader_user_id": team.leader_user_id, "size": team.size, "expires_at": team.expires_at.isoformat(),
                    })
                else:
                    record_event(session, runtime, "group_buy.team_joined", {"team_id": team.id, "user_id": member.user_id, "authorized": team.authorized_count, "size": team.size})
                if team.authorized_count >= team.size:
                    await _close(session, runtime, team.id, TeamStatus.SUCCEEDED, "full")
        await session.commit()
    if void:
        await checkouts.close_checkout(runtime, checkout_id)


async def _close(session: AsyncSession, runtime: Runtime, team_id: int, to: str, reason: str) -> bool:
    """End an open team (one conditional UPDATE) and record why; the event's handler moves
    the money. Units it will not sell go back to the offer's total."""
    closed = (
        await session.execute(
            update(Team)
            .where(Team.id == team_id, Team.status == TeamStatus.OPEN)
            .values(status=to, closed_at=utcnow(), closed_reason=reason, updated_at=utcnow())
            .returning(Team.offer_id, Team.size, Team.authorized_count)
        )
    ).first()
    if closed is None:
        return False
    sold = closed.authorized_count if to == TeamStatus.SUCCEEDED else 0
    await session.execute(
        update(GroupOffer).where(GroupOffer.id == closed.offer_id).values(units_promised=GroupOffer.units_promised - (closed.size - sold)).execution_options(synchronize_session=False)
    )
    # each member holding a seat now is told how it ended (in the same transaction)
    told = (await session.execute(
        update(TeamMember).where(TeamMember.team_id == team_id, TeamMember.status.in_(HOLDING)).values(notified_at=utcnow())
        .returning(TeamMember.user_id, TeamMember.status).execution_options(synchronize_session=False)
    )).all()  # fmt: skip
    await tell_members(session, team_id, closed.offer_id, to, told)
    kind = "group_buy.team_succeeded" if to == TeamStatus.SUCCEEDED else "group_buy.team_failed"
    payload: dict[str, Any] = {"team_id": team_id, "offer_id": closed.offer_id, "reason": reason}
    if to == TeamStatus.SUCCEEDED:
        payload["members"] = sold
    record_event(session, runtime, kind, payload)
    return True


async def expire_team(runtime: Runtime, team_id: int) -> str | None:
    """The delayed job (and the sweep): a team whose time ran out fails, or succeeds with
    whoever paid if its offer auto-completes. Returns how it ended, None if it was not due."""
    now = utcnow()
    async with runtime.db.session() as session:
        row = (
            await session.execute(
                select(Team.status, Team.expires_at, Team.authorized_count, GroupOffer.auto_complete).join(GroupOffer, GroupOffer.id == Team.offer_id).where(Team.id == team_id)
            )
        ).first()
        if row is None or row.status != TeamStatus.OPEN or row.expires_at > now:
            return None
        if row.auto_complete and row.authorized_count >= 1:
            ended = TeamStatus.SUCCEEDED if await _close(session, runtime, team_id, TeamStatus.SUCCEEDED, "auto_complete") else None
        else:
            ended = TeamStatus.FAILED if await _close(session, runtime, team_id, TeamStatus.FAILED, "expired") else None
        await session.commit()
    return ended


# ---------------------------------------------------------------- money, after a team ended (event handlers)


async def _authorized_payment(session: AsyncSession, checkout_id: int) -> Payment | None:
    query = select(Payment).where(Payment.checkout_id == checkout_id, Payment.status.in_((PaymentStatus.AUTHORIZED, PaymentStatus.SUCCEEDED))).order_by(Payment.id.desc())
    return (await session.execute(query.limit(1))).scalar_one_or_none()


async def capture_team(runtime: Runtime, team_id: int) -> int:
    """`group_buy.team_succeeded`: capture every authorized seat (the core pays its
    orders and commits its stock); seats still paying when an auto-complete team closed
    are released. Idempotent; raises (to be retried) while a capture fails."""
    async with runtime.db.read_session() as session:
        members = list((await session.execute(select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.status.in_((MemberStatus.AUTHORIZED, MemberStatus.SEATED))))).scalars())
        payments_of = {m.id: await _authorized_payment(session, m.checkout_id) for m in members if m.checkout_id and m.status == MemberStatus.AUTHORIZED}
    captured = 0
    for member in members:
        if member.status == MemberStatus.SEATED:  # auto-complete closed the team while she paid
            if await _release_member(runtime, member.id, (MemberStatus.SEATED,)) and member.checkout_id:
                await checkouts.close_checkout(runtime, member.checkout_id)
            continue
        payment = payments_of.get(member.id)
        if payment is None:
            raise RuntimeError(f"team {team_id}: member {member.id} has no authorized payment")
        await payments.capture_payment(runtime, payment.id)
        async with runtime.db.session() as session:
            await session.execute(
                update(TeamMember).where(TeamMember.id == member.id, TeamMember.status == MemberStatus.AUTHORIZED).values(status=MemberStatus.PAID, updated_at=utcnow()).execution_options(synchronize_session=False)
            )
            await session.commit()
        captured += 1
    return captured


async def _release_member(runtime: Runtime, member_id: int, frm: tuple[str, ...]) -> bool:
    async with runtime.db.session() as session:
        moved = await session.execute(
            update(TeamMember).where(TeamMember.id == member_id, TeamMember.status.in_(frm)).values(status=MemberStatus.REFUNDED, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
        await session.commit()
    return moved.rowcount == 1


async def release_team(runtime: Runtime, team_id: int) -> int:
    """`group_buy.team_failed`: every member's checkout is closed, which voids her
    authorization at the provider and gives the stock back. Idempotent."""
    async with runtime.db.read_session() as session:
        members = list((await session.execute(select(TeamMember).where(TeamMember.team_id == team_id, TeamMember.status.in_((MemberStatus.SEATED, MemberStatus.AUTHORIZED, MemberStatus.REFUNDED))))).scalars())
    released = 0
    for member in members:
        if member.checkout_id is not None:
            await checkouts.close_checkout(runtime, member.checkout_id)  # voids again whatever an earlier try left
        if member.status != MemberStatus.REFUNDED and await _release_member(runtime, member.id, (MemberStatus.SEATED, MemberStatus.AUTHORIZED)):
            released += 1
    return released


# ---------------------------------------------------------------- the sweep


async def sweep(runtime: Runtime, limit: int = 200) -> dict[str, int]:
    """Periodic: catch up with whatever a lost job or event left. Expires teams past their
    time (their delayed job lives only in the broker's memory in embedded mode) and frees
    seats whose checkout closed unpaid, or never came to be (the process stopped, or the
    seat could not be given back, between taking the seat and checking it out)."""
    now = utcnow()
    async with runtime.db.read_session() as session:
        due = list((await session.execute(select(Team.id).where(Team.status == TeamStatus.OPEN, Team.expires_at <= now).order_by(Team.id).limit(limit))).scalars())
        stale = list(
            (
                await session.execute(
                    select(TeamMember.id)
                    .outerjoin(Checkout, Checkout.id == TeamMember.checkout_id)
                    .where(
                        TeamMember.status == MemberStatus.SEATED,
                        Checkout.status.in_((CheckoutStatus.EXPIRED, CheckoutStatus.CANCELLED))
                        | (TeamMember.checkout_id.is_(None) & (TeamMember.created_at < now - timedelta(minutes=CHECKOUT_MINUTES))),
                    )
                    .limit(limit)
                )
            ).scalars()
        )
    expired = sum([1 for team_id in due if await expire_team(runtime, team_id)])  # a list: `await` in a generator makes an async generator
    freed = sum([1 for member_id in stale if await leave_seat(runtime, member_id)])
    return {"expired": expired, "freed": freed}


# ---------------------------------------------------------------- reading


async def team_view(session: AsyncSession, team_id: Any) -> tuple[Team, GroupOffer, list[TeamMember]]:
    team = await session.get(Team, team_id) if valid_id(team_id) else None
    if team is None:
        raise NotFound("no such team")
    offer = await session.get(GroupOffer, team.offer_id)
    assert offer is not None
    members = list((await session.execute(select(TeamMember).where(TeamMember.team_id == team.id, TeamMember.status.in_(HOLDING)).order_by(TeamMember.id))).scalars())
    return team, offer, members


async def open_teams(session: AsyncSession, *, offer_ids: list[int] | None = None, limit: int = 20, now: datetime | None = None) -> list[Team]:
    """Teams others can join now (the leader has paid, a seat is free), closest to filling first."""
    now = now or utcnow()
    query = select(Team).where(Team.status == TeamStatus.OPEN, Team.expires_at > now, Team.authorized_count >= 1, Team.seats_taken < Team.size)
    if offer_ids is not None:
        query = query.where(Team.offer_id.in_(offer_ids or [0]))
    rows = await session.execute(query.order_by((Team.size - Team.seats_taken), Team.expires_at).limit(limit))
    return list(rows.scalars())


async def teams_of_user(session: AsyncSession, user_id: int, *, limit: int = 50, offset: int = 0) -> list[tuple[Team, TeamMember]]:
    rows = await session.execute(
        select(Team, TeamMember).join(TeamMember, TeamMember.team_id == Team.id).where(TeamMember.user_id == user_id).order_by(TeamMember.id.desc()).limit(limit).offset(offset)
    )
    return [(t, m) for t, m in rows.all()]


# ---------------------------------------------------------------- notices: how a member's team ended

TEAM_FILLED = "Your team for {product} filled: your order is paid."
TEAM_DONE_WITHOUT_YOU = "Your team for {product} completed without your payment: you were not charged."
TEAM_FAILED = "Your team for {product} did not fill: you were not charged."


async def tell_members(session: AsyncSession, team_id: int, offer_id: int, to: str, members: list[Any]) -> None:
    """A notice (core.notices) to each member who held a seat when the team closed, saying
    what it means for her: in the transaction that closed it, once per member and team."""
    from core.notices import service as notices

    if not members:
        return
    product = (await session.execute(
        select(Product.title).join(Variant, Variant.product_id == Product.id).join(GroupOffer, GroupOffer.variant_id == Variant.id).where(GroupOffer.id == offer_id)
    )).scalar_one()  # fmt: skip
    by_message: dict[str, list[int]] = {}
    for user_id, status in members:
        if to != TeamStatus.SUCCEEDED:
            message = TEAM_FAILED
        else:
            message = TEAM_FILLED if status in (MemberStatus.AUTHORIZED, MemberStatus.PAID) else TEAM_DONE_WITHOUT_YOU
        by_message.setdefault(message, []).append(user_id)
    for message, user_ids in by_message.items():
        await notices.notify(
            session, user_ids, kind="group_buy.team_closed", key=f"group_buy.team:{team_id}", message=message, args={"product": product}, url=f"/group-buy/teams/{team_id}",
        )


async def seat_of_cart(session: AsyncSession, cart_id: int) -> tuple[TeamMember, GroupOffer] | None:
    known = _SEAT_IN_CHECKOUT.get()
    if known is not None and known[0] == cart_id:  # asked by the pricing hooks of our own checkout: no query
        return known[1], known[2]
    row = (await session.execute(select(TeamMember, GroupOffer).join(GroupOffer, GroupOffer.id == TeamMember.offer_id).where(TeamMember.cart_id == cart_id))).first()
    return (row[0], row[1]) if row else None


# ---------------------------------------------------------------- reads for the pages (pages.py, portal.py)


@dataclass(frozen=True)
class Face:
    """A member as a page shows her: a name for initials, never an email."""

    team_id: int
    user_id: int
    name: str
    is_leader: bool
    status: str


async def faces_of_teams(session: AsyncSession, team_ids: list[int], *, refunded: bool = False) -> dict[int, list[Face]]:
    """Team id -> its members who hold a seat (and, for a team that failed, those refunded), leader first: one query."""
    from core.auth.models import User

    if not team_ids:
        return {}
    statuses = (*HOLDING, MemberStatus.REFUNDED) if refunded else HOLDING
    rows = await session.execute(
        select(TeamMember.team_id, TeamMember.user_id, User.display_name, TeamMember.is_leader, TeamMember.status)
        .join(User, User.id == TeamMember.user_id)
        .where(TeamMember.team_id.in_(team_ids), TeamMember.status.in_(statuses))
        .order_by(TeamMember.team_id, TeamMember.is_leader.desc(), TeamMember.id)
    )
    out: dict[int, list[Face]] = {team_id: [] for team_id in team_ids}
    for r in rows.all():
        out[r.team_id].append(Face(team_id=r.team_id, user_id=r.user_id, name=r.display_name or "?", is_leader=r.is_leader, status=r.status))
    return out


async def member_of(session: AsyncSession, team_id: int, user_id: int) -> tuple[TeamMember, str | None] | None:
    """The user's own seat in a team (whatever its state) and its checkout's token."""
    row = (
        await session.execute(
            select(TeamMember, Checkout.token).outerjoin(Checkout, Checkout.id == TeamMember.checkout_id).where(TeamMember.team_id == team_id, TeamMember.user_id == user_id)
        )
    ).first()
    return (row[0], row[1]) if row else None


async def team_counts(session: AsyncSession, offer_ids: list[int]) -> dict[int, dict[str, int]]:
    """Offer id -> teams per status (open, succeeded, failed): one query."""
    out = {offer_id: {TeamStatus.OPEN: 0, TeamStatus.SUCCEEDED: 0, TeamStatus.FAILED: 0} for offer_id in offer_ids}
    if not offer_ids:
        return out
    rows = await session.execute(select(Team.offer_id, Team.status, func.count()).where(Team.offer_id.in_(offer_ids)).group_by(Team.offer_id, Team.status))
    for offer_id, status, n in rows.all():
        out[offer_id][status] = n
    return out

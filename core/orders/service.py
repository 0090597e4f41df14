"""The order state machine. Every transition is a conditional UPDATE on the current
state, is recorded with who and when, and emits its event in the same transaction.

    pending_payment -> paid -> fulfilled -> completed
    pending_payment -> cancelled
    paid -> cancelled (refunded in full, restocked)
    paid | fulfilled | completed | partially_refunded -> partially_refunded | refunded
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import insert, select, update

from core.auth.permissions import Actor, can_act_for_brand, require_actor, require_brand_member
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event
from core.inventory import service as inventory
from core.inventory.models import HoldState, StockHold
from core.orders.models import Order, OrderLine, OrderStatus, OrderTransition

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

ALLOWED = {
    OrderStatus.PENDING_PAYMENT: {OrderStatus.PAID, OrderStatus.CANCELLED},
    OrderStatus.PAID: {OrderStatus.FULFILLED, OrderStatus.CANCELLED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED},
    OrderStatus.FULFILLED: {OrderStatus.COMPLETED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED},
    OrderStatus.COMPLETED: {OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED},
    OrderStatus.PARTIALLY_REFUNDED: {OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED, OrderStatus.FULFILLED, OrderStatus.COMPLETED},
    OrderStatus.CANCELLED: set(),
    OrderStatus.REFUNDED: {OrderStatus.CANCELLED},  # a paid order the brand cancelled: refunded, then closed
}

EVENT_FOR = {
    OrderStatus.PAID: "order.paid",
    OrderStatus.FULFILLED: "order.fulfilled",
    OrderStatus.COMPLETED: "order.completed",
    OrderStatus.CANCELLED: "order.cancelled",
    OrderStatus.PARTIALLY_REFUNDED: "order.refunded",
    OrderStatus.REFUNDED: "order.refunded",
}

ORDER_EVENT_TYPES = {
    "order.placed": "An order was created at checkout (OrderPlaced); stock is held.",
    "order.paid": "The payment for an order succeeded (OrderPaid).",
    "order.fulfilled": "A brand shipped an order (OrderFulfilled).",
    "order.completed": "The shopper received an order (OrderCompleted).",
    "order.cancelled": "An order was cancelled (OrderCancelled).",
    "order.refunded": "Money went back to the shopper, in part or in full (OrderRefunded).",
}


async def transition(
    session: AsyncSession, runtime: Runtime, order: Order, to: str, *, actor: Actor | None, kind: str = "user", note: str = "", **values: object
) -> bool:
    """Move `order` to `to` if it is still in the state we read. False if someone else moved it."""
    frm = order.status
    if to not in ALLOWED[frm]:
        raise Conflict(f"an order that is {frm} cannot become {to}")
    moved = await session.execute(
        update(Order).where(Order.id == order.id, Order.status == frm).values(status=to, updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    await session.refresh(order)
    session.add(OrderTransition(order_id=order.id, from_status=frm, to_status=to, actor_user_id=actor.user_id if actor else None, actor_kind=kind, note=note))
    record_event(session, runtime, EVENT_FOR[to], {"order_id": order.id, "number": order.number, "brand_id": order.brand_id, "from": frm, "to": to, "total_minor": order.total_minor, "refunded_minor": order.refunded_minor, "currency": order.currency})
    return True


async def transition_checkout_orders(
    session: AsyncSession, runtime: Runtime, checkout_id: int, frm: str, to: str, *, actor: Actor | None, kind: str = "user", note: str = "", **values: object
) -> list[int]:
    """`transition` for every order of a checkout that is still `frm`, set-based: one
    UPDATE (conditional on the state, as always), one INSERT of the transitions, and the
    events (flushed with the caller's next statement). Returns the ids moved."""
    if to not in ALLOWED[frm]:
        raise Conflict(f"an order that is {frm} cannot become {to}")
    table = Order.__table__
    moved = (
        await session.execute(
            update(table)
            .where(table.c.checkout_id == checkout_id, table.c.status == frm)
            .values(status=to, updated_at=utcnow(), **values)
            .returning(table.c.id, table.c.number, table.c.brand_id, table.c.total_minor, table.c.refunded_minor, table.c.currency)
        )
    ).all()
    if not moved:
        return []
    moved = sorted(moved, key=lambda r: r.id)
    actor_user_id = actor.user_id if actor else None
    now = utcnow()
    await session.execute(
        insert(OrderTransition.__table__),
        [{"order_id": r.id, "from_status": frm, "to_status": to, "actor_user_id": actor_user_id, "actor_kind": kind, "note": note, "at": now} for r in moved],
    )
    for r in moved:
        record_event(session, runtime, EVENT_FOR[to], {"order_id": r.id, "number": r.number, "brand_id": r.brand_id, "from": frm, "to": to, "total_minor": r.total_minor, "refunded_minor": r.refunded_minor, "currency": r.currency})
    return [r.id for r in moved]


async def holds_of(session: AsyncSession, order_id: int) -> list[StockHold]:
    rows = await session.execute(
        select(StockHold).join(OrderLine, OrderLine.id == StockHold.order_line_id).where(OrderLine.order_id == order_id).order_by(StockHold.id)
    )
    return list(rows.scalars())


async def get_order_for(session: AsyncSession, actor: Actor | None, order_id: int) -> Order:
    """The shopper who placed it or its brand's staff; anyone else gets 404, not 403."""
    actor = require_actor(actor)
    order = await session.get(Order, order_id)
    if order is None or not (order.user_id == actor.user_id or can_act_for_brand(actor, order.brand_id)):
        raise NotFound("no such order")
    return order


async def lines_of(session: AsyncSession, order_id: int) -> list[OrderLine]:
    return list((await session.execute(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id))).scalars())


async def orders_of_user(session: AsyncSession, user_id: int, limit: int = 50, offset: int = 0) -> list[Order]:
    rows = await session.execute(select(Order).where(Order.user_id == user_id).order_by(Order.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars())


async def last_address(session: AsyncSession, user_id: int | None, *, country: str = "CN") -> dict[str, str]:
    """Where her last order went, to fill an address form again; else just the country."""
    from core.orders.checkout import ADDRESS_FIELDS

    last = await orders_of_user(session, user_id, limit=1) if user_id is not None else []
    if last and last[0].address:
        return {k: str(v) for k, v in last[0].address.items() if k in ADDRESS_FIELDS}
    return {"country": country}


async def orders_of_brand(session: AsyncSession, actor: Actor | None, brand_id: int, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Order]:
    require_brand_member(actor, brand_id)
    query = select(Order).where(Order.brand_id == brand_id)
    if status:
        query = query.where(Order.status == status)
    rows = await session.execute(query.order_by(Order.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars())


async def fulfil(session: AsyncSession, runtime: Runtime, actor: Actor | None, order_id: int, *, carrier: str, tracking_number: str) -> Order:
    order = await get_order_for(session, actor, order_id)
    require_brand_member(actor, order.brand_id)
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not tracking_number or len(tracking_number) > 80 or not tracking_number.isprintable():
        raise ValidationFailed("enter the tracking number (up to 80 characters)")
    if not carrier or len(carrier) > 40 or not carrier.isprintable():
        raise ValidationFailed("enter the carrier (up to 40 characters)")
    if order.status == OrderStatus.FULFILLED and order.tracking_number == tracking_number:
        return order  # a double click
    if order.status not in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED):
        raise Conflict(f"an order that is {order.status} cannot be fulfilled")
    if not await transition(session, runtime, order, OrderStatus.FULFILLED, actor=actor, carrier=carrier, tracking_number=tracking_number):
        raise Conflict("the order changed meanwhile; reload it")
    for hold in await holds_of(session, order.id):
        if hold.state == HoldState.COMMITTED:
            await inventory.ship_hold(session, hold.id)
    return order


async def complete(session: AsyncSession, runtime: Runtime, actor: Actor | None, order_id: int) -> Order:
    """The shopper confirms receipt (or brand staff close it)."""
    order = await get_order_for(session, actor, order_id)
    if order.status == OrderStatus.COMPLETED:
        return order
    if order.status != OrderStatus.FULFILLED:
        raise Conflict(f"an order that is {order.status} cannot be completed")
    if not await transition(session, runtime, order, OrderStatus.COMPLETED, actor=actor):
        raise Conflict("the order changed meanwhile; reload it")
    return order

"""Refunds: a shopper asks, brand staff approve (full or partial, with or without
restock), the provider pays back, the order's state follows.

The Refund row's own state is the guard: approval flips requested -> approved and is
committed before the provider is called; only the call that flips approved ->
succeeded adds to the order's and the payment's refunded totals.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from sqlalchemy import func, select, update

from core.auth.permissions import Actor, require_actor, require_brand_member
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event
from core.inventory import service as inventory
from core.money import Money
from core.orders import service as orders
from core.orders.models import Order, OrderLine, OrderStatus, Refund, RefundStatus
from core.payments.models import Payment, PaymentStatus
from core.payments.service import provider_refund

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

REFUNDABLE = (OrderStatus.PAID, OrderStatus.FULFILLED, OrderStatus.COMPLETED, OrderStatus.PARTIALLY_REFUNDED)


def _amount(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValidationFailed("amount_minor must be a positive whole number of minor units")
    return value


async def refundable_minor(session: AsyncSession, order: Order) -> int:
    """What can still be refunded: total - refunded - refunds approved and under way."""
    pending = (
        await session.execute(select(func.coalesce(func.sum(Refund.amount_minor), 0)).where(Refund.order_id == order.id, Refund.status == RefundStatus.APPROVED))
    ).scalar_one()
    return order.total_minor - order.refunded_minor - int(pending)


async def request_refund(session: AsyncSession, runtime: Runtime, actor: Actor | None, order_id: int, *, amount_minor: int | None, reason: str) -> Refund:
    actor = require_actor(actor)
    order = await orders.get_order_for(session, actor, order_id)
    if order.user_id != actor.user_id:
        raise NotFound("no such order")
    if order.status not in REFUNDABLE:
        raise Conflict(f"an order that is {order.status} cannot be refunded")
    amount = _amount(amount_minor if amount_minor is not None else order.total_minor - order.refunded_minor)
    if amount > await refundable_minor(session, order):
        raise ValidationFailed("that is more than can still be refunded")
    if len(reason) > 2000 or not reason.strip():
        raise ValidationFailed("tell the brand why (up to 2000 characters)")
    refund = Refund(order_id=order.id, amount_minor=amount, currency=order.currency, reason=reason.strip(), status=RefundStatus.REQUESTED, requested_by=actor.user_id, idempotency_key=f"zc-re-{uuid.uuid4().hex}")
    session.add(refund)
    await session.flush()
    record_event(session, runtime, "order.refund_requested", {"order_id": order.id, "refund_id": refund.id, "amount_minor": amount, "brand_id": order.brand_id})
    return refund


async def reject_refund(session: AsyncSession, runtime: Runtime, actor: Actor | None, refund_id: int, *, note: str = "") -> Refund:
    refund, order = await _refund_for_brand(session, actor, refund_id)
    moved = await session.execute(
        update(Refund).where(Refund.id == refund.id, Refund.status == RefundStatus.REQUESTED).values(status=RefundStatus.REJECTED, decided_by=actor.user_id, reason=refund.reason + (f"\n— {note}" if note else "")).execution_options(synchronize_session=False)  # type: ignore[union-attr]
    )
    if moved.rowcount != 1:
        raise Conflict(f"this refund is {refund.status}")
    await session.refresh(refund)
    return refund


async def _refund_for_brand(session: AsyncSession, actor: Actor | None, refund_id: int) -> tuple[Refund, Order]:
    actor = require_actor(actor)
    refund = await session.get(Refund, refund_id)
    order = await session.get(Order, refund.order_id) if refund else None
    if refund is None or order is None or order.brand_id not in actor.brand_ids:
        raise NotFound("no such refund")
    return refund, order


async def approve_refund(runtime: Runtime, actor: Actor | None, refund_id: int, *, amount_minor: int | None = None, restock_line_ids: list[int] | None = None) -> Refund:
    """Brand staff approve a request (possibly for less); money goes back, stock too if asked."""
    async with runtime.db.session() as session:
        refund, order = await _refund_for_brand(session, actor, refund_id)
        require_brand_member(actor, order.brand_id)
        if refund.status in (RefundStatus.APPROVED, RefundStatus.SUCCEEDED):
            pass  # a double click or a retry after a provider error: carry on below
        elif refund.status != RefundStatus.REQUESTED:
            raise Conflict(f"this refund is {refund.status}")
        else:
            amount = _amount(amount_minor) if amount_minor is not None else refund.amount_minor
            if amount > refund.amount_minor or amount > await refundable_minor(session, order):
                raise ValidationFailed("that is more than can be refunded")
            restock = await _restockable(session, order.id, restock_line_ids or [])
            moved = await session.execute(
                update(Refund)
                .where(Refund.id == refund.id, Refund.status == RefundStatus.REQUESTED)
                .values(status=RefundStatus.APPROVED, amount_minor=amount, restock=bool(restock), restock_line_ids=restock, decided_by=actor.user_id)  # type: ignore[union-attr]
                .execution_options(synchronize_session=False)
            )
            if moved.rowcount != 1:
                raise Conflict("this refund changed meanwhile; reload it")
        await session.commit()
        await session.refresh(refund)
    return await _execute_refund(runtime, refund.id, actor)


async def _restockable(session: AsyncSession, order_id: int, line_ids: list[int]) -> list[int]:
    if not line_ids:
        return []
    known = set((await session.execute(select(OrderLine.id).where(OrderLine.order_id == order_id, OrderLine.id.in_(line_ids)))).scalars())
    if known != set(line_ids):
        raise ValidationFailed("restock lines must belong to this order")
    return sorted(known)


async def refund_directly(runtime: Runtime, actor: Actor | None, order_id: int, *, amount_minor: int, reason: str, restock_line_ids: list[int] | None = None) -> Refund:
    """Brand staff refund without a request (goodwill, a missing item)."""
    async with runtime.db.session() as session:
        actor = require_actor(actor)
        order = await orders.get_order_for(session, actor, order_id)
        require_brand_member(actor, order.brand_id)
        if order.status not in REFUNDABLE:
            raise Conflict(f"an order that is {order.status} cannot be refunded")
        amount = _amount(amount_minor)
        if amount > await refundable_minor(session, order):
            raise ValidationFailed("that is more than can still be refunded")
        restock = await _restockable(session, order.id, restock_line_ids or [])
        refund = Refund(
            order_id=order.id, amount_minor=amount, currency=order.currency, reason=reason.strip()[:2000] or "refund by the brand",
            restock=bool(restock), restock_line_ids=restock, status=RefundStatus.APPROVED, requested_by=actor.user_id, decided_by=actor.user_id, idempotency_key=f"zc-re-{uuid.uuid4().hex}",
        )
        session.add(refund)
        await session.commit()
    return await _execute_refund(runtime, refund.id, actor)


async def _execute_refund(runtime: Runtime, refund_id: int, actor: Actor | None) -> Refund:
    async with runtime.db.read_session() as session:
        refund = await session.get(Refund, refund_id)
        assert refund is not None
        if refund.status == RefundStatus.SUCCEEDED:
            return refund
        order = await session.get(Order, refund.order_id)
        payment = (await session.execute(select(Payment).where(Payment.checkout_id == order.checkout_id, Payment.status == PaymentStatus.SUCCEEDED).limit(1))).scalar_one_or_none()  # type: ignore[union-attr]
    if payment is None:
        raise Conflict("this order has no captured payment to refund")
    provider_ref = await provider_refund(runtime, payment, refund.amount_minor, refund.idempotency_key)
    async with runtime.db.session() as session:
        done = await session.execute(
            update(Refund).where(Refund.id == refund.id, Refund.status == RefundStatus.APPROVED).values(status=RefundStatus.SUCCEEDED, provider_ref=provider_ref, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:
            added = await session.execute(
                update(Order)
                .where(Order.id == refund.order_id, Order.refunded_minor + refund.amount_minor <= Order.total_minor)
                .values(refunded_minor=Order.refunded_minor + refund.amount_minor)
                .execution_options(synchronize_session=False)
            )
            if added.rowcount != 1:
                raise Conflict("refunds would exceed the order total")
            await session.execute(
                update(Payment).where(Payment.id == payment.id).values(refunded_minor=Payment.refunded_minor + refund.amount_minor, updated_at=utcnow()).execution_options(synchronize_session=False)
            )
            order = await session.get(Order, refund.order_id)
            await session.refresh(order)
            assert order is not None
            target = OrderStatus.REFUNDED if order.refunded_minor >= order.total_minor else OrderStatus.PARTIALLY_REFUNDED
            await orders.transition(session, runtime, order, target, actor=actor, kind="user" if actor else "system", note=f"refund {refund.id}: {Money(refund.amount_minor, order.currency)}")
            restock = set(refund.restock_line_ids or ())
            if restock:
                for hold in await orders.holds_of(session, order.id):
                    if hold.order_line_id in restock:
                        if await inventory.restock_hold(session, hold.id):
                            await session.execute(
                                update(OrderLine).where(OrderLine.id == hold.order_line_id).values(restocked_quantity=OrderLine.restocked_quantity + hold.quantity).execution_options(synchronize_session=False)
                            )
        await session.commit()
        return await session.get(Refund, refund.id, populate_existing=True)  # type: ignore[return-value]


async def cancel_paid_order(runtime: Runtime, actor: Actor | None, order_id: int, *, reason: str) -> Order:
    """Brand staff cancel a paid, unshipped order: full refund, all stock back, cancelled."""
    async with runtime.db.session() as session:
        order = await orders.get_order_for(session, actor, order_id)
        require_brand_member(actor, order.brand_id)
        if order.status != OrderStatus.PAID:
            raise Conflict(f"an order that is {order.status} cannot be cancelled; refund it instead")
        line_ids = [ln.id for ln in await orders.lines_of(session, order.id)]
        open_amount = await refundable_minor(session, order)
    if open_amount > 0:
        await refund_directly(runtime, actor, order_id, amount_minor=open_amount, reason=reason or "cancelled by the brand", restock_line_ids=line_ids)
    async with runtime.db.session() as session:
        order = await session.get(Order, order_id)
        assert order is not None
        if order.status == OrderStatus.REFUNDED:
            await orders.transition(session, runtime, order, OrderStatus.CANCELLED, actor=actor, note=reason)
        await session.commit()
        await session.refresh(order)
        return order

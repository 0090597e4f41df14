"""Sample orders: a brand ships free product to a creator through the normal order pipeline.

A sample is an ordinary order at price zero, so it shows in the brand's and the
creator's order lists, moves stock the way every order does and carries a tracking
number. It skips the parts that make no sense at price zero (pricing hooks, payment):

    Cart (converted) -> Checkout (paid, total 0) -> Order pending_payment -> paid -> fulfilled

with one StockHold per line taken from the named stock pool (a campaign's samples),
committed at once and shipped by `core.orders.service.fulfil`. Everything happens in
the caller's transaction: if a pool is short, `OutOfStock` (409) is raised and the
caller's rollback leaves nothing behind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.auth.permissions import Actor, require_brand_member
from core.catalog.models import Product, Variant
from core.db import utcnow
from core.errors import NotFound, ValidationFailed
from core.events import record_event
from core.inventory import service as inventory
from core.orders import service as orders
from core.orders.checkout import clean_address
from core.orders.models import (
    Cart,
    CartStatus,
    Checkout,
    CheckoutStatus,
    Order,
    OrderLine,
    OrderStatus,
    OrderTransition,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

SAMPLE_NOTE = "sample"


@dataclass(frozen=True)
class SampleItem:
    """`quantity` units of a variant, taken from stock pool `pool_id`."""

    variant_id: int
    pool_id: int
    quantity: int = 1


async def create_sample_order(
    session: AsyncSession,
    runtime: Runtime,
    actor: Actor | None,
    *,
    brand_id: int,
    recipient_user_id: int,
    email: str,
    currency: str,
    address: dict[str, Any],
    items: list[SampleItem],
    carrier: str,
    tracking_number: str,
    note: str = SAMPLE_NOTE,
) -> Order:
    """Create, pay (at zero) and fulfil a sample order for `recipient_user_id`. The actor
    ships it, so it must be a member of the brand. Returns the fulfilled order."""
    require_brand_member(actor, brand_id)
    address = clean_address(address)
    if not items:
        raise ValidationFailed("a sample order needs at least one item")
    carrier, tracking_number = carrier.strip(), tracking_number.strip()
    if not tracking_number or len(tracking_number) > 80 or not tracking_number.isprintable():
        raise ValidationFailed("enter the tracking number (up to 80 characters)", extra={"fields": {"tracking_number": "invalid"}})
    if not carrier or len(carrier) > 40 or not carrier.isprintable():
        raise ValidationFailed("enter the carrier (up to 40 characters)", extra={"fields": {"carrier": "invalid"}})
    rows = (
        await session.execute(
            select(Variant, Product).join(Product, Product.id == Variant.product_id).where(Variant.id.in_([i.variant_id for i in items]), Product.brand_id == brand_id)
        )
    ).all()
    catalog = {v.id: (v, p) for v, p in rows}
    for item in items:
        if item.variant_id not in catalog:
            raise NotFound("no such variant for this brand")
        if isinstance(item.quantity, bool) or not isinstance(item.quantity, int) or item.quantity <= 0:
            raise ValidationFailed("sample quantities are positive whole numbers")

    now = utcnow()
    cart = Cart(token=str(uuid.uuid4()), user_id=recipient_user_id, currency=currency, status=CartStatus.CONVERTED)
    session.add(cart)
    await session.flush()
    checkout = Checkout(
        cart_id=cart.id, user_id=recipient_user_id, token=str(uuid.uuid4()), email=email, currency=currency, total_minor=0,
        address=address, status=CheckoutStatus.PAID, expires_at=now,
    )
    session.add(checkout)
    await session.flush()
    order = Order(
        number=f"ZC{checkout.id:07d}-S", checkout_id=checkout.id, brand_id=brand_id, user_id=recipient_user_id, email=email, currency=currency,
        subtotal_minor=0, discount_minor=0, shipping_minor=0, tax_minor=0, tax_inclusive=True, total_minor=0, refunded_minor=0,
        status=OrderStatus.PENDING_PAYMENT, address=address,
    )
    session.add(order)
    await session.flush()
    lines = []
    for item in items:
        variant, product = catalog[item.variant_id]
        line = OrderLine(
            order_id=order.id, variant_id=variant.id, product_id=product.id, title=product.title, sku=variant.sku, options=dict(variant.options or {}),
            quantity=item.quantity, unit_price_minor=0, discount_minor=0, tax_minor=0, total_minor=0, adjustments=[], restocked_quantity=0,
        )
        session.add(line)
        lines.append((line, item))
    session.add(OrderTransition(order_id=order.id, from_status=None, to_status=OrderStatus.PENDING_PAYMENT, actor_user_id=actor.user_id if actor else None, actor_kind="user", note=note))
    await session.flush()
    record_event(session, runtime, "order.placed", {
        "order_id": order.id, "number": order.number, "brand_id": brand_id, "checkout_id": checkout.id, "user_id": recipient_user_id,
        "total_minor": 0, "currency": currency, "sample": True,
    })
    # the pools decide: a pool with too few units raises OutOfStock (409) and the caller rolls back
    for line, item in sorted(lines, key=lambda li: li[1].variant_id):
        await inventory.reserve(session, variant_id=item.variant_id, quantity=item.quantity, order_line_id=line.id, pool_id=item.pool_id)
    await orders.transition(session, runtime, order, OrderStatus.PAID, actor=actor, kind="system", note=note, paid_at=now)
    await inventory.commit_holds(session, [line.id for line, _ in lines])
    return await orders.fulfil(session, runtime, actor, order.id, carrier=carrier, tracking_number=tracking_number)

"""ORM and quotes -> the API's explicit structs (shared by the JSON API and the pages)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from core.orders import service as orders
from core.orders.cart import cart_lines
from core.orders.models import Cart, Checkout, Order, OrderTransition, Refund
from core.orders.schemas import (
    AdjustmentOut,
    BrandGroupOut,
    CartLineOut,
    CartOut,
    CheckoutOut,
    OrderLineOut,
    OrderOut,
    PaymentOut,
    RefundOut,
    TransitionOut,
)
from core.payments.models import Payment
from core.pricing import Quote

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def cart_out(session: AsyncSession, cart: Cart, q: Quote) -> CartOut:
    priced = {ln.variant_id for b in q.brands for ln in b.lines}
    unavailable = [vid for vid, _ in await cart_lines(session, cart.id) if vid not in priced]
    groups = [
        BrandGroupOut(
            brand_id=b.brand_id, brand_name=b.brand_name, subtotal_minor=b.subtotal_minor, shipping_minor=b.shipping_minor,
            tax_minor=b.tax_minor, tax_inclusive=b.tax_inclusive, total_minor=b.total_minor,
            lines=[
                CartLineOut(
                    variant_id=ln.variant_id, product_id=ln.product_id, title=ln.title, sku=ln.sku, options=ln.options, quantity=ln.quantity,
                    unit_price_minor=ln.unit_price_minor, discount_minor=ln.discount_minor, line_total_minor=ln.net_minor,
                    adjustments=[AdjustmentOut(**a) for a in ln.adjustments],
                )
                for ln in b.lines
            ],
        )
        for b in q.brands
    ]
    return CartOut(
        token=cart.token, currency=cart.currency, status=cart.status, groups=groups, total_minor=q.total_minor, unavailable_variant_ids=unavailable,
        codes=[c["code"] for c in cart.codes or [] if isinstance(c, dict) and c.get("code")],
    )


async def order_out(session: AsyncSession, order: Order, *, detail: bool = True) -> OrderOut:
    out = OrderOut(
        id=order.id, number=order.number, brand_id=order.brand_id, status=order.status, currency=order.currency, subtotal_minor=order.subtotal_minor,
        discount_minor=order.discount_minor, shipping_minor=order.shipping_minor, tax_minor=order.tax_minor, tax_inclusive=order.tax_inclusive,
        total_minor=order.total_minor, refunded_minor=order.refunded_minor, email=order.email, address=order.address, carrier=order.carrier,
        tracking_number=order.tracking_number, created_at=order.created_at, paid_at=order.paid_at,
    )
    if detail:
        out.lines = [
            OrderLineOut(
                id=ln.id, variant_id=ln.variant_id, title=ln.title, sku=ln.sku, options=ln.options, quantity=ln.quantity, unit_price_minor=ln.unit_price_minor,
                discount_minor=ln.discount_minor, tax_minor=ln.tax_minor, total_minor=ln.total_minor, restocked_quantity=ln.restocked_quantity,
            )
            for ln in await orders.lines_of(session, order.id)
        ]
        rows = await session.execute(select(OrderTransition).where(OrderTransition.order_id == order.id).order_by(OrderTransition.id))
        out.transitions = [
            TransitionOut(from_status=t.from_status, to_status=t.to_status, actor_kind=t.actor_kind, actor_user_id=t.actor_user_id, at=t.at, note=t.note) for t in rows.scalars()
        ]
    return out


def payment_out(payment: Payment, client_secret: str | None = None) -> PaymentOut:
    return PaymentOut(
        id=payment.id, provider=payment.provider, status=payment.status, amount_minor=payment.amount_minor, captured_minor=payment.captured_minor,
        refunded_minor=payment.refunded_minor, test_mode=payment.test_mode, client_secret=client_secret, last_error=payment.last_error,
    )


async def checkout_out(session: AsyncSession, checkout: Checkout) -> CheckoutOut:
    from core.orders.checkout import orders_of_checkout

    payment = (await session.execute(select(Payment).where(Payment.checkout_id == checkout.id).order_by(Payment.id.desc()).limit(1))).scalar_one_or_none()
    return CheckoutOut(
        token=checkout.token, status=checkout.status, currency=checkout.currency, total_minor=checkout.total_minor, email=checkout.email,
        expires_at=checkout.expires_at, orders=[await order_out(session, o) for o in await orders_of_checkout(session, checkout.id)],
        payment=payment_out(payment) if payment else None,
    )


def refund_out(refund: Refund) -> RefundOut:
    return RefundOut(
        id=refund.id, order_id=refund.order_id, amount_minor=refund.amount_minor, currency=refund.currency, status=refund.status,
        reason=refund.reason, restock_line_ids=list(refund.restock_line_ids or []), created_at=refund.created_at,
    )

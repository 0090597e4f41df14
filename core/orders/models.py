from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, TimestampMixin, utcnow

MAX_LINE_QUANTITY = 999


class CartStatus:
    OPEN = "open"
    CHECKING_OUT = "checking_out"  # a checkout holds its stock; the cart is frozen
    CONVERTED = "converted"  # paid: the orders exist
    MERGED = "merged"  # a guest cart folded into the user's cart at login


CART_KIND_SHOP = "shop"


class Cart(IdMixin, TimestampMixin, Base):
    __tablename__ = "cart"

    token: Mapped[str] = mapped_column(String(36), unique=True)  # the guest cookie
    user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(14), default=CartStatus.OPEN, index=True)
    # creator codes the shopper applied ({"code", "at"}) and the first-party visitor id
    # (`zc_vid` cookie): both go to the checkout, for pricing and attribution
    codes: Mapped[list[Any]] = mapped_column(default=list)
    visitor_id: Mapped[str | None] = mapped_column(String(36))
    # "shop": the shopper's cart. Anything else is a plugin's one-off cart (a team
    # purchase), bought through its own pages: never found as the shopper's cart
    kind: Mapped[str] = mapped_column(String(20), default=CART_KIND_SHOP, server_default=CART_KIND_SHOP)


class CartLine(IdMixin, Base):
    __tablename__ = "cart_line"
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id"),
        CheckConstraint(f"quantity > 0 AND quantity <= {MAX_LINE_QUANTITY}", name="quantity"),
    )

    cart_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("cart.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class CheckoutStatus:
    OPEN = "open"  # stock held, waiting for payment
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class Checkout(IdMixin, TimestampMixin, Base):
    """One shopper's purchase: one payment covering one order per brand."""

    __tablename__ = "checkout"
    __table_args__ = (CheckConstraint("total_minor >= 0", name="total"),)

    cart_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("cart.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    token: Mapped[str] = mapped_column(String(36), unique=True)
    email: Mapped[str] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3))
    total_minor: Mapped[int] = mapped_column(BigInteger)
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(10), default=CheckoutStatus.OPEN, index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    codes: Mapped[list[Any]] = mapped_column(default=list)  # the cart's creator codes, as checked out
    visitor_id: Mapped[str | None] = mapped_column(String(36))  # the cart's visitor id (attribution of link clicks)
    # "manual": the payment is only authorized and someone captures it later (a team
    # purchase captures when the team fills); whatever a client asks for
    capture_method: Mapped[str] = mapped_column(String(10), default="automatic", server_default="automatic")
    # where the shopper goes once the payment is authorized or the checkout cancelled (a
    # plugin's page, e.g. the team's); None: the storefront's own pages
    return_path: Mapped[str | None] = mapped_column(String(200))


class OrderStatus:
    PENDING_PAYMENT = "pending_payment"
    PAID = "paid"
    FULFILLED = "fulfilled"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"


class Order(IdMixin, TimestampMixin, Base):
    __tablename__ = "sales_order"
    __table_args__ = (
        CheckConstraint("subtotal_minor >= 0 AND shipping_minor >= 0 AND tax_minor >= 0 AND discount_minor >= 0", name="amounts"),
        CheckConstraint("total_minor >= 0", name="total"),
        CheckConstraint("refunded_minor >= 0 AND refunded_minor <= total_minor", name="refunded"),
    )

    number: Mapped[str] = mapped_column(String(24), unique=True)
    checkout_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("checkout.id", ondelete="RESTRICT"), index=True)
    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="RESTRICT"), index=True)
    user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"), index=True)
    email: Mapped[str] = mapped_column(String(320))
    currency: Mapped[str] = mapped_column(String(3))
    subtotal_minor: Mapped[int] = mapped_column(BigInteger)  # after line discounts, tax as priced
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    shipping_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # included or added, see tax_inclusive
    tax_inclusive: Mapped[bool] = mapped_column(default=True)
    total_minor: Mapped[int] = mapped_column(BigInteger)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(20), default=OrderStatus.PENDING_PAYMENT, index=True)
    address: Mapped[dict[str, Any]] = mapped_column(default=dict)
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_number: Mapped[str | None] = mapped_column(String(80))
    paid_at: Mapped[datetime | None]


class OrderLine(IdMixin, Base):
    __tablename__ = "order_line"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity"), CheckConstraint("total_minor >= 0", name="total"))

    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="RESTRICT"))
    product_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("product.id", ondelete="RESTRICT"))
    title: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64))
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(BigInteger)
    discount_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    tax_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    total_minor: Mapped[int] = mapped_column(BigInteger)  # quantity * unit - discount (+ added tax)
    adjustments: Mapped[list[Any]] = mapped_column(default=list)
    restocked_quantity: Mapped[int] = mapped_column(Integer, default=0)


class OrderTransition(IdMixin, Base):
    """Who moved an order from one state to another, and when."""

    __tablename__ = "order_transition"

    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"))
    actor_kind: Mapped[str] = mapped_column(String(10))  # user | system | provider
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class RefundStatus:
    REQUESTED = "requested"
    REJECTED = "rejected"
    APPROVED = "approved"  # money is on its way back (provider call pending)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Refund(IdMixin, TimestampMixin, Base):
    __tablename__ = "refund"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount"),)

    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    restock: Mapped[bool] = mapped_column(default=False)
    restock_line_ids: Mapped[list[Any]] = mapped_column(default=list)
    reason: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=RefundStatus.REQUESTED, index=True)
    requested_by: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_by: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider_ref: Mapped[str | None] = mapped_column(String(100))

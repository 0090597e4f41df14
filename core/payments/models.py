from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, TimestampMixin, utcnow


class PaymentStatus:
    PENDING = "pending"  # created locally, provider not yet called (or the call's outcome unknown)
    REQUIRES_ACTION = "requires_action"  # waiting for the shopper (card form, 3-D Secure)
    AUTHORIZED = "authorized"  # manual capture: funds held
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Payment(IdMixin, TimestampMixin, Base):
    """One payment attempt for a checkout. Its idempotency key is stored before the
    provider is called and reused on every retry, so a double submit charges once."""

    __tablename__ = "payment"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref"),
        CheckConstraint("amount_minor >= 0 AND captured_minor >= 0 AND refunded_minor >= 0", name="amounts"),
        CheckConstraint("refunded_minor <= captured_minor", name="refunded"),
    )

    checkout_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("checkout.id", ondelete="RESTRICT"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    capture_method: Mapped[str] = mapped_column(String(10), default="automatic")
    status: Mapped[str] = mapped_column(String(16), default=PaymentStatus.PENDING, index=True)
    captured_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    test_mode: Mapped[bool] = mapped_column(default=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    # the card's fingerprint from the provider (same card, same value): self-referral checks
    fingerprint: Mapped[str | None] = mapped_column(String(64), index=True)


class ProviderEvent(IdMixin, Base):
    """A webhook event, stored once by its id before it is processed."""

    __tablename__ = "payment_provider_event"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(Text)

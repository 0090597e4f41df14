from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, utcnow


class StockLocation(IdMixin, Base):
    __tablename__ = "stock_location"
    __table_args__ = (UniqueConstraint("brand_id", "name"),)

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(80))
    position: Mapped[int] = mapped_column(Integer, default=0)


class StockLevel(Base):
    """General stock of one variant at one location.

    on_hand = available + reserved + committed + (units set aside in pools).
    """

    __tablename__ = "stock_level"
    __table_args__ = (
        CheckConstraint("available >= 0", name="available"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("committed >= 0", name="committed"),
        CheckConstraint("on_hand >= 0", name="on_hand"),
    )

    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"), primary_key=True)
    location_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("stock_location.id", ondelete="CASCADE"), primary_key=True)
    on_hand: Mapped[int] = mapped_column(Integer, default=0)
    available: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    committed: Mapped[int] = mapped_column(Integer, default=0)


class StockPool(IdMixin, Base):
    """Units of one variant at one location set aside under a name (campaign samples,
    a flash deal). Taken from the level's `available`; never oversold either."""

    __tablename__ = "stock_pool"
    __table_args__ = (
        UniqueConstraint("location_id", "name"),  # a brand's own names; set_aside keeps them unique per brand
        CheckConstraint("available >= 0", name="available"),
        CheckConstraint("reserved >= 0", name="reserved"),
        CheckConstraint("committed >= 0", name="committed"),
    )

    name: Mapped[str] = mapped_column(String(120))
    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("stock_location.id", ondelete="CASCADE"))
    available: Mapped[int] = mapped_column(Integer, default=0)
    reserved: Mapped[int] = mapped_column(Integer, default=0)
    committed: Mapped[int] = mapped_column(Integer, default=0)


class HoldState:
    ACTIVE = "active"
    COMMITTED = "committed"
    RELEASED = "released"
    SHIPPED = "shipped"
    RESTOCKED = "restocked"


class StockHold(IdMixin, Base):
    """A reservation of units for one order line, from a level or a pool, with an expiry.

    Its `state` moves by conditional UPDATEs only, so a repeated expiry job, payment
    webhook or cancel can move it once.
    """

    __tablename__ = "stock_hold"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("state in ('active','committed','released','shipped','restocked')", name="state"),
    )

    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("stock_location.id", ondelete="CASCADE"))
    pool_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("stock_pool.id", ondelete="CASCADE"))
    order_line_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("order_line.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(10), default=HoldState.ACTIVE, index=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

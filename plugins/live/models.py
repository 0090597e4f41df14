"""The live plugin's tables (prefix `live_`): rooms, their staff, flash deals and the
room's timeline (what a replay's chapters are made of).

A flash deal sells from a stock pool of its own, carved from general stock when the deal
is made: a unit is sold only by the core's conditional UPDATE of that pool, so a deal
never sells more than its quantity however many viewers buy at once. Money lives in the
core's checkouts; a claim only points at the buyer's cart.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, TimestampMixin

CART_KIND = "live"  # the core cart kind of a flash-deal purchase (core.orders.cart.new_cart)
MAX_PINS = 3  # pinned products at once, as Bambuser highlights them
COUNTDOWN_RANGE = (10, 300)  # seconds before a flash deal starts
DURATION_RANGE = (60, 20 * 60)  # seconds a flash deal runs


class RoomStatus:
    SCHEDULED = "scheduled"
    LIVE = "live"
    ENDED = "ended"


class RoomRole:
    CO_HOST = "co_host"  # runs the room with the host: pins, launches deals, moderates
    MODERATOR = "moderator"  # deletes messages, mutes and bans


class LiveRoom(IdMixin, TimestampMixin, Base):
    """One live stream: a host selling one brand's products."""

    __tablename__ = "live_room"
    __table_args__ = (Index("ix_live_room_status_scheduled", "status", "scheduled_at"),)

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), index=True)  # whose products it sells
    host_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    cover_url: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(10), default=RoomStatus.SCHEDULED)
    scheduled_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # the encoder's stream key (secret: only the host and the brand's staff see it) and where viewers play it
    ingest_key: Mapped[str] = mapped_column(String(64), unique=True)
    stream_provider: Mapped[str] = mapped_column(String(40), default="nginx_rtmp")
    playback_url: Mapped[str] = mapped_column(String(500), default="")
    replay_url: Mapped[str] = mapped_column(String(500), default="")
    pinned: Mapped[list[Any]] = mapped_column(default=list)  # product ids, newest first, at most MAX_PINS
    chat_interval_seconds: Mapped[int] = mapped_column(Integer, default=2)  # per viewer; slow mode raises it
    peak_viewers: Mapped[int] = mapped_column(Integer, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)


class RoomMember(Base):
    """A co-host or a moderator of a room; a muted or banned viewer is a RoomBan."""

    __tablename__ = "live_room_member"

    room_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("live_room.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(12))


class RoomBan(Base):
    """A viewer a moderator muted (until a time) or banned (for good) in one room."""

    __tablename__ = "live_room_ban"

    room_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("live_room.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    until: Mapped[datetime | None]  # None: banned; a time: muted until then
    by_user_id: Mapped[int] = mapped_column(BigIntPK)
    created_at: Mapped[datetime]


class FlashDeal(IdMixin, TimestampMixin, Base):
    """A deal price on one variant for a few minutes, from a pool of `quantity` units.
    Ready when made; launched by the host (countdown, then running); ended by time or by
    hand, when the unsold units go back to general stock."""

    __tablename__ = "live_flash_deal"
    __table_args__ = (
        CheckConstraint("deal_price_minor > 0", name="price"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("per_customer_limit >= 1", name="per_customer"),
        CheckConstraint(f"countdown_seconds >= {COUNTDOWN_RANGE[0]} AND countdown_seconds <= {COUNTDOWN_RANGE[1]}", name="countdown"),
        CheckConstraint(f"duration_seconds >= {DURATION_RANGE[0]} AND duration_seconds <= {DURATION_RANGE[1]}", name="duration"),
    )

    room_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("live_room.id", ondelete="CASCADE"), index=True)
    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("product.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"), index=True)
    pool_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("stock_pool.id", ondelete="SET NULL"))
    currency: Mapped[str] = mapped_column(String(3))
    deal_price_minor: Mapped[int] = mapped_column(BigInteger)
    quantity: Mapped[int] = mapped_column(Integer)
    per_customer_limit: Mapped[int] = mapped_column(Integer, default=1)
    countdown_seconds: Mapped[int] = mapped_column(Integer, default=30)
    duration_seconds: Mapped[int] = mapped_column(Integer, default=300)
    launched_at: Mapped[datetime | None]
    starts_at: Mapped[datetime | None]  # launched_at + countdown
    ends_at: Mapped[datetime | None]  # starts_at + duration, or earlier when ended by hand
    ended_at: Mapped[datetime | None]  # its unsold units were given back
    returned: Mapped[int] = mapped_column(Integer, default=0)  # units given back to general stock


class DealClaim(IdMixin, TimestampMixin, Base):
    """A viewer's purchase from a deal: her one-off cart of `quantity` units. Counted
    against the per-customer limit while its checkout is open or paid."""

    __tablename__ = "live_deal_claim"
    __table_args__ = (UniqueConstraint("cart_id"), Index("ix_live_deal_claim_deal_user", "deal_id", "user_id"))

    deal_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("live_flash_deal.id", ondelete="CASCADE"))
    room_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("live_room.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    quantity: Mapped[int] = mapped_column(Integer)
    cart_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("cart.id", ondelete="RESTRICT"))
    checkout_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("checkout.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="open")  # open | paid | closed


class RoomEvent(IdMixin, Base):
    """The room's timeline: pins, unpins and deal events with their offset in the stream
    (milliseconds since it went live), which the replay turns into product chapters."""

    __tablename__ = "live_room_event"
    __table_args__ = (Index("ix_live_room_event_room_offset", "room_id", "offset_ms"),)

    room_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("live_room.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # pin | unpin | deal_launched | deal_ended | live | ended
    offset_ms: Mapped[int] = mapped_column(BigInteger)
    product_id: Mapped[int | None] = mapped_column(BigIntPK)
    deal_id: Mapped[int | None] = mapped_column(BigIntPK)
    detail: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


MODELS = (LiveRoom, RoomMember, RoomBan, FlashDeal, DealClaim, RoomEvent)

"""The group_buy plugin's tables (prefix `group_buy_`): offers, teams and their members.

A team's seat count is only ever changed by one conditional UPDATE on the team row (a
seat is taken only while `seats_taken < size`), in the same transaction as the member
row it counts, so a team never has more members than its size however many people join
at once. Money lives in the core's checkouts and payments; a member only points at hers.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, TimestampMixin

CART_KIND = "group_buy"  # the core cart kind of a team purchase (core.orders.cart.new_cart)
MIN_TEAM_SIZE = 2
MAX_TEAM_SIZE = 50
DEFAULT_TIME_LIMIT_MINUTES = 24 * 60


class TeamStatus:
    OPEN = "open"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class MemberStatus:
    SEATED = "seated"  # seat taken, checkout open: paying
    AUTHORIZED = "authorized"  # the card is authorized: waiting for the team to fill
    PAID = "paid"  # captured when the team succeeded
    LEFT = "left"  # the checkout closed before the card was authorized (gave up, or its hold ran out): seat freed
    REFUNDED = "refunded"  # the team failed: the authorization voided (or the money given back)


HOLDING = (MemberStatus.SEATED, MemberStatus.AUTHORIZED, MemberStatus.PAID)  # members who hold a seat


class GroupOffer(IdMixin, TimestampMixin, Base):
    """A brand's team price on one variant."""

    __tablename__ = "group_buy_offer"
    __table_args__ = (
        CheckConstraint("team_price_minor > 0", name="price"),
        CheckConstraint(f"team_size >= {MIN_TEAM_SIZE} AND team_size <= {MAX_TEAM_SIZE}", name="size"),
        CheckConstraint("time_limit_minutes >= 5", name="time_limit"),
        CheckConstraint("per_user_limit >= 1", name="per_user"),
        CheckConstraint("total_limit IS NULL OR (total_limit >= team_size AND units_promised <= total_limit)", name="total"),
        CheckConstraint("units_promised >= 0", name="promised"),
    )

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    team_price_minor: Mapped[int] = mapped_column(BigInteger)
    team_size: Mapped[int] = mapped_column(Integer)
    time_limit_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_TIME_LIMIT_MINUTES)
    per_user_limit: Mapped[int] = mapped_column(Integer, default=1)  # teams one shopper may hold a seat in, for this offer
    total_limit: Mapped[int | None] = mapped_column(Integer)  # units sold through the offer, at most
    # seats promised to open and succeeded teams (a team promises its whole size when it
    # opens, and gives back what it did not sell when it closes): the total limit's counter
    units_promised: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    pool_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("stock_pool.id", ondelete="SET NULL"))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime | None]
    auto_complete: Mapped[bool] = mapped_column(Boolean, default=False)  # time runs out with at least the leader: it completes as if full
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class Team(IdMixin, TimestampMixin, Base):
    """One team: a leader and the people who joined through the share link."""

    __tablename__ = "group_buy_team"
    __table_args__ = (
        CheckConstraint("seats_taken >= 0 AND seats_taken <= size", name="seats"),
        CheckConstraint("authorized_count >= 0 AND authorized_count <= seats_taken", name="authorized"),
        Index("ix_group_buy_team_open_expires", "status", "expires_at"),
    )

    offer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("group_buy_offer.id", ondelete="CASCADE"), index=True)
    leader_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    size: Mapped[int] = mapped_column(Integer)  # the offer's team size when it opened
    status: Mapped[str] = mapped_column(String(10), default=TeamStatus.OPEN, index=True)
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    authorized_count: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    closed_reason: Mapped[str | None] = mapped_column(String(40))  # "full", "auto_complete", "expired", "leader_left"


class TeamMember(IdMixin, TimestampMixin, Base):
    __tablename__ = "group_buy_member"
    __table_args__ = (UniqueConstraint("team_id", "user_id"), UniqueConstraint("cart_id"), Index("ix_group_buy_member_offer_user", "offer_id", "user_id"))

    team_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("group_buy_team.id", ondelete="CASCADE"), index=True)
    offer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("group_buy_offer.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    is_leader: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=MemberStatus.SEATED, index=True)
    cart_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("cart.id", ondelete="RESTRICT"))
    checkout_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("checkout.id", ondelete="RESTRICT"), index=True)
    # when she was told how her team ended (a core notice, for the members holding a seat then)
    notified_at: Mapped[datetime | None] = mapped_column()


MODELS = (GroupOffer, Team, TeamMember)

"""Tables of the seeding half of Zhongcao."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, TimestampMixin, utcnow


class StatsSource:
    SELF_REPORTED = "self_reported"  # typed in by the creator; shown as such to brands
    # otherwise the name of the plugin that computed them (e.g. "notes")


class CreatorProfile(IdMixin, TimestampMixin, Base):
    """A creator's public card for brands: who they are, their audience, their prices,
    and (private to them) where their money goes."""

    __tablename__ = "creator_profile"
    __table_args__ = (
        CheckConstraint("followers >= 0 AND avg_engagement >= 0 AND engagement_rate_ppm >= 0", name="stats"),
        CheckConstraint("(rate_image_minor IS NULL OR rate_image_minor >= 0) AND (rate_video_minor IS NULL OR rate_video_minor >= 0)", name="rates"),
    )

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), unique=True)
    handle: Mapped[str] = mapped_column(String(30), unique=True)
    bio: Mapped[str] = mapped_column(Text, default="")
    categories: Mapped[list[Any]] = mapped_column(default=list)  # slugs, e.g. ["beauty", "skincare"]
    region: Mapped[str] = mapped_column(String(10), default="", index=True)  # ISO 3166: CN, CN-SH
    followers: Mapped[int] = mapped_column(BigInteger, default=0, index=True)
    avg_engagement: Mapped[int] = mapped_column(BigInteger, default=0)  # likes + collects + comments per note
    engagement_rate_ppm: Mapped[int] = mapped_column(Integer, default=0)  # avg_engagement / followers, parts per million
    stats_source: Mapped[str] = mapped_column(String(40), default=StatsSource.SELF_REPORTED)
    stats_updated_at: Mapped[datetime | None]
    rate_currency: Mapped[str] = mapped_column(String(3), default="CNY")
    rate_image_minor: Mapped[int | None] = mapped_column(BigInteger)  # price of one image note
    rate_video_minor: Mapped[int | None] = mapped_column(BigInteger)
    payout_method: Mapped[str | None] = mapped_column(String(20))  # sandbox | stripe | bank
    payout_details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # private: never on a public answer


# ---------------------------------------------------------------- campaigns


class CampaignStatus:
    DRAFT = "draft"
    OPEN = "open"  # recruiting and running
    CLOSED = "closed"  # no new creators; running collaborations go on
    COMPLETED = "completed"  # everything settled


class Campaign(IdMixin, TimestampMixin, Base):
    """A brand's seeding campaign: the brief, what it seeds, and the terms creators accept."""

    __tablename__ = "campaign"
    __table_args__ = (
        CheckConstraint("budget_minor >= 0 AND spent_minor >= 0 AND (fixed_fee_minor IS NULL OR fixed_fee_minor >= 0)", name="money"),
        CheckConstraint("attribution_days >= 1 AND attribution_days <= 365", name="attribution_days"),
        CheckConstraint("posting_days >= 1 AND protection_days >= 0 AND notice_days >= 0 AND hold_days >= 0", name="days"),
    )

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="RESTRICT"), index=True)
    title: Mapped[str] = mapped_column(String(120))
    brief: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(12), default=CampaignStatus.DRAFT, index=True)
    currency: Mapped[str] = mapped_column(String(3))
    budget_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # most the brand spends on creators; 0: no limit
    spent_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))  # commissions net of clawbacks + fixed fees posted, in `currency`
    fixed_fee_minor: Mapped[int | None] = mapped_column(BigInteger)  # paid per approved note, optional
    attribution_days: Mapped[int] = mapped_column(Integer, default=30)
    attribution_model: Mapped[str] = mapped_column(String(5), default="last")  # last | first (touch)
    posting_days: Mapped[int] = mapped_column(Integer, default=14)  # after the sample is delivered
    protection_days: Mapped[int] = mapped_column(Integer, default=30)  # the note may not be deleted meanwhile
    review_required: Mapped[bool] = mapped_column(default=True)
    recruitment: Mapped[str] = mapped_column(String(8), default="open")  # open | invite
    eligibility: Mapped[dict[str, Any]] = mapped_column(default=dict)  # tiers, categories, min_followers, regions
    notice_days: Mapped[int] = mapped_column(Integer, default=2)  # before a commission cut applies
    hold_days: Mapped[int] = mapped_column(Integer, default=30)  # commission holding period after delivery
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class CampaignProduct(IdMixin, Base):
    """A product a campaign seeds: the variant sent as a sample, how many (set aside in a
    stock pool when the campaign opens) and, through its rate versions, the commission."""

    __tablename__ = "campaign_product"
    __table_args__ = (UniqueConstraint("campaign_id", "product_id"), CheckConstraint("sample_quantity >= 0", name="samples"))

    campaign_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("campaign.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("product.id", ondelete="RESTRICT"), index=True)
    sample_variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="RESTRICT"))
    sample_quantity: Mapped[int] = mapped_column(Integer, default=0)
    pool_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("stock_pool.id", ondelete="SET NULL"))


class CommissionRate(IdMixin, Base):
    """One version of a campaign product's commission terms, in force from `effective_from`.
    A cut is written with a later `effective_from` (the notice period); a rise at once.
    The terms of a sale are the newest version in force when it was paid."""

    __tablename__ = "campaign_commission_rate"
    __table_args__ = (
        CheckConstraint("rate_ppm >= 0 AND rate_ppm <= 1000000 AND flat_minor >= 0", name="terms"),
        CheckConstraint("(new_buyer_rate_ppm IS NULL OR (new_buyer_rate_ppm >= 0 AND new_buyer_rate_ppm <= 1000000)) AND (new_buyer_flat_minor IS NULL OR new_buyer_flat_minor >= 0)", name="new_buyer"),
        Index("ix_campaign_commission_rate_product_from", "campaign_product_id", "effective_from"),
    )

    campaign_product_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("campaign_product.id", ondelete="CASCADE"))
    effective_from: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(8))  # percent | flat
    rate_ppm: Mapped[int] = mapped_column(Integer, default=0)  # percent: parts per million of the line paid
    flat_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # flat: per unit sold
    new_buyer_rate_ppm: Mapped[int | None] = mapped_column(Integer)  # optional terms for a buyer's first order from the brand
    new_buyer_flat_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"))


# ---------------------------------------------------------------- collaborations


class CollabStatus:
    INVITED = "invited"
    APPLIED = "applied"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    SAMPLE_SHIPPED = "sample_shipped"
    SAMPLE_DELIVERED = "sample_delivered"
    CONTENT_SUBMITTED = "content_submitted"
    CHANGES_REQUESTED = "changes_requested"
    APPROVED = "approved"
    PUBLISHED = "published"
    COMPLETED = "completed"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"


class Collaboration(IdMixin, TimestampMixin, Base):
    """One creator in one campaign, from invitation or application to a completed note."""

    __tablename__ = "collaboration"
    __table_args__ = (UniqueConstraint("campaign_id", "creator_user_id"),)

    campaign_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("campaign.id", ondelete="RESTRICT"), index=True)
    creator_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    origin: Mapped[str] = mapped_column(String(8))  # invited | applied
    message: Mapped[str] = mapped_column(Text, default="")
    shipping_address: Mapped[dict[str, Any]] = mapped_column(default=dict)  # where the sample goes; the creator's, seen by the brand
    sample_order_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("sales_order.id", ondelete="SET NULL"))
    shipped_at: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    deadline_at: Mapped[datetime | None] = mapped_column(index=True)  # delivered_at + posting_days
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0)  # bit 1: 3 days before, bit 2: 1 day before
    content_kind: Mapped[str | None] = mapped_column(String(8))  # note | url
    content_ref: Mapped[str | None] = mapped_column(String(500))  # a note id, or the URL
    disclosure_ok: Mapped[bool | None]  # checked by machine (a note) or confirmed by the brand (a URL)
    review_comment: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None]
    protected_until: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    on_time: Mapped[bool | None]  # published by the deadline: the fulfilment rate brands see


class CollaborationTransition(IdMixin, Base):
    __tablename__ = "collaboration_transition"

    collaboration_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("collaboration.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    actor_user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"))
    actor_kind: Mapped[str] = mapped_column(String(10))  # creator | brand | system
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- attribution


class TrackedLink(IdMixin, Base):
    """A creator's link to a campaign, one of its products, or one of their notes."""

    __tablename__ = "campaign_link"

    code: Mapped[str] = mapped_column(String(16), unique=True)  # the /r/{code} address
    collaboration_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("collaboration.id", ondelete="CASCADE"), index=True)
    target_kind: Mapped[str] = mapped_column(String(8))  # campaign | product | note
    product_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("product.id", ondelete="CASCADE"))
    note_ref: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Click(IdMixin, Base):
    """A click on a tracked link: when, which link, and a first-party visitor cookie id.
    Nothing else (no IP, no user agent)."""

    __tablename__ = "campaign_click"
    __table_args__ = (Index("ix_campaign_click_visitor_at", "visitor_id", "at"),)

    link_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("campaign_link.id", ondelete="CASCADE"), index=True)
    visitor_id: Mapped[str] = mapped_column(String(36))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class DiscountCode(IdMixin, Base):
    """A creator's code: the shopper gets `discount_ppm` off the campaign's products (0 for
    attribution only), and a code beats any link."""

    __tablename__ = "campaign_code"
    __table_args__ = (CheckConstraint("discount_ppm >= 0 AND discount_ppm <= 1000000", name="discount"),)

    code: Mapped[str] = mapped_column(String(32), unique=True)  # upper case
    collaboration_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("collaboration.id", ondelete="CASCADE"), index=True)
    discount_ppm: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attribution(IdMixin, Base):
    """How one paid order line was attributed: to which collaboration, by what source, or
    why it was blocked (self-referral). One row per line, written once."""

    __tablename__ = "campaign_attribution"

    order_line_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("order_line.id", ondelete="CASCADE"), unique=True)
    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("sales_order.id", ondelete="CASCADE"), index=True)
    collaboration_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("collaboration.id", ondelete="SET NULL"), index=True)
    creator_user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(20))  # code | link | note | live | group_buy | ...
    ref: Mapped[str | None] = mapped_column(String(64))  # the code, link code or note id
    touched_at: Mapped[datetime]
    blocked_reason: Mapped[str | None] = mapped_column(String(40))  # self_referral:user | :email | :payment
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---------------------------------------------------------------- commissions and payouts


class CommissionStatus:
    PENDING = "pending"  # in its holding period
    APPROVED = "approved"  # payable
    PAID = "paid"  # in a payout
    REVERSED = "reversed"  # refunded in full before payout


class Commission(IdMixin, TimestampMixin, Base):
    """A creator's commission on one attributed order line: (line paid - refunds) x rate."""

    __tablename__ = "commission"
    __table_args__ = (
        CheckConstraint("amount_minor >= 0 AND reversed_minor >= 0 AND base_minor >= 0 AND budget_cut_minor >= 0", name="amounts"),
        CheckConstraint("reversed_minor <= amount_minor", name="reversed"),
        Index("ix_commission_creator_status", "creator_user_id", "status"),
    )

    order_line_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("order_line.id", ondelete="RESTRICT"), unique=True)
    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("sales_order.id", ondelete="RESTRICT"), index=True)
    collaboration_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("collaboration.id", ondelete="RESTRICT"), index=True)
    campaign_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("campaign.id", ondelete="RESTRICT"), index=True)
    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="RESTRICT"), index=True)
    creator_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="RESTRICT"))
    currency: Mapped[str] = mapped_column(String(3))
    base_minor: Mapped[int] = mapped_column(BigInteger)  # what the line was paid
    rate_kind: Mapped[str] = mapped_column(String(8))  # percent | flat
    rate_ppm: Mapped[int] = mapped_column(Integer, default=0)
    flat_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    new_buyer: Mapped[bool] = mapped_column(default=False)
    amount_minor: Mapped[int] = mapped_column(BigInteger)  # as first computed (after the budget cut)
    budget_cut_minor: Mapped[int] = mapped_column(BigInteger, default=0, server_default=text("0"))  # what the campaign's budget did not cover
    reversed_minor: Mapped[int] = mapped_column(BigInteger, default=0)  # clawed back by refunds since
    status: Mapped[str] = mapped_column(String(10), default=CommissionStatus.PENDING, index=True)
    approve_after: Mapped[datetime | None] = mapped_column(index=True)  # delivery + hold days
    approved_at: Mapped[datetime | None]
    paid_at: Mapped[datetime | None]
    payout_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("payout.id", ondelete="SET NULL"))


class PayoutRunStatus:
    RUNNING = "running"  # planned; some payouts still wait for their provider's answer
    DONE = "done"  # every payout is paid, failed or awaiting a bank transfer


class PayoutRun(IdMixin, Base):
    """One run paying every creator over the minimum. `key` makes a rerun a no-op: the
    second call finds the run and only finishes what the first left pending."""

    __tablename__ = "payout_run"

    key: Mapped[str] = mapped_column(String(80), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    minimum_minor: Mapped[int] = mapped_column(BigInteger)
    fee_ppm: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default=PayoutRunStatus.RUNNING)  # running | done
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    # creators with a balance who were not paid, and why: [{creator_user_id, handle, balance_minor, reserved_minor, reason}]
    skipped: Mapped[list[Any] | None]
    created_by: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"))


class PayoutStatus:
    PENDING = "pending"  # committed; the provider has not answered yet (a rerun asks again, same idempotency key)
    AWAITING = "awaiting"  # bank: in the bank file, waiting for staff to confirm the transfer
    PAID = "paid"  # posted to the ledger
    FAILED = "failed"  # refused; the balance is untouched and the next run pays it

    OPEN = (PENDING, AWAITING)  # their gross is reserved: no other run pays it again


class Payout(IdMixin, TimestampMixin, Base):
    __tablename__ = "payout"
    __table_args__ = (
        UniqueConstraint("run_id", "creator_user_id"),
        CheckConstraint("gross_minor > 0 AND fee_minor >= 0 AND net_minor = gross_minor - fee_minor", name="amounts"),
    )

    run_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("payout_run.id", ondelete="RESTRICT"), index=True)
    creator_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="RESTRICT"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    gross_minor: Mapped[int] = mapped_column(BigInteger)
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    net_minor: Mapped[int] = mapped_column(BigInteger)
    provider: Mapped[str] = mapped_column(String(20))  # sandbox | stripe | bank (CSV)
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    idempotency_key: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=PayoutStatus.PENDING, index=True)  # a PayoutStatus
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))  # provider calls made
    paid_at: Mapped[datetime | None]
    confirmed_by: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="SET NULL"))  # staff, for bank payouts


# ---------------------------------------------------------------- discovery


class CreatorShortlist(Base):
    """A creator a brand keeps in mind for later campaigns: one row per brand and creator."""

    __tablename__ = "creator_shortlist"

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), primary_key=True)
    creator_user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

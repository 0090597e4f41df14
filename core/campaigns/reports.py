"""Reports: how a campaign performed (for its brand) and what a creator earned (for them).

Figures come from set-based queries over collaborations, clicks, attributions, order
lines, commissions, payouts and the ledger: one grouped query per source, merged by
collaboration, whatever the number of creators. Money is integer minor units; ratios are
integers in parts per million, rounded half away from zero. No floats.

Engagement is what the content's plugin reports (`resolve_content`: likes + collects +
comments); content no plugin knows counts 0.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import String, cast, distinct, func, literal, literal_column, select

from core.auth.permissions import Actor, require_actor
from core.campaigns.models import (
    Attribution,
    Campaign,
    Click,
    Collaboration,
    Commission,
    CommissionStatus,
    CreatorProfile,
    Payout,
    PayoutStatus,
    TrackedLink,
)
from core.ledger import service as ledger
from core.ledger.models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from core.money import exponent
from core.orders.models import Order, OrderLine

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

PPM = 1_000_000
COMMISSION_STATES = (CommissionStatus.PENDING, CommissionStatus.APPROVED, CommissionStatus.PAID, CommissionStatus.REVERSED)
OWED_STATES = COMMISSION_STATES[:3]  # a reversed commission is owed nothing
FIXED_FEE_KIND = "fixed_fee"  # ledger transactions keyed fixed_fee:<collaboration id>


# ---------------------------------------------------------------- arithmetic and CSV


def div_round(numerator: int, denominator: int) -> int:
    """numerator / denominator, rounded half away from zero (integers only)."""
    q, r = divmod(abs(numerator), denominator)
    if 2 * r >= denominator:
        q += 1
    return -q if (numerator < 0) != (denominator < 0) else q


def ratio_ppm(numerator: int, denominator: int) -> int | None:
    return None if denominator == 0 else div_round(numerator * PPM, denominator)


def major(amount_minor: int, currency: str) -> str:
    """Exact decimal string in major units: 12345 CNY -> "123.45", 500 JPY -> "500"."""
    exp = exponent(currency)
    sign = "-" if amount_minor < 0 else ""
    if not exp:
        return f"{sign}{abs(amount_minor)}"
    whole, frac = divmod(abs(amount_minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def _cell(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r") and not _is_number(value):
        return "'" + value
    return "" if value is None else value


def _is_number(value: str) -> bool:
    body = value[1:] if value[:1] in "+-" else value
    return bool(body) and body.replace(".", "", 1).isdigit()


def csv_text(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return out.getvalue()


# ---------------------------------------------------------------- campaign performance


@dataclass
class StateTotal:
    count: int = 0
    amount_minor: int = 0  # what is owed: amount less what refunds took back
    reversed_minor: int = 0  # taken back by refunds


@dataclass
class CreatorLine:
    collaboration_id: int
    creator_user_id: int
    handle: str | None
    status: str
    sample_shipped: bool = False
    published: bool = False
    engagement: int = 0
    clicks: int = 0
    attributed_orders: int = 0
    gmv_minor: int = 0
    commissions: dict[str, StateTotal] = field(default_factory=lambda: {s: StateTotal() for s in COMMISSION_STATES})
    fixed_fees_minor: int = 0

    @property
    def commission_cost_minor(self) -> int:
        return sum(self.commissions[s].amount_minor for s in OWED_STATES)

    @property
    def cost_minor(self) -> int:
        return self.commission_cost_minor + self.fixed_fees_minor


@dataclass
class CampaignReport:
    campaign: Campaign
    lines: list[CreatorLine]
    samples_sent: int
    notes_published: int
    engagement: int
    clicks: int
    attributed_orders: int
    gmv_minor: int
    commissions: dict[str, StateTotal]
    fixed_fees_minor: int
    cost_minor: int  # commissions owed (pending, approved, paid; reversals excluded) + fixed fees
    cost_per_engagement_minor: int | None
    roi_ppm: int | None  # (GMV - cost) / cost


async def campaign_report(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int) -> CampaignReport:
    """A campaign's performance, per creator and in total. Members of the campaign's brand
    only: any other caller gets 404."""
    from core.campaigns.campaigns import campaign_for_brand

    campaign = await campaign_for_brand(session, actor, campaign_id)
    in_campaign = Collaboration.campaign_id == campaign.id
    lines: dict[int, CreatorLine] = {}
    content: dict[int, tuple[str, str]] = {}
    rows = await session.execute(
        select(Collaboration.id, Collaboration.creator_user_id, CreatorProfile.handle, Collaboration.status, Collaboration.shipped_at, Collaboration.published_at,
               Collaboration.content_kind, Collaboration.content_ref)
        .outerjoin(CreatorProfile, CreatorProfile.user_id == Collaboration.creator_user_id)
        .where(in_campaign)
        .order_by(Collaboration.id)
    )
    for cid, uid, handle, status, shipped_at, published_at, kind, ref in rows:
        lines[cid] = CreatorLine(cid, uid, handle, status, sample_shipped=shipped_at is not None, published=published_at is not None)
        if published_at is not None and kind and ref:
            content[cid] = (kind, ref)

    clicks = await session.execute(
        select(TrackedLink.collaboration_id, func.count(Click.id))
        .join(Click, Click.link_id == TrackedLink.id)
        .join(Collaboration, Collaboration.id == TrackedLink.collaboration_id)
        .where(in_campaign)
        .group_by(TrackedLink.collaboration_id)
    )
    for cid, n in clicks:
        lines[cid].clicks = int(n)

    attributed = (
        select(Attribution.collaboration_id, Attribution.order_id, OrderLine.total_minor)
        .join(OrderLine, OrderLine.id == Attribution.order_line_id)
        .join(Order, Order.id == Attribution.order_id)
        .join(Collaboration, Collaboration.id == Attribution.collaboration_id)
        .where(in_campaign, Attribution.blocked_reason.is_(None), Order.currency == campaign.currency)
        .subquery()
    )
    for cid, orders, gmv in await session.execute(
        select(attributed.c.collaboration_id, func.count(distinct(attributed.c.order_id)), func.sum(attributed.c.total_minor)).group_by(attributed.c.collaboration_id)
    ):
        lines[cid].attributed_orders, lines[cid].gmv_minor = int(orders), int(gmv or 0)
    order_count = (await session.execute(select(func.count(distinct(attributed.c.order_id))))).scalar_one()

    for cid, status, n, amount, back in await session.execute(
        select(Commission.collaboration_id, Commission.status, func.count(), func.sum(Commission.amount_minor), func.sum(Commission.reversed_minor))
        .where(Commission.campaign_id == campaign.id, Commission.currency == campaign.currency)
        .group_by(Commission.collaboration_id, Commission.status)
    ):
        if cid in lines and status in lines[cid].commissions:
            lines[cid].commissions[status] = StateTotal(int(n), int(amount or 0) - int(back or 0), int(back or 0))

    fee_key = literal(f"{FIXED_FEE_KIND}:") + cast(Collaboration.id, String)
    for cid, amount in await session.execute(
        select(Collaboration.id, func.sum(LedgerEntry.amount_minor))
        .join(LedgerTransaction, LedgerTransaction.key == fee_key)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(in_campaign, LedgerTransaction.kind == FIXED_FEE_KIND, LedgerAccount.kind == AccountKind.BRAND_PAYABLE, LedgerTransaction.currency == campaign.currency)
        .group_by(Collaboration.id)
    ):
        lines[cid].fixed_fees_minor = int(amount or 0)

    for cid, (kind, ref) in content.items():
        lines[cid].engagement = await _engagement(runtime, kind, ref)

    items = list(lines.values())
    totals = {s: StateTotal() for s in COMMISSION_STATES}
    for line in items:
        for s, t in line.commissions.items():
            totals[s].count += t.count
            totals[s].amount_minor += t.amount_minor
            totals[s].reversed_minor += t.reversed_minor
    engagement = sum(x.engagement for x in items)
    gmv = sum(x.gmv_minor for x in items)
    fixed = sum(x.fixed_fees_minor for x in items)
    cost = sum(totals[s].amount_minor for s in OWED_STATES) + fixed
    return CampaignReport(
        campaign=campaign, lines=items, samples_sent=sum(x.sample_shipped for x in items), notes_published=sum(x.published for x in items),
        engagement=engagement, clicks=sum(x.clicks for x in items), attributed_orders=int(order_count), gmv_minor=gmv, commissions=totals,
        fixed_fees_minor=fixed, cost_minor=cost, cost_per_engagement_minor=div_round(cost, engagement) if engagement else None,
        roi_ppm=ratio_ppm(gmv - cost, cost),
    )


async def _engagement(runtime: Runtime, kind: str, ref: str) -> int:
    try:
        from core.campaigns.collaborations import resolve_content
    except ImportError:  # collaborations without content resolution: no engagement figures
        return 0
    info = await resolve_content(runtime, kind, ref)
    value = getattr(info, "engagement", 0) if info is not None else 0
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def campaign_report_csv(report: CampaignReport) -> str:
    cur = report.campaign.currency
    header = ["creator", "collaboration_id", "status", "sample_shipped", "published", "engagement", "clicks", "attributed_orders", "gmv",
              *(f"commission_{s}" for s in OWED_STATES), "commission_reversed", "fixed_fees", "cost", "currency"]
    rows: list[list[Any]] = [header]

    def row(name: str, cid: Any, status: str, shipped: Any, published: Any, eng: int, clicks: int, orders: int, gmv: int, comm: dict[str, StateTotal], fixed: int, cost: int) -> list[Any]:
        return [name, cid, status, shipped, published, eng, clicks, orders, major(gmv, cur), *(major(comm[s].amount_minor, cur) for s in OWED_STATES),
                major(sum(t.reversed_minor for t in comm.values()), cur), major(fixed, cur), major(cost, cur), cur]

    for x in report.lines:
        rows.append(row(x.handle or f"user:{x.creator_user_id}", x.collaboration_id, x.status, int(x.sample_shipped), int(x.published), x.engagement, x.clicks,
                        x.attributed_orders, x.gmv_minor, x.commissions, x.fixed_fees_minor, x.cost_minor))
    rows.append(row("TOTAL", "", "", report.samples_sent, report.notes_published, report.engagement, report.clicks, report.attributed_orders,
                    report.gmv_minor, report.commissions, report.fixed_fees_minor, report.cost_minor))
    return csv_text(rows)


# ---------------------------------------------------------------- creator earnings


@dataclass
class CampaignEarnings:
    campaign_id: int
    title: str
    currency: str
    commissions: dict[str, StateTotal] = field(default_factory=lambda: {s: StateTotal() for s in COMMISSION_STATES})
    fixed_fees_minor: int = 0


@dataclass
class PayoutTotal:
    count: int = 0
    gross_minor: int = 0
    fee_minor: int = 0
    net_minor: int = 0


@dataclass
class CurrencyEarnings:
    currency: str
    commissions: dict[str, StateTotal] = field(default_factory=lambda: {s: StateTotal() for s in COMMISSION_STATES})
    fixed_fees_minor: int = 0
    payouts: dict[str, PayoutTotal] = field(default_factory=lambda: {s: PayoutTotal() for s in (PayoutStatus.PENDING, PayoutStatus.AWAITING, PayoutStatus.PAID, PayoutStatus.FAILED)})
    pending_balance_minor: int = 0  # commissions in their holding period (the ledger)
    available_balance_minor: int = 0  # payable now; negative when clawbacks exceed it


@dataclass
class EarningsReport:
    currencies: list[CurrencyEarnings]
    campaigns: list[CampaignEarnings]


async def creator_earnings(session: AsyncSession, actor: Actor | None) -> EarningsReport:
    """The caller's own earnings, by currency and by campaign: commissions by state,
    fixed fees, payouts by status and the ledger balances. Nobody sees another's."""
    actor = require_actor(actor)
    me = actor.user_id
    by_currency: dict[str, CurrencyEarnings] = {}

    def cur(code: str) -> CurrencyEarnings:
        return by_currency.setdefault(code, CurrencyEarnings(code))

    by_campaign: dict[tuple[int, str], CampaignEarnings] = {}
    for campaign_id, title, currency, status, n, amount, back in await session.execute(
        select(Commission.campaign_id, Campaign.title, Commission.currency, Commission.status, func.count(), func.sum(Commission.amount_minor), func.sum(Commission.reversed_minor))
        .join(Campaign, Campaign.id == Commission.campaign_id)
        .where(Commission.creator_user_id == me)
        .group_by(Commission.campaign_id, Campaign.title, Commission.currency, Commission.status)
    ):
        total = StateTotal(int(n), int(amount or 0) - int(back or 0), int(back or 0))
        line = by_campaign.setdefault((campaign_id, currency), CampaignEarnings(campaign_id, title, currency))
        if status in line.commissions:
            line.commissions[status] = total
            agg = cur(currency).commissions[status]
            agg.count += total.count
            agg.amount_minor += total.amount_minor
            agg.reversed_minor += total.reversed_minor

    fee_key = literal(f"{FIXED_FEE_KIND}:") + cast(Collaboration.id, String)
    for campaign_id, title, currency, amount in await session.execute(
        select(Campaign.id, Campaign.title, LedgerTransaction.currency, func.sum(LedgerEntry.amount_minor))
        .select_from(Collaboration)
        .join(Campaign, Campaign.id == Collaboration.campaign_id)
        .join(LedgerTransaction, LedgerTransaction.key == fee_key)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(Collaboration.creator_user_id == me, LedgerTransaction.kind == FIXED_FEE_KIND, LedgerAccount.kind == AccountKind.CREATOR_AVAILABLE, LedgerAccount.owner_id == me)
        .group_by(Campaign.id, Campaign.title, LedgerTransaction.currency)
    ):
        fee = -int(amount or 0)  # the creator's side is a credit
        by_campaign.setdefault((campaign_id, currency), CampaignEarnings(campaign_id, title, currency)).fixed_fees_minor += fee
        cur(currency).fixed_fees_minor += fee

    for currency, status, n, gross, fee, net in await session.execute(
        select(Payout.currency, Payout.status, func.count(), func.sum(Payout.gross_minor), func.sum(Payout.fee_minor), func.sum(Payout.net_minor))
        .where(Payout.creator_user_id == me)
        .group_by(Payout.currency, Payout.status)
    ):
        cur(currency).payouts[status] = PayoutTotal(int(n), int(gross or 0), int(fee or 0), int(net or 0))

    for (kind, currency), amount in (await ledger.balances(session, [AccountKind.CREATOR_PENDING, AccountKind.CREATOR_AVAILABLE], me)).items():
        if kind == AccountKind.CREATOR_PENDING:
            cur(currency).pending_balance_minor = -amount
        else:
            cur(currency).available_balance_minor = -amount

    campaigns = sorted(by_campaign.values(), key=lambda c: (c.campaign_id, c.currency))
    return EarningsReport(currencies=[by_currency[c] for c in sorted(by_currency)], campaigns=campaigns)


def earnings_csv(report: EarningsReport) -> str:
    rows: list[list[Any]] = [["campaign_id", "campaign", "currency", *(f"commission_{s}" for s in OWED_STATES), "commission_reversed", "fixed_fees", "earned"]]
    for c in report.campaigns:
        earned = sum(c.commissions[s].amount_minor for s in OWED_STATES) + c.fixed_fees_minor
        rows.append([c.campaign_id, c.title, c.currency, *(major(c.commissions[s].amount_minor, c.currency) for s in OWED_STATES),
                     major(sum(t.reversed_minor for t in c.commissions.values()), c.currency), major(c.fixed_fees_minor, c.currency), major(earned, c.currency)])
    return csv_text(rows)


# ---------------------------------------------------------------- portal summaries (many campaigns, over time)


@dataclass
class CampaignFigures:
    """A campaign's headline figures for dashboards: `campaign_report` without engagement
    (that calls a content hook per note) and per-creator lines, for many campaigns at once."""

    samples_sent: int = 0
    notes_published: int = 0
    clicks: int = 0
    attributed_orders: int = 0
    gmv_minor: int = 0
    commissions_minor: int = 0  # owed: pending + approved + paid, less refunds
    fixed_fees_minor: int = 0

    @property
    def cost_minor(self) -> int:
        return self.commissions_minor + self.fixed_fees_minor

    @property
    def roi_ppm(self) -> int | None:
        return ratio_ppm(self.gmv_minor - self.cost_minor, self.cost_minor)


async def campaign_figures(session: AsyncSession, campaign_ids: list[int]) -> dict[int, CampaignFigures]:
    """`campaign_report`'s rules (the campaign's currency only, self-referrals left out),
    one grouped query per source whatever the number of campaigns. The caller checked
    that the campaigns are the actor's brand's."""
    out = {cid: CampaignFigures() for cid in campaign_ids}
    if not campaign_ids:
        return out
    in_ids = Collaboration.campaign_id.in_(campaign_ids)
    for cid, shipped, published in await session.execute(
        select(Collaboration.campaign_id, func.count(Collaboration.shipped_at), func.count(Collaboration.published_at)).where(in_ids).group_by(Collaboration.campaign_id)
    ):
        out[cid].samples_sent, out[cid].notes_published = int(shipped), int(published)
    for cid, n in await session.execute(
        select(Collaboration.campaign_id, func.count(Click.id))
        .select_from(Click).join(TrackedLink, TrackedLink.id == Click.link_id).join(Collaboration, Collaboration.id == TrackedLink.collaboration_id)
        .where(in_ids).group_by(Collaboration.campaign_id)
    ):
        out[cid].clicks = int(n)
    for cid, orders, gmv in await session.execute(
        select(Collaboration.campaign_id, func.count(distinct(Attribution.order_id)), func.sum(OrderLine.total_minor))
        .select_from(Attribution)
        .join(OrderLine, OrderLine.id == Attribution.order_line_id)
        .join(Order, Order.id == Attribution.order_id)
        .join(Collaboration, Collaboration.id == Attribution.collaboration_id)
        .join(Campaign, Campaign.id == Collaboration.campaign_id)
        .where(in_ids, Attribution.blocked_reason.is_(None), Order.currency == Campaign.currency)
        .group_by(Collaboration.campaign_id)
    ):
        out[cid].attributed_orders, out[cid].gmv_minor = int(orders), int(gmv or 0)
    for cid, amount in await session.execute(
        select(Commission.campaign_id, func.sum(Commission.amount_minor - Commission.reversed_minor))
        .join(Campaign, Campaign.id == Commission.campaign_id)
        .where(Commission.campaign_id.in_(campaign_ids), Commission.currency == Campaign.currency, Commission.status.in_(OWED_STATES))
        .group_by(Commission.campaign_id)
    ):
        out[cid].commissions_minor = int(amount or 0)
    fee_key = literal(f"{FIXED_FEE_KIND}:") + cast(Collaboration.id, String)
    for cid, amount in await session.execute(
        select(Collaboration.campaign_id, func.sum(LedgerEntry.amount_minor))
        .join(Campaign, Campaign.id == Collaboration.campaign_id)
        .join(LedgerTransaction, LedgerTransaction.key == fee_key)
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(in_ids, LedgerTransaction.kind == FIXED_FEE_KIND, LedgerAccount.kind == AccountKind.BRAND_PAYABLE, LedgerTransaction.currency == Campaign.currency)
        .group_by(Collaboration.campaign_id)
    ):
        out[cid].fixed_fees_minor = int(amount or 0)
    return out


def _period(session: AsyncSession, column: Any, unit: str) -> Any:
    """`column` (UTC) as text 'YYYY-MM-DD' (unit "day") or 'YYYY-MM' ("month"). The format
    is a literal so that SELECT and GROUP BY hold the same expression on PostgreSQL."""
    day = unit == "day"
    if session.bind.dialect.name == "postgresql":
        return func.to_char(func.timezone(literal_column("'UTC'"), column), literal_column("'YYYY-MM-DD'" if day else "'YYYY-MM'"))
    return func.strftime(literal_column("'%Y-%m-%d'" if day else "'%Y-%m'"), column)


async def commissions_over_time(
    session: AsyncSession, *, since: datetime, unit: str = "month", creator_user_id: int | None = None, brand_id: int | None = None,
    campaign_ids: list[int] | None = None,
) -> list[tuple[str, str, str, int]]:
    """(period, currency, state, net amount) of the commissions created since `since`, for
    one creator, one brand or some campaigns (the caller checked who may see them)."""
    period = _period(session, Commission.created_at, unit)
    query = select(period, Commission.currency, Commission.status, func.sum(Commission.amount_minor - Commission.reversed_minor)).where(Commission.created_at >= since)
    if creator_user_id is not None:
        query = query.where(Commission.creator_user_id == creator_user_id)
    if brand_id is not None:
        query = query.where(Commission.brand_id == brand_id)
    if campaign_ids is not None:
        query = query.where(Commission.campaign_id.in_(campaign_ids))
    rows = await session.execute(query.group_by(period, Commission.currency, Commission.status).order_by(period))
    return [(p, c, s, int(a or 0)) for p, c, s, a in rows]


async def gmv_over_time(session: AsyncSession, campaign_ids: list[int], *, since: datetime, unit: str = "day") -> list[tuple[str, str, int]]:
    """(period, currency, GMV) attributed to the campaigns (self-referrals left out), by
    payment date, GMV before refunds as in `campaign_report`."""
    if not campaign_ids:
        return []
    period = _period(session, Order.paid_at, unit)
    rows = await session.execute(
        select(period, Order.currency, func.sum(OrderLine.total_minor))
        .select_from(Attribution)
        .join(OrderLine, OrderLine.id == Attribution.order_line_id)
        .join(Order, Order.id == Attribution.order_id)
        .join(Collaboration, Collaboration.id == Attribution.collaboration_id)
        .where(Collaboration.campaign_id.in_(campaign_ids), Attribution.blocked_reason.is_(None), Order.paid_at >= since)
        .group_by(period, Order.currency)
        .order_by(period)
    )
    return [(p, c, int(a or 0)) for p, c, a in rows]


async def fixed_fees_of_brand(session: AsyncSession, brand_id: int) -> dict[str, tuple[int, int]]:
    """{currency: (count, amount)} of the fixed fees per note the brand owes (the caller
    checked membership)."""
    rows = await session.execute(
        select(LedgerTransaction.currency, func.count(), func.sum(LedgerEntry.amount_minor))
        .join(LedgerEntry, LedgerEntry.transaction_id == LedgerTransaction.id)
        .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
        .where(LedgerTransaction.kind == FIXED_FEE_KIND, LedgerAccount.kind == AccountKind.BRAND_PAYABLE, LedgerAccount.owner_id == brand_id)
        .group_by(LedgerTransaction.currency)
    )
    return {c: (int(n), int(a or 0)) for c, n, a in rows}


@dataclass(frozen=True)
class CommissionLine:
    """What a commission was earned on, for lists: never who bought (no name, email or
    address); the order number is for the brand's pages."""

    campaign_id: int
    campaign_title: str
    creator_handle: str | None
    order_number: str
    paid_at: datetime | None
    product_title: str
    options: dict[str, Any]
    quantity: int


async def commission_lines(session: AsyncSession, commission_ids: list[int]) -> dict[int, CommissionLine]:
    """One query for a page of commissions (the caller checked they are visible)."""
    if not commission_ids:
        return {}
    rows = await session.execute(
        select(Commission.id, Campaign.id, Campaign.title, CreatorProfile.handle, Order.number, Order.paid_at, OrderLine.title, OrderLine.options, OrderLine.quantity)
        .join(Campaign, Campaign.id == Commission.campaign_id)
        .join(Order, Order.id == Commission.order_id)
        .join(OrderLine, OrderLine.id == Commission.order_line_id)
        .outerjoin(CreatorProfile, CreatorProfile.user_id == Commission.creator_user_id)
        .where(Commission.id.in_(commission_ids))
    )
    return {cid: CommissionLine(*rest) for cid, *rest in rows}


async def commissions_of_payouts(session: AsyncSession, creator_user_id: int, payout_ids: list[int]) -> dict[int, list[Commission]]:
    """{payout id: the creator's commissions it pays}, for a page of their payouts."""
    out: dict[int, list[Commission]] = {pid: [] for pid in payout_ids}
    if payout_ids:
        rows = await session.execute(
            select(Commission).where(Commission.creator_user_id == creator_user_id, Commission.payout_id.in_(payout_ids)).order_by(Commission.id)
        )
        for c in rows.scalars():
            out[c.payout_id].append(c)  # type: ignore[index]
    return out


async def campaign_names(session: AsyncSession, campaign_ids: list[int]) -> dict[int, tuple[str, str]]:
    """{campaign id: (title, brand name)} in one query, for lists of collaborations."""
    from core.catalog.models import Brand

    if not campaign_ids:
        return {}
    rows = await session.execute(select(Campaign.id, Campaign.title, Brand.name).join(Brand, Brand.id == Campaign.brand_id).where(Campaign.id.in_(campaign_ids)))
    return {cid: (title, brand) for cid, title, brand in rows}

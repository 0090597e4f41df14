"""Commissions: what a creator earns on an attributed order line, and its life.

    pending (holding period) -> approved (payable) -> paid (in a payout)
    pending | approved -> reversed (refunded in full before payout)

Amount = (line paid - refunds) x rate: a percent rate is rounded half up to the minor
unit; a flat amount is per unit sold, capped at the line paid. "Line paid" is what the
shopper paid for the goods of the line (quantity x unit price - discounts; no shipping,
no tax added on top). The terms come from the `commission_policy` hook (sync,
firstresult); the core's own implementation runs last and returns the campaign's terms
in force at payment (the newest CommissionRate version with effective_from <= paid_at,
new-buyer terms for a buyer's first paid order from the brand; the rule of
`core.campaigns.campaigns.terms_at`, read in bulk).

Every change of a commission is a ledger transaction in the same database transaction,
keyed so that a retried job posts nothing twice:

    commission:accrued:<id>              brand_payable +C, creator_pending -C
    commission:approved:<id>             creator_pending +N, creator_available -N   (N = C - reversed so far)
    commission:reversed:<id>:<refund>    creator_pending +r (pending) or creator_available +r (approved, paid), brand_payable -r

So at any time, per creator and currency: creator_pending = -(sum of amount - reversed
over pending commissions), and creator_available - what payouts sent = -(the same over
approved and paid ones): a payout debits creator_available by what it sends.
"""

from __future__ import annotations

import bisect
import functools
import inspect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import and_, func, select, update

from core.campaigns import budget as budgets
from core.campaigns.models import Campaign, CampaignProduct, Collaboration, CommissionRate, Commission, CommissionStatus, Attribution
from core.db import utcnow
from core.ledger.models import AccountKind
from core.ledger.service import Posting, Txn, post_many
from core.money import allocate_minor
from core.plugin_manager import PluginError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

PERCENT = "percent"
FLAT = "flat"
CHUNK = 500  # rows per multi-row statement
APPROVE_BATCH = 2_000


class CommissionTerms(msgspec.Struct, frozen=True, kw_only=True):
    """What `commission_policy` returns: a percent rate (parts per million of the line
    paid) or a flat amount per unit sold (minor units of the order's currency)."""

    kind: str  # percent | flat
    rate_ppm: int = 0
    flat_minor: int = 0


class CommissionContext(msgspec.Struct, frozen=True, kw_only=True):
    """One attributed order line, as `commission_policy` sees it."""

    order_id: int
    order_line_id: int
    brand_id: int
    campaign_id: int
    collaboration_id: int
    creator_user_id: int
    product_id: int
    variant_id: int
    quantity: int
    currency: str
    paid_minor: int  # the line paid: quantity x unit price - discounts
    new_buyer: bool  # the buyer's first paid order from this brand
    source: str  # code | link | a plugin's source
    paid_at: datetime
    terms: CommissionTerms | None  # the campaign's terms in force at payment (new-buyer terms applied), or None


# ---------------------------------------------------------------- arithmetic


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half up (both non-negative)."""
    q, r = divmod(numerator, denominator)
    return q + (1 if 2 * r >= denominator else 0)


def check_terms(terms: Any, source: str) -> CommissionTerms:
    if not isinstance(terms, CommissionTerms):
        raise PluginError(f"hook commission_policy ({source}) must return core.campaigns.commissions.CommissionTerms or None, not {type(terms).__name__}")
    ints = (terms.rate_ppm, terms.flat_minor)
    if terms.kind not in (PERCENT, FLAT) or any(isinstance(v, bool) or not isinstance(v, int) for v in ints) or not 0 <= terms.rate_ppm <= 1_000_000 or terms.flat_minor < 0:
        raise PluginError(f"hook commission_policy ({source}): terms must be percent (rate_ppm 0..1000000) or flat (flat_minor >= 0), got {terms!r}")
    return terms


def commission_minor(terms: CommissionTerms, paid_minor: int, quantity: int) -> int:
    """The commission on a line paid `paid_minor` for `quantity` units."""
    if paid_minor <= 0:
        return 0
    if terms.kind == PERCENT:
        return half_up(paid_minor * terms.rate_ppm, 1_000_000)
    return min(terms.flat_minor * quantity, paid_minor)


def amount_after_refunds(kind: str, rate_ppm: int, amount_minor: int, base_minor: int, remaining_minor: int, full_minor: int | None = None) -> int:
    """The commission once the line's paid amount is down to `remaining_minor`:
    percent is recomputed on what remains (half up); flat shrinks pro rata (half up).
    `full_minor` is the commission before a budget cut: a refund takes back only what
    the uncut commission on the rest would not still cover."""
    full = amount_minor if full_minor is None else full_minor
    if remaining_minor >= base_minor:
        return amount_minor
    if remaining_minor <= 0 or base_minor <= 0:
        return 0
    if kind == PERCENT:
        return min(amount_minor, half_up(remaining_minor * rate_ppm, 1_000_000))
    return min(amount_minor, half_up(full * remaining_minor, base_minor))


def hold_days(runtime: Runtime, campaign_hold_days: int) -> int:
    """The campaign's holding period, unless ZHONGCAO_COMMISSION_HOLD_DAYS overrides it."""
    override = runtime.settings.commission_hold_days
    return campaign_hold_days if override is None else override


# ---------------------------------------------------------------- terms in force


@dataclass(frozen=True)
class RateVersion:
    effective_from: datetime
    kind: str
    rate_ppm: int
    flat_minor: int
    new_buyer_rate_ppm: int | None
    new_buyer_flat_minor: int | None

    def terms(self, new_buyer: bool) -> CommissionTerms:
        if self.kind == PERCENT:
            rate = self.new_buyer_rate_ppm if new_buyer and self.new_buyer_rate_ppm is not None else self.rate_ppm
            return CommissionTerms(kind=PERCENT, rate_ppm=rate)
        flat = self.new_buyer_flat_minor if new_buyer and self.new_buyer_flat_minor is not None else self.flat_minor
        return CommissionTerms(kind=FLAT, flat_minor=flat)


class RateBook:
    """Every rate version of some campaign products, to answer "the terms in force at
    `when`" without a query per line: the newest version with effective_from <= when,
    the first one for a sale before it (the rule of `core.campaigns.campaigns.terms_at`,
    which reads one campaign product at a time)."""

    def __init__(self, versions: dict[int, list[RateVersion]]) -> None:
        self._versions = versions
        self._starts = {cp: [v.effective_from for v in vs] for cp, vs in versions.items()}

    @classmethod
    async def load(cls, session: AsyncSession, campaign_product_ids: Iterable[int]) -> RateBook:
        ids = sorted(set(campaign_product_ids))
        versions: dict[int, list[RateVersion]] = defaultdict(list)
        for i in range(0, len(ids), CHUNK):
            rows = await session.execute(
                select(
                    CommissionRate.campaign_product_id, CommissionRate.effective_from, CommissionRate.kind, CommissionRate.rate_ppm, CommissionRate.flat_minor,
                    CommissionRate.new_buyer_rate_ppm, CommissionRate.new_buyer_flat_minor,
                )
                .where(CommissionRate.campaign_product_id.in_(ids[i : i + CHUNK]))
                .order_by(CommissionRate.campaign_product_id, CommissionRate.effective_from, CommissionRate.id)
            )
            for cp, *rest in rows:
                versions[cp].append(RateVersion(*rest))
        return cls(versions)

    def in_force(self, campaign_product_id: int | None, when: datetime, new_buyer: bool) -> CommissionTerms | None:
        starts = self._starts.get(campaign_product_id) if campaign_product_id is not None else None
        if not starts:
            return None
        i = max(bisect.bisect_right(starts, when) - 1, 0)  # a sale before the first version takes the first
        return self._versions[campaign_product_id][i].terms(new_buyer)


# ---------------------------------------------------------------- accrual


@dataclass
class AttributedLine:
    """An attributed order line with what its commission needs (one set-based read)."""

    order_line_id: int
    order_id: int
    order_number: str
    brand_id: int
    user_id: int | None
    email: str
    currency: str
    paid_at: datetime
    product_id: int
    variant_id: int
    quantity: int
    paid_minor: int
    collaboration_id: int
    campaign_id: int
    creator_user_id: int
    source: str
    campaign_product_id: int | None
    hold_days: int
    campaign_currency: str


def _attributed_query(line_ids: Sequence[int]) -> Any:
    from core.orders.models import Order, OrderLine

    return (
        select(
            OrderLine.id, OrderLine.order_id, Order.number, Order.brand_id, Order.user_id, Order.email, Order.currency, Order.paid_at,
            OrderLine.product_id, OrderLine.variant_id, OrderLine.quantity, OrderLine.quantity * OrderLine.unit_price_minor - OrderLine.discount_minor,
            Attribution.collaboration_id, Collaboration.campaign_id, Attribution.creator_user_id, Attribution.source, CampaignProduct.id, Campaign.hold_days,
            Campaign.currency,
        )
        .select_from(Attribution)
        .join(OrderLine, OrderLine.id == Attribution.order_line_id)
        .join(Order, Order.id == Attribution.order_id)
        .join(Collaboration, Collaboration.id == Attribution.collaboration_id)
        .join(Campaign, Campaign.id == Collaboration.campaign_id)
        .outerjoin(CampaignProduct, and_(CampaignProduct.campaign_id == Campaign.id, CampaignProduct.product_id == OrderLine.product_id))
        .where(Attribution.order_line_id.in_(line_ids), Attribution.blocked_reason.is_(None), Attribution.creator_user_id.is_not(None), Order.paid_at.is_not(None))
        .order_by(OrderLine.id)
    )


async def load_attributed(session: AsyncSession, line_ids: Sequence[int]) -> list[AttributedLine]:
    """The attributed (not blocked) lines among `line_ids`, ready for `accrue`."""
    out: list[AttributedLine] = []
    ids = list(line_ids)
    for i in range(0, len(ids), CHUNK):
        rows = await session.execute(_attributed_query(ids[i : i + CHUNK]))
        out.extend(AttributedLine(*row) for row in rows)
    return out


async def first_paid_at(session: AsyncSession, lines: Sequence[AttributedLine]) -> dict[tuple[int, object], datetime]:
    """{(brand, buyer): when the buyer first paid the brand}, the buyer being the user id,
    or for a guest the lower-cased email. Two grouped queries, whatever the batch size."""
    from core.orders.models import Order

    found: dict[tuple[int, object], datetime] = {}
    users = sorted({ln.user_id for ln in lines if ln.user_id is not None})
    emails = sorted({ln.email.lower() for ln in lines if ln.user_id is None})
    brands = sorted({ln.brand_id for ln in lines})
    for i in range(0, len(users), CHUNK):
        rows = await session.execute(
            select(Order.brand_id, Order.user_id, func.min(Order.paid_at))
            .where(Order.paid_at.is_not(None), Order.user_id.in_(users[i : i + CHUNK]), Order.brand_id.in_(brands))
            .group_by(Order.brand_id, Order.user_id)
        )
        found.update({(b, u): at for b, u, at in rows})
    for i in range(0, len(emails), CHUNK):
        email = func.lower(Order.email)
        rows = await session.execute(
            select(Order.brand_id, email, func.min(Order.paid_at))
            .where(Order.paid_at.is_not(None), Order.user_id.is_(None), email.in_(emails[i : i + CHUNK]), Order.brand_id.in_(brands))
            .group_by(Order.brand_id, email)
        )
        found.update({(b, e): at for b, e, at in rows})
    return found


async def fulfilled_at(session: AsyncSession, order_ids: Iterable[int]) -> dict[int, datetime]:
    """When each order was shipped (its move to `fulfilled`), for those that were."""
    from core.orders.models import OrderStatus, OrderTransition

    ids = sorted(set(order_ids))
    out: dict[int, datetime] = {}
    for i in range(0, len(ids), CHUNK):
        rows = await session.execute(
            select(OrderTransition.order_id, func.min(OrderTransition.at))
            .where(OrderTransition.order_id.in_(ids[i : i + CHUNK]), OrderTransition.to_status == OrderStatus.FULFILLED)
            .group_by(OrderTransition.order_id)
        )
        out.update(dict(rows.all()))
    return out


def _in_currency(terms: CommissionTerms | None, line: AttributedLine) -> CommissionTerms | None:
    """A flat amount is in the campaign's currency: it does not apply to an order paid in
    another one (a percent rate does)."""
    if terms is not None and terms.kind == FLAT and line.currency != line.campaign_currency:
        return None
    return terms


def policy_caller(runtime: Runtime) -> Any:
    """`commission_policy` as one callable: sync and firstresult, so an async
    implementation (a coroutine is never None) is refused by name."""
    hook = runtime.pm.hook.commission_policy

    def call(context: CommissionContext) -> CommissionTerms | None:
        result = hook(context=context)
        if result is None:
            return None
        if inspect.isawaitable(result):
            if hasattr(result, "close"):
                result.close()
            raise PluginError("hook commission_policy must be synchronous (it is firstresult)")
        return check_terms(result, "an implementation")

    return call


async def accrue(session: AsyncSession, runtime: Runtime, lines: Sequence[AttributedLine]) -> list[int]:
    """Create the commissions of attributed lines and post them to the ledger, in the
    caller's transaction. Set-based: a few statements per 500 lines. A line that has a
    commission already is skipped (and nothing is posted twice). Returns the new ids."""
    if not lines:
        return []
    book = await RateBook.load(session, [ln.campaign_product_id for ln in lines if ln.campaign_product_id is not None])
    firsts = await first_paid_at(session, lines)
    shipped = await fulfilled_at(session, {ln.order_id for ln in lines})
    policy = policy_caller(runtime)
    now = utcnow()
    rows: list[dict[str, Any]] = []
    for ln in lines:
        buyer = ln.user_id if ln.user_id is not None else ln.email.lower()
        first = firsts.get((ln.brand_id, buyer))
        new_buyer = first is None or ln.paid_at <= first
        context = CommissionContext(
            order_id=ln.order_id, order_line_id=ln.order_line_id, brand_id=ln.brand_id, campaign_id=ln.campaign_id, collaboration_id=ln.collaboration_id,
            creator_user_id=ln.creator_user_id, product_id=ln.product_id, variant_id=ln.variant_id, quantity=ln.quantity, currency=ln.currency,
            paid_minor=ln.paid_minor, new_buyer=new_buyer, source=ln.source, paid_at=ln.paid_at,
            terms=_in_currency(book.in_force(ln.campaign_product_id, ln.paid_at, new_buyer), ln),
        )  # fmt: skip
        terms = policy(context)
        if terms is None:
            continue  # no terms: no commission
        shipped_at = shipped.get(ln.order_id)
        rows.append({
            "order_line_id": ln.order_line_id, "order_id": ln.order_id, "collaboration_id": ln.collaboration_id, "campaign_id": ln.campaign_id,
            "brand_id": ln.brand_id, "creator_user_id": ln.creator_user_id, "currency": ln.currency, "base_minor": max(ln.paid_minor, 0),
            "rate_kind": terms.kind, "rate_ppm": terms.rate_ppm, "flat_minor": terms.flat_minor, "new_buyer": new_buyer,
            "amount_minor": commission_minor(terms, ln.paid_minor, ln.quantity), "budget_cut_minor": 0, "reversed_minor": 0, "status": CommissionStatus.PENDING,
            "approve_after": shipped_at + timedelta(days=hold_days(runtime, ln.hold_days)) if shipped_at else None,
            "approved_at": None, "paid_at": None, "payout_id": None, "created_at": now, "updated_at": now,
            "_number": ln.order_number, "_budgeted": ln.currency == ln.campaign_currency,
        })  # fmt: skip
    created: list[int] = []
    txns: list[Txn] = []
    if not rows:
        return created
    spent: dict[int, int] = defaultdict(int)
    by_line = {r["order_line_id"]: r for r in rows}
    numbers = {r["order_line_id"]: r.pop("_number") for r in rows}
    budgeted = {r["order_line_id"] for r in rows if r.pop("_budgeted")}
    await _cut_to_budget(session, [r for r in rows if r["order_line_id"] in budgeted])
    # executemany: SQLAlchemy batches the rows into multi-row INSERTs ("insertmanyvalues")
    # with one cached statement; a line that has a commission already is skipped
    inserted = await session.execute(_insert_commissions(session.bind.dialect.name), rows)
    for commission_id, line_id in sorted(inserted.all()):
        created.append(commission_id)
        r = by_line[line_id]
        if r["amount_minor"] > 0:
            txns.append(accrued_txn(commission_id, r["brand_id"], r["creator_user_id"], r["currency"], r["amount_minor"], r["order_id"], numbers[line_id]))
            if line_id in budgeted:
                spent[r["campaign_id"]] += r["amount_minor"]
    await post_many(session, txns)  # one batch: each account's balance moves once
    await budgets.record_spend(session, runtime, spent)
    return created


async def _cut_to_budget(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Cap each commission at what its campaign's budget has left, in line order (the
    campaign rows stay locked until commit). Lines that have a commission already are
    left out: they are not inserted again and must not use up budget."""
    # every campaign row is locked before any commission row (as a reversal does): one
    # lock order, so creating and reversing an order's commissions at once cannot deadlock
    locked = await budgets.budgets(session, {r["campaign_id"] for r in rows}, lock=True)
    limited = {cid: b for cid, b in locked.items() if b.limited}
    if not limited:
        return
    rows = [r for r in rows if r["campaign_id"] in limited]
    line_ids = [r["order_line_id"] for r in rows]
    existing: set[int] = set()
    for i in range(0, len(line_ids), CHUNK):
        existing.update((await session.execute(select(Commission.order_line_id).where(Commission.order_line_id.in_(line_ids[i : i + CHUNK])))).scalars())
    left = {cid: b.left_minor or 0 for cid, b in limited.items()}
    for r in rows:
        if r["order_line_id"] in existing:
            continue
        take = min(r["amount_minor"], left[r["campaign_id"]])
        r["budget_cut_minor"], r["amount_minor"] = r["amount_minor"] - take, take
        left[r["campaign_id"]] -= take


@functools.cache
def _insert_commissions(dialect: str) -> Any:
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    table = Commission.__table__
    return insert(table).on_conflict_do_nothing(index_elements=["order_line_id"]).returning(table.c.id, table.c.order_line_id)


def accrued_txn(commission_id: int, brand_id: int, creator_user_id: int, currency: str, amount: int, order_id: int, number: str) -> Txn:
    return Txn(
        key=f"commission:accrued:{commission_id}", kind="commission.accrued", currency=currency,
        postings=(Posting(AccountKind.BRAND_PAYABLE, brand_id, amount), Posting(AccountKind.CREATOR_PENDING, creator_user_id, -amount)),
        memo=f"commission on order {number}", ref={"commission_id": commission_id, "order_id": order_id},
    )


async def accrue_order(session: AsyncSession, runtime: Runtime, order_id: int) -> list[int]:
    """Commissions for every attributed line of one order (idempotent)."""
    line_ids = (await session.execute(select(Attribution.order_line_id).where(Attribution.order_id == order_id))).scalars().all()
    return await accrue(session, runtime, await load_attributed(session, list(line_ids)))


# ---------------------------------------------------------------- delivery, approval


async def start_holding(runtime: Runtime, order_id: int) -> int:
    """`order.fulfilled`: the holding period starts at delivery; sets `approve_after`
    (shipping time + the campaign's hold days) where still unset. Idempotent."""
    if not await has_commissions(runtime, order_id):
        return 0  # most orders: no write transaction at all
    async with runtime.db.session() as session:
        changed = await set_approve_after(session, runtime, order_id)
        await session.commit()
    return changed


async def has_commissions(runtime: Runtime, order_id: int) -> bool:
    async with runtime.db.read_session() as session:
        return (await session.execute(select(Commission.id).where(Commission.order_id == order_id).limit(1))).first() is not None


async def set_approve_after(session: AsyncSession, runtime: Runtime, order_id: int) -> int:
    shipped = (await fulfilled_at(session, [order_id])).get(order_id)
    if shipped is None:
        return 0
    rows = (
        await session.execute(
            select(Commission.id, Campaign.hold_days).join(Campaign, Campaign.id == Commission.campaign_id).where(Commission.order_id == order_id, Commission.approve_after.is_(None))
        )
    ).all()
    for commission_id, days in rows:
        await session.execute(
            update(Commission).where(Commission.id == commission_id, Commission.approve_after.is_(None))
            .values(approve_after=shipped + timedelta(days=hold_days(runtime, days)), updated_at=utcnow()).execution_options(synchronize_session=False)
        )
    return len(rows)


async def approve_due(runtime: Runtime, now: datetime | None = None, *, limit: int = APPROVE_BATCH) -> int:
    """The `core.approve_commissions` job: pending commissions past their holding period
    become approved (payable), each with its ledger move. `now` lets demos and tests
    travel in time. Returns how many were approved; runs batches until none is due."""
    total = 0
    while True:
        async with runtime.db.session() as session:
            done = await approve_batch(session, now or utcnow(), limit=limit)
            await session.commit()
        total += done
        if done < limit:
            return total


async def approve_batch(session: AsyncSession, now: datetime, *, limit: int = APPROVE_BATCH) -> int:
    table = Commission.__table__
    due = select(table.c.id).where(table.c.status == CommissionStatus.PENDING, table.c.approve_after <= now).order_by(table.c.id).limit(limit)
    ids = list((await session.execute(due)).scalars())
    if not ids:
        return 0
    # conditional on the state: a reversal or another approver that got there first wins
    moved = (
        await session.execute(
            update(table)
            .where(table.c.id.in_(ids), table.c.status == CommissionStatus.PENDING)
            .values(status=CommissionStatus.APPROVED, approved_at=now, updated_at=utcnow())
            .returning(table.c.id, table.c.creator_user_id, table.c.currency, table.c.amount_minor - table.c.reversed_minor, table.c.order_id)
        )
    ).all()
    txns = [
        Txn(
            key=f"commission:approved:{cid}", kind="commission.approved", currency=currency,
            postings=(Posting(AccountKind.CREATOR_PENDING, creator, net), Posting(AccountKind.CREATOR_AVAILABLE, creator, -net)),
            memo="commission approved", ref={"commission_id": cid, "order_id": order_id},
        )
        for cid, creator, currency, net, order_id in sorted(moved)
        if net > 0
    ]
    await post_many(session, txns)
    return len(moved)


# ---------------------------------------------------------------- refunds


async def reverse_refunded(runtime: Runtime, order_id: int) -> int:
    """`order.refunded`: claw back the order's commissions for its refunds. (A commission
    created after this check reconciles the refunds itself: `attribute_order`.)"""
    if not await has_commissions(runtime, order_id):
        return 0
    async with runtime.db.session() as session:
        posted = await reverse_for_refunds(session, runtime, order_id)
        await session.commit()
    return posted


async def reverse_for_refunds(session: AsyncSession, runtime: Runtime, order_id: int) -> int:
    """Reduce the order's commissions for every succeeded refund not yet accounted for,
    in the caller's transaction. A refund is spread over the order's lines (and its
    shipping) in proportion to what each cost (`allocate_minor` of the cumulative refunded
    amount, so a full refund takes every line to exactly zero); each commission is then
    recomputed on what remains of its line. One ledger transaction per commission and
    refund (`commission:reversed:<id>:<refund id>`): rerunning posts nothing new. A line
    refunded in full makes a pending or approved commission `reversed`; a paid one stays
    paid, and its clawback leaves a debit on creator_available for the next payout.
    Returns the number of transactions posted."""
    from core.orders.models import Order, OrderLine, Refund, RefundStatus

    table = Commission.__table__
    # lock their campaigns, then the order's commissions (the order commission creation
    # locks in): an approval or another reversal waits its turn, and nothing deadlocks
    campaign_ids = (await session.execute(select(table.c.campaign_id).where(table.c.order_id == order_id).distinct())).scalars().all()
    await budgets.budgets(session, campaign_ids, lock=True)
    commissions = (
        await session.execute(select(table).where(table.c.order_id == order_id).order_by(table.c.id).with_for_update())
    ).all()
    if not commissions:
        return 0
    refunds = (
        await session.execute(select(Refund.id, Refund.amount_minor).where(Refund.order_id == order_id, Refund.status == RefundStatus.SUCCEEDED).order_by(Refund.id))
    ).all()
    if not refunds:
        return 0
    order_total = (await session.execute(select(Order.total_minor).where(Order.id == order_id))).scalar_one()
    lines = (await session.execute(select(OrderLine.id, OrderLine.total_minor).where(OrderLine.order_id == order_id).order_by(OrderLine.id))).all()
    weights = [total for _, total in lines]
    rest = order_total - sum(weights)  # shipping
    weights.append(max(rest, 0))
    if sum(weights) == 0:
        return 0
    position = {line_id: i for i, (line_id, _) in enumerate(lines)}
    shares: list[tuple[int, list[int]]] = []  # (refund id, refunded so far per line) after each refund
    cumulative = 0
    for refund_id, amount in refunds:
        cumulative = min(cumulative + amount, sum(weights))
        shares.append((refund_id, allocate_minor(cumulative, weights)))

    txns: list[Txn] = []
    deltas: dict[int, int] = {}
    fully_refunded: set[int] = set()
    for c in commissions:
        i = position.get(c.order_line_id)
        if i is None or c.status == CommissionStatus.REVERSED:
            continue
        line_total = lines[i][1]
        target = 0
        for refund_id, refunded in shares:
            line_refunded = min(refunded[i], line_total)
            base_refunded = c.base_minor if line_refunded >= line_total else (half_up(line_refunded * c.base_minor, line_total) if line_total else 0)
            remaining = c.base_minor - base_refunded
            if remaining <= 0:
                fully_refunded.add(c.id)
            new_target = max(target, c.amount_minor - amount_after_refunds(c.rate_kind, c.rate_ppm, c.amount_minor, c.base_minor, remaining, c.amount_minor + c.budget_cut_minor))
            delta, target = new_target - target, new_target
            if delta > 0:
                source = AccountKind.CREATOR_PENDING if c.status == CommissionStatus.PENDING else AccountKind.CREATOR_AVAILABLE
                txns.append(Txn(
                    key=f"commission:reversed:{c.id}:{refund_id}", kind="commission.reversed", currency=c.currency,
                    postings=(Posting(source, c.creator_user_id, delta), Posting(AccountKind.BRAND_PAYABLE, c.brand_id, -delta)),
                    memo=f"refund {refund_id}", ref={"commission_id": c.id, "order_id": order_id, "refund_id": refund_id},
                ))  # fmt: skip
                deltas[len(txns) - 1] = c.id
    posted = await post_many(session, txns) if txns else {}
    reversed_now: dict[int, int] = defaultdict(int)
    for index, txn in enumerate(txns):
        if txn.key in posted:
            reversed_now[deltas[index]] += txn.postings[0].amount_minor
    given_back: dict[int, int] = defaultdict(int)  # to each campaign's budget
    currencies = dict((await session.execute(select(Campaign.id, Campaign.currency).where(Campaign.id.in_({c.campaign_id for c in commissions})))).all())
    for c in commissions:
        if reversed_now.get(c.id) and c.currency == currencies.get(c.campaign_id):
            given_back[c.campaign_id] -= reversed_now[c.id]
    await budgets.record_spend(session, runtime, given_back)
    for c in commissions:
        add = reversed_now.get(c.id, 0)
        to_reversed = c.id in fully_refunded and c.status in (CommissionStatus.PENDING, CommissionStatus.APPROVED)
        if not add and not to_reversed:
            continue
        values: dict[str, Any] = {"reversed_minor": table.c.reversed_minor + add, "updated_at": utcnow()}
        if to_reversed:
            values["status"] = CommissionStatus.REVERSED
        await session.execute(update(table).where(table.c.id == c.id).values(**values))
    return len(posted)


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class Totals:
    status: str
    currency: str
    count: int
    amount_minor: int  # amount - reversed


async def totals(session: AsyncSession, *, creator_user_id: int | None = None, brand_id: int | None = None, campaign_id: int | None = None) -> list[Totals]:
    """Commission count and net amount per (status, currency) for one creator or brand."""
    query = select(Commission.status, Commission.currency, func.count(), func.coalesce(func.sum(Commission.amount_minor - Commission.reversed_minor), 0))
    if creator_user_id is not None:
        query = query.where(Commission.creator_user_id == creator_user_id)
    if brand_id is not None:
        query = query.where(Commission.brand_id == brand_id)
    if campaign_id is not None:
        query = query.where(Commission.campaign_id == campaign_id)
    rows = await session.execute(query.group_by(Commission.status, Commission.currency).order_by(Commission.status, Commission.currency))
    return [Totals(s, c, int(n), int(a)) for s, c, n, a in rows]


async def find(
    session: AsyncSession, *, creator_user_id: int | None = None, brand_id: int | None = None, campaign_id: int | None = None,
    status: str | None = None, order_id: int | None = None, limit: int = 50, offset: int = 0,
) -> tuple[list[Commission], int]:
    """Commissions of one creator or one brand (the caller checked who may see them), newest first."""
    conditions = []
    if creator_user_id is not None:
        conditions.append(Commission.creator_user_id == creator_user_id)
    if brand_id is not None:
        conditions.append(Commission.brand_id == brand_id)
    if campaign_id is not None:
        conditions.append(Commission.campaign_id == campaign_id)
    if status is not None:
        conditions.append(Commission.status == status)
    if order_id is not None:
        conditions.append(Commission.order_id == order_id)
    total = (await session.execute(select(func.count()).select_from(Commission).where(*conditions))).scalar_one()
    rows = await session.execute(select(Commission).where(*conditions).order_by(Commission.id.desc()).limit(limit).offset(offset))
    return list(rows.scalars()), int(total)


def visible_to(commission: Commission, *, user_id: int, brand_ids: Iterable[int]) -> bool:
    return commission.creator_user_id == user_id or commission.brand_id in set(brand_ids)


__all__ = [
    "AttributedLine", "CommissionContext", "CommissionTerms", "RateBook", "accrue", "accrue_order", "amount_after_refunds", "approve_batch",
    "approve_due", "commission_minor", "half_up", "load_attributed", "reverse_for_refunds", "reverse_refunded", "set_approve_after", "start_holding",
    "totals", "find",
]

"""A campaign's budget: the most a brand spends on its creators (commissions and fixed
fees; samples are stock, not budget). `budget_minor` 0 means no limit.

What counts, in the campaign's currency:

    spent     = commissions accrued - clawed back by refunds + fixed fees posted
    committed = the fixed fee of every accepted collaboration whose fee is not posted yet
    left      = budget - spent - committed

The budget is a hard cap, kept in the transaction that spends it (the campaign row is
locked, so two payments cannot both take the last yuan):

- accepting a creator (or inviting one) at a fixed fee needs `left >= fee` (409 otherwise);
- a commission takes at most what is left; what the budget did not cover is recorded on
  the commission (`budget_cut_minor`), so the creator sees why it is smaller;
- when nothing is left the campaign closes by itself (`campaign.budget_spent`, then
  `campaign.closed`): no new creators; the brand can raise the budget and reopen it.

Commissions on orders paid in another currency than the campaign's are not counted:
the core keeps no exchange rates.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import String, cast, func, literal, select, update

from core.campaigns.models import (
    Campaign,
    CampaignStatus,
    Collaboration,
    CollabStatus,
    Commission,
)
from core.db import utcnow
from core.errors import Conflict
from core.events import record_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

# a collaboration in one of these owes its fixed fee, not posted yet (it is posted at approval)
FEE_COMMITTED = (
    CollabStatus.ACCEPTED, CollabStatus.SAMPLE_SHIPPED, CollabStatus.SAMPLE_DELIVERED,
    CollabStatus.CONTENT_SUBMITTED, CollabStatus.CHANGES_REQUESTED, CollabStatus.OVERDUE,
)  # fmt: skip


class BudgetExceeded(Conflict):
    title = "Budget exceeded"
    type_slug = "budget-exceeded"

    def __init__(self, detail: str, budget: Budget) -> None:
        super().__init__(detail, extra=budget.as_problem())


@dataclass(frozen=True)
class Budget:
    campaign_id: int
    currency: str
    budget_minor: int  # 0: no limit
    spent_minor: int
    committed_minor: int  # fixed fees owed, not posted yet

    @property
    def limited(self) -> bool:
        return self.budget_minor > 0

    @property
    def left_minor(self) -> int | None:
        """What can still be spent; None without a limit."""
        if not self.limited:
            return None
        return max(self.budget_minor - self.spent_minor - self.committed_minor, 0)

    def as_problem(self) -> dict[str, object]:
        return {
            "currency": self.currency, "budget_minor": self.budget_minor, "spent_minor": self.spent_minor,
            "committed_minor": self.committed_minor, "left_minor": self.left_minor,
        }  # fmt: skip


async def committed_fees(session: AsyncSession, campaign_ids: Iterable[int]) -> dict[int, int]:
    """Campaign id -> fixed fees of its running collaborations, not posted yet."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Campaign.id, func.coalesce(Campaign.fixed_fee_minor, 0) * func.count(Collaboration.id))
        .join(Collaboration, Collaboration.campaign_id == Campaign.id)
        .where(Campaign.id.in_(ids), Collaboration.status.in_(FEE_COMMITTED))
        .group_by(Campaign.id, Campaign.fixed_fee_minor)
    )
    return {cid: int(total) for cid, total in rows}


async def budgets(session: AsyncSession, campaign_ids: Iterable[int], *, lock: bool = False, limited_only: bool = False) -> dict[int, Budget]:
    """The budgets of some campaigns. `lock` holds their rows until the transaction ends
    (on SQLite the write transaction is exclusive already): whoever spends must lock."""
    ids = sorted(set(campaign_ids))
    if not ids:
        return {}
    query = select(Campaign.id, Campaign.currency, Campaign.budget_minor, Campaign.spent_minor).where(Campaign.id.in_(ids)).order_by(Campaign.id)
    if limited_only:
        query = query.where(Campaign.budget_minor > 0)
    if lock:
        query = query.with_for_update()
    rows = (await session.execute(query.execution_options(populate_existing=True))).all()
    fees = await committed_fees(session, [r[0] for r in rows if r[2] > 0])
    return {cid: Budget(cid, currency, budget, spent, fees.get(cid, 0)) for cid, currency, budget, spent in rows}


async def budget_of(session: AsyncSession, campaign: Campaign, *, lock: bool = False) -> Budget:
    return (await budgets(session, [campaign.id], lock=lock))[campaign.id]


async def record_spend(session: AsyncSession, runtime: Runtime, amounts: dict[int, int]) -> None:
    """Add what was spent (negative: given back by a clawback) to each campaign, in the
    caller's transaction, and close the campaigns that have nothing left."""
    changed = {cid: amount for cid, amount in amounts.items() if amount}
    for cid, amount in sorted(changed.items()):
        await session.execute(
            update(Campaign).where(Campaign.id == cid).values(spent_minor=Campaign.spent_minor + amount, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
    if any(amount > 0 for amount in changed.values()):
        await close_if_spent(session, runtime, [cid for cid, amount in changed.items() if amount > 0])


async def close_if_spent(session: AsyncSession, runtime: Runtime, campaign_ids: Iterable[int]) -> list[int]:
    """Close the open campaigns among these whose budget is used up (spent or committed)."""
    from core.campaigns import campaigns as campaign_service

    closed: list[int] = []
    for cid, budget in (await budgets(session, campaign_ids, limited_only=True)).items():
        if budget.left_minor != 0:
            continue
        campaign = await session.get(Campaign, cid, populate_existing=True)
        if campaign is None or campaign.status != CampaignStatus.OPEN:
            continue
        record_event(session, runtime, "campaign.budget_spent", {
            "campaign_id": cid, "brand_id": campaign.brand_id, "title": campaign.title, "currency": budget.currency,
            "budget_minor": budget.budget_minor, "spent_minor": budget.spent_minor, "committed_minor": budget.committed_minor,
        })  # fmt: skip
        await campaign_service.close_open_campaign(session, runtime, campaign, note="the budget is spent")
        closed.append(cid)
    return closed


@dataclass(frozen=True)
class SpendMismatch:
    campaign_id: int
    recorded_minor: int
    computed_minor: int


async def check(session: AsyncSession) -> list[SpendMismatch]:
    """Campaigns whose `spent_minor` differs from their commissions and posted fees."""
    from core.ledger.models import LedgerTransaction

    commissions = dict(
        (
            await session.execute(
                select(Commission.campaign_id, func.sum(Commission.amount_minor - Commission.reversed_minor))
                .join(Campaign, Campaign.id == Commission.campaign_id)
                .where(Commission.currency == Campaign.currency)
                .group_by(Commission.campaign_id)
            )
        ).all()
    )
    fee_key = literal("fixed_fee:", String) + cast(Collaboration.id, String)
    fees = dict(
        (
            await session.execute(
                select(Collaboration.campaign_id, func.count())
                .join(LedgerTransaction, LedgerTransaction.key == fee_key)
                .group_by(Collaboration.campaign_id)
            )
        ).all()
    )
    out = []
    for cid, spent, fee in (await session.execute(select(Campaign.id, Campaign.spent_minor, Campaign.fixed_fee_minor).order_by(Campaign.id))).all():
        computed = int(commissions.get(cid) or 0) + int(fees.get(cid) or 0) * (fee or 0)
        if computed != spent:
            out.append(SpendMismatch(cid, spent, computed))
    return out


__all__ = ["FEE_COMMITTED", "Budget", "BudgetExceeded", "SpendMismatch", "budget_of", "budgets", "check", "close_if_spent", "committed_fees", "record_spend"]

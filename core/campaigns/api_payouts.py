"""Payouts and reports JSON API under /api/v1.

- `/payout-runs` (platform staff): run payouts, list and read runs, their CSV exports,
  and confirm a run's bank file; `/payouts/{id}/fail` when the bank returned a transfer.
- `/me/payouts`: the caller's own payouts and balances.
- `/reports/campaigns/{id}` (the campaign's brand only; others 404) and
  `/reports/earnings` (the caller's own), as JSON or CSV.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from core.auth.permissions import Actor
from core.campaigns import payouts as service
from core.campaigns import reports
from core.campaigns.models import Payout, PayoutRun
from core.web import login_required, strict_body

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


# ---------------------------------------------------------------- shapes


class RunIn(msgspec.Struct, forbid_unknown_fields=True):
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)]
    key: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] | None = None  # default: <currency>-<yyyy-mm>


class ConfirmIn(msgspec.Struct, forbid_unknown_fields=True):
    payout_ids: Annotated[list[Id], msgspec.Meta(max_length=10_000)] | None = None  # default: every payout of the run awaiting the bank


class FailIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=500)]


class PayoutOut(msgspec.Struct):
    id: int
    run_id: int
    creator_user_id: int
    creator_handle: str | None
    currency: str
    gross_minor: int
    fee_minor: int  # the platform fee withheld
    net_minor: int  # what the creator receives
    provider: str
    provider_ref: str | None
    status: str  # pending | awaiting | paid | failed
    error: str | None
    attempts: int
    paid_at: datetime | None
    created_at: datetime


class SkippedOut(msgspec.Struct):
    creator_user_id: int
    handle: str | None
    balance_minor: int
    reserved_minor: int
    reason: str


class StatusTotalOut(msgspec.Struct):
    count: int
    gross_minor: int
    fee_minor: int
    net_minor: int


class RunOut(msgspec.Struct):
    id: int
    key: str
    currency: str
    status: str  # running | done
    minimum_minor: int
    fee_ppm: int
    started_at: datetime
    finished_at: datetime | None
    totals: dict[str, StatusTotalOut]  # by payout status
    skipped: list[SkippedOut]
    payouts: list[PayoutOut] | None = None  # with one run; not in lists


class RunPage(msgspec.Struct):
    items: list[RunOut]
    total: int
    limit: int
    offset: int


class ConfirmOut(msgspec.Struct):
    paid: list[int]  # payout ids marked paid by this call
    run: RunOut


class BalanceOut(msgspec.Struct):
    currency: str
    available_minor: int  # payable now (negative: clawbacks to net against the next payout)
    pending_minor: int  # commissions still in their holding period
    reserved_minor: int  # in payouts not yet settled


class MyPayoutsOut(msgspec.Struct):
    items: list[PayoutOut]
    total: int
    limit: int
    offset: int
    balances: list[BalanceOut]


class StateTotalOut(msgspec.Struct):
    count: int
    amount_minor: int  # owed: amount less refunds
    reversed_minor: int  # taken back by refunds


class ReportLineOut(msgspec.Struct):
    collaboration_id: int
    creator_user_id: int
    creator_handle: str | None
    status: str
    sample_shipped: bool
    published: bool
    engagement: int
    clicks: int
    attributed_orders: int
    gmv_minor: int
    commissions: dict[str, StateTotalOut]
    fixed_fees_minor: int
    cost_minor: int


class CampaignReportOut(msgspec.Struct):
    campaign_id: int
    title: str
    currency: str
    samples_sent: int
    notes_published: int
    engagement: int
    clicks: int
    attributed_orders: int
    gmv_minor: int
    commissions: dict[str, StateTotalOut]  # pending | approved | paid | reversed
    fixed_fees_minor: int
    cost_minor: int  # commissions owed (reversals excluded) + fixed fees
    cost_per_engagement_minor: int | None  # rounded half away from zero; null without engagement
    roi_ppm: int | None  # (GMV - cost) / cost in parts per million; null without cost
    creators: list[ReportLineOut]


class PayoutTotalOut(msgspec.Struct):
    count: int
    gross_minor: int
    fee_minor: int
    net_minor: int


class CurrencyEarningsOut(msgspec.Struct):
    currency: str
    commissions: dict[str, StateTotalOut]
    fixed_fees_minor: int
    payouts: dict[str, PayoutTotalOut]  # pending | awaiting | paid | failed
    pending_balance_minor: int
    available_balance_minor: int


class CampaignEarningsOut(msgspec.Struct):
    campaign_id: int
    title: str
    currency: str
    commissions: dict[str, StateTotalOut]
    fixed_fees_minor: int


class EarningsOut(msgspec.Struct):
    currencies: list[CurrencyEarningsOut]
    campaigns: list[CampaignEarningsOut]


# ---------------------------------------------------------------- mapping


def payout_out(p: Payout, handles: dict[int, str]) -> PayoutOut:
    return PayoutOut(
        id=p.id, run_id=p.run_id, creator_user_id=p.creator_user_id, creator_handle=handles.get(p.creator_user_id), currency=p.currency,
        gross_minor=p.gross_minor, fee_minor=p.fee_minor, net_minor=p.net_minor, provider=p.provider, provider_ref=p.provider_ref,
        status=p.status, error=p.error, attempts=p.attempts, paid_at=p.paid_at, created_at=p.created_at,
    )


def _totals_of(payouts: list[Payout]) -> dict[str, StatusTotalOut]:
    totals: dict[str, StatusTotalOut] = {}
    for p in payouts:
        t = totals.setdefault(p.status, StatusTotalOut(0, 0, 0, 0))
        t.count += 1
        t.gross_minor += p.gross_minor
        t.fee_minor += p.fee_minor
        t.net_minor += p.net_minor
    return totals


def run_out(run: PayoutRun, *, totals: dict[str, StatusTotalOut], payouts: list[Payout] | None = None, handles: dict[int, str] | None = None) -> RunOut:
    return RunOut(
        id=run.id, key=run.key, currency=run.currency, status=run.status, minimum_minor=run.minimum_minor, fee_ppm=run.fee_ppm,
        started_at=run.started_at, finished_at=run.finished_at, totals=totals,
        skipped=[msgspec.convert(s, SkippedOut) for s in (run.skipped or [])],
        payouts=None if payouts is None else [payout_out(p, handles or {}) for p in payouts],
    )


def _state(t: reports.StateTotal) -> StateTotalOut:
    return StateTotalOut(count=t.count, amount_minor=t.amount_minor, reversed_minor=t.reversed_minor)


def _csv(text: str, filename: str) -> Response[str]:
    return Response(content=text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# ---------------------------------------------------------------- controllers


class PayoutRunController(Controller):
    path = "/payout-runs"
    tags = ["payouts"]

    @post("/", guards=[login_required])
    async def run(self, data: RunIn, request: Request, runtime: Runtime, actor: Actor | None) -> Response[RunOut]:
        """Pay every creator owed at least the minimum in `currency` (platform staff).
        `key` makes it idempotent (default `<currency>-<yyyy-mm>`: one run a month): a
        second call with the same key pays nothing again and answers 200 with the run;
        the first answers 201."""
        data = await strict_body(request, data)
        result = await service.run_payouts(runtime, currency=data.currency, key=data.key, actor=actor)
        body = run_out(result.run, totals=_totals_of(result.payouts), payouts=result.payouts, handles=result.handles)
        return Response(content=body, status_code=201 if result.created else 200)

    @get("/", guards=[login_required])
    async def list_runs(self, session: AsyncSession, actor: Actor | None, limit: Limit = 20, offset: Offset = 0) -> RunPage:
        """Payout runs, newest first, with totals by payout status (platform staff)."""
        runs, total = await service.list_runs(session, actor, limit=limit, offset=offset)
        items = [run_out(r, totals={k: StatusTotalOut(**v) for k, v in sums.items()}) for r, sums in runs]
        return RunPage(items=items, total=total, limit=limit, offset=offset)

    @get("/{run_id:int}", guards=[login_required])
    async def get_run(self, run_id: int, session: AsyncSession, actor: Actor | None) -> RunOut:
        """One run with its payouts and the creators it skipped, and why (platform staff)."""
        run, payouts, handles = await service.get_run(session, actor, run_id)
        return run_out(run, totals=_totals_of(payouts), payouts=payouts, handles=handles)

    @get("/{run_id:int}/payouts.csv", guards=[login_required], media_type="text/csv")
    async def payouts_csv(self, run_id: int, session: AsyncSession, actor: Actor | None) -> Response[str]:
        """Every payout of the run as CSV, amounts in major units (platform staff)."""
        return _csv(await service.payouts_csv(session, actor, run_id), f"payout-run-{run_id}.csv")

    @get("/{run_id:int}/bank-file.csv", guards=[login_required], media_type="text/csv")
    async def bank_file(self, run_id: int, session: AsyncSession, actor: Actor | None) -> Response[str]:
        """The run's bank payouts awaiting the bank, with full account details and the
        reference for each transfer's memo (platform staff)."""
        return _csv(await service.bank_file_csv(session, actor, run_id), f"payout-run-{run_id}-bank.csv")

    @post("/{run_id:int}/confirm", guards=[login_required], status_code=200)
    async def confirm(self, run_id: int, data: ConfirmIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> ConfirmOut:
        """Staff confirm the bank paid the run's file: its awaiting payouts (or those
        listed) become paid and are posted to the ledger. Repeating it changes nothing."""
        data = await strict_body(request, data)
        paid = await service.confirm_bank_payouts(runtime, actor, run_id, data.payout_ids)
        async with runtime.db.read_session() as fresh:
            run, payouts, handles = await service.get_run(fresh, actor, run_id)
        return ConfirmOut(paid=paid, run=run_out(run, totals=_totals_of(payouts), payouts=payouts, handles=handles))


class PayoutController(Controller):
    path = "/payouts"
    tags = ["payouts"]

    @post("/{payout_id:int}/fail", guards=[login_required], status_code=200)
    async def fail(self, payout_id: int, data: FailIn, request: Request, runtime: Runtime, actor: Actor | None) -> PayoutOut:
        """Staff report that the bank returned a transfer: the payout fails, the balance
        stays payable and the next run pays it."""
        data = await strict_body(request, data)
        payout = await service.fail_bank_payout(runtime, actor, payout_id, data.reason)
        return payout_out(payout, {})


class MyPayoutsController(Controller):
    path = "/me/payouts"
    tags = ["payouts"]

    @get("/", guards=[login_required])
    async def mine(self, session: AsyncSession, actor: Actor | None, limit: Limit = 50, offset: Offset = 0) -> MyPayoutsOut:
        """The caller's own payouts, newest first, and their balances per currency."""
        items, total, balances = await service.my_payouts(session, actor, limit=limit, offset=offset)
        return MyPayoutsOut(
            items=[payout_out(p, {}) for p in items], total=total, limit=limit, offset=offset,
            balances=[BalanceOut(currency=c, **b) for c, b in sorted(balances.items())],
        )


class ReportController(Controller):
    path = "/reports"
    tags = ["reports"]

    @get("/campaigns/{campaign_id:int}", guards=[login_required])
    async def campaign(self, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CampaignReportOut:
        """How a campaign performed, per creator and in total (its brand's members only)."""
        return _report_out(await reports.campaign_report(session, runtime, actor, campaign_id))

    @get("/campaigns/{campaign_id:int}/report.csv", guards=[login_required], media_type="text/csv")
    async def campaign_csv(self, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Response[str]:
        """The same report as CSV: one row per creator and a TOTAL row, amounts in major units."""
        report = await reports.campaign_report(session, runtime, actor, campaign_id)
        return _csv(reports.campaign_report_csv(report), f"campaign-{campaign_id}-report.csv")

    @get("/earnings", guards=[login_required])
    async def earnings(self, session: AsyncSession, actor: Actor | None) -> EarningsOut:
        """The caller's own earnings: commissions by state, fixed fees, payouts and balances."""
        return _earnings_out(await reports.creator_earnings(session, actor))

    @get("/earnings.csv", guards=[login_required], media_type="text/csv")
    async def earnings_csv(self, session: AsyncSession, actor: Actor | None) -> Response[str]:
        """The caller's earnings per campaign as CSV, amounts in major units."""
        return _csv(reports.earnings_csv(await reports.creator_earnings(session, actor)), "earnings.csv")


def _report_out(r: reports.CampaignReport) -> CampaignReportOut:
    return CampaignReportOut(
        campaign_id=r.campaign.id, title=r.campaign.title, currency=r.campaign.currency, samples_sent=r.samples_sent, notes_published=r.notes_published,
        engagement=r.engagement, clicks=r.clicks, attributed_orders=r.attributed_orders, gmv_minor=r.gmv_minor,
        commissions={s: _state(t) for s, t in r.commissions.items()}, fixed_fees_minor=r.fixed_fees_minor, cost_minor=r.cost_minor,
        cost_per_engagement_minor=r.cost_per_engagement_minor, roi_ppm=r.roi_ppm,
        creators=[
            ReportLineOut(
                collaboration_id=x.collaboration_id, creator_user_id=x.creator_user_id, creator_handle=x.handle, status=x.status, sample_shipped=x.sample_shipped,
                published=x.published, engagement=x.engagement, clicks=x.clicks, attributed_orders=x.attributed_orders, gmv_minor=x.gmv_minor,
                commissions={s: _state(t) for s, t in x.commissions.items()}, fixed_fees_minor=x.fixed_fees_minor, cost_minor=x.cost_minor,
            )
            for x in r.lines
        ],
    )


def _earnings_out(r: reports.EarningsReport) -> EarningsOut:
    return EarningsOut(
        currencies=[
            CurrencyEarningsOut(
                currency=c.currency, commissions={s: _state(t) for s, t in c.commissions.items()}, fixed_fees_minor=c.fixed_fees_minor,
                payouts={s: PayoutTotalOut(t.count, t.gross_minor, t.fee_minor, t.net_minor) for s, t in c.payouts.items()},
                pending_balance_minor=c.pending_balance_minor, available_balance_minor=c.available_balance_minor,
            )
            for c in r.currencies
        ],
        campaigns=[
            CampaignEarningsOut(campaign_id=c.campaign_id, title=c.title, currency=c.currency, commissions={s: _state(t) for s, t in c.commissions.items()}, fixed_fees_minor=c.fixed_fees_minor)
            for c in r.campaigns
        ],
    )


PAYOUT_CONTROLLERS: list[Any] = [PayoutRunController, PayoutController, MyPayoutsController, ReportController]

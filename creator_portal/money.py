"""Money pages: a brand's commissions, fixed fees and ledger statement
(`/creator/brands/{slug}/money`) and a creator's earnings, payouts and statement
(`/creator/me/earnings`), each with CSV exports.

The commissions, payouts, reports and ledger services hold the rules and the figures;
these handlers pick what to show. A brand the user is not a member of is "not found"
(pages and CSV alike); a creator only ever reads their own rows. The buyer behind a
commission is never shown: the order line's product, options and quantity only.
"""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, Response, get
from litestar.params import Parameter

from core.auth.permissions import Actor, require_actor
from core.campaigns import commissions, reports
from core.campaigns import payouts as payout_service
from core.catalog.service import ppm_to_percent
from core.campaigns.models import Commission, CommissionStatus, PayoutStatus
from core.db import utcnow
from core.errors import ValidationFailed
from core.ledger import service as ledger
from core.ledger.models import AccountKind
from core.money import validate_currency
from core.orders.cart import DEFAULT_CURRENCY
from core.web import login_required, render
from creator_portal import charts
from creator_portal.commerce import PageNumber, StatusFilter, my_brand

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

CurrencyParam = Annotated[str | None, Parameter(max_length=3)]
PAGE_SIZE = 25
PAYOUTS_PAGE = 10
CSV_CHUNK = 500
CHART_MONTHS = 12
STATES = reports.COMMISSION_STATES
STATE_LABELS = {
    CommissionStatus.PENDING: "In holding period",
    CommissionStatus.APPROVED: "Payable",
    CommissionStatus.PAID: "Paid out",
    CommissionStatus.REVERSED: "Reversed",
}
PAYOUT_LABELS = {PayoutStatus.PENDING: "Processing", PayoutStatus.AWAITING: "Awaiting the bank", PayoutStatus.PAID: "Paid out", PayoutStatus.FAILED: "Failed"}
LEDGER_LABELS = {
    "commission.accrued": "Commission earned", "commission.approved": "Commission payable", "commission.reversed": "Taken back by a refund",
    reports.FIXED_FEE_KIND: "Fixed fee per note", "payout": "Payout",
}


# ---------------------------------------------------------------- shared helpers


def csv_response(text: str, filename: str) -> Response[str]:
    return Response(content=text, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


def currency_of(raw: str | None) -> str:
    try:
        return validate_currency((raw or DEFAULT_CURRENCY).upper())
    except ValueError as exc:
        raise ValidationFailed("currency must be an ISO 4217 code such as CNY") from exc


def pick_currency(raw: str | None, known: list[str]) -> tuple[str, list[str]]:
    """The currency asked for if the account has it, else the first one (CNY for none)."""
    known = sorted(set(known)) or [DEFAULT_CURRENCY]
    wanted = (raw or "").upper()
    return (wanted if wanted in known else known[0]), known


def ratio_text(ppm: int | None) -> str:
    """ROI in parts per million as "3.25×" (rounded half away from zero), "–" without cost."""
    if ppm is None:
        return "–"
    hundredths = reports.div_round(ppm, 10_000)
    sign = "-" if hundredths < 0 else ""
    whole, frac = divmod(abs(hundredths), 100)
    return f"{sign}{whole}.{frac:02d}×"


def percent_text(ppm: int) -> str:
    """A rate for people, "12.5%": the core's `ppm_to_percent` with the sign."""
    return f"{ppm_to_percent(ppm)}%"


def history(c: Commission) -> list[tuple[str, Any, int | None]]:
    """A commission's life from its own dates: (what, when, amount)."""
    events: list[tuple[str, Any, int | None]] = [("Earned", c.created_at, c.amount_minor)]
    if c.status == CommissionStatus.PENDING and c.approve_after is not None:
        events.append(("Payable from", c.approve_after, None))
    if c.approved_at is not None:
        events.append(("Became payable", c.approved_at, None))
    if c.reversed_minor:
        events.append(("Reversed" if c.status == CommissionStatus.REVERSED else "Taken back by refunds", c.updated_at if c.status == CommissionStatus.REVERSED else None, -c.reversed_minor))
    if c.paid_at is not None:
        events.append(("Paid out", c.paid_at, None))
    return events


def by_state(totals: list[commissions.Totals]) -> dict[str, dict[str, commissions.Totals]]:
    """{currency: {state: totals}} with every state present."""
    out: dict[str, dict[str, commissions.Totals]] = defaultdict(dict)
    for t in totals:
        out[t.currency][t.status] = t
    return {cur: {s: states.get(s, commissions.Totals(s, cur, 0, 0)) for s in STATES} for cur, states in sorted(out.items())}


def state_chart(rows: list[tuple[str, str, str, int]], currency: str, periods: list[str], title: str, translate: Any) -> charts.Chart | None:
    """Commissions by state over `periods` (from `reports.commissions_over_time`), in one currency."""
    amounts: dict[tuple[str, str], int] = defaultdict(int)
    for period, cur, state, amount in rows:
        if cur == currency:
            amounts[(state, period)] += amount
    if not amounts:
        return None
    shown = [s for s in STATES if s != CommissionStatus.REVERSED]  # reversed ones are worth 0 by now
    series = [(translate(STATE_LABELS[s]), [amounts[(s, p)] for p in periods]) for s in shown]
    return charts.chart("stacked", title, periods, series, fmt=charts.money_format(currency), label_title=translate("Month"))


def months_back(n: int) -> tuple[list[str], Any]:
    periods = charts.last_months(n, utcnow())
    return periods, charts.start_of(periods[0])


def translator(request: Request, actor: Actor | None) -> Any:
    """The page's `_`, for the strings drawn into charts before the template renders."""
    from core.i18n import pick_locale
    from core.i18n import translator as catalog_of
    from core.web import runtime_of

    runtime = runtime_of(request)
    return catalog_of(runtime, pick_locale(request, runtime, actor.locale if actor else None))


async def _commission_rows(session: AsyncSession, **who: int) -> list[list[Any]]:
    """Every commission of a brand or creator as CSV rows, a chunk at a time."""
    rows: list[list[Any]] = [[
        "commission_id", "created_at", "campaign", "creator", "order", "product", "quantity", "line_paid", "rate", "status", "amount", "reversed", "net",
        "currency", "approved_at", "paid_at", "payout_id",
    ]]
    offset = 0
    while True:
        found, _total = await commissions.find(session, limit=CSV_CHUNK, offset=offset, **who)
        lines = await reports.commission_lines(session, [c.id for c in found])
        for c in found:
            line = lines.get(c.id)
            cur = c.currency
            rate = f"{reports.major(c.flat_minor, cur)} {cur}/unit" if c.rate_kind == commissions.FLAT else percent_text(c.rate_ppm)
            rows.append([
                c.id, c.created_at.isoformat(), line.campaign_title if line else "", (line.creator_handle if line else None) or f"user:{c.creator_user_id}",
                line.order_number if line and "brand_id" in who else "", line.product_title if line else "", line.quantity if line else "",
                reports.major(c.base_minor, cur), rate, c.status, reports.major(c.amount_minor, cur), reports.major(c.reversed_minor, cur),
                reports.major(c.amount_minor - c.reversed_minor, cur), cur, c.approved_at.isoformat() if c.approved_at else "",
                c.paid_at.isoformat() if c.paid_at else "", c.payout_id or "",
            ])
        if len(found) < CSV_CHUNK:
            return rows
        offset += CSV_CHUNK


async def _statement_rows(session: AsyncSession, kind: str, owner_id: int, currency: str, sign: int) -> list[list[Any]]:
    rows: list[list[Any]] = [["at", "kind", "memo", "amount", "balance", "currency", "reference"]]
    offset = 0
    while True:
        lines = await ledger.statement(session, kind, owner_id, currency, limit=CSV_CHUNK, offset=offset)
        rows.extend(
            [ln.created_at.isoformat(), ln.kind, ln.memo or "", reports.major(sign * ln.amount_minor, currency), reports.major(sign * ln.balance_after_minor, currency), currency, ln.key]
            for ln in lines
        )
        if len(lines) < CSV_CHUNK:
            return rows
        offset += CSV_CHUNK


def _commission_view(c: Commission, lines: dict[int, reports.CommissionLine]) -> dict[str, Any]:
    return {"c": c, "line": lines.get(c.id), "net": c.amount_minor - c.reversed_minor, "history": history(c),
            "rate": percent_text(c.rate_ppm) if c.rate_kind == commissions.PERCENT else None}


# ---------------------------------------------------------------- brand


class BrandMoneyPages(Controller):
    path = "/brands/{slug:str}/money"
    guards = [login_required]

    @get("/")
    async def money(
        self, request: Request, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None, status: StatusFilter = None,
        currency: CurrencyParam = None, page: PageNumber = 1, spage: PageNumber = 1,
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        if status not in STATE_LABELS:
            status = None
        totals = by_state(await commissions.totals(session, brand_id=brand.id))
        fees = await reports.fixed_fees_of_brand(session, brand.id)
        owed = {cur: bal for (_kind, cur), bal in (await ledger.balances(session, [AccountKind.BRAND_PAYABLE], brand.id)).items()}
        currency, currencies = pick_currency(currency, [*totals, *fees, *owed])
        found, total = await commissions.find(session, brand_id=brand.id, status=status, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        lines = await reports.commission_lines(session, [c.id for c in found])
        statement = await ledger.statement(session, AccountKind.BRAND_PAYABLE, brand.id, currency, limit=PAGE_SIZE + 1, offset=(spage - 1) * PAGE_SIZE)
        periods, since = months_back(CHART_MONTHS)
        over_time = await reports.commissions_over_time(session, since=since, unit="month", brand_id=brand.id)
        _ = translator(request, actor)
        return await render(request, "portal/money.html", {
            "brand": brand, "section": "money", "totals": totals, "fees": fees, "owed": owed, "currency": currency, "currencies": currencies,
            "states": STATES, "state_labels": STATE_LABELS, "ledger_labels": LEDGER_LABELS, "status": status,
            "rows": [_commission_view(c, lines) for c in found], "total": total, "page": page, "has_next": page * PAGE_SIZE < total,
            "statement": statement[:PAGE_SIZE], "spage": spage, "statement_next": len(statement) > PAGE_SIZE,
            "fee_percent": percent_text(runtime.settings.platform_fee_ppm),
            "chart": state_chart(over_time, currency, periods, _("Commissions by month ({currency})", currency=currency), _),
            "args": {"status": status or "", "currency": currency, "page": page, "spage": spage},
        })  # fmt: skip

    @get("/commissions.csv", media_type="text/csv")
    async def commissions_csv(self, slug: str, session: AsyncSession, actor: Actor | None) -> Response[str]:
        brand = await my_brand(session, actor, slug)
        return csv_response(reports.csv_text(await _commission_rows(session, brand_id=brand.id)), f"{brand.slug}-commissions.csv")

    @get("/statement.csv", media_type="text/csv")
    async def statement_csv(self, slug: str, session: AsyncSession, actor: Actor | None, currency: CurrencyParam = None) -> Response[str]:
        brand = await my_brand(session, actor, slug)
        cur = currency_of(currency)
        rows = await _statement_rows(session, AccountKind.BRAND_PAYABLE, brand.id, cur, 1)
        return csv_response(reports.csv_text(rows), f"{brand.slug}-statement-{cur}.csv")


# ---------------------------------------------------------------- creator


class CreatorEarningsPages(Controller):
    path = "/me/earnings"
    guards = [login_required]

    @get("/")
    async def earnings(
        self, request: Request, session: AsyncSession, actor: Actor | None, status: StatusFilter = None, currency: CurrencyParam = None,
        page: PageNumber = 1, ppage: PageNumber = 1, spage: PageNumber = 1,
    ) -> Any:
        actor = require_actor(actor)
        me = actor.user_id
        if status not in STATE_LABELS:
            status = None
        report = await reports.creator_earnings(session, actor)
        currency, currencies = pick_currency(currency, [c.currency for c in report.currencies])
        found, total = await commissions.find(session, creator_user_id=me, status=status, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        payouts, payout_total, balances = await payout_service.my_payouts(session, actor, limit=PAYOUTS_PAGE, offset=(ppage - 1) * PAYOUTS_PAGE)
        paid_by = await reports.commissions_of_payouts(session, me, [p.id for p in payouts])
        lines = await reports.commission_lines(session, [c.id for c in found] + [c.id for cs in paid_by.values() for c in cs])
        statement = await ledger.statement(session, AccountKind.CREATOR_AVAILABLE, me, currency, limit=PAGE_SIZE + 1, offset=(spage - 1) * PAGE_SIZE)
        periods, since = months_back(CHART_MONTHS)
        over_time = await reports.commissions_over_time(session, since=since, unit="month", creator_user_id=me)
        _ = translator(request, actor)
        return await render(request, "portal/earnings.html", {
            "section": "earnings", "report": report, "balances": balances, "currency": currency, "currencies": currencies,
            "states": STATES, "state_labels": STATE_LABELS, "payout_labels": PAYOUT_LABELS, "ledger_labels": LEDGER_LABELS, "status": status,
            "rows": [_commission_view(c, lines) for c in found], "total": total, "page": page, "has_next": page * PAGE_SIZE < total,
            "payouts": [{"p": p, "commissions": [_commission_view(c, lines) for c in paid_by[p.id]]} for p in payouts],
            "ppage": ppage, "payouts_next": ppage * PAYOUTS_PAGE < payout_total,
            "statement": statement[:PAGE_SIZE], "spage": spage, "statement_next": len(statement) > PAGE_SIZE,
            "chart": state_chart(over_time, currency, periods, _("Commissions by month ({currency})", currency=currency), _),
            "args": {"status": status or "", "currency": currency, "page": page, "ppage": ppage, "spage": spage},
        })  # fmt: skip

    @get("/earnings.csv", media_type="text/csv")
    async def earnings_csv(self, session: AsyncSession, actor: Actor | None) -> Response[str]:
        return csv_response(reports.earnings_csv(await reports.creator_earnings(session, actor)), "earnings.csv")

    @get("/commissions.csv", media_type="text/csv")
    async def commissions_csv(self, session: AsyncSession, actor: Actor | None) -> Response[str]:
        actor = require_actor(actor)
        return csv_response(reports.csv_text(await _commission_rows(session, creator_user_id=actor.user_id)), "commissions.csv")


TRANSLATIONS = {
    "zh-CN": {
        # commission states and ledger lines
        "In holding period": "待结算（保护期内）",
        "Payable": "可结算",
        "Paid out": "已结算",
        "Reversed": "已冲回",
        "Processing": "处理中",
        "Awaiting the bank": "等待银行转账",
        "Commission earned": "获得佣金",
        "Commission payable": "佣金可结算",
        "Taken back by a refund": "退款冲回",
        "Taken back by refunds": "因退款冲回",
        "Fixed fee per note": "每篇笔记固定费用",
        "Payout": "结算打款",
        "Earned": "获得",
        "Payable from": "可结算日期",
        "Became payable": "转为可结算",
        # brand money
        "Commissions by state": "各状态佣金",
        "Commissions by month ({currency})": "每月佣金（{currency}）",
        "Currency": "币种",
        "Fixed fees": "固定费用",
        "Owed by the brand": "品牌应付",
        "{n} note": "{n} 篇笔记",
        "{n} notes": "{n} 篇笔记",
        "{n} commission": "{n} 笔佣金",
        "{n} commissions": "{n} 笔佣金",
        "Platform fee": "平台服务费",
        "The platform withholds {fee} from each creator payout. It is not charged to the brand: your cost is the commissions and fixed fees above.":
            "平台从每笔达人结算中扣除 {fee}。该费用不向品牌收取：你的成本就是上面的佣金和固定费用。",
        "Commissions": "佣金",
        "Download CSV": "下载 CSV",
        "Statement": "对账单",
        "Statement ({currency})": "对账单（{currency}）",
        "Date": "日期",
        "Entry": "明细",
        "Balance": "余额",
        "No entries yet.": "还没有记录。",
        "No commissions yet.": "还没有佣金。",
        "Product": "商品",
        "Line paid": "商品实付",
        "Rate": "佣金率",
        "per unit": "每件",
        "Net": "净额",
        "State": "状态",
        "new buyer": "新客",
        "History of commission {id}": "佣金 {id} 的记录",
        "Chart data": "图表数据",
        "Month": "月份",
        "Day": "日期",
        "A positive amount is owed by the brand; a refund after a commission takes it back.": "正数表示品牌应付；佣金之后的退款会将其冲回。",
        # creator earnings
        "Your earnings": "我的收益",
        "Payable now": "当前可结算",
        "In payouts being sent": "结算中",
        "Earned by state": "各状态收益",
        "Your commissions": "我的佣金",
        "By campaign": "按活动",
        "Payouts": "结算记录",
        "No payouts yet.": "还没有结算记录。",
        "Gross": "应结金额",
        "Fee": "服务费",
        "You receive": "实收",
        "Reference": "参考号",
        "Commissions in this payout": "本次结算包含的佣金",
        "Fixed fees and clawbacks are in the statement below.": "固定费用和冲回记录见下方对账单。",
        "What the platform owes you: positive amounts add to it, a payout takes it out.": "平台欠你的金额：正数表示增加，结算打款会扣减。",
        "Earnings CSV": "收益 CSV",
        "Commissions CSV": "佣金 CSV",
        "Statement CSV": "对账单 CSV",
        "Buyers are never shown: only what was bought.": "不会显示买家信息：只显示购买的商品。",
        "earned": "已赚取",
        # dashboards
        "Open campaigns": "进行中的活动",
        "No open campaigns.": "没有进行中的活动。",
        "Notes published": "已发布笔记",
        "Clicks": "点击",
        "Attributed orders": "带来订单",
        "GMV": "成交额",
        "Cost": "成本",
        "ROI": "投入产出比",
        "GMV and cost per campaign ({currency})": "各活动成交额与成本（{currency}）",
        "Last 30 days ({currency})": "最近 30 天（{currency}）",
        "Your earnings by state": "各状态收益",
        "Next deadlines": "即将截止",
        "No deadlines coming up.": "近期没有截止事项。",
        "New invitations": "新的合作邀请",
        "No new invitations.": "没有新的邀请。",
        "All collaborations": "全部合作",
        "Find campaigns": "寻找活动",
        "due {date}": "截止 {date}",
        "overdue": "已逾期",
        "See earnings": "查看收益",
        "No earnings yet.": "还没有收益。",
        "ROI is (GMV − cost) ÷ cost; cost is commissions owed plus fixed fees.": "投入产出比 =（成交额 − 成本）÷ 成本；成本为应付佣金加固定费用。",
    }
}

"""Platform staff pages: payout runs (`/creator/staff/payouts`).

Staff run payouts per currency (once per idempotency key), read each run's payouts and
the creators it skipped, download its CSV and bank file, confirm that the bank paid and
record a transfer the bank returned. `core.campaigns.payouts` holds every rule; these
handlers read forms, call it and show what it returns. Anyone else gets "not found"
(never "forbidden": the pages' existence leaks nothing).

`run_payouts` and the bank confirmations open their own transactions (a run calls the
payout providers, Stripe included, between them), so the handlers that change
something take no request session: nothing may be held open around them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.enums import RequestEncodingType
from litestar.handlers import BaseRouteHandler
from litestar.params import Body, Parameter
from litestar.response import Redirect

from core import forms
from core.auth.permissions import Actor
from core.auth.service import display_names
from core.campaigns import payouts as service
from core.campaigns.models import PayoutRunStatus, PayoutStatus
from core.db import utcnow
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from core.web import current_actor, login_required, render
from creator_portal.commerce import PageNumber, notice_url
from creator_portal.money import PAYOUT_LABELS, csv_response, percent_text

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Ran = Annotated[str | None, Parameter(max_length=5)]
Count = Annotated[int | None, Parameter(ge=0, le=1_000_000)]
BASE = "/creator/staff/payouts"
RUNS_PAGE = 20
SKIPPED_SHOWN = 200  # a run can skip thousands below the minimum: the counts by reason say the rest
RUN_LABELS = {PayoutRunStatus.RUNNING: "Running", PayoutRunStatus.DONE: "Done"}
SKIP_LABELS = {
    "negative_balance": "Owes clawbacks: netted against the next payout",
    "open_payout": "Already in a payout not settled yet",
    "below_minimum": "Below the minimum: paid once it reaches it",
    "no_payout_method": "No payout method chosen",
    "method_unavailable": "Their payout method is not available here",
    "needs_own_transaction": "Needs a run of its own",
}


async def staff_only(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    """Platform staff only; anyone else is told the page does not exist."""
    actor = await current_actor(connection)
    if actor is None or not actor.is_staff:
        raise NotFound("no such page")


def key_for(raw: str) -> str | None:
    """Empty: the service's monthly key. Anything else goes to the service, which refuses
    a blank or malformed key with its own message."""
    return None if raw == "" else raw.strip() or raw


class StaffPayoutPages(Controller):
    path = "/staff/payouts"
    guards = [login_required, staff_only]

    # -- runs

    @get("/")
    async def runs(self, request: Request, runtime: Runtime, actor: Actor | None, page: PageNumber = 1) -> Any:
        return await self._runs_page(request, runtime, actor, page=page)

    async def _runs_page(
        self, request: Request, runtime: Runtime, actor: Actor | None, *, page: int = 1, form: dict[str, str] | None = None,
        error: str | None = None, status_code: int = 200,
    ) -> Any:
        async with runtime.db.read_session() as session:
            runs, total = await service.list_runs(session, actor, limit=RUNS_PAGE, offset=(page - 1) * RUNS_PAGE)
            offered = await service.payable_currencies(session)
        now = utcnow()
        currencies = [{"code": c, "key": service.default_key(c, now), "minimum_minor": service.minimum_minor(runtime, c)} for c in offered]
        return await render(request, "portal/staff_payouts.html", {
            "section": "payouts", "runs": runs, "total": total, "page": page, "has_next": page * RUNS_PAGE < total,
            "currencies": currencies,
            "fee_percent": percent_text(runtime.settings.platform_fee_ppm), "payout_labels": PAYOUT_LABELS, "run_labels": RUN_LABELS,
            "form": form or {}, "error": error,
        }, status_code=status_code)  # fmt: skip

    @post("/")
    async def run(self, request: Request, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        form = {"currency": forms.text(data, "currency").strip().upper(), "key": forms.text(data, "key")}
        try:
            async with runtime.db.read_session() as session:
                offered = await service.payable_currencies(session)
            if form["currency"] not in offered:
                raise ValidationFailed("choose a currency from the list")
            result = await service.run_payouts(runtime, currency=form["currency"], key=key_for(form["key"]), actor=actor)
        except DomainError as exc:
            return await self._runs_page(request, runtime, actor, form=form, error=exc.detail, status_code=exc.status_code)
        return Redirect(f"{BASE}/{result.run.id}?ran={'new' if result.created else 'again'}", status_code=303)

    # -- one run

    @get("/{run_id:int}")
    async def run_page(self, request: Request, run_id: int, runtime: Runtime, actor: Actor | None, ran: Ran = None, confirmed: Count = None) -> Any:
        return await self._run_page(request, runtime, actor, run_id, ran=ran, confirmed=confirmed)

    async def _run_page(
        self, request: Request, runtime: Runtime, actor: Actor | None, run_id: int, *, ran: str | None = None, confirmed: int | None = None,
        error: str | None = None, failed: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        async with runtime.db.read_session() as session:
            run, payouts, handles = await service.get_run(session, actor, run_id)
            skipped = list(run.skipped or [])
            names = await display_names(session, {p.creator_user_id for p in payouts} | {s["creator_user_id"] for s in skipped[:SKIPPED_SHOWN]})
        totals: dict[str, dict[str, int]] = {}
        for p in payouts:
            t = totals.setdefault(p.status, {"count": 0, "gross_minor": 0, "fee_minor": 0, "net_minor": 0})
            t["count"] += 1
            t["gross_minor"] += p.gross_minor
            t["fee_minor"] += p.fee_minor
            t["net_minor"] += p.net_minor
        skip_counts: dict[str, int] = {}
        for s in skipped:
            skip_counts[s["reason"]] = skip_counts.get(s["reason"], 0) + 1
        providers = service.payout_providers(runtime)
        return await render(request, "portal/staff_run.html", {
            "section": "payouts", "run": run, "payouts": payouts, "handles": handles, "names": names, "totals": totals,
            "skipped": skipped[:SKIPPED_SHOWN], "skipped_total": len(skipped), "skip_counts": skip_counts, "skip_labels": SKIP_LABELS,
            "methods": {name: p.label for name, p in providers.items()}, "payout_labels": PAYOUT_LABELS, "run_labels": RUN_LABELS,
            "awaiting": [p for p in payouts if p.status == PayoutStatus.AWAITING and p.provider == service.BankPayoutProvider.name],
            "fee_percent": percent_text(run.fee_ppm), "ran": ran, "confirmed": confirmed,
            "error": error, "failed": failed, "form": form or {},
        }, status_code=status_code)  # fmt: skip

    @get("/{run_id:int}/payouts.csv", media_type="text/csv")
    async def payouts_csv(self, run_id: int, session: AsyncSession, actor: Actor | None) -> Response[str]:
        return csv_response(await service.payouts_csv(session, actor, run_id), f"payout-run-{run_id}.csv")

    @get("/{run_id:int}/bank-file.csv", media_type="text/csv")
    async def bank_file(self, run_id: int, session: AsyncSession, actor: Actor | None) -> Response[str]:
        return csv_response(await service.bank_file_csv(session, actor, run_id), f"payout-run-{run_id}-bank.csv")

    @post("/{run_id:int}/confirm")
    async def confirm(self, request: Request, run_id: int, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        """The bank paid: every awaiting bank payout of the run, or the ticked ones.
        Confirming again pays nothing twice."""
        ticked = forms.values(data, "payout")
        try:
            ids = None if forms.text(data, "which") == "all" else forms.ids(ticked)
            if ids == []:
                raise ValidationFailed("tick the payouts the bank paid")
            paid = await service.confirm_bank_payouts(runtime, actor, run_id, ids)
        except NotFound:
            raise
        except DomainError as exc:
            return await self._run_page(request, runtime, actor, run_id, error=exc.detail, failed="confirm", form={"ticked": ticked}, status_code=exc.status_code)
        return Redirect(f"{BASE}/{run_id}?confirmed={len(paid)}#payouts", status_code=303)

    @post("/{run_id:int}/payouts/{payout_id:int}/returned")
    async def returned(self, request: Request, run_id: int, payout_id: int, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        """The bank returned a transfer: the payout fails and the next run pays it again.
        A second click finds it failed already and says so."""
        reason = forms.text(data, "reason")
        async with runtime.db.read_session() as session:
            _run, payouts, _handles = await service.get_run(session, actor, run_id)
        payout = next((p for p in payouts if p.id == payout_id and p.provider == service.BankPayoutProvider.name), None)
        if payout is None:
            raise NotFound("no such bank payout in this run")
        done = notice_url(f"{BASE}/{run_id}", "Marked as returned by the bank: the next run pays it again.", f"#payout-{payout_id}")
        if payout.status == PayoutStatus.FAILED:
            return Redirect(done, status_code=303)
        try:
            await service.fail_bank_payout(runtime, actor, payout_id, reason)
        except Conflict as exc:
            async with runtime.db.read_session() as session:
                _run, payouts, _handles = await service.get_run(session, actor, run_id)
            if any(p.id == payout_id and p.status == PayoutStatus.FAILED for p in payouts):
                return Redirect(done, status_code=303)  # a double click lost the race: it is done
            return await self._run_page(request, runtime, actor, run_id, error=exc.detail, failed=f"payout-{payout_id}", form={"reason": reason}, status_code=exc.status_code)
        except DomainError as exc:
            return await self._run_page(request, runtime, actor, run_id, error=exc.detail, failed=f"payout-{payout_id}", form={"reason": reason}, status_code=exc.status_code)
        return Redirect(done, status_code=303)


TRANSLATIONS = {
    "zh-CN": {
        "Platform staff": "平台运营",
        "Payout runs": "结算批次",
        "Run payouts": "发起结算",
        "Pay every creator owed at least the minimum in one currency, less the platform fee ({fee}).": "向某一币种下应结金额达到最低结算额的所有达人打款，扣除平台服务费（{fee}）。",
        "Idempotency key": "幂等键",
        "Empty: the currency's key for this month, such as {key}.": "留空：使用该币种本月的键，例如 {key}。",
        "Each currency's monthly key is shown in the list. Running twice with the same key pays nothing again: it shows the run that already happened. Name another key (letters, digits, . _ : -) for an extra run.":
            "列表中显示了各币种的本月键。用同一个键运行两次不会重复打款：只会显示已经完成的那次结算。如需额外结算，请另起一个键（字母、数字及 . _ : -）。",
        "key {key} · minimum {minimum}": "键 {key} · 最低 {minimum}",
        "No payout runs yet.": "还没有结算批次。",
        "Run": "批次",
        "Started": "开始时间",
        "Totals": "合计",
        "No payouts": "无打款",
        "Running": "进行中",
        "net": "实付",
        "choose a currency from the list": "请从列表中选择币种",
        "No creator is owed anything now: there is nothing to run.": "目前没有应付给达人的款项：无需发起结算。",
        # the payout service's messages shown on these pages
        "key: 1-80 of A-Z, a-z, 0-9 and . _ : -, starting with a letter or digit": "键：1-80 个字符，可用 A-Z、a-z、0-9 及 . _ : -，以字母或数字开头",
        "say why the bank did not pay (up to 500 characters)": "请说明银行未付款的原因（最多 500 个字符）",
        "Payout run {key}": "结算批次 {key}",
        "Minimum {minimum} · platform fee {fee}": "最低结算额 {minimum} · 平台服务费 {fee}",
        "Paid {n} creator.": "已向 {n} 位达人打款。",
        "Paid {n} creators.": "已向 {n} 位达人打款。",
        "{n} bank transfer waits for you to confirm it below.": "{n} 笔银行转账等待你在下方确认。",
        "{n} bank transfers wait for you to confirm them below.": "{n} 笔银行转账等待你在下方确认。",
        "{n} payout failed: see why below; the next run pays it again.": "{n} 笔打款失败：原因见下方；下次结算会重新支付。",
        "{n} payouts failed: see why below; the next run pays them again.": "{n} 笔打款失败：原因见下方；下次结算会重新支付。",
        "{n} payout waits for the provider's answer: the next run asks again.": "{n} 笔打款等待服务商答复：下次结算会再次查询。",
        "{n} payouts wait for the provider's answer: the next run asks again.": "{n} 笔打款等待服务商答复：下次结算会再次查询。",
        "This run already happened: nothing paid again.": "该批次已经运行过：没有重复打款。",
        "{n} payout marked paid and posted to the ledger.": "{n} 笔打款已标记为已付并记入账本。",
        "{n} payouts marked paid and posted to the ledger.": "{n} 笔打款已标记为已付并记入账本。",
        "Nothing new to confirm: those payouts were paid already.": "没有新的待确认项：这些打款此前已确认。",
        "Marked as returned by the bank: the next run pays it again.": "已标记为银行退回：下次结算会重新支付。",
        "Payouts CSV": "打款 CSV",
        "Bank file CSV": "银行转账文件 CSV",
        "Creator (payouts)": "达人",
        "Sandbox payouts (test mode)": "沙盒打款（测试模式）",
        "Bank transfer (manual, CSV file)": "银行转账（人工，CSV 文件）",
        "Failure reason": "失败原因",
        "No creator was paid in this run.": "本批次没有向任何达人打款。",
        "Bank transfers": "银行转账",
        "Download the bank file, make the transfers with each reference in the memo, then confirm what the bank paid.":
            "下载银行转账文件，按每行的参考号在备注中填写并完成转账，然后确认银行已付款项。",
        "Confirm the bank paid all {n}": "确认银行已支付全部 {n} 笔",
        "Confirm the ticked ones": "确认已勾选的",
        "Paid by the bank": "银行已付",
        "tick the payouts the bank paid": "请勾选银行已支付的打款",
        "Bank returned it": "银行已退回",
        "Why did the bank not pay?": "银行为何未付款？",
        "Skipped creators": "未结算的达人",
        "Nobody was skipped.": "没有被跳过的达人。",
        "Why": "原因",
        "Showing {shown} of {total}.": "显示 {total} 位中的 {shown} 位。",
        "Owes clawbacks: netted against the next payout": "有待冲回金额：在下次结算中抵扣",
        "Already in a payout not settled yet": "已在一笔未完成的打款中",
        "Below the minimum: paid once it reaches it": "低于最低结算额：达到后再支付",
        "No payout method chosen": "未选择收款方式",
        "Their payout method is not available here": "其收款方式在此不可用",
        "Needs a run of its own": "需要单独结算",
        "Pay creators what they are owed, confirm bank transfers.": "向达人支付应得款项，确认银行转账。",
    }
}

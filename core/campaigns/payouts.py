"""Payout runs: paying creators what the ledger says they are owed, exactly once.

A run (unique `key`) pays, in one currency, every creator whose payable balance (minus
the balance of their `creator_available` account: approved commissions and fixed fees,
less clawbacks) reaches the minimum, less the platform fee. No provider is ever called
inside a database transaction:

1. plan, one transaction: lock the creators' available accounts, subtract what open
   payouts already reserve, write one `pending` Payout per creator (its idempotency key
   fixed by run and creator) and tie the creator's approved commissions to it; commit.
2. call the creator's payout provider with that idempotency key, no transaction open.
3. record, one transaction: `paid`, the ledger posting `payout:<id>` and the commissions
   marked paid; or `failed` (commissions released, balance untouched: the next run pays
   it). A manual provider (`bank`) leaves the payout `awaiting` until staff confirm the
   bank transfer.

A crash between 2 and 3, or an ambiguous provider error (a timeout, a 5xx), leaves the
payout `pending` and its amount reserved. Every later run (the same key or another)
first asks the provider again with the same idempotency key, which answers with the
transfer it already made. Only a definite refusal fails a payout.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import weakref
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from sqlalchemy import exists, func, select, update
from sqlalchemy.exc import IntegrityError

from core.auth.permissions import Actor, require_actor, require_staff
from core.campaigns.models import (
    Commission,
    CommissionStatus,
    CreatorProfile,
    Payout,
    PayoutRun,
    PayoutRunStatus,
    PayoutStatus,
)
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event
from core.ledger import service as ledger
from core.ledger.models import AccountKind, LedgerAccount
from core.ledger.service import Posting, Txn
from core.money import exponent, validate_currency
from core.plugin_manager import PluginError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime
    from core.settings import Settings

log = logging.getLogger("zhongcao.payouts")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$")
PPM = 1_000_000

PAYOUT_EVENT_TYPES = {
    "payout.paid": "A creator payout was paid (posted to the ledger).",
    "payout.failed": "A creator payout was refused; the balance stays payable and the next run pays it.",
}


# ---------------------------------------------------------------- providers


class PayoutError(Exception):
    """The provider did not pay. `retryable`: we cannot tell whether the transfer happened
    (a timeout, a 5xx), so the payout stays pending and is asked again with the same
    idempotency key; otherwise it was definitely refused and the payout fails."""

    def __init__(self, message: str, *, retryable: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.code = code


@runtime_checkable
class PayoutProvider(Protocol):
    """What the core needs to pay a creator. Optional attributes: `manual = True` for a
    provider whose transfers a person makes (the payout waits for staff confirmation);
    `offline = True` for one that makes no network call."""

    name: str
    label: str
    test_mode: bool

    async def transfer(self, *, amount_minor: int, currency: str, destination: dict[str, str], idempotency_key: str, metadata: dict[str, str]) -> str:
        """Send `amount_minor` to `destination` (the creator's payout details, plus
        `creator_user_id`) and return the provider's reference. The same idempotency key
        must answer with the same transfer, never make a second one."""
        ...


@dataclass(frozen=True)
class SandboxTransfer:
    ref: str
    amount_minor: int
    currency: str
    destination: dict[str, str]
    metadata: dict[str, str]


class SandboxPayoutProvider:
    """No network, no money: transfers are kept in memory per process, keyed by
    idempotency key, so a repeated call returns the same transfer. Always test mode."""

    name = "sandbox"
    label = "Sandbox payouts (test mode)"
    test_mode = True
    offline = True

    def __init__(self) -> None:
        self._transfers: dict[str, SandboxTransfer] = {}
        self._lock = threading.Lock()

    async def transfer(self, *, amount_minor: int, currency: str, destination: dict[str, str], idempotency_key: str, metadata: dict[str, str]) -> str:
        if isinstance(amount_minor, bool) or not isinstance(amount_minor, int) or amount_minor <= 0:
            raise PayoutError("a transfer is a positive whole number of minor units")
        with self._lock:
            known = self._transfers.get(idempotency_key)
            if known is not None:
                if (known.amount_minor, known.currency) != (amount_minor, currency):
                    # never happens with the core's keys; if it does, a person must look
                    raise PayoutError(f"idempotency key {idempotency_key} was used for another amount", retryable=True, code="idempotency_mismatch")
                return known.ref
            ref = "sbx_tr_" + hashlib.sha256(idempotency_key.encode()).hexdigest()[:24]
            self._transfers[idempotency_key] = SandboxTransfer(ref, amount_minor, currency, dict(destination), dict(metadata))
            return ref

    def transfers(self) -> list[SandboxTransfer]:
        with self._lock:
            return list(self._transfers.values())

    def ledger(self) -> dict[str, int]:
        """Total sent per currency."""
        totals: dict[str, int] = defaultdict(int)
        for t in self.transfers():
            totals[t.currency] += t.amount_minor
        return dict(totals)


BANK_FIELDS = ("account_name", "account_number", "bank_name")


def bank_reference(idempotency_key: str) -> str:
    """What the bank transfer's memo carries, so a statement line leads back to the payout."""
    return idempotency_key.upper()


class BankPayoutProvider:
    """Manual bank transfers: nothing is sent. The payout waits `awaiting` in the run's
    bank file (CSV) until staff confirm that the bank paid it."""

    name = "bank"
    label = "Bank transfer (manual, CSV file)"
    test_mode = False
    manual = True
    offline = True

    async def transfer(self, *, amount_minor: int, currency: str, destination: dict[str, str], idempotency_key: str, metadata: dict[str, str]) -> str:
        missing = [f for f in BANK_FIELDS if not str(destination.get(f) or "").strip()]
        if missing:
            raise PayoutError(f"bank details incomplete: {', '.join(missing)}", code="incomplete_bank_details")
        return bank_reference(idempotency_key)


class StripePayoutProvider:
    """Stripe Connect transfers from the platform balance to the creator's connected
    account (`payout_details.stripe_account`). Each transfer carries the payout's
    idempotency key both as `Idempotency-Key` and as its `transfer_group`; before
    creating one, the provider looks the group up, so a retry after Stripe has forgotten
    the key (24 hours) still finds the transfer instead of sending a second one."""

    name = "stripe"
    label = "Stripe Connect"

    def __init__(self, settings: Settings, *, http_client_factory: Any = None, timeout: float = 30.0, max_network_retries: int = 2) -> None:
        from core.payments.stripe_provider import _HTTPXClient, is_test_key

        if not settings.stripe_secret_key:
            raise ValueError("StripePayoutProvider needs ZHONGCAO_STRIPE_SECRET_KEY")
        self._key = settings.stripe_secret_key
        self._api_base = settings.stripe_api_base.rstrip("/") if settings.stripe_api_base else None
        self.test_mode = is_test_key(self._key)
        self._http_client_factory = http_client_factory or (lambda: _HTTPXClient(timeout=timeout))
        self._max_network_retries = max_network_retries
        self._clients: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def _client(self) -> Any:
        """One SDK client per event loop (its httpx client is bound to the loop)."""
        import asyncio

        import stripe

        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                client = stripe.StripeClient(
                    self._key, base_addresses={"api": self._api_base} if self._api_base else None,
                    http_client=self._http_client_factory(), max_network_retries=self._max_network_retries,
                )
                self._clients[loop] = client
            return client

    async def transfer(self, *, amount_minor: int, currency: str, destination: dict[str, str], idempotency_key: str, metadata: dict[str, str]) -> str:
        import stripe

        account = str(destination.get("stripe_account") or "")
        if not re.fullmatch(r"acct_[A-Za-z0-9]{1,60}", account):
            raise PayoutError("the creator has no Stripe account (stripe_account: acct_...)", code="no_destination")
        transfers = self._client().v1.transfers
        try:
            found = await transfers.list_async({"transfer_group": idempotency_key, "limit": 1})
            if found.data:
                return str(found.data[0].id)
            made = await transfers.create_async(
                {"amount": amount_minor, "currency": currency.lower(), "destination": account, "transfer_group": idempotency_key, "metadata": dict(metadata)},
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            message = " ".join((exc.user_message or str(exc) or type(exc).__name__).split())
            definite = isinstance(exc, (stripe.InvalidRequestError, stripe.AuthenticationError, stripe.PermissionError, stripe.CardError))
            raise PayoutError(f"stripe transfer: {message}", retryable=not definite, code=getattr(exc, "code", None)) from exc
        return str(made.id)


_PROVIDERS: weakref.WeakKeyDictionary[Any, dict[str, PayoutProvider]] = weakref.WeakKeyDictionary()
_PROVIDERS_LOCK = threading.Lock()


def payout_providers(runtime: Runtime) -> dict[str, PayoutProvider]:
    """Every plugin's payout providers by name, collected once per runtime (the sandbox's
    memory must outlive a single run)."""
    with _PROVIDERS_LOCK:
        found = _PROVIDERS.get(runtime)
        if found is not None:
            return found
        providers: dict[str, PayoutProvider] = {}
        for plugin, contributed in runtime.pm.call_each("register_payout_providers", runtime=runtime):
            for provider in contributed:
                if not isinstance(provider, PayoutProvider):
                    raise PluginError(f"plugin {plugin!r}: hook register_payout_providers: {provider!r} is not a PayoutProvider")
                if provider.name in providers:
                    raise PluginError(f"plugin {plugin!r}: hook register_payout_providers: provider {provider.name!r} already registered")
                providers[provider.name] = provider
        _PROVIDERS[runtime] = providers
        return providers


# ---------------------------------------------------------------- arithmetic


def fee_of(gross_minor: int, fee_ppm: int) -> int:
    """The platform fee on a payout: gross x ppm / 1,000,000, rounded half up."""
    return (gross_minor * fee_ppm * 2 + PPM) // (2 * PPM)


def minimum_minor(runtime: Runtime, currency: str) -> int:
    """`ZHONGCAO_PAYOUT_MINIMUM_MAJOR` in the currency's minor units (100 -> 10000 fen, 100 yen)."""
    return runtime.settings.payout_minimum_major * 10 ** exponent(currency)


def default_key(currency: str, now: datetime) -> str:
    """One run per currency and month unless staff name another: creators are paid monthly."""
    return f"{currency}-{now:%Y-%m}"


def _currency(value: Any) -> str:
    try:
        if not isinstance(value, str) or validate_currency(value) != value:
            raise ValueError(value)
    except ValueError as exc:
        raise ValidationFailed("currency: an ISO 4217 code such as CNY", extra={"fields": {"currency": "invalid"}}) from exc
    return value


# ---------------------------------------------------------------- running


@dataclass(frozen=True)
class Skipped:
    creator_user_id: int
    handle: str | None
    balance_minor: int  # what the ledger says is payable (negative: the creator owes clawbacks)
    reserved_minor: int  # already in open payouts
    reason: str  # negative_balance | open_payout | below_minimum | no_payout_method | method_unavailable | needs_own_transaction

    def as_dict(self) -> dict[str, Any]:
        return {"creator_user_id": self.creator_user_id, "handle": self.handle, "balance_minor": self.balance_minor, "reserved_minor": self.reserved_minor, "reason": self.reason}


@dataclass(frozen=True)
class RunResult:
    run: PayoutRun
    payouts: list[Payout]
    created: bool  # False: the key had run before, and nothing new was planned
    handles: dict[int, str] = field(default_factory=dict)


class _Work:
    """Transactions of a run: each its own, committed; or (demo seed) all inside the
    caller's session, flushed, where only offline providers may be called."""

    def __init__(self, runtime: Runtime, shared: AsyncSession | None) -> None:
        self.runtime = runtime
        self.shared = shared

    @contextlib.asynccontextmanager
    async def tx(self) -> AsyncIterator[AsyncSession]:
        if self.shared is not None:
            yield self.shared
            await self.shared.flush()
            return
        async with self.runtime.db.session() as session:
            yield session
            await session.commit()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        if self.shared is not None:
            yield self.shared
            return
        async with self.runtime.db.read_session() as session:
            yield session

    def may_call(self, provider: PayoutProvider) -> bool:
        return self.shared is None or bool(getattr(provider, "offline", False))


async def run_payouts(
    runtime: Runtime, *, currency: str, key: str | None = None, now: datetime | None = None, actor: Actor | None = None, session: AsyncSession | None = None,
    minimum_minor: int | None = None,
) -> RunResult:
    """Pay every creator owed at least the minimum in `currency`, once per `key`.

    `actor`: when given (the API), it must be platform staff; the CLI runs as the system.
    `session`: run inside the caller's transaction (the demo seed); then only offline
    providers (sandbox, bank) are called and the caller commits.
    `minimum_minor`: this run's minimum instead of `ZHONGCAO_PAYOUT_MINIMUM_MAJOR` (a
    final settlement, the demo).
    """
    if minimum_minor is not None and (isinstance(minimum_minor, bool) or not isinstance(minimum_minor, int) or minimum_minor < 0):
        raise ValidationFailed("minimum_minor: a whole number of minor units, 0 or more")
    if actor is not None:
        require_staff(actor)
    currency = _currency(currency)
    now = now or utcnow()
    key = default_key(currency, now) if key is None else key
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ValidationFailed("key: 1-80 of A-Z, a-z, 0-9 and . _ : -, starting with a letter or digit", extra={"fields": {"key": "invalid"}})
    providers = payout_providers(runtime)
    work = _Work(runtime, session)
    await _settle_pending(work, providers, currency=currency, now=now)  # what earlier runs left: settled first, so planning sees true reservations
    run, created = await _open_run(work, providers, currency=currency, key=key, now=now, created_by=actor.user_id if actor else None, minimum=minimum_minor)
    if created:
        await _settle_pending(work, providers, currency=currency, now=now)
    async with work.tx() as s:
        await _finish_runs(s, currency, now)
    async with work.read() as s:
        run = (await s.execute(select(PayoutRun).where(PayoutRun.id == run.id).execution_options(populate_existing=True))).scalar_one()
        payouts, handles = await _payouts_of_run(s, run.id)
    return RunResult(run=run, payouts=payouts, created=created, handles=handles)


async def _open_run(
    work: _Work, providers: dict[str, PayoutProvider], *, currency: str, key: str, now: datetime, created_by: int | None, minimum: int | None,
) -> tuple[PayoutRun, bool]:
    """Find the run by its key, or create and plan it in one transaction."""
    async with work.tx() as s:
        existing = (await s.execute(select(PayoutRun).where(PayoutRun.key == key))).scalar_one_or_none()
        if existing is None:
            run = PayoutRun(
                key=key, currency=currency, minimum_minor=minimum_minor(work.runtime, currency) if minimum is None else minimum, fee_ppm=work.runtime.settings.platform_fee_ppm,
                status=PayoutRunStatus.RUNNING, started_at=now, created_by=created_by, skipped=[],
            )
            try:
                async with s.begin_nested():
                    s.add(run)
                    await s.flush()
            except IntegrityError:
                existing = (await s.execute(select(PayoutRun).where(PayoutRun.key == key))).scalar_one()  # a concurrent call won
            else:
                await _plan(s, work, providers, run, now)
                return run, True
    if existing.currency != currency:
        raise Conflict(f"payout run {key!r} was a {existing.currency} run", extra={"fields": {"key": "taken"}})
    return existing, False


async def _plan(s: AsyncSession, work: _Work, providers: dict[str, PayoutProvider], run: PayoutRun, now: datetime) -> None:
    acct = LedgerAccount
    # Locks in the order the commission services take them (commission rows, then ledger
    # accounts in id order), so no deadlock: first the approved commissions not yet in a
    # payout (a refund changing one finishes first), then the available accounts (an
    # approval committing after this waits for the plan). Balances read below and the
    # commissions tied to the payouts then agree.
    await s.execute(
        select(Commission.id).where(Commission.status == CommissionStatus.APPROVED, Commission.payout_id.is_(None), Commission.currency == run.currency).with_for_update()
    )
    accounts = (
        await s.execute(
            select(acct.owner_id, acct.balance_minor)
            .where(acct.kind == AccountKind.CREATOR_AVAILABLE, acct.currency == run.currency, acct.balance_minor != 0)
            .order_by(acct.id)
            .with_for_update()
        )
    ).all()
    if not accounts:
        run.skipped = []
        await s.flush()
        return
    reserved = dict(
        (
            await s.execute(
                select(Payout.creator_user_id, func.sum(Payout.gross_minor)).where(Payout.currency == run.currency, Payout.status.in_(PayoutStatus.OPEN)).group_by(Payout.creator_user_id)
            )
        ).all()
    )
    owners = [owner for owner, _ in accounts]
    profiles: dict[int, tuple[str, str | None]] = {}
    for i in range(0, len(owners), 500):
        rows = await s.execute(select(CreatorProfile.user_id, CreatorProfile.handle, CreatorProfile.payout_method).where(CreatorProfile.user_id.in_(owners[i : i + 500])))
        profiles.update({uid: (handle, method) for uid, handle, method in rows})
    skipped: list[Skipped] = []
    planned: list[Payout] = []
    for owner, balance in accounts:
        payable = -balance  # a liability: what the platform owes is a credit
        held = int(reserved.get(owner) or 0)
        handle, method = profiles.get(owner, (None, None))

        def skip(reason: str, owner: int = owner, handle: str | None = handle, payable: int = payable, held: int = held) -> None:
            skipped.append(Skipped(owner, handle, payable, held, reason))

        free = payable - held
        if payable < 0:
            skip("negative_balance")
        elif free <= 0:
            skip("open_payout")
        elif free < run.minimum_minor or free - fee_of(free, run.fee_ppm) <= 0:
            skip("below_minimum")
        elif not method:
            skip("no_payout_method")
        elif method not in providers:
            skip("method_unavailable")
        elif not work.may_call(providers[method]):
            skip("needs_own_transaction")
        else:
            fee = fee_of(free, run.fee_ppm)
            planned.append(Payout(
                run_id=run.id, creator_user_id=owner, currency=run.currency, gross_minor=free, fee_minor=fee, net_minor=free - fee,
                provider=method, idempotency_key=f"zc-payout-{run.id}-{owner}", status=PayoutStatus.PENDING, attempts=0, created_at=now, updated_at=now,
            ))
    run.skipped = [x.as_dict() for x in skipped]
    s.add_all(planned)
    await s.flush()
    if planned:
        c = Commission.__table__
        p = Payout.__table__
        mine = select(p.c.id).where(p.c.run_id == run.id, p.c.creator_user_id == c.c.creator_user_id).scalar_subquery()
        await s.execute(
            update(c)
            .where(c.c.status == CommissionStatus.APPROVED, c.c.payout_id.is_(None), c.c.currency == run.currency, exists().where(p.c.run_id == run.id, p.c.creator_user_id == c.c.creator_user_id))
            .values(payout_id=mine, updated_at=now)
        )


async def _settle_pending(work: _Work, providers: dict[str, PayoutProvider], *, currency: str, now: datetime) -> None:
    """Call the provider for every pending payout in the currency, this run's and any an
    earlier run left behind, each with its own idempotency key."""
    async with work.read() as s:
        rows = (
            await s.execute(
                select(Payout, CreatorProfile.payout_details, CreatorProfile.handle)
                .outerjoin(CreatorProfile, CreatorProfile.user_id == Payout.creator_user_id)
                .where(Payout.currency == currency, Payout.status == PayoutStatus.PENDING)
                .order_by(Payout.id)
            )
        ).all()
    for payout, details, handle in rows:
        provider = providers.get(payout.provider)
        if provider is None:
            await _note_error(work, payout.id, f"payout provider {payout.provider!r} is not available; the payout waits for it")
            continue
        if not work.may_call(provider):
            continue
        p = Payout.__table__
        async with work.tx() as s:
            claimed = await s.execute(update(p).where(p.c.id == payout.id, p.c.status == PayoutStatus.PENDING).values(attempts=p.c.attempts + 1))
        if claimed.rowcount != 1:
            continue  # settled meanwhile by another run
        destination = {**{k: str(v) for k, v in (details or {}).items()}, "creator_user_id": str(payout.creator_user_id)}
        metadata = {"payout_id": str(payout.id), "run_id": str(payout.run_id), "creator_user_id": str(payout.creator_user_id)}
        try:
            ref = await provider.transfer(amount_minor=payout.net_minor, currency=payout.currency, destination=destination, idempotency_key=payout.idempotency_key, metadata=metadata)
        except PayoutError as exc:
            if exc.retryable:
                await _note_error(work, payout.id, str(exc))
            else:
                await _record_failed(work, payout.id, str(exc), now)
            continue
        except Exception as exc:
            log.exception("payout provider %s raised on payout %s", provider.name, payout.id)
            await _note_error(work, payout.id, f"{type(exc).__name__}: {exc}")
            continue
        if getattr(provider, "manual", False):
            async with work.tx() as s:
                await s.execute(update(p).where(p.c.id == payout.id, p.c.status == PayoutStatus.PENDING).values(status=PayoutStatus.AWAITING, provider_ref=str(ref)[:100], error=None, updated_at=now))
        else:
            async with work.tx() as s:
                await record_paid(s, work.runtime, [payout.id], refs={payout.id: str(ref)[:100]}, now=now, handles={payout.creator_user_id: handle})


async def _note_error(work: _Work, payout_id: int, message: str) -> None:
    p = Payout.__table__
    async with work.tx() as s:
        await s.execute(update(p).where(p.c.id == payout_id, p.c.status == PayoutStatus.PENDING).values(error=message[:1000]))


async def _record_failed(work: _Work, payout_id: int, message: str, now: datetime, *, from_status: str = PayoutStatus.PENDING, by: int | None = None) -> bool:
    async with work.tx() as s:
        return await record_failed(s, work.runtime, payout_id, message, now=now, from_status=from_status, by=by)


async def record_failed(s: AsyncSession, runtime: Runtime, payout_id: int, message: str, *, now: datetime, from_status: str, by: int | None = None) -> bool:
    """Fail a payout that is still `from_status`: its commissions go back to payable and
    the ledger is not touched. False if it had moved on."""
    p = Payout.__table__
    values: dict[str, Any] = {"status": PayoutStatus.FAILED, "error": message[:1000], "updated_at": now}
    if by is not None:
        values["confirmed_by"] = by
    done = await s.execute(update(p).where(p.c.id == payout_id, p.c.status == from_status).values(**values))
    if done.rowcount != 1:
        return False
    c = Commission.__table__
    await s.execute(update(c).where(c.c.payout_id == payout_id, c.c.status == CommissionStatus.APPROVED).values(payout_id=None, updated_at=now))
    row = (await s.execute(select(p.c.creator_user_id, p.c.currency, p.c.gross_minor, p.c.run_id).where(p.c.id == payout_id))).one()
    record_event(s, runtime, "payout.failed", {"payout_id": payout_id, "run_id": row.run_id, "creator_user_id": row.creator_user_id, "currency": row.currency, "gross_minor": row.gross_minor, "error": message[:200]})
    return True


async def record_paid(
    s: AsyncSession, runtime: Runtime, payout_ids: Sequence[int], *, now: datetime, refs: dict[int, str] | None = None,
    from_status: str = PayoutStatus.PENDING, by: int | None = None, handles: dict[int, str | None] | None = None,
) -> list[int]:
    """Mark payouts paid (only those still `from_status`), post `payout:<id>` for each and
    mark their commissions paid, in the caller's transaction. Returns the ids it paid."""
    if not payout_ids:
        return []
    p = Payout.__table__
    values: dict[str, Any] = {"status": PayoutStatus.PAID, "paid_at": now, "error": None, "updated_at": now}
    if by is not None:
        values["confirmed_by"] = by
    paid: list[int] = []
    if refs:  # each with its own provider reference
        for payout_id in sorted(payout_ids):
            done = await s.execute(update(p).where(p.c.id == payout_id, p.c.status == from_status).values(**values, provider_ref=refs.get(payout_id)))
            if done.rowcount == 1:
                paid.append(payout_id)
    else:
        done = await s.execute(update(p).where(p.c.id.in_(sorted(set(payout_ids))), p.c.status == from_status).values(**values).returning(p.c.id))
        paid = sorted(done.scalars())
    if not paid:
        return []
    rows = (await s.execute(select(p.c.id, p.c.run_id, p.c.creator_user_id, p.c.currency, p.c.gross_minor, p.c.fee_minor, p.c.net_minor).where(p.c.id.in_(paid)))).all()
    txns = []
    for r in rows:
        postings = [Posting(AccountKind.CREATOR_AVAILABLE, r.creator_user_id, r.gross_minor), Posting(AccountKind.PAYOUTS, 0, -r.net_minor)]
        if r.fee_minor:
            postings.insert(1, Posting(AccountKind.PLATFORM_FEE, 0, -r.fee_minor))
        handle = (handles or {}).get(r.creator_user_id)
        txns.append(Txn(
            key=f"payout:{r.id}", kind="payout", currency=r.currency, postings=postings,
            memo=f"payout to @{handle}" if handle else f"payout to creator {r.creator_user_id}", ref={"payout_id": r.id, "run_id": r.run_id, "creator_user_id": r.creator_user_id},
        ))
    c = Commission.__table__  # commission rows before ledger accounts: the order every service locks them in
    await s.execute(update(c).where(c.c.payout_id.in_(paid), c.c.status == CommissionStatus.APPROVED).values(status=CommissionStatus.PAID, paid_at=now, updated_at=now))
    await ledger.post_many(s, txns)
    for r in rows:
        record_event(s, runtime, "payout.paid", {"payout_id": r.id, "run_id": r.run_id, "creator_user_id": r.creator_user_id, "currency": r.currency, "gross_minor": r.gross_minor, "fee_minor": r.fee_minor, "net_minor": r.net_minor})
    return paid


async def _finish_runs(s: AsyncSession, currency: str, now: datetime) -> None:
    """A run is done once none of its payouts waits for a provider."""
    r = PayoutRun.__table__
    p = Payout.__table__
    await s.execute(
        update(r)
        .where(r.c.currency == currency, r.c.status == PayoutRunStatus.RUNNING, ~exists().where(p.c.run_id == r.c.id, p.c.status == PayoutStatus.PENDING))
        .values(status=PayoutRunStatus.DONE, finished_at=now)
    )


async def _payouts_of_run(s: AsyncSession, run_id: int) -> tuple[list[Payout], dict[int, str]]:
    rows = (
        await s.execute(
            select(Payout, CreatorProfile.handle)
            .outerjoin(CreatorProfile, CreatorProfile.user_id == Payout.creator_user_id)
            .where(Payout.run_id == run_id)
            .order_by(Payout.id)
            .execution_options(populate_existing=True)
        )
    ).all()
    return [p for p, _ in rows], {p.creator_user_id: h for p, h in rows if h}


# ---------------------------------------------------------------- bank payouts: staff confirm


async def confirm_bank_payouts(runtime: Runtime, actor: Actor | None, run_id: int, payout_ids: Sequence[int] | None = None, *, now: datetime | None = None) -> list[int]:
    """Staff confirm that the bank paid the run's file (all its awaiting payouts, or the
    ones listed): each is marked paid and posted to the ledger. Returns the ids paid now;
    confirming twice pays nothing twice."""
    actor = require_staff(actor)
    now = now or utcnow()
    async with runtime.db.session() as s:
        run = await s.get(PayoutRun, run_id)
        if run is None:
            raise NotFound("no such payout run")
        query = select(Payout.id, Payout.status).where(Payout.run_id == run_id, Payout.provider == BankPayoutProvider.name)
        found = dict((await s.execute(query)).all())
        wanted = list(payout_ids) if payout_ids is not None else [i for i, st in found.items() if st == PayoutStatus.AWAITING]
        unknown = [i for i in wanted if i not in found]
        if unknown:
            raise NotFound(f"not a bank payout of this run: {', '.join(map(str, unknown))}")
        wrong = [i for i in wanted if found[i] not in (PayoutStatus.AWAITING, PayoutStatus.PAID)]
        if wrong:
            raise Conflict(f"only payouts awaiting the bank can be confirmed: {', '.join(map(str, wrong))}")
        handles = dict((await s.execute(select(CreatorProfile.user_id, CreatorProfile.handle).join(Payout, Payout.creator_user_id == CreatorProfile.user_id).where(Payout.id.in_(wanted or [0])))).all())
        paid = await record_paid(s, runtime, wanted, now=now, from_status=PayoutStatus.AWAITING, by=actor.user_id, handles=handles)
        await s.commit()
    return paid


async def fail_bank_payout(runtime: Runtime, actor: Actor | None, payout_id: int, reason: str, *, now: datetime | None = None) -> Payout:
    """Staff report that the bank returned a transfer: the payout fails, the balance stays
    payable, and the next run pays it (after the creator fixes their details)."""
    actor = require_staff(actor)
    reason = (reason or "").strip()
    if not reason or len(reason) > 500:
        raise ValidationFailed("say why the bank did not pay (up to 500 characters)", extra={"fields": {"reason": "invalid"}})
    now = now or utcnow()
    async with runtime.db.session() as s:
        payout = await s.get(Payout, payout_id)
        if payout is None:
            raise NotFound("no such payout")
        if payout.status != PayoutStatus.AWAITING:
            raise Conflict(f"this payout is {payout.status}; only a bank payout awaiting confirmation can be failed")
        if not await record_failed(s, runtime, payout_id, f"bank: {reason}", now=now, from_status=PayoutStatus.AWAITING, by=actor.user_id):
            raise Conflict("this payout changed meanwhile")
        await s.commit()
        await s.refresh(payout)
    return payout


# ---------------------------------------------------------------- reading


async def list_runs(session: AsyncSession, actor: Actor | None, *, limit: int = 20, offset: int = 0) -> tuple[list[tuple[PayoutRun, dict[str, dict[str, int]]]], int]:
    """Runs, newest first, each with {status: {count, gross_minor, fee_minor, net_minor}}."""
    require_staff(actor)
    total = (await session.execute(select(func.count()).select_from(PayoutRun))).scalar_one()
    runs = list((await session.execute(select(PayoutRun).order_by(PayoutRun.id.desc()).limit(limit).offset(offset))).scalars())
    sums: dict[int, dict[str, dict[str, int]]] = defaultdict(dict)
    if runs:
        rows = await session.execute(
            select(Payout.run_id, Payout.status, func.count(), func.sum(Payout.gross_minor), func.sum(Payout.fee_minor), func.sum(Payout.net_minor))
            .where(Payout.run_id.in_([r.id for r in runs]))
            .group_by(Payout.run_id, Payout.status)
        )
        for run_id, status, count, gross, fee, net in rows:
            sums[run_id][status] = {"count": int(count), "gross_minor": int(gross or 0), "fee_minor": int(fee or 0), "net_minor": int(net or 0)}
    return [(r, sums.get(r.id, {})) for r in runs], total


async def get_run(session: AsyncSession, actor: Actor | None, run_id: int) -> tuple[PayoutRun, list[Payout], dict[int, str]]:
    require_staff(actor)
    run = await session.get(PayoutRun, run_id)
    if run is None:
        raise NotFound("no such payout run")
    payouts, handles = await _payouts_of_run(session, run_id)
    return run, payouts, handles


async def payable_currencies(session: AsyncSession) -> list[str]:
    """The currencies some creator is owed something in: a run in another would only
    spend its monthly key on nothing. (Open payouts keep their amount owed until paid,
    so a currency with one to settle is offered too.)"""
    a = LedgerAccount
    owed = await session.execute(select(a.currency).where(a.kind == AccountKind.CREATOR_AVAILABLE, a.balance_minor < 0).distinct())
    return sorted(owed.scalars())


async def my_payouts(session: AsyncSession, actor: Actor | None, *, limit: int = 50, offset: int = 0) -> tuple[list[Payout], int, dict[str, dict[str, int]]]:
    """The caller's own payouts, newest first, and per currency what is payable now
    (`available_minor`, negative when clawbacks exceed it), still pending approval, and
    reserved by open payouts."""
    actor = require_actor(actor)
    mine = Payout.creator_user_id == actor.user_id
    total = (await session.execute(select(func.count()).select_from(Payout).where(mine))).scalar_one()
    payouts = list((await session.execute(select(Payout).where(mine).order_by(Payout.id.desc()).limit(limit).offset(offset))).scalars())
    balances: dict[str, dict[str, int]] = defaultdict(lambda: {"available_minor": 0, "pending_minor": 0, "reserved_minor": 0})
    for (kind, currency), amount in (await ledger.balances(session, [AccountKind.CREATOR_AVAILABLE, AccountKind.CREATOR_PENDING], actor.user_id)).items():
        balances[currency]["available_minor" if kind == AccountKind.CREATOR_AVAILABLE else "pending_minor"] = -amount
    held = await session.execute(select(Payout.currency, func.sum(Payout.gross_minor)).where(mine, Payout.status.in_(PayoutStatus.OPEN)).group_by(Payout.currency))
    for currency, amount in held:
        balances[currency]["reserved_minor"] = int(amount or 0)
    return payouts, total, dict(balances)


# ---------------------------------------------------------------- exports (staff)


async def payouts_csv(session: AsyncSession, actor: Actor | None, run_id: int) -> str:
    """Every payout of a run, amounts in major units."""
    from core.campaigns.reports import csv_text, major

    _run, payouts, handles = await get_run(session, actor, run_id)
    rows: list[list[Any]] = [["payout_id", "creator", "provider", "status", "gross", "fee", "net", "currency", "reference", "paid_at", "error"]]
    for p in payouts:
        rows.append([
            p.id, handles.get(p.creator_user_id, f"user:{p.creator_user_id}"), p.provider, p.status, major(p.gross_minor, p.currency), major(p.fee_minor, p.currency),
            major(p.net_minor, p.currency), p.currency, p.provider_ref or "", p.paid_at.isoformat() if p.paid_at else "", p.error or "",
        ])
    return csv_text(rows)


async def bank_file_csv(session: AsyncSession, actor: Actor | None, run_id: int) -> str:
    """The run's bank payouts still awaiting the bank, with full account details (for the
    bank, staff only). The reference goes into each transfer's memo."""
    from core.campaigns.reports import csv_text, major

    require_staff(actor)
    if await session.get(PayoutRun, run_id) is None:
        raise NotFound("no such payout run")
    rows: list[list[Any]] = [["payout_id", "creator", "account_name", "bank", "account_number", "branch", "swift", "gross", "fee", "net", "currency", "reference"]]
    found = await session.execute(
        select(Payout, CreatorProfile.handle, CreatorProfile.payout_details)
        .outerjoin(CreatorProfile, CreatorProfile.user_id == Payout.creator_user_id)
        .where(Payout.run_id == run_id, Payout.provider == BankPayoutProvider.name, Payout.status == PayoutStatus.AWAITING)
        .order_by(Payout.id)
    )
    for p, handle, details in found:
        d = details or {}
        rows.append([
            p.id, handle or f"user:{p.creator_user_id}", d.get("account_name", ""), d.get("bank_name", ""), d.get("account_number", ""), d.get("branch", ""), d.get("swift", ""),
            major(p.gross_minor, p.currency), major(p.fee_minor, p.currency), major(p.net_minor, p.currency), p.currency, p.provider_ref or bank_reference(p.idempotency_key),
        ])
    return csv_text(rows)

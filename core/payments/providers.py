"""The payment provider interface and the embedded `sandbox` provider.

Providers are called only outside database transactions: services commit what they
intend (with the idempotency key) first, call the provider, then record the outcome.
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import msgspec

from core.payments.models import PaymentStatus


class ProviderError(Exception):
    """The provider refused or failed; `declined` is the shopper's card, not our bug."""

    def __init__(self, message: str, *, declined: bool = False, code: str | None = None) -> None:
        super().__init__(message)
        self.declined = declined
        self.code = code


class BadSignature(Exception):
    pass


class ProviderIntent(msgspec.Struct, kw_only=True):
    ref: str
    status: str  # a PaymentStatus value
    amount_minor: int
    currency: str
    captured_minor: int = 0
    client_secret: str | None = None
    error: str | None = None
    # the shopper must act in the browser (3-D Secure) before the provider can go on:
    # hand `client_secret` to Stripe.js (`confirmCardPayment`), then ask the provider again
    action_required: bool = False
    # the card's fingerprint (the same card gives the same value), when the provider tells
    fingerprint: str | None = None


class ProviderRefund(msgspec.Struct, kw_only=True):
    ref: str
    amount_minor: int
    status: str  # succeeded | pending | failed


class ProviderEventIn(msgspec.Struct, kw_only=True):
    """A verified webhook, reduced to what the core acts on."""

    event_id: str
    type: str  # payment.succeeded | payment.failed | payment.authorized | payment.cancelled | refund.succeeded | other
    payment_ref: str | None
    amount_minor: int | None = None
    raw: dict[str, Any] = msgspec.field(default_factory=dict)


@runtime_checkable
class PaymentProvider(Protocol):
    """What the core needs from a payment provider. A provider may also define
    `intent_from_event(event: ProviderEventIn) -> ProviderIntent | None`; webhooks use it
    when present and otherwise build the intent from the event's ref, type and amount."""

    name: str
    label: str
    test_mode: bool

    async def create_intent(self, *, amount_minor: int, currency: str, idempotency_key: str, capture_method: str, metadata: dict[str, str]) -> ProviderIntent: ...
    async def confirm(self, ref: str, *, payment_method: str, idempotency_key: str) -> ProviderIntent: ...
    async def capture(self, ref: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent: ...
    async def cancel(self, ref: str, *, idempotency_key: str) -> ProviderIntent: ...
    async def refund(self, ref: str, *, amount_minor: int, idempotency_key: str) -> ProviderRefund: ...
    async def retrieve(self, ref: str) -> ProviderIntent: ...
    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEventIn: ...


def sandbox_fingerprint(card_number: str) -> str:
    """A stable stand-in for a card fingerprint: a hash of the test card number."""
    return "sbx_fp_" + hashlib.sha256(f"sandbox-card:{card_number}".encode()).hexdigest()[:24]


SANDBOX_CARDS = {
    "4242424242424242": None,  # succeeds
    "5555555555554444": None,  # succeeds too (another card: another fingerprint)
    "4000000000000002": "card_declined",
    "4000000000009995": "insufficient_funds",
}


class SandboxProvider:
    """No network, no real money: test card numbers succeed or decline. Always labelled
    test mode. State lives in memory per process, keyed by idempotency key, so a retried
    call returns the same intent; the database remains the record."""

    name = "sandbox"
    label = "Sandbox (test mode)"
    test_mode = True

    def __init__(self) -> None:
        self._intents: dict[str, ProviderIntent] = {}
        self._by_key: dict[str, str] = {}
        self._refunds: dict[str, ProviderRefund] = {}
        self._refunded: dict[str, int] = {}
        self._capture_method: dict[str, str] = {}
        self._lock = threading.Lock()

    def _ref(self, prefix: str, key: str) -> str:
        return f"{prefix}_{hashlib.sha256(key.encode()).hexdigest()[:24]}"

    async def create_intent(self, *, amount_minor: int, currency: str, idempotency_key: str, capture_method: str, metadata: dict[str, str]) -> ProviderIntent:
        with self._lock:
            ref = self._by_key.get(idempotency_key)
            if ref is None:
                ref = self._ref("sbx_pi", idempotency_key)
                self._by_key[idempotency_key] = ref
                self._intents[ref] = ProviderIntent(ref=ref, status=PaymentStatus.REQUIRES_ACTION, amount_minor=amount_minor, currency=currency, client_secret=f"{ref}_secret")
                self._capture_method[ref] = capture_method
            return msgspec.structs.replace(self._intents[ref])

    def _get(self, ref: str) -> ProviderIntent:
        intent = self._intents.get(ref)
        if intent is None:
            raise ProviderError(f"no such sandbox payment {ref}")
        return intent

    async def confirm(self, ref: str, *, payment_method: str, idempotency_key: str) -> ProviderIntent:
        card = "".join(ch for ch in payment_method if ch.isdigit())
        with self._lock:
            intent = self._get(ref)
            if intent.status in (PaymentStatus.SUCCEEDED, PaymentStatus.AUTHORIZED):
                return msgspec.structs.replace(intent)  # a repeated confirm changes nothing
            if card not in SANDBOX_CARDS:
                raise ProviderError("use a sandbox test card, e.g. 4242 4242 4242 4242", declined=True, code="invalid_number")
            decline = SANDBOX_CARDS[card]
            if decline:
                intent.status = PaymentStatus.REQUIRES_ACTION
                intent.error = decline
                raise ProviderError(f"the card was declined ({decline})", declined=True, code=decline)
            intent.fingerprint = sandbox_fingerprint(card)
            if self._capture_method.get(ref) == "manual":
                intent.status = PaymentStatus.AUTHORIZED
            else:
                intent.status = PaymentStatus.SUCCEEDED
                intent.captured_minor = intent.amount_minor
            return msgspec.structs.replace(intent)

    async def capture(self, ref: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent:
        with self._lock:
            intent = self._get(ref)
            if intent.status == PaymentStatus.AUTHORIZED:
                if amount_minor > intent.amount_minor:
                    raise ProviderError("cannot capture more than was authorized")
                intent.status = PaymentStatus.SUCCEEDED
                intent.captured_minor = amount_minor
            elif intent.status != PaymentStatus.SUCCEEDED:
                raise ProviderError(f"cannot capture a payment in state {intent.status}")
            return msgspec.structs.replace(intent)

    async def cancel(self, ref: str, *, idempotency_key: str) -> ProviderIntent:
        with self._lock:
            if ref not in self._intents and ref.startswith("sbx_pi_"):
                # made by an earlier process (the sandbox keeps nothing across restarts): an
                # authorization that died with it holds nothing, so voiding it is done
                self._intents[ref] = ProviderIntent(ref=ref, status=PaymentStatus.CANCELLED, amount_minor=0, currency="XXX")
                return msgspec.structs.replace(self._intents[ref])
            intent = self._get(ref)
            if intent.status == PaymentStatus.SUCCEEDED:
                raise ProviderError("a captured payment cannot be cancelled; refund it")
            intent.status = PaymentStatus.CANCELLED
            return msgspec.structs.replace(intent)

    async def refund(self, ref: str, *, amount_minor: int, idempotency_key: str) -> ProviderRefund:
        with self._lock:
            if idempotency_key in self._refunds:
                return self._refunds[idempotency_key]
            intent = self._get(ref)
            already = self._refunded.get(ref, 0)
            if amount_minor <= 0 or already + amount_minor > intent.captured_minor:
                raise ProviderError("refund exceeds what was captured")
            self._refunded[ref] = already + amount_minor
            refund = ProviderRefund(ref=f"sbx_re_{uuid.uuid4().hex[:20]}", amount_minor=amount_minor, status="succeeded")
            self._refunds[idempotency_key] = refund
            return refund

    async def retrieve(self, ref: str) -> ProviderIntent:
        with self._lock:
            return msgspec.structs.replace(self._get(ref))

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEventIn:
        raise BadSignature("the sandbox sends no webhooks")

    def ledger(self) -> tuple[int, int]:
        """(captured, refunded) across every sandbox payment: what the provider reports."""
        with self._lock:
            return sum(i.captured_minor for i in self._intents.values()), sum(self._refunded.values())

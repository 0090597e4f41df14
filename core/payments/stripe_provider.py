"""Stripe, through the official SDK's async methods (no thread is blocked on the network).

Every request that changes something carries the idempotency key the service stored
before calling, so a retry (ours, or the SDK's own network retries) charges once.
The provider does no database work: the service layer calls it with no transaction open.

`ZHONGCAO_STRIPE_API_BASE` points the SDK at another server (localstripe in the tests).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import stripe

from core.payments.models import PaymentStatus
from core.payments.providers import BadSignature, ProviderError, ProviderEventIn, ProviderIntent, ProviderRefund

if TYPE_CHECKING:
    from core.settings import Settings

log = logging.getLogger("zhongcao.payments.stripe")

# PaymentIntent.status -> PaymentStatus
INTENT_STATUS = {
    "requires_payment_method": PaymentStatus.REQUIRES_ACTION,
    "requires_confirmation": PaymentStatus.REQUIRES_ACTION,
    "requires_action": PaymentStatus.REQUIRES_ACTION,
    "processing": PaymentStatus.REQUIRES_ACTION,
    "requires_capture": PaymentStatus.AUTHORIZED,
    "succeeded": PaymentStatus.SUCCEEDED,
    "canceled": PaymentStatus.CANCELLED,
}

# Stripe event type -> ProviderEventIn.type (anything else is "other")
EVENT_TYPES = {
    "payment_intent.succeeded": "payment.succeeded",
    "payment_intent.amount_capturable_updated": "payment.authorized",
    "payment_intent.payment_failed": "payment.failed",
    "payment_intent.canceled": "payment.cancelled",
    "charge.refunded": "refund.succeeded",
}

# ProviderEventIn.type -> the PaymentStatus the event asserts
EVENT_STATUS = {
    "payment.succeeded": PaymentStatus.SUCCEEDED,
    "payment.authorized": PaymentStatus.AUTHORIZED,
    "payment.failed": PaymentStatus.FAILED,
    "payment.cancelled": PaymentStatus.CANCELLED,
}

REFUND_STATUS = {"succeeded": "succeeded", "pending": "pending", "requires_action": "pending", "failed": "failed", "canceled": "failed"}

PAYMENT_METHOD_PREFIXES = ("pm_", "card_", "src_")
_MEMO_SIZE = 10_000


class _HTTPXClient(stripe.HTTPXClient):
    """The SDK's httpx client, sending the form body as `content=` (httpx deprecates
    raw bytes passed as `data=`)."""

    def _get_request_args_kwargs(self, method: str, url: str, headers: Mapping[str, str], post_data: Any):  # noqa: ANN202
        args, kwargs = super()._get_request_args_kwargs(method, url, headers, post_data)
        if isinstance(kwargs.get("data"), (bytes, str)):
            kwargs["content"] = kwargs.pop("data")
        elif kwargs.get("data") == {}:
            kwargs.pop("data")
        return args, kwargs


def is_test_key(key: str) -> bool:
    return key.startswith(("sk_test_", "rk_test_"))


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None:
        lowered = name.lower()
        for key, val in headers.items():
            if key.lower() == lowered:
                return val
    return value


def _as_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _error(exc: stripe.StripeError, action: str) -> ProviderError:
    """Card errors are the shopper's (declined); everything else is ours or Stripe's."""
    code = getattr(exc, "code", None)
    message = " ".join((exc.user_message or str(exc) or type(exc).__name__).split())
    if isinstance(exc, stripe.CardError):
        return ProviderError(message, declined=True, code=code or "card_declined")
    if isinstance(exc, stripe.InvalidRequestError) and code == "payment_intent_authentication_failure":
        return ProviderError(message, declined=True, code=code)
    return ProviderError(f"stripe {action} failed: {message}", declined=False, code=code)


def card_fingerprint(pi: Mapping[str, Any]) -> str | None:
    """`payment_method.card.fingerprint` when the PaymentMethod is expanded (confirm asks
    for it), else the latest charge's card details (older API versions, localstripe)."""
    pm = pi.get("payment_method")
    if isinstance(pm, Mapping):
        card = pm.get("card")
        if isinstance(card, Mapping) and isinstance(card.get("fingerprint"), str):
            return card["fingerprint"][:64]
    charges = pi.get("charges")
    candidates = list(charges.get("data") or []) if isinstance(charges, Mapping) else []
    if isinstance(pi.get("latest_charge"), Mapping):
        candidates.append(pi["latest_charge"])
    for charge in reversed(candidates):
        details = charge.get("payment_method_details") if isinstance(charge, Mapping) else None
        card = details.get("card") if isinstance(details, Mapping) else None
        if isinstance(card, Mapping) and isinstance(card.get("fingerprint"), str):
            return card["fingerprint"][:64]
    return None


def intent_from_object(pi: Mapping[str, Any]) -> ProviderIntent:
    """A PaymentIntent (as a plain dict) reduced to what the core records."""
    status = INTENT_STATUS.get(str(pi.get("status")), PaymentStatus.REQUIRES_ACTION)
    amount = int(pi.get("amount") or 0)
    received = pi.get("amount_received")
    if received is None:  # fakes such as localstripe leave it out
        received = amount if status == PaymentStatus.SUCCEEDED else 0
    last_error = pi.get("last_payment_error") or {}
    error = last_error.get("code") or last_error.get("message") if isinstance(last_error, Mapping) else None
    return ProviderIntent(
        ref=str(pi["id"]), status=status, amount_minor=amount, currency=str(pi.get("currency") or "").upper(),
        captured_minor=int(received), client_secret=pi.get("client_secret"), error=error, action_required=pi.get("status") == "requires_action",
        fingerprint=card_fingerprint(pi),
    )


class StripeProvider:
    """The `stripe` payment provider. One SDK client per event loop (the SDK's httpx
    client is bound to the loop that opened its connections; web processes, the
    in-process worker and tests each run their own loop)."""

    name = "stripe"
    label = "Stripe"

    def __init__(self, settings: Settings, *, http_client_factory: Callable[[], stripe.HTTPClient] | None = None, timeout: float = 30.0, max_network_retries: int = 2) -> None:
        if not settings.stripe_secret_key:
            raise ValueError("StripeProvider needs ZHONGCAO_STRIPE_SECRET_KEY")
        self._key = settings.stripe_secret_key
        self._webhook_secret = settings.stripe_webhook_secret
        self._api_base = settings.stripe_api_base.rstrip("/") if settings.stripe_api_base else None
        self.test_mode = is_test_key(self._key)
        self._http_client_factory = http_client_factory or (lambda: _HTTPXClient(timeout=timeout))
        self._max_network_retries = max_network_retries
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, stripe.StripeClient] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        # idempotency key -> object id, for creates repeated in this process: answered by
        # a retrieve (current state). Stripe dedupes by the Idempotency-Key header anyway;
        # this also keeps fakes without idempotency support (localstripe) from duplicating.
        self._memo: OrderedDict[str, str] = OrderedDict()

    # ------------------------------------------------------------ plumbing
    def _client(self) -> stripe.StripeClient:
        loop = asyncio.get_running_loop()
        with self._lock:
            client = self._clients.get(loop)
            if client is None:
                client = stripe.StripeClient(
                    self._key,
                    base_addresses={"api": self._api_base} if self._api_base else None,
                    http_client=self._http_client_factory(),
                    max_network_retries=self._max_network_retries,
                )
                self._clients[loop] = client
            return client

    async def aclose(self) -> None:
        """Close this loop's HTTP connections (optional; they die with the loop anyway)."""
        with self._lock:
            client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client._requestor._client.close_async()  # noqa: SLF001 - the SDK exposes no public close

    def _remember(self, key: str, ref: str) -> None:
        with self._lock:
            self._memo[key] = ref
            self._memo.move_to_end(key)
            while len(self._memo) > _MEMO_SIZE:
                self._memo.popitem(last=False)

    def _recall(self, key: str) -> str | None:
        with self._lock:
            return self._memo.get(key)

    async def _pi(self, action: str, call: Any) -> ProviderIntent:
        try:
            return intent_from_object(_as_dict(await call))
        except stripe.StripeError as exc:
            raise _error(exc, action) from exc

    async def _already(self, ref: str, statuses: tuple[str, ...]) -> ProviderIntent | None:
        """After a refused state change: the intent if it is already where we wanted it."""
        try:
            intent = await self.retrieve(ref)
        except ProviderError:
            return None
        return intent if intent.status in statuses else None

    # ------------------------------------------------------------ PaymentProvider
    async def create_intent(self, *, amount_minor: int, currency: str, idempotency_key: str, capture_method: str, metadata: dict[str, str]) -> ProviderIntent:
        if capture_method not in ("automatic", "manual"):
            raise ProviderError(f"unknown capture method {capture_method!r}")
        known = self._recall(idempotency_key)
        if known is not None:
            return await self.retrieve(known)
        params: dict[str, Any] = {
            "amount": amount_minor,
            "currency": currency.lower(),
            "capture_method": capture_method,
            "metadata": dict(metadata),
            # cards, confirmed server-side with a PaymentMethod id or by Stripe.js with the client secret
            "payment_method_types": ["card"],
        }
        intent = await self._pi("create", self._client().v1.payment_intents.create_async(params, {"idempotency_key": idempotency_key}))
        self._remember(idempotency_key, intent.ref)
        return intent

    async def confirm(self, ref: str, *, payment_method: str, idempotency_key: str) -> ProviderIntent:
        """Server-side confirm with a PaymentMethod id (pm_...). Attaches it first, then
        confirms: two calls that real Stripe and localstripe both accept."""
        if not isinstance(payment_method, str) or not payment_method.startswith(PAYMENT_METHOD_PREFIXES):
            raise ProviderError("Stripe needs a PaymentMethod id (pm_...) from Stripe.js", declined=True, code="invalid_payment_method")
        intents = self._client().v1.payment_intents
        try:
            await intents.update_async(ref, {"payment_method": payment_method}, {"idempotency_key": f"{idempotency_key}-pm"})
            pi = await intents.confirm_async(ref, {"expand": ["payment_method"]}, {"idempotency_key": idempotency_key})
        except stripe.CardError as exc:
            raise _error(exc, "confirm") from exc
        except stripe.InvalidRequestError as exc:
            done = await self._already(ref, (PaymentStatus.SUCCEEDED, PaymentStatus.AUTHORIZED))
            if done is not None:
                return done  # a repeated confirm changes nothing
            raise _error(exc, "confirm") from exc
        except stripe.StripeError as exc:
            raise _error(exc, "confirm") from exc
        return intent_from_object(_as_dict(pi))

    async def capture(self, ref: str, *, amount_minor: int, idempotency_key: str) -> ProviderIntent:
        try:
            pi = await self._client().v1.payment_intents.capture_async(ref, {"amount_to_capture": amount_minor}, {"idempotency_key": idempotency_key})
        except stripe.InvalidRequestError as exc:
            done = await self._already(ref, (PaymentStatus.SUCCEEDED,))
            if done is not None:
                return done
            raise _error(exc, "capture") from exc
        except stripe.StripeError as exc:
            raise _error(exc, "capture") from exc
        return intent_from_object(_as_dict(pi))

    async def cancel(self, ref: str, *, idempotency_key: str) -> ProviderIntent:
        try:
            pi = await self._client().v1.payment_intents.cancel_async(ref, None, {"idempotency_key": idempotency_key})
        except stripe.InvalidRequestError as exc:
            done = await self._already(ref, (PaymentStatus.CANCELLED,))
            if done is not None:
                return done
            raise _error(exc, "cancel") from exc
        except stripe.StripeError as exc:
            raise _error(exc, "cancel") from exc
        return intent_from_object(_as_dict(pi))

    async def refund(self, ref: str, *, amount_minor: int, idempotency_key: str) -> ProviderRefund:
        refunds = self._client().v1.refunds
        try:
            known = self._recall(idempotency_key)
            if known is not None:
                obj = _as_dict(await refunds.retrieve_async(known))
            else:
                obj = _as_dict(await refunds.create_async({"payment_intent": ref, "amount": amount_minor}, {"idempotency_key": idempotency_key}))
                self._remember(idempotency_key, str(obj["id"]))
        except stripe.StripeError as exc:
            raise _error(exc, "refund") from exc
        return ProviderRefund(ref=str(obj["id"]), amount_minor=int(obj.get("amount") or amount_minor), status=REFUND_STATUS.get(str(obj.get("status")), "pending"))

    async def retrieve(self, ref: str) -> ProviderIntent:
        return await self._pi("retrieve", self._client().v1.payment_intents.retrieve_async(ref, {"expand": ["payment_method"]}))

    # ------------------------------------------------------------ webhooks
    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> ProviderEventIn:
        """Verify the `Stripe-Signature` header (HMAC of the raw body, 300 s tolerance)."""
        if not self._webhook_secret:
            raise BadSignature("ZHONGCAO_STRIPE_WEBHOOK_SECRET is not set: Stripe webhooks cannot be verified")
        try:
            stripe.Webhook.construct_event(body, _header(headers, "Stripe-Signature"), self._webhook_secret, api_key=self._key)
            event = json.loads(body)
        except stripe.SignatureVerificationError as exc:
            raise BadSignature(str(exc).split("\n")[0]) from exc
        except (ValueError, TypeError) as exc:  # not UTF-8 or not JSON
            raise BadSignature(f"unreadable webhook body: {exc}") from exc
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
            raise BadSignature("not a Stripe event")
        obj = (event.get("data") or {}).get("object") or {}
        stripe_type = event["type"]
        kind = EVENT_TYPES.get(stripe_type, "other")
        ref: str | None = None
        amount: int | None = None
        if stripe_type.startswith("payment_intent."):
            ref = obj.get("id")
            amount = obj.get("amount_received") if kind == "payment.succeeded" else obj.get("amount")
            if amount is None:
                amount = obj.get("amount")
        elif obj.get("object") in ("charge", "refund"):
            ref = obj.get("payment_intent")
            amount = obj.get("amount_refunded") if stripe_type == "charge.refunded" else obj.get("amount")
        return ProviderEventIn(event_id=event["id"], type=kind, payment_ref=ref if isinstance(ref, str) else None, amount_minor=int(amount) if isinstance(amount, int) else None, raw=event)

    def intent_from_event(self, event: ProviderEventIn) -> ProviderIntent | None:
        """The intent a payment event describes, with the status its type asserts (a
        `payment_failed` PaymentIntent reads `requires_payment_method`; we record failed)."""
        status = EVENT_STATUS.get(event.type)
        obj = ((event.raw.get("data") or {}).get("object")) or {}
        if status is None or not isinstance(obj, Mapping) or not obj.get("id"):
            return None
        intent = intent_from_object(obj)
        intent.status = status
        if status == PaymentStatus.SUCCEEDED and not intent.captured_minor:
            intent.captured_minor = intent.amount_minor
        return intent

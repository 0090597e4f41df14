"""Provider webhooks: verify, store once, then act, outside the storing transaction.

1. The provider checks the signature over the raw body (`parse_webhook`); a bad one is
   a 400 and nothing is stored.
2. The event is inserted into `payment_provider_event`, unique by (provider, event_id),
   and committed. A second delivery of an event already processed answers
   `duplicate` and does nothing.
3. A payment event becomes a ProviderIntent for `core.payments.service.apply_intent`,
   whose conditional updates make late, repeated or reordered events harmless
   (a `payment_failed` after `succeeded` changes nothing).
4. The row gets `processed_at`. An event for a payment we do not know is `ignored`
   (200, so the provider stops retrying) with the reason kept in `error`. An
   unexpected failure keeps `processed_at` empty, stores the error and answers 503,
   so the provider delivers again and the retry processes it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.db import utcnow
from core.errors import DomainError, NotFound
from core.payments.models import Payment, PaymentStatus, ProviderEvent
from core.payments.providers import BadSignature, PaymentProvider, ProviderEventIn, ProviderIntent

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("zhongcao.payments.webhooks")

EVENT_STATUS = {
    "payment.succeeded": PaymentStatus.SUCCEEDED,
    "payment.authorized": PaymentStatus.AUTHORIZED,
    "payment.failed": PaymentStatus.FAILED,
    "payment.cancelled": PaymentStatus.CANCELLED,
}


class BadWebhook(DomainError):
    status_code = 400
    title = "Bad webhook"
    type_slug = "bad-webhook"


class WebhookNotProcessed(DomainError):
    status_code = 503
    title = "Webhook not processed"
    type_slug = "webhook-not-processed"


def intent_of(provider: PaymentProvider, event: ProviderEventIn) -> ProviderIntent | None:
    """The intent a payment event describes: the provider's own reading if it has one
    (`intent_from_event`), else the event's reference, type and amount."""
    reader = getattr(provider, "intent_from_event", None)
    if reader is not None:
        return reader(event)
    status = EVENT_STATUS.get(event.type)
    if status is None or not event.payment_ref:
        return None
    amount = event.amount_minor or 0
    return ProviderIntent(ref=event.payment_ref, status=status, amount_minor=amount, currency="", captured_minor=amount if status == PaymentStatus.SUCCEEDED else 0)


async def receive(runtime: Runtime, provider_name: str, body: bytes, headers: Mapping[str, str]) -> dict[str, Any]:
    """Handle one delivery; returns the JSON answer (`processed`, `duplicate`, `ignored`)."""
    provider = runtime.payment_providers.get(provider_name)
    if provider is None:
        raise NotFound(f"no payment provider {provider_name!r}")
    try:
        event = provider.parse_webhook(body, headers)
    except BadSignature as exc:
        log.warning("rejected %s webhook: %s", provider.name, exc)
        raise BadWebhook(f"the webhook signature does not verify: {exc}") from exc

    row_id = await _store(runtime, provider.name, event)
    if row_id is None:
        async with runtime.db.read_session() as session:
            existing = (
                await session.execute(select(ProviderEvent).where(ProviderEvent.provider == provider.name, ProviderEvent.event_id == event.event_id))
            ).scalar_one()
        if existing.processed_at is not None:
            return {"status": "duplicate", "event_id": event.event_id}
        row_id = existing.id  # an earlier delivery failed half-way: process it now

    try:
        outcome, note = await _process(runtime, provider, event)
    except Exception as exc:
        log.exception("%s webhook %s (%s) failed; the provider will deliver it again", provider.name, event.event_id, event.type)
        await _finish(runtime, row_id, processed=False, error=f"{type(exc).__name__}: {exc}")
        raise WebhookNotProcessed("the event was stored but could not be processed; deliver it again") from exc
    await _finish(runtime, row_id, processed=True, error=note)
    return {"status": outcome, "event_id": event.event_id}


async def _store(runtime: Runtime, provider_name: str, event: ProviderEventIn) -> int | None:
    """Insert the event; None if it was stored already."""
    async with runtime.db.session() as session:
        row = ProviderEvent(provider=provider_name, event_id=event.event_id[:100], type=event.type[:60], payload=event.raw, received_at=utcnow())
        session.add(row)
        try:
            await session.commit()
        except IntegrityError:
            await session.rollback()
            return None
        return row.id


async def _process(runtime: Runtime, provider: PaymentProvider, event: ProviderEventIn) -> tuple[str, str | None]:
    from core.payments.service import apply_intent

    intent = intent_of(provider, event)
    if intent is None:
        return "processed", None  # nothing the core acts on (refunds are recorded when we make them)
    async with runtime.db.read_session() as session:
        known = (await session.execute(select(Payment.id).where(Payment.provider == provider.name, Payment.provider_ref == intent.ref))).scalar_one_or_none()
    try:
        if known is None:
            raise NotFound(f"no payment {intent.ref} from {provider.name}")
        await apply_intent(runtime, provider.name, intent)
    except NotFound as exc:
        log.warning("%s webhook %s (%s) ignored: %s", provider.name, event.event_id, event.type, exc.detail)
        return "ignored", f"ignored: {exc.detail}"
    return "processed", None


async def _finish(runtime: Runtime, row_id: int, *, processed: bool, error: str | None) -> None:
    values: dict[str, Any] = {"error": error[:2000] if error else None}
    if processed:
        values["processed_at"] = utcnow()
    async with runtime.db.session() as session:
        await session.execute(update(ProviderEvent).where(ProviderEvent.id == row_id).values(**values).execution_options(synchronize_session=False))
        await session.commit()

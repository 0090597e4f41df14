"""Paying for a checkout, and what happens when the provider says it succeeded.

The rule everywhere: write the intent (with its idempotency key) and commit; call the
provider with no transaction open; then record the outcome with conditional updates.
A double submit reuses the same payment row and key, so the provider creates one
payment and charges once. Outcomes may arrive twice (confirm response and webhook),
late, or out of order; each moves state at most once.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from core.auth.permissions import Actor
from core.db import utcnow
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from core.events import record_event
from core.inventory import service as inventory
from core.orders import service as orders
from core.orders.checkout import get_checkout, orders_of_checkout
from core.orders.models import Cart, CartStatus, Checkout, CheckoutStatus, OrderStatus
from core.payments.models import Payment, PaymentStatus
from core.payments.providers import PaymentProvider, ProviderError, ProviderIntent

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("zhongcao.payments")
UNFINISHED = (PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION)


class PaymentDeclined(DomainError):
    status_code = 402
    title = "Payment declined"
    type_slug = "payment-declined"


class ProviderUnavailable(DomainError):
    status_code = 502
    title = "Payment provider unavailable"
    type_slug = "provider-unavailable"


def provider_for(runtime: Runtime, name: str | None = None) -> PaymentProvider:
    name = name or runtime.settings.payment_mode
    try:
        return runtime.payment_providers[name]
    except KeyError as exc:
        raise ValidationFailed(f"payment provider {name!r} is not available") from exc


async def begin_payment(runtime: Runtime, checkout_token: str, actor: Actor | None, *, provider_name: str | None = None, capture_method: str = "automatic") -> tuple[Payment, ProviderIntent]:
    """Create (or find again) the payment for a checkout, and its provider intent."""
    if capture_method not in ("automatic", "manual"):
        raise ValidationFailed("capture_method is automatic or manual")
    provider = provider_for(runtime, provider_name)
    async with runtime.db.session() as session:
        checkout = await get_checkout(session, checkout_token, actor)
        if checkout.status != CheckoutStatus.OPEN:
            raise Conflict(f"this checkout is {checkout.status}")
        payment = (
            await session.execute(
                select(Payment).where(Payment.checkout_id == checkout.id, Payment.provider == provider.name, Payment.status.in_(UNFINISHED)).order_by(Payment.id.desc()).limit(1)
            )
        ).scalar_one_or_none()
        if payment is None:
            payment = Payment(
                checkout_id=checkout.id, provider=provider.name, idempotency_key=f"zc-{uuid.uuid4().hex}", amount_minor=checkout.total_minor,
                currency=checkout.currency, capture_method=capture_method, status=PaymentStatus.PENDING, test_mode=provider.test_mode,
            )
            session.add(payment)
        await session.commit()
    if payment.provider_ref:
        # this attempt reached the provider before: look it up, never create it twice
        try:
            intent = await provider.retrieve(payment.provider_ref)
        except ProviderError as exc:
            raise ProviderUnavailable(f"{provider.name}: {exc}") from exc
        return payment, intent
    try:
        intent = await provider.create_intent(
            amount_minor=payment.amount_minor, currency=payment.currency, idempotency_key=payment.idempotency_key,
            capture_method=payment.capture_method, metadata={"checkout": checkout_token, "payment_id": str(payment.id)},
        )
    except ProviderError as exc:
        raise ProviderUnavailable(f"{provider.name}: {exc}") from exc
    async with runtime.db.session() as session:
        await session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status == PaymentStatus.PENDING)
            .values(provider_ref=intent.ref, status=PaymentStatus.REQUIRES_ACTION, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        await session.commit()
    payment.provider_ref = intent.ref
    return payment, intent


async def pay(runtime: Runtime, checkout_token: str, actor: Actor | None, *, payment_method: str, provider_name: str | None = None, capture_method: str = "automatic") -> Payment:
    """Server-side confirm: a sandbox test card, or a Stripe PaymentMethod id."""
    if not isinstance(payment_method, str) or not payment_method.strip() or len(payment_method) > 100:
        raise ValidationFailed("enter a payment method (a test card number in the sandbox)")
    payment, _intent = await begin_payment(runtime, checkout_token, actor, provider_name=provider_name, capture_method=capture_method)
    provider = provider_for(runtime, payment.provider)
    try:
        intent = await provider.confirm(payment.provider_ref, payment_method=payment_method.strip(), idempotency_key=f"{payment.idempotency_key}-confirm-{uuid.uuid4().hex[:8]}")
    except ProviderError as exc:
        async with runtime.db.session() as session:
            await session.execute(update(Payment).where(Payment.id == payment.id).values(last_error=str(exc)[:500]).execution_options(synchronize_session=False))
            await session.commit()
        if exc.declined:
            raise PaymentDeclined(str(exc), extra={"code": exc.code}) from exc
        raise ProviderUnavailable(f"{provider.name}: {exc}") from exc
    await apply_intent(runtime, provider.name, intent)
    async with runtime.db.read_session() as session:
        return await session.get(Payment, payment.id)  # type: ignore[return-value]


async def apply_intent(runtime: Runtime, provider_name: str, intent: ProviderIntent) -> None:
    """Record what the provider says about a payment (from a confirm, a webhook or a poll)."""
    if intent.status == PaymentStatus.SUCCEEDED:
        await record_success(runtime, provider_name, intent.ref, intent.captured_minor or intent.amount_minor)
    elif intent.status == PaymentStatus.AUTHORIZED:
        await record_authorized(runtime, provider_name, intent.ref)
    elif intent.status in (PaymentStatus.FAILED, PaymentStatus.CANCELLED):
        async with runtime.db.session() as session:
            await session.execute(
                update(Payment)
                .where(Payment.provider == provider_name, Payment.provider_ref == intent.ref, Payment.status.in_(UNFINISHED + (PaymentStatus.AUTHORIZED,)))
                .values(status=intent.status, last_error=intent.error, updated_at=utcnow())
                .execution_options(synchronize_session=False)
            )
            await session.commit()


async def _payment_by_ref(session, provider_name: str, ref: str) -> Payment | None:  # noqa: ANN001
    return (await session.execute(select(Payment).where(Payment.provider == provider_name, Payment.provider_ref == ref))).scalar_one_or_none()


async def record_authorized(runtime: Runtime, provider_name: str, ref: str) -> None:
    async with runtime.db.session() as session:
        await session.execute(
            update(Payment).where(Payment.provider == provider_name, Payment.provider_ref == ref, Payment.status.in_(UNFINISHED)).values(status=PaymentStatus.AUTHORIZED, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
        await session.commit()


async def record_success(runtime: Runtime, provider_name: str, ref: str, captured_minor: int) -> None:
    """Money was taken. Pays the checkout's orders, or, if the checkout was closed
    meanwhile (expired, cancelled, paid by another attempt), refunds it automatically."""
    async with runtime.db.session() as session:
        payment = await _payment_by_ref(session, provider_name, ref)
        if payment is None:
            raise NotFound(f"no payment {ref} from {provider_name}")
        moved = await session.execute(
            update(Payment)
            .where(Payment.id == payment.id, Payment.status != PaymentStatus.SUCCEEDED, Payment.status != PaymentStatus.CANCELLED)
            .values(status=PaymentStatus.SUCCEEDED, captured_minor=captured_minor, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:
            return  # already recorded: a duplicate confirm response or webhook
        checkout = await session.get(Checkout, payment.checkout_id)
        assert checkout is not None
        paid = await session.execute(
            update(Checkout).where(Checkout.id == checkout.id, Checkout.status == CheckoutStatus.OPEN).values(status=CheckoutStatus.PAID, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
        if paid.rowcount == 1:
            holds = []
            for order in await orders_of_checkout(session, checkout.id):
                await orders.transition(session, runtime, order, OrderStatus.PAID, actor=None, kind="provider", paid_at=utcnow())
                holds.extend(await orders.holds_of(session, order.id))
            # stock rows last and in variant order: their locks are held only until the commit
            for hold in sorted(holds, key=lambda h: (h.variant_id, h.id)):
                await inventory.commit_hold(session, hold.id)
            await session.execute(update(Cart).where(Cart.id == checkout.cart_id).values(status=CartStatus.CONVERTED).execution_options(synchronize_session=False))
        else:
            # the checkout expired or was cancelled first: its stock is gone, so the money
            # goes back (by the event handler, after this commit, retried until done)
            record_event(session, runtime, "payment.late_success", {"payment_id": payment.id, "checkout_id": checkout.id, "amount_minor": captured_minor})
        await session.commit()


async def provider_refund(runtime: Runtime, payment: Payment, amount_minor: int, idempotency_key: str) -> str:
    """Give money back at the provider; no transaction may be open. The caller records it
    (the key makes a retried call refund once at the provider)."""
    if payment.provider_ref is None:
        raise Conflict("this payment never reached the provider")
    provider = provider_for(runtime, payment.provider)
    try:
        refund = await provider.refund(payment.provider_ref, amount_minor=amount_minor, idempotency_key=idempotency_key)
    except ProviderError as exc:
        raise ProviderUnavailable(f"{provider.name}: {exc}") from exc
    return refund.ref


async def refund_late_payment(runtime: Runtime, payment_id: int) -> None:
    """The `payment.late_success` handler: money taken for a closed checkout goes back in full."""
    async with runtime.db.read_session() as session:
        payment = await session.get(Payment, payment_id)
    if payment is None or payment.refunded_minor >= payment.captured_minor:
        return
    await provider_refund(runtime, payment, payment.captured_minor, f"{payment.idempotency_key}-late-refund")
    async with runtime.db.session() as session:
        await session.execute(
            update(Payment).where(Payment.id == payment_id, Payment.refunded_minor == 0).values(refunded_minor=Payment.captured_minor, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
        await session.commit()


async def payment_of_checkout(runtime: Runtime, checkout_id: int) -> Payment | None:
    async with runtime.db.read_session() as session:
        return (
            await session.execute(select(Payment).where(Payment.checkout_id == checkout_id, Payment.status == PaymentStatus.SUCCEEDED).limit(1))
        ).scalar_one_or_none()


async def capture_payment(runtime: Runtime, payment_id: int, amount_minor: int | None = None) -> Payment:
    """Capture an authorized payment (manual capture: group buy authorizes every member
    first and captures when the team fills). Records success like any other payment, so
    the orders become paid, their stock committed; a repeated capture changes nothing."""
    async with runtime.db.read_session() as session:
        payment = await session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("no such payment")
    if payment.status == PaymentStatus.SUCCEEDED:
        return payment
    if payment.status != PaymentStatus.AUTHORIZED or payment.provider_ref is None:
        raise Conflict(f"a payment that is {payment.status} cannot be captured")
    amount = payment.amount_minor if amount_minor is None else amount_minor
    if isinstance(amount, bool) or not isinstance(amount, int) or not 0 < amount <= payment.amount_minor:
        raise ValidationFailed("capture between 1 and the authorized amount")
    provider = provider_for(runtime, payment.provider)
    try:
        intent = await provider.capture(payment.provider_ref, amount_minor=amount, idempotency_key=f"{payment.idempotency_key}-capture")
    except ProviderError as exc:
        raise ProviderUnavailable(f"{provider.name}: {exc}") from exc
    await apply_intent(runtime, provider.name, intent)
    async with runtime.db.read_session() as session:
        return await session.get(Payment, payment_id)  # type: ignore[return-value]

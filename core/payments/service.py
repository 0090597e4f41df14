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
from contextvars import ContextVar
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from core.auth.permissions import Actor
from core.db import utcnow
from core.errors import Conflict, DomainError, NotFound, ValidationFailed
from core.events import record_event
from core.inventory import service as inventory
from core.orders import service as orders
from core.orders.checkout import get_checkout, require_checkout_token, require_visible
from core.orders.models import Cart, CartStatus, Checkout, CheckoutStatus, Order, OrderLine, OrderStatus
from core.payments.models import Payment, PaymentStatus
from core.payments.providers import PaymentProvider, ProviderError, ProviderIntent

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

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
    """Create (or find again) the payment for a checkout, and its provider intent. A
    checkout made for manual capture (a team purchase) is only ever authorized."""
    if capture_method not in ("automatic", "manual"):
        raise ValidationFailed("capture_method is automatic or manual")
    provider = provider_for(runtime, provider_name)
    require_checkout_token(checkout_token)
    async with runtime.db.session() as session:
        # the checkout and its unfinished payment with this provider, if any: one query
        row = (
            await session.execute(
                select(Checkout, Payment)
                .outerjoin(Payment, (Payment.checkout_id == Checkout.id) & (Payment.provider == provider.name) & Payment.status.in_((*UNFINISHED, PaymentStatus.AUTHORIZED)))
                .where(Checkout.token == checkout_token)
                .order_by(Payment.id.desc())
                .limit(1)
            )
        ).first()
        checkout = require_visible(row[0] if row else None, actor)
        if checkout.status != CheckoutStatus.OPEN:
            raise Conflict(f"this checkout is {checkout.status}")
        payment = row[1]
        if payment is not None and payment.status == PaymentStatus.AUTHORIZED:
            raise Conflict("this checkout's payment is authorized and waits for capture; it cannot be paid again")
        if payment is None:
            payment = Payment(
                checkout_id=checkout.id, provider=provider.name, idempotency_key=f"zc-{uuid.uuid4().hex}", amount_minor=checkout.total_minor,
                currency=checkout.currency, capture_method="manual" if checkout.capture_method == "manual" else capture_method, status=PaymentStatus.PENDING, test_mode=provider.test_mode,
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
    async with runtime.db.autocommit() as conn:  # one conditional UPDATE: no transaction around it
        await conn.execute(
            update(Payment.__table__)
            .where(Payment.__table__.c.id == payment.id, Payment.__table__.c.status == PaymentStatus.PENDING)
            .values(provider_ref=intent.ref, status=PaymentStatus.REQUIRES_ACTION, updated_at=utcnow())
        )
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
    recorded: dict[int, Payment] = {}
    token = _RECORDED.set(recorded)
    try:
        await apply_intent(runtime, provider.name, intent)
    finally:
        _RECORDED.reset(token)
    if payment.id in recorded:  # this call recorded the success: the row as committed, no read-back
        return recorded[payment.id]
    async with runtime.db.read_session() as session:
        return await session.get(Payment, payment.id)  # type: ignore[return-value]


# record_success leaves the payment row it committed here for `pay` in the same task
_RECORDED: ContextVar[dict[int, Payment] | None] = ContextVar("zhongcao_recorded_payment", default=None)


async def apply_intent(runtime: Runtime, provider_name: str, intent: ProviderIntent) -> None:
    """Record what the provider says about a payment (from a confirm, a webhook or a poll)."""
    if intent.status == PaymentStatus.SUCCEEDED:
        await record_success(runtime, provider_name, intent.ref, intent.captured_minor or intent.amount_minor, fingerprint=intent.fingerprint)
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
    """The money is reserved on the card but not taken (manual capture). The checkout
    and its stock stay held for as long as the authorization is good (not the 15
    minutes of an unpaid checkout), so a capture days later still finds its stock."""
    async with runtime.db.session() as session:
        moved = await session.execute(
            update(Payment)
            .where(Payment.provider == provider_name, Payment.provider_ref == ref, Payment.status.in_(UNFINISHED))
            .values(status=PaymentStatus.AUTHORIZED, updated_at=utcnow())
            .returning(Payment.id, Payment.checkout_id, Payment.amount_minor, Payment.currency)
            .execution_options(synchronize_session=False)
        )
        row = moved.one_or_none()
        if row is None:
            return  # not ours, or recorded already (a duplicate confirm response or webhook)
        held_until = utcnow() + timedelta(hours=runtime.settings.authorization_hold_hours)
        extended = await session.execute(
            update(Checkout).where(Checkout.id == row.checkout_id, Checkout.status == CheckoutStatus.OPEN).values(expires_at=held_until, updated_at=utcnow()).execution_options(synchronize_session=False)
        )
        if extended.rowcount == 1:
            line_ids = (await session.execute(select(OrderLine.id).join(Order, Order.id == OrderLine.order_id).where(Order.checkout_id == row.checkout_id))).scalars().all()
            await inventory.extend_holds(session, list(line_ids), until=held_until)
        record_event(session, runtime, "payment.authorized", {"payment_id": row.id, "checkout_id": row.checkout_id, "amount_minor": row.amount_minor, "currency": row.currency, "held_until": held_until.isoformat()})
        await session.commit()


async def record_success(runtime: Runtime, provider_name: str, ref: str, captured_minor: int, *, fingerprint: str | None = None) -> None:
    """Money was taken. Pays the checkout's orders, or, if the checkout was closed
    meanwhile (expired, cancelled, paid by another attempt), refunds it automatically.

    One transaction, set-based: the payment, the checkout and all its orders move by
    conditional UPDATEs (so a duplicate confirm response or webhook changes nothing),
    the transitions and events are inserted together, and the stock moves come last,
    in variant order, right before the COMMIT."""
    payment_t, checkout_t = Payment.__table__, Checkout.__table__
    async with runtime.db.session() as session:
        payment = (
            await session.execute(
                update(payment_t)
                .where(
                    payment_t.c.provider == provider_name, payment_t.c.provider_ref == ref,
                    payment_t.c.status != PaymentStatus.SUCCEEDED, payment_t.c.status != PaymentStatus.CANCELLED,
                )
                .values(status=PaymentStatus.SUCCEEDED, captured_minor=captured_minor, updated_at=utcnow(), **({"fingerprint": fingerprint} if fingerprint else {}))
                .returning(*payment_t.c)
            )
        ).first()
        if payment is None:
            if await _payment_by_ref(session, provider_name, ref) is None:
                raise NotFound(f"no payment {ref} from {provider_name}")
            return  # already recorded: a duplicate confirm response or webhook
        paid = (
            await session.execute(
                update(checkout_t)
                .where(checkout_t.c.id == payment.checkout_id, checkout_t.c.status == CheckoutStatus.OPEN)
                .values(status=CheckoutStatus.PAID, updated_at=utcnow())
                .returning(checkout_t.c.cart_id)
            )
        ).first()
        if paid is not None:
            order_ids = await orders.transition_checkout_orders(
                session, runtime, payment.checkout_id, OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, actor=None, kind="provider", paid_at=utcnow()
            )
            await session.execute(update(Cart.__table__).where(Cart.__table__.c.id == paid.cart_id).values(status=CartStatus.CONVERTED))
            await session.flush()  # the events, before the stock rows are locked
            # stock rows last and in variant order: their locks are held only until the commit
            if order_ids:
                await inventory.commit_holds(session, select(OrderLine.id).where(OrderLine.order_id.in_(order_ids)))
        else:
            # the checkout expired or was cancelled first: its stock is gone, so the money
            # goes back (by the event handler, after this commit, retried until done)
            record_event(session, runtime, "payment.late_success", {"payment_id": payment.id, "checkout_id": payment.checkout_id, "amount_minor": captured_minor})
        await session.commit()
    recorded = _RECORDED.get()
    if recorded is not None:
        recorded[payment.id] = Payment(**payment._mapping)


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


async def is_authorized(session: AsyncSession, checkout_id: int) -> bool:
    """Whether the checkout's payment is authorized and waits for capture (manual capture)."""
    found = await session.execute(select(Payment.id).where(Payment.checkout_id == checkout_id, Payment.status == PaymentStatus.AUTHORIZED).limit(1))
    return found.first() is not None


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


# ---------------------------------------------------------------- after the shopper acted in the browser

AUTHENTICATION_FAILED = "the card could not be authenticated; try again or use another card"


def declined_message(code: str | None) -> str:
    """What the shopper reads when the bank refused (a fixed text per code, so pages can translate it)."""
    if code == "payment_intent_authentication_failure":
        return AUTHENTICATION_FAILED
    return f"the card was declined ({code or 'card_declined'})"


async def refresh_payment(runtime: Runtime, checkout_token: str, actor: Actor | None) -> tuple[Payment, ProviderIntent | None]:
    """Ask the provider where the checkout's latest payment stands, and record it: after
    the shopper authenticated in the browser (3-D Secure through Stripe.js, when a
    server-side confirm left the payment `requires_action`), or simply to poll.

    Owner only, like get_checkout (404 for anyone else). Returns the payment as recorded
    now and the provider's intent, or None for the intent when the payment had already
    finished (nothing is asked). A payment that still waits for the shopper comes back
    `requires_action` with `intent.action_required` and the intent's client secret (for
    the owner's page only). A refusal by the bank (3-D Secure failed, card declined)
    raises PaymentDeclined; the payment stays open, so another card can be tried."""
    async with runtime.db.read_session() as session:
        checkout = await get_checkout(session, checkout_token, actor)
        payment = (await session.execute(select(Payment).where(Payment.checkout_id == checkout.id).order_by(Payment.id.desc()).limit(1))).scalar_one_or_none()
    if payment is None or payment.provider_ref is None:
        raise Conflict("this checkout has no payment to confirm yet")
    if payment.status not in UNFINISHED:
        if payment.status == PaymentStatus.FAILED:
            raise PaymentDeclined(declined_message(payment.last_error), extra={"code": payment.last_error})
        return payment, None  # succeeded, authorized or cancelled: recorded already
    provider = provider_for(runtime, payment.provider)
    try:
        intent = await provider.retrieve(payment.provider_ref)  # no transaction open
    except ProviderError as exc:
        raise ProviderUnavailable(f"{provider.name}: {exc}") from exc
    await apply_intent(runtime, provider.name, intent)
    declined = intent.status == PaymentStatus.FAILED or (intent.status == PaymentStatus.REQUIRES_ACTION and not intent.action_required and intent.error)
    if declined:
        async with runtime.db.session() as session:
            await session.execute(
                update(Payment).where(Payment.id == payment.id).values(last_error=(intent.error or "card_declined")[:500]).execution_options(synchronize_session=False)
            )
            await session.commit()
        raise PaymentDeclined(declined_message(intent.error), extra={"code": intent.error})
    async with runtime.db.read_session() as session:
        return await session.get(Payment, payment.id), intent  # type: ignore[return-value]

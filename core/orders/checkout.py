"""Checkout: price on the server, hold stock, split into one order per brand, one payment.

`start_checkout` runs in one transaction: if any line cannot be held, nothing is
written and the cart stays open. A second start for the same cart (double click,
two tabs) returns the checkout that already exists.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select, update

from core.auth.permissions import Actor
from core.auth.service import EMAIL_RE, normalise_email
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event
from core.inventory import service as inventory
from core.orders import service as orders
from core.orders.cart import cart_codes
from core.orders.models import Cart, CartStatus, Checkout, CheckoutStatus, Order, OrderLine, OrderStatus
from core.pricing import load_cart, price_lines, validate

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

ADDRESS_FIELDS = {"name": 80, "phone": 30, "line1": 200, "line2": 200, "city": 80, "region": 80, "postal_code": 20, "country": 2}
REQUIRED_ADDRESS = ("name", "phone", "line1", "city", "country")


def clean_address(raw: dict[str, Any]) -> dict[str, str]:
    unknown = set(raw) - set(ADDRESS_FIELDS)
    if unknown:
        raise ValidationFailed(f"unknown address fields: {', '.join(sorted(unknown))}")
    address: dict[str, str] = {}
    problems: dict[str, str] = {}
    for name, limit in ADDRESS_FIELDS.items():
        value = raw.get(name, "")
        if not isinstance(value, str):
            problems[name] = "must be text"
            continue
        value = value.strip()
        if len(value) > limit or not value.isprintable():
            problems[name] = f"up to {limit} printable characters"
        elif name in REQUIRED_ADDRESS and not value:
            problems[name] = "required"
        elif value:
            address[name] = value
    if "country" in address and not re.fullmatch(r"[A-Za-z]{2}", address["country"]):
        problems["country"] = "a two-letter country code such as CN"
    if problems:
        raise ValidationFailed("; ".join(f"{k}: {v}" for k, v in problems.items()), extra={"fields": problems})
    address["country"] = address["country"].upper()
    return address


def tax_region(address: dict[str, str]) -> str:
    region = address.get("region", "")
    code = f"{address['country']}-{region.upper()}" if re.fullmatch(r"[A-Za-z0-9]{1,3}", region) else address["country"]
    return code


async def open_checkout_of(session: AsyncSession, cart_id: int) -> Checkout | None:
    return (
        await session.execute(select(Checkout).where(Checkout.cart_id == cart_id, Checkout.status == CheckoutStatus.OPEN).order_by(Checkout.id.desc()).limit(1))
    ).scalar_one_or_none()


async def start_checkout(
    session: AsyncSession, runtime: Runtime, cart: Cart, actor: Actor | None, *, email: str | None, address: dict[str, Any], hold_minutes: int = inventory.HOLD_MINUTES,
    capture_method: str = "automatic", pools: Mapping[int, int] | None = None, return_path: str | None = None,
) -> Checkout:
    """Price the cart, write its orders (one per brand) and hold their stock.

    Plugins selling from their own stock pools and capturing later (a team purchase)
    pass `pools` (variant id -> pool id: those lines are held from the pool, the rest
    from general stock) and `capture_method="manual"` (the payment is only authorized,
    whatever the client asks; the plugin captures it or cancels the checkout), and
    `return_path`, the local page the shopper goes to once authorized or cancelled."""
    if capture_method not in ("automatic", "manual"):
        raise ValueError("capture_method is automatic or manual")
    if return_path is not None and (not return_path.startswith("/") or return_path.startswith("//") or len(return_path) > 200):
        raise ValueError("return_path is a local path")
    # Claim the cart first: an open cart has no open checkout (a checkout freezes its cart
    # until it closes), so only a failed claim needs to look for one. A second start of
    # the same cart (double click, two tabs) waits for the first here and returns its
    # checkout. Anything raised below leaves the claim to the caller's rollback.
    claimed = await session.execute(
        update(Cart).where(Cart.id == cart.id, Cart.status == CartStatus.OPEN).values(status=CartStatus.CHECKING_OUT, updated_at=utcnow()).execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        existing = await open_checkout_of(session, cart.id)
        if existing is not None:
            return existing
        raise Conflict("this cart cannot be checked out")
    address = clean_address(address)
    email = normalise_email(actor.email if actor else (email or ""))
    if not EMAIL_RE.match(email) or not email.isprintable():
        raise ValidationFailed("enter an email for the receipt", extra={"fields": {"email": "required"}})
    user_id = actor.user_id if actor else None
    lines, brands = await load_cart(session, cart.id, cart.currency, strict=True)  # the lines and their catalog rows, one query
    if not lines:
        raise ValidationFailed("the cart is empty")
    q = await price_lines(
        session, runtime, currency=cart.currency, user_id=user_id, lines=lines, brands=brands, region=tax_region(address), codes=cart_codes(cart), cart_id=cart.id, cart_kind=cart.kind
    )
    await validate(runtime, q, user_id=user_id, cart_id=cart.id, cart_kind=cart.kind, codes=cart_codes(cart))

    checkout = Checkout(
        cart_id=cart.id, user_id=user_id, token=str(uuid.uuid4()), email=email, currency=q.currency, total_minor=q.total_minor,
        address=address, status=CheckoutStatus.OPEN, expires_at=utcnow() + timedelta(minutes=hold_minutes),
        codes=list(cart.codes or []), visitor_id=cart.visitor_id,  # for attribution at payment
        capture_method=capture_method, return_path=return_path,
    )
    session.add(checkout)
    await session.flush()
    # one INSERT per table (orders, lines, transitions, events), Core rather than ORM
    # objects; rows come back matched by their unique keys, not by position
    now = utcnow()
    order_rows = [
        {
            "number": f"ZC{checkout.id:07d}-{n}", "checkout_id": checkout.id, "brand_id": bq.brand_id, "user_id": user_id, "email": email, "currency": q.currency,
            "subtotal_minor": bq.subtotal_minor, "discount_minor": bq.discount_minor, "shipping_minor": bq.shipping_minor, "tax_minor": bq.tax_minor,
            "tax_inclusive": bq.tax_inclusive, "total_minor": bq.total_minor, "refunded_minor": 0, "status": OrderStatus.PENDING_PAYMENT, "address": address,
            "carrier": None, "tracking_number": None, "paid_at": None, "created_at": now, "updated_at": now,
        }
        for n, bq in enumerate(q.brands, start=1)
    ]  # fmt: skip
    order_t, line_t = Order.__table__, OrderLine.__table__
    order_ids = {number: oid for oid, number in (await session.execute(insert(order_t).returning(order_t.c.id, order_t.c.number), order_rows)).all()}
    line_rows = []
    for row, bq in zip(order_rows, q.brands, strict=True):
        row["id"] = order_ids[row["number"]]
        for lq in bq.lines:
            line_rows.append({
                "order_id": row["id"], "variant_id": lq.variant_id, "product_id": lq.product_id, "title": lq.title, "sku": lq.sku, "options": lq.options,
                "quantity": lq.quantity, "unit_price_minor": lq.unit_price_minor, "discount_minor": lq.discount_minor, "tax_minor": lq.tax_minor,
                "total_minor": lq.net_minor + (0 if bq.tax_inclusive else lq.tax_minor), "adjustments": lq.adjustments, "restocked_quantity": 0,
            })  # fmt: skip
    line_ids = {
        (oid, vid): lid
        for lid, oid, vid in (await session.execute(insert(line_t).returning(line_t.c.id, line_t.c.order_id, line_t.c.variant_id), line_rows)).all()
    }
    await session.execute(
        insert(orders.OrderTransition.__table__),
        [{"order_id": row["id"], "from_status": None, "to_status": OrderStatus.PENDING_PAYMENT, "actor_user_id": user_id, "actor_kind": "user", "note": "", "at": now} for row in order_rows],
    )
    for row in order_rows:
        record_event(session, runtime, "order.placed", {"order_id": row["id"], "number": row["number"], "brand_id": row["brand_id"], "checkout_id": checkout.id, "user_id": user_id, "total_minor": row["total_minor"], "currency": row["currency"]})
    await session.flush()  # the events
    # stock last, in variant order: the row locks are held only until the commit that
    # follows, and two checkouts always lock shared variants in the same order
    pools = pools or {}
    general = [(ln["variant_id"], ln["quantity"], line_ids[(ln["order_id"], ln["variant_id"])]) for ln in line_rows if ln["variant_id"] not in pools]
    await inventory.reserve_lines(session, general, minutes=hold_minutes)
    for ln in sorted((ln for ln in line_rows if ln["variant_id"] in pools), key=lambda ln: ln["variant_id"]):
        await inventory.reserve(
            session, variant_id=ln["variant_id"], quantity=ln["quantity"], order_line_id=line_ids[(ln["order_id"], ln["variant_id"])], pool_id=pools[ln["variant_id"]], minutes=hold_minutes
        )
    return checkout


async def get_checkout(session: AsyncSession, token: str, actor: Actor | None) -> Checkout:
    """By its token; a signed-in user's checkout is theirs alone (404 for anyone else)."""
    require_checkout_token(token)
    checkout = (await session.execute(_checkout_by_token(), {"token": token})).scalar_one_or_none()
    return require_visible(checkout, actor)


def require_checkout_token(token: str) -> None:
    try:
        uuid.UUID(token)
    except ValueError as exc:
        raise NotFound("no such checkout") from exc


def require_visible(checkout: Checkout | None, actor: Actor | None) -> Checkout:
    """The checkout if `actor` may see it: a guest's is anyone's who has its token, a
    signed-in user's is theirs alone (404 for anyone else, as if it did not exist)."""
    if checkout is None or (checkout.user_id is not None and (actor is None or actor.user_id != checkout.user_id)):
        raise NotFound("no such checkout")
    return checkout


@functools.cache
def _checkout_by_token():  # built once (bound parameter)
    return select(Checkout).where(Checkout.token == bindparam("token"))


async def orders_of_checkout(session: AsyncSession, checkout_id: int) -> list[Order]:
    return list((await session.execute(select(Order).where(Order.checkout_id == checkout_id).order_by(Order.id))).scalars())


async def close_unpaid(session: AsyncSession, runtime: Runtime, checkout: Checkout, *, to: str, actor: Actor | None = None) -> bool:
    """Expire or cancel an unpaid checkout: release its stock, cancel its orders, reopen
    the cart. False if it was no longer open (paid meanwhile, or closed already)."""
    closed = await session.execute(
        update(Checkout).where(Checkout.id == checkout.id, Checkout.status == CheckoutStatus.OPEN).values(status=to, updated_at=utcnow()).execution_options(synchronize_session=False)
    )
    if closed.rowcount != 1:
        return False
    for order in await orders_of_checkout(session, checkout.id):
        for hold in await orders.holds_of(session, order.id):
            await inventory.release_hold(session, hold.id)
        if order.status == OrderStatus.PENDING_PAYMENT:
            await orders.transition(session, runtime, order, OrderStatus.CANCELLED, actor=actor, kind="user" if actor else "system", note=f"checkout {to}")
    await session.execute(
        update(Cart).where(Cart.id == checkout.cart_id, Cart.status == CartStatus.CHECKING_OUT).values(status=CartStatus.OPEN).execution_options(synchronize_session=False)
    )
    return True


async def expire_checkouts(runtime: Runtime, limit: int = 200) -> int:
    """The `core.expire_checkouts` job: close unpaid checkouts past their hold time.

    Each is closed in its own transaction; its unfinished provider payments (including
    an authorization that was never captured) are cancelled afterwards, outside it. If
    the provider took the money anyway, the success that arrives later finds the
    checkout closed and refunds it (core.payments.service).
    """
    async with runtime.db.read_session() as session:
        due = list(
            (await session.execute(select(Checkout.id).where(Checkout.status == CheckoutStatus.OPEN, Checkout.expires_at < utcnow()).order_by(Checkout.id).limit(limit))).scalars()
        )
    closed = 0
    for checkout_id in due:
        async with runtime.db.session() as session:
            checkout = await session.get(Checkout, checkout_id)
            if checkout is None or not await close_unpaid(session, runtime, checkout, to=CheckoutStatus.EXPIRED):
                continue
            payments = await _unfinished_payments(session, checkout_id)
            await session.commit()
        closed += 1
        await _void_payments(runtime, payments)
    return closed


async def _unfinished_payments(session: AsyncSession, checkout_id: int) -> list[Any]:
    from core.payments.models import Payment, PaymentStatus

    return list(
        (await session.execute(select(Payment).where(Payment.checkout_id == checkout_id, Payment.status.in_((PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.AUTHORIZED))))).scalars()
    )


async def _void_payments(runtime: Runtime, payments: list[Any]) -> None:
    """Cancel at the provider what a closed checkout no longer needs (no transaction open).
    Best effort: a payment that succeeds anyway is refunded when its success arrives."""
    from core.payments.models import Payment, PaymentStatus
    from core.payments.service import provider_for

    for payment in payments:
        if payment.provider_ref is None:
            continue
        try:
            await provider_for(runtime, payment.provider).cancel(payment.provider_ref, idempotency_key=f"{payment.idempotency_key}-cancel")
        except Exception:  # noqa: BLE001 - a late success is refunded on arrival
            continue
        async with runtime.db.session() as session:
            await session.execute(
                update(Payment).where(Payment.id == payment.id, Payment.status.in_((PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION, PaymentStatus.AUTHORIZED))).values(status=PaymentStatus.CANCELLED, updated_at=utcnow()).execution_options(synchronize_session=False)
            )
            await session.commit()


async def close_checkout(runtime: Runtime, checkout_id: int) -> bool:
    """A plugin gives up an unpaid checkout it made (a team that failed): its stock goes
    back, its orders are cancelled and its authorization is voided at the provider. False
    if it was not open (paid, expired or cancelled already); safe to repeat."""
    async with runtime.db.session() as session:
        checkout = await session.get(Checkout, checkout_id)
        closed = checkout is not None and await close_unpaid(session, runtime, checkout, to=CheckoutStatus.CANCELLED)
        payments = await _unfinished_payments(session, checkout_id)  # voided again if an earlier try stopped halfway
        await session.commit()
    await _void_payments(runtime, payments)
    return closed


async def cancel_checkout(runtime: Runtime, token: str, actor: Actor | None) -> Checkout:
    """The shopper abandons payment: stock goes back and the cart opens again."""
    async with runtime.db.session() as session:
        checkout = await get_checkout(session, token, actor)
        if checkout.status == CheckoutStatus.CANCELLED:
            return checkout
        if not await close_unpaid(session, runtime, checkout, to=CheckoutStatus.CANCELLED, actor=actor):
            raise Conflict(f"this checkout is {checkout.status}")
        payments = await _unfinished_payments(session, checkout.id)
        await session.commit()
        await session.refresh(checkout)
    await _void_payments(runtime, payments)  # an authorization no longer blocks the shopper's card
    return checkout

"""Payment webhooks: `POST /api/v1/payments/webhooks/{provider}`.

Signatures, storing each event once, reordered and unknown events, and end to end:
localstripe delivers signed webhooks to the app served by uvicorn over TCP, and the
app learns of the payment only from them. Skips without localstripe
(ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh).
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
import stripe
from sqlalchemy import func, select

from core.catalog.models import Brand, Product, Variant, VariantPrice
from core.inventory import service as inventory
from core.orders import cart as carts
from core.orders.checkout import start_checkout
from core.orders.models import Checkout, CheckoutStatus, Order, OrderStatus, OrderTransition
from core.payments import service as payments
from core.payments.models import Payment, PaymentStatus, ProviderEvent
from core.payments.stripe_provider import _HTTPXClient
from core.testing import make_test_settings

API_BASE = os.environ.get("ZHONGCAO_TEST_STRIPE_API_BASE")
pytestmark = pytest.mark.skipif(not API_BASE, reason="needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh)")

KEY = "sk_test_zhongcao_webhooks"
SECRET = "whsec_zhongcao_test_secret"
HOOK = "/api/v1/payments/webhooks/stripe"
ADDRESS = {"name": "林小姐", "phone": "13800000000", "line1": "1 Nanjing Road", "city": "Shanghai", "country": "CN"}
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"  # localstripe declines it when charging (see test_stripe.py)


@pytest.fixture
def zc_settings(zc_var_dir, zc_database_url):
    return make_test_settings(zc_var_dir, zc_database_url, stripe_secret_key=KEY, stripe_api_base=API_BASE, stripe_webhook_secret=SECRET)


# ---------------------------------------------------------------- helpers


def sdk() -> stripe.StripeClient:
    """Stripe as a front end (Stripe.js) or the test itself talks to it: not through the app."""
    return stripe.StripeClient(KEY, base_addresses={"api": API_BASE}, http_client=_HTTPXClient())


async def payment_method(number: str = GOOD_CARD) -> str:
    pm = await sdk().v1.payment_methods.create_async({"type": "card", "card": {"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}})
    return pm.id


async def seed_variant(runtime: Any, *, price: int = 12_800, stock: int = 20) -> int:
    tag = uuid.uuid4().hex[:8]
    async with runtime.db.session() as session:
        brand = Brand(slug=f"brand-{tag}", name=f"Brand {tag}")
        session.add(brand)
        await session.flush()
        product = Product(brand_id=brand.id, slug=f"cream-{tag}", title="山茶花面霜 Cream", status="active")
        session.add(product)
        await session.flush()
        variant = Variant(product_id=product.id, sku=f"SKU-{tag}", options={})
        session.add(variant)
        await session.flush()
        session.add(VariantPrice(variant_id=variant.id, currency="CNY", amount_minor=price))
        location = await inventory.ensure_location(session, brand.id)
        await inventory.receive_stock(session, variant_id=variant.id, location_id=location.id, quantity=stock)
        await session.commit()
        return variant.id


async def open_checkout(runtime: Any, variant_id: int, quantity: int = 1) -> str:
    async with runtime.db.session() as session:
        cart = await carts.new_cart(session, user_id=None, currency="CNY")
        await carts.set_line(session, cart, variant_id=variant_id, quantity=quantity, add=True)
        checkout = await start_checkout(session, runtime, cart, None, email="shopper@example.com", address=ADDRESS)
        await session.commit()
        return checkout.token


async def stripe_payment(runtime: Any) -> tuple[str, Payment]:
    """A checkout with a Stripe PaymentIntent (real, in localstripe) not yet confirmed."""
    token = await open_checkout(runtime, await seed_variant(runtime))
    payment, intent = await payments.begin_payment(runtime, token, None, provider_name="stripe")
    assert payment.provider_ref == intent.ref
    return token, payment


def event(kind: str, pi: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    return {"id": event_id or f"evt_{uuid.uuid4().hex[:20]}", "object": "event", "type": kind, "created": int(time.time()), "livemode": False, "data": {"object": pi}}


def pi_object(ref: str, amount: int, status: str, **extra: Any) -> dict[str, Any]:
    return {"id": ref, "object": "payment_intent", "amount": amount, "currency": "cny", "status": status, **extra}


def signed(payload: dict[str, Any], *, secret: str = SECRET, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload)
    header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
    return body.encode(), {"Stripe-Signature": header, "content-type": "application/json; charset=utf-8"}


async def deliver(client: Any, payload: dict[str, Any], **kwargs: Any) -> Any:
    body, headers = signed(payload, **kwargs)
    return await client.post(HOOK, content=body, headers=headers)


async def stored_events(runtime: Any) -> list[ProviderEvent]:
    async with runtime.db.read_session() as session:
        return list((await session.execute(select(ProviderEvent).order_by(ProviderEvent.id))).scalars())


async def state(runtime: Any, token: str) -> tuple[str, list[str], str]:
    """(checkout status, order statuses, latest payment status)."""
    async with runtime.db.read_session() as session:
        checkout = (await session.execute(select(Checkout).where(Checkout.token == token))).scalar_one()
        orders = [o.status for o in (await session.execute(select(Order).where(Order.checkout_id == checkout.id).order_by(Order.id))).scalars()]
        payment = (await session.execute(select(Payment).where(Payment.checkout_id == checkout.id).order_by(Payment.id.desc()).limit(1))).scalar_one()
        return checkout.status, orders, payment.status


async def payment_ref(runtime: Any, token: str) -> str:
    async with runtime.db.read_session() as session:
        checkout = (await session.execute(select(Checkout).where(Checkout.token == token))).scalar_one()
        return (await session.execute(select(Payment.provider_ref).where(Payment.checkout_id == checkout.id).order_by(Payment.id.desc()).limit(1))).scalar_one()


async def paid_transitions(runtime: Any, token: str) -> int:
    async with runtime.db.read_session() as session:
        checkout = (await session.execute(select(Checkout).where(Checkout.token == token))).scalar_one()
        return (
            await session.execute(
                select(func.count()).select_from(OrderTransition).join(Order, Order.id == OrderTransition.order_id).where(Order.checkout_id == checkout.id, OrderTransition.to_status == OrderStatus.PAID)
            )
        ).scalar_one()


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


# ---------------------------------------------------------------- signatures


async def test_bad_signatures_are_400_and_store_nothing(zc_client, zc_runtime):
    payload = event("payment_intent.succeeded", pi_object("pi_nothing", 100, "succeeded", amount_received=100))
    body, headers = signed(payload)

    wrong_secret = await deliver(zc_client, payload, secret="whsec_someone_else")
    assert "signature" in assert_problem(wrong_secret, 400)["detail"]
    stale = await deliver(zc_client, payload, timestamp=int(time.time()) - 301)  # outside the SDK's 300 s tolerance
    assert_problem(stale, 400)
    assert_problem(await zc_client.post(HOOK, content=body, headers={"content-type": "application/json"}), 400)  # no header
    assert_problem(await zc_client.post(HOOK, content=body.replace(b'"amount": 100', b'"amount": 1'), headers=headers), 400)  # tampered
    assert_problem(await zc_client.post(HOOK, content=b"\xff\xfe", headers=headers), 400)
    garbage_body, garbage_headers = b"not json at all", {"Stripe-Signature": stripe.WebhookSignature.generate_signature_header("not json at all", SECRET)}
    assert_problem(await zc_client.post(HOOK, content=garbage_body, headers=garbage_headers), 400)  # signed, but not an event
    assert await stored_events(zc_runtime) == []

    good = await zc_client.post(HOOK, content=body, headers=headers)
    assert good.status_code == 200, good.text
    assert good.json() == {"status": "ignored", "event_id": payload["id"]}  # no such payment here
    rows = await stored_events(zc_runtime)
    assert [(r.provider, r.event_id, r.type) for r in rows] == [("stripe", payload["id"], "payment.succeeded")]
    assert rows[0].payload == payload


async def test_unknown_provider_is_404_and_sandbox_takes_no_webhooks(zc_client, zc_runtime):
    body, headers = signed(event("payment_intent.succeeded", pi_object("pi_x", 100, "succeeded")))
    assert_problem(await zc_client.post("/api/v1/payments/webhooks/paypal", content=body, headers=headers), 404)
    assert_problem(await zc_client.post("/api/v1/payments/webhooks/sandbox", content=body, headers=headers), 400)
    assert await stored_events(zc_runtime) == []


async def test_webhook_needs_no_token_and_no_csrf(zc_client):
    """The signature is the authentication: no bearer token, no CSRF cookie, no session."""
    zc_client.cookies.clear()
    response = await deliver(zc_client, event("customer.created", {"id": "cus_1", "object": "customer"}))
    assert response.status_code == 200 and response.json()["status"] == "processed"


async def test_missing_webhook_secret_refuses_everything(zc_var_dir, zc_database_url):
    from core.payments.providers import BadSignature
    from core.payments.stripe_provider import StripeProvider

    provider = StripeProvider(make_test_settings(zc_var_dir, zc_database_url, stripe_secret_key=KEY, stripe_api_base=API_BASE))
    body, headers = signed(event("payment_intent.succeeded", pi_object("pi_x", 100, "succeeded")))
    with pytest.raises(BadSignature):
        provider.parse_webhook(body, headers)


# ---------------------------------------------------------------- storing once, order, unknowns


async def test_same_event_twice_is_processed_once(zc_client, zc_runtime, monkeypatch):
    token, payment = await stripe_payment(zc_runtime)
    calls: list[str] = []
    real_apply = payments.apply_intent

    async def counting(runtime, provider_name, intent):  # noqa: ANN001, ANN202
        calls.append(intent.ref)
        await real_apply(runtime, provider_name, intent)

    monkeypatch.setattr(payments, "apply_intent", counting)
    payload = event("payment_intent.succeeded", pi_object(payment.provider_ref, payment.amount_minor, "succeeded", amount_received=payment.amount_minor))
    first = await deliver(zc_client, payload)
    second = await deliver(zc_client, payload)
    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "processed" and second.json()["status"] == "duplicate"
    assert calls == [payment.provider_ref]
    assert await state(zc_runtime, token) == (CheckoutStatus.PAID, [OrderStatus.PAID], PaymentStatus.SUCCEEDED)
    assert await paid_transitions(zc_runtime, token) == 1
    rows = await stored_events(zc_runtime)
    assert len(rows) == 1 and rows[0].processed_at is not None and rows[0].error is None


async def test_reordered_events_never_unpay(zc_client, zc_runtime):
    token, payment = await stripe_payment(zc_runtime)
    ref, amount = payment.provider_ref, payment.amount_minor
    succeeded = event("payment_intent.succeeded", pi_object(ref, amount, "succeeded", amount_received=amount))
    failed = event("payment_intent.payment_failed", pi_object(ref, amount, "requires_payment_method", last_payment_error={"code": "card_declined", "message": "declined"}))
    cancelled = event("payment_intent.canceled", pi_object(ref, amount, "canceled"))
    authorized = event("payment_intent.amount_capturable_updated", pi_object(ref, amount, "requires_capture"))

    assert (await deliver(zc_client, succeeded)).json()["status"] == "processed"
    for late in (failed, cancelled, authorized):
        assert (await deliver(zc_client, late)).json()["status"] == "processed"
    assert await state(zc_runtime, token) == (CheckoutStatus.PAID, [OrderStatus.PAID], PaymentStatus.SUCCEEDED)
    async with zc_runtime.db.read_session() as session:
        assert (await session.get(Payment, payment.id)).captured_minor == amount
    assert await paid_transitions(zc_runtime, token) == 1
    assert all(r.processed_at is not None and r.error is None for r in await stored_events(zc_runtime))


async def test_failed_then_succeeded_pays(zc_client, zc_runtime):
    """A decline, then the shopper's second card goes through: the success wins."""
    token, payment = await stripe_payment(zc_runtime)
    ref, amount = payment.provider_ref, payment.amount_minor
    await deliver(zc_client, event("payment_intent.payment_failed", pi_object(ref, amount, "requires_payment_method", last_payment_error={"code": "card_declined"})))
    assert await state(zc_runtime, token) == (CheckoutStatus.OPEN, [OrderStatus.PENDING_PAYMENT], PaymentStatus.FAILED)
    async with zc_runtime.db.read_session() as session:
        assert (await session.get(Payment, payment.id)).last_error == "card_declined"
    await deliver(zc_client, event("payment_intent.succeeded", pi_object(ref, amount, "succeeded", amount_received=amount)))
    assert await state(zc_runtime, token) == (CheckoutStatus.PAID, [OrderStatus.PAID], PaymentStatus.SUCCEEDED)


async def test_authorized_then_captured(zc_client, zc_runtime):
    token, payment = await stripe_payment(zc_runtime)
    ref, amount = payment.provider_ref, payment.amount_minor
    await deliver(zc_client, event("payment_intent.amount_capturable_updated", pi_object(ref, amount, "requires_capture", amount_capturable=amount)))
    assert await state(zc_runtime, token) == (CheckoutStatus.OPEN, [OrderStatus.PENDING_PAYMENT], PaymentStatus.AUTHORIZED)
    await deliver(zc_client, event("payment_intent.succeeded", pi_object(ref, amount, "succeeded", amount_received=amount - 100)))
    assert await state(zc_runtime, token) == (CheckoutStatus.PAID, [OrderStatus.PAID], PaymentStatus.SUCCEEDED)
    async with zc_runtime.db.read_session() as session:
        assert (await session.get(Payment, payment.id)).captured_minor == amount - 100


async def test_unknown_payment_intent_is_ignored(zc_client, zc_runtime, caplog):
    payload = event("payment_intent.succeeded", pi_object("pi_not_ours", 5_000, "succeeded", amount_received=5_000))
    with caplog.at_level("WARNING", logger="zhongcao.payments.webhooks"):
        response = await deliver(zc_client, payload)
    assert response.status_code == 200 and response.json() == {"status": "ignored", "event_id": payload["id"]}
    assert any("pi_not_ours" in r.getMessage() for r in caplog.records)
    [row] = await stored_events(zc_runtime)
    assert row.processed_at is not None and "pi_not_ours" in row.error
    assert (await deliver(zc_client, payload)).json()["status"] == "duplicate"
    # failures and cancellations of unknown intents are ignored the same way
    other = await deliver(zc_client, event("payment_intent.payment_failed", pi_object("pi_not_ours", 5_000, "requires_payment_method")))
    assert other.json()["status"] == "ignored"


async def test_events_the_core_does_not_act_on_are_stored(zc_client, zc_runtime):
    token, payment = await stripe_payment(zc_runtime)
    created = event("payment_intent.created", pi_object(payment.provider_ref, payment.amount_minor, "requires_payment_method"))
    refunded = event("charge.refunded", {"id": "ch_1", "object": "charge", "payment_intent": payment.provider_ref, "amount": 100, "amount_refunded": 100})
    for payload in (created, refunded):
        response = await deliver(zc_client, payload)
        assert response.status_code == 200 and response.json()["status"] == "processed"
    assert [r.type for r in await stored_events(zc_runtime)] == ["other", "refund.succeeded"]
    assert await state(zc_runtime, token) == (CheckoutStatus.OPEN, [OrderStatus.PENDING_PAYMENT], PaymentStatus.REQUIRES_ACTION)


async def test_a_failure_while_processing_is_retried(zc_client, zc_runtime, monkeypatch):
    token, payment = await stripe_payment(zc_runtime)
    real_apply = payments.apply_intent
    broken = {"on": True}

    async def flaky(runtime, provider_name, intent):  # noqa: ANN001, ANN202
        if broken["on"]:
            raise RuntimeError("database went away")
        await real_apply(runtime, provider_name, intent)

    monkeypatch.setattr(payments, "apply_intent", flaky)
    payload = event("payment_intent.succeeded", pi_object(payment.provider_ref, payment.amount_minor, "succeeded", amount_received=payment.amount_minor))
    assert_problem(await deliver(zc_client, payload), 503)  # the provider will deliver it again
    [row] = await stored_events(zc_runtime)
    assert row.processed_at is None and "database went away" in row.error
    broken["on"] = False
    retried = await deliver(zc_client, payload)
    assert retried.status_code == 200 and retried.json()["status"] == "processed"
    [row] = await stored_events(zc_runtime)
    assert row.processed_at is not None and row.error is None
    assert await state(zc_runtime, token) == (CheckoutStatus.PAID, [OrderStatus.PAID], PaymentStatus.SUCCEEDED)


# ---------------------------------------------------------------- end to end, over TCP


class Served:
    """The app under uvicorn on a free 127.0.0.1 port, in a thread with its own loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False, loop="asyncio")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, name="zc-uvicorn", daemon=True)

    async def __aenter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            await asyncio.sleep(0.05)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        self.server.should_exit = True
        await asyncio.to_thread(self.thread.join, 15)
        self.sock.close()


async def register_webhook(url: str | None) -> str:
    """Point a localstripe webhook at `url` (None: mute it; localstripe cannot delete one)."""
    hook_id = f"zc-{uuid.uuid4().hex[:10]}"
    await _config_webhook(hook_id, url)
    return hook_id


async def _config_webhook(hook_id: str, url: str | None) -> None:
    events = ["payment_intent.succeeded", "payment_intent.payment_failed", "payment_intent.canceled", "payment_intent.amount_capturable_updated", "charge.refunded"]
    data = {"url": url or "http://127.0.0.1:9/muted", "secret": SECRET, "events[]": events if url else ["zhongcao.muted"]}
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{API_BASE}/_config/webhooks/{hook_id}", data=data)
        assert response.status_code == 200, response.text


async def poll(fn, *, timeout: float = 15.0) -> Any:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while True:
        value = await fn()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


@pytest.fixture
async def served(zc_runtime):
    from core.app import create_app

    async with Served(create_app(zc_runtime.settings)) as server:
        hook_id = await register_webhook(server.url + HOOK)
        try:
            yield server
        finally:
            await _config_webhook(hook_id, None)


async def test_end_to_end_webhooks_mark_orders_paid(served, zc_runtime):
    variant_id = await seed_variant(zc_runtime, price=12_800)
    async with httpx.AsyncClient(base_url=served.url, timeout=30) as api:

        async def checkout(quantity: int) -> dict[str, Any]:
            cart = await api.post("/api/v1/carts", json={"currency": "CNY"})
            assert cart.status_code == 201, cart.text
            token = cart.json()["token"]
            line = await api.post(f"/api/v1/carts/{token}/lines", json={"variant_id": variant_id, "quantity": quantity})
            assert line.status_code == 200, line.text
            started = await api.post(f"/api/v1/carts/{token}/checkout", json={"email": "shopper@example.com", "address": ADDRESS})
            assert started.status_code == 201, started.text
            assert started.json()["total_minor"] == 12_800 * quantity
            return started.json()

        async def read(token: str) -> dict[str, Any]:
            response = await api.get(f"/api/v1/checkouts/{token}")
            assert response.status_code == 200, response.text
            return response.json()

        # 1. Stripe.js: the app hands out the client secret, the browser confirms with
        #    Stripe, and only the webhook tells the app that the money arrived.
        first = await checkout(2)
        intent = await api.post(f"/api/v1/checkouts/{first['token']}/payment-intent", json={"provider": "stripe"})
        assert intent.status_code == 200, intent.text
        secret = intent.json()["client_secret"]
        assert intent.json()["test_mode"] is True and secret
        ref = secret.split("_secret_")[0]
        browser = sdk()
        await browser.v1.payment_intents.update_async(ref, {"payment_method": await payment_method()})
        confirmed = await browser.v1.payment_intents.confirm_async(ref)
        assert confirmed.status == "succeeded"
        assert (await read(first["token"]))["status"] == "open"  # nobody told the app yet

        async def paid(token: str) -> dict[str, Any] | None:
            body = await read(token)
            return body if body["status"] == "paid" else None

        done = await poll(lambda: paid(first["token"]))
        assert done, "the payment_intent.succeeded webhook never marked the checkout paid"
        assert [o["status"] for o in done["orders"]] == ["paid"]
        assert done["payment"]["status"] == "succeeded" and done["payment"]["captured_minor"] == 25_600
        [row] = [r for r in await stored_events(zc_runtime) if r.payload["data"]["object"]["id"] == ref]
        assert row.type == "payment.succeeded" and row.processed_at is not None and row.error is None

        # 2. Server-side confirm with a PaymentMethod id (the storefront): paid at once;
        #    the webhook that follows is stored and changes nothing.
        second = await checkout(1)
        pay = await api.post(f"/api/v1/checkouts/{second['token']}/pay", json={"provider": "stripe", "payment_method": await payment_method()})
        assert pay.status_code == 200, pay.text
        assert pay.json()["status"] == "paid" and [o["status"] for o in pay.json()["orders"]] == ["paid"]

        second_ref = await payment_ref(zc_runtime, second["token"])

        async def second_event() -> list[ProviderEvent]:
            return [r for r in await stored_events(zc_runtime) if r.payload["data"]["object"]["id"] == second_ref and r.processed_at is not None]

        [row] = await poll(second_event)  # the second payment's webhook arrived, once
        assert row.type == "payment.succeeded" and row.error is None
        assert await paid_transitions(zc_runtime, second["token"]) == 1

        # 3. A declined card: 402 now, then the payment_failed webhook closes that attempt,
        #    and the shopper's next card pays through a new PaymentIntent.
        third = await checkout(1)
        declined = await api.post(f"/api/v1/checkouts/{third['token']}/pay", json={"provider": "stripe", "payment_method": await payment_method(DECLINED_CARD)})
        assert declined.status_code == 402, declined.text
        assert declined.headers["content-type"].startswith("application/problem+json")

        async def failed() -> bool:
            return (await read(third["token"]))["payment"]["status"] == "failed"

        assert await poll(failed), "the payment_intent.payment_failed webhook never arrived"
        retry = await api.post(f"/api/v1/checkouts/{third['token']}/pay", json={"provider": "stripe", "payment_method": await payment_method()})
        assert retry.status_code == 200, retry.text
        assert retry.json()["status"] == "paid" and retry.json()["payment"]["status"] == "succeeded"

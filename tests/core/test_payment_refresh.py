"""After the shopper acted in the browser (3-D Secure): `payments.refresh_payment` asks the
provider where the checkout's payment stands and records it; the API's
`POST /checkouts/{token}/pay` hands out the client secret while the bank waits for the
shopper, and `POST /checkouts/{token}/confirm` records how it ended.

In the sandbox, so these always run. The sandbox never asks for 3-D Secure, so the
provider's answers it cannot give (authentication pending, authentication failed, paid
behind our back) are stubbed on its `confirm` and `retrieve`. The same journeys against
localstripe, through the real Stripe provider: tests/storefront/test_stripe_checkout.py.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from sqlalchemy import select

from core.auth.service import load_actor
from core.errors import Conflict, NotFound
from core.orders.models import Checkout, CheckoutStatus, Order, OrderStatus
from core.payments import service as payments
from core.payments.models import Payment, PaymentStatus
from core.payments.providers import ProviderIntent
from core.testing import ADDRESS, api_token

PROBLEM = "application/problem+json"


async def guest_checkout(client: Any, variant_id: int, headers: dict[str, str] | None = None) -> dict[str, Any]:
    cart = (await client.post("/api/v1/carts", json={}, headers=headers)).json()
    r = await client.post(f"/api/v1/carts/{cart['token']}/lines", json={"variant_id": variant_id, "quantity": 2}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = {"address": ADDRESS}
    if not headers:
        body["email"] = "guest@example.com"
    r = await client.post(f"/api/v1/carts/{cart['token']}/checkout", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


def stub(intent: ProviderIntent, **changes: Any) -> Any:
    async def retrieve(ref: str) -> ProviderIntent:
        assert ref == intent.ref
        return msgspec.structs.replace(intent, **changes)

    return retrieve


async def payment_row(runtime: Any, token: str) -> Payment:
    async with runtime.db.read_session() as s:
        checkout = (await s.execute(select(Checkout).where(Checkout.token == token))).scalar_one()
        return (await s.execute(select(Payment).where(Payment.checkout_id == checkout.id))).scalar_one()


async def test_refresh_records_what_the_provider_says(zc_client, zc_runtime, zc_make_product, monkeypatch):
    variant = await zc_make_product("camellia", price=5000, stock=5, shipping=0)
    token = (await guest_checkout(zc_client, variant.id))["token"]
    sandbox = zc_runtime.payment_providers["sandbox"]

    with pytest.raises(Conflict):  # nothing was paid yet
        await payments.refresh_payment(zc_runtime, token, None)

    payment, created = await payments.begin_payment(zc_runtime, token, None)
    again, intent = await payments.refresh_payment(zc_runtime, token, None)
    assert again.id == payment.id and again.status == PaymentStatus.REQUIRES_ACTION
    assert intent is not None and intent.ref == created.ref and intent.action_required is False

    # 3-D Secure pending: the client secret comes back, nothing changes
    monkeypatch.setattr(sandbox, "retrieve", stub(created, action_required=True))
    pending, intent = await payments.refresh_payment(zc_runtime, token, None)
    assert pending.status == PaymentStatus.REQUIRES_ACTION and intent.action_required and intent.client_secret == created.client_secret

    # the bank refused the authentication: declined, recorded, the payment stays open
    monkeypatch.setattr(sandbox, "retrieve", stub(created, error="payment_intent_authentication_failure"))
    with pytest.raises(payments.PaymentDeclined) as caught:
        await payments.refresh_payment(zc_runtime, token, None)
    assert caught.value.status_code == 402 and caught.value.detail == payments.AUTHENTICATION_FAILED
    assert caught.value.extra["code"] == "payment_intent_authentication_failure"
    row = await payment_row(zc_runtime, token)
    assert row.status == PaymentStatus.REQUIRES_ACTION and row.last_error == "payment_intent_authentication_failure"

    # another card then pays the same payment (same row, same intent)
    monkeypatch.undo()
    paid = await payments.pay(zc_runtime, token, None, payment_method="4242 4242 4242 4242")
    assert paid.id == payment.id and paid.status == PaymentStatus.SUCCEEDED
    done, intent = await payments.refresh_payment(zc_runtime, token, None)
    assert done.status == PaymentStatus.SUCCEEDED and intent is None  # finished: the provider is not asked


async def test_refresh_pays_the_orders_when_the_provider_says_succeeded(zc_client, zc_runtime, zc_make_product, monkeypatch):
    """The webhook has not come (or never will): the shopper's return from 3-D Secure is enough."""
    variant = await zc_make_product("camellia", price=5000, stock=5, shipping=0)
    token = (await guest_checkout(zc_client, variant.id))["token"]
    _payment, created = await payments.begin_payment(zc_runtime, token, None)
    monkeypatch.setattr(zc_runtime.payment_providers["sandbox"], "retrieve", stub(created, status=PaymentStatus.SUCCEEDED, captured_minor=created.amount_minor))

    payment, intent = await payments.refresh_payment(zc_runtime, token, None)
    assert payment.status == PaymentStatus.SUCCEEDED and payment.captured_minor == 10_000 and intent.status == PaymentStatus.SUCCEEDED
    async with zc_runtime.db.read_session() as s:
        checkout = (await s.execute(select(Checkout).where(Checkout.token == token))).scalar_one()
        assert checkout.status == CheckoutStatus.PAID
        assert {o.status for o in (await s.execute(select(Order).where(Order.checkout_id == checkout.id))).scalars()} == {OrderStatus.PAID}
    # twice changes nothing
    again, _ = await payments.refresh_payment(zc_runtime, token, None)
    assert again.status == PaymentStatus.SUCCEEDED and again.captured_minor == 10_000


async def test_refresh_is_for_the_owner_only(zc_client, zc_runtime, zc_make_user, zc_make_product):
    variant = await zc_make_product("camellia", price=5000, stock=5)
    owner, other = await zc_make_user(), await zc_make_user()
    token = (await guest_checkout(zc_client, variant.id, await api_token(zc_client, owner.email)))["token"]
    async with zc_runtime.db.read_session() as s:
        owner_actor = await load_actor(s, owner.id, owner.auth_epoch)
        other_actor = await load_actor(s, other.id, other.auth_epoch)
    await payments.begin_payment(zc_runtime, token, owner_actor)
    for stranger in (None, other_actor):
        with pytest.raises(NotFound):
            await payments.refresh_payment(zc_runtime, token, stranger)
    payment, _intent = await payments.refresh_payment(zc_runtime, token, owner_actor)
    assert payment.status == PaymentStatus.REQUIRES_ACTION


async def test_api_pay_hands_out_the_client_secret_then_confirm_records_it(zc_client, zc_runtime, zc_make_user, zc_make_product, monkeypatch):
    variant = await zc_make_product("camellia", price=5000, stock=5, shipping=0)
    owner, other = await zc_make_user(), await zc_make_user()
    auth, other_auth = await api_token(zc_client, owner.email), await api_token(zc_client, other.email)
    token = (await guest_checkout(zc_client, variant.id, auth))["token"]
    sandbox = zc_runtime.payment_providers["sandbox"]

    nothing = await zc_client.post(f"/api/v1/checkouts/{token}/confirm", headers=auth)
    assert nothing.status_code == 409 and nothing.headers["content-type"].startswith(PROBLEM)

    # the card needs 3-D Secure: confirm leaves the intent waiting for the shopper
    async def needs_3ds(ref: str, *, payment_method: str, idempotency_key: str) -> ProviderIntent:
        intent = await real_retrieve(ref)
        monkeypatch.setattr(sandbox, "retrieve", stub(intent, action_required=True))
        return msgspec.structs.replace(intent, action_required=True)

    real_retrieve = sandbox.retrieve
    monkeypatch.setattr(sandbox, "confirm", needs_3ds)
    r = await zc_client.post(f"/api/v1/checkouts/{token}/pay", json={"payment_method": "4000 0027 6000 3184"}, headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "open" and body["payment"]["status"] == "requires_action"
    secret = body["payment"]["client_secret"]
    assert secret and secret.startswith("sbx_pi_")

    # the secret and the payment are the owner's alone
    for headers in (other_auth, None):
        for path in ("confirm", ""):
            r = await zc_client.post(f"/api/v1/checkouts/{token}/confirm", headers=headers) if path else await zc_client.get(f"/api/v1/checkouts/{token}", headers=headers)
            assert r.status_code == 404 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert secret not in (await zc_client.get(f"/api/v1/checkouts/{token}", headers=auth)).text, "only pay and confirm hand out the secret"

    # not authenticated yet: still waiting, the secret again
    still = await zc_client.post(f"/api/v1/checkouts/{token}/confirm", headers=auth)
    assert still.status_code == 200 and still.json()["payment"]["client_secret"] == secret and still.json()["status"] == "open"

    # authentication failed at the bank: 402 problem+json, the checkout stays open
    row = await payment_row(zc_runtime, token)
    ref = row.provider_ref
    pending = await real_retrieve(ref)
    monkeypatch.setattr(sandbox, "retrieve", stub(pending, error="payment_intent_authentication_failure"))
    failed = await zc_client.post(f"/api/v1/checkouts/{token}/confirm", headers=auth)
    assert failed.status_code == 402 and failed.headers["content-type"].startswith(PROBLEM)
    assert failed.json()["detail"] == payments.AUTHENTICATION_FAILED and failed.json()["code"] == "payment_intent_authentication_failure"

    # authenticated (the second time): confirm records the success, no secret any more
    monkeypatch.setattr(sandbox, "retrieve", stub(pending, status=PaymentStatus.SUCCEEDED, captured_minor=pending.amount_minor))
    ok = await zc_client.post(f"/api/v1/checkouts/{token}/confirm", headers=auth)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "paid" and ok.json()["payment"]["status"] == "succeeded" and ok.json()["payment"]["client_secret"] is None
    assert {o["status"] for o in ok.json()["orders"]} == {"paid"}
    assert (await zc_client.post(f"/api/v1/checkouts/{token}/confirm", headers=auth)).json()["status"] == "paid"


async def test_api_pay_with_the_sandbox_has_no_client_secret(zc_client, zc_make_product):
    variant = await zc_make_product("camellia", price=5000, stock=5)
    token = (await guest_checkout(zc_client, variant.id))["token"]
    r = await zc_client.post(f"/api/v1/checkouts/{token}/pay", json={"payment_method": "4242 4242 4242 4242"})
    assert r.status_code == 200 and r.json()["status"] == "paid" and r.json()["payment"]["client_secret"] is None

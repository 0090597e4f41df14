"""A shopper buys from two brands in one checkout (sandbox), brands fulfil and refund."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from core.inventory import service as inventory
from core.payments.models import Payment
from core.testing import ADDRESS, api_token


async def stock_of(runtime, variant_id):
    async with runtime.db.read_session() as s:
        return await inventory.snapshot(s, variant_id)


async def test_two_brands_one_payment_then_fulfil_and_refund(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5, shipping=1000)
    cream = await zc_make_product("camellia", price=12900, stock=3, shipping=0)
    shopper = await zc_make_user()
    tea_owner = await zc_make_user(brand=("tea-house", "owner"))
    auth = await api_token(zc_client, shopper.email)

    cart = (await zc_client.post("/api/v1/carts", json={}, headers=auth)).json()
    token = cart["token"]
    r = await zc_client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": tea.id, "quantity": 2}, headers=auth)
    assert r.status_code == 200, r.text
    r = await zc_client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": cream.id, "quantity": 1}, headers=auth)
    body = r.json()
    assert [g["total_minor"] for g in body["groups"]] == [2 * 3800 + 1000, 12900] or sorted(g["total_minor"] for g in body["groups"]) == sorted([8600, 12900])
    assert body["total_minor"] == 8600 + 12900

    # a client-sent price is refused outright
    r = await zc_client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": tea.id, "quantity": 1, "unit_price_minor": 1}, headers=auth)
    assert r.status_code == 400 and r.headers["content-type"].startswith("application/problem+json")

    r = await zc_client.post(f"/api/v1/carts/{token}/checkout", json={"address": ADDRESS}, headers=auth)
    assert r.status_code == 201, r.text
    checkout = r.json()
    assert len(checkout["orders"]) == 2
    assert sum(o["total_minor"] for o in checkout["orders"]) == checkout["total_minor"] == 21500
    assert (await stock_of(zc_runtime, tea.id)).reserved == 2

    # a second start (double click) returns the same checkout
    again = await zc_client.post(f"/api/v1/carts/{token}/checkout", json={"address": ADDRESS}, headers=auth)
    assert again.json()["token"] == checkout["token"]

    declined = await zc_client.post(f"/api/v1/checkouts/{checkout['token']}/pay", json={"payment_method": "4000 0000 0000 0002"}, headers=auth)
    assert declined.status_code == 402, declined.text
    paid = await zc_client.post(f"/api/v1/checkouts/{checkout['token']}/pay", json={"payment_method": "4242 4242 4242 4242"}, headers=auth)
    assert paid.status_code == 200, paid.text
    paid = paid.json()
    assert paid["status"] == "paid" and {o["status"] for o in paid["orders"]} == {"paid"}
    assert paid["payment"]["test_mode"] is True and paid["payment"]["captured_minor"] == 21500
    # paying again changes nothing and charges nothing
    twice = await zc_client.post(f"/api/v1/checkouts/{checkout['token']}/pay", json={"payment_method": "4242424242424242"}, headers=auth)
    assert twice.status_code == 409
    async with zc_runtime.db.read_session() as s:
        assert len((await s.execute(select(Payment))).scalars().all()) == 1
    snap = await stock_of(zc_runtime, tea.id)
    assert (snap.available, snap.reserved, snap.committed, snap.on_hand) == (3, 0, 2, 5)

    tea_order = next(o for o in paid["orders"] if o["total_minor"] == 8600)
    owner_auth = await api_token(zc_client, tea_owner.email)
    # the shopper cannot fulfil; another brand's staff cannot even see it
    assert (await zc_client.post(f"/api/v1/orders/{tea_order['id']}/fulfil", json={"carrier": "SF", "tracking_number": "SF1"}, headers=auth)).status_code == 403
    r = await zc_client.post(f"/api/v1/orders/{tea_order['id']}/fulfil", json={"carrier": "SF Express", "tracking_number": "SF100200300"}, headers=owner_auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "fulfilled"
    snap = await stock_of(zc_runtime, tea.id)
    assert (snap.available, snap.committed, snap.on_hand) == (3, 0, 3)

    # shopper asks for a partial refund; the brand approves it
    req = await zc_client.post(f"/api/v1/orders/{tea_order['id']}/refund-requests", json={"amount_minor": 3800, "reason": "one tin arrived dented"}, headers=auth)
    assert req.status_code == 201, req.text
    ok = await zc_client.post(f"/api/v1/refunds/{req.json()['id']}/approve", json={}, headers=owner_auth)
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "succeeded"
    order = (await zc_client.get(f"/api/v1/orders/{tea_order['id']}", headers=auth)).json()
    assert order["status"] == "partially_refunded" and order["refunded_minor"] == 3800
    assert [t["to_status"] for t in order["transitions"]] == ["pending_payment", "paid", "fulfilled", "partially_refunded"]
    sandbox = zc_runtime.payment_providers["sandbox"]
    assert sandbox.ledger() == (21500, 3800)


async def test_checkout_never_oversells_under_concurrency(zc_runtime, zc_client, zc_make_product):
    variant = await zc_make_product("flash", price=100, stock=3)
    tokens = []
    for _ in range(8):
        cart = (await zc_client.post("/api/v1/carts", json={})).json()
        await zc_client.post(f"/api/v1/carts/{cart['token']}/lines", json={"variant_id": variant.id, "quantity": 1})
        tokens.append(cart["token"])

    async def buy(token):
        return await zc_client.post(f"/api/v1/carts/{token}/checkout", json={"address": ADDRESS, "email": "guest@example.com"})

    results = await asyncio.gather(*(buy(t) for t in tokens))
    assert sorted(r.status_code for r in results) == [201] * 3 + [409] * 5
    snap = await stock_of(zc_runtime, variant.id)
    assert (snap.available, snap.reserved) == (0, 3)


async def test_expired_checkout_releases_stock_and_late_payment_is_refunded(zc_runtime, zc_client, zc_make_product):
    from datetime import timedelta

    from sqlalchemy import update

    from core.db import utcnow
    from core.orders.checkout import expire_checkouts
    from core.orders.models import Checkout

    variant = await zc_make_product("late", price=500, stock=1)
    cart = (await zc_client.post("/api/v1/carts", json={})).json()
    await zc_client.post(f"/api/v1/carts/{cart['token']}/lines", json={"variant_id": variant.id, "quantity": 1})
    checkout = (await zc_client.post(f"/api/v1/carts/{cart['token']}/checkout", json={"address": ADDRESS, "email": "g@example.com"})).json()
    intent = await zc_client.post(f"/api/v1/checkouts/{checkout['token']}/payment-intent", json={})
    assert intent.status_code == 200 and intent.json()["client_secret"]
    async with zc_runtime.db.session() as s:
        await s.execute(update(Checkout).values(expires_at=utcnow() - timedelta(minutes=1)))
        await s.commit()
    assert await expire_checkouts(zc_runtime) == 1
    snap = await stock_of(zc_runtime, variant.id)
    assert (snap.available, snap.reserved) == (1, 0)
    state = (await zc_client.get(f"/api/v1/checkouts/{checkout['token']}")).json()
    assert state["status"] == "expired" and state["orders"][0]["status"] == "cancelled"
    # the cart is open again
    assert (await zc_client.get(f"/api/v1/carts/{cart['token']}")).json()["status"] == "open"

"""Bad input to the cart, checkout, payment, order and refund API. Each request gets the
right problem+json status, and nothing is half-written: stock counters and row counts
are what they were before."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import func, select, update

from core.catalog.models import Product, Variant
from core.inventory import service as inventory
from core.inventory.models import StockHold
from core.orders.models import Cart, CartLine, Checkout, Order, OrderLine, OrderTransition, Refund
from core.payments.models import Payment
from core.testing import ADDRESS, api_token

TABLES = (Cart, CartLine, Checkout, Order, OrderLine, OrderTransition, StockHold, Payment, Refund)
GOOD_CARD = {"payment_method": "4242 4242 4242 4242"}
DECLINED_CARD = {"payment_method": "4000 0000 0000 0002"}


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"], body
    return body


async def state(runtime: Any, variant_ids: list[int]) -> tuple[dict[str, int], dict[int, Any], dict[int, str]]:
    """Row counts, stock of the variants, and every cart's status."""
    async with runtime.db.read_session() as s:
        counts = {m.__tablename__: (await s.execute(select(func.count()).select_from(m))).scalar_one() for m in TABLES}
        stock = {vid: await inventory.snapshot(s, vid) for vid in variant_ids}
        carts = dict((await s.execute(select(Cart.token, Cart.status))).all())
    return counts, stock, carts


@asynccontextmanager
async def unchanged(runtime: Any, *variants: Any):
    """Assert that the block writes nothing: same rows, same stock, same cart states."""
    ids = [v.id for v in variants]
    before = await state(runtime, ids)
    yield
    assert await state(runtime, ids) == before


@pytest.fixture
async def shop(zc_client, zc_runtime, zc_make_user, zc_make_product) -> dict[str, Any]:
    """A brand with an owner, a product, a signed-in shopper with an open cart."""
    variant = await zc_make_product("bad-input", price=5000, stock=5, shipping=0)
    owner = await zc_make_user(brand=("bad-input", "owner"))
    shopper = await zc_make_user()
    auth = await api_token(zc_client, shopper.email)
    cart = (await zc_client.post("/api/v1/carts", json={}, headers=auth)).json()
    return {"variant": variant, "owner": owner, "shopper": shopper, "auth": auth, "cart": cart["token"], "owner_auth": await api_token(zc_client, owner.email)}


async def add(client: Any, token: str, auth: dict[str, str] | None, body: dict[str, Any]) -> Any:
    return await client.post(f"/api/v1/carts/{token}/lines", json=body, headers=auth or {})


async def checkout(client: Any, token: str, auth: dict[str, str] | None = None, address: dict[str, Any] | None = None, **extra: Any) -> Any:
    return await client.post(f"/api/v1/carts/{token}/checkout", json={"address": address or ADDRESS, **extra}, headers=auth or {})


async def paid_checkout(client: Any, shop: dict[str, Any], quantity: int = 2) -> dict[str, Any]:
    r = await add(client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": quantity})
    assert r.status_code == 200, r.text
    r = await checkout(client, shop["cart"], shop["auth"])
    assert r.status_code == 201, r.text
    r = await client.post(f"/api/v1/checkouts/{r.json()['token']}/pay", json=GOOD_CARD, headers=shop["auth"])
    assert r.status_code == 200, r.text
    return r.json()


# ---------------------------------------------------------------- cart lines


BAD_QUANTITIES = [(0, 422), (-1, 400), (10**9, 400), (1000, 400), (True, 400), (False, 400), ("two", 400), ("", 400), (1.5, 400), (None, 400), ([1], 400)]
BAD_VARIANT_IDS = [(987654321, 404), (0, 400), (-5, 400), (2**63, 400), ("one", 400), (None, 400), (True, 400)]


async def test_add_refuses_bad_quantities(zc_client, zc_runtime, shop):
    async with unchanged(zc_runtime, shop["variant"]):
        for quantity, status in BAD_QUANTITIES:
            problem(await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": quantity}), status)
        problem(await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": 1, "extra": 1}), 400)
        problem(await zc_client.post(f"/api/v1/carts/{shop['cart']}/lines", content=b"{not json", headers={**shop["auth"], "content-type": "application/json"}), 400)


async def test_set_and_add_refuse_past_the_line_limit(zc_client, zc_runtime, shop):
    vid = shop["variant"].id
    assert (await add(zc_client, shop["cart"], shop["auth"], {"variant_id": vid, "quantity": 999})).status_code == 200
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await add(zc_client, shop["cart"], shop["auth"], {"variant_id": vid, "quantity": 1}), 422)
        for bad in (-1, 1000, True, "three"):
            problem(await zc_client.put(f"/api/v1/carts/{shop['cart']}/lines/{vid}", json={"quantity": bad}, headers=shop["auth"]), 400)
    cart = (await zc_client.get(f"/api/v1/carts/{shop['cart']}", headers=shop["auth"])).json()
    assert cart["groups"][0]["lines"][0]["quantity"] == 999


async def test_add_refuses_unknown_variants(zc_client, zc_runtime, shop):
    async with unchanged(zc_runtime, shop["variant"]):
        for variant_id, status in BAD_VARIANT_IDS:
            problem(await add(zc_client, shop["cart"], shop["auth"], {"variant_id": variant_id, "quantity": 1}), status)
        problem(await zc_client.put(f"/api/v1/carts/{shop['cart']}/lines/987654321", json={"quantity": 1}, headers=shop["auth"]), 404)


@pytest.mark.parametrize("product_status", ["draft", "archived"])
async def test_add_refuses_unsellable_products(zc_client, zc_runtime, zc_make_product, shop, product_status):
    hidden = await zc_make_product("bad-input", price=100, stock=5, status=product_status)
    async with unchanged(zc_runtime, hidden):
        body = problem(await add(zc_client, shop["cart"], shop["auth"], {"variant_id": hidden.id, "quantity": 1}), 422)
    assert body["variant_id"] == hidden.id

    # a variant switched off, and a product archived after it was put in the cart
    inactive = await zc_make_product("bad-input", price=100, stock=5)
    async with zc_runtime.db.session() as s:
        await s.execute(update(Variant).where(Variant.id == inactive.id).values(is_active=False))
        await s.commit()
    async with unchanged(zc_runtime, inactive):
        problem(await add(zc_client, shop["cart"], shop["auth"], {"variant_id": inactive.id, "quantity": 1}), 422)

    later = await zc_make_product("bad-input", price=100, stock=5)
    assert (await add(zc_client, shop["cart"], shop["auth"], {"variant_id": later.id, "quantity": 1})).status_code == 200
    async with zc_runtime.db.session() as s:
        product_id = (await s.execute(select(Variant.product_id).where(Variant.id == later.id))).scalar_one()
        await s.execute(update(Product).where(Product.id == product_id).values(status=product_status))
        await s.commit()
    cart = (await zc_client.get(f"/api/v1/carts/{shop['cart']}", headers=shop["auth"])).json()
    assert cart["unavailable_variant_ids"] == [later.id] and cart["total_minor"] == 0
    async with unchanged(zc_runtime, later):
        problem(await checkout(zc_client, shop["cart"], shop["auth"]), 422)


async def test_currency_mismatch(zc_client, zc_runtime, zc_make_product):
    cny_only = await zc_make_product("cny-brand", price=100, stock=5, currency="CNY")
    usd_cart = (await zc_client.post("/api/v1/carts", json={"currency": "USD"})).json()
    assert usd_cart["currency"] == "USD"
    async with unchanged(zc_runtime, cny_only):
        body = problem(await add(zc_client, usd_cart["token"], None, {"variant_id": cny_only.id, "quantity": 1}), 422)
        assert "USD" in body["detail"]
        problem(await zc_client.post("/api/v1/carts", json={"currency": "XYZ"}), 422)
        problem(await zc_client.post("/api/v1/carts", json={"currency": "US"}), 400)


async def test_client_sent_prices_are_refused(zc_client, zc_runtime, shop):
    vid = shop["variant"].id
    async with unchanged(zc_runtime, shop["variant"]):
        for field in ("unit_price_minor", "price", "amount_minor", "discount_minor"):
            problem(await add(zc_client, shop["cart"], shop["auth"], {"variant_id": vid, "quantity": 1, field: 1}), 400)
        problem(await zc_client.put(f"/api/v1/carts/{shop['cart']}/lines/{vid}", json={"quantity": 1, "unit_price_minor": 1}, headers=shop["auth"]), 400)
    assert (await add(zc_client, shop["cart"], shop["auth"], {"variant_id": vid, "quantity": 1})).status_code == 200
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await checkout(zc_client, shop["cart"], shop["auth"], total_minor=1), 400)


# ---------------------------------------------------------------- someone else's things: 404, never 403


async def test_another_users_cart_checkout_and_order_are_not_found(zc_client, zc_runtime, zc_make_user, shop):
    paid = await paid_checkout(zc_client, shop)
    order_id = paid["orders"][0]["id"]
    open_cart = (await zc_client.post("/api/v1/carts", json={}, headers=shop["auth"])).json()["token"]
    stranger = await zc_make_user()
    other_staff = await zc_make_user(brand=("other-brand", "owner"))
    for auth in (await api_token(zc_client, stranger.email), await api_token(zc_client, other_staff.email)):
        async with unchanged(zc_runtime, shop["variant"]):
            problem(await zc_client.get(f"/api/v1/carts/{open_cart}", headers=auth), 404)
            problem(await add(zc_client, open_cart, auth, {"variant_id": shop["variant"].id, "quantity": 1}), 404)
            problem(await zc_client.put(f"/api/v1/carts/{open_cart}/lines/{shop['variant'].id}", json={"quantity": 0}, headers=auth), 404)
            problem(await checkout(zc_client, open_cart, auth), 404)
            problem(await zc_client.get(f"/api/v1/checkouts/{paid['token']}", headers=auth), 404)
            problem(await zc_client.post(f"/api/v1/checkouts/{paid['token']}/pay", json=GOOD_CARD, headers=auth), 404)
            problem(await zc_client.post(f"/api/v1/checkouts/{paid['token']}/cancel", headers=auth), 404)
            problem(await zc_client.get(f"/api/v1/orders/{order_id}", headers=auth), 404)
            problem(await zc_client.post(f"/api/v1/orders/{order_id}/refund-requests", json={"reason": "mine now"}, headers=auth), 404)
            problem(await zc_client.post(f"/api/v1/orders/{order_id}/refunds", json={"amount_minor": 1}, headers=auth), 404)
            problem(await zc_client.post(f"/api/v1/orders/{order_id}/fulfil", json={"carrier": "SF", "tracking_number": "1"}, headers=auth), 404)
            problem(await zc_client.post(f"/api/v1/orders/{order_id}/cancel", json={}, headers=auth), 404)
            problem(await zc_client.get(f"/api/v1/orders/{order_id + 1000}", headers=auth), 404)  # same answer as "does not exist"
    # without any login: carts and checkouts of a user are just as invisible
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await zc_client.get(f"/api/v1/carts/{open_cart}"), 404)
        problem(await zc_client.get(f"/api/v1/checkouts/{paid['token']}"), 404)
        problem(await zc_client.get("/api/v1/carts/not-a-uuid"), 404)
        problem(await zc_client.get("/api/v1/checkouts/not-a-uuid"), 404)
        problem(await zc_client.get(f"/api/v1/orders/{order_id}"), 401)


# ---------------------------------------------------------------- checkout


async def test_checkout_of_an_empty_cart(zc_client, zc_runtime, shop):
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await checkout(zc_client, shop["cart"], shop["auth"]), 422)
    assert (await zc_client.get(f"/api/v1/carts/{shop['cart']}", headers=shop["auth"])).json()["status"] == "open"


async def test_checkout_with_a_bad_address(zc_client, zc_runtime, shop):
    assert (await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": 1})).status_code == 200
    async with unchanged(zc_runtime, shop["variant"]):
        body = problem(await checkout(zc_client, shop["cart"], shop["auth"], address=dict(ADDRESS, name="  ", phone="", country="C1", line2="x\u0000y")), 422)
        assert set(body["fields"]) == {"name", "phone", "country", "line2"}
        body = problem(await checkout(zc_client, shop["cart"], shop["auth"], address=dict(ADDRESS, line1="x" * 201)), 422)
        assert set(body["fields"]) == {"line1"}
        # missing or unknown fields are refused before any service code runs
        problem(await checkout(zc_client, shop["cart"], shop["auth"], address={k: v for k, v in ADDRESS.items() if k != "city"}), 400)
        problem(await checkout(zc_client, shop["cart"], shop["auth"], address=dict(ADDRESS, floor="3")), 400)
        problem(await checkout(zc_client, shop["cart"], shop["auth"], address=dict(ADDRESS, country="CHN")), 400)
    # a guest must give an email
    guest = (await zc_client.post("/api/v1/carts", json={})).json()["token"]
    await add(zc_client, guest, None, {"variant_id": shop["variant"].id, "quantity": 1})
    async with unchanged(zc_runtime, shop["variant"]):
        body = problem(await checkout(zc_client, guest, None, email="not an email"), 422)
        assert body["fields"] == {"email": "required"}
        problem(await checkout(zc_client, guest, None), 422)


async def test_checkout_started_twice_at_once_holds_once(zc_client, zc_runtime, shop):
    assert (await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": 3})).status_code == 200
    first, second = await asyncio.gather(checkout(zc_client, shop["cart"], shop["auth"]), checkout(zc_client, shop["cart"], shop["auth"]))
    assert first.status_code == second.status_code == 201, (first.text, second.text)
    assert first.json()["token"] == second.json()["token"]
    counts, stock, _ = await state(zc_runtime, [shop["variant"].id])
    assert (counts["checkout"], counts["sales_order"], counts["stock_hold"]) == (1, 1, 1)
    assert (stock[shop["variant"].id].available, stock[shop["variant"].id].reserved) == (2, 3)
    # while the checkout is open the cart is frozen
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": 1}), 409)


async def test_checkout_of_more_than_is_in_stock(zc_client, zc_runtime, shop):
    assert (await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": 6})).status_code == 200
    async with unchanged(zc_runtime, shop["variant"]):
        body = problem(await checkout(zc_client, shop["cart"], shop["auth"]), 409)
        assert body["variant_id"] == shop["variant"].id
    assert (await zc_client.get(f"/api/v1/carts/{shop['cart']}", headers=shop["auth"])).json()["status"] == "open"


# ---------------------------------------------------------------- payment


async def test_declined_then_good_card_then_pay_twice(zc_client, zc_runtime, shop):
    await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": 2})
    token = (await checkout(zc_client, shop["cart"], shop["auth"])).json()["token"]
    sandbox = zc_runtime.payment_providers["sandbox"]
    body = problem(await zc_client.post(f"/api/v1/checkouts/{token}/pay", json=DECLINED_CARD, headers=shop["auth"]), 402)
    assert body["code"] == "card_declined"
    problem(await zc_client.post(f"/api/v1/checkouts/{token}/pay", json={"payment_method": "1234"}, headers=shop["auth"]), 402)
    for bad in ({"payment_method": ""}, {}, {"payment_method": "4242424242424242", "amount_minor": 1}):
        problem(await zc_client.post(f"/api/v1/checkouts/{token}/pay", json=bad, headers=shop["auth"]), 400)
    problem(await zc_client.post(f"/api/v1/checkouts/{token}/pay", json=dict(GOOD_CARD, capture_method="later"), headers=shop["auth"]), 422)
    assert sandbox.ledger() == (0, 0)
    state_ = (await zc_client.get(f"/api/v1/checkouts/{token}", headers=shop["auth"])).json()
    assert state_["status"] == "open" and state_["orders"][0]["status"] == "pending_payment"
    assert state_["payment"]["captured_minor"] == 0 and state_["payment"]["last_error"]

    ok = await zc_client.post(f"/api/v1/checkouts/{token}/pay", json=GOOD_CARD, headers=shop["auth"])
    assert ok.status_code == 200 and ok.json()["status"] == "paid", ok.text
    assert sandbox.ledger() == (10000, 0)
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await zc_client.post(f"/api/v1/checkouts/{token}/pay", json=GOOD_CARD, headers=shop["auth"]), 409)
        problem(await zc_client.post(f"/api/v1/checkouts/{token}/pay", json=GOOD_CARD, headers=shop["auth"]), 409)
        problem(await zc_client.post(f"/api/v1/checkouts/{token}/cancel", headers=shop["auth"]), 409)
    async with zc_runtime.db.read_session() as s:
        payments = (await s.execute(select(Payment))).scalars().all()
    assert len(payments) == 1 and payments[0].captured_minor == 10000
    assert sandbox.ledger() == (10000, 0)


async def test_pay_twice_at_once_charges_once(zc_client, zc_runtime, shop):
    await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": 1})
    token = (await checkout(zc_client, shop["cart"], shop["auth"])).json()["token"]
    results = await asyncio.gather(*(zc_client.post(f"/api/v1/checkouts/{token}/pay", json=GOOD_CARD, headers=shop["auth"]) for _ in range(3)))
    assert 200 in [r.status_code for r in results] and set(r.status_code for r in results) <= {200, 409}, [r.text for r in results]
    assert zc_runtime.payment_providers["sandbox"].ledger() == (5000, 0)
    async with zc_runtime.db.read_session() as s:
        assert len((await s.execute(select(Payment))).scalars().all()) == 1
    snap = (await state(zc_runtime, [shop["variant"].id]))[1][shop["variant"].id]
    assert (snap.available, snap.reserved, snap.committed) == (4, 0, 1)


# ---------------------------------------------------------------- orders and refunds


async def test_fulfil_a_pending_order(zc_client, zc_runtime, shop):
    await add(zc_client, shop["cart"], shop["auth"], {"variant_id": shop["variant"].id, "quantity": 1})
    pending = (await checkout(zc_client, shop["cart"], shop["auth"])).json()["orders"][0]
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await zc_client.post(f"/api/v1/orders/{pending['id']}/fulfil", json={"carrier": "SF", "tracking_number": "SF1"}, headers=shop["owner_auth"]), 409)
        problem(await zc_client.post(f"/api/v1/orders/{pending['id']}/complete", headers=shop["auth"]), 409)
        problem(await zc_client.post(f"/api/v1/orders/{pending['id']}/refunds", json={"amount_minor": 1}, headers=shop["owner_auth"]), 409)
        problem(await zc_client.post(f"/api/v1/orders/{pending['id']}/cancel", json={}, headers=shop["owner_auth"]), 409)
        problem(await zc_client.post(f"/api/v1/orders/{pending['id']}/refund-requests", json={"reason": "x"}, headers=shop["auth"]), 409)
        # the shopper cannot fulfil their own order
        problem(await zc_client.post(f"/api/v1/orders/{pending['id']}/fulfil", json={"carrier": "SF", "tracking_number": "SF1"}, headers=shop["auth"]), 403)
        problem(await zc_client.post(f"/api/v1/orders/{pending['id']}/fulfil", json={"carrier": "SF", "tracking_number": "  "}, headers=shop["owner_auth"]), 422)


async def test_refund_more_than_paid(zc_client, zc_runtime, shop):
    paid = await paid_checkout(zc_client, shop)
    order_id = paid["orders"][0]["id"]
    sandbox = zc_runtime.payment_providers["sandbox"]
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await zc_client.post(f"/api/v1/orders/{order_id}/refunds", json={"amount_minor": 10001}, headers=shop["owner_auth"]), 422)
        problem(await zc_client.post(f"/api/v1/orders/{order_id}/refund-requests", json={"amount_minor": 10001, "reason": "all and more"}, headers=shop["auth"]), 422)
        for bad in (0, -1, True, "a hundred", 10**16):
            problem(await zc_client.post(f"/api/v1/orders/{order_id}/refunds", json={"amount_minor": bad}, headers=shop["owner_auth"]), 400)
        problem(await zc_client.post(f"/api/v1/orders/{order_id}/refunds", json={"amount_minor": 100, "restock_line_ids": [987654]}, headers=shop["owner_auth"]), 422)
    assert sandbox.ledger() == (10000, 0)

    # part of it, then more than what is left
    r = await zc_client.post(f"/api/v1/orders/{order_id}/refunds", json={"amount_minor": 6000}, headers=shop["owner_auth"])
    assert r.status_code == 201 and r.json()["status"] == "succeeded", r.text
    async with unchanged(zc_runtime, shop["variant"]):
        problem(await zc_client.post(f"/api/v1/orders/{order_id}/refunds", json={"amount_minor": 4001}, headers=shop["owner_auth"]), 422)
    # a pending request reserves its amount too
    req = await zc_client.post(f"/api/v1/orders/{order_id}/refund-requests", json={"amount_minor": 3000, "reason": "the rest, almost"}, headers=shop["auth"])
    assert req.status_code == 201, req.text
    ok = await zc_client.post(f"/api/v1/refunds/{req.json()['id']}/approve", json={"amount_minor": 3001}, headers=shop["owner_auth"])
    problem(ok, 422)
    assert sandbox.ledger() == (10000, 6000)
    order = (await zc_client.get(f"/api/v1/orders/{order_id}", headers=shop["auth"])).json()
    assert (order["status"], order["refunded_minor"]) == ("partially_refunded", 6000)


async def test_approve_a_refund_twice(zc_client, zc_runtime, shop):
    paid = await paid_checkout(zc_client, shop)
    order = paid["orders"][0]
    line_id = order["lines"][0]["id"]
    req = await zc_client.post(f"/api/v1/orders/{order['id']}/refund-requests", json={"reason": "changed my mind"}, headers=shop["auth"])
    assert req.status_code == 201 and req.json()["amount_minor"] == 10000, req.text
    refund_id = req.json()["id"]
    first = await zc_client.post(f"/api/v1/refunds/{refund_id}/approve", json={"restock_line_ids": [line_id]}, headers=shop["owner_auth"])
    assert first.status_code == 200 and first.json()["status"] == "succeeded", first.text
    after_first = await state(zc_runtime, [shop["variant"].id])
    for _ in range(2):
        again = await zc_client.post(f"/api/v1/refunds/{refund_id}/approve", json={"restock_line_ids": [line_id]}, headers=shop["owner_auth"])
        assert again.status_code == 200 and again.json() == first.json(), again.text
    assert await state(zc_runtime, [shop["variant"].id]) == after_first
    assert zc_runtime.payment_providers["sandbox"].ledger() == (10000, 10000)
    order = (await zc_client.get(f"/api/v1/orders/{order['id']}", headers=shop["auth"])).json()
    assert (order["status"], order["refunded_minor"], order["lines"][0]["restocked_quantity"]) == ("refunded", 10000, 2)
    snap = after_first[1][shop["variant"].id]
    assert (snap.available, snap.reserved, snap.committed, snap.on_hand) == (5, 0, 0, 5)
    # rejecting it now is refused; a stranger cannot approve anything
    problem(await zc_client.post(f"/api/v1/refunds/{refund_id}/reject", json={}, headers=shop["owner_auth"]), 409)
    problem(await zc_client.post(f"/api/v1/refunds/{refund_id}/approve", json={}, headers=shop["auth"]), 404)
    # nothing left to ask for
    problem(await zc_client.post(f"/api/v1/orders/{order['id']}/refund-requests", json={"reason": "again"}, headers=shop["auth"]), 409)


async def test_approve_a_refund_twice_at_once(zc_client, zc_runtime, shop):
    paid = await paid_checkout(zc_client, shop)
    order_id = paid["orders"][0]["id"]
    req = await zc_client.post(f"/api/v1/orders/{order_id}/refund-requests", json={"amount_minor": 2500, "reason": "one was broken"}, headers=shop["auth"])
    refund_id = req.json()["id"]
    results = await asyncio.gather(*(zc_client.post(f"/api/v1/refunds/{refund_id}/approve", json={}, headers=shop["owner_auth"]) for _ in range(3)))
    assert {r.status_code for r in results} <= {200, 409} and 200 in {r.status_code for r in results}, [r.text for r in results]
    assert zc_runtime.payment_providers["sandbox"].ledger() == (10000, 2500)
    order = (await zc_client.get(f"/api/v1/orders/{order_id}", headers=shop["auth"])).json()
    assert (order["status"], order["refunded_minor"]) == ("partially_refunded", 2500)
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.sum(Payment.refunded_minor)))).scalar_one() == 2500


async def test_numbers_sent_as_strings_are_refused(zc_client, zc_make_product):
    """JSON types are taken as they are: "2" is text, not a quantity."""
    variant = await zc_make_product("strict-types", stock=5)
    token = (await zc_client.post("/api/v1/carts", json={})).json()["token"]
    for body in ({"variant_id": variant.id, "quantity": "2"}, {"variant_id": str(variant.id), "quantity": 1}, {"variant_id": variant.id, "quantity": 2.0}):
        r = await zc_client.post(f"/api/v1/carts/{token}/lines", json=body)
        assert r.status_code == 400, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await zc_client.get(f"/api/v1/carts/{token}")).json()["groups"] == []

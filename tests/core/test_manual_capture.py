"""Authorize now, capture later (the group-buy flow), on the sandbox provider."""

from __future__ import annotations

import pytest

from core.errors import Conflict
from core.inventory import service as inventory
from core.orders import cart as carts
from core.orders import checkout as checkouts
from core.payments import service as payments
from core.payments.models import PaymentStatus
from core.testing import ADDRESS


async def _checkout(runtime, variant_id: int) -> str:
    async with runtime.db.session() as s:
        cart = await carts.new_cart(s, user_id=None)
        await carts.set_line(s, cart, variant_id=variant_id, quantity=1, add=True)
        checkout = await checkouts.start_checkout(s, runtime, cart, None, email="team@example.com", address=ADDRESS)
        await s.commit()
        return checkout.token


async def test_authorize_then_capture_pays_once(zc_runtime, zc_make_product):
    variant = await zc_make_product("team-buy", price=2500, stock=2)
    token = await _checkout(zc_runtime, variant.id)
    payment = await payments.pay(zc_runtime, token, None, payment_method="4242424242424242", capture_method="manual")
    assert payment.status == PaymentStatus.AUTHORIZED and payment.captured_minor == 0
    async with zc_runtime.db.read_session() as s:
        checkout = await checkouts.get_checkout(s, token, None)
        assert checkout.status == "open"
        assert {o.status for o in await checkouts.orders_of_checkout(s, checkout.id)} == {"pending_payment"}
        assert (await inventory.snapshot(s, variant.id)).reserved == 1

    captured = await payments.capture_payment(zc_runtime, payment.id)
    assert captured.status == PaymentStatus.SUCCEEDED and captured.captured_minor == 2500
    again = await payments.capture_payment(zc_runtime, payment.id)  # a retried job
    assert again.captured_minor == 2500
    assert zc_runtime.payment_providers["sandbox"].ledger() == (2500, 0)
    async with zc_runtime.db.read_session() as s:
        checkout = await checkouts.get_checkout(s, token, None)
        assert checkout.status == "paid"
        snap = await inventory.snapshot(s, variant.id)
        assert (snap.reserved, snap.committed) == (0, 1)


async def test_only_authorized_payments_are_captured(zc_runtime, zc_make_product):
    variant = await zc_make_product("team-buy-2", price=900, stock=1)
    token = await _checkout(zc_runtime, variant.id)
    payment, _intent = await payments.begin_payment(zc_runtime, token, None, capture_method="manual")
    with pytest.raises(Conflict):
        await payments.capture_payment(zc_runtime, payment.id)


async def _outbox_types(runtime) -> list[str]:
    from sqlalchemy import select

    from core.events import OutboxEvent

    async with runtime.db.read_session() as s:
        return list((await s.execute(select(OutboxEvent.type).order_by(OutboxEvent.id))).scalars())


async def test_an_authorization_keeps_checkout_and_stock_held_until_it_lapses(zc_runtime, zc_make_product):
    from datetime import timedelta

    from sqlalchemy import select, update

    from core.db import utcnow
    from core.inventory.models import StockHold
    from core.orders.models import Checkout

    variant = await zc_make_product("team-buy-3", price=1800, stock=1)
    token = await _checkout(zc_runtime, variant.id)
    payment = await payments.pay(zc_runtime, token, None, payment_method="4242424242424242", capture_method="manual")
    assert payment.status == PaymentStatus.AUTHORIZED
    await payments.record_authorized(zc_runtime, "sandbox", payment.provider_ref)  # the webhook, late: changes nothing
    assert (await _outbox_types(zc_runtime)).count("payment.authorized") == 1

    hours = zc_runtime.settings.authorization_hold_hours
    async with zc_runtime.db.read_session() as s:
        checkout = await checkouts.get_checkout(s, token, None)
        holds = list((await s.execute(select(StockHold).where(StockHold.variant_id == variant.id))).scalars())
    soon = utcnow() + timedelta(hours=hours - 1)
    assert checkout.expires_at > soon and all(h.expires_at > soon for h in holds)
    assert await checkouts.expire_checkouts(zc_runtime) == 0  # 15 minutes mean nothing now

    async with zc_runtime.db.session() as s:  # ...until the authorization itself runs out
        await s.execute(update(Checkout).where(Checkout.id == checkout.id).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    assert await checkouts.expire_checkouts(zc_runtime) == 1
    async with zc_runtime.db.read_session() as s:
        snap = await inventory.snapshot(s, variant.id)
        assert (snap.available, snap.reserved) == (1, 0)
        assert (await s.get(type(payment), payment.id)).status == PaymentStatus.CANCELLED
    assert zc_runtime.payment_providers["sandbox"].ledger() == (0, 0)
    with pytest.raises(Conflict):
        await payments.capture_payment(zc_runtime, payment.id)


async def test_cancelling_the_checkout_voids_the_authorization(zc_runtime, zc_make_product):
    variant = await zc_make_product("team-buy-4", price=700, stock=1)
    token = await _checkout(zc_runtime, variant.id)
    payment = await payments.pay(zc_runtime, token, None, payment_method="4242424242424242", capture_method="manual")
    await checkouts.cancel_checkout(zc_runtime, token, None)
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(type(payment), payment.id)).status == PaymentStatus.CANCELLED
        assert (await inventory.snapshot(s, variant.id)).available == 1
    intent = await zc_runtime.payment_providers["sandbox"].retrieve(payment.provider_ref)
    assert intent.status == PaymentStatus.CANCELLED


async def test_an_authorized_checkout_cannot_be_paid_a_second_time(zc_runtime, zc_make_product):
    variant = await zc_make_product("team-buy-5", price=1200, stock=1)
    token = await _checkout(zc_runtime, variant.id)
    await payments.pay(zc_runtime, token, None, payment_method="4242424242424242", capture_method="manual")
    with pytest.raises(Conflict):  # a double submit must not authorize (or charge) twice
        await payments.pay(zc_runtime, token, None, payment_method="4242424242424242")
    assert zc_runtime.payment_providers["sandbox"].ledger() == (0, 0)


# ---------------------------------------------------------------- a plugin's own purchase (the group-buy plugin's way in)


async def _plugin_checkout(runtime, variant_id: int, *, user_id: int | None = None, pools: dict[int, int] | None = None, return_path: str | None = "/teams/1") -> tuple[int, str]:
    async with runtime.db.session() as s:
        cart = await carts.new_cart(s, user_id=user_id, kind="stand_in")  # a kind no loaded plugin owns (group_buy validates its own carts)
        await carts.set_line(s, cart, variant_id=variant_id, quantity=1, add=True)
        checkout = await checkouts.start_checkout(
            s, runtime, cart, None, email="team@example.com", address=ADDRESS, capture_method="manual", pools=pools, return_path=return_path
        )
        await s.commit()
        return cart.id, checkout.token


async def test_a_manual_capture_checkout_is_only_ever_authorized(zc_runtime, zc_make_product):
    variant = await zc_make_product("team-buy-6", price=1500, stock=2)
    _cart_id, token = await _plugin_checkout(zc_runtime, variant.id)
    payment = await payments.pay(zc_runtime, token, None, payment_method="4242424242424242")  # the client asks for nothing special
    assert payment.status == PaymentStatus.AUTHORIZED and payment.capture_method == "manual"
    assert zc_runtime.payment_providers["sandbox"].ledger() == (0, 0)
    async with zc_runtime.db.read_session() as s:
        checkout = await checkouts.get_checkout(s, token, None)
        assert (checkout.return_path, await payments.is_authorized(s, checkout.id)) == ("/teams/1", True)


async def test_a_plugin_cart_is_never_the_shoppers_cart(zc_runtime, zc_make_product, zc_make_user):
    variant = await zc_make_product("team-buy-7", price=800, stock=3)
    user = await zc_make_user()
    async with zc_runtime.db.session() as s:
        mine = await carts.new_cart(s, user_id=user.id)
        team = await carts.new_cart(s, user_id=user.id, kind="stand_in")  # newer than the shopper's own; a kind no loaded plugin owns
        await s.commit()
    from core.auth.service import load_actor

    async with zc_runtime.db.read_session() as s:
        actor = await load_actor(s, user.id)
        assert (await carts.find_cart(s, None, actor)).id == mine.id
        assert await carts.find_cart(s, team.token, actor) is None  # not by its token either


async def test_lines_sold_from_a_pool_are_held_there_and_the_checkout_closes_once(zc_runtime, zc_make_product):
    from core.catalog.models import Product

    variant = await zc_make_product("team-buy-8", price=600, stock=5)
    async with zc_runtime.db.session() as s:
        location = await inventory.ensure_location(s, (await s.get(Product, variant.product_id)).brand_id)
        pool = await inventory.create_pool(s, name="team-buy-8-teams", variant_id=variant.id, location_id=location.id, quantity=2)
        await s.commit()
    _cart_id, token = await _plugin_checkout(zc_runtime, variant.id, pools={variant.id: pool.id})
    payment = await payments.pay(zc_runtime, token, None, payment_method="4242424242424242")
    async with zc_runtime.db.read_session() as s:
        held = await s.get(type(pool), pool.id, populate_existing=True)
        assert (held.available, held.reserved) == (1, 1)
        assert (await inventory.snapshot(s, variant.id)).available == 3  # general stock untouched
        checkout_id = (await checkouts.get_checkout(s, token, None)).id
    assert await checkouts.close_checkout(zc_runtime, checkout_id) is True
    assert await checkouts.close_checkout(zc_runtime, checkout_id) is False  # a retried job
    async with zc_runtime.db.read_session() as s:
        back = await s.get(type(pool), pool.id, populate_existing=True)
        assert (back.available, back.reserved) == (2, 0)
        assert (await s.get(type(payment), payment.id)).status == PaymentStatus.CANCELLED
    assert (await zc_runtime.payment_providers["sandbox"].retrieve(payment.provider_ref)).status == PaymentStatus.CANCELLED


async def test_a_sandbox_authorization_from_before_a_restart_is_voided(zc_runtime, zc_make_product):
    """The sandbox keeps its intents in memory: after a restart an authorization it no
    longer knows holds nothing, and cancelling it (a failed team) must still record it void."""
    from core.payments.providers import SandboxProvider

    variant = await zc_make_product("team-buy-9", price=900, stock=1)
    _cart_id, token = await _plugin_checkout(zc_runtime, variant.id)
    payment = await payments.pay(zc_runtime, token, None, payment_method="4242424242424242")
    zc_runtime.payment_providers["sandbox"] = SandboxProvider()  # the process restarted
    async with zc_runtime.db.read_session() as s:
        checkout_id = (await checkouts.get_checkout(s, token, None)).id
    assert await checkouts.close_checkout(zc_runtime, checkout_id) is True
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(type(payment), payment.id)).status == PaymentStatus.CANCELLED
    with pytest.raises(Exception, match="no such sandbox payment"):  # nothing to capture, though
        await zc_runtime.payment_providers["sandbox"].capture("sbx_pi_unknown", amount_minor=1, idempotency_key="k")

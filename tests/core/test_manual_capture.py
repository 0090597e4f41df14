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

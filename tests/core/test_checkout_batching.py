"""The set-based paths that make a checkout cheap keep their guarantees.

- start_checkout / reserve_lines: one INSERT per table, the holds written before the
  stock UPDATEs, a location that ran short is skipped for the next one;
- record_success: orders, transitions, events and holds move together, once;
- cart lines: one upsert, capped;
- the outbox: a batch of events dispatched by one job, a failing handler retried
  without re-running the others, receipts per (event, handler).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from sqlalchemy import bindparam, func, literal, select

from core.errors import ValidationFailed
from core.events import (
    DISPATCH_BATCH_JOB,
    EventReceipt,
    OutboxEvent,
    dispatch_events,
    record_event,
)
from core.inventory import service as inventory
from core.inventory.models import HoldState, StockHold, StockLevel, StockLocation
from core.orders import cart as carts
from core.orders import checkout as checkouts
from core.orders.models import (
    Cart,
    CartLine,
    CartStatus,
    Checkout,
    CheckoutStatus,
    Order,
    OrderLine,
    OrderStatus,
    OrderTransition,
)
from core.payments import service as payments
from core.testing import ADDRESS
from tests.core import event_probe_plugin


async def _cart_with(runtime, variants: list[tuple[int, int]]) -> int:
    async with runtime.db.session() as s:
        cart = await carts.new_cart(s, user_id=None)
        for variant_id, quantity in variants:
            await carts.set_line(s, cart, variant_id=variant_id, quantity=quantity, add=True)
        await s.commit()
        return cart.id


async def _checkout(runtime, cart_id: int) -> Checkout:
    async with runtime.db.session() as s:
        checkout = await checkouts.start_checkout(s, runtime, await s.get(Cart, cart_id), None, email="shopper@example.com", address=ADDRESS)
        await s.commit()
        return checkout


async def test_checkout_writes_every_row_once_and_pay_moves_them_together(zc_runtime, zc_make_product):
    a1 = await zc_make_product("brand-a", price=1000, stock=5)
    a2 = await zc_make_product("brand-a", price=2500, stock=5)
    b1 = await zc_make_product("brand-b", price=700, stock=5)
    cart_id = await _cart_with(zc_runtime, [(b1.id, 1), (a1.id, 2), (a2.id, 1)])
    checkout = await _checkout(zc_runtime, cart_id)

    async with zc_runtime.db.read_session() as s:
        orders = list((await s.execute(select(Order).where(Order.checkout_id == checkout.id).order_by(Order.id))).scalars())
        assert [o.number for o in orders] == [f"ZC{checkout.id:07d}-1", f"ZC{checkout.id:07d}-2"]
        assert sum(o.total_minor for o in orders) == checkout.total_minor == 2 * 1000 + 2500 + 700
        lines = list((await s.execute(select(OrderLine).join(Order).where(Order.checkout_id == checkout.id))).scalars())
        holds = {h.order_line_id: h for h in (await s.execute(select(StockHold))).scalars()}
        assert {ln.id for ln in lines} == set(holds)  # one hold per line, on the right line
        for ln in lines:
            assert (holds[ln.id].variant_id, holds[ln.id].quantity, holds[ln.id].state) == (ln.variant_id, ln.quantity, HoldState.ACTIVE)
        assert (await s.execute(select(func.count()).select_from(OrderTransition))).scalar_one() == 2
        assert (await s.execute(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "order.placed"))).scalar_one() == 2

    paid = await payments.pay(zc_runtime, checkout.token, None, payment_method="4242424242424242")
    assert paid.status == "succeeded" and paid.captured_minor == checkout.total_minor  # the row as committed
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Checkout, checkout.id, populate_existing=True)).status == CheckoutStatus.PAID
        assert {o.status for o in (await s.execute(select(Order).where(Order.checkout_id == checkout.id))).scalars()} == {OrderStatus.PAID}
        assert {h.state for h in (await s.execute(select(StockHold))).scalars()} == {HoldState.COMMITTED}
        assert (await s.execute(select(func.count()).select_from(OrderTransition))).scalar_one() == 4
        assert (await s.execute(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "order.paid"))).scalar_one() == 2
        assert (await s.get(Cart, cart_id, populate_existing=True)).status == CartStatus.CONVERTED
        for variant, units in ((a1, 2), (a2, 1), (b1, 1)):
            snap = await inventory.snapshot(s, variant.id)
            assert (snap.available, snap.reserved, snap.committed) == (5 - units, 0, units)

    # a duplicate success (webhook after the confirm) moves nothing
    async with zc_runtime.db.read_session() as s:
        ref = (await s.execute(select(payments.Payment.provider_ref).where(payments.Payment.id == paid.id))).scalar_one()
    await payments.record_success(zc_runtime, "sandbox", ref, checkout.total_minor)
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(OrderTransition))).scalar_one() == 4
        assert (await inventory.snapshot(s, a1.id)).committed == 2


async def test_reserve_lines_takes_the_next_location_when_the_first_ran_short(zc_runtime, zc_make_product):
    variant = await zc_make_product("brand-a", price=1000, stock=1)
    async with zc_runtime.db.session() as s:
        brand_id = (await s.execute(select(StockLocation.brand_id))).scalar_one()
        second = StockLocation(brand_id=brand_id, name="second", position=5)
        s.add(second)
        await s.flush()
        await inventory.receive_stock(s, variant_id=variant.id, location_id=second.id, quantity=3)
        await s.commit()
    cart_id = await _cart_with(zc_runtime, [(variant.id, 2)])  # the first location has 1: only the second can hold 2
    await _checkout(zc_runtime, cart_id)
    async with zc_runtime.db.read_session() as s:
        hold = (await s.execute(select(StockHold))).scalar_one()
        assert hold.location_id == second.id
        level = await s.get(StockLevel, (variant.id, second.id))
        assert (level.available, level.reserved) == (1, 2)

    # nothing left anywhere for 2 more: refused, nothing written, the cart stays open
    cart_id = await _cart_with(zc_runtime, [(variant.id, 2)])
    with pytest.raises(inventory.OutOfStock):
        await _checkout(zc_runtime, cart_id)
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(StockHold))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(Checkout))).scalar_one() == 1
        assert (await s.get(Cart, cart_id)).status == CartStatus.OPEN


async def test_the_proposed_location_running_short_moves_the_hold(zc_runtime, zc_make_product, monkeypatch):
    """The plain SELECT proposes a location; if its units went meanwhile, the UPDATE
    decides and the hold follows the location that had them."""
    variant = await zc_make_product("brand-a", price=1000, stock=2)
    async with zc_runtime.db.session() as s:
        first_id, brand_id = (await s.execute(select(StockLocation.id, StockLocation.brand_id))).one()
        second = StockLocation(brand_id=brand_id, name="second", position=5)
        s.add(second)
        await s.flush()
        await inventory.receive_stock(s, variant_id=variant.id, location_id=second.id, quantity=2)
        await inventory.receive_stock(s, variant_id=variant.id, location_id=first_id, quantity=-2)  # the first is empty now
        line_id = await _order_line(s, brand_id, variant.id)
        await s.commit()

    def stale_proposal():
        return (
            select(StockLevel.variant_id, StockLevel.location_id, literal(2))
            .join(StockLocation, StockLocation.id == StockLevel.location_id)
            .where(StockLevel.variant_id.in_(bindparam("variant_ids", expanding=True)))
            .order_by(StockLevel.variant_id, StockLocation.position, StockLocation.id)
        )

    monkeypatch.setattr(inventory, "_locations_query", stale_proposal)
    async with zc_runtime.db.session() as s:
        await inventory.reserve_lines(s, [(variant.id, 2, line_id)])
        await s.commit()
    async with zc_runtime.db.read_session() as s:
        hold = (await s.execute(select(StockHold).where(StockHold.order_line_id == line_id))).scalar_one()
        assert hold.location_id == second.id
        assert (await s.get(StockLevel, (variant.id, second.id))).available == 0
        assert (await s.get(StockLevel, (variant.id, second.id))).reserved == 2
        assert (await s.get(StockLevel, (variant.id, first_id))).reserved == 0


async def _order_line(s, brand_id: int, variant_id: int) -> int:
    """A bare order line to hang a hold on."""
    from core.catalog.models import Variant

    cart = await carts.new_cart(s, user_id=None)
    checkout = Checkout(cart_id=cart.id, token=f"{cart.token}", email="x@example.com", currency="CNY", total_minor=0, address={}, status=CheckoutStatus.OPEN, expires_at=cart.created_at)
    s.add(checkout)
    await s.flush()
    order = Order(number=f"ZC-{checkout.id}", checkout_id=checkout.id, brand_id=brand_id, email="x@example.com", currency="CNY", subtotal_minor=0, total_minor=0, status=OrderStatus.PENDING_PAYMENT, address={})
    s.add(order)
    await s.flush()
    product_id = (await s.execute(select(Variant.product_id).where(Variant.id == variant_id))).scalar_one()
    line = OrderLine(order_id=order.id, variant_id=variant_id, product_id=product_id, title="t", sku="s", options={}, quantity=2, unit_price_minor=0, total_minor=0, adjustments=[])
    s.add(line)
    await s.flush()
    return line.id


async def test_cart_line_upsert_adds_sets_removes_and_caps(zc_runtime, zc_make_product):
    variant = await zc_make_product("brand-a", price=1000, stock=5)

    async def quantity(cart_id: int) -> int | None:
        async with zc_runtime.db.read_session() as s:
            return (await s.execute(select(CartLine.quantity).where(CartLine.cart_id == cart_id))).scalar_one_or_none()

    cart_id = await _cart_with(zc_runtime, [(variant.id, 2), (variant.id, 3)])
    assert await quantity(cart_id) == 5
    async with zc_runtime.db.session() as s:
        cart = await s.get(Cart, cart_id)
        await carts.set_line(s, cart, variant_id=variant.id, quantity=7)
        await s.commit()
    assert await quantity(cart_id) == 7
    async with zc_runtime.db.session() as s:
        cart = await s.get(Cart, cart_id)
        with pytest.raises(ValidationFailed, match="at most 999"):
            await carts.set_line(s, cart, variant_id=variant.id, quantity=995, add=True)
    assert await quantity(cart_id) == 7
    async with zc_runtime.db.session() as s:
        cart = await s.get(Cart, cart_id)
        await carts.set_line(s, cart, variant_id=variant.id, quantity=0)
        await s.commit()
    assert await quantity(cart_id) is None


# ------------------------------------------------------------------ the outbox


@pytest.fixture
def effects_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "effects.txt"
    monkeypatch.setenv("ZHONGCAO_TEST_EFFECTS", str(path))
    event_probe_plugin.FAIL_ONCE.clear()
    return path


@pytest.fixture
def zc_extra_plugins():
    return [("probe", event_probe_plugin)]


async def test_a_batch_completes_its_events_and_retries_only_the_failed_one(zc_runtime, effects_file):
    await zc_runtime.start(worker=True, relay=False)
    async with zc_runtime.db.session() as session:
        ok = record_event(session, zc_runtime, "probe.happened", {"n": 1})
        flaky = record_event(session, zc_runtime, "probe.happened", {"fail_once": True})
        await session.commit()
    zc_runtime.jobs.send(DISPATCH_BATCH_JOB, [ok, flaky])

    async def both_complete() -> bool:
        async with zc_runtime.db.read_session() as s:
            rows = (await s.execute(select(OutboxEvent.completed_at).where(OutboxEvent.event_id.in_([ok, flaky])))).scalars().all()
            return len(rows) == 2 and all(rows)

    deadline = time.monotonic() + 20
    while not await both_complete():
        assert time.monotonic() < deadline, "the batch did not complete"
        await asyncio.sleep(0.05)
    calls = effects_file.with_suffix(".calls").read_text().split()
    assert calls.count(ok) == 1 and calls.count(flaky) == 2  # the retry ran the failed event only
    assert sorted(effects_file.read_text().split()) == sorted([ok, flaky])
    async with zc_runtime.db.read_session() as s:
        receipts = set((await s.execute(select(EventReceipt.event_id, EventReceipt.handler))).all())
        # (other plugins' handlers, e.g. notes, keep their own receipts)
        assert {r for r in receipts if r[1] in ("probe", "core")} == {(ok, "probe"), (ok, "core"), (flaky, "probe"), (flaky, "core")}
        attempts = dict((await s.execute(select(OutboxEvent.event_id, OutboxEvent.attempts))).all())
        assert attempts == {ok: 1, flaky: 2}

    # delivered again (at-least-once): nothing runs twice
    await dispatch_events(zc_runtime, [ok, flaky])
    assert effects_file.with_suffix(".calls").read_text().split() == calls


async def test_relay_claims_each_event_once(zc_runtime, effects_file):
    """Two relays (two processes) looking at the same rows send each event once."""
    async with zc_runtime.db.session() as session:
        ids = [record_event(session, zc_runtime, "probe.happened", {"n": n}) for n in range(5)]
        await session.commit()
    sent: list[list[str]] = []
    zc_runtime.jobs.send = lambda name, event_ids: sent.append(list(event_ids))  # type: ignore[method-assign]
    counts = await asyncio.gather(zc_runtime.relay.relay_pending(sweep=False), zc_runtime.relay.relay_pending(sweep=False))
    assert sum(counts) >= 5
    assert sorted(e for batch in sent for e in batch) == sorted(ids)
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.relayed_at.is_(None)))).scalar_one() == 0

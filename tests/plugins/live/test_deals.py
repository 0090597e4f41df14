"""Flash deals: made from a pool of their own, priced only while they run, limited per
customer, refused once ended however old the cart, and their unsold units given back."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.errors import Conflict, NotFound, ValidationFailed
from core.inventory import service as inventory
from core.inventory.models import StockPool
from core.orders.models import Checkout, Order
from core.payments import service as payments
from core.testing import ADDRESS
from plugins.live import service
from plugins.live.models import DealClaim, FlashDeal
from tests.plugins.live.helpers import CARD, actor_of, handled, launched_and_running, live_room, make_deal, set_times


async def available(runtime, variant_id: int) -> int:
    async with runtime.db.read_session() as s:
        return (await inventory.available_by_variant(s, [variant_id]))[variant_id]


async def pool_of(runtime, deal_id: int) -> StockPool:
    async with runtime.db.read_session() as s:
        deal = await s.get(FlashDeal, deal_id)
        return await s.get(StockPool, deal.pool_id)


async def test_a_deal_sets_its_units_aside_and_refuses_bad_terms(zc_runtime, zc_make_user, zc_make_product):
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product, stock=20)
    other = await zc_make_product("rival-brand", price=9900, stock=5)
    deal = await make_deal(zc_runtime, owner, room.id, variant.id, quantity=8)
    assert await available(zc_runtime, variant.id) == 12 and (await pool_of(zc_runtime, deal.id)).available == 8

    refusals = [
        (ValidationFailed, "only 12 units", {"quantity": 13}),  # more than the brand has left
        (ValidationFailed, "undercuts", {"deal_price_minor": 9900}),
        (ValidationFailed, "countdown", {"countdown_seconds": 5}),
        (ValidationFailed, "countdown", {"countdown_seconds": 301}),
        (ValidationFailed, "duration", {"duration_seconds": 20 * 60 + 1}),
        (ValidationFailed, "per customer", {"per_customer_limit": 0}),
        (ValidationFailed, "no price in USD", {"currency": "USD"}),
        (ValidationFailed, "quantity", {"quantity": True}),
    ]
    for error, words, values in refusals:
        with pytest.raises(error, match=words):
            await make_deal(zc_runtime, owner, room.id, variant.id, **values)
    with pytest.raises(NotFound):  # another brand's variant
        await make_deal(zc_runtime, owner, room.id, other.id)
    shopper = await actor_of(zc_runtime, await zc_make_user())
    with pytest.raises(NotFound):  # only the brand's staff make deals
        await make_deal(zc_runtime, shopper, room.id, variant.id)
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(FlashDeal))).scalar_one() == 1
    assert await available(zc_runtime, variant.id) == 12  # nothing refused moved stock


async def test_buying_from_a_running_deal_at_the_deal_price_within_the_limit(zc_runtime, zc_make_user, zc_make_product):
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    deal = await make_deal(zc_runtime, owner, room.id, variant.id, quantity=5, per_customer_limit=2)
    viewer = await actor_of(zc_runtime, await zc_make_user())

    with pytest.raises(Conflict, match="not started"):
        await service.buy(zc_runtime, viewer, deal.id, quantity=1, address=ADDRESS)
    async with zc_runtime.db.session() as s:
        await service.launch_deal(s, zc_runtime, owner, deal.id)
        await s.commit()
    with pytest.raises(Conflict, match="not started"):  # the countdown
        await service.buy(zc_runtime, viewer, deal.id, quantity=1, address=ADDRESS)
    await launched_and_running(zc_runtime, owner, deal.id)

    bought = await service.buy(zc_runtime, viewer, deal.id, quantity=2, address=ADDRESS)
    async with zc_runtime.db.read_session() as s:
        checkout = (await s.execute(select(Checkout).where(Checkout.token == bought.checkout_token))).scalar_one()
        assert checkout.total_minor == 2 * 5900 and checkout.capture_method == "automatic"
    same = await service.buy(zc_runtime, viewer, deal.id, quantity=1, address=ADDRESS)  # unpaid: the same purchase
    assert (same.claim_id, same.checkout_token, same.created) == (bought.claim_id, bought.checkout_token, False)
    await payments.pay(zc_runtime, bought.checkout_token, viewer, payment_method=CARD)
    await handled(zc_runtime, "order.paid")
    with pytest.raises(Conflict, match="at most 2"):
        await service.buy(zc_runtime, viewer, deal.id, quantity=1, address=ADDRESS)
    async with zc_runtime.db.read_session() as s:
        claim = await s.get(DealClaim, bought.claim_id)
        order = (await s.execute(select(Order).where(Order.checkout_id == checkout.id))).scalar_one()
        assert claim.status == "paid" and order.total_minor == 2 * 5900
        assert await service.units_sold(s, await s.get(FlashDeal, deal.id)) == 2
    pool = await pool_of(zc_runtime, deal.id)
    assert (pool.available, pool.reserved, pool.committed) == (3, 0, 2)


async def test_a_deal_ending_mid_checkout(zc_runtime, zc_make_user, zc_make_product):
    """A buyer whose checkout began while the deal ran pays the deal price within her
    hold; a cart older than the deal's end cannot start a checkout after it; the unsold
    units go back to general stock at the end, and units of a checkout that lapsed later
    with the sweep."""
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product, stock=10)
    deal = await make_deal(zc_runtime, owner, room.id, variant.id, quantity=4, per_customer_limit=1)
    await launched_and_running(zc_runtime, owner, deal.id)
    early, late, lapsing = [await actor_of(zc_runtime, await zc_make_user()) for _ in range(3)]
    in_time = await service.buy(zc_runtime, early, deal.id, address=ADDRESS)
    lapses = await service.buy(zc_runtime, lapsing, deal.id, address=ADDRESS)

    # the deal ends: a late viewer is refused (an older cart too: see the next test)
    await set_times(zc_runtime, deal.id, starts_in=-100, ends_in=-1)
    with pytest.raises(Conflict, match="has ended"):
        await service.buy(zc_runtime, late, deal.id, address=ADDRESS)

    # the end gives back what is not held: 4 - 2 held
    assert await service.end_deal(zc_runtime, deal.id) == 2
    assert await service.end_deal(zc_runtime, deal.id) == 0  # again: nothing more
    assert await available(zc_runtime, variant.id) == 10 - 2
    # the buyer in time pays the deal price after the end (her checkout held the unit)
    await payments.pay(zc_runtime, in_time.checkout_token, early, payment_method=CARD)
    await handled(zc_runtime, "order.paid")
    # the other checkout lapses: its unit returns to the pool, and the sweep gives it back
    async with zc_runtime.db.session() as s:
        checkout = (await s.execute(select(Checkout).where(Checkout.token == lapses.checkout_token))).scalar_one()
        from core.orders import checkout as checkouts

        await checkouts.close_unpaid(s, zc_runtime, checkout, to="cancelled")
        await s.commit()
    await handled(zc_runtime, "order.cancelled")
    assert await service.sweep(zc_runtime) == 1
    assert await available(zc_runtime, variant.id) == 10 - 1
    async with zc_runtime.db.read_session() as s:
        ended = await s.get(FlashDeal, deal.id)
        assert ended.returned == 3 and await service.units_sold(s, ended) == 1
        assert (await s.get(DealClaim, lapses.claim_id)).status == "closed"
        kinds = [e.kind for e in await service.timeline(s, room.id)]
        assert kinds.count("deal_ended") == 1 and "deal_launched" in kinds


async def test_the_deal_price_applies_only_while_the_deal_runs(zc_runtime, zc_make_user, zc_make_product):
    """`validate_checkout` refuses a deal cart whose deal has ended, however old the cart."""
    from core.orders import cart as carts
    from core.orders import checkout as checkouts
    from plugins.live.models import CART_KIND

    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    deal = await make_deal(zc_runtime, owner, room.id, variant.id)
    await launched_and_running(zc_runtime, owner, deal.id)
    viewer = await actor_of(zc_runtime, await zc_make_user())
    async with zc_runtime.db.session() as s:  # a claim and cart made while the deal ran, never checked out
        cart = await carts.new_cart(s, user_id=viewer.user_id, currency="CNY", kind=CART_KIND)
        await carts.set_line(s, cart, variant_id=variant.id, quantity=1)
        s.add(DealClaim(deal_id=deal.id, room_id=room.id, user_id=viewer.user_id, quantity=1, cart_id=cart.id, status="open"))
        await s.commit()
        quote = await carts.price_cart(s, zc_runtime, cart)
        assert quote.total_minor == 5900
    await set_times(zc_runtime, deal.id, starts_in=-200, ends_in=-1)
    async with zc_runtime.db.session() as s:
        cart = await s.get(carts.Cart, cart.id)
        assert (await carts.price_cart(s, zc_runtime, cart)).total_minor == 9900  # the regular price again
        with pytest.raises(ValidationFailed, match="has ended"):
            await checkouts.start_checkout(s, zc_runtime, cart, viewer, email=None, address=ADDRESS, pools={variant.id: deal.pool_id})


async def test_a_double_click_buys_once(zc_runtime, zc_make_user, zc_make_product):
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    deal = await make_deal(zc_runtime, owner, room.id, variant.id, quantity=5, per_customer_limit=3)
    await launched_and_running(zc_runtime, owner, deal.id)
    viewer = await actor_of(zc_runtime, await zc_make_user())
    first = await service.buy(zc_runtime, viewer, deal.id, quantity=1, address=ADDRESS)
    again = await service.buy(zc_runtime, viewer, deal.id, quantity=1, address=ADDRESS)
    assert (again.claim_id, again.checkout_token, again.created) == (first.claim_id, first.checkout_token, False)
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(DealClaim))).scalar_one() == 1
        assert (await s.execute(select(func.count()).select_from(Checkout))).scalar_one() == 1
    # once paid, she may buy again within her limit: a new purchase
    await payments.pay(zc_runtime, first.checkout_token, viewer, payment_method=CARD)
    await handled(zc_runtime, "order.paid")
    second = await service.buy(zc_runtime, viewer, deal.id, quantity=2, address=ADDRESS)
    assert second.claim_id != first.claim_id
    # concurrent double clicks: one purchase
    other = await actor_of(zc_runtime, await zc_make_user())
    import asyncio

    results = await asyncio.gather(*(service.buy(zc_runtime, other, deal.id, address=ADDRESS) for _ in range(4)), return_exceptions=True)
    tokens = {r.checkout_token for r in results if isinstance(r, service.Purchase)}
    assert len(tokens) == 1 and all(isinstance(r, service.Purchase) or isinstance(r, Conflict) for r in results)

"""Stock moves (core.inventory.service): every transition moves the counters once, a
repeated move is a no-op, pools never oversell, the database refuses negative counters,
and concurrent buyers never take more than there is.

Concurrency runs N sessions at once with asyncio.gather: on SQLite the writers
serialize (BEGIN IMMEDIATE), on PostgreSQL they race on the row and the conditional
UPDATE decides.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.inventory import service as inventory
from core.inventory.models import HoldState, StockHold, StockLevel, StockLocation, StockPool
from core.inventory.service import OutOfStock


class Stock:
    """Counters of one variant at its brand's main location, and its pools there."""

    def __init__(self, runtime: Any, variant_id: int, location_id: int) -> None:
        self.runtime = runtime
        self.variant_id = variant_id
        self.location_id = location_id

    async def level(self) -> tuple[int, int, int, int]:
        """(on_hand, available, reserved, committed) of the general stock."""
        async with self.runtime.db.read_session() as s:
            lv = await s.get(StockLevel, (self.variant_id, self.location_id), populate_existing=True)
            return lv.on_hand, lv.available, lv.reserved, lv.committed

    async def pool(self, pool_id: int) -> tuple[int, int, int]:
        async with self.runtime.db.read_session() as s:
            p = await s.get(StockPool, pool_id, populate_existing=True)
            return p.available, p.reserved, p.committed

    async def check(self) -> None:
        """on_hand = available + reserved + committed + everything in pools; nothing negative."""
        async with self.runtime.db.read_session() as s:
            levels = (await s.execute(select(StockLevel).where(StockLevel.variant_id == self.variant_id))).scalars().all()
            pools = (await s.execute(select(StockPool).where(StockPool.variant_id == self.variant_id))).scalars().all()
        for lv in levels:
            here = [p for p in pools if p.location_id == lv.location_id]
            pooled = sum(p.available + p.reserved + p.committed for p in here)
            assert lv.on_hand == lv.available + lv.reserved + lv.committed + pooled, (lv.on_hand, lv.available, lv.reserved, lv.committed, pooled)
            assert min(lv.on_hand, lv.available, lv.reserved, lv.committed) >= 0
            assert all(min(p.available, p.reserved, p.committed) >= 0 for p in here)

    async def run(self, fn: Any) -> Any:
        """`fn(session)` in its own writing session, committed."""
        async with self.runtime.db.session() as s:
            result = await fn(s)
            await s.commit()
            return result

    async def reserve(self, quantity: int, pool_id: int | None = None, **kwargs: Any) -> int:
        hold = await self.run(lambda s: inventory.reserve(s, variant_id=self.variant_id, quantity=quantity, order_line_id=None, pool_id=pool_id, **kwargs))
        return hold.id

    async def move(self, fn: Any, hold_id: int) -> bool:
        return await self.run(lambda s: fn(s, hold_id))

    async def hold_state(self, hold_id: int) -> str:
        async with self.runtime.db.read_session() as s:
            return (await s.get(StockHold, hold_id, populate_existing=True)).state


async def stock_for(runtime: Any, make_product: Any, quantity: int, brand: str = "stock-brand") -> Stock:
    variant = await make_product(brand, stock=quantity)
    async with runtime.db.read_session() as s:
        location_id = (await s.execute(select(StockLevel.location_id).where(StockLevel.variant_id == variant.id))).scalar_one()
    return Stock(runtime, variant.id, location_id)


async def test_reserve_commit_ship(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 10)
    assert await st.level() == (10, 10, 0, 0)
    hold = await st.reserve(3)
    assert await st.hold_state(hold) == HoldState.ACTIVE
    assert await st.level() == (10, 7, 3, 0)
    await st.check()

    assert await st.move(inventory.commit_hold, hold) is True
    assert await st.level() == (10, 7, 0, 3) and await st.hold_state(hold) == HoldState.COMMITTED
    assert await st.move(inventory.commit_hold, hold) is False  # repeated: nothing moves
    assert await st.move(inventory.release_hold, hold) is False  # too late to release
    assert await st.level() == (10, 7, 0, 3)

    assert await st.move(inventory.ship_hold, hold) is True
    assert await st.level() == (7, 7, 0, 0) and await st.hold_state(hold) == HoldState.SHIPPED
    for fn in (inventory.ship_hold, inventory.restock_hold, inventory.commit_hold, inventory.release_hold):
        assert await st.move(fn, hold) is False
    assert await st.level() == (7, 7, 0, 0)
    await st.check()


async def test_reserve_release(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 5)
    hold = await st.reserve(5)
    assert await st.level() == (5, 0, 5, 0)
    assert await st.move(inventory.release_hold, hold) is True
    assert await st.level() == (5, 5, 0, 0) and await st.hold_state(hold) == HoldState.RELEASED
    for fn in (inventory.release_hold, inventory.commit_hold, inventory.ship_hold, inventory.restock_hold):
        assert await st.move(fn, hold) is False
    assert await st.level() == (5, 5, 0, 0)
    await st.check()


async def test_commit_restock(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 4)
    hold = await st.reserve(2)
    assert await st.move(inventory.restock_hold, hold) is False  # an active hold is released, not restocked
    assert await st.move(inventory.ship_hold, hold) is False  # nor shipped before payment
    assert await st.level() == (4, 2, 2, 0)
    assert await st.move(inventory.commit_hold, hold) is True
    assert await st.move(inventory.restock_hold, hold) is True
    assert await st.level() == (4, 4, 0, 0) and await st.hold_state(hold) == HoldState.RESTOCKED
    for fn in (inventory.restock_hold, inventory.ship_hold, inventory.commit_hold, inventory.release_hold):
        assert await st.move(fn, hold) is False
    assert await st.level() == (4, 4, 0, 0)
    await st.check()


async def test_receive_and_write_off(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 3)
    await st.run(lambda s: inventory.receive_stock(s, variant_id=st.variant_id, location_id=st.location_id, quantity=7))
    assert await st.level() == (10, 10, 0, 0)
    await st.reserve(4)
    await st.run(lambda s: inventory.receive_stock(s, variant_id=st.variant_id, location_id=st.location_id, quantity=-6))
    assert await st.level() == (4, 0, 4, 0)
    # held units cannot be written off
    with pytest.raises(OutOfStock):
        await st.run(lambda s: inventory.receive_stock(s, variant_id=st.variant_id, location_id=st.location_id, quantity=-1))
    for bad in (0, True, 1.5, "3"):
        with pytest.raises(ValidationFailed):
            await st.run(lambda s, bad=bad: inventory.receive_stock(s, variant_id=st.variant_id, location_id=st.location_id, quantity=bad))
    assert await st.level() == (4, 0, 4, 0)
    await st.check()

    # nothing to write off at a location that never had stock
    async with zc_runtime.db.session() as s:
        other = StockLocation(brand_id=(await s.execute(select(StockLocation.brand_id).where(StockLocation.id == st.location_id))).scalar_one(), name="Annex")
        s.add(other)
        await s.commit()
    with pytest.raises(OutOfStock):
        await st.run(lambda s: inventory.receive_stock(s, variant_id=st.variant_id, location_id=other.id, quantity=-1))


async def test_reserve_refuses_bad_quantities_and_too_much(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 3)
    for bad in (0, -1, True, False, 2.0, "1", None):
        with pytest.raises(ValidationFailed):
            await st.reserve(bad)
    with pytest.raises(OutOfStock):
        await st.reserve(4)
    with pytest.raises(NotFound):
        await st.reserve(1, pool_id=999_999)
    assert await st.level() == (3, 3, 0, 0)
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(StockHold))).scalar_one() == 0


async def test_reserve_tries_locations_in_order(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 1)
    async with zc_runtime.db.session() as s:
        brand_id = (await s.execute(select(StockLocation.brand_id).where(StockLocation.id == st.location_id))).scalar_one()
        second = StockLocation(brand_id=brand_id, name="Second", position=5)
        s.add(second)
        await s.flush()
        await inventory.receive_stock(s, variant_id=st.variant_id, location_id=second.id, quantity=5)
        await s.commit()
    # the main location (position 0) cannot hold 3: the second one does
    hold_id = await st.reserve(3)
    async with zc_runtime.db.read_session() as s:
        hold = await s.get(StockHold, hold_id)
        assert hold.location_id == second.id
        snap = await inventory.snapshot(s, st.variant_id)
    assert (snap.on_hand, snap.available, snap.reserved) == (6, 3, 3)
    # one unit fits the first location again
    hold_id = await st.reserve(1)
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(StockHold, hold_id)).location_id == st.location_id
    with pytest.raises(OutOfStock):  # 2 available in total, but no single location has 3
        await st.reserve(3)
    await st.check()


async def test_expired_hold_ids(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 5)
    old = await st.reserve(1, now=utcnow() - timedelta(hours=1))
    fresh = await st.reserve(1)
    async with zc_runtime.db.read_session() as s:
        assert await inventory.expired_hold_ids(s) == [old]
    assert await st.move(inventory.release_hold, old) is True
    async with zc_runtime.db.read_session() as s:
        assert await inventory.expired_hold_ids(s) == []
        assert fresh not in await inventory.expired_hold_ids(s, now=utcnow() + timedelta(minutes=5))  # 15 minutes
        assert fresh in await inventory.expired_hold_ids(s, now=utcnow() + timedelta(minutes=16))


# ---------------------------------------------------------------- pools


async def test_pool_lifecycle(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 10)
    pool = await st.run(lambda s: inventory.create_pool(s, name="618 flash deal", variant_id=st.variant_id, location_id=st.location_id, quantity=4))
    assert await st.level() == (10, 6, 0, 0) and await st.pool(pool.id) == (4, 0, 0)
    async with zc_runtime.db.read_session() as s:
        snap = await inventory.snapshot(s, st.variant_id)
    assert (snap.on_hand, snap.available, snap.pooled) == (10, 6, 4)
    await st.check()

    # refused pools change nothing
    with pytest.raises(OutOfStock):
        await st.run(lambda s: inventory.create_pool(s, name="too big", variant_id=st.variant_id, location_id=st.location_id, quantity=7))
    with pytest.raises(ValidationFailed):
        await st.run(lambda s: inventory.create_pool(s, name="empty", variant_id=st.variant_id, location_id=st.location_id, quantity=0))
    assert await st.level() == (10, 6, 0, 0)

    # buyers of the deal take from the pool, not from general stock
    sold = await st.reserve(3, pool_id=pool.id)
    assert await st.pool(pool.id) == (1, 3, 0) and await st.level() == (10, 6, 0, 0)
    # the deal sells out while general stock remains
    with pytest.raises(OutOfStock, match="sold out"):
        await st.reserve(2, pool_id=pool.id)
    assert await st.pool(pool.id) == (1, 3, 0)
    general = await st.reserve(2)
    assert await st.level() == (10, 4, 2, 0)
    await st.check()

    # pool holds move through the pool's counters
    assert await st.move(inventory.commit_hold, sold) is True
    assert await st.pool(pool.id) == (1, 0, 3)
    assert await st.move(inventory.commit_hold, sold) is False
    assert await st.move(inventory.ship_hold, sold) is True
    assert await st.pool(pool.id) == (1, 0, 0) and await st.level() == (7, 4, 2, 0)
    assert await st.move(inventory.ship_hold, sold) is False
    await st.check()

    # a cancelled deal buyer gives the unit back to the pool
    again = await st.reserve(1, pool_id=pool.id)
    assert await st.move(inventory.release_hold, again) is True
    assert await st.pool(pool.id) == (1, 0, 0)
    # a refunded deal buyer's unit comes back to general stock
    refunded = await st.reserve(1, pool_id=pool.id)
    await st.move(inventory.commit_hold, refunded)
    assert await st.move(inventory.restock_hold, refunded) is True
    assert await st.pool(pool.id) == (0, 0, 0) and await st.level() == (7, 5, 2, 0)
    await st.check()

    # release_pool hands what is left back; again it is a no-op
    more = await st.run(lambda s: inventory.create_pool(s, name="samples", variant_id=st.variant_id, location_id=st.location_id, quantity=3))
    await st.reserve(1, pool_id=more.id)
    assert await st.run(lambda s: inventory.release_pool(s, more.id)) == 2
    assert await st.pool(more.id) == (0, 1, 0) and await st.level() == (7, 4, 2, 0)
    assert await st.run(lambda s: inventory.release_pool(s, more.id)) == 0
    assert await st.level() == (7, 4, 2, 0)
    with pytest.raises(NotFound):
        await st.run(lambda s: inventory.release_pool(s, 999_999))
    await st.move(inventory.release_hold, general)
    await st.check()


async def test_pool_of_another_variant_is_refused(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 5)
    other = await stock_for(zc_runtime, zc_make_product, 5)
    pool = await other.run(lambda s: inventory.create_pool(s, name="theirs", variant_id=other.variant_id, location_id=other.location_id, quantity=2))
    with pytest.raises(NotFound):
        await st.reserve(1, pool_id=pool.id)
    assert await other.pool(pool.id) == (2, 0, 0) and await st.level() == (5, 5, 0, 0)


# ---------------------------------------------------------------- the database's own guard


@pytest.mark.parametrize("column", ["available", "reserved", "committed", "on_hand"])
async def test_check_constraints_refuse_negative_levels(zc_runtime, zc_make_product, column):
    st = await stock_for(zc_runtime, zc_make_product, 2)
    async with zc_runtime.db.session() as s:
        with pytest.raises(IntegrityError):
            await s.execute(
                update(StockLevel).where(StockLevel.variant_id == st.variant_id).values({column: getattr(StockLevel, column) - 3}).execution_options(synchronize_session=False)
            )
            await s.commit()
        await s.rollback()
    assert await st.level() == (2, 2, 0, 0)


@pytest.mark.parametrize("column", ["available", "reserved", "committed"])
async def test_check_constraints_refuse_negative_pools(zc_runtime, zc_make_product, column):
    st = await stock_for(zc_runtime, zc_make_product, 5)
    pool = await st.run(lambda s: inventory.create_pool(s, name=f"pool-{column}", variant_id=st.variant_id, location_id=st.location_id, quantity=2))
    async with zc_runtime.db.session() as s:
        with pytest.raises(IntegrityError):
            await s.execute(text(f"UPDATE stock_pool SET {column} = {column} - 3 WHERE id = :id"), {"id": pool.id})
            await s.commit()
        await s.rollback()
    assert await st.pool(pool.id) == (2, 0, 0)


async def test_check_constraints_refuse_bad_holds(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 5)
    for values in ({"quantity": 0, "state": HoldState.ACTIVE}, {"quantity": 1, "state": "lost"}):
        async with zc_runtime.db.session() as s:
            s.add(StockHold(variant_id=st.variant_id, location_id=st.location_id, order_line_id=None, expires_at=utcnow(), **values))
            with pytest.raises(IntegrityError):
                await s.commit()


async def test_move_refuses_counters_out_of_step(zc_runtime, zc_make_product):
    """If the counters were tampered with, a move fails loudly instead of going negative."""
    st = await stock_for(zc_runtime, zc_make_product, 5)
    hold = await st.reserve(2)
    async with zc_runtime.db.session() as s:
        await s.execute(update(StockLevel).where(StockLevel.variant_id == st.variant_id).values(reserved=1, available=4))
        await s.commit()
    with pytest.raises(Conflict):
        await st.move(inventory.commit_hold, hold)
    assert await st.hold_state(hold) == HoldState.ACTIVE  # the whole transaction rolled back
    assert await st.level() == (5, 4, 1, 0)


# ---------------------------------------------------------------- concurrency


async def gather_each(n: int, fn: Any) -> list[Any]:
    return await asyncio.gather(*(fn(i) for i in range(n)), return_exceptions=True)


def successes(results: list[Any], expected_errors: tuple[type[BaseException], ...] = (OutOfStock,)) -> list[Any]:
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, expected_errors)]
    assert not unexpected, unexpected
    return [r for r in results if not isinstance(r, BaseException)]


async def test_concurrent_reserves_never_oversell(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 7)
    results = await gather_each(16, lambda i: st.reserve(1 + i % 2))
    held = successes(results)
    async with zc_runtime.db.read_session() as s:
        quantities = (await s.execute(select(StockHold.quantity).where(StockHold.variant_id == st.variant_id))).scalars().all()
    assert len(quantities) == len(held) and sum(quantities) <= 7
    on_hand, available, reserved, committed = await st.level()
    assert (on_hand, reserved, committed) == (7, sum(quantities), 0) and available == 7 - sum(quantities)
    assert available <= 1  # only a unit too few for a 2-unit buyer can be left
    await st.check()


async def test_concurrent_pool_reserves_never_oversell(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 20)
    pool = await st.run(lambda s: inventory.create_pool(s, name="flash", variant_id=st.variant_id, location_id=st.location_id, quantity=5))
    results = await gather_each(14, lambda i: st.reserve(1, pool_id=pool.id))
    assert len(successes(results)) == 5
    assert await st.pool(pool.id) == (0, 5, 0)
    assert await st.level() == (20, 15, 0, 0)  # general stock untouched
    await st.check()


async def test_concurrent_moves_of_one_hold_happen_once(zc_runtime, zc_make_product):
    st = await stock_for(zc_runtime, zc_make_product, 6)
    hold = await st.reserve(4)
    # a payment webhook, its retry and the confirm response all commit the same hold
    results = await gather_each(6, lambda i: st.move(inventory.commit_hold, hold))
    assert sorted(successes(results)) == [False] * 5 + [True]
    assert await st.level() == (6, 2, 0, 4)
    # a late expiry job and a cancel race a payment: exactly one of them wins
    other = await st.reserve(2)
    results = await gather_each(6, lambda i: st.move((inventory.commit_hold, inventory.release_hold)[i % 2], other))
    assert sorted(successes(results)) == [False] * 5 + [True]
    state = await st.hold_state(other)
    assert state in (HoldState.COMMITTED, HoldState.RELEASED)
    assert await st.level() == ((6, 0, 0, 6) if state == HoldState.COMMITTED else (6, 2, 0, 4))
    await st.check()
    # repeated release_pool calls racing buyers hand back exactly what is left
    await st.run(lambda s: inventory.receive_stock(s, variant_id=st.variant_id, location_id=st.location_id, quantity=2))
    pool = await st.run(lambda s: inventory.create_pool(s, name="race", variant_id=st.variant_id, location_id=st.location_id, quantity=2))
    results = await asyncio.gather(
        *(st.run(lambda s: inventory.release_pool(s, pool.id)) for _ in range(3)), *(st.reserve(1, pool_id=pool.id) for _ in range(2)), return_exceptions=True
    )
    successes(results)
    released = sum(r for r in results[:3])
    p_available, p_reserved, _ = await st.pool(pool.id)
    assert p_available == 0 and released + p_reserved == 2
    await st.check()


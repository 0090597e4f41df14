"""Stock moves. Each is one conditional UPDATE; a move that cannot happen changes nothing.

A hold's `state` guards every move that follows it (commit, release, ship, restock):
the statement that flips the state and the one that moves the units run in the same
transaction, and the state flip is conditional, so a repeated job, webhook or click
moves stock once.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from core.db import utcnow, valid_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.inventory.models import HoldState, StockHold, StockLevel, StockLocation, StockPool

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

HOLD_MINUTES = 15


class OutOfStock(Conflict):
    title = "Out of stock"
    type_slug = "out-of-stock"


@dataclass(frozen=True)
class StockSnapshot:
    on_hand: int
    available: int
    reserved: int
    committed: int
    pooled: int


MAIN_LOCATION = "默认仓 Main warehouse"


async def stock_changed(session: AsyncSession, variant_ids: Any) -> None:
    """Whether a product is in stock shows in search (the products index): each move
    that takes a location's available units to zero, or back up from zero, refreshes
    the variants' products when the transaction commits."""
    from core.catalog.models import Variant
    from core.catalog.service import product_changed

    wanted = sorted(set(variant_ids))
    if wanted:
        for product_id in (await session.execute(select(Variant.product_id).where(Variant.id.in_(wanted)).distinct())).scalars():
            product_changed(session, product_id)


async def ensure_location(session: AsyncSession, brand_id: int, name: str = MAIN_LOCATION) -> StockLocation:
    location = (await session.execute(select(StockLocation).where(StockLocation.brand_id == brand_id, StockLocation.name == name))).scalar_one_or_none()
    if location is None:
        location = StockLocation(brand_id=brand_id, name=name)
        session.add(location)
        await session.flush()
    return location


async def receive_stock(session: AsyncSession, *, variant_id: int, location_id: int, quantity: int) -> None:
    """Goods in (positive) or written off (negative, only from available)."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity == 0:
        raise ValidationFailed("quantity must be a non-zero integer")
    level = await session.get(StockLevel, (variant_id, location_id))
    if level is None:
        if quantity < 0:
            raise OutOfStock("nothing to write off")
        session.add(StockLevel(variant_id=variant_id, location_id=location_id, on_hand=0, available=0, reserved=0, committed=0))
        await session.flush()
    guard = [StockLevel.available >= -quantity] if quantity < 0 else []
    done = await session.execute(
        update(StockLevel)
        .where(StockLevel.variant_id == variant_id, StockLevel.location_id == location_id, *guard)
        .values(on_hand=StockLevel.on_hand + quantity, available=StockLevel.available + quantity)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        left = (await session.execute(select(StockLevel.available).where(StockLevel.variant_id == variant_id, StockLevel.location_id == location_id))).scalar_one()
        raise OutOfStock(f"cannot write off more than is available: {left} units here")
    await stock_changed(session, [variant_id])  # the brand's own stock change: refreshed whatever the level


async def create_pool(session: AsyncSession, *, name: str, variant_id: int, location_id: int, quantity: int) -> StockPool:
    """Set `quantity` units aside under `name` (campaign samples, a flash deal)."""
    if quantity <= 0:
        raise ValidationFailed("a pool needs at least one unit")
    after = (await session.execute(
        update(StockLevel)
        .where(StockLevel.variant_id == variant_id, StockLevel.location_id == location_id, StockLevel.available >= quantity)
        .values(available=StockLevel.available - quantity)
        .returning(StockLevel.available)
        .execution_options(synchronize_session=False)
    )).scalar_one_or_none()  # fmt: skip
    if after is None:
        raise OutOfStock(f"fewer than {quantity} units are available to set aside")
    if after == 0:
        await stock_changed(session, [variant_id])
    pool = StockPool(name=name, variant_id=variant_id, location_id=location_id, available=quantity, reserved=0, committed=0)
    session.add(pool)
    await session.flush()
    return pool


async def release_pool(session: AsyncSession, pool_id: int) -> int:
    """Give a pool's unreserved units back to general stock; returns how many.

    The count read first is only a proposal: the UPDATE moves it only if the pool still
    has it, and retries with a fresh count when a buyer took units in between.
    """
    for _ in range(20):
        pool = (await session.execute(select(StockPool).where(StockPool.id == pool_id).execution_options(populate_existing=True))).scalar_one_or_none()
        if pool is None:
            raise NotFound("no such pool")
        n = pool.available
        if n == 0:
            return 0
        took = await session.execute(
            update(StockPool).where(StockPool.id == pool_id, StockPool.available >= n).values(available=StockPool.available - n).execution_options(synchronize_session=False)
        )
        if took.rowcount == 1:
            after = (await session.execute(
                update(StockLevel)
                .where(StockLevel.variant_id == pool.variant_id, StockLevel.location_id == pool.location_id)
                .values(available=StockLevel.available + n)
                .returning(StockLevel.available)
                .execution_options(synchronize_session=False)
            )).scalar_one()  # fmt: skip
            if after == n:
                await stock_changed(session, [pool.variant_id])
            return n
    raise Conflict("the pool keeps changing; try again")


async def reserve(
    session: AsyncSession, *, variant_id: int, quantity: int, order_line_id: int | None, pool_id: int | None = None, minutes: int = HOLD_MINUTES, now: datetime | None = None
) -> StockHold:
    """Hold units for a checkout: from a pool if named, else from the first location that has them."""
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValidationFailed("quantity must be a positive integer")
    expires = (now or utcnow()) + timedelta(minutes=minutes)
    if pool_id is not None:
        pool = await session.get(StockPool, pool_id)
        if pool is None or pool.variant_id != variant_id:
            raise NotFound("no such stock pool for this variant")
        took = await session.execute(
            update(StockPool)
            .where(StockPool.id == pool_id, StockPool.available >= quantity)
            .values(available=StockPool.available - quantity, reserved=StockPool.reserved + quantity)
            .execution_options(synchronize_session=False)
        )
        if took.rowcount != 1:
            raise OutOfStock("this deal has sold out", extra={"variant_id": variant_id})
        hold = StockHold(variant_id=variant_id, location_id=pool.location_id, pool_id=pool_id, order_line_id=order_line_id, quantity=quantity, expires_at=expires)
    else:
        locations = (
            await session.execute(
                select(StockLevel.location_id)
                .join(StockLocation, StockLocation.id == StockLevel.location_id)
                .where(StockLevel.variant_id == variant_id)
                .order_by(StockLocation.position, StockLocation.id)
            )
        ).scalars().all()
        location_id = None
        for candidate in locations:  # the UPDATE decides; the list only orders the tries
            after = (await session.execute(_reserve_statement(), {"v": variant_id, "loc": candidate, "qty": quantity})).scalar_one_or_none()
            if after is not None:
                location_id = candidate
                if after == 0:
                    await stock_changed(session, [variant_id])
                break
        if location_id is None:
            raise OutOfStock("not enough stock", extra={"variant_id": variant_id})
        hold = StockHold(variant_id=variant_id, location_id=location_id, pool_id=None, order_line_id=order_line_id, quantity=quantity, expires_at=expires)
    session.add(hold)
    await session.flush()
    return hold


async def reserve_lines(session: AsyncSession, items: list[tuple[int, int, int]], *, minutes: int = HOLD_MINUTES, now: datetime | None = None) -> None:
    """Hold general stock for the lines of a checkout: (variant_id, quantity, order_line_id).

    Same rule as `reserve`: one conditional UPDATE per line decides, at the first
    location (by position) that has the units. Built for a short row-lock window: one
    plain SELECT proposes a location per line, one INSERT writes the holds, and the
    stock UPDATEs come last, in variant order, so the caller's COMMIT follows them
    directly and two checkouts lock shared rows in the same order. If a line's proposed
    location ran short meanwhile, the others are tried in order and the hold follows.
    """
    for _variant_id, quantity, _line_id in items:
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
            raise ValidationFailed("quantity must be a positive integer")
    if not items:
        return
    items = sorted(items)
    expires = (now or utcnow()) + timedelta(minutes=minutes)
    levels: dict[int, list[tuple[int, int]]] = {}
    for variant_id, location_id, available in (
        await session.execute(_locations_query(), {"variant_ids": sorted({v for v, _, _ in items})})
    ).all():
        levels.setdefault(variant_id, []).append((location_id, available))
    proposed: list[int] = []
    for variant_id, quantity, _line_id in items:
        candidates = levels.get(variant_id)
        if not candidates:
            raise OutOfStock("not enough stock", extra={"variant_id": variant_id})
        proposed.append(next((loc for loc, available in candidates if available >= quantity), candidates[0][0]))
    await session.execute(
        insert(StockHold.__table__),
        [
            {"variant_id": v, "location_id": loc, "pool_id": None, "order_line_id": line_id, "quantity": q, "state": HoldState.ACTIVE, "expires_at": expires}
            for (v, q, line_id), loc in zip(items, proposed, strict=True)
        ],
    )
    emptied = []
    for (variant_id, quantity, line_id), location_id in zip(items, proposed, strict=True):
        after = (await session.execute(_reserve_statement(), {"v": variant_id, "loc": location_id, "qty": quantity})).scalar_one_or_none()
        if after is None:
            for candidate, _available in levels[variant_id]:  # the proposal ran short: the UPDATE decides
                if candidate == location_id:
                    continue
                after = (await session.execute(_reserve_statement(), {"v": variant_id, "loc": candidate, "qty": quantity})).scalar_one_or_none()
                if after is not None:
                    await session.execute(
                        update(StockHold.__table__).where(StockHold.order_line_id == line_id, StockHold.state == HoldState.ACTIVE).values(location_id=candidate)
                    )
                    break
            else:
                raise OutOfStock("not enough stock", extra={"variant_id": variant_id})
        if after == 0:
            emptied.append(variant_id)
    if emptied:  # rare: one more statement, after the stock rows
        await stock_changed(session, emptied)


@functools.cache
def _locations_query():  # built once, with bound parameters
    return (
        select(StockLevel.variant_id, StockLevel.location_id, StockLevel.available)
        .join(StockLocation, StockLocation.id == StockLevel.location_id)
        .where(StockLevel.variant_id.in_(bindparam("variant_ids", expanding=True)))
        .order_by(StockLevel.variant_id, StockLocation.position, StockLocation.id)
    )


@functools.cache
def _reserve_statement():  # built once, with bound parameters
    level = StockLevel.__table__
    qty = bindparam("qty")
    return (
        update(level)
        .where(level.c.variant_id == bindparam("v"), level.c.location_id == bindparam("loc"), level.c.available >= qty)
        .values(available=level.c.available - qty, reserved=level.c.reserved + qty)
        .returning(level.c.available)  # what is left: zero refreshes the product in search
    )


async def commit_holds(session: AsyncSession, order_line_ids: Any) -> int:
    """Payment succeeded: reserved -> committed for every active hold of these order
    lines (ids, or a SELECT of them). One UPDATE flips the holds' state (conditional,
    so a repeated call moves nothing), then one guarded UPDATE per hold moves the
    counters, in variant order: the last statements before the caller's COMMIT.
    Returns how many holds this call committed."""
    hold = StockHold.__table__
    flipped = (
        await session.execute(
            update(hold)
            .where(hold.c.order_line_id.in_(order_line_ids), hold.c.state == HoldState.ACTIVE)
            .values(state=HoldState.COMMITTED)
            .returning(hold.c.id, hold.c.variant_id, hold.c.location_id, hold.c.pool_id, hold.c.quantity)
        )
    ).all()
    for row in sorted(flipped, key=lambda h: (h.variant_id, h.id)):
        await _move(session, row, reserved=-row.quantity, committed=row.quantity)  # type: ignore[arg-type]
    return len(flipped)


async def _flip(session: AsyncSession, hold_id: int, frm: str, to: str) -> StockHold | None:
    """Move a hold from one state to the next; None if it was not in `frm` (already moved)."""
    flipped = await session.execute(
        update(StockHold).where(StockHold.id == hold_id, StockHold.state == frm).values(state=to).execution_options(synchronize_session=False)
    )
    if flipped.rowcount != 1:
        return None
    return (await session.execute(select(StockHold).where(StockHold.id == hold_id).execution_options(populate_existing=True))).scalar_one()


def _bucket(hold: StockHold, general: bool):  # noqa: ANN202 - the table whose counters move
    if hold.pool_id is not None and not general:
        return StockPool, (StockPool.id == hold.pool_id)
    return StockLevel, ((StockLevel.variant_id == hold.variant_id) & (StockLevel.location_id == hold.location_id))


async def _move(session: AsyncSession, hold: StockHold, *, general: bool = False, **deltas: int) -> None:
    """Move the counters the hold uses (its pool's, or the general level's), or with
    `general` the general level's whatever the hold came from."""
    table, where = _bucket(hold, general)
    values = {name: getattr(table, name) + delta for name, delta in deltas.items()}
    guards = [getattr(table, name) >= -delta for name, delta in deltas.items() if delta < 0]
    general_available = table is StockLevel and "available" in deltas
    statement = update(table).where(where, *guards).values(**values).execution_options(synchronize_session=False)
    moved = await session.execute(statement.returning(table.available) if general_available else statement)
    if general_available:
        after = moved.scalar_one_or_none()
        if after is None:
            raise Conflict(f"stock counters out of step for hold {hold.id}")
        delta = deltas["available"]
        if after == max(delta, 0):  # taken down to zero, or brought up from it
            await stock_changed(session, [hold.variant_id])
    elif moved.rowcount != 1:  # a CHECK would fail anyway; say so plainly
        raise Conflict(f"stock counters out of step for hold {hold.id}")


async def commit_hold(session: AsyncSession, hold_id: int) -> bool:
    """Payment succeeded: reserved -> committed. True if this call moved it."""
    hold = await _flip(session, hold_id, HoldState.ACTIVE, HoldState.COMMITTED)
    if hold is None:
        return False
    await _move(session, hold, reserved=-hold.quantity, committed=hold.quantity)
    return True


async def release_hold(session: AsyncSession, hold_id: int) -> bool:
    """Expired or cancelled before payment: reserved -> available."""
    hold = await _flip(session, hold_id, HoldState.ACTIVE, HoldState.RELEASED)
    if hold is None:
        return False
    await _move(session, hold, reserved=-hold.quantity, available=hold.quantity)
    return True


async def ship_hold(session: AsyncSession, hold_id: int) -> bool:
    """Fulfilled: committed units leave the building (on_hand drops for general stock)."""
    hold = await _flip(session, hold_id, HoldState.COMMITTED, HoldState.SHIPPED)
    if hold is None:
        return False
    if hold.pool_id is None:
        await _move(session, hold, committed=-hold.quantity, on_hand=-hold.quantity)
    else:
        await _move(session, hold, committed=-hold.quantity)
        await _move(session, hold, general=True, on_hand=-hold.quantity)
    return True


async def restock_hold(session: AsyncSession, hold_id: int) -> bool:
    """Cancelled after payment, or refunded with restock: committed -> general available.

    Pool units come back to general stock too: the deal they were set aside for has
    already sold them once.
    """
    hold = await _flip(session, hold_id, HoldState.COMMITTED, HoldState.RESTOCKED)
    if hold is None:
        return False
    if hold.pool_id is None:
        await _move(session, hold, committed=-hold.quantity, available=hold.quantity)
    else:
        await _move(session, hold, committed=-hold.quantity)
        await _move(session, hold, general=True, available=hold.quantity)
    return True


async def expired_hold_ids(session: AsyncSession, now: datetime | None = None, limit: int = 500) -> list[int]:
    rows = await session.execute(
        select(StockHold.id).where(StockHold.state == HoldState.ACTIVE, StockHold.expires_at < (now or utcnow())).order_by(StockHold.id).limit(limit)
    )
    return list(rows.scalars())


async def snapshot(session: AsyncSession, variant_id: int) -> StockSnapshot:
    """Totals for a variant across locations and pools (reports, tests)."""
    return (await snapshots(session, [variant_id]))[variant_id]


async def snapshots(session: AsyncSession, variant_ids: Sequence[int]) -> dict[int, StockSnapshot]:
    """`snapshot` of several variants in two statements (the product page's variants)."""
    levels = (await session.execute(select(StockLevel).where(StockLevel.variant_id.in_(variant_ids)).execution_options(populate_existing=True))).scalars().all()
    pools = (await session.execute(select(StockPool).where(StockPool.variant_id.in_(variant_ids)).execution_options(populate_existing=True))).scalars().all()
    out = {}
    for vid in variant_ids:
        mine, pooled = [lv for lv in levels if lv.variant_id == vid], [p for p in pools if p.variant_id == vid]
        out[vid] = StockSnapshot(
            on_hand=sum(lv.on_hand for lv in mine),
            available=sum(lv.available for lv in mine),
            reserved=sum(lv.reserved for lv in mine) + sum(p.reserved for p in pooled),
            committed=sum(lv.committed for lv in mine) + sum(p.committed for p in pooled),
            pooled=sum(p.available for p in pooled),
        )
    return out


async def available_by_variant(session: AsyncSession, variant_ids: list[int]) -> dict[int, int]:
    from sqlalchemy import func

    rows = await session.execute(
        select(StockLevel.variant_id, func.sum(StockLevel.available)).where(StockLevel.variant_id.in_(variant_ids)).group_by(StockLevel.variant_id)
    )
    found = {vid: int(total or 0) for vid, total in rows.all()}
    return {vid: found.get(vid, 0) for vid in variant_ids}


async def extend_holds(session: AsyncSession, order_line_ids: list[int], *, until: datetime) -> int:
    """Keep active holds past their usual expiry (a payment authorized now, captured later)."""
    if not order_line_ids:
        return 0
    moved = await session.execute(
        update(StockHold)
        .where(StockHold.order_line_id.in_(order_line_ids), StockHold.state == HoldState.ACTIVE)
        .values(expires_at=until)
        .execution_options(synchronize_session=False)
    )
    return moved.rowcount


# ---------------------------------------------------------------- brand staff: locations, stock per location, pools

LOCATION_NAME_MAX = 80
POOL_NAME_MAX = 120
CAMPAIGN_POOL_PREFIX = "campaign-"  # campaign sample pools are named campaign-{id}-samples-{item}


@dataclass(frozen=True)
class LocationStock:
    """One variant at one location: on_hand = available + reserved + committed + in_pools
    (reserved and committed of general stock; in_pools counts every unit in the pools there)."""

    variant_id: int
    location_id: int
    location: str
    on_hand: int
    available: int
    reserved: int
    committed: int
    in_pools: int


@dataclass(frozen=True)
class PoolRow:
    id: int
    name: str
    variant_id: int
    sku: str
    product_id: int
    product_title: str
    location_id: int
    location: str
    available: int
    reserved: int
    committed: int


def _name(raw: Any, what: str, longest: int) -> str:
    name = raw.strip() if isinstance(raw, str) else ""
    if not name:
        raise ValidationFailed(f"the {what} needs a name")
    if len(name) > longest or "\x00" in name:
        raise ValidationFailed(f"the {what} name may be at most {longest} characters")
    return name


async def locations_of(session: AsyncSession, brand_id: int) -> list[StockLocation]:
    """The brand's locations in the order checkout takes stock from them."""
    rows = await session.execute(select(StockLocation).where(StockLocation.brand_id == brand_id).order_by(StockLocation.position, StockLocation.id))
    return list(rows.scalars())


async def location_of_brand(session: AsyncSession, brand_id: int, location_id: Any) -> StockLocation:
    location = await session.get(StockLocation, location_id) if valid_id(location_id) else None
    if location is None or location.brand_id != brand_id:
        raise NotFound("no such stock location")
    return location


async def location_named(session: AsyncSession, brand_id: int, name: str) -> StockLocation:
    location = (await session.execute(select(StockLocation).where(StockLocation.brand_id == brand_id, StockLocation.name == name))).scalar_one_or_none()
    if location is None:
        raise NotFound(f"no stock location named {name!r}")
    return location


async def add_location(session: AsyncSession, brand_id: int, name: Any) -> StockLocation:
    """A new location, last in the order checkout takes stock from."""
    name = _name(name, "location", LOCATION_NAME_MAX)
    taken = (await session.execute(select(StockLocation.id).where(StockLocation.brand_id == brand_id, StockLocation.name == name))).first()
    if taken is not None:
        raise Conflict(f"a location named {name!r} exists already")
    last = (await session.execute(select(func.max(StockLocation.position)).where(StockLocation.brand_id == brand_id))).scalar_one()
    location = StockLocation(brand_id=brand_id, name=name, position=0 if last is None else last + 1)
    try:
        async with session.begin_nested():  # a concurrent twin costs this change only
            session.add(location)
    except IntegrityError as exc:
        raise Conflict(f"a location named {name!r} exists already") from exc
    return location


async def _variant_of_brand(session: AsyncSession, brand_id: int, variant_id: Any) -> tuple[int, str]:
    from core.catalog.models import Product, Variant

    row = None
    if valid_id(variant_id):
        row = (await session.execute(select(Variant.id, Variant.sku).join(Product, Product.id == Variant.product_id).where(Variant.id == variant_id, Product.brand_id == brand_id))).first()
    if row is None:
        raise NotFound("no such variant")
    return row[0], row[1]


async def receive_at(session: AsyncSession, brand_id: int, *, variant_id: Any, location_id: Any, quantity: int) -> None:
    """Goods in or written off at one of the brand's locations, for one of its variants."""
    await _variant_of_brand(session, brand_id, variant_id)
    await location_of_brand(session, brand_id, location_id)
    await receive_stock(session, variant_id=variant_id, location_id=location_id, quantity=quantity)


async def stock_by_location(session: AsyncSession, variant_ids: list[int]) -> dict[int, list[LocationStock]]:
    """Variant id -> its stock at each location that has held any, in checkout order (one query)."""
    out: dict[int, list[LocationStock]] = {vid: [] for vid in variant_ids}
    if not variant_ids:
        return out
    pooled = (
        select(StockPool.variant_id, StockPool.location_id, func.sum(StockPool.available + StockPool.reserved + StockPool.committed).label("units"))
        .where(StockPool.variant_id.in_(variant_ids))
        .group_by(StockPool.variant_id, StockPool.location_id)
        .subquery()
    )
    rows = await session.execute(
        select(
            StockLevel.variant_id, StockLevel.location_id, StockLocation.name, StockLevel.on_hand, StockLevel.available,
            StockLevel.reserved, StockLevel.committed, func.coalesce(pooled.c.units, 0),
        )
        .join(StockLocation, StockLocation.id == StockLevel.location_id)
        .outerjoin(pooled, and_(pooled.c.variant_id == StockLevel.variant_id, pooled.c.location_id == StockLevel.location_id))
        .where(StockLevel.variant_id.in_(variant_ids))
        .order_by(StockLevel.variant_id, StockLocation.position, StockLocation.id)
    )
    for row in rows.all():
        out[row[0]].append(LocationStock(*row[:7], in_pools=int(row[7])))
    return out


async def pool_of_brand(session: AsyncSession, brand_id: int, pool_id: Any) -> StockPool:
    pool = None
    if valid_id(pool_id):
        pool = (
            await session.execute(
                select(StockPool).join(StockLocation, StockLocation.id == StockPool.location_id).where(StockPool.id == pool_id, StockLocation.brand_id == brand_id)
            )
        ).scalar_one_or_none()
    if pool is None:
        raise NotFound("no such stock pool")
    return pool


async def brand_of_pool(session: AsyncSession, pool_id: Any) -> int | None:
    if not valid_id(pool_id):
        return None
    return (await session.execute(select(StockLocation.brand_id).join(StockPool, StockPool.location_id == StockLocation.id).where(StockPool.id == pool_id))).scalar_one_or_none()


async def pools_of_brand(session: AsyncSession, brand_id: int, *, pool_ids: list[int] | None = None, limit: int = 100, offset: int = 0) -> list[PoolRow]:
    """The brand's pools, newest first, with their variant and location (one query)."""
    from core.catalog.models import Product, Variant

    query = (
        select(
            StockPool.id, StockPool.name, StockPool.variant_id, Variant.sku, Product.id, Product.title, StockPool.location_id, StockLocation.name,
            StockPool.available, StockPool.reserved, StockPool.committed,
        )
        .join(StockLocation, StockLocation.id == StockPool.location_id)
        .join(Variant, Variant.id == StockPool.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .where(StockLocation.brand_id == brand_id)
    )
    if pool_ids is not None:
        query = query.where(StockPool.id.in_(pool_ids))
    rows = await session.execute(query.order_by(StockPool.id.desc()).limit(limit).offset(offset))
    return [PoolRow(*row) for row in rows.all()]


async def set_aside(session: AsyncSession, brand_id: int, *, name: Any, variant_id: Any, location_id: Any, quantity: Any) -> StockPool:
    """Brand staff set units aside by hand (a flash deal) at a location they choose.
    Names are unique within the brand (another brand's names are neither refused nor
    revealed); `campaign-…` names are the campaigns' own."""
    name = _name(name, "pool", POOL_NAME_MAX)
    if name.lower().startswith(CAMPAIGN_POOL_PREFIX):
        raise ValidationFailed(f"pool names starting with {CAMPAIGN_POOL_PREFIX!r} are kept for campaign samples")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0:
        raise ValidationFailed("a pool needs at least one unit")
    _vid, sku = await _variant_of_brand(session, brand_id, variant_id)
    location = await location_of_brand(session, brand_id, location_id)
    same_name = (
        select(StockPool.id).join(StockLocation, StockLocation.id == StockPool.location_id)
        .where(StockLocation.brand_id == brand_id, StockPool.name == name)
    )
    if (await session.execute(same_name)).first() is not None:
        raise Conflict(f"a pool named {name!r} exists already")
    try:
        async with session.begin_nested():  # a concurrent twin (same name) costs this change only
            return await create_pool(session, name=name, variant_id=variant_id, location_id=location.id, quantity=quantity)
    except OutOfStock:
        level = await session.get(StockLevel, (variant_id, location.id), populate_existing=True)
        raise OutOfStock(f"only {level.available if level else 0} units of {sku} are available at {location.name} to set aside") from None
    except IntegrityError as exc:
        raise Conflict(f"a pool named {name!r} exists already") from exc

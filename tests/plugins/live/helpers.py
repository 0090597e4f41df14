"""Shared steps of the live tests: a room that is live, a deal that runs now."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from core.auth.service import load_actor
from core.db import utcnow
from core.events import OutboxEvent
from plugins.live import service
from plugins.live.models import FlashDeal
from plugins.live.service import DealInput

CARD = "4242424242424242"


async def actor_of(runtime: Any, user: Any) -> Any:
    async with runtime.db.read_session() as s:
        return await load_actor(s, user.id)


async def live_room(runtime: Any, make_user: Any, make_product: Any, *, brand: str = "live-brand", price: int = 9900, stock: int = 100) -> tuple[Any, Any, Any]:
    """(room, variant, brand owner actor): a room of `brand`, live, hosted by its owner."""
    owner = await make_user(brand=(brand, "owner"))
    variant = await make_product(brand, price=price, stock=stock, title="直播款 Live lip tint")
    actor = await actor_of(runtime, owner)
    async with runtime.db.session() as s:
        room = await service.create_room(s, runtime, actor, brand, title="周五直播 Friday live")
        await service.go_live(s, runtime, actor, room.id)
        await s.commit()
    return room, variant, actor


async def make_deal(runtime: Any, actor: Any, room_id: int, variant_id: int, **values: Any) -> FlashDeal:
    data = {"deal_price_minor": 5900, "quantity": 5, "per_customer_limit": 2, "countdown_seconds": 10, "duration_seconds": 120, **values}
    async with runtime.db.session() as s:
        deal = await service.create_deal(s, runtime, actor, room_id, DealInput(variant_id=variant_id, **data))
        await s.commit()
        return deal


async def launched_and_running(runtime: Any, actor: Any, deal_id: int) -> None:
    """Launch, then travel past the countdown: the deal runs for its duration from now."""
    async with runtime.db.session() as s:
        deal = await service.launch_deal(s, runtime, actor, deal_id)
        await s.commit()
        duration = deal.duration_seconds
    await set_times(runtime, deal_id, starts_in=-1, ends_in=duration)


async def set_times(runtime: Any, deal_id: int, *, starts_in: float, ends_in: float) -> None:
    now = utcnow()
    async with runtime.db.session() as s:
        await s.execute(update(FlashDeal).where(FlashDeal.id == deal_id).values(starts_at=now + timedelta(seconds=starts_in), ends_at=now + timedelta(seconds=ends_in)))
        await s.commit()


async def handled(runtime: Any, *types: str, timeout: float = 20.0) -> None:
    """Wait until every committed event of these types has run its handlers (relayed,
    dispatched, completed): what a test checks next is their effect."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        await runtime.relay.relay_pending()
        await asyncio.to_thread(runtime.jobs.join)
        async with runtime.db.read_session() as s:
            waiting = (await s.execute(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type.in_(types), OutboxEvent.completed_at.is_(None)))).scalar_one()
        if not waiting:
            return
        assert asyncio.get_running_loop().time() < deadline, f"{waiting} events of {types} still unhandled after {timeout} s"
        await asyncio.sleep(0.05)

"""Shared steps of the group_buy tests: an offer, shoppers, paying a seat, letting events run."""

from __future__ import annotations

import asyncio
from typing import Any

from core.auth.service import load_actor
from core.payments import service as payments
from core.testing import ADDRESS
from plugins.group_buy import service
from plugins.group_buy.service import OfferInput

CARD = "4242424242424242"


async def actor_of(runtime: Any, user: Any) -> Any:
    async with runtime.db.read_session() as s:
        return await load_actor(s, user.id)


async def make_offer(runtime: Any, make_user: Any, make_product: Any, *, brand: str = "team-brand", price: int = 9900, team_price: int = 6900, size: int = 2, stock: int = 20, **extra: Any) -> tuple[Any, Any, Any]:
    """(offer, variant, brand owner actor)."""
    owner = await make_user(brand=(brand, "owner"))
    variant = await make_product(brand, price=price, stock=stock)
    actor = await actor_of(runtime, owner)
    async with runtime.db.session() as s:
        offer, _warnings = await service.create_offer(s, runtime, actor, brand, OfferInput(variant_id=variant.id, team_price_minor=team_price, team_size=size, **extra))
        await s.commit()
    return offer, variant, actor


async def settle(runtime: Any) -> None:
    """Deliver committed events and run the jobs they start, a few rounds (a team's
    success is an event whose handler captures)."""
    for _ in range(4):
        await runtime.relay.relay_pending()
        await asyncio.to_thread(runtime.jobs.join)


async def open_and_pay(runtime: Any, user: Any, offer_id: int) -> service.Seat:
    actor = await actor_of(runtime, user)
    seat = await service.open_team(runtime, actor, offer_id, address=ADDRESS)
    await payments.pay(runtime, seat.checkout_token, actor, payment_method=CARD)
    await settle(runtime)
    return seat


async def join_and_pay(runtime: Any, user: Any, team_id: int) -> service.Seat:
    actor = await actor_of(runtime, user)
    seat = await service.join_team(runtime, actor, team_id, address=ADDRESS)
    await payments.pay(runtime, seat.checkout_token, actor, payment_method=CARD)
    await settle(runtime)
    return seat

"""A flash deal of 50 units and 1,000 buyers at once (on PostgreSQL; 200 on SQLite, whose
writers queue): exactly 50 sold, and every refused buyer is refused (409) before any
checkout or payment exists for her. Buyers are inserted as rows (signing 1,000 people up
would hash 1,000 passwords)."""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import func, insert, select

from core.auth.models import User
from core.auth.permissions import Actor
from core.errors import Conflict
from core.orders.models import Checkout, Order
from core.payments import service as payments
from core.payments.models import Payment
from core.testing import ADDRESS
from plugins.live import service
from plugins.live.models import DealClaim
from tests.plugins.live.helpers import CARD, handled, launched_and_running, live_room, make_deal

UNITS = 50
CROWD = {"postgresql": 1_000, "sqlite": 200}
SQLITE_IN_FLIGHT = 4  # SQLite has one writer: see tests/plugins/group_buy/test_concurrency.py


async def _buyers(runtime, n: int) -> list[Actor]:
    rows = [{"email": f"viewer{i}@example.com", "password_hash": "-", "display_name": f"viewer{i}", "locale": "en", "is_active": True, "auth_epoch": 0} for i in range(n)]
    async with runtime.db.session() as s:
        await s.execute(insert(User), rows)
        found = (await s.execute(select(User.id, User.email).where(User.email.like("viewer%@example.com")).order_by(User.id))).all()
        await s.commit()
    return [Actor(user_id=r.id, email=r.email, display_name=r.email.split("@")[0], locale="en", roles=frozenset({"shopper"})) for r in found]


async def test_a_crowd_buys_exactly_the_deals_units_and_refused_buyers_are_never_charged(zc_runtime, zc_make_user, zc_make_product):
    runtime = zc_runtime
    crowd = CROWD["sqlite" if runtime.db.is_sqlite else "postgresql"]
    room, variant, owner = await live_room(runtime, zc_make_user, zc_make_product, stock=UNITS + 30)
    deal = await make_deal(runtime, owner, room.id, variant.id, quantity=UNITS, per_customer_limit=1)
    await launched_and_running(runtime, owner, deal.id)
    buyers = await _buyers(runtime, crowd)
    gate = asyncio.Semaphore(SQLITE_IN_FLIGHT) if runtime.db.is_sqlite else None

    async def try_buy(actor: Actor) -> service.Purchase | Conflict:
        async with gate or contextlib.nullcontext():
            try:
                return await service.buy(runtime, actor, deal.id, address=ADDRESS)
            except Conflict as refused:
                return refused

    results = await asyncio.gather(*(try_buy(b) for b in buyers))
    won = [(b, r) for b, r in zip(buyers, results, strict=True) if isinstance(r, service.Purchase)]
    refused = [(b, r) for b, r in zip(buyers, results, strict=True) if isinstance(r, Conflict)]
    assert len(won) == UNITS and len(refused) == crowd - UNITS
    assert {str(r.detail) for _, r in refused} == {"this flash deal has sold out"}

    await asyncio.gather(*(payments.pay(runtime, p.checkout_token, b, payment_method=CARD) for b, p in won))
    await handled(runtime, "order.paid", "order.cancelled")
    refused_ids = [b.user_id for b, _ in refused]
    async with runtime.db.read_session() as s:
        paid = (await s.execute(select(func.count()).select_from(Order).where(Order.status == "paid"))).scalar_one()
        assert paid == UNITS
        assert (await s.execute(select(func.count()).select_from(DealClaim).where(DealClaim.status == "paid"))).scalar_one() == UNITS
        # a refused buyer has no open claim, no checkout and no payment
        assert (await s.execute(select(func.count()).select_from(DealClaim).where(DealClaim.user_id.in_(refused_ids), DealClaim.status != "closed"))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(Checkout).where(Checkout.user_id.in_(refused_ids)))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(Payment).join(Checkout, Checkout.id == Payment.checkout_id).where(Checkout.user_id.in_(refused_ids)))).scalar_one() == 0
        from plugins.live.models import FlashDeal

        ended = await s.get(FlashDeal, deal.id)
        assert await service.units_sold(s, ended) == UNITS and await service.units_left(s, ended) == 0

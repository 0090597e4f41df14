"""The live demo (the `seed_demo` hook, after the core's): Mia (creator@) hosts two rooms for
Camellia Skin, each made through the real services and the sandbox provider:

- "卸妆油专场" has ended: she pinned the cleansing oil, then the lip tint, and ran a flash
  deal of two bottles (one each) that Lin (shopper@) and Zhou (shopper2@) bought: sold out
  exactly. Its replay has product chapters (their times spread over the stream, as a real
  hour would have them).
- "今晚护肤直播" is live now with the cream and the oil pinned, and a flash deal on the
  cream ready for Mia to launch from her room console (/creator/live/me/rooms).

Purchases are paid through services with their own transactions (the provider is called
between them), so this commits the seed's work first. Idempotent: each room is seeded
only while none with its title exists.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from core.auth.models import User
from core.db import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime

log = logging.getLogger("zhongcao.live")

DEMO_BRAND = "camellia-skin"
DEMO_HOST = "mia.skin"
REPLAY_TITLE = "卸妆油专场 Cleansing oil special"
LIVE_TITLE = "今晚护肤直播 Tonight's skincare live"
DEMO_CARD = "5555 5555 5555 4444"  # sandbox
VIEWERS = (("shopper@demo.zhongcao.dev", "小林 Lin"), ("shopper2@demo.zhongcao.dev", "小周 Zhou"))
ADDRESSES = (
    {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "region": "SH", "country": "CN"},
    {"name": "周一一", "phone": "+86 137 0000 0000", "line1": "西湖区文三路 90 号", "city": "杭州", "region": "ZJ", "country": "CN"},
)


async def _actor(session: AsyncSession, user_id: int) -> Actor:
    from core.auth.service import load_actor

    actor = await load_actor(session, user_id)
    assert actor is not None
    return actor


async def _variant(session: AsyncSession, sku: str) -> tuple[int, int] | None:
    from core.catalog.models import Variant

    row = (await session.execute(select(Variant.id, Variant.product_id).where(Variant.sku == sku))).first()
    return (row.id, row.product_id) if row else None


async def seed_demo(session: AsyncSession, runtime: Runtime) -> None:
    from core.auth.service import signup
    from core.campaigns.models import CreatorProfile
    from core.defaults.demo import DEMO_PASSWORD
    from plugins.live.models import LiveRoom

    owner = (await session.execute(select(User).where(User.email == "brand@demo.zhongcao.dev"))).scalar_one_or_none()
    host = (await session.execute(select(CreatorProfile.user_id).where(CreatorProfile.handle == DEMO_HOST))).scalar_one_or_none()
    oil, lip, cream = await _variant(session, "CS-OIL-250"), await _variant(session, "CS-LIP-PEACH"), await _variant(session, "CS-CREAM-50")
    if owner is None or host is None or oil is None or lip is None or cream is None:
        return  # the core demo did not make what the rooms need
    viewers = []
    for email, name in VIEWERS:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
        if user is None:
            user = await signup(session, runtime, email=email, password=DEMO_PASSWORD, display_name=name)
        viewers.append(await _actor(session, user.id))
    brand_team, mia = await _actor(session, owner.id), await _actor(session, host)
    titles = set((await session.execute(select(LiveRoom.title).where(LiveRoom.title.in_((REPLAY_TITLE, LIVE_TITLE))))).scalars())
    await session.commit()
    if REPLAY_TITLE not in titles:
        await seed_replay(runtime, brand_team, mia, viewers, oil, lip)
    if LIVE_TITLE not in titles:
        await seed_live_room(runtime, brand_team, mia, cream, oil)


async def seed_replay(runtime: Runtime, brand_team: Actor, mia: Actor, viewers: list[Actor], oil: tuple[int, int], lip: tuple[int, int]) -> None:
    """An hour-long stream that ended: pins, a flash deal two viewers sold out, chapters."""
    from core.payments import service as payments
    from plugins.live import service
    from plugins.live.models import FlashDeal, LiveRoom, RoomEvent

    async with runtime.db.session() as s:
        room = await service.create_room(s, runtime, brand_team, DEMO_BRAND, title=REPLAY_TITLE, host_handle=DEMO_HOST, scheduled_at=utcnow() - timedelta(hours=26))
        await service.go_live(s, runtime, mia, room.id)
        await service.pin(s, mia, room.id, oil[1])
        deal = await service.create_deal(s, runtime, brand_team, room.id, service.DealInput(variant_id=oil[0], deal_price_minor=12_900, quantity=len(viewers), per_customer_limit=1, countdown_seconds=10, duration_seconds=300))
        await service.launch_deal(s, runtime, mia, deal.id)
        room_id, deal_id = room.id, deal.id
        await s.commit()
    now = utcnow()
    async with runtime.db.session() as s:  # past the countdown: the deal runs
        await s.execute(update(FlashDeal).where(FlashDeal.id == deal_id).values(starts_at=now - timedelta(seconds=1), ends_at=now + timedelta(minutes=5)))
        await s.commit()
    for viewer, address in zip(viewers, ADDRESSES, strict=False):
        bought = await service.buy(runtime, viewer, deal_id, address=address)
        await payments.pay(runtime, bought.checkout_token, viewer, payment_method=DEMO_CARD, provider_name="sandbox")
    async with runtime.db.session() as s:
        await service.stop_deal(s, mia, deal_id)
        await s.commit()
    await service.end_deal(runtime, deal_id)
    async with runtime.db.session() as s:
        await service.pin(s, mia, room_id, lip[1])
        await service.end_room(s, runtime, mia, room_id)
        await s.commit()
    # the stream as it happened a day ago: an hour, its moments spread over it
    started = utcnow() - timedelta(hours=25)
    moments = {"live": 0, "pin": 2 * 60, "deal_launched": 9 * 60, "deal_ended": 15 * 60, "ended": 60 * 60}
    async with runtime.db.session() as s:
        await s.execute(update(LiveRoom).where(LiveRoom.id == room_id).values(started_at=started, ended_at=started + timedelta(hours=1)))
        events = (await s.execute(select(RoomEvent).where(RoomEvent.room_id == room_id).order_by(RoomEvent.id))).scalars().all()
        pins = 0
        for event in events:
            seconds = moments.get(event.kind, 0)
            if event.kind == "pin":
                seconds, pins = (2 * 60, pins + 1) if pins == 0 else (31 * 60, pins + 1)
            elif event.kind == "unpin":
                seconds = 30 * 60 if event.product_id == oil[1] else 58 * 60
            event.offset_ms, event.at = seconds * 1000, started + timedelta(seconds=seconds)
        await s.commit()


async def seed_live_room(runtime: Runtime, brand_team: Actor, mia: Actor, cream: tuple[int, int], oil: tuple[int, int]) -> None:
    """A room on air now, two products pinned, a flash deal ready to launch."""
    from plugins.live import service

    async with runtime.db.session() as s:
        room = await service.create_room(s, runtime, brand_team, DEMO_BRAND, title=LIVE_TITLE, host_handle=DEMO_HOST)
        await service.go_live(s, runtime, mia, room.id)
        await service.pin(s, mia, room.id, oil[1])
        await service.pin(s, mia, room.id, cream[1])
        await service.create_deal(s, runtime, brand_team, room.id, service.DealInput(variant_id=cream[0], deal_price_minor=19_900, quantity=10, per_customer_limit=1, countdown_seconds=10, duration_seconds=600))
        await s.commit()


"""Rooms: scheduled, live, ended; who runs them; pins (only the room's brand's products,
three at once); and the timeline a replay's product chapters come from."""

from __future__ import annotations

import pytest

from core.errors import Conflict, NotFound, ValidationFailed
from plugins.live import service
from plugins.live.models import RoomStatus
from tests.plugins.live.helpers import actor_of, live_room


async def test_pins_are_the_rooms_brands_products_three_at_once_and_make_chapters(zc_runtime, zc_make_user, zc_make_product):
    room, first, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    products = [first.product_id] + [(await zc_make_product("live-brand", title=f"Product {i}")).product_id for i in range(3)]
    rival = await zc_make_product("rival-brand")
    stranger = await actor_of(zc_runtime, await zc_make_user())

    async def act(fn, *args):
        async with zc_runtime.db.session() as s:
            out = await fn(s, *args)
            await s.commit()
            return out

    for pid in products:
        room = await act(service.pin, owner, room.id, pid)
    assert room.pinned == [products[3], products[2], products[1]]  # the fourth pushed the first out
    again = await act(service.pin, owner, room.id, products[3])
    assert again.pinned == room.pinned  # pinning again changes nothing
    with pytest.raises(NotFound):  # another brand's product
        await act(service.pin, owner, room.id, rival.product_id)
    with pytest.raises(NotFound):  # a viewer cannot pin
        await act(service.pin, stranger, room.id, products[0])
    room = await act(service.unpin, owner, room.id, products[2])
    assert room.pinned == [products[3], products[1]]
    ended = await act(lambda s, *a: service.end_room(s, zc_runtime, *a), owner, room.id)
    assert ended.status == RoomStatus.ENDED and ended.pinned == []
    with pytest.raises(Conflict, match="live"):
        await act(service.pin, owner, room.id, products[0])

    async with zc_runtime.db.read_session() as s:
        events = await service.timeline(s, room.id)
    kinds = [e.kind for e in events]
    assert kinds[0] == "live" and kinds[-1] == "ended" and kinds.count("pin") == 4 and kinds.count("unpin") == 4
    assert all(a.offset_ms <= b.offset_ms for a, b in zip(events, events[1:]))
    chapters = service.chapters(events)
    assert [c.product_id for c in chapters] == products and all(c.end_ms is not None and c.end_ms >= c.start_ms for c in chapters)


async def test_who_may_make_and_run_a_room(zc_runtime, zc_make_user, zc_make_product):
    from sqlalchemy import select

    from core.campaigns import profiles
    from plugins.live.models import LiveRoom

    owner = await actor_of(zc_runtime, await zc_make_user(brand=("glow", "owner")))
    host_user = await zc_make_user(roles=("creator",))
    host = await actor_of(zc_runtime, host_user)
    async with zc_runtime.db.session() as s:
        await profiles.save_profile(s, zc_runtime, host, {"handle": "mia.live", "followers": 1000, "avg_engagement": 10})
        await s.commit()
    async with zc_runtime.db.session() as s:
        room = await service.create_room(s, zc_runtime, owner, "glow", title="  Mia x Glow  ", host_handle="@Mia.Live")
        await s.commit()
    assert (room.title, room.host_user_id, room.status) == ("Mia x Glow", host_user.id, RoomStatus.SCHEDULED)
    assert room.playback_url.endswith(f"/{room.ingest_key}.m3u8") and len(room.ingest_key) >= 24
    for bad, words in (({"title": ""}, "title"), ({"title": "x" * 121}, "title"), ({"title": "ok", "host_handle": "nobody"}, "handle"), ({"title": "ok", "cover_url": "javascript:x"}, "cover")):
        with pytest.raises(ValidationFailed, match=words):
            async with zc_runtime.db.session() as s:
                await service.create_room(s, zc_runtime, owner, "glow", **bad)
    with pytest.raises(NotFound):  # not her brand
        async with zc_runtime.db.session() as s:
            await service.create_room(s, zc_runtime, host, "glow", title="mine")
    # the host runs it; a moderator she adds cannot go live, a co-host can
    mod_user, co_user = await zc_make_user(), await zc_make_user()
    async with zc_runtime.db.session() as s:
        await service.add_member(s, host, room.id, mod_user.email, "moderator")
        await service.add_member(s, owner, room.id, co_user.email, "co_host")
        await s.commit()
    with pytest.raises(NotFound):
        async with zc_runtime.db.session() as s:
            await service.go_live(s, zc_runtime, await actor_of(zc_runtime, mod_user), room.id)
    async with zc_runtime.db.session() as s:
        live = await service.go_live(s, zc_runtime, await actor_of(zc_runtime, co_user), room.id)
        await s.commit()
    assert live.status == RoomStatus.LIVE and live.started_at is not None
    async with zc_runtime.db.read_session() as s:
        assert [r.id for r in await service.rooms(s, status=RoomStatus.LIVE)] == [room.id]
        assert (await s.execute(select(LiveRoom.id).where(LiveRoom.host_user_id == host_user.id))).scalar_one() == room.id

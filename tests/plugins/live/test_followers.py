"""A room that goes live tells its host's followers and its brand's (through the notes
plugin's `follower_ids` hook) with one notice each, however often the event runs."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import select, update

from core.db import utcnow
from core.notices.models import Notice
from core.testing import api_token, html_login
from plugins.live import service
from plugins.live.models import LiveRoom
from plugins.notes import profiles
from tests.plugins.live.helpers import actor_of, handled


async def scheduled_room(runtime, make_user, *, brand="fan-brand"):
    owner = await make_user(brand=(brand, "owner"))
    actor = await actor_of(runtime, owner)
    async with runtime.db.session() as s:
        room = await service.create_room(s, runtime, actor, brand, title="周五直播 Friday live", cover_url="/media/cover.jpg")
        handle = (await profiles.ensure_profile(s, owner.id)).handle
        await s.commit()
    return room, owner, handle


async def notices_by_user(runtime) -> dict[int, list[Notice]]:
    async with runtime.db.read_session() as s:
        found: dict[int, list[Notice]] = {}
        for n in (await s.execute(select(Notice).order_by(Notice.id))).scalars():
            found.setdefault(n.user_id, []).append(n)
        return found


async def test_followers_of_the_host_and_of_the_brand_are_told_once(zc_client, zc_runtime, zc_make_user):
    room, owner, handle = await scheduled_room(zc_runtime, zc_make_user)
    host_fan = await zc_make_user("hostfan@example.com")
    brand_fan = await zc_make_user("brandfan@example.com")
    both_fan = await zc_make_user("bothfan@example.com")
    stranger = await zc_make_user("stranger@example.com")
    async with zc_runtime.db.session() as s:
        for fan in (host_fan, both_fan):
            await profiles.follow(s, zc_runtime, fan.id, handle)
        for fan in (brand_fan, both_fan):
            await profiles.follow_brand(s, zc_runtime, fan.id, "fan-brand")
        await s.commit()
    assert await notices_by_user(zc_runtime) == {}, "a scheduled room tells nobody yet"

    headers = await api_token(zc_client, owner.email)
    response = await zc_client.post(f"/api/v1/live/rooms/{room.id}/live", headers=headers)
    assert response.status_code == 200, response.text
    await handled(zc_runtime, "live.room_live")
    told = await notices_by_user(zc_runtime)
    assert set(told) == {host_fan.id, brand_fan.id, both_fan.id}, "nor the stranger, nor the host herself"
    assert all(len(ns) == 1 for ns in told.values()), "one notice for a fan of both the host and the brand"
    (notice,) = told[host_fan.id]
    assert (notice.kind, notice.url, notice.image_url) == ("live.room_live", f"/live/{room.id}", "/media/cover.jpg")
    assert notice.message == "{host} is live: {title}" and notice.args["title"] == "周五直播 Friday live"
    assert told[brand_fan.id][0].message == "{brand} is live: {title}" and told[brand_fan.id][0].args["brand"] == "Fan Brand"

    # going live again, a retried event: nobody is told twice
    assert (await zc_client.post(f"/api/v1/live/rooms/{room.id}/live", headers=headers)).status_code == 200
    assert await service.tell_followers(zc_runtime, room.id) == 0
    assert {u: len(ns) for u, ns in (await notices_by_user(zc_runtime)).items()} == {host_fan.id: 1, brand_fan.id: 1, both_fan.id: 1}

    # the fan sees it in the top bar and on her notices page, in her language, leading to the room
    await html_login(zc_client, host_fan.email)
    assert 'data-testid="notice-count">1<' in (await zc_client.get("/")).text
    page = await zc_client.get("/account/notices")
    assert f"{owner.email.split('@')[0]} 开播啦：周五直播 Friday live" in page.text and f'href="/live/{room.id}"' in page.text
    api = (await zc_client.get("/api/v1/me/notices", headers=await api_token(zc_client, brand_fan.email))).json()
    assert [n["text"] for n in api["items"]] == ["Fan Brand 正在直播：周五直播 Friday live"]


async def test_a_room_that_ended_before_the_event_ran_tells_nobody(zc_runtime, zc_make_user):
    room, owner, handle = await scheduled_room(zc_runtime, zc_make_user)
    fan = await zc_make_user()
    actor = await actor_of(zc_runtime, owner)
    async with zc_runtime.db.session() as s:
        await profiles.follow(s, zc_runtime, fan.id, handle)
        await service.go_live(s, zc_runtime, actor, room.id)
        await service.end_room(s, zc_runtime, actor, room.id)
        await s.commit()
    assert await service.tell_followers(zc_runtime, room.id) == 0
    await handled(zc_runtime, "live.room_live")
    assert await notices_by_user(zc_runtime) == {}


async def test_every_follower_is_told_across_pages(zc_runtime, zc_make_user, monkeypatch):
    room, owner, handle = await scheduled_room(zc_runtime, zc_make_user)
    fans = [await zc_make_user() for _ in range(7)]
    async with zc_runtime.db.session() as s:
        for fan in fans:
            await profiles.follow(s, zc_runtime, fan.id, handle)
        # on air without the event (its handler would tell them too, racing this test's own call)
        await s.execute(update(LiveRoom).where(LiveRoom.id == room.id).values(status="live", started_at=utcnow()))
        await s.commit()
    monkeypatch.setattr(service, "FOLLOWERS_PER_PAGE", 3)
    assert await service.tell_followers(zc_runtime, room.id) == 7
    assert set(await notices_by_user(zc_runtime)) == {f.id for f in fans}


async def test_pages_merge_every_implementation_without_skipping(monkeypatch):
    """Two follower sources page at their own pace: the next page starts after the lowest
    last id of those that filled theirs."""
    sources = [list(range(1, 40, 2)), [4, 8, 50, 51, 52, 53, 60]]  # odd ids 1..39; ids racing ahead

    def follower_ids(user_id, brand_id, after, limit, runtime):
        return [[i for i in source if i > after][:limit] for source in sources]

    runtime = SimpleNamespace(pm=SimpleNamespace(hook=SimpleNamespace(follower_ids=follower_ids)))
    monkeypatch.setattr(service, "FOLLOWERS_PER_PAGE", 5)
    seen = set()
    async for ids in service._follower_pages(runtime, user_id=1):  # noqa: SLF001 - the paging itself is under test
        seen.update(ids)
    assert seen == set(sources[0]) | set(sources[1])

    no_notes = SimpleNamespace(pm=SimpleNamespace(hook=SimpleNamespace()))
    assert [ids async for ids in service._follower_pages(no_notes, user_id=1)] == [], "without the notes plugin nobody is told"  # noqa: SLF001

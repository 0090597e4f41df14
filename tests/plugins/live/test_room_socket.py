"""The real-time room over WebSocket: chat (signed in, rate limited, length-checked and
keyword-filtered), likes summed, the viewer count, pins and deal updates pushed to
everyone; moderators delete, mute, ban and set slow mode; guests watch read-only."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from core.testing import ADDRESS, api_token, html_login
from plugins.live import room as live_room_module
from tests.plugins.live.helpers import actor_of, launched_and_running, live_room, make_deal

WAIT = 5.0


async def session_cookie(client: Any, email: str) -> dict[str, str]:
    """A browser's session for `email` (the storefront's cookie), as a header."""
    client.cookies.clear()
    await html_login(client, email)
    value = client.cookies.get("zc_session")
    client.cookies.clear()
    assert value
    return {"cookie": f"zc_session={value}"}


async def receive(ws: Any, kind: str, timeout: float = WAIT) -> dict[str, Any]:
    """The next message of this type (others, e.g. viewer counts, are skipped). A frame
    holds one message or, when the room is busy, an array of them."""
    pending = ws.__dict__.setdefault("zc_pending", [])
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        while pending:
            message = pending.pop(0)
            if message["type"] == kind:
                return message
        left = deadline - asyncio.get_running_loop().time()
        assert left > 0, f"no {kind!r} message within {timeout} s"
        frame = await asyncio.to_thread(ws.receive_json, timeout=left)
        pending.extend(frame if isinstance(frame, list) else [frame])


@contextlib.asynccontextmanager
async def connected(client: Any, room_id: int, headers: dict[str, str] | None = None):
    ws = await client.websocket_connect(f"/live/rooms/{room_id}/ws", headers=headers or {})
    await asyncio.to_thread(ws.__enter__)  # the test session's connect blocks: off the test's loop
    try:
        hello = await receive(ws, "hello")
        yield ws, hello
    finally:
        await asyncio.to_thread(ws.__exit__, None, None, None)


async def test_viewers_chat_like_and_see_pins_and_deals(zc_client, zc_runtime, zc_make_user, zc_make_product, monkeypatch):
    monkeypatch.setattr(live_room_module, "VIEWERS_EVERY", 0.1)
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    staff = await api_token(zc_client, owner.email)
    mia = await zc_make_user("mia@example.com")
    mia_cookie = await session_cookie(zc_client, mia.email)

    async with connected(zc_client, room.id, mia_cookie) as (mia_ws, hello), connected(zc_client, room.id) as (guest_ws, guest_hello):
        assert hello["room"]["status"] == "live" and hello["you"]["user_id"] == mia.id and hello["you"]["can_chat"]
        assert guest_hello["you"]["user_id"] is None and not guest_hello["you"]["can_chat"]
        assert (await receive(guest_ws, "viewers"))["count"] >= 1

        mia_ws.send_json({"type": "chat", "text": "  这个色号好看吗？ Is this shade nice?  "})
        for ws in (mia_ws, guest_ws):
            said = await receive(ws, "chat")
            assert (said["text"], said["user_id"], said["name"]) == ("这个色号好看吗？ Is this shade nice?", mia.id, "mia")
        # refusals come back to the sender only
        mia_ws.send_json({"type": "chat", "text": "again"})
        assert (await receive(mia_ws, "error"))["code"] == "rate_limited"
        for frame, code in (({"type": "chat", "text": "   "}, "empty"), ({"type": "chat", "text": "好" * 201}, "too_long"), ({"type": "dance"}, "bad_frame")):
            mia_ws.send_json(frame)
            assert (await receive(mia_ws, "error"))["code"] == code
        mia_ws.send_text("not json")
        assert (await receive(mia_ws, "error"))["code"] == "bad_frame"
        guest_ws.send_json({"type": "chat", "text": "hi"})
        assert (await receive(guest_ws, "error"))["code"] == "login_required"

        # likes from both are summed into one announcement (or a few), never one per tap
        guest_ws.send_json({"type": "like", "count": 3})
        mia_ws.send_json({"type": "like", "count": 2})
        total = 0
        while total < 5:
            total = (await receive(guest_ws, "likes"))["total"]
        assert total == 5

        # the host pins a product and launches a deal: both viewers see it at once
        pinned = await zc_client.post(f"/api/v1/live/rooms/{room.id}/pins", json={"product_id": variant.product_id}, headers=staff)
        assert pinned.status_code == 200, pinned.text
        for ws in (mia_ws, guest_ws):
            assert (await receive(ws, "pins"))["pinned"] == [variant.product_id]
        deal = await make_deal(zc_runtime, owner, room.id, variant.id, quantity=3)
        await launched_and_running(zc_runtime, owner, deal.id)
        from plugins.live import service

        await service.buy(zc_runtime, await actor_of(zc_runtime, mia), deal.id, address=ADDRESS)
        update = await receive(guest_ws, "deal")
        assert (update["deal"]["id"], update["deal"]["left"], update["deal"]["state"]) == (deal.id, 2, "running")


async def test_viewers_see_a_deal_turn_buyable_when_its_countdown_is_over(zc_client, zc_runtime, zc_make_user, zc_make_product, monkeypatch):
    """Launching schedules the start's announcement: an open page's card turns from the
    countdown to "buy" without a reload (the start job announces it running)."""
    from plugins.live import service
    from tests.plugins.live.helpers import set_times

    scheduled: list[tuple[str, float, tuple[Any, ...]]] = []
    send_later = zc_runtime.jobs.send_later
    monkeypatch.setattr(zc_runtime.jobs, "send_later", lambda name, delay, *args: (scheduled.append((name, delay, args)), send_later(name, delay, *args))[1])
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    staff = await api_token(zc_client, owner.email)
    deal = await make_deal(zc_runtime, owner, room.id, variant.id, quantity=3)
    async with connected(zc_client, room.id) as (guest_ws, _):
        launched = await zc_client.post(f"/api/v1/live/deals/{deal.id}/launch", headers=staff)
        assert launched.status_code == 200, launched.text
        assert (await receive(guest_ws, "deal"))["deal"]["state"] == "countdown"
        starts = [delay for name, delay, args in scheduled if name == service.START_DEAL_JOB and args == (deal.id,)]
        assert starts and 9 < starts[0] <= deal.countdown_seconds + 1, scheduled  # at the countdown's end
        await set_times(zc_runtime, deal.id, starts_in=0.3, ends_in=120)  # (rather than wait the countdown out)
        assert await service.start_deal(zc_runtime, deal.id)  # the job's work: it waits out what is left
        update = await receive(guest_ws, "deal")
        assert (update["deal"]["id"], update["deal"]["state"], update["deal"]["left"]) == (deal.id, "running", 3)
        await set_times(zc_runtime, deal.id, starts_in=-60, ends_in=-1)
        assert not await service.start_deal(zc_runtime, deal.id)  # over already: nothing to say


async def test_moderators_delete_mute_ban_and_slow_the_chat(zc_client, zc_runtime, zc_make_user, zc_make_product):
    room, _variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    owner_user_cookie = await session_cookie(zc_client, owner.email)
    leo, ann = await zc_make_user("leo@example.com"), await zc_make_user("ann@example.com")
    leo_cookie, ann_cookie = await session_cookie(zc_client, leo.email), await session_cookie(zc_client, ann.email)

    async with connected(zc_client, room.id, owner_user_cookie) as (mod, hello), connected(zc_client, room.id, leo_cookie) as (leo_ws, _), connected(zc_client, room.id, ann_cookie) as (ann_ws, _):
        assert "brand" in hello["you"]["roles"] and "host" in hello["you"]["roles"]
        leo_ws.send_json({"type": "chat", "text": "spam spam"})
        said = await receive(mod, "chat")
        # a viewer cannot moderate; the host cannot be banned
        ann_ws.send_json({"type": "delete", "id": said["id"]})
        assert (await receive(ann_ws, "error"))["code"] == "forbidden"
        mod.send_json({"type": "ban", "user_id": owner.user_id})
        assert (await receive(mod, "error"))["code"] == "forbidden"

        mod.send_json({"type": "delete", "id": said["id"]})
        assert (await receive(ann_ws, "deleted"))["id"] == said["id"]
        mod.send_json({"type": "ban", "user_id": leo.id})
        assert (await receive(ann_ws, "banned"))["user_id"] == leo.id
        await asyncio.sleep(2.1)  # past leo's own rate limit: what refuses him now is the ban
        leo_ws.send_json({"type": "chat", "text": "let me back"})
        assert (await receive(leo_ws, "error"))["code"] == "banned"
        mod.send_json({"type": "mute", "user_id": ann.id, "minutes": 5})
        assert (await receive(ann_ws, "muted"))["until"]
        ann_ws.send_json({"type": "chat", "text": "hello?"})
        assert (await receive(ann_ws, "error"))["code"] == "muted"

        mod.send_json({"type": "slow_mode", "seconds": 1})
        assert (await receive(mod, "error"))["code"] == "bad_frame"  # 2-300 s
        mod.send_json({"type": "slow_mode", "seconds": 30})
        assert (await receive(leo_ws, "slow_mode"))["seconds"] == 30
        mod.send_json({"type": "chat", "text": "欢迎 welcome"})
        await receive(mod, "chat")
        mod.send_json({"type": "chat", "text": "second"})
        assert "30 s" in (await receive(mod, "error"))["message"]


async def test_the_notes_keyword_filter_applies_and_bad_connections_are_closed(zc_client, zc_runtime, zc_make_user, zc_make_product):
    from litestar.exceptions import WebSocketDisconnect

    room, _variant, _owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    viewer = await zc_make_user()
    cookie = await session_cookie(zc_client, viewer.email)
    async with connected(zc_client, room.id, cookie) as (ws, _):
        ws.send_json({"type": "chat", "text": "cheap replica watches here"})
        assert (await receive(ws, "error"))["code"] == "refused"
    for path, headers in ((f"/live/rooms/{room.id + 99}/ws", {}), (f"/live/rooms/{room.id}/ws", {**cookie, "origin": "https://evil.example"})):
        try:
            ws = await zc_client.websocket_connect(path, headers=headers)
            await asyncio.to_thread(ws.__enter__)
            await asyncio.to_thread(ws.receive_json, timeout=WAIT)
            raise AssertionError("the socket should have been closed")
        except WebSocketDisconnect as closed:
            assert closed.code in (4403, 4404)

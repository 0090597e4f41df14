"""Two app instances on one Redis, as two web processes behind a proxy: a viewer's chat
on one reaches a viewer on the other (Litestar channels, Redis pub/sub backend), and so
does a pin made through the other's API; the viewer count is both processes' and the chat
rate limit holds whichever process a viewer talks to."""

from __future__ import annotations

import os

import pytest
from litestar.testing import AsyncTestClient

from core.app import create_app
from core.runtime import create_runtime
from core.testing import api_token
from plugins.live import room as live_room_module
from tests.plugins.live.helpers import live_room
from tests.plugins.live.test_room_socket import connected, receive, session_cookie

REDIS_URL = os.environ.get("ZHONGCAO_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(not REDIS_URL, reason="ZHONGCAO_TEST_REDIS_URL not set (scripts/test.sh sets it)")


async def test_a_message_on_one_process_reaches_a_viewer_on_the_other(zc_runtime, zc_settings, zc_make_user, zc_make_product):
    settings = zc_settings.model_copy(update={"redis_url": REDIS_URL})
    room, variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    viewer = await zc_make_user()
    first_rt, second_rt = create_runtime(settings), create_runtime(settings)
    try:
        async with AsyncTestClient(app=create_app(runtime=first_rt), base_url="http://one.local") as one, AsyncTestClient(app=create_app(runtime=second_rt), base_url="http://two.local") as two:
            cookie = await session_cookie(one, viewer.email)
            staff = await api_token(two, owner.email)
            async with connected(one, room.id, cookie) as (talker, _), connected(two, room.id) as (listener, _):
                talker.send_json({"type": "chat", "text": "你好，另一台服务器 hello from process one"})
                heard = await receive(listener, "chat")
                assert heard["text"] == "你好，另一台服务器 hello from process one" and heard["user_id"] == viewer.id
                pinned = await two.post(f"/api/v1/live/rooms/{room.id}/pins", json={"product_id": variant.product_id}, headers=staff)
                assert pinned.status_code == 200, pinned.text
                assert (await receive(talker, "pins"))["pinned"] == [variant.product_id]
    finally:
        await first_rt.stop()
        await second_rt.stop()


async def receive_count(ws, count: int) -> None:
    while (await receive(ws, "viewers"))["count"] != count:
        pass


async def test_the_viewer_count_and_the_chat_limit_are_the_deployments(zc_runtime, zc_settings, zc_make_user, zc_make_product, monkeypatch):
    monkeypatch.setattr(live_room_module, "VIEWERS_EVERY", 0.1)
    settings = zc_settings.model_copy(update={"redis_url": REDIS_URL})
    room, _variant, _owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    viewer = await zc_make_user()
    first_rt, second_rt = create_runtime(settings), create_runtime(settings)
    try:
        async with AsyncTestClient(app=create_app(runtime=first_rt), base_url="http://one.local") as one, AsyncTestClient(app=create_app(runtime=second_rt), base_url="http://two.local") as two:
            cookie = await session_cookie(one, viewer.email)
            async with connected(one, room.id, cookie) as (on_one, _), connected(two, room.id) as (guest_on_two, _):
                await receive_count(guest_on_two, 2)  # one viewer on each process
                await receive_count(on_one, 2)
                on_one.send_json({"type": "chat", "text": "first"})
                assert (await receive(guest_on_two, "chat"))["text"] == "first"
                async with connected(two, room.id, cookie) as (on_two, _):
                    on_two.send_json({"type": "chat", "text": "again at once, through the other process"})
                    refused = await receive(on_two, "error")
                    assert refused["code"] == "rate_limited", refused
                    await receive_count(guest_on_two, 3)
                await receive_count(guest_on_two, 2)
    finally:
        await first_rt.stop()
        await second_rt.stop()


async def test_a_ban_and_slow_mode_made_on_one_process_hold_on_the_other(zc_runtime, zc_settings, zc_make_user, zc_make_product):
    """Each process checks chat against the room's rules as it last heard them (no database
    read per message): a change made through one process reaches the other's at once."""
    settings = zc_settings.model_copy(update={"redis_url": REDIS_URL})
    room, _variant, owner = await live_room(zc_runtime, zc_make_user, zc_make_product)
    ann, leo = await zc_make_user(), await zc_make_user()
    first_rt, second_rt = create_runtime(settings), create_runtime(settings)
    try:
        async with AsyncTestClient(app=create_app(runtime=first_rt), base_url="http://one.local") as one, AsyncTestClient(app=create_app(runtime=second_rt), base_url="http://two.local") as two:
            owner_cookie = await session_cookie(one, owner.email)
            ann_cookie, leo_cookie = await session_cookie(two, ann.email), await session_cookie(two, leo.email)
            async with connected(one, room.id, owner_cookie) as (mod, _), connected(two, room.id, ann_cookie) as (ann_ws, _), connected(two, room.id, leo_cookie) as (leo_ws, _):
                ann_ws.send_json({"type": "chat", "text": "hello"})  # process two now holds the room's rules
                assert (await receive(mod, "chat"))["text"] == "hello"
                mod.send_json({"type": "ban", "user_id": leo.id})
                assert (await receive(leo_ws, "banned"))["user_id"] == leo.id
                leo_ws.send_json({"type": "chat", "text": "let me in"})
                assert (await receive(leo_ws, "error"))["code"] == "banned"
                mod.send_json({"type": "slow_mode", "seconds": 30})
                assert (await receive(ann_ws, "slow_mode"))["seconds"] == 30
                assert second_rt._live_hub.rules[room.id].interval_seconds == 30  # heard, not read again
    finally:
        await first_rt.stop()
        await second_rt.stop()

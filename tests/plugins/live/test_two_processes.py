"""Two app instances on one Redis, as two web processes behind a proxy: a viewer's chat
on one reaches a viewer on the other (Litestar channels, Redis pub/sub backend), and so
does a pin made through the other's API."""

from __future__ import annotations

import os

import pytest
from litestar.testing import AsyncTestClient

from core.app import create_app
from core.runtime import create_runtime
from core.testing import api_token
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

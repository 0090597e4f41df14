"""The baseline for bench/live_fanout.py: a bare Litestar app whose one WebSocket route
publishes every text frame it receives to one channel (ChannelsPlugin, memory backend,
the same bounded per-subscriber buffer as Zhongcao's) and sends that channel to every
socket. No session, no checks, no database: the floor a room's fan-out stands on."""

from __future__ import annotations

import json

from litestar import Litestar, WebSocket, get, websocket
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.exceptions import WebSocketDisconnect

CHANNEL = "room"


@get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@websocket("/room")
async def room(socket: WebSocket, channels: ChannelsPlugin) -> None:
    await socket.accept()
    async with channels.start_subscription([CHANNEL]) as subscriber, subscriber.run_in_background(socket.send_text):
        await socket.send_text(json.dumps({"type": "hello"}))
        while True:
            try:
                raw = await socket.receive_text()
            except WebSocketDisconnect:
                break
            channels.publish(raw.encode(), CHANNEL)


app = Litestar(
    route_handlers=[health, room],
    plugins=[ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True, subscriber_max_backlog=500, subscriber_backlog_strategy="dropleft")],
    debug=False,
)

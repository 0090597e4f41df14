"""Real-time fan-out for plugins: publish a message to a channel that WebSocket handlers
subscribe to (Litestar channels: the memory backend in embedded mode, Redis pub/sub in
production, so a message reaches every web process).

`publish` may be called from anywhere the runtime is: a request handler (on the app's
loop), a job (on the job thread's loop), or a worker process without any app (Redis
only). The app's ChannelsPlugin is not thread-safe, so from another loop the message is
handed to the app's loop with `call_soon_threadsafe`.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.channels import ChannelsPlugin

    from core.runtime import Runtime

# Litestar's subscriber buffer: a client that reads slower than the room talks keeps only
# the newest messages (the oldest are dropped), so it never holds the room back.
SUBSCRIBER_BACKLOG = 500


def channels_of(app: Litestar) -> ChannelsPlugin:
    from litestar.channels import ChannelsPlugin

    return app.plugins.get(ChannelsPlugin)


def attach(runtime: Runtime, app: Litestar) -> None:
    """The app's lifespan started on this loop: publish through its channels from now."""
    runtime.realtime = (channels_of(app), asyncio.get_running_loop())


def detach(runtime: Runtime) -> None:
    runtime.realtime = None


def encode(data: Any) -> bytes:
    return data if isinstance(data, bytes) else msgspec.json.encode(data)


async def publish(runtime: Runtime, channel: str, data: Any) -> None:
    """Send `data` (JSON-encodable) to every subscriber of `channel`, in every process."""
    payload = encode(data)
    attached = getattr(runtime, "realtime", None)
    if attached is not None:
        plugin, loop = attached
        if loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            plugin.publish(payload, channel)
        else:
            loop.call_soon_threadsafe(plugin.publish, payload, channel)
        return
    if runtime.settings.redis_url:  # a worker process: no app, the same Redis channels
        if runtime._realtime_redis is None:  # noqa: SLF001 - the runtime closes it in stop()
            from redis.asyncio import Redis

            runtime._realtime_redis = Redis.from_url(runtime.settings.redis_url)  # noqa: SLF001
        await runtime._realtime_redis.publish(channel, payload)  # noqa: SLF001


def channel_name(runtime: Runtime, *parts: Any) -> str:
    """A channel of this deployment (its queue namespace first: two deployments, or two
    test runs, sharing a Redis never hear each other)."""
    return ":".join([runtime.settings.queue_namespace, *map(str, parts)])

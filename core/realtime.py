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
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from itertools import islice
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.channels import ChannelsPlugin

    from core.runtime import Runtime

log = logging.getLogger("zhongcao.realtime")

# Messages a reader may fall behind by: a client that reads slower than the room talks
# keeps only the newest (the oldest are dropped), so it never holds the room back.
SUBSCRIBER_BACKLOG = 500
# A Fanout sends each of its sockets at most one frame this often (what arrived meanwhile,
# batched); a message after a quiet spell goes out at once.
FLUSH_EVERY = 0.05


SERVER_SEND = "zhongcao.server_send"


def keep_server_send(app: Any) -> Any:
    """Middleware (first in a surface's list): keep a WebSocket's send as the server gave
    it, before the wrappers of the middleware inside (session, metrics), which only act on
    HTTP responses but cost a call each on every frame: a Fanout sends thousands a second."""

    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            scope[SERVER_SEND] = send
        await app(scope, receive, send)

    return middleware


def server_send(socket: Any) -> Callable[[Any], Awaitable[None]]:
    """The send to give `Fanout.join` for a Litestar WebSocket."""
    return socket.scope.get(SERVER_SEND) or socket.send


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


class Fanout:
    """One web process's delivery of a channel to its WebSockets.

    Subscribing each socket to the channel costs a queue, a task wake-up and a send per
    message per socket: with a thousand viewers in a room that talks, the process spends its
    time in sends. Here the process subscribes once per channel, keeps what arrives in one
    ring shared by the channel's sockets, and sends each socket, at most every
    `flush_every` seconds, everything it has not had yet in one frame: the message itself
    when there is one, a JSON array of them when several arrived. Each socket has its own
    sender task and place in the ring, so a client that reads slowly falls behind without
    holding the others back, and past `backlog` messages it loses the oldest.

    `observe`, if given, sees each message (its JSON bytes) once per process as it arrives,
    before any socket: the place to keep what the process must know of the channel."""

    def __init__(
        self, plugin: ChannelsPlugin, channel: str, *, backlog: int = SUBSCRIBER_BACKLOG,
        flush_every: float = FLUSH_EVERY, observe: Callable[[bytes], None] | None = None,
    ) -> None:  # fmt: skip
        self.plugin, self.channel, self.flush_every, self.observe = plugin, channel, flush_every, observe
        self._ring: deque[bytes] = deque(maxlen=backlog)
        self._head = 0  # how many messages have arrived
        self._flushed = 0  # how many of them the sockets may be sent
        self._frames: dict[int, str | None] = {}  # a reader's place -> its frame, for the current flush
        self._waiters: list[asyncio.Future[None]] = []
        self._senders: dict[int, asyncio.Task[None]] = {}
        self._last_flush = 0.0
        self._flush_at: asyncio.TimerHandle | None = None
        self._pump: asyncio.Task[None] | None = None
        self._started: asyncio.Task[None] | None = None
        self._subscriber: Any = None

    def start(self) -> Awaitable[None]:
        """Subscribe (once, however many sockets wait for it)."""
        if self._started is None:
            self._started = asyncio.get_running_loop().create_task(self._subscribe())
        return asyncio.shield(self._started)

    async def _subscribe(self) -> None:
        self._subscriber = await self.plugin.subscribe([self.channel])
        self._pump = asyncio.get_running_loop().create_task(self._receive(), name=f"fanout {self.channel}")

    async def close(self) -> None:
        if self._started is not None:
            await asyncio.gather(self._started, return_exceptions=True)
        for task in [*self._senders.values(), *([self._pump] if self._pump else [])]:
            task.cancel()
        if self._flush_at is not None:
            self._flush_at.cancel()
        self._senders.clear()
        if self._subscriber is not None:
            subscriber, self._subscriber = self._subscriber, None
            await self.plugin.unsubscribe(subscriber)

    def __len__(self) -> int:
        return len(self._senders)

    @property
    def place(self) -> int:
        """Where the channel is now: `join(send, since=place)` delivers what arrives after."""
        return self._head

    def join(self, send: Callable[[Any], Awaitable[None]], since: int | None = None) -> int:
        """Deliver to one socket (`send` is its ASGI send) what arrives after `since` (by
        default, after now); returns its key for `leave`."""
        task = asyncio.get_running_loop().create_task(self._deliver(send, self._head if since is None else since))
        key = id(task)
        self._senders[key] = task
        return key

    def leave(self, key: int) -> None:
        task = self._senders.pop(key, None)
        if task is not None:
            task.cancel()

    async def _receive(self) -> None:
        async for payload in self._subscriber.iter_events():
            if self.observe is not None:
                try:
                    self.observe(payload)
                except Exception:  # noqa: BLE001 - a bad message must not stop the channel
                    log.exception("observing a message of %s failed", self.channel)
            self._ring.append(payload)
            self._head += 1
            if self._flush_at is None:
                wait = self._last_flush + self.flush_every - time.monotonic()
                if wait <= 0:
                    self._flush()
                else:
                    self._flush_at = asyncio.get_running_loop().call_later(wait, self._flush)

    def _flush(self) -> None:
        self._flush_at = None
        self._last_flush = time.monotonic()
        self._flushed = self._head
        self._frames.clear()
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def _frame(self, place: int) -> str | None:
        """What a reader at `place` is sent now (None: newer messages, not flushed yet,
        have pushed everything flushed out of the ring; it catches up at the next flush)."""
        if place in self._frames:
            return self._frames[place]
        end = len(self._ring) - (self._head - self._flushed)  # the ring's flushed part ends here
        behind = min(self._flushed - place, end)  # beyond the ring: the oldest are lost
        frame = None
        if behind > 0:
            parts = [p.decode() for p in islice(self._ring, end - behind, end)]
            frame = parts[0] if len(parts) == 1 else "[" + ",".join(parts) + "]"
        self._frames[place] = frame
        return frame

    async def _deliver(self, send: Callable[[Any], Awaitable[None]], place: int) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                if place >= self._flushed:
                    waiter = loop.create_future()
                    self._waiters.append(waiter)
                    await waiter
                    continue
                frame, place = self._frame(place), self._flushed
                if frame is not None:
                    await send({"type": "websocket.send", "text": frame})
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the socket went away: its handler notices and leaves
            return

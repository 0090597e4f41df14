"""core.realtime.Fanout: one subscription per channel per process, delivered to each socket
in frames batched per flush, in order, with a slow socket falling behind alone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.memory import MemoryChannelsBackend

from core import realtime

CHANNEL = "test:room"


class Socket:
    """A socket's ASGI send that records the messages of each frame it was sent."""

    def __init__(self) -> None:
        self.frames: list[list[Any]] = []
        self.arrived = asyncio.Event()
        self.gate: asyncio.Event | None = None  # set: a client that does not read until opened

    async def send(self, event: dict[str, Any]) -> None:
        assert event["type"] == "websocket.send"
        if self.gate is not None:
            await self.gate.wait()
        data = json.loads(event["text"])
        self.frames.append(data if isinstance(data, list) else [data])
        self.arrived.set()

    @property
    def messages(self) -> list[Any]:
        return [m for frame in self.frames for m in frame]

    async def until(self, count: int, timeout: float = 3.0) -> None:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def plugin():
    channels = ChannelsPlugin(backend=MemoryChannelsBackend(), arbitrary_channels_allowed=True)
    async with channels:  # what the app's lifespan does: start its workers on this loop
        yield channels


async def published(plugin: ChannelsPlugin, *numbers: int) -> None:
    for n in numbers:
        plugin.publish(realtime.encode({"n": n}), CHANNEL)
    await asyncio.sleep(0)


async def test_a_message_after_a_quiet_spell_goes_out_alone_and_at_once(plugin):
    fanout = realtime.Fanout(plugin, CHANNEL, flush_every=10.0)  # a long window: only the first may go at once
    await fanout.start()
    sockets = [Socket() for _ in range(3)]
    for s in sockets:
        fanout.join(s.send)
    await published(plugin, 1)
    for s in sockets:
        await s.until(1)
        assert s.frames == [[{"n": 1}]]
    await published(plugin, 2, 3)
    await asyncio.sleep(0.1)
    assert all(len(s.messages) == 1 for s in sockets)  # within the window: held for the next flush
    await fanout.close()


async def test_a_busy_channel_batches_in_order_one_frame_per_flush(plugin):
    fanout = realtime.Fanout(plugin, CHANNEL, flush_every=0.05)
    await fanout.start()
    socket = Socket()
    fanout.join(socket.send)
    await published(plugin, *range(1, 11))
    await socket.until(10)
    assert [m["n"] for m in socket.messages] == list(range(1, 11))
    assert len(socket.frames) == 2, socket.frames  # the first at once, the other nine together
    await fanout.close()


async def test_a_slow_socket_holds_no_one_back_and_keeps_only_the_newest(plugin):
    fanout = realtime.Fanout(plugin, CHANNEL, flush_every=0.01, backlog=5)
    await fanout.start()
    quick, slow = Socket(), Socket()
    slow.gate = asyncio.Event()
    fanout.join(quick.send)
    fanout.join(slow.send)
    for n in range(1, 21):
        await published(plugin, n)
        await asyncio.sleep(0.012)
    await quick.until(20)
    assert [m["n"] for m in quick.messages] == list(range(1, 21))
    slow.gate.set()  # it reads again: what it was stuck sending, then the newest five in one frame
    await slow.until(6)
    assert slow.frames[0] == [{"n": 1}] and slow.frames[-1] == [{"n": n} for n in range(16, 21)]
    await fanout.close()


async def test_join_since_a_place_delivers_what_came_after_it(plugin):
    fanout = realtime.Fanout(plugin, CHANNEL, flush_every=0.01)
    await fanout.start()
    place = fanout.place
    await published(plugin, 1, 2)
    await asyncio.sleep(0.05)
    late, fresh = Socket(), Socket()
    fanout.join(late.send, since=place)  # e.g. joined after sending its hello
    fanout.join(fresh.send)
    await published(plugin, 3)
    await late.until(3)
    await fresh.until(1)
    assert [m["n"] for m in late.messages] == [1, 2, 3] and fresh.messages == [{"n": 3}]
    await fanout.close()


async def test_observe_sees_each_message_once_and_a_broken_socket_only_stops_itself(plugin):
    seen: list[bytes] = []
    fanout = realtime.Fanout(plugin, CHANNEL, flush_every=0.01, observe=seen.append)
    await fanout.start()

    async def gone(_event: Any) -> None:
        raise OSError("the client went away")

    socket = Socket()
    broken = fanout.join(gone)
    key = fanout.join(socket.send)
    assert len(fanout) == 2
    await published(plugin, 1, 2)
    await socket.until(2)
    assert [json.loads(p) for p in seen] == [{"n": 1}, {"n": 2}]
    fanout.leave(broken)
    fanout.leave(key)
    assert len(fanout) == 0
    await fanout.close()
    assert not plugin._channels.get(CHANNEL)  # unsubscribed


async def test_a_reader_behind_a_burst_larger_than_the_ring_catches_up_at_the_next_flush(plugin):
    """More messages than the ring holds arrive between two flushes while a slow reader is
    still behind the last flush: nothing it missed is left, so it waits for the next flush
    (it once broke off for good)."""
    fanout = realtime.Fanout(plugin, CHANNEL, flush_every=0.2, backlog=3)
    await fanout.start()
    slow = Socket()
    slow.gate = asyncio.Event()
    fanout.join(slow.send)
    await published(plugin, 1)  # after a quiet spell: flushed at once; the reader is stuck sending it
    await asyncio.sleep(0.25)
    await published(plugin, 2)  # flushed at once again (the window passed)
    await asyncio.sleep(0.01)
    await published(plugin, *range(3, 9))  # six within the window: the ring keeps 6, 7, 8
    await asyncio.sleep(0.01)
    slow.gate.set()
    await slow.until(4)
    assert slow.frames == [[{"n": 1}], [{"n": 6}, {"n": 7}, {"n": 8}]]
    await published(plugin, 9)
    await slow.until(5)  # still delivering
    assert slow.frames[-1] == [{"n": 9}]
    await fanout.close()

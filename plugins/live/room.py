"""The real-time room: one WebSocket per viewer at `/live/rooms/{id}/ws` (the storefront's
session cookie says who she is; without one she watches read-only).

Everything a room says goes through its channel (core.realtime: memory in embedded mode,
Redis pub/sub across web processes), so a message from a viewer on one process reaches
viewers on every other. Each process subscribes once per room and fans out to its sockets
(core.realtime.Fanout): at most one frame per socket every FLUSH_EVERY (50 ms), so when
the room is busy a frame is a JSON array of several messages. A slow client falls behind
and loses the oldest past core.realtime.SUBSCRIBER_BACKLOG; it never holds the room back.

Client -> server (JSON text frames):
- `{"type": "chat", "text": "..."}`: signed in, not muted or banned, 1-200 characters, at
  most one per `chat_interval_seconds` (2 s; slow mode raises it); checked by the notes
  plugin's `moderate_content` hook when present ("block" and "hold" are refused).
- `{"type": "like", "count": n}`: likes are summed and announced at most once a second.
- moderators: `{"type": "delete", "id": "..."}`, `{"type": "mute", "user_id": n,
  "minutes": m}`, `{"type": "ban", "user_id": n}`, `{"type": "slow_mode", "seconds": s}`.

Server -> client: `hello` (the room as it is now), `chat`, `deleted`, `viewers`, `likes`,
`pins`, `deal`, `slow_mode`, `room` (status), `muted`, `banned`, and `error` (with a `code`)
for what was refused. A frame holds one message (an object) or several (an array of them).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec
from litestar import WebSocket, websocket
from litestar.exceptions import WebSocketDisconnect
from sqlalchemy import select

from core import realtime
from core.db import utcnow
from core.web import current_actor, runtime_of
from plugins.live import service
from plugins.live.service import announce, room_channel
from plugins.live.models import LiveRoom, RoomBan, RoomStatus

if TYPE_CHECKING:
    from core.auth.permissions import Actor
    from core.runtime import Runtime

log = logging.getLogger("zhongcao.live")

MAX_CHAT = 200
MAX_LIKES_PER_FRAME = 50
LIKES_EVERY = 1.0  # seconds between two announcements of a room's likes
VIEWERS_EVERY = 2.0  # seconds between two announcements of a room's viewer count
VIEWER_SHARE_TTL = 3 * VIEWERS_EVERY  # a process's share of a room's viewers counts this long after it was written
SLOW_MODE_RANGE = (2, 300)
MUTE_MINUTES_RANGE = (1, 24 * 60)
HISTORY = 30  # chat messages a new viewer sees (kept per process)
MAX_CHAT_SLOTS = 10_000  # remembered last messages (embedded) before the old ones are forgotten
VIEW_TTL = 30.0  # seconds a process trusts its view of a room's chat rules before reading them again


@dataclass
class ChatRules:
    """What a process needs to accept a chat message without reading the database: kept
    up to date by the room's own announcements (slow mode, status, mutes and bans, heard
    from every process), and read again every VIEW_TTL in case one was lost."""

    status: str
    interval_seconds: int
    restricted: dict[int, datetime | None] = field(default_factory=dict)  # user -> until (None: banned)
    read_at: float = 0.0


class _Heard(msgspec.Struct, forbid_unknown_fields=False):
    """The parts of a room's messages that change its chat rules."""

    type: str
    status: str | None = None
    seconds: int | None = None
    user_id: int | None = None
    until: str | None = None


# ---------------------------------------------------------------- per process state


class Hub:
    """What one web process keeps of its rooms: who is connected here, likes not yet
    announced, and recent chat for newcomers. With Redis (several web processes), the
    viewer count and the chat rate limit are the deployment's, kept in Redis: each
    process writes its own share of a room's viewers and adds up everyone's, and a
    viewer's next message is allowed by one atomic key whichever process she talks to."""

    def __init__(self) -> None:
        self.viewers: dict[int, int] = defaultdict(int)  # this process's sockets per room
        self.total_viewers: dict[int, int] = {}  # every process's, as last added up
        self.last_chat: dict[tuple[int, int], float] = {}  # embedded only (no Redis)
        self.pending_likes: dict[int, int] = defaultdict(int)
        self.history: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self._tickers: dict[int, asyncio.Task[None]] = {}
        self.fanouts: dict[int, realtime.Fanout] = {}
        self.rules: dict[int, ChatRules] = {}
        self._rules_changed: dict[int, int] = defaultdict(int)  # per room, bumped by each change heard
        self.token = uuid.uuid4().hex  # this process's field in the rooms' viewer hashes
        self._redis: Any = None

    def redis(self, runtime: Runtime) -> Any:
        """The deployment's Redis (a client on the app's loop), or None when embedded."""
        if not runtime.settings.redis_url:
            return None
        if self._redis is None:
            from redis.asyncio import Redis

            self._redis = Redis.from_url(runtime.settings.redis_url)
        return self._redis

    async def close(self) -> None:
        for task in list(self._tickers.values()):
            task.cancel()
        for fanout in list(self.fanouts.values()):
            await fanout.close()
        self.fanouts.clear()
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    async def enter(self, runtime: Runtime, plugin: Any, room_id: int) -> realtime.Fanout:
        """A socket here starts watching the room: counted at once (before any wait, so a
        last viewer leaving meanwhile does not close what this one is about to join), and
        given the room's Fanout, subscribed while the room has viewers in this process."""
        self.viewers[room_id] += 1
        fanout = self.fanouts.get(room_id)
        if fanout is None:
            fanout = realtime.Fanout(plugin, room_channel(runtime, room_id), observe=lambda payload: self._hear(room_id, payload))
            self.fanouts[room_id] = fanout
        try:
            await fanout.start()
        except BaseException:
            await self.leave(room_id, fanout, None)
            raise
        return fanout

    async def leave(self, room_id: int, fanout: realtime.Fanout, key: int | None) -> None:
        if key is not None:
            fanout.leave(key)
        self.viewers[room_id] -= 1
        if self.viewers[room_id] > 0:
            return
        self.viewers.pop(room_id, None)
        if self.fanouts.get(room_id) is fanout:
            del self.fanouts[room_id]
            self.rules.pop(room_id, None)  # its announcements go unheard from now
            await fanout.close()

    def _hear(self, room_id: int, payload: bytes) -> None:
        if b'"type":"chat"' in payload[:20]:  # most of what a room says: nothing to learn
            return
        heard = msgspec.json.decode(payload, type=_Heard)
        if heard.type not in ("slow_mode", "room", "muted", "banned"):
            return
        self._rules_changed[room_id] += 1
        rules = self.rules.get(room_id)
        if rules is None:
            return
        if heard.type == "slow_mode" and heard.seconds:
            rules.interval_seconds = heard.seconds
        elif heard.type == "room" and heard.status:
            rules.status = heard.status
        elif heard.user_id is not None:
            rules.restricted[heard.user_id] = datetime.fromisoformat(heard.until) if heard.until else None

    async def chat_rules(self, runtime: Runtime, room_id: int) -> ChatRules | None:
        """The room's chat rules as this process knows them (read when missing or old)."""
        rules = self.rules.get(room_id)
        if rules is not None and time.monotonic() - rules.read_at < VIEW_TTL:
            return rules
        for _ in range(3):  # a change heard while reading may be missing from what was read
            changes = self._rules_changed[room_id]
            async with runtime.db.read_session() as session:
                room = await session.get(LiveRoom, room_id)
                if room is None:
                    return None
                bans = (await session.execute(select(RoomBan.user_id, RoomBan.until).where(RoomBan.room_id == room_id))).all()
            rules = ChatRules(status=room.status, interval_seconds=room.chat_interval_seconds, restricted=dict(bans), read_at=time.monotonic())
            if changes == self._rules_changed[room_id]:
                break
        if room_id in self.fanouts:  # kept only while its announcements are heard here
            self.rules[room_id] = rules
        return rules

    async def announce_rule(self, runtime: Runtime, room_id: int, message: dict[str, Any]) -> None:
        """After the commit of a change to the room's chat rules: this process reads them
        again at its next message (it hears its own announcement only a moment later), the
        others hear the change."""
        self.rules.pop(room_id, None)
        await announce(runtime, room_id, message)

    async def may_chat(self, runtime: Runtime, room_id: int, user_id: int, interval_seconds: int) -> bool:
        """Take the viewer's next chat slot in the room, or say she must wait."""
        redis = self.redis(runtime)
        if redis is not None:
            key = realtime.channel_name(runtime, "live", room_id, "chat", user_id)
            return bool(await redis.set(key, b"1", nx=True, px=int(interval_seconds * 1000)))
        key, now = (room_id, user_id), time.monotonic()
        if len(self.last_chat) > MAX_CHAT_SLOTS:  # forget who spoke longer ago than any slow mode
            self.last_chat = {k: t for k, t in self.last_chat.items() if now - t < SLOW_MODE_RANGE[1]}
        last = self.last_chat.get(key)
        if last is not None and now - last < interval_seconds:
            return False
        self.last_chat[key] = now
        return True

    async def count_viewers(self, runtime: Runtime, room_id: int) -> int:
        """Everyone's viewers of the room: this process's share written, the fresh shares
        of all processes added up (a process that died stops counting after a few beats)."""
        mine = self.viewers.get(room_id, 0)
        redis = self.redis(runtime)
        if redis is None:
            self.total_viewers[room_id] = mine
            return mine
        key = realtime.channel_name(runtime, "live", room_id, "viewers")
        now_ms = int(time.time() * 1000)
        stale_before = now_ms - int(VIEWER_SHARE_TTL * 1000)
        async with redis.pipeline(transaction=False) as pipe:  # one round trip every beat
            pipe.hset(key, self.token, f"{mine}:{now_ms}")
            pipe.pexpire(key, int(VIEWER_SHARE_TTL * 4000))
            pipe.hgetall(key)
            *_, shares = await pipe.execute()
        total, stale = 0, []
        for field, value in shares.items():
            count, _, at = value.decode().partition(":")
            if int(at or 0) < stale_before:
                stale.append(field)
            else:
                total += int(count or 0)
        if stale:
            await redis.hdel(key, *stale)
        self.total_viewers[room_id] = total
        return total

    async def leave_count(self, runtime: Runtime, room_id: int) -> None:
        """This process has no viewers of the room left: take its share out now."""
        self.total_viewers.pop(room_id, None)
        redis = self.redis(runtime)
        if redis is not None:
            await redis.hdel(realtime.channel_name(runtime, "live", room_id, "viewers"), self.token)

    def remember(self, room_id: int, message: dict[str, Any]) -> None:
        kept = self.history[room_id]
        kept.append(message)
        del kept[:-HISTORY]

    def forget(self, room_id: int, message_id: str) -> None:
        self.history[room_id] = [m for m in self.history[room_id] if m.get("id") != message_id]

    def ensure_ticker(self, runtime: Runtime, room_id: int) -> None:
        """One task per room with viewers here: announces likes and the viewer count."""
        task = self._tickers.get(room_id)
        if task is None or task.done():
            self._tickers[room_id] = asyncio.get_running_loop().create_task(self._tick(runtime, room_id), name=f"live-room-{room_id}")

    async def _tick(self, runtime: Runtime, room_id: int) -> None:
        sent_viewers, last_viewers = -1, 0.0
        try:
            while self.viewers.get(room_id, 0) > 0 or self.pending_likes.get(room_id):
                likes = self.pending_likes.pop(room_id, 0)
                if likes:
                    total = await service.add_likes(runtime, room_id, likes)
                    await announce(runtime, room_id, {"type": "likes", "total": total, "added": likes})
                now = time.monotonic()
                if now - last_viewers >= VIEWERS_EVERY:
                    count = await self.count_viewers(runtime, room_id)
                    last_viewers = now
                    if count != sent_viewers:
                        await announce(runtime, room_id, {"type": "viewers", "count": count})
                        sent_viewers = count
                await asyncio.sleep(LIKES_EVERY)
            await self.leave_count(runtime, room_id)
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - a room's ticker must not take the process down
            log.exception("live room %s ticker failed", room_id)
        finally:
            self._tickers.pop(room_id, None)


def hub_of(runtime: Runtime) -> Hub:
    hub = getattr(runtime, "_live_hub", None)
    if hub is None:
        hub = Hub()
        runtime._live_hub = hub  # noqa: SLF001 - one hub per runtime (per process)
    return hub


# ---------------------------------------------------------------- the socket


def _same_origin(socket: WebSocket) -> bool:
    """A browser sends its page's Origin: a page of another site may not drive a viewer's
    session (cross-site WebSocket hijacking). Clients without one (not browsers) pass."""
    origin = socket.headers.get("origin")
    if not origin:
        return True
    return urlsplit(origin).netloc == socket.headers.get("host", "")


async def _error(socket: WebSocket, code: str, message: str) -> None:
    await socket.send_json({"type": "error", "code": code, "message": message})


@websocket("/rooms/{room_id:int}/ws")
async def room_socket(socket: WebSocket, room_id: int) -> None:
    """A viewer's connection to a room (see the module's docstring for the messages)."""
    runtime = runtime_of(socket)
    if not _same_origin(socket):
        await socket.close(code=4403, reason="cross-site")
        return
    actor = await current_actor(socket)
    async with runtime.db.read_session() as session:
        room = await session.get(LiveRoom, room_id) if room_id > 0 else None
        roles = await service.roles_in_room(session, actor, room) if room is not None else set()
        hello = await service.room_state(session, room) if room is not None else None
    if room is None or hello is None:
        await socket.close(code=4404, reason="no such room")
        return
    hub = hub_of(runtime)
    await socket.accept()
    fanout = await hub.enter(runtime, realtime.channels_of(socket.app), room_id)
    since = fanout.place
    key = None
    try:
        hub.ensure_ticker(runtime, room_id)
        await socket.send_json({
            "type": "hello", **hello, "viewers": max(hub.viewers[room_id], hub.total_viewers.get(room_id, 0)), "history": list(hub.history[room_id]),
            "you": {"user_id": actor.user_id if actor else None, "name": actor.display_name if actor else None, "roles": sorted(roles), "can_chat": actor is not None},
        })  # fmt: skip
        key = fanout.join(realtime.server_send(socket), since=since)  # after the hello: what was said meanwhile follows it
        while True:
            try:
                raw = await socket.receive_text()
            except WebSocketDisconnect:
                break
            await _on_message(socket, runtime, hub, room_id, actor, roles, raw)
    finally:
        await hub.leave(room_id, fanout, key)


class _Frame(msgspec.Struct, kw_only=True, forbid_unknown_fields=False):
    type: str
    text: str | None = None
    count: int | None = None
    id: str | None = None
    user_id: int | None = None
    minutes: int | None = None
    seconds: int | None = None


async def _on_message(socket: WebSocket, runtime: Runtime, hub: Hub, room_id: int, actor: Actor | None, roles: set[str], raw: str) -> None:
    if len(raw) > 4096:
        await _error(socket, "too_large", "a frame is at most 4 KB")
        return
    try:
        frame = msgspec.json.decode(raw, type=_Frame)
    except msgspec.DecodeError:
        await _error(socket, "bad_frame", "frames are JSON objects with a type")
        return
    if frame.type == "like":
        count = frame.count if isinstance(frame.count, int) and not isinstance(frame.count, bool) else 1
        hub.pending_likes[room_id] += max(1, min(count, MAX_LIKES_PER_FRAME))
        hub.ensure_ticker(runtime, room_id)
        return
    if actor is None:
        await _error(socket, "login_required", "sign in to chat")
        return
    if frame.type == "chat":
        await _chat(socket, runtime, hub, room_id, actor, frame.text)
    elif frame.type in ("delete", "mute", "ban", "slow_mode"):
        if not roles & set(service.MODERATORS):
            await _error(socket, "forbidden", "only the room's moderators can do that")
            return
        await _moderate(socket, runtime, hub, room_id, actor, frame)
    else:
        await _error(socket, "bad_frame", f"unknown type {frame.type!r}")


async def _chat(socket: WebSocket, runtime: Runtime, hub: Hub, room_id: int, actor: Actor, text: Any) -> None:
    text = text.strip() if isinstance(text, str) else ""
    if not text:
        await _error(socket, "empty", "write something first")
        return
    if len(text) > MAX_CHAT:
        await _error(socket, "too_long", f"a message is at most {MAX_CHAT} characters")
        return
    rules = await hub.chat_rules(runtime, room_id)
    assert rules is not None
    now = utcnow()
    if actor.user_id in rules.restricted and ((until := rules.restricted[actor.user_id]) is None or until > now):
        await _error(socket, "banned" if until is None else "muted", "you cannot chat in this room" if until is None else "you are muted for now")
        return
    if rules.status == RoomStatus.ENDED:
        await _error(socket, "ended", "this room has ended")
        return
    if not await hub.may_chat(runtime, room_id, actor.user_id, rules.interval_seconds):
        await _error(socket, "rate_limited", f"one message every {rules.interval_seconds} s")
        return
    verdict = await _moderation(runtime, text, actor.user_id)  # a refused message used her slot too
    if verdict in ("block", "hold"):
        await _error(socket, "refused", "this message cannot be shown")
        return
    message = {"type": "chat", "id": uuid.uuid4().hex, "user_id": actor.user_id, "name": actor.display_name, "text": text, "at": now.isoformat()}
    hub.remember(room_id, message)
    await announce(runtime, room_id, message)


async def _moderation(runtime: Runtime, text: str, user_id: int) -> str:
    """The strictest verdict of `moderate_content` (the notes plugin's hook), if published."""
    hook = getattr(runtime.pm.hook, "moderate_content", None)
    if hook is None:
        return "allow"
    worst = "allow"
    for result in hook(kind="live_chat", text=text, author_user_id=user_id, runtime=runtime):
        if asyncio.iscoroutine(result):
            result = await result
        verdict = getattr(result, "verdict", None)
        if verdict == "block" or (verdict == "hold" and worst == "allow"):
            worst = verdict
    return worst


async def _moderate(socket: WebSocket, runtime: Runtime, hub: Hub, room_id: int, actor: Actor, frame: _Frame) -> None:
    if frame.type == "delete":
        if not frame.id:
            await _error(socket, "bad_frame", "delete needs the message's id")
            return
        hub.forget(room_id, frame.id)
        await announce(runtime, room_id, {"type": "deleted", "id": frame.id, "by": actor.user_id})
        return
    if frame.type == "slow_mode":
        seconds = frame.seconds
        if not isinstance(seconds, int) or not SLOW_MODE_RANGE[0] <= seconds <= SLOW_MODE_RANGE[1]:
            await _error(socket, "bad_frame", f"slow mode is {SLOW_MODE_RANGE[0]}-{SLOW_MODE_RANGE[1]} seconds between messages")
            return
        await service.set_chat_interval(runtime, room_id, seconds)
        await hub.announce_rule(runtime, room_id, {"type": "slow_mode", "seconds": seconds})
        return
    if not isinstance(frame.user_id, int):
        await _error(socket, "bad_frame", f"{frame.type} needs a user_id")
        return
    until = None
    if frame.type == "mute":
        minutes = frame.minutes if isinstance(frame.minutes, int) else 10
        if not MUTE_MINUTES_RANGE[0] <= minutes <= MUTE_MINUTES_RANGE[1]:
            await _error(socket, "bad_frame", f"a mute lasts {MUTE_MINUTES_RANGE[0]}-{MUTE_MINUTES_RANGE[1]} minutes")
            return
        until = utcnow() + timedelta(minutes=minutes)
    refused = await service.restrict(runtime, room_id, frame.user_id, until=until, by_user_id=actor.user_id)
    if refused:
        await _error(socket, "forbidden", refused)
        return
    await hub.announce_rule(runtime, room_id, {"type": "muted" if until else "banned", "user_id": frame.user_id, "until": until.isoformat() if until else None})

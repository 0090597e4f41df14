"""Read models: hot documents (product pages, note pages) kept in process.

A document is built once from the database, encoded with msgspec, and served as bytes
until the data under it changes. Changes are noticed where they happen: any flush or
bulk statement touching a catalog table marks the session, and its commit bumps the
generation, so the writer's next read already sees the change (read-your-writes).
With Redis configured, the bump is broadcast so every process drops its copies.

Live values are never read-modelled: stock and the prices used at checkout are read
in the transaction that uses them.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from sqlalchemy import Delete, Insert, Update, event
from sqlalchemy.orm import Session

log = logging.getLogger("zhongcao.readmodel")
CATALOG_TABLES = frozenset({"brand", "category", "product", "variant", "variant_price", "product_media"})
TOUCHED_KEY = "zhongcao.tables_written"


class ReadModels:
    """Documents by key. An entry is valid while no catalog change committed since it was
    built (the generation), and, when it was stored with them, while the caller's
    `token` (e.g. the row's version) is the same and it is younger than `max_age`
    seconds. Products keep encoded bytes; plugins may keep any immutable value."""

    def __init__(self, max_items: int = 10_000) -> None:
        self._docs: OrderedDict[str, tuple[int, Any, Any, float | None]] = OrderedDict()
        self.max_items = max_items
        self.generation = 0
        self.hits = 0
        self.misses = 0
        self.origin = uuid.uuid4().hex  # this process, so it ignores its own broadcasts
        self.broadcast: Callable[[], None] | None = None
        self._watchers: dict[str, tuple[frozenset[str], Callable[[], None]]] = {}

    def watch(self, name: str, tables: Iterable[str], on_change: Callable[[], None]) -> None:
        """Call `on_change` after every commit in this process that wrote one of `tables`
        (a plugin's own short-lived copies: read-your-writes in the writing process).
        Registering the same `name` again replaces the earlier watcher."""
        self._watchers[name] = (frozenset(tables), on_change)

    def committed(self, tables: set[str]) -> None:
        """A commit of this process wrote `tables`."""
        if tables & CATALOG_TABLES:
            self.invalidate()
        for watched, on_change in list(self._watchers.values()):
            if tables & watched:
                try:
                    on_change()
                except Exception:
                    log.exception("read model watcher failed")

    def get(self, key: str, token: Any = None) -> Any | None:
        entry = self._docs.get(key)
        if entry is not None and entry[0] == self.generation and entry[2] == token and (entry[3] is None or entry[3] > time.monotonic()):
            self.hits += 1
            return entry[1]
        self.misses += 1
        return None

    def put(self, key: str, doc: Any, generation: int, token: Any = None, max_age: float | None = None) -> None:
        if generation != self.generation:
            return  # built from data older than a change that committed meanwhile
        self._docs[key] = (generation, doc, token, time.monotonic() + max_age if max_age is not None else None)
        self._docs.move_to_end(key)
        while len(self._docs) > self.max_items:
            self._docs.popitem(last=False)

    async def get_or_build(self, key: str, build: Callable[[], Awaitable[Any]], token: Any = None, max_age: float | None = None) -> Any:
        doc = self.get(key, token)
        if doc is None:
            generation = self.generation
            doc = await build()
            self.put(key, doc, generation, token, max_age)
        return doc

    def invalidate(self, *, local_only: bool = False) -> None:
        self.generation += 1
        self._docs.clear()
        if not local_only and self.broadcast is not None:
            self.broadcast()

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0


def watch_session_class(session_class: type[Session], read_models: ReadModels) -> None:
    """Note the tables each session writes; tell the read models when it commits."""

    def touched(session: Session) -> set[str]:
        found = session.info.get(TOUCHED_KEY)
        if found is None:
            found = session.info[TOUCHED_KEY] = set()
        return found

    def after_flush(session: Session, _ctx: Any) -> None:
        names = {name for obj in (*session.new, *session.dirty, *session.deleted) if (name := getattr(obj, "__tablename__", None))}
        if names:
            touched(session).update(names)

    def on_execute(state: Any) -> None:
        statement = state.statement
        if isinstance(statement, (Update, Delete, Insert)) and (name := getattr(statement.table, "name", None)):
            touched(state.session).add(name)

    def after_commit(session: Session) -> None:
        names = session.info.pop(TOUCHED_KEY, None)
        if names:
            read_models.committed(names)

    def after_rollback(session: Session) -> None:
        session.info.pop(TOUCHED_KEY, None)

    event.listen(session_class, "after_flush", after_flush)
    event.listen(session_class, "do_orm_execute", on_execute)
    event.listen(session_class, "after_commit", after_commit)
    event.listen(session_class, "after_rollback", after_rollback)


class RedisInvalidation:
    """Broadcast generation bumps between processes over Redis pub/sub."""

    def __init__(self, url: str, channel: str, read_models: ReadModels) -> None:
        from redis.asyncio import Redis

        self.redis = Redis.from_url(url)
        self.channel = channel
        self.read_models = read_models
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def publish_soon(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._publish()))  # type: ignore[union-attr]

    async def _publish(self) -> None:
        try:
            await self.redis.publish(self.channel, self.read_models.origin)
        except Exception:  # noqa: BLE001 - a missed broadcast only delays other processes
            log.exception("read-model broadcast failed")

    async def _listen(self) -> None:
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.channel)
        async for message in pubsub.listen():
            if message.get("type") == "message" and message.get("data") != self.read_models.origin.encode():
                self.read_models.invalidate(local_only=True)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = self._loop.create_task(self._listen(), name="zhongcao-readmodel-invalidation")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        await self.redis.aclose()

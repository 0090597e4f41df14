"""The runtime: what `create_app`, the CLI and the worker share, built once from settings."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from pathlib import Path
from typing import Any

from litestar.stores.memory import MemoryStore
from litestar.stores.registry import StoreRegistry
from sqlalchemy import event
from sqlalchemy.orm import Session

from core.db import Base, Database
from core.events import CHANGED_KEY, CORE_JOBS, PENDING_KEY, Relay, record_changes
from core.jobs import Jobs, make_broker
from core.plugin_manager import (
    CORE_PLUGIN_NAME,
    PluginError,
    PluginManager,
    build_plugin_manager,
)
from core.readmodel import ReadModels, RedisInvalidation, watch_session_class
from core.settings import Settings

log = logging.getLogger("zhongcao")


class Runtime:
    """Settings, plugins, event types, jobs and the database, for one process."""

    def __init__(self, settings: Settings, pm: PluginManager) -> None:
        self.settings = settings
        self.pm = pm
        self.models = self._collect_models()
        self.event_types: dict[str, str] = {}
        for plugin, types in pm.call_each("register_event_types"):
            for name, description in types.items():
                if name in self.event_types:
                    raise PluginError(f"plugin {plugin!r}: hook register_event_types: event type {name!r} already registered")
                self.event_types[name] = description
        self.translations = self._collect_translations()
        self._redis_stores: Any = None
        self.realtime: Any = None  # (the app's ChannelsPlugin, its loop) while an app runs: core.realtime
        self._realtime_redis: Any = None  # core.realtime's publisher where no app runs (a worker)
        self.stores = self._make_stores()
        self.jobs = Jobs(self, make_broker(settings.redis_url, settings.queue_namespace))
        for job in CORE_JOBS:
            self.jobs.add(job)
        for plugin, jobs in pm.call_each("register_jobs"):
            for job in jobs:
                if plugin != CORE_PLUGIN_NAME and not job.name.startswith(f"{plugin}."):
                    raise PluginError(f"plugin {plugin!r}: hook register_jobs: job {job.name!r} must start with '{plugin}.'")
                self.jobs.add(job)
        self.payment_providers = self._collect_payment_providers()
        from core.search.service import SearchService

        self.search = SearchService(self)  # declared indexes checked now: a bad one stops start-up
        self.read_models = ReadModels()
        from core.web import GuestPages

        self.guest_pages = GuestPages(settings.guest_page_seconds)
        self._invalidation: RedisInvalidation | None = None
        if settings.redis_url:
            self._invalidation = RedisInvalidation(settings.redis_url, f"{settings.queue_namespace}:readmodels", self.read_models)
            self.read_models.broadcast = self._invalidation.publish_soon
        self.relay = Relay(self)
        self._ticker: asyncio.Task[None] | None = None
        self._dbs: dict[asyncio.AbstractEventLoop, Database] = {}
        self._dbs_lock = threading.Lock()
        self._relay_loop: asyncio.AbstractEventLoop | None = None

    # -- plugins' contributions
    def _collect_models(self) -> list[type]:
        models: list[type] = []
        for plugin, classes in self.pm.call_each("register_models"):
            for cls in classes:
                table = getattr(cls, "__tablename__", None)
                if not isinstance(cls, type) or not issubclass(cls, Base) or table is None:
                    raise PluginError(f"plugin {plugin!r}: hook register_models: {cls!r} is not a core.db.Base model")
                kind = self.pm.infos[plugin].kind
                if kind == "plugin" and not table.startswith(f"{plugin}_"):
                    raise PluginError(f"plugin {plugin!r}: hook register_models: table {table!r} must start with '{plugin}_'")
                models.append(cls)
        return models

    def _collect_translations(self) -> dict[str, dict[str, str]]:
        merged: dict[str, dict[str, str]] = {}
        for _plugin, catalog in self.pm.call_each("register_translations"):
            for locale, messages in catalog.items():
                merged.setdefault(locale, {}).update(messages)
        return merged

    def _collect_payment_providers(self) -> dict[str, Any]:
        providers: dict[str, Any] = {}
        for plugin, contributed in self.pm.call_each("register_payment_providers", runtime=self):
            for provider in contributed:
                if provider.name in providers:
                    raise PluginError(f"plugin {plugin!r}: hook register_payment_providers: provider {provider.name!r} already registered")
                providers[provider.name] = provider
        return providers

    def _make_stores(self) -> StoreRegistry:
        if self.settings.redis_url:
            from litestar.stores.redis import RedisStore

            root = RedisStore.with_client(url=self.settings.redis_url, namespace=f"{self.settings.queue_namespace}-store")
            self._redis_stores = root  # its client is shared by every namespace; closed in stop()
            return StoreRegistry(default_factory=lambda name: root.with_namespace(name))
        return StoreRegistry(default_factory=lambda name: MemoryStore())

    def migration_locations(self) -> list[tuple[str, Path]]:
        out = []
        for plugin, result in self.pm.call_each("register_migrations"):
            label, path = result
            if self.pm.infos[plugin].kind == "plugin" and label != plugin:
                raise PluginError(f"plugin {plugin!r}: hook register_migrations: branch label {label!r} must be {plugin!r}")
            out.append((label, Path(path)))
        return out

    # -- database, one engine per event loop (engines are loop-bound)
    @property
    def db(self) -> Database:
        loop = asyncio.get_running_loop()
        db = self._dbs.get(loop)
        if db is None:
            with self._dbs_lock:
                db = self._dbs.get(loop)
                if db is None:
                    if self.settings.is_sqlite:
                        self.settings.var_dir.mkdir(parents=True, exist_ok=True)
                    db = Database(self.settings.resolved_database_url)
                    event.listen(db.sync_session_class, "before_commit", self._record_changes)
                    event.listen(db.sync_session_class, "after_commit", self._after_commit)
                    event.listen(db.sync_session_class, "after_rollback", _forget_events)
                    watch_session_class(db.sync_session_class, self.read_models)
                    self._dbs[loop] = db
        return db

    def _record_changes(self, session: Session) -> None:
        record_changes(session, self)

    def _after_commit(self, session: Session) -> None:
        if session.info.pop(PENDING_KEY, None) and self._relay_loop is not None:
            self._relay_loop.call_soon_threadsafe(self.relay.wake)

    async def dispose_loop_databases(self) -> None:
        db = self._dbs.pop(asyncio.get_running_loop(), None)
        if db is not None:
            await db.dispose()

    # -- lifecycle for a process that serves or works
    async def start(self, *, worker: bool | None = None, relay: bool = True) -> None:
        if worker if worker is not None else self.settings.run_inprocess_worker:
            self.jobs.start_worker(threads=2)
        if self._invalidation is not None:
            self._invalidation.start()
        if relay:
            self._relay_loop = asyncio.get_running_loop()
            self.relay.start()
            self.relay.wake()
            self._ticker = asyncio.get_running_loop().create_task(self._tick(), name="zhongcao-ticker")

    async def _tick(self) -> None:
        """Periodic jobs (`Job(periodic=True)`: expiring checkouts, deadlines, plugins'
        own). Every process ticks; the jobs are idempotent."""
        last_sent: dict[str, float] = {}
        while True:
            await asyncio.sleep(self.settings.tick_seconds)
            for name in due_periodic_jobs(self.jobs.periodic, last_sent, time.monotonic()):
                try:
                    self.jobs.send(name)
                except Exception:
                    log.exception("could not enqueue %s", name)

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            self._ticker = None
        await self.relay.stop()
        self._relay_loop = None
        if self._invalidation is not None:
            await self._invalidation.stop()
        await asyncio.to_thread(self.jobs.stop)
        await self.search.close()
        if self._redis_stores is not None:
            await self._redis_stores.__aexit__(None, None, None)  # the client reconnects if used again
        if self._realtime_redis is not None:
            client, self._realtime_redis = self._realtime_redis, None
            await client.aclose()
        await self.dispose_loop_databases()

    @property
    def session_secret(self) -> bytes:
        return hashlib.sha256(f"session:{self.settings.signing_key}".encode()).digest()

    @property
    def token_secret(self) -> str:
        return hashlib.sha256(f"jwt:{self.settings.signing_key}".encode()).hexdigest()


def due_periodic_jobs(periodic: dict[str, float], last_sent: dict[str, float], now: float) -> list[str]:
    """The periodic jobs to send at this tick: every one with no interval, the others once
    their `every_seconds` have passed since this process last sent them (recorded)."""
    due = []
    for name, every in periodic.items():
        if every and now - last_sent.get(name, -every) < every:
            continue
        last_sent[name] = now
        due.append(name)
    return due


def _forget_events(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
    session.info.pop(CHANGED_KEY, None)


def create_runtime(settings: Settings | None = None, extra_plugins: Any = ()) -> Runtime:
    settings = settings or Settings()
    pm = build_plugin_manager(
        disabled=settings.disabled_plugins, extra=tuple(extra_plugins), trace=settings.trace_plugins
    )
    return Runtime(settings, pm)

"""The search service: indexes declared by modules and plugins, one backend, aliases,
and keeping documents fresh.

- Declared indexes come from `register_search_indexes`; documents are built by the
  `search_document` hook (the owner's answer, extended by any other plugin's).
- Each index name points at a physical index (`search_alias`). `rebuild` fills a new
  physical index while live changes go to both, then swaps; the old one is dropped by
  the next rebuild, so a process still reading it is never broken.
- Domain events name the documents to refresh (`SearchIndex.events`); the core's
  `handle_event` queues them (`search_queue`, one row per document however many events
  name it) and the `search.drain` job indexes them in batches, after the commit. A
  refresh reads the source again and writes what it finds, then checks the sources once
  more and repeats for any that changed meanwhile, so jobs delivered twice or out of
  order leave the index as the database is. Backends never replace a newer version.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, select

from core.db import dialect_insert, utcnow
from core.plugin_manager import PluginError
from core.search.base import SearchBackend, SearchIndex, SearchQuery, SearchResult
from core.search.models import SearchAlias, SearchQueueItem

if TYPE_CHECKING:
    from core.events import Event
    from core.runtime import Runtime

log = logging.getLogger("zhongcao.search")
BATCH = 500
DRAIN_JOB = "search.drain"
FIRST_FILL = 2_000  # a new index fills this many documents at once, the rest through the queue
ALIAS_SECONDS = 5.0  # how long a process trusts the alias it read (a swap keeps the old index readable)


class UnknownIndex(LookupError):
    pass


@dataclass
class IndexStatus:
    name: str
    owner: str
    backend: str
    physical: str | None
    generation: int
    documents: int
    queued: int
    building: str | None
    built_at: datetime | None


class SearchService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.indexes: dict[str, SearchIndex] = {}
        for plugin, declared in runtime.pm.call_each("register_search_indexes"):
            for index in declared:
                if not isinstance(index, SearchIndex):
                    raise PluginError(f"plugin {plugin!r}: hook register_search_indexes: expected core.search.base.SearchIndex, got {index!r}")
                try:
                    index.check()
                except ValueError as exc:
                    raise PluginError(f"plugin {plugin!r}: hook register_search_indexes: {exc}") from None
                if index.load is None or index.ids is None:
                    raise PluginError(f"plugin {plugin!r}: hook register_search_indexes: index {index.name!r} needs load and ids")
                if index.name in self.indexes:
                    raise PluginError(f"plugin {plugin!r}: hook register_search_indexes: index {index.name!r} already declared by {self.indexes[index.name].owner!r}")
                self.indexes[index.name] = replace(index, owner=plugin)
        self._backend: SearchBackend | None = None
        self._aliases: dict[str, tuple[float, str, str | None]] = {}  # name -> (until, physical, building)

    @property
    def backend(self) -> SearchBackend:
        if self._backend is None:
            from core.search.backends import backend_for

            self._backend = backend_for(self.runtime)
        return self._backend

    def index(self, name: str) -> SearchIndex:
        found = self.indexes.get(name)
        if found is None:
            raise UnknownIndex(name)
        return found

    async def close(self) -> None:
        if self._backend is not None:
            await self._backend.close()

    # ------------------------------------------------------------ reading

    async def search(self, name: str, query: SearchQuery) -> SearchResult:
        index = self.index(name)
        physical, _ = await self._alias(index)
        return await self.backend.search(index, physical, query)

    async def suggest(self, name: str, prefix: str, limit: int = 8) -> list[str]:
        index = self.index(name)
        if index.suggest is None:
            return []
        physical, _ = await self._alias(index)
        return await self.backend.suggest(index, physical, prefix, limit)

    async def _alias(self, index: SearchIndex, *, fresh: bool = False) -> tuple[str, str | None]:
        """The physical index that answers (and the one being built), creating the first
        one (empty, with every document queued) on first use."""
        kept = self._aliases.get(index.name)
        if kept is not None and not fresh and kept[0] > time.monotonic():
            return kept[1], kept[2]
        async with self.runtime.db.read_session() as s:
            row = await s.get(SearchAlias, index.name)
            found = (row.physical, row.building) if row is not None and row.backend == self.backend.name else None
        if found is None:
            found = await self._first_index(index)
        self._aliases[index.name] = (time.monotonic() + ALIAS_SECONDS, *found)
        return found

    async def _first_index(self, index: SearchIndex) -> tuple[str, str | None]:
        """Create a physical index under a name nobody else uses, then claim the alias;
        a process that lost the race drops its own and uses the winner's."""
        physical = _physical_name(index.name, 1)
        await self.backend.create(index, physical)
        async with self.runtime.db.session() as s:
            row = await s.get(SearchAlias, index.name, with_for_update=True)
            if row is not None and row.backend == self.backend.name:
                winner = (row.physical, row.building)
            else:
                if row is None:
                    s.add(SearchAlias(name=index.name, backend=self.backend.name, physical=physical, generation=1))
                else:  # the backend changed (e.g. Meilisearch configured): start over there
                    row.backend, row.physical, row.generation, row.building, row.retired = self.backend.name, physical, 1, None, None
                winner = None
            await s.commit()
        if winner is not None:
            await self.backend.drop(physical)
            return winner
        await self._fill(index, physical)
        return physical, None

    async def _fill(self, index: SearchIndex, physical: str) -> None:
        """A new index's first documents: the first FIRST_FILL now (a small shop is
        searchable on its first search), the rest through the queue."""
        async with self.runtime.db.read_session() as s:
            ids = await index.ids(s, self.runtime, None, FIRST_FILL + 1)
        if len(ids) <= FIRST_FILL:
            await self.refresh(index.name, ids, targets=[physical])
        else:
            await self.queue_all(index.name)

    # ------------------------------------------------------------ writing

    def documents(self, index: SearchIndex, objects: dict[str, Any]) -> list[dict[str, Any]]:
        """Each object's document: every `search_document` answer merged, in load order."""
        docs = []
        for doc_id, obj in objects.items():
            doc: dict[str, Any] = {}
            for _plugin, part in self.runtime.pm.call_each("search_document", index=index.name, obj=obj, runtime=self.runtime):
                doc.update(part)
            if "version" not in doc:
                raise PluginError(f"search index {index.name!r}: no search_document implementation gave a version for {doc_id!r}")
            doc["id"] = doc_id
            docs.append(doc)
        return docs

    async def refresh(self, name: str, ids: Iterable[Any], *, targets: list[str] | None = None) -> int:
        """Index the current state of these documents (deleting those no longer searchable)
        in the physical index that answers and the one being built. Returns documents written."""
        index = self.index(name)
        wanted = sorted({str(i) for i in ids})
        if not wanted:
            return 0
        if targets is None:
            physical, building = await self._alias(index, fresh=True)
            targets = [p for p in (physical, building) if p]
        written = 0
        for _attempt in range(3):
            async with self.runtime.db.read_session() as s:
                objects = dict(await index.load(s, self.runtime, wanted))
            docs = self.documents(index, objects)
            gone = [i for i in wanted if i not in objects]
            for physical in targets:  # no transaction is open here (a backend may be a server)
                if docs:
                    await self.backend.upsert(index, physical, docs)
                if gone:
                    await self.backend.delete(index, physical, gone)
            written += len(docs)
            # what changed while we wrote? (a concurrent, older write may have won)
            async with self.runtime.db.read_session() as s:
                again = dict(await index.load(s, self.runtime, wanted))
            sent = {d["id"]: d for d in docs}
            now = {d["id"]: d for d in self.documents(index, again)}
            stale = [i for i in wanted if sent.get(i) != now.get(i)]  # whole documents: a price may change without a new version
            if not stale:
                break
            wanted = stale
        return written

    async def rebuild(self, name: str) -> IndexStatus:
        """Fill a new physical index from every searchable source, then swap: searches
        never see a half-built index, and changes made meanwhile reach both."""
        index = self.index(name)
        await self._alias(index)  # make sure there is one
        async with self.runtime.db.session() as s:
            row = await s.get(SearchAlias, name, with_for_update=True)
            assert row is not None
            retired, new = row.retired, _physical_name(name, row.generation + 1)
            row.building, row.retired = new, None
            await s.commit()
        if retired:
            await self.backend.drop(retired)
        await self.backend.create(index, new)
        self._aliases.pop(name, None)
        after: str | None = None
        while True:
            async with self.runtime.db.read_session() as s:
                ids = await index.ids(s, self.runtime, after, BATCH)
            if not ids:
                break
            await self.refresh(name, ids, targets=[new])
            after = ids[-1]
        await self.backend.built(index, new)
        async with self.runtime.db.session() as s:
            row = await s.get(SearchAlias, name, with_for_update=True)
            assert row is not None
            row.retired, row.physical, row.building = row.physical, new, None
            row.generation += 1
            row.built_at = utcnow()
            await s.commit()
        self._aliases.pop(name, None)
        return (await self.status(name))[0]

    # ------------------------------------------------------------ the queue

    async def on_event(self, event: Event) -> None:
        """Queue the documents a committed domain event names (the core's handle_event)."""
        queued: dict[str, set[str]] = {}
        for index in self.indexes.values():
            names = index.events.get(event.type)
            if names is not None:
                ids = {str(i) for i in names(event.payload) if i is not None}
                if ids:
                    queued[index.name] = ids
        if queued:
            await self.enqueue(queued)

    async def enqueue(self, docs: dict[str, set[str]]) -> None:
        rows = [{"index_name": name, "doc_id": doc_id, "queued_at": utcnow()} for name, ids in docs.items() for doc_id in sorted(ids)]
        async with self.runtime.db.session() as s:
            for start in range(0, len(rows), BATCH):
                stmt = dialect_insert(s, SearchQueueItem.__table__)
                await s.execute(stmt.on_conflict_do_update(index_elements=["index_name", "doc_id"], set_={"queued_at": stmt.excluded.queued_at}), rows[start : start + BATCH])
            await s.commit()
        self.runtime.jobs.send(DRAIN_JOB)

    async def queue_all(self, name: str) -> int:
        index = self.index(name)
        after: str | None = None
        total = 0
        while True:
            async with self.runtime.db.read_session() as s:
                ids = await index.ids(s, self.runtime, after, 5_000)
            if not ids:
                return total
            await self.enqueue({name: set(ids)})
            total += len(ids)
            after = ids[-1]

    async def drain(self, *, budget_seconds: float = 20.0) -> int:
        """Index queued documents, a batch per index at a time, until the queue is empty
        or the time is up (the rest waits for the next run). Returns documents handled."""
        started = time.monotonic()
        handled = 0
        while time.monotonic() - started < budget_seconds:
            progressed = False
            for name in self.indexes:
                async with self.runtime.db.read_session() as s:
                    rows = (await s.execute(
                        select(SearchQueueItem.doc_id, SearchQueueItem.queued_at).where(SearchQueueItem.index_name == name)
                        .order_by(SearchQueueItem.queued_at).limit(BATCH)
                    )).all()
                if not rows:
                    continue
                ids = [r.doc_id for r in rows]
                if await self._has_alias(name):
                    await self.refresh(name, ids)
                # else: nobody searched this index yet; its first build reads every source
                taken = max(r.queued_at for r in rows)
                async with self.runtime.db.session() as s:  # queued again meanwhile: kept for the next batch
                    await s.execute(delete(SearchQueueItem).where(
                        SearchQueueItem.index_name == name, SearchQueueItem.doc_id.in_(ids), SearchQueueItem.queued_at <= taken))
                    await s.commit()
                handled += len(ids)
                progressed = True
            if not progressed:
                break
        return handled

    async def _has_alias(self, name: str) -> bool:
        if name in self._aliases:
            return True
        async with self.runtime.db.read_session() as s:
            row = await s.get(SearchAlias, name)
        return row is not None and row.backend == self.backend.name

    # ------------------------------------------------------------ status

    async def status(self, name: str | None = None) -> list[IndexStatus]:
        out = []
        for index in self.indexes.values():
            if name is not None and index.name != name:
                continue
            async with self.runtime.db.read_session() as s:
                row = await s.get(SearchAlias, index.name)
                queued = (await s.execute(select(func.count()).select_from(SearchQueueItem).where(SearchQueueItem.index_name == index.name))).scalar_one()
            count = await self.backend.count(index, row.physical) if row is not None else 0
            out.append(IndexStatus(
                name=index.name, owner=index.owner, backend=self.backend.name, physical=row.physical if row else None,
                generation=row.generation if row else 0, documents=count, queued=queued, building=row.building if row else None,
                built_at=row.built_at if row else None,
            ))
        return out

    async def drop_all(self) -> None:
        """Drop every physical index the aliases name, and the aliases (tests: each case
        starts without indexes, as a fresh install does)."""
        async with self.runtime.db.read_session() as s:
            rows = (await s.execute(select(SearchAlias))).scalars().all()
        for row in rows:
            if row.backend == self.backend.name:
                for physical in {row.physical, row.building, row.retired} - {None}:
                    await self.backend.drop(physical)  # type: ignore[arg-type]
        async with self.runtime.db.session() as s:
            await s.execute(delete(SearchAlias))
            await s.commit()
        self._aliases.clear()

    async def ensure_indexes(self) -> None:
        """Create each declared index that has none yet (filled at once when small, else
        through the queue)."""
        for index in self.indexes.values():
            await self._alias(index)


def _physical_name(name: str, generation: int) -> str:
    """Unique per build, so a build never meets the leftovers of another."""
    return f"{name}_{generation}_{secrets.token_hex(3)}"

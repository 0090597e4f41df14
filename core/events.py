"""Domain events through a transactional outbox.

`record_event` adds the event in the caller's transaction. After the commit the relay
claims the committed events and hands them, a batch per message, to the
`core.dispatch_events` job (`core.dispatch_event` does one), which runs every
`handle_event` implementation and keeps a receipt per (event, plugin). A crash anywhere
in between only delays delivery: the relay picks up whatever is unrelayed, and receipts
make a repeated dispatch a no-op for the handlers that already succeeded.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import ForeignKey, String, Text, and_, bindparam, or_, select, update
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdMixin, dialect_insert, utcnow
from core.jobs import Job

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
    from sqlalchemy.orm import Session

    from core.runtime import Runtime

log = logging.getLogger("zhongcao.events")
PENDING_KEY = "zhongcao.pending_events"
DISPATCH_JOB = "core.dispatch_event"
DISPATCH_BATCH_JOB = "core.dispatch_events"
BATCH_SIZE = 20  # events per dispatch message: a relay pass's claims, split so several workers share them
STOP_TRIES = 20  # Relay.stop: cancellations, half a second apart, before it gives up waiting
CLAIM_SECONDS = 600  # longer than the dispatch job's time limit
REDELIVER_AFTER_SECONDS = 900
MAX_SWEEPS = 20


class UnknownEventType(ValueError):
    pass


class EventBusy(RuntimeError):
    """Another dispatcher holds the event; Dramatiq retries this message later."""


class OutboxEvent(IdMixin, Base):
    __tablename__ = "outbox_event"

    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    type: Mapped[str] = mapped_column(String(100), index=True)
    payload: Mapped[dict[str, Any]]
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    relayed_at: Mapped[datetime | None] = mapped_column(index=True)
    completed_at: Mapped[datetime | None]
    # a dispatcher's lease: concurrent deliveries of the same message wait their turn
    claimed_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)


class EventReceipt(Base):
    """One row per handler that finished an event: what makes redelivery harmless."""

    __tablename__ = "outbox_receipt"

    event_id: Mapped[str] = mapped_column(
        String(36), ForeignKey("outbox_event.event_id", ondelete="CASCADE"), primary_key=True
    )
    handler: Mapped[str] = mapped_column(String(100), primary_key=True)
    handled_at: Mapped[datetime] = mapped_column(default=utcnow)


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """What a `handle_event` implementation receives."""

    id: str
    type: str
    payload: dict[str, Any]
    occurred_at: datetime


def record_event(session: AsyncSession, runtime: Runtime, type: str, payload: dict[str, Any]) -> str:
    """Write an event into the caller's transaction; it is delivered only if that commits."""
    if type not in runtime.event_types:
        raise UnknownEventType(f"event type {type!r} is not registered (register_event_types)")
    payload = msgspec.json.decode(msgspec.json.encode(payload))  # JSON-safe now, not at dispatch
    event_id = str(uuid.uuid4())
    session.add(OutboxEvent(event_id=event_id, type=type, payload=payload))
    session.info.setdefault(PENDING_KEY, []).append(event_id)
    return event_id


CHANGED_KEY = "zhongcao.changed"


def mark_changed(session: AsyncSession | Session, event_type: str, object_id: int) -> None:
    """Note that this transaction changed an object. When it commits, the runtime records
    one `event_type` event naming every object so marked (payload `{"ids": [...]}`): for
    services that change a thing in many small steps, or that have no runtime at hand."""
    session.info.setdefault(CHANGED_KEY, {}).setdefault(event_type, set()).add(object_id)


def record_changes(session: Session, runtime: Runtime) -> None:
    """The runtime's before-commit step: the events `mark_changed` collected."""
    changed = session.info.pop(CHANGED_KEY, None)
    for event_type, ids in (changed or {}).items():
        record_event(session, runtime, event_type, {"ids": sorted(ids)})  # type: ignore[arg-type]


# built once (bound parameters): the relay runs after every commit that recorded events
@functools.cache
def _unrelayed():
    table = OutboxEvent.__table__
    return select(table.c.id).where(table.c.relayed_at.is_(None)).order_by(table.c.id).limit(bindparam("limit"))


@functools.cache
def _claim():
    table = OutboxEvent.__table__
    return (
        update(table)
        .where(table.c.id.in_(bindparam("ids", expanding=True)), table.c.relayed_at.is_(None))
        .values(relayed_at=bindparam("now", type_=table.c.relayed_at.type))
        .returning(table.c.id, table.c.event_id)
    )


class Relay:
    """Moves committed, unrelayed outbox rows to the job queue.

    Woken right after a commit that recorded events, and polls as a safety net for
    events whose process died before relaying them.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def wake(self) -> None:
        self._wake.set()

    async def relay_pending(self, limit: int = 200, *, sweep: bool = True) -> int:
        """Send every unrelayed event once; return how many were looked at (a full batch
        means "look again"). With `sweep`, then re-send events relayed long ago and never
        completed (their messages were lost or gave up)."""
        db = self.runtime.db
        # Look first (a plain read: an idle poll takes no lock, not even SQLite's write
        # lock), then claim what was seen with one conditional UPDATE and send only what
        # this relay claimed: two relays (several processes) never queue the same event
        # twice. Two single statements, no transaction around them. A claim whose send
        # was lost to a crash is re-sent by the sweep.
        async with db.read_session() as session:
            seen = (await session.execute(_unrelayed(), {"limit": limit})).scalars().all()
        claimed: list[Any] = []
        if seen:
            async with db.autocommit() as conn:
                claimed = (await conn.execute(_claim(), {"now": utcnow(), "ids": list(seen)})).all()
        self._send([event_id for _, event_id in sorted(claimed)])  # outside any transaction, oldest first
        if sweep:  # after the claim: a fresh event is never kept waiting behind the sweep
            await self._sweep_stale(limit)
        return len(seen)  # looked at, so a full batch means "look again"

    def _send(self, event_ids: list[str]) -> None:
        for i in range(0, len(event_ids), BATCH_SIZE):
            self.runtime.jobs.send(DISPATCH_BATCH_JOB, event_ids[i : i + BATCH_SIZE])

    async def _sweep_stale(self, limit: int) -> None:
        db = self.runtime.db
        table = OutboxEvent.__table__
        # relayed long ago, never completed, nobody on it (its messages were lost or gave up)
        stale_before = utcnow() - timedelta(seconds=REDELIVER_AFTER_SECONDS)
        stale_rows = and_(
            table.c.completed_at.is_(None),
            table.c.relayed_at < stale_before,
            table.c.attempts < MAX_SWEEPS,
            or_(table.c.claimed_until.is_(None), table.c.claimed_until < utcnow()),
        )
        async with db.read_session() as session:  # usually nothing: no write lock for that
            stale = (await session.execute(select(table.c.id).where(stale_rows).limit(limit))).scalars().all()
        if not stale:
            return
        async with db.session() as session:
            resend = (
                await session.execute(
                    update(table)
                    .where(table.c.id.in_(stale), table.c.completed_at.is_(None), table.c.relayed_at < stale_before)
                    .values(relayed_at=utcnow())
                    .returning(table.c.event_id)
                )
            ).scalars().all()
            await session.commit()
        self._send(list(resend))

    async def run(self) -> None:
        poll = self.runtime.settings.relay_poll_seconds
        last_sweep = float("-inf")
        while not self._stopping:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=poll)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                # the stale sweep is a safety net: once per poll interval is plenty, not
                # after every commit that wakes the relay
                sweep = time.monotonic() - last_sweep >= poll
                if sweep:
                    last_sweep = time.monotonic()
                while await self.relay_pending(sweep=sweep) == 200:
                    sweep = False
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep relaying; the poll retries
                log.exception("outbox relay failed; will retry")

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.get_running_loop().create_task(self.run(), name="zhongcao-outbox-relay")

    async def stop(self) -> None:
        """Cancel the relay and wait for it, cancelling again while it runs: a cancellation
        that reaches it inside the database driver can be swallowed there (seen on
        PostgreSQL: the relay kept polling and a shutdown waited for it for good), so
        the loop also ends on `_stopping`, and the wait is bounded."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        for _ in range(STOP_TRIES):
            task.cancel()
            done, _pending = await asyncio.wait({task}, timeout=0.5)
            if done:
                if not task.cancelled() and task.exception() is not None:
                    log.warning("the outbox relay ended with %r", task.exception())
                return
        log.error("the outbox relay did not stop within %s s; leaving it", STOP_TRIES * 0.5)


async def dispatch_event(runtime: Runtime, event_id: str) -> None:
    """The `core.dispatch_event` job: run each plugin's handler once for one event."""
    await dispatch_events(runtime, [event_id])


async def dispatch_events(runtime: Runtime, event_ids: list[str]) -> None:
    """The `core.dispatch_events` job: run each plugin's handler once per event, for a
    batch of events (what one relay pass claimed).

    Per batch, when all goes well, two statements that need no transaction around them
    (autocommit on PostgreSQL): the claim, one conditional UPDATE that takes a lease on
    each event and returns its row; and after the handlers, one INSERT of the receipts
    of those that ran, then one UPDATE completing the events. (Earlier receipts are
    read only for events that can have them.) A failing handler stops its event's
    other handlers, not the batch's other events; its event keeps the receipts of the
    handlers that succeeded, releases its lease and counts the attempt, and the job
    raises so Dramatiq retries the message: completed events are skipped then, and a
    failed one runs only the handlers without a receipt. An event leased by another
    dispatcher makes the job raise EventBusy (retried later) after the others are done.
    A dispatcher that dies between a handler's success and the receipts' INSERT leaves
    no receipt, and the handler runs again on redelivery once the lease has run out:
    handlers are idempotent up to their own commit (see the hookspec).
    """
    db = runtime.db
    table = OutboxEvent.__table__
    ids = list(dict.fromkeys(event_ids))
    if not ids:
        return
    now = utcnow()
    # statements that stand alone (autocommit on PostgreSQL): the lease is taken by one
    # conditional UPDATE, and at the end receipts are written before the completion
    async with db.autocommit() as conn:
        rows = (
            await conn.execute(
                update(table)
                .where(table.c.event_id.in_(ids), table.c.completed_at.is_(None), or_(table.c.claimed_until.is_(None), table.c.claimed_until < now))
                .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                .returning(table.c.id, table.c.event_id, table.c.type, table.c.payload, table.c.occurred_at, table.c.attempts)
            )
        ).all()
        claimed = [r.event_id for r in rows]
        busy: list[str] = []
        if len(claimed) < len(ids):  # unknown, complete (a duplicate delivery: nothing to do) or leased elsewhere
            rest = [i for i in ids if i not in set(claimed)]
            busy = list((await conn.execute(select(table.c.event_id).where(table.c.event_id.in_(rest), table.c.completed_at.is_(None)))).scalars())
        done: dict[str, set[str]] = {}
        # Receipts are written right before an attempt is counted, so an event can have
        # some only if it was tried before (attempts > 0) or a dispatcher died between
        # the two writes, whose lease then had to run out first (the event is older than
        # a lease). A brand new event needs no look-up.
        tried = [r.event_id for r in rows if r.attempts > 0 or r.occurred_at < now - timedelta(seconds=CLAIM_SECONDS)]
        if tried:
            for event_id, handler in (await conn.execute(select(EventReceipt.event_id, EventReceipt.handler).where(EventReceipt.event_id.in_(tried)))).all():
                done.setdefault(event_id, set()).add(handler)
    impls = list(reversed(runtime.pm.hook.handle_event.get_hookimpls()))
    receipts: list[tuple[str, str]] = []
    completed: list[str] = []
    failed: list[tuple[str, str]] = []
    error: Exception | None = None
    for row in sorted(rows, key=lambda r: r.id):
        event = Event(id=row.event_id, type=row.type, payload=row.payload, occurred_at=row.occurred_at)
        offered = {"event": event, "runtime": runtime}
        skip = done.get(row.event_id, set())
        for impl in impls:
            if impl.plugin_name in skip:
                continue
            try:
                result = impl.function(**{name: offered[name] for name in impl.argnames})
                if inspect.isawaitable(result):
                    await result
            except Exception as exc:  # noqa: BLE001 - recorded below, raised after the batch
                failed.append((row.event_id, f"{impl.plugin_name}: {exc!r}"[:2000]))
                error = error or exc
                break
            receipts.append((row.event_id, impl.plugin_name))
        else:
            completed.append(row.event_id)
    if rows:
        async with db.autocommit() as conn:
            # receipts first: if the completion below is lost, a redelivery skips them
            await _add_receipts(conn, receipts)
            if completed:
                await conn.execute(
                    update(table).where(table.c.event_id.in_(completed)).values(completed_at=utcnow(), claimed_until=None, attempts=table.c.attempts + 1)
                )
            for event_id, message in failed:
                await conn.execute(
                    update(table).where(table.c.event_id == event_id).values(attempts=table.c.attempts + 1, last_error=message, claimed_until=None)
                )
    if error is not None:
        raise error
    if busy:
        raise EventBusy(f"event {', '.join(busy)} is being dispatched elsewhere")


async def _add_receipts(conn: AsyncConnection, receipts: list[tuple[str, str]]) -> None:
    """One INSERT for the (event, handler) receipts; one that exists already (a
    concurrent dispatch after an expired lease finished it first) is left as it is."""
    if not receipts:
        return
    now = utcnow()
    await conn.execute(
        dialect_insert(conn, EventReceipt.__table__).values([{"event_id": e, "handler": h, "handled_at": now} for e, h in receipts]).on_conflict_do_nothing()
    )


CORE_JOBS = [Job(name=DISPATCH_JOB, fn=dispatch_event, queue="events"), Job(name=DISPATCH_BATCH_JOB, fn=dispatch_events, queue="events")]

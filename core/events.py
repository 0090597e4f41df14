"""Domain events through a transactional outbox.

`record_event` adds the event in the caller's transaction. After the commit the relay
hands each event to the `core.dispatch_event` job, which runs every `handle_event`
implementation and keeps a receipt per (event, plugin). A crash anywhere in between
only delays delivery: the relay picks up whatever is unrelayed, and receipts make a
repeated dispatch a no-op for the handlers that already succeeded.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import ForeignKey, String, Text, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, IdMixin, utcnow
from core.jobs import Job

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

log = logging.getLogger("zhongcao.events")
PENDING_KEY = "zhongcao.pending_events"
DISPATCH_JOB = "core.dispatch_event"
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


class Relay:
    """Moves committed, unrelayed outbox rows to the job queue.

    Woken right after a commit that recorded events, and polls as a safety net for
    events whose process died before relaying them.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def relay_pending(self, limit: int = 200) -> int:
        """Send every unrelayed event once; return how many were sent."""
        db = self.runtime.db
        async with db.read_session() as session:
            rows = (
                await session.execute(
                    select(OutboxEvent.event_id).where(OutboxEvent.relayed_at.is_(None)).order_by(OutboxEvent.id).limit(limit)
                )
            ).scalars().all()
            # relayed long ago, never completed, nobody on it (its messages were lost or gave up)
            stale_before = utcnow() - timedelta(seconds=REDELIVER_AFTER_SECONDS)
            stale = (
                await session.execute(
                    select(OutboxEvent.event_id)
                    .where(
                        OutboxEvent.completed_at.is_(None),
                        OutboxEvent.relayed_at < stale_before,
                        OutboxEvent.attempts < MAX_SWEEPS,
                        or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < utcnow()),
                    )
                    .limit(limit)
                )
            ).scalars().all()
        if stale:
            async with db.session() as session:
                resend = []
                for event_id in stale:
                    done = await session.execute(
                        update(OutboxEvent)
                        .where(OutboxEvent.event_id == event_id, OutboxEvent.completed_at.is_(None), OutboxEvent.relayed_at < stale_before)
                        .values(relayed_at=utcnow())
                    )
                    if done.rowcount == 1:
                        resend.append(event_id)
                await session.commit()
            for event_id in resend:
                self.runtime.jobs.send(DISPATCH_JOB, event_id)
        if not rows:
            return 0
        # claim first (conditional), then send only what this relay claimed: two relays
        # (several processes) never queue the same event twice; a claim whose send was
        # lost to a crash is re-sent by the stale sweep above
        async with db.session() as session:
            claimed = []
            for event_id in rows:
                done = await session.execute(
                    update(OutboxEvent).where(OutboxEvent.event_id == event_id, OutboxEvent.relayed_at.is_(None)).values(relayed_at=utcnow())
                )
                if done.rowcount == 1:
                    claimed.append(event_id)
            await session.commit()
        for event_id in claimed:  # enqueue outside any transaction
            self.runtime.jobs.send(DISPATCH_JOB, event_id)
        return len(rows)  # looked at, so a full batch means "look again"

    async def run(self) -> None:
        poll = self.runtime.settings.relay_poll_seconds
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=poll)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                while await self.relay_pending() == 200:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep relaying; the poll retries
                log.exception("outbox relay failed; will retry")

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="zhongcao-outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None


async def dispatch_event(runtime: Runtime, event_id: str) -> None:
    """The `core.dispatch_event` job: run each plugin's handler once per event."""
    db = runtime.db
    now = utcnow()
    async with db.session() as session:
        claimed = await session.execute(
            update(OutboxEvent)
            .where(
                OutboxEvent.event_id == event_id,
                OutboxEvent.completed_at.is_(None),
                or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now),
            )
            .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
        )
        await session.commit()
        if claimed.rowcount == 0:
            row = (await session.execute(select(OutboxEvent.completed_at).where(OutboxEvent.event_id == event_id))).first()
            if row is None or row[0] is not None:
                return  # unknown or already complete: a duplicate delivery
            raise EventBusy(f"event {event_id} is being dispatched elsewhere")
        row = (await session.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))).scalar_one()
        done = set(
            (await session.execute(select(EventReceipt.handler).where(EventReceipt.event_id == event_id))).scalars()
        )
        event = Event(id=row.event_id, type=row.type, payload=row.payload, occurred_at=row.occurred_at)
    for impl in reversed(runtime.pm.hook.handle_event.get_hookimpls()):
        if impl.plugin_name in done:
            continue
        try:
            offered = {"event": event, "runtime": runtime}
            result = impl.function(**{name: offered[name] for name in impl.argnames})
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            async with db.session() as session:
                await session.execute(
                    update(OutboxEvent)
                    .where(OutboxEvent.event_id == event_id)
                    .values(attempts=OutboxEvent.attempts + 1, last_error=f"{impl.plugin_name}: {exc!r}"[:2000], claimed_until=None)
                )
                await session.commit()
            raise
        async with db.session() as session:
            session.add(EventReceipt(event_id=event_id, handler=impl.plugin_name))
            try:
                await session.commit()
            except IntegrityError:  # a concurrent dispatch finished it first
                await session.rollback()
    async with db.session() as session:
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.event_id == event_id)
            .values(completed_at=utcnow(), claimed_until=None, attempts=OutboxEvent.attempts + 1)
        )
        await session.commit()


CORE_JOBS = [Job(name=DISPATCH_JOB, fn=dispatch_event, queue="events")]

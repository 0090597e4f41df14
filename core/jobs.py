"""Dramatiq: Redis broker when ZHONGCAO_REDIS_URL is set, otherwise an in-process worker.

Actors are built from `register_jobs` at start-up and bound to this runtime's broker,
so there is no global broker. A job function receives the runtime first; `async def`
jobs run on the worker's own event loop with their own database engine.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.common import dq_name
from dramatiq.middleware import TimeLimit, default_middleware

if TYPE_CHECKING:
    from core.runtime import Runtime

log = logging.getLogger("zhongcao.jobs")
LATER_QUEUE = "later"  # jobs sent for later with `Jobs.send_later`


@dataclass(frozen=True)
class Job:
    """A background job. `fn(runtime, *args)`; must be idempotent (at-least-once delivery)."""

    name: str
    fn: Callable[..., Any]
    queue: str = "default"
    max_retries: int = 10
    min_backoff_ms: int = 500
    max_backoff_ms: int = 300_000
    time_limit_ms: int = 600_000
    periodic: bool = False  # enqueued by every process every `tick_seconds` (must be cheap when there is nothing to do)
    every_seconds: float = 0.0  # a periodic job's least interval between two sends by one process (0: every tick)


async def _cancel_running_jobs() -> None:
    """Cancel every other task on this loop and wait until each has unwound (its
    `async with session` blocks roll back and give their connections back)."""
    tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


class LoopThread:
    """A private event loop in a daemon thread, for async jobs run by Dramatiq worker threads."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop.is_running():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout=5)


class _ProcessTimeLimit(TimeLimit):
    """Dramatiq's TimeLimit starts a watchdog thread that never ends each time a broker
    boots. The in-process broker is made per runtime (a test suite makes hundreds, and
    700 watchdogs waking every second slowed the whole suite by half), so one
    middleware, and one watchdog, serves every in-process broker of the process."""

    _lock = threading.Lock()

    def after_process_boot(self, broker: dramatiq.Broker) -> None:
        with self._lock:
            if self.manager.ident is None:  # not started yet
                super().after_process_boot(broker)


_PROCESS_TIME_LIMIT = _ProcessTimeLimit()


def make_broker(redis_url: str | None, namespace: str) -> dramatiq.Broker:
    if redis_url:
        from dramatiq.brokers.redis import RedisBroker

        broker: dramatiq.Broker = RedisBroker(url=redis_url, namespace=namespace)
    else:
        broker = StubBroker(middleware=[m() for m in default_middleware if m is not TimeLimit] + [_PROCESS_TIME_LIMIT])
        broker.emit_after("process_boot")
    broker.declare_queue(LATER_QUEUE)  # every worker consumes it, whenever its jobs are registered
    return broker


def _join_worker(worker: dramatiq.Worker) -> None:
    """`Worker.join` without the consumers of `LATER_QUEUE`, whose delayed messages wait
    in the worker's memory until they are due (dramatiq's own loop, otherwise)."""
    consumers = [c for name, c in worker.consumers.items() if name not in (LATER_QUEUE, dq_name(LATER_QUEUE))]
    while True:
        for consumer in consumers:
            consumer.delay_queue.join()
        worker.work_queue.join()
        if not any(c.delay_queue.unfinished_tasks for c in consumers) and not worker.work_queue.unfinished_tasks:
            return


class Jobs:
    """The runtime's actors, its broker and (when asked) its worker."""

    # How long the worker's threads wait for a message before looking again: also what
    # `stop` waits at most for each of its two steps (workers, then consumers). The test
    # suite (core.testing) lowers it: a test that runs the app starts and stops a worker.
    worker_idle_ms = 100

    def __init__(self, runtime: Runtime, broker: dramatiq.Broker) -> None:
        self.runtime = runtime
        self.broker = broker
        self.actors: dict[str, dramatiq.Actor] = {}
        self.periodic: dict[str, float] = {}  # jobs the runtime's ticker enqueues -> least seconds between sends
        self._worker: dramatiq.Worker | None = None
        self._loop: LoopThread | None = None
        self._loop_lock = threading.Lock()

    def add(self, job: Job) -> dramatiq.Actor:
        if job.name in self.actors:
            raise ValueError(f"job {job.name!r} is registered twice")
        if job.periodic:
            self.periodic[job.name] = job.every_seconds
        fn = job.fn

        if inspect.iscoroutinefunction(fn):

            def run(*args: Any, **kwargs: Any) -> Any:
                return self.worker_loop().run(fn(self.runtime, *args, **kwargs))

        else:

            def run(*args: Any, **kwargs: Any) -> Any:
                return fn(self.runtime, *args, **kwargs)

        run.__name__ = job.name.replace(".", "_")
        actor = dramatiq.Actor(
            run,
            broker=self.broker,
            actor_name=job.name,
            queue_name=job.queue,
            priority=0,
            options={
                "max_retries": job.max_retries,
                "min_backoff": job.min_backoff_ms,
                "max_backoff": job.max_backoff_ms,
                "time_limit": job.time_limit_ms,
            },
        )
        self.actors[job.name] = actor
        return actor

    def send(self, name: str, *args: Any, **kwargs: Any) -> dramatiq.Message:
        """Enqueue a job. Call it only after the database commit that the job relies on."""
        return self.actors[name].send(*args, **kwargs)

    def send_later(self, name: str, delay_s: float, *args: Any) -> dramatiq.Message:
        """Enqueue a job to run `delay_s` seconds from now (a team's expiry). The job must be
        registered on `LATER_QUEUE` (tests' `join` does not wait for it). A delayed message
        can be lost with its broker (the in-process one, on a restart), so a periodic sweep
        must catch up with whatever it missed."""
        actor = self.actors[name]
        if actor.queue_name != LATER_QUEUE:
            raise ValueError(f"job {name!r} is sent for later: register it with queue={LATER_QUEUE!r}")
        return actor.send_with_options(args=args, delay=max(0, int(delay_s * 1000)))

    def worker_loop(self) -> LoopThread:
        with self._loop_lock:
            if self._loop is None:
                self._loop = LoopThread("zhongcao-jobs-loop")
            return self._loop

    def start_worker(self, threads: int = 2, queues: set[str] | None = None) -> dramatiq.Worker:
        if self._worker is None:
            self._worker = dramatiq.Worker(self.broker, queues=queues, worker_threads=threads, worker_timeout=self.worker_idle_ms)
            self._worker.start()
            log.info("dramatiq worker started (%s, %d threads)", type(self.broker).__name__, threads)
        return self._worker

    def join(self, timeout_s: float = 30.0) -> None:
        """Wait until every queued job has run (in-process broker only; used by tests and
        the demo). Jobs sent for later (`send_later`) are not waited for."""
        if isinstance(self.broker, StubBroker):
            for queue in list(self.broker.queues):
                if queue in (LATER_QUEUE, dq_name(LATER_QUEUE)):
                    continue  # jobs sent for later: a team's expiry a day away
                self.broker.join(queue, timeout=int(timeout_s * 1000))
            if self._worker:
                _join_worker(self._worker)

    def stop(self) -> None:
        if self._worker is not None:
            self._worker.stop(timeout=5000)
            self._worker = None
        if self._loop is not None:
            loop, self._loop = self._loop, None
            try:
                # a job still running after the worker's grace period (a slow handler under
                # load) would otherwise be frozen mid-transaction when the loop stops: its
                # connection (and on SQLite the write lock) would never be given back
                loop.run(_cancel_running_jobs(), timeout=10)
            except Exception:  # noqa: BLE001
                log.exception("cancelling the jobs still running failed")
            if self.runtime is not None:
                try:
                    loop.run(self.runtime.dispose_loop_databases(), timeout=5)
                except Exception:  # noqa: BLE001
                    log.exception("disposing the job loop's engine failed")
            loop.stop()
        self.broker.close()

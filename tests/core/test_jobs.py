"""Dramatiq broker selection, the in-process worker, and Redis with `zhongcao worker`."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from sqlalchemy import select

from core.events import OutboxEvent, record_event
from core.jobs import Job
from core.runtime import create_runtime
from tests.core import event_probe_plugin

REDIS_URL = os.environ.get("ZHONGCAO_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="ZHONGCAO_TEST_REDIS_URL not set (scripts/test.sh sets it)")


def test_in_process_broker_without_redis(zc_runtime):
    assert isinstance(zc_runtime.jobs.broker, StubBroker)
    assert zc_runtime.settings.run_inprocess_worker


def test_redis_broker_when_configured(zc_settings):
    runtime = create_runtime(zc_settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}))
    assert isinstance(runtime.jobs.broker, RedisBroker)
    assert not runtime.settings.run_inprocess_worker


def test_jobs_must_be_prefixed_by_their_plugin(zc_settings):
    import types

    from core import hookimpl
    from core.plugin_manager import PluginError

    plugin = types.ModuleType("p")

    @hookimpl
    def register_jobs():  # noqa: ANN202
        return [Job(name="other.thing", fn=lambda runtime: None)]

    plugin.register_jobs = register_jobs
    with pytest.raises(PluginError, match="'mine'.*other.thing"):
        create_runtime(zc_settings, [("mine", plugin)])


async def wait_completed(runtime, event_id: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        async with runtime.db.session() as s:
            row = (await s.execute(select(OutboxEvent.completed_at).where(OutboxEvent.event_id == event_id))).scalar_one()
        if row is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"event {event_id} not completed")


@needs_redis
async def test_events_flow_through_redis_in_process(zc_settings, zc_runtime, tmp_path, monkeypatch):
    effects = tmp_path / "effects.txt"
    monkeypatch.setenv("ZHONGCAO_TEST_EFFECTS", str(effects))
    runtime = create_runtime(zc_settings.model_copy(update={"redis_url": REDIS_URL}), [("probe", event_probe_plugin)])
    await runtime.start(worker=True, relay=True)
    try:
        async with runtime.db.session() as session:
            event_id = record_event(session, runtime, "probe.happened", {"via": "redis"})
            await session.commit()
        await wait_completed(runtime, event_id)
        assert effects.read_text().split() == [event_id]
    finally:
        await runtime.stop()


@needs_redis
async def test_zhongcao_worker_process_runs_jobs_from_redis(zc_settings, zc_runtime):
    settings = zc_settings.model_copy(update={"redis_url": REDIS_URL})
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGCAO_")}
    env.update(
        ZHONGCAO_VAR_DIR=str(settings.var_dir),
        ZHONGCAO_DATABASE_URL=settings.resolved_database_url,
        ZHONGCAO_REDIS_URL=REDIS_URL,
        ZHONGCAO_SECRET_KEY="x",
        ZHONGCAO_QUEUE_NAMESPACE=settings.queue_namespace,
    )
    zhongcao = str(Path(sys.executable).with_name("zhongcao"))
    worker = subprocess.Popen([zhongcao, "worker", "--threads", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    runtime = create_runtime(settings)
    try:
        await runtime.start(worker=False, relay=True)  # this process only relays
        async with runtime.db.session() as session:
            event_id = record_event(session, runtime, "user.signed_up", {"user_id": 0})
            await session.commit()
        await wait_completed(runtime, event_id, timeout=30)
    finally:
        await runtime.stop()
        worker.terminate()
        try:
            out, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            out, _ = worker.communicate()
    assert "worker running (RedisBroker" in out


def test_periodic_jobs_are_declared_by_their_jobs(zc_runtime):
    # the runtime's ticker enqueues exactly the jobs registered with periodic=True, plugins' included
    assert set(zc_runtime.jobs.periodic) >= {"core.expire_checkouts", "campaigns.collaboration_deadlines", "campaigns.approve_commissions", "notes.publish_due"}
    assert "notes.publish_due" not in set(zc_runtime.jobs.periodic) - set(zc_runtime.jobs.actors)


def test_a_periodic_job_with_an_interval_is_sent_once_per_interval():
    from core.runtime import due_periodic_jobs

    periodic, sent = {"core.every_tick": 0.0, "core.slow": 300.0}, {}
    assert due_periodic_jobs(periodic, sent, 1_000.0) == ["core.every_tick", "core.slow"]  # the first tick sends both
    assert due_periodic_jobs(periodic, sent, 1_030.0) == ["core.every_tick"]
    assert due_periodic_jobs(periodic, sent, 1_299.9) == ["core.every_tick"]
    assert due_periodic_jobs(periodic, sent, 1_300.0) == ["core.every_tick", "core.slow"]


def test_in_process_brokers_share_one_time_limit_watchdog():
    import threading

    from dramatiq.middleware.time_limit import _CtypesTimeoutManager

    from core.jobs import make_broker

    make_broker(None, "a")
    before = sum(isinstance(t, _CtypesTimeoutManager) for t in threading.enumerate())
    brokers = [make_broker(None, f"b{i}") for i in range(5)]
    assert sum(isinstance(t, _CtypesTimeoutManager) for t in threading.enumerate()) == before == 1
    assert all(any(type(m).__name__ == "_ProcessTimeLimit" for m in b.middleware) for b in brokers)  # time limits still apply


def test_a_job_sent_for_later_waits_in_the_delay_queue_and_join_does_not_wait_for_it(zc_runtime):
    from core.jobs import LATER_QUEUE

    ran = []
    zc_runtime.jobs.add(Job(name="test.later", fn=lambda _runtime, n: ran.append(n), queue=LATER_QUEUE))
    with pytest.raises(ValueError, match="register it with queue"):  # a job on another queue would hold `join` up
        zc_runtime.jobs.send_later(next(n for n, a in zc_runtime.jobs.actors.items() if a.queue_name != LATER_QUEUE), 60)
    zc_runtime.jobs.start_worker(threads=1)
    message = zc_runtime.jobs.send_later("test.later", 3600, 7)
    assert message.options["eta"] >= int(time.time() * 1000) + 3_590_000
    started = time.monotonic()
    zc_runtime.jobs.join(timeout_s=5)  # a day-long delay must not hold the tests (or the demo) up
    assert time.monotonic() - started < 4
    assert ran == []
    soon = zc_runtime.jobs.send_later("test.later", 0.2, 8)
    deadline = time.monotonic() + 10
    while not ran and time.monotonic() < deadline:
        time.sleep(0.05)
    assert ran == [8] and soon.options["eta"] < message.options["eta"]

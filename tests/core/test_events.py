"""Outbox, relay and dispatch: delivered after commit, never before, exactly once in effect."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.events import DISPATCH_JOB, EventReceipt, OutboxEvent, UnknownEventType, record_event
from tests.core import event_probe_plugin

pytestmark = pytest.mark.usefixtures("effects_file")


@pytest.fixture
def effects_file(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "effects.txt"
    monkeypatch.setenv("ZHONGCAO_TEST_EFFECTS", str(path))
    event_probe_plugin.FAIL_ONCE.clear()
    return path


@pytest.fixture
def zc_extra_plugins():
    return [("probe", event_probe_plugin)]


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


async def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def outbox_count(runtime) -> int:
    async with runtime.db.session() as s:
        return (await s.execute(select(func.count()).select_from(OutboxEvent))).scalar_one()


async def test_event_is_written_only_with_its_transaction(zc_runtime):
    async with zc_runtime.db.session() as session:
        record_event(session, zc_runtime, "probe.happened", {"n": 1})
        await session.flush()
        await session.rollback()
    assert await outbox_count(zc_runtime) == 0
    async with zc_runtime.db.session() as session:
        record_event(session, zc_runtime, "probe.happened", {"n": 2})
        await session.commit()
    assert await outbox_count(zc_runtime) == 1


async def test_unknown_event_type_is_refused(zc_runtime):
    async with zc_runtime.db.session() as session:
        with pytest.raises(UnknownEventType, match="probe.typo"):
            record_event(session, zc_runtime, "probe.typo", {})


async def test_the_relay_stops_even_when_a_cancellation_is_swallowed_below_it(zc_runtime, monkeypatch):
    """A shutdown once waited for the relay for good: its cancellation, arriving inside
    the database driver, was swallowed there and the relay went on polling."""
    relay = zc_runtime.relay
    inside = asyncio.Event()

    async def swallowing(*_args, **_kwargs) -> int:
        inside.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass  # what the driver did: the cancellation is lost here
        return 0

    monkeypatch.setattr(relay, "relay_pending", swallowing)
    relay.start()
    relay.wake()
    await asyncio.wait_for(inside.wait(), 5)
    task = relay._task
    await asyncio.wait_for(relay.stop(), 5)  # without the stop flag: forever
    assert task is not None and task.done() and relay._task is None


async def test_event_delivered_to_handlers_after_commit(zc_runtime, effects_file):
    await zc_runtime.start(worker=True, relay=True)
    async with zc_runtime.db.session() as session:
        event_id = record_event(session, zc_runtime, "probe.happened", {"n": 1})
        await asyncio.sleep(0.3)
        assert lines(effects_file) == []  # nothing before commit
        await session.commit()

    async def delivered() -> bool:
        async with zc_runtime.db.session() as s:
            row = (await s.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))).scalar_one()
            return row.completed_at is not None

    await wait_for(delivered)
    assert lines(effects_file) == [event_id]
    async with zc_runtime.db.session() as s:
        handlers = set((await s.execute(select(EventReceipt.handler).where(EventReceipt.event_id == event_id))).scalars())
    # every handle_event implementation of the loaded plugins, the core's own included
    expected = {impl.plugin_name for impl in zc_runtime.pm.hook.handle_event.get_hookimpls()}
    assert {"probe", "core"} <= handlers and handlers == expected


async def test_failing_handler_is_retried_and_succeeds_once(zc_runtime, effects_file):
    await zc_runtime.start(worker=True, relay=True)
    async with zc_runtime.db.session() as session:
        event_id = record_event(session, zc_runtime, "probe.happened", {"fail_once": True})
        await session.commit()

    async def completed() -> bool:
        async with zc_runtime.db.session() as s:
            row = (await s.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))).scalar_one()
            return row.completed_at is not None

    await wait_for(completed, timeout=20)
    assert effects_file.with_suffix(".calls").read_text().split() == [event_id, event_id]  # failed, then retried
    assert lines(effects_file) == [event_id]
    async with zc_runtime.db.session() as s:
        row = (await s.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))).scalar_one()
        assert "transient failure" in (row.last_error or "")


async def test_repeated_dispatch_runs_no_handler_twice(zc_runtime, effects_file):
    """Dramatiq may deliver a message twice; receipts make the second a no-op."""
    await zc_runtime.start(worker=True, relay=False)
    async with zc_runtime.db.session() as session:
        event_id = record_event(session, zc_runtime, "probe.happened", {})
        await session.commit()
    for _ in range(3):
        zc_runtime.jobs.send(DISPATCH_JOB, event_id)
    await asyncio.to_thread(zc_runtime.jobs.join)
    assert effects_file.with_suffix(".calls").read_text().split() == [event_id]


PROCESS = textwrap.dedent(
    """
    import asyncio, json, os, signal, sys
    sys.path.insert(0, {repo!r})
    from core.runtime import create_runtime
    from core.settings import Settings
    from core.events import record_event
    from tests.core import event_probe_plugin

    settings = Settings(var_dir={var!r}, database_url={url!r}, secret_key="x", relay_poll_seconds=0.2, queue_namespace={ns!r})
    runtime = create_runtime(settings, [("probe", event_probe_plugin)])

    async def crash_after_commit():
        await runtime.start(worker=True, relay=True)
        async with runtime.db.session() as session:
            event_id = record_event(session, runtime, "probe.happened", {{"n": 1}})
            await session.commit()
            # no await between the commit and the kill: the relay never gets a turn
            print(json.dumps({{"event_id": event_id}}), flush=True)
            os.kill(os.getpid(), signal.SIGKILL)

    async def restart():
        await runtime.start(worker=True, relay=True)
        for _ in range(200):
            await asyncio.sleep(0.05)
            if open(os.environ["ZHONGCAO_TEST_EFFECTS"]).read().strip() if os.path.exists(os.environ["ZHONGCAO_TEST_EFFECTS"]) else False:
                break
        await asyncio.to_thread(runtime.jobs.join)
        await runtime.stop()

    asyncio.run(crash_after_commit() if sys.argv[1] == "crash" else restart())
    """
)


async def test_relay_killed_between_commit_and_delivery(zc_runtime, zc_settings, effects_file, tmp_path):
    script = tmp_path / "proc.py"
    repo = str(Path(__file__).resolve().parents[2])
    script.write_text(
        PROCESS.format(repo=repo, var=str(zc_settings.var_dir), url=zc_settings.resolved_database_url, ns=zc_settings.queue_namespace)
    )
    env = {**os.environ, "PYTHONPATH": repo}

    crashed = await asyncio.to_thread(subprocess.run, [sys.executable, str(script), "crash"], capture_output=True, text=True, env=env, timeout=60)
    assert crashed.returncode == -9, crashed.stderr
    event_id = json.loads(crashed.stdout.strip().splitlines()[-1])["event_id"]
    async with zc_runtime.db.session() as s:
        row = (await s.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))).scalar_one()
        assert row.relayed_at is None and row.completed_at is None  # committed, never delivered
    assert lines(effects_file) == []

    restarted = await asyncio.to_thread(subprocess.run, [sys.executable, str(script), "restart"], capture_output=True, text=True, env=env, timeout=60)
    assert restarted.returncode == 0, restarted.stderr
    assert lines(effects_file) == [event_id]

    # a third start (say, after another crash) delivers nothing again
    again = await asyncio.to_thread(subprocess.run, [sys.executable, str(script), "restart"], capture_output=True, text=True, env=env, timeout=60)
    assert again.returncode == 0, again.stderr
    assert lines(effects_file) == [event_id]
    assert effects_file.with_suffix(".calls").read_text().split() == [event_id]
    async with zc_runtime.db.session() as s:
        row = (await s.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))).scalar_one()
        assert row.completed_at is not None

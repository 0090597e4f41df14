"""Expiry with the worker killed in between, then restarted: a team still fails and its
members' authorizations are voided when the process holding its delayed job dies.

- Redis (`zhongcao worker` as a subprocess): the worker takes the team's delayed expiry
  job from Redis and holds it until it is due; it is SIGKILLed first. Redis gives a dead
  worker's messages back only after its heartbeat times out (a minute), so the job is
  stuck; the restarted worker's periodic sweep expires the team. Skips without
  ZHONGCAO_TEST_REDIS_URL (set by scripts/test.sh), like tests/core/test_jobs.py.
- Embedded mode: the delayed job lives in the process's in-memory broker and is lost with
  it; the new process's sweep catches the team.

The app's in-process runtime is not started here: each test runs its own processes.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from core.db import utcnow
from core.payments.models import Payment
from core.runtime import create_runtime
from plugins.group_buy import service
from plugins.group_buy.models import MemberStatus, Team, TeamMember
from tests.plugins.group_buy.helpers import join_and_pay, make_offer, open_and_pay

REDIS_URL = os.environ.get("ZHONGCAO_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="ZHONGCAO_TEST_REDIS_URL not set (scripts/test.sh sets it)")


@pytest.fixture
def _app_running():  # noqa: PT004 - overrides the package's autouse fixture: no in-process app here
    return None


async def wait_for(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def team_state(runtime: Any, team_id: int) -> tuple[str, list[str], list[str]]:
    """(team status, member statuses, payment statuses)."""
    async with runtime.db.read_session() as s:
        team = (await s.execute(select(Team.status).where(Team.id == team_id))).scalar_one()
        members = (await s.execute(select(TeamMember.status).where(TeamMember.team_id == team_id).order_by(TeamMember.id))).scalars().all()
        paid = (await s.execute(select(Payment.status).join(TeamMember, TeamMember.checkout_id == Payment.checkout_id).where(TeamMember.team_id == team_id).order_by(TeamMember.id))).scalars().all()
    return team, list(members), list(paid)


async def set_expiry(runtime: Any, team_id: int, when: Any) -> None:
    async with runtime.db.session() as s:
        await s.execute(update(Team).where(Team.id == team_id).values(expires_at=when))
        await s.commit()


# ---------------------------------------------------------------- Redis: `zhongcao worker` killed and restarted


class WorkerProcess:
    """`zhongcao worker` for the delayed and default queues (expiry jobs, the sweep),
    ticking every half second; its output is collected by a thread."""

    def __init__(self, settings: Any) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGCAO_")}
        env.update(
            ZHONGCAO_VAR_DIR=str(settings.var_dir),
            ZHONGCAO_DATABASE_URL=settings.resolved_database_url,
            ZHONGCAO_REDIS_URL=REDIS_URL,
            ZHONGCAO_SECRET_KEY="x",
            ZHONGCAO_QUEUE_NAMESPACE=settings.queue_namespace,
            ZHONGCAO_TICK_SECONDS="0.5",
            ZHONGCAO_RELAY_POLL_SECONDS="0.2",
        )
        zhongcao = str(Path(sys.executable).with_name("zhongcao"))
        self.proc = subprocess.Popen([zhongcao, "worker", "--threads", "2", "--queues", "later,default"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    async def ready(self) -> None:
        async def running() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError("the worker exited:\n" + "".join(self.lines))
            return any("worker running (RedisBroker" in line for line in self.lines)

        await wait_for(running, 30, "the worker to start")

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(timeout=5)


@needs_redis
async def test_a_team_expires_although_the_worker_holding_its_job_was_killed(zc_settings, zc_runtime, zc_make_user, zc_make_product):
    import redis

    settings = zc_settings.model_copy(update={"redis_url": REDIS_URL})
    # this process plays the web process: it takes the payments (the sandbox provider keeps
    # its authorizations in this process's memory, so it must void them too) and runs the
    # event handlers; the worker subprocess runs the delayed jobs and the periodic sweep
    web = create_runtime(settings)
    await web.start(worker=False, relay=True)
    web.jobs.start_worker(threads=2, queues={"events"})
    keys = redis.Redis.from_url(REDIS_URL)
    workers: list[WorkerProcess] = []
    try:
        first = WorkerProcess(settings)
        workers.append(first)
        offer, _variant, _owner = await make_offer(web, zc_make_user, zc_make_product, brand="worker-team-brand", size=3)
        leader, friend = await zc_make_user(), await zc_make_user()
        seat = await open_and_pay(web, leader, offer.id)  # the helpers' settle only relays here: the events run on the web's worker, from Redis

        async def authorized(count: int) -> bool:
            return (await team_state(web, seat.team_id))[1] == [MemberStatus.AUTHORIZED] * count

        await wait_for(lambda: authorized(1), 15, "the leader's card to be authorized (others can join then)")
        await join_and_pay(web, friend, seat.team_id)
        await wait_for(lambda: authorized(2), 15, "both members to be authorized")
        await first.ready()

        # the team's time runs out in two seconds; its expiry job is due half a second later
        expires = utcnow() + timedelta(seconds=2)
        await set_expiry(web, seat.team_id, expires)
        message = web.jobs.send_later(service.EXPIRE_JOB, 2.5, seat.team_id)
        held_as, ns = message.options["redis_message_id"], settings.queue_namespace

        async def held_by_the_dead_worker() -> bool:  # taken off the delay queue into the worker's unacknowledged set
            return any(keys.sismember(k, held_as) for k in keys.scan_iter(f"{ns}:__acks__.*.later.DQ"))

        await wait_for(held_by_the_dead_worker, 2, "the worker to take the delayed job")
        first.kill()  # SIGKILL before the job is due: no shutdown, the job dies in its memory
        await asyncio.sleep(max(0.0, (expires - utcnow()).total_seconds()) + 0.1)
        assert (await team_state(web, seat.team_id))[0] == "open"

        second = WorkerProcess(settings)  # restarted, once the team is due: its first sweep finds it
        workers.append(second)
        await second.ready()

        failed = ("failed", [MemberStatus.REFUNDED, MemberStatus.REFUNDED], ["cancelled", "cancelled"])

        async def voided() -> bool:
            return await team_state(web, seat.team_id) == failed

        await wait_for(voided, 20, "the team to fail and its authorizations to be voided")
        # the delayed job never ran: Redis hands a dead worker's messages back only after its
        # heartbeat times out (a minute); the sweep did it (and the job will find nothing to do)
        assert await held_by_the_dead_worker()
        async with web.db.read_session() as s:
            assert (await s.execute(select(Team.closed_reason).where(Team.id == seat.team_id))).scalar_one() == "expired"
        assert web.payment_providers["sandbox"].ledger() == (0, 0)  # nothing was ever taken
    finally:
        for worker in workers:
            worker.stop()
        await web.stop()
        keys.close()


# ---------------------------------------------------------------- embedded: the process (and its broker) restarted


async def test_a_delayed_expiry_lost_with_its_process_is_caught_by_the_sweep(zc_settings, zc_runtime, zc_make_user, zc_make_product):
    before = create_runtime(zc_settings)
    await before.start(worker=True, relay=True)
    try:
        offer, variant, _owner = await make_offer(before, zc_make_user, zc_make_product, brand="restart-team-brand", size=3, stock=5)
        leader, friend = await zc_make_user(), await zc_make_user()
        seat = await open_and_pay(before, leader, offer.id)
        await join_and_pay(before, friend, seat.team_id)
        async with before.db.read_session() as s:
            assert (await s.get(Team, seat.team_id)).expires_at > utcnow() + timedelta(hours=23)  # its expiry job waits a day, in memory
        sandbox = before.payment_providers["sandbox"]
    finally:
        await before.stop()  # the process ends: its in-memory broker, and the team's delayed job, are gone

    after = create_runtime(zc_settings)
    # a payment provider outlives the process (Stripe does; the sandbox keeps its
    # authorizations in memory, so the new process is handed the same one)
    after.payment_providers["sandbox"] = sandbox
    assert all(q.empty() for q in after.jobs.broker.queues.values())  # nothing remembers the team's expiry
    await after.start(worker=True, relay=True)
    try:
        await set_expiry(after, seat.team_id, utcnow() - timedelta(seconds=1))
        assert await team_state(after, seat.team_id) == ("open", [MemberStatus.AUTHORIZED, MemberStatus.AUTHORIZED], ["authorized", "authorized"])
        after.jobs.send(service.SWEEP_JOB)  # what the new process's ticker sends on its first tick

        async def voided() -> bool:
            await after.relay.relay_pending()
            return await team_state(after, seat.team_id) == ("failed", [MemberStatus.REFUNDED, MemberStatus.REFUNDED], ["cancelled", "cancelled"])

        await wait_for(voided, 15, "the sweep to fail the team and void its authorizations")
        assert sandbox.ledger() == (0, 0)
        from core.inventory import service as inventory

        async with after.db.read_session() as s:
            assert (await inventory.snapshot(s, variant.id)).available == 5  # the held units are back
        assert (await service.sweep(after)) == {"expired": 0, "freed": 0}  # a second sweep finds nothing
    finally:
        await after.stop()


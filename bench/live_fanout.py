"""Live room fan-out: 1,000 WebSocket viewers in one room, talkers chatting, on one process.

Run from the project root with the project venv:

    .venv/bin/python bench/live_fanout.py [--viewers 1000] [--talkers 50] [--seconds 20] [--slow 20]

One granian worker (one process) serves the embedded default (SQLite, channels in memory)
with one live room. This process opens --viewers anonymous sockets and --slow sockets that
never read (slow clients: they must not stall the room), then --talkers signed-in viewers
each send a chat message every 2 s (the room's rate limit) for --seconds. Every message
carries its send time; each viewer records when it arrived.

Prints delivered messages/s (chat messages received by the reading viewers / wall time),
p50/p95/p99 delivery latency, and memory per connection (the server's RSS after the
sockets opened minus before, / sockets). The baseline, measured in the same run with the
same client: a bare Litestar app whose WebSocket handler publishes every frame to one
channel (ChannelsPlugin, memory backend) with nothing else: no session, no checks, no
database. The ratios say what Zhongcao's room costs over that floor.

The client shares the machine's CPUs with the server: on 2 cores it is a real part of the
figure (a Python client decoding tens of thousands of frames per second).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets
from _support import conditions, exit_on_sigterm, fmt_ms, percentile, print_conditions, table, zhongcao_env
from http_overhead import ROOT, BenchError, ServerProcess, base_env, free_port

PASSWORD = "bench-password-1"
BARE_APP = "live_bare_app:app"


# --------------------------------------------------------------------------- the server's data


async def seed(var_dir: Path, url: str, secret: str, talkers: int) -> int:
    """A brand, its owner, a live room, and `talkers` accounts; the room's id."""
    from sqlalchemy import insert, select

    from core import migrate
    from core.auth.models import User
    from core.auth.service import load_actor, signup
    from core.catalog.models import Brand, BrandMember
    from core.runtime import create_runtime
    from core.settings import Settings
    from plugins.live import service

    runtime = create_runtime(Settings(var_dir=var_dir, database_url=url, redis_url=None, secret_key=secret, plugins_disabled="", inprocess_worker=False))
    await migrate.upgrade(runtime)
    async with runtime.db.session() as s:
        owner = await signup(s, runtime, email="owner@bench.example", password=PASSWORD, display_name="Owner")
        brand = Brand(slug="bench-brand", name="Bench Brand")
        s.add(brand)
        await s.flush()
        s.add(BrandMember(brand_id=brand.id, user_id=owner.id, role="owner"))
        await s.flush()
        rows = [
            {"email": f"talker{i}@bench.example", "password_hash": owner.password_hash, "display_name": f"talker{i}", "locale": "en", "is_active": True, "auth_epoch": 0}
            for i in range(talkers)
        ]  # fmt: skip
        await s.execute(insert(User), rows)
        actor = await load_actor(s, owner.id)
        room = await service.create_room(s, runtime, actor, "bench-brand", title="Bench room")
        await service.go_live(s, runtime, actor, room.id)
        await s.commit()
        room_id = room.id
        assert (await s.execute(select(User.id).where(User.email == "talker0@bench.example"))).scalar_one_or_none() or talkers == 0
    await runtime.stop()
    await runtime.dispose_loop_databases()
    return room_id


def session_cookie(base: str, email: str) -> str:
    with httpx.Client(base_url=base, follow_redirects=False, timeout=30) as client:
        client.get("/login")
        token = client.cookies.get("zc_csrf")
        r = client.post("/login", data={"email": email, "password": PASSWORD, "_csrf_token": token, "next": "/"})
        if r.status_code != 303 or not client.cookies.get("zc_session"):
            raise BenchError(f"login as {email} failed: {r.status_code} {r.text[:200]}")
        return client.cookies.get("zc_session")


# --------------------------------------------------------------------------- the client


def rss_kb(root_pid: int) -> int:
    """Resident memory of a process and its children (granian's worker), in KiB."""
    total = 0
    pids = [root_pid]
    while pids:
        pid = pids.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            pids.extend(int(c) for c in children)
        except (OSError, AttributeError):
            continue
    return total


async def run_room(ws_url: str, *, viewers: int, slow: int, talker_cookies: list[str], seconds: float, chat_frame, server_pid: int) -> dict:
    latencies: list[float] = []
    received = 0
    errors: dict[str, int] = {}
    stop = asyncio.Event()

    async def viewer() -> None:
        nonlocal received
        try:
            async with websockets.connect(ws_url, max_size=2**20, open_timeout=60, ping_interval=None) as ws:
                opened.append(1)
                while not stop.is_set():
                    try:
                        raw = await asyncio.wait_for(ws.recv(), timeout=1.0)
                    except TimeoutError:
                        continue
                    message = json.loads(raw)
                    if message.get("type") == "chat":
                        sent = float(message["text"].split("|", 1)[0])
                        latencies.append((time.time() - sent) * 1000)
                        received += 1
        except Exception as exc:  # noqa: BLE001 - counted
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

    async def slow_viewer() -> None:
        try:
            async with websockets.connect(ws_url, max_size=2**20, open_timeout=60, ping_interval=None, max_queue=1) as ws:
                opened.append(1)
                await stop.wait()  # never reads: its buffers fill
                del ws
        except Exception as exc:  # noqa: BLE001
            errors["slow:" + type(exc).__name__] = errors.get("slow:" + type(exc).__name__, 0) + 1

    async def talker(cookie: str | None, n: int) -> None:
        headers = {"Cookie": f"zc_session={cookie}"} if cookie else {}
        try:
            async with websockets.connect(ws_url, additional_headers=headers, open_timeout=60, ping_interval=None) as ws:
                await asyncio.sleep(n * 2.0 / max(1, len(talker_cookies)))  # spread over the 2 s interval
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    await ws.send(chat_frame(f"{time.time():.6f}|hello from {n}"))
                    await asyncio.sleep(2.05)
                    while True:  # drain what the room sent it (its own reads must not pile up)
                        try:
                            await asyncio.wait_for(ws.recv(), timeout=0.001)
                        except TimeoutError:
                            break
        except Exception as exc:  # noqa: BLE001
            errors["talker:" + type(exc).__name__] = errors.get("talker:" + type(exc).__name__, 0) + 1

    opened: list[int] = []
    before = rss_kb(server_pid)
    tasks = [asyncio.create_task(viewer()) for _ in range(viewers)] + [asyncio.create_task(slow_viewer()) for _ in range(slow)]
    deadline = time.monotonic() + 120
    while len(opened) < viewers + slow and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    await asyncio.sleep(1.0)
    after = rss_kb(server_pid)
    connected = len(opened)
    started = time.monotonic()
    talkers = [asyncio.create_task(talker(c, i)) for i, c in enumerate(talker_cookies)]
    await asyncio.gather(*talkers)
    await asyncio.sleep(2.0)  # the last messages arrive
    wall = time.monotonic() - started
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    return {
        "connected": connected, "received": received, "wall_s": wall, "per_s": received / wall if wall else 0,
        "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "p99_ms": percentile(latencies, 99),
        "rss_per_conn_kb": (after - before) / connected if connected else None, "errors": errors,
    }  # fmt: skip


def ws_server(target: str, port: int, env: dict[str, str], log: Path) -> ServerProcess:
    """One granian worker with WebSockets on (the shared helper turns them off)."""
    srv = ServerProcess("granian", target, 1, port, env, log)
    srv.cmd = [c for c in srv.cmd if c != "--no-ws"]
    return srv


def zhongcao_frame(text: str) -> str:
    return json.dumps({"type": "chat", "text": text})


def bare_frame(text: str) -> str:
    return json.dumps({"type": "chat", "text": text})


def main() -> int:
    exit_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--viewers", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=20)
    parser.add_argument("--talkers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()

    cond = conditions({"viewers": args.viewers, "slow_viewers": args.slow, "talkers": args.talkers, "seconds": args.seconds, "server": "granian, 1 worker", "backend": "sqlite, channels in memory"})
    print_conditions(cond)
    work = Path(tempfile.mkdtemp(prefix="zc-bench-live-"))
    results = {}
    try:
        # the baseline: a bare channels fan-out
        port = free_port()
        print("\nbaseline: bare Litestar + ChannelsPlugin")
        with ws_server(BARE_APP, port, base_env(), work / "bare.log") as srv:
            srv.wait_ready("/health")
            results["bare"] = asyncio.run(run_room(
                f"ws://127.0.0.1:{port}/room", viewers=args.viewers, slow=args.slow, talker_cookies=[None] * args.talkers, seconds=args.seconds,
                chat_frame=bare_frame, server_pid=srv.proc.pid,
            ))  # fmt: skip
        # Zhongcao's room
        port = free_port()
        var_dir = work / "var"
        env = zhongcao_env(var_dir, port)
        env["ZHONGCAO_DATABASE_URL"] = f"sqlite+aiosqlite:///{var_dir}/bench.db"
        var_dir.mkdir()
        room_id = asyncio.run(seed(var_dir, env["ZHONGCAO_DATABASE_URL"], env["ZHONGCAO_SECRET_KEY"], args.talkers))
        print("\nzhongcao: /live/rooms/{id}/ws")
        with ws_server("core.asgi:app", port, env, work / "zhongcao.log") as srv:
            srv.wait_ready("/health")
            base = f"http://127.0.0.1:{port}"
            cookies = [session_cookie(base, f"talker{i}@bench.example") for i in range(args.talkers)]
            results["zhongcao"] = asyncio.run(run_room(
                f"ws://127.0.0.1:{port}/live/rooms/{room_id}/ws", viewers=args.viewers, slow=args.slow, talker_cookies=cookies, seconds=args.seconds,
                chat_frame=zhongcao_frame, server_pid=srv.proc.pid,
            ))  # fmt: skip
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)

    rows = []
    for name, r in results.items():
        rows.append([
            name, str(r["connected"]), f"{r['per_s']:,.0f}", fmt_ms(r["p50_ms"]), fmt_ms(r["p95_ms"]), fmt_ms(r["p99_ms"]),
            f"{r['rss_per_conn_kb']:.1f} KiB" if r["rss_per_conn_kb"] is not None else "?", json.dumps(r["errors"]) if r["errors"] else "-",
        ])  # fmt: skip
    print()
    print(table(["server", "sockets", "delivered/s", "p50", "p95", "p99", "memory/conn", "errors"], rows, right={1, 2, 3, 4, 5, 6}))
    if "bare" in results and "zhongcao" in results and results["bare"]["per_s"]:
        z, b = results["zhongcao"], results["bare"]
        print(f"\nratio zhongcao/bare: delivered/s {z['per_s'] / b['per_s']:.2f}x   p99 {(z['p99_ms'] or 0) / (b['p99_ms'] or 1):.2f}x")
        target = z["per_s"] >= 20_000 and (z["p99_ms"] or 1e9) < 250
        print(f"target (>= 20,000 delivered/s, p99 < 250 ms): {'PASS' if target else 'MISS'}")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())

"""Live room fan-out: 1,000 WebSocket viewers in one room, talkers chatting, on one process.

Run from the project root with the project venv:

    .venv/bin/python bench/live_fanout.py [--viewers 1000] [--talkers 80] [--talk-every 2.4] [--seconds 20]
                                          [--slow 20] [--client node|python] [--client-procs 1]

One granian worker (one process) serves the embedded default (SQLite, channels in memory)
with one live room. The client opens --viewers anonymous sockets and --slow sockets that
never read (slow clients: they must not stall the room), then --talkers signed-in viewers
each send a chat message every --talk-every seconds (the room allows one per 2 s; the
margin keeps a message the server handled late from making the next look early) for
--seconds, staggered over the first period. Every message
carries its send time; each viewer records when it arrived.

The client (--client): `node` (the default) is bench/live_fanout_client.mjs, Node's
built-in WebSocket (Node >= 20, `--experimental-websocket`, no npm package), in
--client-procs processes (viewers, slow viewers and talkers split between them); this
script starts the servers, seeds, signs the talkers in, samples the server's memory and
CPU, and merges the processes' latency histograms (0.1 ms buckets below 1 s, 1 ms above;
a percentile is its bucket's upper edge). `python` is the original in-process client (the
`websockets` library), kept for comparison: it takes a whole core itself and its talkers
fall behind (~3x the node client's CPU per delivered message).
Both do the same work per frame (parse the JSON, take the send time from each chat
message's text; a frame may hold several messages: Zhongcao's room batches what arrives
within 50 ms, the bare app sends one frame per message). The node client also counts the
frames that carried chat, to show the batching (messages a frame).

Prints delivered messages/s (chat messages received by the reading viewers / wall time,
from the talkers' start to 2 s after their last message), the share of what was offered
(chat messages the room accepted x reading viewers; the clients count the talkers' refusals,
e.g. rate_limited when a late-processed message makes the next one look early; with the
stagger a perfect server delivers somewhat less than the nominal talkers x viewers /
period over this window: ~26,500/s at the defaults, nominal 33,333), p50/p95/p99 delivery latency, memory per
connection (the server's RSS after the sockets opened minus before, / sockets), and the
CPU the server (and its busiest thread) and the client used in the window (CPU seconds /
wall seconds: 1.00 = one core busy). The baseline, measured in the same run with the
same client: a bare Litestar app whose WebSocket handler publishes every frame to one
channel (ChannelsPlugin, memory backend) with nothing else: no session, no checks, no
database. The ratios say what Zhongcao's room costs over that floor.

The client shares the machine's CPUs with the server: with the Python client, on 2 cores,
it is a real part of the figure (decoding tens of thousands of frames per second); the
"client cpu" column says how much of them it took.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import queue
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import websockets
from _support import conditions, exit_on_sigterm, fmt_ms, percentile, print_conditions, table, version_of, zhongcao_env
from http_overhead import ROOT, BenchError, ServerProcess, base_env, free_port, tail

PASSWORD = "bench-password-1"
BARE_APP = "live_bare_app:app"
NODE_CLIENT = Path(__file__).resolve().parent / "live_fanout_client.mjs"
CLK_TCK = os.sysconf("SC_CLK_TCK")


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


def process_tree(root_pid: int) -> Iterator[int]:
    """A process and its descendants (granian's worker), while they are there."""
    pids = [root_pid]
    while pids:
        pid = pids.pop()
        yield pid
        try:
            pids.extend(int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        except (OSError, ValueError):
            continue


def stat_cpu_s(stat: Path) -> float:
    """CPU seconds (user + system) from a /proc .../stat file."""
    text = stat.read_text()
    fields = text[text.rfind(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime


def rss_kb(root_pid: int) -> int:
    """Resident memory of a process and its children, in KiB."""
    total = 0
    for pid in process_tree(root_pid):
        try:
            total += int(re.search(r"VmRSS:\s+(\d+)", Path(f"/proc/{pid}/status").read_text()).group(1))
        except (OSError, AttributeError):
            continue
    return total


def cpu_s(root_pid: int) -> float:
    """CPU seconds used so far by a process and its children."""
    total = 0.0
    for pid in process_tree(root_pid):
        try:
            total += stat_cpu_s(Path(f"/proc/{pid}/stat"))
        except (OSError, ValueError, IndexError):
            continue
    return total


def thread_cpu_s(root_pid: int) -> dict[int, float]:
    """CPU seconds so far of every thread of a process and its children, by thread id."""
    out: dict[int, float] = {}
    for pid in process_tree(root_pid):
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                out[int(task.name)] = stat_cpu_s(task / "stat")
        except (OSError, ValueError, IndexError):
            continue
    return out


def busiest_thread_s(before: dict[int, float], after: dict[int, float]) -> float:
    """The most CPU one server thread used between two thread_cpu_s samples (the Python
    thread of granian's worker, when the event loop is the limit)."""
    return max((t - before.get(tid, 0.0) for tid, t in after.items()), default=0.0)


def self_cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def run_room(ws_url: str, *, viewers: int, slow: int, talker_cookies: list[str], seconds: float, talk_every: float, chat_frame, server_pid: int) -> dict:
    latencies: list[float] = []
    received = 0
    sent_count = 0
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
                    data = json.loads(raw)
                    for message in data if isinstance(data, list) else [data]:  # a busy room batches messages in one frame
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
        nonlocal sent_count
        headers = {"Cookie": f"zc_session={cookie}"} if cookie else {}
        try:
            async with websockets.connect(ws_url, additional_headers=headers, open_timeout=60, ping_interval=None) as ws:
                await asyncio.sleep(n * talk_every / max(1, len(talker_cookies)))  # spread over one period
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    await ws.send(chat_frame(f"{time.time():.6f}|hello from {n}"))
                    sent_count += 1
                    await asyncio.sleep(talk_every)
                    while True:  # drain what the room sent it (its own reads must not pile up)
                        try:
                            raw = await asyncio.wait_for(ws.recv(), timeout=0.001)
                        except TimeoutError:
                            break
                        if '"error"' in raw and isinstance(reply := json.loads(raw), dict) and reply.get("type") == "error":  # a refusal, e.g. rate_limited
                            key = f"talker:refused:{reply.get('code')}"
                            errors[key] = errors.get(key, 0) + 1
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
    server_cpu0, threads0, client_cpu0 = cpu_s(server_pid), thread_cpu_s(server_pid), self_cpu_s()
    talkers = [asyncio.create_task(talker(c, i)) for i, c in enumerate(talker_cookies)]
    await asyncio.gather(*talkers)
    await asyncio.sleep(2.0)  # the last messages arrive
    wall = time.monotonic() - started
    server_cpu, client_cpu = cpu_s(server_pid) - server_cpu0, self_cpu_s() - client_cpu0
    server_thread = busiest_thread_s(threads0, thread_cpu_s(server_pid))
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    return {
        "connected": connected, "received": received, "wall_s": wall, "per_s": received / wall if wall else 0,
        "p50_ms": percentile(latencies, 50), "p95_ms": percentile(latencies, 95), "p99_ms": percentile(latencies, 99),
        "rss_per_conn_kb": (after - before) / connected if connected else None, "errors": errors,
        "sent": sent_count, "reading": viewers, "server_cpu_s": server_cpu, "server_thread_cpu_s": server_thread, "client_cpu_s": client_cpu,
    }  # fmt: skip


# --------------------------------------------------------------------------- the Node.js client


def node_command() -> list[str]:
    node = shutil.which("node")
    if node is None:
        raise BenchError("no `node` on PATH (Node.js >= 20 runs the client); or run with --client python")
    major = int(subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip().lstrip("v").split(".")[0] or 0)
    if major < 20:
        raise BenchError(f"Node.js {major} has no WebSocket client; Node >= 20 is needed (or --client python)")
    return [node, "--experimental-websocket", "--no-warnings", str(NODE_CLIENT)]


def node_version() -> str:
    node = shutil.which("node")
    return subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip() if node else "none"


class NodeClient:
    """One bench/live_fanout_client.mjs process: its config on stdin, its events (JSON
    lines) read by a thread into a queue."""

    def __init__(self, config: dict, log: Path) -> None:
        self._log = open(log, "wb")
        self.log_path = log
        self.proc = subprocess.Popen(node_command(), cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, text=True, bufsize=1)
        self.events: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.send(json.dumps(config))

    def _read(self) -> None:
        for line in self.proc.stdout:
            line = line.strip()
            if line.startswith("{"):
                self.events.put(json.loads(line))
        self.events.put({"event": "exit"})

    def send(self, line: str) -> None:
        try:
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def wait_for(self, event: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise BenchError(f"the node client sent no {event!r} within {timeout:.0f}s\n{tail(self.log_path)}") from None
            if msg.get("event") == event:
                return msg
            if msg.get("event") == "exit":
                raise BenchError(f"the node client exited (status {self.proc.wait()}) before {event!r}\n{tail(self.log_path)}")

    def close(self) -> None:
        self.send("stop")
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


def split(n: int, parts: int) -> list[int]:
    return [n // parts + (1 if i < n % parts else 0) for i in range(parts)]


def bucket_upper_ms(index: int, fine: int) -> float:
    return (index + 1) * 0.1 if index < fine else 1000.0 + (index - fine + 1)


def hist_percentile(hist: dict[int, int], fine: int, pct: float) -> float | None:
    """Nearest rank over a merged histogram: the upper edge of the bucket holding it."""
    total = sum(hist.values())
    if not total:
        return None
    rank = max(1, -(-pct * total // 100))
    seen = 0
    for index in sorted(hist):
        seen += hist[index]
        if seen >= rank:
            return bucket_upper_ms(index, fine)
    return None


def run_room_node(ws_url: str, *, viewers: int, slow: int, talker_cookies: list[str | None], seconds: float, talk_every: float, server_pid: int, procs: int, work: Path, label: str) -> dict:
    """The same room run as run_room, the sockets in `procs` Node.js processes."""
    clients: list[NodeClient] = []
    before = rss_kb(server_pid)
    try:
        cookie_parts = split(len(talker_cookies), procs)
        base = 0
        for i, (v, sl, nt) in enumerate(zip(split(viewers, procs), split(slow, procs), cookie_parts)):
            config = {"url": ws_url, "viewers": v, "slow": sl, "cookies": talker_cookies[base : base + nt], "talker_base": base, "talker_total": len(talker_cookies), "seconds": seconds, "talk_every_ms": round(talk_every * 1000)}
            clients.append(NodeClient(config, work / f"node-{label}-{i}.log"))
            base += nt
        opened = [c.wait_for("open", 180) for c in clients]
        connected = sum(o["connected"] for o in opened)
        time.sleep(1.0)
        after = rss_kb(server_pid)
        started = time.monotonic()
        server_cpu0, threads0 = cpu_s(server_pid), thread_cpu_s(server_pid)
        for c in clients:
            c.send("go")
        sent = sum(c.wait_for("talkers_done", seconds + 120)["sent"] for c, nt in zip(clients, cookie_parts) if nt)
        time.sleep(2.0)  # the last messages arrive
        for c in clients:
            c.send("snapshot")
        snaps = [c.wait_for("snapshot", 60) for c in clients]
        wall = time.monotonic() - started
        server_cpu = cpu_s(server_pid) - server_cpu0
        server_thread = busiest_thread_s(threads0, thread_cpu_s(server_pid))
    finally:
        for c in clients:
            c.close()
    hist: dict[int, int] = {}
    errors: dict[str, int] = {}
    for snap in snaps:
        for k, n in snap["hist"].items():
            hist[int(k)] = hist.get(int(k), 0) + n
        for k, n in snap["errors"].items():
            errors[k] = errors.get(k, 0) + n
    messages: dict[str, list[float]] = {}  # text -> [sent, first arrival, last arrival, arrivals]
    for snap in snaps:
        for text, (sent_ms, first, last, n) in snap["messages"].items():
            if text in messages:
                m = messages[text]
                m[1], m[2], m[3] = min(m[1], first), max(m[2], last), m[3] + n
            else:
                messages[text] = [sent_ms, first, last, n]
    firsts = sorted(m[1] - m[0] for m in messages.values())
    spreads = sorted(m[2] - m[1] for m in messages.values() if m[3] >= viewers)  # messages every reading viewer got
    fine = snaps[0]["fine"]
    received = sum(s["received"] for s in snaps)
    frames = sum(s.get("frames", 0) for s in snaps)
    return {
        "connected": connected, "received": received, "wall_s": wall, "per_s": received / wall if wall else 0,
        "p50_ms": hist_percentile(hist, fine, 50), "p95_ms": hist_percentile(hist, fine, 95), "p99_ms": hist_percentile(hist, fine, 99),
        "rss_per_conn_kb": (after - before) / connected if connected else None, "errors": errors,
        "sent": sent, "reading": viewers, "server_cpu_s": server_cpu, "server_thread_cpu_s": server_thread, "client_cpu_s": sum(s["cpu_s"] for s in snaps),
        "client_max_rss_kb": sum(s["max_rss_kb"] for s in snaps), "frames": frames,
        "client_loop_delay_p99_ms": max(s["loop_delay_ms"]["p99"] for s in snaps), "client_loop_delay_max_ms": max(s["loop_delay_ms"]["max"] for s in snaps),
        "first_p50_ms": percentile(firsts, 50), "first_p99_ms": percentile(firsts, 99),
        "spread_p50_ms": percentile(spreads, 50), "spread_p99_ms": percentile(spreads, 99), "complete_messages": len(spreads), "messages": len(messages),
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
    parser.add_argument("--talkers", type=int, default=80)
    parser.add_argument("--talk-every", type=float, default=2.4, help="seconds between a talker's messages (the room allows one per 2 s)")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--client", choices=("node", "python"), default="node", help="the load generator (default node: bench/live_fanout_client.mjs)")
    parser.add_argument("--client-procs", type=int, default=1, help="node client processes to split the sockets over (default 1)")
    args = parser.parse_args()
    procs = max(1, args.client_procs)

    if args.client == "node":
        node_command()  # fails early without a usable node
        client = f"node {node_version()} built-in WebSocket, {procs} process{'es' if procs > 1 else ''}"
    else:
        client = f"python (websockets {version_of('websockets')}), in this process"
    cond = conditions({"viewers": args.viewers, "slow_viewers": args.slow, "talkers": args.talkers, "talk_every": args.talk_every, "seconds": args.seconds, "server": "granian, 1 worker", "backend": "sqlite, channels in memory"})
    print_conditions(cond)
    print(f"  client      {client}")
    work = Path(tempfile.mkdtemp(prefix="zc-bench-live-"))
    results = {}

    def run(label: str, ws_url: str, cookies: list[str | None], frame, server_pid: int) -> dict:
        if args.client == "node":
            return run_room_node(ws_url, viewers=args.viewers, slow=args.slow, talker_cookies=cookies, seconds=args.seconds, talk_every=args.talk_every, server_pid=server_pid, procs=procs, work=work, label=label)
        return asyncio.run(run_room(ws_url, viewers=args.viewers, slow=args.slow, talker_cookies=cookies, seconds=args.seconds, talk_every=args.talk_every, chat_frame=frame, server_pid=server_pid))

    try:
        # the baseline: a bare channels fan-out
        port = free_port()
        print("\nbaseline: bare Litestar + ChannelsPlugin")
        with ws_server(BARE_APP, port, base_env(), work / "bare.log") as srv:
            srv.wait_ready("/health", timeout=120)  # a busy shared machine can take longer than the default 20 s
            results["bare"] = run("bare", f"ws://127.0.0.1:{port}/room", [None] * args.talkers, bare_frame, srv.proc.pid)
        # Zhongcao's room
        port = free_port()
        var_dir = work / "var"
        env = zhongcao_env(var_dir, port)
        env["ZHONGCAO_DATABASE_URL"] = f"sqlite+aiosqlite:///{var_dir}/bench.db"
        var_dir.mkdir()
        room_id = asyncio.run(seed(var_dir, env["ZHONGCAO_DATABASE_URL"], env["ZHONGCAO_SECRET_KEY"], args.talkers))
        print("\nzhongcao: /live/rooms/{id}/ws")
        with ws_server("core.asgi:app", port, env, work / "zhongcao.log") as srv:
            srv.wait_ready("/health", timeout=120)  # a busy shared machine can take longer than the default 20 s
            base = f"http://127.0.0.1:{port}"
            cookies = [session_cookie(base, f"talker{i}@bench.example") for i in range(args.talkers)]
            results["zhongcao"] = run("zhongcao", f"ws://127.0.0.1:{port}/live/rooms/{room_id}/ws", cookies, zhongcao_frame, srv.proc.pid)
    except BenchError as exc:
        print(f"\nFAILED: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)

    for r in results.values():
        r["refused"] = sum(n for k, n in r["errors"].items() if k.startswith("talker:refused:"))
        r["offered"] = (r["sent"] - r["refused"]) * r["reading"]  # chat messages the room accepted x reading viewers
    rows = []
    for name, r in results.items():
        offered = r["offered"]
        rows.append([
            name, str(r["connected"]), f"{r['per_s']:,.0f}", f"{100 * r['received'] / offered:.0f}%" if offered else "?",
            fmt_ms(r["p50_ms"]), fmt_ms(r["p95_ms"]), fmt_ms(r["p99_ms"]),
            f"{r['rss_per_conn_kb']:.1f} KiB" if r["rss_per_conn_kb"] is not None else "?",
            f"{r['server_cpu_s'] / r['wall_s']:.2f}", f"{r['server_thread_cpu_s'] / r['wall_s']:.2f}", f"{r['client_cpu_s'] / r['wall_s']:.2f}", json.dumps(r["errors"]) if r["errors"] else "-",
        ])  # fmt: skip
    print()
    print(table(["server", "sockets", "delivered/s", "of offered", "p50", "p95", "p99", "memory/conn", "server cpu", "(1 thread)", "client cpu", "errors"], rows, right=set(range(1, 11))))
    for name, r in results.items():
        extra = ""
        if "client_max_rss_kb" in r:
            extra = f" in {r['frames']:,} frames ({r['received'] / max(1, r['frames']):.2f} messages a frame)" if r.get("frames") else ""
            extra += f"; node client: event-loop delay p99 {r['client_loop_delay_p99_ms']:.1f}ms max {r['client_loop_delay_max_ms']:.0f}ms, peak RSS {r['client_max_rss_kb'] / 1024:.0f} MiB"
        refused = f" ({r['refused']} refused)" if r["refused"] else ""
        print(f"  {name}: {r['sent']} chat messages sent{refused}, accepted x {r['reading']} reading viewers in {r['wall_s']:.1f}s = {r['offered'] / r['wall_s']:,.0f}/s offered; {r['received']:,} delivered{extra}")
        if "first_p50_ms" in r and r["messages"]:
            print(
                f"    per message: to its first viewer p50 {fmt_ms(r['first_p50_ms'])} p99 {fmt_ms(r['first_p99_ms'])} (the talker's frame read, checked, published);"
                f" first to last viewer p50 {fmt_ms(r['spread_p50_ms'])} p99 {fmt_ms(r['spread_p99_ms'])} (the fan-out; {r['complete_messages']} of {r['messages']} messages reached every viewer)"
            )
        if r["received"]:
            us = {k: r[k] / r["received"] * 1e6 for k in ("server_cpu_s", "server_thread_cpu_s", "client_cpu_s")}
            print(
                f"    CPU per delivered message: server {us['server_cpu_s']:.1f} us (busiest thread {us['server_thread_cpu_s']:.1f} us:"
                f" ~{1e6 / us['server_thread_cpu_s']:,.0f}/s if it had a core to itself), client {us['client_cpu_s']:.1f} us"
            )
    print("  cpu = CPU seconds / wall seconds over the window (1.00 = one core busy); server: granian's process and its worker,")
    print("  (1 thread): its busiest thread alone (the worker's Python thread: 1.00 means the event loop is the limit);")
    print("  per delivered message, CPU seconds hold up better than rates on a busy machine (but include the fixed costs)")
    if "bare" in results and "zhongcao" in results and results["bare"]["per_s"]:
        z, b = results["zhongcao"], results["bare"]
        print(f"\nratio zhongcao/bare: delivered/s {z['per_s'] / b['per_s']:.2f}x   p99 {(z['p99_ms'] or 0) / (b['p99_ms'] or 1):.2f}x")
        target = z["per_s"] >= 20_000 and (z["p99_ms"] or 1e9) < 250
        print(f"target (>= 20,000 delivered/s, p99 < 250 ms): {'PASS' if target else 'MISS'}")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())

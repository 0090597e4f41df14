"""HTTP overhead benchmark: Zhongcao vs a bare Litestar app, per ASGI server.

Run from the project root with the project venv:

    .venv/bin/python bench/http_overhead.py [--workers 2] [--duration 10s]
        [--connections 64] [--servers granian,uvicorn] [--json out.json]

For each server (sequentially, never two at once) it starts

  1. bench/bare_app.py:app            -> measures  bare `/`
  2. core.asgi:app (fresh demo DB)    -> measures  zhongcao `/health`, zhongcao `/`

with the same worker count, warms each URL up with a short wrk run, then
measures it with `wrk --latency` and prints requests/s, p99 latency and the
ratio to the bare app on the same server. The target is `/health` >= 0.85x of
the bare app's throughput (PASS/MISS per server). This is a benchmark, not a
test: the exit status is 0 whether the target is met or not; it is 1 only if
a server failed to start, a wrk run failed or the demo database could not be
prepared.

If Zhongcao's ASGI entry (core/asgi.py) or `zhongcao demo --seed-only` is not
available yet, the Zhongcao targets are skipped with a message (or use
--only-bare).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
BIN_DIR = Path(sys.executable).parent
HEALTH_TARGET = 0.85
SERVERS = ("granian", "uvicorn")
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0


class BenchError(RuntimeError):
    """A server did not start, wrk failed, or the database could not be prepared."""


# --------------------------------------------------------------------------- data


@dataclass
class Result:
    server: str
    app: str  # "bare" | "zhongcao"
    path: str
    label: str
    round: int = 1  # 0 for a median row over --repeat rounds
    status: str = "ok"  # ok | error | skipped
    requests_per_sec: float | None = None
    latency_avg_ms: float | None = None
    latency_p50_ms: float | None = None
    latency_p90_ms: float | None = None
    latency_p99_ms: float | None = None
    requests: int | None = None
    non_2xx_3xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)
    response_bytes: int | None = None
    ratio_to_bare: float | None = None
    verdict: str | None = None  # PASS | MISS for zhongcao /health
    note: str = ""


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def to_ms(value: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", value.strip())
    if not m:
        raise ValueError(f"unparsable wrk duration {value!r}")
    n, unit = float(m.group(1)), m.group(2)
    return n * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}[unit]


def parse_wrk(out: str) -> dict:
    """Pull throughput, latency and error counts out of `wrk --latency` output."""
    parsed: dict = {"socket_errors": {}, "non_2xx_3xx": 0}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m:
        raise ValueError("no 'Requests/sec' line in wrk output")
    parsed["requests_per_sec"] = float(m.group(1))
    m = re.search(r"^\s*Latency\s+([\d.]+\w+)", out, re.M)
    if m:
        parsed["latency_avg_ms"] = to_ms(m.group(1))
    for pct in ("50", "90", "99"):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+\w+)", out, re.M)
        if m:
            parsed[f"latency_p{pct}_ms"] = to_ms(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        parsed["requests"] = int(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if m:
        parsed["non_2xx_3xx"] = int(m.group(1))
    m = re.search(r"Socket errors:\s+(.*)", out)
    if m:
        for name, num in re.findall(r"(\w+) (\d+)", m.group(1)):
            if int(num):
                parsed["socket_errors"][name] = int(num)
    return parsed


def fmt_ms(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 1:
        return f"{ms * 1000:.0f}us"
    if ms < 1000:
        return f"{ms:.2f}ms"
    return f"{ms / 1000:.2f}s"


def version_of(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def tail_text(text: str, lines: int = 25) -> str:
    return "\n".join(text.splitlines()[-lines:])


def tail(path: Path, lines: int = 25) -> str:
    try:
        return tail_text(path.read_text(errors="replace"), lines)
    except OSError:
        return ""


def server_bin(name: str) -> list[str]:
    exe = BIN_DIR / name
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-m", name]


def base_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # bench/ for bare_app, the project root for core.asgi (works without `pip install -e`).
    paths = [str(BENCH_DIR), str(ROOT)]
    if env.get("PYTHONPATH"):
        paths.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


# --------------------------------------------------------------------------- servers


def server_command(server: str, target: str, workers: int, port: int) -> list[str]:
    if server == "granian":
        cmd = [
            *server_bin("granian"),
            "--interface", "asgi",
            "--workers", str(workers),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--no-ws",
            "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
        if has_module("uvloop"):  # granian's "auto" would pick rloop first if it were installed
            cmd += ["--loop", "uvloop"]
        return [*cmd, target]
    if server == "uvicorn":
        cmd = [
            *server_bin("uvicorn"),
            target,
            "--workers", str(workers),
            "--host", "127.0.0.1",
            "--port", str(port),
            "--no-access-log",
            "--log-level", "warning",
        ]  # fmt: skip
        if has_module("uvloop"):
            cmd += ["--loop", "uvloop"]
        if has_module("httptools"):
            cmd += ["--http", "httptools"]
        return cmd
    raise ValueError(f"unknown server {server!r}")


def live_group_members(pgid: int) -> list[int]:
    """Non-zombie processes in a process group (reads /proc; zombies are not a leak)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...  -- comm may contain spaces/parens
        rest = stat[stat.rfind(")") + 2 :].split()
        if len(rest) >= 3 and rest[0] != "Z" and int(rest[2]) == pgid:
            pids.append(int(entry.name))
    return pids


class ServerProcess:
    """One server instance in its own process group; always stopped on exit."""

    def __init__(self, server: str, target: str, workers: int, port: int, env: dict[str, str], log_path: Path):
        self.server = server
        self.port = port
        self.cmd = server_command(server, target, workers, port)
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self._log = None

    def __enter__(self) -> ServerProcess:
        self._log = open(self.log_path, "wb")
        print(f"  $ {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(self.cmd))}", flush=True)
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def wait_ready(self, path: str, timeout: float = STARTUP_TIMEOUT) -> None:
        url = f"http://127.0.0.1:{self.port}{path}"
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise BenchError(
                    f"{self.server} exited with status {self.proc.returncode} before answering.\n"
                    f"command: {' '.join(self.cmd)}\n--- log tail ---\n{tail(self.log_path)}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    resp.read()
                    return
            except urllib.error.HTTPError as e:
                if e.code != 503:  # any other HTTP answer means it is up; measure() reports the status
                    return
                last = f"HTTP {e.code}"
            except (urllib.error.URLError, OSError) as e:
                last = str(getattr(e, "reason", e))
            time.sleep(0.2)
        raise BenchError(
            f"{self.server} did not answer {url} within {timeout:.0f}s (last: {last}).\n"
            f"command: {' '.join(self.cmd)}\n--- log tail ---\n{tail(self.log_path)}"
        )

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.proc is None:
            return
        pgid = self.proc.pid  # start_new_session: pgid == pid of the leader
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline:
            self.proc.poll()
            if self.proc.returncode is not None and not live_group_members(pgid):
                break
            time.sleep(0.1)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=5)
        # wait for the listening socket to be gone
        deadline = time.monotonic() + STOP_TIMEOUT
        while time.monotonic() < deadline and not port_is_free(self.port):
            time.sleep(0.1)
        if not port_is_free(self.port):
            print(f"  warning: port {self.port} still busy after stopping {self.server}", file=sys.stderr)
        if self._log:
            self._log.close()
        self.proc = None


# --------------------------------------------------------------------------- wrk


def run_wrk(url: str, *, threads: int, connections: int, duration: str, timeout: str, latency: bool) -> str:
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}", f"--timeout", timeout]
    if latency:
        cmd.append("--latency")
    cmd.append(url)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # surface 3xx as HTTPError: wrk would only measure the redirect itself


_no_redirect_opener = urllib.request.build_opener(_NoRedirect)


def probe(url: str) -> tuple[int, int, str]:
    """Status, body size and Location of one request (to catch a target answering 3xx/404/500)."""
    try:
        with _no_redirect_opener.open(url, timeout=10) as resp:
            return resp.status, len(resp.read()), ""
    except urllib.error.HTTPError as e:
        return e.code, len(e.read() or b""), e.headers.get("Location", "")
    except (urllib.error.URLError, OSError) as e:
        raise BenchError(f"{url} did not answer a probe request: {getattr(e, 'reason', e)}") from e


def measure(srv: ServerProcess, result: Result, args: argparse.Namespace) -> None:
    url = f"http://127.0.0.1:{srv.port}{result.path}"
    status, size, location = probe(url)
    result.response_bytes = size
    if not 200 <= status < 300:
        result.status = "error"
        result.note = f"{result.path} answered HTTP {status}" + (f" -> {location}" if location else "") + "; not benchmarked"
        print(f"  {result.label}: {result.note}")
        return
    print(f"  {result.label}: warm-up {args.warmup} ...", flush=True)
    run_wrk(url, threads=args.threads, connections=args.connections, duration=args.warmup, timeout=args.timeout, latency=False)
    print(f"  {result.label}: wrk -t{args.threads} -c{args.connections} -d{args.duration} --latency ...", flush=True)
    out = run_wrk(url, threads=args.threads, connections=args.connections, duration=args.duration, timeout=args.timeout, latency=True)
    if args.verbose:
        print(out)
    for key, value in parse_wrk(out).items():
        setattr(result, key, value)
    if not srv.alive():
        result.status = "error"
        result.note = f"{srv.server} died during the run"
        raise BenchError(f"{srv.server} died while measuring {url}\n--- log tail ---\n{tail(srv.log_path)}")
    notes = []
    if result.non_2xx_3xx:
        notes.append(f"{result.non_2xx_3xx} non-2xx/3xx")
    if result.socket_errors:
        notes.append("socket errors " + ", ".join(f"{k} {v}" for k, v in result.socket_errors.items()))
    result.note = "; ".join(notes)
    print(
        f"  {result.label}: {result.requests_per_sec:,.0f} req/s, p99 {fmt_ms(result.latency_p99_ms)}"
        + (f"  ({result.note})" if result.note else ""),
        flush=True,
    )


# --------------------------------------------------------------------------- zhongcao


def zhongcao_cli() -> list[str]:
    exe = BIN_DIR / "zhongcao"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "import sys; sys.argv[0] = 'zhongcao'; from core.cli import main; sys.exit(main())"]


def zhongcao_availability() -> str | None:
    """None if Zhongcao can be benchmarked, else the reason it is skipped."""
    if not (ROOT / "core" / "asgi.py").exists():
        return "core/asgi.py does not exist yet"
    if not (BIN_DIR / "zhongcao").exists() and not (ROOT / "core" / "cli.py").exists():
        return "no `zhongcao` command (and no core/cli.py)"
    with tempfile.TemporaryDirectory(prefix="zc-bench-probe-") as tmp:
        proc = subprocess.run(
            [*zhongcao_cli(), "demo", "--help"],
            cwd=ROOT, env=base_env({"ZHONGCAO_VAR_DIR": tmp}), capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    if proc.returncode != 0 or "--seed-only" not in proc.stdout:
        return "`zhongcao demo --help` does not offer --seed-only" + (
            f" (exit {proc.returncode}: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ''})"
            if proc.returncode
            else ""
        )
    return None


def prepare_zhongcao(var_dir: Path, port: int) -> dict[str, str]:
    """Fresh embedded DB in var_dir (migrate + seed), and the env to serve it with."""
    env = base_env({"ZHONGCAO_VAR_DIR": str(var_dir), "ZHONGCAO_PUBLIC_URL": f"http://127.0.0.1:{port}"})
    t0 = time.monotonic()
    proc = subprocess.run(
        [*zhongcao_cli(), "demo", "--seed-only"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else ""
        raise BenchError(
            f"`zhongcao demo --seed-only` failed ({proc.returncode}): {last}\n{tail_text(proc.stdout, 10)}\n{tail_text(proc.stderr)}"
        )
    print(f"  seeded demo database in {time.monotonic() - t0:.1f}s ({var_dir})", flush=True)
    proc = subprocess.run(
        [sys.executable, "-c", "import core.asgi as m; assert callable(m.app)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    if proc.returncode != 0:
        last = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"
        raise BenchError(f"`import core.asgi` failed: {last}\n{tail_text(proc.stderr)}")
    return env


# --------------------------------------------------------------------------- conditions and report


def conditions(args: argparse.Namespace) -> dict:
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    wrk_v = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    wrk_line = (wrk_v.stdout or wrk_v.stderr).splitlines()[0].split(" Copyright")[0] if (wrk_v.stdout or wrk_v.stderr) else "?"
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    zc_env = {k: v for k, v in os.environ.items() if k.startswith("ZHONGCAO_")}
    return {
        "date": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": cpu,
        "nproc": nproc,
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "litestar": version_of("litestar"),
        "granian": version_of("granian"),
        "uvicorn": version_of("uvicorn"),
        "uvloop": version_of("uvloop"),
        "httptools": version_of("httptools"),
        "wrk": wrk_line,
        "workers": args.workers,
        "wrk_threads": args.threads,
        "connections": args.connections,
        "duration": args.duration,
        "warmup": args.warmup,
        "wrk_timeout": args.timeout,
        "servers": args.servers,
        "repeat": args.repeat,
        "inherited_zhongcao_env": sorted(zc_env),
    }


def print_conditions(cond: dict) -> None:
    print("Machine conditions")
    print(f"  date        {cond['date']}   host {cond['host']}   kernel {cond['kernel']}")
    print(f"  cpu         {cond['cpu']}   nproc {cond['nproc']}   loadavg at start {cond['loadavg_at_start']}")
    print(
        f"  python {cond['python']}   litestar {cond['litestar']}   granian {cond['granian']}   "
        f"uvicorn {cond['uvicorn']} (uvloop {cond['uvloop']}, httptools {cond['httptools']})   {cond['wrk']}"
    )
    print(
        f"  workers {cond['workers']}   wrk -t{cond['wrk_threads']} -c{cond['connections']} -d{cond['duration']} "
        f"(warm-up {cond['warmup']}, timeout {cond['wrk_timeout']})   servers {','.join(cond['servers'])}"
    )
    if cond["inherited_zhongcao_env"]:
        print(f"  inherited ZHONGCAO_* env: {', '.join(cond['inherited_zhongcao_env'])} (ZHONGCAO_VAR_DIR is overridden)")
    print("  note: wrk and the servers share the same CPUs; figures are noisy, compare ratios within one run.")


def print_table(results: list[Result]) -> None:
    headers = ["server", "target", "req/s", "p99", "avg", "vs bare", f"/health >= {HEALTH_TARGET}x", "notes"]
    rows = []
    for r in results:
        if r.status == "ok":
            rps = f"{r.requests_per_sec:,.0f}"
            ratio = f"{r.ratio_to_bare:.2f}x" if r.ratio_to_bare is not None else "-"
        else:
            rps, ratio = r.status, "-"
        rows.append([
            r.server, r.label, rps, fmt_ms(r.latency_p99_ms), fmt_ms(r.latency_avg_ms), ratio, r.verdict or "", r.note,
        ])  # fmt: skip
    widths = [max(len(h), *(len(row[i]) for row in rows)) if rows else len(h) for i, h in enumerate(headers)]
    right = {2, 3, 4, 5}

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    print(line(headers))
    print(line(["-" * w for w in widths]))
    for row in rows:
        print(line(row))


# --------------------------------------------------------------------------- main

def run_server(server: str, rnd: int, args: argparse.Namespace, skip_reason: str | None, tmp: Path, runs: list[Result]) -> bool:
    """Bare app, then Zhongcao, on one server; appends to runs. True if something failed."""
    failed = False
    bare = Result(server, "bare", "/", "bare /", round=rnd)
    zc = [
        Result(server, "zhongcao", "/health", "zhongcao /health", round=rnd),
        Result(server, "zhongcao", "/", "zhongcao /", round=rnd),
    ]
    runs += [bare, *zc]
    tag = f" (round {rnd}/{args.repeat})" if args.repeat > 1 else ""

    print(f"== {server}: bare app ({args.workers} workers){tag}", flush=True)
    try:
        port = free_port()
        with ServerProcess(server, "bare_app:app", args.workers, port, base_env(), tmp / f"{server}-{rnd}-bare.log") as srv:
            srv.wait_ready("/")
            measure(srv, bare, args)
    except BenchError as e:
        bare.status, bare.note, failed = "error", str(e).splitlines()[0], True
        print(f"  ERROR: {e}", file=sys.stderr)

    if skip_reason:
        for r in zc:
            r.status, r.note = "skipped", skip_reason
        return failed

    print(f"== {server}: zhongcao core.asgi:app ({args.workers} workers){tag}", flush=True)
    try:
        port = free_port()
        var_dir = tmp / f"{server}-{rnd}-var"
        var_dir.mkdir()
        env = prepare_zhongcao(var_dir, port)
        log = tmp / f"{server}-{rnd}-zhongcao.log"
        with ServerProcess(server, "core.asgi:app", args.workers, port, env, log) as srv:
            srv.wait_ready("/health")
            for r in zc:
                measure(srv, r, args)
    except BenchError as e:
        failed = True
        for r in zc:
            if r.status == "ok" and r.requests_per_sec is None:
                r.status, r.note = "error", str(e).splitlines()[0]
        print(f"  ERROR: {e}", file=sys.stderr)
    return failed


def aggregate(runs: list[Result]) -> list[Result]:
    """One row per (server, target): the median over rounds (identity with --repeat 1)."""
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in runs:
        groups.setdefault((r.server, r.label), []).append(r)
    out = []
    for samples in groups.values():
        if len(samples) == 1:
            out.append(samples[0])
            continue
        first = samples[0]
        ok = [r for r in samples if r.status == "ok"]
        bad = [r for r in samples if r.status != "ok"]
        row = Result(first.server, first.app, first.path, first.label, round=0)
        if bad:
            row.status, row.note = bad[0].status, bad[0].note
            if not ok:
                out.append(row)
                continue

        def med(attr: str) -> float | None:
            values = [getattr(r, attr) for r in ok if getattr(r, attr) is not None]
            return statistics.median(values) if values else None

        for attr in ("requests_per_sec", "latency_avg_ms", "latency_p50_ms", "latency_p90_ms", "latency_p99_ms", "ratio_to_bare"):
            setattr(row, attr, med(attr))
        row.requests = sum(r.requests or 0 for r in ok)
        row.non_2xx_3xx = sum(r.non_2xx_3xx for r in ok)
        for r in ok:
            for k, v in r.socket_errors.items():
                row.socket_errors[k] = row.socket_errors.get(k, 0) + v
        row.response_bytes = first.response_bytes
        rps = [r.requests_per_sec for r in ok]
        spread = f"median of {len(ok)}: {min(rps):,.0f}..{max(rps):,.0f} req/s"
        row.note = "; ".join(x for x in (spread, row.note, *{r.note for r in ok if r.note}) if x)
        out.append(row)
    return out



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2, help="server worker processes (default 2)")
    p.add_argument("--duration", default="10s", help="wrk measurement duration per target (default 10s)")
    p.add_argument("--warmup", default="2s", help="wrk warm-up duration per target (default 2s)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--timeout", default="10s", help="wrk per-request timeout (default 10s; wrk's own is 2s)")
    p.add_argument("--servers", default=",".join(SERVERS), help="comma-separated: granian,uvicorn (default both)")
    p.add_argument("--repeat", type=int, default=1, help="rounds over all servers; the table shows medians (default 1)")
    p.add_argument("--only-bare", action="store_true", help="skip the Zhongcao targets")
    p.add_argument("--json", metavar="PATH", help="also write conditions and results as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="print raw wrk output")
    args = p.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    unknown = [s for s in args.servers if s not in SERVERS]
    if unknown or not args.servers:
        p.error(f"--servers: unknown {unknown}; choose from {','.join(SERVERS)}")
    for name in ("duration", "warmup", "timeout"):
        if not re.fullmatch(r"\d+[smh]?", getattr(args, name)):
            p.error(f"--{name}: expected e.g. 10s, 2m")
    if min(args.workers, args.connections, args.threads, args.repeat) < 1:
        p.error("--workers, --connections, --threads and --repeat must be >= 1")
    if args.connections < args.threads:
        p.error("--connections must be >= --threads (wrk requirement)")
    return args


def write_json(path: str, data: object) -> None:
    """The run's figures as JSON (`--json PATH`)."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    print(f"\nJSON written to {out}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found; install it with: apt-get install -y wrk", file=sys.stderr)
        return 1

    cond = conditions(args)
    print_conditions(cond)
    print()

    skip_reason = "--only-bare" if args.only_bare else zhongcao_availability()
    if skip_reason:
        print(f"Zhongcao targets skipped: {skip_reason}\n")
    cond["zhongcao_skipped"] = skip_reason

    runs: list[Result] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="zc-bench-") as tmp_s:
        tmp = Path(tmp_s)
        for rnd in range(1, args.repeat + 1):
            for server in args.servers:
                failed |= run_server(server, rnd, args, skip_reason, tmp, runs)

    # ratios against the bare app on the same server, paired within a round
    for r in runs:
        bare = next(b for b in runs if b.server == r.server and b.round == r.round and b.app == "bare")
        if r.status == "ok" and bare.status == "ok" and bare.requests_per_sec:
            r.ratio_to_bare = r.requests_per_sec / bare.requests_per_sec
    results = aggregate(runs)
    for r in results:
        if r.app == "zhongcao" and r.path == "/health" and r.ratio_to_bare is not None:
            r.verdict = "PASS" if r.ratio_to_bare >= HEALTH_TARGET else "MISS"

    cond["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(f"Load average at end: {cond['loadavg_at_end']}")
    reps = f", median of {args.repeat} rounds" if args.repeat > 1 else ""
    print(f"Results ({args.workers} workers, wrk -t{args.threads} -c{args.connections} -d{args.duration}{reps}, {cond['date']})")
    print_table(results)
    print()
    for server in args.servers:
        h = next(r for r in results if r.server == server and r.path == "/health")
        if h.verdict:
            print(f"Target zhongcao /health >= {HEALTH_TARGET:.2f}x bare on {server}: {h.verdict} ({h.ratio_to_bare:.2f}x)")
        else:
            print(f"Target zhongcao /health >= {HEALTH_TARGET:.2f}x bare on {server}: n/a ({h.status}: {h.note})")

    if args.json:
        write_json(args.json, {"conditions": cond, "target": {"health_min_ratio": HEALTH_TARGET}, "results": [asdict(r) for r in results], "runs": [asdict(r) for r in runs]})
    failed = failed or any(r.status == "error" for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

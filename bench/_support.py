"""Shared plumbing for the commerce benchmarks (flash_sale, checkout_latency,
product_page, profile_checkout): a private PostgreSQL, a fresh Zhongcao database,
the server process, the conditions block and percentiles.

The server process, free ports and the wrk helpers come from http_overhead.py so all
benchmarks start and stop servers the same way.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from http_overhead import (  # noqa: F401 - re-exported for the bench scripts
    BIN_DIR,
    ROOT,
    BenchError,
    ServerProcess,
    base_env,
    fmt_ms,
    free_port,
    has_module,
    tail,
    tail_text,
    version_of,
    write_json,
    zhongcao_cli,
)

BENCH_DIR = Path(__file__).resolve().parent
FIXTURE = BENCH_DIR / "_fixture.py"
PG_DB_PREFIX = "zc_bench"
ADDRESS = {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "country": "CN"}
SANDBOX_CARD = "4242424242424242"


# --------------------------------------------------------------------------- signals


def exit_on_sigterm() -> None:
    """SIGTERM/SIGHUP unwind like Ctrl-C, so every `finally` stops what we started."""

    def handler(signum: int, _frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGHUP, handler)


# --------------------------------------------------------------------------- PostgreSQL


def pg_bin_dir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: [int(x) if x.isdigit() else x for x in p.parent.name.split(".")])
    for d in reversed(found):
        if (d / "pg_ctl").exists():
            return d
    return None


class PostgresServer:
    """A throwaway PostgreSQL on a free loopback port (the scripts/test.sh recipe).

    As root its tools run as the `postgres` user (PostgreSQL refuses root). Stopped and
    its directory removed on exit, always. With `durable=False` (the default, like the
    test run) fsync, synchronous_commit and full_page_writes are off: commits are not
    crash-safe, as with SQLite's synchronous=NORMAL in WAL mode.
    """

    def __init__(self, *, durable: bool = False, max_connections: int = 200, shared_buffers: str | None = None) -> None:
        self.bin = pg_bin_dir()
        self.durable = durable
        self.max_connections = max_connections
        self.shared_buffers = shared_buffers  # None: PostgreSQL's default (128MB)
        self.dir: Path | None = None
        self.port: int | None = None
        self.version = "?"
        self._started = False

    @property
    def settings_line(self) -> str:
        s = f"max_connections={self.max_connections}"
        if self.shared_buffers:
            s += f" shared_buffers={self.shared_buffers}"
        if not self.durable:
            s += " fsync=off synchronous_commit=off full_page_writes=off"
        return s

    def _as_pg(self, cmd: list[str], **kw) -> subprocess.CompletedProcess:
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, cwd=self.dir, capture_output=True, text=True, **kw)

    def __enter__(self) -> PostgresServer:
        if self.bin is None:
            raise BenchError("no PostgreSQL binaries under /usr/lib/postgresql (apt-get install -y postgresql)")
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        self.version = subprocess.run([str(self.bin / "postgres"), "--version"], capture_output=True, text=True).stdout.strip()
        # /tmp explicitly: the postgres user must be able to reach the directory.
        self.dir = Path(tempfile.mkdtemp(prefix="zc-bench-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        proc = self._as_pg([str(self.bin / "initdb"), "-D", str(self.dir / "data"), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C"])
        if proc.returncode != 0:
            raise BenchError(f"initdb failed:\n{tail_text(proc.stdout + proc.stderr)}")
        opts = f"-k {self.dir} -c listen_addresses=127.0.0.1 -c max_connections={self.max_connections}"
        if self.shared_buffers:
            opts += f" -c shared_buffers={self.shared_buffers}"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        for _ in range(3):
            port = free_port()
            proc = self._as_pg([str(self.bin / "pg_ctl"), "-w", "-t", "60", "-D", str(self.dir / "data"), "-l", str(self.dir / "postgres.log"), "-o", f"-p {port} {opts}", "start"])
            if proc.returncode == 0:
                self.port, self._started = port, True
                return
            print(f"  postgres did not start on port {port}; retrying\n{tail(self.dir / 'postgres.log', 5)}", file=sys.stderr)
            self.stop(remove=False)
        raise BenchError("could not start PostgreSQL")

    def create_database(self, name: str) -> str:
        """CREATE DATABASE name; returns its asyncpg URL."""
        proc = subprocess.run(
            [str(self.bin / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-c", f'CREATE DATABASE "{name}"'],
            capture_output=True, text=True,
        )  # fmt: skip
        if proc.returncode != 0:
            raise BenchError(f"CREATE DATABASE {name} failed: {proc.stderr.strip()}")
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{name}"

    def stop(self, remove: bool = True) -> None:
        if self.dir is None:
            return
        data = self.dir / "data"
        if (data / "postmaster.pid").exists():
            self._as_pg([str(self.bin / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "-t", "30", "stop"])
        pidfile = data / "postmaster.pid"
        if pidfile.exists():  # pg_ctl could not stop it: only ever our own postmaster's pid
            with contextlib.suppress(OSError, ValueError):
                os.kill(int(pidfile.read_text().splitlines()[0]), signal.SIGKILL)
        self._started = False
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- Zhongcao


def clean_env_names() -> list[str]:
    """ZHONGCAO_* variables in the caller's shell: ignored by these benchmarks."""
    return sorted(k for k in os.environ if k.startswith("ZHONGCAO_"))


def zhongcao_env(var_dir: Path, port: int, database_url: str | None = None) -> dict[str, str]:
    """The server's environment: only the settings this benchmark chooses (a developer's
    ZHONGCAO_* variables, e.g. a Redis URL or debug, are dropped)."""
    env = {k: v for k, v in base_env().items() if not k.startswith("ZHONGCAO_")}
    env.update({
        "ZHONGCAO_VAR_DIR": str(var_dir),
        "ZHONGCAO_PUBLIC_URL": f"http://127.0.0.1:{port}",
        # fixed, so several workers do not race to generate var_dir/secret_key
        "ZHONGCAO_SECRET_KEY": secrets.token_urlsafe(32),
    })  # fmt: skip
    if database_url:
        env["ZHONGCAO_DATABASE_URL"] = database_url
    return env


def run_checked(cmd: list[str], env: dict[str, str], what: str, timeout: float = 300) -> str:
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise BenchError(f"{what} failed (exit {proc.returncode}):\n{tail_text(proc.stdout, 10)}\n{tail_text(proc.stderr)}")
    return proc.stdout


def make_runtime(var_dir: Path, url: str, secret: str):  # noqa: ANN201
    """An in-process runtime on the benchmark's database (no Redis, no job worker)."""
    from core.runtime import create_runtime
    from core.settings import Settings

    settings = Settings(var_dir=var_dir, database_url=url, redis_url=None, secret_key=secret, plugins_disabled="", inprocess_worker=False)
    return create_runtime(settings)


async def insert_rows(conn, table_, rows: list[dict], chunk: int = 5_000) -> int:  # noqa: ANN001
    """Multi-row INSERTs (Core executemany) in chunks; returns the rows written."""
    from sqlalchemy import insert

    stmt = insert(table_)
    for i in range(0, len(rows), chunk):
        await conn.execute(stmt, rows[i : i + chunk])
    return len(rows)


def db_upgrade(env: dict[str, str]) -> None:
    run_checked([*zhongcao_cli(), "db", "upgrade"], env, "`zhongcao db upgrade`")


def fixture(env: dict[str, str], *args: str) -> dict:
    """Run bench/_fixture.py (ORM seeding / read-back) against the env's database; its JSON answer."""
    out = run_checked([sys.executable, str(FIXTURE), *args], env, f"bench/_fixture.py {args[0]}")
    return json.loads(out.strip().splitlines()[-1])


@contextlib.contextmanager
def zhongcao_server(env: dict[str, str], workers: int, port: int, log_path: Path, server: str = "granian"):
    """core.asgi:app under granian (or uvicorn), ready on /health; stopped on exit."""
    with ServerProcess(server, "core.asgi:app", workers, port, env, log_path) as srv:
        srv.wait_ready("/health")
        yield srv


# --------------------------------------------------------------------------- numbers


def percentile(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile (no interpolation): a value that was actually observed."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def table(headers: list[str], rows: list[list[str]], right: set[int] | None = None) -> str:
    right = right or set()
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


# --------------------------------------------------------------------------- conditions


def git_commit() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{rev}{' (+ uncommitted changes)' if dirty else ''}" if rev else "?"


def conditions(settings: dict[str, object], pg: PostgresServer | None = None) -> dict[str, object]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {name: version_of(name) for name in ("litestar", "granian", "sqlalchemy", "aiosqlite", "asyncpg", "httpx", "uvloop", "msgspec")}
    return {
        "date": dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="seconds"),
        "commit": git_commit(),
        "host": platform.node(),
        "kernel": platform.release(),
        "cpu": cpu,
        "nproc": os.cpu_count(),
        "loadavg_at_start": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "python": platform.python_version(),
        "versions": versions,
        "postgres": (pg.version if pg else None),
        "postgres_settings": (pg.settings_line if pg else None),
        "ignored_zhongcao_env": clean_env_names(),
        "settings": settings,
    }


def print_conditions(cond: dict[str, object]) -> None:
    v = cond["versions"]
    print("Machine conditions")
    print(f"  date        {cond['date']}   commit {cond['commit']}   host {cond['host']}   kernel {cond['kernel']}")
    print(f"  cpu         {cond['cpu']}   nproc {cond['nproc']}   loadavg at start {cond['loadavg_at_start']}")
    print("  python " + str(cond["python"]) + "   " + "   ".join(f"{k} {val}" for k, val in v.items()))
    if cond.get("postgres"):
        print(f"  {cond['postgres']}   ({cond['postgres_settings']})")
    print("  settings    " + "   ".join(f"{k} {val}" for k, val in cond["settings"].items()))
    if cond["ignored_zhongcao_env"]:
        print(f"  ignored ZHONGCAO_* env from the shell: {', '.join(cond['ignored_zhongcao_env'])}")
    print("  note: the load generator and the servers share the same CPUs.")
    sys.stdout.flush()


def now() -> float:
    return time.perf_counter()


# --------------------------------------------------------------------------- client


class ClientPool:
    """`size` keep-alive connections for many concurrent callers, as `size` httpx clients
    of one connection each, handed out FIFO.

    One httpx.AsyncClient with 200 connections costs ~1.6-2.7 ms of CPU per request on
    the dev machine (httpcore rescans its connections and waiting requests on every
    request start and finish); single-connection clients cost ~0.5 ms, so the load
    generator leaves more of the shared CPUs to the server. Waiting for a free client is
    part of the caller's latency, as waiting for a pooled connection would be.
    """

    def __init__(self, base_url: str, size: int, timeout: float = 120.0) -> None:
        import asyncio

        import httpx

        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        self._clients = [httpx.AsyncClient(base_url=base_url, limits=limits, timeout=httpx.Timeout(timeout)) for _ in range(size)]
        self._free: asyncio.Queue = asyncio.Queue()
        for c in self._clients:
            self._free.put_nowait(c)

    async def post(self, url: str, body: dict):  # noqa: ANN201 - httpx.Response
        client = await self._free.get()
        try:
            return await client.post(url, json=body)
        finally:
            self._free.put_nowait(client)

    async def aclose(self) -> None:
        for c in self._clients:
            await c.aclose()

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

"""Flash sale: many buyers, little stock. Is anything oversold, and how fast does it sell?

Run from the project root with the project venv:

    .venv/bin/python bench/flash_sale.py [--backend sqlite|postgres|both]
        [--buyers 1000] [--stock 100] [--workers 2,1] [--connections 200]

For each backend and each worker count (one run at a time, each on a fresh database)
it migrates (`zhongcao db upgrade`), creates one product with one variant and
`--stock` units through the ORM (bench/_fixture.py), starts `core.asgi:app` under
granian, and lets `--buyers` concurrent guests (sharing `--connections` keep-alive
connections) each create a cart and add the variant (quantity 1).
When every buyer has a cart the sale opens for all of them at once: checkout, then
pay with the sandbox card. Afterwards the stock counters and order/payment rows are
read back from the database.

Reports paid orders (must equal the stock), oversold (paid - stock, must be 0),
rejected buyers by status code (409 out of stock expected), orders/s (paid orders /
wall time of the sale) and p50/p95 of checkout+pay per paid buyer. Exit status 1 if
a run failed or an invariant did not hold (oversold, unsold stock, counters off).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx
from _support import (
    ADDRESS,
    PG_DB_PREFIX,
    SANDBOX_CARD,
    BenchError,
    ClientPool,
    PostgresServer,
    conditions,
    db_upgrade,
    exit_on_sigterm,
    fixture,
    fmt_ms,
    free_port,
    has_module,
    now,
    percentile,
    print_conditions,
    table,
    tail,
    write_json,
    zhongcao_env,
    zhongcao_server,
)


@dataclass
class Run:
    backend: str
    workers: int
    buyers: int
    stock: int
    status: str = "ok"  # ok | error
    error: str = ""
    prepared: int = 0
    prepare_wall_s: float = 0.0
    sale_wall_s: float = 0.0
    total_wall_s: float = 0.0
    client_cpu_s: float = 0.0  # CPU used by this (load generator) process during the crowd
    paid: int = 0
    checkout_ok: int = 0
    rejected: dict[str, int] = field(default_factory=dict)  # "checkout 409" -> n
    paid_latency_ms: list[float] = field(default_factory=list)  # checkout + pay, paid buyers
    rejected_latency_ms: list[float] = field(default_factory=list)  # the refused checkout
    db: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    server_errors: list[str] = field(default_factory=list)  # error events in the server log (a job retried, ...)

    @property
    def orders_per_s(self) -> float:
        return self.paid / self.sale_wall_s if self.sale_wall_s else 0.0


# --------------------------------------------------------------------------- buyers


async def crowd(base_url: str, variant_id: int, run: Run, connections: int, barrier: bool) -> None:
    n = run.buyers
    ready = 0
    gate = asyncio.Event()
    if not barrier:
        gate.set()
    rejected: collections.Counter[str] = collections.Counter()
    sale_start: list[float] = []

    def arrived() -> None:
        nonlocal ready
        ready += 1
        if ready == n and not gate.is_set():
            gate.set()

    def reject(step: str, r: httpx.Response | BaseException) -> None:
        rejected[f"{step} {r.status_code}" if isinstance(r, httpx.Response) else f"{step} {type(r).__name__}"] += 1

    async def buyer(client: ClientPool, i: int) -> None:
        try:
            r = await client.post("/api/v1/carts", {})
            if r.status_code != 201:
                return reject("cart", r)
            token = r.json()["token"]
            r = await client.post(f"/api/v1/carts/{token}/lines", {"variant_id": variant_id, "quantity": 1})
            if r.status_code != 200:
                return reject("line", r)
            run.prepared += 1
        except httpx.HTTPError as e:
            return reject("prepare", e)
        finally:
            arrived()
        await gate.wait()
        if not sale_start:
            sale_start.append(now())
        t0 = now()
        try:
            r = await client.post(f"/api/v1/carts/{token}/checkout", {"email": f"buyer{i}@example.com", "address": ADDRESS})
            if r.status_code != 201:
                run.rejected_latency_ms.append((now() - t0) * 1000)
                return reject("checkout", r)
            run.checkout_ok += 1
            r = await client.post(f"/api/v1/checkouts/{r.json()['token']}/pay", {"payment_method": SANDBOX_CARD})
            if r.status_code != 200 or r.json().get("status") != "paid":
                return reject("pay", r)
            run.paid += 1
            run.paid_latency_ms.append((now() - t0) * 1000)
        except httpx.HTTPError as e:
            return reject("sale", e)

    async with ClientPool(base_url, connections) as client:
        cpu0 = time.process_time()
        t_start = now()
        tasks = [asyncio.create_task(buyer(client, i)) for i in range(n)]
        if barrier:
            await gate.wait()
            run.prepare_wall_s = now() - t_start
        await asyncio.gather(*tasks)
        end = now()
        run.client_cpu_s = time.process_time() - cpu0
        run.total_wall_s = end - t_start
    run.sale_wall_s = end - (sale_start[0] if sale_start else t_start)
    if not barrier:
        run.prepare_wall_s = 0.0
    run.rejected = dict(sorted(rejected.items()))


def run_loop(coro) -> None:  # noqa: ANN001
    if has_module("uvloop"):
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


# --------------------------------------------------------------------------- one run


def server_errors(log: Path) -> list[str]:
    """Error-level events in the server log, one line each (JSON logs: event + exception's last line)."""
    out = []
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return out
    for ln in lines:
        if not ln.startswith("{"):
            continue
        try:
            ev = json.loads(ln)
        except ValueError:
            continue
        if ev.get("level") in ("error", "critical"):
            exc = (ev.get("exception") or "").strip().splitlines()
            out.append(f"{ev.get('logger', '?')}: {str(ev.get('event'))[:140]}" + (f" -> {exc[-1][:200]}" if exc else ""))
    return out


def one_run(backend: str, workers: int, args: argparse.Namespace, tmp: Path, pg: PostgresServer | None, seq: int) -> Run:
    run = Run(backend, workers, args.buyers, args.stock)
    print(f"== {backend}, {workers} worker{'s' if workers > 1 else ''}: {args.buyers} buyers, stock {args.stock}", flush=True)
    port = free_port()
    var_dir = tmp / f"{backend}-{workers}-{seq}-var"
    var_dir.mkdir()
    url = pg.create_database(f"{PG_DB_PREFIX}_flash_{seq}") if pg else None
    env = zhongcao_env(var_dir, port, url)
    db_upgrade(env)
    item = fixture(env, "seed", json.dumps([{"brand": "flash-brand", "stock": args.stock, "price": 9900}]))["items"][0]
    variant_id = item["variant_id"]
    log = tmp / f"{backend}-{workers}-{seq}-server.log"
    try:
        with zhongcao_server(env, workers, port, log) as srv:
            run_loop(crowd(f"http://127.0.0.1:{port}", variant_id, run, args.connections, not args.no_barrier))
            if not srv.alive():
                raise BenchError(f"the server died during the sale\n{tail(log)}")
    finally:
        run.server_errors = server_errors(log)
    run.db = fixture(env, "report", str(variant_id))
    stock = run.db["stock"][str(variant_id)]
    counts = run.db["counts"]
    expected = min(args.stock, args.buyers)
    oversold = run.paid - args.stock
    if oversold > 0:
        run.problems.append(f"OVERSOLD by {oversold}")
    if run.paid < expected:
        run.problems.append(f"unsold: {expected - run.paid} of {expected} expected sales did not happen")
    want = {"on_hand": args.stock, "available": args.stock - expected, "reserved": 0, "committed": expected}
    off = {k: (stock[k], v) for k, v in want.items() if stock[k] != v}
    if off:
        run.problems.append("stock counters: " + ", ".join(f"{k} {got} (want {w})" for k, (got, w) in off.items()))
    paid_orders = counts["orders"].get("paid", 0)
    if paid_orders != run.paid:
        run.problems.append(f"{paid_orders} paid orders in the database, {run.paid} buyers saw 'paid'")
    for line in run.server_errors[:5]:
        print(f"  server log: {line}", flush=True)
    print(
        f"  prepared {run.prepared}/{run.buyers} carts in {run.prepare_wall_s:.1f}s; sale {run.sale_wall_s:.2f}s: "
        f"paid {run.paid}, rejected {sum(run.rejected.values())} {run.rejected}; "
        f"stock on_hand {stock['on_hand']} available {stock['available']} reserved {stock['reserved']} committed {stock['committed']}; "
        f"client CPU {run.client_cpu_s:.1f}s of {run.total_wall_s:.1f}s wall",
        flush=True,
    )
    return run


# --------------------------------------------------------------------------- report


def print_report(runs: list[Run]) -> None:
    headers = ["backend", "workers", "buyers", "stock", "paid", "oversold", "rejected (by status)", "sale wall", "orders/s", "p50 ck+pay", "p95 ck+pay", "p50 409", "DB after (avail/resv/commit)", "client CPU", "check"]
    rows = []
    for r in runs:
        if r.status != "ok":
            rows.append([r.backend, str(r.workers), str(r.buyers), str(r.stock), "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", f"ERROR: {r.error}"])
            continue
        vid = next(iter(r.db["stock"]))
        s = r.db["stock"][vid]
        rows.append([
            r.backend, str(r.workers), str(r.buyers), str(r.stock), str(r.paid), str(r.paid - r.stock),
            ", ".join(f"{k}: {v}" for k, v in r.rejected.items()) or "none",
            f"{r.sale_wall_s:.2f}s", f"{r.orders_per_s:.1f}",
            fmt_ms(percentile(r.paid_latency_ms, 50)), fmt_ms(percentile(r.paid_latency_ms, 95)),
            fmt_ms(percentile(r.rejected_latency_ms, 50)),
            f"{s['available']}/{s['reserved']}/{s['committed']}",
            f"{r.client_cpu_s / r.total_wall_s:.0%}" if r.total_wall_s else "-",
            ("OK" if not r.problems else "WRONG: " + "; ".join(r.problems)) + (f" ({len(r.server_errors)} error events in the server log)" if r.server_errors else ""),
        ])  # fmt: skip
    print(table(headers, rows, right={1, 2, 3, 4, 5, 7, 8, 9, 10, 11, 13}))
    print("client CPU: CPU time of the load generator (this process) / its wall time; near 100% would mean the client, not the server, set the pace")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--buyers", type=int, default=1000)
    p.add_argument("--stock", type=int, default=100)
    p.add_argument("--workers", default="2,1", help="comma-separated worker counts, one run each (default 2,1)")
    p.add_argument("--connections", type=int, default=200, help="client connection limit (default 200)")
    p.add_argument("--no-barrier", action="store_true", help="no common start: each buyer goes straight from cart to pay")
    p.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync/synchronous_commit on (default off, as in the tests)")
    p.add_argument("--json", metavar="PATH", help="also write conditions and results as JSON")
    args = p.parse_args(argv)
    try:
        args.workers = [int(w) for w in args.workers.split(",") if w.strip()]
    except ValueError:
        p.error("--workers: comma-separated integers, e.g. 2,1")
    if not args.workers or min(args.workers) < 1 or min(args.buyers, args.stock, args.connections) < 1:
        p.error("--workers, --buyers, --stock and --connections must be >= 1")
    args.backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    runs: list[Run] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="zc-bench-flash-") as tmp_s, PostgresServer(durable=args.pg_durable) if "postgres" in args.backends else contextlib.nullcontext() as pg:
        tmp = Path(tmp_s)
        settings = {
            "backends": ",".join(args.backends), "workers": ",".join(map(str, args.workers)), "buyers": args.buyers, "stock": args.stock,
            "client": f"httpx, {args.connections} keep-alive connections (single-connection clients)", "start": "staggered" if args.no_barrier else "together (after every cart is ready)",
            "server": "granian --interface asgi" + (" --loop uvloop" if has_module("uvloop") else ""), "sqlite": "WAL, synchronous=NORMAL, busy_timeout=10s",
        }  # fmt: skip
        cond = conditions(settings, pg)
        print_conditions(cond)
        print()
        seq = 0
        for backend in args.backends:
            for workers in args.workers:
                seq += 1
                try:
                    runs.append(one_run(backend, workers, args, tmp, pg if backend == "postgres" else None, seq))
                except BenchError as e:
                    failed = True
                    r = Run(backend, workers, args.buyers, args.stock, status="error", error=str(e).splitlines()[0])
                    runs.append(r)
                    print(f"  ERROR: {e}", file=sys.stderr)
    cond["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(f"Load average at end: {cond['loadavg_at_end']}")
    print(f"Results ({cond['date']}; latencies include waiting for one of the {args.connections} client connections)")
    print_report(runs)
    print()
    for r in runs:
        if r.status == "ok":
            verdict = "OK: exactly the stock was sold, nothing oversold, counters add up" if not r.problems else "WRONG: " + "; ".join(r.problems)
            print(f"{r.backend}, {r.workers} worker(s): {verdict}")
    if args.json:
        write_json(args.json, {"conditions": cond, "runs": [asdict(r) for r in runs]})
    return 1 if failed or any(r.problems for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())

"""Checkout latency on PostgreSQL: many buyers checking out at once, plenty of stock.

Run from the project root with the project venv:

    .venv/bin/python bench/checkout_latency.py [--buyers 50] [--duration 20]
        [--warmup 3] [--workers 2] [--backend postgres|sqlite]

Starts a private PostgreSQL (as scripts/test.sh does), migrates a fresh database,
creates two brands with one product each (1,000,000 units; `--spread K`: K each), starts `core.asgi:app`
under granian and runs `--buyers` concurrent guests (one keep-alive connection
each). Each buyer repeats a complete checkout until the time is up:

    POST /api/v1/carts -> POST .../lines (brand A) -> POST .../lines (brand B)
    -> POST .../checkout (two orders) -> POST /api/v1/checkouts/{token}/pay (sandbox card)

Checkouts that start during the warm-up are not counted. Reports p50/p95/p99/max of the
complete checkout (all five requests), the same per step, and throughput (completed
checkouts/s and requests/s). Target: p95 of the complete checkout < 300 ms
(PASS/MISS). The paid orders and committed stock are read back from the database as a
sanity check. Exit 0 whether the target is met or not; 1 if something failed.
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
    zhongcao_env,
    zhongcao_server,
)

TARGET_P95_MS = 300.0
STEPS = ("cart", "line A", "line B", "checkout", "pay")
STOCK = 1_000_000


class Stats:
    def __init__(self) -> None:
        self.total_ms: list[float] = []
        self.step_ms: dict[str, list[float]] = {s: [] for s in STEPS}
        self.errors: collections.Counter[str] = collections.Counter()
        self.completed_all = 0  # warm-up included (for the database check)
        self.in_window = 0  # checkouts that finished inside the measured window (throughput)
        self.window_s = 0.0
        self.client_cpu_share = 0.0
        self.pg_samples = 0
        self.pg_states: collections.Counter[str] = collections.Counter()


async def sample_postgres(dsn: str, start_at: float, stop_at: float, stats: Stats) -> None:
    """What the server's PostgreSQL backends are doing, every 200 ms of the measured window:
    executing, waiting for a lock (hot stock rows), or idle in an open transaction
    (waiting for the app: Python work, or an event loop busy with other requests)."""
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        while now() < start_at:
            await asyncio.sleep(0.05)
        while now() < stop_at:
            rows = await conn.fetch(
                "SELECT state, wait_event_type FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
            stats.pg_samples += 1
            for r in rows:
                state = r["state"] or "?"
                if state == "active" and r["wait_event_type"] == "Lock":
                    key = "waiting for a lock"
                elif state == "active":
                    key = "executing"
                elif state.startswith("idle in transaction"):
                    key = "idle in transaction (waiting for the app)"
                else:
                    key = "idle (in the pool)"
                stats.pg_states[key] += 1
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def load(base_url: str, pairs: list[tuple[int, int]], buyers: int, warmup: float, duration: float, stats: Stats, pg_dsn: str | None) -> None:
    t_start = now()
    measure_from = t_start + warmup
    stop_at = measure_from + duration

    async def step(client: ClientPool, name: str, url: str, body: dict, ok: int, timings: dict[str, float]) -> dict | None:
        t = now()
        try:
            r = await client.post(url, body)
        except httpx.HTTPError as e:
            stats.errors[f"{name} {type(e).__name__}"] += 1
            return None
        timings[name] = (now() - t) * 1000
        if r.status_code != ok:
            stats.errors[f"{name} {r.status_code}"] += 1
            return None
        return r.json()

    async def buyer(client: ClientPool, i: int) -> None:
        n = 0
        while now() < stop_at:
            n += 1
            t0 = now()
            timings: dict[str, float] = {}
            cart = await step(client, "cart", "/api/v1/carts", {}, 201, timings)
            if cart is None:
                continue
            base = f"/api/v1/carts/{cart['token']}"
            va, vb = pairs[(i + n) % len(pairs)]
            if await step(client, "line A", f"{base}/lines", {"variant_id": va, "quantity": 1}, 200, timings) is None:
                continue
            if await step(client, "line B", f"{base}/lines", {"variant_id": vb, "quantity": 1}, 200, timings) is None:
                continue
            checkout = await step(client, "checkout", f"{base}/checkout", {"email": f"buyer{i}-{n}@example.com", "address": ADDRESS}, 201, timings)
            if checkout is None:
                continue
            if len(checkout["orders"]) != 2:
                stats.errors["checkout without 2 orders"] += 1
            paid = await step(client, "pay", f"/api/v1/checkouts/{checkout['token']}/pay", {"payment_method": SANDBOX_CARD}, 200, timings)
            if paid is None:
                continue
            if paid.get("status") != "paid":
                stats.errors[f"pay answered status {paid.get('status')}"] += 1
                continue
            stats.completed_all += 1
            t_end = now()
            if measure_from <= t_end <= stop_at:
                stats.in_window += 1
            if t0 >= measure_from:
                stats.total_ms.append((t_end - t0) * 1000)
                for name, ms in timings.items():
                    stats.step_ms[name].append(ms)

    async with ClientPool(base_url, buyers, timeout=60.0) as client:  # one connection per buyer
        cpu0, t0 = time.process_time(), now()
        sampler = asyncio.create_task(sample_postgres(pg_dsn, measure_from, stop_at, stats)) if pg_dsn else None
        await asyncio.gather(*(buyer(client, i) for i in range(buyers)))
        if sampler is not None:
            await sampler
        stats.client_cpu_share = (time.process_time() - cpu0) / (now() - t0)
    stats.window_s = duration


def run_loop(coro) -> None:  # noqa: ANN001
    if has_module("uvloop"):
        import uvloop

        uvloop.run(coro)
    else:
        asyncio.run(coro)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--buyers", type=int, default=50, help="concurrent buyers, one connection each (default 50)")
    p.add_argument("--duration", type=float, default=20.0, help="measured seconds (default 20)")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of load before measuring (default 3)")
    p.add_argument("--workers", type=int, default=2, help="granian workers (default 2)")
    p.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--spread", type=int, default=1, help="products per brand; buyers take them in turn (default 1: everyone buys the same two)")
    p.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync/synchronous_commit on (default off, as in the tests)")
    p.add_argument("--json", metavar="PATH", help="also write conditions and results as JSON")
    args = p.parse_args(argv)
    if min(args.buyers, args.workers, args.spread) < 1 or args.duration <= 0 or args.warmup < 0:
        p.error("--buyers and --workers >= 1, --duration > 0, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    stats = Stats()
    pg_cm = PostgresServer(durable=args.pg_durable) if args.backend == "postgres" else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="zc-bench-checkout-") as tmp_s, pg_cm as pg:
        tmp = Path(tmp_s)
        settings = {
            "backend": args.backend, "workers": args.workers, "buyers": args.buyers, "duration": f"{args.duration:g}s", "warmup": f"{args.warmup:g}s",
            "client": f"httpx, one keep-alive connection per buyer", "server": "granian --interface asgi" + (" --loop uvloop" if has_module("uvloop") else ""),
            "cart": f"2 variants from 2 brands (of {args.spread} per brand), qty 1 each, CNY, no shipping/tax rates",
        }  # fmt: skip
        cond = conditions(settings, pg)
        print_conditions(cond)
        print()
        port = free_port()
        var_dir = tmp / "var"
        var_dir.mkdir()
        try:
            url = pg.create_database(f"{PG_DB_PREFIX}_checkout") if pg else None
            env = zhongcao_env(var_dir, port, url)
            db_upgrade(env)
            spec = [{"brand": b, "stock": STOCK, "price": price} for b, price in (("brand-a", 12900), ("brand-b", 4900)) for _ in range(args.spread)]
            variants = [it["variant_id"] for it in fixture(env, "seed", json.dumps(spec))["items"]]
            pairs = list(zip(variants[: args.spread], variants[args.spread :]))
            log = tmp / "server.log"
            print(f"== {args.backend}, {args.workers} workers: {args.buyers} buyers, {args.warmup:g}s warm-up + {args.duration:g}s", flush=True)
            with zhongcao_server(env, args.workers, port, log) as srv:
                dsn = url.replace("postgresql+asyncpg://", "postgresql://") if url else None
                run_loop(load(f"http://127.0.0.1:{port}", pairs, args.buyers, args.warmup, args.duration, stats, dsn))
                if not srv.alive():
                    raise BenchError(f"the server died during the run\n{tail(log)}")
            db = fixture(env, "report", ",".join(map(str, variants)))
        except BenchError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            return 1
    cond["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    problems = []
    paid_orders = db["counts"]["orders"].get("paid", 0)
    if paid_orders != 2 * stats.completed_all:
        problems.append(f"{paid_orders} paid orders in the database for {stats.completed_all} completed checkouts (want 2 each)")
    for brand_variants in (variants[: args.spread], variants[args.spread :]):
        committed = sum(db["stock"][str(v)]["committed"] for v in brand_variants)
        if committed != stats.completed_all:
            problems.append(f"variants {brand_variants}: {committed} units committed for {stats.completed_all} completed checkouts")
    for vid in map(str, variants):
        s = db["stock"][vid]
        if s["available"] + s["reserved"] + s["committed"] != STOCK or s["reserved"]:
            problems.append(f"variant {vid}: {s}")

    n = len(stats.total_ms)
    p95 = percentile(stats.total_ms, 95)
    print()
    print(f"Load average at end: {cond['loadavg_at_end']}")
    print(f"Results ({cond['date']}; {args.backend}, {args.workers} granian workers, {args.buyers} buyers, {args.duration:g}s measured)")
    rows = [["complete checkout", str(n), *(fmt_ms(percentile(stats.total_ms, p)) for p in (50, 95, 99, 100))]]
    for name in STEPS:
        v = stats.step_ms[name]
        rows.append([f"  {name}", str(len(v)), *(fmt_ms(percentile(v, p)) for p in (50, 95, 99, 100))])
    print(table(["what", "n", "p50", "p95", "p99", "max"], rows, right={1, 2, 3, 4, 5}))
    print()
    tput = stats.in_window / stats.window_s
    print(f"Throughput: {tput:.1f} checkouts/s ({tput * len(STEPS):.0f} requests/s): {stats.in_window} complete checkouts finished in the {stats.window_s:g}s window")
    print("Latencies: checkouts started in the window (the last ones finish after it); p100 = max.")
    print(f"Errors: {dict(stats.errors) if stats.errors else 'none'}")
    print(f"Load generator CPU: {stats.client_cpu_share:.0%} of one core over the run (it shares the machine with the server)")
    if stats.pg_samples:
        states = ", ".join(f"{k} {v / stats.pg_samples:.1f}" for k, v in stats.pg_states.most_common())
        print(f"PostgreSQL backends of the app, mean over {stats.pg_samples} samples: {states}")
    per_brand = [sum(db["stock"][str(v)]["committed"] for v in vs) for vs in (variants[: args.spread], variants[args.spread :])]
    print(f"Database: {paid_orders} paid orders; committed units brand A {per_brand[0]}, brand B {per_brand[1]} ({stats.completed_all} checkouts incl. warm-up)" + (f"  PROBLEMS: {'; '.join(problems)}" if problems else "  (consistent)"))
    verdict = "n/a" if p95 is None else ("PASS" if p95 < TARGET_P95_MS else "MISS")
    print(f"Target complete checkout p95 < {TARGET_P95_MS:.0f} ms: {verdict} ({fmt_ms(p95)})")
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        summary = {
            "conditions": cond, "target_p95_ms": TARGET_P95_MS, "verdict": verdict, "completed": n, "window_s": stats.window_s,
            "checkouts_per_s": stats.in_window / stats.window_s, "client_cpu_share": stats.client_cpu_share, "errors": dict(stats.errors), "database": db, "problems": problems,
            "pg_backend_states_mean": {k: v / stats.pg_samples for k, v in stats.pg_states.items()} if stats.pg_samples else None, "percentiles_ms": {name: {f"p{p}": percentile(v, p) for p in (50, 95, 99, 100)} for name, v in [("complete", stats.total_ms), *stats.step_ms.items()]},
        }  # fmt: skip
        out.write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
        print(f"\nJSON written to {out}")
    return 1 if problems or stats.errors else 0


if __name__ == "__main__":
    sys.exit(main())

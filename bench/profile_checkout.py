"""Where a checkout (and a product page) spends its time: in process, one request at a time.

Run from the project root with the project venv:

    .venv/bin/python bench/profile_checkout.py [--backend postgres|sqlite]
        [--checkouts 200] [--product-gets 500] [--top 25] [--callers REGEX] [--dump PATH]

Prepares a fresh database the way the benchmarks do (`zhongcao demo --seed-only`, then
two brands with one product each via bench/_fixture.py), builds the app in this
process (create_app driven through httpx.ASGITransport: no sockets, no server) and runs the
benchmark's complete checkout (cart, 2 lines, checkout, pay) and the public product
detail sequentially. It prints, per step: mean wall time, CPU time of this process
(the rest is waiting, mostly for the database), SQL statements and transactions; then
cProfile's own time grouped by package, and the top functions by own time (the
request path only: the job worker threads that handle events are not profiled).

A diagnostic, not a benchmark: no concurrency, and cProfile slows Python code down
(the step timings are taken in a separate pass without the profiler).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

from _support import (
    ADDRESS,
    PG_DB_PREFIX,
    ROOT,
    SANDBOX_CARD,
    PostgresServer,
    conditions,
    exit_on_sigterm,
    fixture,
    fmt_ms,
    free_port,
    print_conditions,
    run_checked,
    table,
    zhongcao_cli,
    zhongcao_env,
)

STEPS = ("cart", "line A", "line B", "checkout", "pay")


class SqlCounter:
    def __init__(self) -> None:
        self.statements = 0
        self.begins = 0  # transactions sent to the database (BEGIN ... COMMIT/ROLLBACK)
        self.autocommits = 0  # "transactions" in autocommit (PostgreSQL reads, single statements): no BEGIN
        self.commits = 0
        self.checkouts = 0  # connections taken from the pool (each one pinged: pool_pre_ping)
        self.texts: list[str] = []
        self.keep = False

    def install(self) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine

        @event.listens_for(Engine, "before_cursor_execute")
        def _stmt(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001, ANN202
            self.statements += 1
            if self.keep:
                self.texts.append(" ".join(statement.split())[:150])

        @event.listens_for(Engine, "begin")
        def _begin(conn):  # noqa: ANN001, ANN202
            if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
                self.autocommits += 1
            else:
                self.begins += 1

        @event.listens_for(Engine, "commit")
        def _commit(conn):  # noqa: ANN001, ANN202
            self.commits += 1

        from sqlalchemy.pool import Pool

        @event.listens_for(Pool, "checkout")
        def _checkout(dbapi_conn, record, proxy):  # noqa: ANN001, ANN202
            self.checkouts += 1

    def snap(self) -> tuple[int, int, int, int, int]:
        return self.statements, self.begins, self.commits, self.checkouts, self.autocommits


async def checkout_once(client, variants: list[int], i: int, per_step: dict | None, sql: SqlCounter) -> None:  # noqa: ANN001
    async def step(name: str, url: str, body: dict, ok: int) -> dict:
        s0, t0, c0 = sql.snap(), time.perf_counter(), time.process_time()
        r = await client.post(url, json=body)
        if per_step is not None:
            s1 = sql.snap()
            rec = per_step.setdefault(name, {"wall": 0.0, "cpu": 0.0, "n": 0, "stmts": 0, "txs": 0, "pool": 0, "auto": 0})
            rec["wall"] += time.perf_counter() - t0
            rec["cpu"] += time.process_time() - c0
            rec["n"] += 1
            rec["stmts"] += s1[0] - s0[0]
            rec["txs"] += s1[1] - s0[1]
            rec["pool"] += s1[3] - s0[3]
            rec["auto"] += s1[4] - s0[4]
        if r.status_code != ok:
            raise RuntimeError(f"{name}: HTTP {r.status_code} {r.text[:300]}")
        return r.json()

    cart = await step("cart", "/api/v1/carts", {}, 201)
    base = f"/api/v1/carts/{cart['token']}"
    await step("line A", f"{base}/lines", {"variant_id": variants[0], "quantity": 1}, 200)
    await step("line B", f"{base}/lines", {"variant_id": variants[1], "quantity": 1}, 200)
    ck = await step("checkout", f"{base}/checkout", {"email": f"p{i}@example.com", "address": ADDRESS}, 201)
    paid = await step("pay", f"/api/v1/checkouts/{ck['token']}/pay", {"payment_method": SANDBOX_CARD}, 200)
    assert paid["status"] == "paid", paid


async def product_once(client, path: str, per_step: dict | None, sql: SqlCounter) -> None:  # noqa: ANN001
    s0, t0, c0 = sql.snap(), time.perf_counter(), time.process_time()
    r = await client.get(path)
    if r.status_code != 200:
        raise RuntimeError(f"{path}: HTTP {r.status_code}")
    if per_step is not None:
        s1 = sql.snap()
        rec = per_step.setdefault("product detail", {"wall": 0.0, "cpu": 0.0, "n": 0, "stmts": 0, "txs": 0, "pool": 0, "auto": 0})
        rec["wall"] += time.perf_counter() - t0
        rec["cpu"] += time.process_time() - c0
        rec["n"] += 1
        rec["stmts"] += s1[0] - s0[0]
        rec["txs"] += s1[1] - s0[1]
        rec["pool"] += s1[3] - s0[3]
        rec["auto"] += s1[4] - s0[4]


def print_steps(per_step: dict) -> None:
    rows = []
    for name, rec in per_step.items():
        n = rec["n"]
        wall, cpu = rec["wall"] / n * 1000, rec["cpu"] / n * 1000
        rows.append([
            name, str(n), fmt_ms(wall), fmt_ms(cpu), f"{cpu / wall:.0%}" if wall else "-", f"{rec['stmts'] / n:.1f}", f"{rec['txs'] / n:.1f}",
            f"{rec['auto'] / n:.1f}", f"{rec['pool'] / n:.1f}",
        ])  # fmt: skip
    print(table(["step", "n", "mean wall", "mean CPU", "CPU share", "SQL stmts", "transactions", "autocommit", "pool checkouts"], rows, right=set(range(1, 9))))
    print("(SQL, transactions and pool checkouts count every engine in the process: the outbox relay and the in-process")
    print(" job worker threads that handle the events a step commits are included; CPU is the whole process's.")
    print(" transactions: BEGIN ... COMMIT/ROLLBACK sent to the database; autocommit: connection uses without a")
    print(" transaction (PostgreSQL reads and single statements), no BEGIN or COMMIT round trips)")


def group_of(filename: str, func: str) -> str:
    """A readable owner for a profile entry: a package, a core module, or I/O wait."""
    if filename == "~":
        if "epoll" in func or "select" in func:
            return "(waiting: epoll, idle loop)"
        if "socket" in func:
            return "(socket send/recv syscalls)"
        return "(builtins / C calls)"
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        return path.split("/site-packages/", 1)[1].split("/", 1)[0].removesuffix(".py")
    if "/core/" in path and "/site-packages/" not in path:
        rel = path.split("/core/", 1)[1]
        return "core/" + rel.rsplit("/", 1)[0] if "/" in rel else "core"
    if "/bench/" in path:
        return "bench (the client loop)"
    if "/lib/python3" in path:
        mod = path.split("/lib/python3", 1)[1].split("/", 2)[1].removesuffix(".py")
        return f"stdlib {mod}"
    return path


def print_groups(prof: cProfile.Profile, title: str) -> None:
    stats = pstats.Stats(prof)
    groups: dict[str, float] = {}
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in stats.stats.items():
        g = group_of(filename, func)
        groups[g] = groups.get(g, 0.0) + tt
        total += tt
    rows = [[g, f"{t:.3f}s", f"{t / total:.0%}"] for g, t in sorted(groups.items(), key=lambda kv: -kv[1])[:18]]
    print(f"--- cProfile, {title}: own time by package (total {total:.2f}s under the profiler)")
    print(table(["package / module", "own time", "share"], rows, right={1, 2}))
    print()


def print_profile(prof: cProfile.Profile, top: int, title: str) -> None:
    print_groups(prof, title)
    # own time only: under asyncio, cProfile counts each resumption of a coroutine as a call
    # and its cumulative time includes the time other tasks ran while it was suspended
    for key, label in (("tottime", "own time"),):
        s = io.StringIO()
        stats = pstats.Stats(prof, stream=s)
        stats.strip_dirs().sort_stats(key).print_stats(top)
        text = s.getvalue()
        body = text[text.find("   ncalls"):] if "   ncalls" in text else text
        print(f"--- cProfile, {title}: top {top} by {label}")
        print(body.rstrip())
        print()


async def asgi_get(app, path: str) -> int:  # noqa: ANN001
    """One GET straight into the ASGI app (no client, no server): the app's own cost."""
    status = 0
    sent = False

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http", "path": path,
        "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": [(b"host", b"127.0.0.1"), (b"accept", b"*/*")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80), "state": {},
    }  # fmt: skip
    await app(scope, receive, send)
    return status


async def asgi_timings(app, paths: list[tuple[str, object, str]], n: int) -> None:  # noqa: ANN001
    rows = []
    for label, target, path in paths:
        for _ in range(200):
            await asgi_get(target, path)
        t0, c0 = time.perf_counter(), time.process_time()
        for _ in range(n):
            status = await asgi_get(target, path)
        wall, cpu = (time.perf_counter() - t0) / n * 1e6, (time.process_time() - c0) / n * 1e6
        rows.append([label, path, str(status), f"{wall:.0f}us", f"{cpu:.0f}us"])
    print(f"Straight into the ASGI app, no client ({n} sequential GETs each):")
    print(table(["app", "path", "status", "mean wall", "mean CPU"], rows, right={2, 3, 4}))
    print()


async def profile(args: argparse.Namespace, variants: list[int]) -> None:
    import httpx

    from core.app import create_app
    from core.runtime import create_runtime

    sql = SqlCounter()
    sql.install()
    runtime = create_runtime()
    app = create_app(runtime=runtime)
    # the app runs in this thread and loop (Litestar's test client would run it in a
    # thread of its own, out of cProfile's sight); the lifespan starts the runtime
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        r = await client.get("/api/v1/products")
        slug = r.json()["items"][0]["slug"]
        path = f"/api/v1/products/{slug}"
        for i in range(20):  # warm-up: imports, caches, connection pool
            await checkout_once(client, variants, -i, None, sql)
            await product_once(client, path, None, sql)

        sql.keep = True
        sql.texts.clear()
        await checkout_once(client, variants, 0, None, sql)
        checkout_sql = list(sql.texts)
        sql.texts.clear()
        await product_once(client, path, None, sql)
        product_sql = list(sql.texts)
        sql.keep = False

        per_step: dict = {}
        for i in range(args.checkouts):
            await checkout_once(client, variants, i + 1, per_step, sql)
        for _ in range(args.product_gets):
            await product_once(client, path, per_step, sql)
        total_checkout = sum(per_step[s]["wall"] for s in STEPS) / args.checkouts * 1000
        total_cpu = sum(per_step[s]["cpu"] for s in STEPS) / args.checkouts * 1000
        print(f"Per step, in process, sequential ({args.checkouts} checkouts, {args.product_gets} product GETs; {path}):")
        print_steps(per_step)
        print(f"complete checkout: mean {fmt_ms(total_checkout)} wall, {fmt_ms(total_cpu)} CPU in this process "
              f"-> at most ~{1000 / total_cpu:.0f} checkouts/s per fully busy core (Python alone)")
        print()
        print(f"SQL of one complete checkout ({len(checkout_sql)} statements):")
        for t in checkout_sql:
            print(f"  {t}")
        print()
        print(f"SQL of one product detail GET ({len(product_sql)} statements):")
        for t in product_sql:
            print(f"  {t}")
        print()

        prof = cProfile.Profile()
        prof.enable()
        for i in range(args.checkouts):
            await checkout_once(client, variants, 10_000 + i, None, sql)
        prof.disable()
        print_profile(prof, args.top, f"{args.checkouts} complete checkouts")
        if args.dump:
            prof.dump_stats(args.dump)
            print(f"(profile of the {args.checkouts} complete checkouts written to {args.dump}: python -m pstats {args.dump})")
        if args.callers:
            s = io.StringIO()
            pstats.Stats(prof, stream=s).sort_stats("cumulative").print_callers(args.callers)
            print(f"--- cProfile, {args.checkouts} complete checkouts: callers of {args.callers!r}")
            print(s.getvalue().rstrip())
            print()

        from bare_app import app as bare

        await asgi_timings(app, [("bare_app", bare, "/"), ("zhongcao", app, "/health"), ("zhongcao", app, path)], args.product_gets)
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.product_gets):
            await asgi_get(app, path)
        prof.disable()
        print_profile(prof, args.top, f"{args.product_gets} product detail GETs straight into the ASGI app")
    await runtime.dispose_loop_databases()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("postgres", "sqlite"), default="postgres")
    p.add_argument("--checkouts", type=int, default=200)
    p.add_argument("--product-gets", type=int, default=500)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--pg-durable", action="store_true")
    p.add_argument("--dump", metavar="PATH", help="also write the checkouts' cProfile data to PATH (for pstats, snakeviz...)")
    p.add_argument("--callers", metavar="REGEX", help="also print cProfile's callers of the functions matching REGEX (e.g. 'coercions.py.*expect')")
    args = p.parse_args(argv)
    exit_on_sigterm()
    pg_cm = PostgresServer(durable=args.pg_durable) if args.backend == "postgres" else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="zc-bench-profile-") as tmp_s, pg_cm as pg:
        cond = conditions({"backend": args.backend, "checkouts": args.checkouts, "product_gets": args.product_gets, "client": "httpx.ASGITransport (in process, same loop)"}, pg)
        print_conditions(cond)
        print()
        var_dir = Path(tmp_s) / "var"
        url = pg.create_database(f"{PG_DB_PREFIX}_profile") if pg else None
        env = zhongcao_env(var_dir, free_port(), url)
        run_checked([*zhongcao_cli(), "demo", "--seed-only"], env, "`zhongcao demo --seed-only`")
        spec = [{"brand": "brand-a", "stock": 1_000_000, "price": 12900}, {"brand": "brand-b", "stock": 1_000_000, "price": 4900}]
        variants = [it["variant_id"] for it in fixture(env, "seed", json.dumps(spec))["items"]]
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(env)
        sys.path.insert(0, str(ROOT))
        try:
            asyncio.run(profile(args, variants))
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return 0


if __name__ == "__main__":
    sys.exit(main())

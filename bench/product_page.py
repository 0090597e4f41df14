"""Product page: GET /api/v1/products/{slug} against the bare Litestar app, same run.

Run from the project root with the project venv:

    .venv/bin/python bench/product_page.py [--workers 2] [--duration 10s]
        [--connections 64] [--backend sqlite|postgres] [--repeat N]

Per round, one server at a time: the bare app (bench/bare_app.py, GET `/`), then
`core.asgi:app` on a fresh database seeded by `zhongcao demo --seed-only` (embedded
SQLite by default; `--backend postgres` starts a private PostgreSQL). The product slug
is the first item of GET /api/v1/products. Each URL is probed (it must answer 2xx),
warmed up with wrk, then measured with `wrk --latency` exactly as in
http_overhead.py. `/health` is measured as well, for reference (no database).

Target: product detail >= 0.5x the bare app's requests/s (PASS/MISS; with --repeat,
the median of the per-round ratios). Exit 0 whether the target is met or missed; 1
if a server, wrk or the seeding failed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import urllib.request
from dataclasses import asdict
from pathlib import Path

from _support import (
    PG_DB_PREFIX,
    BenchError,
    PostgresServer,
    ServerProcess,
    base_env,
    conditions,
    exit_on_sigterm,
    fmt_ms,
    free_port,
    has_module,
    print_conditions,
    run_checked,
    table,
    write_json,
    zhongcao_cli,
    zhongcao_env,
    zhongcao_server,
)
from http_overhead import Result, measure

TARGET = 0.5


def first_product_slug(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/products", timeout=10) as resp:
        items = json.loads(resp.read())["items"]
    if not items:
        raise BenchError("GET /api/v1/products answered no products: nothing to measure")
    return items[0]["slug"]


def one_round(rnd: int, args: argparse.Namespace, tmp: Path, pg: PostgresServer | None) -> list[Result]:
    tag = f" (round {rnd}/{args.repeat})" if args.repeat > 1 else ""
    bare = Result("granian", "bare", "/", "bare /", round=rnd)
    health = Result("granian", "zhongcao", "/health", "zhongcao /health", round=rnd)
    detail = Result("granian", "zhongcao", "?", "zhongcao product detail", round=rnd)
    results = [bare, health, detail]

    print(f"== bare app ({args.workers} workers){tag}", flush=True)
    port = free_port()
    with ServerProcess("granian", "bare_app:app", args.workers, port, base_env(), tmp / f"bare-{rnd}.log") as srv:
        srv.wait_ready("/")
        measure(srv, bare, args)

    print(f"== zhongcao core.asgi:app ({args.workers} workers, {args.backend}){tag}", flush=True)
    port = free_port()
    var_dir = tmp / f"var-{rnd}"
    var_dir.mkdir()
    url = pg.create_database(f"{PG_DB_PREFIX}_product_{rnd}") if pg else None
    env = zhongcao_env(var_dir, port, url)
    run_checked([*zhongcao_cli(), "demo", "--seed-only"], env, "`zhongcao demo --seed-only`")
    with zhongcao_server(env, args.workers, port, tmp / f"zhongcao-{rnd}.log") as srv:
        slug = first_product_slug(port)
        detail.path = f"/api/v1/products/{slug}"
        detail.label = f"zhongcao GET {detail.path}"
        measure(srv, health, args)
        measure(srv, detail, args)
    for r in results:
        if r.status == "error":
            raise BenchError(f"{r.label}: {r.note}")
        if r is not bare and bare.requests_per_sec:
            r.ratio_to_bare = r.requests_per_sec / bare.requests_per_sec
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--workers", type=int, default=2, help="granian workers (default 2)")
    p.add_argument("--duration", default="10s", help="wrk measurement per URL (default 10s)")
    p.add_argument("--warmup", default="2s", help="wrk warm-up per URL (default 2s)")
    p.add_argument("--connections", type=int, default=64, help="wrk connections (default 64)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--timeout", default="10s", help="wrk per-request timeout (default 10s)")
    p.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    p.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync/synchronous_commit on")
    p.add_argument("--repeat", type=int, default=1, help="rounds (bare, then Zhongcao, each round); medians shown")
    p.add_argument("--json", metavar="PATH", help="also write conditions and results as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="print raw wrk output")
    args = p.parse_args(argv)
    for name in ("duration", "warmup", "timeout"):
        if not re.fullmatch(r"\d+[smh]?", getattr(args, name)):
            p.error(f"--{name}: expected e.g. 10s, 2m")
    if min(args.workers, args.connections, args.threads, args.repeat) < 1 or args.connections < args.threads:
        p.error("--workers, --threads, --repeat >= 1 and --connections >= --threads")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found; install it with: apt-get install -y wrk", file=sys.stderr)
        return 1
    exit_on_sigterm()
    runs: list[Result] = []
    pg_cm = PostgresServer(durable=args.pg_durable) if args.backend == "postgres" else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="zc-bench-product-") as tmp_s, pg_cm as pg:
        settings = {
            "backend": args.backend, "workers": args.workers, "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration} --timeout {args.timeout} (warm-up {args.warmup})",
            "repeat": args.repeat, "server": "granian --interface asgi" + (" --loop uvloop" if has_module("uvloop") else ""), "data": "zhongcao demo --seed-only",
        }  # fmt: skip
        cond = conditions(settings, pg)
        print_conditions(cond)
        print()
        try:
            for rnd in range(1, args.repeat + 1):
                runs += one_round(rnd, args, Path(tmp_s), pg)
        except BenchError as e:
            print(f"ERROR: {e}", file=sys.stderr)
            return 1
    cond["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())

    labels = ["bare /", "zhongcao /health", "zhongcao product detail"]
    rows, ratios = [], {}
    for i, label in enumerate(labels):
        samples = runs[i::3]
        med = lambda attr: statistics.median(getattr(r, attr) for r in samples if getattr(r, attr) is not None)  # noqa: E731
        ratio = statistics.median(r.ratio_to_bare for r in samples) if i else None
        ratios[label] = ratio
        spread = f"{min(r.requests_per_sec for r in samples):,.0f}..{max(r.requests_per_sec for r in samples):,.0f}" if len(samples) > 1 else ""
        notes = "; ".join(x for x in [spread and f"median of {len(samples)}: {spread} req/s", *{r.note for r in samples if r.note}] if x)
        rows.append([
            samples[0].label, f"{med('requests_per_sec'):,.0f}", fmt_ms(med('latency_p50_ms')), fmt_ms(med('latency_p99_ms')),
            f"{ratio:.2f}x" if ratio is not None else "1.00x", f"{samples[0].response_bytes} B", notes,
        ])  # fmt: skip
    print()
    print(f"Load average at end: {cond['loadavg_at_end']}")
    print(f"Results ({args.workers} workers, {args.backend}, wrk -t{args.threads} -c{args.connections} -d{args.duration}, {cond['date']})")
    print(table(["target", "req/s", "p50", "p99", "vs bare", "body", "notes"], rows, right={1, 2, 3, 4, 5}))
    print()
    r = ratios["zhongcao product detail"]
    verdict = "PASS" if r >= TARGET else "MISS"
    print(f"Target product detail >= {TARGET:.2f}x bare: {verdict} ({r:.2f}x)")
    if args.json:
        write_json(args.json, {"conditions": cond, "target": TARGET, "verdict": verdict, "runs": [asdict(x) for x in runs]})
    return 0


if __name__ == "__main__":
    sys.exit(main())

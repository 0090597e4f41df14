"""Storefront HTML pages at scale: the explore page, the note page and the product page
against the bare Litestar app in the same run, with 100,000 notes in the database.

Run from the project root with the project venv:

    .venv/bin/python bench/storefront_pages.py [--backend sqlite|postgres|both]
        [--notes 100000] [--users 10000] [--interactions 1000000]
        [--workers 2] [--connections 32] [--duration 10s] [--json PATH]

For each backend, on a fresh database (migrated in-process):

1. **Fixture**: bench/feed.py's (`prepare` -> `build_fixture`, counters checked): users,
   creators, notes with images, topics and product tags, follows and interactions, with
   `--products` products (5 brands) instead of its 100. The fixture's products are bare
   rows; each gets a description, one image (the fixture's shared file) and stock, so
   its page shows a gallery and a buy form as a real listing does.
2. **In process, once per page kind**: the app built on the same database
   (`core.app.create_app`, lifespan running, `httpx.ASGITransport`), anonymous GETs:
   HTML size, and the SQL statements of one view (`core.testing.QueryCounter`), for the
   first view of the process (cold caches) and for a later view of another note or
   product (warm). A regression in throughput shows there whether it comes from more
   SQL or a bigger page.
3. **Over HTTP**: the bare app (bench/bare_app.py, GET `/`), then `core.asgi:app` under
   granian with `--workers`, one server at a time; wrk with `--connections` (32)
   connections, no cookies (a guest): `GET /feed` (the first page of a fresh explore
   session each time), `GET /notes/{id}` over `--note-ids` published public notes and
   `GET /products/{slug}` over the tagged products, the last two through a wrk Lua script
   that cycles through the paths; then the note page and the product page once more over
   ONE path each (the richest note, a tagged product): a page that many guests open at
   once, where the guest page cache (`ZHONGCAO_GUEST_PAGE_SECONDS`) serves most views.
   The rotating rows show what rendering costs (each path is rendered about once per
   cache interval per worker); the one-path rows what serving a kept page costs. Each
   target is probed first (the first path and a
   sample of the others must answer 2xx), warmed up, then measured; a `done()` hook in
   the wrk script prints the p95 (wrk's own `--latency` table has no p95).

**Target: each page >= 0.35x the bare app's requests/s** in the same run (PASS/MISS per
row), p95 reported under 32 connections. Exit 0 whether the target is met or missed;
1 if the fixture, a server or wrk failed, or a page answered anything but 2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from _support import (
    PG_DB_PREFIX,
    BenchError,
    PostgresServer,
    ServerProcess,
    base_env,
    clean_env_names,
    conditions,
    exit_on_sigterm,
    fmt_ms,
    free_port,
    has_module,
    make_runtime,
    print_conditions,
    table,
    tail,
    write_json,
    zhongcao_env,
    zhongcao_server,
)
from feed import MEDIA_FILE, Fixture, prepare
from http_overhead import Result, parse_wrk, probe

TARGET = 0.35
BRANDS = 5  # bench/feed.py's fixture makes its products under 5 brands
PROBES = 12  # paths probed (besides the first) before a rotating target is measured
PAGES = ("explore", "note", "product")
TIMED = 30  # sequential views timed in process per page kind
DRAIN_TIMEOUT = 120.0  # longer than the database pool's 30 s checkout timeout


@dataclass
class PageResult(Result):
    page: str = ""  # bare | explore | note | product
    paths: int = 1  # distinct paths wrk cycles through
    latency_p95_ms: float | None = None
    latency_max_ms: float | None = None
    html_bytes: int | None = None  # in process, one view
    sql_first: int | None = None  # statements of the process's first view (cold caches)
    sql_view: int | None = None  # statements of a later view of another note/product
    inproc_status: int | None = None
    inproc_ms: float | None = None  # mean wall time of one view in process, one after the other


# --------------------------------------------------------------------------- options


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    p.add_argument("--notes", type=int, default=100_000)
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--interactions", type=int, default=1_000_000, help="impressions + likes + collects + comments")
    p.add_argument("--products", type=int, default=300, help=f"products in the fixture ({BRANDS} brands); the tagged ones are measured")
    p.add_argument("--note-ids", type=int, default=2_000, help="public notes the note page run cycles through")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--workers", type=int, default=2, help="granian workers (default 2)")
    p.add_argument("--duration", default="10s", help="wrk measurement per page (default 10s)")
    p.add_argument("--warmup", default="2s", help="wrk warm-up per page (default 2s)")
    p.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--timeout", default="10s", help="wrk per-request timeout (default 10s)")
    p.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync/synchronous_commit on")
    p.add_argument("--pg-shared-buffers", default="1GB", help="PostgreSQL shared_buffers (default 1GB)")
    p.add_argument("--json", metavar="PATH", help="also write conditions and results as JSON")
    p.add_argument("--verbose", "-v", action="store_true", help="print raw wrk output")
    args = p.parse_args(argv)
    for name in ("duration", "warmup", "timeout"):
        if not re.fullmatch(r"\d+[smh]?", getattr(args, name)):
            p.error(f"--{name}: expected e.g. 10s, 2m")
    if args.users < 20 or args.notes < 100 or args.interactions < 0 or args.products < BRANDS:
        p.error(f"--users >= 20, --notes >= 100, --interactions >= 0, --products >= {BRANDS}")
    if min(args.workers, args.connections, args.threads, args.note_ids) < 1 or args.connections < args.threads:
        p.error("--workers, --threads, --note-ids >= 1 and --connections >= --threads")
    args.backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    return args


def fixture_args(args: argparse.Namespace) -> argparse.Namespace:
    """What bench/feed.py's build_fixture reads, with its SQLite statistics default."""
    return argparse.Namespace(
        seed=args.seed, notes=args.notes, users=args.users, interactions=args.interactions, detail_notes=args.note_ids,
        products_per_brand=max(1, args.products // BRANDS), sqlite_analyze=False, sqlite_no_statistics=False,
    )  # fmt: skip


# --------------------------------------------------------------------------- fixture


async def dress_products(url: str, var_dir: Path, secret: str, backend: str) -> list[str]:
    """A description, one image and stock for each of the fixture's products; returns the
    slugs of the active products that notes tag (the product page's "people say" shows them)."""
    from sqlalchemy import insert, select, text, update

    from core.catalog.models import Product, ProductMedia, Variant
    from core.inventory import service as inventory
    from plugins.notes.models import ProductTag

    runtime = make_runtime(var_dir, url, secret)
    try:
        async with runtime.db.session() as s:
            products = (await s.execute(select(Product.id, Product.brand_id, Product.title).where(Product.slug.like("bench-%")))).all()
            await s.execute(update(Product).where(Product.slug.like("bench-%")).values(description="轻薄好吸收，敏感肌也能用。Light, absorbs fast, fine for sensitive skin.\n" * 3))
            size = {"path": MEDIA_FILE, "width": 320, "height": 427}
            await s.execute(insert(ProductMedia), [
                {"product_id": pid, "path": MEDIA_FILE, "content_type": "image/webp", "width": 320, "height": 427, "sizes": {"320": size}, "alt": title, "position": 0}
                for pid, _brand, title in products
            ])  # fmt: skip
            variants = (await s.execute(select(Variant.id, Product.brand_id).join(Product, Product.id == Variant.product_id).where(Product.slug.like("bench-%")))).all()
            locations: dict[int, int] = {}
            for variant_id, brand_id in variants:
                if brand_id not in locations:
                    locations[brand_id] = (await inventory.ensure_location(s, brand_id)).id
                await inventory.receive_stock(s, variant_id=variant_id, location_id=locations[brand_id], quantity=500)
            await s.commit()
        if not runtime.db.is_sqlite:  # small tables: autovacuum would analyze them soon
            async with runtime.db.engine.connect() as conn:
                await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE product, product_media, variant, stock_level"))
        async with runtime.db.read_session() as s:
            tagged = select(ProductTag.product_id).distinct().scalar_subquery()
            slugs = list((await s.execute(select(Product.slug).where(Product.status == "active", Product.id.in_(tagged)).order_by(Product.id))).scalars())
    finally:
        await runtime.dispose_loop_databases()
    print(f"  {backend}: {len(products)} products dressed (description, image, stock); {len(slugs)} of them tagged by notes", flush=True)
    if not slugs:
        raise BenchError(f"{backend}: no active product is tagged by a note: nothing to measure on the product page")
    return slugs


# --------------------------------------------------------------------------- in process


async def in_process(url: str, var_dir: Path, secret: str, views: dict[str, tuple[str, str]], targets: dict[str, list[str]]) -> dict[str, dict]:
    """Per page kind, anonymous GETs of the app in this process: status, HTML bytes and SQL
    statements of the first view and of a later one (`views`: those two paths), then the
    mean wall time of TIMED views one after the other over the page's paths (no HTTP, no
    concurrency: what one view costs the server)."""
    import httpx

    from core.app import create_app
    from core.testing import QueryCounter, settle

    runtime = make_runtime(var_dir, url, secret)
    app = create_app(runtime=runtime)
    out: dict[str, dict] = {}
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    try:
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
            for page, (first, later) in views.items():
                counts = []
                for path in (first, later):
                    await settle(runtime)
                    client.cookies.clear()  # a guest each time
                    with QueryCounter() as q:
                        resp = await client.get(path)
                    counts.append(q.count)
                paths = targets[page]
                started = time.perf_counter()
                for i in range(TIMED):
                    client.cookies.clear()
                    await client.get(paths[i % len(paths)])
                ms = (time.perf_counter() - started) * 1e3 / TIMED
                out[page] = {"path": later, "status": resp.status_code, "html_bytes": len(resp.content), "sql_first": counts[0], "sql_view": counts[1], "ms": ms}
                print(f"  in process {page} GET {later}: HTTP {resp.status_code}, {len(resp.content):,} B, SQL {counts[0]} first view, {counts[1]} later view; {ms:.1f} ms a view", flush=True)
    finally:
        await runtime.dispose_loop_databases()
    return out


# --------------------------------------------------------------------------- wrk


def wrk_script(paths: list[str], path: Path) -> Path:
    """One path: wrk's static request (no Lua per request, as for the bare app); several:
    each thread cycles through them from its own offset. `done` prints the percentiles."""
    rotate = (
        "local paths = {" + ",".join(f'"{p}"' for p in paths) + "}\n"
        "local counter = 0\n"
        "function setup(thread) thread:set('offset', math.random(#paths)) end\n"
        "function init(args) counter = tonumber(offset) or 0 end\n"
        "function request()\n"
        "  counter = counter + 1\n"
        "  return wrk.format('GET', paths[(counter % #paths) + 1])\n"
        "end\n"
    )
    path.write_text(
        (rotate if len(paths) > 1 else "")
        + "function done(summary, latency, requests)\n"
        "  io.write(string.format('ZC-LATENCY-US p50=%d p95=%d p99=%d max=%d\\n', latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))\n"
        "end\n"
    )
    return path


def probe_paths(port: int, paths: list[str]) -> tuple[str | None, int]:
    """The first path and a spread sample must answer 2xx (wrk would happily measure a fast
    404 or a redirect): what went wrong, if anything, and the first body's size."""
    step = max(1, len(paths) // PROBES)
    first_size = 0
    for p in dict.fromkeys([paths[0], *paths[1::step][:PROBES]]):
        try:
            status, size, location = probe(f"http://127.0.0.1:{port}{p}")
        except BenchError as exc:  # e.g. timed out: this page fails, the others are still measured
            return str(exc), first_size
        first_size = first_size or size
        if not 200 <= status < 300:
            return f"GET {p} answered HTTP {status}" + (f" -> {location}" if location else "") + "; not benchmarked", first_size
    return None, first_size


def drain(url: str, when: str) -> str:
    """Wait until the server has worked off what the warm-up left in flight (one GET must
    come back) before measuring; says so when that took a while."""
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=DRAIN_TIMEOUT) as resp:
            resp.read()
    except urllib.error.HTTPError:
        pass
    except (urllib.error.URLError, OSError) as exc:
        return f"still busy {DRAIN_TIMEOUT:.0f} s {when} ({getattr(exc, 'reason', exc)})"
    waited = time.perf_counter() - started
    return f"backlog {waited:.1f} s {when}" if waited > 1.0 else ""


def measure(srv: ServerProcess, result: PageResult, paths: list[str], args: argparse.Namespace, script: Path) -> None:
    problem, result.response_bytes = probe_paths(srv.port, paths)
    if problem:
        result.status, result.note = "error", problem
        print(f"  {result.label}: ERROR {problem}", flush=True)
        return
    wrk_script(paths, script)
    url = f"http://127.0.0.1:{srv.port}{paths[0]}"
    base = ["wrk", f"-t{args.threads}", f"-c{args.connections}", "--timeout", args.timeout, "-s", str(script)]
    print(f"  {result.label}: warm-up {args.warmup} ...", flush=True)
    subprocess.run([*base, f"-d{args.warmup}", url], capture_output=True, text=True, check=False)
    backlog = drain(url, "after the warm-up")  # a healthy server: milliseconds
    print(f"  {result.label}: wrk -t{args.threads} -c{args.connections} -d{args.duration} --latency{' (rotating)' if len(paths) > 1 else ''} ...", flush=True)
    proc = subprocess.run([*base, f"-d{args.duration}", "--latency", url], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"wrk failed ({proc.returncode}) on {result.label}: {proc.stdout}\n{proc.stderr}")
    if args.verbose:
        print(proc.stdout)
    for key, value in parse_wrk(proc.stdout).items():
        setattr(result, key, value)
    m = re.search(r"ZC-LATENCY-US p50=(\d+) p95=(\d+) p99=(\d+) max=(\d+)", proc.stdout)
    if m:
        result.latency_p50_ms, result.latency_p95_ms, result.latency_p99_ms, result.latency_max_ms = (int(x) / 1000 for x in m.groups())
    if not srv.alive():
        raise BenchError(f"{srv.server} died while measuring {result.label}\n--- log tail ---\n{tail(srv.log_path)}")
    errors = [f"{result.non_2xx_3xx} non-2xx/3xx"] if result.non_2xx_3xx else []
    errors += [f"{k} {v}" for k, v in result.socket_errors.items()]
    result.note = ", ".join(errors + ([backlog] if backlog else []))
    print(f"  {result.label}: {result.requests_per_sec:,.0f} req/s, p95 {fmt_ms(result.latency_p95_ms)}" + (f"  ({result.note})" if result.note else ""), flush=True)


# --------------------------------------------------------------------------- one backend


def one_backend(backend: str, args: argparse.Namespace, tmp: Path, pg: PostgresServer | None) -> dict:
    var_dir = tmp / f"var-{backend}"
    var_dir.mkdir()
    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{var_dir / 'zhongcao.db'}"
    else:
        assert pg is not None
        url = pg.create_database(f"{PG_DB_PREFIX}_pages_{uuid.uuid4().hex[:6]}")
    secret = secrets.token_urlsafe(32)
    print(f"== {backend}", flush=True)
    fx: Fixture = asyncio.run(prepare(backend, url, var_dir, secret, fixture_args(args)))
    if not fx.check.startswith("consistent"):
        raise BenchError(f"{backend}: fixture counters {fx.check}")
    slugs = asyncio.run(dress_products(url, var_dir, secret, backend))
    note_paths = [f"/notes/{n}" for n in fx.detail_notes]
    product_paths = [f"/products/{s}" for s in slugs]
    targets = {"explore": ["/feed"], "note": note_paths, "product": product_paths}
    # the richest note (3+ images, topics, a product tag, the most liked) for the counted view
    views = {
        "explore": ("/feed", "/feed"),
        "note": (note_paths[0], f"/notes/{fx.detail_note}"),
        "product": (product_paths[-1], product_paths[0]),
    }
    inproc = asyncio.run(in_process(url, var_dir, secret, views, targets))

    bare = PageResult("granian", "bare", "/", "bare GET /", page="bare")
    results = [bare]
    print(f"  == bare app ({args.workers} workers)", flush=True)
    port = free_port()
    with ServerProcess("granian", "bare_app:app", args.workers, port, base_env(), tmp / f"bare-{backend}.log") as srv:
        srv.wait_ready("/")
        measure(srv, bare, ["/"], args, tmp / f"bare-{backend}.lua")
    if bare.status == "error":
        raise BenchError(f"bare app: {bare.note}")

    port = free_port()
    env = zhongcao_env(var_dir, port, url)
    env["ZHONGCAO_SECRET_KEY"] = secret
    # each kind over its many paths (mostly rendered: what a page costs), then the note and
    # product pages over one path each (a page many guests open at once: the guest page cache)
    rows = [(page, targets[page]) for page in PAGES] + [("note", [views["note"][1]]), ("product", [product_paths[0]])]
    for page, paths in rows:  # a server per row: one page's backlog or crash does not spill into the next
        shown = paths[0] if len(paths) == 1 else f"{paths[0].rsplit('/', 1)[0]}/{{{len(paths):,} in turn}}"
        r = PageResult("granian", "zhongcao", paths[0], f"{page} GET {shown}", page=page, paths=len(paths))
        ip = inproc[page]
        r.html_bytes, r.sql_first, r.sql_view, r.inproc_status, r.inproc_ms = ip["html_bytes"], ip["sql_first"], ip["sql_view"], ip["status"], ip["ms"]
        print(f"  == zhongcao core.asgi:app ({args.workers} workers, {backend}): {page} page", flush=True)
        with zhongcao_server(env, args.workers, port, tmp / f"zhongcao-{backend}-{page}-{len(paths)}.log") as srv:
            measure(srv, r, paths, args, tmp / f"{page}-{len(paths)}-{backend}.lua")
        if r.status == "ok" and bare.requests_per_sec:  # 2xx answers only: a fast 500 is no page
            ok_share = (r.requests - r.non_2xx_3xx) / r.requests if r.requests else 0.0
            r.ratio_to_bare = r.requests_per_sec * ok_share / bare.requests_per_sec
            r.verdict = "PASS" if r.ratio_to_bare >= TARGET else "MISS"
        results.append(r)
    fixture = {k: getattr(fx, k) for k in ("users", "creators", "notes", "visible_notes", "images", "topics", "product_tags", "follows", "likes", "collects", "comments", "seconds", "check")}
    fixture["interactions"], fixture["tagged_products"], fixture["note_ids"] = fx.interactions(), len(slugs), len(note_paths)
    return {"backend": backend, "fixture": fixture, "pages": results}


# --------------------------------------------------------------------------- report


def report(done: list[dict], args: argparse.Namespace) -> None:
    print()
    print(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print("\nFixture (bench/feed.py's)")
    rows = [[
        d["backend"], f"{f['users']:,}", f"{f['notes']:,}", f"{f['visible_notes']:,}", f"{f['interactions']:,}", f"{f['product_tags']:,}",
        f"{f['tagged_products']:,}", f"{f['note_ids']:,}", f"{f['seconds']:.1f}", f["check"],
    ] for d in done for f in [d["fixture"]]]  # fmt: skip
    print(table(["backend", "users", "notes", "public", "interactions", "product tags", "tagged products", "notes cycled", "load s", "counters"], rows, right=set(range(1, 9))))

    print(f"\nStorefront HTML pages vs the bare app (granian {args.workers} workers, wrk -t{args.threads} -c{args.connections} -d{args.duration}, anonymous GETs, same run)")
    rows = []
    for d in done:
        for r in d["pages"]:
            ratio = "1.00x" if r.page == "bare" else (f"{r.ratio_to_bare:.2f}x" if r.ratio_to_bare is not None else "-")
            rps = f"{r.requests_per_sec:,.0f}" if r.requests_per_sec is not None else "-"
            verdict = "" if r.page == "bare" else (r.verdict or "ERROR")
            errors = r.note if r.status == "ok" else "see below"
            sql = "" if r.page == "bare" else f"{r.sql_view} ({r.sql_first})"
            html = "" if r.html_bytes is None else f"{r.html_bytes / 1024:,.1f} KB"
            rows.append([d["backend"], r.label, rps, ratio, fmt_ms(r.latency_p50_ms), fmt_ms(r.latency_p95_ms), fmt_ms(r.latency_p99_ms), errors or "0", html, sql, fmt_ms(r.inproc_ms), verdict])
    print(table(["backend", "page", "req/s", "vs bare", "p50", "p95", "p99", "errors, notes", "HTML", "SQL/view (first)", "in process", f">= {TARGET:.2f}x"], rows, right={2, 3, 4, 5, 6, 8, 9, 10}))
    print("  vs bare: 2xx answers/s over the bare app's requests/s. HTML, SQL, in process: anonymous views of the app in this process; SQL/view is a later view of another")
    print(f"  note/product (warm caches), the first view of the process in brackets; 'in process' is the mean wall time of {TIMED} views one after the other (no HTTP, no concurrency).")
    for d in done:
        for r in d["pages"]:
            if r.status == "error":
                print(f"  ERROR {d['backend']} {r.page}: {r.note}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found; install it with: apt-get install -y wrk", file=sys.stderr)
        return 1
    exit_on_sigterm()
    done: list[dict] = []
    failed = False
    pg_cm = PostgresServer(durable=args.pg_durable, shared_buffers=args.pg_shared_buffers) if "postgres" in args.backends else contextlib.nullcontext()
    with tempfile.TemporaryDirectory(prefix="zc-bench-pages-") as tmp_s, pg_cm as pg:
        settings = {
            "backends": ",".join(args.backends), "notes": f"{args.notes:,}", "users": f"{args.users:,}", "interactions": f"{args.interactions:,}",
            "products": f"{args.products:,}", "note ids": f"{args.note_ids:,}", "workers": args.workers,
            "wrk": f"-t{args.threads} -c{args.connections} -d{args.duration} --timeout {args.timeout} (warm-up {args.warmup})",
            "server": "granian --interface asgi" + (" --loop uvloop" if has_module("uvloop") else ""), "sqlite": "WAL, statistics as core.planner_statistics makes them",
        }  # fmt: skip
        cond = conditions(settings, pg)
        print_conditions(cond)
        print()
        for name in clean_env_names():  # the in-process runtimes read the environment too
            os.environ.pop(name, None)
        for backend in args.backends:
            try:
                result = one_backend(backend, args, Path(tmp_s), pg if backend == "postgres" else None)
            except BenchError as exc:
                failed = True
                print(f"  ERROR ({backend}): {exc}", file=sys.stderr)
                continue
            done.append(result)
            failed |= any(r.status == "error" for r in result["pages"])
    cond["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    if done:
        report(done, args)
    if args.json:
        write_json(args.json, {"conditions": cond, "target": TARGET, "results": [{**d, "pages": [asdict(r) for r in d["pages"]]} for d in done]})
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

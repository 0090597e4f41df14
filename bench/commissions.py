"""Commission engine: commissions computed and posted to the ledger for 100,000 attributed
order lines, on SQLite and on a private PostgreSQL.

Run from the project root with the project venv:

    .venv/bin/python bench/commissions.py [--backend sqlite|postgres|both] [--lines 100000] [--batch 5000]

For each backend, on a fresh database (migrated in-process), it writes the fixture with
set-based inserts (not timed): one brand, 20 products in two open campaigns (percent and
flat terms, some with new-buyer terms, some with a second rate version), 200 creators
with published collaborations, 20,000 buyers (and guests), `--lines / 4` paid orders of
4 lines each, and one attribution per line (code or link). Then, timed, the engine runs
as the `order.paid` handler and the batch jobs do, `--batch` lines per transaction:
`load_attributed` (one joined read), `accrue` (rate versions and first orders read in
bulk, `commission_policy` called per line, commissions inserted, `post_many` of one
`commission.accrued` transaction per commission). It reports lines/s, then the same for
approving them all (`approve_due`, `commission.approved` postings), checks that a second
run posts nothing, that the ledger is sound (`core.ledger.service.check`) and that the
brand's balance equals the sum of the commissions. Target: >= 5,000 lines/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from _support import PG_DB_PREFIX, BenchError, PostgresServer, conditions, exit_on_sigterm, print_conditions, table

TARGET = 5_000  # lines/s
CREATORS = 200
BUYERS = 20_000
PRODUCTS = 20
LINES_PER_ORDER = 4


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--lines", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=5_000, help="attributed lines per transaction")
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args(argv)
    args.backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    return args


def make_runtime(var_dir: Path, url: str):  # noqa: ANN201
    from core.runtime import create_runtime
    from core.settings import Settings

    settings = Settings(var_dir=var_dir, database_url=url, redis_url=None, secret_key="bench-secret", plugins_disabled="", inprocess_worker=False)
    return create_runtime(settings)


async def insert_rows(session, table_, rows: list[dict], chunk: int = 2_000) -> None:  # noqa: ANN001
    from sqlalchemy import insert

    for i in range(0, len(rows), chunk):
        await session.execute(insert(table_), rows[i : i + chunk])


async def build_fixture(runtime, n_lines: int, seed: int) -> list[int]:  # noqa: ANN001
    """Everything the engine reads, written set-based; returns the attributed line ids."""
    from core.auth.models import User
    from core.campaigns.models import Attribution, Campaign, CampaignProduct, Collaboration, CommissionRate
    from core.catalog.models import Brand, Product, Variant
    from core.orders.models import Cart, Checkout, Order, OrderLine

    rng = random.Random(seed)
    now = datetime.now(UTC)
    async with runtime.db.session() as s:
        brand = Brand(slug="bench-brand", name="Bench Brand")
        s.add(brand)
        await s.flush()
        await insert_rows(s, User.__table__, [
            {"id": i, "email": f"user{i}@bench.example", "password_hash": "-", "display_name": f"user {i}", "locale": "en", "is_active": True, "auth_epoch": 0, "created_at": now, "updated_at": now}
            for i in range(1, CREATORS + BUYERS + 1)
        ])  # fmt: skip
        creators = list(range(1, CREATORS + 1))
        buyers = list(range(CREATORS + 1, CREATORS + BUYERS + 1))
        products, variants, prices = [], [], {}
        for n in range(PRODUCTS):
            product = Product(brand_id=brand.id, slug=f"bench-{n}", title=f"Bench product {n}", status="active")
            s.add(product)
            await s.flush()
            variant = Variant(product_id=product.id, sku=f"BENCH-{n}")
            s.add(variant)
            await s.flush()
            products.append(product.id)
            variants.append(variant.id)
            prices[variant.id] = rng.choice([990, 3_900, 12_900, 25_800, 39_900])
        campaigns = []
        for c in range(2):
            campaign = Campaign(brand_id=brand.id, title=f"Bench campaign {c}", status="open", currency="CNY", hold_days=15)
            s.add(campaign)
            await s.flush()
            campaigns.append(campaign.id)
            for n in range(c * PRODUCTS // 2, (c + 1) * PRODUCTS // 2):
                cp = CampaignProduct(campaign_id=campaign.id, product_id=products[n], sample_variant_id=variants[n])
                s.add(cp)
                await s.flush()
                first = now - timedelta(days=120)
                if n % 2:
                    s.add(CommissionRate(campaign_product_id=cp.id, effective_from=first, kind="percent", rate_ppm=80_000 + 5_000 * n, new_buyer_rate_ppm=150_000 if n % 3 else None))
                    s.add(CommissionRate(campaign_product_id=cp.id, effective_from=now - timedelta(days=30), kind="percent", rate_ppm=100_000 + 2_500 * n))
                else:
                    s.add(CommissionRate(campaign_product_id=cp.id, effective_from=first, kind="flat", flat_minor=300 + 10 * n, new_buyer_flat_minor=800 if n % 4 == 0 else None))
        await s.flush()
        collabs: dict[int, list[tuple[int, int]]] = {cid: [] for cid in campaigns}
        for i, creator in enumerate(creators):
            cid = campaigns[i % 2]
            collab = Collaboration(campaign_id=cid, creator_user_id=creator, status="published", origin="applied")
            s.add(collab)
            await s.flush()
            collabs[cid].append((collab.id, creator))
        cart = Cart(token=str(uuid.uuid4()), currency="CNY", status="converted")
        s.add(cart)
        await s.flush()

        n_orders = n_lines // LINES_PER_ORDER
        checkouts, orders, lines, attributions = [], [], [], []
        line_id = 0
        for o in range(1, n_orders + 1):
            guest = rng.random() < 0.1
            user_id = None if guest else rng.choice(buyers)
            email = f"guest{rng.randrange(5_000)}@bench.example" if guest else f"user{user_id}@bench.example"
            paid_at = now - timedelta(days=rng.uniform(0, 60))
            half = rng.randrange(2)  # the order's products come from one campaign's half of the catalogue
            picked = rng.sample(range(half * PRODUCTS // 2, (half + 1) * PRODUCTS // 2), LINES_PER_ORDER)
            subtotal = 0
            for n in picked:
                line_id += 1
                quantity = rng.choice([1, 1, 1, 2, 3])
                unit = prices[variants[n]]
                discount = (quantity * unit * 15 // 100) if rng.random() < 0.3 else 0
                total = quantity * unit - discount
                subtotal += total
                lines.append({
                    "id": line_id, "order_id": o, "variant_id": variants[n], "product_id": products[n], "title": f"Bench product {n}", "sku": f"BENCH-{n}",
                    "options": {}, "quantity": quantity, "unit_price_minor": unit, "discount_minor": discount, "tax_minor": 0, "total_minor": total,
                    "adjustments": [], "restocked_quantity": 0,
                })  # fmt: skip
                collab_id, creator = rng.choice(collabs[campaigns[half]])
                attributions.append({
                    "order_line_id": line_id, "order_id": o, "collaboration_id": collab_id, "creator_user_id": creator, "source": rng.choice(["code", "link"]),
                    "ref": "BENCH", "touched_at": paid_at - timedelta(hours=1), "blocked_reason": None, "created_at": paid_at,
                })  # fmt: skip
            checkouts.append({
                "id": o, "cart_id": cart.id, "user_id": user_id, "token": str(uuid.UUID(int=rng.getrandbits(128))), "email": email, "currency": "CNY",
                "total_minor": subtotal, "address": {}, "status": "paid", "expires_at": paid_at, "codes": [], "visitor_id": None, "created_at": paid_at, "updated_at": paid_at,
            })  # fmt: skip
            orders.append({
                "id": o, "number": f"ZB{o:08d}", "checkout_id": o, "brand_id": brand.id, "user_id": user_id, "email": email, "currency": "CNY",
                "subtotal_minor": subtotal, "discount_minor": 0, "shipping_minor": 0, "tax_minor": 0, "tax_inclusive": True, "total_minor": subtotal,
                "refunded_minor": 0, "status": "paid", "address": {}, "carrier": None, "tracking_number": None, "paid_at": paid_at, "created_at": paid_at, "updated_at": paid_at,
            })  # fmt: skip
        await insert_rows(s, Checkout.__table__, checkouts)
        await insert_rows(s, Order.__table__, orders)
        await insert_rows(s, OrderLine.__table__, lines)
        await insert_rows(s, Attribution.__table__, attributions)
        await s.commit()
    if not runtime.db.is_sqlite:  # explicit ids: keep the sequences ahead of them, and fresh statistics
        from sqlalchemy import text

        async with runtime.db.session() as s:
            for name in ("user_account", "checkout", "sales_order", "order_line"):
                await s.execute(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"))
            await s.commit()
        async with runtime.db.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("ANALYZE"))
    return [a["order_line_id"] for a in attributions]


async def accrue_all(runtime, line_ids: list[int], batch: int) -> int:  # noqa: ANN001
    from core.campaigns.commissions import accrue, load_attributed

    created = 0
    for i in range(0, len(line_ids), batch):
        async with runtime.db.session() as s:
            created += len(await accrue(s, runtime, await load_attributed(s, line_ids[i : i + batch])))
            await s.commit()
    return created


async def one_backend(backend: str, args: argparse.Namespace, tmp: Path, pg: PostgresServer | None) -> dict[str, object]:
    from sqlalchemy import func, select, update

    from core import migrate
    from core.campaigns.commissions import approve_due
    from core.campaigns.models import Commission
    from core.ledger import service as ledger
    from core.ledger.models import AccountKind, LedgerEntry, LedgerTransaction

    if backend == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp / 'commissions.db'}"
    else:
        assert pg is not None
        url = pg.create_database(f"{PG_DB_PREFIX}_commissions_{uuid.uuid4().hex[:6]}")
    runtime = make_runtime(tmp / backend, url)
    try:
        await migrate.upgrade(runtime)
        started = time.perf_counter()
        line_ids = await build_fixture(runtime, args.lines, args.seed)
        setup_s = time.perf_counter() - started
        print(f"  {backend}: fixture of {len(line_ids):,} attributed lines written in {setup_s:.1f} s", flush=True)

        started = time.perf_counter()
        created = await accrue_all(runtime, line_ids, args.batch)
        accrue_s = time.perf_counter() - started
        print(f"  {backend}: {created:,} commissions accrued in {accrue_s:.2f} s", flush=True)
        again = await accrue_all(runtime, line_ids[: args.batch], args.batch)  # a retried batch: nothing new

        # none of the fixture's orders is shipped: start every holding period (not timed)
        async with runtime.db.session() as s:
            await s.execute(update(Commission).values(approve_after=datetime.now(UTC) - timedelta(days=1)))
            await s.commit()
        started = time.perf_counter()
        approved = await approve_due(runtime, now=datetime.now(UTC), limit=args.batch)
        approve_s = time.perf_counter() - started
        print(f"  {backend}: {approved:,} commissions approved in {approve_s:.2f} s", flush=True)

        async with runtime.db.read_session() as s:
            problems = await ledger.check(s)
            total = (await s.execute(select(func.coalesce(func.sum(Commission.amount_minor), 0)))).scalar_one()
            brand_id = (await s.execute(select(Commission.brand_id).limit(1))).scalar_one()
            payable = await ledger.balance(s, AccountKind.BRAND_PAYABLE, brand_id, "CNY")
            txns = (await s.execute(select(func.count()).select_from(LedgerTransaction))).scalar_one()
            entries = (await s.execute(select(func.count()).select_from(LedgerEntry))).scalar_one()
        ok = not problems and again == 0 and int(total) == payable and created == len(line_ids)
        return {
            "backend": backend, "lines": len(line_ids), "batch": args.batch, "accrue_s": accrue_s, "lines_per_s": created / accrue_s if accrue_s else 0.0,
            "approved": approved, "approve_per_s": approved / approve_s if approve_s else 0.0, "txns": txns, "entries": entries,
            "check": "ok" if ok else f"WRONG: {problems[:3]} rerun={again} total={total} payable={payable} created={created}",
        }
    finally:
        await runtime.dispose_loop_databases()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    results: list[dict[str, object]] = []
    failed = False
    with tempfile.TemporaryDirectory(prefix="zc-bench-commissions-") as tmp_s, PostgresServer() if "postgres" in args.backends else contextlib.nullcontext() as pg:
        tmp = Path(tmp_s)
        settings = {
            "backends": ",".join(args.backends), "lines": f"{args.lines:,}", "batch": f"{args.batch:,} lines per transaction", "in-process": "no server, no jobs",
            "sqlite": "WAL, synchronous=NORMAL",
        }  # fmt: skip
        cond = conditions(settings, pg)
        print_conditions(cond)
        print()
        for backend in args.backends:
            try:
                results.append(asyncio.run(one_backend(backend, args, tmp, pg if backend == "postgres" else None)))
            except BenchError as exc:
                failed = True
                print(f"  ERROR ({backend}): {exc}", file=sys.stderr)
    print()
    import os

    print(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = [
        [str(r["backend"]), f"{r['lines']:,}", f"{r['batch']:,}", f"{r['accrue_s']:.2f}", f"{r['lines_per_s']:,.0f}", f"{r['approve_per_s']:,.0f}", f"{r['txns']:,}", f"{r['entries']:,}", str(r["check"])]
        for r in results
    ]
    print(table(["backend", "lines", "batch", "accrue s", "lines/s", "approved/s", "ledger txns", "entries", "check"], rows, right={1, 2, 3, 4, 5, 6, 7}))
    print()
    for r in results:
        verdict = "PASS" if r["lines_per_s"] >= TARGET and r["check"] == "ok" else "MISS"
        print(f"{r['backend']}: {r['lines_per_s']:,.0f} lines/s (target >= {TARGET:,}): {verdict}")
        failed = failed or r["check"] != "ok"
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

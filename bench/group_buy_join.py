"""Group buy: join throughput and p95 join latency under 200 concurrent joiners.

Run from the project root with the project venv:

    .venv/bin/python bench/group_buy_join.py [--joiners 200] [--backend sqlite|postgres|both]
        [--pg-url postgresql+asyncpg://postgres@127.0.0.1:5432/zc_bench_gb]

In process (services called directly, no HTTP), on a fresh database per backend:
SQLite in a temp dir (embedded default), PostgreSQL at --pg-url or $ZHONGCAO_BENCH_PG_URL
(its public schema is DROPPED and rebuilt: give it a database of its own; skipped with a
message when no URL is given). One product with enough stock, an offer (team of 3),
--joiners/2 teams whose leaders' cards are authorized, then:

- baseline: --joiners shoppers each make a plain core checkout of the same product at
  once (new cart + line + start_checkout, one transaction, as the core's checkout API);
- joins: --joiners other shoppers join at once, two per team, so every join gets a
  seat (`service.join_team`: the seat's conditional UPDATE and its cart in one
  transaction, then the seat's manual-capture checkout at the team price).

Prints joins/s (joins / wall time of the crowd), p50/p95/max latency of each, and the
ratios "a join costs X plain checkouts" (p95 and throughput) measured in the same run.
Nothing is paid after the crowd: the figure is the join itself, the step that is
contended (one team row per team, the same variant's stock).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from _support import ADDRESS, SANDBOX_CARD, conditions, fmt_ms, make_runtime, percentile, print_conditions, table

PRICE, TEAM_PRICE, SIZE = 9900, 6900, 3


@dataclass
class Crowd:
    what: str
    n: int
    wall_s: float = 0.0
    latencies_ms: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return len(self.latencies_ms) / self.wall_s if self.wall_s else 0.0


async def _fresh_schema(runtime) -> None:  # noqa: ANN001
    from sqlalchemy import text

    from core import migrate

    if not runtime.db.is_sqlite:
        async with runtime.db.engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    await migrate.upgrade(runtime)


async def _shoppers(runtime, prefix: str, n: int) -> list:  # noqa: ANN001
    """Users as rows (a signup would hash a password each)."""
    from sqlalchemy import insert, select

    from core.auth.models import User
    from core.auth.permissions import Actor

    async with runtime.db.session() as s:
        await s.execute(insert(User), [{"email": f"{prefix}{i}@bench.example", "password_hash": "-", "display_name": f"{prefix}{i}", "locale": "en", "is_active": True, "auth_epoch": 0} for i in range(n)])
        rows = (await s.execute(select(User.id, User.email).where(User.email.like(f"{prefix}%@bench.example")).order_by(User.id))).all()
        await s.commit()
    return [Actor(user_id=r.id, email=r.email, display_name=r.email.split("@")[0], locale="en", roles=frozenset({"shopper"})) for r in rows]


async def _setup(runtime, joiners: int) -> tuple[int, list[int]]:  # noqa: ANN001
    """(variant id, team ids): a product, an offer of teams of 3, joiners/2 teams with paid leaders."""
    from core.auth.models import User
    from core.auth.service import load_actor
    from core.catalog.models import Brand, BrandMember, Product, Variant, VariantPrice
    from core.inventory import service as inventory
    from core.payments import service as payments
    from plugins.group_buy import service
    from plugins.group_buy.service import OfferInput

    teams = (joiners + SIZE - 2) // (SIZE - 1) + 1  # + 1 for the warm-up
    async with runtime.db.session() as s:
        owner = User(email="owner@bench.example", password_hash="-", display_name="owner")
        brand = Brand(slug="team-brand", name="Team Brand")
        s.add_all([owner, brand])
        await s.flush()
        s.add(BrandMember(brand_id=brand.id, user_id=owner.id, role="owner"))
        product = Product(brand_id=brand.id, slug="team-item", title="Team item", status="active", option_names=["size"])
        s.add(product)
        await s.flush()
        variant = Variant(product_id=product.id, sku="TEAM-1", options={"size": "M"})
        s.add(variant)
        await s.flush()
        s.add(VariantPrice(variant_id=variant.id, currency="CNY", amount_minor=PRICE))
        location = await inventory.ensure_location(s, brand.id)
        await inventory.receive_stock(s, variant_id=variant.id, location_id=location.id, quantity=10 * (joiners + teams * SIZE))
        await s.commit()
        actor = await load_actor(s, owner.id)
        offer, _warnings = await service.create_offer(s, runtime, actor, "team-brand", OfferInput(variant_id=variant.id, team_price_minor=TEAM_PRICE, team_size=SIZE))
        await s.commit()
    leaders = await _shoppers(runtime, "leader", teams)
    seats = []
    for leader in leaders:  # one at a time: setup, not measured
        seat = await service.open_team(runtime, leader, offer.id, address=ADDRESS)
        await payments.pay(runtime, seat.checkout_token, leader, payment_method=SANDBOX_CARD)
        seats.append(seat)
    from sqlalchemy import select

    from plugins.group_buy.models import TeamMember

    async with runtime.db.read_session() as s:
        checkout_ids = (await s.execute(select(TeamMember.checkout_id).where(TeamMember.team_id.in_([x.team_id for x in seats])))).scalars().all()
    for checkout_id in checkout_ids:  # what the `payment.authorized` event does (no job worker here)
        await service.on_authorized(runtime, checkout_id)
    return variant.id, [x.team_id for x in seats]


async def _crowd(what: str, calls: list) -> Crowd:  # noqa: ANN001
    crowd = Crowd(what, len(calls))
    gate = asyncio.Event()

    async def one(call) -> None:  # noqa: ANN001
        await gate.wait()
        t0 = time.perf_counter()
        try:
            await call()
        except Exception as exc:  # noqa: BLE001 - counted and shown
            key = f"{type(exc).__name__}: {str(exc).splitlines()[0][:60]}"
            crowd.errors[key] = crowd.errors.get(key, 0) + 1
            return
        crowd.latencies_ms.append((time.perf_counter() - t0) * 1000)

    tasks = [asyncio.create_task(one(c)) for c in calls]
    await asyncio.sleep(0)
    t0 = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    crowd.wall_s = time.perf_counter() - t0
    return crowd


async def run_backend(backend: str, url: str, var_dir: Path, joiners: int) -> tuple[Crowd, Crowd]:
    from core.orders import cart as carts
    from core.orders import checkout as checkouts
    from plugins.group_buy import service

    runtime = make_runtime(var_dir, url, "bench-secret-key-not-for-production")
    try:
        await _fresh_schema(runtime)
        t0 = time.perf_counter()
        variant_id, team_ids = await _setup(runtime, joiners)
        buyers = await _shoppers(runtime, "buyer", joiners + SIZE)
        people = await _shoppers(runtime, "joiner", joiners + SIZE - 1)
        print(f"  {backend}: set up {len(team_ids)} teams (one for the warm-up) with authorized leaders and {2 * joiners} shoppers in {time.perf_counter() - t0:.1f}s", flush=True)

        def checkout_of(actor):  # noqa: ANN001, ANN202
            async def call() -> None:
                async with runtime.db.session() as s:
                    cart = await carts.new_cart(s, user_id=actor.user_id, currency="CNY")
                    await carts.set_line(s, cart, variant_id=variant_id, quantity=1)
                    await checkouts.start_checkout(s, runtime, cart, actor, email=None, address=ADDRESS)
                    await s.commit()

            return call

        def join_of(actor, team_id):  # noqa: ANN001, ANN202
            async def call() -> None:
                await service.join_team(runtime, actor, team_id, address=ADDRESS)

            return call

        # warm-up, one at a time (statement caches, pools): checkouts, and the first team's seats
        warm_team, team_ids = team_ids[0], team_ids[1:]
        for actor in buyers[:SIZE]:
            await checkout_of(actor)()
        for actor in people[: SIZE - 1]:
            await join_of(actor, warm_team)()
        buyers, people = buyers[SIZE:], people[SIZE - 1 :]
        baseline = await _crowd("plain checkout", [checkout_of(a) for a in buyers])
        targets = [t for t in team_ids for _ in range(SIZE - 1)][:joiners]
        joins = await _crowd("group-buy join", [join_of(a, t) for a, t in zip(people, targets, strict=True)])
        return baseline, joins
    finally:
        await runtime.dispose_loop_databases()


def server_version(url: str) -> str:
    import asyncpg

    async def get() -> str:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return await conn.fetchval("SELECT version()")
        finally:
            await conn.close()

    return asyncio.run(get()).split(" on ")[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--joiners", type=int, default=200, help="concurrent joiners (and concurrent plain checkouts for the baseline); default 200")
    p.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--pg-url", default=os.environ.get("ZHONGCAO_BENCH_PG_URL"), help="postgresql+asyncpg URL of a database of its own (its schema is rebuilt); default $ZHONGCAO_BENCH_PG_URL")
    args = p.parse_args(argv)
    if args.joiners < 2:
        p.error("--joiners must be >= 2")
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and not args.pg_url:
        print("postgres: skipped (no --pg-url and no $ZHONGCAO_BENCH_PG_URL)", flush=True)
        backends.remove("postgres")
    settings: dict[str, object] = {
        "joiners": args.joiners, "team size": SIZE, "teams": (args.joiners + SIZE - 2) // (SIZE - 1), "mode": "in process, services called directly (no HTTP), no job worker",
        "sqlite": "WAL, synchronous=NORMAL, busy_timeout=10s, BEGIN IMMEDIATE writers",
    }  # fmt: skip
    if "postgres" in backends:
        settings["postgres"] = server_version(args.pg_url)
    cond = conditions(settings)
    print_conditions(cond)
    print()
    results: list[tuple[str, Crowd, Crowd]] = []
    for backend in backends:
        tmp = Path(tempfile.mkdtemp(prefix="zc-bench-gb-"))
        try:
            url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}" if backend == "sqlite" else args.pg_url
            baseline, joins = asyncio.run(run_backend(backend, url, tmp, args.joiners))
            results.append((backend, baseline, joins))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    cond["loadavg_at_end"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print()
    print(f"Load average at end: {cond['loadavg_at_end']}")
    rows = []
    for backend, baseline, joins in results:
        for c in (baseline, joins):
            rows.append([
                backend, c.what, str(c.n), str(len(c.latencies_ms)), f"{c.wall_s:.2f}s", f"{c.per_s:.1f}",
                fmt_ms(percentile(c.latencies_ms, 50)), fmt_ms(percentile(c.latencies_ms, 95)), fmt_ms(max(c.latencies_ms) if c.latencies_ms else None),
                ", ".join(f"{k} x{v}" for k, v in c.errors.items()) or "none",
            ])  # fmt: skip
    print(table(["backend", "crowd", "at once", "ok", "wall", "per s", "p50", "p95", "max", "errors"], rows, right={2, 3, 4, 5, 6, 7, 8}))
    print()
    for backend, baseline, joins in results:
        b95, j95 = percentile(baseline.latencies_ms, 95), percentile(joins.latencies_ms, 95)
        if b95 and j95 and baseline.per_s:
            print(f"{backend}: a join costs {j95 / b95:.2f}x a plain checkout at p95, and runs at {joins.per_s / baseline.per_s:.2f}x its throughput ({joins.per_s:.1f} joins/s vs {baseline.per_s:.1f} checkouts/s)")
    return 1 if any(c.errors for _b, *cs in results for c in cs) else 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())

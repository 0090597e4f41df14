"""Benchmark fixtures through the ORM, against the database named by the ZHONGCAO_* env.

    python bench/_fixture.py seed '[{"brand": "flash-brand", "stock": 100, "price": 9900}]'
        -> one active product per entry (one variant, a CNY price, stock at the brand's
           main location), like core.testing's zc_make_product; prints
           {"items": [{"brand", "product_slug", "variant_id"}]} as the last line.
    python bench/_fixture.py report 3,4
        -> stock counters per variant and row counts by status (orders, checkouts,
           payments, holds) as JSON on the last line.

Run after `zhongcao db upgrade`; the benchmark scripts call it as a subprocess so the
server processes never share an engine or event loop with it.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


async def seed(spec: list[dict]) -> dict:
    from sqlalchemy import select

    from core.catalog.models import Brand, Product, Variant, VariantPrice
    from core.inventory import service as inventory
    from core.runtime import create_runtime

    runtime = create_runtime()
    items = []
    try:
        async with runtime.db.session() as session:
            for n, entry in enumerate(spec, start=1):
                slug = entry["brand"]
                brand = (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none()
                if brand is None:
                    brand = Brand(slug=slug, name=slug.replace("-", " ").title())
                    session.add(brand)
                    await session.flush()
                product = Product(brand_id=brand.id, slug=f"{slug}-item-{n}", title=f"Bench item {n} ({slug})", status="active", option_names=["size"])
                session.add(product)
                await session.flush()
                variant = Variant(product_id=product.id, sku=f"BENCH-{n}-{slug}"[:64], options={"size": "M"})
                session.add(variant)
                await session.flush()
                session.add(VariantPrice(variant_id=variant.id, currency=entry.get("currency", "CNY"), amount_minor=entry.get("price", 9900)))
                if entry.get("stock"):
                    location = await inventory.ensure_location(session, brand.id)
                    await inventory.receive_stock(session, variant_id=variant.id, location_id=location.id, quantity=entry["stock"])
                items.append({"brand": slug, "product_slug": product.slug, "variant_id": variant.id})
            await session.commit()
    finally:
        await runtime.dispose_loop_databases()
    return {"items": items}


async def report(variant_ids: list[int]) -> dict:
    from sqlalchemy import func, select

    from core.inventory import service as inventory
    from core.inventory.models import StockHold
    from core.orders.models import Cart, Checkout, Order
    from core.payments.models import Payment
    from core.runtime import create_runtime

    runtime = create_runtime()
    out: dict = {"stock": {}, "counts": {}}
    try:
        async with runtime.db.read_session() as session:
            for vid in variant_ids:
                snap = await inventory.snapshot(session, vid)
                out["stock"][str(vid)] = {"on_hand": snap.on_hand, "available": snap.available, "reserved": snap.reserved, "committed": snap.committed, "pooled": snap.pooled}
            for name, model in (("orders", Order), ("checkouts", Checkout), ("payments", Payment), ("holds", StockHold), ("carts", Cart)):
                column = model.state if model is StockHold else model.status
                rows = await session.execute(select(column, func.count()).group_by(column))
                out["counts"][name] = {status: n for status, n in rows.all()}
    finally:
        await runtime.dispose_loop_databases()
    return out


def main() -> None:
    cmd = sys.argv[1]
    if cmd == "seed":
        result = asyncio.run(seed(json.loads(sys.argv[2])))
    elif cmd == "report":
        result = asyncio.run(report([int(x) for x in sys.argv[2].split(",") if x]))
    else:
        raise SystemExit(f"unknown command {cmd!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""No N+1: a page's SQL statements do not grow with what it lists (variants, products,
cart lines, search hits). Each page is fetched twice (the second, warm figure counts:
caches of the first visit such as the session are excluded) for a small and a larger
store, and the counts must match; a loose absolute bound catches a slow drift."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.catalog.models import Product, Variant, VariantPrice
from core.inventory import service as inventory
from core.testing import QueryCounter, settle
from tests.storefront.test_commerce_pages import EN, add_to_cart

BOUND = 32  # statements per page view, whatever the page (explore opening a feed session is the most: it asks each plugin for its cards, group_buy one read)


async def queries(client: Any, runtime: Any, path: str) -> int:
    assert (await client.get(path, headers=EN)).status_code == 200
    await settle(runtime)
    with QueryCounter() as q:
        r = await client.get(path, headers=EN)
    assert r.status_code == 200, (path, r.status_code, r.text[-3000:])
    assert q.count <= BOUND, (path, q.statements)
    # one database connection at a time: a request holding one while waiting for another
    # drains the pool under load (every worker's requests end up waiting on each other)
    assert q.max_connections == 1, (path, q.max_connections)
    return q.count


async def more_variants(runtime: Any, variant: Variant, n: int) -> None:
    async with runtime.db.session() as s:
        location = await inventory.ensure_location(s, (await s.get(Product, variant.product_id)).brand_id)
        for i in range(n):
            v = Variant(product_id=variant.product_id, sku=f"{variant.sku}-{i}", options={"size": f"S{i}"})
            s.add(v)
            await s.flush()
            s.add(VariantPrice(variant_id=v.id, currency="CNY", amount_minor=1000 + i))
            if i % 2:
                await inventory.receive_stock(s, variant_id=v.id, location_id=location.id, quantity=3)
        await s.commit()


async def slug(runtime: Any, variant: Variant) -> str:
    async with runtime.db.read_session() as s:
        return (await s.execute(select(Product.slug).where(Product.id == variant.product_id))).scalar_one()


async def test_catalog_pages_do_not_grow_with_their_lists(zc_client, zc_runtime, zc_make_product):
    one = await zc_make_product("lumi", title="One Cream")
    many = await zc_make_product("lumi", title="Many Creams")
    await more_variants(zc_runtime, many, 8)
    assert await queries(zc_client, zc_runtime, f"/products/{await slug(zc_runtime, one)}") == await queries(zc_client, zc_runtime, f"/products/{await slug(zc_runtime, many)}")

    small = {path: await queries(zc_client, zc_runtime, path) for path in ("/", "/products", "/brands/lumi", "/search?q=cream")}
    for i in range(10):
        await zc_make_product("lumi" if i % 2 else "peak", title=f"Cream {i}")
    await zc_runtime.search.rebuild("products")
    large = {path: await queries(zc_client, zc_runtime, path) for path in small}
    assert large == small, (small, large)
    assert all(n > 0 for n in small.values())


async def test_the_cart_does_not_grow_with_its_lines(zc_client, zc_runtime, zc_make_product):
    first = await zc_make_product("lumi", title="First")
    await add_to_cart(zc_client, first)
    one_line = await queries(zc_client, zc_runtime, "/cart")
    for brand in ("lumi", "peak", "tea-house"):
        await add_to_cart(zc_client, await zc_make_product(brand))
    assert await queries(zc_client, zc_runtime, "/cart") == one_line


async def test_plugin_pages_hold_one_connection_at_a_time(zc_client, zc_runtime, zc_make_user, zc_make_product):
    """The note page, explore, a profile, and a product page with "what people say"."""
    from core.testing import api_token
    from tests.plugins.notes.notes_helpers import create_note

    cream = await zc_make_product("lumi", title="Night Cream")
    author = await zc_make_user("mia@example.com")
    auth = await api_token(zc_client, author.email)
    assert (await zc_client.patch("/api/v1/notes/me/profile", json={"handle": "mia"}, headers=auth)).status_code == 200
    note = await create_note(zc_client, auth, title="晚霜好用", publish=True, tags=[{"variant_id": cream.id}])
    for path in (f"/notes/{note['id']}", "/feed", "/notes/people/mia", f"/products/{await slug(zc_runtime, cream)}", "/brands/lumi"):
        await queries(zc_client, zc_runtime, path)

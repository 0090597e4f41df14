"""Brand staff's stock page in the portal, over HTTP with CSRF: locations, stock per
location, receive and write off, pools set aside and released, campaign sample pools
shown and kept; the product page's stock per location. Another brand's ids are 404."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from core.catalog.models import Brand
from core.inventory import service as inventory
from core.inventory.models import StockLevel, StockLocation, StockPool
from core.testing import QueryCounter, api_token, post_form, settle
from tests.core.test_campaigns import open_campaign
from tests.creator_portal.test_commerce_pages import portal_login

XSS = "<script>alert('x')</script>"
BASE = "/creator/brands/tea-house/stock"


async def state(runtime: Any) -> tuple[list, list, list]:
    """Every location, level and pool: what a refused form must leave alone."""
    async with runtime.db.read_session() as s:
        locations = [(loc.id, loc.name) for loc in (await s.execute(select(StockLocation).order_by(StockLocation.id))).scalars()]
        levels = [(lv.variant_id, lv.location_id, lv.on_hand, lv.available) for lv in (await s.execute(select(StockLevel).order_by(StockLevel.variant_id, StockLevel.location_id))).scalars()]
        pools = [(p.id, p.name, p.available) for p in (await s.execute(select(StockPool).order_by(StockPool.id))).scalars()]
    return locations, levels, pools


async def location_id(runtime: Any, slug: str, name: str) -> int:
    async with runtime.db.read_session() as s:
        return (await s.execute(select(StockLocation.id).join(Brand, Brand.id == StockLocation.brand_id).where(Brand.slug == slug, StockLocation.name == name))).scalar_one()


async def by_location(runtime: Any, variant_id: int) -> list[tuple]:
    async with runtime.db.read_session() as s:
        return [(lv.location, lv.on_hand, lv.available, lv.in_pools) for lv in (await inventory.stock_by_location(s, [variant_id]))[variant_id]]


async def test_brand_staff_manage_locations_stock_and_pools(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("tea-house", "owner"))
    tea = await zc_make_product("tea-house", stock=10, title="Cold Brew Oolong")
    await portal_login(zc_client, owner.email)

    page = await zc_client.get(BASE)
    assert page.status_code == 200
    assert 'data-testid="brand-stock-tab"' in page.text and 'aria-current="page" data-testid="brand-stock-tab"' in page.text
    assert "Cold Brew Oolong" in page.text and tea.sku in page.text and inventory.MAIN_LOCATION in page.text
    assert 'data-testid="receive-form"' in page.text and 'data-testid="pool-form"' in page.text and "No pools yet." in page.text

    # a location (names unique per brand)
    added = await post_form(zc_client, f"{BASE}/locations", {"name": "Hangzhou depot"})
    assert added.status_code == 303 and added.headers["location"].startswith(f"{BASE}?page=1&notice=")
    depot = await location_id(zc_runtime, "tea-house", "Hangzhou depot")
    main = await location_id(zc_runtime, "tea-house", inventory.MAIN_LOCATION)
    page = await zc_client.get(added.headers["location"])
    assert "Location added." in page.text and page.text.index(inventory.MAIN_LOCATION) < page.text.index("Hangzhou depot")

    # goods in at the chosen location, then a write-off there
    received = await post_form(zc_client, f"{BASE}/receive", {"variant_id": tea.id, "location_id": depot, "quantity": "8"})
    assert received.status_code == 303
    assert (await post_form(zc_client, f"{BASE}/receive", {"variant_id": tea.id, "location_id": depot, "quantity": "-2"})).status_code == 303
    assert await by_location(zc_runtime, tea.id) == [(inventory.MAIN_LOCATION, 10, 10, 0), ("Hangzhou depot", 6, 6, 0)]

    # a pool set aside at the depot, shown with its location, then released (twice: harmless)
    pooled = await post_form(zc_client, f"{BASE}/pools", {"name": "Double 11", "variant_id": tea.id, "location_id": depot, "quantity": "4"})
    assert pooled.status_code == 303, pooled.text
    assert await by_location(zc_runtime, tea.id) == [(inventory.MAIN_LOCATION, 10, 10, 0), ("Hangzhou depot", 6, 2, 4)]
    page = await zc_client.get(BASE)
    async with zc_runtime.db.read_session() as s:
        pool_id = (await s.execute(select(StockPool.id).where(StockPool.name == "Double 11"))).scalar_one()
    row = re.search(rf'data-testid="pool-{pool_id}">(.*?)</tr>', page.text, re.S).group(1)
    assert "Double 11" in row and "Hangzhou depot" in row and f'data-testid="release-{pool_id}"' in row
    assert re.search(r'data-testid="stock-row-' + tea.sku + r'"\s*>\s*<td>Hangzhou depot</td>\s*<td class="num">6</td><td class="num" data-testid="available">2</td>', page.text)

    for _ in range(2):
        released = await post_form(zc_client, f"{BASE}/pools/{pool_id}/release", {"page": "1"})
        assert released.status_code == 303
    assert await by_location(zc_runtime, tea.id) == [(inventory.MAIN_LOCATION, 10, 10, 0), ("Hangzhou depot", 6, 6, 0)]
    page = await zc_client.get(BASE)
    assert f'data-testid="release-{pool_id}"' not in page.text  # nothing left to release

    # the product page: stock per location, and its add-stock form picks the location
    product_page = await zc_client.get(f"/creator/brands/tea-house/products/{tea.product_id}")
    assert product_page.status_code == 200 and 'data-testid="stock-by-location"' in product_page.text and f'<option value="{depot}">Hangzhou depot</option>' in product_page.text
    added = await post_form(zc_client, f"/creator/brands/tea-house/products/{tea.product_id}/variants/{tea.id}/stock", {"quantity": "3", "location_id": str(depot)})
    assert added.status_code == 303
    assert (await post_form(zc_client, f"/creator/brands/tea-house/products/{tea.product_id}/variants/{tea.id}/stock", {"quantity": "1"})).status_code == 303  # no choice: main
    assert await by_location(zc_runtime, tea.id) == [(inventory.MAIN_LOCATION, 11, 11, 0), ("Hangzhou depot", 9, 9, 0)]
    assert main != depot

    zc_client.cookies.set("zc_lang", "zh-CN")
    page = await zc_client.get(BASE)
    assert "各地点库存" in page.text and ">库存<" in page.text


async def test_bad_input_is_a_friendly_error_and_writes_nothing(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("tea-house", "owner"))
    tea = await zc_make_product("tea-house", stock=5)
    await portal_login(zc_client, owner.email)
    await zc_client.get(BASE)
    main = await location_id(zc_runtime, "tea-house", inventory.MAIN_LOCATION)
    assert (await post_form(zc_client, f"{BASE}/locations", {"name": "Empty shelf"})).status_code == 303
    empty = await location_id(zc_runtime, "tea-house", "Empty shelf")
    before = await state(zc_runtime)

    for path, data, status, words in (
        (f"{BASE}/locations", {"name": "  "}, 422, "needs a name"),
        (f"{BASE}/locations", {"name": "Empty shelf"}, 409, "exists already"),
        (f"{BASE}/locations", {"name": "x" * 81}, 422, "at most 80"),
        (f"{BASE}/receive", {"variant_id": tea.id, "location_id": main, "quantity": "-6"}, 409, "cannot write off more than is available: 5 units here"),
        (f"{BASE}/receive", {"variant_id": tea.id, "location_id": main, "quantity": "ten"}, 422, "whole number"),
        (f"{BASE}/receive", {"variant_id": tea.id, "location_id": main, "quantity": "0"}, 422, "non-zero"),
        (f"{BASE}/pools", {"name": "Deal", "variant_id": tea.id, "location_id": empty, "quantity": "1"}, 409, "only 0 units"),
        (f"{BASE}/pools", {"name": "Deal", "variant_id": tea.id, "location_id": main, "quantity": "6"}, 409, "only 5 units"),
        (f"{BASE}/pools", {"name": "", "variant_id": tea.id, "location_id": main, "quantity": "1"}, 422, "needs a name"),
        (f"{BASE}/pools", {"name": "Deal", "variant_id": tea.id, "location_id": main, "quantity": "0"}, 422, "at least one unit"),
    ):
        response = await post_form(zc_client, path, {**data, "page": "1"})
        assert response.status_code == status, (data, response.text)
        assert 'role="alert"' in response.text and words in response.text, data
    assert await state(zc_runtime) == before

    # the form comes back filled in
    refused = await post_form(zc_client, f"{BASE}/pools", {"name": "Deal", "variant_id": tea.id, "location_id": main, "quantity": "6"})
    assert 'value="Deal"' in refused.text and 'value="6"' in refused.text and f'<option value="{main}" selected>' in refused.text

    # without the CSRF token: refused, nothing written
    for path, data in (
        (f"{BASE}/locations", {"name": "Sneaky"}),
        (f"{BASE}/receive", {"variant_id": tea.id, "location_id": main, "quantity": "5"}),
        (f"{BASE}/pools", {"name": "Sneaky", "variant_id": tea.id, "location_id": main, "quantity": "1"}),
    ):
        assert (await post_form(zc_client, path, data, token=False)).status_code == 403, path
    assert await state(zc_runtime) == before


async def test_campaign_sample_pools_are_shown_and_kept(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user("owner@glow.example", brand=("glow-lab", "owner"))
    variant = await zc_make_product("glow-lab", stock=20)
    campaign = await open_campaign(zc_client, await api_token(zc_client, owner.email), "glow-lab", variant, samples=3)
    async with zc_runtime.db.read_session() as s:
        pool_id = (await s.execute(select(StockPool.id).where(StockPool.name.like(f"campaign-{campaign['id']}-%")))).scalar_one()
    await portal_login(zc_client, owner.email)

    page = await zc_client.get("/creator/brands/glow-lab/stock")
    row = re.search(rf'data-testid="pool-{pool_id}">(.*?)</tr>', page.text, re.S).group(1)
    assert f'href="/creator/brands/glow-lab/campaigns/{campaign["id"]}" data-testid="pool-campaign"' in row
    assert "Released when the campaign completes" in row and "release-" not in row
    before = await state(zc_runtime)
    refused = await post_form(zc_client, f"/creator/brands/glow-lab/stock/pools/{pool_id}/release")
    assert refused.status_code == 409 and "complete the campaign to release its samples" in refused.text
    assert await state(zc_runtime) == before


async def test_other_brands_ids_are_not_found(zc_client, zc_runtime, zc_make_user, zc_make_product):
    await zc_make_user(brand=("tea-house", "owner"))
    rival = await zc_make_user(brand=("lotus-lane", "owner"))
    tea = await zc_make_product("tea-house", stock=5)
    lotus = await zc_make_product("lotus-lane", stock=5)
    async with zc_runtime.db.session() as s:
        tea_main = await location_id(zc_runtime, "tea-house", inventory.MAIN_LOCATION)
        pool = await inventory.create_pool(s, name="tea deal", variant_id=tea.id, location_id=tea_main, quantity=2)
        await s.commit()
    lotus_main = await location_id(zc_runtime, "lotus-lane", inventory.MAIN_LOCATION)
    await portal_login(zc_client, rival.email)
    html = {"accept": "text/html"}
    before = await state(zc_runtime)

    for path in (BASE, "/creator/brands/no-such-brand/stock"):
        response = await zc_client.get(path, headers=html)
        assert response.status_code == 404 and 'data-testid="error-page"' in response.text, path
    mine = "/creator/brands/lotus-lane/stock"
    for path, data in (
        (f"{BASE}/locations", {"name": "mine now"}),
        (f"{BASE}/receive", {"variant_id": tea.id, "location_id": tea_main, "quantity": "-1"}),
        (f"{mine}/receive", {"variant_id": tea.id, "location_id": lotus_main, "quantity": "-1"}),  # their own URL, another brand's variant
        (f"{mine}/receive", {"variant_id": lotus.id, "location_id": tea_main, "quantity": "1"}),  # another brand's location
        (f"{mine}/receive", {"variant_id": "abc", "location_id": lotus_main, "quantity": "1"}),
        (f"{mine}/pools", {"name": "stolen", "variant_id": tea.id, "location_id": lotus_main, "quantity": "1"}),
        (f"{mine}/pools", {"name": "stolen", "variant_id": lotus.id, "location_id": tea_main, "quantity": "1"}),
        (f"{mine}/pools/{pool.id}/release", {}),
        (f"{BASE}/pools/{pool.id}/release", {}),
        (f"/creator/brands/lotus-lane/products/{lotus.product_id}/variants/{lotus.id}/stock", {"quantity": "1", "location_id": str(tea_main)}),
    ):
        response = await post_form(zc_client, path, data, headers=html)
        assert response.status_code == 404, (path, data, response.status_code)
    assert await state(zc_runtime) == before
    page = await zc_client.get(mine)
    assert "tea deal" not in page.text and tea.sku not in page.text and "Tea House" not in page.text


async def test_names_render_as_text(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("tea-house", "owner"))
    tea = await zc_make_product("tea-house", stock=5)
    await portal_login(zc_client, owner.email)
    assert (await post_form(zc_client, f"{BASE}/locations", {"name": XSS})).status_code == 303
    depot = await location_id(zc_runtime, "tea-house", XSS)
    assert (await post_form(zc_client, f"{BASE}/receive", {"variant_id": tea.id, "location_id": depot, "quantity": "3"})).status_code == 303
    assert (await post_form(zc_client, f"{BASE}/pools", {"name": "deal " + XSS, "variant_id": tea.id, "location_id": depot, "quantity": "1"})).status_code == 303
    for path in (BASE, f"/creator/brands/tea-house/products/{tea.product_id}"):
        page = await zc_client.get(path)
        assert XSS not in page.text and "&lt;script&gt;" in page.text, path
    refused = await post_form(zc_client, f"{BASE}/locations", {"name": XSS})  # the error names it too
    assert refused.status_code == 409 and XSS not in refused.text


async def test_the_page_costs_the_same_statements_for_one_and_for_many_variants(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("tea-house", "owner"))
    await portal_login(zc_client, owner.email)

    async def add(n: int) -> None:
        for _ in range(n):
            variant = await zc_make_product("tea-house", stock=5)
            async with zc_runtime.db.session() as s:
                main = await location_id(zc_runtime, "tea-house", inventory.MAIN_LOCATION)
                await inventory.create_pool(s, name=f"deal-{variant.sku}", variant_id=variant.id, location_id=main, quantity=1)
                await s.commit()

    async def cost() -> int:
        await zc_client.get(BASE)  # warm
        await settle(zc_runtime)
        with QueryCounter() as q:
            page = await zc_client.get(BASE)
        assert page.status_code == 200
        return q.count

    await add(1)
    assert (await post_form(zc_client, f"{BASE}/locations", {"name": "Second"})).status_code == 303
    one = await cost()
    await add(7)
    page = await zc_client.get(BASE)
    assert page.text.count('data-testid="stock-row-') == 8 and page.text.count('data-testid="pool-') >= 8
    assert await cost() == one


async def test_the_stock_table_pages_by_product(zc_client, zc_runtime, zc_make_user, zc_make_product, monkeypatch):
    from creator_portal import stock as pages

    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    owner = await zc_make_user(brand=("tea-house", "owner"))
    made = [await zc_make_product("tea-house", stock=1, title=f"Tea {i}") for i in range(3)]
    await portal_login(zc_client, owner.email)
    first = await zc_client.get(BASE)
    assert 'data-testid="next-page"' in first.text and made[2].sku in first.text and made[0].sku not in first.text
    second = await zc_client.get(f"{BASE}?page=2")
    assert made[0].sku in second.text and 'data-testid="next-page"' not in second.text
    assert (await zc_client.get(f"{BASE}?page=0")).status_code == 400

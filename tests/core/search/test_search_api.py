"""Search through the API: products, notes and creators kept fresh by domain events,
rebuilt without downtime, and every bad input the issue lists."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select

from core.testing import api_token
from tests.core.test_api_conventions import assert_problem

API = "/api/v1/search"


async def eventually(check: Any, timeout: float = 20.0) -> Any:
    """Poll an async check until it returns something truthy (indexing follows events in the background)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("timed out waiting for the index to follow")
        await asyncio.sleep(0.05)


async def ids(client: Any, index: str, **params: Any) -> list[str]:
    r = await client.get(f"{API}/{index}", params=params)
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["hits"]]


async def catalogue(runtime: Any, make_product: Any) -> dict[str, Any]:
    made = {
        "cream": await make_product("camellia", title="修护面霜 Repair Cream", price=16_800),
        "serum": await make_product("lumi", title="美白精华 Vitamin C Serum", price=25_800, stock=0),
        "boots": await make_product("peak", title="Hiking Boots 徒步鞋", price=89_900),
        "draft": await make_product("peak", title="草稿面霜 Draft Cream", status="draft"),
    }
    await runtime.search.rebuild("products")
    return {k: str(v.product_id) for k, v in made.items()}


async def test_products_by_chinese_and_english_words_with_facets(zc_client, zc_runtime, zc_make_product):
    p = await catalogue(zc_runtime, zc_make_product)
    assert await ids(zc_client, "products", q="面霜") == [p["cream"]]  # 2 CJK characters; the draft is not searchable
    assert await ids(zc_client, "products", q="霜") == [p["cream"]]
    assert await ids(zc_client, "products", q="cream") == [p["cream"]]
    assert await ids(zc_client, "products", q="徒步") == [p["boots"]]
    assert set(await ids(zc_client, "products", q="")) == {p["cream"], p["serum"], p["boots"]}  # empty: browse
    r = (await zc_client.get(f"{API}/products", params={"q": "", "in_stock": "true", "price_max": "20000"})).json()
    assert [h["id"] for h in r["hits"]] == [p["cream"]] and r["total"] == 1
    body = (await zc_client.get(f"{API}/products")).json()
    assert body["facets"]["brand"] == {"camellia": 1, "lumi": 1, "peak": 1} and body["facets"]["in_stock"] == {"true": 2, "false": 1}
    assert body["facets_exact"] is True
    assert body["sorts"] == ["relevance", "newest", "price_asc", "price_desc"]
    assert await ids(zc_client, "products", sort="price_asc") == [p["cream"], p["serum"], p["boots"]]
    hit = (await zc_client.get(f"{API}/products", params={"q": "面霜"})).json()["hits"][0]
    assert "<mark>面霜</mark>" in hit["highlights"]["title"] and hit["document"]["price"] == 16_800 and hit["document"]["brand"] == "camellia"
    suggestions = (await zc_client.get(f"{API}/products/suggest", params={"q": "hik"})).json()["suggestions"]
    assert suggestions == ["Hiking Boots 徒步鞋"]


async def test_a_ticked_brand_keeps_the_other_brands_counted_and_a_second_one_ors(zc_client, zc_runtime, zc_make_product):
    p = await catalogue(zc_runtime, zc_make_product)  # cream: camellia, in stock; serum: lumi, sold out; boots: peak, in stock

    async def search(*params: tuple[str, str]) -> dict[str, Any]:
        r = await zc_client.get(f"{API}/products", params=list(params))
        assert r.status_code == 200, r.text
        return r.json()

    lumi = await search(("brand", "lumi"))
    assert [h["id"] for h in lumi["hits"]] == [p["serum"]] and lumi["total"] == 1
    assert lumi["facets"]["brand"] == {"camellia": 1, "lumi": 1, "peak": 1}  # the others stay, with their counts
    assert lumi["facets"]["in_stock"] == {"false": 1}  # the other facets count lumi's matches
    for both in (await search(("brand", "lumi"), ("brand", "camellia")), await search(("brand", "lumi,camellia"))):
        assert {h["id"] for h in both["hits"]} == {p["serum"], p["cream"]} and both["total"] == 2  # any of the brands
        assert both["facets"]["brand"] == {"camellia": 1, "lumi": 1, "peak": 1}
        assert both["facets"]["in_stock"] == {"false": 1, "true": 1}
    in_stock = await search(("brand", "lumi"), ("in_stock", "true"))  # and all of the fields
    assert in_stock["hits"] == [] and in_stock["total"] == 0
    assert in_stock["facets"]["brand"] == {"camellia": 1, "peak": 1}  # brands with stock: ticking one finds something
    assert in_stock["facets"]["in_stock"] == {"false": 1}  # lumi has none in stock
    worded = await search(("q", "cream"), ("brand", "lumi"))
    assert worded["hits"] == [] and worded["facets"]["brand"] == {"camellia": 1}


async def test_a_product_change_reaches_search_through_its_event(zc_client, zc_runtime, zc_make_user, zc_make_product):
    p = await catalogue(zc_runtime, zc_make_product)
    await zc_make_user("owner@camellia.example", brand=("camellia", "owner"))
    auth = await api_token(zc_client, "owner@camellia.example")
    r = await zc_client.patch(f"/api/v1/products/{p['cream']}", json={"title": "山茶花晚霜 Night Cream"}, headers=auth)
    assert r.status_code == 200, r.text
    await eventually(lambda: ids(zc_client, "products", q="晚霜"))
    assert await ids(zc_client, "products", q="修护") == []
    r = await zc_client.post(f"/api/v1/products/{p['cream']}/status", json={"status": "archived"}, headers=auth)
    assert r.status_code == 200, r.text

    async def gone() -> bool:
        return not await ids(zc_client, "products", q="晚霜")

    await eventually(gone)


async def test_selling_out_and_stock_coming_back_reach_the_in_stock_filter(zc_client, zc_runtime, zc_make_product):
    """Checkouts and expired holds move stock without the brand: crossing zero refreshes the product."""
    from core.inventory import service as inventory
    from core.inventory.models import StockHold

    cream = await zc_make_product("camellia", title="限量面霜 Limited Cream", stock=2)
    await zc_runtime.search.rebuild("products")
    in_stock = {"q": "限量", "in_stock": "true"}
    assert await ids(zc_client, "products", **in_stock) == [str(cream.product_id)]
    async with zc_runtime.db.session() as s:
        await inventory.reserve_lines(s, [(cream.id, 1, None)])  # one left: still in stock
        await s.commit()
    assert await ids(zc_client, "products", **in_stock) == [str(cream.product_id)]
    async with zc_runtime.db.session() as s:
        await inventory.reserve_lines(s, [(cream.id, 1, None)])  # the last one
        await s.commit()

    async def sold_out() -> bool:
        return await ids(zc_client, "products", **in_stock) == [] and await ids(zc_client, "products", q="限量") == [str(cream.product_id)]

    await eventually(sold_out)
    async with zc_runtime.db.session() as s:  # a checkout abandoned: its hold expires
        hold = (await s.execute(select(StockHold).where(StockHold.variant_id == cream.id).limit(1))).scalar_one()
        assert await inventory.release_hold(s, hold.id)
        await s.commit()
    await eventually(lambda: ids(zc_client, "products", **in_stock))


async def test_a_rebuild_swaps_without_downtime(zc_client, zc_runtime, zc_make_product):
    p = await catalogue(zc_runtime, zc_make_product)
    service = zc_runtime.search
    before = (await service.status("products"))[0]
    searches: list[list[str]] = []

    async def keep_searching() -> None:
        while True:
            searches.append(await ids(zc_client, "products", q="面霜"))
            await asyncio.sleep(0)

    searcher = asyncio.create_task(keep_searching())
    try:
        after = await service.rebuild("products")
        again = await service.rebuild("products")  # drops the index the first rebuild retired
    finally:
        searcher.cancel()
        await asyncio.gather(searcher, return_exceptions=True)
    assert searches and all(s == [p["cream"]] for s in searches)  # never empty, never an error
    assert before.physical != after.physical != again.physical and after.documents == again.documents == 3
    assert after.generation == before.generation + 1 and again.building is None
    from core.search.models import SearchAlias

    async with zc_runtime.db.read_session() as s:
        alias = await s.get(SearchAlias, "products")
    assert (alias.physical, alias.retired) == (again.physical, after.physical)  # kept until the next rebuild; before's is dropped
    assert await service.backend.count(service.index("products"), after.physical) == 3


async def test_notes_follow_their_events(zc_client, zc_runtime, zc_make_user, monkeypatch):
    from tests.plugins.notes.notes_helpers import create_note

    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    await zc_make_user("mia@example.com", roles=("creator",))
    await zc_make_user("jun@example.com")
    mia, jun = await api_token(zc_client, "mia@example.com"), await api_token(zc_client, "jun@example.com")
    await zc_runtime.search.rebuild("notes")
    a = await create_note(zc_client, mia, title="面霜测评", body="敏感肌 #护肤 night cream review", publish=True)
    b = await create_note(zc_client, mia, title="防晒霜合集", body="#护肤 sunscreen", publish=True)
    draft = await create_note(zc_client, mia, title="没发的面霜", body="草稿")
    async def both() -> bool:
        return len(await ids(zc_client, "notes", q="霜")) == 2

    await eventually(both)
    assert await ids(zc_client, "notes", q="面霜") == [str(a["id"])]  # not the draft
    assert set(await ids(zc_client, "notes", q="霜")) == {str(a["id"]), str(b["id"])}
    r = (await zc_client.get(f"{API}/notes", params={"topics": "护肤"})).json()
    assert r["total"] == 2 and r["facets"]["type"] == {"image": 2}
    # engagement counts sort: a like moves b first
    assert (await zc_client.post(f"/api/v1/notes/{b['id']}/like", headers=jun)).status_code == 200

    async def liked_first() -> bool:
        return await ids(zc_client, "notes", q="霜", sort="likes") == [str(b["id"]), str(a["id"])]

    await eventually(liked_first)
    assert (await zc_client.delete(f"/api/v1/notes/{a['id']}", headers=mia)).status_code == 204

    async def deleted() -> bool:
        return await ids(zc_client, "notes", q="面霜") == []

    await eventually(deleted)
    assert str(draft["id"]) not in await ids(zc_client, "notes")



async def test_a_renamed_author_is_found_by_the_new_name_and_handle(zc_client, zc_runtime, zc_make_user, monkeypatch):
    from tests.plugins.notes.notes_helpers import create_note

    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    await zc_make_user("mia@example.com", roles=("creator",))
    mia = await api_token(zc_client, "mia@example.com")
    await zc_runtime.search.rebuild("notes")
    note = await create_note(zc_client, mia, title="面霜测评", body="night cream", publish=True)

    async def found(q: str) -> bool:
        return await ids(zc_client, "notes", q=q) == [str(note["id"])]

    await eventually(lambda: found("面霜"))
    # the display name (account settings) and the handle (notes profile) are copied into the note's document
    renamed = await zc_client.patch("/api/v1/auth/me", json={"display_name": "Blossomwood"}, headers=mia)
    assert renamed.status_code == 200, renamed.text
    await eventually(lambda: found("blossomwood"))
    handled = await zc_client.patch("/api/v1/notes/me/profile", json={"handle": "quillfeather"}, headers=mia)
    assert handled.status_code == 200, handled.text
    await eventually(lambda: found("quillfeather"))
    assert await ids(zc_client, "notes", q="blossomwood") == [str(note["id"])]  # the name is still there

async def test_creator_search_filters_by_tier_and_followers(zc_client, zc_runtime, zc_make_user):
    for handle, followers, categories in (("koc.tea", 3_000, ["tea"]), ("micro.beauty", 60_000, ["beauty"]), ("mid.outdoor", 250_000, ["outdoor", "beauty"])):
        user = await zc_make_user(f"{handle.replace('.', '-')}@example.com", roles=("creator",))
        auth = await api_token(zc_client, user.email)
        r = await zc_client.put("/api/v1/me/creator-profile", json={"handle": handle, "categories": categories, "followers": followers, "bio": f"{handle} 的主页"}, headers=auth)
        assert r.status_code == 200, r.text
    await zc_runtime.search.rebuild("creators")

    async def handles(**params: Any) -> list[str]:
        r = await zc_client.get(f"{API}/creators", params=params)
        assert r.status_code == 200, r.text
        return [h["document"]["handle"] for h in r.json()["hits"]]

    assert await handles() == ["mid.outdoor", "micro.beauty", "koc.tea"]  # most followers first
    assert await handles(tier="koc,mid") == ["mid.outdoor", "koc.tea"]
    assert await handles(followers_min="10000", followers_max="100000") == ["micro.beauty"]
    assert await handles(categories="beauty", tier="mid") == ["mid.outdoor"]
    assert await handles(q="outdoor") == ["mid.outdoor"]
    assert await handles(q="主页", sort="followers") == ["mid.outdoor", "micro.beauty", "koc.tea"]
    facets = (await zc_client.get(f"{API}/creators")).json()["facets"]
    assert facets["tier"] == {"koc": 1, "micro": 1, "mid": 1}
    # a profile change reaches search through creator.changed
    auth = await api_token(zc_client, "koc-tea@example.com")
    assert (await zc_client.put("/api/v1/me/creator-profile", json={"followers": 150_000}, headers=auth)).status_code == 200

    async def promoted() -> bool:
        return await handles(tier="mid") == ["mid.outdoor", "koc.tea"]

    await eventually(promoted)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("q", ["", " ", '"', "*", "NEAR", "-", ":", "' OR 1=1 --", "%", "_", "\\", "面霜" * 1_500 + "x" * 7_000])  # the last: 10,000 characters
async def test_odd_queries_are_never_an_error(zc_client, zc_runtime, zc_make_product, q):
    await zc_make_product("camellia", title="修护面霜 Repair Cream")
    await zc_runtime.search.rebuild("products")
    r = await zc_client.get(f"{API}/products", params={"q": q})
    assert r.status_code == 200, r.text
    if not q.strip():
        assert r.json()["total"] == 1  # an empty query browses


async def test_bad_parameters_are_refused_clearly(zc_client, zc_runtime):
    unknown = assert_problem(await zc_client.get(f"{API}/products", params={"colour": "red"}), 422)
    assert unknown["fields"] == {"colour": "unknown"} and "brand" in unknown["filters"] and "price_min" in unknown["filters"]
    assert_problem(await zc_client.get(f"{API}/products", params={"price": "100"}), 422)  # a range field: price_min / price_max
    assert_problem(await zc_client.get(f"{API}/products", params={"price_min": "cheap"}), 422)
    assert_problem(await zc_client.get(f"{API}/products", params={"in_stock": "maybe"}), 422)
    assert_problem(await zc_client.get(f"{API}/products", params={"sort": "random"}), 422)
    assert_problem(await zc_client.get(f"{API}/products", params={"per_page": "0"}), 422)
    assert_problem(await zc_client.get(f"{API}/products", params={"per_page": "1000"}), 422)
    assert_problem(await zc_client.get(f"{API}/products", params={"page": "0"}), 422)
    assert_problem(await zc_client.get(f"{API}/notes", params={"created_at_min": "yesterday"}), 422)
    assert (await zc_client.get(f"{API}/notes", params={"created_at_min": "2026-01-01"})).status_code == 200
    missing = assert_problem(await zc_client.get(f"{API}/orders"), 404)
    assert "products" in missing["indexes"]
    assert_problem(await zc_client.get(f"{API}/orders/suggest", params={"q": "a"}), 404)
    assert_problem(await zc_client.get(f"{API}/products/suggest", params={"q": "a", "limit": "99"}), 422)


async def test_a_page_beyond_the_end(zc_client, zc_runtime, zc_make_product):
    await zc_make_product("camellia", title="修护面霜 Repair Cream")
    await zc_runtime.search.rebuild("products")
    r = (await zc_client.get(f"{API}/products", params={"q": "面霜", "page": "9"})).json()
    assert (r["hits"], r["total"], r["page"], r["pages"]) == ([], 1, 9, 1)

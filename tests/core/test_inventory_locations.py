"""Brand staff manage stock per location and pools (core.inventory.service and the JSON
API): locations unique per brand, stock received and pools set aside at a chosen
location, manual pools released (idempotently), a campaign's sample pool refused, and
another brand's variants, locations and pools are 404."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.campaigns import campaigns as campaign_service
from core.errors import Conflict, NotFound, ValidationFailed
from core.inventory import service as inventory
from core.inventory.models import StockLevel, StockLocation, StockPool
from core.inventory.service import OutOfStock
from core.testing import api_token
from tests.core.test_api_conventions import assert_problem
from tests.core.test_campaigns import open_campaign

API = "/api/v1"


async def run(runtime: Any, fn: Any) -> Any:
    async with runtime.db.session() as s:
        out = await fn(s)
        await s.commit()
        return out


async def brand_id_of(runtime: Any, slug: str) -> int:
    from core.catalog.models import Brand

    async with runtime.db.read_session() as s:
        return (await s.execute(select(Brand.id).where(Brand.slug == slug))).scalar_one()


async def levels(runtime: Any) -> list[tuple]:
    async with runtime.db.read_session() as s:
        rows = await s.execute(select(StockLevel).order_by(StockLevel.variant_id, StockLevel.location_id))
        return [(lv.variant_id, lv.location_id, lv.on_hand, lv.available, lv.reserved, lv.committed) for lv in rows.scalars()]


async def pools(runtime: Any) -> list[tuple]:
    async with runtime.db.read_session() as s:
        rows = await s.execute(select(StockPool).order_by(StockPool.id))
        return [(p.name, p.location_id, p.available, p.reserved, p.committed) for p in rows.scalars()]


# ---------------------------------------------------------------- service


async def test_locations_stock_and_pools_per_location(zc_runtime, zc_make_product):
    variant = await zc_make_product("tea-house", stock=10)  # 10 at the main location
    brand = await brand_id_of(zc_runtime, "tea-house")
    (main,) = await run(zc_runtime, lambda s: inventory.locations_of(s, brand))

    depot = await run(zc_runtime, lambda s: inventory.add_location(s, brand, "  Hangzhou depot  "))
    assert (depot.name, depot.position) == ("Hangzhou depot", main.position + 1)
    for bad, error in (("", ValidationFailed), ("   ", ValidationFailed), ("x" * 81, ValidationFailed), ("Hangzhou depot", Conflict), (None, ValidationFailed)):
        with pytest.raises(error):
            await run(zc_runtime, lambda s, bad=bad: inventory.add_location(s, brand, bad))
    assert [loc.name for loc in await run(zc_runtime, lambda s: inventory.locations_of(s, brand))] == [main.name, "Hangzhou depot"]

    await run(zc_runtime, lambda s: inventory.receive_at(s, brand, variant_id=variant.id, location_id=depot.id, quantity=6))
    pool = await run(zc_runtime, lambda s: inventory.set_aside(s, brand, name="618 flash deal", variant_id=variant.id, location_id=depot.id, quantity=4))
    assert pool.location_id == depot.id

    by_location = await run(zc_runtime, lambda s: inventory.stock_by_location(s, [variant.id, 999_999]))
    assert by_location[999_999] == []
    assert [(lv.location, lv.on_hand, lv.available, lv.reserved, lv.committed, lv.in_pools) for lv in by_location[variant.id]] == [
        (main.name, 10, 10, 0, 0, 0), ("Hangzhou depot", 6, 2, 0, 0, 4),
    ]
    # a buyer of the deal: the pool's reserved units still count in the location's pools
    await run(zc_runtime, lambda s: inventory.reserve(s, variant_id=variant.id, quantity=1, order_line_id=None, pool_id=pool.id))
    (_, depot_row) = (await run(zc_runtime, lambda s: inventory.stock_by_location(s, [variant.id])))[variant.id]
    assert (depot_row.on_hand, depot_row.available, depot_row.in_pools) == (6, 2, 4)

    (row,) = await run(zc_runtime, lambda s: inventory.pools_of_brand(s, brand))
    assert (row.name, row.location, row.sku, row.available, row.reserved, row.committed) == ("618 flash deal", "Hangzhou depot", variant.sku, 3, 1, 0)

    # releasing gives the available units back; the reserved one stays until its order settles
    assert await run(zc_runtime, lambda s: campaign_service.release_pool_by_hand(s, brand, pool.id)) == 3
    assert await run(zc_runtime, lambda s: campaign_service.release_pool_by_hand(s, brand, pool.id)) == 0
    (_, depot_row) = (await run(zc_runtime, lambda s: inventory.stock_by_location(s, [variant.id])))[variant.id]
    assert (depot_row.on_hand, depot_row.available, depot_row.in_pools) == (6, 5, 1)


async def test_refusals_write_nothing(zc_runtime, zc_make_product):
    variant = await zc_make_product("tea-house", stock=5)
    other = await zc_make_product("lotus-lane", stock=5)
    brand = await brand_id_of(zc_runtime, "tea-house")
    rival = await brand_id_of(zc_runtime, "lotus-lane")
    (main,) = await run(zc_runtime, lambda s: inventory.locations_of(s, brand))
    (rival_main,) = await run(zc_runtime, lambda s: inventory.locations_of(s, rival))
    empty = await run(zc_runtime, lambda s: inventory.add_location(s, brand, "Empty shelf"))
    before_levels, before_pools = await levels(zc_runtime), await pools(zc_runtime)

    attempts = [
        # write-offs come from available only, with the count in the message
        (OutOfStock, "5 units here", lambda s: inventory.receive_at(s, brand, variant_id=variant.id, location_id=main.id, quantity=-6)),
        (OutOfStock, "nothing to write off", lambda s: inventory.receive_at(s, brand, variant_id=variant.id, location_id=empty.id, quantity=-1)),
        (ValidationFailed, "non-zero", lambda s: inventory.receive_at(s, brand, variant_id=variant.id, location_id=main.id, quantity=0)),
        # a pool at a location that lacks the units
        (OutOfStock, "only 0 units", lambda s: inventory.set_aside(s, brand, name="deal", variant_id=variant.id, location_id=empty.id, quantity=1)),
        (OutOfStock, "only 5 units", lambda s: inventory.set_aside(s, brand, name="deal", variant_id=variant.id, location_id=main.id, quantity=6)),
        (ValidationFailed, "at least one", lambda s: inventory.set_aside(s, brand, name="deal", variant_id=variant.id, location_id=main.id, quantity=0)),
        (ValidationFailed, "needs a name", lambda s: inventory.set_aside(s, brand, name=" ", variant_id=variant.id, location_id=main.id, quantity=1)),
        (ValidationFailed, "campaign samples", lambda s: inventory.set_aside(s, brand, name="campaign-1-samples-1", variant_id=variant.id, location_id=main.id, quantity=1)),
        # another brand's variant, location or pool is not found
        (NotFound, "variant", lambda s: inventory.receive_at(s, brand, variant_id=other.id, location_id=main.id, quantity=1)),
        (NotFound, "location", lambda s: inventory.receive_at(s, brand, variant_id=variant.id, location_id=rival_main.id, quantity=1)),
        (NotFound, "variant", lambda s: inventory.set_aside(s, brand, name="deal", variant_id=other.id, location_id=main.id, quantity=1)),
        (NotFound, "location", lambda s: inventory.set_aside(s, brand, name="deal", variant_id=variant.id, location_id=rival_main.id, quantity=1)),
        (NotFound, "variant", lambda s: inventory.receive_at(s, brand, variant_id=2**70, location_id=main.id, quantity=1)),
    ]
    for error, words, attempt in attempts:
        with pytest.raises(error, match=words):
            await run(zc_runtime, attempt)
    assert await levels(zc_runtime) == before_levels and await pools(zc_runtime) == before_pools

    rival_pool = await run(zc_runtime, lambda s: inventory.set_aside(s, rival, name="rival deal", variant_id=other.id, location_id=rival_main.id, quantity=2))
    with pytest.raises(NotFound):
        await run(zc_runtime, lambda s: campaign_service.release_pool_by_hand(s, brand, rival_pool.id))
    assert await run(zc_runtime, lambda s: inventory.pools_of_brand(s, brand)) == []
    assert await levels(zc_runtime) != before_levels  # only the rival's pool moved stock
    assert (await run(zc_runtime, lambda s: inventory.stock_by_location(s, [variant.id])))[variant.id][0].available == 5

    # names are each brand's own: the rival's name is free here (and not revealed), a second use of one's own is refused
    mine = await run(zc_runtime, lambda s: inventory.set_aside(s, brand, name="rival deal", variant_id=variant.id, location_id=main.id, quantity=1))
    assert mine.name == "rival deal" and mine.id != rival_pool.id
    for location in (main, empty):
        with pytest.raises(Conflict, match="exists already"):
            await run(zc_runtime, lambda s: inventory.set_aside(s, brand, name="rival deal", variant_id=variant.id, location_id=location.id, quantity=1))
    assert [p.name for p in await run(zc_runtime, lambda s: inventory.pools_of_brand(s, brand))] == ["rival deal"]


# ---------------------------------------------------------------- JSON API


async def test_api_locations_stock_pools_and_release(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user("owner@tea.example", brand=("tea-house", "owner"))
    auth = await api_token(zc_client, owner.email)
    variant = await zc_make_product("tea-house", stock=10)

    listed = await zc_client.get(f"{API}/brands/tea-house/locations", headers=auth)
    assert listed.status_code == 200 and [loc["name"] for loc in listed.json()] == [inventory.MAIN_LOCATION]
    created = await zc_client.post(f"{API}/brands/tea-house/locations", json={"name": "Hangzhou depot"}, headers=auth)
    assert created.status_code == 201 and created.json()["name"] == "Hangzhou depot"
    depot_id = created.json()["id"]
    assert_problem(await zc_client.post(f"{API}/brands/tea-house/locations", json={"name": "Hangzhou depot"}, headers=auth), 409)
    assert_problem(await zc_client.post(f"{API}/brands/tea-house/locations", json={"name": "  "}, headers=auth), 422)
    assert_problem(await zc_client.post(f"{API}/brands/tea-house/locations", json={"name": ""}, headers=auth))

    received = await zc_client.post(f"{API}/variants/{variant.id}/stock", json={"quantity": 6, "location": "Hangzhou depot"}, headers=auth)
    assert received.status_code == 200, received.text
    assert received.json()["on_hand"] == 16
    assert [(lv["location"], lv["on_hand"], lv["available"], lv["in_pools"]) for lv in received.json()["locations"]] == [
        (inventory.MAIN_LOCATION, 10, 10, 0), ("Hangzhou depot", 6, 6, 0),
    ]
    assert_problem(await zc_client.post(f"{API}/variants/{variant.id}/stock", json={"quantity": 1, "location": "  "}, headers=auth), 422)
    new_name = await zc_client.post(f"{API}/variants/{variant.id}/stock", json={"quantity": -1, "location": "Shanghai"}, headers=auth)
    assert_problem(new_name, 409)  # nothing to write off at a new location: and no location left behind
    assert [loc["name"] for loc in (await zc_client.get(f"{API}/brands/tea-house/locations", headers=auth)).json()] == [inventory.MAIN_LOCATION, "Hangzhou depot"]
    write_off = await zc_client.post(f"{API}/variants/{variant.id}/stock", json={"quantity": -7, "location": "Hangzhou depot"}, headers=auth)
    assert_problem(write_off, 409)
    assert "6 units here" in write_off.json()["detail"]

    pool = await zc_client.post(f"{API}/variants/{variant.id}/pools", json={"name": "Double 11", "quantity": 4, "location": "Hangzhou depot"}, headers=auth)
    assert pool.status_code == 201, pool.text
    assert (pool.json()["location_id"], pool.json()["available"], pool.json()["campaign_id"]) == (depot_id, 4, None)
    default = await zc_client.post(f"{API}/variants/{variant.id}/pools", json={"name": "618", "quantity": 1}, headers=auth)
    assert default.status_code == 201 and default.json()["location"] == inventory.MAIN_LOCATION  # the first location, as before
    assert_problem(await zc_client.post(f"{API}/variants/{variant.id}/pools", json={"name": "too many", "quantity": 3, "location": "Hangzhou depot"}, headers=auth), 409)
    assert_problem(await zc_client.post(f"{API}/variants/{variant.id}/pools", json={"name": "nowhere", "quantity": 1, "location": "Nowhere"}, headers=auth), 404)
    assert_problem(await zc_client.post(f"{API}/variants/{variant.id}/pools", json={"name": "Double 11", "quantity": 1}, headers=auth), 409)

    stock = (await zc_client.get(f"{API}/variants/{variant.id}/stock", headers=auth)).json()
    assert (stock["pooled"], [lv["in_pools"] for lv in stock["locations"]]) == (5, [1, 4])

    listed = await zc_client.get(f"{API}/brands/tea-house/pools", headers=auth)
    assert [(p["name"], p["location"], p["available"]) for p in listed.json()] == [("618", inventory.MAIN_LOCATION, 1), ("Double 11", "Hangzhou depot", 4)]

    released = await zc_client.post(f"{API}/pools/{pool.json()['id']}/release", headers=auth)
    assert released.status_code == 200 and released.json()["released"] == 4 and released.json()["pool"]["available"] == 0
    again = await zc_client.post(f"{API}/pools/{pool.json()['id']}/release", headers=auth)
    assert again.status_code == 200 and again.json()["released"] == 0
    stock = (await zc_client.get(f"{API}/variants/{variant.id}/stock", headers=auth)).json()
    assert [(lv["available"], lv["in_pools"]) for lv in stock["locations"]] == [(9, 1), (6, 0)]


async def test_api_campaign_samples_pool_cannot_be_released_by_hand(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user("owner@glow.example", brand=("glow-lab", "owner"))
    auth = await api_token(zc_client, owner.email)
    variant = await zc_make_product("glow-lab", stock=20)
    campaign = await open_campaign(zc_client, auth, "glow-lab", variant, samples=3)
    async with zc_runtime.db.read_session() as s:
        pool_id = (await s.execute(select(StockPool.id).where(StockPool.name.like(f"campaign-{campaign['id']}-%")))).scalar_one()

    listed = (await zc_client.get(f"{API}/brands/glow-lab/pools", headers=auth)).json()
    assert [(p["id"], p["campaign_id"], p["available"]) for p in listed] == [(pool_id, campaign["id"], 3)]
    refused = await zc_client.post(f"{API}/pools/{pool_id}/release", headers=auth)
    assert_problem(refused, 409)
    assert "complete the campaign to release its samples" in refused.json()["detail"]
    assert (await pools(zc_runtime))[0][2] == 3


async def test_api_other_brands_ids_are_not_found(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user("owner@tea.example", brand=("tea-house", "owner"))
    rival = await zc_make_user("owner@lotus.example", brand=("lotus-lane", "owner"))
    auth = await api_token(zc_client, owner.email)
    rival_auth = await api_token(zc_client, rival.email)
    tea = await zc_make_product("tea-house", stock=5)
    pool = await zc_client.post(f"{API}/variants/{tea.id}/pools", json={"name": "tea deal", "quantity": 2}, headers=auth)
    assert pool.status_code == 201
    before_levels, before_pools = await levels(zc_runtime), await pools(zc_runtime)

    for method, path, body in (
        ("get", f"{API}/brands/tea-house/locations", None),
        ("post", f"{API}/brands/tea-house/locations", {"name": "mine now"}),
        ("get", f"{API}/brands/tea-house/pools", None),
        ("post", f"{API}/pools/{pool.json()['id']}/release", None),
        ("post", f"{API}/pools/999999/release", None),
        ("get", f"{API}/variants/{tea.id}/stock", None),
        ("post", f"{API}/variants/{tea.id}/stock", {"quantity": -1}),
        ("post", f"{API}/variants/{tea.id}/pools", {"name": "stolen", "quantity": 1}),
        ("get", f"{API}/brands/no-such-brand/locations", None),
    ):
        response = await getattr(zc_client, method)(path, headers=rival_auth, **({"json": body} if body is not None else {}))
        assert response.status_code == 404, (path, response.text)
        assert_problem(response, 404)
    assert await levels(zc_runtime) == before_levels and await pools(zc_runtime) == before_pools
    assert (await zc_client.get(f"{API}/brands/tea-house/pools")).status_code == 401
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(StockLocation.name).where(StockLocation.name == "mine now"))).first() is None


async def test_stock_routes_are_in_the_openapi_schema(zc_client):
    paths = set((await zc_client.get("/schema/openapi.json")).json()["paths"])
    assert {f"{API}/brands/{{slug}}/locations", f"{API}/brands/{{slug}}/pools", f"{API}/pools/{{pool_id}}/release", f"{API}/variants/{{variant_id}}/pools"} <= paths

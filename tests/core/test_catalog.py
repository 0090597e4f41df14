"""Catalogue: products, variants, prices, categories, media, shipping and tax, over real HTTP.

Brand staff manage their own brand's products by id; another brand's ids answer 404.
The public API shows active products only.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import event, select

from core.auth.permissions import Actor
from core.catalog import media as media_service
from core.catalog import service
from core.catalog.models import Product, ProductMedia
from core.errors import ValidationFailed
from core.testing import api_token

API = "/api/v1"


def assert_problem(response, status: int | tuple[int, ...]) -> dict:
    statuses = status if isinstance(status, tuple) else (status,)
    assert response.status_code in statuses, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers["content-type"]
    body = response.json()
    assert body["status"] == response.status_code
    for key in ("title", "type", "detail"):
        assert isinstance(body[key], str) and body[key], body
    return body


def png_bytes(width: int = 1200, height: int = 600, colour: tuple[int, int, int] = (200, 40, 90), fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(out, fmt)
    return out.getvalue()


async def brand_staff(zc_client, zc_make_user, brand: str = "camellia", role: str = "owner") -> dict[str, str]:
    user = await zc_make_user(brand=(brand, role))
    return await api_token(zc_client, user.email)


async def make_product(client, headers, brand: str = "camellia", slug: str = "repair-cream", **extra) -> dict:
    body = {"slug": slug, "title": "山茶花面霜 Repair Cream", "option_names": ["volume"], **extra}
    response = await client.post(f"{API}/brands/{brand}/products", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def make_variant(client, headers, product_id: int, sku: str, options: dict | None = None, **extra) -> dict:
    response = await client.post(f"{API}/products/{product_id}/variants", json={"sku": sku, "options": options or {}, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def set_price(client, headers, variant_id: int, amount: object, currency: str = "CNY", compare_at: object = None):
    return await client.put(f"{API}/variants/{variant_id}/prices/{currency}", json={"amount_minor": amount, "compare_at_minor": compare_at}, headers=headers)


async def set_status(client, headers, product_id: int, status: str):
    return await client.post(f"{API}/products/{product_id}/status", json={"status": status}, headers=headers)


async def active_product(client, headers, brand: str = "camellia", slug: str = "repair-cream", **extra) -> dict:
    product = await make_product(client, headers, brand, slug, **extra)
    options = {name: "30ml" for name in product["option_names"]}
    variant = await make_variant(client, headers, product["id"], f"{slug.upper()}-1", options)
    assert (await set_price(client, headers, variant["id"], 16800, compare_at=19800)).status_code == 200
    response = await set_status(client, headers, product["id"], "active")
    assert response.status_code == 200, response.text
    return response.json()


def public_slugs(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [p["slug"] for p in response.json()["items"]]


# ---------------------------------------------------------------- the product life cycle


async def test_product_life_cycle_and_public_detail(zc_client, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await make_product(zc_client, headers, description="修护 Repair", tags=[" #Night Care ", "night care", "面霜"])
    assert product["status"] == "draft"
    assert product["tags"] == ["night care", "面霜"]
    assert product["brand"] == {"slug": "camellia", "name": "Camellia"}

    # a draft is invisible to the public
    assert_problem(await zc_client.get(f"{API}/products/repair-cream"), 404)
    assert public_slugs(await zc_client.get(f"{API}/products")) == []
    # and cannot go active without a priced, active variant
    assert_problem(await set_status(zc_client, headers, product["id"], "active"), 422)

    small = await make_variant(zc_client, headers, product["id"], "CS-CREAM-30", {"volume": "30ml"}, weight_grams=120)
    large = await make_variant(zc_client, headers, product["id"], "CS-CREAM-50", {"volume": "50ml"}, weight_grams=170)
    assert (small["position"], large["position"]) == (0, 1)
    assert_problem(await set_status(zc_client, headers, product["id"], "active"), 422)  # no price yet
    priced = await set_price(zc_client, headers, small["id"], 16800, compare_at=19800)
    assert priced.status_code == 200, priced.text
    assert priced.json()["prices"] == {"CNY": {"amount_minor": 16800, "compare_at_minor": 19800}}
    assert (await set_price(zc_client, headers, large["id"], 25800)).status_code == 200
    assert (await set_price(zc_client, headers, large["id"], 3600, currency="usd")).status_code == 200

    response = await set_status(zc_client, headers, product["id"], "active")
    assert response.status_code == 200 and response.json()["status"] == "active"

    detail = await zc_client.get(f"{API}/products/repair-cream")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["title"] == "山茶花面霜 Repair Cream" and body["description"] == "修护 Repair"
    assert body["brand"] == {"slug": "camellia", "name": "Camellia"}
    assert body["option_names"] == ["volume"]
    assert [(v["sku"], v["options"], v["weight_grams"]) for v in body["variants"]] == [
        ("CS-CREAM-30", {"volume": "30ml"}, 120),
        ("CS-CREAM-50", {"volume": "50ml"}, 170),
    ]
    assert body["variants"][1]["prices"] == {"CNY": {"amount_minor": 25800, "compare_at_minor": None}, "USD": {"amount_minor": 3600, "compare_at_minor": None}}

    # a deactivated variant leaves the public page, but not the brand's own view
    off = await zc_client.patch(f"{API}/variants/{large['id']}", json={"is_active": False}, headers=headers)
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert [v["sku"] for v in (await zc_client.get(f"{API}/products/repair-cream")).json()["variants"]] == ["CS-CREAM-30"]
    own = (await zc_client.get(f"{API}/brands/camellia/products", headers=headers)).json()["items"]
    assert [v["sku"] for v in own[0]["variants"]] == ["CS-CREAM-30", "CS-CREAM-50"]

    # list card: first image (none yet) and the lowest price per currency
    card = (await zc_client.get(f"{API}/products")).json()["items"][0]
    assert card["slug"] == "repair-cream" and card["image"] is None
    assert card["price_from"] == {"CNY": {"amount_minor": 16800, "compare_at_minor": 19800}}

    # edit: title, description, tags, clearing nothing that was not sent
    patched = await zc_client.patch(f"{API}/products/{product['id']}", json={"title": "修护面霜", "tags": ["A", "b"]}, headers=headers)
    assert patched.status_code == 200, patched.text
    assert patched.json()["title"] == "修护面霜" and patched.json()["tags"] == ["a", "b"] and patched.json()["description"] == "修护 Repair"


async def test_status_transitions_and_archive_hides(zc_client, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await active_product(zc_client, headers)
    pid = product["id"]
    assert public_slugs(await zc_client.get(f"{API}/products")) == ["repair-cream"]

    assert_problem(await set_status(zc_client, headers, pid, "draft"), 409)  # active -> draft: archive instead
    assert (await set_status(zc_client, headers, pid, "archived")).json()["status"] == "archived"
    assert_problem(await zc_client.get(f"{API}/products/repair-cream"), 404)
    assert public_slugs(await zc_client.get(f"{API}/products")) == []
    assert_problem(await set_status(zc_client, headers, pid, "active"), 409)  # archived -> active: via draft
    assert (await set_status(zc_client, headers, pid, "archived")).status_code == 200  # same status: no-op
    assert (await set_status(zc_client, headers, pid, "draft")).json()["status"] == "draft"
    assert (await set_status(zc_client, headers, pid, "active")).json()["status"] == "active"
    assert public_slugs(await zc_client.get(f"{API}/products")) == ["repair-cream"]
    assert_problem(await set_status(zc_client, headers, pid, "deleted"), 400)

    # the brand's management list shows every status and filters by one
    draft = await make_product(zc_client, headers, slug="night-mask")
    everything = await zc_client.get(f"{API}/brands/camellia/products", headers=headers)
    assert [(p["slug"], p["status"]) for p in everything.json()["items"]] == [("night-mask", "draft"), ("repair-cream", "active")]
    drafts = await zc_client.get(f"{API}/brands/camellia/products?status=draft", headers=headers)
    assert [p["id"] for p in drafts.json()["items"]] == [draft["id"]]
    assert_problem(await zc_client.get(f"{API}/brands/camellia/products?status=gone", headers=headers), 400)


# ---------------------------------------------------------------- ownership


async def test_other_brands_products_are_not_found(zc_client, zc_make_user):
    owner = await brand_staff(zc_client, zc_make_user, "camellia")
    product = await active_product(zc_client, owner)
    pid, vid = product["id"], product["variants"][0]["id"]
    upload = await zc_client.post(f"{API}/products/{pid}/media", files={"file": ("a.png", png_bytes(), "image/png")}, headers=owner)
    assert upload.status_code == 201, upload.text
    mid = upload.json()["id"]

    rival = await brand_staff(zc_client, zc_make_user, "north-trail")
    shopper = await api_token(zc_client, (await zc_make_user()).email)
    staff = await api_token(zc_client, (await zc_make_user(staff=True)).email)
    for who in (rival, shopper, staff):  # platform staff do not act as a brand either
        assert_problem(await zc_client.patch(f"{API}/products/{pid}", json={"title": "mine"}, headers=who), 404)
        assert_problem(await set_status(zc_client, who, pid, "archived"), 404)
        assert_problem(await zc_client.post(f"{API}/products/{pid}/variants", json={"sku": "X-1", "options": {"volume": "1l"}}, headers=who), 404)
        assert_problem(await zc_client.patch(f"{API}/variants/{vid}", json={"weight_grams": 1}, headers=who), 404)
        assert_problem(await set_price(zc_client, who, vid, 1), 404)
        assert_problem(await zc_client.delete(f"{API}/variants/{vid}/prices/CNY", headers=who), 404)
        assert_problem(await zc_client.post(f"{API}/products/{pid}/media", files={"file": ("a.png", png_bytes(40, 40), "image/png")}, headers=who), 404)
        assert_problem(await zc_client.delete(f"{API}/media/{mid}", headers=who), 404)
        # brand-level management: the brand is public, so "forbidden" leaks nothing
        assert_problem(await zc_client.post(f"{API}/brands/camellia/products", json={"slug": "fake", "title": "Fake"}, headers=who), 403)
        assert_problem(await zc_client.get(f"{API}/brands/camellia/products", headers=who), 403)
        assert_problem(await zc_client.put(f"{API}/brands/camellia/shipping-rates/CNY", json={"amount_minor": 0}, headers=who), 403)
    # without a token: 401; an id that is nowhere: 404, huge ids too
    assert_problem(await zc_client.patch(f"{API}/products/{pid}", json={"title": "x"}), 401)
    assert_problem(await zc_client.post(f"{API}/brands/camellia/products", json={"slug": "x", "title": "X"}), 401)
    assert_problem(await zc_client.patch(f"{API}/products/999999", json={"title": "x"}, headers=owner), 404)
    assert_problem(await zc_client.patch(f"{API}/products/{10**30}", json={"title": "x"}, headers=owner), (400, 404))
    assert_problem(await zc_client.patch(f"{API}/variants/{2**63}", json={"weight_grams": 1}, headers=owner), (400, 404))

    # nothing changed
    detail = (await zc_client.get(f"{API}/products/repair-cream")).json()
    assert detail["title"] == "山茶花面霜 Repair Cream" and detail["status"] == "active" and len(detail["media"]) == 1
    assert detail["variants"][0]["prices"]["CNY"]["amount_minor"] == 16800


async def test_service_ownership_uses_brand_membership():
    from core.errors import NotFound

    class NoSession:
        async def get(self, model, ident, **kw):  # noqa: ANN001, ANN003
            return Product(id=ident, brand_id=2, slug="x", title="x", status="draft")

    actor = Actor(user_id=1, email="a@example.com", display_name="A", locale="en", roles=frozenset({"staff"}), brand_roles={1: "owner"})
    with pytest.raises(NotFound):
        await service.get_owned_product(NoSession(), actor, 5)  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await service.get_owned_product(NoSession(), actor, True)  # type: ignore[arg-type]


# ---------------------------------------------------------------- validation


async def test_slug_and_sku_conflicts(zc_client, zc_make_user):
    camellia = await brand_staff(zc_client, zc_make_user, "camellia")
    north = await brand_staff(zc_client, zc_make_user, "north-trail")
    first = await make_product(zc_client, camellia, slug="cream")
    second = await make_product(zc_client, camellia, slug="balm")
    # product slugs are unique across brands
    assert_problem(await zc_client.post(f"{API}/brands/north-trail/products", json={"slug": "cream", "title": "T"}, headers=north), 409)
    assert_problem(await zc_client.patch(f"{API}/products/{second['id']}", json={"slug": "cream"}, headers=camellia), 409)
    assert (await zc_client.patch(f"{API}/products/{first['id']}", json={"slug": "cream"}, headers=camellia)).status_code == 200
    for bad in ("Cream", "-cream", "cream-", "cr eam", "crème", "a" * 121):
        assert_problem(await zc_client.post(f"{API}/brands/camellia/products", json={"slug": bad, "title": "T"}, headers=camellia), (400, 422))
    assert_problem(await zc_client.post(f"{API}/brands/camellia/products", json={"slug": "ok", "title": "   "}, headers=camellia), 422)
    assert_problem(await zc_client.post(f"{API}/brands/camellia/products", json={"slug": "ok", "title": "T\x00"}, headers=camellia), 422)
    assert_problem(await zc_client.post(f"{API}/brands/camellia/products", json={"slug": "ok", "title": "T", "status": "active"}, headers=camellia), 400)
    assert_problem(await zc_client.post(f"{API}/brands/no-such-brand/products", json={"slug": "ok", "title": "T"}, headers=camellia), 404)

    await make_variant(zc_client, camellia, first["id"], "SKU-1", {"volume": "30ml"})
    # SKUs are unique everywhere
    assert_problem(await zc_client.post(f"{API}/products/{second['id']}/variants", json={"sku": "SKU-1", "options": {"volume": "1"}}, headers=camellia), 409)
    other = await make_variant(zc_client, camellia, second["id"], "SKU-2", {"volume": "1"})
    assert_problem(await zc_client.patch(f"{API}/variants/{other['id']}", json={"sku": "SKU-1"}, headers=camellia), 409)
    for bad in ("has space", "sku/slash", "中文", "a" * 65, ""):
        response = await zc_client.post(f"{API}/products/{second['id']}/variants", json={"sku": bad, "options": {"volume": "9"}}, headers=camellia)
        assert_problem(response, (400, 422))
    assert (await zc_client.post(f"{API}/products/{second['id']}/variants", json={"sku": "Ok_1.2-x", "options": {"volume": "9"}}, headers=camellia)).status_code == 201


async def test_variant_options_must_match_the_product(zc_client, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await make_product(zc_client, headers, slug="jacket", option_names=["colour", "size"])
    pid = product["id"]
    url = f"{API}/products/{pid}/variants"
    await make_variant(zc_client, headers, pid, "J-BLK-M", {"colour": "Black", "size": "M"})
    for options in ({"colour": "Black"}, {"colour": "Black", "size": "M", "fit": "slim"}, {}, {"colour": "Black", "size": ""}, {"colour": "Black", "size": "  "}):
        assert_problem(await zc_client.post(url, json={"sku": "J-X", "options": options}, headers=headers), 422)
    # the same combination again (whatever the case or spacing) is a conflict
    assert_problem(await zc_client.post(url, json={"sku": "J-DUP", "options": {"size": "m ", "colour": "black"}}, headers=headers), 409)
    blue = await make_variant(zc_client, headers, pid, "J-BLU-M", {"size": "M", "colour": "Blue"})
    assert list(blue["options"]) == ["colour", "size"]  # stored in the product's option order
    assert_problem(await zc_client.patch(f"{API}/variants/{blue['id']}", json={"options": {"colour": "Black", "size": "M"}}, headers=headers), 409)
    moved = await zc_client.patch(f"{API}/variants/{blue['id']}", json={"options": {"colour": "Blue", "size": "L"}}, headers=headers)
    assert moved.status_code == 200 and moved.json()["options"] == {"colour": "Blue", "size": "L"}
    # weight
    assert_problem(await zc_client.post(url, json={"sku": "J-W", "options": {"colour": "Red", "size": "M"}, "weight_grams": -1}, headers=headers), 400)
    assert_problem(await zc_client.post(url, json={"sku": "J-W", "options": {"colour": "Red", "size": "M"}, "weight_grams": 1.5}, headers=headers), 400)
    # JSON types are taken as they are: no "5" for 5, no 1 for true
    assert_problem(await zc_client.post(url, json={"sku": "J-S", "options": {"colour": "Red", "size": "M"}, "weight_grams": "5"}, headers=headers), 400)
    assert_problem(await zc_client.patch(f"{API}/variants/{blue['id']}", json={"is_active": 1}, headers=headers), 400)
    assert_problem(await zc_client.patch(f"{API}/variants/{blue['id']}", json={"weight_grams": 2.0}, headers=headers), 400)
    assert_problem(await zc_client.post(url, json={"sku": "J-O", "options": {"colour": "Red", "size": 5}}, headers=headers), 400)
    # option names are fixed once there are variants
    assert_problem(await zc_client.patch(f"{API}/products/{pid}", json={"option_names": ["colour"]}, headers=headers), 409)
    assert (await zc_client.patch(f"{API}/products/{pid}", json={"option_names": ["colour", "size"]}, headers=headers)).status_code == 200
    for names in (["colour", "Colour"], ["a", "b", "c", "d"], [""]):
        assert_problem(await zc_client.post(f"{API}/brands/camellia/products", json={"slug": "p2", "title": "T", "option_names": names}, headers=headers), 422)

    # a product without options has exactly one variant
    plain = await make_product(zc_client, headers, slug="plain", option_names=[])
    await make_variant(zc_client, headers, plain["id"], "PLAIN-1")
    assert_problem(await zc_client.post(f"{API}/products/{plain['id']}/variants", json={"sku": "PLAIN-2"}, headers=headers), 409)
    assert_problem(await zc_client.post(f"{API}/products/{plain['id']}/variants", json={"sku": "PLAIN-3", "options": {"size": "M"}}, headers=headers), 422)


async def test_tags_are_normalised_and_bounded(zc_client, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await make_product(zc_client, headers, tags=["  Hiking  Gear ", "#hiking gear", "冷泡茶", "UPPER"])
    assert product["tags"] == ["hiking gear", "冷泡茶", "upper"]
    url = f"{API}/products/{product['id']}"
    assert_problem(await zc_client.patch(url, json={"tags": [f"t{i}" for i in range(21)]}, headers=headers), 422)
    assert (await zc_client.patch(url, json={"tags": [f"t{i}" for i in range(20)] + ["t1"]}, headers=headers)).status_code == 200
    assert_problem(await zc_client.patch(url, json={"tags": ["x" * 33]}, headers=headers), 422)
    assert_problem(await zc_client.patch(url, json={"tags": ["#"]}, headers=headers), 422)
    assert_problem(await zc_client.patch(url, json={"tags": [1]}, headers=headers), 400)
    for bad in (["a\x00b"], ["a\tb"], "gift", [None]):
        with pytest.raises(ValidationFailed):
            service.normalise_tags(bad)


async def test_price_validation(zc_client, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await make_product(zc_client, headers)
    variant = await make_variant(zc_client, headers, product["id"], "P-1", {"volume": "30ml"})
    vid = variant["id"]
    for amount in (12.5, 100.0, True, False, "100", None, -1, 10**16, [100], {"amount": 1}):
        body = assert_problem(await set_price(zc_client, headers, vid, amount), (400, 422))
        assert body["status"] in (400, 422)
    for currency in ("XXX", "ZZZ", "CN", "CNYY", "12$", "€€€"):
        assert_problem(await set_price(zc_client, headers, vid, 100, currency=currency), (400, 404, 422))
    assert_problem(await set_price(zc_client, headers, vid, 100, compare_at=100), 422)  # compare-at must be higher
    assert_problem(await set_price(zc_client, headers, vid, 100, compare_at=99), 422)
    assert_problem(await set_price(zc_client, headers, vid, 100, compare_at=100.5), 400)
    assert_problem(await zc_client.put(f"{API}/variants/{vid}/prices/CNY", json={"amount_minor": 1, "currency": "USD"}, headers=headers), 400)
    ok = await set_price(zc_client, headers, vid, 0, currency="jpy", compare_at=1)
    assert ok.status_code == 200 and ok.json()["prices"] == {"JPY": {"amount_minor": 0, "compare_at_minor": 1}}
    replaced = await set_price(zc_client, headers, vid, 500, currency="JPY")
    assert replaced.json()["prices"]["JPY"] == {"amount_minor": 500, "compare_at_minor": None}
    assert (await zc_client.delete(f"{API}/variants/{vid}/prices/JPY", headers=headers)).status_code == 204
    assert_problem(await zc_client.delete(f"{API}/variants/{vid}/prices/JPY", headers=headers), 404)
    # prices only through the price endpoint: a variant body carrying prices is refused
    assert_problem(await zc_client.post(f"{API}/products/{product['id']}/variants", json={"sku": "P-2", "options": {"volume": "5"}, "prices": {"CNY": 1}}, headers=headers), 400)


async def test_service_refuses_floats_and_bools_for_money(zc_runtime, zc_make_user):
    user = await zc_make_user(brand=("camellia", "owner"))
    from core.auth.service import load_actor

    async with zc_runtime.db.session() as session:
        actor = await load_actor(session, user.id, user.auth_epoch)
        [(bid, _role)] = actor.brand_roles.items()
        product = await service.create_product(session, actor, bid, slug="p", title="P", option_names=[])
        variant = await service.create_variant(session, actor, product.id, sku="P-1")
        for amount in (1.0, True, "1", None):
            with pytest.raises(ValidationFailed):
                await service.set_variant_price(session, actor, variant.id, "CNY", amount)  # type: ignore[arg-type]
        with pytest.raises(ValidationFailed):
            await service.set_variant_price(session, actor, variant.id, "CNY", 100, compare_at_minor=50)
        with pytest.raises(ValidationFailed):
            await service.set_variant_price(session, actor, variant.id, "ABC", 100)
        price = await service.set_variant_price(session, actor, variant.id, "cny", 100, 150)
        assert (price.currency, price.amount_minor, price.compare_at_minor) == ("CNY", 100, 150)
        await session.rollback()


# ---------------------------------------------------------------- categories


async def test_category_tree_and_cycles(zc_client, zc_make_user):
    staff = await api_token(zc_client, (await zc_make_user(staff=True)).email)
    brand = await brand_staff(zc_client, zc_make_user)
    url = f"{API}/categories"
    assert_problem(await zc_client.post(url, json={"slug": "beauty", "name": "美妆 Beauty"}, headers=brand), 403)
    assert_problem(await zc_client.post(url, json={"slug": "beauty", "name": "美妆 Beauty"}), 401)

    async def create(slug: str, name: str, parent: int | None = None, position: int = 0) -> dict:
        response = await zc_client.post(url, json={"slug": slug, "name": name, "parent_id": parent, "position": position}, headers=staff)
        assert response.status_code == 201, response.text
        return response.json()

    beauty = await create("beauty", "美妆护肤 Beauty")
    creams = await create("creams", "面霜 Creams", beauty["id"])
    night = await create("night-creams", "晚霜 Night", creams["id"])
    tea = await create("tea", "茶 Tea", position=2)
    outdoor = await create("outdoor", "户外 Outdoor", position=1)
    assert_problem(await zc_client.post(url, json={"slug": "creams", "name": "dup"}, headers=staff), 409)
    assert_problem(await zc_client.post(url, json={"slug": "Bad Slug", "name": "x"}, headers=staff), 422)
    assert_problem(await zc_client.post(url, json={"slug": "orphan", "name": "x", "parent_id": 999999}, headers=staff), 422)

    tree = (await zc_client.get(url)).json()
    assert [n["slug"] for n in tree] == ["beauty", "outdoor", "tea"]
    assert tree[0]["children"][0]["slug"] == "creams" and tree[0]["children"][0]["children"][0]["slug"] == "night-creams"
    assert tree[0]["children"][0]["children"][0]["children"] == []

    # no cycles: not under itself, not under a descendant
    patch_url = f"{url}/{beauty['id']}"
    assert_problem(await zc_client.patch(patch_url, json={"parent_id": beauty["id"]}, headers=staff), 422)
    assert_problem(await zc_client.patch(patch_url, json={"parent_id": night["id"]}, headers=staff), 422)
    assert_problem(await zc_client.patch(f"{url}/{creams['id']}", json={"parent_id": night["id"]}, headers=staff), 422)
    assert_problem(await zc_client.patch(patch_url, json={"parent_id": outdoor["id"]}, headers=brand), 403)
    assert_problem(await zc_client.patch(f"{url}/999999", json={"name": "x"}, headers=staff), 404)
    # a legal move, and back to the root
    moved = await zc_client.patch(f"{url}/{creams['id']}", json={"parent_id": tea["id"], "name": "Creams!"}, headers=staff)
    assert moved.status_code == 200 and moved.json()["parent_id"] == tea["id"]
    tree = (await zc_client.get(url)).json()
    assert tree[0]["children"] == [] and tree[2]["children"][0]["name"] == "Creams!"
    assert (await zc_client.patch(f"{url}/{creams['id']}", json={"parent_id": None}, headers=staff)).json()["parent_id"] is None
    assert [n["slug"] for n in (await zc_client.get(url)).json()] == ["creams", "beauty", "outdoor", "tea"]

    # products: unknown category refused, null clears it
    product = await make_product(zc_client, brand, category_id=creams["id"])
    assert product["category"] == {"id": creams["id"], "slug": "creams", "name": "Creams!"}
    assert_problem(await zc_client.patch(f"{API}/products/{product['id']}", json={"category_id": 999999}, headers=brand), 422)
    cleared = await zc_client.patch(f"{API}/products/{product['id']}", json={"category_id": None}, headers=brand)
    assert cleared.json()["category"] is None


async def test_category_depth_is_bounded(zc_runtime, zc_make_user):
    staff_user = await zc_make_user(staff=True)
    actor = Actor(user_id=staff_user.id, email=staff_user.email, display_name="s", locale="en", roles=frozenset({"staff"}))
    async with zc_runtime.db.session() as session:
        parent = None
        for depth in range(service.MAX_CATEGORY_DEPTH):
            parent = await service.create_category(session, actor, slug=f"c{depth}", name=f"C{depth}", parent_id=parent.id if parent else None)
        assert parent is not None
        with pytest.raises(ValidationFailed):
            await service.create_category(session, actor, slug="too-deep", name="x", parent_id=parent.id)
        await session.rollback()


# ---------------------------------------------------------------- public list


async def test_product_list_filters_and_pagination(zc_client, zc_make_user):
    staff = await api_token(zc_client, (await zc_make_user(staff=True)).email)
    beauty = (await zc_client.post(f"{API}/categories", json={"slug": "beauty", "name": "Beauty"}, headers=staff)).json()
    creams = (await zc_client.post(f"{API}/categories", json={"slug": "creams", "name": "Creams", "parent_id": beauty["id"]}, headers=staff)).json()
    tea = (await zc_client.post(f"{API}/categories", json={"slug": "tea", "name": "Tea"}, headers=staff)).json()
    camellia = await brand_staff(zc_client, zc_make_user, "camellia")
    ritual = await brand_staff(zc_client, zc_make_user, "tea-ritual")
    await active_product(zc_client, camellia, "camellia", "cream-a", category_id=creams["id"], tags=["Gift", "face"])
    await active_product(zc_client, camellia, "camellia", "oil-b", category_id=beauty["id"], tags=["face"])
    await active_product(zc_client, ritual, "tea-ritual", "oolong-c", category_id=tea["id"], tags=["gift", "冷泡茶"])
    await active_product(zc_client, ritual, "tea-ritual", "pot-d", category_id=tea["id"])
    await make_product(zc_client, ritual, "tea-ritual", "draft-e", category_id=tea["id"], tags=["gift"])

    get = zc_client.get
    assert public_slugs(await get(f"{API}/products")) == ["pot-d", "oolong-c", "oil-b", "cream-a"]
    assert public_slugs(await get(f"{API}/products?brand=camellia")) == ["oil-b", "cream-a"]
    assert public_slugs(await get(f"{API}/products?category=beauty")) == ["oil-b", "cream-a"]  # subcategories included
    assert public_slugs(await get(f"{API}/products?category=creams")) == ["cream-a"]
    assert public_slugs(await get(f"{API}/products?tag=gift")) == ["oolong-c", "cream-a"]
    assert public_slugs(await get(f"{API}/products?tag=%23Gift")) == ["oolong-c", "cream-a"]
    assert public_slugs(await get(f"{API}/products?tag=冷泡茶")) == ["oolong-c"]
    assert public_slugs(await get(f"{API}/products?tag=gift&brand=tea-ritual&category=tea")) == ["oolong-c"]
    for nothing in ("brand=nobody", "category=nowhere", "tag=nothing", "tag=%00", "brand=a%00b"):
        assert public_slugs(await get(f"{API}/products?{nothing}")) == [], nothing
    page1 = await get(f"{API}/products?limit=3")
    page2 = await get(f"{API}/products?limit=3&offset=3")
    assert public_slugs(page1) == ["pot-d", "oolong-c", "oil-b"] and public_slugs(page2) == ["cream-a"]
    assert page2.json()["limit"] == 3 and page2.json()["offset"] == 3
    for query in ("limit=0", "limit=101", "offset=-1", "limit=x", "tag=" + "x" * 200):
        assert_problem(await get(f"{API}/products?{query}"), 400)
    # the draft stays hidden everywhere public
    assert_problem(await get(f"{API}/products/draft-e"), 404)
    assert_problem(await get(f"{API}/products/a%00b"), 404)


async def test_public_reads_use_a_fixed_number_of_queries(zc_client, zc_runtime, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    for i in range(6):
        await active_product(zc_client, headers, slug=f"p{i}")
    statements: list[str] = []

    def count(conn, cursor, statement, *args):  # noqa: ANN001, ANN002
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = zc_runtime.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        assert len(public_slugs(await zc_client.get(f"{API}/products?limit=6"))) == 6
        listed = len(statements)
        statements.clear()
        assert (await zc_client.get(f"{API}/products/p3")).status_code == 200
        detail = len(statements)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert listed <= 3, listed  # products+brand+category, variants+prices, media
    assert detail <= 3, detail


# ---------------------------------------------------------------- media


async def test_media_upload_resizes_and_records_sizes(zc_client, zc_runtime, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await active_product(zc_client, headers)
    pid = product["id"]
    response = await zc_client.post(
        f"{API}/products/{pid}/media", files={"file": ("cream.png", png_bytes(1200, 600), "image/png")}, data={"alt": "面霜 jar"}, headers=headers
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["content_type"], body["width"], body["height"], body["alt"], body["position"]) == ("image/png", 1200, 600, "面霜 jar", 0)
    assert re.fullmatch(rf"/media/products/{pid}/[0-9a-f]{{32}}\.png", body["url"]), body["url"]
    assert set(body["sizes"]) == {"320", "960"}
    assert (body["sizes"]["320"]["width"], body["sizes"]["320"]["height"]) == (320, 160)
    assert (body["sizes"]["960"]["width"], body["sizes"]["960"]["height"]) == (960, 480)

    media_dir: Path = zc_runtime.settings.media_dir
    original = media_dir / body["url"].removeprefix("/media/")
    with Image.open(original) as img:
        assert img.format == "PNG" and img.size == (1200, 600)
    for name, size in body["sizes"].items():
        assert re.fullmatch(rf"/media/products/{pid}/[0-9a-f]{{32}}-{name}\.webp", size["url"]), size["url"]
        with Image.open(media_dir / size["url"].removeprefix("/media/")) as img:
            assert img.format == "WEBP" and img.size == (size["width"], size["height"])

    # a small JPEG: never upscaled; positions count up; the public page lists both
    small = await zc_client.post(f"{API}/products/{pid}/media", files={"file": ("s.jpg", png_bytes(200, 300, fmt="JPEG"), "image/jpeg")}, headers=headers)
    assert small.status_code == 201, small.text
    small_body = small.json()
    assert small_body["content_type"] == "image/jpeg" and small_body["url"].endswith(".jpg") and small_body["position"] == 1
    assert {n: (s["width"], s["height"]) for n, s in small_body["sizes"].items()} == {"320": (200, 300), "960": (200, 300)}
    public = (await zc_client.get(f"{API}/products/repair-cream")).json()
    assert [m["id"] for m in public["media"]] == [body["id"], small_body["id"]]
    assert public["media"][0]["sizes"]["320"]["url"] == body["sizes"]["320"]["url"]
    assert (await zc_client.get(f"{API}/products")).json()["items"][0]["image"]["id"] == body["id"]

    # delete: row and files go
    files = [original, *(media_dir / s["url"].removeprefix("/media/") for s in body["sizes"].values())]
    assert all(f.exists() for f in files)
    assert (await zc_client.delete(f"{API}/media/{body['id']}", headers=headers)).status_code == 204
    assert not any(f.exists() for f in files)
    assert [m["id"] for m in (await zc_client.get(f"{API}/products/repair-cream")).json()["media"]] == [small_body["id"]]
    assert_problem(await zc_client.delete(f"{API}/media/{body['id']}", headers=headers), 404)


async def test_media_strips_metadata_and_applies_orientation(zc_client, zc_runtime, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await make_product(zc_client, headers)
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise for display
    exif[0x010F] = "SecretCam"  # camera make
    out = io.BytesIO()
    Image.new("RGB", (400, 200), (10, 120, 200)).save(out, "JPEG", exif=exif)
    response = await zc_client.post(f"{API}/products/{product['id']}/media", files={"file": ("p.jpg", out.getvalue(), "image/jpeg")}, headers=headers)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["width"], body["height"]) == (200, 400)
    stored = (zc_runtime.settings.media_dir / body["url"].removeprefix("/media/")).read_bytes()
    assert b"SecretCam" not in stored
    with Image.open(io.BytesIO(stored)) as img:
        assert img.size == (200, 400) and 0x0112 not in img.getexif()


async def test_media_rejects_what_is_not_an_image(zc_client, zc_runtime, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await make_product(zc_client, headers)
    url = f"{API}/products/{product['id']}/media"
    folder = zc_runtime.settings.media_dir / "products" / str(product["id"])
    files_before = set(folder.rglob("*")) if folder.exists() else set()  # ids may repeat across tests
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    bmp = io.BytesIO()
    Image.new("RGB", (10, 10)).save(bmp, "BMP")
    truncated = png_bytes(300, 300)[:-200]
    bad = {
        "text": (b"hello, not an image", "text/plain"),
        "html as png": (b"<html><script>alert(1)</script></html>", "image/png"),
        "truncated png": (truncated, "image/png"),
        "gif": (gif.getvalue(), "image/gif"),
        "bmp": (bmp.getvalue(), "image/bmp"),
        "empty": (b"", "image/png"),
        "png header only": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image/png"),
    }
    for label, (data, content_type) in bad.items():
        response = await zc_client.post(url, files={"file": ("x.png", data, content_type)}, headers=headers)
        assert_problem(response, 422)
        assert response.status_code == 422, label
    # not multipart, or no file field
    assert_problem(await zc_client.post(url, json={"file": "x"}, headers=headers), (400, 415))
    assert_problem(await zc_client.post(url, data={"alt": "no file"}, headers=headers), 400)
    async with zc_runtime.db.session() as session:
        assert (await session.execute(select(ProductMedia))).first() is None
    assert (set(folder.rglob("*")) if folder.exists() else set()) == files_before


async def test_media_size_limits(zc_client, zc_make_user):
    headers = await brand_staff(zc_client, zc_make_user)
    product = await make_product(zc_client, headers)
    url = f"{API}/products/{product['id']}/media"
    # a valid PNG padded past 10 MB (within the route's body limit): refused by size
    padded = png_bytes(20, 20) + b"\x00" * (media_service.MAX_UPLOAD_BYTES + 100)
    assert len(padded) > media_service.MAX_UPLOAD_BYTES
    assert_problem(await zc_client.post(url, files={"file": ("big.png", padded, "image/png")}, headers=headers), 413)
    # a body past the route's limit: refused before it is parsed
    huge = b"\x00" * (media_service.MAX_UPLOAD_BYTES + 200 * 1024)
    assert_problem(await zc_client.post(url, files={"file": ("huge.png", huge, "image/png")}, headers=headers), 413)
    # the upload route's larger limit is its own: JSON routes keep the 1 MB limit
    assert_problem(await zc_client.patch(f"{API}/products/{product['id']}", json={"description": "x" * (1024 * 1024 + 10)}, headers=headers), 413)


def test_prepare_image_refuses_decompression_bombs():
    out = io.BytesIO()
    Image.new("1", (10_000, 5_000)).save(out, "PNG")  # 50 megapixels in a few KB
    assert len(out.getvalue()) < 100_000
    with pytest.raises(ValidationFailed):
        media_service.prepare_image(out.getvalue())


async def test_media_router_serves_the_media_folder(tmp_path):
    from litestar import Litestar
    from litestar.testing import AsyncTestClient

    from core.testing import make_test_settings

    settings = make_test_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    prepared = media_service.prepare_image(png_bytes(640, 640))
    media_service._write_files(settings.media_dir, {"products/7/abc.png": prepared.original, "products/7/abc-320.webp": prepared.sizes["320"][0]})
    (tmp_path / "secret.txt").write_text("outside the media folder")
    async with AsyncTestClient(app=Litestar(route_handlers=[media_service.media_router(settings)])) as client:
        response = await client.get("/media/products/7/abc-320.webp")
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "max-age=31536000" in response.headers["cache-control"]
        assert response.content == prepared.sizes["320"][0]
        assert (await client.get("/media/products/7/abc.png")).headers["content-type"] == "image/png"
        assert (await client.get("/media/products/7/missing.png")).status_code == 404
        assert (await client.get("/media/products/7/")).status_code == 404
        assert (await client.get("/media/../secret.txt")).status_code == 404
        assert (await client.get("/media/%2e%2e/secret.txt")).status_code == 404


# ---------------------------------------------------------------- shipping and tax


async def test_shipping_and_tax_rates(zc_client, zc_make_user):
    brand = await brand_staff(zc_client, zc_make_user, "north-trail")
    url = f"{API}/brands/north-trail/shipping-rates/cny"
    response = await zc_client.put(url, json={"amount_minor": 1000, "free_over_minor": 19900}, headers=brand)
    assert response.status_code == 200, response.text
    assert response.json() == {"currency": "CNY", "amount_minor": 1000, "free_over_minor": 19900}
    assert (await zc_client.put(url, json={"amount_minor": 800}, headers=brand)).json()["free_over_minor"] is None
    assert (await zc_client.get(f"{API}/brands/north-trail/shipping-rates")).json() == [{"currency": "CNY", "amount_minor": 800, "free_over_minor": None}]
    assert_problem(await zc_client.put(url, json={"amount_minor": 8.5}, headers=brand), 400)
    assert_problem(await zc_client.put(url, json={"amount_minor": -1}, headers=brand), 400)
    assert_problem(await zc_client.put(f"{API}/brands/north-trail/shipping-rates/XYZ", json={"amount_minor": 1}, headers=brand), 422)

    staff = await api_token(zc_client, (await zc_make_user(staff=True)).email)
    tax = f"{API}/tax-rates/cn"
    assert_problem(await zc_client.put(tax, json={"rate_percent": 13}, headers=brand), 403)
    assert_problem(await zc_client.put(tax, json={"rate_percent": 13}), 401)
    response = await zc_client.put(tax, json={"rate_percent": 13, "inclusive": True}, headers=staff)
    assert response.status_code == 200 and response.json() == {"region": "CN", "rate_percent": "13", "inclusive": True}
    assert (await zc_client.put(f"{API}/tax-rates/US-CA", json={"rate_percent": "7.25", "inclusive": False}, headers=staff)).status_code == 200
    assert (await zc_client.put(f"{API}/tax-rates/US-NY", json={"rate_percent": 8.875, "inclusive": False}, headers=staff)).json()["rate_percent"] == "8.875"
    assert (await zc_client.put(tax, json={"rate_percent": "9.0"}, headers=staff)).json()["rate_percent"] == "9"
    assert (await zc_client.get(f"{API}/tax-rates")).json() == [
        {"region": "CN", "rate_percent": "9", "inclusive": True},
        {"region": "US-CA", "rate_percent": "7.25", "inclusive": False},
        {"region": "US-NY", "rate_percent": "8.875", "inclusive": False},
    ]
    for bad, status in (
        ({"rate_percent": 100.01}, 422), ({"rate_percent": -1}, 422), ({"rate_percent": "8.87501"}, 422), ({"rate_percent": "NaN"}, 422),
        ({"rate_percent": "abc"}, 400), ({"rate_percent": True}, 400), ({"rate_percent": None}, 400), ({"rate_percent": 1, "x": 1}, 400), ({"rate_bps": 1300}, 400),
    ):
        assert_problem(await zc_client.put(tax, json=bad, headers=staff), status)
    assert (await zc_client.get(f"{API}/tax-rates")).json()[0]["rate_percent"] == "9"  # nothing half-written
    for region in ("CHN", "C", "12", "US-TOOLONG"):
        assert_problem(await zc_client.put(f"{API}/tax-rates/{region}", json={"rate_percent": 1}, headers=staff), 422)


# ---------------------------------------------------------------- demo data and schema


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_demo_catalogue_is_seeded_once(zc_client, zc_runtime):
    from core.cli import seed

    await seed(zc_runtime)
    await seed(zc_runtime)  # idempotent
    async with zc_runtime.db.session() as session:
        products = list((await session.execute(select(Product))).scalars())
        media = list((await session.execute(select(ProductMedia))).scalars())
    assert len(products) == 10 and len({p.slug for p in products}) == 10
    assert len(media) == len(products)
    assert all((zc_runtime.settings.media_dir / m.path).exists() for m in media)
    listed = (await zc_client.get(f"{API}/products?limit=100")).json()["items"]
    assert {p["brand"]["slug"] for p in listed} == {"camellia-skin", "north-trail", "tea-ritual"}
    assert len(listed) == 9  # the night mask is a draft
    assert_problem(await zc_client.get(f"{API}/products/camellia-night-mask"), 404)
    cream = (await zc_client.get(f"{API}/products/camellia-repair-cream")).json()
    assert cream["category"]["slug"] == "creams" and cream["variants"][0]["prices"]["CNY"]["compare_at_minor"] == 19800
    assert public_slugs(await zc_client.get(f"{API}/products?category=beauty&limit=100")) == ["camellia-lip-balm", "camellia-cleansing-oil", "camellia-repair-cream"]
    tree = (await zc_client.get(f"{API}/categories")).json()
    assert [n["slug"] for n in tree] == ["beauty", "outdoor", "tea"] and tree[0]["children"][0]["slug"] == "creams"
    assert (await zc_client.get(f"{API}/brands/tea-ritual/shipping-rates")).json() == [{"currency": "CNY", "amount_minor": 1000, "free_over_minor": 19900}]
    assert (await zc_client.get(f"{API}/tax-rates")).json() == [{"region": "CN", "rate_percent": "13", "inclusive": True}]
    owner = await api_token(zc_client, "brand@demo.zhongcao.dev", "zhongcao-demo")
    mine = (await zc_client.get(f"{API}/brands/camellia-skin/products", headers=owner)).json()["items"]
    assert {p["slug"]: p["status"] for p in mine}["camellia-night-mask"] == "draft"


async def test_catalog_routes_are_in_the_openapi_schema(zc_client):
    paths = set((await zc_client.get("/schema/openapi.json")).json()["paths"])
    assert {
        "/api/v1/products", "/api/v1/products/{slug}", "/api/v1/products/{product_id}", "/api/v1/products/{product_id}/media",
        "/api/v1/variants/{variant_id}/prices/{currency}", "/api/v1/categories", "/api/v1/tax-rates/{region}",
        "/api/v1/brands/{slug}/products", "/api/v1/brands/{slug}/shipping-rates/{currency}", "/api/v1/media/{media_id}",
    } <= paths

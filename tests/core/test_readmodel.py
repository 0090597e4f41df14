"""The product read model: served from memory, invalidated by the commit that changes it."""

from __future__ import annotations

from sqlalchemy import update

from core.catalog.models import Product, VariantPrice


async def test_product_page_is_cached_and_read_your_writes(zc_client, zc_runtime, zc_make_product):
    variant = await zc_make_product("rm-brand", price=1000)
    async with zc_runtime.db.read_session() as s:
        slug = (await s.get(Product, variant.product_id)).slug
    rm = zc_runtime.read_models
    first = await zc_client.get(f"/api/v1/products/{slug}")
    assert first.status_code == 200 and first.headers["content-type"].startswith("application/json")
    hits = rm.hits
    second = await zc_client.get(f"/api/v1/products/{slug}")
    assert second.content == first.content and rm.hits == hits + 1

    # an ORM change and a bulk UPDATE both invalidate at commit
    async with zc_runtime.db.session() as s:
        await s.execute(update(VariantPrice).where(VariantPrice.variant_id == variant.id).values(amount_minor=1234))
        await s.commit()
    third = (await zc_client.get(f"/api/v1/products/{slug}")).json()
    assert third["variants"][0]["prices"]["CNY"]["amount_minor"] == 1234
    async with zc_runtime.db.session() as s:
        product = await s.get(Product, variant.product_id)
        product.title = "Renamed"
        await s.commit()
    assert (await zc_client.get(f"/api/v1/products/{slug}")).json()["title"] == "Renamed"

    # a rolled-back change invalidates nothing
    generation = rm.generation
    async with zc_runtime.db.session() as s:
        await s.execute(update(Product).where(Product.id == variant.product_id).values(title="Never"))
        await s.rollback()
    assert rm.generation == generation
    assert (await zc_client.get(f"/api/v1/products/{slug}")).json()["title"] == "Renamed"


async def test_archived_product_disappears_at_once(zc_client, zc_runtime, zc_make_product):
    variant = await zc_make_product("rm-brand-2")
    async with zc_runtime.db.read_session() as s:
        slug = (await s.get(Product, variant.product_id)).slug
    assert (await zc_client.get(f"/api/v1/products/{slug}")).status_code == 200
    async with zc_runtime.db.session() as s:
        await s.execute(update(Product).where(Product.id == variant.product_id).values(status="archived"))
        await s.commit()
    assert (await zc_client.get(f"/api/v1/products/{slug}")).status_code == 404


async def test_invalidation_reaches_other_processes_through_redis(zc_settings, zc_runtime):
    import asyncio
    import os

    import pytest

    from core.runtime import create_runtime

    url = os.environ.get("ZHONGCAO_TEST_REDIS_URL")
    if not url:
        pytest.skip("ZHONGCAO_TEST_REDIS_URL not set (scripts/test.sh sets it)")
    settings = zc_settings.model_copy(update={"redis_url": url})
    one, two = create_runtime(settings), create_runtime(settings)
    await one.start(worker=False, relay=False)
    await two.start(worker=False, relay=False)
    try:
        await asyncio.sleep(0.2)  # both subscribed
        before = two.read_models.generation
        one.read_models.invalidate()
        for _ in range(50):
            if two.read_models.generation > before:
                break
            await asyncio.sleep(0.05)
        assert two.read_models.generation == before + 1
        assert one.read_models.generation == 1  # its own broadcast is not applied twice
    finally:
        await one.stop()
        await two.stop()


async def test_availability_is_live(zc_client, zc_runtime, zc_make_product):
    from core.inventory import service as inventory

    variant = await zc_make_product("live-stock", stock=2)
    assert (await zc_client.get(f"/api/v1/variants/{variant.id}/availability")).json() == {"variant_id": variant.id, "available": 2, "in_stock": True}
    async with zc_runtime.db.session() as s:
        await inventory.reserve(s, variant_id=variant.id, quantity=2, order_line_id=None)
        await s.commit()
    assert (await zc_client.get(f"/api/v1/variants/{variant.id}/availability")).json()["in_stock"] is False
    assert (await zc_client.get("/api/v1/variants/999999/availability")).status_code == 404

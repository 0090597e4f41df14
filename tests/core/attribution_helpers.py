"""Shared set-up for the attribution and commission tests (and the hook contract tests):
campaigns and collaborations written as rows, purchases through the real API."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from core.campaigns.models import Campaign, CampaignProduct, Collaboration, CommissionRate
from core.catalog.models import Variant
from core.db import utcnow
from core.testing import ADDRESS

CARD = "4242 4242 4242 4242"


@dataclass
class Seeded:
    campaign_id: int
    collaboration_id: int
    brand_id: int
    campaign_product_ids: dict[int, int]  # product id -> campaign product id


async def seed_collaboration(
    runtime: Any, *, creator_id: int, variants: list[Any], status: str = "published", campaign_status: str = "open", kind: str = "percent",
    rate_ppm: int = 100_000, flat_minor: int = 0, new_buyer_rate_ppm: int | None = None, new_buyer_flat_minor: int | None = None,
    attribution_days: int = 30, attribution_model: str = "last", hold_days: int = 30, campaign_id: int | None = None,
    effective_from: datetime | None = None,
) -> Seeded:
    """A campaign of the variants' brand seeding their products (with one rate version
    each), and the creator's collaboration in it. With `campaign_id`, only the collaboration."""
    async with runtime.db.session() as session:
        product_ids = []
        brand_id = None
        for v in variants:
            variant = await session.get(Variant, v.id)
            product_ids.append(variant.product_id)
            from core.catalog.models import Product

            brand_id = (await session.get(Product, variant.product_id)).brand_id
        if campaign_id is None:
            campaign = Campaign(
                brand_id=brand_id, title=f"Seeding {uuid.uuid4().hex[:6]}", status=campaign_status, currency="CNY", attribution_days=attribution_days,
                attribution_model=attribution_model, hold_days=hold_days,
            )
            session.add(campaign)
            await session.flush()
            cps = {}
            for v, pid in zip(variants, product_ids, strict=True):
                cp = CampaignProduct(campaign_id=campaign.id, product_id=pid, sample_variant_id=v.id, sample_quantity=0)
                session.add(cp)
                await session.flush()
                cps[pid] = cp.id
                session.add(CommissionRate(
                    campaign_product_id=cp.id, effective_from=effective_from or utcnow() - timedelta(days=400), kind=kind, rate_ppm=rate_ppm, flat_minor=flat_minor,
                    new_buyer_rate_ppm=new_buyer_rate_ppm, new_buyer_flat_minor=new_buyer_flat_minor,
                ))  # fmt: skip
            campaign_id = campaign.id
        else:
            campaign = await session.get(Campaign, campaign_id)
            brand_id = campaign.brand_id
            cps = dict((await session.execute(select(CampaignProduct.product_id, CampaignProduct.id).where(CampaignProduct.campaign_id == campaign_id))).all())
        collab = Collaboration(campaign_id=campaign_id, creator_user_id=creator_id, status=status, origin="applied")
        session.add(collab)
        await session.commit()
        return Seeded(campaign_id, collab.id, brand_id, cps)


async def new_cart(client: Any, lines: list[tuple[int, int]], headers: dict[str, str] | None = None) -> str:
    r = await client.post("/api/v1/carts", json={}, headers=headers or {})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    for variant_id, quantity in lines:
        r = await client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": variant_id, "quantity": quantity}, headers=headers or {})
        assert r.status_code == 200, r.text
    return token


async def checkout_and_pay(client: Any, token: str, *, headers: dict[str, str] | None = None, email: str = "buyer@example.com", card: str = CARD) -> dict[str, Any]:
    r = await client.post(f"/api/v1/carts/{token}/checkout", json={"address": ADDRESS, "email": email}, headers=headers or {})
    assert r.status_code == 201, r.text
    checkout = r.json()
    r = await client.post(f"/api/v1/checkouts/{checkout['token']}/pay", json={"payment_method": card}, headers=headers or {})
    assert r.status_code == 200, r.text
    paid = r.json()
    assert paid["status"] == "paid", paid
    return paid


async def buy(
    client: Any, lines: list[tuple[int, int]], *, headers: dict[str, str] | None = None, email: str = "buyer@example.com", code: str | None = None,
    visitor: str | None = None, card: str = CARD,
) -> dict[str, Any]:
    """Cart, optional code and visitor id, checkout, sandbox payment: the paid checkout."""
    token = await new_cart(client, lines, headers)
    if code:
        r = await client.post(f"/api/v1/carts/{token}/codes", json={"code": code}, headers=headers or {})
        assert r.status_code == 200, r.text
    if visitor:
        r = await client.put(f"/api/v1/carts/{token}/visitor", json={"visitor_id": visitor}, headers=headers or {})
        assert r.status_code == 204, r.text
    return await checkout_and_pay(client, token, headers=headers, email=email, card=card)


async def click(client: Any, code: str, visitor: str) -> dict[str, Any]:
    r = await client.post(f"/api/v1/links/{code}/clicks", json={"visitor_id": visitor})
    assert r.status_code == 201, r.text
    return r.json()


async def settle(runtime: Any) -> None:
    """Let the outbox deliver what was committed (the handlers are idempotent), so a test
    that changes state next does not race a late `order.paid` handler."""
    for _ in range(3):
        await runtime.relay.relay_pending()
        await asyncio.to_thread(runtime.jobs.join)

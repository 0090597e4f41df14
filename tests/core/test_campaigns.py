"""Seeding campaigns: terms, validation, opening with samples set aside, rate versions,
the campaign's life, and who may see what."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core.campaigns import campaigns as service
from core.campaigns.models import CommissionRate
from core.db import utcnow
from core.events import OutboxEvent
from core.inventory import service as inventory
from core.inventory.models import StockPool
from core.testing import ADDRESS, api_token
from tests.core.test_api_conventions import assert_problem

API = "/api/v1"


async def brand_member(zc_client, zc_make_user, slug: str = "glow-lab", role: str = "owner") -> dict[str, str]:
    user = await zc_make_user(f"{role}-{slug}@example.com", brand=(slug, role))
    return await api_token(zc_client, user.email)


async def creator(zc_client, zc_make_user, handle: str, **profile) -> tuple[dict[str, str], int]:
    user = await zc_make_user(f"{handle.replace('.', '-')}@example.com", roles=("creator",))
    auth = await api_token(zc_client, user.email)
    fields = {"handle": handle, "categories": ["skincare"], "region": "CN-SH", "followers": 48_000, "avg_engagement": 3_000, **profile}
    r = await zc_client.put(f"{API}/me/creator-profile", json=fields, headers=auth)
    assert r.status_code == 200, r.text
    return auth, user.id


def campaign_body(slug: str, variant, *, samples: int = 3, **overrides) -> dict:
    body = {
        "brand": slug, "title": "修护霜种草 Repair Cream seeding", "brief": "Show your night routine.", "budget_minor": 5_000_000, "fixed_fee_minor": 30_000,
        "eligibility": {"tiers": ["micro", "mid"], "categories": ["beauty", "skincare"]},
        "products": [{"product_id": variant.product_id, "sample_variant_id": variant.id, "sample_quantity": samples,
                      "commission": {"kind": "percent", "rate_percent": "12", "new_buyer_rate_percent": 15}}],
    }
    body.update(overrides)
    return body


async def open_campaign(zc_client, auth, slug: str, variant, **overrides) -> dict:
    r = await zc_client.post(f"{API}/campaigns", json=campaign_body(slug, variant, **overrides), headers=auth)
    assert r.status_code == 201, r.text
    r = await zc_client.post(f"{API}/campaigns/{r.json()['id']}/open", headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


async def events(runtime, prefix: str) -> list[tuple[str, dict]]:
    async with runtime.db.read_session() as s:
        rows = (await s.execute(select(OutboxEvent).where(OutboxEvent.type.like(prefix + "%")).order_by(OutboxEvent.id))).scalars()
        return [(e.type, e.payload) for e in rows]


async def test_a_brand_drafts_and_opens_a_campaign_and_its_samples_are_set_aside(zc_client, zc_runtime, zc_make_user, zc_make_product):
    auth = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", price=16800, stock=20)
    r = await zc_client.post(f"{API}/campaigns", json=campaign_body("glow-lab", variant), headers=auth)
    assert r.status_code == 201, r.text
    draft = r.json()
    assert (draft["status"], draft["brand"]["slug"], draft["attribution_days"], draft["posting_days"], draft["protection_days"], draft["notice_days"]) == ("draft", "glow-lab", 30, 14, 30, 2)
    assert draft["review_required"] is True and draft["recruitment"] == "open" and draft["fixed_fee_minor"] == 30_000
    assert draft["eligibility"] == {"tiers": ["micro", "mid"], "categories": ["beauty", "skincare"]}
    [item] = draft["products"]
    assert (item["sample_quantity"], item["samples_left"], item["upcoming"]) == (3, None, None)
    terms = item["commission"]
    assert (terms["kind"], terms["rate_percent"], terms["rate_ppm"], terms["new_buyer_rate_percent"], terms["new_buyer_rate_ppm"], terms["flat_minor"]) == ("percent", "12", 120_000, "15", 150_000, 0)
    async with zc_runtime.db.read_session() as s:
        assert (await inventory.snapshot(s, variant.id)).pooled == 0  # a draft sets nothing aside

    # the draft's terms change freely
    r = await zc_client.patch(f"{API}/campaigns/{draft['id']}", json={"posting_days": 10, "recruitment": "invite", "eligibility": {"regions": ["cn"], "min_followers": 5000}}, headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["posting_days"], r.json()["recruitment"], r.json()["eligibility"]) == (10, "invite", {"regions": ["CN"], "min_followers": 5000})
    await zc_client.patch(f"{API}/campaigns/{draft['id']}", json={"recruitment": "open"}, headers=auth)

    r = await zc_client.post(f"{API}/campaigns/{draft['id']}/open", headers=auth)
    assert r.status_code == 200, r.text
    opened = r.json()
    assert opened["status"] == "open" and opened["opened_at"] and opened["products"][0]["samples_left"] == 3
    again = await zc_client.post(f"{API}/campaigns/{draft['id']}/open", headers=auth)  # a double click
    assert again.status_code == 200 and again.json()["products"][0]["samples_left"] == 3
    async with zc_runtime.db.read_session() as s:
        snap = await inventory.snapshot(s, variant.id)
        assert (snap.on_hand, snap.available, snap.pooled) == (20, 17, 3)
        assert (await s.execute(select(func.count()).select_from(StockPool))).scalar_one() == 1
    assert [t for t, _ in await events(zc_runtime, "campaign.")] == ["campaign.opened"]

    # open: terms are fixed, products too; only the commission may change
    r = await zc_client.patch(f"{API}/campaigns/{draft['id']}", json={"posting_days": 7}, headers=auth)
    assert "draft" in assert_problem(r, 409)["detail"]
    other = await zc_make_product("glow-lab", price=5000, stock=5)
    r = await zc_client.post(f"{API}/campaigns/{draft['id']}/products", json={"product_id": other.product_id, "sample_variant_id": other.id}, headers=auth)
    assert_problem(r, 409)
    assert_problem(await zc_client.delete(f"{API}/campaigns/{draft['id']}/products/{item['id']}", headers=auth), 409)


async def test_bad_terms_are_refused(zc_client, zc_make_user, zc_make_product):
    auth = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", stock=20)
    second = await zc_make_product("glow-lab", stock=5)
    foreign = await zc_make_product("other-brand", stock=5)

    async def create(**overrides):
        return await zc_client.post(f"{API}/campaigns", json=campaign_body("glow-lab", variant, **overrides), headers=auth)

    def product(commission=None, **item):
        base = {"product_id": variant.product_id, "sample_variant_id": variant.id, "sample_quantity": 1, "commission": commission or {"kind": "percent", "rate_percent": "10"}}
        return [{**base, **item}]

    for commission, field in (
        ({"kind": "percent", "rate_percent": "-5"}, "rate_percent"),
        ({"kind": "percent", "rate_percent": -1}, "rate_percent"),
        ({"kind": "percent", "rate_percent": "100.5"}, "rate_percent"),
        ({"kind": "percent", "rate_percent": "12", "new_buyer_rate_percent": "101"}, "new_buyer_rate_percent"),
        ({"kind": "percent", "rate_percent": "12.00001"}, "rate_percent"),
        ({"kind": "percent"}, "rate_percent"),
        ({"kind": "flat", "flat_minor": -100}, "flat_minor"),
        ({"kind": "flat", "rate_percent": "5"}, "flat_minor"),
        ({"kind": "bounty", "rate_percent": "5"}, "kind"),
    ):
        body = assert_problem(await create(products=product(commission)), 422)
        assert body["fields"] == {field: "invalid"}, (commission, body)
    for overrides, field in (
        ({"attribution_days": 0}, "attribution_days"),
        ({"attribution_days": 366}, "attribution_days"),
        ({"posting_days": 0}, "posting_days"),
        ({"protection_days": -1}, "protection_days"),
        ({"budget_minor": -1}, "budget_minor"),
        ({"fixed_fee_minor": -30_000}, "fixed_fee_minor"),
        ({"recruitment": "closed"}, "recruitment"),
        ({"currency": "XXX"}, "currency"),
        ({"title": "  "}, "title"),
        ({"eligibility": {"tiers": ["superstar"]}}, "eligibility"),
        ({"eligibility": {"regions": ["China"]}}, "eligibility"),
        ({"eligibility": {"age": 18}}, "eligibility"),
        ({"products": product(sample_variant_id=second.id)}, "sample_variant_id"),
        ({"products": product(sample_quantity=-1)}, "sample_quantity"),
    ):
        body = assert_problem(await create(**overrides), 422)
        assert body["fields"] == {field: "invalid"}, (overrides, body)
    assert "attribution window" in assert_problem(await create(attribution_days=0), 422)["detail"]
    # another brand's product, or none at all: 404, as if it did not exist
    assert_problem(await create(products=product(product_id=foreign.product_id, sample_variant_id=foreign.id)), 404)
    assert_problem(await create(products=product(product_id=10**9)), 404)
    # a brand the caller does not work for, or a JSON type error
    assert_problem(await zc_client.post(f"{API}/campaigns", json=campaign_body("other-brand", foreign), headers=auth), 404)
    assert_problem(await create(attribution_days="30"), 400)
    # nothing of the refused attempts was written
    assert (await zc_client.get(f"{API}/campaigns", headers=auth)).json() == []


async def test_a_campaign_cannot_open_without_the_stock_for_its_samples(zc_client, zc_runtime, zc_make_user, zc_make_product):
    auth = await brand_member(zc_client, zc_make_user)
    plenty = await zc_make_product("glow-lab", stock=20)
    scarce = await zc_make_product("glow-lab", stock=4)
    body = campaign_body("glow-lab", plenty, samples=5)
    body["products"].append({"product_id": scarce.product_id, "sample_variant_id": scarce.id, "sample_quantity": 5, "commission": {"kind": "flat", "flat_minor": 1500}})
    campaign = (await zc_client.post(f"{API}/campaigns", json=body, headers=auth)).json()
    r = await zc_client.post(f"{API}/campaigns/{campaign['id']}/open", headers=auth)
    problem = assert_problem(r, 409)
    assert problem["detail"] == f"not enough stock to open: 5 samples of {scarce.sku} are needed, 4 are available"
    assert (problem["needed"], problem["available"]) == (5, 4)
    # nothing moved: still a draft, no pool, the first product's units are back in general stock
    assert (await zc_client.get(f"{API}/campaigns/{campaign['id']}", headers=auth)).json()["status"] == "draft"
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(StockPool))).scalar_one() == 0
        assert (await inventory.snapshot(s, plenty.id)).available == 20
    assert await events(zc_runtime, "campaign.") == []
    # a product without commission terms cannot open either
    bare = await zc_client.post(f"{API}/campaigns", json=campaign_body("glow-lab", plenty, products=[{"product_id": plenty.product_id, "sample_variant_id": plenty.id, "sample_quantity": 1}]), headers=auth)
    assert "commission" in assert_problem(await zc_client.post(f"{API}/campaigns/{bare.json()['id']}/open", headers=auth), 409)["detail"]
    empty = await zc_client.post(f"{API}/campaigns", json=campaign_body("glow-lab", plenty, products=[]), headers=auth)
    assert "product" in assert_problem(await zc_client.post(f"{API}/campaigns/{empty.json()['id']}/open", headers=auth), 409)["detail"]


async def test_a_rate_rise_applies_at_once_and_a_cut_after_the_notice_period(zc_client, zc_runtime, zc_make_user, zc_make_product):
    auth = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", stock=20)
    campaign = await open_campaign(zc_client, auth, "glow-lab", variant)
    item = campaign["products"][0]["id"]
    url = f"{API}/campaigns/{campaign['id']}/products/{item}/commission"

    async def terms(at, new_buyer=False):
        async with zc_runtime.db.read_session() as s:
            return await service.terms_at(s, item, at, new_buyer)

    start = utcnow()
    assert await terms(start) == ("percent", 120_000, 0)
    assert await terms(start, True) == ("percent", 150_000, 0)

    # a rise (returning 12 -> 14, new buyers stay 15): in force at once
    r = await zc_client.put(url, json={"kind": "percent", "rate_percent": "14", "new_buyer_rate_percent": "15"}, headers=auth)
    assert r.status_code == 200, r.text
    assert (r.json()["commission"]["rate_ppm"], r.json()["upcoming"]) == (140_000, None)
    after_rise = utcnow()
    assert await terms(after_rise) == ("percent", 140_000, 0)
    assert await terms(start - timedelta(seconds=1)) == ("percent", 120_000, 0)  # an older sale keeps its terms

    # a cut (new buyers 15 -> 12.5): the old terms hold for 2 days' notice
    r = await zc_client.put(url, json={"kind": "percent", "rate_percent": "14", "new_buyer_rate_percent": "12.5"}, headers=auth)
    body = r.json()
    assert body["commission"]["new_buyer_rate_ppm"] == 150_000 and body["upcoming"]["new_buyer_rate_percent"] == "12.5"
    cut_at = body["upcoming"]["effective_from"]
    now = utcnow()
    assert await terms(now, True) == ("percent", 150_000, 0)
    assert await terms(now + timedelta(days=1, hours=23), True) == ("percent", 150_000, 0)
    assert await terms(now + timedelta(days=2, minutes=1), True) == ("percent", 125_000, 0)
    assert await terms(now + timedelta(days=2, minutes=1)) == ("percent", 140_000, 0)
    assert cut_at > campaign["opened_at"]

    # changing the kind counts as a cut; a later rise withdraws the pending cut
    r = await zc_client.put(url, json={"kind": "flat", "flat_minor": 2_000}, headers=auth)
    assert r.json()["upcoming"]["kind"] == "flat" and r.json()["commission"]["kind"] == "percent"
    r = await zc_client.put(url, json={"kind": "percent", "rate_percent": "16", "new_buyer_rate_percent": "18"}, headers=auth)
    assert (r.json()["commission"]["rate_ppm"], r.json()["upcoming"]) == (160_000, None)
    assert await terms(utcnow() + timedelta(days=10)) == ("percent", 160_000, 0)
    assert await terms(utcnow() + timedelta(days=10), True) == ("percent", 180_000, 0)
    async with zc_runtime.db.read_session() as s:
        versions = (await s.execute(select(CommissionRate.rate_ppm).where(CommissionRate.campaign_product_id == item).order_by(CommissionRate.id))).scalars().all()
    assert versions == [120_000, 140_000, 160_000]  # the withdrawn cuts never took effect
    changed = [p for t, p in await events(zc_runtime, "campaign.commission_changed")]
    assert [p["cut"] for p in changed] == [False, True, True, False]

    # refused rates leave the terms alone
    assert_problem(await zc_client.put(url, json={"kind": "percent", "rate_percent": "-1"}, headers=auth), 422)
    assert_problem(await zc_client.put(url, json={"kind": "percent", "rate_percent": "120"}, headers=auth), 422)
    assert await terms(utcnow()) == ("percent", 160_000, 0)

    # a flat commission, with a new-buyer bonus
    other = await zc_make_product("glow-lab", stock=20)
    flat = await open_campaign(zc_client, auth, "glow-lab", other, products=[
        {"product_id": other.product_id, "sample_variant_id": other.id, "sample_quantity": 1, "commission": {"kind": "flat", "flat_minor": 1_500, "new_buyer_flat_minor": 2_500}}])
    async with zc_runtime.db.read_session() as s:
        flat_item = flat["products"][0]["id"]
        assert await service.terms_at(s, flat_item, utcnow(), False) == ("flat", 0, 1_500)
        assert await service.terms_at(s, flat_item, utcnow(), True) == ("flat", 0, 2_500)


async def test_a_brand_sees_and_acts_on_its_own_campaigns_only(zc_client, zc_make_user, zc_make_product):
    mine = await brand_member(zc_client, zc_make_user, "glow-lab")
    theirs = await brand_member(zc_client, zc_make_user, "other-brand")
    staff = await brand_member(zc_client, zc_make_user, "glow-lab", role="staff")
    creator_auth, _ = await creator(zc_client, zc_make_user, "mia.skin")
    variant = await zc_make_product("glow-lab", stock=20)
    campaign = (await zc_client.post(f"{API}/campaigns", json=campaign_body("glow-lab", variant), headers=mine)).json()
    cid, item = campaign["id"], campaign["products"][0]["id"]

    for auth in (theirs, creator_auth):
        assert_problem(await zc_client.get(f"{API}/campaigns/{cid}", headers=auth), 404)
        assert_problem(await zc_client.patch(f"{API}/campaigns/{cid}", json={"title": "mine now"}, headers=auth), 404)
        assert_problem(await zc_client.post(f"{API}/campaigns/{cid}/open", headers=auth), 404)
        assert_problem(await zc_client.put(f"{API}/campaigns/{cid}/products/{item}/commission", json={"kind": "percent", "rate_percent": "1"}, headers=auth), 404)
        assert_problem(await zc_client.get(f"{API}/campaigns/{cid}/collaborations", headers=auth), 404)
        assert_problem(await zc_client.post(f"{API}/campaigns/{cid}/invitations", json={"handle": "mia.skin"}, headers=auth), 404)
        assert (await zc_client.get(f"{API}/campaigns", headers=auth)).json() == []
    assert_problem(await zc_client.get(f"{API}/campaigns/{cid}"), 401)
    assert_problem(await zc_client.get(f"{API}/campaigns?brand=glow-lab", headers=theirs), 404)
    # the brand's staff see it too; a product id of another campaign is 404
    assert [c["id"] for c in (await zc_client.get(f"{API}/campaigns?brand=glow-lab", headers=staff)).json()] == [cid]
    assert_problem(await zc_client.put(f"{API}/campaigns/{cid}/products/{item + 999}/commission", json={"kind": "percent", "rate_percent": "1"}, headers=mine), 404)
    # a draft is invisible to creators, even by id
    assert_problem(await zc_client.post(f"{API}/campaigns/{cid}/apply", headers=creator_auth), 404)
    assert (await zc_client.get(f"{API}/campaigns/open", headers=creator_auth)).json() == []


async def test_open_campaigns_show_creators_whether_they_may_apply(zc_client, zc_make_user, zc_make_product):
    auth = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", stock=20)
    campaign = await open_campaign(zc_client, auth, "glow-lab", variant)
    await open_campaign(zc_client, auth, "glow-lab", variant, recruitment="invite", title="Invite only")
    fits, _ = await creator(zc_client, zc_make_user, "mia.skin")
    too_big, _ = await creator(zc_client, zc_make_user, "big.star", followers=2_000_000, categories=["outdoor"])

    [seen] = (await zc_client.get(f"{API}/campaigns/open", headers=fits)).json()
    assert (seen["id"], seen["eligible"], seen["reasons"], seen["collaboration"]) == (campaign["id"], True, [], None)
    assert seen["products"][0]["commission"]["rate_percent"] == "12" and seen["fixed_fee_minor"] == 30_000
    [seen] = (await zc_client.get(f"{API}/campaigns/open", headers=too_big)).json()
    assert seen["eligible"] is False and seen["reasons"] == ["for micro, mid creators (you are head)", "for creators in beauty, skincare"]
    [seen] = (await zc_client.get(f"{API}/campaigns/open")).json()  # a visitor
    assert (seen["eligible"], seen["reasons"]) == (None, [])
    r = await zc_client.post(f"{API}/campaigns/{campaign['id']}/apply", json={"message": "hi"}, headers=fits)
    assert r.status_code == 201, r.text
    [seen] = (await zc_client.get(f"{API}/campaigns/open", headers=fits)).json()
    assert seen["collaboration"] == {"id": r.json()["id"], "status": "applied"}


async def test_closing_declines_pending_creators_and_completing_returns_unused_samples(zc_client, zc_runtime, zc_make_user, zc_make_product):
    auth = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", stock=20)
    campaign = await open_campaign(zc_client, auth, "glow-lab", variant, samples=5)
    cid = campaign["id"]
    mia, _ = await creator(zc_client, zc_make_user, "mia.skin")
    ann, _ = await creator(zc_client, zc_make_user, "ann.beauty")
    pending = (await zc_client.post(f"{API}/campaigns/{cid}/apply", headers=mia)).json()
    accepted = (await zc_client.post(f"{API}/campaigns/{cid}/apply", json={"shipping_address": ADDRESS}, headers=ann)).json()
    assert (await zc_client.post(f"{API}/collaborations/{accepted['id']}/accept", headers=auth)).json()["status"] == "accepted"

    assert_problem(await zc_client.post(f"{API}/campaigns/{cid}/complete", headers=auth), 409)  # close first
    r = await zc_client.post(f"{API}/campaigns/{cid}/close", headers=auth)
    assert r.json()["status"] == "closed" and r.json()["closed_at"]
    declined = (await zc_client.get(f"{API}/collaborations/{pending['id']}", headers=mia)).json()
    assert declined["status"] == "declined" and declined["transitions"][-1]["actor_kind"] == "system"
    assert_problem(await zc_client.post(f"{API}/campaigns/{cid}/apply", headers=mia), 409)
    # the accepted creator's collaboration goes on: the sample still ships from the pool
    r = await zc_client.post(f"{API}/collaborations/{accepted['id']}/ship", json={"carrier": "SF", "tracking_number": "SF100"}, headers=auth)
    assert r.status_code == 200, r.text
    problem = assert_problem(await zc_client.post(f"{API}/campaigns/{cid}/complete", headers=auth), 409)
    assert problem["running"] == 1
    assert (await zc_client.post(f"{API}/collaborations/{accepted['id']}/delivered", headers=ann)).status_code == 200
    # the creator never posts; the brand cancels once overdue
    async with zc_runtime.db.session() as s:
        from core.campaigns.models import Collaboration

        row = await s.get(Collaboration, accepted["id"])
        row.deadline_at = utcnow() - timedelta(minutes=1)
        await s.commit()
    from core.campaigns.collaborations import run_deadlines

    assert (await run_deadlines(zc_runtime))["overdue"] == 1
    assert (await zc_client.post(f"{API}/collaborations/{accepted['id']}/cancel", json={"reason": "no post"}, headers=auth)).json()["status"] == "cancelled"
    r = await zc_client.post(f"{API}/campaigns/{cid}/complete", headers=auth)
    assert r.status_code == 200 and r.json()["status"] == "completed", r.text
    async with zc_runtime.db.read_session() as s:
        snap = await inventory.snapshot(s, variant.id)
        assert (snap.on_hand, snap.available, snap.pooled) == (19, 19, 0)  # one sample shipped, four back
    assert [t for t, _ in await events(zc_runtime, "campaign.")] == ["campaign.opened", "campaign.closed", "campaign.completed"]
    assert_problem(await zc_client.put(f"{API}/campaigns/{cid}/products/{campaign['products'][0]['id']}/commission", json={"kind": "percent", "rate_percent": "20"}, headers=auth), 409)

"""A campaign's budget is a hard cap on what the brand spends on creators: fixed fees
commit budget at acceptance, commissions are cut to what is left, the campaign closes
by itself when nothing is left, and refunds give budget back."""

from __future__ import annotations

import uuid

from sqlalchemy import select, update

from core.campaigns import budget
from core.campaigns.models import Campaign, Commission, DiscountCode, TrackedLink
from core.ledger import service as ledger
from core.testing import ADDRESS, api_token
from tests.core.attribution_helpers import buy, click, seed_collaboration, settle
from tests.core.test_api_conventions import assert_problem
from tests.core.test_campaigns import API, brand_member, creator, events, open_campaign


async def spend_ok(runtime) -> None:
    async with runtime.db.read_session() as s:
        assert await budget.check(s) == []
        assert await ledger.check(s) == []


async def apply(client, campaign_id: int, auth) -> int:
    r = await client.post(f"{API}/campaigns/{campaign_id}/apply", json={"message": "想试试", "shipping_address": ADDRESS}, headers=auth)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_fixed_fees_commit_budget_and_a_spent_budget_closes_the_campaign(zc_client, zc_runtime, zc_make_user, zc_make_product):
    brand = await brand_member(zc_client, zc_make_user)
    variant = await zc_make_product("glow-lab", price=16_800, stock=10)
    opened = await open_campaign(zc_client, brand, "glow-lab", variant, samples=3, budget_minor=50_000, fixed_fee_minor=30_000)
    cid = opened["id"]
    assert (opened["budget_minor"], opened["spent_minor"], opened["committed_minor"], opened["budget_left_minor"]) == (50_000, 0, 0, 50_000)
    mia, _ = await creator(zc_client, zc_make_user, "mia.skin")
    leo, _ = await creator(zc_client, zc_make_user, "leo.trails")
    jun, _ = await creator(zc_client, zc_make_user, "jun.tea")
    first, second, third = [await apply(zc_client, cid, who) for who in (mia, leo, jun)]

    r = await zc_client.post(f"{API}/collaborations/{first}/accept", headers=brand)
    assert r.json()["status"] == "accepted", r.text
    campaign = (await zc_client.get(f"{API}/campaigns/{cid}", headers=brand)).json()
    assert (campaign["spent_minor"], campaign["committed_minor"], campaign["budget_left_minor"]) == (0, 30_000, 20_000)

    # a second creator at 300.00 does not fit in the 200.00 left
    problem = assert_problem(await zc_client.post(f"{API}/collaborations/{second}/accept", headers=brand), 409)
    assert problem["type"].endswith("budget-exceeded") and "raise the budget" in problem["detail"]
    assert (problem["left_minor"], problem["committed_minor"], problem["currency"]) == (20_000, 30_000, "CNY")
    assert (await zc_client.get(f"{API}/collaborations/{second}", headers=brand)).json()["status"] == "applied"  # nothing half-done

    # the budget never goes below what is committed; raising it lets the second in
    problem = assert_problem(await zc_client.patch(f"{API}/campaigns/{cid}", json={"budget_minor": 29_999}, headers=brand), 409)
    assert "below what is spent or committed" in problem["detail"]
    assert_problem(await zc_client.patch(f"{API}/campaigns/{cid}", json={"budget_minor": 60_000, "title": "x"}, headers=brand), 409)  # other terms stay fixed
    r = await zc_client.patch(f"{API}/campaigns/{cid}", json={"budget_minor": 60_000}, headers=brand)
    assert r.status_code == 200 and r.json()["budget_left_minor"] == 30_000, r.text
    r = await zc_client.post(f"{API}/collaborations/{second}/accept", headers=brand)
    assert r.json()["status"] == "accepted", r.text

    # nothing is left: the campaign closed by itself and the pending application was declined
    campaign = (await zc_client.get(f"{API}/campaigns/{cid}", headers=brand)).json()
    assert (campaign["status"], campaign["committed_minor"], campaign["budget_left_minor"]) == ("closed", 60_000, 0)
    assert (await zc_client.get(f"{API}/collaborations/{third}", headers=jun)).json()["status"] == "declined"
    assert [t for t, _ in await events(zc_runtime, "campaign.")][-2:] == ["campaign.budget_spent", "campaign.closed"]
    assert (await events(zc_runtime, "campaign.budget_spent"))[0][1]["committed_minor"] == 60_000

    # reopening needs budget left
    problem = assert_problem(await zc_client.post(f"{API}/campaigns/{cid}/reopen", headers=brand), 409)
    assert problem["type"].endswith("budget-exceeded") and "raise it before reopening" in problem["detail"]
    assert (await zc_client.patch(f"{API}/campaigns/{cid}", json={"budget_minor": 100_000}, headers=brand)).status_code == 200
    r = await zc_client.post(f"{API}/campaigns/{cid}/reopen", headers=brand)
    assert (r.status_code, r.json()["status"], r.json()["budget_left_minor"]) == (200, "open", 40_000)
    assert (await zc_client.post(f"{API}/campaigns/{cid}/reopen", headers=brand)).status_code == 200  # a double click

    # the fee moves from committed to spent at approval (the ledger posts it once)
    r = await zc_client.post(f"{API}/collaborations/{first}/ship", json={"carrier": "SF", "tracking_number": "SF1"}, headers=brand)
    assert r.status_code == 200, r.text
    assert (await zc_client.post(f"{API}/collaborations/{first}/delivered", headers=mia)).status_code == 200
    r = await zc_client.post(f"{API}/collaborations/{first}/content", json={"kind": "url", "ref": "https://example.com/p/1"}, headers=mia)
    assert r.status_code == 200, r.text
    for _ in range(2):
        r = await zc_client.post(f"{API}/collaborations/{first}/approve", json={"disclosure_confirmed": True}, headers=brand)
        assert r.status_code == 200, r.text
    campaign = (await zc_client.get(f"{API}/campaigns/{cid}", headers=brand)).json()
    assert (campaign["spent_minor"], campaign["committed_minor"], campaign["budget_left_minor"]) == (30_000, 30_000, 40_000)

    # a cancelled collaboration frees its commitment; a closed campaign cannot be reopened by a creator
    r = await zc_client.post(f"{API}/collaborations/{second}/cancel", json={"reason": "changed plans"}, headers=brand)
    assert r.status_code == 200, r.text
    assert (await zc_client.get(f"{API}/campaigns/{cid}", headers=brand)).json()["budget_left_minor"] == 70_000
    assert_problem(await zc_client.post(f"{API}/campaigns/{cid}/reopen", headers=mia), 404)
    await spend_ok(zc_runtime)


async def test_commissions_are_cut_to_the_budget_left_and_refunds_give_it_back(zc_client, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=10_000, stock=20, shipping=0)
    buyer_creator = await zc_make_user(roles=("creator",))
    owner = await zc_make_user(brand=("camellia", "owner"))
    owner_auth = await api_token(zc_client, owner.email)
    seeded = await seed_collaboration(zc_runtime, creator_id=buyer_creator.id, variants=[cream], rate_ppm=100_000)
    async with zc_runtime.db.session() as s:
        await s.execute(update(Campaign).where(Campaign.id == seeded.campaign_id).values(budget_minor=2_500))
        s.add(DiscountCode(code="CREAM", collaboration_id=seeded.collaboration_id, discount_ppm=0))
        s.add(TrackedLink(code="cream-link", collaboration_id=seeded.collaboration_id, target_kind="campaign"))
        await s.commit()

    async def rows() -> list[tuple[int, int, int, str]]:
        async with zc_runtime.db.read_session() as s:
            found = await s.execute(select(Commission.amount_minor, Commission.budget_cut_minor, Commission.reversed_minor, Commission.status).order_by(Commission.id))
            return [tuple(r) for r in found]

    async def campaign() -> dict:
        return (await zc_client.get(f"{API}/campaigns/{seeded.campaign_id}", headers=owner_auth)).json()

    first = await buy(zc_client, [(cream.id, 2)], code="CREAM", email="a@example.com")
    await settle(zc_runtime)
    assert await rows() == [(2_000, 0, 0, "pending")]
    c = await campaign()
    assert (c["spent_minor"], c["budget_left_minor"], c["status"]) == (2_000, 500, "open")

    # 100.00 earns 10.00, but only 5.00 is left: the rest is cut, and the campaign closes
    await buy(zc_client, [(cream.id, 1)], code="CREAM", email="b@example.com")
    await settle(zc_runtime)
    assert await rows() == [(2_000, 0, 0, "pending"), (500, 500, 0, "pending")]
    c = await campaign()
    assert (c["spent_minor"], c["budget_left_minor"], c["status"]) == (2_500, 0, "closed")
    r = await zc_client.get("/api/v1/commissions", headers=await api_token(zc_client, buyer_creator.email))
    assert sorted(x["budget_cut_minor"] for x in r.json()["items"]) == [0, 500], r.text

    # a sale after that earns nothing: codes end with the campaign, links still attribute
    # (running collaborations go on) and the cut is on record
    visitor = str(uuid.uuid4())
    await click(zc_client, "cream-link", visitor)
    third = await buy(zc_client, [(cream.id, 1)], visitor=visitor, email="c@example.com")
    await settle(zc_runtime)
    assert (await rows())[2] == (0, 1_000, 0, "pending")
    await spend_ok(zc_runtime)

    # refunds give budget back: half of the first order (10.00), all of the third (nothing to give)
    r = await zc_client.post(f"/api/v1/orders/{first['orders'][0]['id']}/refunds", json={"amount_minor": 10_000, "reason": "one jar"}, headers=owner_auth)
    assert r.status_code == 201, r.text
    r = await zc_client.post(f"/api/v1/orders/{third['orders'][0]['id']}/refunds", json={"amount_minor": 10_000, "reason": "all"}, headers=owner_auth)
    assert r.status_code == 201, r.text
    await settle(zc_runtime)
    assert await rows() == [(2_000, 0, 1_000, "pending"), (500, 500, 0, "pending"), (0, 1_000, 0, "reversed")]
    c = await campaign()
    assert (c["spent_minor"], c["budget_left_minor"], c["status"]) == (1_500, 1_000, "closed")
    await spend_ok(zc_runtime)


def test_a_refund_of_a_cut_commission_takes_back_only_what_the_rest_does_not_cover():
    from core.campaigns.commissions import amount_after_refunds

    # percent: 10% of 100.00 was 10.00, cut to 5.00; a half refund leaves 5.00 earned on 50.00
    assert amount_after_refunds("percent", 100_000, 500, 10_000, 5_000, 1_000) == 500
    assert amount_after_refunds("percent", 100_000, 500, 10_000, 2_000, 1_000) == 200
    # flat: 10.00 cut to 5.00; a half refund leaves half of the uncut 10.00
    assert amount_after_refunds("flat", 0, 500, 10_000, 5_000, 1_000) == 500
    assert amount_after_refunds("flat", 0, 500, 10_000, 2_500, 1_000) == 250


async def test_the_spend_check_finds_a_campaign_whose_spend_drifted(zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", price=10_000, stock=5)
    someone = await zc_make_user(roles=("creator",))
    seeded = await seed_collaboration(zc_runtime, creator_id=someone.id, variants=[cream])
    await spend_ok(zc_runtime)
    async with zc_runtime.db.session() as s:
        await s.execute(update(Campaign).where(Campaign.id == seeded.campaign_id).values(spent_minor=7))
        await s.commit()
    async with zc_runtime.db.read_session() as s:
        assert await budget.check(s) == [budget.SpendMismatch(seeded.campaign_id, 7, 0)]

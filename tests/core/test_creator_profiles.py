"""Creator profiles: the creator's own card, tiers, discovery filters, payout details."""

from __future__ import annotations

import pytest

from core.campaigns import profiles
from core.testing import api_token
from tests.core.test_api_conventions import assert_problem

API = "/api/v1"


async def creator(zc_client, zc_make_user, handle: str, **fields) -> dict[str, str]:
    user = await zc_make_user(f"{handle.replace('.', '-')}@example.com", roles=("creator",))
    auth = await api_token(zc_client, user.email)
    r = await zc_client.put(f"{API}/me/creator-profile", json={"handle": handle, **fields}, headers=auth)
    assert r.status_code == 200, r.text
    return auth


async def test_a_creator_builds_a_profile_and_brands_see_the_public_card(zc_client, zc_make_user):
    auth = await creator(zc_client, zc_make_user, "Mia.Skin", bio="敏感肌护肤 · daily skincare", categories=["skincare", "beauty", "beauty"], region="cn-sh",
                         followers=48_000, avg_engagement=3_120, rate_image_minor=180_000, rate_video_minor=320_000,
                         payout_method="bank", payout_details={"account_name": "Mia Chen", "account_number": "6222 0210 0112 3456", "bank_name": "ICBC"})
    mine = (await zc_client.get(f"{API}/me/creator-profile", headers=auth)).json()
    card = mine["profile"]
    assert card["handle"] == "mia.skin" and card["categories"] == ["beauty", "skincare"] and card["region"] == "CN-SH"
    assert (card["tier"], card["followers"], card["engagement_rate_ppm"], card["stats_source"]) == ("micro", 48_000, 65_000, "self_reported")
    assert mine["payout_method"] == "bank" and mine["payout_details"]["account_number"] == "•••• 3456"

    public = (await zc_client.get(f"{API}/creators/mia.skin")).json()
    assert public == card and "payout" not in str(public) and "6222" not in str(public)
    # a partial update changes only what it sends
    r = await zc_client.put(f"{API}/me/creator-profile", json={"bio": "new bio"}, headers=auth)
    assert r.json()["profile"]["bio"] == "new bio" and r.json()["profile"]["followers"] == 48_000 and r.json()["payout_details"]["bank_name"] == "ICBC"


@pytest.mark.parametrize(
    ("followers", "tier"), [(0, "koc"), (9_999, "koc"), (10_000, "micro"), (99_999, "micro"), (100_000, "mid"), (500_000, "macro"), (1_000_000, "head"), (40_000_000, "head")]
)
def test_tiers_follow_the_configured_ladder(zc_runtime, followers, tier):
    assert profiles.tier_of(zc_runtime, followers) == tier


def test_a_custom_ladder(zc_runtime):
    zc_runtime.settings.creator_tiers = "nano:0,star:5000"
    assert [profiles.tier_of(zc_runtime, n) for n in (0, 4_999, 5_000)] == ["nano", "nano", "star"]


async def test_discovery_filters(zc_client, zc_make_user):
    await creator(zc_client, zc_make_user, "koc.tea", categories=["tea"], region="CN-ZJ", followers=3_000, avg_engagement=400, rate_image_minor=30_000)
    await creator(zc_client, zc_make_user, "micro.beauty", categories=["beauty"], region="CN-SH", followers=60_000, avg_engagement=1_200, rate_image_minor=200_000)
    await creator(zc_client, zc_make_user, "mid.outdoor", categories=["outdoor", "beauty"], region="US-CA", followers=250_000, avg_engagement=20_000, rate_image_minor=900_000)

    async def handles(query: str) -> list[str]:
        r = await zc_client.get(f"{API}/creators?{query}")
        assert r.status_code == 200, r.text
        return [c["handle"] for c in r.json()["items"]]

    assert await handles("") == ["mid.outdoor", "micro.beauty", "koc.tea"]  # most followers first
    assert await handles("tier=koc&tier=mid") == ["mid.outdoor", "koc.tea"]
    assert await handles("category=beauty") == ["mid.outdoor", "micro.beauty"]
    assert await handles("region=CN") == ["micro.beauty", "koc.tea"]
    assert await handles("region=CN-SH") == ["micro.beauty"]
    assert await handles("min_followers=10000&max_followers=100000") == ["micro.beauty"]
    assert await handles("min_engagement_ppm=80000") == ["mid.outdoor", "koc.tea"]  # 8% and 13.3%; micro.beauty has 2%
    assert await handles("sort=engagement&limit=1") == ["koc.tea"]
    assert await handles("max_rate_image_minor=250000") == ["micro.beauty", "koc.tea"]
    assert await handles("q=outdoor") == ["mid.outdoor"]
    page = (await zc_client.get(f"{API}/creators?limit=2&offset=2")).json()
    assert page["total"] == 3 and [c["handle"] for c in page["items"]] == ["koc.tea"]
    assert_problem(await zc_client.get(f"{API}/creators?tier=superstar"), 422)
    assert_problem(await zc_client.get(f"{API}/creators?sort=price"), 400)
    assert_problem(await zc_client.get(f"{API}/creators?min_followers=-1"), 400)
    assert_problem(await zc_client.get(f"{API}/creators/nobody"), 404)

    # a price cap is in one currency: $1,500 is not under ¥2,500, though 150000 < 250000
    await creator(zc_client, zc_make_user, "us.hiker", followers=1_000, avg_engagement=50, rate_currency="USD", rate_image_minor=150_000)
    assert await handles("max_rate_image_minor=250000") == ["micro.beauty", "koc.tea"]
    assert await handles("max_rate_image_minor=250000&rate_currency=usd") == ["us.hiker"]
    assert await handles("rate_currency=USD") == ["mid.outdoor", "micro.beauty", "koc.tea", "us.hiker"]  # no cap, no currency filter
    assert_problem(await zc_client.get(f"{API}/creators?max_rate_image_minor=1&rate_currency=XXX"), 422)


async def test_only_creators_have_profiles_and_bad_input_is_refused(zc_client, zc_make_user):
    shopper = await api_token(zc_client, (await zc_make_user()).email)
    assert_problem(await zc_client.put(f"{API}/me/creator-profile", json={"handle": "shopper1"}, headers=shopper), 403)
    assert_problem(await zc_client.get(f"{API}/me/creator-profile"), 401)
    fresh = await api_token(zc_client, (await zc_make_user(roles=("creator",))).email)
    assert_problem(await zc_client.get(f"{API}/me/creator-profile", headers=fresh), 404)
    assert_problem(await zc_client.put(f"{API}/me/creator-profile", json={"bio": "no handle yet"}, headers=fresh), 422)
    auth = await creator(zc_client, zc_make_user, "taken.name")
    assert_problem(await zc_client.put(f"{API}/me/creator-profile", json={"handle": "Taken.Name"}, headers=fresh), 409)
    for bad, status in (
        ({"handle": "a"}, 400), ({"handle": "_underscore"}, 422), ({"handle": "有中文"}, 422), ({"followers": -5}, 400), ({"followers": 1.5}, 400), ({"followers": True}, 400),
        ({"categories": ["Beauty"]}, 422), ({"region": "china"}, 422), ({"rate_currency": "XXX"}, 422), ({"rate_image_minor": -1}, 400), ({"rate_image_minor": 99.5}, 400),
        ({"payout_method": "paypal"}, 422), ({"payout_method": "stripe", "payout_details": {"stripe_account": "nope"}}, 422),
        ({"payout_method": "bank", "payout_details": {"account_name": "A"}}, 422), ({"payout_method": "sandbox", "payout_details": {"x": "y"}}, 422), ({"unknown": 1}, 400),
    ):
        assert_problem(await zc_client.put(f"{API}/me/creator-profile", json=bad, headers=auth), status)
    assert (await zc_client.get(f"{API}/creators/taken.name")).json()["followers"] == 0  # nothing half-written
    ok = await zc_client.put(f"{API}/me/creator-profile", json={"payout_method": "stripe", "payout_details": {"stripe_account": "acct_1Nv0FGQ9RKHgCVdK"}}, headers=auth)
    assert ok.status_code == 200 and ok.json()["payout_details"] == {"stripe_account": "acct_1Nv0FGQ9RKHgCVdK"}


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_the_demo_has_creators_of_three_tiers(zc_client, zc_runtime):
    from core.cli import seed

    await seed(zc_runtime)
    await seed(zc_runtime)  # idempotent
    items = (await zc_client.get(f"{API}/creators")).json()["items"]
    assert [(c["handle"], c["tier"]) for c in items] == [("jun.tea", "mid"), ("mia.skin", "micro"), ("leo.trails", "koc")]
    mia = await api_token(zc_client, "creator@demo.zhongcao.dev", "zhongcao-demo")
    # with the notes plugin on, her figures come from her notes profile, not her own say-so
    assert (await zc_client.get(f"{API}/me/creator-profile", headers=mia)).json()["profile"]["stats_source"] == "notes"

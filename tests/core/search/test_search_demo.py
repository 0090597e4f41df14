"""Issue 6's "done when" on the demo: products and notes found by Chinese and English
words, with facets; creators filtered by tier and followers."""

from __future__ import annotations

import pytest

from core.cli import seed

API = "/api/v1/search"


async def search(client, index: str, **params) -> dict:
    r = await client.get(f"{API}/{index}", params=params)
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_the_demo_is_searchable_in_chinese_and_english(zc_client, zc_runtime):
    await seed(zc_runtime)  # seeds, then rebuilds every index

    cream = await search(zc_client, "products", q="面霜")
    assert [h["document"]["slug"] for h in cream["hits"]] == ["camellia-repair-cream"]  # the draft night mask (面膜) is not searchable
    hiking = await search(zc_client, "products", q="hiking")
    assert {h["document"]["slug"] for h in hiking["hits"]} >= {"north-trail-wind-jacket", "north-trail-daypack-18l"}
    assert hiking["facets"]["brand"] == {"north-trail": hiking["total"]}
    camellia = await search(zc_client, "products", q="山茶花", brand="camellia-skin", sort="price_asc")
    prices = [h["document"]["price"] for h in camellia["hits"]]
    assert len(prices) >= 3 and prices == sorted(prices)

    notes = await search(zc_client, "notes", q="徒步")
    assert notes["total"] >= 1 and all(h["document"]["author"] == "leo.trails" for h in notes["hits"])
    assert "<mark>徒步</mark>" in next(iter(notes["hits"][0]["highlights"].values()))
    english = await search(zc_client, "notes", q="cream")
    assert english["total"] >= 1
    assert (await search(zc_client, "notes"))["facets"]["type"]

    everyone = await search(zc_client, "creators")
    tiers = everyone["facets"]["tier"]
    assert len(tiers) >= 3  # the demo's creators span three tiers
    tier = sorted(tiers)[0]
    assert {h["document"]["tier"] for h in (await search(zc_client, "creators", tier=tier))["hits"]} == {tier}
    big = await search(zc_client, "creators", followers_min="100000")
    assert big["total"] >= 1 and all(h["document"]["followers"] >= 100_000 for h in big["hits"])

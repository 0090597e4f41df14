"""Issue 5's "done when" for the feed, on the demo: the shopper's explore feed changes
after they like and collect (a fresh session after the engagement ranks differently)."""

from __future__ import annotations

import pytest
from core.cli import seed
from core.testing import api_token

FEED = "/api/v1/feed"
NOTES = "/api/v1/notes"


async def explore(client, headers) -> list[dict]:
    r = await client.get(f"{FEED}/explore?limit=20", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()["items"]


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_the_demo_shoppers_feed_follows_what_they_like_and_collect(zc_client, zc_runtime):
    await seed(zc_runtime)
    lin = await api_token(zc_client, "shopper@demo.zhongcao.dev", "zhongcao-demo")
    served = await explore(zc_client, lin)
    before = [c for c in served if c["kind"] == "note"]  # and the demo's open team to join (group_buy), which Lin is not in
    assert len(before) >= 5 and {c["kind"] for c in served} <= {"note", "group_buy", "live"}  # other plugins' cards: teams about to fill, Mia on air

    # Lin likes and collects the hiking note at the bottom of her feed
    hiking = [c for c in before if c["author"]["handle"] == "leo.trails"]
    assert hiking, before
    liked = hiking[-1]
    assert (await zc_client.post(f"{NOTES}/{liked['note_id']}/like", headers=lin)).status_code in (200, 201)
    r = await zc_client.post(f"{NOTES}/{liked['note_id']}/collect", json={"board_name": "周末徒步"}, headers=lin)
    assert r.status_code in (200, 201), r.text

    after = [c for c in await explore(zc_client, lin) if c["kind"] == "note"]
    ids_before = [c["note_id"] for c in before]
    ids_after = [c["note_id"] for c in after]
    assert ids_after != ids_before  # the feed changed
    assert liked["note_id"] not in ids_after  # what she just saved is not served again
    # Leo's other hiking note climbs: her affinity to his topics (#徒步) and to him now counts
    other = next(c["note_id"] for c in before if c["author"]["handle"] == "leo.trails" and c["note_id"] != liked["note_id"])
    assert ids_after.index(other) < ids_before.index(other), (ids_before, ids_after)

"""Cold start (topics picked at sign-up) and a feed that follows what the viewer engages with."""

from __future__ import annotations

from datetime import timedelta

from core.testing import api_token
from plugins.feed.explore import explain
from tests.core.test_api_conventions import assert_problem
from tests.plugins.feed.helpers import collect, feed_settings_for, like, note, topic

TOPICS = "/api/v1/feed/topics"
EXPLORE = "/api/v1/feed/explore"


async def _catalog(zc_runtime, zc_make_user) -> dict[str, list[int]]:
    """Three topics, the same number of equally good notes each, from several authors;
    'hiking' is the most popular overall."""
    authors = [await zc_make_user(f"author{i}@example.com", roles=("creator",)) for i in range(6)]
    notes: dict[str, list[int]] = {"tea": [], "hiking": [], "skincare": []}
    for i in range(12):
        for j, key in enumerate(notes):
            likes = 30 if key == "hiking" else 5
            notes[key].append(await note(zc_runtime, authors[(i + j) % 6].id, title=f"{key}{i}", topics=(key,), likes=likes, impressions=200, age=timedelta(hours=5 + i)))
    return notes


def _count(cards: list[dict], ids: list[int]) -> int:
    return sum(c["note_id"] in ids for c in cards)


async def test_suggested_and_picked_topics(zc_client, zc_runtime, zc_make_user):
    feed_settings_for(zc_runtime, picks_max=3)
    await _catalog(zc_runtime, zc_make_user)
    await topic(zc_runtime, "empty")  # no notes: not suggested
    suggested = (await zc_client.get(f"{TOPICS}/suggested")).json()["items"]
    assert [t["key"] for t in suggested] == ["tea", "hiking", "skincare"]  # most notes first (a tie here: by id)
    assert [t["note_count"] for t in suggested] == [12, 12, 12]
    ids = {t["key"]: t["id"] for t in suggested}

    assert_problem(await zc_client.put(TOPICS, json={"topic_ids": [ids["tea"]]}), 401)
    await zc_make_user("new@example.com")
    headers = await api_token(zc_client, "new@example.com")
    assert (await zc_client.get(TOPICS, headers=headers)).json() == {"topics": []}
    picked = await zc_client.put(TOPICS, json={"topic_ids": [ids["tea"], ids["skincare"]]}, headers=headers)
    assert picked.status_code == 200, picked.text
    assert [t["key"] for t in picked.json()["topics"]] == sorted(["tea", "skincare"], key=lambda k: ids[k])
    # bad input changes nothing
    unknown = assert_problem(await zc_client.put(TOPICS, json={"topic_ids": [ids["hiking"], 999_999]}, headers=headers), 422)
    assert "999999" in unknown["detail"]
    assert_problem(await zc_client.put(TOPICS, json={"topic_ids": [ids["tea"], ids["tea"]]}, headers=headers), 422)
    assert_problem(await zc_client.put(TOPICS, json={"topic_ids": [1, 2, 3, 4]}, headers=headers), 422)
    assert_problem(await zc_client.put(TOPICS, json={"topic_ids": ["tea"]}, headers=headers), 400)
    assert_problem(await zc_client.put(TOPICS, json={"topics": [ids["tea"]]}, headers=headers), 400)
    assert {t["key"] for t in (await zc_client.get(TOPICS, headers=headers)).json()["topics"]} == {"tea", "skincare"}
    assert (await zc_client.put(TOPICS, json={"topic_ids": []}, headers=headers)).json() == {"topics": []}


async def test_cold_start_serves_picked_topics_plus_popular(zc_client, zc_runtime, zc_make_user):
    feed_settings_for(zc_runtime, exploration_share_ppm=0)
    notes = await _catalog(zc_runtime, zc_make_user)
    anonymous = (await zc_client.get(EXPLORE, params={"limit": 10})).json()["items"]
    assert _count(anonymous, notes["hiking"]) == 7  # popular first, as many as the diversity rule allows (HH.HH.HH.H)
    assert [c["note_id"] in notes["hiking"] for c in anonymous[:3]] == [True, True, False]

    user = await zc_make_user("new@example.com")
    headers = await api_token(zc_client, "new@example.com")
    tea = await topic(zc_runtime, "tea")
    assert (await zc_client.put(TOPICS, json={"topic_ids": [tea]}, headers=headers)).status_code == 200
    cards = (await zc_client.get(EXPLORE, params={"limit": 10}, headers=headers)).json()["items"]
    assert _count(cards, notes["tea"]) >= 4 and _count(cards, notes["hiking"]) >= 3  # their topic, and popular notes
    assert {c["source"] for c in cards if c["note_id"] in notes["tea"]} == {"topic"}
    found = await explain(zc_runtime, user.id, limit=10)
    profile, rows = found.profile, found.cards
    assert profile.cold and profile.picks == {tea}
    assert [r.ref for r in rows] == [c["ref"] for c in cards]
    assert all(r.parts["topic"] > 0 for r in rows if int(r.ref) in notes["tea"])


async def test_the_feed_changes_after_the_viewer_likes_and_collects(zc_client, zc_runtime, zc_make_user):
    feed_settings_for(zc_runtime, exploration_share_ppm=0)
    notes = await _catalog(zc_runtime, zc_make_user)
    viewer = await zc_make_user("shopper@example.com")
    headers = await api_token(zc_client, "shopper@example.com")
    before = (await zc_client.get(EXPLORE, params={"limit": 10}, headers=headers)).json()["items"]
    skincare_before = _count(before, notes["skincare"])
    assert skincare_before <= 2

    await like(zc_runtime, viewer.id, notes["skincare"][0])
    await like(zc_runtime, viewer.id, notes["skincare"][1])
    await collect(zc_runtime, viewer.id, notes["skincare"][2])
    after = (await zc_client.get(EXPLORE, params={"limit": 10}, headers=headers)).json()["items"]
    assert _count(after, notes["skincare"]) >= 4 >= skincare_before + 2
    assert not {c["note_id"] for c in after} & set(notes["skincare"][:3])  # what they engaged with is not served again
    found = await explain(zc_runtime, viewer.id, limit=10)
    profile, rows = found.profile, found.cards
    assert not profile.cold and profile.engagements == 3
    assert [r.ref for r in rows] == [c["ref"] for c in after]

"""With the notes plugin disabled the feed answers empty pages, and nothing breaks."""

from __future__ import annotations

import pytest

from core.testing import api_token, make_test_settings
from plugins.feed.explore import explain
from tests.core.test_api_conventions import assert_problem
from tests.plugins.feed.helpers import note


@pytest.fixture
def zc_settings(zc_var_dir, zc_database_url):
    return make_test_settings(zc_var_dir, zc_database_url, plugins_disabled="notes")


async def test_feed_is_empty_without_the_notes_plugin(zc_client, zc_runtime, zc_make_user):
    assert zc_runtime.pm.get_plugin("notes") is None and zc_runtime.pm.get_plugin("feed") is not None
    author = await zc_make_user("author@example.com", roles=("creator",))
    await note(zc_runtime, author.id, topics=("tea",))  # rows left from when it was enabled
    await zc_make_user("viewer@example.com")
    headers = await api_token(zc_client, "viewer@example.com")
    empty = {"items": [], "next_cursor": None}
    assert (await zc_client.get("/api/v1/feed/explore")).json() == empty
    assert (await zc_client.get("/api/v1/feed/explore", headers=headers, params={"lat": 31.2, "lng": 121.5})).json() == empty
    assert (await zc_client.get("/api/v1/feed/following", headers=headers)).json() == empty
    assert (await zc_client.get("/api/v1/feed/topics/suggested")).json() == {"items": []}
    assert (await zc_client.get("/api/v1/feed/topics", headers=headers)).json() == {"topics": []}
    assert (await zc_client.put("/api/v1/feed/topics", json={"topic_ids": []}, headers=headers)).json() == {"topics": []}
    assert "disabled" in assert_problem(await zc_client.put("/api/v1/feed/topics", json={"topic_ids": [1]}, headers=headers), 422)["detail"]
    assert (await explain(zc_runtime, author.id)).cards == []

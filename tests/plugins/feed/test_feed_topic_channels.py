"""A topic's channel: the API (`/api/v1/feed/topics/{key}/notes`) and the page
(`/feed/topics/{key}`): only the topic's readable notes, newest first, paged without
repeats, chips with the current topic, no JavaScript needed, bounded queries."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
from sqlalchemy import select, update

from core.db import utcnow
from core.testing import QueryCounter, api_token, html_login, settle
from tests.core.test_api_conventions import assert_problem
from tests.plugins.feed.helpers import feed_settings_for, note, pages, set_status
from tests.plugins.feed.test_explore_pages import cards, get, note_ids

TEA = "/api/v1/feed/topics/tea/notes"


@pytest.fixture(autouse=True)
def _fast_feed_in_english(zc_runtime, zc_client):
    feed_settings_for(zc_runtime)
    zc_client.cookies.set("zc_lang", "en")


async def tea_notes(zc_runtime, authors: list) -> list[int]:
    """Readable #tea notes, newest first, among notes of other topics and unreadable ones."""
    same_time = utcnow() - timedelta(hours=20)
    made = [await note(zc_runtime, authors[i % len(authors)].id, title=f"tea {i}", topics=("tea",), age=timedelta(hours=40 - 3 * i)) for i in range(7)]
    twins = [await note(zc_runtime, authors[0].id, title="twin", topics=("tea", "hiking"), published_at=same_time) for _ in range(3)]
    for status, visibility in (("hidden", "public"), ("deleted", "public"), ("draft", "public"), ("published", "private")):
        await note(zc_runtime, authors[0].id, title="not shown", topics=("tea",), status=status, visibility=visibility)
    await note(zc_runtime, authors[0].id, title="scheduled", topics=("tea",), age=timedelta(hours=-2))
    await note(zc_runtime, authors[-1].id, title="hiking only", topics=("hiking",))
    return [*twins[::-1], *made[::-1]]  # twins at 20 hours (by id, highest first), then 22, 25 ... 40 hours


async def test_the_channel_pages_through_the_topics_readable_notes(zc_client, zc_runtime, zc_make_user):
    from plugins.notes.engagement import flush_impressions, impression_buffer
    from plugins.notes.models import Impression

    a = await zc_make_user("a@example.com", roles=("creator",))
    b = await zc_make_user("b@example.com", roles=("creator",))
    viewer = await zc_make_user("viewer@example.com")
    order = await tea_notes(zc_runtime, [a, b])
    headers = await api_token(zc_client, "viewer@example.com")

    for limit in (1, 3, 50):
        got = await pages(zc_client, TEA, headers, limit=limit)
        assert [c["note_id"] for c in got] == order, f"limit {limit}"
    assert {c["source"] for c in got} == {"topic"}
    anonymous = (await zc_client.get(TEA, params={"limit": 4})).json()
    assert [c["note_id"] for c in anonymous["items"]] == order[:4] and anonymous["next_cursor"]
    assert anonymous["topic"]["key"] == "tea" and anonymous["topic"]["note_count"] >= len(order)
    # by name, any case, with or without the #
    for path in ("/api/v1/feed/topics/TEA/notes", "/api/v1/feed/topics/%23Tea/notes"):
        assert [c["note_id"] for c in (await zc_client.get(path, params={"limit": 4})).json()["items"]] == order[:4]

    # a note deleted while scrolling is left out; one published meanwhile waits for the next load
    first = (await zc_client.get(TEA, params={"limit": 3}, headers=headers)).json()
    await note(zc_runtime, a.id, title="just now", topics=("tea",), age=timedelta(0))
    await set_status(zc_runtime, order[3], status="deleted")
    second = (await zc_client.get(TEA, params={"limit": 3, "cursor": first["next_cursor"]}, headers=headers)).json()
    assert [c["note_id"] for c in first["items"] + second["items"]] == order[:3] + order[4:7]

    await impression_buffer(zc_runtime).wait()
    await flush_impressions(zc_runtime)
    async with zc_runtime.db.read_session() as s:
        seen = set((await s.execute(select(Impression.note_id).where(Impression.user_id == viewer.id))).scalars())
    assert seen == set(order), "served cards are impressions, as in the other feeds"


async def test_unknown_topics_and_foreign_cursors_are_refused(zc_client, zc_runtime, zc_make_user):
    a = await zc_make_user("a@example.com", roles=("creator",))
    await zc_make_user("viewer@example.com")
    for i in range(3):
        await note(zc_runtime, a.id, title=f"n{i}", topics=("tea", "hiking"))
    assert "no such topic" in assert_problem(await zc_client.get("/api/v1/feed/topics/nothing/notes"), 404)["detail"]
    assert_problem(await zc_client.get("/api/v1/feed/topics/" + "x" * 200 + "/notes"), 404)
    assert_problem(await zc_client.get(TEA, params={"cursor": "nonsense"}), 400)
    assert_problem(await zc_client.get(TEA, params={"limit": 51}), 422)
    assert_problem(await zc_client.get(TEA, params={"limit": 0}), 400)

    cursor = (await zc_client.get(TEA, params={"limit": 1})).json()["next_cursor"]
    body, mac = cursor.split(".")
    assert_problem(await zc_client.get(TEA, params={"cursor": f"{body[:-2]}xx.{mac}"}), 400)
    hiking = "/api/v1/feed/topics/hiking/notes"
    assert "another topic" in assert_problem(await zc_client.get(hiking, params={"cursor": cursor}), 400)["detail"]
    explore = (await zc_client.get("/api/v1/feed/explore", params={"limit": 1})).json()["next_cursor"]
    assert "another feed" in assert_problem(await zc_client.get(TEA, params={"cursor": explore}), 400)["detail"]
    headers = await api_token(zc_client, "viewer@example.com")
    assert "another viewer" in assert_problem(await zc_client.get(TEA, params={"cursor": cursor}, headers=headers), 400)["detail"]


async def test_the_channel_page_works_without_javascript(zc_client, zc_runtime, zc_make_user):
    authors = [await zc_make_user(f"author{i}@example.com", roles=("creator",)) for i in range(3)]
    made = [await note(zc_runtime, authors[i % 3].id, title=f"tea {i}", topics=("tea",), age=timedelta(hours=i)) for i in range(25)]
    await note(zc_runtime, authors[0].id, title="hiking only", topics=("hiking",), likes=50)
    made.append(await note(zc_runtime, authors[0].id, title="<script>alert(1)</script>", topics=("tea",), age=timedelta(days=5)))

    explore = await get(zc_client, "/feed")
    assert 'href="/feed/topics/tea" data-testid="topic-chip">#tea<' in explore and 'aria-current="page">#' not in explore

    html = await get(zc_client, "/feed/topics/tea")
    assert note_ids(html) == made[:20], "newest first, only #tea"
    assert "hiking only" not in html
    assert 'data-testid="topic-title">#tea <small class="muted">26 notes</small>' in html and "<title>#tea" in html
    assert 'href="/feed/topics/tea" data-testid="topic-chip" aria-current="page">#tea<' in html
    assert 'href="/feed/topics/hiking" data-testid="topic-chip">#hiking<' in html
    assert 'data-testid="feed-tabs"' in html and 'data-testid="tab-explore" aria-current' not in html, "a channel, not the explore tab itself"
    assert '<script src="/feed/static/explore.js" defer></script>' in html and 'data-testid="probe-explore-top"' not in html
    more = re.search(r'<a class="btn btn-ghost" href="([^"]+)" data-fragment="([^"]+)"[^>]*data-testid="feed-more"', html)
    next_page, fragment = unescape(more.group(1)), unescape(more.group(2))
    assert next_page.startswith("/feed/topics/tea?cursor=") and fragment.startswith("/feed/topics/tea/more?cursor=")

    second = await get(zc_client, next_page)  # without JavaScript: a whole page
    assert note_ids(second) == made[20:] and 'data-testid="feed-end"' in second
    assert "<script>alert(1)" not in second and "&lt;script&gt;alert(1)&lt;/script&gt;" in second and 'href="/feed/topics/tea">Refresh<' in second
    piece = await get(zc_client, fragment)  # explore.js: the same cards as a fragment
    assert "<!doctype html>" not in piece and note_ids(piece) == made[20:] and "data-next-fragment" not in piece

    for path in (f"/feed/topics/tea?cursor={'x' * 40}", "/feed/topics/tea/more?cursor=a.b"):
        bad = await get(zc_client, path, 400)
        assert 'data-testid="feed-problem"' in bad and 'href="/feed/topics/tea">Start again<' in bad and not cards(bad)
    hiking_cursor = next_page.split("cursor=", 1)[1]
    assert "This feed link is not valid." in await get(zc_client, "/feed/topics/hiking", 400, cursor=hiking_cursor)
    for path in ("/feed/topics/nothing", "/feed/topics/nothing/more"):
        assert "Traceback" not in await get(zc_client, path, 404)

    viewer = await zc_make_user("viewer@example.com")  # signed in: the same channel, fresh
    await html_login(zc_client, viewer.email)
    assert note_ids(await get(zc_client, "/feed/topics/TEA")) == made[:20]
    zc_client.cookies.set("zc_lang", "zh-CN")
    chinese = (await zc_client.get("/feed/topics/tea")).text
    assert "26 篇笔记" in chinese and ">发现<" in chinese


async def test_the_current_topic_is_a_chip_and_names_may_be_chinese(zc_client, zc_runtime, zc_make_user):
    from plugins.notes.models import Topic

    author = await zc_make_user("author@example.com", roles=("creator",))
    rare = await note(zc_runtime, author.id, title="rare", topics=("护肤",))
    await note(zc_runtime, author.id, title="empty topic", topics=("quiet",), status="draft")
    for i in range(12):
        await note(zc_runtime, author.id, title=f"t{i}", topics=(f"t{i}",))
    async with zc_runtime.db.session() as s:
        await s.execute(update(Topic).where(Topic.key.like("t%")).values(note_count=5))
        await s.commit()

    html = await get(zc_client, "/feed/topics/%E6%8A%A4%E8%82%A4")
    chips = re.findall(r'<a class="chip" href="([^"]+)" data-testid="topic-chip"( aria-current="page")?>#([^<]+)<', html)
    assert len(chips) == 12 and chips[0] == ("/feed/topics/%E6%8A%A4%E8%82%A4", ' aria-current="page"', "护肤"), "not among the top chips: first"
    assert sum(1 for c in chips if c[1]) == 1 and note_ids(html) == [rare]
    assert 'href="/feed/topics/t0" data-testid="topic-chip">#t0<' in await get(zc_client, "/feed")
    empty = await get(zc_client, "/feed/topics/quiet")
    assert 'data-testid="topic-empty"' in empty and "No notes in this topic yet." in empty and not cards(empty)


async def test_the_channel_page_costs_the_same_queries_for_more_notes(zc_client, zc_runtime, zc_make_user):
    async def count(path: str) -> tuple[int, int]:
        await settle(zc_runtime)
        with QueryCounter() as q:
            html = await get(zc_client, path)
        return q.count, len(cards(html))

    few = [await zc_make_user(f"few{i}@example.com", roles=("creator",)) for i in range(3)]
    for i in range(21):
        await note(zc_runtime, few[i % 3].id, title=f"a{i}", topics=("tea", f"t{i % 2}"))
    await get(zc_client, "/feed/topics/tea")  # warm up
    small, shown = await count("/feed/topics/tea")
    assert shown == 20
    many = [await zc_make_user(f"many{i}@example.com", roles=("creator",)) for i in range(20)]
    for i in range(40):
        await note(zc_runtime, many[i % 20].id, title=f"b{i}", topics=("tea", f"t{i % 7}"), likes=i)
    large, shown = await count("/feed/topics/tea")
    assert shown == 20 and large == small, f"{small} queries with 21 notes, {large} with 61"
    assert small <= 5, small  # (BEGIN,) the topic, its notes, their cards, the chips
    fragment = unescape(re.search(r'data-fragment="([^"]+)"', await get(zc_client, "/feed/topics/tea")).group(1))
    more, shown = await count(fragment)
    assert shown == 20 and more <= 4, more  # (BEGIN,) the topic, its notes, their cards


@pytest.mark.parametrize("zc_settings", ["notes"], indirect=True)
async def test_without_notes_there_are_no_channels(zc_client, zc_runtime, zc_make_user):
    author = await zc_make_user("author@example.com", roles=("creator",))
    await note(zc_runtime, author.id, topics=("tea",))  # rows left from when it was enabled
    assert_problem(await zc_client.get(TEA), 404)
    await get(zc_client, "/feed/topics/tea", 404)


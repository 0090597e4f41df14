"""The follow feed: newest first from followed authors and about followed brands, keyset cursor."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete

from core.testing import api_token
from tests.core.test_api_conventions import assert_problem
from tests.plugins.feed.helpers import (
    feed_settings_for,
    follow,
    follow_brand,
    note,
    pages,
    tag,
)

FOLLOWING = "/api/v1/feed/following"


async def test_newest_first_from_followed_authors_only(zc_client, zc_runtime, zc_make_user):
    from core.db import utcnow

    feed_settings_for(zc_runtime)
    a = await zc_make_user("a@example.com", roles=("creator",))
    b = await zc_make_user("b@example.com", roles=("creator",))
    stranger = await zc_make_user("c@example.com", roles=("creator",))
    viewer = await zc_make_user("viewer@example.com")
    await follow(zc_runtime, viewer.id, a.id)
    await follow(zc_runtime, viewer.id, b.id)
    same_time = utcnow() - timedelta(hours=30)
    expected = []
    for i in range(9):
        expected.append(await note(zc_runtime, (a, b)[i % 2].id, title=f"n{i}", age=timedelta(hours=40 - i * 4)))
    twins = [await note(zc_runtime, a.id, title="twin", published_at=same_time) for _ in range(3)]  # same instant: ordered by id
    for status, visibility in (("hidden", "public"), ("deleted", "public"), ("draft", "public"), ("published", "private")):
        await note(zc_runtime, a.id, title="not shown", status=status, visibility=visibility)
    await note(zc_runtime, a.id, title="scheduled", age=timedelta(hours=-2))
    await note(zc_runtime, stranger.id, title="stranger")
    headers = await api_token(zc_client, "viewer@example.com")

    cards = await pages(zc_client, FOLLOWING, headers, limit=4)
    got = [c["note_id"] for c in cards]
    # ages 40, 36, 32 | twins at 30 | 28, 24, ... 8 hours: newest first, twins by id, highest first
    order = expected[3:][::-1] + twins[::-1] + expected[:3][::-1]
    assert got == order
    assert {c["source"] for c in cards} == {"follow"} and {c["author"]["user_id"] for c in cards} == {a.id, b.id}

    # new notes published while scrolling come on top of the next load, never inside the scroll
    first = (await zc_client.get(FOLLOWING, params={"limit": 4}, headers=headers)).json()
    await note(zc_runtime, a.id, title="just now", age=timedelta(0))
    second = (await zc_client.get(FOLLOWING, params={"limit": 4, "cursor": first["next_cursor"]}, headers=headers)).json()
    assert [c["note_id"] for c in first["items"] + second["items"]] == order[:8]


async def test_follow_feed_needs_a_login_and_its_own_cursor(zc_client, zc_runtime, zc_make_user):
    feed_settings_for(zc_runtime)
    a = await zc_make_user("a@example.com", roles=("creator",))
    viewer = await zc_make_user("viewer@example.com")
    await zc_make_user("other@example.com")
    await follow(zc_runtime, viewer.id, a.id)
    for i in range(3):
        await note(zc_runtime, a.id, title=f"n{i}")
    assert_problem(await zc_client.get(FOLLOWING), 401)
    headers = await api_token(zc_client, "viewer@example.com")
    page = (await zc_client.get(FOLLOWING, params={"limit": 1}, headers=headers)).json()
    cursor = page["next_cursor"]
    body, mac = cursor.split(".")
    assert_problem(await zc_client.get(FOLLOWING, params={"cursor": f"{body[:-2]}xx.{mac}"}, headers=headers), 400)
    other = await api_token(zc_client, "other@example.com")
    assert "another viewer" in assert_problem(await zc_client.get(FOLLOWING, params={"cursor": cursor}, headers=other), 400)["detail"]
    # an explore cursor is not a follow-feed cursor, and the other way round
    explore_cursor = (await zc_client.get("/api/v1/feed/explore", params={"limit": 1}, headers=headers)).json()["next_cursor"]
    assert "another feed" in assert_problem(await zc_client.get(FOLLOWING, params={"cursor": explore_cursor}, headers=headers), 400)["detail"]
    assert "another feed" in assert_problem(await zc_client.get("/api/v1/feed/explore", params={"cursor": cursor}, headers=headers), 400)["detail"]
    # nobody followed: an empty page, not an error
    assert (await zc_client.get(FOLLOWING, headers=other)).json() == {"items": [], "next_cursor": None}


async def test_notes_about_followed_brands_join_the_feed_once(zc_client, zc_runtime, zc_make_user, zc_make_product):
    feed_settings_for(zc_runtime)
    friend = await zc_make_user("friend@example.com", roles=("creator",))
    stranger = await zc_make_user("stranger@example.com", roles=("creator",))
    viewer = await zc_make_user("viewer@example.com")
    await follow(zc_runtime, viewer.id, friend.id)
    cream, serum = await zc_make_product("glow"), await zc_make_product("glow")
    other = await zc_make_product("elsewhere")
    await follow_brand(zc_runtime, viewer.id, "glow")

    async def made(author, hours, *variants, **kw) -> int:
        note_id = await note(zc_runtime, author.id, title=f"{author.email} {hours}h", age=timedelta(hours=hours), **kw)
        await tag(zc_runtime, note_id, *variants)
        return note_id

    expected = {
        await made(friend, 1): "follow",
        await made(stranger, 2, cream, serum): "brand",  # two of the brand's products: still one card
        await made(friend, 3, cream): "follow",  # followed author and brand: once, as a follow
        await made(stranger, 4, other, cream): "brand",
        await made(stranger, 5, serum): "brand",
        await made(friend, 6, other): "follow",
    }
    await made(stranger, 1.5, other)  # a brand not followed
    await made(viewer, 2.5, cream)  # the viewer's own note
    await made(stranger, 3.5, cream, visibility="private")
    await made(stranger, 4.5, serum, status="hidden")
    await made(stranger, -1, serum)  # scheduled

    headers = await api_token(zc_client, "viewer@example.com")
    for limit in (1, 2, 4, 20):
        cards = await pages(zc_client, FOLLOWING, headers, limit=limit)
        assert [(c["note_id"], c["source"]) for c in cards] == list(expected.items()), f"limit {limit}"
    # unfollowing the brand leaves the followed author's notes
    from plugins.notes.models import BrandFollow

    async with zc_runtime.db.session() as s:
        await s.execute(delete(BrandFollow))
        await s.commit()
    cards = await pages(zc_client, FOLLOWING, headers, limit=20)
    assert [c["note_id"] for c in cards] == [n for n, source in expected.items() if source == "follow"]

"""Engagement through the JSON API: likes, collects and boards, comments and replies,
shares, follows, profiles and bans, with the bad inputs of issue 5 that are engagement's."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.db import utcnow
from plugins.notes.models import Board, Collect, Comment, Like, ModerationCase, NoteStatus, NotesProfile, Share, Visibility
from tests.core.test_api_conventions import assert_problem
from tests.plugins.notes.engagement_helpers import API, count, events, make_note, note_row, person


async def profile_of(runtime, user_id: int) -> NotesProfile:
    async with runtime.db.read_session() as session:
        found = await session.get(NotesProfile, user_id)
        assert found is not None
        return found


# ---------------------------------------------------------------- likes


async def test_a_double_like_counts_once_and_an_unlike_undoes_it(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    fan = await person(zc_client, zc_make_user, "fan")
    note = await make_note(zc_runtime, author.id)

    for _ in range(2):
        r = await zc_client.post(f"{API}/{note}/like", headers=fan.auth)
        assert r.status_code == 200, r.text
        assert r.json() == {"liked": True, "like_count": 1}
    assert (await note_row(zc_runtime, note)).like_count == 1
    assert (await profile_of(zc_runtime, author.id)).likes_received == 1
    assert await events(zc_runtime, "note.liked") == [{"note_id": note, "user_id": fan.id, "author_user_id": author.id}]

    for _ in range(2):
        r = await zc_client.delete(f"{API}/{note}/like", headers=fan.auth)
        assert r.status_code == 200 and r.json() == {"liked": False, "like_count": 0}
    assert (await note_row(zc_runtime, note)).like_count == 0
    assert (await profile_of(zc_runtime, author.id)).likes_received == 0
    assert len(await events(zc_runtime, "note.unliked")) == 1
    assert await count(zc_runtime, Like) == 0

    likes = await zc_client.get(f"{API}/me/likes", headers=fan.auth)
    assert likes.json()["items"] == []
    await zc_client.post(f"{API}/{note}/like", headers=fan.auth)
    card = (await zc_client.get(f"{API}/me/likes", headers=fan.auth)).json()["items"][0]
    assert (card["id"], card["likes"], card["author"]["handle"]) == (note, 1, f"u{author.id}")


@pytest.mark.parametrize(
    ("status", "visibility"),
    [(NoteStatus.DELETED, Visibility.PUBLIC), (NoteStatus.PUBLISHED, Visibility.PRIVATE), (NoteStatus.HIDDEN, Visibility.PUBLIC), (NoteStatus.DRAFT, Visibility.PUBLIC)],
)
async def test_liking_a_deleted_hidden_draft_or_private_note_is_404_and_writes_nothing(zc_client, zc_make_user, zc_runtime, status, visibility):
    author = await person(zc_client, zc_make_user, "author")
    fan = await person(zc_client, zc_make_user, "fan")
    note = await make_note(zc_runtime, author.id, status=status, visibility=visibility)
    for method, path, body in [
        ("post", f"{API}/{note}/like", None), ("post", f"{API}/{note}/collect", {}), ("post", f"{API}/{note}/share", {"channel": "link"}),
        ("post", f"{API}/{note}/comments", {"body": "好看"}), ("delete", f"{API}/{note}/like", None), ("delete", f"{API}/{note}/collect", None),
    ]:
        kwargs = {"json": body} if body is not None else {}
        assert_problem(await getattr(zc_client, method)(path, headers=fan.auth, **kwargs), 404)
    assert_problem(await zc_client.get(f"{API}/{note}/comments", headers=fan.auth), 404)
    for model in (Like, Collect, Share, Comment, Board):
        assert await count(zc_runtime, model) == 0, model
    row = await note_row(zc_runtime, note)
    assert (row.like_count, row.collect_count, row.share_count, row.comment_count) == (0, 0, 0, 0)
    assert await events(zc_runtime, "note.liked") == []


async def test_the_author_may_engage_with_their_own_private_note_and_unknown_ids_are_404(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    note = await make_note(zc_runtime, author.id, visibility=Visibility.PRIVATE)
    assert (await zc_client.post(f"{API}/{note}/like", headers=author.auth)).json() == {"liked": True, "like_count": 1}
    assert_problem(await zc_client.post(f"{API}/999999/like", headers=author.auth), 404)
    assert_problem(await zc_client.post(f"{API}/{2**63 - 1}/like", headers=author.auth), 404)
    assert_problem(await zc_client.post(f"{API}/{note}/like"), 401)


# ---------------------------------------------------------------- boards and collects


async def test_collects_go_into_boards_once_per_note_and_moving_changes_the_board(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    fan = await person(zc_client, zc_make_user, "fan")
    n1, n2 = await make_note(zc_runtime, author.id), await make_note(zc_runtime, author.id)

    r = await zc_client.post(f"{API}/{n1}/collect", headers=fan.auth)  # no body: the default board
    assert r.status_code == 200, r.text
    default = r.json()["board_id"]
    assert r.json() == {"collected": True, "board_id": default, "collect_count": 1}
    r = await zc_client.post(f"{API}/{n2}/collect", json={"board_name": "护肤 Skincare"}, headers=fan.auth)
    skincare = r.json()["board_id"]
    assert skincare != default and r.json()["collect_count"] == 1

    boards = {b["name"]: b for b in (await zc_client.get(f"{API}/me/boards", headers=fan.auth)).json()}
    assert {n: (b["note_count"], b["private"]) for n, b in boards.items()} == {"Saved": (1, False), "护肤 Skincare": (1, False)}

    # collecting n1 again into the skincare board moves it; again there changes nothing
    for _ in range(2):
        r = await zc_client.post(f"{API}/{n1}/collect", json={"board_id": skincare}, headers=fan.auth)
        assert r.json() == {"collected": True, "board_id": skincare, "collect_count": 1}
    boards = {b["name"]: b["note_count"] for b in (await zc_client.get(f"{API}/me/boards", headers=fan.auth)).json()}
    assert boards == {"Saved": 0, "护肤 Skincare": 2}
    assert await count(zc_runtime, Collect) == 2
    assert (await profile_of(zc_runtime, author.id)).likes_received == 2
    assert len(await events(zc_runtime, "note.collected")) == 2

    page = (await zc_client.get(f"{API}/boards/{skincare}/notes")).json()
    assert [c["id"] for c in page["items"]] == [n1, n2]  # last saved first
    mine = (await zc_client.get(f"{API}/me/collects", headers=fan.auth)).json()["items"]
    assert [c["id"] for c in mine] == [n1, n2]

    r = await zc_client.delete(f"{API}/{n1}/collect", headers=fan.auth)
    assert r.json() == {"collected": False, "board_id": None, "collect_count": 0}
    assert (await note_row(zc_runtime, n1)).collect_count == 0
    assert (await profile_of(zc_runtime, author.id)).likes_received == 1
    boards = {b["name"]: b["note_count"] for b in (await zc_client.get(f"{API}/me/boards", headers=fan.auth)).json()}
    assert boards == {"Saved": 0, "护肤 Skincare": 1}

    # deleting a board uncollects what is in it
    assert (await zc_client.delete(f"{API}/boards/{skincare}", headers=fan.auth)).status_code == 204
    assert (await note_row(zc_runtime, n2)).collect_count == 0
    assert (await profile_of(zc_runtime, author.id)).likes_received == 0
    assert await count(zc_runtime, Collect) == 0
    assert [b["name"] for b in (await zc_client.get(f"{API}/me/boards", headers=fan.auth)).json()] == ["Saved"]


async def test_boards_crud_private_boards_and_other_users_boards_are_404(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    me = await person(zc_client, zc_make_user, "me")
    other = await person(zc_client, zc_make_user, "other")
    note = await make_note(zc_runtime, author.id)

    r = await zc_client.post(f"{API}/boards", json={"name": "Secret", "private": True}, headers=me.auth)
    assert r.status_code == 201, r.text
    secret = r.json()
    assert (secret["name"], secret["private"], secret["note_count"], secret["owner"]) == ("Secret", True, 0, f"u{me.id}")
    assert_problem(await zc_client.post(f"{API}/boards", json={"name": "Secret"}, headers=me.auth), 409)
    assert_problem(await zc_client.post(f"{API}/boards", json={"name": "   "}, headers=me.auth), 422)
    assert_problem(await zc_client.post(f"{API}/boards", json={"name": "x", "color": "red"}, headers=me.auth), 400)
    public = (await zc_client.post(f"{API}/boards", json={"name": "Outfits"}, headers=me.auth)).json()
    await zc_client.post(f"{API}/{note}/collect", json={"board_id": secret["id"]}, headers=me.auth)

    # others see the public board only
    assert_problem(await zc_client.get(f"{API}/boards/{secret['id']}", headers=other.auth), 404)
    assert_problem(await zc_client.get(f"{API}/boards/{secret['id']}/notes"), 404)
    assert (await zc_client.get(f"{API}/boards/{secret['id']}/notes", headers=me.auth)).json()["items"][0]["id"] == note
    listed = (await zc_client.get(f"{API}/users/u{me.id}/boards", headers=other.auth)).json()
    assert [b["name"] for b in listed] == ["Outfits"]
    assert [b["name"] for b in (await zc_client.get(f"{API}/users/u{me.id}/boards", headers=me.auth)).json()] == ["Secret", "Outfits"]

    # another user's board id on a write is 404, like a missing one
    assert_problem(await zc_client.post(f"{API}/{note}/collect", json={"board_id": public["id"]}, headers=other.auth), 404)
    assert_problem(await zc_client.patch(f"{API}/boards/{public['id']}", json={"name": "mine now"}, headers=other.auth), 404)
    assert_problem(await zc_client.delete(f"{API}/boards/{public['id']}", headers=other.auth), 404)
    assert_problem(await zc_client.post(f"{API}/{note}/collect", json={"board_id": 424242}, headers=me.auth), 404)
    assert_problem(await zc_client.post(f"{API}/{note}/collect", json={"board_id": public["id"], "board_name": "x"}, headers=me.auth), 422)

    r = await zc_client.patch(f"{API}/boards/{secret['id']}", json={"name": "Not secret", "private": False}, headers=me.auth)
    assert r.status_code == 200 and (r.json()["name"], r.json()["private"], r.json()["note_count"]) == ("Not secret", False, 1)
    assert_problem(await zc_client.patch(f"{API}/boards/{secret['id']}", json={"name": "Outfits"}, headers=me.auth), 409)
    assert (await zc_client.get(f"{API}/boards/{secret['id']}", headers=other.auth)).status_code == 200


# ---------------------------------------------------------------- comments


async def test_replies_are_one_level_deep_and_counts_stay_exact(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    a = await person(zc_client, zc_make_user, "alice")
    b = await person(zc_client, zc_make_user, "bob")
    note = await make_note(zc_runtime, author.id)

    r = await zc_client.post(f"{API}/{note}/comments", json={"body": "  这个色号好看吗？ "}, headers=a.auth)
    assert r.status_code == 201, r.text
    top = r.json()
    assert (top["body"], top["parent_id"], top["status"], top["author"]["handle"]) == ("这个色号好看吗？", None, "visible", f"u{a.id}")
    reply = (await zc_client.post(f"{API}/comments/{top['id']}/replies", json={"body": "很显白"}, headers=b.auth)).json()
    assert reply["parent_id"] == top["id"]
    # a reply to a reply joins the top-level comment's thread
    deeper = (await zc_client.post(f"{API}/{note}/comments", json={"body": "谢谢!", "parent_id": reply["id"]}, headers=a.auth)).json()
    assert deeper["parent_id"] == top["id"]
    second = (await zc_client.post(f"{API}/{note}/comments", json={"body": "求链接"}, headers=b.auth)).json()

    assert (await note_row(zc_runtime, note)).comment_count == 4
    page = (await zc_client.get(f"{API}/{note}/comments", headers=a.auth)).json()
    assert page["total"] == 2
    assert [c["id"] for c in page["items"]] == [second["id"], top["id"]]  # newest first
    thread = page["items"][1]
    assert thread["reply_count"] == 2 and [x["id"] for x in thread["replies"]] == [reply["id"], deeper["id"]]
    assert all(x["replies"] == [] for x in thread["replies"])
    replies = (await zc_client.get(f"{API}/comments/{deeper['id']}/replies")).json()
    assert [x["id"] for x in replies["items"]] == [reply["id"], deeper["id"]] and replies["total"] == 2
    assert len(await events(zc_runtime, "comment.added")) == 4

    # comment likes: a double like counts once
    for _ in range(2):
        assert (await zc_client.post(f"{API}/comments/{top['id']}/like", headers=b.auth)).json() == {"liked": True, "like_count": 1}
    page = (await zc_client.get(f"{API}/{note}/comments", headers=b.auth)).json()
    assert page["items"][1]["liked_by_me"] is True and page["items"][1]["like_count"] == 1
    assert (await zc_client.delete(f"{API}/comments/{top['id']}/like", headers=b.auth)).json() == {"liked": False, "like_count": 0}

    # only its author, the note's author or staff delete a comment; others get 404
    assert_problem(await zc_client.delete(f"{API}/comments/{reply['id']}", headers=a.auth), 404)
    assert (await zc_client.delete(f"{API}/comments/{reply['id']}", headers=b.auth)).status_code == 204
    assert_problem(await zc_client.delete(f"{API}/comments/{reply['id']}", headers=b.auth), 404)
    assert (await note_row(zc_runtime, note)).comment_count == 3
    page = (await zc_client.get(f"{API}/{note}/comments")).json()
    assert page["items"][1]["reply_count"] == 1 and [x["id"] for x in page["items"][1]["replies"]] == [deeper["id"]]
    # deleting a top-level comment takes its thread with it
    assert (await zc_client.delete(f"{API}/comments/{top['id']}", headers=author.auth)).status_code == 204
    assert (await note_row(zc_runtime, note)).comment_count == 1
    assert [c["id"] for c in (await zc_client.get(f"{API}/{note}/comments")).json()["items"]] == [second["id"]]
    assert_problem(await zc_client.post(f"{API}/comments/{top['id']}/replies", json={"body": "还在吗"}, headers=b.auth), 404)
    # a comment id of another note as parent is 404
    other_note = await make_note(zc_runtime, author.id)
    assert_problem(await zc_client.post(f"{API}/{other_note}/comments", json={"body": "hi", "parent_id": second["id"]}, headers=a.auth), 404)


async def test_commenting_as_a_banned_user_is_403_until_the_ban_is_lifted(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    troll = await person(zc_client, zc_make_user, "troll")
    staff = await person(zc_client, zc_make_user, "staff", staff=True)
    note = await make_note(zc_runtime, author.id)
    until = (utcnow() + timedelta(days=7)).replace(microsecond=0)

    assert_problem(await zc_client.put(f"{API}/users/u{troll.id}/ban", json={"until": until.isoformat(), "reason": "spam"}, headers=author.auth), 403)
    assert_problem(await zc_client.put(f"{API}/users/u{troll.id}/ban", json={"until": (utcnow() - timedelta(days=1)).isoformat(), "reason": "spam"}, headers=staff.auth), 422)
    r = await zc_client.put(f"{API}/users/u{troll.id}/ban", json={"until": until.isoformat(), "reason": "刷屏 spam"}, headers=staff.auth)
    assert r.status_code == 200, r.text
    assert r.json()["ban_reason"] == "刷屏 spam"

    body = assert_problem(await zc_client.post(f"{API}/{note}/comments", json={"body": "快来看"}, headers=troll.auth), 403)
    assert "banned" in body["detail"] and "刷屏 spam" in body["detail"] and until.strftime("%Y-%m-%d") in body["detail"]
    assert await count(zc_runtime, Comment) == 0 and (await note_row(zc_runtime, note)).comment_count == 0
    # likes are not comments: still allowed
    assert (await zc_client.post(f"{API}/{note}/like", headers=troll.auth)).status_code == 200
    mine = (await zc_client.get(f"{API}/me/profile", headers=troll.auth)).json()
    assert mine["ban_reason"] == "刷屏 spam" and mine["banned_until"] is not None

    assert (await zc_client.delete(f"{API}/users/u{troll.id}/ban", headers=staff.auth)).json()["banned_until"] is None
    assert (await zc_client.post(f"{API}/{note}/comments", json={"body": "好的"}, headers=troll.auth)).status_code == 201
    assert [e["user_id"] for e in await events(zc_runtime, "user.banned")] == [troll.id]


async def test_moderation_blocks_with_reasons_and_holds_for_staff(zc_client, zc_make_user, zc_runtime, monkeypatch):
    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    monkeypatch.delenv("ZHONGCAO_NOTES_HOLDLIST", raising=False)
    author = await person(zc_client, zc_make_user, "author")
    fan = await person(zc_client, zc_make_user, "fan")
    staff = await person(zc_client, zc_make_user, "staff", staff=True)
    note = await make_note(zc_runtime, author.id)

    body = assert_problem(await zc_client.post(f"{API}/{note}/comments", json={"body": "来玩网 赌 吧"}, headers=fan.auth), 422)
    assert body["reasons"] and "网赌" in body["reasons"][0]
    assert await count(zc_runtime, Comment) == 0 and await count(zc_runtime, ModerationCase) == 0

    r = await zc_client.post(f"{API}/{note}/comments", json={"body": "想要的加微信"}, headers=fan.auth)
    assert r.status_code == 201 and r.json()["status"] == "held"
    held = r.json()["id"]
    assert (await zc_client.get(f"{API}/{note}/comments")).json()["items"] == []
    assert (await note_row(zc_runtime, note)).comment_count == 0
    assert await events(zc_runtime, "comment.added") == []
    assert_problem(await zc_client.post(f"{API}/comments/{held}/like", headers=author.auth), 404)
    assert_problem(await zc_client.post(f"{API}/comments/{held}/review", json={"decision": "allow"}, headers=author.auth), 403)

    r = await zc_client.post(f"{API}/comments/{held}/review", json={"decision": "allow"}, headers=staff.auth)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "visible"
    assert [c["id"] for c in (await zc_client.get(f"{API}/{note}/comments")).json()["items"]] == [held]
    assert (await note_row(zc_runtime, note)).comment_count == 1
    assert [e["comment_id"] for e in await events(zc_runtime, "comment.added")] == [held]
    assert_problem(await zc_client.post(f"{API}/comments/{held}/review", json={"decision": "block"}, headers=staff.auth), 409)

    # a held comment its author deletes leaves the review queue
    r = await zc_client.post(f"{API}/{note}/comments", json={"body": "wechat me"}, headers=fan.auth)
    assert r.json()["status"] == "held"
    assert await count(zc_runtime, ModerationCase, ModerationCase.status == "open") == 1
    assert (await zc_client.delete(f"{API}/comments/{r.json()['id']}", headers=fan.auth)).status_code == 204
    assert await count(zc_runtime, ModerationCase, ModerationCase.status == "open") == 0
    assert (await note_row(zc_runtime, note)).comment_count == 1


async def test_comment_bodies_are_checked(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    note = await make_note(zc_runtime, author.id)
    assert_problem(await zc_client.post(f"{API}/{note}/comments", json={"body": "   "}, headers=author.auth), 422)
    assert_problem(await zc_client.post(f"{API}/{note}/comments", json={"body": "x" * 1001}, headers=author.auth), 422)
    assert_problem(await zc_client.post(f"{API}/{note}/comments", json={"body": "bell\x07"}, headers=author.auth), 422)
    assert_problem(await zc_client.post(f"{API}/{note}/comments", json={"body": 5}, headers=author.auth), 400)
    assert await count(zc_runtime, Comment) == 0


# ---------------------------------------------------------------- shares


async def test_shares_are_counted_per_channel_and_a_double_click_counts_once(zc_client, zc_make_user, zc_runtime):
    author = await person(zc_client, zc_make_user, "author")
    fan = await person(zc_client, zc_make_user, "fan")
    note = await make_note(zc_runtime, author.id)
    assert (await zc_client.post(f"{API}/{note}/share", headers=fan.auth)).json() == {"share_count": 1, "counted": True}
    assert (await zc_client.post(f"{API}/{note}/share", json={"channel": "link"}, headers=fan.auth)).json() == {"share_count": 1, "counted": False}
    assert (await zc_client.post(f"{API}/{note}/share", json={"channel": "wechat"}, headers=fan.auth)).json() == {"share_count": 2, "counted": True}
    assert_problem(await zc_client.post(f"{API}/{note}/share", json={"channel": "fax"}, headers=fan.auth), 422)
    assert await count(zc_runtime, Share) == 2
    assert [e["channel"] for e in await events(zc_runtime, "note.shared")] == ["link", "wechat"]


# ---------------------------------------------------------------- people


async def test_following_oneself_is_422_and_follow_counts_are_exact_on_both_sides(zc_client, zc_make_user, zc_runtime):
    a = await person(zc_client, zc_make_user, "alice")
    b = await person(zc_client, zc_make_user, "bob")
    c = await person(zc_client, zc_make_user, "carol")

    body = assert_problem(await zc_client.post(f"{API}/users/u{a.id}/follow", headers=a.auth), 422)
    assert "yourself" in body["detail"]
    assert_problem(await zc_client.post(f"{API}/users/nobody.here/follow", headers=a.auth), 404)

    for _ in range(2):
        r = await zc_client.post(f"{API}/users/u{b.id}/follow", headers=a.auth)
        assert r.json() == {"following": True, "follower_count": 1, "following_count": 1}
    await zc_client.post(f"{API}/users/u{b.id}/follow", headers=c.auth)
    await zc_client.post(f"{API}/users/u{a.id}/follow", headers=b.auth)

    prof = (await zc_client.get(f"{API}/users/u{b.id}", headers=a.auth)).json()
    assert (prof["follower_count"], prof["following_count"], prof["followed_by_me"], prof["follows_me"]) == (2, 1, True, True)
    anon = (await zc_client.get(f"{API}/users/u{b.id}")).json()
    assert anon["followed_by_me"] is False and anon["follower_count"] == 2
    followers = (await zc_client.get(f"{API}/users/u{b.id}/followers", headers=b.auth)).json()["items"]
    assert [f["handle"] for f in followers] == [f"u{c.id}", f"u{a.id}"]  # newest first
    assert [(f["followed_by_me"], f["follows_me"]) for f in followers] == [(False, True), (True, True)]
    following = (await zc_client.get(f"{API}/users/u{a.id}/following")).json()["items"]
    assert [f["handle"] for f in following] == [f"u{b.id}"]
    assert len(await events(zc_runtime, "user.followed")) == 3

    for _ in range(2):
        assert (await zc_client.delete(f"{API}/users/u{b.id}/follow", headers=a.auth)).json() == {"following": False, "follower_count": 1, "following_count": 0}
    assert (await profile_of(zc_runtime, b.id)).follower_count == 1
    assert (await profile_of(zc_runtime, a.id)).following_count == 0
    assert len(await events(zc_runtime, "user.unfollowed")) == 1


async def test_changing_ones_handle(zc_client, zc_make_user, zc_runtime):
    a = await person(zc_client, zc_make_user, "alice")
    b = await person(zc_client, zc_make_user, "bob")
    await zc_client.get(f"{API}/me/profile", headers=b.auth)

    r = await zc_client.patch(f"{API}/me/profile", json={"handle": "Alice.Skin", "bio": "敏感肌 · skincare"}, headers=a.auth)
    assert r.status_code == 200, r.text
    assert (r.json()["profile"]["handle"], r.json()["profile"]["bio"]) == ("alice.skin", "敏感肌 · skincare")
    assert (await zc_client.get(f"{API}/users/alice.skin")).json()["display_name"] == "alice"
    assert_problem(await zc_client.get(f"{API}/users/u{a.id}"), 404)  # the old default handle is free again... for user a only
    assert_problem(await zc_client.patch(f"{API}/me/profile", json={"handle": "alice.skin"}, headers=b.auth), 409)
    assert_problem(await zc_client.patch(f"{API}/me/profile", json={"handle": "u999"}, headers=b.auth), 409)  # u<digits>: default handles
    for bad in ("ab", "_alice", "al ice", "李白白", "a" * 31):
        assert_problem(await zc_client.patch(f"{API}/me/profile", json={"handle": bad}, headers=b.auth), 422)
    assert_problem(await zc_client.patch(f"{API}/me/profile", json={"bio": "x" * 501}, headers=a.auth), 422)

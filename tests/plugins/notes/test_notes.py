"""Notes through the JSON API: writing (multipart images, topics, mentions, location,
product tags), reading and who may read, editing, scheduled publishing, and every bad
input the issue lists for notes (nothing half-written, no file left behind)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from core.db import utcnow
from core.testing import api_token
from plugins.notes.models import Note, NoteImage, NotesProfile, ProductTag, Topic
from plugins.notes.notes import char_count, parse_body, publish_due, segments
from tests.core.test_api_conventions import assert_problem
from tests.plugins.notes.notes_helpers import API, count, create_note, events, image_bytes, media_files, mp4_bytes, post_note


@pytest.fixture(autouse=True)
def _default_moderation(monkeypatch):
    """The built-in keyword lists, whatever the environment says."""
    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    monkeypatch.delenv("ZHONGCAO_NOTES_HOLDLIST", raising=False)


async def user(client, make_user, email: str, **kw):
    u = await make_user(email, **kw)
    return u, await api_token(client, email)


# ---------------------------------------------------------------- parsing


def test_topics_and_mentions_are_parsed_from_the_body():
    body = "夜间修护 #护肤 #Skincare#好物 和 @Mia.Skin 一起，邮箱 a@b.com 不算，链接 https://x.cn/#frag 也不算 #护肤。@nobody"
    parsed = parse_body(body)
    assert parsed.topics == [("护肤", "护肤"), ("Skincare", "skincare")]  # "好物" follows a closing #: plain text
    assert parsed.handles == ["mia.skin", "nobody"]
    pieces = segments(body, {"mia.skin": 7})
    assert "".join(p.text for p in pieces) == body  # nothing lost
    assert [(p.type, p.text) for p in pieces if p.type != "text"] == [
        ("topic", "#护肤"), ("topic", "#Skincare#"), ("mention", "@Mia.Skin"), ("topic", "#护肤"),
    ]  # @nobody is no profile: it stays text
    assert [p.topic for p in pieces if p.type == "topic"] == ["护肤", "skincare", "护肤"]
    assert char_count("护肤好物分享") == 6 and char_count("e\u0301") == 1 and char_count("👩\u200d🔬") == 2


# ---------------------------------------------------------------- the life of a note


async def test_an_image_note_is_written_read_linked_and_edited(zc_client, zc_runtime, zc_make_user, zc_make_product):
    mia, mia_auth = await user(zc_client, zc_make_user, "mia@example.com", roles=("creator",))
    jun, _ = await user(zc_client, zc_make_user, "jun@example.com", roles=("creator",))
    async with zc_runtime.db.session() as s:
        s.add_all([NotesProfile(user_id=jun.id, handle="jun.tea", bio=""), NotesProfile(user_id=mia.id, handle="mia.skin", bio="")])
        await s.commit()
    cream = await zc_make_product("camellia", price=16800, title="修护面霜")
    before = set(media_files(zc_runtime.settings, mia.id))  # user ids are reused between tests, the media folder is not emptied
    tall = image_bytes(900, 1600, (10, 120, 200))
    r = await post_note(zc_client, mia_auth, {
        "title": "敏感肌的夜间修护流程分享给你们",  # 15 characters
        "body": "三步搞定 #护肤 #Skincare\n谢谢 @jun.tea 推荐，@ghost 不存在",
        "location": {"place_name": "衡山路", "city": "上海", "lat_e6": 31_204_000, "lng_e6": 121_446_000},
        "tags": [{"variant_id": cream.id, "image_position": 1, "x_ppm": 500_000, "y_ppm": 250_000}],
        "publish": True,
    }, images=[image_bytes(), tall, image_bytes(300, 300, (0, 0, 0))])
    assert r.status_code == 201, r.text
    note = r.json()
    assert (note["status"], note["visibility"], note["kind"], note["version"], note["sponsored"], note["sponsored_label"]) == ("published", "public", "image", 1, False, None)
    assert note["published_at"] and note["author"]["handle"] == "mia.skin" and note["url"].endswith(f"/notes/{note['id']}")
    # images: in order, each resized to the standard widths (never wider than the original)
    assert [(i["position"], i["width"], i["height"]) for i in note["images"]] == [(0, 1200, 900), (1, 900, 1600), (2, 300, 300)]
    assert {k: (v["width"], v["height"]) for k, v in note["images"][1]["sizes"].items()} == {"320": (320, 569), "960": (900, 1600)}
    assert all(i["url"].startswith("/media/notes/") for i in note["images"])
    assert len(set(media_files(zc_runtime.settings, mia.id)) - before) == 9  # 3 originals + 2 sizes each
    # topics and mentions, linked
    assert [(t["key"], t["name"], t["note_count"]) for t in note["topics"]] == [("skincare", "Skincare", 1), ("护肤", "护肤", 1)]
    assert note["mentions"] == [{"user_id": jun.id, "handle": "jun.tea"}]
    assert [(s["type"], s["text"]) for s in note["segments"] if s["type"] != "text"] == [("topic", "#护肤"), ("topic", "#Skincare"), ("mention", "@jun.tea")]
    assert note["location"] == {"place_name": "衡山路", "city": "上海", "lat_e6": 31_204_000, "lng_e6": 121_446_000}
    [tag] = note["products"]
    assert (tag["variant_id"], tag["title"], tag["prices"], tag["available"], tag["brand"]["slug"]) == (cream.id, "修护面霜", {"CNY": 16800}, True, "camellia")
    assert (tag["image_position"], tag["x_ppm"], tag["y_ppm"]) == (1, 500_000, 250_000)
    assert note["moderation"] == {"verdict": "allow", "reasons": []}  # the author sees it

    # anyone reads it (without the moderation details); it is on the author's page and the topic's
    public = (await zc_client.get(f"{API}/{note['id']}")).json()
    assert public["title"] == note["title"] and public["moderation"] is None and public["protected_until"] is None
    page = (await zc_client.get(f"{API}/users/mia.skin/notes")).json()
    assert [c["id"] for c in page["items"]] == [note["id"]] and page["items"][0]["cover"]["width"] == 1200 and page["next_cursor"] is None
    for name in ("护肤", "SKINCARE", "%23skincare"):
        topic = (await zc_client.get(f"{API}/topics/{name}")).json()
        assert [c["id"] for c in topic["items"]] == [note["id"]], name
    [published] = await events(zc_runtime, "note.published")
    assert {k: v for k, v in published.items() if k != "published_at"} == {
        "note_id": note["id"], "author_user_id": mia.id, "kind": "image", "topics": ["skincare", "护肤"], "sponsored": False, "brand_ids": [],
    }
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(NotesProfile, mia.id)).note_count == 1

    # edits: the body's links follow, every change bumps the version
    r = await zc_client.patch(f"{API}/{note['id']}", json={"body": "只留 #护肤，不再 @jun.tea", "location": None}, headers=mia_auth)
    assert r.status_code == 200, r.text
    edited = r.json()
    assert (edited["version"], [t["key"] for t in edited["topics"]], edited["location"]) == (2, ["护肤"], None)
    async with zc_runtime.db.read_session() as s:
        counts = dict((await s.execute(select(Topic.key, Topic.note_count))).all())
    assert counts == {"skincare": 0, "护肤": 1}
    assert (await zc_client.get(f"{API}/topics/skincare")).json()["items"] == []

    # private: the author still reads it, nobody else; the counters follow
    r = await zc_client.patch(f"{API}/{note['id']}", json={"visibility": "private"}, headers=mia_auth)
    assert (r.json()["visibility"], r.json()["version"]) == ("private", 3)
    assert_problem(await zc_client.get(f"{API}/{note['id']}"), 404)
    assert (await zc_client.get(f"{API}/{note['id']}", headers=mia_auth)).status_code == 200
    assert (await zc_client.get(f"{API}/users/mia.skin/notes")).json()["items"] == []
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(NotesProfile, mia.id)).note_count == 0
        assert (await s.execute(select(Topic.note_count).where(Topic.key == "护肤"))).scalar_one() == 0

    # new images replace the old ones (files too); a pin on an image that is gone loses its place
    r = await zc_client.put(f"{API}/{note['id']}/images", files=[("images", ("one.png", image_bytes(400, 400, fmt="PNG"), "image/png"))], headers=mia_auth)
    assert r.status_code == 200, r.text
    assert [(i["width"], i["height"]) for i in r.json()["images"]] == [(400, 400)]
    assert (r.json()["products"][0]["image_position"], r.json()["products"][0]["x_ppm"]) == (None, None)
    assert len(set(media_files(zc_runtime.settings, mia.id)) - before) == 3

    # deleting: gone for everyone, counted nowhere, an event; twice is a no-op
    assert (await zc_client.delete(f"{API}/{note['id']}", headers=mia_auth)).status_code == 204
    assert (await zc_client.delete(f"{API}/{note['id']}", headers=mia_auth)).status_code == 204
    assert_problem(await zc_client.get(f"{API}/{note['id']}", headers=mia_auth), 404)
    assert [e["note_id"] for e in await events(zc_runtime, "note.deleted")] == [note["id"]]


async def test_another_users_note_answers_404_on_every_write(zc_client, zc_runtime, zc_make_user):
    _, mia = await user(zc_client, zc_make_user, "mia2@example.com")
    _, lin = await user(zc_client, zc_make_user, "lin2@example.com")
    draft = await create_note(zc_client, mia, title="草稿")
    nid = draft["id"]
    assert draft["status"] == "draft" and draft["published_at"] is None
    assert_problem(await zc_client.get(f"{API}/{nid}"), 404)  # a draft is the author's alone
    assert_problem(await zc_client.get(f"{API}/{nid}", headers=lin), 404)
    for method, path, kw in (
        ("patch", f"{API}/{nid}", {"json": {"title": "mine now"}}),
        ("delete", f"{API}/{nid}", {}),
        ("post", f"{API}/{nid}/publish", {}),
        ("put", f"{API}/{nid}/tags", {"json": {"tags": []}}),
        ("put", f"{API}/{nid}/images", {"files": [("images", ("a.jpg", image_bytes(), "image/jpeg"))]}),
        ("post", f"{API}/{nid}/unschedule", {}),
    ):
        assert_problem(await getattr(zc_client, method)(path, headers=lin, **kw), 404)
    assert_problem(await zc_client.post(f"{API}/{nid}/publish"), 401)
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Note, nid)).title == "草稿"
    r = await zc_client.post(f"{API}/{nid}/publish", headers=mia)
    assert r.json()["status"] == "published"
    assert (await zc_client.get(f"{API}/{nid}", headers=lin)).status_code == 200
    mine = (await zc_client.get(f"{API}/me/notes", headers=mia)).json()
    assert [c["id"] for c in mine["items"]] == [nid]
    assert (await zc_client.get(f"{API}/me/notes", headers=lin)).json()["items"] == []
    # unknown people and topics, and a cursor that was not ours
    assert_problem(await zc_client.get(f"{API}/users/nobody.here/notes"), 404)
    assert_problem(await zc_client.get(f"{API}/topics/从没有过"), 404)
    assert_problem(await zc_client.get(f"{API}/users/u{(await own_id(zc_runtime, 'mia2@example.com'))}/notes?cursor=abc_1"), 422)


async def own_id(runtime, email: str) -> int:
    from core.auth.models import User

    async with runtime.db.read_session() as s:
        return (await s.execute(select(User.id).where(User.email == email))).scalar_one()


async def test_pages_of_notes_follow_a_cursor_without_repeats(zc_client, zc_runtime, zc_make_user):
    author, auth = await user(zc_client, zc_make_user, "pages@example.com")
    ids = [(await create_note(zc_client, auth, title=f"第{i}篇", body="#分页", publish=True))["id"] for i in range(5)]
    async with zc_runtime.db.session() as s:  # two notes published in the same microsecond: the id breaks the tie
        same = utcnow() - timedelta(hours=1)
        for nid in ids[1:3]:
            (await s.get(Note, nid)).published_at = same
        await s.commit()
    seen, cursor = [], None
    while True:
        page = (await zc_client.get(f"{API}/topics/分页?limit=2" + (f"&cursor={cursor}" if cursor else ""))).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [ids[4], ids[3], ids[0], ids[2], ids[1]]  # newest first; the hour-old pair by id, each once


async def test_a_video_note_takes_a_file_or_a_url_and_a_poster(zc_client, zc_runtime, zc_make_user):
    _, auth = await user(zc_client, zc_make_user, "vid@example.com")
    poster = image_bytes(720, 1280)
    r = await post_note(zc_client, auth, {"kind": "video", "title": "开箱", "publish": True}, images=[], video=mp4_bytes(), poster=poster)
    assert r.status_code == 201, r.text
    video = r.json()["video"]
    assert video["url"].endswith(".mp4") and video["external"] is False and (video["poster"]["width"], video["poster"]["height"]) == (720, 1280)
    assert r.json()["images"] == []
    r = await post_note(zc_client, auth, {"kind": "video", "title": "外链", "video_url": "https://video.example.com/v/1.mp4"}, images=[], poster=poster)
    assert (r.status_code, r.json()["video"]["url"], r.json()["video"]["external"]) == (201, "https://video.example.com/v/1.mp4", True)
    # a video dressed up: a JPEG named .mp4; a URL without a poster; a file and a URL
    bad = await post_note(zc_client, auth, {"kind": "video", "title": "假视频"}, images=[], video=image_bytes(), poster=poster)
    assert "MP4" in assert_problem(bad, 422)["detail"]
    assert_problem(await post_note(zc_client, auth, {"kind": "video", "title": "x", "video_url": "https://v.example.com/a"}, images=[]), 422)
    assert_problem(await post_note(zc_client, auth, {"kind": "video", "title": "x", "video_url": "https://v.example.com/a"}, images=[], video=mp4_bytes(), poster=poster), 422)
    assert_problem(await post_note(zc_client, auth, {"kind": "video", "title": "x", "video_url": "ftp://v.example.com/a"}, images=[], poster=poster), 422)
    assert await count(zc_runtime, Note) == 2


# ---------------------------------------------------------------- bad input


async def test_bad_input_is_refused_and_nothing_is_half_written(zc_client, zc_runtime, zc_make_user, zc_make_product):
    author, auth = await user(zc_client, zc_make_user, "bad@example.com")
    live = await zc_make_product("camellia", price=100)
    archived = await zc_make_product("camellia", price=100, status="archived")
    ok = {"title": "二十个字以内的标题", "body": "#护肤", "publish": True}
    before = set(media_files(zc_runtime.settings, author.id))  # user ids are reused between tests

    # 0 or 19 images
    zero = assert_problem(await post_note(zc_client, auth, ok, images=0), 422)
    assert zero["fields"] == {"images": "count"} and zero["count"] == 0
    assert assert_problem(await post_note(zc_client, auth, ok, images=19), 422)["count"] == 19
    assert (await post_note(zc_client, auth, ok, images=18)).status_code == 201  # 18 is fine

    # a non-image dressed up as a .jpg (the 2nd of 3), and a truncated JPEG
    fake = b"%PDF-1.7\n" + b"0" * 500
    body = assert_problem(await post_note(zc_client, auth, ok, images=[image_bytes(), fake, image_bytes()]), 422)
    assert body["detail"].startswith("images #2:") and "JPEG, PNG or WebP" in body["detail"]
    assert_problem(await post_note(zc_client, auth, ok, images=[image_bytes()[:400]]), 422)

    # a title over 20 characters (CJK counts one each); exactly 20 is fine
    too_long = assert_problem(await post_note(zc_client, auth, {**ok, "title": "护" * 21}), 422)
    assert too_long["fields"] == {"title": "too_long"}
    assert_problem(await post_note(zc_client, auth, {**ok, "title": "a" * 21}), 422)
    assert (await post_note(zc_client, auth, {**ok, "title": "护" * 20})).status_code == 201

    # tagging an archived or an unknown product
    for variant_id in (archived.id, 999_999):
        refused = assert_problem(await post_note(zc_client, auth, {**ok, "tags": [{"variant_id": variant_id}]}), 422)
        assert refused["variant_ids"] == [variant_id] and refused["fields"] == {"tags": "unavailable"}
    assert_problem(await post_note(zc_client, auth, {**ok, "tags": [{"variant_id": live.id}, {"variant_id": live.id}]}), 422)  # twice
    assert_problem(await post_note(zc_client, auth, {**ok, "tags": [{"variant_id": live.id, "image_position": 1, "x_ppm": 1, "y_ppm": 1}]}), 422)  # no such image
    assert_problem(await post_note(zc_client, auth, {**ok, "tags": [{"variant_id": live.id, "image_position": 0, "x_ppm": 1_000_001, "y_ppm": 1}]}), 422)

    # the rest of the note's shape
    for bad_note, status in (
        ({**ok, "body": "字" * 1001}, 422),
        ({**ok, "body": " ".join(f"#t{i}" for i in range(11))}, 422),  # 11 topics
        ({**ok, "location": {"city": "上海", "lat_e6": 31_000_000}}, 422),  # lat without lng
        ({**ok, "location": {"lat_e6": 1, "lng_e6": 1}}, 422),  # no place or city
        ({**ok, "location": {"city": "上海", "lat_e6": 91_000_000, "lng_e6": 0}}, 422),
        ({**ok, "publish_at": "2026-12-01T09:00:00"}, 422),  # no time zone
        ({**ok, "visibility": "friends"}, 400),
        ({**ok, "title": 20}, 400),
        ({**ok, "unknown": 1}, 400),
    ):
        assert_problem(await post_note(zc_client, auth, bad_note), status)
    assert_problem(await zc_client.post(API, data={"note": "{not json"}, files=[("images", ("a.jpg", image_bytes(), "image/jpeg"))], headers=auth), 400)
    assert_problem(await zc_client.post(API, json={"title": "no files"}, headers=auth), 400)

    # only the two good notes exist, with their files; tags of the refused ones were never written
    assert await count(zc_runtime, Note) == 2
    assert await count(zc_runtime, NoteImage) == 19
    assert await count(zc_runtime, ProductTag) == 0
    assert len(set(media_files(zc_runtime.settings, author.id)) - before) == 19 * 3
    [first, second] = (await zc_client.get(f"{API}/me/notes", headers=auth)).json()["items"]

    # editing: the same rules, and nothing changes on a refusal
    nid = second["id"]
    assert_problem(await zc_client.patch(f"{API}/{nid}", json={"title": "标" * 21}, headers=auth), 422)
    assert_problem(await zc_client.put(f"{API}/{nid}/tags", json={"tags": [{"variant_id": archived.id}]}, headers=auth), 422)
    assert_problem(await zc_client.put(f"{API}/{nid}/images", files=[("images", (f"{i}.jpg", image_bytes(), "image/jpeg")) for i in range(19)], headers=auth), 422)
    assert_problem(await zc_client.put(f"{API}/{nid}/images", files=[("images", ("x.jpg", fake, "image/jpeg"))], headers=auth), 422)
    assert_problem(await zc_client.patch(f"{API}/{nid}", json={"title": 1}, headers=auth), 400)
    async with zc_runtime.db.read_session() as s:
        row = await s.get(Note, nid)
        assert (row.title, row.version) == ("二十个字以内的标题", 1)
    assert len(set(media_files(zc_runtime.settings, author.id)) - before) == 19 * 3
    r = await zc_client.put(f"{API}/{nid}/tags", json={"tags": [{"variant_id": live.id}]}, headers=auth)
    assert (r.status_code, r.json()["version"], [t["variant_id"] for t in r.json()["products"]]) == (200, 2, [live.id])


# ---------------------------------------------------------------- scheduled publishing


async def test_a_scheduled_note_is_published_by_the_job_once(zc_client, zc_runtime, zc_make_user):
    author, auth = await user(zc_client, zc_make_user, "sched@example.com")
    _, lin = await user(zc_client, zc_make_user, "lin3@example.com")
    at = utcnow() + timedelta(hours=2)
    note = await create_note(zc_client, auth, title="明早发", body="#早安", publish_at=at.isoformat())
    assert (note["status"], note["published_at"]) == ("scheduled", None)
    assert_problem(await zc_client.get(f"{API}/{note['id']}", headers=lin), 404)
    assert await publish_due(zc_runtime) == 0  # not yet
    # rescheduling and unscheduling are the author's
    r = await zc_client.post(f"{API}/{note['id']}/publish", json={"publish_at": (at + timedelta(hours=1)).isoformat()}, headers=auth)
    assert r.json()["status"] == "scheduled"
    assert (await zc_client.post(f"{API}/{note['id']}/unschedule", headers=auth)).json()["status"] == "draft"
    r = await zc_client.post(f"{API}/{note['id']}/publish", json={"publish_at": at.isoformat()}, headers=auth)
    assert r.json()["status"] == "scheduled" and r.json()["publish_at"]

    later = at + timedelta(minutes=1)
    assert await publish_due(zc_runtime, now=later) == 1
    assert await publish_due(zc_runtime, now=later) == 0  # a second run (or a redelivered job) publishes nothing twice
    got = (await zc_client.get(f"{API}/{note['id']}", headers=lin)).json()
    assert got["status"] == "published" and got["published_at"].startswith(later.isoformat()[:19])
    assert [e["note_id"] for e in await events(zc_runtime, "note.published")] == [note["id"]]
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(NotesProfile, author.id)).note_count == 1
        assert (await s.execute(select(Topic.note_count).where(Topic.key == "早安"))).scalar_one() == 1


async def test_the_publish_job_is_registered_and_runs_through_the_worker(zc_runtime, zc_make_user):
    import asyncio

    from plugins.notes.models import NoteStatus

    author = await zc_make_user("job@example.com")
    async with zc_runtime.db.session() as s:
        s.add(NotesProfile(user_id=author.id, handle="job.author", bio=""))
        note = Note(author_user_id=author.id, kind="image", title="定时", body="", status=NoteStatus.SCHEDULED, visibility="public", publish_at=utcnow() - timedelta(seconds=1))
        s.add(note)
        await s.commit()
    await zc_runtime.start(worker=True, relay=False)
    zc_runtime.jobs.send("notes.publish_due")
    await asyncio.to_thread(zc_runtime.jobs.join)
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Note, note.id)).status == "published"

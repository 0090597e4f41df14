"""Moderation of notes: the keyword lists (Chinese and English, configurable), held notes
waiting for staff, blocked ones refused, and the `moderate_content` hook the notes
plugin publishes for other plugins (the strictest verdict wins)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from core import hookimpl
from core.db import utcnow
from core.plugin_manager import PluginError
from core.testing import api_token
from plugins.notes.models import ModerationCase, Note, NotesProfile
from plugins.notes.moderation import ModerationVerdict, keyword_verdict, moderate
from plugins.notes.notes import publish_due
from tests.core.test_api_conventions import assert_problem
from tests.plugins.notes.notes_helpers import API, count, create_note, events, media_files, post_note

SEEN: list[tuple[str, str, int | None]] = []


class Reviewer:
    """A third-party moderation plugin: holds "needs-a-human", blocks "spam-link",
    answers garbage for "broken-plugin", no opinion otherwise."""

    @hookimpl(optionalhook=True)
    async def moderate_content(self, kind: str, text: str, author_user_id: int | None, runtime: Any) -> Any:
        SEEN.append((kind, text, author_user_id))
        if "broken-plugin" in text:
            return {"verdict": "block"}
        if "spam-link" in text:
            return ModerationVerdict(verdict="block", reasons=("reviewer: spam link",))
        if "needs-a-human" in text or "加微信" in text:
            return ModerationVerdict(verdict="hold", reasons=("reviewer: a person should look",))
        return None


@pytest.fixture
def zc_extra_plugins():
    SEEN.clear()
    yield [("reviewer", Reviewer())]
    SEEN.clear()


@pytest.fixture(autouse=True)
def _default_moderation(monkeypatch):
    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    monkeypatch.delenv("ZHONGCAO_NOTES_HOLDLIST", raising=False)


async def people(client, make_user):
    author = await make_user("writer@example.com", roles=("creator",))
    await make_user("ops@example.com", staff=True)
    await make_user("reader@example.com")
    return author, await api_token(client, "writer@example.com"), await api_token(client, "ops@example.com"), await api_token(client, "reader@example.com")


# ---------------------------------------------------------------- the keyword lists


def test_the_keyword_lists_handle_chinese_english_case_and_full_width(monkeypatch):
    assert keyword_verdict("今天分享护肤心得").verdict == "allow"
    assert keyword_verdict("想要的加 微-信 聊").reasons == ("needs review: 加微信",)
    assert keyword_verdict("这是高\u200b仿包包").verdict == "block"
    assert keyword_verdict("ＲＥＰＬＩＣＡ   Watches on sale").reasons == ("blocked word: replica watches",)
    assert keyword_verdict("a classic replica-watches-free zone").verdict == "block"  # hyphens are word breaks too
    assert keyword_verdict("counterfeiting is bad, counterfeits").verdict == "allow"  # Latin keywords match whole words only
    monkeypatch.setenv("ZHONGCAO_NOTES_BLOCKLIST", "坏词，ＢＡＤ word\nspam")
    monkeypatch.setenv("ZHONGCAO_NOTES_HOLDLIST", "")
    assert keyword_verdict("a Bad   WORD here").reasons == ("blocked word: bad word",)
    assert keyword_verdict("这个坏 词").verdict == "block"
    assert keyword_verdict("加微信 高仿").verdict == "allow"  # the defaults are replaced; an empty list holds nothing
    monkeypatch.setenv("ZHONGCAO_NOTES_HOLDLIST", "微商")
    assert keyword_verdict("spam 和 微商").verdict == "block"  # block beats hold


# ---------------------------------------------------------------- held, reviewed


async def test_a_held_note_waits_for_staff_who_allow_it(zc_client, zc_runtime, zc_make_user):
    author, auth, ops, reader = await people(zc_client, zc_make_user)
    note = await create_note(zc_client, auth, title="想要链接的", body="需要的 加vx 私聊 #好物", publish=True)
    assert (note["status"], note["published_at"], note["moderation"]) == ("hidden", None, {"verdict": "hold", "reasons": ["needs review: 加vx"]})
    assert_problem(await zc_client.get(f"{API}/{note['id']}", headers=reader), 404)
    assert (await zc_client.get(f"{API}/topics/好物")).json()["items"] == []
    [hidden] = await events(zc_runtime, "note.hidden")
    assert (hidden["note_id"], hidden["verdict"]) == (note["id"], "hold")
    # the author cannot change it meanwhile
    assert_problem(await zc_client.patch(f"{API}/{note['id']}", json={"body": "改一下"}, headers=auth), 409)

    # staff see the queue with the text judged; nobody else does
    assert_problem(await zc_client.get(f"{API}/moderation/cases", headers=reader), 403)
    assert_problem(await zc_client.get(f"{API}/moderation/cases"), 401)
    [case] = (await zc_client.get(f"{API}/moderation/cases", headers=ops)).json()
    assert (case["kind"], case["ref_id"], case["verdict"], case["status"], case["author_user_id"], case["reasons"]) == ("note", note["id"], "hold", "open", author.id, ["needs review: 加vx"])
    assert case["text"] == "想要链接的\n需要的 加vx 私聊 #好物"
    assert (await zc_client.get(f"{API}/{note['id']}", headers=ops)).json()["moderation"]["verdict"] == "hold"  # staff read it
    assert_problem(await zc_client.post(f"{API}/moderation/cases/{case['id']}/allow", headers=reader), 403)
    assert_problem(await zc_client.post(f"{API}/moderation/cases/999999/allow", headers=ops), 404)

    r = await zc_client.post(f"{API}/moderation/cases/{case['id']}/allow", headers=ops)
    assert (r.json()["status"], r.json()["decided_by"]) == ("allowed", (await zc_make_user_id(zc_runtime, "ops@example.com")))
    assert (await zc_client.post(f"{API}/moderation/cases/{case['id']}/allow", headers=ops)).status_code == 200  # twice: the same
    assert_problem(await zc_client.post(f"{API}/moderation/cases/{case['id']}/block", headers=ops), 409)
    got = (await zc_client.get(f"{API}/{note['id']}", headers=reader)).json()
    assert (got["status"], got["moderation"]) == ("published", None) and got["published_at"]
    assert [c["id"] for c in (await zc_client.get(f"{API}/topics/好物")).json()["items"]] == [note["id"]]
    assert [e["note_id"] for e in await events(zc_runtime, "note.published")] == [note["id"]]
    assert (await zc_client.get(f"{API}/moderation/cases", headers=ops)).json() == []
    assert [c["id"] for c in (await zc_client.get(f"{API}/moderation/cases?status=allowed", headers=ops)).json()] == [case["id"]]
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(NotesProfile, author.id)).note_count == 1


async def zc_make_user_id(runtime, email: str) -> int:
    from core.auth.models import User

    async with runtime.db.read_session() as s:
        return (await s.execute(select(User.id).where(User.email == email))).scalar_one()


async def test_an_edit_can_be_held_and_staff_can_block_it_for_good(zc_client, zc_runtime, zc_make_user):
    author, auth, ops, reader = await people(zc_client, zc_make_user)
    note = await create_note(zc_client, auth, title="通勤包", body="#通勤", publish=True)
    assert note["status"] == "published"
    r = await zc_client.patch(f"{API}/{note['id']}", json={"body": "#通勤 needs-a-human"}, headers=auth)
    assert (r.json()["status"], r.json()["moderation"]["reasons"]) == ("hidden", ["reviewer: a person should look"])
    assert_problem(await zc_client.get(f"{API}/{note['id']}", headers=reader), 404)
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(NotesProfile, author.id)).note_count == 0  # hidden: no longer counted
    [case] = (await zc_client.get(f"{API}/moderation/cases?kind=note", headers=ops)).json()
    assert (await zc_client.post(f"{API}/moderation/cases/{case['id']}/block", headers=ops)).json()["status"] == "blocked"
    got = (await zc_client.get(f"{API}/{note['id']}", headers=auth)).json()
    assert (got["status"], got["moderation"]["verdict"]) == ("hidden", "block")
    assert "blocked" in assert_problem(await zc_client.post(f"{API}/{note['id']}/publish", headers=auth), 409)["detail"]
    assert (await zc_client.delete(f"{API}/{note['id']}", headers=auth)).status_code == 204  # deleting stays possible


async def test_a_blocked_text_is_refused_with_its_reasons_and_nothing_is_written(zc_client, zc_runtime, zc_make_user):
    author, auth, _ops, _reader = await people(zc_client, zc_make_user)
    before = set(media_files(zc_runtime.settings, author.id))
    for title, body, reason in (
        ("全新高仿包", "", "blocked word: 高仿"),
        ("好物", "DM me: spam-link here", "reviewer: spam link"),
    ):
        r = await post_note(zc_client, auth, {"title": title, "body": body, "publish": True}, images=2)
        refused = assert_problem(r, 422)
        assert refused["verdict"] == "block" and reason in refused["reasons"], refused
    assert await count(zc_runtime, Note) == 0 and await count(zc_runtime, ModerationCase) == 0
    assert set(media_files(zc_runtime.settings, author.id)) == before  # moderation ran before any file was written
    # a draft is not judged until it is published
    draft = await create_note(zc_client, auth, title="草稿", body="高仿")
    assert draft["status"] == "draft"
    refused = assert_problem(await zc_client.post(f"{API}/{draft['id']}/publish", headers=auth), 422)
    assert refused["reasons"] == ["blocked word: 高仿"]
    assert (await zc_client.get(f"{API}/{draft['id']}", headers=auth)).json()["status"] == "draft"
    # editing a published note into a blocked one is refused too, and changes nothing
    ok = await create_note(zc_client, auth, title="正常", publish=True)
    assert_problem(await zc_client.patch(f"{API}/{ok['id']}", json={"title": "高仿"}, headers=auth), 422)
    got = (await zc_client.get(f"{API}/{ok['id']}", headers=auth)).json()
    assert (got["title"], got["status"], got["version"]) == ("正常", "published", 1)


async def test_a_held_scheduled_note_allowed_before_its_time_is_published_on_time(zc_client, zc_runtime, zc_make_user):
    _author, auth, ops, reader = await people(zc_client, zc_make_user)
    at = utcnow() + timedelta(hours=1)
    note = await create_note(zc_client, auth, title="定时", body="needs-a-human", publish_at=at.isoformat())
    assert note["status"] == "hidden"
    [case] = (await zc_client.get(f"{API}/moderation/cases", headers=ops)).json()
    await zc_client.post(f"{API}/moderation/cases/{case['id']}/allow", headers=ops)
    assert (await zc_client.get(f"{API}/{note['id']}", headers=auth)).json()["status"] == "scheduled"
    assert await publish_due(zc_runtime, now=at + timedelta(seconds=1)) == 1
    assert (await zc_client.get(f"{API}/{note['id']}", headers=reader)).json()["status"] == "published"


async def test_the_publish_job_holds_a_note_whose_words_became_forbidden(zc_client, zc_runtime, zc_make_user, monkeypatch):
    _author, auth, ops, _reader = await people(zc_client, zc_make_user)
    at = utcnow() + timedelta(hours=1)
    note = await create_note(zc_client, auth, title="定时", body="新品 微商", publish_at=at.isoformat())
    assert note["status"] == "scheduled"
    monkeypatch.setenv("ZHONGCAO_NOTES_HOLDLIST", "微商")  # the operator changed the list meanwhile
    assert await publish_due(zc_runtime, now=at + timedelta(seconds=1)) == 0
    assert (await zc_client.get(f"{API}/{note['id']}", headers=auth)).json()["status"] == "hidden"
    assert [c["ref_id"] for c in (await zc_client.get(f"{API}/moderation/cases", headers=ops)).json()] == [note["id"]]


# ---------------------------------------------------------------- the published hook


async def test_hook_moderate_content(zc_runtime):
    """The notes plugin publishes `moderate_content`; every implementation is asked, the
    strictest verdict wins with the reasons of those that gave it."""
    assert "moderate_content" in {name for name in dir(zc_runtime.pm.hook) if not name.startswith("_")}
    allowed = await moderate(zc_runtime, "comment", "好看！", 7)
    assert allowed == ModerationVerdict(verdict="allow") and SEEN[-1] == ("comment", "好看！", 7)
    # the notes plugin holds 加微信, the reviewer plugin too: one hold, both reasons
    held = await moderate(zc_runtime, "note", "加微信", None)
    assert held == ModerationVerdict(verdict="hold", reasons=("needs review: 加微信", "reviewer: a person should look"))  # in load order
    # the reviewer blocks where the notes plugin would only hold: block wins, with only its reason
    blocked = await moderate(zc_runtime, "note", "加微信 spam-link", None)
    assert blocked == ModerationVerdict(verdict="block", reasons=("reviewer: spam link",))
    with pytest.raises(PluginError, match="reviewer.*moderate_content"):
        await moderate(zc_runtime, "note", "broken-plugin", None)
    with pytest.raises(ValueError):
        await moderate(zc_runtime, "video", "x", None)


def test_the_hook_is_optional_for_implementers_when_notes_is_disabled(zc_settings):
    """A plugin implementing `moderate_content` still loads without the notes plugin."""
    from core.runtime import create_runtime

    settings = zc_settings.model_copy(update={"plugins_disabled": "notes"})
    runtime = create_runtime(settings, [("reviewer", Reviewer())])
    assert runtime.pm.get_plugin("notes") is None and runtime.pm.get_plugin("reviewer") is not None

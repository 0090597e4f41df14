"""People's pages of the notes plugin over HTTP, as a browser uses them: profiles with
follow buttons (POST forms, 303), follower lists, the shopper's own notes, boards,
likes, follows and settings, "what people say" on product and brand pages, and the
account menu; ownership, CSRF, XSS, a query bound, zh-CN, and the plugin switched off."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from markupsafe import Markup
from sqlalchemy import select

from core.catalog.models import Product
from core.db import utcnow
from core.testing import QueryCounter, api_token, html_login, post_form
from plugins.notes import pages_people
from plugins.notes.models import Board, Follow, NotesProfile
from tests.plugins.notes.engagement_helpers import count
from tests.plugins.notes.notes_helpers import API, create_note

EN = {"accept-language": "en"}
TEMPLATES = Path(pages_people.__file__).parent / "templates" / "notes"


@pytest.fixture(autouse=True)
def _default_moderation(monkeypatch):
    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    monkeypatch.delenv("ZHONGCAO_NOTES_HOLDLIST", raising=False)


# ---------------------------------------------------------------- helpers


@asynccontextmanager
async def browser(app: Any):
    """Another browser (its own cookies) on the same app."""
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app=app, base_url="http://testserver.local") as client:
        client.cookies.set("zc_lang", "en")  # the account's language would win over Accept-Language
        yield client


async def user(client: Any, make_user: Any, handle: str, **kw: Any) -> SimpleNamespace:
    """A user with a notes profile under `handle` and an API token."""
    made = await make_user(f"{handle}@example.com", **kw)
    auth = await api_token(client, made.email)
    r = await client.patch(f"{API}/me/profile", json={"handle": handle}, headers=auth)
    assert r.status_code == 200, r.text
    return SimpleNamespace(id=made.id, email=made.email, handle=handle, auth=auth)


async def note(client: Any, who: SimpleNamespace, title: str, **kw: Any) -> int:
    kw.setdefault("publish", True)
    return (await create_note(client, who.auth, title=title, **kw))["id"]


async def page(client: Any, path: str, status: int = 200, **params: Any) -> str:
    r = await client.get(path, params=params or None, headers=EN, follow_redirects=False)
    assert r.status_code == status, (path, r.status_code, r.text[:500])
    return r.text


def note_ids(html: str, testid: str = "note-cards") -> list[int]:
    found = re.search(rf'data-testid="{testid}"(.*?)</ul>', html, re.DOTALL)
    return [int(n) for n in re.findall(r'data-note-id="(\d+)"', found.group(1))] if found else []


def handles(html: str) -> list[str]:
    return re.findall(r'data-testid="person" data-handle="([^"]+)"', html)


def count_of(html: str, testid: str) -> int:
    return int(re.search(rf'data-testid="{testid}"><b>(\d+)</b>', html).group(1))


async def slug_of(runtime: Any, product_id: int) -> str:
    async with runtime.db.read_session() as s:
        return (await s.execute(select(Product.slug).where(Product.id == product_id))).scalar_one()


@contextmanager
def selects():
    """The SELECTs pages send meanwhile (core.testing.QueryCounter: every engine, not the background work's)."""
    seen: list[str] = []
    with QueryCounter() as q:
        yield seen
    seen.extend(st for st in q.statements if st.lstrip().upper().startswith(("SELECT", "WITH")))


# ---------------------------------------------------------------- profiles and follows


async def test_profile_shows_counts_and_notes_and_follow_round_trips(zc_client, zc_app, zc_runtime, zc_make_user):
    mia = await user(zc_client, zc_make_user, "mia")
    ben = await user(zc_client, zc_make_user, "ben")
    first = await note(zc_client, mia, "春日穿搭")
    second = await note(zc_client, mia, "Night cream")
    draft = await note(zc_client, mia, "Mia draft", publish=False)
    private = await note(zc_client, mia, "Mia private", visibility="private")
    assert (await zc_client.post(f"{API}/{first}/like", headers=ben.auth)).status_code == 200

    html = await page(zc_client, "/notes/people/mia")
    assert 'data-testid="profile-page"' in html and "@mia" in html
    assert note_ids(html) == [second, first], "published public notes, newest first"
    assert "Mia draft" not in html and "Mia private" not in html and str(draft) not in re.findall(r'href="/notes/(\d+)"', html)
    assert f'href="/notes/{first}"' in html and 'class="note-cover" src="/media/notes/' in html
    assert (count_of(html, "count-followers"), count_of(html, "count-following"), count_of(html, "count-likes")) == (0, 0, 1)
    assert f'href="/notes/{private}"' not in html
    assert '<link rel="stylesheet" href="/notes/static/people.css">' in html
    assert (await zc_client.get("/notes/static/people.css")).status_code == 200

    # a guest's follow goes to the login page, then back to the profile
    r = await post_form(zc_client, "/notes/people/mia/follow", {"next": "/notes/people/mia"})
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/notes/people/mia"
    assert await count(zc_runtime, Follow) == 0

    async with browser(zc_app) as b:
        await html_login(b, ben.email)
        html = await page(b, "/notes/people/mia")
        assert 'data-testid="follow-button"' in html and 'action="/notes/people/mia/follow"' in html and 'name="_csrf_token"' in html
        for _ in range(2):  # a double click follows once
            r = await post_form(b, "/notes/people/mia/follow", {"next": "/notes/people/mia"})
            assert r.status_code == 303 and r.headers["location"] == "/notes/people/mia"
        assert await count(zc_runtime, Follow) == 1
        html = await page(b, "/notes/people/mia")
        assert count_of(html, "count-followers") == 1 and 'data-testid="unfollow-button"' in html and 'action="/notes/people/mia/unfollow"' in html
        assert count_of(await page(b, "/notes/people/ben"), "count-following") == 1
        assert 'data-testid="edit-profile"' in await page(b, "/notes/people/ben"), "one's own profile has no follow button"
        for _ in range(2):
            r = await post_form(b, "/notes/people/mia/unfollow", {"next": "//evil.example/"})
            assert r.status_code == 303 and r.headers["location"] == "/notes/people/mia", "never an open redirect"
        assert await count(zc_runtime, Follow) == 0
        assert count_of(await page(b, "/notes/people/mia"), "count-followers") == 0
        assert (await post_form(b, "/notes/people/ben/follow")).status_code == 422, "not oneself"

    boards = await page(zc_client, "/notes/people/mia", tab="boards")
    assert 'aria-current="page" data-testid="tab-boards"' in boards and 'data-testid="boards-empty"' in boards


async def test_unknown_people_are_a_friendly_404(zc_client, zc_runtime, zc_make_user):
    for path in ("/notes/people/nobody", "/notes/people/nobody/followers", "/notes/people/nobody/following", "/notes/people/nobody/boards/1"):
        r = await zc_client.get(path, headers={**EN, "accept": "text/html"})
        assert r.status_code == 404 and 'data-testid="error-page"' in r.text, path
    plain = await zc_make_user("plain@example.com")  # never used notes: reachable as u<id>, nothing written
    html = await page(zc_client, f"/notes/people/u{plain.id}")
    assert 'data-testid="notes-empty"' in html and await count(zc_runtime, NotesProfile, NotesProfile.user_id == plain.id) == 0


async def test_followers_and_following_lists(zc_client, zc_app, zc_runtime, zc_make_user):
    mia = await user(zc_client, zc_make_user, "mia")
    ben = await user(zc_client, zc_make_user, "ben")
    cat = await user(zc_client, zc_make_user, "cat")
    for fan in (ben, cat):
        assert (await zc_client.post(f"{API}/users/mia/follow", headers=fan.auth)).status_code == 200
    assert (await zc_client.post(f"{API}/users/ben/follow", headers=mia.auth)).status_code == 200

    html = await page(zc_client, "/notes/people/mia/followers")
    assert handles(html) == ["cat", "ben"], "newest first"
    assert html.count('data-testid="follow-button"') == 2, "a guest may follow anyone listed (and logs in first)"
    assert handles(await page(zc_client, "/notes/people/mia/following")) == ["ben"]
    assert 'data-testid="people-empty"' in await page(zc_client, "/notes/people/cat/followers")

    async with browser(zc_app) as b:
        await html_login(b, cat.email)
        html = await page(b, "/notes/people/mia/followers")
        ben_row = re.search(r'data-handle="ben".*?</li>', html, re.DOTALL).group(0)
        cat_row = re.search(r'data-handle="cat".*?</li>', html, re.DOTALL).group(0)
        assert 'data-testid="follow-button"' in ben_row and "follow-form" not in cat_row, "no button for oneself"
        r = await post_form(b, "/notes/people/ben/follow", {"next": "/notes/people/mia/followers"})
        assert r.status_code == 303 and r.headers["location"] == "/notes/people/mia/followers"
        ben_row = re.search(r'data-handle="ben".*?</li>', await page(b, "/notes/people/mia/followers"), re.DOTALL).group(0)
        assert 'data-testid="unfollow-button"' in ben_row

        mine = await page(b, "/notes/me/following")
        assert handles(mine) == ["ben", "mia"] and 'aria-current="page" data-testid="me-tab-following"' in mine
        assert 'data-testid="people-empty"' in await page(b, "/notes/me/followers")

    for n in range(21):  # a second page
        fan = await user(zc_client, zc_make_user, f"fan{n:02d}")
        await zc_client.post(f"{API}/users/cat/follow", headers=fan.auth)
    first = await page(zc_client, "/notes/people/cat/followers")
    assert len(handles(first)) == 20 and 'href="?page=2"' in first
    assert handles(await page(zc_client, "/notes/people/cat/followers", page=2)) == ["fan00"]


# ---------------------------------------------------------------- my pages


async def test_my_pages_show_my_drafts_and_never_anyone_elses(zc_client, zc_app, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", title="Repair Cream")
    mia = await user(zc_client, zc_make_user, "mia")
    ben = await user(zc_client, zc_make_user, "ben")
    tag = [{"variant_id": cream.id}]
    published = await note(zc_client, mia, "Mia published")
    draft = await note(zc_client, mia, "Mia draft", publish=False)
    later = (utcnow() + timedelta(days=2)).isoformat()
    scheduled = await note(zc_client, mia, "Mia scheduled", publish=False, publish_at=later)
    private = await note(zc_client, mia, "Mia private", visibility="private")
    secret = await note(zc_client, ben, "Ben secret draft", publish=False, tags=tag)
    ben_private = await note(zc_client, ben, "Ben private", visibility="private", tags=tag)
    ben_public = await note(zc_client, ben, "Ben public", tags=tag)
    await zc_client.post(f"{API}/{ben_public}/like", headers=mia.auth)
    await zc_client.post(f"{API}/{published}/like", headers=mia.auth)

    r = await zc_client.get("/notes/me", follow_redirects=False)
    assert r.status_code in (302, 303) and r.headers["location"] == "/login?next=/notes/me"
    r = await zc_client.get("/notes/me/boards", follow_redirects=False)
    assert r.headers["location"] == "/login?next=/notes/me/boards"

    async with browser(zc_app) as b:
        await html_login(b, mia.email)
        html = await page(b, "/notes/me")
        assert set(note_ids(html, "my-notes")) == {published, draft, scheduled, private}
        statuses = dict(re.findall(r'data-note-id="(\d+)".*?data-testid="note-status">([^<]+)<', html, re.DOTALL))
        assert statuses == {str(published): "Posted", str(draft): "Draft", str(scheduled): "Scheduled", str(private): "Posted"}
        assert "Private" in re.search(rf'data-note-id="{private}".*?</li>', html, re.DOTALL).group(0)
        assert later[:10] in re.search(rf'data-note-id="{scheduled}".*?</li>', html, re.DOTALL).group(0), "when it goes out"
        assert 'data-testid="my-profile-link"' in html and 'href="/notes/people/mia"' in html
        likes = await page(b, "/notes/me/likes")
        assert note_ids(likes, "my-likes") == [published, ben_public]
        everywhere = html + likes
        for path in ("/notes/people/ben", "/notes/people/mia", "/notes/me/following", "/notes/me/settings", "/notes/me/boards", "/brands/camellia",
                     f"/products/{await slug_of(zc_runtime, cream.product_id)}"):
            everywhere += await page(b, path)
        assert "Ben secret draft" not in everywhere and "Ben private" not in everywhere
        assert f'href="/notes/{secret}"' not in everywhere and f'href="/notes/{ben_private}"' not in everywhere

    async with browser(zc_app) as b:  # and Mia's drafts are not Ben's to see
        await html_login(b, ben.email)
        html = await page(b, "/notes/me") + await page(b, "/notes/people/mia")
        assert "Mia draft" not in html and "Mia scheduled" not in html and "Mia private" not in html
        assert set(note_ids(html, "my-notes")) == {secret, ben_private, ben_public}


async def test_account_menu_links_to_my_pages(zc_client, zc_runtime, zc_make_user):
    shopper = await zc_make_user("shopper@example.com")
    await html_login(zc_client, shopper.email)
    zc_client.cookies.set("zc_lang", "en")
    account = await page(zc_client, "/account")
    menu = re.search(r'data-testid="notes-account-menu".*?</nav>', account, re.DOTALL).group(0)
    for path in ("/notes/me", "/notes/me/boards", "/notes/me/likes", "/notes/me/following", "/notes/me/followers", "/notes/me/settings"):
        assert f'href="{path}"' in menu
        assert (await zc_client.get(path, headers=EN)).status_code == 200, path
    assert await count(zc_runtime, NotesProfile, NotesProfile.user_id == shopper.id) == 0, "reading my pages writes nothing"


async def test_boards_crud_and_ownership(zc_client, zc_app, zc_runtime, zc_make_user):
    mia = await user(zc_client, zc_make_user, "mia")
    ben = await user(zc_client, zc_make_user, "ben")
    saved = await note(zc_client, ben, "Ben public")

    async with browser(zc_app) as b:
        await html_login(b, mia.email)
        assert 'data-testid="boards-empty"' in await page(b, "/notes/me/boards")
        for _ in range(2):
            r = await post_form(b, "/notes/me/boards", {"name": "Skincare"})
            if _ == 0:
                assert r.status_code == 303 and r.headers["location"].startswith("/notes/me/boards?notice=")
        assert r.status_code == 409 and "you already have a board with that name" in r.text and 'value="Skincare"' in r.text, "a double create is refused kindly"
        bad = await post_form(b, "/notes/me/boards", {"name": "   "})
        assert bad.status_code == 422 and 'data-testid="form-error"' in bad.text and "board name: 1-40 characters" in bad.text
        async with zc_runtime.db.read_session() as s:
            board = (await s.execute(select(Board).where(Board.owner_user_id == mia.id))).scalar_one()
        html = await page(b, "/notes/me/boards", notice="Board created")
        assert "Board created" in html and f'action="/notes/me/boards/{board.id}"' in html

        collected = await zc_client.post(f"{API}/{saved}/collect", json={"board_id": board.id}, headers=mia.auth)
        assert collected.status_code == 200, collected.text
        assert note_ids(await page(zc_client, f"/notes/people/mia/boards/{board.id}")) == [saved], "a public board's notes, for anyone"

        r = await post_form(b, f"/notes/me/boards/{board.id}", {"name": "Night care", "private": "on"})
        assert r.status_code == 303
        async with zc_runtime.db.read_session() as s:
            changed = await s.get(Board, board.id)
            assert (changed.name, changed.private) == ("Night care", True)
        assert 'data-testid="board-private"' in await page(b, "/notes/me/boards")
        assert "Night care" in await page(b, f"/notes/people/mia/boards/{board.id}"), "the owner still sees their private board"
        second = await post_form(b, "/notes/me/boards", {"name": "Second"})
        assert second.status_code == 303
        clash = await post_form(b, f"/notes/me/boards/{board.id}", {"name": "Second"})
        assert clash.status_code == 409 and f'data-board-id="{board.id}"' in clash.text and 'aria-invalid="true"' in clash.text

    # a private board is nobody else's business: not listed, not readable, not changeable
    assert "Night care" not in await page(zc_client, "/notes/people/mia", tab="boards")
    assert (await zc_client.get(f"/notes/people/mia/boards/{board.id}", headers=EN)).status_code == 404
    async with browser(zc_app) as b:
        await html_login(b, ben.email)
        assert (await b.get(f"/notes/people/mia/boards/{board.id}", headers=EN)).status_code == 404
        assert (await b.get(f"/notes/people/ben/boards/{board.id}", headers=EN)).status_code == 404, "not under another handle either"
        for path, data in ((f"/notes/me/boards/{board.id}", {"name": "Mine now"}), (f"/notes/me/boards/{board.id}/delete", {})):
            r = await post_form(b, path, data, headers={**EN, "accept": "text/html"})
            assert r.status_code == 404 and 'data-testid="error-page"' in r.text
        assert "Night care" not in await page(b, "/notes/me/boards")
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Board, board.id)).name == "Night care"

    async with browser(zc_app) as b:
        await html_login(b, mia.email)
        r = await post_form(b, f"/notes/me/boards/{board.id}/delete")
        assert r.status_code == 303
        assert (await post_form(b, f"/notes/me/boards/{board.id}/delete")).status_code == 404, "deleted already"
        assert "Night care" not in await page(b, "/notes/me/boards")
    assert await count(zc_runtime, Board, Board.id == board.id) == 0


async def test_settings_change_handle_and_bio_with_the_services_messages(zc_client, zc_app, zc_runtime, zc_make_user):
    mia = await user(zc_client, zc_make_user, "mia")
    await user(zc_client, zc_make_user, "ben")
    async with browser(zc_app) as b:
        await html_login(b, mia.email)
        html = await page(b, "/notes/me/settings")
        assert 'value="mia"' in html and '<label for="handle">' in html and '<label for="bio">' in html

        taken = await post_form(b, "/notes/me/settings", {"handle": "ben", "bio": "hello"})
        assert taken.status_code == 409 and "that handle is taken" in taken.text and 'value="ben"' in taken.text and ">hello</textarea>" in taken.text
        bad = await post_form(b, "/notes/me/settings", {"handle": "!x", "bio": ""})
        assert bad.status_code == 422 and "handle: 3-30 of a-z" in bad.text and 'aria-invalid="true"' in bad.text
        long_bio = await post_form(b, "/notes/me/settings", {"handle": "mia", "bio": "x" * 501})
        assert long_bio.status_code == 422 and "bio: at most 500 characters" in long_bio.text
        b.cookies.set("zc_lang", "zh-CN")
        zh = await post_form(b, "/notes/me/settings", {"handle": "ben", "bio": ""})
        assert zh.status_code == 409 and "这个账号名已被占用" in zh.text and "账号名" in zh.text
        b.cookies.set("zc_lang", "en")
        async with zc_runtime.db.read_session() as s:
            assert (await s.get(NotesProfile, mia.id)).handle == "mia", "nothing changed"

        ok = await post_form(b, "/notes/me/settings", {"handle": "Mia.Lin", "bio": "Hi <script>alert(1)</script>\r\nsecond line"})
        assert ok.status_code == 303 and ok.headers["location"] == "/notes/me/settings?notice=Profile+saved"
        assert "Profile saved" in await page(b, ok.headers["location"])
    async with zc_runtime.db.read_session() as s:
        profile = await s.get(NotesProfile, mia.id)
        assert (profile.handle, profile.bio) == ("mia.lin", "Hi <script>alert(1)</script>\nsecond line")
    assert (await zc_client.get("/notes/people/mia", headers=EN)).status_code == 404


# ---------------------------------------------------------------- safety


async def test_markup_in_bios_and_titles_renders_as_text(zc_client, zc_app, zc_runtime, zc_make_user, zc_make_product):
    cream = await zc_make_product("camellia", title="Repair Cream")
    mia = await user(zc_client, zc_make_user, "mia")
    ben = await user(zc_client, zc_make_user, "ben")
    r = await zc_client.patch(f"{API}/me/profile", json={"bio": '<script>alert("bio")</script>'}, headers=mia.auth)
    assert r.status_code == 200
    await note(zc_client, mia, "<script>x</script>", tags=[{"variant_id": cream.id}])
    await zc_client.post(f"{API}/users/mia/follow", headers=ben.auth)
    html = await page(zc_client, "/notes/people/mia") + await page(zc_client, "/notes/people/ben/following") + await page(zc_client, "/brands/camellia")
    assert "<script>alert" not in html and "<script>x</script>" not in html
    assert "&lt;script&gt;alert(&#34;bio&#34;)&lt;/script&gt;" in html and "&lt;script&gt;x&lt;/script&gt;" in html


async def test_posts_without_the_csrf_token_are_refused(zc_client, zc_app, zc_runtime, zc_make_user):
    mia = await user(zc_client, zc_make_user, "mia")
    ben = await user(zc_client, zc_make_user, "ben")
    async with browser(zc_app) as b:
        await html_login(b, ben.email)
        await b.get("/notes/people/mia")
        for path, data in (("/notes/people/mia/follow", {}), ("/notes/people/mia/unfollow", {}), ("/notes/me/boards", {"name": "x"}),
                           ("/notes/me/boards/1", {"name": "x"}), ("/notes/me/boards/1/delete", {}), ("/notes/me/settings", {"handle": "ben2"})):
            r = await post_form(b, path, data, token=False)
            assert r.status_code == 403, (path, r.status_code)
    assert await count(zc_runtime, Follow) == 0 and await count(zc_runtime, Board) == 0
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(NotesProfile, ben.id)).handle == "ben" and mia.handle == "mia"


async def test_profile_queries_do_not_grow_with_the_notes_shown(zc_client, zc_app, zc_runtime, zc_make_user):
    mia = await user(zc_client, zc_make_user, "mia")
    ben = await user(zc_client, zc_make_user, "ben")
    await zc_client.post(f"{API}/users/mia/follow", headers=ben.auth)
    for i in range(2):
        await note(zc_client, mia, f"note {i}")
    async with browser(zc_app) as b:
        await html_login(b, ben.email)
        await page(b, "/notes/people/mia")  # warm: the actor, the CSRF cookie
        with selects() as few:
            html = await page(b, "/notes/people/mia")
        assert len(note_ids(html)) == 2
        for i in range(2, 14):
            await note(zc_client, mia, f"note {i}")
        with selects() as many:
            html = await page(b, "/notes/people/mia")
        assert len(note_ids(html)) == 14
        with selects() as followers:
            await page(b, "/notes/people/mia/followers")
    # 3 load the signed-in actor; the profile, its relation to the viewer (3), its notes and their cards (3)
    assert len(many) == len(few) <= 13, many  # 11, one for the live plugin's LIVE badge (page_context), one for the top bar's notices
    assert len(followers) <= 11, followers  # 10, and the top bar's notices


# ---------------------------------------------------------------- what people say


async def _tagging_notes(client: Any, make_user: Any, make_product: Any) -> dict[str, Any]:
    cream = await make_product("camellia", title="Repair Cream")
    serum = await make_product("camellia", title="Serum")
    plain = await make_product("camellia", title="Untagged Toner")
    other = await make_product("peak", title="Boots")
    mia = await user(client, make_user, "mia")
    fans = [await user(client, make_user, f"fan{i}") for i in range(3)]
    tag = [{"variant_id": cream.id}]
    made = {
        "cream": cream, "serum": serum, "plain": plain, "other": other,
        "loved": await note(client, mia, "Loved it", tags=tag),
        "liked": await note(client, mia, "Liked it", tags=tag),
        "quiet": await note(client, mia, "Quiet one", tags=tag),
        "serum_note": await note(client, mia, "Serum note", tags=[{"variant_id": serum.id}]),
        "draft": await note(client, mia, "Draft cream", publish=False, tags=tag),
        "private": await note(client, mia, "Private cream", visibility="private", tags=tag),
        "boots": await note(client, mia, "Boots note", tags=[{"variant_id": other.id}]),
    }
    for i, fan in enumerate(fans):
        await client.post(f"{API}/{made['loved']}/like", headers=fan.auth)
        if i < 2:
            await client.post(f"{API}/{made['liked']}/like", headers=fan.auth)
    return made


async def test_brand_page_shows_recent_notes_tagging_its_products(zc_client, zc_runtime, zc_make_user, zc_make_product):
    made = await _tagging_notes(zc_client, zc_make_user, zc_make_product)
    html = await page(zc_client, "/brands/camellia")
    section = re.search(r'data-testid="brand-notes".*?</section>', html, re.DOTALL).group(0)
    assert note_ids(section, "people-say-cards") == [made["serum_note"], made["quiet"], made["liked"], made["loved"]], "newest first"
    assert "4 notes" in section and "Notes about this brand" in section and f'href="/notes/{made["loved"]}"' in section
    assert "Draft cream" not in html and "Private cream" not in html and "Boots note" not in html
    peak = await page(zc_client, "/brands/peak")
    assert note_ids(re.search(r'data-testid="brand-notes".*?</section>', peak, re.DOTALL).group(0), "people-say-cards") == [made["boots"]]


async def test_product_slot_lists_the_tagging_notes_most_liked_first(zc_client, zc_app, zc_runtime, zc_make_user, zc_make_product):
    """page_context + render_slot as the product page calls them."""
    from core.catalog import service as catalog
    from core.i18n import plural_translator, translator

    made = await _tagging_notes(zc_client, zc_make_user, zc_make_product)

    async def slot(product_id: int) -> str | None:
        async with zc_runtime.db.read_session() as s:
            view = await catalog.get_active_product(s, await slug_of(zc_runtime, product_id))
        translate = translator(zc_runtime, "en")
        ctx: dict[str, Any] = {"product": view, "actor": None, "locale": "en", "_": translate, "_n": plural_translator(translate), "csrf_input": ""}
        ctx["render_template"] = lambda name, **extra: Markup(zc_app.template_engine.get_template(name).render(**{**ctx, **extra}))
        ctx.update(await pages_people.page_context("storefront/product.html", ctx, zc_runtime) or {})
        return pages_people.render_slot("product_below", ctx)

    html = await slot(made["cream"].product_id)
    assert note_ids(html, "people-say-cards") == [made["loved"], made["liked"], made["quiet"]], "most liked first"
    assert "3 notes" in html and "What people say" in html and "Draft cream" not in html and "Private cream" not in html
    assert await slot(made["plain"].product_id) is None, "nothing for an untagged product"
    pages_people._said.clear()
    with selects() as sent:
        await slot(made["cream"].product_id)
        await slot(made["cream"].product_id)  # kept between writes
    assert len([q for q in sent if "notes_note" in q]) == 1, "one query for the cards and their count"
    assert pages_people.render_slot("product_below", {"notes_people_say": {"cards": [], "total": 0}}) is None

    # read-your-writes: a new note shows at once (the cards are kept only between writes)
    newest = await note(zc_client, SimpleNamespace(auth=(await api_token(zc_client, "fan0@example.com"))), "New take", tags=[{"variant_id": made["cream"].id}])
    assert newest in note_ids(await slot(made["cream"].product_id), "people-say-cards")


async def test_product_page_shows_what_people_say(zc_client, zc_runtime, zc_make_user, zc_make_product):
    source = (Path(__file__).resolve().parents[3] / "storefront" / "templates" / "storefront" / "product.html").read_text()
    if 'slot("product_below"' not in source:
        pytest.skip("storefront/product.html does not call the product_below slot yet")
    made = await _tagging_notes(zc_client, zc_make_user, zc_make_product)
    html = await page(zc_client, f"/products/{await slug_of(zc_runtime, made['cream'].product_id)}")
    section = re.search(r'data-testid="people-say".*?</section>', html, re.DOTALL).group(0)
    assert note_ids(section, "people-say-cards") == [made["loved"], made["liked"], made["quiet"]] and "3 notes" in section
    assert "Draft cream" not in html and "Private cream" not in html
    untagged = await page(zc_client, f"/products/{await slug_of(zc_runtime, made['plain'].product_id)}")
    assert 'data-testid="people-say"' not in untagged


# ---------------------------------------------------------------- languages and the plugin switched off


async def test_pages_speak_chinese_and_every_string_has_a_translation(zc_client, zc_make_user):
    await user(zc_client, zc_make_user, "mia")
    html = (await zc_client.get("/notes/people/mia", headers={"accept-language": "zh-CN"})).text
    assert "粉丝" in html and "获赞与收藏" in html and "笔记" in html and ">关注</a>" not in html
    assert re.search(r'data-testid="count-following"><b>0</b> 关注</a>', html), "关注 (following), not 已关注 (the button's state)"
    english = (await zc_client.get("/notes/people/mia", headers=EN)).text
    assert re.search(r'data-testid="count-following"><b>0</b> Following</a>', english)

    zh = pages_people.TRANSLATIONS["zh-CN"]
    said = set()
    for template in TEMPLATES.glob("*.html"):
        if template.name.startswith(("people_", "me_", "_people_")):
            said |= set(re.findall(r'_\(\s*"([^"]+)"', template.read_text())) | set(re.findall(r"_\(\s*'([^']+)'", template.read_text()))
    said |= {label for _, _, label in pages_people.ME_TABS} | set(pages_people.STATUS_LABELS.values()) | {"Private", "Board created", "Board saved", "Board deleted", "Profile saved"}
    assert not sorted(said - set(zh)), sorted(said - set(zh))
    assert all(v and v != k for k, v in zh.items())
    assert all("{" not in k or set(re.findall(r"{\w+}", k)) == set(re.findall(r"{\w+}", v)) for k, v in zh.items()), "the same placeholders"


@pytest.mark.parametrize("zc_settings", ["notes"], indirect=True)
async def test_without_the_notes_plugin_the_pages_and_links_vanish(zc_client, zc_runtime, zc_make_user):
    assert zc_runtime.pm.get_plugin("notes") is None
    shopper = await zc_make_user("shopper@example.com")
    await html_login(zc_client, shopper.email)
    account = await page(zc_client, "/account")
    assert "/notes/me" not in account and 'data-testid="notes-account-menu"' not in account
    for path in ("/notes/people/shopper", "/notes/me", "/notes/me/boards", "/notes/static/people.css"):
        assert (await zc_client.get(path, headers={**EN, "accept": "text/html"})).status_code == 404, path
    assert (await post_form(zc_client, "/notes/me/boards", {"name": "x"})).status_code in (404, 405)


# ---------------------------------------------------------------- following a brand


async def test_following_a_brand_from_its_page_and_the_api(zc_client, zc_app, zc_runtime, zc_make_user, zc_make_product):
    await zc_make_product("camellia", title="Repair Cream")
    mia = await user(zc_client, zc_make_user, "mia")
    ben = await user(zc_client, zc_make_user, "ben")
    html = await page(zc_client, "/brands/camellia")
    assert 'data-testid="brand-follow-button"' in html and "0 brand followers" in html

    r = await post_form(zc_client, "/notes/brands/camellia/follow")  # a guest logs in first, then comes back
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/brands/camellia"
    async with browser(zc_app) as b:
        await html_login(b, mia.email)
        for _ in range(2):  # a double click follows once
            r = await post_form(b, "/notes/brands/camellia/follow")
            assert r.status_code == 303 and r.headers["location"] == "/brands/camellia"
        html = await page(b, "/brands/camellia")
        assert 'data-testid="brand-unfollow"' in html and "1 brand followers" in html
        assert (await post_form(b, "/notes/brands/camellia/follow", token=False)).status_code == 403  # CSRF
        assert (await post_form(b, "/notes/brands/nobody/follow")).status_code == 404

    api = f"{API}/brands/camellia/follow"
    assert (await zc_client.post(api, headers=ben.auth)).json() == {"following": True, "follower_count": 2}
    assert (await zc_client.post(api, headers=ben.auth)).json() == {"following": True, "follower_count": 2}
    assert (await zc_client.get(api, headers=ben.auth)).json() == {"following": True, "follower_count": 2}
    assert (await zc_client.delete(api, headers=ben.auth)).json() == {"following": False, "follower_count": 1}
    assert (await zc_client.delete(api, headers=ben.auth)).json() == {"following": False, "follower_count": 1}
    assert (await zc_client.get(api)).json() == {"following": False, "follower_count": 1}  # anyone may see the count
    assert (await zc_client.post(api)).status_code == 401
    assert (await zc_client.post(f"{API}/brands/nobody/follow", headers=ben.auth)).status_code == 404

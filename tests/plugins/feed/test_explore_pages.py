"""The explore pages over HTTP: cards, the cursor as pages and fragments, the follow
feed (people and brands), topic picks, the home slot, XSS, CSRF, query counts, and the plugin disabled."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape
from typing import Any, ClassVar

import pytest
from markupsafe import Markup
from sqlalchemy import update

from core import hookimpl
from core.db import utcnow
from core.testing import QueryCounter, html_login, post_form, settle
from plugins.feed.cards import FeedCard
from plugins.feed.models import FeedSession
from tests.plugins.feed.helpers import (
    feed_settings_for,
    follow,
    follow_brand,
    note,
    tag,
)

EN = {"accept-language": "en"}


class ExploreProbe:
    """Another plugin (live, group buy): a card above the feed, and cards in it when a test asks."""

    cards: ClassVar[list[FeedCard]] = []

    @hookimpl
    def render_slot(self, slot: str, context: dict[str, Any]) -> str | None:
        return Markup('<p data-testid="probe-explore-top">live now</p>') if slot == "explore_top" else None

    @hookimpl(optionalhook=True)
    async def feed_candidates(self, viewer: Any, cursor: Any, limit: int, runtime: Any) -> list[FeedCard]:
        return list(self.cards)


@pytest.fixture
def zc_extra_plugins() -> list[tuple[str, object]]:
    ExploreProbe.cards = []
    return [("explore_probe", ExploreProbe())]


@pytest.fixture(autouse=True)
def _fast_feed_in_english(zc_runtime, zc_client):
    feed_settings_for(zc_runtime)
    zc_client.cookies.set("zc_lang", "en")  # a signed-in user's own language would win over Accept-Language


async def get(client: Any, path: str, status: int = 200, **params: Any) -> str:
    r = await client.get(path, params=params or None, headers=EN, follow_redirects=False)  # params={} would drop the path's own query
    assert r.status_code == status, r.text[:2000]
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def cards(html: str) -> list[str]:
    return re.findall(r'<li class="card note-card feed-card" data-testid="feed-card".*?</li>', html, re.DOTALL)


def note_ids(html: str) -> list[int]:
    """Note ids in feed order (the page lays them out in columns; data-pos keeps the order)."""
    found = [(int(m.group(1) or 0), int(m.group(2))) for c in cards(html) if (m := re.search(r'(?:data-pos="(\d+)")?>\s*<a href="/notes/(\d+)">', c))]
    return [note_id for _pos, note_id in sorted(found, key=lambda f: f[0])]


def link(html: str, attribute: str) -> str:
    return unescape(re.search(rf'{attribute}="([^"]+)"', html).group(1))


async def creators(zc_make_user, n: int) -> list:
    return [await zc_make_user(f"author{i}@example.com", roles=("creator",)) for i in range(n)]


async def test_explore_shows_published_notes_as_cards(zc_client, zc_runtime, zc_make_user):
    from plugins.notes.models import NotesProfile

    mia, = await creators(zc_make_user, 1)
    async with zc_runtime.db.session() as s:
        s.add(NotesProfile(user_id=mia.id, handle="mia", avatar_path="avatars/mia.webp"))
        await s.commit()
    tea = await note(zc_runtime, mia.id, title="Cold brew at home", topics=("tea",), likes=7)
    plain = await note(zc_runtime, mia.id, title="No picture", image=False, likes=2)
    await note(zc_runtime, mia.id, title="Still a draft", status="draft")
    await note(zc_runtime, mia.id, title="Only for me", visibility="private")

    html = await get(zc_client, "/feed")  # anonymous
    assert sorted(note_ids(html)) == sorted([tea, plain])
    card = next(c for c in cards(html) if f'href="/notes/{tea}"' in c)
    assert f'src="/media/notes/{tea}-360.webp"' in card and 'width="300" height="400"' in card, "the cover keeps its 3:4 ratio"
    assert 'alt="Cold brew at home"' in card and 'class="card-title">Cold brew at home<' in card
    assert 'src="/media/avatars/mia.webp"' in card and "author0" in card
    assert re.search(r'data-testid="feed-likes"><span aria-hidden="true">♡</span> 7<', card)
    assert 'class="note-cover placeholder"' in next(c for c in cards(html) if f'href="/notes/{plain}"' in c)
    assert "Still a draft" not in html and "Only for me" not in html
    assert 'data-testid="tab-explore" aria-current="page"' in html and 'href="/feed/following" data-testid="tab-following"' in html
    assert 'href="/feed/topics/tea" data-testid="topic-chip">#tea<' in html, "a chip opens the topic's channel"
    assert 'data-testid="probe-explore-top"' in html, "the explore_top slot"
    assert 'href="/feed/static/explore.css"' in html and '<script src="/feed/static/explore.js" defer></script>' in html
    assert 'data-testid="feed-end"' in html and 'data-testid="feed-more"' not in html, "two notes: no next page"
    for asset in ("/feed/static/explore.js", "/feed/static/explore.css"):
        assert (await zc_client.get(asset)).status_code == 200
    zc_client.cookies.set("zc_lang", "zh-CN")
    chinese = (await zc_client.get("/feed")).text
    assert ">发现<" in chinese and ">关注<" in chinese and "暂时就这些了。" in chinese


async def test_the_cursor_reads_on_as_pages_and_fragments(zc_client, zc_runtime, zc_make_user):
    authors = await creators(zc_make_user, 5)
    made = [await note(zc_runtime, authors[i % 5].id, title=f"n{i}", likes=i % 9, age=timedelta(hours=i)) for i in range(45)]
    first = await get(zc_client, "/feed")
    shown = note_ids(first)
    assert len(shown) == 20 == len(set(shown)) and set(shown) <= set(made)
    assert 'loading="lazy"' in first and first.count('decoding="async"') == 20
    more = re.search(r'<a class="btn btn-ghost" href="([^"]+)" data-fragment="([^"]+)"[^>]*data-testid="feed-more"', first)
    next_page, fragment = unescape(more.group(1)), unescape(more.group(2))
    assert next_page.startswith("/feed?cursor=") and fragment.startswith("/feed/more?cursor=")

    second = await get(zc_client, next_page)  # without JavaScript: a whole page
    assert len(note_ids(second)) == 20 and not set(note_ids(second)) & set(shown)
    assert "<!doctype html>" in second and 'data-testid="feed-tabs"' in second

    piece = await get(zc_client, fragment)  # explore.js: the same cards as a fragment
    assert "<!doctype html>" not in piece and '<ul class="feed-col" data-testid="feed-fragment"' in piece
    assert note_ids(piece) == note_ids(second), "the same cursor, the same cards"
    last = await get(zc_client, link(piece, "data-next-fragment"))
    assert len(note_ids(last)) == 5 and "data-next-fragment" not in last
    assert set(shown) | set(note_ids(second)) | set(note_ids(last)) == set(made), "nothing skipped"


async def test_a_bad_or_expired_cursor_is_a_friendly_page(zc_client, zc_runtime, zc_make_user):
    author, = await creators(zc_make_user, 1)
    for i in range(25):
        await note(zc_runtime, author.id, title=f"n{i}")
    for cursor in ("nonsense", "a.b", "x" * 600):
        html = await get(zc_client, "/feed", 400, cursor=cursor)
        assert 'data-testid="feed-problem"' in html and "This feed link is not valid." in html and 'href="/feed">Start again<' in html
        assert "Traceback" not in html and not cards(html)
        piece = await get(zc_client, "/feed/more", 400, cursor=cursor)
        assert 'data-testid="feed-problem"' in piece and "<!doctype html>" not in piece
    first = await get(zc_client, "/feed")
    cursor = link(first, "data-fragment").split("cursor=", 1)[1]
    async with zc_runtime.db.session() as s:
        await s.execute(update(FeedSession).values(created_at=utcnow() - timedelta(days=30)))
        await s.commit()
    assert "This feed has expired." in await get(zc_client, "/feed", 410, cursor=cursor)
    viewer = await zc_make_user("viewer@example.com")
    await html_login(zc_client, viewer.email)
    assert "This feed link is not valid." in await get(zc_client, "/feed/following", 400, cursor=cursor), "another feed's cursor"


async def test_following_needs_login_and_shows_followed_authors(zc_client, zc_runtime, zc_make_user):
    from plugins.notes.models import NotesProfile

    a, b, stranger = await creators(zc_make_user, 3)
    async with zc_runtime.db.session() as s:
        s.add(NotesProfile(user_id=stranger.id, handle="stranger"))
        await s.commit()
    followed = [await note(zc_runtime, (a, b)[i % 2].id, title=f"followed {i}", age=timedelta(hours=i), topics=("hiking",)) for i in range(23)]
    await note(zc_runtime, stranger.id, title="from a stranger", likes=40)

    guest = await zc_client.get("/feed/following", follow_redirects=False)
    assert guest.status_code in (302, 303) and guest.headers["location"] == "/login?next=/feed/following"

    viewer = await zc_make_user("viewer@example.com")
    await html_login(zc_client, viewer.email)
    empty = await get(zc_client, "/feed/following")
    assert 'data-testid="following-empty"' in empty and 'data-testid="tab-following" aria-current="page"' in empty
    people = re.search(r'data-testid="suggested-people">(.*?)</ul>', empty, re.DOTALL).group(1)
    assert "author2" in people and "@stranger" in people, "authors of popular notes"
    assert 'href="/feed/topics/hiking"' in empty and 'href="/feed/topics"' in empty
    assert "notes about brands you follow" in empty

    for author in (a, b):
        await follow(zc_runtime, viewer.id, author.id)
    html = await get(zc_client, "/feed/following")
    assert note_ids(html) == followed[:20], "newest first"
    assert "from a stranger" not in html and 'data-testid="following-empty"' not in html
    more = re.search(r'href="([^"]+)" data-fragment="([^"]+)"', html)
    assert note_ids(await get(zc_client, unescape(more.group(1)))) == followed[20:]
    piece = await get(zc_client, unescape(more.group(2)))
    assert note_ids(piece) == followed[20:] and "data-next-fragment" not in piece


async def test_following_shows_notes_about_followed_brands_and_why(zc_client, zc_runtime, zc_make_user, zc_make_product):
    friend, stranger = await creators(zc_make_user, 2)
    cream, elsewhere = await zc_make_product("glow"), await zc_make_product("elsewhere")
    viewer = await zc_make_user("viewer@example.com")
    await follow(zc_runtime, viewer.id, friend.id)
    await follow_brand(zc_runtime, viewer.id, "glow")
    by_friend = await note(zc_runtime, friend.id, title="by a friend", age=timedelta(hours=1))
    await tag(zc_runtime, by_friend, cream)
    about = await note(zc_runtime, stranger.id, title="about the brand", age=timedelta(hours=2))
    await tag(zc_runtime, about, cream)
    await tag(zc_runtime, await note(zc_runtime, stranger.id, title="another brand"), elsewhere)

    await html_login(zc_client, viewer.email)
    html = await get(zc_client, "/feed/following")
    assert note_ids(html) == [by_friend, about] and "another brand" not in html
    reasons = {note_id: 'data-testid="feed-reason">From a brand you follow<' in c for c in cards(html) for note_id in note_ids(c)}
    assert reasons == {by_friend: False, about: True}, "a followed author's note is there for the author"
    assert 'data-testid="feed-reason"' not in await get(zc_client, "/feed")
    zc_client.cookies.set("zc_lang", "zh-CN")
    assert "来自你关注的品牌" in (await zc_client.get("/feed/following")).text


async def test_topic_picks_save_and_show_as_picked(zc_client, zc_runtime, zc_make_user):
    author, = await creators(zc_make_user, 1)
    for key in ("tea", "hiking", "skincare"):
        await note(zc_runtime, author.id, title=key, topics=(key,))
    guest = await zc_client.get("/feed/topics", follow_redirects=False)
    assert guest.headers["location"] == "/login?next=/feed/topics"

    user = await zc_make_user("new@example.com")
    await html_login(zc_client, user.email)
    home = await get(zc_client, "/")
    assert 'data-testid="pick-topics-prompt"' in home and 'href="/feed/topics"' in home

    form = await get(zc_client, "/feed/topics")
    options = dict(re.findall(r'name="topic" value="(\d+)" >\s*<span class="chip">#(\w+)', form))
    assert sorted(options.values()) == ["hiking", "skincare", "tea"] and "checked" not in form
    ids = {name: value for value, name in options.items()}
    assert 'name="_csrf_token"' in form and "Pick up to 20 topics." in form

    refused = await zc_client.post("/feed/topics", data={"topic": ids["tea"]}, headers=EN, follow_redirects=False)
    assert refused.status_code == 403, "no CSRF token"

    saved = await post_form(zc_client, "/feed/topics", {"topic": [ids["tea"], ids["hiking"]]})
    assert saved.status_code == 303 and saved.headers["location"].startswith("/feed?notice=")
    again = await post_form(zc_client, "/feed/topics", {"topic": [ids["tea"], ids["hiking"]]})  # a double click
    assert again.status_code == 303
    assert "Your topics are saved." in await get(zc_client, saved.headers["location"])
    form = await get(zc_client, "/feed/topics")
    checked = set(re.findall(r'name="topic" value="(\d+)" checked', form))
    assert checked == {ids["tea"], ids["hiking"]} and 'data-testid="picked-count">2 topics picked<' in form

    for bad in (["999999"], ["tea"]):
        refused = await post_form(zc_client, "/feed/topics", {"topic": bad})
        assert refused.status_code == 422 and 'data-testid="topics-error"' in refused.text
    home = await get(zc_client, "/")
    assert 'data-testid="pick-topics-prompt"' not in home, "picked: no prompt"
    assert set(re.findall(r'name="topic" value="(\d+)" checked', await get(zc_client, "/feed/topics"))) == checked, "bad input changed nothing"
    assert (await post_form(zc_client, "/feed/topics", {})).status_code == 303, "no topics at all clears the picks"


async def test_home_shows_a_strip_of_notes_and_the_explore_links(zc_client, zc_runtime, zc_make_user):
    author, = await creators(zc_make_user, 1)
    made = [await note(zc_runtime, author.id, title=f"n{i}", likes=10 - i) for i in range(8)]
    home = await get(zc_client, "/")
    strip = re.search(r'data-testid="home-explore">(.*?)</section>', home, re.DOTALL).group(1)
    assert 'href="/feed" data-testid="explore-more-link"' in strip
    assert len(note_ids(strip)) == 6 and set(note_ids(strip)) <= set(made)
    assert 'data-testid="pick-topics-prompt"' not in home, "a guest is not asked to pick"
    assert 'href="/feed" data-testid="explore-link"' in home and 'href="/feed" data-testid="explore-tab"' in home
    assert 'data-testid="explore-link" aria-current="page"' in await get(zc_client, "/feed")


async def test_titles_with_markup_render_as_text(zc_client, zc_runtime, zc_make_user):
    author, = await creators(zc_make_user, 1)
    await note(zc_runtime, author.id, title='<script>alert("x")</script><img src=x onerror=alert(1)>')
    for html in (await get(zc_client, "/feed"), await get(zc_client, "/")):
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in html


async def test_other_plugins_cards_show_in_the_feed(zc_client, zc_runtime, zc_make_user):
    ExploreProbe.cards = [
        FeedCard(kind="live", ref="room-1", title="Live <b>tasting</b>", url="/live/rooms/1"),
        FeedCard(kind="live", ref="room-2", title="Elsewhere", url="javascript:alert(1)"),
    ]
    author, = await creators(zc_make_user, 1)
    await note(zc_runtime, author.id, title="a note")
    html = await get(zc_client, "/feed")
    live = [c for c in cards(html) if 'data-kind="live"' in c]
    assert len(live) == 2 and note_ids(html)
    assert '<a href="/live/rooms/1">' in live[0] and "Live &lt;b&gt;tasting&lt;/b&gt;" in live[0] and "feed-likes" not in live[0]
    assert "javascript:" not in html and "<a " not in live[1], "only same-site links"


async def test_the_explore_page_costs_the_same_queries_for_more_cards(zc_client, zc_runtime, zc_make_user):
    async def count(path: str) -> tuple[int, int]:
        await settle(zc_runtime)
        with QueryCounter() as q:  # every engine: the test client runs the app on a loop of its own
            html = await get(zc_client, path)
        return q.count, len(cards(html))

    few = await creators(zc_make_user, 3)
    for i in range(21):
        await note(zc_runtime, few[i % 3].id, title=f"a{i}", topics=(f"t{i % 2}",))
    await get(zc_client, "/feed")  # warm up: first use of the templates and the catalog
    small, shown = await count("/feed")
    assert shown == 20
    many = [await zc_make_user(f"more{i}@example.com", roles=("creator",)) for i in range(20)]
    for i in range(40):
        await note(zc_runtime, many[i % 20].id, title=f"b{i}", topics=(f"t{i % 7}",), likes=i)
    large, shown = await count("/feed")
    assert shown == 20 and large == small, f"{small} queries with 21 notes, {large} with 61"
    assert small <= 20, small  # one for the chips; the rest is the feed service opening a session (its writes included)
    viewer = await zc_make_user("viewer@example.com")
    await html_login(zc_client, viewer.email)
    for author in many:
        await follow(zc_runtime, viewer.id, author.id)
    following, shown = await count("/feed/following")
    assert shown == 20 and following <= 9, following  # 9: the top bar's unseen notices count included


@pytest.mark.parametrize("zc_settings", ["notes"], indirect=True)
async def test_without_notes_the_pages_stay_up_and_empty(zc_client, zc_runtime, zc_make_user):
    assert zc_runtime.pm.get_plugin("notes") is None
    assert 'data-testid="explore-empty"' in await get(zc_client, "/feed")
    user = await zc_make_user("new@example.com")
    await html_login(zc_client, user.email)
    assert 'data-testid="following-empty"' in await get(zc_client, "/feed/following")
    assert "No topics yet" in await get(zc_client, "/feed/topics")
    home = await get(zc_client, "/")
    assert 'data-testid="explore-link"' in home and 'data-testid="pick-topics-prompt"' not in home


@pytest.mark.parametrize("zc_settings", ["feed"], indirect=True)
async def test_without_the_feed_plugin_its_pages_and_links_vanish(zc_client, zc_runtime):
    assert zc_runtime.pm.get_plugin("feed") is None
    for path in ("/feed", "/feed/more", "/feed/following", "/feed/topics", "/feed/topics/tea", "/feed/topics/tea/more", "/feed/static/explore.js", "/api/v1/feed/topics/tea/notes"):
        assert (await zc_client.get(path, headers=EN, follow_redirects=False)).status_code == 404, path
    home = await get(zc_client, "/")
    assert 'href="/feed"' not in home and 'data-testid="explore-link"' not in home and 'data-testid="home-explore"' not in home

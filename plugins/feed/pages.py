"""The explore pages: `/feed` (the ranked feed), `/feed/following`, a topic's channel
`/feed/topics/{key}`, topic picks.

Thin on purpose: the same services as the JSON API (`explore.explore_page`,
`service.following_page`, `service.topic_page`, `service.pick_topics`) do the work.
Pages work without JavaScript: a "More" link loads the next page of a feed as a whole
page; static/explore.js lays the cards out in columns and appends the next cards from
`<feed>/more` (the same cursor, a fragment) as the reader scrolls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NoRouteMatchFoundException
from litestar.params import Body
from litestar.response import Redirect
from markupsafe import Markup
from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError

from core import forms
from core.auth.permissions import Actor
from core.db import utcnow
from core.errors import DomainError, ValidationFailed
from core.web import GUEST_CACHE, login_required, render
from plugins.feed import explore, service
from plugins.feed.cards import FeedCard, FeedPage, TopicOut
from plugins.feed.cursor import CursorExpired, InvalidCursor
from plugins.feed.models import TopicPick
from plugins.feed.retrieval import note_cards, notes_enabled, popular_now
from plugins.feed.settings import feed_settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]

PER_PAGE = 20
EAGER = 4  # the first cards load at once; the rest lazily
CHIPS = 12  # topic chips above the feed
HOME_CARDS = 6
PEOPLE = 6  # people suggested on an empty follow feed
TEXT_HEIGHT = 0.5  # a card's title and author, as a share of its width (for balancing columns)
SAVED = "Your topics are saved."
FOLLOWING_TAB = "Following (feed tab)"  # "Following" alone is the follow button's state ("已关注")
BRAND_REASON = "From a brand you follow"

TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "Explore": "发现",
        FOLLOWING_TAB: "关注",
        "Feeds": "信息流",
        "Topics": "话题",
        "More": "加载更多",
        "Loading…": "加载中…",
        "That's all for now.": "暂时就这些了。",
        "Refresh": "刷新",
        "Start again": "重新开始",
        "Nothing to explore yet.": "还没有可以发现的笔记。",
        "Notes people post show up here.": "大家发布的笔记会出现在这里。",
        "This feed link is not valid.": "这个信息流链接无效。",
        "This feed has expired.": "这个信息流已过期。",
        "Start again from the top for fresh notes.": "从头开始，看看新的笔记。",
        "Sponsored": "广告",  # the label China's advertising rules require, as the API has it (plugins.notes.notes.SPONSORED_LABEL)
        "likes": "赞",
        "Video": "视频",
        "Notes from people you follow, and notes about brands you follow, show up here.": "你关注的人发布的笔记和关于你关注的品牌的笔记会出现在这里。",
        BRAND_REASON: "来自你关注的品牌",
        "No notes in this topic yet.": "这个话题还没有笔记。",
        "People to follow": "推荐关注",
        "Topics you might like": "你可能感兴趣的话题",
        "{n} note": "{n} 篇笔记",
        "{n} notes": "{n} 篇笔记",
        "Pick what you like": "选择你感兴趣的内容",
        "Pick a few topics and your feed starts with notes about them.": "选几个话题，你的信息流会从相关笔记开始。",
        "Pick topics": "选择话题",
        "Topics you like": "你喜欢的话题",
        "Pick up to {n} topics.": "最多选择 {n} 个话题。",
        "Save": "保存",
        "Skip for now": "先跳过",
        SAVED: "已保存你喜欢的话题。",
        "These topics could not be saved.": "这些话题未能保存。",
        "Choose topics from the list.": "请从列表中选择话题。",
        "No topics yet: they appear as people post notes with #topics.": "还没有话题：大家发布带 #话题 的笔记后就会出现。",
        "Notes to explore": "发现好笔记",
        "Explore more": "发现更多",
        "{n} topics picked": "已选 {n} 个话题",
    },
    "en": {FOLLOWING_TAB: "Following"},
}


# ---------------------------------------------------------------- view helpers


def card_view(card: FeedCard) -> dict[str, Any]:
    """What a card template shows. The cover keeps its aspect ratio, clamped to 3:4 .. 4:3."""
    cover = None
    ratio = 1.0
    if card.cover is not None:
        w, h = card.cover.width, card.cover.height
        ratio = min(4 / 3, max(3 / 4, h / w)) if w > 0 and h > 0 else 4 / 3
        cover = {"url": card.cover.url, "width": 300, "height": round(300 * ratio)}
    author = card.author
    if card.kind == "note":
        href: str | None = f"/notes/{card.note_id}"
    else:  # another plugin's card (live room, group buy): its own link, same-site only
        href = card.url if card.url and card.url.startswith("/") and not card.url.startswith("//") else None
    return {
        "kind": card.kind, "href": href, "title": card.title, "cover": cover, "likes": card.like_count, "sponsored": card.sponsored,
        "video": card.extra.get("note_kind") == "video", "reason": BRAND_REASON if card.kind == "note" and card.source == "brand" else None,
        "author": {"name": author.display_name or author.handle, "avatar": author.avatar_url} if author else None,
        "weight": (ratio if cover else 0.4) + TEXT_HEIGHT, "pos": None,
    }


def columns(cards: list[dict[str, Any]], n: int = 2) -> list[list[dict[str, Any]]]:
    """Cards into `n` columns, each to the shortest so far (what explore.js does in the
    browser); `pos` keeps the feed's order for explore.js to lay them out again."""
    cols: list[list[dict[str, Any]]] = [[] for _ in range(n)]
    heights = [0.0] * n
    for pos, card in enumerate(cards):
        card["pos"] = pos
        i = heights.index(min(heights))
        cols[i].append(card)
        heights[i] += card["weight"]
    return cols


def topic_url(key: str) -> str:
    return "/feed/topics/" + quote(key, safe="")


def _topic_view(t: TopicOut, current: TopicOut | None = None) -> dict[str, Any]:
    return {"id": t.id, "key": t.key, "name": t.name, "count": t.note_count, "href": topic_url(t.key), "current": current is not None and t.id == current.id}


async def _chips(runtime: Runtime, session: AsyncSession, current: TopicOut | None = None) -> list[dict[str, Any]]:
    """The topic channels above a feed; the current one first when it is not among them."""
    topics = await service.suggested_topics(runtime, session, limit=CHIPS)
    if current is not None and all(t.id != current.id for t in topics):
        topics = [current, *topics[: CHIPS - 1]]
    return [_topic_view(t, current) for t in topics]


def _paging(page: FeedPage, base: str) -> dict[str, str | None]:
    """Where the next cards come from: a whole page (no JS) and a fragment (explore.js)."""
    if page.next_cursor is None:
        return {"next_page": None, "next_fragment": None}
    query = urlencode({"cursor": page.next_cursor})
    return {"next_page": f"{base}?{query}", "next_fragment": f"{base}/more?{query}"}


def _cursor_problem(exc: DomainError) -> str:
    return "This feed has expired." if isinstance(exc, CursorExpired) else "This feed link is not valid."


def profile_url(request: Request, handle: str) -> str | None:
    """The notes plugin's profile page, when it has one."""
    try:
        return request.app.route_reverse("notes_profile", handle=handle)
    except NoRouteMatchFoundException:
        return None


async def _suggestions(request: Request, runtime: Runtime, session: AsyncSession, viewer_id: int) -> dict[str, Any]:
    """An empty follow feed suggests authors of popular notes, and topics."""
    if not notes_enabled(runtime):
        return {"people": [], "topics": []}
    ranked, _prior = await popular_now(session, runtime, feed_settings(runtime), utcnow())
    by_author: dict[int, int] = {}
    for st in ranked:
        if st.author_id != viewer_id and len(by_author) < PEOPLE:
            by_author.setdefault(st.author_id, st.note_id)
    cards = await note_cards(session, list(by_author.values()))
    people = []
    for note_id in by_author.values():
        author = cards[note_id].author if note_id in cards else None
        if author is not None:
            people.append({"name": author.display_name or author.handle, "handle": author.handle, "avatar": author.avatar_url, "href": profile_url(request, author.handle)})
    topics = await service.suggested_topics(runtime, session, limit=CHIPS)
    return {"people": people, "topics": [_topic_view(t) for t in topics]}


def _topic_ids(raw: list[str]) -> list[int]:
    ids = []
    for value in raw:
        value = value.strip()
        if not value.isdigit() or len(value) > 18:
            raise ValidationFailed("Choose topics from the list.")
        ids.append(int(value))
    return list(dict.fromkeys(ids))


# ---------------------------------------------------------------- pages


class ExplorePages(Controller):
    path = "/"

    @get("/", name="feed_explore", opt={GUEST_CACHE: True})
    async def explore(self, request: Request, runtime: Runtime, session: AsyncSession, actor: Actor | None, cursor: str | None = None) -> Any:
        # the feed first: it opens sessions of its own, so this request's is not yet holding a connection
        try:
            page = await explore.explore_page(runtime, actor.user_id if actor else None, cursor=cursor, limit=PER_PAGE)
        except (InvalidCursor, CursorExpired) as exc:
            page, problem = None, exc
        ctx: dict[str, Any] = {"tab": "explore", "chips": await _chips(runtime, session), "more_base": "/feed"}
        if page is None:
            return await render(request, "feed/explore.html", {**ctx, "cards": [], "problem": _cursor_problem(problem)}, status_code=problem.status_code)
        cards = [card_view(c) for c in page.items]
        return await render(request, "feed/explore.html", {**ctx, "columns": columns(cards), "cards": cards, **_paging(page, "/feed")})

    @get("/more", opt={GUEST_CACHE: True})
    async def explore_more(self, request: Request, runtime: Runtime, actor: Actor | None, cursor: str | None = None) -> Any:
        """The next cards as a fragment, for explore.js."""
        try:
            page = await explore.explore_page(runtime, actor.user_id if actor else None, cursor=cursor, limit=PER_PAGE)
        except (InvalidCursor, CursorExpired) as exc:
            return await render(request, "feed/_more.html", {"cards": [], "problem": _cursor_problem(exc), "more_base": "/feed"}, status_code=exc.status_code)
        return await render(request, "feed/_more.html", {"cards": [card_view(c) for c in page.items], "more_base": "/feed", **_paging(page, "/feed")})

    @get("/following", guards=[login_required], name="feed_following")
    async def following(self, request: Request, runtime: Runtime, session: AsyncSession, actor: Actor, cursor: str | None = None) -> Any:
        ctx: dict[str, Any] = {"tab": "following", "chips": [], "more_base": "/feed/following"}
        try:
            page = await service.following_page(runtime, session, actor.user_id, cursor=cursor, limit=PER_PAGE)
        except InvalidCursor as exc:
            return await render(request, "feed/explore.html", {**ctx, "cards": [], "problem": _cursor_problem(exc)}, status_code=exc.status_code)
        cards = [card_view(c) for c in page.items]
        if not cards and not cursor:
            ctx["suggestions"] = await _suggestions(request, runtime, session, actor.user_id)
        return await render(request, "feed/explore.html", {**ctx, "columns": columns(cards), "cards": cards, **_paging(page, "/feed/following")})

    @get("/following/more", guards=[login_required])
    async def following_more(self, request: Request, runtime: Runtime, session: AsyncSession, actor: Actor, cursor: str | None = None) -> Any:
        base = "/feed/following"
        try:
            page = await service.following_page(runtime, session, actor.user_id, cursor=cursor, limit=PER_PAGE)
        except InvalidCursor as exc:
            return await render(request, "feed/_more.html", {"cards": [], "problem": _cursor_problem(exc), "more_base": base}, status_code=exc.status_code)
        return await render(request, "feed/_more.html", {"cards": [card_view(c) for c in page.items], "more_base": base, **_paging(page, base)})

    @get("/topics/{key:str}", name="feed_topic", opt={GUEST_CACHE: True})
    async def topic_channel(self, request: Request, runtime: Runtime, session: AsyncSession, actor: Actor | None, key: str, cursor: str | None = None) -> Any:
        """A topic's channel: its notes in the explore layout (an unknown topic is the 404 page)."""
        try:
            page = await service.topic_page(runtime, session, actor.user_id if actor else None, key, cursor=cursor, limit=PER_PAGE)
            topic, problem = page.topic, None
        except InvalidCursor as exc:
            page, problem, topic = None, exc, await service.find_topic(runtime, session, key)
        base = topic_url(topic.key)
        ctx: dict[str, Any] = {"tab": "topic", "topic": _topic_view(topic), "chips": await _chips(runtime, session, topic), "more_base": base}
        if page is None:
            return await render(request, "feed/explore.html", {**ctx, "cards": [], "problem": _cursor_problem(problem)}, status_code=problem.status_code)
        cards = [card_view(c) for c in page.items]
        return await render(request, "feed/explore.html", {**ctx, "columns": columns(cards), "cards": cards, **_paging(page, base)})

    @get("/topics/{key:str}/more", opt={GUEST_CACHE: True})
    async def topic_more(self, request: Request, runtime: Runtime, session: AsyncSession, actor: Actor | None, key: str, cursor: str | None = None) -> Any:
        """The channel's next cards as a fragment, for explore.js."""
        base = topic_url(key)
        try:
            page = await service.topic_page(runtime, session, actor.user_id if actor else None, key, cursor=cursor, limit=PER_PAGE)
        except InvalidCursor as exc:
            return await render(request, "feed/_more.html", {"cards": [], "problem": _cursor_problem(exc), "more_base": base}, status_code=exc.status_code)
        base = topic_url(page.topic.key)
        return await render(request, "feed/_more.html", {"cards": [card_view(c) for c in page.items], "more_base": base, **_paging(page, base)})

    @get("/topics", guards=[login_required], name="feed_topics")
    async def topics(self, request: Request, runtime: Runtime, session: AsyncSession, actor: Actor) -> Any:
        picked = await service.picked_topics(runtime, session, actor.user_id)
        return await self._topics_page(request, runtime, session, picked, {t.id for t in picked})

    @post("/topics", guards=[login_required])
    async def pick(self, request: Request, data: Form, runtime: Runtime, session: AsyncSession, actor: Actor) -> Any:
        """Replace the picks (as PUT /api/v1/feed/topics does); a second submit changes nothing."""
        chosen: list[int] = []
        try:
            chosen = _topic_ids(forms.values(data, "topic"))
            await service.pick_topics(runtime, session, actor.user_id, chosen)
            await session.commit()
        except IntegrityError:  # the same form submitted twice at once: the other one saved it
            await session.rollback()
        except DomainError as exc:
            await session.rollback()
            picked = await service.picked_topics(runtime, session, actor.user_id)
            return await self._topics_page(request, runtime, session, picked, set(chosen), error=exc.detail, status_code=exc.status_code)
        return Redirect("/feed?" + urlencode({"notice": SAVED}), status_code=303)

    async def _topics_page(
        self, request: Request, runtime: Runtime, session: AsyncSession, picked: list[TopicOut], checked: set[int], *, error: str | None = None, status_code: int = 200
    ) -> Any:
        suggested = await service.suggested_topics(runtime, session, limit=30)
        shown = list({t.id: t for t in [*picked, *suggested]}.values())  # picks first, even with few notes
        options = [{**_topic_view(t), "checked": t.id in checked} for t in shown]
        return await render(
            request, "feed/topics.html",
            {"options": options, "picked_count": len(picked), "picks_max": feed_settings(runtime).picks_max, "error": error},
            status_code=status_code,
        )


EXPLORE_PAGES: list[Any] = [ExplorePages]


# ---------------------------------------------------------------- slots

async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    """Home: a prompt to pick topics (signed in, none picked yet) and a strip of popular notes."""
    if template != "storefront/home.html" or not notes_enabled(runtime):
        return None
    actor = context.get("actor")
    async with runtime.db.read_session() as read:
        needs_picks = actor is not None and not (await read.execute(select(exists().where(TopicPick.user_id == actor.user_id)))).scalar()
        ranked, _prior = await popular_now(read, runtime, feed_settings(runtime), utcnow())  # kept in process for a minute
        ids = [st.note_id for st in ranked[:HOME_CARDS]]
        found = await note_cards(read, ids)
    return {"feed_home": {"needs_picks": needs_picks, "cards": [card_view(found[i]) for i in ids if i in found]}}


def _link(context: dict[str, Any], testid: str) -> Markup:
    current = Markup(' aria-current="page"') if str(context.get("current_path", "")).startswith("/feed") else ""
    return Markup('<a href="/feed" data-testid="{}"{}>{}</a>').format(testid, current, context["_"]("Explore"))


def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    if slot == "storefront_nav":
        return _link(context, "explore-link")
    if slot == "storefront_tabbar":
        return _link(context, "explore-tab")
    if slot == "home_main" and context.get("feed_home"):
        return context["render_template"]("feed/_home.html")
    return None

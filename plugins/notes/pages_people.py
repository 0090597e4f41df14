"""People's pages: profiles, the shopper's notes, boards, likes and follows, and "what people say" on product pages.

Thin like the JSON API (`api_engagement.py`): the same services decide who may see and
change what (`profile_or_404`, `readable_board`, `own_board`, `my_notes`, `visible_to`),
and these handlers read forms, call them and show what they return. Every page works
without JavaScript: follows and board changes are POST forms that answer 303.
"""

from __future__ import annotations

import time
import weakref
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from markupsafe import Markup
from sqlalchemy import and_, func, select

from core import forms
from core.auth.models import User
from core.auth.permissions import require_actor
from core.catalog.media import media_url
from core.errors import Conflict, NotFound, ValidationFailed
from core.web import GUEST_CACHE, login_required, login_url, render, safe_next
from plugins.notes import engagement, profiles
from plugins.notes import notes as svc
from plugins.notes.models import (
    Note,
    NoteImage,
    NotesProfile,
    NoteStatus,
    ProductTag,
    Visibility,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime
    from plugins.notes.schemas import ImageOut, NoteCardOut

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]
Cursor = Annotated[str | None, Parameter(max_length=40)]
PER_PAGE = 20
SAY_NOTES = 6  # cards in "what people say" on a product or brand page
SAY_SECONDS = 30.0  # how long one process reuses those cards (its own writes drop them at once)
FOLLOWING = "Following (people)"  # whom one follows (关注); "Following" alone is the follow button's state (已关注)
ME_TABS = (("notes", "/notes/me", "My notes"), ("boards", "/notes/me/boards", "Boards"), ("likes", "/notes/me/likes", "Likes"),
           ("following", "/notes/me/following", FOLLOWING), ("followers", "/notes/me/followers", "Followers"), ("settings", "/notes/me/settings", "Settings"))
STATUS_LABELS = {NoteStatus.DRAFT: "Draft", NoteStatus.SCHEDULED: "Scheduled", NoteStatus.PUBLISHED: "Posted", NoteStatus.HIDDEN: "Hidden by moderation"}


# ---------------------------------------------------------------- cards


def _image(url: str, width: int, height: int, alt: str, sizes: list[tuple[int, str, int]]) -> dict[str, Any]:
    """<img> attributes: the smallest copy at least 320 wide (else the original), with a srcset."""
    sizes = sorted(sizes)
    src, w, h = url, width, height
    for size_w, size_url, size_h in sizes:
        if size_w >= 320:
            src, w, h = size_url, size_w, size_h
            break
    return {"src": src, "srcset": ", ".join(f"{u} {sw}w" for sw, u, _ in sizes), "alt": alt, "width": w, "height": h}


def _cover_of(out: ImageOut | None) -> dict[str, Any] | None:
    if out is None:
        return None
    return _image(out.url, out.width, out.height, out.alt, [(s.width, s.url, s.height) for s in out.sizes.values()])


def _labels(status: str, visibility: str) -> list[str]:
    labels = [STATUS_LABELS.get(status, status)]
    if visibility == Visibility.PRIVATE:
        labels.append("Private")
    return labels


def card_of(out: NoteCardOut, *, publish_at: Any = None) -> dict[str, Any]:
    """A note card (`views.note_cards`) as the templates show it."""
    return {
        "id": out.id, "href": f"/notes/{out.id}", "title": out.title, "cover": _cover_of(out.cover), "video": out.kind == "video",
        "likes": out.likes, "author": out.author.display_name or out.author.handle, "handle": out.author.handle,
        "status": out.status, "labels": _labels(out.status, out.visibility),
        "publish_at": publish_at.strftime("%Y-%m-%d %H:%M UTC") if publish_at is not None and out.status == NoteStatus.SCHEDULED else None,
    }


async def cards_in_order(session: AsyncSession, note_ids: list[int]) -> list[dict[str, Any]]:
    """Cards for these notes, in this order (3 queries for any number)."""
    from plugins.notes.views import note_cards

    if not note_ids:
        return []
    found = {n.id: n for n in (await session.execute(select(Note).where(Note.id.in_(note_ids)))).scalars()}
    notes = [found[i] for i in note_ids if i in found]
    return [card_of(c) for c in await note_cards(session, notes)]


async def tagged_note_cards(session: AsyncSession, *, product_id: int | None = None, brand_id: int | None = None, limit: int = SAY_NOTES) -> dict[str, Any]:
    """Published public notes that tag a product (most liked first) or any product of a
    brand (newest first), as cards, and how many there are: one query."""
    tagged = select(ProductTag.note_id).where(ProductTag.product_id == product_id if product_id is not None else ProductTag.brand_id == brand_id)
    order = (Note.like_count.desc(), Note.id.desc()) if product_id is not None else (Note.published_at.desc(), Note.id.desc())
    rows = (await session.execute(
        select(Note.id, Note.title, Note.kind, Note.like_count, NoteImage.path, NoteImage.width, NoteImage.height, NoteImage.alt, NoteImage.sizes,
               NotesProfile.handle, User.display_name, func.count().over().label("total"))
        .outerjoin(NoteImage, and_(NoteImage.note_id == Note.id, NoteImage.position == 0))
        .outerjoin(NotesProfile, NotesProfile.user_id == Note.author_user_id)
        .outerjoin(User, User.id == Note.author_user_id)
        .where(svc.readable_by_anyone(), Note.id.in_(tagged))
        .order_by(*order).limit(limit)
    )).all()
    cards = []
    for r in rows:
        cover = None
        if r.path:
            sizes = [(int(s["width"]), media_url(s["path"]), int(s.get("height", 0))) for s in (r.sizes or {}).values() if isinstance(s, dict) and "path" in s and "width" in s]
            cover = _image(media_url(r.path), r.width, r.height, r.alt or r.title, sizes)
        cards.append({"id": r.id, "href": f"/notes/{r.id}", "title": r.title, "cover": cover, "video": r.kind == "video", "likes": r.like_count,
                      "author": r.display_name or r.handle or "", "handle": r.handle})
    return {"cards": cards, "total": rows[0].total if rows else 0}


_said: weakref.WeakKeyDictionary[Any, dict[str, tuple[float, dict[str, Any]]]] = weakref.WeakKeyDictionary()


async def people_say(runtime: Runtime, *, product_id: int | None = None, brand_id: int | None = None) -> dict[str, Any]:
    """`tagged_note_cards`, kept by this process for SAY_SECONDS: product and brand pages
    are hot, and likes may lag that much. A commit of this process that writes notes
    drops the copies, so an author sees their new note at once."""
    kept = _said.get(runtime)
    if kept is None:
        kept = _said[runtime] = {}
        runtime.read_models.watch("notes.people_say", ("notes_note", "notes_product_tag", "notes_image", "notes_profile", "user_account"), kept.clear)
    key = f"p{product_id}" if product_id is not None else f"b{brand_id}"
    found = kept.get(key)
    if found is not None and found[0] > time.monotonic():
        return found[1]
    async with runtime.db.read_session() as session:
        said = await tagged_note_cards(session, product_id=product_id, brand_id=brand_id)
    if len(kept) >= 10_000:
        kept.clear()
    kept[key] = (time.monotonic() + SAY_SECONDS, said)
    return said


# ---------------------------------------------------------------- helpers


def _uid(actor: Actor | None) -> int | None:
    return actor.user_id if actor is not None else None


def _me(actor: Actor | None) -> int:
    """The signed-in user's id (the guard let only them in)."""
    return require_actor(actor).user_id


async def _own_profile(session: AsyncSession, user_id: int) -> NotesProfile:
    """The user's profile; a stand-in with zero counts if they never used notes (a GET never writes)."""
    return await session.get(NotesProfile, user_id) or await profiles.profile_or_404(session, f"u{user_id}")


def _person(p: profiles.Person) -> dict[str, Any]:
    prof = p.profile
    return {"user_id": prof.user_id, "handle": prof.handle, "name": p.display_name or prof.handle, "avatar": profiles.avatar_url(prof), "bio": prof.bio,
            "followers": prof.follower_count, "followed": p.followed_by_me, "follows_me": p.follows_me, "href": f"/notes/people/{prof.handle}"}


def _pages(items: list[Any], page: int) -> tuple[list[Any], dict[str, Any]]:
    """Items fetched with one extra: this page's and whether there are more."""
    return items[:PER_PAGE], {"page": page, "prev": page - 1 if page > 1 else None, "next": page + 1 if len(items) > PER_PAGE else None}


def _notice(path: str, notice: str) -> str:
    """Where to go after a change, with a message the page shows (and translates)."""
    return f"{path}?{urlencode({'notice': notice})}"


def _problem(exc: ValidationFailed | Conflict) -> dict[str, Any]:
    return {"error": exc.detail, "errors": exc.extra.get("fields", {})}


async def _follow_page(request: Request, session: AsyncSession, actor: Actor | None, handle: str, which: str, page: int, template: str) -> Any:
    owner = await profiles.public_profile(session, handle, None)  # its header shows no relation to the viewer
    lister = profiles.followers if which == "followers" else profiles.following
    found = await lister(session, owner.profile.handle, _uid(actor), limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
    listed, pager = _pages(found, page)
    return await render(request, template, {"owner": _person(owner), "which": which, "people": [_person(p) for p in listed], "pager": pager, "tab": which})


# ---------------------------------------------------------------- profiles


class PeoplePages(Controller):
    path = "/people"

    @get("/{handle:str}", name="notes_profile", opt={GUEST_CACHE: True})
    async def profile(self, request: Request, handle: str, session: AsyncSession, actor: Actor | None, tab: str = "notes", cursor: Cursor = None) -> Any:
        person = await profiles.public_profile(session, handle, _uid(actor))
        owner = person.profile
        ctx: dict[str, Any] = {"owner": _person(person), "counts": owner, "tab": "boards" if tab == "boards" else "notes", "own": _uid(actor) == owner.user_id}
        if ctx["tab"] == "boards":
            ctx["boards"] = await engagement.list_boards(session, owner.user_id, _uid(actor))
        else:
            try:
                _, page = await svc.notes_of_user(session, actor, owner.handle, cursor=cursor, limit=PER_PAGE)
            except NotFound:  # someone who never used notes: a stand-in profile, no notes
                page = svc.NotePage([])
            from plugins.notes.views import note_cards

            ctx["cards"] = [card_of(c) for c in await note_cards(session, page.notes)]
            ctx["next_cursor"] = page.next_cursor
        return await render(request, "notes/people_profile.html", ctx)

    @get("/{handle:str}/followers")
    async def followers(self, request: Request, handle: str, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        return await _follow_page(request, session, actor, handle, "followers", page, "notes/people_follows.html")

    @get("/{handle:str}/following")
    async def following(self, request: Request, handle: str, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        return await _follow_page(request, session, actor, handle, "following", page, "notes/people_follows.html")

    @get("/{handle:str}/boards/{board_id:int}")
    async def board(self, request: Request, handle: str, board_id: int, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        """A public board, or the viewer's own private one; another's private board is 404."""
        owner = await profiles.profile_or_404(session, handle)
        board = await engagement.readable_board(session, board_id, _uid(actor))
        if board.owner_user_id != owner.user_id:
            raise NotFound("no such board")
        ids = await engagement.board_note_ids(session, board, _uid(actor), limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
        ids, pager = _pages(ids, page)
        return await render(request, "notes/people_board.html", {"owner_handle": owner.handle, "board": board, "cards": await cards_in_order(session, ids), "pager": pager})

    @post("/{handle:str}/follow")
    async def follow(self, request: Request, handle: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Redirect:
        """Follow (again: no change); a guest logs in first and comes back to the profile."""
        back = safe_next(forms.text(data, "next"), f"/notes/people/{handle}")
        if actor is None:
            return Redirect(login_url(back), status_code=303)
        await profiles.follow(session, runtime, actor.user_id, handle)
        await session.commit()
        return Redirect(back, status_code=303)

    @post("/{handle:str}/unfollow")
    async def unfollow(self, request: Request, handle: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Redirect:
        back = safe_next(forms.text(data, "next"), f"/notes/people/{handle}")
        if actor is None:
            return Redirect(login_url(back), status_code=303)
        await profiles.unfollow(session, runtime, actor.user_id, handle)
        await session.commit()
        return Redirect(back, status_code=303)


# ---------------------------------------------------------------- the shopper's own pages


class MePages(Controller):
    path = "/me"
    guards = [login_required]  # noqa: RUF012 - a guest is sent to log in, and back here after

    @get("/", name="notes_me")
    async def my_notes(self, request: Request, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        """Every note of mine but deleted ones: drafts, scheduled, under review, private."""
        rows = await svc.my_notes(session, actor, limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
        rows, pager = _pages(rows, page)
        from plugins.notes.views import note_cards

        outs = await note_cards(session, rows)
        cards = [card_of(out, publish_at=note.publish_at) for out, note in zip(outs, rows, strict=True)]
        return await self._page(request, session, actor, "notes", "notes/me_notes.html", {"cards": cards, "pager": pager})

    @get("/boards")
    async def boards(self, request: Request, session: AsyncSession, actor: Actor | None) -> Any:
        return await self._boards(request, session, actor)

    @post("/boards")
    async def create_board(self, request: Request, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        name, private = forms.text(data, "name"), forms.text(data, "private") == "on"
        try:
            await engagement.create_board(session, _me(actor), name, private=private)
        except (ValidationFailed, Conflict) as exc:
            await session.rollback()
            return await self._boards(request, session, actor, {**_problem(exc), "new_name": name, "new_private": private}, exc.status_code)
        await session.commit()
        return Redirect(_notice("/notes/me/boards", "Board created"), status_code=303)

    @post("/boards/{board_id:int}")
    async def update_board(self, request: Request, board_id: int, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        """Rename and make private or public (an unticked box is public); another's board is 404."""
        try:
            await engagement.update_board(session, _me(actor), board_id, name=forms.text(data, "name"), private=forms.text(data, "private") == "on")
        except (ValidationFailed, Conflict) as exc:
            await session.rollback()
            return await self._boards(request, session, actor, {**_problem(exc), "failed_board": board_id}, exc.status_code)
        await session.commit()
        return Redirect(_notice("/notes/me/boards", "Board saved"), status_code=303)

    @post("/boards/{board_id:int}/delete")
    async def delete_board(self, request: Request, board_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Delete a board (its notes are uncollected); deleting it twice is a 404 the second time."""
        await engagement.delete_board(session, runtime, _me(actor), board_id)
        await session.commit()
        return Redirect(_notice("/notes/me/boards", "Board deleted"), status_code=303)

    @get("/likes")
    async def likes(self, request: Request, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        ids = await engagement.liked_note_ids(session, _me(actor), limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
        ids, pager = _pages(ids, page)
        return await self._page(request, session, actor, "likes", "notes/me_likes.html", {"cards": await cards_in_order(session, ids), "pager": pager})

    @get("/following")
    async def following(self, request: Request, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        return await self._follows(request, session, actor, "following", page)

    @get("/followers")
    async def followers(self, request: Request, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        return await self._follows(request, session, actor, "followers", page)

    @get("/settings")
    async def settings(self, request: Request, session: AsyncSession, actor: Actor | None) -> Any:
        me = await _own_profile(session, _me(actor))
        return await self._page(request, session, actor, "settings", "notes/me_settings.html", {"handle": me.handle, "bio": me.bio})

    @post("/settings")
    async def save_settings(self, request: Request, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        """Change the @handle and bio, with the service's rules (unique, the handle pattern, bio length)."""
        handle, bio = forms.text(data, "handle"), forms.text(data, "bio").replace("\r\n", "\n")
        try:
            await profiles.update_own_profile(session, _me(actor), handle=handle, bio=bio)
        except (ValidationFailed, Conflict) as exc:
            await session.rollback()
            return await self._page(request, session, actor, "settings", "notes/me_settings.html", {"handle": handle, "bio": bio, **_problem(exc)}, exc.status_code)
        await session.commit()
        return Redirect(_notice("/notes/me/settings", "Profile saved"), status_code=303)

    # -- shared

    async def _page(self, request: Request, session: AsyncSession, actor: Actor | None, tab: str, template: str, ctx: dict[str, Any], status_code: int = 200) -> Any:
        me = await _own_profile(session, _me(actor))
        return await render(request, template, {"me": me, "me_avatar": profiles.avatar_url(me), "tab": tab, "tabs": ME_TABS, **ctx}, status_code=status_code)

    async def _boards(self, request: Request, session: AsyncSession, actor: Actor | None, extra: dict[str, Any] | None = None, status_code: int = 200) -> Any:
        boards = await engagement.list_boards(session, _me(actor), _me(actor))
        return await self._page(request, session, actor, "boards", "notes/me_boards.html", {"boards": boards, **(extra or {})}, status_code)

    async def _follows(self, request: Request, session: AsyncSession, actor: Actor | None, which: str, page: int) -> Any:
        me = await _own_profile(session, _me(actor))
        lister = profiles.followers if which == "followers" else profiles.following
        found = await lister(session, me.handle, _me(actor), limit=PER_PAGE + 1, offset=(page - 1) * PER_PAGE)
        listed, pager = _pages(found, page)
        return await self._page(request, session, actor, which, "notes/me_follows.html", {"which": which, "people": [_person(p) for p in listed], "pager": pager})


class BrandFollowPages(Controller):
    """Follow a brand from its page (the storefront's `/brands/{slug}`, through the `brand_main` slot)."""

    path = "/brands"

    @post("/{slug:str}/follow")
    async def follow(self, request: Request, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Redirect:
        return await self._change(slug, session, runtime, actor, follow=True)

    @post("/{slug:str}/unfollow")
    async def unfollow(self, request: Request, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Redirect:
        return await self._change(slug, session, runtime, actor, follow=False)

    async def _change(self, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None, *, follow: bool) -> Redirect:
        back = f"/brands/{quote(slug)}"
        if actor is None:  # log in first, then back to the brand
            return Redirect(login_url(back), status_code=303)
        change = profiles.follow_brand if follow else profiles.unfollow_brand
        await change(session, runtime, actor.user_id, slug)  # an unknown brand: NotFound, the friendly 404
        await session.commit()
        return Redirect(back, status_code=303)


PEOPLE_PAGES: list[Any] = [PeoplePages, MePages, BrandFollowPages]


# ---------------------------------------------------------------- slots


async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    """What this module's slots need (see the `page_context` hook): one query per product
    or brand page, and none while its cards are kept."""
    if template == "storefront/product.html" and context.get("product") is not None:
        return {"notes_people_say": await people_say(runtime, product_id=context["product"].product.id)}
    if template == "storefront/brand.html" and context.get("brand") is not None:
        async with runtime.db.read_session() as session:
            followed = await profiles.brand_follow_state(session, _uid(context.get("actor")), context["brand"].id)
        return {"notes_brand_say": await people_say(runtime, brand_id=context["brand"].id), "notes_brand_follow": followed}
    return None


def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    if slot == "product_below":
        said = context.get("notes_people_say")
        return context["render_template"]("notes/_people_say.html", said=said, about="product") if said and said["total"] else None
    if slot == "brand_main":
        said = context.get("notes_brand_say")
        parts = []
        if context.get("notes_brand_follow") is not None:
            parts.append(context["render_template"]("notes/_people_brand_follow.html", state=context["notes_brand_follow"]))
        if said and said["total"]:
            parts.append(context["render_template"]("notes/_people_say.html", said=said, about="brand"))
        return Markup("".join(parts)) if parts else None
    if slot == "account_menu" and context.get("actor") is not None:
        return context["render_template"]("notes/_people_account_menu.html", tabs=ME_TABS)
    return None


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # profiles and follows
        "Profile": "主页",
        "Avatar of {name}": "{name} 的头像",
        "Edit profile": "编辑资料",
        "Follow": "关注",
        "Following": "已关注",
        "Follow @{handle}": "关注 @{handle}",
        "Unfollow @{handle}": "取消关注 @{handle}",
        "Follows you": "关注了你",
        "Follows": "关注与粉丝",
        FOLLOWING: "关注",
        "Followers": "粉丝",
        "Follow brand": "关注品牌",
        "Following brand": "已关注品牌",
        "{n} brand followers": "{n} 位关注者",
        "{n} followers": "{n} 粉丝",
        "Likes & collects": "获赞与收藏",
        "Notes": "笔记",
        "{n} note": "{n} 篇笔记",
        "{n} notes": "{n} 篇笔记",
        "More notes": "更多笔记",
        "No notes yet.": "还没有笔记。",
        "No public boards yet.": "还没有公开的专辑。",
        "Nothing saved here yet.": "这里还没有收藏。",
        "No followers yet.": "还没有粉丝。",
        "Not following anyone yet.": "还没有关注任何人。",
        "Untitled": "无标题",
        "Video": "视频",
        "likes": "赞",
        "Pages": "分页",
        "Previous": "上一页",
        "Next": "下一页",
        # my pages
        "My notes and people": "我的笔记与关注",
        "My notes": "我的笔记",
        "Boards": "专辑",
        "My boards": "我的专辑",
        "Likes": "点赞",
        "Notes I liked": "我赞过的笔记",
        "Settings": "设置",
        "Draft": "草稿",
        "Scheduled": "定时发布",
        "Posted": "已发布",
        "Hidden by moderation": "审核中，暂不可见",
        "Private": "仅自己可见",
        "You have not written a note yet.": "你还没有写过笔记。",
        "Notes you like show up here.": "你点赞的笔记会出现在这里。",
        "Collect notes into boards to find them again.": "把笔记收藏到专辑里，方便以后再看。",
        "New board": "新建专辑",
        "Board name": "收藏夹名称",
        "Name of board {name}": "专辑 {name} 的名称",
        "Create": "创建",
        "Save": "保存",
        "Delete": "删除",
        "Delete board {name}": "删除专辑 {name}",
        "Board created": "专辑已创建",
        "Board saved": "专辑已保存",
        "Board deleted": "专辑已删除",
        "Profile settings": "资料设置",
        "Handle": "账号名",
        "3-30 letters a-z, digits, _ and ., starting with a letter or digit.": "3-30 个字符：a-z、数字、_ 和 .，以字母或数字开头。",
        "Bio": "简介",
        "Profile saved": "资料已保存",
        # the services' messages
        "that handle is taken": "这个账号名已被占用",
        "handle: 3-30 of a-z, 0-9, _ and ., starting with a letter or digit": "账号名：3-30 个字符，仅限 a-z、0-9、_ 和 .，以字母或数字开头",
        "bio: at most 500 characters, no control characters": "简介：最多 500 个字符，不含控制字符",
        "you already have a board with that name": "你已有同名专辑",
        "board name: 1-40 characters, no control characters": "专辑名称：1-40 个字符，不含控制字符",
        "you have 200 boards already; delete one first": "你已有 200 个专辑，请先删除一个",
        "you cannot follow yourself": "不能关注自己",
        # on product and brand pages
        "What people say": "大家怎么说",
        "Notes about this brand": "关于这个品牌的笔记",
    },
    "en": {FOLLOWING: "Following"},
}

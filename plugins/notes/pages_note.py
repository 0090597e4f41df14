"""The note page: `/notes/{id}`, where a shopper reads a note and buys what it tags.

Thin on purpose: the notes services the JSON API uses decide who may read or do what
(`public_note`, `add_to_cart`, `engagement`, `profiles`). Handlers read forms, call
them, and answer 303 back to the note (anchored), or re-render the note with the
service's message and a 4xx. Asked for JSON (note.js: `Accept: application/json`), the
engagement routes answer the new state instead, so liking, collecting and following
need no reload; without JavaScript the same forms work as they are.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import quote, urlencode

from litestar import Controller, MediaType, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.exceptions import NoRouteMatchFoundException
from litestar.params import Body, Parameter
from litestar.response import Redirect
from sqlalchemy import select

from core import forms
from core.errors import DomainError, NotAuthenticated, NotFound, ValidationFailed
from core.orders.cookies import current_cart, keep_guest_cart, secure_cookies
from core.web import GUEST_CACHE, login_url, render
from plugins.notes import engagement, profiles
from plugins.notes import notes as svc
from plugins.notes.models import Comment, CommentStatus, NoteStatus
from plugins.notes.views import authors, public_note

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime
    from plugins.notes.schemas import NoteOut, ProductTagOut

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Offset = Annotated[int, Parameter(ge=0, le=100_000)]
CommentRef = Annotated[int | None, Parameter(ge=1, le=2**63 - 1)]

COMMENTS_PER_PAGE = 20
THREAD_REPLIES = 100  # replies shown when a thread is opened (?thread=<comment id>)
LOW_STOCK = 5
CURRENCY = "CNY"  # carts' default currency (core.orders.cart.DEFAULT_CURRENCY)


# ---------------------------------------------------------------- view helpers


def _wants_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "application/json" in accept and "html" not in accept


def note_path(note_id: int, anchor: str = "", notice: str | None = None) -> str:
    query = f"?{urlencode({'notice': notice})}" if notice else ""
    return f"/notes/{note_id}{query}{'#' + anchor if anchor else ''}"


def _image(img: Any) -> dict[str, Any]:
    """<img src srcset> of a note image (the resized WebP copies, then the original)."""
    sizes = sorted((s.width, s.url) for s in img.sizes.values())
    widths = {w for w, _ in sizes}
    srcset = [f"{url} {w}w" for w, url in sizes] + ([f"{img.url} {img.width}w"] if img.width not in widths else [])
    return {"src": sizes[-1][1] if sizes else img.url, "srcset": ", ".join(srcset), "width": img.width, "height": img.height, "alt": img.alt}


def _sheet(note: NoteOut, stock: dict[int, int], chosen: int | None) -> list[dict[str, Any]]:
    """The tagged products, one entry per product, its tagged variants to choose from."""
    products: dict[int, dict[str, Any]] = {}
    for tag in note.products:
        entry = products.setdefault(tag.product_id, {
            "id": tag.product_id, "slug": tag.product_slug, "title": tag.title, "brand": tag.brand, "image": tag.image_url, "variants": [],
        })
        entry["variants"].append(_variant(tag, stock.get(tag.variant_id, 0)))
    for entry in products.values():
        variants = entry["variants"]
        entry["selected"] = (
            next((v for v in variants if v["id"] == chosen and not v["sold_out"]), None)
            or next((v for v in variants if not v["sold_out"]), None) or variants[0]
        )
        entry["sold_out"] = all(v["sold_out"] for v in variants)
    return list(products.values())


def _variant(tag: ProductTagOut, left: int) -> dict[str, Any]:
    price = tag.prices.get(CURRENCY)
    return {
        "id": tag.variant_id, "label": " · ".join(tag.options.values()) or tag.sku, "price": price, "left": left,
        "sold_out": not tag.available or price is None or left <= 0, "low": 0 < left <= LOW_STOCK,
    }


async def _comments(session: AsyncSession, note: NoteOut, viewer: int | None, offset: int, thread: int | None) -> tuple[list[Any], int]:
    """A page of top-level comments with their first replies (one thread opened in full),
    and how many top-level comments there are: a fixed number of queries."""
    from plugins.notes.api_engagement import comments_out

    views = await engagement.list_comments(session, note.id, viewer, limit=COMMENTS_PER_PAGE, offset=offset)
    opened = next((v for v in views if v.comment.id == thread), None)
    if opened is not None and opened.comment.reply_count > len(opened.replies):
        opened.replies = await engagement.list_replies(session, opened.comment.id, viewer, limit=THREAD_REPLIES)
    total = offset + len(views) if len(views) < COMMENTS_PER_PAGE else await engagement.count_top_level(session, note.id)
    return await comments_out(session, views), total


async def note_page(
    request: Request, runtime: Runtime, note_id: int, actor: Actor | None, *, offset: int = 0, thread: int | None = None,
    error: str | None = None, error_at: str | None = None, form: dict[str, str] | None = None, status_code: int = 200,
) -> Any:
    """The page; 404 for a note the viewer may not read (a private, hidden or draft note
    of someone else). `error_at` names the part of the page the message belongs to."""
    note = await public_note(runtime, note_id, actor)
    viewer = actor.user_id if actor else None
    is_author = viewer == note.author.user_id
    engageable = note.status == NoteStatus.PUBLISHED  # public, or the viewer's own private note
    form = form or {}
    chosen = form.get("variant_id", "")
    async with runtime.db.read_session() as session:
        stock = await _stock(session, [p.variant_id for p in note.products])
        liked, collected = await engagement.liked_and_collected(session, viewer, [note.id])
        following = viewer is not None and not is_author and await profiles.is_following(session, viewer, note.author.user_id)
        boards = await engagement.list_boards(session, viewer, viewer) if viewer is not None and engageable else []
        comments, total = await _comments(session, note, viewer, offset, thread) if engageable or is_author else ([], 0)
    return await render(request, "notes/note.html", {
        "note": note, "is_author": is_author, "engageable": engageable,
        "images": [_image(i) for i in note.images], "poster": _image(note.video.poster) if note.video and note.video.poster else None,
        "products": _sheet(note, stock, int(chosen) if chosen.isdigit() and len(chosen) < 18 else None), "currency": CURRENCY,
        "liked": note.id in liked, "collected_in": collected.get(note.id), "following": following, "boards": boards,
        "default_board": engagement.DEFAULT_BOARD, "board_name_max": engagement.MAX_BOARD_NAME, "comment_max": engagement.MAX_COMMENT,
        "comments": comments, "comments_total": total, "thread": thread,
        "newer_url": note_path(note.id, "comments") if offset else None,
        "older_url": f"/notes/{note.id}?{urlencode({'comments': offset + COMMENTS_PER_PAGE})}#comments" if offset + COMMENTS_PER_PAGE < total else None,
        "error": error, "error_at": error_at, "form": form, "login_href": login_url(f"/notes/{note.id}"),
        "topic_href": _topic_href(request),
    }, status_code=status_code)


def _topic_href(request: Request) -> Callable[[str], str]:
    """A #topic opens its channel when the feed plugin serves one, else the notes search."""
    try:
        request.app.route_reverse("feed_topic", key="topic")
    except NoRouteMatchFoundException:
        return lambda topic: f"/search?{urlencode({'tab': 'notes', 'topics': topic})}"
    return lambda topic: request.app.route_reverse("feed_topic", key=quote(topic, safe=""))


async def _stock(session: AsyncSession, variant_ids: list[int]) -> dict[int, int]:
    if not variant_ids:
        return {}
    from core.inventory.service import available_by_variant

    return await available_by_variant(session, variant_ids)


def _login_first(request: Request, note_id: int) -> Response:
    """Guests are asked to log in, then come back to the note."""
    if _wants_json(request):
        raise NotAuthenticated("log in to continue")
    return Redirect(login_url(f"/notes/{note_id}"), status_code=303)


# ---------------------------------------------------------------- the controller


class NotePage(Controller):
    path = "/"

    @get("/{note_id:int}", name="note_page", opt={GUEST_CACHE: True})
    async def show(self, request: Request, note_id: int, runtime: Runtime, actor: Actor | None, comments: Offset = 0, thread: CommentRef = None) -> Any:
        return await note_page(request, runtime, note_id, actor, offset=comments, thread=thread)

    async def _act(
        self, request: Request, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None,
        action: Callable[[Actor], Awaitable[Any]], *, anchor: str, error_at: str, form: dict[str, str] | None = None,
        notice: Callable[[Any], str | None] | None = None, where: Callable[[Any], str] | None = None,
    ) -> Any:
        """Run one engagement for a signed-in viewer: commit, then 303 back to the note
        (or the new state as JSON); a refusal re-renders the note with the message."""
        if actor is None:
            return _login_first(request, note_id)
        try:
            result = await action(actor)
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            if _wants_json(request):
                raise
            status = 422 if isinstance(exc, NotFound) else exc.status_code  # the note exists (else 404 below); the choice was wrong
            return await note_page(request, runtime, note_id, actor, error=exc.detail, error_at=error_at, form=form, status_code=status)
        if _wants_json(request):
            return Response(content=dataclasses.asdict(result) if dataclasses.is_dataclass(result) else {}, media_type=MediaType.JSON, status_code=200)
        return Redirect(note_path(note_id, where(result) if where else anchor, notice(result) if notice else None), status_code=303)

    # -- buying

    @post("/{note_id:int}/cart")
    async def buy(self, request: Request, note_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Add to cart (then the cart) or buy now (then checkout): the notes service adds
        the line and records the touch that credits a purchase to the note's author."""
        from core.campaigns.attribution import (
            VISITOR_COOKIE,
            VISITOR_COOKIE_AGE,
            visitor_id_or_none,
        )

        form = {"variant_id": forms.text(data, "variant_id").strip(), "quantity": forms.text(data, "quantity").strip() or "1"}
        cookie = visitor_id_or_none(request.cookies.get(VISITOR_COOKIE))
        visitor = cookie or str(uuid.uuid4())
        try:
            if not form["variant_id"]:
                raise ValidationFailed("choose an option first")
            variant_id = forms.whole_number(form["variant_id"], "the option")
            quantity = forms.whole_number(form["quantity"])
            cart = await current_cart(session, request, actor)
            added = await svc.add_to_cart(
                session, runtime, actor, note_id, cart_token=cart.token if cart else None, variant_id=variant_id, quantity=quantity, visitor_id=visitor,
            )
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            status = 422 if isinstance(exc, NotFound) else exc.status_code
            return await note_page(request, runtime, note_id, actor, error=exc.detail, error_at="buy", form=form, status_code=status)
        response = Redirect("/checkout" if forms.text(data, "then") == "checkout" else "/cart", status_code=303)
        if actor is None and (cart is None or cart.id != added.id):
            keep_guest_cart(response, request, added)
        if cookie is None:
            response.set_cookie(VISITOR_COOKIE, visitor, max_age=VISITOR_COOKIE_AGE, httponly=True, samesite="lax", secure=secure_cookies(request), path="/")
        return response

    # -- likes, collects, shares, follows

    @post("/{note_id:int}/like")
    async def like(self, request: Request, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._act(request, note_id, session, runtime, actor, lambda a: engagement.like_note(session, runtime, a.user_id, note_id), anchor="actions", error_at="actions")

    @post("/{note_id:int}/unlike")
    async def unlike(self, request: Request, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._act(request, note_id, session, runtime, actor, lambda a: engagement.unlike_note(session, runtime, a.user_id, note_id), anchor="actions", error_at="actions")

    @post("/{note_id:int}/collect")
    async def collect(self, request: Request, note_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Into one of my boards, or a board by name (made if new); neither: the default board."""
        form = {"board_id": forms.text(data, "board_id").strip(), "board_name": forms.text(data, "board_name").strip()}

        async def collect(a: Actor) -> engagement.CollectState:
            if form["board_name"]:
                return await engagement.collect_note(session, runtime, a.user_id, note_id, board_name=form["board_name"])
            if form["board_id"]:
                if not form["board_id"].isdigit() or len(form["board_id"]) > 18:
                    raise NotFound("no such board")
                return await engagement.collect_note(session, runtime, a.user_id, note_id, board_id=int(form["board_id"]))
            return await engagement.collect_note(session, runtime, a.user_id, note_id)

        return await self._act(request, note_id, session, runtime, actor, collect, anchor="actions", error_at="collect", form=form)

    @post("/{note_id:int}/uncollect")
    async def uncollect(self, request: Request, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._act(request, note_id, session, runtime, actor, lambda a: engagement.uncollect_note(session, runtime, a.user_id, note_id), anchor="actions", error_at="collect")

    @post("/{note_id:int}/share")
    async def share(self, request: Request, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Count a share of the link (note.js copies it; without JS the page shows it to copy)."""
        return await self._act(
            request, note_id, session, runtime, actor, lambda a: engagement.share_note(session, runtime, a.user_id, note_id, "link"),
            anchor="share", error_at="share", notice=lambda _state: "Thanks for sharing! Copy the link below.",
        )

    @post("/{note_id:int}/follow")
    async def follow(self, request: Request, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Follow the note's author."""

        async def follow(a: Actor) -> profiles.FollowState:
            return await profiles.follow(session, runtime, a.user_id, await self._author_handle(session, a, note_id))

        return await self._act(request, note_id, session, runtime, actor, follow, anchor="author", error_at="author")

    @post("/{note_id:int}/unfollow")
    async def unfollow(self, request: Request, note_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:

        async def unfollow(a: Actor) -> profiles.FollowState:
            return await profiles.unfollow(session, runtime, a.user_id, await self._author_handle(session, a, note_id))

        return await self._act(request, note_id, session, runtime, actor, unfollow, anchor="author", error_at="author")

    async def _author_handle(self, session: AsyncSession, actor: Actor, note_id: int) -> str:
        note = await svc.readable_note(session, actor, note_id)
        return (await authors(session, {note.author_user_id}))[note.author_user_id].handle

    # -- comments

    @post("/{note_id:int}/comments")
    async def comment(self, request: Request, note_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """A comment, or (with `parent_id`) a reply. Moderation may hold it for review."""
        form = {"body": forms.text(data, "body"), "parent_id": forms.text(data, "parent_id").strip()}

        async def add(a: Actor) -> Any:
            parent = form["parent_id"]
            if parent and (not parent.isdigit() or len(parent) > 18):
                raise NotFound("no such comment")
            return await engagement.add_comment(session, runtime, a.user_id, note_id, form["body"], parent_id=int(parent) if parent else None)

        return await self._act(
            request, note_id, session, runtime, actor, add, anchor="comments", error_at="reply-" + form["parent_id"] if form["parent_id"] else "comments", form=form,
            where=lambda c: f"c{c.id}" if c.status == CommentStatus.VISIBLE else "comments",
            notice=lambda c: None if c.status == CommentStatus.VISIBLE else "Your comment is waiting for review.",
        )

    @post("/{note_id:int}/comments/{comment_id:int}/delete")
    async def delete_comment(self, request: Request, note_id: int, comment_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Delete my comment (or one on my note); deleting it again changes nothing."""

        async def delete(a: Actor) -> None:
            row = (await session.execute(select(Comment.note_id, Comment.status).where(Comment.id == comment_id))).first()
            if row is not None and row.note_id == note_id and row.status == CommentStatus.DELETED:
                return  # a double click: done already
            if row is None or row.note_id != note_id:
                raise NotFound("no such comment")
            await engagement.delete_comment(session, runtime, a, comment_id)

        return await self._act(request, note_id, session, runtime, actor, delete, anchor="comments", error_at="comments", notice=lambda _: "Comment deleted.")

    @post("/{note_id:int}/comments/{comment_id:int}/like")
    async def like_comment(self, request: Request, note_id: int, comment_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._act(request, note_id, session, runtime, actor, lambda a: engagement.like_comment(session, a.user_id, comment_id), anchor=f"c{comment_id}", error_at="comments")

    @post("/{note_id:int}/comments/{comment_id:int}/unlike")
    async def unlike_comment(self, request: Request, note_id: int, comment_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._act(request, note_id, session, runtime, actor, lambda a: engagement.unlike_comment(session, a.user_id, comment_id), anchor=f"c{comment_id}", error_at="comments")


NOTE_PAGES: list[Any] = [NotePage]

TRANSLATIONS: dict[str, dict[str, str]] = {"zh-CN": {
    # the page
    "Note": "笔记",
    "Images": "图片",
    "Image {n} of {total}": "第 {n} 张，共 {total} 张",
    "{title}, image {n}": "{title}，第 {n} 张",
    "Previous image": "上一张",
    "Next image": "下一张",
    "Show image {n}": "查看第 {n} 张",
    "Video": "视频",
    "Your browser cannot play this video.": "你的浏览器无法播放此视频。",
    "Open the video": "打开视频",
    "Sponsored": "广告",  # the label China's advertising rules require (plugins.notes.notes.SPONSORED_LABEL)
    "In partnership with {brands}": "与 {brands} 合作",
    "Only you can see this note.": "这篇笔记仅你自己可见。",
    "Draft": "草稿",
    "Scheduled": "定时发布",
    "Hidden by moderation": "审核中，暂不可见",
    "Private": "仅自己可见",
    "Author": "作者",
    "Follow": "关注",
    "Following": "已关注",
    "Unfollow": "取消关注",
    "Edited": "已编辑",
    # the product sheet
    "Products in this note": "笔记中的商品",
    "Option": "规格",
    "Sold out": "已售罄",
    "Only {n} left": "仅剩 {n} 件",
    "Quantity": "数量",
    "Add to cart": "加入购物车",
    "Buy now": "立即购买",
    "View product": "查看商品",
    "choose an option first": "请先选择规格",
    "that product is not tagged on this note": "这篇笔记没有标记该商品",
    "the option must be a whole number": "规格无效",
    "quantity must be a whole number": "数量必须是整数",
    "quantity must be between 1 and 999": "数量必须在 1 到 999 之间",
    "this cart is in checkout; finish or cancel the payment first": "购物车正在结算中，请先完成或取消付款",
    # actions
    "Note actions": "笔记操作",
    "Like": "点赞",
    "Liked": "已点赞",
    "Unlike": "取消点赞",
    "Likes": "点赞",
    "Collect": "收藏",
    "Collected": "已收藏",
    "Collects": "收藏",
    "Remove from board": "取消收藏",
    "Comments": "评论",
    "Share": "分享",
    "Shares": "分享",
    "Save to a board": "收藏到专辑",
    "Board": "专辑",
    "Or a new board": "或新建专辑",
    "New board name": "新专辑名称",
    "Save": "保存",
    "Saved": "默认收藏",
    "Copy link": "复制链接",
    "Link copied": "链接已复制",
    "Link to this note": "笔记链接",
    "Thanks for sharing! Copy the link below.": "感谢分享！请复制下面的链接。",
    "Log in to like, collect, comment and follow.": "登录后即可点赞、收藏、评论和关注。",
    "Log in": "登录",
    "no such board": "找不到该专辑",
    "board name: 1-40 characters, no control characters": "专辑名称：1-40 个字符，不含控制字符",
    "you have 200 boards already; delete one first": "你已有 200 个专辑，请先删除一个",
    "you cannot follow yourself": "不能关注自己",
    "no such note": "找不到该笔记",
    # comments
    "Comments ({n})": "评论（{n}）",
    "Add a comment": "写评论",
    "Say something nice": "说点什么吧",
    "Post": "发布",
    "Reply": "回复",
    "Your reply": "你的回复",
    "Reply to {name}": "回复 {name}",
    "Delete": "删除",
    "Delete this comment": "删除这条评论",
    "Show all {n} replies": "查看全部 {n} 条回复",
    "Newer comments": "较新的评论",
    "Older comments": "更早的评论",
    "No comments yet. Be the first!": "还没有评论，快来抢沙发！",
    "Log in to comment": "登录后评论",
    "Your comment is waiting for review.": "你的评论正在审核中。",
    "Comment deleted.": "评论已删除。",
    "no such comment": "找不到该评论",
    "comment: 1-1000 characters, no control characters": "评论：1-1000 个字符，不含控制字符",
    "author": "作者",
}}


async def page_context(template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
    """What this module's slots need (see the `page_context` hook): none so far."""
    return None


def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    return None

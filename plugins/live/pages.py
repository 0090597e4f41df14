"""The shopper's live pages under /live: rooms live now and coming up, a room (the video,
pinned products, flash deals, chat), buying from a deal, and a replay with its product
chapters.

Thin like the storefront's own pages: `service` decides; these read forms, call it and
show what it answers. The room page is whole without JavaScript (video, products, deals
and their Buy buttons); the chat, likes, the viewer count and live updates need the
script (plugins/live/static/live.js), which swaps in the server-rendered panel
(`/live/{id}/panel`) when pins or deals change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from sqlalchemy import select

from core import forms
from core.catalog import service as catalog
from core.catalog.models import Product, VariantPrice
from core.db import utcnow
from core.errors import DomainError, NotFound
from core.orders.pages import ShowForm, address_form, address_then_payment
from core.web import login_required, render
from plugins.live import service
from plugins.live.models import FlashDeal, LiveRoom, RoomStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
ROOMS_SHOWN = 24
STATUS_LABELS = {RoomStatus.SCHEDULED: "Coming up", RoomStatus.LIVE: "LIVE", RoomStatus.ENDED: "Replay"}
DEAL_LABELS = {
    service.DealState.READY: "Coming soon",
    service.DealState.COUNTDOWN: "Starts in",
    service.DealState.RUNNING: "Flash deal",
    service.DealState.ENDED: "Ended",
}


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def clock(seconds: int) -> str:
    minutes, rest = divmod(max(0, seconds), 60)
    return f"{minutes}:{rest:02d}"


async def _products(session: AsyncSession, product_ids: list[int], currency: str = "CNY") -> dict[int, dict[str, Any]]:
    """Product id -> card (title, link, image, price of its first variant)."""
    if not product_ids:
        return {}
    first = await catalog.first_variants(session, product_ids)
    cards = await catalog.variant_cards(session, list(first.values()))
    prices = dict((await session.execute(select(VariantPrice.variant_id, VariantPrice.amount_minor).where(VariantPrice.variant_id.in_(first.values()), VariantPrice.currency == currency))).all())
    slugs = dict((await session.execute(select(Product.id, Product.slug).where(Product.id.in_(product_ids)))).all())
    return {
        pid: {**cards.get(vid, {}), "href": f"/products/{slugs.get(pid, '')}", "price": prices.get(vid), "currency": currency}
        for pid, vid in first.items()
    }


async def deal_views(session: AsyncSession, deals: list[FlashDeal]) -> list[dict[str, Any]]:
    now = utcnow()
    cards = await catalog.variant_cards(session, [d.variant_id for d in deals])
    figures = await service.deal_figures(session, deals)
    out = []
    for d in deals:
        state = service.deal_state(d, now)
        until = d.starts_at if state == service.DealState.COUNTDOWN else d.ends_at if state == service.DealState.RUNNING else None
        seconds = int((_aware(until) - now).total_seconds()) if until else 0
        out.append({
            "id": d.id, "state": state, "label": DEAL_LABELS[state], "product": cards.get(d.variant_id, {}), "price": d.deal_price_minor,
            "regular": figures[d.id].regular_price_minor, "currency": d.currency, "left": figures[d.id].left, "quantity": d.quantity,
            "limit": d.per_customer_limit, "seconds": max(0, seconds), "clock": clock(seconds), "until": _aware(until).isoformat() if until else "",
        })  # fmt: skip
    return out


async def panel_context(session: AsyncSession, room: LiveRoom) -> dict[str, Any]:
    """What the room's side panel shows: pinned products and deals (not ended ones first)."""
    deals = await service.deals_of_room(session, room.id)
    views = await deal_views(session, deals)
    views.sort(key=lambda v: (v["state"] == service.DealState.ENDED, v["state"] == service.DealState.READY, -v["id"]))
    pinned = [int(p) for p in room.pinned or []]
    products = await _products(session, pinned)
    return {"room": room, "pinned": [products[p] | {"id": p} for p in pinned if p in products], "deals": views}


async def room_view(session: AsyncSession, room: LiveRoom) -> dict[str, Any]:
    brand = await service.brand_of_room(session, room)
    from core.auth.service import display_names

    names = await display_names(session, {room.host_user_id})
    return {
        "id": room.id, "title": room.title, "status": room.status, "label": STATUS_LABELS[room.status], "cover": room.cover_url, "brand": brand,
        "host": names.get(room.host_user_id, ""), "scheduled_at": _aware(room.scheduled_at), "playback_url": room.playback_url, "likes": room.likes,
        "replay_url": room.replay_url or room.playback_url, "href": f"/live/{room.id}",
    }  # fmt: skip


class LivePages(Controller):
    path = "/"

    @get("/")
    async def index(self, request: Request, session: AsyncSession) -> Any:
        """Rooms live now, then coming up, then recent replays."""
        sections = []
        for status, title in ((RoomStatus.LIVE, "Live now"), (RoomStatus.SCHEDULED, "Coming up"), (RoomStatus.ENDED, "Replays")):
            rooms = await service.rooms(session, status=status, limit=ROOMS_SHOWN)
            sections.append({"status": status, "title": title, "rooms": [await room_view(session, r) for r in rooms]})
        return await render(request, "live/index.html", {"sections": sections})

    @get("/{room_id:int}")
    async def room(self, request: Request, room_id: int, session: AsyncSession, actor: Actor | None) -> Any:
        room = await service.get_room(session, room_id)
        roles = await service.roles_in_room(session, actor, room)
        ctx = {"view": await room_view(session, room), **await panel_context(session, room), "roles": sorted(roles), "can_moderate": bool(roles & set(service.MODERATORS))}
        return await render(request, "live/room.html", ctx)

    @get("/{room_id:int}/panel")
    async def panel(self, request: Request, room_id: int, session: AsyncSession) -> Any:
        """The side panel alone: the script swaps it in when pins or deals change."""
        room = await service.get_room(session, room_id)
        return await render(request, "live/_panel.html", await panel_context(session, room))

    @get("/{room_id:int}/replay")
    async def replay(self, request: Request, room_id: int, session: AsyncSession) -> Any:
        room = await service.get_room(session, room_id)
        chapters = service.chapters(await service.timeline(session, room.id))
        products = await _products(session, list({c.product_id for c in chapters}))
        rows = [
            {"product": products.get(c.product_id, {}), "start": c.start_ms // 1000, "clock": clock(c.start_ms // 1000), "deal": c.deal_id}
            for c in chapters if c.product_id in products
        ]  # fmt: skip
        return await render(request, "live/replay.html", {"view": await room_view(session, room), "chapters": rows})

    # -- buying from a deal

    @get("/deals/{deal_id:int}/buy", guards=[login_required])
    async def buy_form(self, request: Request, deal_id: int, session: AsyncSession, actor: Actor | None) -> Any:
        deal = await self._deal(session, deal_id)
        return await address_form(session, actor, self._buy_page(request, session, deal))  # type: ignore[arg-type]

    @post("/deals/{deal_id:int}/buy")
    async def buy(self, request: Request, deal_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """From the deal's Buy button (no address yet: the form), or the form itself: hold
        the units and go to the payment page."""
        deal = await self._deal(session, deal_id)

        async def start(address: dict[str, str]) -> str:
            quantity = forms.whole_number(forms.text(data, "quantity") or "1", "quantity")
            return (await service.buy(runtime, actor, deal.id, quantity=quantity, address=address)).checkout_token

        return await address_then_payment(request, session, actor, data, here=f"/live/deals/{deal_id}/buy", show_form=self._buy_page(request, session, deal), start=start)

    async def _deal(self, session: AsyncSession, deal_id: int) -> FlashDeal:
        deal = await session.get(FlashDeal, deal_id) if deal_id > 0 else None
        if deal is None:
            raise NotFound("no such deal")
        return deal

    def _buy_page(self, request: Request, session: AsyncSession, deal: FlashDeal) -> ShowForm:
        async def show(address: dict[str, str], failure: DomainError | None, status_code: int) -> Any:
            [view] = await deal_views(session, [deal])
            ctx = {
                "deal": view, "room_id": deal.room_id, "address": address, "action": f"/live/deals/{deal.id}/buy", "error": failure.detail if failure else None,
                "errors": failure.extra.get("fields", {}) if failure else {}, "problems": failure.extra.get("problems", []) if failure else [],
            }  # fmt: skip
            return await render(request, "live/buy.html", ctx, status_code=status_code)

        return show


STOREFRONT_PAGES: list[Any] = [LivePages]


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "Live": "直播",
        "LIVE": "直播中",
        "Live now": "正在直播",
        "{host} is live: {title}": "{host} 开播啦：{title}",  # the followers' notice (service.tell_followers)
        "{brand} is live: {title}": "{brand} 正在直播：{title}",
        "Coming up": "直播预告",
        "Replays": "直播回放",
        "Replay": "回放",
        "No rooms here yet.": "这里还没有直播间。",
        "Hosted by {name}": "主播 {name}",
        "Starts {at}": "{at} 开播",
        "Watch": "观看",
        "Watch the replay": "看回放",
        "Your browser cannot play this stream.": "你的浏览器无法播放这个直播流。",
        "The stream has not started yet.": "直播还没有开始。",
        "This room has ended.": "直播已结束。",
        "Pinned": "正在讲解",
        "Flash deals": "限时秒杀",
        "Flash deal": "限时秒杀",
        "Coming soon": "即将开始",
        "Starts in": "距开始",
        "Ended": "已结束",
        "Ends in": "距结束",
        "{n} left": "仅剩 {n} 件",
        "Sold out": "已售罄",
        "Limit {n} per customer": "每人限购 {n} 件",
        "Buy": "购买",
        "Grab it": "立即抢购",
        "Chat": "聊天",
        "Say something nice": "说点什么吧",
        "Send": "发送",
        "Sign in to chat": "登录后参与聊天",
        "Chat needs JavaScript.": "聊天需要开启 JavaScript。",
        "viewers": "人在看",
        "Like": "点赞",
        "likes": "赞",
        "Delete": "删除",
        "Mute": "禁言",
        "Ban": "拉黑",
        "Slow mode": "慢速模式",
        "Chapters": "商品片段",
        "Jump to {time}": "跳到 {time}",
        "Buy from the deal: {title}": "秒杀购买：{title}",
        "Quantity": "数量",
        "Delivery address": "收货地址",
        "Continue to payment": "去付款",
        "Deal price {price}": "秒杀价 {price}",
        "Regular price {price}": "原价 {price}",
        "Back to the room": "返回直播间",
        # the service's messages, as the buy page shows them
        "this flash deal has ended": "这个秒杀已经结束",
        "this flash deal has not started yet": "这个秒杀还没有开始",
        "this flash deal has sold out": "这个秒杀已经抢光了",
    },
}

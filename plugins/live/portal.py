"""The creator portal's live pages under /creator/live: a brand's rooms (schedule one, hosted
by its staff or a creator), the rooms a creator hosts, and the room console where the host
runs the show (go live, the encoder's server and stream key, pins, flash deals, co-hosts
and moderators, ending it).

The brand's tab comes through the `portal_brand_nav` slot and the creator's through
`portal_creator_nav` (the portal knows nothing of this plugin). `service` keeps the rules;
these handlers read forms, call it, and announce to the room what changed. A room the
caller does not run is 404, like a missing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect
from markupsafe import Markup
from sqlalchemy import select

from core import forms
from core.campaigns.campaigns import brand_for
from core.catalog import service as catalog
from core.errors import DomainError, NotFound, ValidationFailed
from core.orders import cart as carts
from core.web import login_required, render
from plugins.live import service
from plugins.live.models import LiveRoom, RoomMember
from plugins.live.pages import STATUS_LABELS, deal_views

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
DATE_FORMAT = "%Y-%m-%dT%H:%M"  # <input type="datetime-local">, read as UTC
PRODUCTS_SHOWN = 100


def ingest_of(runtime: Runtime, room: LiveRoom) -> Any:
    """What the host's encoder pushes to (the room's stream provider; a provider since
    removed shows nothing rather than failing the console)."""
    from core.plugin_manager import PluginError
    from plugins.live.streams import provider_for

    try:
        return provider_for(runtime, room.stream_provider).ingest(room)
    except PluginError:
        return None


def _notice(path: str, notice: str) -> str:
    return f"{path}?{urlencode({'notice': notice})}"


def _when(raw: str) -> datetime | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        return datetime.strptime(raw[:16], DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise ValidationFailed("the start is a date and time such as 2026-12-01T20:00", extra={"fields": {"scheduled_at": "invalid"}}) from None


def _whole(data: dict[str, Any], field: str, default: str = "") -> int:
    raw = (forms.text(data, field) or default).strip()
    if not raw.isdigit() or len(raw) > 9:
        raise ValidationFailed(f"{field.replace('_', ' ')} must be a whole number", extra={"fields": {field: "invalid"}})
    return int(raw)


async def _room_rows(session: AsyncSession, rooms: list[LiveRoom]) -> list[dict[str, Any]]:
    from core.auth.service import display_names

    names = await display_names(session, {r.host_user_id for r in rooms})
    return [{"room": r, "label": STATUS_LABELS[r.status], "host": names.get(r.host_user_id, "")} for r in rooms]


class BrandRoomPages(Controller):
    path = "/brands/{slug:str}/rooms"
    guards = [login_required]  # noqa: RUF012

    @get("/")
    async def rooms(self, request: Request, slug: str, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await brand_for(session, actor, slug)
        rooms = await service.rooms(session, brand_id=brand.id, limit=100)
        return await render(request, "live/portal_rooms.html", {"brand": brand, "rows": await _room_rows(session, rooms), "section": "live", "form": {}, "error": None})

    @post("/")
    async def create(self, request: Request, slug: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await brand_for(session, actor, slug)
        form = {k: forms.text(data, k) for k in ("title", "host", "scheduled_at", "cover_url")}
        try:
            room = await service.create_room(
                session, runtime, actor, brand.slug, title=form["title"], scheduled_at=_when(form["scheduled_at"]), host_handle=form["host"] or None, cover_url=form["cover_url"],
            )
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            brand = await brand_for(session, actor, slug)
            rooms = await service.rooms(session, brand_id=brand.id, limit=100)
            ctx = {"brand": brand, "rows": await _room_rows(session, rooms), "section": "live", "form": form, "error": exc.detail, "errors": exc.extra.get("fields", {})}
            return await render(request, "live/portal_rooms.html", ctx, status_code=exc.status_code)
        return Redirect(_notice(f"/creator/live/rooms/{room.id}", "Room scheduled"), status_code=303)


class CreatorRoomPages(Controller):
    path = "/me/rooms"
    guards = [login_required]  # noqa: RUF012

    @get("/")
    async def mine(self, request: Request, session: AsyncSession, actor: Actor | None) -> Any:
        """The rooms she hosts or co-hosts."""
        hosted = await service.rooms(session, host_user_id=actor.user_id, limit=100)  # type: ignore[union-attr]
        helped_ids = (await session.execute(select(RoomMember.room_id).where(RoomMember.user_id == actor.user_id))).scalars().all()  # type: ignore[union-attr]
        helped = list((await session.execute(select(LiveRoom).where(LiveRoom.id.in_(helped_ids or [0])).order_by(LiveRoom.id.desc()))).scalars())
        rows = await _room_rows(session, [*hosted, *[r for r in helped if r.host_user_id != actor.user_id]])  # type: ignore[union-attr]
        return await render(request, "live/portal_my_rooms.html", {"rows": rows, "section": "live"})


class RoomConsole(Controller):
    path = "/rooms/{room_id:int}"
    guards = [login_required]  # noqa: RUF012

    @get("/")
    async def console(self, request: Request, room_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None, notice: str | None = None) -> Any:
        return await self._page(request, session, runtime, actor, room_id)

    async def _page(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, room_id: int, *, error: str | None = None, form: dict[str, str] | None = None, status_code: int = 200) -> Any:
        room = await service.room_to_run(session, actor, room_id, roles=service.MODERATORS)
        roles = await service.roles_in_room(session, actor, room)
        brand = await service.brand_of_room(session, room)
        products = await catalog.list_active_products(session, brand_slug=brand.slug, limit=PRODUCTS_SHOWN)  # what a host may pin and sell
        variants = [
            {"id": vv.variant.id, "label": f"{v.product.title}{' · ' + ' · '.join(str(x) for x in (vv.variant.options or {}).values()) if vv.variant.options else ''} ({vv.variant.sku})",
             "price": vv.prices.get(carts.DEFAULT_CURRENCY)}
            for v in products for vv in v.variants
        ]  # fmt: skip
        members = (await session.execute(select(RoomMember).where(RoomMember.room_id == room.id))).scalars().all()
        from core.auth.service import display_names

        names = await display_names(session, {m.user_id for m in members} | {room.host_user_id})
        ctx = {
            "room": room, "label": STATUS_LABELS[room.status], "brand": brand, "roles": sorted(roles), "runs": bool(roles & set(service.RUNNERS)),
            "is_brand": "brand" in roles, "can_add_members": bool(roles & {"host", "brand"}), "products": products, "variants": variants,
            "pinned": [int(p) for p in room.pinned or []], "deals": await deal_views(session, await service.deals_of_room(session, room.id)),
            "members": [{"name": names.get(m.user_id, ""), "role": m.role} for m in members], "host": names.get(room.host_user_id, ""),
            "ingest": ingest_of(runtime, room), "notice": request.query_params.get("notice"), "error": error, "form": form or {}, "section": "live",
            "currency": carts.DEFAULT_CURRENCY,
        }  # fmt: skip
        return await render(request, "live/portal_console.html", ctx, status_code=status_code)

    async def _act(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, room_id: int, work: Any, notice: str, *, form: dict[str, str] | None = None) -> Any:
        """Run `work()` in the request's transaction; commit and back to the console with a
        notice, or roll back and show the console with the refusal."""
        try:
            after = await work()
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            if isinstance(exc, NotFound) and "room" in exc.detail:
                raise
            return await self._page(request, session, runtime, actor, room_id, error=exc.detail, form=form, status_code=exc.status_code)
        if after is not None:
            await after()
        return Redirect(_notice(f"/creator/live/rooms/{room_id}", notice), status_code=303)

    @post("/live")
    async def go_live(self, request: Request, room_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        async def work() -> Any:
            await service.go_live(session, runtime, actor, room_id)
            return lambda: service.after_go_live(runtime, room_id)

        return await self._act(request, session, runtime, actor, room_id, work, "You are live")

    @post("/end")
    async def end(self, request: Request, room_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        async def work() -> Any:
            await service.end_room(session, runtime, actor, room_id)
            return lambda: service.after_end_room(runtime, room_id)

        return await self._act(request, session, runtime, actor, room_id, work, "The room has ended")

    @post("/pins")
    async def pin(self, request: Request, room_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        raw = forms.text(data, "product_id").strip()
        unpin = forms.text(data, "unpin") == "1"

        async def work() -> Any:
            pid = int(raw) if raw.isdigit() and len(raw) < 19 else 0
            room = await (service.unpin(session, actor, room_id, pid) if unpin else service.pin(session, actor, room_id, pid))
            pinned = [int(p) for p in room.pinned]
            return lambda: service.after_pins(runtime, room_id, pinned)

        return await self._act(request, session, runtime, actor, room_id, work, "Unpinned" if unpin else "Pinned")

    @post("/deals")
    async def create_deal(self, request: Request, room_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = {k: forms.text(data, k) for k in ("variant_id", "deal_price", "quantity", "per_customer_limit", "countdown_seconds", "duration_minutes")}

        async def work() -> Any:
            try:
                price = forms.amount_minor(form["deal_price"], carts.DEFAULT_CURRENCY)
            except ValidationFailed as exc:
                raise ValidationFailed(exc.detail, extra={"fields": {"deal_price": "invalid"}}) from None
            deal = await service.create_deal(session, runtime, actor, room_id, service.DealInput(
                variant_id=_whole(data, "variant_id"), deal_price_minor=price, quantity=_whole(data, "quantity"), per_customer_limit=_whole(data, "per_customer_limit", "1"),
                countdown_seconds=_whole(data, "countdown_seconds", "30"), duration_seconds=_whole(data, "duration_minutes", "5") * 60, currency=carts.DEFAULT_CURRENCY,
            ))  # fmt: skip
            await session.flush()
            deal_id = deal.id
            return lambda: service.announce_deal(runtime, deal_id)

        return await self._act(request, session, runtime, actor, room_id, work, "Flash deal ready: launch it when you are", form=form)

    @post("/deals/{deal_id:int}/launch")
    async def launch(self, request: Request, room_id: int, deal_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        async def work() -> Any:
            deal, _room = await service.deal_to_run(session, actor, deal_id)
            if deal.room_id != room_id:
                raise NotFound("no such deal")
            deal = await service.launch_deal(session, runtime, actor, deal_id)
            return lambda: service.after_launch(runtime, deal)

        return await self._act(request, session, runtime, actor, room_id, work, "Countdown started")

    @post("/deals/{deal_id:int}/stop")
    async def stop(self, request: Request, room_id: int, deal_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        async def work() -> Any:
            deal, _room = await service.deal_to_run(session, actor, deal_id)
            if deal.room_id != room_id:
                raise NotFound("no such deal")
            await service.stop_deal(session, actor, deal_id)
            return lambda: service.end_deal(runtime, deal_id)

        return await self._act(request, session, runtime, actor, room_id, work, "Deal ended: unsold units are back in stock")

    @post("/members")
    async def add_member(self, request: Request, room_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = {"handle": forms.text(data, "handle"), "role": forms.text(data, "role")}

        async def work() -> Any:
            await service.add_member(session, actor, room_id, form["handle"], form["role"])

        return await self._act(request, session, runtime, actor, room_id, work, "Added to the room", form=form)


PORTAL_PAGES: list[Any] = [BrandRoomPages, CreatorRoomPages, RoomConsole]


def render_slot(slot: str, context: dict[str, Any]) -> str | None:
    current = Markup(' aria-current="page"') if context.get("section") == "live" else Markup("")
    if slot == "portal_brand_nav" and context.get("brand") is not None:
        return Markup('<a href="/creator/live/brands/{}/rooms"{} data-testid="brand-live-tab">{}</a>').format(context["brand"].slug, current, context["_"]("Live"))
    if slot == "portal_creator_nav":
        return Markup('<a href="/creator/live/me/rooms"{} data-testid="creator-live-tab">{}</a>').format(current, context["_"]("Live"))
    return None


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "Live rooms": "直播间",
        "Schedule a room": "预约直播",
        "Title": "标题",
        "Host (a creator's handle; empty: you)": "主播（创作者账号；留空：你自己）",
        "Goes live at (UTC)": "开播时间（UTC）",
        "Cover image URL": "封面图片链接",
        "No rooms yet.": "还没有直播间。",
        "Open the console": "打开直播控制台",
        "Room console": "直播控制台",
        "Go live": "开始直播",
        "End the room": "结束直播",
        "Viewer page": "观众页面",
        "Encoder": "推流设置",
        "Server": "服务器",
        "Stream key": "推流密钥",
        "Keep the stream key secret: whoever has it can stream into this room.": "请保密推流密钥：拿到它的人都能向这个直播间推流。",
        "Pin": "置顶讲解",
        "Unpin": "取消置顶",
        "Products": "商品",
        "New flash deal": "新建限时秒杀",
        "Variant": "规格",
        "Deal price": "秒杀价",
        "Units": "数量",
        "Per customer": "每人限购",
        "Countdown (seconds, 10-300)": "倒计时（秒，10-300）",
        "Duration (minutes, 1-20)": "持续时间（分钟，1-20）",
        "Create the deal": "创建秒杀",
        "Launch": "开始倒计时",
        "Stop": "结束",
        "Co-hosts and moderators": "联合主播与房管",
        "A creator handle or an e-mail": "创作者账号或邮箱",
        "Co-host": "联合主播",
        "Moderator": "房管",
        "Add": "添加",
        "Rooms I host": "我的直播间",
        "Room scheduled": "直播已预约",
        "You are live": "你已开播",
        "The room has ended": "直播已结束",
        "Pinned": "正在讲解",
        "Unpinned": "已取消置顶",
        "Flash deal ready: launch it when you are": "秒杀已就绪：准备好就开始",
        "Countdown started": "倒计时已开始",
        "Deal ended: unsold units are back in stock": "秒杀已结束：未售出的库存已退回",
        "Added to the room": "已加入直播间",
        "sold {n}": "已售 {n}",
    },
}

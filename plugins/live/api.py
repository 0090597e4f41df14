"""The live JSON API, mounted under /api/v1/live.

Anyone reads rooms (a schedule is an announcement), their pinned products and deals, and
a replay's product chapters. The brand's staff make rooms and deals; the host, co-hosts
and the brand's staff run a room (live, pins, launching deals, ending). A signed-in
viewer buys from a running deal, then pays the checkout with the core checkout API
(`POST /api/v1/checkouts/{token}/pay`). A room or deal the caller may not run answers
404, exactly like a missing one; the stream key is shown only to those who run it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, Response, delete, get, post
from litestar.params import Parameter
from sqlalchemy import select

from core.auth.permissions import Actor
from core.auth.service import display_names
from core.catalog.models import Brand
from core.db import utcnow
from core.errors import ValidationFailed
from core.orders.models import Checkout
from core.web import login_required, strict_body
from plugins.live import service
from plugins.live.models import FlashDeal, LiveRoom, RoomStatus
from plugins.live.schemas import BuyIn, ChapterOut, DealIn, DealOut, MemberIn, MemberOut, PinIn, PurchaseOut, ReplayOut, RoomIn, RoomOut

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
StatusFilter = Annotated[str | None, Parameter(max_length=10)]
CHECKOUTS = "/api/v1/checkouts"


async def deals_out(session: AsyncSession, deals: list[FlashDeal]) -> list[DealOut]:
    figures = await service.deal_figures(session, deals)
    now = utcnow()
    return [
        DealOut(
            id=d.id, room_id=d.room_id, product_id=d.product_id, variant_id=d.variant_id, currency=d.currency, deal_price_minor=d.deal_price_minor,
            regular_price_minor=figures[d.id].regular_price_minor, quantity=d.quantity, left=figures[d.id].left,
            per_customer_limit=d.per_customer_limit, countdown_seconds=d.countdown_seconds, duration_seconds=d.duration_seconds,
            state=service.deal_state(d, now), starts_at=d.starts_at, ends_at=d.ends_at,
        )
        for d in deals
    ]


async def rooms_out(session: AsyncSession, actor: Actor | None, rooms: list[LiveRoom]) -> list[RoomOut]:
    """Rooms with their brand, host's name and deals (a few queries however many rooms)."""
    if not rooms:
        return []
    brands = {b.id: b for b in (await session.execute(select(Brand).where(Brand.id.in_({r.brand_id for r in rooms})))).scalars()}
    names = await display_names(session, {r.host_user_id for r in rooms})
    deals: dict[int, list[FlashDeal]] = {}
    for d in (await session.execute(select(FlashDeal).where(FlashDeal.room_id.in_([r.id for r in rooms])).order_by(FlashDeal.id))).scalars():
        deals.setdefault(d.room_id, []).append(d)
    out = []
    for r in rooms:
        roles = sorted(await service.roles_in_room(session, actor, r))
        runs = bool(set(roles) & set(service.RUNNERS))
        out.append(RoomOut(
            id=r.id, brand_slug=brands[r.brand_id].slug, brand_name=brands[r.brand_id].name, host_user_id=r.host_user_id, host_name=names.get(r.host_user_id, ""),
            title=r.title, cover_url=r.cover_url, status=r.status, scheduled_at=r.scheduled_at, started_at=r.started_at, ended_at=r.ended_at,
            playback_url=r.playback_url, pinned=[int(p) for p in r.pinned or []], deals=await deals_out(session, deals.get(r.id, [])),
            ingest_key=r.ingest_key if runs else None, my_role=roles,
        ))  # fmt: skip
    return out


async def room_out(session: AsyncSession, actor: Actor | None, room_id: int) -> RoomOut:
    return (await rooms_out(session, actor, [await service.get_room(session, room_id)]))[0]


class RoomController(Controller):
    path = "/"
    tags = ["live: rooms"]

    @post("/brands/{slug:str}/rooms", guards=[login_required], status_code=201)
    async def create_room(self, slug: str, data: RoomIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> RoomOut:
        """Brand staff schedule a room of their brand, hosted by themselves or by a creator
        (`host`: her handle). The answer carries the encoder's stream key (`ingest_key`)."""
        data = await strict_body(request, data)
        if data.scheduled_at is not None and data.scheduled_at.tzinfo is None:
            raise ValidationFailed("scheduled_at needs a time zone (e.g. 2026-12-01T20:00:00+08:00)", extra={"fields": {"scheduled_at": "invalid"}})
        room = await service.create_room(session, runtime, actor, slug, title=data.title, scheduled_at=data.scheduled_at, host_handle=data.host, cover_url=data.cover_url)
        await session.commit()
        return await room_out(session, actor, room.id)

    @get("/rooms")
    async def list_rooms(self, session: AsyncSession, actor: Actor | None, status: StatusFilter = None, limit: Limit = 20, offset: Offset = 0) -> list[RoomOut]:
        """Rooms, live ones first by when they started; `status` = scheduled, live or ended."""
        if status is not None and status not in (RoomStatus.SCHEDULED, RoomStatus.LIVE, RoomStatus.ENDED):
            raise ValidationFailed("status is scheduled, live or ended", extra={"fields": {"status": "invalid"}})
        return await rooms_out(session, actor, await service.rooms(session, status=status, limit=limit, offset=offset))

    @get("/rooms/{room_id:int}")
    async def get_room(self, room_id: int, session: AsyncSession, actor: Actor | None) -> RoomOut:
        """A room, its pinned products and its deals (with units left)."""
        return await room_out(session, actor, room_id)

    @post("/rooms/{room_id:int}/live", guards=[login_required], status_code=200)
    async def go_live(self, room_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> RoomOut:
        """The room is on air (again: nothing changes); its host's followers are told."""
        await service.go_live(session, runtime, actor, room_id)
        await session.commit()
        await service.after_go_live(runtime, room_id)
        return await room_out(session, actor, room_id)

    @post("/rooms/{room_id:int}/end", guards=[login_required], status_code=200)
    async def end_room(self, room_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> RoomOut:
        """The room ends, and its deals with it (their unsold units go back to stock). Idempotent."""
        await service.end_room(session, runtime, actor, room_id)
        await session.commit()
        await service.after_end_room(runtime, room_id)
        return await room_out(session, actor, room_id)

    @post("/rooms/{room_id:int}/pins", guards=[login_required], status_code=200)
    async def pin(self, room_id: int, data: PinIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> RoomOut:
        """Pin one of the room's brand's products on top (three at once: the oldest drops)."""
        data = await strict_body(request, data)
        room = await service.pin(session, actor, room_id, data.product_id)
        pinned = [int(p) for p in room.pinned]
        await session.commit()
        await service.after_pins(runtime, room_id, pinned)
        return await room_out(session, actor, room_id)

    @delete("/rooms/{room_id:int}/pins/{product_id:int}", guards=[login_required], status_code=200)
    async def unpin(self, room_id: int, product_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> RoomOut:
        room = await service.unpin(session, actor, room_id, product_id)
        pinned = [int(p) for p in room.pinned]
        await session.commit()
        await service.after_pins(runtime, room_id, pinned)
        return await room_out(session, actor, room_id)

    @post("/rooms/{room_id:int}/members", guards=[login_required], status_code=200)
    async def add_member(self, room_id: int, data: MemberIn, request: Request, session: AsyncSession, actor: Actor | None) -> MemberOut:
        """The host or the brand's staff add a co-host or a moderator (again: the role changes)."""
        data = await strict_body(request, data)
        member = await service.add_member(session, actor, room_id, data.handle, data.role)
        await session.commit()
        return MemberOut(room_id=member.room_id, user_id=member.user_id, role=member.role)

    @get("/rooms/{room_id:int}/replay")
    async def replay(self, room_id: int, session: AsyncSession) -> ReplayOut:
        """The replay's product chapters: jump to when a product was shown, and buy it."""
        room = await service.get_room(session, room_id)
        chapters = service.chapters(await service.timeline(session, room.id))
        return ReplayOut(room_id=room.id, replay_url=room.replay_url or room.playback_url, chapters=[ChapterOut(product_id=c.product_id, start_ms=c.start_ms, end_ms=c.end_ms, deal_id=c.deal_id) for c in chapters])


class DealController(Controller):
    path = "/"
    tags = ["live: flash deals"]

    @post("/rooms/{room_id:int}/deals", guards=[login_required], status_code=201)
    async def create_deal(self, room_id: int, data: DealIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> DealOut:
        """Brand staff: a flash deal on one of the room's brand's variants. Its units are set
        aside from general stock now (422 if the brand has fewer); the price must undercut
        the regular one; countdown 10-300 s; duration 60-1200 s; 1-10 per customer."""
        data = await strict_body(request, data)
        fields: dict[str, Any] = {f: getattr(data, f) for f in data.__struct_fields__}
        deal = await service.create_deal(session, runtime, actor, room_id, service.DealInput(**fields))
        await session.commit()
        await service.announce_deal(runtime, deal.id)
        return (await deals_out(session, [deal]))[0]

    @post("/deals/{deal_id:int}/launch", guards=[login_required], status_code=200)
    async def launch(self, deal_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> DealOut:
        """Start the countdown (the room must be live); it runs for its duration after."""
        deal = await service.launch_deal(session, runtime, actor, deal_id)
        await session.commit()
        await service.after_launch(runtime, deal)
        return (await deals_out(session, [deal]))[0]

    @post("/deals/{deal_id:int}/stop", guards=[login_required], status_code=200)
    async def stop(self, deal_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> DealOut:
        """End a deal now (or cancel one not launched): its unsold units go back to stock."""
        deal = await service.stop_deal(session, actor, deal_id)
        await session.commit()
        await service.end_deal(runtime, deal.id)
        await session.refresh(deal)
        return (await deals_out(session, [deal]))[0]

    @post("/deals/{deal_id:int}/buy", guards=[login_required], status_code=201)
    async def buy(self, deal_id: int, data: BuyIn, request: Request, runtime: Runtime, actor: Actor | None) -> Response[PurchaseOut]:
        """Buy from a running deal: a checkout at the deal price, held from the deal's units.
        409 when it sold out, has not started, has ended, or past your limit: no payment
        exists then. Pay with `pay_url` within the checkout's time. Idempotent: asked again
        while that purchase is unpaid (a double click, a retry), 200 with the same one."""
        data = await strict_body(request, data)
        bought = await service.buy(runtime, actor, deal_id, quantity=data.quantity, address=msgspec.structs.asdict(data.address))
        async with runtime.db.read_session() as session:
            checkout = (await session.execute(select(Checkout).where(Checkout.token == bought.checkout_token))).scalar_one()
        token = bought.checkout_token
        return Response(
            PurchaseOut(
                claim_id=bought.claim_id, checkout_token=token, currency=checkout.currency, total_minor=checkout.total_minor,
                checkout_expires_at=checkout.expires_at, pay_url=f"{CHECKOUTS}/{token}/pay", payment_page=f"/checkout/{token}",
            ),
            status_code=201 if bought.created else 200,
        )


API_CONTROLLERS = [RoomController, DealController]

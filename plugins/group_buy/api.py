"""The group_buy JSON API, mounted under /api/v1/group-buy.

Brand staff manage their brands' offers; anyone reads a live offer, its open teams and a
team (members by name and initials only: the share link is public); a signed-in shopper
opens a team or joins one, then pays the seat's checkout with the core checkout API
(`POST /api/v1/checkouts/{token}/pay`). An offer of another brand answers 404, exactly
like a missing one.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, get, patch, post
from litestar.params import Parameter
from sqlalchemy import select

from core.auth.permissions import Actor, can_act_for_brand, require_actor
from core.auth.service import display_names
from core.catalog.models import Brand, Product, ProductStatus, Variant, VariantPrice
from core.db import utcnow, valid_id
from core.errors import NotFound, ValidationFailed
from core.orders.models import Checkout
from core.web import login_required, strict_body
from plugins.group_buy import service
from plugins.group_buy.models import HOLDING, MemberStatus, GroupOffer, Team, TeamMember, TeamStatus
from plugins.group_buy.schemas import (
    BrandRefOut,
    MemberOut,
    MyMembershipOut,
    MyTeamOut,
    OfferIn,
    OfferLimitsOut,
    OfferOut,
    OfferPatch,
    SeatIn,
    SeatOut,
    TeamOut,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
CHECKOUTS = "/api/v1/checkouts"
TEAMS = "/api/v1/group-buy/teams"
TEAM_PAGE = "/group-buy/teams"  # the storefront's team page: where checkouts return, and the share link


# ---------------------------------------------------------------- ORM -> answers


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed(f"{field} needs a time zone (e.g. 2026-12-01T09:00:00+08:00)", extra={"fields": {field: "invalid"}})
    return value


async def _offers_out(session: AsyncSession, offers: list[GroupOffer], actor: Actor | None, warnings: list[str] | None = None) -> list[OfferOut]:
    """Offers with their product and solo price (three queries however many)."""
    if not offers:
        return []
    variant_ids = sorted({o.variant_id for o in offers})
    products = {
        row.variant_id: row
        for row in await session.execute(
            select(Variant.id.label("variant_id"), Variant.sku, Product.id.label("product_id"), Product.slug, Product.title)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_(variant_ids))
        )
    }
    prices = {(v, c): a for v, c, a in await session.execute(select(VariantPrice.variant_id, VariantPrice.currency, VariantPrice.amount_minor).where(VariantPrice.variant_id.in_(variant_ids)))}
    brands = {b.id: b for b in (await session.execute(select(Brand).where(Brand.id.in_({o.brand_id for o in offers})))).scalars()}
    now = utcnow()
    out = []
    for o in offers:
        p, b = products[o.variant_id], brands[o.brand_id]
        staff = actor is not None and can_act_for_brand(actor, o.brand_id)
        out.append(OfferOut(
            id=o.id, brand=BrandRefOut(slug=b.slug, name=b.name), product_id=p.product_id, product_slug=p.slug, product_title=p.title, variant_id=o.variant_id, sku=p.sku,
            currency=o.currency, solo_price_minor=prices.get((o.variant_id, o.currency)), team_price_minor=o.team_price_minor, team_size=o.team_size,
            time_limit_minutes=o.time_limit_minutes, per_user_limit=o.per_user_limit, auto_complete=o.auto_complete, starts_at=o.starts_at, ends_at=o.ends_at,
            live=service.is_live(o, now),
            limits=OfferLimitsOut(
                total_limit=o.total_limit, units_promised=o.units_promised, pool_id=o.pool_id, active=o.active, created_at=o.created_at, updated_at=o.updated_at,
            ) if staff else None,
            warnings=list(warnings or []),
        ))  # fmt: skip
    return out


def public_name(name: str | None) -> str:
    """A member's name for strangers: never an address, even if she typed one as her name."""
    name = (name or "").strip()
    if "@" in name:
        name = name.split("@", 1)[0]
    return name or "?"


def initials(name: str) -> str:
    words = [w for w in name.replace("-", " ").replace("_", " ").split() if w]
    if not words:
        return "?"
    if len(words) == 1 or not words[0].isascii():
        return words[0][0].upper()
    return (words[0][0] + words[1][0]).upper()


def _joinable(team: Team, now: datetime) -> bool:
    return team.status == TeamStatus.OPEN and team.expires_at > now and team.authorized_count >= 1 and team.seats_taken < team.size


async def _teams_out(session: AsyncSession, teams: list[Team]) -> list[TeamOut]:
    """Teams with their members (four queries however many)."""
    if not teams:
        return []
    offers = {o.id: o for o in (await session.execute(select(GroupOffer).where(GroupOffer.id.in_({t.offer_id for t in teams})))).scalars()}
    titles = dict(
        (await session.execute(select(Variant.id, Product.title).join(Product, Product.id == Variant.product_id).where(Variant.id.in_({o.variant_id for o in offers.values()})))).all()
    )
    members: dict[int, list[TeamMember]] = {}
    for m in (await session.execute(select(TeamMember).where(TeamMember.team_id.in_([t.id for t in teams]), TeamMember.status.in_(HOLDING)).order_by(TeamMember.id))).scalars():
        members.setdefault(m.team_id, []).append(m)
    names = await display_names(session, {m.user_id for ms in members.values() for m in ms})
    now = utcnow()
    out = []
    for t in teams:
        offer = offers[t.offer_id]
        people = []
        for m in members.get(t.id, []):
            name = public_name(names.get(m.user_id))
            people.append(MemberOut(
                display_name=name, initials=initials(name), is_leader=m.is_leader, confirmed=m.status in (MemberStatus.AUTHORIZED, MemberStatus.PAID), joined_at=m.created_at,
            ))  # fmt: skip
        out.append(TeamOut(
            id=t.id, offer_id=t.offer_id, product_title=titles.get(offer.variant_id, ""), currency=offer.currency, team_price_minor=offer.team_price_minor,
            status=t.status, size=t.size, seats_taken=t.seats_taken, seats_left=max(0, t.size - t.seats_taken), confirmed=t.authorized_count,
            expires_at=t.expires_at, closed_at=t.closed_at, closed_reason=t.closed_reason, joinable=_joinable(t, now), share_path=f"{TEAM_PAGE}/{t.id}", members=people,
        ))  # fmt: skip
    return out


async def _seat_out(runtime: Runtime, seat: service.Seat) -> SeatOut:
    async with runtime.db.read_session() as session:
        checkout = (await session.execute(select(Checkout).where(Checkout.token == seat.checkout_token))).scalar_one()
    token = seat.checkout_token
    return SeatOut(
        team_id=seat.team_id, member_id=seat.member_id, checkout_token=token, currency=checkout.currency, total_minor=checkout.total_minor,
        checkout_expires_at=checkout.expires_at, checkout_url=f"{CHECKOUTS}/{token}", pay_url=f"{CHECKOUTS}/{token}/pay",
        payment_intent_url=f"{CHECKOUTS}/{token}/payment-intent", confirm_url=f"{CHECKOUTS}/{token}/confirm", cancel_url=f"{CHECKOUTS}/{token}/cancel",
        payment_page=f"/checkout/{token}", team_url=f"{TEAMS}/{seat.team_id}", share_path=f"{TEAM_PAGE}/{seat.team_id}",
    )


async def _readable_offer(session: AsyncSession, actor: Actor | None, offer_id: int) -> GroupOffer:
    """A live offer of a product on sale, for anyone; any offer of the caller's brands."""
    offer = await session.get(GroupOffer, offer_id) if valid_id(offer_id) else None
    if offer is not None and actor is not None and can_act_for_brand(actor, offer.brand_id):
        return offer
    if offer is None or not service.is_live(offer, utcnow()):
        raise NotFound("no such offer")
    on_sale = (
        await session.execute(
            select(Product.id).join(Variant, Variant.product_id == Product.id).where(Variant.id == offer.variant_id, Variant.is_active.is_(True), Product.status == ProductStatus.ACTIVE)
        )
    ).first()
    if on_sale is None:
        raise NotFound("no such offer")
    return offer


def _address(data: SeatIn) -> dict[str, Any]:
    return msgspec.structs.asdict(data.address)


# ---------------------------------------------------------------- offers (brand staff; public read)


class OfferController(Controller):
    path = "/"
    tags = ["group buying: offers"]

    @post("/brands/{slug:str}/offers", guards=[login_required], status_code=201)
    async def create_offer(self, slug: str, data: OfferIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> OfferOut:
        """Brand staff: a team price on one of the brand's variants. A team has 2 to 50
        people; the team price must be lower than the solo price (422 if higher; the same
        price is accepted with a `warnings` entry). Another brand's slug: 404."""
        data = await strict_body(request, data)
        fields = {f: getattr(data, f) for f in data.__struct_fields__}
        _aware(data.starts_at, "starts_at")
        _aware(data.ends_at, "ends_at")
        offer, warnings = await service.create_offer(session, runtime, actor, slug, service.OfferInput(**fields))
        await session.commit()
        return (await _offers_out(session, [offer], actor, warnings))[0]

    @get("/brands/{slug:str}/offers", guards=[login_required])
    async def brand_offers(self, slug: str, session: AsyncSession, actor: Actor | None, limit: Limit = 50, offset: Offset = 0) -> list[OfferOut]:
        """Brand staff: the brand's offers, newest first, with their limits."""
        return await _offers_out(session, await service.offers_of_brand(session, actor, slug, limit=limit, offset=offset), actor)

    @get("/offers/{offer_id:int}")
    async def get_offer(self, offer_id: int, session: AsyncSession, actor: Actor | None) -> OfferOut:
        """A live offer, for anyone; the brand's staff read any of theirs, with `limits`."""
        return (await _offers_out(session, [await _readable_offer(session, actor, offer_id)], actor))[0]

    @patch("/offers/{offer_id:int}", guards=[login_required])
    async def update_offer(self, offer_id: int, data: OfferPatch, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> OfferOut:
        """Brand staff change an offer (only the fields sent); `{"active": false}` takes it
        down. Open teams keep the size and price they opened with. The total limit cannot
        go below the units already promised to teams (409)."""
        data = await strict_body(request, data)
        changes = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET}
        if "ends_at" in changes:
            _aware(changes["ends_at"], "ends_at")
        offer, warnings = await service.update_offer(session, runtime, actor, offer_id, changes)
        await session.commit()
        return (await _offers_out(session, [offer], actor, warnings))[0]


# ---------------------------------------------------------------- teams (shoppers)


class TeamController(Controller):
    path = "/"
    tags = ["group buying: teams"]

    @get("/offers/{offer_id:int}/teams")
    async def open_teams(self, offer_id: int, session: AsyncSession, actor: Actor | None, limit: Limit = 20) -> list[TeamOut]:
        """Teams of a live offer that can be joined now, closest to filling first."""
        offer = await _readable_offer(session, actor, offer_id)
        return await _teams_out(session, await service.open_teams(session, offer_ids=[offer.id], limit=limit))

    @post("/offers/{offer_id:int}/teams", guards=[login_required], status_code=201)
    async def open_team(self, offer_id: int, data: SeatIn, request: Request, runtime: Runtime, actor: Actor | None) -> SeatOut:
        """Open a team: a seat for you and its checkout at the team price. Pay it with
        `pay_url` (the card is authorized, not charged); others can join once it is.
        409 past your per-user limit or when the offer sold out."""
        data = await strict_body(request, data)
        seat = await service.open_team(runtime, actor, offer_id, address=_address(data))
        return await _seat_out(runtime, seat)

    @post("/teams/{team_id:int}/join", guards=[login_required], status_code=201)
    async def join_team(self, team_id: int, data: SeatIn, request: Request, runtime: Runtime, actor: Actor | None) -> SeatOut:
        """Join a team through its share link: a seat and its checkout, as when opening.
        409 (with the reason) for a full, closed or expired team, your own team, a team
        you are in, or past your per-user limit: no payment is made then."""
        data = await strict_body(request, data)
        seat = await service.join_team(runtime, actor, team_id, address=_address(data))
        return await _seat_out(runtime, seat)

    @get("/teams/{team_id:int}")
    async def get_team(self, team_id: int, session: AsyncSession) -> TeamOut:
        """A team as its share link shows it to anyone."""
        team, _offer, _members = await service.team_view(session, team_id)
        return (await _teams_out(session, [team]))[0]

    @get("/me/teams", guards=[login_required])
    async def my_teams(self, session: AsyncSession, actor: Actor | None, limit: Limit = 50, offset: Offset = 0) -> list[MyTeamOut]:
        """Your teams, newest seat first, with where your own seat stands."""
        actor = require_actor(actor)
        rows = await service.teams_of_user(session, actor.user_id, limit=limit, offset=offset)
        checkout_ids = [m.checkout_id for _t, m in rows if m.checkout_id is not None and m.status == MemberStatus.SEATED]
        tokens = dict((await session.execute(select(Checkout.id, Checkout.token).where(Checkout.id.in_(checkout_ids)))).all()) if checkout_ids else {}
        teams = {t.id: t for t in await _teams_out(session, list({t.id: t for t, _m in rows}.values()))}
        return [
            MyTeamOut(
                team=teams[t.id],
                me=MyMembershipOut(member_id=m.id, status=m.status, is_leader=m.is_leader, checkout_token=tokens.get(m.checkout_id) if m.checkout_id else None, joined_at=m.created_at),
            )
            for t, m in rows
        ]


API_CONTROLLERS = [OfferController, TeamController]

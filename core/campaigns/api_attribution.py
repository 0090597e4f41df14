"""JSON API for tracked links, discount codes, attribution and commissions (under
/api/v1), and the storefront's `/r/{code}` redirect.

A creator sees their own links, codes, commissions and statement; brand staff see their
brand's codes, commissions and how their orders were attributed. Anyone else's id
answers 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post, put
from litestar.params import Parameter
from litestar.response import Redirect
from sqlalchemy import select

from core.auth.permissions import Actor, can_act_for_brand, require_actor
from core.campaigns import attribution, commissions
from core.campaigns.models import Commission
from core.errors import NotFound
from core.ledger import service as ledger
from core.ledger.models import AccountKind
from core.money import validate_currency
from core.orders import cart as carts
from core.orders.schemas import CartOut
from core.orders.views import cart_out
from core.web import login_required, strict_body

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**62)]


# ---------------------------------------------------------------- shapes


class LinkIn(msgspec.Struct, forbid_unknown_fields=True):
    collaboration_id: Id
    target: Literal["campaign", "product", "note"] = "campaign"
    product_id: Id | None = None
    note_ref: Annotated[str, msgspec.Meta(max_length=64)] | None = None


class LinkOut(msgspec.Struct):
    code: str
    url: str  # share this: {public_url}/r/{code}
    target_url: str  # where it leads on the storefront
    collaboration_id: int
    campaign_id: int
    target: str
    product_id: int | None
    note_ref: str | None
    clicks: int
    created_at: datetime


class ClickIn(msgspec.Struct, forbid_unknown_fields=True):
    visitor_id: Annotated[str, msgspec.Meta(max_length=64)]


class ClickOut(msgspec.Struct):
    code: str
    target: str
    target_url: str
    visitor_id: str


class CodeIn(msgspec.Struct, forbid_unknown_fields=True):
    collaboration_id: Id
    code: Annotated[str, msgspec.Meta(max_length=40)]
    discount_ppm: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 0


class CodeActiveIn(msgspec.Struct, forbid_unknown_fields=True):
    active: bool


class CodeOut(msgspec.Struct):
    code: str
    collaboration_id: int
    campaign_id: int
    creator_user_id: int
    discount_ppm: int
    active: bool
    created_at: datetime


class CartCodeIn(msgspec.Struct, forbid_unknown_fields=True):
    code: Annotated[str, msgspec.Meta(max_length=40)]


class VisitorIn(msgspec.Struct, forbid_unknown_fields=True):
    visitor_id: Annotated[str, msgspec.Meta(max_length=64)]


class CommissionOut(msgspec.Struct):
    id: int
    order_id: int
    order_line_id: int
    campaign_id: int
    collaboration_id: int
    brand_id: int
    creator_user_id: int
    currency: str
    base_minor: int  # the line paid
    rate_kind: str  # percent | flat
    rate_ppm: int
    flat_minor: int
    new_buyer: bool
    amount_minor: int  # as first computed
    budget_cut_minor: int  # what the campaign's budget did not cover (amount is after the cut)
    reversed_minor: int  # clawed back by refunds
    net_minor: int  # amount - reversed
    status: str  # pending | approved | paid | reversed
    approve_after: datetime | None
    approved_at: datetime | None
    paid_at: datetime | None
    payout_id: int | None
    created_at: datetime


class TotalOut(msgspec.Struct):
    status: str
    currency: str
    count: int
    net_minor: int


class CommissionPage(msgspec.Struct):
    items: list[CommissionOut]
    totals: list[TotalOut]  # per status and currency, over every page
    total: int
    limit: int
    offset: int


class StatementLineOut(msgspec.Struct):
    kind: str  # commission.accrued | commission.approved | commission.reversed | payout | ...
    memo: str | None
    ref: dict[str, object]
    at: datetime
    amount_minor: int  # positive: owed to you more
    balance_minor: int  # owed to you after this line


class StatementOut(msgspec.Struct):
    account: str  # pending | available
    currency: str
    pending_minor: int  # owed to you, still in the holding period
    available_minor: int  # owed to you and payable (negative: a clawback to net from the next payout)
    lines: list[StatementLineOut]


class AttributionOut(msgspec.Struct):
    order_line_id: int
    order_id: int
    source: str | None  # code | link | a plugin's source; None: nobody brought this line
    ref: str | None
    touched_at: datetime | None
    creator_user_id: int | None
    collaboration_id: int | None
    campaign_id: int | None
    blocked_reason: str | None  # self_referral:user | self_referral:email | self_referral:payment
    commission_id: int | None
    commission_net_minor: int | None
    commission_status: str | None


def link_out(runtime: Runtime, view: attribution.LinkView, target_url: str) -> LinkOut:
    link = view.link
    return LinkOut(
        code=link.code, url=f"{runtime.settings.public_url.rstrip('/')}/r/{link.code}", target_url=target_url, collaboration_id=link.collaboration_id,
        campaign_id=view.campaign_id, target=link.target_kind, product_id=link.product_id, note_ref=link.note_ref, clicks=view.clicks, created_at=link.created_at,
    )


def code_out(view: attribution.CodeView) -> CodeOut:
    c = view.code
    return CodeOut(code=c.code, collaboration_id=c.collaboration_id, campaign_id=view.campaign_id, creator_user_id=view.creator_user_id, discount_ppm=c.discount_ppm, active=c.active, created_at=c.created_at)


def commission_out(c: Commission) -> CommissionOut:
    return CommissionOut(
        id=c.id, order_id=c.order_id, order_line_id=c.order_line_id, campaign_id=c.campaign_id, collaboration_id=c.collaboration_id, brand_id=c.brand_id,
        creator_user_id=c.creator_user_id, currency=c.currency, base_minor=c.base_minor, rate_kind=c.rate_kind, rate_ppm=c.rate_ppm, flat_minor=c.flat_minor,
        new_buyer=c.new_buyer, amount_minor=c.amount_minor, budget_cut_minor=c.budget_cut_minor, reversed_minor=c.reversed_minor, net_minor=c.amount_minor - c.reversed_minor, status=c.status,
        approve_after=c.approve_after, approved_at=c.approved_at, paid_at=c.paid_at, payout_id=c.payout_id, created_at=c.created_at,
    )


async def _page(session: AsyncSession, *, status: str | None, limit: int, offset: int, **who: int | None) -> CommissionPage:
    items, total = await commissions.find(session, status=status, limit=limit, offset=offset, **who)
    sums = await commissions.totals(session, **who)
    return CommissionPage(
        items=[commission_out(c) for c in items], totals=[TotalOut(t.status, t.currency, t.count, t.amount_minor) for t in sums], total=total, limit=limit, offset=offset,
    )


async def _brand_id(session: AsyncSession, actor: Actor | None, slug: str) -> int:
    """A brand its member names by slug; for anyone else it does not exist (404)."""
    from core.catalog.models import Brand

    actor = require_actor(actor)
    brand_id = (await session.execute(select(Brand.id).where(Brand.slug == slug))).scalar_one_or_none()
    if brand_id is None or not can_act_for_brand(actor, brand_id):
        raise NotFound("no such brand")
    return brand_id


Status = Literal["pending", "approved", "paid", "reversed"]


# ---------------------------------------------------------------- controllers


class LinkController(Controller):
    path = "/links"
    tags = ["attribution"]

    @post("/", guards=[login_required])
    async def create_link(self, data: LinkIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Response[LinkOut]:
        """A tracked link for one of the caller's accepted (or later) collaborations: to the
        campaign, one of its products (`product_id`), or a note (`note_ref`). Share `url`.
        Idempotent: the first request answers 201 with a new link; the same request again
        (same collaboration, target, product and note) answers 200 with that link."""
        data = await strict_body(request, data)
        link, created = await attribution.get_or_create_link(
            session, actor, collaboration_id=data.collaboration_id, target=data.target, product_id=data.product_id, note_ref=data.note_ref
        )
        await session.commit()
        [view] = [v for v in await attribution.links_of_creator(session, actor, collaboration_id=link.collaboration_id) if v.link.id == link.id]
        return Response(content=link_out(runtime, view, await attribution.target_url(session, link)), status_code=201 if created else 200)

    @get("/", guards=[login_required])
    async def my_links(self, session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int | None = None) -> list[LinkOut]:
        """The caller's links, newest first, with their click counts."""
        views = await attribution.links_of_creator(session, actor, collaboration_id=collaboration_id)
        return [link_out(runtime, v, await attribution.target_url(session, v.link)) for v in views]

    @post("/{code:str}/clicks", status_code=201)
    async def click(self, code: str, data: ClickIn, request: Request, runtime: Runtime) -> ClickOut:
        """For headless front ends: record a click on a tracked link for a visitor id (a
        UUID the front end keeps in a first-party cookie) and get where it leads. Put
        the same id on the cart (`PUT /carts/{token}/visitor`) so the sale is attributed."""
        data = await strict_body(request, data)
        async with runtime.db.session() as session:
            link, target = await attribution.record_click(session, code, data.visitor_id)
            await session.commit()
        return ClickOut(code=link.code, target=link.target_kind, target_url=target, visitor_id=str(uuid.UUID(data.visitor_id)))


class CodeController(Controller):
    path = "/codes"
    tags = ["attribution"]

    @post("/", guards=[login_required], status_code=201)
    async def create_code(self, data: CodeIn, request: Request, session: AsyncSession, actor: Actor | None) -> CodeOut:
        """A discount code for a collaboration (its creator or its brand's staff; the
        campaign must be open). Upper case, 4-32 of A-Z, 0-9 and "-"; `discount_ppm` off the
        campaign's products (0: attribution only). A code beats any link."""
        data = await strict_body(request, data)
        row = await attribution.create_code(session, actor, collaboration_id=data.collaboration_id, code=data.code, discount_ppm=data.discount_ppm)
        _row, campaign = await attribution.code_for(session, actor, row.code)
        from core.campaigns.models import Collaboration

        collab = await session.get(Collaboration, row.collaboration_id)
        await session.commit()
        return code_out(attribution.CodeView(row, campaign.id, collab.creator_user_id if collab else 0))

    @get("/", guards=[login_required])
    async def my_codes(self, session: AsyncSession, actor: Actor | None) -> list[CodeOut]:
        """The caller's codes (as a creator), newest first."""
        actor = require_actor(actor)
        return [code_out(v) for v in await attribution.codes_of(session, creator_user_id=actor.user_id)]

    @patch("/{code:str}", guards=[login_required])
    async def set_active(self, code: str, data: CodeActiveIn, request: Request, session: AsyncSession, actor: Actor | None) -> CodeOut:
        """Switch a code off (or on again): its creator or its brand's staff."""
        data = await strict_body(request, data)
        row = await attribution.set_code_active(session, actor, code, data.active)
        _row, campaign = await attribution.code_for(session, actor, row.code)
        from core.campaigns.models import Collaboration

        collab = await session.get(Collaboration, row.collaboration_id)
        await session.commit()
        return code_out(attribution.CodeView(row, campaign.id, collab.creator_user_id if collab else 0))


class CartCodeController(Controller):
    path = "/carts"
    tags = ["cart"]

    @post("/{token:str}/codes", status_code=200)
    async def apply_code(self, token: str, data: CartCodeIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CartOut:
        """Apply a creator's code: its discount on its campaign's products (one code per
        campaign). Unknown, inactive or from a campaign that is no longer open: 422."""
        data = await strict_body(request, data)
        cart = await carts.require_cart(session, token, actor)
        await attribution.apply_code(session, cart, data.code)
        await session.commit()
        return await cart_out(session, cart, await carts.price_cart(session, runtime, cart))

    @delete("/{token:str}/codes/{code:str}", status_code=200)
    async def remove_code(self, token: str, code: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CartOut:
        cart = await carts.require_cart(session, token, actor)
        await attribution.remove_code(session, cart, code)
        await session.commit()
        return await cart_out(session, cart, await carts.price_cart(session, runtime, cart))

    @put("/{token:str}/visitor", status_code=204)
    async def set_visitor(self, token: str, data: VisitorIn, request: Request, session: AsyncSession, actor: Actor | None) -> None:
        """Headless front ends: the visitor id the link clicks were recorded with."""
        data = await strict_body(request, data)
        cart = await carts.require_cart(session, token, actor)
        if attribution.visitor_id_or_none(data.visitor_id) is None:
            from core.errors import ValidationFailed

            raise ValidationFailed("visitor_id must be a UUID", extra={"fields": {"visitor_id": "invalid"}})
        await attribution.remember_visitor(session, cart, data.visitor_id)
        await session.commit()


class CommissionController(Controller):
    path = "/commissions"
    tags = ["commissions"]

    @get("/", guards=[login_required])
    async def my_commissions(self, session: AsyncSession, actor: Actor | None, status: Status | None = None, limit: Limit = 50, offset: Offset = 0) -> CommissionPage:
        """The caller's commissions (as a creator), newest first, with totals per state and currency."""
        actor = require_actor(actor)
        return await _page(session, status=status, limit=limit, offset=offset, creator_user_id=actor.user_id)

    @get("/{commission_id:int}", guards=[login_required])
    async def get_commission(self, commission_id: int, session: AsyncSession, actor: Actor | None) -> CommissionOut:
        """One commission: its creator or its brand's staff."""
        actor = require_actor(actor)
        row = await session.get(Commission, commission_id)
        if row is None or not commissions.visible_to(row, user_id=actor.user_id, brand_ids=actor.brand_ids):
            raise NotFound("no such commission")
        return commission_out(row)


class StatementController(Controller):
    path = "/me/statement"
    tags = ["commissions"]

    @get("/", guards=[login_required])
    async def statement(
        self, session: AsyncSession, actor: Actor | None, currency: Annotated[str, Parameter(min_length=3, max_length=3)] = "CNY",
        account: Literal["pending", "available"] = "available", limit: Limit = 50, offset: Offset = 0,
    ) -> StatementOut:
        """The caller's ledger statement as a creator: what the platform owes them, still
        pending or available, and the entries of one account, newest first (amounts as
        the creator sees them: positive is owed to them)."""
        actor = require_actor(actor)
        try:
            currency = validate_currency(currency)
        except ValueError as exc:
            from core.errors import ValidationFailed

            raise ValidationFailed(str(exc)) from exc
        kind = AccountKind.CREATOR_PENDING if account == "pending" else AccountKind.CREATOR_AVAILABLE
        lines = await ledger.statement(session, kind, actor.user_id, currency, limit=limit, offset=offset)
        balances = await ledger.balances(session, (AccountKind.CREATOR_PENDING, AccountKind.CREATOR_AVAILABLE), actor.user_id)
        return StatementOut(
            account=account, currency=currency,
            pending_minor=-balances.get((AccountKind.CREATOR_PENDING, currency), 0), available_minor=-balances.get((AccountKind.CREATOR_AVAILABLE, currency), 0),
            lines=[StatementLineOut(kind=ln.kind, memo=ln.memo, ref=dict(ln.ref or {}), at=ln.created_at, amount_minor=-ln.amount_minor, balance_minor=-ln.balance_after_minor) for ln in lines],
        )


class BrandAttributionController(Controller):
    path = "/brands"
    tags = ["commissions"]

    @get("/{slug:str}/commissions", guards=[login_required])
    async def brand_commissions(
        self, slug: str, session: AsyncSession, actor: Actor | None, status: Status | None = None, campaign_id: int | None = None, limit: Limit = 50, offset: Offset = 0,
    ) -> CommissionPage:
        """Commissions on the brand's campaigns (its staff only), with totals per state and currency."""
        brand_id = await _brand_id(session, actor, slug)
        return await _page(session, status=status, limit=limit, offset=offset, brand_id=brand_id, campaign_id=campaign_id)

    @get("/{slug:str}/codes", guards=[login_required])
    async def brand_codes(self, slug: str, session: AsyncSession, actor: Actor | None) -> list[CodeOut]:
        """Every creator code on the brand's campaigns (its staff only)."""
        brand_id = await _brand_id(session, actor, slug)
        return [code_out(v) for v in await attribution.codes_of(session, brand_id=brand_id)]


class OrderAttributionController(Controller):
    path = "/orders"
    tags = ["commissions"]

    @get("/{order_id:int}/attribution", guards=[login_required])
    async def order_attribution(self, order_id: int, session: AsyncSession, actor: Actor | None) -> list[AttributionOut]:
        """How each line of one of the brand's orders was attributed (to whom, by what,
        or why it was blocked) and its commission. Lines nobody brought are absent."""
        return [
            AttributionOut(
                order_line_id=v.attribution.order_line_id, order_id=v.attribution.order_id, source=v.attribution.source, ref=v.attribution.ref,
                touched_at=v.attribution.touched_at, creator_user_id=v.attribution.creator_user_id, collaboration_id=v.attribution.collaboration_id,
                campaign_id=v.campaign_id, blocked_reason=v.attribution.blocked_reason, commission_id=v.commission_id,
                commission_net_minor=None if v.commission_amount_minor is None else v.commission_amount_minor - (v.commission_reversed_minor or 0),
                commission_status=v.commission_status,
            )
            for v in await attribution.attributions_of_order(session, actor, order_id)
        ]


ATTRIBUTION_CONTROLLERS = [
    LinkController, CodeController, CartCodeController, CommissionController, StatementController, BrandAttributionController, OrderAttributionController,
]


# ---------------------------------------------------------------- storefront


@get("/r/{code:str}", include_in_schema=False)
async def follow_link(request: Request, code: str, runtime: Runtime) -> Redirect:
    """A tracked link: record the click (time, link, visitor id) and redirect. The visitor
    id lives in a long-lived first-party cookie, `zc_vid`, set here if absent. An unknown
    code shows the storefront's 404 page."""
    known = attribution.visitor_id_or_none(request.cookies.get(attribution.VISITOR_COOKIE))
    visitor = known or str(uuid.uuid4())
    async with runtime.db.session() as session:
        _link, target = await attribution.record_click(session, code, visitor)
        await session.commit()
    response = Redirect(target, status_code=302)
    if known is None:
        secure = runtime.settings.public_url.startswith("https://")
        response.set_cookie(attribution.VISITOR_COOKIE, visitor, max_age=attribution.VISITOR_COOKIE_AGE, httponly=True, samesite="lax", secure=secure, path="/")
    return response


STOREFRONT_ROUTES = [follow_link]

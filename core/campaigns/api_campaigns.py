"""Campaigns and collaborations JSON API under /api/v1.

Brand members manage their own brands' campaigns and collaborations; creators see open
campaigns, apply, and work through their own collaborations. Any id outside what the
caller may see answers 404.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Controller, Request, delete, get, patch, post, put
from litestar.params import Parameter
from sqlalchemy import select

from core.auth.permissions import Actor
from core.auth.service import display_names
from core.campaigns import budget
from core.campaigns import campaigns as service
from core.campaigns import collaborations as collabs
from core.campaigns import profiles
from core.campaigns.models import (
    Campaign,
    Collaboration,
    CommissionRate,
    CreatorProfile,
)
from core.catalog.models import Brand, Product, Variant
from core.catalog.service import ppm_to_percent
from core.db import utcnow
from core.orders.models import Order
from core.web import login_required, strict_body

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
StatusFilter = Annotated[str | None, Parameter(max_length=20)]
LongText = Annotated[str, msgspec.Meta(max_length=20_000)]
Address = dict[str, str]


# ---------------------------------------------------------------- bodies


class CommissionIn(msgspec.Struct, forbid_unknown_fields=True):
    """`percent`: rate_percent is an exact percentage (12, "12.5"); `flat`: flat_minor per unit
    sold. The new_buyer_* terms apply to a buyer's first paid order from the brand."""

    kind: str
    rate_percent: Decimal | None = None
    flat_minor: int | None = None
    new_buyer_rate_percent: Decimal | None = None
    new_buyer_flat_minor: int | None = None


class CampaignProductIn(msgspec.Struct, forbid_unknown_fields=True):
    product_id: int
    sample_variant_id: int
    sample_quantity: int = 0
    commission: CommissionIn | None = None


class CampaignIn(msgspec.Struct, forbid_unknown_fields=True):
    brand: str  # the slug of one of the caller's brands
    title: LongText
    brief: LongText = ""
    currency: str = "CNY"
    budget_minor: int = 0
    fixed_fee_minor: int | None = None
    attribution_days: int = 30
    attribution_model: str = "last"
    posting_days: int = 14
    protection_days: int = 30
    review_required: bool = True
    recruitment: str = "open"
    eligibility: dict[str, Any] = msgspec.field(default_factory=dict)
    notice_days: int = 2
    hold_days: int = 30
    products: list[CampaignProductIn] = msgspec.field(default_factory=list)


class CampaignPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    title: LongText | msgspec.UnsetType = msgspec.UNSET
    brief: LongText | msgspec.UnsetType = msgspec.UNSET
    currency: str | msgspec.UnsetType = msgspec.UNSET
    budget_minor: int | msgspec.UnsetType = msgspec.UNSET
    fixed_fee_minor: int | None | msgspec.UnsetType = msgspec.UNSET
    attribution_days: int | msgspec.UnsetType = msgspec.UNSET
    attribution_model: str | msgspec.UnsetType = msgspec.UNSET
    posting_days: int | msgspec.UnsetType = msgspec.UNSET
    protection_days: int | msgspec.UnsetType = msgspec.UNSET
    review_required: bool | msgspec.UnsetType = msgspec.UNSET
    recruitment: str | msgspec.UnsetType = msgspec.UNSET
    eligibility: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET
    notice_days: int | msgspec.UnsetType = msgspec.UNSET
    hold_days: int | msgspec.UnsetType = msgspec.UNSET


class ApplyIn(msgspec.Struct, forbid_unknown_fields=True):
    message: LongText = ""
    shipping_address: Address | None = None


class InviteIn(msgspec.Struct, forbid_unknown_fields=True):
    handle: Annotated[str, msgspec.Meta(max_length=30)]
    message: LongText = ""


class AcceptIn(msgspec.Struct, forbid_unknown_fields=True):
    shipping_address: Address | None = None  # the creator, accepting an invitation


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: LongText = ""


class AddressIn(msgspec.Struct, forbid_unknown_fields=True):
    shipping_address: Address


class ShipIn(msgspec.Struct, forbid_unknown_fields=True):
    carrier: Annotated[str, msgspec.Meta(max_length=200)]
    tracking_number: Annotated[str, msgspec.Meta(max_length=200)]
    address: Address | None = None  # else the address the creator gave


class ContentIn(msgspec.Struct, forbid_unknown_fields=True):
    kind: str  # note | url
    ref: Annotated[str, msgspec.Meta(max_length=2000)]


class ApproveIn(msgspec.Struct, forbid_unknown_fields=True):
    disclosure_confirmed: bool = False  # needed for a URL: the brand checked the sponsored label
    comment: LongText = ""


class ChangesIn(msgspec.Struct, forbid_unknown_fields=True):
    comment: LongText


# ---------------------------------------------------------------- answers


class BrandRefOut(msgspec.Struct):
    slug: str
    name: str


class TermsOut(msgspec.Struct):
    kind: str
    rate_percent: str | None
    rate_ppm: int
    flat_minor: int
    new_buyer_rate_percent: str | None
    new_buyer_rate_ppm: int | None
    new_buyer_flat_minor: int | None
    effective_from: datetime


class CampaignProductOut(msgspec.Struct):
    id: int
    product_id: int
    product_slug: str
    product_title: str
    sample_variant_id: int
    sample_sku: str
    sample_quantity: int
    samples_left: int | None  # in the pool, once the campaign is open
    commission: TermsOut | None  # in force now
    upcoming: TermsOut | None  # a cut waiting for its notice period


class CampaignOut(msgspec.Struct):
    id: int
    brand: BrandRefOut
    title: str
    brief: str
    status: str
    currency: str
    budget_minor: int  # 0: no limit
    spent_minor: int  # commissions net of clawbacks + fixed fees posted
    committed_minor: int  # fixed fees of accepted creators, not posted yet
    budget_left_minor: int | None  # None without a limit
    fixed_fee_minor: int | None
    attribution_days: int
    attribution_model: str
    posting_days: int
    protection_days: int
    review_required: bool
    recruitment: str
    eligibility: dict[str, Any]
    notice_days: int
    hold_days: int
    created_at: datetime
    opened_at: datetime | None
    closed_at: datetime | None
    completed_at: datetime | None
    products: list[CampaignProductOut]


class CollaborationRefOut(msgspec.Struct):
    id: int
    status: str


class OpenCampaignOut(msgspec.Struct):
    """An open campaign as creators see it, with the caller's standing."""

    id: int
    brand: BrandRefOut
    title: str
    brief: str
    currency: str
    fixed_fee_minor: int | None
    attribution_days: int
    posting_days: int
    protection_days: int
    review_required: bool
    eligibility: dict[str, Any]
    opened_at: datetime | None
    products: list[CampaignProductOut]
    eligible: bool | None  # None for a visitor who is not a creator
    reasons: list[str]  # why not, when not
    collaboration: CollaborationRefOut | None  # the caller's, if any


class CampaignRefOut(msgspec.Struct):
    id: int
    title: str
    status: str
    brand: BrandRefOut
    currency: str
    fixed_fee_minor: int | None
    posting_days: int
    protection_days: int
    review_required: bool


class CreatorRefOut(msgspec.Struct):
    user_id: int
    handle: str | None
    display_name: str


class SampleOrderOut(msgspec.Struct):
    id: int
    number: str
    status: str
    carrier: str | None
    tracking_number: str | None


class TransitionOut(msgspec.Struct):
    from_status: str | None
    to_status: str
    actor_kind: str
    actor_user_id: int | None
    note: str
    at: datetime


class CollaborationOut(msgspec.Struct):
    id: int
    campaign: CampaignRefOut
    creator: CreatorRefOut
    status: str
    origin: str
    message: str
    shipping_address: dict[str, Any]
    sample_order: SampleOrderOut | None
    shipped_at: datetime | None
    delivered_at: datetime | None
    deadline_at: datetime | None
    reminders_sent: int
    content_kind: str | None
    content_ref: str | None
    disclosure_ok: bool | None
    review_comment: str
    published_at: datetime | None
    protected_until: datetime | None
    completed_at: datetime | None
    on_time: bool | None
    created_at: datetime
    updated_at: datetime
    transitions: list[TransitionOut] | None = None  # on a single collaboration


class FulfilmentOut(msgspec.Struct):
    handle: str
    on_time: int
    total: int
    rate_ppm: int | None


# ---------------------------------------------------------------- ORM -> answers


def terms_out(v: CommissionRate | None) -> TermsOut | None:
    if v is None:
        return None
    return TermsOut(
        kind=v.kind, rate_percent=ppm_to_percent(v.rate_ppm) if v.kind == "percent" else None, rate_ppm=v.rate_ppm, flat_minor=v.flat_minor,
        new_buyer_rate_percent=ppm_to_percent(v.new_buyer_rate_ppm) if v.new_buyer_rate_ppm is not None else None,
        new_buyer_rate_ppm=v.new_buyer_rate_ppm, new_buyer_flat_minor=v.new_buyer_flat_minor, effective_from=v.effective_from,
    )


async def products_out(session: AsyncSession, campaign: Campaign) -> list[CampaignProductOut]:
    items = await service.products_of(session, campaign.id)
    if not items:
        return []
    now = utcnow()
    products = {p.id: p for p in (await session.execute(select(Product).where(Product.id.in_([i.product_id for i in items])))).scalars()}
    variants = {v.id: v for v in (await session.execute(select(Variant).where(Variant.id.in_([i.sample_variant_id for i in items])))).scalars()}
    versions: dict[int, list[CommissionRate]] = {}
    for v in (await session.execute(select(CommissionRate).where(CommissionRate.campaign_product_id.in_([i.id for i in items])).order_by(CommissionRate.effective_from, CommissionRate.id))).scalars():
        versions.setdefault(v.campaign_product_id, []).append(v)
    left = await service.samples_left(session, items)
    out = []
    for i in items:
        mine = versions.get(i.id, [])
        current = service.in_force(mine, now)
        upcoming = next((v for v in mine if v.effective_from > now), None)
        out.append(CampaignProductOut(
            id=i.id, product_id=i.product_id, product_slug=products[i.product_id].slug, product_title=products[i.product_id].title,
            sample_variant_id=i.sample_variant_id, sample_sku=variants[i.sample_variant_id].sku, sample_quantity=i.sample_quantity,
            samples_left=left.get(i.id), commission=terms_out(current), upcoming=terms_out(upcoming),
        ))
    return out


async def _brand_ref(session: AsyncSession, brand_id: int) -> BrandRefOut:
    brand = await session.get(Brand, brand_id)
    assert brand is not None
    return BrandRefOut(slug=brand.slug, name=brand.name)


async def campaign_out(session: AsyncSession, campaign: Campaign) -> CampaignOut:
    c = campaign
    money = await budget.budget_of(session, c)
    return CampaignOut(
        id=c.id, brand=await _brand_ref(session, c.brand_id), title=c.title, brief=c.brief, status=c.status, currency=c.currency, budget_minor=money.budget_minor,
        spent_minor=money.spent_minor, committed_minor=money.committed_minor, budget_left_minor=money.left_minor,
        fixed_fee_minor=c.fixed_fee_minor, attribution_days=c.attribution_days, attribution_model=c.attribution_model, posting_days=c.posting_days,
        protection_days=c.protection_days, review_required=c.review_required, recruitment=c.recruitment, eligibility=dict(c.eligibility or {}),
        notice_days=c.notice_days, hold_days=c.hold_days, created_at=c.created_at, opened_at=c.opened_at, closed_at=c.closed_at, completed_at=c.completed_at,
        products=await products_out(session, c),
    )


async def collaborations_out(session: AsyncSession, items: list[Collaboration], *, detail: bool = False) -> list[CollaborationOut]:
    """Answers for several collaborations, their related rows loaded a table at a time."""
    if not items:
        return []
    campaign_map = {c.id: c for c in (await session.execute(select(Campaign).where(Campaign.id.in_({i.campaign_id for i in items})))).scalars()}
    brand_map = {b.id: b for b in (await session.execute(select(Brand).where(Brand.id.in_({c.brand_id for c in campaign_map.values()})))).scalars()}
    user_ids = {i.creator_user_id for i in items}
    names = await display_names(session, user_ids)
    handles = dict((await session.execute(select(CreatorProfile.user_id, CreatorProfile.handle).where(CreatorProfile.user_id.in_(user_ids)))).all())
    order_ids = {i.sample_order_id for i in items if i.sample_order_id is not None}
    order_map = {o.id: o for o in (await session.execute(select(Order).where(Order.id.in_(order_ids)).execution_options(populate_existing=True))).scalars()} if order_ids else {}
    out = []
    for i in items:
        c = campaign_map[i.campaign_id]
        b = brand_map[c.brand_id]
        o = order_map.get(i.sample_order_id) if i.sample_order_id is not None else None
        view = CollaborationOut(
            id=i.id,
            campaign=CampaignRefOut(
                id=c.id, title=c.title, status=c.status, brand=BrandRefOut(slug=b.slug, name=b.name), currency=c.currency, fixed_fee_minor=c.fixed_fee_minor,
                posting_days=c.posting_days, protection_days=c.protection_days, review_required=c.review_required,
            ),
            creator=CreatorRefOut(user_id=i.creator_user_id, handle=handles.get(i.creator_user_id), display_name=names.get(i.creator_user_id, "")),
            status=i.status, origin=i.origin, message=i.message, shipping_address=dict(i.shipping_address or {}),
            sample_order=SampleOrderOut(id=o.id, number=o.number, status=o.status, carrier=o.carrier, tracking_number=o.tracking_number) if o is not None else None,
            shipped_at=i.shipped_at, delivered_at=i.delivered_at, deadline_at=i.deadline_at, reminders_sent=i.reminders_sent, content_kind=i.content_kind,
            content_ref=i.content_ref, disclosure_ok=i.disclosure_ok, review_comment=i.review_comment, published_at=i.published_at,
            protected_until=i.protected_until, completed_at=i.completed_at, on_time=i.on_time, created_at=i.created_at, updated_at=i.updated_at,
        )
        if detail:
            view.transitions = [
                TransitionOut(from_status=t.from_status, to_status=t.to_status, actor_kind=t.actor_kind, actor_user_id=t.actor_user_id, note=t.note, at=t.at)
                for t in await collabs.transitions_of(session, i.id)
            ]
        out.append(view)
    return out


async def collaboration_out(session: AsyncSession, collab: Collaboration, *, detail: bool = True) -> CollaborationOut:
    return (await collaborations_out(session, [collab], detail=detail))[0]


def _given(struct: msgspec.Struct) -> dict[str, Any]:
    return {f: getattr(struct, f) for f in struct.__struct_fields__ if getattr(struct, f) is not msgspec.UNSET}


def _commission(c: CommissionIn) -> dict[str, Any]:
    return {f: getattr(c, f) for f in c.__struct_fields__}


async def _optional_body(request: Request, cls: type[Any]) -> Any:
    """A body that may be left out entirely (an empty POST)."""
    raw = await request.body()
    if not raw.strip():
        return cls()
    return await strict_body(request, cls())


# ---------------------------------------------------------------- campaigns


class CampaignController(Controller):
    path = "/campaigns"
    tags = ["campaigns"]

    @get("/", guards=[login_required])
    async def list_campaigns(
        self, session: AsyncSession, actor: Actor | None, brand: Annotated[str | None, Parameter(max_length=80)] = None, status: StatusFilter = None, limit: Limit = 50, offset: Offset = 0
    ) -> list[CampaignOut]:
        """The campaigns of the caller's brands (or of one, `?brand=slug`), newest first."""
        return [await campaign_out(session, c) for c in await service.campaigns_of(session, actor, brand_slug=brand, status=status, limit=limit, offset=offset)]

    @post("/", guards=[login_required])
    async def create_campaign(self, data: CampaignIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CampaignOut:
        """A brand member drafts a campaign for one of their brands (products may come along)."""
        data = await strict_body(request, data)
        fields = {f: getattr(data, f) for f in data.__struct_fields__ if f != "brand"}
        fields["products"] = [
            {"product_id": p.product_id, "sample_variant_id": p.sample_variant_id, "sample_quantity": p.sample_quantity, "commission": _commission(p.commission) if p.commission else None}
            for p in data.products
        ]
        campaign = await service.create_campaign(session, runtime, actor, data.brand, fields)
        await session.commit()
        return await campaign_out(session, campaign)

    @get("/open")
    async def open_campaigns(self, session: AsyncSession, runtime: Runtime, actor: Actor | None, limit: Limit = 50, offset: Offset = 0) -> list[OpenCampaignOut]:
        """Open campaigns creators can apply to, with whether the caller is eligible and why not."""
        found = await service.open_campaigns(session, limit=limit, offset=offset)
        profile = await profiles.profile_of_user(session, actor.user_id) if actor is not None and actor.has_role("creator") else None
        mine: dict[int, Collaboration] = {}
        if actor is not None and found:
            mine = {c.campaign_id: c for c in (await session.execute(select(Collaboration).where(Collaboration.creator_user_id == actor.user_id, Collaboration.campaign_id.in_([c.id for c in found])))).scalars()}
        out = []
        for c in found:
            reasons = service.eligibility_problems(runtime, c, profile) if actor is not None and actor.has_role("creator") else []
            collab = mine.get(c.id)
            out.append(OpenCampaignOut(
                id=c.id, brand=await _brand_ref(session, c.brand_id), title=c.title, brief=c.brief, currency=c.currency, fixed_fee_minor=c.fixed_fee_minor,
                attribution_days=c.attribution_days, posting_days=c.posting_days, protection_days=c.protection_days, review_required=c.review_required,
                eligibility=dict(c.eligibility or {}), opened_at=c.opened_at, products=await products_out(session, c),
                eligible=(not reasons) if actor is not None and actor.has_role("creator") else None, reasons=reasons,
                collaboration=CollaborationRefOut(id=collab.id, status=collab.status) if collab else None,
            ))
        return out

    @get("/{campaign_id:int}", guards=[login_required])
    async def get_campaign(self, campaign_id: int, session: AsyncSession, actor: Actor | None) -> CampaignOut:
        return await campaign_out(session, await service.campaign_for_brand(session, actor, campaign_id))

    @patch("/{campaign_id:int}", guards=[login_required])
    async def update_campaign(self, campaign_id: int, data: CampaignPatch, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CampaignOut:
        """Change a draft's terms (send only what changes); once open, only `budget_minor` (never below what is spent or committed; 409)."""
        data = await strict_body(request, data)
        campaign = await service.update_campaign(session, runtime, actor, campaign_id, _given(data))
        await session.commit()
        return await campaign_out(session, campaign)

    @post("/{campaign_id:int}/products", guards=[login_required])
    async def add_product(self, campaign_id: int, data: CampaignProductIn, request: Request, session: AsyncSession, actor: Actor | None) -> CampaignOut:
        data = await strict_body(request, data)
        await service.add_product(
            session, actor, campaign_id, product_id=data.product_id, sample_variant_id=data.sample_variant_id, sample_quantity=data.sample_quantity,
            commission=_commission(data.commission) if data.commission else None,
        )
        await session.commit()
        return await campaign_out(session, await service.campaign_for_brand(session, actor, campaign_id))

    @delete("/{campaign_id:int}/products/{item_id:int}", guards=[login_required], status_code=200)
    async def remove_product(self, campaign_id: int, item_id: int, session: AsyncSession, actor: Actor | None) -> CampaignOut:
        campaign = await service.remove_product(session, actor, campaign_id, item_id)
        await session.commit()
        return await campaign_out(session, campaign)

    @put("/{campaign_id:int}/products/{item_id:int}/commission", guards=[login_required])
    async def set_commission(self, campaign_id: int, item_id: int, data: CommissionIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CampaignProductOut:
        """New commission terms. Open campaign: a rise applies at once, a cut after `notice_days`."""
        data = await strict_body(request, data)
        await service.set_commission(session, runtime, actor, campaign_id, item_id, **_commission(data))
        await session.commit()
        campaign = await service.campaign_for_brand(session, actor, campaign_id)
        return next(p for p in await products_out(session, campaign) if p.id == item_id)

    @post("/{campaign_id:int}/open", guards=[login_required], status_code=200)
    async def open_campaign(self, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CampaignOut:
        """Open it: samples are set aside (409 if the stock is not there)."""
        campaign = await service.open_campaign(session, runtime, actor, campaign_id)
        await session.commit()
        return await campaign_out(session, campaign)

    @post("/{campaign_id:int}/close", guards=[login_required], status_code=200)
    async def close_campaign(self, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CampaignOut:
        campaign = await service.close_campaign(session, runtime, actor, campaign_id)
        await session.commit()
        return await campaign_out(session, campaign)

    @post("/{campaign_id:int}/reopen", guards=[login_required], status_code=200)
    async def reopen_campaign(self, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CampaignOut:
        """Take creators again after closing (409 while the budget is spent: raise it first)."""
        campaign = await service.reopen_campaign(session, runtime, actor, campaign_id)
        await session.commit()
        return await campaign_out(session, campaign)

    @post("/{campaign_id:int}/complete", guards=[login_required], status_code=200)
    async def complete_campaign(self, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CampaignOut:
        campaign = await service.complete_campaign(session, runtime, actor, campaign_id)
        await session.commit()
        return await campaign_out(session, campaign)

    @post("/{campaign_id:int}/apply", guards=[login_required], status_code=201)
    async def apply(self, campaign_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        """A creator applies (open recruitment, eligible); `shipping_address` is where the sample goes."""
        data = await _optional_body(request, ApplyIn)
        collab = await collabs.apply(session, runtime, actor, campaign_id, message=data.message, shipping_address=data.shipping_address)
        await session.commit()
        return await collaboration_out(session, collab)

    @post("/{campaign_id:int}/invitations", guards=[login_required], status_code=201)
    async def invite(self, campaign_id: int, data: InviteIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        """The brand invites a creator by handle (draft or open campaign)."""
        data = await strict_body(request, data)
        collab = await collabs.invite(session, runtime, actor, campaign_id, handle=data.handle, message=data.message)
        await session.commit()
        return await collaboration_out(session, collab)

    @get("/{campaign_id:int}/collaborations", guards=[login_required])
    async def list_collaborations(self, campaign_id: int, session: AsyncSession, actor: Actor | None, status: StatusFilter = None, limit: Limit = 100, offset: Offset = 0) -> list[CollaborationOut]:
        found = await collabs.collaborations_of_campaign(session, actor, campaign_id, status=status, limit=limit, offset=offset)
        return await collaborations_out(session, found)


# ---------------------------------------------------------------- collaborations


class CollaborationController(Controller):
    path = "/collaborations"
    tags = ["collaborations"]
    guards = [login_required]

    @get("/")
    async def mine(self, session: AsyncSession, actor: Actor | None, status: StatusFilter = None, limit: Limit = 50, offset: Offset = 0) -> list[CollaborationOut]:
        """The caller's own collaborations as a creator."""
        return await collaborations_out(session, await collabs.collaborations_of_creator(session, actor, status=status, limit=limit, offset=offset))

    @get("/{collaboration_id:int}")
    async def get_one(self, collaboration_id: int, session: AsyncSession, actor: Actor | None) -> CollaborationOut:
        """One collaboration with its transitions (its creator, or its brand's members)."""
        collab, _campaign = await collabs.collaboration_for(session, actor, collaboration_id)
        return await collaboration_out(session, collab)

    async def _done(self, session: AsyncSession, collab: Collaboration) -> CollaborationOut:
        await session.commit()
        return await collaboration_out(session, collab)

    @post("/{collaboration_id:int}/accept", status_code=200)
    async def accept(self, collaboration_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        """The creator accepts an invitation (with a shipping address), or the brand an application."""
        data = await _optional_body(request, AcceptIn)
        return await self._done(session, await collabs.accept(session, runtime, actor, collaboration_id, shipping_address=data.shipping_address))

    @post("/{collaboration_id:int}/decline", status_code=200)
    async def decline(self, collaboration_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        data = await _optional_body(request, ReasonIn)
        return await self._done(session, await collabs.decline(session, runtime, actor, collaboration_id, reason=data.reason))

    @put("/{collaboration_id:int}/shipping-address")
    async def set_address(self, collaboration_id: int, data: AddressIn, request: Request, session: AsyncSession, actor: Actor | None) -> CollaborationOut:
        """The creator gives or changes where the sample goes, until it ships."""
        data = await strict_body(request, data)
        return await self._done(session, await collabs.set_address(session, actor, collaboration_id, data.shipping_address))

    @post("/{collaboration_id:int}/ship", status_code=200)
    async def ship(self, collaboration_id: int, data: ShipIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        """The brand ships the sample: a zero-price order from the campaign's pool, with tracking."""
        data = await strict_body(request, data)
        collab = await collabs.ship_sample(session, runtime, actor, collaboration_id, carrier=data.carrier, tracking_number=data.tracking_number, address=data.address)
        return await self._done(session, collab)

    @post("/{collaboration_id:int}/delivered", status_code=200)
    async def delivered(self, collaboration_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        """The sample arrived (the creator, or the brand): the posting deadline starts."""
        return await self._done(session, await collabs.mark_delivered(session, runtime, actor, collaboration_id))

    @post("/{collaboration_id:int}/content", status_code=200)
    async def submit_content(self, collaboration_id: int, data: ContentIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        """The creator submits a note id (their own) or an external URL."""
        data = await strict_body(request, data)
        return await self._done(session, await collabs.submit_content(session, runtime, actor, collaboration_id, kind=data.kind, ref=data.ref))

    @post("/{collaboration_id:int}/approve", status_code=200)
    async def approve(self, collaboration_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        """The brand approves; disclosure must hold (a note's label, or `disclosure_confirmed` for a URL)."""
        data = await _optional_body(request, ApproveIn)
        return await self._done(session, await collabs.approve(session, runtime, actor, collaboration_id, disclosure_confirmed=data.disclosure_confirmed, comment=data.comment))

    @post("/{collaboration_id:int}/request-changes", status_code=200)
    async def request_changes(self, collaboration_id: int, data: ChangesIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        data = await strict_body(request, data)
        return await self._done(session, await collabs.request_changes(session, runtime, actor, collaboration_id, comment=data.comment))

    @post("/{collaboration_id:int}/publish", status_code=200)
    async def publish(self, collaboration_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        """The creator says the approved content is live."""
        return await self._done(session, await collabs.publish(session, runtime, actor, collaboration_id))

    @post("/{collaboration_id:int}/complete", status_code=200)
    async def complete(self, collaboration_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        return await self._done(session, await collabs.complete(session, runtime, actor, collaboration_id))

    @post("/{collaboration_id:int}/cancel", status_code=200)
    async def cancel(self, collaboration_id: int, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CollaborationOut:
        data = await _optional_body(request, ReasonIn)
        return await self._done(session, await collabs.cancel(session, runtime, actor, collaboration_id, reason=data.reason))


@get("/creators/{handle:str}/fulfilment", tags=["creators"])
async def creator_fulfilment(handle: str, session: AsyncSession) -> FulfilmentOut:
    """A creator's fulfilment rate, as brands see it: content submitted by the posting
    deadline and published, out of the collaborations that reached their deadline."""
    profile = await profiles.profile_by_handle(session, handle)
    f = await collabs.fulfilment(session, profile.user_id)
    return FulfilmentOut(handle=profile.handle, on_time=f.on_time, total=f.total, rate_ppm=f.rate_ppm)


CAMPAIGN_API = [CampaignController, CollaborationController, creator_fulfilment]


# ---------------------------------------------------------------- a brand's shortlist of creators

from core.campaigns.api import creator_out  # this section's own imports
from core.campaigns.schemas import CreatorOut
from core.errors import NotFound


class ShortlistIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=2000)] | None = None  # None keeps the note there is


class ShortlistedOut(msgspec.Struct):
    creator: CreatorOut
    note: str
    added_at: datetime


class BrandShortlistController(Controller):
    """Creators a brand keeps in mind (its staff only; any other brand answers 404)."""

    path = "/brands/{slug:str}/shortlist"
    tags = ["creators"]
    guards = [login_required]

    @staticmethod
    def _out(runtime: Runtime, entry: Any, profile: CreatorProfile, name: str) -> ShortlistedOut:
        return ShortlistedOut(creator=creator_out(runtime, profile, name), note=entry.note, added_at=entry.created_at)

    async def _one(self, session: AsyncSession, runtime: Runtime, actor: Actor | None, brand_id: int, handle: str) -> ShortlistedOut:
        profile = await profiles.profile_by_handle(session, handle)
        for entry, p, name in await profiles.shortlist_list(session, actor, brand_id, limit=1, user_id=profile.user_id):
            return self._out(runtime, entry, p, name)
        raise NotFound(f"@{profile.handle} is not on the shortlist")

    @get("/")
    async def list_shortlist(self, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None, limit: Limit = 100, offset: Offset = 0) -> list[ShortlistedOut]:
        """The brand's shortlist, newest first."""
        brand = await service.brand_for(session, actor, slug)
        return [self._out(runtime, *row) for row in await profiles.shortlist_list(session, actor, brand.id, limit=limit, offset=offset)]

    @get("/{handle:str}")
    async def get_shortlisted(self, slug: str, handle: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> ShortlistedOut:
        brand = await service.brand_for(session, actor, slug)
        return await self._one(session, runtime, actor, brand.id, handle)

    @put("/{handle:str}")
    async def put_shortlisted(self, slug: str, handle: str, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> ShortlistedOut:
        """Shortlist a creator (the body, `{"note": ...}`, is optional); again changes only the note."""
        data = await _optional_body(request, ShortlistIn)
        brand = await service.brand_for(session, actor, slug)
        await profiles.shortlist_add(session, actor, brand.id, handle, note=data.note)
        await session.commit()
        return await self._one(session, runtime, actor, brand.id, handle)

    @delete("/{handle:str}", status_code=204)
    async def delete_shortlisted(self, slug: str, handle: str, session: AsyncSession, actor: Actor | None) -> None:
        """Take a creator off the shortlist; taking them off twice is harmless."""
        brand = await service.brand_for(session, actor, slug)
        await profiles.shortlist_remove(session, actor, brand.id, handle)
        await session.commit()


CAMPAIGN_API.append(BrandShortlistController)

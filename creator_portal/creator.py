"""Creator pages: the campaign marketplace, my collaborations, my links and codes, and my
profile, under `/creator/me`.

A creator only ever sees their own things: the services check every id against the
caller, and another creator's collaboration, link or code is "not found", exactly like a
missing one. Content is one of my notes, offered by the notes plugin through the
`collaboration_content_picker` slot (the portal never imports plugins), or any external
URL: without the plugin the picker is simply not there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from sqlalchemy import select

from core import forms
from core.auth.permissions import Actor
from core.campaigns import attribution, campaigns, profiles
from core.campaigns import collaborations as collabs
from core.campaigns.api_campaigns import collaboration_out, collaborations_out
from core.campaigns.attribution import EARNING_STATUSES, LIVE_CAMPAIGNS
from core.campaigns.models import (
    Campaign,
    CampaignProduct,
    CampaignStatus,
    Collaboration,
    CollabStatus,
    CommissionRate,
    CreatorProfile,
    StatsSource,
)
from core.catalog.models import Brand, Product
from core.db import utcnow
from core.errors import NotFound, ValidationFailed
from core.orders.checkout import ADDRESS_FIELDS
from core.web import login_required, render, role_required
from creator_portal.campaigns import content_of
from creator_portal.changes import attempt
from creator_portal.commerce import notice_url
from creator_portal.money import percent_text
from creator_portal.translations import COLLAB_LABELS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]
PAGE_SIZE = 50
S = CollabStatus
REMIND_BEFORE = timedelta(days=3)  # run_deadlines sends the first reminder 3 days before the deadline
WAITING_FOR_CONTENT = (S.SAMPLE_DELIVERED, S.CHANGES_REQUESTED, S.OVERDUE)

NEXT_STEP = {
    S.INVITED: "Accept or decline the invitation.",
    S.APPLIED: "The brand is reviewing your application.",
    S.ACCEPTED: "The brand ships your sample next.",
    S.SAMPLE_SHIPPED: "Your sample is on its way: say when it arrives.",
    S.SAMPLE_DELIVERED: "Post your note and submit it before the deadline.",
    S.CHANGES_REQUESTED: "The brand asked for changes: update your content and submit it again.",
    S.CONTENT_SUBMITTED: "The brand is reviewing your content.",
    S.APPROVED: "Approved: publish your content, then say it is live.",
    S.PUBLISHED: "Live. Keep it up until the protection period ends.",
    S.OVERDUE: "The deadline passed: submit your content as soon as you can.",
}
ACTOR_KINDS = {"creator": "You", "brand": "Brand", "system": "Automatic"}
PAYOUT_LABELS = {"sandbox": "Sandbox (test mode)", "stripe": "Stripe", "bank": "Bank transfer"}
PAYOUT_FIELDS = {
    "stripe_account": "Stripe account", "account_name": "Account name", "account_number": "Account number", "bank_name": "Bank",
    "branch": "Branch", "swift": "SWIFT",
}
BANK_FIELDS = ("account_name", "account_number", "bank_name", "branch", "swift")


# ---------------------------------------------------------------- views


@dataclass
class ProductTerms:
    """A seeded product and its commission in force now (and a cut on notice, if any)."""

    title: str
    slug: str
    kind: str | None = None  # percent | flat | None (no terms yet)
    rate: str = ""  # "12.5%"
    flat_minor: int = 0
    new_buyer: str = ""  # "15%" for a buyer's first order from the brand (percent terms)
    new_buyer_flat_minor: int | None = None
    upcoming_from: datetime | None = None


@dataclass
class CampaignCard:
    campaign: Campaign
    brand: Brand
    products: list[ProductTerms] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)  # why I may not apply; empty: eligible
    collaboration: Collaboration | None = None


def _terms(title: str, slug: str, versions: list[CommissionRate], now: datetime) -> ProductTerms:
    row = ProductTerms(title=title, slug=slug)
    current = campaigns.in_force(versions, now)
    if current is not None:
        row.kind = current.kind
        row.rate = percent_text(current.rate_ppm) if current.kind == "percent" else ""
        row.flat_minor = current.flat_minor
        row.new_buyer = percent_text(current.new_buyer_rate_ppm) if current.kind == "percent" and current.new_buyer_rate_ppm is not None else ""
        row.new_buyer_flat_minor = current.new_buyer_flat_minor if current.kind == "flat" else None
    row.upcoming_from = next((v.effective_from for v in versions if v.effective_from > now), None)
    return row


async def campaign_cards(session: AsyncSession, runtime: Runtime, actor: Actor, found: list[Campaign], profile: CreatorProfile | None) -> list[CampaignCard]:
    """Cards for several campaigns (brand, products and terms, my standing), a table at a time."""
    if not found:
        return []
    ids = [c.id for c in found]
    brands = {b.id: b for b in (await session.execute(select(Brand).where(Brand.id.in_({c.brand_id for c in found})))).scalars()}
    items = (
        await session.execute(
            select(CampaignProduct.id, CampaignProduct.campaign_id, Product.title, Product.slug)
            .join(Product, Product.id == CampaignProduct.product_id)
            .where(CampaignProduct.campaign_id.in_(ids))
            .order_by(CampaignProduct.id)
        )
    ).all()
    versions: dict[int, list[CommissionRate]] = {}
    if items:
        rates = select(CommissionRate).where(CommissionRate.campaign_product_id.in_([i.id for i in items])).order_by(CommissionRate.effective_from, CommissionRate.id)
        for v in (await session.execute(rates)).scalars():
            versions.setdefault(v.campaign_product_id, []).append(v)
    mine = {
        c.campaign_id: c
        for c in (await session.execute(select(Collaboration).where(Collaboration.creator_user_id == actor.user_id, Collaboration.campaign_id.in_(ids)))).scalars()
    }
    now = utcnow()
    cards = {c.id: CampaignCard(campaign=c, brand=brands[c.brand_id], collaboration=mine.get(c.id)) for c in found}
    for item in items:
        cards[item.campaign_id].products.append(_terms(item.title, item.slug, versions.get(item.id, []), now))
    for card in cards.values():
        if card.collaboration is None:
            card.reasons = campaigns.eligibility_problems(runtime, card.campaign, profile)
    return [cards[i] for i in ids]


def deadline_view(collab: Any, now: datetime) -> dict[str, Any] | None:
    """The posting deadline as a reminder: `near` within the reminder window, `passed`
    once it went by (or the collaboration is overdue); None when nothing is due."""
    if collab.deadline_at is None or collab.status not in WAITING_FOR_CONTENT:
        return None
    left = collab.deadline_at - now
    if collab.status == S.OVERDUE or left <= timedelta(0):
        state = "passed"
    elif left <= REMIND_BEFORE:
        state = "near"
    else:
        state = "running"
    day, hour = timedelta(days=1), timedelta(hours=1)
    return {"at": collab.deadline_at, "state": state, "within_day": left < day, "days": max(round(left / day), 1), "hours": max(-(-left // hour), 0)}


def _address(data: dict[str, Any]) -> dict[str, str] | None:
    """The shipping address fields of a form; None when every one is empty."""
    address = {name: forms.text(data, name).strip() for name in ADDRESS_FIELDS}
    return address if any(address.values()) else None


def _fields(data: dict[str, Any], *names: str) -> dict[str, str]:
    return {name: forms.text(data, name) for name in names}


# ---------------------------------------------------------------- pages


class CreatorPages(Controller):
    """Handlers read forms, call the campaign services and show what they return; a
    refusal re-renders the same page with the service's message and status."""

    path = "/me"
    guards = [login_required, role_required("creator")]

    # -- the marketplace

    @get("/campaigns")
    async def marketplace(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, page: PageNumber = 1) -> Any:
        assert actor is not None
        invited = await collabs.collaborations_of_creator(session, actor, status=S.INVITED, limit=PAGE_SIZE)
        invited_campaigns = list((await session.execute(select(Campaign).where(Campaign.id.in_([c.campaign_id for c in invited])).order_by(Campaign.id.desc()))).scalars()) if invited else []
        found = await campaigns.open_campaigns(session, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        profile = await campaigns.creator_profile(session, actor.user_id)
        cards = await campaign_cards(session, runtime, actor, invited_campaigns + found[:PAGE_SIZE], profile)
        return await render(
            request, "portal/creator_campaigns.html",
            {
                "invitations": cards[: len(invited_campaigns)], "cards": cards[len(invited_campaigns):], "profile": profile, "page": page,
                "has_next": len(found) > PAGE_SIZE, "address_fields": ADDRESS_FIELDS, "labels": COLLAB_LABELS, "section": "campaigns",
            },
        )

    @get("/campaigns/{campaign_id:int}")
    async def campaign(self, request: Request, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._campaign_page(request, session, runtime, actor, campaign_id)

    async def _campaign_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int, *,
        error: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        assert actor is not None
        found = await campaigns.campaign_for_creator(session, actor, campaign_id)
        profile = await campaigns.creator_profile(session, actor.user_id)
        card = (await campaign_cards(session, runtime, actor, [found], profile))[0]
        return await render(
            request, "portal/creator_campaign.html",
            {"card": card, "profile": profile, "error": error, "form": form or {}, "address_fields": ADDRESS_FIELDS, "labels": COLLAB_LABELS, "section": "campaigns"},
            status_code=status_code,
        )

    @post("/campaigns/{campaign_id:int}/apply")
    async def apply(self, request: Request, campaign_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        assert actor is not None
        await campaigns.campaign_for_creator(session, actor, campaign_id)
        form = _fields(data, "message", *ADDRESS_FIELDS)

        async def work() -> Collaboration:
            return await collabs.apply(session, runtime, actor, campaign_id, message=form["message"], shipping_address=_address(data))

        def done(collab: Collaboration) -> str:
            return notice_url(f"/creator/me/collaborations/{collab.id}", "Application sent: the brand answers here.")

        return await attempt(session, work, done, partial(self._campaign_page, request, session, runtime, actor, campaign_id, form=form))

    # -- my collaborations

    @get("/collaborations")
    async def my_collaborations(self, request: Request, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        found = await collabs.collaborations_of_creator(session, actor, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        rows = await collaborations_out(session, found[:PAGE_SIZE])
        now = utcnow()
        return await render(
            request, "portal/creator_collaborations.html",
            {
                "rows": [{"c": c, "deadline": deadline_view(c, now)} for c in rows], "labels": COLLAB_LABELS, "next_step": NEXT_STEP,
                "page": page, "has_next": len(found) > PAGE_SIZE, "section": "collaborations",
            },
        )

    @get("/collaborations/{collaboration_id:int}")
    async def collaboration(self, request: Request, collaboration_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._collaboration_page(request, session, runtime, actor, collaboration_id)

    async def _mine(self, session: AsyncSession, actor: Actor | None, collaboration_id: int) -> tuple[Collaboration, Campaign]:
        """My collaboration; a brand member may see their brand's, but not on these pages."""
        assert actor is not None
        collab, campaign = await collabs.collaboration_for(session, actor, collaboration_id)
        if collab.creator_user_id != actor.user_id:
            raise NotFound("no such collaboration")
        return collab, campaign

    async def _collaboration_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *,
        error: str | None = None, failed: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        assert actor is not None
        collab, campaign = await self._mine(session, actor, collaboration_id)
        view = await collaboration_out(session, collab)
        card = (await campaign_cards(session, runtime, actor, [campaign], None))[0]
        await session.close()  # plugins resolve the content next: hold no connection meanwhile
        return await render(
            request, "portal/creator_collaboration.html",
            {
                "c": view, "collaboration": collab, "card": card, "content": await content_of(runtime, view), "deadline": deadline_view(view, utcnow()), "labels": COLLAB_LABELS, "next_step": NEXT_STEP,
                "actor_kinds": ACTOR_KINDS, "takes_content": collab.status in WAITING_FOR_CONTENT, "can_withdraw": collab.status in collabs.CREATOR_CANCELS,
                "address_fields": ADDRESS_FIELDS, "error": error, "failed": failed, "form": form or {}, "section": "collaborations",
            },
            status_code=status_code,
        )

    async def _act(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, which: str, form: dict[str, Any], work: Any, notice: str, done: str | None = None) -> Any:
        await self._mine(session, actor, collaboration_id)
        page = partial(self._collaboration_page, request, session, runtime, actor, collaboration_id, failed=which, form=form)
        return await attempt(session, work, notice_url(done or f"/creator/me/collaborations/{collaboration_id}", notice), page)

    @post("/collaborations/{collaboration_id:int}/accept")
    async def accept(self, request: Request, collaboration_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = _fields(data, *ADDRESS_FIELDS)

        async def work() -> None:
            await collabs.accept(session, runtime, actor, collaboration_id, shipping_address=_address(data))

        return await self._act(request, session, runtime, actor, collaboration_id, "accept", form, work, "Invitation accepted: the brand ships your sample next.")

    @post("/collaborations/{collaboration_id:int}/decline")
    async def decline(self, request: Request, collaboration_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = _fields(data, "reason")

        async def work() -> None:
            await collabs.decline(session, runtime, actor, collaboration_id, reason=form["reason"])

        return await self._act(request, session, runtime, actor, collaboration_id, "decline", form, work, "Invitation declined.", "/creator/me/campaigns")

    @post("/collaborations/{collaboration_id:int}/address")
    async def set_address(self, request: Request, collaboration_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = _fields(data, *ADDRESS_FIELDS)

        async def work() -> None:
            await collabs.set_address(session, actor, collaboration_id, _address(data) or {})

        return await self._act(request, session, runtime, actor, collaboration_id, "address", form, work, "Shipping address saved.")

    @post("/collaborations/{collaboration_id:int}/delivered")
    async def delivered(self, request: Request, collaboration_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        async def work() -> None:
            await collabs.mark_delivered(session, runtime, actor, collaboration_id)

        return await self._act(request, session, runtime, actor, collaboration_id, "delivered", {}, work, "Sample received: your posting deadline has started.")

    @post("/collaborations/{collaboration_id:int}/content")
    async def submit_content(self, request: Request, collaboration_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = _fields(data, "kind", "ref")

        async def work() -> None:
            if not form["ref"].strip():
                raise ValidationFailed("choose one of your notes" if form["kind"] == "note" else "paste the address of your post")
            await collabs.submit_content(session, runtime, actor, collaboration_id, kind=form["kind"], ref=form["ref"])

        return await self._act(request, session, runtime, actor, collaboration_id, "content", form, work, "Content submitted: the brand reviews it next.")

    @post("/collaborations/{collaboration_id:int}/publish")
    async def publish(self, request: Request, collaboration_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        async def work() -> None:
            await collabs.publish(session, runtime, actor, collaboration_id)

        return await self._act(request, session, runtime, actor, collaboration_id, "publish", {}, work, "Marked as live.")

    @post("/collaborations/{collaboration_id:int}/withdraw")
    async def withdraw(self, request: Request, collaboration_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = _fields(data, "reason")

        async def work() -> None:
            await collabs.cancel(session, runtime, actor, collaboration_id, reason=form["reason"])

        return await self._act(request, session, runtime, actor, collaboration_id, "withdraw", form, work, "You left this campaign.")

    # -- links and codes

    @get("/links")
    async def links(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._links_page(request, session, runtime, actor)

    async def _links_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, *,
        error: str | None = None, failed: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        assert actor is not None
        link_views = await attribution.links_of_creator(session, actor)
        code_views = await attribution.codes_of(session, creator_user_id=actor.user_id)
        mine = await collabs.collaborations_of_creator(session, actor, limit=200)
        shown = {v.link.collaboration_id for v in link_views} | {v.code.collaboration_id for v in code_views}
        mine = [c for c in mine if c.status in EARNING_STATUSES or c.id in shown]
        found = {c.id: c for c in (await session.execute(select(Campaign).where(Campaign.id.in_({c.campaign_id for c in mine})))).scalars()} if mine else {}
        brands = {b.id: b for b in (await session.execute(select(Brand).where(Brand.id.in_({c.brand_id for c in found.values()})))).scalars()} if found else {}
        products: dict[int, list[tuple[int, str]]] = {}
        if found:
            rows = await session.execute(
                select(CampaignProduct.campaign_id, Product.id, Product.title).join(Product, Product.id == CampaignProduct.product_id)
                .where(CampaignProduct.campaign_id.in_(list(found))).order_by(CampaignProduct.id)
            )
            for campaign_id, product_id, title in rows:
                products.setdefault(campaign_id, []).append((product_id, title))
        sales = await attribution.sales_by_touch(session, actor.user_id)
        base = runtime.settings.public_url.rstrip("/")
        none = {"orders": 0, "commission": {}}
        groups = []
        for c in mine:
            campaign = found[c.campaign_id]
            titles = dict(products.get(campaign.id, []))
            groups.append({
                "collaboration": c, "campaign": campaign, "brand": brands[campaign.brand_id], "products": products.get(campaign.id, []),
                "can_link": c.status in EARNING_STATUSES and campaign.status in LIVE_CAMPAIGNS,
                "can_code": c.status in EARNING_STATUSES and campaign.status == CampaignStatus.OPEN,
                "links": [
                    {"view": v, "url": f"{base}/r/{v.link.code}", "product": titles.get(v.link.product_id or 0), **sales.get(("link", v.link.code), none)}
                    for v in link_views if v.link.collaboration_id == c.id
                ],
                "codes": [{"view": v, "discount": percent_text(v.code.discount_ppm), **sales.get(("code", v.code.code), none)} for v in code_views if v.code.collaboration_id == c.id],
            })
        return await render(
            request, "portal/creator_links.html",
            {
                "groups": groups, "labels": COLLAB_LABELS, "error": error, "failed": failed, "form": form or {}, "section": "links",
                "error_elsewhere": error is not None and failed not in {f"collab-{g['collaboration'].id}" for g in groups},
            },
            status_code=status_code,
        )

    async def _links_attempt(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, which: str, form: dict[str, Any], work: Any, notice: str) -> Any:
        page = partial(self._links_page, request, session, runtime, actor, failed=which, form=form)
        return await attempt(session, work, notice_url("/creator/me/links", notice, f"#{which}"), page)

    @post("/links")
    async def create_link(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = _fields(data, "collaboration_id", "target")
        collaboration_id = _id(form["collaboration_id"])
        target, _, ref = form["target"].partition(":")

        async def work() -> None:  # a double click gets the link the first one made
            product_id, note_ref = (_id(ref) if target == "product" else None), (ref if target == "note" else None)
            await attribution.create_link(session, actor, collaboration_id=collaboration_id, target=target, product_id=product_id, note_ref=note_ref)

        return await self._links_attempt(request, session, runtime, actor, f"collab-{collaboration_id}", form, work, "Link created: copy it and share it.")

    @post("/codes")
    async def create_code(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = _fields(data, "collaboration_id", "code", "discount")
        collaboration_id = _id(form["collaboration_id"])

        async def work() -> None:
            assert actor is not None
            code = attribution.normalise_code(form["code"])
            discount = campaigns.percent(form["discount"].strip() or "0", "discount")
            mine = await attribution.codes_of(session, creator_user_id=actor.user_id)
            if any(v.code.code == code and v.code.collaboration_id == collaboration_id for v in mine):
                return  # a double click: the code is ours already
            await attribution.create_code(session, actor, collaboration_id=collaboration_id, code=code, discount_ppm=discount)

        return await self._links_attempt(request, session, runtime, actor, f"collab-{collaboration_id}", form, work, "Code created.")

    @post("/codes/{code:str}/active")
    async def set_code_active(self, request: Request, code: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        active = forms.text(data, "active") == "1"
        row, _campaign = await attribution.code_for(session, actor, code)

        async def work() -> None:
            await attribution.set_code_active(session, actor, code, active)

        return await self._links_attempt(request, session, runtime, actor, f"collab-{row.collaboration_id}", {}, work, "Code switched on." if active else "Code switched off.")

    # -- my profile

    @get("/profile")
    async def profile(self, request: Request, session: AsyncSession, actor: Actor | None) -> Any:
        return await self._profile_page(request, session, actor)

    async def _profile_page(
        self, request: Request, session: AsyncSession, actor: Actor | None, *,
        error: str | None = None, failed: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        assert actor is not None
        profile = await profiles.profile_of_user(session, actor.user_id)
        return await render(
            request, "portal/creator_profile.html",
            {
                "profile": profile, "payout": profiles.masked_payout(profile) if profile else {}, "typed_stats": profile is None or profile.stats_source == StatsSource.SELF_REPORTED,
                "rates": {k: forms.major(getattr(profile, k), profile.rate_currency) if profile and getattr(profile, k) is not None else "" for k in ("rate_image_minor", "rate_video_minor")},
                "currencies": profiles.RATE_CURRENCIES, "payout_labels": PAYOUT_LABELS, "payout_fields": PAYOUT_FIELDS, "bank_fields": BANK_FIELDS,
                "error": error, "failed": failed, "form": form or {}, "section": "profile",
            },
            status_code=status_code,
        )

    async def _profile_attempt(self, request: Request, session: AsyncSession, actor: Actor | None, which: str, form: dict[str, Any], work: Any, notice: str) -> Any:
        page = partial(self._profile_page, request, session, actor, failed=which, form=form)
        return await attempt(session, work, notice_url("/creator/me/profile", notice, f"#{which}"), page)

    @post("/profile")
    async def save_profile(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        assert actor is not None
        form = _fields(data, "handle", "bio", "categories", "region", "followers", "avg_engagement", "rate_currency", "rate_image", "rate_video")

        async def work() -> None:
            current = await profiles.profile_of_user(session, actor.user_id)
            currency = form["rate_currency"].strip().upper() or "CNY"
            changes: dict[str, Any] = {
                "handle": form["handle"].strip(), "bio": form["bio"], "categories": _categories(form["categories"]), "region": form["region"].strip(),
                "rate_currency": currency,
                "rate_image_minor": forms.amount_minor(form["rate_image"], currency) if form["rate_image"].strip() else None,
                "rate_video_minor": forms.amount_minor(form["rate_video"], currency) if form["rate_video"].strip() else None,
            }
            for name in ("followers", "avg_engagement"):  # typed figures: sent only when changed (a plugin may compute them)
                if form[name].strip():
                    value = forms.whole_number(form[name], name)
                    if current is None or value != getattr(current, name):
                        changes[name] = value
            await profiles.save_profile(session, runtime, actor, changes)

        return await self._profile_attempt(request, session, actor, "details", form, work, "Profile saved.")

    @post("/profile/payout")
    async def save_payout(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        form = _fields(data, "payout_method", "stripe_account", *BANK_FIELDS)
        method = form["payout_method"].strip() or None
        if method == "stripe":
            details = {"stripe_account": form["stripe_account"].strip()}
        elif method == "bank":
            details = {k: form[k].strip() for k in BANK_FIELDS if form[k].strip() or k in ("account_name", "account_number", "bank_name")}
        else:
            details = {}

        async def work() -> None:
            await profiles.save_profile(session, runtime, actor, {"payout_method": method, "payout_details": details})

        shown = {k: v for k, v in form.items() if k != "account_number"}  # a typed account number is never echoed back
        return await self._profile_attempt(request, session, actor, "payout", shown, work, "Payout settings saved.")


def _categories(raw: str) -> list[str]:
    return [c.lower() for c in re.split(r"[,，、\s]+", raw) if c]


def _id(raw: str) -> int:
    """An id from a form field; anything else is not found (like another creator's id)."""
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound("no such item")
    return int(raw)


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        # collaboration states and next steps

        "Accept or decline the invitation.": "接受或拒绝邀请。",
        "The brand is reviewing your application.": "品牌正在审核你的申请。",
        "The brand ships your sample next.": "接下来品牌会寄出样品。",
        "Your sample is on its way: say when it arrives.": "样品正在路上：收到后请确认。",
        "Post your note and submit it before the deadline.": "发布笔记，并在截止前提交。",
        "The brand asked for changes: update your content and submit it again.": "品牌要求修改：更新内容后重新提交。",
        "The brand is reviewing your content.": "品牌正在审核你的内容。",
        "Approved: publish your content, then say it is live.": "已通过：发布内容后请确认已上线。",
        "Live. Keep it up until the protection period ends.": "已上线。保护期结束前请勿删除。",
        "The deadline passed: submit your content as soon as you can.": "已过截止时间：请尽快提交内容。",
        "You": "你", "Brand": "品牌", "Automatic": "系统",
        # notices and messages
        "Application sent: the brand answers here.": "申请已发送：品牌会在这里回复。",
        "Invitation accepted: the brand ships your sample next.": "已接受邀请：接下来品牌会寄出样品。",
        "Invitation declined.": "已拒绝邀请。",
        "Shipping address saved.": "收货地址已保存。",
        "Sample received: your posting deadline has started.": "已确认收到样品：发布倒计时开始。",
        "Content submitted: the brand reviews it next.": "内容已提交：接下来由品牌审核。",
        "Marked as live.": "已确认上线。",
        "You left this campaign.": "你已退出该合作。",
        "Link created: copy it and share it.": "链接已生成：复制并分享吧。",
        "Code created.": "优惠码已创建。",
        "Code switched on.": "优惠码已启用。",
        "Code switched off.": "优惠码已停用。",
        "Profile saved.": "资料已保存。",
        "Payout settings saved.": "收款设置已保存。",
        "choose one of your notes": "请选择一篇你的笔记",
        "paste the address of your post": "请粘贴你的帖子链接",
        # marketplace
        "Brands choose creators by their profile.": "品牌根据创作者资料挑选合作对象。",
        "Create your creator profile": "创建创作者资料",
        "Invitations": "合作邀请",
        "Invitation": "邀请",
        "Open for applications": "招募中的合作",
        "No open campaigns right now.": "目前没有招募中的合作。",
        "Apply to this campaign": "申请合作",
        "Accept": "接受",
        "Decline": "拒绝",
        "Ship the sample to {name}, {city}": "样品寄往 {name}，{city}",
        "Ship to {name}, {city}": "寄往 {name}，{city}",
        "needed before the sample ships": "寄样前需要填写",
        "Where the sample goes": "样品收货地址",
        "{rate} of each sale": "每笔销售的 {rate}",
        "{rate} for new buyers": "新客 {rate}",
        "{amount} for new buyers": "新客 {amount}",
        "Commission to be set": "佣金待定",
        "(a change applies from {date})": "（{date} 起调整）",
        "Fee per note": "每篇笔记费用",
        "Post within": "发布期限",
        "{n} days of receiving the sample": "收到样品后 {n} 天内",
        "Keep the note up": "笔记保留",
        "{n} days": "{n} 天",
        "{n} days after a click": "点击后 {n} 天",
        "Open my collaboration": "查看我的合作",
        "Not eligible": "不符合条件",
        "You are eligible": "你符合条件",
        "open since {date}": "{date} 起招募",
        "No brief.": "暂无简介。",
        "Products and commission": "商品与佣金",
        "The brand reviews your content before it counts.": "内容需经品牌审核。",
        "Your pitch": "自我推荐",
        "why you and your audience suit this product": "说说你和你的粉丝为什么适合这款商品",
        "Find a campaign": "去找合作",
        # collaborations
        "My collaborations": "我的合作",
        "No collaborations yet.": "还没有合作。",
        "Deadline passed {date}": "已于 {date} 截止",
        "Due in {n} day": "{n} 天后截止",
        "Due in {n} days": "{n} 天后截止",
        "Due in {n} hour": "{n} 小时后截止",
        "Due in {n} hours": "{n} 小时后截止",
        "Post by {date}": "{date} 前发布",
        "The posting deadline passed on {date}. You can still submit: it counts as late.": "发布截止时间 {date} 已过。你仍可提交，但会记为逾期。",
        "Reminder: your content is due by {date} UTC.": "提醒：请在 {date}（UTC）前提交内容。",
        "The brand asks for changes": "品牌要求修改",
        "The brand's comment": "品牌留言",
        "Submit your content": "提交内容",
        "Submitted before": "之前提交的",
        "note {ref}": "笔记 {ref}",
        "or": "或",
        "Link to your post": "你的帖子链接",
        "Submit link": "提交链接",
        "Label it as sponsored (广告): the brand approves only disclosed content.": "请标注为广告：品牌只会通过已声明合作的内容。",
        "Your content": "你的内容",
        "sponsored label": "广告标注",
        "Keep it up until {date}.": "请保留到 {date}。",
        "It is live": "已上线",
        "Sample": "样品",
        "Shipped {date}": "{date} 寄出",
        "received {date}": "{date} 签收",
        "The sample arrived": "样品已收到",
        "Your posting deadline starts then: {n} days.": "收到后开始计时：{n} 天内发布。",
        "Add your shipping address": "填写收货地址",
        "Save address": "保存地址",
        "My links and codes for this campaign": "我在这个合作中的链接和优惠码",
        "Leave this campaign": "退出合作",
        "Leave": "退出",
        # links and codes
        "Share a tracked link or a discount code: a sale it brings within the campaign's window earns you its commission.": "分享追踪链接或优惠码：在归属期内带来的销售会计入你的佣金。",
        "Tracked links": "追踪链接",
        "Tracked link": "追踪链接",
        "Link": "链接",
        "Leads to": "指向",
        "Clicks": "点击",
        "Commission": "佣金",
        "Copy": "复制",
        "Copied": "已复制",
        "a product": "商品",
        "the campaign": "合作活动",
        "No links yet.": "还没有链接。",
        "New link to": "新建链接，指向",
        "Create link": "生成链接",
        "Discount codes": "优惠码",
        "Code": "优惠码",
        "Discount": "折扣",
        "{rate} off": "减 {rate}",
        "attribution only": "仅用于归属",
        "Switch off": "停用",
        "Switch on": "启用",
        "No codes yet.": "还没有优惠码。",
        "New code": "新优惠码",
        "Discount (%)": "折扣（%）",
        "Create code": "创建优惠码",
        "Links and codes come once a brand accepts you in a campaign.": "品牌接受你加入合作后，就可以生成链接和优惠码。",
        # profile and payout
        "My creator profile": "我的创作者资料",
        "Brands find you and judge campaigns' eligibility by this profile: create it to apply.": "品牌通过这份资料找到你并判断合作资格：创建后即可申请。",
        "3-30 of a-z, 0-9, _ and .": "3-30 位 a-z、0-9、_ 和 .",
        "Bio": "简介",
        "up to 10, separated by commas, e.g. beauty, skincare": "最多 10 个，用逗号分隔，例如 beauty, skincare",
        "an ISO code such as CN or CN-SH": "ISO 代码，例如 CN 或 CN-SH",
        "Average engagement per note": "每篇笔记平均互动",
        "Typed-in figures are shown to brands as self-reported.": "手动填写的数据会向品牌标注为自报。",
        "{n} followers, computed from your notes.": "{n} 位粉丝，根据你的笔记计算。",
        "Rate card": "报价",
        "Currency": "币种",
        "Image note": "图文笔记",
        "Video note": "视频笔记",
        "Save profile": "保存资料",
        "Payout settings": "收款设置",
        "Method": "方式",
        "Sandbox (test mode)": "沙盒（测试模式）",
        "Bank transfer": "银行转账",
        "Stripe account": "Stripe 账户",
        "Account name": "户名",
        "Account number": "账号",
        "Bank": "开户行",
        "Branch": "支行",
        "SWIFT": "SWIFT 代码",
        "Stripe": "Stripe",
        "No payout method yet: commissions wait in your balance until you add one.": "尚未设置收款方式：佣金会留在余额中，直到你添加。",
        "Change payout method": "更改收款方式",
        "For your safety the account number is never shown again: enter it in full to change it.": "为了安全，账号不会再次完整显示：如需修改请完整填写。",
        "Save payout settings": "保存收款设置",
    }
}

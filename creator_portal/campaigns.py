"""Brand staff pages for seeding campaigns: the list, the wizard (a draft's brief, products,
samples, commission and rules; an open campaign's budget and commission), the preview
with publish / close / reopen / complete, the collaboration board with its actions, one
collaboration's timeline, and the campaign report with its CSV.

Everything sits under `/creator/brands/{slug}/campaigns`; a campaign or collaboration of
another brand is "not found", like a missing one. The campaign services keep every rule;
these handlers read forms, call them in one transaction and show what they answer.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from core import forms
from core.auth.permissions import Actor
from core.campaigns import api_campaigns as views
from core.campaigns import campaigns as service
from core.campaigns import collaborations as collabs
from core.campaigns import profiles, reports
from core.campaigns.models import Campaign, CampaignStatus, Collaboration
from core.campaigns.models import CollabStatus as S
from core.catalog import service as catalog
from core.catalog.models import Brand, ProductStatus
from core.errors import DomainError, NotFound, ValidationFailed
from core.inventory import service as inventory
from core.orders.cart import DEFAULT_CURRENCY
from core.web import login_required, render
from creator_portal.changes import attempt
from creator_portal.commerce import _list, my_brand, notice_url
from creator_portal.money import ratio_text
from creator_portal.translations import ACTOR_LABELS, CAMPAIGN_LABELS, COLLAB_LABELS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
StatusFilter = Annotated[str | None, Parameter(max_length=20)]
CurrencyParam = Annotated[str | None, Parameter(max_length=3)]

CAMPAIGN_STATUSES = list(CAMPAIGN_LABELS.items())
BOARD = [
    ("applicants", "Applicants and invited", (S.APPLIED, S.INVITED)),
    ("accepted", "Accepted", (S.ACCEPTED,)),
    ("shipped", "Sample shipped", (S.SAMPLE_SHIPPED, S.SAMPLE_DELIVERED)),
    ("content", "Content submitted", (S.CONTENT_SUBMITTED, S.CHANGES_REQUESTED, S.OVERDUE)),
    ("approved", "Approved (content)", (S.APPROVED,)),
    ("published", "Published (collaboration)", (S.PUBLISHED, S.COMPLETED)),
]
ENDED = (S.DECLINED, S.CANCELLED)
RUNNING = (S.ACCEPTED, S.SAMPLE_SHIPPED, S.SAMPLE_DELIVERED, S.CONTENT_SUBMITTED, S.CHANGES_REQUESTED, S.APPROVED, S.OVERDUE)
ACTIONS = {
    "accept": "Application accepted.", "decline": "Application declined.", "ship": "Sample shipped.", "delivered": "Marked as delivered.",
    "approve": "Content approved.", "changes": "Changes requested.", "complete": "Collaboration completed.", "cancel": "Collaboration cancelled.",
}
DAY_LABELS = {
    "attribution_days": "Attribution window (days after a click)", "posting_days": "Content deadline (days after the sample arrives)",
    "protection_days": "Protection period (days the note must stay up)", "notice_days": "Notice before a commission cut (days)",
    "hold_days": "Commission holding period (days)",
}
PRODUCT_FIELDS = ("variant", "samples", "kind", "rate", "nb_rate", "flat", "nb_flat")
TERMS_FIELDS = ("kind", "rate", "nb_rate", "flat", "nb_flat")
CAMPAIGN_FIELDS = ("title", "brief", "budget", "fixed_fee", *service.DAY_FIELDS, "attribution_model", "recruitment", "review_required", "categories", "min_followers", "regions")


# ---------------------------------------------------------------- forms <-> services


def _money(raw: str, currency: str) -> int:
    """An amount in major units; empty or zero is 0."""
    raw = raw.strip()
    if not raw or set(raw) <= set("0.,"):
        return 0
    return forms.amount_minor(raw, currency)


def _major(amount: int | None, currency: str) -> str:
    return forms.major(amount, currency) if amount else ""


def _count(raw: str, what: str, default: int = 0) -> int:
    return forms.whole_number(raw, what) if raw.strip() else default


def read_form(data: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Everything the wizard posted, as typed (shown again on an error)."""
    form: dict[str, Any] = {k: forms.text(data, k) for k in CAMPAIGN_FIELDS}
    form["tiers"] = forms.values(data, "tiers")
    for row in rows:
        pid = row["product"].id
        form[f"p{pid}"] = forms.text(data, f"p{pid}")
        form.update({f"p{pid}_{f}": forms.text(data, f"p{pid}_{f}") for f in PRODUCT_FIELDS})
    return form


def blank_form() -> dict[str, Any]:
    return {
        "title": "", "brief": "", "budget": "", "fixed_fee": "", **{f: str(d) for f, (d, _lo, _hi) in service.DAY_FIELDS.items()},
        "attribution_model": "last", "recruitment": "open", "review_required": "1", "categories": "", "min_followers": "", "regions": "", "tiers": [],
    }


def form_of(campaign: Campaign, products: list[views.CampaignProductOut]) -> dict[str, Any]:
    """A saved campaign as the wizard shows it."""
    cur, rules = campaign.currency, campaign.eligibility or {}
    form: dict[str, Any] = {
        "title": campaign.title, "brief": campaign.brief, "budget": _major(campaign.budget_minor, cur), "fixed_fee": _major(campaign.fixed_fee_minor, cur),
        **{f: str(getattr(campaign, f)) for f in service.DAY_FIELDS}, "attribution_model": campaign.attribution_model, "recruitment": campaign.recruitment,
        "review_required": "1" if campaign.review_required else "", "tiers": list(rules.get("tiers", [])), "categories": ", ".join(rules.get("categories", [])),
        "min_followers": str(rules.get("min_followers", "")), "regions": ", ".join(rules.get("regions", [])),
    }
    for p in products:
        t = p.upcoming or p.commission  # what the brand decided last
        form.update({
            f"p{p.product_id}": "1", f"p{p.product_id}_variant": str(p.sample_variant_id), f"p{p.product_id}_samples": str(p.sample_quantity),
            f"p{p.product_id}_kind": t.kind if t else "percent",
            f"p{p.product_id}_rate": (t.rate_percent or "") if t else "", f"p{p.product_id}_nb_rate": (t.new_buyer_rate_percent or "") if t else "",
            f"p{p.product_id}_flat": _major(t.flat_minor, cur) if t and t.kind == "flat" else "",
            f"p{p.product_id}_nb_flat": _major(t.new_buyer_flat_minor, cur) if t and t.new_buyer_flat_minor is not None else "",
        })
    return form


def campaign_fields(form: dict[str, Any], currency: str) -> dict[str, Any]:
    """The wizard's campaign fields as `create_campaign` / `update_campaign` take them."""
    min_followers = _count(form["min_followers"], "the minimum number of followers", 0)
    return {
        "title": form["title"], "brief": form["brief"], "budget_minor": _money(form["budget"], currency),
        "fixed_fee_minor": _money(form["fixed_fee"], currency) or None,
        **{f: _count(form[f], service.DAY_WORDS[f], d) for f, (d, _lo, _hi) in service.DAY_FIELDS.items()},
        "attribution_model": form["attribution_model"] or "last", "recruitment": form["recruitment"] or "open", "review_required": form["review_required"] == "1",
        "eligibility": {
            "tiers": form["tiers"], "categories": [c.lower() for c in _list(form["categories"])], "min_followers": min_followers or None,
            "regions": _list(form["regions"]),
        },
    }


def commission_of(form: dict[str, Any], pid: int, currency: str) -> dict[str, Any] | None:
    """One product's commission terms as typed; None when left empty (set later)."""
    kind = form.get(f"p{pid}_kind") or "percent"
    if kind == "flat":
        flat, nb = form.get(f"p{pid}_flat", "").strip(), form.get(f"p{pid}_nb_flat", "").strip()
        if not flat and not nb:
            return None
        return {"kind": kind, "flat_minor": _money(flat, currency) if flat else None, "new_buyer_flat_minor": _money(nb, currency) if nb else None}
    rate, nb = form.get(f"p{pid}_rate", "").strip(), form.get(f"p{pid}_nb_rate", "").strip()
    if not rate and not nb:
        return None
    return {"kind": kind, "rate_percent": rate or None, "new_buyer_rate_percent": nb or None}


def _terms_changed(form: dict[str, Any], before: dict[str, Any], pid: int) -> bool:
    return any(form.get(f"p{pid}_{f}", "").strip() != before.get(f"p{pid}_{f}", "").strip() for f in TERMS_FIELDS)


def _about(title: str, exc: DomainError) -> DomainError:
    exc.detail = f"{title}: {exc.detail}"
    exc.args = (exc.detail,)
    return exc


async def product_rows(session: AsyncSession, actor: Actor | None, brand: Brand, in_campaign: set[int], currency: str) -> list[dict[str, Any]]:
    """The products the wizard offers: the brand's active ones, and any the campaign seeds already."""
    found = [v for v in await catalog.list_brand_products(session, actor, brand.id, limit=200) if v.product.status == ProductStatus.ACTIVE.value or v.product.id in in_campaign]
    variant_ids = [vv.variant.id for v in found for vv in v.variants]
    available = await inventory.available_by_variant(session, variant_ids) if variant_ids else {}
    return [
        {
            "product": v.product,
            "variants": [
                {"id": vv.variant.id, "sku": vv.variant.sku, "label": " · ".join(str(x) for x in (vv.variant.options or {}).values()) or vv.variant.sku,
                 "available": available.get(vv.variant.id, 0), "price": vv.prices.get(currency)}
                for vv in v.variants
            ],
        }
        for v in found
    ]


async def priced_currencies(session: AsyncSession, actor: Actor | None, brand: Brand) -> list[str]:
    """The currencies a new campaign can run in: those the brand prices its products in
    (the default first, so a brand without prices still gets it)."""
    found = await catalog.list_brand_products(session, actor, brand.id, limit=200)
    priced = {c for v in found for vv in v.variants for c in vv.prices}
    return [DEFAULT_CURRENCY, *sorted(priced - {DEFAULT_CURRENCY})]


def new_campaign_currency(raw: str, offered: list[str]) -> str:
    currency = (raw or DEFAULT_CURRENCY).strip().upper()
    if currency not in offered:
        raise ValidationFailed("choose the campaign's currency from the list: the ones your products are priced in")
    return currency


def eligibility_text(rules: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    if rules.get("tiers"):
        out.append(("Tiers", ", ".join(rules["tiers"])))
    if rules.get("categories"):
        out.append(("Categories", ", ".join(rules["categories"])))
    if rules.get("min_followers"):
        out.append(("At least this many followers", str(rules["min_followers"])))
    if rules.get("regions"):
        out.append(("Regions", ", ".join(rules["regions"])))
    return out


async def content_of(runtime: Runtime, view: views.CollaborationOut) -> dict[str, Any] | None:
    """What a page shows of a collaboration's submitted content: a link, its title, and
    whether its disclosure holds (a note's sponsored label; a URL's brand confirmation).
    A note's title and link come from the plugins' `resolve_content`; without one that
    knows it (the notes plugin off) the title is empty and the page says "note {ref}".
    No transaction may be open (plugins read with their own session)."""
    if not view.content_kind or not view.content_ref:
        return None
    info = await collabs.resolve_content(runtime, view.content_kind, view.content_ref)
    if view.content_kind == "note":
        return {"kind": "note", "ref": view.content_ref, "url": info.url if info else None, "title": info.title if info else "", "found": info is not None,
                "label": bool(info and info.sponsored_label), "published": bool(info and info.published)}
    return {"kind": "url", "ref": view.content_ref, "url": view.content_ref, "title": (info.title if info and info.title else view.content_ref), "found": True,
            "label": view.disclosure_ok is True, "published": bool(info.published) if info else None}


# ---------------------------------------------------------------- pages


class BrandCampaignPages(Controller):
    path = "/brands/{slug:str}/campaigns"
    guards = [login_required]

    async def _campaign(self, session: AsyncSession, actor: Actor | None, brand: Brand, campaign_id: int) -> Campaign:
        campaign = await service.campaign_for_brand(session, actor, campaign_id)
        if campaign.brand_id != brand.id:
            raise NotFound("no such campaign")
        return campaign

    # -- the list

    @get("/")
    async def campaigns(self, request: Request, slug: str, session: AsyncSession, actor: Actor | None, status: StatusFilter = None) -> Any:
        brand = await my_brand(session, actor, slug)
        if status not in dict(CAMPAIGN_STATUSES):
            status = None
        found = await service.campaigns_of(session, actor, brand_slug=slug, status=status, limit=200)
        ids = [c.id for c in found]
        counts = await collabs.status_counts(session, ids)
        left = await service.samples_left_by_campaign(session, ids)
        rows = [
            {
                "campaign": c, "samples_left": left.get(c.id),
                "applicants": sum(counts[c.id].get(s, 0) for s in (S.APPLIED, S.INVITED)),
                "running": sum(counts[c.id].get(s, 0) for s in RUNNING),
                "published": sum(counts[c.id].get(s, 0) for s in (S.PUBLISHED, S.COMPLETED)),
            }
            for c in found
        ]
        return await render(
            request, "portal/campaigns.html",
            {"brand": brand, "rows": rows, "status": status, "statuses": CAMPAIGN_STATUSES, "status_labels": dict(CAMPAIGN_STATUSES), "section": "campaigns"},
        )

    # -- the wizard

    async def _form_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, slug: str, campaign_id: int | None = None, *,
        form: dict[str, Any] | None = None, error: str | None = None, status_code: int = 200, currency: str = DEFAULT_CURRENCY,
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        campaign, products, offered = None, [], []
        if campaign_id is not None:
            campaign = await self._campaign(session, actor, brand, campaign_id)
            products = await views.products_out(session, campaign)
            currency = campaign.currency
        else:
            offered = await priced_currencies(session, actor, brand)
            if currency not in offered:
                currency = DEFAULT_CURRENCY
        rows = await product_rows(session, actor, brand, {p.product_id for p in products}, currency)
        if form is None:
            form = form_of(campaign, products) if campaign else blank_form()
        return await render(
            request, "portal/campaign_form.html",
            {
                "brand": brand, "campaign": campaign, "rows": rows, "form": form, "error": error, "currency": currency, "currencies": offered, "section": "campaigns",
                "tiers": [t.name for t in profiles.tiers(runtime)], "day_labels": DAY_LABELS, "seeded": {p.product_id for p in products},
                "status_labels": dict(CAMPAIGN_STATUSES),
            },
            status_code=status_code,
        )

    @get("/new")
    async def new(self, request: Request, slug: str, session: AsyncSession, runtime: Runtime, actor: Actor | None, currency: CurrencyParam = None) -> Any:
        """`?currency=HKD` starts the wizard in another of the brand's price currencies."""
        return await self._form_page(request, session, runtime, actor, slug, currency=(currency or DEFAULT_CURRENCY).upper())

    @post("/new")
    async def create(self, request: Request, slug: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        offered = await priced_currencies(session, actor, brand)
        asked = forms.text(data, "currency").upper() or DEFAULT_CURRENCY
        currency = asked if asked in offered else DEFAULT_CURRENCY
        rows = await product_rows(session, actor, brand, set(), currency)
        form = read_form(data, rows)

        async def work() -> Campaign:
            new_campaign_currency(asked, offered)
            campaign = await service.create_campaign(session, runtime, actor, slug, {**campaign_fields(form, currency), "currency": currency})
            await self._save_products(session, runtime, actor, campaign, rows, form, {}, [])
            return campaign

        def done(campaign: Campaign) -> str:
            return notice_url(f"/creator/brands/{slug}/campaigns/{campaign.id}", "Draft saved. Check the preview, then publish.")

        return await attempt(session, work, done, partial(self._form_page, request, session, runtime, actor, slug, form=form, currency=currency))

    @get("/{campaign_id:int}/edit")
    async def edit(self, request: Request, slug: str, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._form_page(request, session, runtime, actor, slug, campaign_id)

    @post("/{campaign_id:int}/edit")
    async def save(self, request: Request, slug: str, campaign_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        campaign = await self._campaign(session, actor, brand, campaign_id)
        products = await views.products_out(session, campaign)
        rows = await product_rows(session, actor, brand, {p.product_id for p in products}, campaign.currency)
        before, posted = form_of(campaign, products), read_form(data, rows)
        if campaign.status == CampaignStatus.DRAFT:
            form = posted
        else:  # only the budget, and while open the commission, can change: the rest stays as saved
            editable = {"budget"} | ({f"p{p.product_id}_{f}" for p in products for f in TERMS_FIELDS} if campaign.status == CampaignStatus.OPEN else set())
            form = {**before, **{k: v for k, v in posted.items() if k in editable}}

        async def work() -> None:
            if campaign.status == CampaignStatus.DRAFT:
                await service.update_campaign(session, runtime, actor, campaign.id, campaign_fields(form, campaign.currency))
                await self._save_products(session, runtime, actor, campaign, rows, form, before, products)
            else:
                budget = _money(form["budget"], campaign.currency)
                if budget != campaign.budget_minor:
                    await service.set_budget(session, runtime, actor, campaign.id, budget)
                titles = {r["product"].id: r["product"].title for r in rows}
                for p in products:
                    terms = commission_of(form, p.product_id, campaign.currency)
                    if campaign.status == CampaignStatus.OPEN and terms is not None and _terms_changed(form, before, p.product_id):
                        try:
                            await service.set_commission(session, runtime, actor, campaign.id, p.id, **terms)
                        except DomainError as exc:
                            raise _about(titles.get(p.product_id, p.product_title), exc) from None

        page = partial(self._form_page, request, session, runtime, actor, slug, campaign_id, form=form)
        return await attempt(session, work, notice_url(f"/creator/brands/{slug}/campaigns/{campaign_id}", "Saved."), page)

    async def _save_products(
        self, session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign: Campaign, rows: list[dict[str, Any]], form: dict[str, Any],
        before: dict[str, Any], products: list[views.CampaignProductOut],
    ) -> None:
        """A draft's products: add the ticked ones, drop the unticked, and redo one whose sample changed."""
        seeded = {p.product_id: p for p in products}
        for row in rows:
            pid, title = row["product"].id, row["product"].title
            item = seeded.get(pid)
            try:
                if form.get(f"p{pid}") != "1":
                    if item is not None:
                        await service.remove_product(session, actor, campaign.id, item.id)
                    continue
                variant_id = _count(form.get(f"p{pid}_variant", ""), "the sample variant", -1)
                samples = _count(form.get(f"p{pid}_samples", ""), "the number of samples", 0)
                terms = commission_of(form, pid, campaign.currency)
                if item is not None and (item.sample_variant_id, item.sample_quantity) != (variant_id, samples):
                    await service.remove_product(session, actor, campaign.id, item.id)
                    item = None
                if item is None:
                    await service.add_product(session, actor, campaign.id, product_id=pid, sample_variant_id=variant_id, sample_quantity=samples, commission=terms)
                elif terms is not None and _terms_changed(form, before, pid):
                    await service.set_commission(session, runtime, actor, campaign.id, item.id, **terms)
            except NotFound:
                raise
            except DomainError as exc:
                raise _about(title, exc) from None

    # -- preview and the campaign's life

    async def _campaign_page(
        self, request: Request, session: AsyncSession, actor: Actor | None, slug: str, campaign_id: int, *, error: str | None = None, status_code: int = 200
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        campaign = await self._campaign(session, actor, brand, campaign_id)
        view = await views.campaign_out(session, campaign)
        counts = (await collabs.status_counts(session, [campaign.id]))[campaign.id]
        return await render(
            request, "portal/campaign.html",
            {
                "brand": brand, "c": view, "counts": counts, "collab_labels": COLLAB_LABELS, "status_labels": dict(CAMPAIGN_STATUSES),
                "eligibility": eligibility_text(view.eligibility), "day_labels": DAY_LABELS, "error": error, "section": "campaigns",
                "running": sum(counts.get(s, 0) for s in RUNNING),
            },
            status_code=status_code,
        )

    @get("/{campaign_id:int}")
    async def campaign(self, request: Request, slug: str, campaign_id: int, session: AsyncSession, actor: Actor | None) -> Any:
        return await self._campaign_page(request, session, actor, slug, campaign_id)

    async def _life(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, slug: str, campaign_id: int, move: Any, notice: str) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._campaign(session, actor, brand, campaign_id)
        return await attempt(
            session, lambda: move(session, runtime, actor, campaign_id), notice_url(f"/creator/brands/{slug}/campaigns/{campaign_id}", notice),
            partial(self._campaign_page, request, session, actor, slug, campaign_id),
        )

    @post("/{campaign_id:int}/open")
    async def publish(self, request: Request, slug: str, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._life(request, session, runtime, actor, slug, campaign_id, service.open_campaign, "Published: creators can see the campaign and its samples are set aside.")

    @post("/{campaign_id:int}/close")
    async def close(self, request: Request, slug: str, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._life(request, session, runtime, actor, slug, campaign_id, service.close_campaign, "Closed: no new creators; running collaborations go on.")

    @post("/{campaign_id:int}/reopen")
    async def reopen(self, request: Request, slug: str, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._life(request, session, runtime, actor, slug, campaign_id, service.reopen_campaign, "Reopened: creators can apply again.")

    @post("/{campaign_id:int}/complete")
    async def complete(self, request: Request, slug: str, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._life(request, session, runtime, actor, slug, campaign_id, service.complete_campaign, "Completed: unused samples went back to stock.")

    # -- the collaboration board

    async def _board_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, slug: str, campaign_id: int, *,
        error: str | None = None, failed: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        campaign = await self._campaign(session, actor, brand, campaign_id)
        found = await views.collaborations_out(session, await collabs.collaborations_of_campaign(session, actor, campaign.id, limit=500))
        await session.close()  # plugins resolve the content next: hold no connection meanwhile
        contents = {v.id: await content_of(runtime, v) for v in found if v.content_ref}
        columns = [(key, label, [v for v in found if v.status in states]) for key, label, states in BOARD]
        return await render(
            request, "portal/campaign_board.html",
            {
                "brand": brand, "campaign": campaign, "columns": columns, "ended": [v for v in found if v.status in ENDED], "contents": contents,
                "collab_labels": COLLAB_LABELS, "status_labels": dict(CAMPAIGN_STATUSES), "error": error, "failed": failed, "form": form or {},
                "back": "board", "section": "campaigns",
            },
            status_code=status_code,
        )

    @get("/{campaign_id:int}/board")
    async def board(self, request: Request, slug: str, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._board_page(request, session, runtime, actor, slug, campaign_id)

    @post("/{campaign_id:int}/invite")
    async def invite(self, request: Request, slug: str, campaign_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._campaign(session, actor, brand, campaign_id)
        form = {"handle": forms.text(data, "handle").strip().lstrip("@"), "message": forms.text(data, "message")}
        return await attempt(  # an unknown handle is a 404 from the service: a message here, not the error page
            session, lambda: collabs.invite(session, runtime, actor, campaign_id, handle=form["handle"], message=form["message"]),
            notice_url(f"/creator/brands/{slug}/campaigns/{campaign_id}/board", "Invitation sent."),
            partial(self._board_page, request, session, runtime, actor, slug, campaign_id, failed="invite", form=form), not_found_refuses=True,
        )

    async def _collab(self, session: AsyncSession, actor: Actor | None, slug: str, campaign_id: int, collaboration_id: int) -> tuple[Brand, Campaign, Collaboration]:
        brand = await my_brand(session, actor, slug)
        campaign = await self._campaign(session, actor, brand, campaign_id)
        collab, _campaign = await collabs.collaboration_for(session, actor, collaboration_id)
        if collab.campaign_id != campaign.id:
            raise NotFound("no such collaboration")
        return brand, campaign, collab

    async def _collab_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, slug: str, campaign_id: int, collaboration_id: int, *,
        error: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        brand, campaign, collab = await self._collab(session, actor, slug, campaign_id, collaboration_id)
        view = await views.collaboration_out(session, collab)
        await session.close()
        return await render(
            request, "portal/campaign_collab.html",
            {
                "brand": brand, "campaign": campaign, "v": view, "content": await content_of(runtime, view), "contents": {}, "collab_labels": COLLAB_LABELS,
                "actor_labels": ACTOR_LABELS,
                "error": error, "failed": str(view.id) if error else None, "form": form or {}, "back": "detail", "section": "campaigns",
            },
            status_code=status_code,
        )

    @get("/{campaign_id:int}/collaborations/{collaboration_id:int}")
    async def collaboration(self, request: Request, slug: str, campaign_id: int, collaboration_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._collab_page(request, session, runtime, actor, slug, campaign_id, collaboration_id)

    @post("/{campaign_id:int}/collaborations/{collaboration_id:int}/{action:str}")
    async def act(
        self, request: Request, slug: str, campaign_id: int, collaboration_id: int, action: str, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None
    ) -> Any:
        if action not in ACTIONS:
            raise NotFound("no such action")
        await self._collab(session, actor, slug, campaign_id, collaboration_id)
        form = {k: forms.text(data, k) for k in ("reason", "carrier", "tracking_number", "comment", "disclosure_confirmed")}
        base = f"/creator/brands/{slug}/campaigns/{campaign_id}"
        if forms.text(data, "back") == "detail":
            done = notice_url(f"{base}/collaborations/{collaboration_id}", ACTIONS[action])
            page = partial(self._collab_page, request, session, runtime, actor, slug, campaign_id, collaboration_id, form=form)
        else:
            done = notice_url(f"{base}/board", ACTIONS[action], f"#collab-{collaboration_id}")
            page = partial(self._board_page, request, session, runtime, actor, slug, campaign_id, failed=str(collaboration_id), form=form)
        return await attempt(session, lambda: self._do(action, session, runtime, actor, collaboration_id, form), done, page)

    @staticmethod
    async def _do(action: str, session: AsyncSession, runtime: Runtime, actor: Actor | None, cid: int, form: dict[str, str]) -> None:
        if action == "accept":
            await collabs.accept(session, runtime, actor, cid)
        elif action == "decline":
            await collabs.decline(session, runtime, actor, cid, reason=form["reason"])
        elif action == "ship":
            await collabs.ship_sample(session, runtime, actor, cid, carrier=form["carrier"], tracking_number=form["tracking_number"])
        elif action == "delivered":
            await collabs.mark_delivered(session, runtime, actor, cid)
        elif action == "approve":
            await collabs.approve(session, runtime, actor, cid, disclosure_confirmed=form["disclosure_confirmed"] == "1", comment=form["comment"])
        elif action == "changes":
            await collabs.request_changes(session, runtime, actor, cid, comment=form["comment"])
        elif action == "complete":
            await collabs.complete(session, runtime, actor, cid)
        elif action == "cancel":
            await collabs.cancel(session, runtime, actor, cid, reason=form["reason"])

    # -- the report

    @get("/{campaign_id:int}/report")
    async def report(self, request: Request, slug: str, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._campaign(session, actor, brand, campaign_id)
        found = await reports.campaign_report(session, runtime, actor, campaign_id)
        return await render(
            request, "portal/campaign_report.html",
            {"brand": brand, "campaign": found.campaign, "r": found, "roi": ratio_text(found.roi_ppm), "collab_labels": COLLAB_LABELS, "owed_states": reports.OWED_STATES, "section": "campaigns"},
        )

    @get("/{campaign_id:int}/report/csv")
    async def report_csv(self, slug: str, campaign_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Response[str]:
        brand = await my_brand(session, actor, slug)
        await self._campaign(session, actor, brand, campaign_id)
        found = await reports.campaign_report(session, runtime, actor, campaign_id)
        return Response(
            reports.campaign_report_csv(found), media_type="text/csv; charset=utf-8",
            headers={"content-disposition": f'attachment; filename="campaign-{campaign_id}-report.csv"', "cache-control": "private, no-store"},
        )


TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "budget, fees and commissions are in this currency; it cannot change once the campaign is saved": "预算、费用和佣金都以此币种计算；活动保存后不可更改",
        "choose the campaign's currency from the list: the ones your products are priced in": "请从列表中选择活动币种：即你的商品已定价的币种",
        'Accept': '接受',
        'Add a product first': '先添加商品',
        'Anyone': '所有人',
        'Applicants and invited': '申请与邀请',
        'Application accepted.': '已接受申请。',
        'Application declined.': '已拒绝申请。',
        'Applications are taken until you close the campaign.': '在你关闭活动之前，创作者都可以申请。',
        'Approve': '通过',
        'At least this many followers': '最少粉丝数',
        'Attribution': '归因方式',
        'Attribution window (days after a click)': '归因窗口（点击后天数）',
        'Brief for creators': '给创作者的 Brief',
        'Budget': '预算',
        'Budget and commission': '预算与佣金',
        'Budget and fees': '预算与费用',
        'By creator': '按创作者',
        'By invitation only': '仅限邀请',
        'Cancel': '取消',
        'Cancel collaboration': '取消合作',
        
        'Changes requested.': '已要求修改。',
        'Check the sponsored label yourself': '请自行确认广告标识',
        'Clicks': '点击',
        'Close to new creators': '停止招募',
        'Closed: no new creators; running collaborations go on.': '已关闭：不再招募新创作者，进行中的合作继续。',
        'Collaboration board': '合作看板',
        'Collaboration cancelled.': '合作已取消。',
        'Collaboration completed.': '合作已完成。',
        'Comment': '备注',
        'Commission': '佣金',
        'Commission holding period (days)': '佣金冻结期（天）',
        'Commissions': '佣金',
        'Complete': '结束活动',
        'Completed: unused samples went back to stock.': '已完成：未用的样品已退回库存。',
        'Content approved.': '内容已通过。',
        'Content deadline (days after the sample arrives)': '发布期限（样品签收后天数）',
        'Content due': '发布截止',
        'Content due {date}': '{date} 前发布',
        'Cost': '成本',
        'Dates': '日期',
        'Deadlines and rules': '期限与规则',
        'Decline': '拒绝',
        'Declined and cancelled': '已拒绝和已取消',
        'Delivered': '已签收',
        'Download CSV': '下载 CSV',
        'Draft saved. Check the preview, then publish.': '草稿已保存。查看预览后即可发布。',
        'Edit': '编辑',
        'Edit campaign': '编辑活动',
        'Engagement': '互动',
        'First touch': '首次触达',
        'Fixed fee per note': '每篇笔记固定费用',
        'Fixed fees': '固定费用',
        'Flat': '固定金额',
        'Flat amount per unit sold': '每件固定金额',
        'From {date}:': '自 {date} 起：',
        'I checked: the post is clearly labelled as sponsored': '我已确认：该内容清楚标注了广告',
        'Invitation sent.': '邀请已发送。',
        'Invite': '邀请',
        'Invite a creator': '邀请创作者',
        'Keep the note up': '笔记保留',
        'Last touch': '最后触达',
        'Left': '剩余',
        'Mark as delivered': '标记为已签收',
        'Mark complete': '标记完成',
        'Marked as delivered.': '已标记为签收。',
        'Message': '留言',
        'Minimum followers': '最少粉丝数',
        'New buyers %': '新客佣金 %',
        'New buyers flat': '新客固定金额',
        'New campaign': '新建活动',
        'Next: the preview, then publish.': '下一步：预览，然后发布。',
        'No': '否',
        'No campaigns yet.': '还没有种草活动。',
        'No commission set': '未设置佣金',
        'No creators yet.': '还没有创作者。',
        'No limit': '不限',
        'No products on sale yet.': '还没有在售商品。',
        'No products yet: edit the campaign to add some.': '还没有商品：编辑活动来添加。',
        'No review': '无需审核',
        'No sponsored label': '缺少广告标识',
        'Not on sale': '未在售',
        'Note not found': '找不到笔记',
        'Notes published': '已发布笔记',
        'Notice before a commission cut (days)': '降低佣金的提前通知（天）',
        'On time': '按时',
        'Open: creators apply': '公开：创作者申请',
        'Open: creators can apply and samples are set aside.': '招募中：创作者可以申请，样品已预留。',
        'Pending applications and invitations are declined; accepted collaborations go on.': '待处理的申请和邀请将被拒绝；已接受的合作继续。',
        'Percent of the sale': '按销售额比例',
        "Percent: the rate fields; flat: the amount fields. New-buyer terms apply to a buyer's first order from your brand.": '按比例：填写比例；固定金额：填写金额。新客条款适用于买家在你品牌的首单。',
        'Post within': '发布期限',
        'Preview: what creators see': '预览：创作者看到的样子',
        'Product': '商品',
        'Products and samples': '商品与样品',
        'Products, samples and commission': '商品、样品与佣金',
        'Protected until': '保护至',
        'Protection period (days the note must stay up)': '保护期（笔记须保留的天数）',
        'Published: creators can see the campaign and its samples are set aside.': '已发布：创作者可以看到活动，样品已预留。',
        'Rate %': '佣金 %',
        'Recruitment': '招募方式',
        'Regions': '地区',
        'Reopen': '重新开放',
        'Reopened: creators can apply again.': '已重新开放：创作者可以再次申请。',
        'Report': '报告',
        'Request changes': '要求修改',
        'Review': '审核',
        'Review content before it is published': '发布前审核内容',
        'Sample': '样品',
        
        'Sample shipped.': '样品已寄出。',
        'Sample variant': '样品规格',
        'Samples': '样品数',
        'Save draft': '保存草稿',
        'Ship sample': '寄出样品',
        'Spent': '已花费',
        'Sponsored label ✓': '广告标识 ✓',
        'The brand reviews the content first': '品牌先审核内容',
        'This campaign is closed: only its budget can change.': '活动已关闭：只能修改预算。',
        'This campaign is completed: nothing changes any more.': '活动已完成：不能再修改。',
        'This campaign is open: only its budget and commission rates can change. A commission cut applies after the notice period; a rise at once.': '活动招募中：只能修改预算和佣金。降低佣金在通知期后生效，提高立即生效。',
        'This is a draft: creators do not see it yet. Check the preview below, then publish.': '这是草稿：创作者还看不到。查看下方预览后发布。',
        'Tick the products this campaign seeds. Samples are set aside in a stock pool when you publish: the campaign cannot open promising samples that are not in stock. 0 samples: no sample for that product.': '勾选本次种草的商品。发布时样品会预留到库存池：库存不足的样品无法承诺。样品数为 0：该商品不寄样。',
        'Tiers': '等级',
        'Waiting for the creator to publish.': '等待创作者发布。',
        "Waiting for the creator's shipping address.": '等待创作者填写收货地址。',
        'What should change': '需要修改的内容',
        'Who can apply': '谁可以申请',
        'Yes': '是',
        'The note needs the sponsored (广告) label before you can approve it: ask the creator to add it.': '笔记需要带有广告标识才能通过：请创作者添加。',
        'You asked:': '你的修改意见：',
        'e.g. CN, CN-SH': '例如 CN, CN-SH',
        'empty: anyone': '留空：所有人',
        'empty: no limit': '留空：不限',
        'free sample': '免费样品',
        'separated by commas, e.g. beauty, skincare': '用逗号分隔，例如 beauty, skincare',
        'what to show, the tone, must-say points, hashtags': '展示什么、语气、必提卖点、话题标签',
        '{amount} for new buyers': '新客 {amount}',
        '{n} applicants': '{n} 个申请',
        '{n} collaboration(s) are still under way': '{n} 个合作仍在进行',
        '{n} collaboration(s) are still under way: finish or cancel them before completing.': '{n} 个合作仍在进行：完成或取消后才能结束活动。',
        '{n} days': '{n} 天',
        '{n} days after a click': '点击后 {n} 天',
        '{n} days after the sample arrives': '样品签收后 {n} 天',
        '{n} in stock': '库存 {n}',
        '{n} published': '{n} 篇已发布',
        '{n} samples left': '剩余样品 {n}',
        '{n} under way': '{n} 个进行中',
        '{rate}% for new buyers': '新客 {rate}%',
        '{rate}% of each sale': '每笔销售的 {rate}%',
    },
}

"""Seeding campaigns: the brief, the products seeded, the commission terms, and the
campaign's life (draft -> open -> closed -> completed).

Terms are edited only while a campaign is a draft, with one exception: commission
rates may change while it is open. A rise applies at once; a cut only to sales after
`notice_days` (creators agreed to the old terms and get time to react). Each change
is a new `CommissionRate` version, so the terms of any sale can be found afterwards
with `terms_at`.

Opening sets every product's samples aside in a stock pool: a campaign cannot open
promising samples that are not in the warehouse.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import delete, func, select, update

from core.auth.permissions import Actor, can_act_for_brand, require_actor
from core.campaigns import profiles
from core.campaigns.models import (
    Campaign,
    CampaignProduct,
    CampaignStatus,
    Collaboration,
    CollabStatus,
    CommissionRate,
    CreatorProfile,
)
from core.catalog.models import Brand, Product, Variant
from core.catalog.service import percent_to_ppm
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event
from core.inventory import service as inventory
from core.inventory.models import StockLevel, StockLocation, StockPool
from core.money import validate_currency

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

CAMPAIGN_EVENT_TYPES = {
    "campaign.opened": "A brand opened a seeding campaign; its samples are set aside.",
    "campaign.closed": "A campaign stopped taking creators; running collaborations go on.",
    "campaign.reopened": "A brand reopened a closed campaign (after raising its budget, say).",
    "campaign.budget_spent": "A campaign's budget is used up; it closes to new creators.",
    "campaign.completed": "A campaign is settled; its unused samples went back to stock.",
    "campaign.commission_changed": "A campaign product's commission changed (a cut carries the date it applies from).",
}

MAX_DAYS = 365
MAX_AMOUNT = 10**13
MAX_SAMPLES = 100_000
REGION_RE = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
RECRUITMENT = ("open", "invite")
ATTRIBUTION_MODELS = ("last", "first")
KINDS = ("percent", "flat")
# name -> (default, lowest, highest)
DAY_FIELDS = {
    "attribution_days": (30, 1, MAX_DAYS),
    "posting_days": (14, 1, MAX_DAYS),
    "protection_days": (30, 0, MAX_DAYS),
    "notice_days": (2, 0, 90),
    "hold_days": (30, 0, MAX_DAYS),
}
DAY_WORDS = {
    "attribution_days": "the attribution window",
    "posting_days": "the posting deadline",
    "protection_days": "the note protection period",
    "notice_days": "the notice period for a commission cut",
    "hold_days": "the commission holding period",
}
EDITABLE = ("title", "brief", "currency", "budget_minor", "fixed_fee_minor", *DAY_FIELDS, "attribution_model", "review_required", "recruitment", "eligibility")


class Terms(NamedTuple):
    """The commission of one sale: `percent` of the line paid (`rate_ppm`), or `flat`
    minor units per unit sold (`flat_minor`)."""

    kind: str
    rate_ppm: int
    flat_minor: int


# ---------------------------------------------------------------- validation


def _fail(field: str, message: str) -> ValidationFailed:
    return ValidationFailed(message, extra={"fields": {field: "invalid"}})


def _whole(value: Any, field: str, low: int, high: int, what: str | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, f"{what or field} must be a whole number from {low} to {high}")
    return value


def _days(field: str, value: Any) -> int:
    _default, low, high = DAY_FIELDS[field]
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(field, f"{DAY_WORDS[field]} ({field}) must be {low} to {high} days")
    return value


def _text(value: Any, field: str, limit: int, *, required: bool = False) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise _fail(field, f"{field}: up to {limit} characters")
    value = value.strip()
    if required and not value:
        raise _fail(field, f"{field} is required")
    return value


def percent(value: Any, field: str) -> int:
    """An exact percentage ("12.5", 15) in ppm; negative, above 100 or floats refused."""
    if isinstance(value, float):
        raise _fail(field, f"{field} must be an exact number such as 12 or \"12.5\"")
    try:
        return percent_to_ppm(value)
    except ValidationFailed as exc:
        raise _fail(field, exc.detail.replace("rate_percent", field)) from exc


def clean_eligibility(runtime: Runtime, raw: Any) -> dict[str, Any]:
    """{tiers, categories, min_followers, regions}; every key optional, empty means anyone."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail("eligibility", "eligibility is an object with tiers, categories, min_followers and regions")
    unknown = set(raw) - {"tiers", "categories", "min_followers", "regions"}
    if unknown:
        raise _fail("eligibility", f"unknown eligibility rules: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    tiers = raw.get("tiers") or []
    known = [t.name for t in profiles.tiers(runtime)]
    if not isinstance(tiers, list) or not all(isinstance(t, str) and t in known for t in tiers):
        raise _fail("eligibility", f"eligibility.tiers: a list of {', '.join(known)}")
    if tiers:
        out["tiers"] = [t for t in known if t in tiers]
    categories = raw.get("categories") or []
    if not isinstance(categories, list) or len(categories) > 20 or not all(isinstance(c, str) and SLUG_RE.match(c) for c in categories):
        raise _fail("eligibility", "eligibility.categories: up to 20 category slugs such as beauty")
    if categories:
        out["categories"] = sorted(set(categories))
    if raw.get("min_followers") is not None:
        out["min_followers"] = _whole(raw["min_followers"], "eligibility", 0, 10**10, "eligibility.min_followers")
        if out["min_followers"] == 0:
            del out["min_followers"]
    regions = raw.get("regions") or []
    if not isinstance(regions, list) or len(regions) > 50 or not all(isinstance(r, str) and REGION_RE.match(r.upper()) for r in regions):
        raise _fail("eligibility", "eligibility.regions: ISO 3166 codes such as CN or CN-SH")
    if regions:
        out["regions"] = sorted({r.upper() for r in regions})
    return out


def eligibility_problems(runtime: Runtime, campaign: Campaign, profile: CreatorProfile | None) -> list[str]:
    """Why this creator may not apply (empty: eligible). Regions match by prefix: a
    campaign for CN takes creators in CN-SH."""
    if profile is None:
        return ["create your creator profile first"]
    rules = campaign.eligibility or {}
    problems = []
    tier = profiles.tier_of(runtime, profile.followers)
    if rules.get("tiers") and tier not in rules["tiers"]:
        problems.append(f"for {', '.join(rules['tiers'])} creators (you are {tier or 'untiered'})")
    if rules.get("categories") and not set(rules["categories"]) & set(profile.categories or []):
        problems.append(f"for creators in {', '.join(rules['categories'])}")
    if rules.get("min_followers") and profile.followers < rules["min_followers"]:
        problems.append(f"needs at least {rules['min_followers']} followers")
    if rules.get("regions") and not any(profile.region == r or profile.region.startswith(r + "-") for r in rules["regions"]):
        problems.append(f"for creators in {', '.join(rules['regions'])}")
    return problems


def _apply_fields(runtime: Runtime, campaign: Campaign, data: dict[str, Any]) -> None:
    unknown = set(data) - set(EDITABLE)
    if unknown:
        raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}")
    if "title" in data:
        campaign.title = _text(data["title"], "title", 120, required=True)
    if "brief" in data:
        campaign.brief = _text(data["brief"], "brief", 10_000)
    if "currency" in data:
        try:
            campaign.currency = validate_currency(data["currency"]) if isinstance(data["currency"], str) else validate_currency("")
        except ValueError as exc:
            raise _fail("currency", "currency: an ISO 4217 code such as CNY") from exc
    if "budget_minor" in data:
        campaign.budget_minor = _whole(data["budget_minor"], "budget_minor", 0, MAX_AMOUNT)
    if "fixed_fee_minor" in data:
        fee = data["fixed_fee_minor"]
        campaign.fixed_fee_minor = None if fee is None or fee == 0 else _whole(fee, "fixed_fee_minor", 0, MAX_AMOUNT)
    for field in DAY_FIELDS:
        if field in data:
            setattr(campaign, field, _days(field, data[field]))
    if "attribution_model" in data:
        if data["attribution_model"] not in ATTRIBUTION_MODELS:
            raise _fail("attribution_model", "attribution_model is last or first (touch)")
        campaign.attribution_model = data["attribution_model"]
    if "review_required" in data:
        if not isinstance(data["review_required"], bool):
            raise _fail("review_required", "review_required is true or false")
        campaign.review_required = data["review_required"]
    if "recruitment" in data:
        if data["recruitment"] not in RECRUITMENT:
            raise _fail("recruitment", "recruitment is open (creators apply) or invite (the brand invites)")
        campaign.recruitment = data["recruitment"]
    if "eligibility" in data:
        campaign.eligibility = clean_eligibility(runtime, data["eligibility"])


# ---------------------------------------------------------------- reading, with ownership


async def brand_for(session: AsyncSession, actor: Actor | None, slug: str) -> Brand:
    """A brand the caller works for; any other (or unknown) slug is 404."""
    actor = require_actor(actor)
    brand = (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none() if isinstance(slug, str) else None
    if brand is None or not can_act_for_brand(actor, brand.id):
        raise NotFound("no such brand")
    return brand


async def campaign_for_brand(session: AsyncSession, actor: Actor | None, campaign_id: int, *, lock: bool = False) -> Campaign:
    """A campaign of one of the caller's brands; any other id is 404."""
    actor = require_actor(actor)
    query = select(Campaign).where(Campaign.id == campaign_id)
    if lock:
        query = query.with_for_update()
    campaign = (await session.execute(query)).scalar_one_or_none()
    if campaign is None or not can_act_for_brand(actor, campaign.brand_id):
        raise NotFound("no such campaign")
    return campaign


async def campaigns_of(session: AsyncSession, actor: Actor | None, *, brand_slug: str | None = None, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Campaign]:
    actor = require_actor(actor)
    brand_ids = list(actor.brand_ids)
    if brand_slug is not None:
        brand_ids = [(await brand_for(session, actor, brand_slug)).id]
    if not brand_ids:
        return []
    query = select(Campaign).where(Campaign.brand_id.in_(brand_ids))
    if status:
        query = query.where(Campaign.status == status)
    return list((await session.execute(query.order_by(Campaign.id.desc()).limit(limit).offset(offset))).scalars())


async def products_of(session: AsyncSession, campaign_id: int) -> list[CampaignProduct]:
    return list((await session.execute(select(CampaignProduct).where(CampaignProduct.campaign_id == campaign_id).order_by(CampaignProduct.id))).scalars())


async def open_campaigns(session: AsyncSession, *, limit: int = 50, offset: int = 0) -> list[Campaign]:
    """Campaigns creators can apply to: open, with open recruitment."""
    query = select(Campaign).where(Campaign.status == CampaignStatus.OPEN, Campaign.recruitment == "open")
    return list((await session.execute(query.order_by(Campaign.opened_at.desc(), Campaign.id.desc()).limit(limit).offset(offset))).scalars())


async def rate_versions(session: AsyncSession, campaign_product_id: int) -> list[CommissionRate]:
    return list(
        (await session.execute(select(CommissionRate).where(CommissionRate.campaign_product_id == campaign_product_id).order_by(CommissionRate.effective_from, CommissionRate.id))).scalars()
    )


def in_force(versions: list[CommissionRate], when: datetime) -> CommissionRate | None:
    """The newest version in force at `when` (versions oldest first); before the first, the first."""
    current = None
    for v in versions:
        if v.effective_from <= when:
            current = v
    return current or (versions[0] if versions else None)


async def terms_at(session: AsyncSession, campaign_product_id: int, when: datetime, new_buyer: bool) -> Terms:
    """The commission terms of a sale of this campaign product paid at `when`, for a new
    buyer (their first paid order from the brand) or a returning one.

    The newest rate version whose `effective_from` is not after `when` decides (a cut
    written with its notice period is not in force before it); a sale before the first
    version takes the first. New-buyer terms apply when the version has them.
    Raises NotFound if the campaign product has no terms at all."""
    version = in_force(await rate_versions(session, campaign_product_id), when)
    if version is None:
        raise NotFound("this campaign product has no commission terms")
    return version_terms(version, new_buyer)


def version_terms(version: CommissionRate, new_buyer: bool) -> Terms:
    if version.kind == "flat":
        flat = version.new_buyer_flat_minor if new_buyer and version.new_buyer_flat_minor is not None else version.flat_minor
        return Terms("flat", 0, flat)
    rate = version.new_buyer_rate_ppm if new_buyer and version.new_buyer_rate_ppm is not None else version.rate_ppm
    return Terms("percent", rate, 0)


# ---------------------------------------------------------------- writing


async def create_campaign(session: AsyncSession, runtime: Runtime, actor: Actor | None, brand_slug: str, data: dict[str, Any]) -> Campaign:
    """A draft campaign of one of the caller's brands; `products` may come along."""
    brand = await brand_for(session, actor, brand_slug)
    data = dict(data)
    products = data.pop("products", None) or []
    if "title" not in data:
        raise _fail("title", "title is required")
    campaign = Campaign(
        brand_id=brand.id, title="", brief="", status=CampaignStatus.DRAFT, currency="CNY", budget_minor=0, fixed_fee_minor=None,
        attribution_model="last", review_required=True, recruitment="open", eligibility={},
        **{field: default for field, (default, _lo, _hi) in DAY_FIELDS.items()},
    )
    _apply_fields(runtime, campaign, data)
    session.add(campaign)
    await session.flush()
    for item in products:
        await add_product(session, actor, campaign.id, **item)
    return campaign


async def update_campaign(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int, data: dict[str, Any]) -> Campaign:
    """Change a draft's terms; after opening, only the budget (`set_budget`) and the
    commission rates (`set_commission`) change."""
    campaign = await campaign_for_brand(session, actor, campaign_id)
    if campaign.status != CampaignStatus.DRAFT and set(data) == {"budget_minor"}:
        return await set_budget(session, runtime, actor, campaign_id, data["budget_minor"])
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(f"this campaign is {campaign.status}: its terms can only change while it is a draft (commission rates can change while it is open)")
    _apply_fields(runtime, campaign, data)
    await session.flush()
    return campaign


def _commission(kind: Any, rate_percent: Any, flat_minor: Any, new_buyer_rate_percent: Any, new_buyer_flat_minor: Any) -> dict[str, Any]:
    """Validated terms for a CommissionRate row."""
    if kind not in KINDS:
        raise _fail("kind", "commission kind is percent (of the line paid) or flat (per unit sold)")
    if kind == "percent":
        if rate_percent is None:
            raise _fail("rate_percent", "a percent commission needs rate_percent, such as \"12.5\"")
        if flat_minor is not None or new_buyer_flat_minor is not None:
            raise _fail("flat_minor", "a percent commission takes no flat amounts")
        return {
            "kind": kind, "rate_ppm": percent(rate_percent, "rate_percent"), "flat_minor": 0,
            "new_buyer_rate_ppm": None if new_buyer_rate_percent is None else percent(new_buyer_rate_percent, "new_buyer_rate_percent"),
            "new_buyer_flat_minor": None,
        }
    if flat_minor is None:
        raise _fail("flat_minor", "a flat commission needs flat_minor, the amount per unit sold in minor units")
    if rate_percent is not None or new_buyer_rate_percent is not None:
        raise _fail("rate_percent", "a flat commission takes no percentages")
    return {
        "kind": kind, "rate_ppm": 0, "flat_minor": _whole(flat_minor, "flat_minor", 0, MAX_AMOUNT, "flat_minor"),
        "new_buyer_rate_ppm": None,
        "new_buyer_flat_minor": None if new_buyer_flat_minor is None else _whole(new_buyer_flat_minor, "new_buyer_flat_minor", 0, MAX_AMOUNT, "new_buyer_flat_minor"),
    }


async def add_product(
    session: AsyncSession, actor: Actor | None, campaign_id: int, *, product_id: Any, sample_variant_id: Any, sample_quantity: Any = 0, commission: dict[str, Any] | None = None
) -> CampaignProduct:
    """Seed one of the brand's products: its sample variant, how many samples, its commission."""
    campaign = await campaign_for_brand(session, actor, campaign_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(f"this campaign is {campaign.status}: products can only be added while it is a draft")
    product = await session.get(Product, product_id) if isinstance(product_id, int) and not isinstance(product_id, bool) else None
    if product is None or product.brand_id != campaign.brand_id:
        raise NotFound("no such product")
    variant = await session.get(Variant, sample_variant_id) if isinstance(sample_variant_id, int) and not isinstance(sample_variant_id, bool) else None
    if variant is None or variant.product_id != product.id:
        raise _fail("sample_variant_id", "the sample variant must be one of this product's variants")
    quantity = _whole(sample_quantity, "sample_quantity", 0, MAX_SAMPLES)
    terms = _commission(**{k: (commission or {}).get(k) for k in ("kind", "rate_percent", "flat_minor", "new_buyer_rate_percent", "new_buyer_flat_minor")}) if commission else None
    taken = (await session.execute(select(CampaignProduct.id).where(CampaignProduct.campaign_id == campaign.id, CampaignProduct.product_id == product.id))).first()
    if taken:
        raise Conflict("this product is in the campaign already")
    item = CampaignProduct(campaign_id=campaign.id, product_id=product.id, sample_variant_id=variant.id, sample_quantity=quantity)
    session.add(item)
    await session.flush()
    if terms is not None:
        session.add(CommissionRate(campaign_product_id=item.id, effective_from=utcnow(), created_by=actor.user_id if actor else None, **terms))
        await session.flush()
    return item


async def campaign_product_for_brand(session: AsyncSession, actor: Actor | None, campaign_id: int, item_id: int) -> tuple[Campaign, CampaignProduct]:
    campaign = await campaign_for_brand(session, actor, campaign_id)
    item = await session.get(CampaignProduct, item_id)
    if item is None or item.campaign_id != campaign.id:
        raise NotFound("no such product in this campaign")
    return campaign, item


async def remove_product(session: AsyncSession, actor: Actor | None, campaign_id: int, item_id: int) -> Campaign:
    campaign, item = await campaign_product_for_brand(session, actor, campaign_id, item_id)
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(f"this campaign is {campaign.status}: products can only be removed while it is a draft")
    await session.delete(item)
    await session.flush()
    return campaign


def _is_rise(old: CommissionRate, new: dict[str, Any]) -> bool:
    """True if no buyer is worse off: same kind, and neither the returning-buyer nor the
    new-buyer terms go down. Anything else (a cut, a mix, a change of kind) needs notice."""
    if old.kind != new["kind"]:
        return False
    proposed = CommissionRate(**new)  # transient: never added to the session
    return all(
        version_terms(proposed, buyer).rate_ppm >= version_terms(old, buyer).rate_ppm and version_terms(proposed, buyer).flat_minor >= version_terms(old, buyer).flat_minor
        for buyer in (False, True)
    )


async def set_commission(
    session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int, item_id: int, *, kind: Any, rate_percent: Any = None, flat_minor: Any = None,
    new_buyer_rate_percent: Any = None, new_buyer_flat_minor: Any = None, now: datetime | None = None,
) -> CommissionRate:
    """Write a new version of a product's commission terms.

    Draft: replaces the terms. Open: a rise is in force at once, a cut from now + the
    campaign's notice period; either way a version written earlier that is not in
    force yet (a pending cut) is withdrawn, so the newest decision is what holds."""
    campaign, item = await campaign_product_for_brand(session, actor, campaign_id, item_id)
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.OPEN):
        raise Conflict(f"this campaign is {campaign.status}: its commission can no longer change")
    terms = _commission(kind, rate_percent, flat_minor, new_buyer_rate_percent, new_buyer_flat_minor)
    now = now or utcnow()
    effective = now
    if campaign.status == CampaignStatus.DRAFT:
        await session.execute(delete(CommissionRate).where(CommissionRate.campaign_product_id == item.id))
    else:
        versions = await rate_versions(session, item.id)
        current = in_force(versions, now)
        if current is not None and not _is_rise(current, terms):
            effective = now + timedelta(days=campaign.notice_days)
        await session.execute(delete(CommissionRate).where(CommissionRate.campaign_product_id == item.id, CommissionRate.effective_from > now))
    version = CommissionRate(campaign_product_id=item.id, effective_from=effective, created_by=actor.user_id if actor else None, **terms)
    session.add(version)
    await session.flush()
    if campaign.status == CampaignStatus.OPEN:
        record_event(session, runtime, "campaign.commission_changed", {
            "campaign_id": campaign.id, "brand_id": campaign.brand_id, "campaign_product_id": item.id, "kind": terms["kind"], "rate_ppm": terms["rate_ppm"],
            "flat_minor": terms["flat_minor"], "new_buyer_rate_ppm": terms["new_buyer_rate_ppm"], "new_buyer_flat_minor": terms["new_buyer_flat_minor"],
            "effective_from": effective.isoformat(), "cut": effective > now,
        })
    return version


async def _move(session: AsyncSession, runtime: Runtime, campaign: Campaign, frm: str, to: str, event: str, **values: Any) -> bool:
    moved = await session.execute(
        update(Campaign).where(Campaign.id == campaign.id, Campaign.status == frm).values(status=to, updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return False
    await session.refresh(campaign)
    record_event(session, runtime, event, {"campaign_id": campaign.id, "brand_id": campaign.brand_id, "title": campaign.title, "from": frm, "to": to})
    return True


async def _set_aside(session: AsyncSession, campaign: Campaign, item: CampaignProduct) -> StockPool:
    """A pool of the item's samples at the first of the brand's locations that has them all."""
    variant = await session.get(Variant, item.sample_variant_id)
    assert variant is not None
    locations = (
        await session.execute(
            select(StockLevel.location_id)
            .join(StockLocation, StockLocation.id == StockLevel.location_id)
            .where(StockLevel.variant_id == variant.id, StockLocation.brand_id == campaign.brand_id)
            .order_by(StockLocation.position, StockLocation.id)
        )
    ).scalars().all()
    for location_id in locations:  # the conditional UPDATE in create_pool decides
        try:
            return await inventory.create_pool(session, name=f"campaign-{campaign.id}-samples-{item.id}", variant_id=variant.id, location_id=location_id, quantity=item.sample_quantity)
        except inventory.OutOfStock:
            continue
    available = (await inventory.available_by_variant(session, [variant.id]))[variant.id]
    raise Conflict(
        f"not enough stock to open: {item.sample_quantity} samples of {variant.sku} are needed, {available} are available"
        + (" (across locations; samples come from one location)" if len(locations) > 1 else ""),
        extra={"variant_id": variant.id, "needed": item.sample_quantity, "available": available},
    )


async def open_campaign(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int) -> Campaign:
    """draft -> open: every product needs commission terms; samples are set aside (409 if short)."""
    campaign = await campaign_for_brand(session, actor, campaign_id)
    if campaign.status == CampaignStatus.OPEN:
        return campaign  # a double click
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(f"a campaign that is {campaign.status} cannot open again")
    items = await products_of(session, campaign.id)
    if not items:
        raise Conflict("add at least one product before opening the campaign")
    for item in items:
        if not await rate_versions(session, item.id):
            raise Conflict(f"set the commission of every product before opening (product {item.product_id} has none)")
    if not await _move(session, runtime, campaign, CampaignStatus.DRAFT, CampaignStatus.OPEN, "campaign.opened", opened_at=utcnow()):
        await session.refresh(campaign)
        if campaign.status == CampaignStatus.OPEN:
            return campaign
        raise Conflict("the campaign changed meanwhile; reload it")
    for item in items:
        if item.sample_quantity > 0 and item.pool_id is None:
            item.pool_id = (await _set_aside(session, campaign, item)).id
    await session.flush()
    return campaign


async def close_campaign(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int) -> Campaign:
    """open -> closed: no new creators. Pending applications and invitations are declined;
    accepted collaborations go on (their samples stay set aside)."""
    campaign = await campaign_for_brand(session, actor, campaign_id)
    if campaign.status == CampaignStatus.CLOSED:
        return campaign
    if campaign.status != CampaignStatus.OPEN:
        raise Conflict(f"a campaign that is {campaign.status} cannot be closed")
    if not await close_open_campaign(session, runtime, campaign, note="the campaign closed"):
        raise Conflict("the campaign changed meanwhile; reload it")
    return campaign


async def close_open_campaign(session: AsyncSession, runtime: Runtime, campaign: Campaign, *, note: str) -> bool:
    """The move itself, for the brand or the system (a spent budget); False if the
    campaign was not open any more."""
    from core.campaigns import collaborations

    if not await _move(session, runtime, campaign, CampaignStatus.OPEN, CampaignStatus.CLOSED, "campaign.closed", closed_at=utcnow()):
        return False
    await collaborations.decline_pending(session, runtime, campaign, note=note)
    return True


async def reopen_campaign(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int) -> Campaign:
    """closed -> open: creators can apply again. Needs budget left (or no limit)."""
    from core.campaigns import budget

    campaign = await campaign_for_brand(session, actor, campaign_id)
    if campaign.status == CampaignStatus.OPEN:
        return campaign
    if campaign.status != CampaignStatus.CLOSED:
        raise Conflict(f"a campaign that is {campaign.status} cannot be reopened")
    current = await budget.budget_of(session, campaign, lock=True)
    if current.left_minor == 0:
        raise budget.BudgetExceeded("the budget is spent: raise it before reopening the campaign", current)
    if not await _move(session, runtime, campaign, CampaignStatus.CLOSED, CampaignStatus.OPEN, "campaign.reopened", closed_at=None):
        raise Conflict("the campaign changed meanwhile; reload it")
    return campaign


async def set_budget(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int, value: Any) -> Campaign:
    """Change the budget at any time before completion; never below what is spent or
    committed already (0 lifts the limit)."""
    from core.campaigns import budget

    campaign = await campaign_for_brand(session, actor, campaign_id)
    if campaign.status == CampaignStatus.COMPLETED:
        raise Conflict("this campaign is completed: its budget no longer changes")
    amount = _whole(value, "budget_minor", 0, MAX_AMOUNT)
    current = await budget.budget_of(session, campaign, lock=True)
    used = current.spent_minor + current.committed_minor
    if amount and amount < used:
        raise budget.BudgetExceeded(f"the budget cannot go below what is spent or committed already ({used} minor units of {campaign.currency})", current)
    campaign.budget_minor = amount
    await session.flush()
    await budget.close_if_spent(session, runtime, [campaign.id])
    await session.refresh(campaign)
    return campaign


async def complete_campaign(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int) -> Campaign:
    """closed -> completed, once no collaboration is still under way; unused samples go back to stock."""
    campaign = await campaign_for_brand(session, actor, campaign_id)
    if campaign.status == CampaignStatus.COMPLETED:
        return campaign
    if campaign.status != CampaignStatus.CLOSED:
        raise Conflict(f"close the campaign before completing it (it is {campaign.status})")
    running = (
        await session.execute(
            select(func.count()).select_from(Collaboration).where(
                Collaboration.campaign_id == campaign.id,
                Collaboration.status.notin_((CollabStatus.DECLINED, CollabStatus.CANCELLED, CollabStatus.PUBLISHED, CollabStatus.COMPLETED)),
            )
        )
    ).scalar_one()
    if running:
        raise Conflict(f"{running} collaboration(s) are still under way: finish or cancel them first", extra={"running": running})
    if not await _move(session, runtime, campaign, CampaignStatus.CLOSED, CampaignStatus.COMPLETED, "campaign.completed", completed_at=utcnow()):
        raise Conflict("the campaign changed meanwhile; reload it")
    for item in await products_of(session, campaign.id):
        if item.pool_id is not None:
            await inventory.release_pool(session, item.pool_id)
    return campaign


async def samples_left(session: AsyncSession, items: list[CampaignProduct]) -> dict[int, int]:
    """Campaign product id -> samples still in its pool (products with a pool only)."""
    pool_ids = {i.pool_id: i.id for i in items if i.pool_id is not None}
    if not pool_ids:
        return {}
    rows = (await session.execute(select(StockPool.id, StockPool.available).where(StockPool.id.in_(list(pool_ids))).execution_options(populate_existing=True))).all()
    return {pool_ids[pid]: available for pid, available in rows}


async def creator_profile(session: AsyncSession, user_id: int) -> CreatorProfile | None:
    return await profiles.profile_of_user(session, user_id)


async def samples_left_by_campaign(session: AsyncSession, campaign_ids: list[int]) -> dict[int, int]:
    """Campaign id -> samples still set aside in its pools, for a list of campaigns in one
    query (campaigns that set nothing aside are left out)."""
    if not campaign_ids:
        return {}
    rows = await session.execute(
        select(CampaignProduct.campaign_id, func.sum(StockPool.available))
        .join(StockPool, StockPool.id == CampaignProduct.pool_id)
        .where(CampaignProduct.campaign_id.in_(campaign_ids))
        .group_by(CampaignProduct.campaign_id)
    )
    return {cid: int(n or 0) for cid, n in rows}


async def campaign_for_creator(session: AsyncSession, actor: Actor, campaign_id: int) -> Campaign:
    """A campaign the creator may look at: open to applications, or one they are in
    (invited to, say). Anything else is 404."""
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("no such campaign")
    if campaign.status == CampaignStatus.OPEN and campaign.recruitment == "open":
        return campaign
    mine = (await session.execute(select(Collaboration.id).where(Collaboration.campaign_id == campaign.id, Collaboration.creator_user_id == actor.user_id))).first()
    if mine is None:
        raise NotFound("no such campaign")
    return campaign


async def campaigns_of_pools(session: AsyncSession, pool_ids: list[int]) -> dict[int, Campaign]:
    """Pool id -> the campaign whose samples it holds (pools set aside by hand are left out), in one query."""
    if not pool_ids:
        return {}
    rows = await session.execute(
        select(CampaignProduct.pool_id, Campaign).join(Campaign, Campaign.id == CampaignProduct.campaign_id).where(CampaignProduct.pool_id.in_(pool_ids))
    )
    return {pool_id: campaign for pool_id, campaign in rows.all()}


async def release_pool_by_hand(session: AsyncSession, brand_id: int, pool_id: Any) -> int:
    """Brand staff give a pool's unreserved units back to general stock (0 if already
    released). A campaign's samples pool is the campaign's: it goes back when the campaign completes."""
    pool = await inventory.pool_of_brand(session, brand_id, pool_id)
    campaign = (await campaigns_of_pools(session, [pool.id])).get(pool.id)
    if campaign is not None:
        raise Conflict(
            f"this pool holds the samples of the campaign {campaign.title!r}: complete the campaign to release its samples",
            extra={"campaign_id": campaign.id},
        )
    return await inventory.release_pool(session, pool.id)

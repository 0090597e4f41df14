"""Creator profiles: the card brands judge a creator by, tiers, and audience stats.

Stats come from a plugin through the `creator_stats` hook when one answers (the notes
plugin computes them from real notes); otherwise the creator types them in and they are
shown as self-reported. Payout details are private to the creator.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import func, or_, select, text
from sqlalchemy.orm import object_session

from core.auth.models import User
from core.auth.permissions import Actor, require_role
from core.events import mark_changed
from core.campaigns.models import CreatorProfile, StatsSource
from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.money import validate_currency

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

HANDLE_RE = re.compile(r"^[a-z0-9][a-z0-9_.]{2,29}$")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
REGION_RE = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")
PAYOUT_METHODS = ("sandbox", "stripe", "bank")
MAX_FOLLOWERS = 10**10
TIER_NAMES = ("koc", "micro", "mid", "macro", "head")


class CreatorStats(msgspec.Struct, frozen=True, kw_only=True):
    """What `creator_stats` returns: audience figures computed from real content."""

    followers: int
    avg_engagement: int  # mean likes + collects + comments per recent note
    engagement_rate_ppm: int  # avg_engagement / followers, in parts per million


@dataclass(frozen=True)
class Tier:
    name: str
    min_followers: int


def tiers(runtime: Runtime) -> list[Tier]:
    """The tier ladder from `ZHONGCAO_CREATOR_TIERS` ("koc:0,micro:10000,..."), lowest first."""
    ladder = []
    for part in runtime.settings.creator_tiers.split(","):
        name, _, floor = part.strip().partition(":")
        ladder.append(Tier(name.strip(), int(floor)))
    return sorted(ladder, key=lambda t: t.min_followers)


def tier_of(runtime: Runtime, followers: int) -> str:
    name = ""
    for tier in tiers(runtime):
        if followers >= tier.min_followers:
            name = tier.name
    return name


def engagement_rate_ppm(avg_engagement: int, followers: int) -> int:
    return 0 if followers <= 0 else min(avg_engagement * 1_000_000 // followers, 2**31 - 1)


def _int(value: Any, what: str, maximum: int = MAX_FOLLOWERS) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValidationFailed(f"{what} must be a whole number from 0 to {maximum}", extra={"fields": {what: "invalid"}})
    return value


def _slugs(value: Any) -> list[str]:
    if not isinstance(value, list) or len(value) > 10 or not all(isinstance(v, str) and SLUG_RE.match(v) for v in value):
        raise ValidationFailed("categories: up to 10 lowercase slugs such as beauty or skincare", extra={"fields": {"categories": "invalid"}})
    return sorted(set(value))


def _payout(method: Any, details: Any) -> tuple[str | None, dict[str, str]]:
    if method is None:
        return None, {}
    if method not in PAYOUT_METHODS:
        raise ValidationFailed(f"payout_method is one of {', '.join(PAYOUT_METHODS)}", extra={"fields": {"payout_method": "invalid"}})
    if not isinstance(details, dict) or not all(isinstance(k, str) and isinstance(v, str) and len(v) <= 120 for k, v in details.items()):
        raise ValidationFailed("payout_details is an object of short texts")
    if method == "stripe":
        account = details.get("stripe_account", "")
        if not re.fullmatch(r"acct_[A-Za-z0-9]{6,40}", account) or set(details) != {"stripe_account"}:
            raise ValidationFailed("Stripe payouts need stripe_account (acct_...) and nothing else", extra={"fields": {"payout_details": "invalid"}})
    elif method == "bank":
        needed = {"account_name", "account_number", "bank_name"}
        if not needed <= set(details) <= needed | {"branch", "swift"} or not all(details[k].strip() for k in needed):
            raise ValidationFailed("bank payouts need account_name, account_number and bank_name (branch and swift optional)", extra={"fields": {"payout_details": "invalid"}})
        if not re.fullmatch(r"[0-9 -]{6,34}|[A-Z]{2}[0-9A-Z ]{10,32}", details["account_number"]):
            raise ValidationFailed("account_number: digits (or an IBAN)", extra={"fields": {"payout_details": "invalid"}})
    elif details:
        raise ValidationFailed("sandbox payouts take no details")
    return method, {k: v.strip() for k, v in details.items()}


def masked_payout(profile: CreatorProfile) -> dict[str, str]:
    """Payout details as the creator sees them back: an account number shows its last 4."""
    shown = dict(profile.payout_details or {})
    if "account_number" in shown:
        digits = shown["account_number"].replace(" ", "").replace("-", "")
        shown["account_number"] = "•••• " + digits[-4:]
    return shown


async def profile_of_user(session: AsyncSession, user_id: int) -> CreatorProfile | None:
    return (await session.execute(select(CreatorProfile).where(CreatorProfile.user_id == user_id))).scalar_one_or_none()


async def profile_by_handle(session: AsyncSession, handle: str) -> CreatorProfile:
    profile = (await session.execute(select(CreatorProfile).where(CreatorProfile.handle == handle.lower()))).scalar_one_or_none() if isinstance(handle, str) else None
    if profile is None:
        raise NotFound("no such creator")
    return profile


async def plugin_stats(runtime: Runtime, user_id: int) -> tuple[str, CreatorStats] | None:
    """The first plugin (in load order) that computes stats for this creator, and them."""
    for name, stats in await runtime.pm.acall_each("creator_stats", user_id=user_id, runtime=runtime):
        if not isinstance(stats, CreatorStats):
            raise TypeError(f"plugin {name!r}: creator_stats must return core.campaigns.profiles.CreatorStats or None")
        return name, stats
    return None


async def refresh_stats(session: AsyncSession, runtime: Runtime, profile: CreatorProfile) -> bool:
    """Take fresh figures from a plugin if one computes them; True if they changed
    (flushed in the caller's writing transaction)."""
    wanted = _figures_from(profile, await plugin_stats(runtime, profile.user_id))
    if not _set_figures(profile, wanted):
        return False
    await session.flush()
    return True


async def refreshed_for_reading(runtime: Runtime, profile: CreatorProfile) -> CreatorProfile:
    """The profile with fresh figures, for a reading request: only when they changed is
    the profile written, in a short transaction of its own (a reader must not write: on
    SQLite its deferred transaction cannot become a writer once another has committed)."""
    wanted = _figures_from(profile, await plugin_stats(runtime, profile.user_id))
    if wanted == _figures(profile):
        return profile
    async with runtime.db.session() as writer:
        fresh = await profile_of_user(writer, profile.user_id)
        if fresh is None:
            return profile
        if _set_figures(fresh, wanted):
            await writer.commit()
        return fresh


def _figures(profile: CreatorProfile) -> tuple[int, int, int, str]:
    return (profile.followers, profile.avg_engagement, profile.engagement_rate_ppm, profile.stats_source)


def _figures_from(profile: CreatorProfile, found: tuple[str, CreatorStats] | None) -> tuple[int, int, int, str]:
    """The figures a profile should show: a plugin's, or (no plugin computes them any
    more) its own, no longer verified: self-reported."""
    if found is None:
        return (*_figures(profile)[:3], StatsSource.SELF_REPORTED)
    source, stats = found
    return (
        _int(stats.followers, "followers"), _int(stats.avg_engagement, "avg_engagement"),
        _int(stats.engagement_rate_ppm, "engagement_rate_ppm", 2**31 - 1), source,
    )  # fmt: skip


def _set_figures(profile: CreatorProfile, wanted: tuple[int, int, int, str]) -> bool:
    """True if anything changed."""
    if wanted == _figures(profile):
        return False
    profile.followers, profile.avg_engagement, profile.engagement_rate_ppm, profile.stats_source = wanted
    if wanted[3] != StatsSource.SELF_REPORTED:
        profile.stats_updated_at = utcnow()
    _changed(profile)
    return True


def _changed(profile: CreatorProfile) -> None:
    """Creator search follows profile changes (`creator.changed`, at commit)."""
    session = object_session(profile)
    if session is not None and profile.user_id is not None:
        mark_changed(session, "creator.changed", profile.user_id)


async def save_profile(session: AsyncSession, runtime: Runtime, actor: Actor | None, data: dict[str, Any]) -> CreatorProfile:
    """Create or update the caller's own profile (creators only). Audience figures may be
    typed in only while no plugin computes them."""
    actor = require_role(actor, "creator")
    known = {"handle", "bio", "categories", "region", "followers", "avg_engagement", "rate_currency", "rate_image_minor", "rate_video_minor", "payout_method", "payout_details"}
    unknown = set(data) - known
    if unknown:
        raise ValidationFailed(f"unknown fields: {', '.join(sorted(unknown))}")
    profile = await profile_of_user(session, actor.user_id)
    creating = profile is None
    if profile is None:
        if "handle" not in data:
            raise ValidationFailed("choose a handle", extra={"fields": {"handle": "required"}})
        profile = CreatorProfile(user_id=actor.user_id, handle="", bio="", categories=[], region="", followers=0, avg_engagement=0, engagement_rate_ppm=0, rate_currency="CNY", payout_details={})
    if "handle" in data:
        handle = data["handle"].lower() if isinstance(data["handle"], str) else ""
        if not HANDLE_RE.match(handle):
            raise ValidationFailed("handle: 3-30 of a-z, 0-9, _ and ., starting with a letter or digit", extra={"fields": {"handle": "invalid"}})
        taken = (await session.execute(select(CreatorProfile.id).where(CreatorProfile.handle == handle, CreatorProfile.user_id != actor.user_id))).first()
        if taken:
            raise Conflict("that handle is taken", extra={"fields": {"handle": "taken"}})
        profile.handle = handle
    if "bio" in data:
        if not isinstance(data["bio"], str) or len(data["bio"]) > 1000:
            raise ValidationFailed("bio: up to 1,000 characters", extra={"fields": {"bio": "invalid"}})
        profile.bio = data["bio"].strip()
    if "categories" in data:
        profile.categories = _slugs(data["categories"])
    if "region" in data:
        region = data["region"].upper() if isinstance(data["region"], str) else None
        if region is None or (region and not REGION_RE.match(region)):
            raise ValidationFailed("region: an ISO 3166 code such as CN or CN-SH", extra={"fields": {"region": "invalid"}})
        profile.region = region
    if {"followers", "avg_engagement"} & set(data):
        if await plugin_stats(runtime, actor.user_id) is not None:
            raise ValidationFailed("your audience figures are computed from your notes and cannot be typed in", extra={"fields": {"followers": "computed"}})
        profile.followers = _int(data.get("followers", profile.followers), "followers")
        profile.avg_engagement = _int(data.get("avg_engagement", profile.avg_engagement), "avg_engagement")
        profile.engagement_rate_ppm = engagement_rate_ppm(profile.avg_engagement, profile.followers)
        profile.stats_source = StatsSource.SELF_REPORTED
        profile.stats_updated_at = utcnow()
    if "rate_currency" in data:
        try:
            profile.rate_currency = validate_currency(data["rate_currency"]) if isinstance(data["rate_currency"], str) else validate_currency("")
        except ValueError as exc:
            raise ValidationFailed("rate_currency: an ISO 4217 code such as CNY", extra={"fields": {"rate_currency": "invalid"}}) from exc
    for field in ("rate_image_minor", "rate_video_minor"):
        if field in data:
            setattr(profile, field, None if data[field] is None else _int(data[field], field, 10**13))
    if "payout_method" in data or "payout_details" in data:
        profile.payout_method, profile.payout_details = _payout(data.get("payout_method", profile.payout_method), data.get("payout_details", {}))
    if creating:
        session.add(profile)
    await session.flush()
    _changed(profile)
    await refresh_stats(session, runtime, profile)
    return profile


RATE_CURRENCIES = ("CNY", "HKD", "USD", "EUR", "JPY")  # the ones creators quote in, as the portal offers them


@dataclass(frozen=True)
class CreatorFilter:
    q: str | None = None
    tiers: Sequence[str] = ()
    category: str | None = None
    region: str | None = None
    min_followers: int | None = None
    max_followers: int | None = None
    min_engagement_ppm: int | None = None
    max_rate_image_minor: int | None = None
    rate_currency: str = "CNY"  # the unit of max_rate_image_minor: a rate in another currency never matches it
    sort: str = "followers"  # followers | engagement | newest


async def find_creators(session: AsyncSession, runtime: Runtime, f: CreatorFilter, *, limit: int = 20, offset: int = 0) -> tuple[list[tuple[CreatorProfile, str]], int]:
    """Creators for brands to discover, with their display names; and the total."""
    query = select(CreatorProfile, User.display_name).join(User, User.id == CreatorProfile.user_id)
    if f.q:
        like = f"%{f.q.strip().lower()}%"
        query = query.where(or_(CreatorProfile.handle.like(like), func.lower(CreatorProfile.bio).like(like), func.lower(User.display_name).like(like)))
    if f.tiers:
        ladder = tiers(runtime)
        unknown = set(f.tiers) - {t.name for t in ladder}
        if unknown:
            raise ValidationFailed(f"unknown tier: {', '.join(sorted(unknown))}")
        spans = []
        for i, t in enumerate(ladder):
            if t.name in f.tiers:
                upper = ladder[i + 1].min_followers if i + 1 < len(ladder) else None
                spans.append((CreatorProfile.followers >= t.min_followers) & (CreatorProfile.followers < upper) if upper is not None else CreatorProfile.followers >= t.min_followers)
        query = query.where(or_(*spans))
    if f.region:
        query = query.where(or_(CreatorProfile.region == f.region.upper(), CreatorProfile.region.like(f.region.upper() + "-%")))
    if f.min_followers is not None:
        query = query.where(CreatorProfile.followers >= f.min_followers)
    if f.max_followers is not None:
        query = query.where(CreatorProfile.followers <= f.max_followers)
    if f.min_engagement_ppm is not None:
        query = query.where(CreatorProfile.engagement_rate_ppm >= f.min_engagement_ppm)
    if f.max_rate_image_minor is not None:
        try:
            currency = validate_currency(f.rate_currency)
        except ValueError as exc:
            raise ValidationFailed("rate_currency: an ISO 4217 code such as CNY", extra={"fields": {"rate_currency": "invalid"}}) from exc
        query = query.where(CreatorProfile.rate_currency == currency, CreatorProfile.rate_image_minor <= f.max_rate_image_minor)
    if f.category:
        if session.get_bind().dialect.name == "postgresql":
            query = query.where(text("creator_profile.categories @> CAST(:category AS JSONB)").bindparams(category=json.dumps([f.category])))
        else:
            query = query.where(text("EXISTS (SELECT 1 FROM json_each(creator_profile.categories) WHERE value = :category)").bindparams(category=f.category))
    order = {
        "followers": (CreatorProfile.followers.desc(), CreatorProfile.id),
        "engagement": (CreatorProfile.engagement_rate_ppm.desc(), CreatorProfile.id),
        "newest": (CreatorProfile.id.desc(),),
    }.get(f.sort)
    if order is None:
        raise ValidationFailed("sort is followers, engagement or newest")
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = (await session.execute(query.order_by(*order).limit(limit).offset(offset))).all()
    return [(p, name) for p, name in rows], total


# ---------------------------------------------------------------- a brand's shortlist, and its history with a creator
# Brand pages resolve the brand first (campaigns.brand_for: 404 unless the caller works
# for it); these check the caller again, without a query.

from sqlalchemy import delete  # this section's own imports
from sqlalchemy.exc import IntegrityError

from core.auth.permissions import can_act_for_brand
from core.campaigns.models import Campaign, Collaboration, CreatorShortlist

MAX_SHORTLIST_NOTE = 500


def _for_brand(actor: Actor | None, brand_id: int) -> None:
    if not can_act_for_brand(actor, brand_id):
        raise NotFound("no such brand")


async def shortlist_add(session: AsyncSession, actor: Actor | None, brand_id: int, handle: str, *, note: Any = None) -> CreatorShortlist:
    """Keep a creator on the brand's shortlist. Adding again keeps the one row (a note
    given replaces the old one), so a double click is harmless."""
    _for_brand(actor, brand_id)
    if note is not None and (not isinstance(note, str) or len(note.strip()) > MAX_SHORTLIST_NOTE):
        raise ValidationFailed(f"note: up to {MAX_SHORTLIST_NOTE} characters", extra={"fields": {"note": "invalid"}})
    profile = await profile_by_handle(session, handle)
    entry = await session.get(CreatorShortlist, (brand_id, profile.user_id))
    if entry is None:
        entry = CreatorShortlist(brand_id=brand_id, creator_user_id=profile.user_id, note=(note or "").strip(), created_at=utcnow())
        try:
            async with session.begin_nested():  # a double click racing this one: the primary key decides
                session.add(entry)
        except IntegrityError:
            entry = await session.get(CreatorShortlist, (brand_id, profile.user_id), populate_existing=True)
            assert entry is not None
    if note is not None:
        entry.note = note.strip()
    await session.flush()
    return entry


async def shortlist_remove(session: AsyncSession, actor: Actor | None, brand_id: int, handle: str) -> bool:
    """Take a creator off the shortlist; False if they were not on it (removing twice is harmless)."""
    _for_brand(actor, brand_id)
    profile = await profile_by_handle(session, handle)
    gone = await session.execute(delete(CreatorShortlist).where(CreatorShortlist.brand_id == brand_id, CreatorShortlist.creator_user_id == profile.user_id))
    return gone.rowcount > 0


async def shortlist_list(
    session: AsyncSession, actor: Actor | None, brand_id: int, *, limit: int = 100, offset: int = 0, user_id: int | None = None
) -> list[tuple[CreatorShortlist, CreatorProfile, str]]:
    """The brand's shortlist (or its entry for one creator), newest first, with each
    creator's profile and display name."""
    _for_brand(actor, brand_id)
    query = (
        select(CreatorShortlist, CreatorProfile, User.display_name)
        .join(CreatorProfile, CreatorProfile.user_id == CreatorShortlist.creator_user_id)
        .join(User, User.id == CreatorShortlist.creator_user_id)
        .where(CreatorShortlist.brand_id == brand_id)
    )
    if user_id is not None:
        query = query.where(CreatorShortlist.creator_user_id == user_id)
    rows = await session.execute(query.order_by(CreatorShortlist.created_at.desc(), CreatorShortlist.creator_user_id).limit(limit).offset(offset))
    return [(entry, profile, name or "") for entry, profile, name in rows.all()]


async def shortlisted_among(session: AsyncSession, actor: Actor | None, brand_id: int, user_ids: Sequence[int]) -> set[int]:
    """Which of these creators are on the brand's shortlist (one query for a page of results)."""
    _for_brand(actor, brand_id)
    if not user_ids:
        return set()
    query = select(CreatorShortlist.creator_user_id).where(CreatorShortlist.brand_id == brand_id, CreatorShortlist.creator_user_id.in_(list(user_ids)))
    return set((await session.execute(query)).scalars())


async def history_with_brand(session: AsyncSession, actor: Actor | None, brand_id: int, user_id: int, *, limit: int = 50) -> list[tuple[Collaboration, Campaign]]:
    """A creator's collaborations in this brand's campaigns only, newest first: what the
    brand may know of them (never another brand's)."""
    _for_brand(actor, brand_id)
    rows = await session.execute(
        select(Collaboration, Campaign)
        .join(Campaign, Campaign.id == Collaboration.campaign_id)
        .where(Campaign.brand_id == brand_id, Collaboration.creator_user_id == user_id)
        .order_by(Collaboration.id.desc())
        .limit(limit)
    )
    return [(collab, campaign) for collab, campaign in rows.all()]

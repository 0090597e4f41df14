"""The `creators` search index: creator profiles as brands look for them (handle, bio,
categories; tier, followers, engagement rate, region and rate card as filters). Private
parts of a profile (payout details) never reach a document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from core.search.base import SearchIndex, Sort

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.campaigns.models import CreatorProfile
    from core.runtime import Runtime


async def load_creators(session: AsyncSession, runtime: Runtime, ids: list[str]) -> Mapping[str, tuple[CreatorProfile, str, str]]:
    """user id -> (profile, tier, display name)."""
    from core.auth.models import User
    from core.campaigns.models import CreatorProfile
    from core.campaigns.profiles import tier_of

    wanted = [int(i) for i in ids if i.isdigit()]
    if not wanted:
        return {}
    rows = (await session.execute(
        select(CreatorProfile, User.display_name).join(User, User.id == CreatorProfile.user_id).where(CreatorProfile.user_id.in_(wanted))
    )).all()  # fmt: skip
    return {str(p.user_id): (p, tier_of(runtime, p.followers), name or "") for p, name in rows}


async def creator_ids(session: AsyncSession, runtime: Runtime, after: str | None, limit: int) -> list[str]:
    from core.campaigns.models import CreatorProfile

    query = select(CreatorProfile.user_id).order_by(CreatorProfile.user_id).limit(limit)
    if after is not None:
        query = query.where(CreatorProfile.user_id > int(after))
    return [str(i) for i in (await session.execute(query)).scalars()]


def creator_document(obj: tuple[CreatorProfile, str, str]) -> dict[str, Any]:
    profile, tier, name = obj
    categories = [str(c) for c in profile.categories or []]
    return {
        "version": int(profile.updated_at.timestamp() * 1_000_000),
        "handle": profile.handle,
        "name": name,
        "categories_text": " ".join(categories),
        "bio": profile.bio,
        "tier": tier,
        "categories": categories,
        "region": profile.region or "",
        "followers": profile.followers,
        "engagement_rate_ppm": profile.engagement_rate_ppm,
        "rate_image": profile.rate_image_minor if profile.rate_image_minor is not None else 0,
        "rate_video": profile.rate_video_minor if profile.rate_video_minor is not None else 0,
        "rate_currency": profile.rate_currency,
        "stats_source": profile.stats_source,
        "avg_engagement": profile.avg_engagement,
    }


CREATORS = SearchIndex(
    name="creators",
    searchable=("handle", "name", "categories_text", "bio"),
    filterable={
        "tier": "keyword", "categories": "keywords", "region": "keyword", "followers": "int", "engagement_rate_ppm": "int",
        "rate_image": "int", "rate_video": "int",
    },
    sortable=("followers", "engagement_rate_ppm", "rate_image"),
    sorts={"followers": Sort("followers"), "engagement": Sort("engagement_rate_ppm"), "rate_asc": Sort("rate_image", descending=False)},
    ranking=(("followers", True),),
    browse="followers",
    facets=("tier", "categories", "region"),
    ranges=("followers", "engagement_rate_ppm", "rate_image", "rate_video"),
    suggest="handle",
    load=load_creators,
    ids=creator_ids,
    events={"creator.changed": lambda payload: payload.get("ids", ())},
)

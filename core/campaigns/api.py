"""Campaigns JSON API under /api/v1: creator profiles (more to come with campaigns)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from litestar import Controller, Request, get, put
from litestar.params import Parameter

from core.auth.permissions import Actor, require_role
from core.campaigns import profiles
from core.campaigns.models import CreatorProfile
from core.campaigns.schemas import CreatorOut, CreatorPage, CreatorProfileIn, MyCreatorProfileOut
from core.errors import NotFound
from core.web import login_required, strict_body

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
FilterText = Annotated[str | None, Parameter(max_length=120)]
Count = Annotated[int | None, Parameter(ge=0, le=10**10)]


def creator_out(runtime: Runtime, p: CreatorProfile, display_name: str) -> CreatorOut:
    return CreatorOut(
        handle=p.handle, display_name=display_name, bio=p.bio, categories=list(p.categories or []), region=p.region,
        tier=profiles.tier_of(runtime, p.followers), followers=p.followers, avg_engagement=p.avg_engagement,
        engagement_rate_ppm=p.engagement_rate_ppm, stats_source=p.stats_source, stats_updated_at=p.stats_updated_at,
        rate_currency=p.rate_currency, rate_image_minor=p.rate_image_minor, rate_video_minor=p.rate_video_minor,
    )


async def _display_name(session: AsyncSession, user_id: int) -> str:
    from core.auth.models import User

    user = await session.get(User, user_id)
    return user.display_name if user else ""


class CreatorController(Controller):
    path = "/creators"
    tags = ["creators"]

    @get("/")
    async def list_creators(
        self,
        session: AsyncSession,
        runtime: Runtime,
        q: FilterText = None,
        tier: Annotated[list[str] | None, Parameter(max_items=10)] = None,
        category: FilterText = None,
        region: FilterText = None,
        min_followers: Count = None,
        max_followers: Count = None,
        min_engagement_ppm: Count = None,
        max_rate_image_minor: Count = None,
        rate_currency: Annotated[str, Parameter(min_length=3, max_length=3)] = "CNY",
        sort: Literal["followers", "engagement", "newest"] = "followers",
        limit: Limit = 20,
        offset: Offset = 0,
    ) -> CreatorPage:
        """Creator discovery for brands: filter by tier (repeatable), category, region (a
        country includes its provinces), follower range, engagement rate and image-note price
        (`max_rate_image_minor` in `rate_currency`: creators who quote in another currency do not match)."""
        found, total = await profiles.find_creators(
            session, runtime,
            profiles.CreatorFilter(q=q, tiers=tuple(tier or ()), category=category, region=region, min_followers=min_followers, max_followers=max_followers,
                                   min_engagement_ppm=min_engagement_ppm, max_rate_image_minor=max_rate_image_minor, rate_currency=rate_currency, sort=sort),
            limit=limit, offset=offset,
        )
        return CreatorPage(items=[creator_out(runtime, p, name) for p, name in found], total=total, limit=limit, offset=offset)

    @get("/{handle:str}")
    async def get_creator(self, handle: str, session: AsyncSession, runtime: Runtime) -> CreatorOut:
        """One creator's public card."""
        profile = await profiles.profile_by_handle(session, handle)
        return creator_out(runtime, profile, await _display_name(session, profile.user_id))


class MyCreatorProfileController(Controller):
    path = "/me/creator-profile"
    tags = ["creators"]

    @get("/", guards=[login_required])
    async def get_mine(self, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> MyCreatorProfileOut:
        """The caller's own profile, with payout details (account numbers masked); figures
        are refreshed from the plugin that computes them, if any."""
        actor = require_role(actor, "creator")
        profile = await profiles.profile_of_user(session, actor.user_id)
        if profile is None:
            raise NotFound("you have no creator profile yet; PUT one")
        profile = await profiles.refreshed_for_reading(runtime, profile)
        return _mine(runtime, profile, actor)

    @put("/", guards=[login_required])
    async def put_mine(self, data: CreatorProfileIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> MyCreatorProfileOut:
        """Create or change the caller's profile (creators only). Send only what changes;
        `handle` is needed the first time. Audience figures can be typed in only while no
        plugin computes them."""
        data = await strict_body(request, data)
        fields = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not msgspec.UNSET}
        profile = await profiles.save_profile(session, runtime, actor, fields)
        await session.commit()
        assert actor is not None
        return _mine(runtime, profile, actor)


def _mine(runtime: Runtime, profile: CreatorProfile, actor: Actor) -> MyCreatorProfileOut:
    return MyCreatorProfileOut(profile=creator_out(runtime, profile, actor.display_name), payout_method=profile.payout_method, payout_details=profiles.masked_payout(profile))


CAMPAIGN_CONTROLLERS = [CreatorController, MyCreatorProfileController]

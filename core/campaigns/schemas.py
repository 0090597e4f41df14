"""JSON shapes of the campaigns API (the stable contract; never ORM objects)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import msgspec

Handle = Annotated[str, msgspec.Meta(min_length=3, max_length=30)]
CategorySlugs = Annotated[list[Annotated[str, msgspec.Meta(max_length=40)]], msgspec.Meta(max_length=10)]
Count = Annotated[int, msgspec.Meta(ge=0, le=10**10)]
Amount = Annotated[int, msgspec.Meta(ge=0, le=10**13)]


class CreatorOut(msgspec.Struct):
    """What brands see of a creator."""

    handle: str
    display_name: str
    bio: str
    categories: list[str]
    region: str
    tier: str
    followers: int
    avg_engagement: int
    engagement_rate_ppm: int
    stats_source: str  # "self_reported", or the plugin that computed them
    stats_updated_at: datetime | None
    rate_currency: str
    rate_image_minor: int | None
    rate_video_minor: int | None


class MyCreatorProfileOut(msgspec.Struct):
    """The creator's own view: the public card plus payout details (masked)."""

    profile: CreatorOut
    payout_method: str | None
    payout_details: dict[str, str]


class CreatorPage(msgspec.Struct):
    items: list[CreatorOut]
    total: int
    limit: int
    offset: int


class CreatorProfileIn(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    handle: Handle | msgspec.UnsetType = msgspec.UNSET
    bio: Annotated[str, msgspec.Meta(max_length=1000)] | msgspec.UnsetType = msgspec.UNSET
    categories: CategorySlugs | msgspec.UnsetType = msgspec.UNSET
    region: Annotated[str, msgspec.Meta(max_length=10)] | msgspec.UnsetType = msgspec.UNSET
    followers: Count | msgspec.UnsetType = msgspec.UNSET  # self-reported only
    avg_engagement: Count | msgspec.UnsetType = msgspec.UNSET
    rate_currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)] | msgspec.UnsetType = msgspec.UNSET
    rate_image_minor: Amount | None | msgspec.UnsetType = msgspec.UNSET
    rate_video_minor: Amount | None | msgspec.UnsetType = msgspec.UNSET
    payout_method: str | None | msgspec.UnsetType = msgspec.UNSET
    payout_details: dict[str, Annotated[str, msgspec.Meta(max_length=120)]] | msgspec.UnsetType = msgspec.UNSET

"""The feed's tunables, from ZHONGCAO_FEED_* environment variables.

The feed keeps its settings in a class of its own rather than in the core's `Settings`:
a plugin adds no fields to the core. They are read once per runtime
(`feed_settings(runtime)`); tests and the offline evaluation pass their own with
`use_settings(runtime, FeedSettings(...))`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from core.runtime import Runtime


class FeedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ZHONGCAO_FEED_", extra="ignore", frozen=True)

    # -- ranking: score = quality + topic affinity + author affinity + freshness, each weighted
    weight_quality: float = Field(default=1.0, ge=0, le=100, description="Weight of the note's smoothed engagement rate.")
    weight_trend: float = Field(default=3.0, ge=0, le=100, description="Weight of popular-now (time-decayed engagement, log-scaled, relative to the most popular note).")
    weight_topic: float = Field(default=1.5, ge=0, le=100, description="Weight of the viewer's affinity to the note's topics.")
    weight_author: float = Field(default=0.5, ge=0, le=100, description="Weight of the viewer's affinity to the note's author.")
    weight_fresh: float = Field(default=0.75, ge=0, le=100, description="Weight of freshness (exponential decay with the half-life below).")
    weight_nearby: float = Field(default=1.0, ge=0, le=100, description="Weight of closeness (1 at the viewer's location, 0 at nearby_km) when the viewer shares a location.")
    like_weight: float = Field(default=1.0, ge=0, le=100, description="A like, in the engagement rate and in the viewer's affinities.")
    collect_weight: float = Field(default=2.0, ge=0, le=100, description="A collect (save), likewise.")
    comment_weight: float = Field(default=1.5, ge=0, le=100, description="A comment, likewise.")
    prior_rate_ppm: int | None = Field(
        default=None, ge=1, le=10_000_000,
        description="Bayesian prior of the engagement rate (weighted engagements per impression), in ppm; unset: the mean rate of the notes of the last popular_days (empirical Bayes).",
    )
    prior_impressions: int = Field(default=100, ge=1, le=10**9, description="Strength of that prior, in pseudo-impressions.")
    fresh_half_life_hours: float = Field(default=72.0, gt=0, le=24 * 365, description="Freshness halves every this many hours.")
    follow_affinity: float = Field(default=2.0, ge=0, le=100, description="Author affinity a follow is worth (in weighted engagements).")
    pick_affinity: float = Field(default=3.0, ge=0, le=100, description="Topic affinity a topic picked at sign-up is worth.")
    affinity_days: int = Field(default=90, ge=1, le=3650, description="Engagements older than this do not count towards affinities.")
    affinity_events: int = Field(default=500, ge=1, le=100_000, description="At most this many recent engagements of the viewer are read.")

    # -- slots
    exploration_share_ppm: int = Field(default=150_000, ge=0, le=1_000_000, description="Share of slots given to fresh notes with few impressions (150000 = 15%).")
    fresh_days: int = Field(default=3, ge=1, le=365, description="A note is fresh for this many days after publishing.")
    fresh_max_impressions: int = Field(default=500, ge=0, le=10**9, description="...and while it has fewer impressions than this.")
    inject_every: int = Field(default=10, ge=2, le=1000, description="At most one card from another plugin (feed_candidates) in this many slots.")
    max_run: int = Field(default=2, ge=1, le=100, description="Diversity: no more than this many cards in a row from the same author or topic.")

    # -- retrieval
    batch_size: int = Field(default=100, ge=20, le=1000, description="Cards ranked at once into a feed session (the next batch is ranked when it runs out).")
    per_source: int = Field(default=200, ge=10, le=10_000, description="Candidates each retrieval channel contributes to a batch.")
    follow_days: int = Field(default=30, ge=1, le=3650, description="Followed authors' notes of the last this many days are candidates.")
    popular_days: int = Field(default=30, ge=1, le=3650, description="Popular-now looks at notes of the last this many days.")
    popular_gravity: float = Field(default=1.5, ge=0, le=10, description="Popular-now: engagement / (age in hours + 2) ** gravity.")
    popular_cache_seconds: float = Field(default=60.0, ge=0, le=86_400, description="The popular-now list is global and kept this long in process.")
    stats_cache_seconds: float = Field(
        default=30.0, ge=0, le=3600, description="A note's ranking statistics (counters, topics) are kept this long in process (0: read them for every batch)."
    )
    stats_cache_notes: int = Field(default=50_000, ge=0, le=10_000_000, description="Most notes whose statistics one process keeps.")
    nearby_km: int = Field(default=20, ge=1, le=20_000, description="Nearby: notes within this distance of the viewer's location.")
    nearby_days: int = Field(default=90, ge=1, le=3650, description="Nearby: notes of the last this many days.")
    max_topics: int = Field(default=5, ge=1, le=100, description="The viewer's strongest topics used for retrieval.")

    # -- sessions and cursors
    session_max_cards: int = Field(default=1000, ge=20, le=100_000, description="A feed session ends after this many cards (the client starts a new one).")
    session_ttl_hours: int = Field(default=24, ge=1, le=24 * 90, description="A cursor older than this answers 410: load the feed again.")
    page_max: int = Field(default=50, ge=1, le=200, description="Largest page a client may ask for.")
    picks_max: int = Field(default=20, ge=1, le=200, description="Most topics a viewer may pick at sign-up.")

    @property
    def exploration_share(self) -> float:
        return self.exploration_share_ppm / 1_000_000

    def prior_rate(self, estimated: float | None = None) -> float:
        """The configured prior, else the estimate, else 5% (no impressions logged yet)."""
        if self.prior_rate_ppm is not None:
            return self.prior_rate_ppm / 1_000_000
        return estimated if estimated else 0.05


_by_runtime: weakref.WeakKeyDictionary[object, FeedSettings] = weakref.WeakKeyDictionary()


def feed_settings(runtime: Runtime) -> FeedSettings:
    found = _by_runtime.get(runtime)
    if found is None:
        found = _by_runtime[runtime] = FeedSettings()
    return found


def use_settings(runtime: Runtime, settings: FeedSettings) -> None:
    """Replace the runtime's feed settings (tests, the offline evaluation)."""
    _by_runtime[runtime] = settings

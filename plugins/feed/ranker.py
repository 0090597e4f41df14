"""Ranking, exploration slots and the diversity re-rank: pure functions over plain data.

The online feed (plugins.feed.explore, reading the database) and the offline evaluation
(plugins.feed.evaluate, reading the interaction log as of a split time) call the same
functions, so what is measured is what is served.

score = weight_quality * quality + weight_trend * trend + weight_topic * topic
        + weight_author * author + weight_fresh * fresh (+ weight_nearby * closeness), where

- quality: the smoothed engagement rate r = (likes*wl + collects*wc + comments*wm +
  prior_rate * prior_impressions) / (impressions + prior_impressions), as r / (r + prior_rate):
  0.5 for a note at the prior, towards 1 for a note that engages far better. The prior
  rate is the mean of recent notes (empirical Bayes) unless configured;
- trend: popular now, log(1 + popularity) / log(1 + the top note's popularity), 0..1, where
  popularity = weighted engagement / (age in hours + 2) ** popular_gravity;
- topic: the viewer's affinity to the note's topics, relative to their strongest (0..1);
- author: the viewer's affinity to the author (engagements with their notes, a follow), 0..1;
- fresh: 0.5 ** (age in hours / fresh_half_life_hours);
- and, when the viewer shares a location, + weight_nearby * closeness (1 - km / nearby_km).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from plugins.feed.settings import FeedSettings

# the channel a candidate is labelled with when several retrieved it
SOURCE_ORDER = ("follow", "nearby", "topic", "popular", "fresh")


@dataclass(slots=True)
class NoteStats:
    note_id: int
    author_id: int
    published_at: datetime
    topic_ids: tuple[int, ...] = ()
    likes: int = 0
    collects: int = 0
    comments: int = 0
    impressions: int = 0


@dataclass(slots=True)
class ViewerProfile:
    """What the feed knows of a viewer: weighted affinities, follows, picks."""

    user_id: int | None
    topic_weights: dict[int, float] = field(default_factory=dict)
    author_weights: dict[int, float] = field(default_factory=dict)
    follows: set[int] = field(default_factory=set)
    picks: set[int] = field(default_factory=set)
    engaged_notes: set[int] = field(default_factory=set)  # liked, collected or commented: not served again
    engagements: int = 0
    closeness: dict[int, float] = field(default_factory=dict)  # note id -> 1 at the viewer's location .. 0 at nearby_km

    @property
    def cold(self) -> bool:
        """No engagement yet: the feed serves picked topics and popular notes."""
        return self.engagements == 0

    def top_topics(self, n: int) -> list[int]:
        return [t for t, _ in sorted(self.topic_weights.items(), key=lambda kv: (-kv[1], kv[0]))[:n]]


def build_profile(
    user_id: int | None,
    engagements: Iterable[tuple[str, int, int, Sequence[int]]],
    follows: Iterable[int],
    picks: Iterable[int],
    settings: FeedSettings,
) -> ViewerProfile:
    """`engagements`: (kind like|collect|comment, note id, author id, topic ids) of the viewer."""
    weight = {"like": settings.like_weight, "collect": settings.collect_weight, "comment": settings.comment_weight}
    profile = ViewerProfile(user_id=user_id, follows=set(follows), picks=set(picks))
    for kind, note_id, author_id, topic_ids in engagements:
        w = weight[kind]
        profile.engagements += 1
        profile.engaged_notes.add(note_id)
        profile.author_weights[author_id] = profile.author_weights.get(author_id, 0.0) + w
        for t in topic_ids:
            profile.topic_weights[t] = profile.topic_weights.get(t, 0.0) + w
    for author_id in profile.follows:
        profile.author_weights[author_id] = profile.author_weights.get(author_id, 0.0) + settings.follow_affinity
    for t in profile.picks:
        profile.topic_weights[t] = profile.topic_weights.get(t, 0.0) + settings.pick_affinity
    return profile


@dataclass(slots=True)
class Scored:
    stats: NoteStats
    source: str
    score: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)


def engagement(stats: NoteStats, s: FeedSettings) -> float:
    return s.like_weight * stats.likes + s.collect_weight * stats.collects + s.comment_weight * stats.comments


def age_hours(stats: NoteStats, now: datetime) -> float:
    return max(0.0, (now - stats.published_at).total_seconds() / 3600)


def popularity(stats: NoteStats, now: datetime, s: FeedSettings) -> float:
    """Popular now: engagement decayed by age (the baseline's and the channel's order)."""
    return engagement(stats, s) / (age_hours(stats, now) + 2.0) ** s.popular_gravity


def mean_rate(notes: Iterable[NoteStats], s: FeedSettings) -> float | None:
    """Weighted engagements per impression over `notes` (the empirical prior), None without impressions."""
    engaged = impressions = 0.0
    for st in notes:
        engaged += engagement(st, s)
        impressions += st.impressions
    return engaged / impressions if impressions else None


@dataclass(slots=True, frozen=True)
class Context:
    """What scoring needs to know of the catalogue as a whole (the same for every viewer)."""

    prior: float | None = None  # the mean engagement rate of recent notes (used unless prior_rate_ppm is set)
    top_popularity: float = 0.0  # the popularity of the most popular note now (trend is relative to it)


def score(
    stats: NoteStats, profile: ViewerProfile, now: datetime, s: FeedSettings, ctx: Context = Context(), tops: tuple[float, float] | None = None
) -> tuple[float, dict[str, float]]:
    """The score and its parts. `tops` (the viewer's strongest topic and author weights)
    may be given by a caller scoring many notes for one viewer: they are the same for all."""
    prior_rate = s.prior_rate(ctx.prior)
    engaged = engagement(stats, s)
    rate = (engaged + prior_rate * s.prior_impressions) / (stats.impressions + s.prior_impressions)
    quality = rate / (rate + prior_rate)
    top_topic, top_author = tops if tops is not None else viewer_tops(profile)
    topic = 0.0
    if top_topic:
        weights = profile.topic_weights
        for t in stats.topic_ids:
            topic += weights.get(t, 0.0)
        topic = min(1.0, topic / top_topic)
    author = min(1.0, profile.author_weights.get(stats.author_id, 0.0) / top_author) if top_author else 0.0
    age = age_hours(stats, now)
    fresh = 0.5 ** (age / s.fresh_half_life_hours)
    # popularity(stats, now, s), with the engagement and age already at hand
    trend = min(1.0, math.log1p(engaged / (age + 2.0) ** s.popular_gravity) / math.log1p(ctx.top_popularity)) if ctx.top_popularity > 0 else 0.0
    parts = {
        "quality": s.weight_quality * quality,
        "trend": s.weight_trend * trend,
        "topic": s.weight_topic * topic,
        "author": s.weight_author * author,
        "fresh": s.weight_fresh * fresh,
    }
    if profile.closeness:
        parts["nearby"] = s.weight_nearby * profile.closeness.get(stats.note_id, 0.0)
    return sum(parts.values()), parts


def viewer_tops(profile: ViewerProfile) -> tuple[float, float]:
    return max(profile.topic_weights.values(), default=0.0), max(profile.author_weights.values(), default=0.0)


def rank(candidates: dict[int, str], stats: dict[int, NoteStats], profile: ViewerProfile, now: datetime, s: FeedSettings, ctx: Context = Context()) -> list[Scored]:
    """Score every candidate (note id -> the channel that found it), best first (ties: newer id)."""
    out = []
    tops = viewer_tops(profile)
    for note_id, source in candidates.items():
        st = stats.get(note_id)
        if st is None:
            continue
        total, parts = score(st, profile, now, s, ctx, tops)
        out.append(Scored(st, source, total, parts))
    out.sort(key=lambda c: (-c.score, -c.stats.note_id))
    return out


def is_exploration_slot(position: int, share_ppm: int) -> bool:
    """Exactly floor(n * share) of the first n slots, spread evenly (15%: 6, 13, 19, 26, ...)."""
    return (position + 1) * share_ppm // 1_000_000 > position * share_ppm // 1_000_000


def is_injection_slot(position: int, every: int) -> bool:
    """The 4th card, then every `every` cards after it (3, 13, 23, ... for 10)."""
    return position >= 3 and (position - 3) % every == 0


@dataclass(slots=True)
class Placed:
    """A card placed in the sequence: a note (`scored`) or another plugin's card (`card`)."""

    source: str
    scored: Scored | None = None
    card: Any = None  # plugins.feed.cards.FeedCard
    author_id: int | None = None
    topic_ids: tuple[int, ...] = ()
    relaxed: bool = False  # the diversity rule could not be met here


def _breaks_run(author_id: int, topic_ids: tuple[int, ...], history: list[Placed], max_run: int) -> bool:
    """True if placing this note would make more than `max_run` in a row share an author or a topic."""
    if len(history) < max_run:
        return False
    last = history[-max_run:]
    if all(h.author_id == author_id for h in last):
        return True
    shared = set(topic_ids)
    for h in last:
        shared &= set(h.topic_ids)
        if not shared:
            return False
    return bool(shared)


def _take(queue: list[Scored], history: list[Placed], max_run: int, taken: set[int], window: int = 60) -> Scored | None:
    """The best candidate that keeps the diversity rule (within `window`), skipping and
    dropping notes already placed from the other queue."""
    i = 0
    while i < len(queue) and i < window:
        cand = queue[i]
        if cand.stats.note_id in taken:
            del queue[i]
            continue
        if not _breaks_run(cand.stats.author_id, cand.stats.topic_ids, history, max_run):
            return queue.pop(i)
        i += 1
    return None


def _pop_untaken(queue: list[Scored], taken: set[int]) -> Scored | None:
    while queue:
        cand = queue.pop(0)
        if cand.stats.note_id not in taken:
            return cand
    return None


def arrange(
    ranked: list[Scored],
    fresh: list[Scored],
    injected: list[tuple[str, Any]],
    *,
    n: int,
    start: int,
    history: list[Placed],
    s: FeedSettings,
) -> list[Placed]:
    """Fill up to `n` slots from position `start`: injected cards at their slots,
    exploration (fresh notes) at its share of slots, ranked notes elsewhere, each time
    the best that keeps the diversity rule. `history` is what the session placed last
    (its tail matters for the rule) and is extended in place."""
    ranked, fresh, injected = list(ranked), list(fresh), list(injected)
    placed: list[Placed] = []
    # a note both channels found is placed once: the other queue skips it when it comes up
    taken: set[int] = set()
    position = start
    while len(placed) < n and (ranked or fresh or injected):
        if injected and is_injection_slot(position, s.inject_every):
            source, card = injected.pop(0)
            item = Placed(source=source, card=card)
        else:
            first, second = (fresh, ranked) if is_exploration_slot(position, s.exploration_share_ppm) else (ranked, fresh)
            relaxed = False
            chosen = _take(first, history, s.max_run, taken) or _take(second, history, s.max_run, taken)
            if chosen is None:  # every remaining card would break the rule (or none is left): keep the feed going
                chosen = _pop_untaken(first, taken) or _pop_untaken(second, taken)
                relaxed = chosen is not None
            if chosen is None:
                if not injected:
                    break
                source, card = injected.pop(0)
                item = Placed(source=source, card=card)
            else:
                taken.add(chosen.stats.note_id)
                item = Placed(source=chosen.source, scored=chosen, author_id=chosen.stats.author_id, topic_ids=chosen.stats.topic_ids, relaxed=relaxed)
        placed.append(item)
        history.append(item)
        position += 1
    return placed


def exploration_pool(notes: Iterable[NoteStats], seed: int) -> list[Scored]:
    """Fresh notes in a random order (reproducible with the seed)."""
    pool = sorted(notes, key=lambda st: st.note_id)
    random.Random(seed).shuffle(pool)
    return [Scored(st, "fresh") for st in pool]


def ndcg_at(recommended: Sequence[int], relevant: set[int], k: int) -> float:
    dcg = sum(1.0 / math.log2(i + 2) for i, item in enumerate(recommended[:k]) if item in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return dcg / ideal if ideal else 0.0

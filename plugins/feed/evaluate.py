"""Offline evaluation of the explore ranker: `zhongcao feed evaluate`.

The dataset is the interaction log (likes, collects, comments, impressions, follows,
topic picks) with a time split: the split time T is the `split` quantile of engagement
times. Everything before T is what the feed knows; the likes, collects and comments at
or after T on notes published before T, by users who had not engaged with those notes
before, are what it should have recommended.

For each evaluated user, each method recommends 20 notes at T among the notes
published before T that are still public, never the user's own nor ones they engaged
with before T:

- **explore ranker**: the online pipeline (plugins.feed.ranker: the retrieval channels
  follow/topic/popular/fresh/recent, scoring, exploration slots, diversity), fed with the
  statistics as of T; the channels are re-implemented over the in-memory log with the
  online ones' rules and limits (see `MemoryChannels`);
- **ranker without exploration**: the same with the exploration share set to 0 (what
  the ranking itself is worth);
- **popularity**: time-decayed engagement at T (the "popular now" order), the same for
  everyone;
- **random**: a uniform sample.

Metrics: recall@20 and NDCG@20 (binary relevance) averaged over users, and catalog
coverage (distinct notes recommended / notes that could be recommended).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from plugins.feed.ranker import (
    Context,
    NoteStats,
    ViewerProfile,
    arrange,
    build_profile,
    exploration_pool,
    mean_rate,
    ndcg_at,
    popularity,
    rank,
    score,
)
from plugins.feed.settings import FeedSettings

if TYPE_CHECKING:
    from core.runtime import Runtime

K = 20


@dataclass
class Event:
    kind: str  # like | collect | comment
    user_id: int
    note_id: int
    at: datetime


@dataclass
class Log:
    notes: dict[int, tuple[int, datetime, tuple[int, ...]]]  # id -> author, published_at, topics
    events: list[Event]
    impressions: list[tuple[int, int, int, datetime]]  # user, note, count, first_at
    follows: list[tuple[int, int, datetime]]  # follower, followee, at
    picks: dict[int, set[int]]


async def load_log(runtime: Runtime) -> Log:
    from plugins.feed.models import TopicPick
    from plugins.notes.models import (
        Collect,
        Comment,
        CommentStatus,
        Follow,
        Impression,
        Like,
        Note,
        NoteTopic,
    )
    from plugins.notes.notes import readable_by_anyone

    async with runtime.db.read_session() as s:
        notes_rows = (await s.execute(
            select(Note.id, Note.author_user_id, Note.published_at).where(readable_by_anyone(), Note.published_at.is_not(None))
        )).all()  # fmt: skip
        topics: dict[int, list[int]] = {}
        for nid, tid in (await s.execute(select(NoteTopic.note_id, NoteTopic.topic_id))).all():
            topics.setdefault(nid, []).append(tid)
        notes = {r.id: (r.author_user_id, r.published_at, tuple(sorted(topics.get(r.id, ())))) for r in notes_rows}
        events = [Event("like", u, n, at) for u, n, at in (await s.execute(select(Like.user_id, Like.note_id, Like.created_at))).all()]
        events += [Event("collect", u, n, at) for u, n, at in (await s.execute(select(Collect.user_id, Collect.note_id, Collect.created_at))).all()]
        events += [
            Event("comment", u, n, at)
            for u, n, at in (await s.execute(select(Comment.author_user_id, Comment.note_id, Comment.created_at).where(Comment.status == CommentStatus.VISIBLE))).all()
        ]
        impressions = [tuple(r) for r in (await s.execute(select(Impression.user_id, Impression.note_id, Impression.count, Impression.first_at))).all()]
        follows = [tuple(r) for r in (await s.execute(select(Follow.follower_user_id, Follow.followee_user_id, Follow.created_at))).all()]
        picks: dict[int, set[int]] = {}
        for u, t in (await s.execute(select(TopicPick.user_id, TopicPick.topic_id))).all():
            picks.setdefault(u, set()).add(t)
    events = [e for e in events if e.note_id in notes]
    events.sort(key=lambda e: e.at)
    return Log(notes=notes, events=events, impressions=impressions, follows=follows, picks=picks)  # type: ignore[arg-type]


class MemoryChannels:
    """The online retrieval channels (plugins.feed.retrieval.Channels) over the in-memory
    log at time T: same rules, same limits, no database."""

    def __init__(self, stats: dict[int, NoteStats], now: datetime, s: FeedSettings) -> None:
        self.stats, self.now, self.s = stats, now, s
        self.newest = sorted(stats.values(), key=lambda st: (st.published_at, st.note_id), reverse=True)
        self.by_topic: dict[int, list[NoteStats]] = {}
        self.by_author: dict[int, list[NoteStats]] = {}
        for st in self.newest:
            for t in st.topic_ids:
                self.by_topic.setdefault(t, []).append(st)
            self.by_author.setdefault(st.author_id, []).append(st)
        since = now - timedelta(days=s.popular_days)
        weighted = sorted(
            (st for st in self.newest if st.published_at >= since),
            key=lambda st: (-(st.likes * s.like_weight + st.collects * s.collect_weight + st.comments * s.comment_weight), -st.note_id),
        )[: max(1000, s.per_source * 5)]
        self.popular = sorted(weighted, key=lambda st: (-popularity(st, now, s), -st.note_id))[: s.per_source * 3]
        self.ctx = Context(prior=mean_rate((st for st in self.newest if st.published_at >= since), s), top_popularity=popularity(self.popular[0], now, s) if self.popular else 0.0)
        fresh_since = now - timedelta(days=s.fresh_days)
        self.fresh_all = [st for st in self.newest if st.published_at >= fresh_since and st.impressions < s.fresh_max_impressions]

    def _take(self, seq: Iterable[NoteStats], skip: Callable[[NoteStats], bool]) -> list[int]:
        return self._take_n(seq, skip, self.s.per_source)

    @staticmethod
    def _take_n(seq: Iterable[NoteStats], skip: Callable[[NoteStats], bool], n: int) -> list[int]:
        out = []
        for st in seq:
            if not skip(st):
                out.append(st.note_id)
                if len(out) >= n:
                    break
        return out

    def channels(self, profile: ViewerProfile) -> tuple[dict[str, list[int]], list[int]]:
        own = profile.user_id

        def skip(st: NoteStats) -> bool:
            return st.author_id == own

        follow_since = self.now - timedelta(days=self.s.follow_days)
        followed = sorted(
            (st for a in profile.follows for st in self.by_author.get(a, ()) if st.published_at >= follow_since),
            key=lambda st: (st.published_at, st.note_id), reverse=True,
        )
        tops = profile.top_topics(self.s.max_topics)
        per_topic = max(20, self.s.per_source // len(tops)) if tops else 0
        by_id_desc = {t: sorted(self.by_topic.get(t, ()), key=lambda st: -st.note_id) for t in tops}
        in_topics = list({i: None for t in tops for i in self._take_n(by_id_desc[t], skip, per_topic)})
        found = {
            "follow": self._take(followed, skip),
            "topic": in_topics[: self.s.per_source],
            "recent": self._take(self.newest, skip),
            "popular": self._take(self.popular, lambda st: skip(st) or st.note_id in profile.engaged_notes),
        }
        return found, self._take(self.fresh_all, skip)


def recommend_ranker(mc: MemoryChannels, profile: ViewerProfile, s: FeedSettings, seed: int) -> list[int]:
    from plugins.feed.ranker import SOURCE_ORDER

    found, fresh_ids = mc.channels(profile)
    candidates: dict[int, str] = {}
    for source in (*SOURCE_ORDER, "recent"):
        for note_id in found.get(source, ()):
            if note_id not in profile.engaged_notes:
                candidates.setdefault(note_id, source)
    ranked = rank(candidates, mc.stats, profile, mc.now, s, mc.ctx)
    pool = exploration_pool([mc.stats[i] for i in fresh_ids if i not in profile.engaged_notes], seed)
    for c in pool:
        c.score, c.parts = score(c.stats, profile, mc.now, s, mc.ctx)
    placed = arrange(ranked, pool, [], n=K, start=0, history=[], s=s)
    return [p.scored.stats.note_id for p in placed if p.scored is not None]


@dataclass
class MethodResult:
    name: str
    recall: float = 0.0
    ndcg: float = 0.0
    coverage: float = 0.0
    recommended: set[int] = field(default_factory=set)


@dataclass
class Report:
    split_at: datetime
    train_events: int
    test_events: int
    users: int
    catalog: int
    methods: list[MethodResult]
    seconds: float

    def table(self) -> str:
        lines = [f"{'method':<28} {'recall@20':>10} {'NDCG@20':>10} {'coverage':>10}"]
        for m in self.methods:
            lines.append(f"{m.name:<28} {m.recall:>10.4f} {m.ndcg:>10.4f} {m.coverage:>10.4f}")
        return "\n".join(lines)

    def by_name(self, name: str) -> MethodResult:
        return next(m for m in self.methods if m.name == name)


def _unseen(seq: list[int], excluded: set[int], stats: dict[int, NoteStats], user_id: int) -> list[int]:
    """The first K of `seq` the user neither wrote nor engaged with before T."""
    return [i for i in seq if i not in excluded and stats[i].author_id != user_id][:K]


def evaluate_log(log: Log, s: FeedSettings, *, split: float = 0.8, max_users: int = 500, seed: int = 7) -> Report:
    started = time.perf_counter()
    if not log.events:
        raise ValueError("the interaction log is empty: run `zhongcao feed generate` first, or wait for real engagement")
    if not 0 < split < 1:
        raise ValueError("split must lie strictly between 0 and 1")
    t_split = log.events[min(len(log.events) - 1, int(len(log.events) * split))].at
    train = [e for e in log.events if e.at < t_split]
    test = [e for e in log.events if e.at >= t_split]

    # statistics as of T
    stats: dict[int, NoteStats] = {
        nid: NoteStats(note_id=nid, author_id=a, published_at=p, topic_ids=t) for nid, (a, p, t) in log.notes.items() if p < t_split
    }
    for e in train:
        st = stats.get(e.note_id)
        if st is not None:
            if e.kind == "like":
                st.likes += 1
            elif e.kind == "collect":
                st.collects += 1
            else:
                st.comments += 1
    for _u, nid, count, first_at in log.impressions:
        st = stats.get(nid)
        if st is not None and first_at < t_split:
            st.impressions += count

    since = t_split - timedelta(days=s.affinity_days)
    acts: dict[int, list[Event]] = {}
    for e in train:
        acts.setdefault(e.user_id, []).append(e)
    follows: dict[int, set[int]] = {}
    for a, b, at in log.follows:
        if at < t_split:
            follows.setdefault(a, set()).add(b)
    before = {u: {e.note_id for e in evs} for u, evs in acts.items()}
    relevant: dict[int, set[int]] = {}
    for e in test:
        if e.note_id in stats and e.note_id not in before.get(e.user_id, ()) and stats[e.note_id].author_id != e.user_id:
            relevant.setdefault(e.user_id, set()).add(e.note_id)
    users = sorted(relevant)
    rng = random.Random(seed)
    if len(users) > max_users:
        users = sorted(rng.sample(users, max_users))

    mc = MemoryChannels(stats, t_split, s)
    no_explore = s.model_copy(update={"exploration_share_ppm": 0})
    popular_all = sorted(stats.values(), key=lambda st: (-popularity(st, t_split, s), -st.note_id))
    catalog = list(stats)
    methods = {name: MethodResult(name) for name in ("explore ranker", "ranker without exploration", "popularity", "random")}
    for u in users:
        recent = [e for e in reversed(acts.get(u, [])) if e.at >= since][: s.affinity_events]
        profile = build_profile(u, ((e.kind, e.note_id, stats[e.note_id].author_id, stats[e.note_id].topic_ids) for e in recent if e.note_id in stats), follows.get(u, ()), log.picks.get(u, ()), s)
        profile.engaged_notes |= before.get(u, set())  # never recommend what they engaged with before T
        excluded = profile.engaged_notes

        recs = {
            "explore ranker": recommend_ranker(mc, profile, s, seed + u),
            "ranker without exploration": recommend_ranker(mc, profile, no_explore, seed + u),
            "popularity": _unseen([st.note_id for st in popular_all[: K + len(excluded) + 50]], excluded, stats, u),
            "random": _unseen(rng.sample(catalog, min(len(catalog), K + len(excluded) + 50)), excluded, stats, u),
        }
        rel = relevant[u]
        for name, rec in recs.items():
            m = methods[name]
            m.recall += len(set(rec[:K]) & rel) / len(rel)
            m.ndcg += ndcg_at(rec, rel, K)
            m.recommended.update(rec[:K])
    n = max(1, len(users))
    for m in methods.values():
        m.recall /= n
        m.ndcg /= n
        m.coverage = len(m.recommended) / len(catalog) if catalog else 0.0
    return Report(
        split_at=t_split, train_events=len(train), test_events=len(test), users=len(users), catalog=len(catalog),
        methods=list(methods.values()), seconds=time.perf_counter() - started,
    )


async def evaluate(runtime: Runtime, s: FeedSettings, *, split: float = 0.8, max_users: int = 500, seed: int = 7) -> Report:
    return evaluate_log(await load_log(runtime), s, split=split, max_users=max_users, seed=seed)

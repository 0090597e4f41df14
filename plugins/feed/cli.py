"""`zhongcao feed explain|generate|evaluate` (registered by register_cli_commands)."""

from __future__ import annotations

import asyncio
import sys

import click


def _runtime():
    from core.cli import _runtime as core_runtime

    return core_runtime()


def _run(runtime, coro):
    from core.cli import _with_dispose

    return asyncio.run(_with_dispose(runtime, coro))


@click.group("feed")
def feed() -> None:
    """The explore feed: explain a viewer's cards, generate synthetic data, evaluate the ranker."""


async def _find_user(runtime, who: str) -> tuple[int, str]:
    from sqlalchemy import select

    from core.auth.models import User

    async with runtime.db.read_session() as session:
        if who.isdigit():
            user = await session.get(User, int(who))
        else:
            user = (await session.execute(select(User).where(User.email == who.strip().lower()))).scalar_one_or_none()
    if user is None:
        raise click.ClickException(f"no user {who!r} (give an email or a user id)")
    return user.id, user.email


@feed.command("explain")
@click.argument("user")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 200))
@click.option("--lat", type=float, default=None, help="the viewer's latitude, to include nearby notes")
@click.option("--lng", type=float, default=None)
def explain_cmd(user: str, limit: int, lat: float | None, lng: float | None) -> None:
    """Show which cards USER (an email or id; 'anonymous' for a logged-out viewer) would
    get on a fresh explore feed, and why: the channel that found each, its score parts,
    and where the diversity rule had to give way. Nothing is written."""
    from plugins.feed.explore import explain
    from plugins.feed.retrieval import notes_enabled
    from plugins.feed.settings import feed_settings

    runtime = _runtime()
    if not notes_enabled(runtime):
        raise click.ClickException("the notes plugin is disabled: the feed is empty")

    async def go():
        viewer_id, label = (None, "anonymous") if user == "anonymous" else await _find_user(runtime, user)
        return label, await explain(runtime, viewer_id, limit=limit, lat=lat, lng=lng)

    label, found = _run(runtime, go())
    profile, s = found.profile, feed_settings(runtime)
    click.echo(f"explore feed for {label}: {'cold start (no engagement yet)' if profile.cold else f'{profile.engagements} recent engagements'}")
    top = ", ".join(f"{t}:{w:g}" for t, w in sorted(profile.topic_weights.items(), key=lambda kv: -kv[1])[:8]) or "-"
    click.echo(f"  topic affinities (topic id:weight): {top}")
    click.echo(f"  follows {len(profile.follows)}, picked topics {sorted(profile.picks) or '-'}")
    click.echo("  candidates per channel: " + ", ".join(f"{k} {v}" for k, v in found.channel_sizes.items()))
    click.echo(
        f"  weights: quality {s.weight_quality:g}, trend {s.weight_trend:g}, topic {s.weight_topic:g}, author {s.weight_author:g}, fresh {s.weight_fresh:g}"
        f"{f', nearby {s.weight_nearby:g}' if profile.closeness else ''}; engagement-rate prior {found.prior_rate:.4f} "
        f"({found.prior_source}); exploration {s.exploration_share_ppm / 10_000:g}% of slots"
    )
    columns = ["quality", "trend", "topic", "author", "fresh"] + (["nearby"] if profile.closeness else [])
    click.echo(f"{'#':>3} {'kind':<6} {'ref':>8} {'source':<8} {'score':>6} " + " ".join(f"{c:>7}" for c in columns) + "  title / author / topics")
    for r in found.cards:
        nums = " ".join(f"{r.parts.get(c, 0):>7.3f}" for c in columns) if r.score is not None else " ".join(f"{'-':>7}" for _ in columns)
        total = f"{r.score:>6.3f}" if r.score is not None else f"{'-':>6}"
        note = " (diversity rule relaxed)" if r.relaxed else ""
        click.echo(f"{r.position + 1:>3} {r.kind:<6} {r.ref:>8} {r.source:<8} {total} {nums}  {r.title} / {r.author} / {list(r.topics)}{note}")
    if not found.cards:
        click.echo("  (no cards: no published public notes)")


@feed.command("generate")
@click.option("--users", default=300, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--creators", default=40, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--topics", default=12, show_default=True, type=click.IntRange(1, 20))
@click.option("--notes", default=1500, show_default=True, type=click.IntRange(1, 10_000_000))
@click.option("--views", default=120, show_default=True, type=click.IntRange(1, 100_000), help="notes each user sees")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3650))
@click.option("--seed", default=7, show_default=True, type=int)
def generate_cmd(users: int, creators: int, topics: int, notes: int, views: int, days: int, seed: int) -> None:
    """Write SYNTHETIC users, notes and interactions with planted user-topic preferences
    into the database (for `zhongcao feed evaluate`; see docs/feed.md). Not real data."""
    from plugins.feed.retrieval import notes_enabled
    from plugins.feed.synthetic import generate

    runtime = _runtime()
    if not notes_enabled(runtime):
        raise click.ClickException("the notes plugin is disabled: its tables hold the interaction log")
    g = _run(runtime, generate(runtime, users=users, creators=creators, topics=topics, notes=notes, views=views, days=days, seed=seed))
    click.echo(
        f"synthetic run {g.run}: {g.users} users, {g.creators} creators, {g.topics} topics, {g.notes} notes, "
        f"{g.impressions} impressions, {g.likes} likes, {g.collects} collects, {g.comments} comments, {g.follows} follows"
    )


@feed.command("evaluate")
@click.option("--split", default=0.8, show_default=True, type=click.FloatRange(0.05, 0.95, min_open=False), help="time split: this quantile of engagement times")
@click.option("--max-users", default=500, show_default=True, type=click.IntRange(1, 1_000_000))
@click.option("--seed", default=7, show_default=True, type=int)
def evaluate_cmd(split: float, max_users: int, seed: int) -> None:
    """Recall@20, NDCG@20 and catalog coverage of the explore ranker against a
    popularity and a random baseline, on the interaction log with a time split."""
    from plugins.feed.evaluate import evaluate
    from plugins.feed.retrieval import notes_enabled
    from plugins.feed.settings import feed_settings

    runtime = _runtime()
    if not notes_enabled(runtime):
        raise click.ClickException("the notes plugin is disabled: its tables hold the interaction log")
    try:
        report = _run(runtime, evaluate(runtime, feed_settings(runtime), split=split, max_users=max_users, seed=seed))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"split at {report.split_at.isoformat(timespec='seconds')}: {report.train_events} engagements before, {report.test_events} after")
    click.echo(f"{report.users} users evaluated, catalog of {report.catalog} notes, {report.seconds:.1f} s")
    click.echo(report.table())
    ranker, popular = report.by_name("explore ranker"), report.by_name("popularity")
    verdict = "beats" if ranker.ndcg > popular.ndcg else "does NOT beat"
    click.echo(f"explore ranker {verdict} popularity on NDCG@20 ({ranker.ndcg:.4f} vs {popular.ndcg:.4f})")
    sys.stdout.flush()

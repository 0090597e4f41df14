"""Offline evaluation of the explore ranker on SYNTHETIC data, on fresh SQLite databases.

Run from the project root with the project venv:

    .venv/bin/python bench/feed_eval.py [--seeds 21,22,23] [--users 300] [--creators 40]
        [--topics 12] [--notes 1500] [--views 120] [--days 30] [--split 0.8] [--max-users 500]

For each seed, on a new SQLite file (migrated in-process, no server), it runs what
`zhongcao feed generate` runs (plugins.feed.synthetic.generate: users, creators, notes
and interactions drawn from a model with planted user-topic preferences; see
docs/feed.md "Offline evaluation") and then what `zhongcao feed evaluate` runs
(plugins.feed.evaluate: a time split of the interaction log; recall@20, NDCG@20 and
catalog coverage of the explore ranker as served, the ranker without exploration, a
popularity baseline and a random baseline), with the default feed settings (ZHONGCAO_*
variables of the shell are ignored). It prints each seed's table, the mean over seeds
and whether the ranker beats popularity on NDCG@20 (the target). The data is synthetic:
the figures say the ranker recovers planted preferences, not how real shoppers behave.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

from _support import conditions, exit_on_sigterm, print_conditions, table

METHODS = ("explore ranker", "ranker without exploration", "popularity", "random")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", default="21,22,23", help="comma-separated generator seeds, one fresh database each (the defaults were tuned on seeds 1-4, 7, 11 and 13: these are held out)")
    p.add_argument("--users", type=int, default=300)
    p.add_argument("--creators", type=int, default=40)
    p.add_argument("--topics", type=int, default=12)
    p.add_argument("--notes", type=int, default=1500)
    p.add_argument("--views", type=int, default=120, help="notes each synthetic user sees")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--split", type=float, default=0.8)
    p.add_argument("--max-users", type=int, default=500)
    args = p.parse_args(argv)
    args.seed_list = [int(s) for s in args.seeds.split(",") if s.strip()]
    return args


async def one_seed(seed: int, args: argparse.Namespace, tmp: Path) -> dict[str, object]:
    from core import migrate
    from core.runtime import create_runtime
    from core.settings import Settings
    from plugins.feed.evaluate import evaluate
    from plugins.feed.settings import FeedSettings
    from plugins.feed.synthetic import generate

    var_dir = tmp / f"seed-{seed}"
    settings = Settings(
        var_dir=var_dir, database_url=f"sqlite+aiosqlite:///{var_dir / 'feed.db'}", redis_url=None, secret_key="bench-secret",
        plugins_disabled="", inprocess_worker=False,
    )  # fmt: skip
    runtime = create_runtime(settings)
    try:
        await migrate.upgrade(runtime)
        started = time.perf_counter()
        made = await generate(
            runtime, users=args.users, creators=args.creators, topics=args.topics, notes=args.notes, views=args.views, days=args.days, seed=seed
        )
        generate_s = time.perf_counter() - started
        print(
            f"  seed {seed}: generated {made.users} users, {made.creators} creators, {made.notes} notes, {made.impressions:,} impressions, "
            f"{made.likes:,} likes, {made.collects:,} collects, {made.comments:,} comments, {made.follows:,} follows in {generate_s:.1f} s",
            flush=True,
        )
        feed_defaults = FeedSettings.model_construct(**{name: f.default for name, f in FeedSettings.model_fields.items()})
        report = await evaluate(runtime, feed_defaults, split=args.split, max_users=args.max_users, seed=seed)
        print(
            f"  seed {seed}: split at {report.split_at:%Y-%m-%d %H:%M} UTC, {report.train_events:,} engagements before / {report.test_events:,} after, "
            f"{report.users} users evaluated over {report.catalog:,} notes in {report.seconds:.1f} s",
            flush=True,
        )
        for line in report.table().splitlines():
            print(f"    {line}")
        return {"seed": seed, "report": report}
    finally:
        await runtime.dispose_loop_databases()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_on_sigterm()
    for name in [k for k in os.environ if k.startswith("ZHONGCAO_")]:
        os.environ.pop(name)  # the feed's defaults, not a developer's ZHONGCAO_FEED_* (conditions list them)
    results = []
    with tempfile.TemporaryDirectory(prefix="zc-bench-feed-eval-") as tmp_s:
        settings = {
            "seeds": args.seeds, "users": args.users, "creators": args.creators, "topics": args.topics, "notes": args.notes,
            "views/user": args.views, "days": args.days, "split": args.split, "max users": args.max_users,
            "backend": "sqlite (fresh file per seed)", "data": "SYNTHETIC (planted user-topic preferences)",
        }  # fmt: skip
        print_conditions(conditions(settings))
        print()
        for seed in args.seed_list:
            results.append(asyncio.run(one_seed(seed, args, Path(tmp_s))))
    print()
    print(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    rows = []
    for method in METHODS:
        per = [r["report"].by_name(method) for r in results]
        n = len(per)
        rows.append([
            method, f"{sum(m.recall for m in per) / n:.4f}", f"{sum(m.ndcg for m in per) / n:.4f}", f"{sum(m.coverage for m in per) / n:.4f}",
            " ".join(f"{m.ndcg:.4f}" for m in per),
        ])  # fmt: skip
    print(f"Mean over {len(results)} seed(s) ({args.seeds}), K = 20:")
    print(table(["method", "recall@20", "NDCG@20", "coverage", "NDCG@20 per seed"], rows, right={1, 2, 3}))
    print()
    wins = 0
    for r in results:
        ranker, popular = r["report"].by_name("explore ranker"), r["report"].by_name("popularity")
        won = ranker.ndcg > popular.ndcg
        wins += won
        print(f"seed {r['seed']}: explore ranker NDCG@20 {ranker.ndcg:.4f} vs popularity {popular.ndcg:.4f}: {'beats' if won else 'does NOT beat'} ({ranker.ndcg / popular.ndcg:.2f}x)")
    mean_ranker = sum(r["report"].by_name("explore ranker").ndcg for r in results) / len(results)
    mean_pop = sum(r["report"].by_name("popularity").ndcg for r in results) / len(results)
    verdict = "PASS" if mean_ranker > mean_pop and wins == len(results) else "MISS"
    print(f"target: the explore ranker beats popularity on NDCG@20 (mean {mean_ranker:.4f} vs {mean_pop:.4f}, {wins}/{len(results)} seeds): {verdict}")
    return 0 if verdict == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())

"""Offline evaluation on generated (synthetic) data, and the `zhongcao feed` commands."""

from __future__ import annotations

import asyncio
import re

from click.testing import CliRunner
from sqlalchemy import func, select

from plugins.feed.cli import feed
from plugins.feed.evaluate import evaluate
from plugins.feed.settings import FeedSettings
from plugins.feed.synthetic import EMAIL_DOMAIN, generate

SMALL = {"users": 100, "creators": 15, "topics": 8, "notes": 300, "views": 60, "days": 30, "seed": 1}


async def test_ranker_beats_popularity_on_generated_data(zc_runtime):
    from plugins.notes.models import Impression, Like, Note

    made = await generate(zc_runtime, **SMALL)
    assert made.notes == 300 and made.likes > 300 and made.impressions > 3000
    async with zc_runtime.db.read_session() as s:
        # counters are what the rows say, as the notes plugin keeps them
        assert (await s.execute(select(func.sum(Note.like_count)))).scalar() == (await s.execute(select(func.count()).select_from(Like))).scalar()
        assert (await s.execute(select(func.sum(Note.impression_count)))).scalar() == (await s.execute(select(func.sum(Impression.count)))).scalar()
    report = await evaluate(zc_runtime, FeedSettings())
    ranker, popular, rand = (report.by_name(n) for n in ("explore ranker", "popularity", "random"))
    assert report.users > 50 and report.catalog > 200
    assert ranker.ndcg > popular.ndcg > rand.ndcg, report.table()
    assert ranker.recall > popular.recall
    assert ranker.coverage > popular.coverage  # it does not show everyone the same 20 notes
    assert 0 < rand.ndcg < 0.1 and rand.coverage > 0.9


def _invoke(runtime, *args: str) -> str:
    env = {
        "ZHONGCAO_VAR_DIR": str(runtime.settings.var_dir),
        "ZHONGCAO_DATABASE_URL": runtime.settings.resolved_database_url,
        "ZHONGCAO_SECRET_KEY": runtime.settings.signing_key,
        "ZHONGCAO_PLUGINS_DISABLED": "",
    }
    result = CliRunner().invoke(feed, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


async def test_feed_commands(zc_runtime):
    out = await asyncio.to_thread(_invoke, zc_runtime, "generate", "--users", "40", "--creators", "8", "--topics", "5", "--notes", "120", "--views", "40")
    assert "synthetic run" in out and "120 notes" in out
    out = await asyncio.to_thread(_invoke, zc_runtime, "evaluate", "--max-users", "30")
    assert "recall@20" in out and "popularity" in out and "random" in out and "NDCG@20" in out
    from core.auth.models import User

    async with zc_runtime.db.read_session() as s:
        email = (await s.execute(select(User.email).where(User.email.like(f"%@{EMAIL_DOMAIN}")).order_by(User.id.desc()).limit(1))).scalar_one()
    out = await asyncio.to_thread(_invoke, zc_runtime, "explain", email, "--limit", "10")
    lines = out.splitlines()
    assert lines[0].startswith(f"explore feed for {email}")
    assert "candidates per channel" in out and "quality" in out
    assert sum(1 for line in lines if re.match(r"^\s*\d+ note ", line)) == 10
    out = await asyncio.to_thread(_invoke, zc_runtime, "explain", "anonymous", "--limit", "5")
    assert "cold start" in out

"""SQLite gets planner statistics for the tables that grew (the core.planner_statistics job)."""

from __future__ import annotations

from sqlalchemy import text

from core.auth.models import User
from core.db import refresh_planner_statistics


async def add_users(runtime, n: int, start: int) -> None:
    async with runtime.db.session() as s:
        s.add_all(User(email=f"stats{start + i}@example.com", password_hash="-", display_name="s") for i in range(n))
        await s.commit()


async def test_tables_that_grew_are_analyzed_once(zc_runtime):
    db = zc_runtime.db
    if not db.is_sqlite:
        assert await refresh_planner_statistics(db, min_rows=1) == []  # autovacuum's job on PostgreSQL
        return
    await add_users(zc_runtime, 30, 0)
    assert await refresh_planner_statistics(db, min_rows=20) == ["user_account"]
    async with db.engine.connect() as conn:
        stat = (await conn.execute(text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'user_account' LIMIT 1"))).scalar()
    assert stat is not None and int(stat.split()[0]) == 30
    assert await refresh_planner_statistics(db, min_rows=20) == []  # nothing changed since
    await add_users(zc_runtime, 40, 100)
    assert await refresh_planner_statistics(db, min_rows=20) == ["user_account"]  # 70 > 2 x 30


def test_the_job_is_periodic(zc_runtime):
    assert zc_runtime.jobs.periodic["core.planner_statistics"] == 300.0  # looked at every five minutes


async def test_full_text_and_without_rowid_tables_do_not_stop_it(zc_runtime, zc_make_product):
    db = zc_runtime.db
    if not db.is_sqlite:
        return
    for i in range(3):
        await zc_make_product("stats-brand", title=f"面霜 {i}")
    await zc_runtime.search.rebuild("products")  # FTS5 tables (shadow tables WITHOUT ROWID) and a WITHOUT ROWID keyword table
    async with db.engine.connect() as conn:
        without_rowid = (await conn.exec_driver_sql("SELECT count(*) FROM pragma_table_list WHERE wr = 1 AND name LIKE 'search_%'")).scalar()
    assert without_rowid > 0
    await add_users(zc_runtime, 30, 0)
    analyzed = await refresh_planner_statistics(db, min_rows=20)
    assert "user_account" in analyzed and not any(name.startswith("search_") and name.endswith(("_idx", "_config")) for name in analyzed)

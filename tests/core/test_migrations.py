"""Alembic: multiple bases, idempotent upgrade, downgrade, and drift checks on both backends."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import text

from core import migrate
from core.db import NAMING_CONVENTION, Base


def test_metadata_has_a_naming_convention(zc_runtime):  # the runtime imports every model
    assert Base.metadata.naming_convention["fk"] == NAMING_CONVENTION["fk"]
    names = {c.name for t in Base.metadata.tables.values() for c in t.constraints}
    assert "pk_user_account" in names and "fk_brand_member_user_id_user_account" in names


def test_one_head_per_branch(zc_runtime):
    heads = migrate.branch_heads(zc_runtime)
    assert set(heads) >= {"core", "notes", "feed", "live", "group_buy"}
    assert all(len(h) == 1 for h in heads.values()), heads


async def test_upgrade_is_idempotent_and_models_match(zc_runtime):
    before = await migrate.current_heads(zc_runtime)
    await migrate.upgrade(zc_runtime)
    assert await migrate.current_heads(zc_runtime) == before
    # a branch head that others depend on (core) is implied by their rows in alembic_version
    assert before and before <= migrate.script_heads(zc_runtime)
    assert {"0002_feed_tables", "0004_group_buy_core_notices", "0002_live_tables"} <= before
    assert {"core", "notes", "feed", "live", "group_buy"} <= set(migrate.branch_heads(zc_runtime))
    assert await migrate.check(zc_runtime) is None


async def test_check_reports_drift(zc_runtime):
    async with zc_runtime.db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE brand ADD COLUMN drifted INTEGER"))
    try:
        drift = await migrate.check(zc_runtime)
        assert drift is not None and "drifted" in drift
    finally:
        async with zc_runtime.db.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE brand DROP COLUMN drifted"))
    assert await migrate.check(zc_runtime) is None


async def test_downgrade_to_base_and_back(zc_runtime):
    await migrate.downgrade(zc_runtime, "base")
    assert await migrate.current_heads(zc_runtime) == set()
    await migrate.upgrade(zc_runtime)
    assert await migrate.check(zc_runtime) is None


async def test_sqlite_runs_in_wal_mode(zc_runtime):
    if not zc_runtime.db.is_sqlite:
        return
    async with zc_runtime.db.engine.connect() as conn:
        assert (await conn.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
        assert (await conn.execute(text("PRAGMA foreign_keys"))).scalar() == 1


def test_cli_db_upgrade_twice_is_a_no_op(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHONGCAO_")}
    env["ZHONGCAO_VAR_DIR"] = str(tmp_path)
    if os.environ.get("ZHONGCAO_TEST_PG_ADMIN_URL") and os.environ.get("ZHONGCAO_TEST_DATABASE_URL"):
        pass  # the embedded default is what a fresh install runs; PostgreSQL is covered above
    zhongcao = str(Path(sys.executable).with_name("zhongcao"))
    for _ in range(2):
        done = subprocess.run([zhongcao, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "database is at heads" in done.stdout
    check = subprocess.run([zhongcao, "db", "check"], env=env, capture_output=True, text=True, timeout=120)
    assert check.returncode == 0 and "no drift" in check.stdout


async def test_tax_rates_move_from_basis_points_to_ppm_and_back(zc_runtime):
    await migrate.downgrade(zc_runtime, "0002_commerce")
    try:
        async with zc_runtime.db.engine.begin() as conn:
            await conn.execute(text("INSERT INTO tax_rate (region, rate_bps, inclusive) VALUES ('US-CA', 725, false)"))
        await migrate.upgrade(zc_runtime)
        async with zc_runtime.db.engine.begin() as conn:
            assert (await conn.execute(text("SELECT rate_ppm FROM tax_rate WHERE region = 'US-CA'"))).scalar_one() == 72_500
            await conn.execute(text("UPDATE tax_rate SET rate_ppm = 88750"))
        await migrate.downgrade(zc_runtime, "0002_commerce")
        async with zc_runtime.db.engine.begin() as conn:  # 8.875% has no basis-point form: rounded half up
            assert (await conn.execute(text("SELECT rate_bps FROM tax_rate"))).scalar_one() == 888
    finally:
        await migrate.upgrade(zc_runtime)
        async with zc_runtime.db.engine.begin() as conn:
            await conn.execute(text("DELETE FROM tax_rate"))
    assert await migrate.check(zc_runtime) is None

"""Database sessions: writers never fail on a stale snapshot; readers never block."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from core.db import Database


async def _table(db: Database) -> None:
    async with db.engine.begin() as c:
        await c.execute(text("create table t (id integer primary key, v int)"))
        await c.execute(text("insert into t (v) values (1)"))


async def test_read_then_write_survives_a_concurrent_commit(tmp_path):
    """SQLite: a deferred transaction that reads, sees another commit, then writes, fails
    with SQLITE_BUSY_SNAPSHOT; writer sessions begin IMMEDIATE and simply wait."""
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    await _table(db)
    a, b = db.session(), db.session()

    async def request() -> None:
        await a.execute(text("select * from t"))
        await asyncio.sleep(0.2)
        await a.execute(text("insert into t (v) values (2)"))
        await a.commit()

    async def background() -> None:
        await asyncio.sleep(0.05)
        await b.execute(text("update t set v = v + 1 where id = 1"))
        await b.commit()

    try:
        await asyncio.gather(request(), background())
        async with db.read_session() as s:
            assert (await s.execute(text("select count(*), max(v) from t"))).one() == (2, 2)
    finally:
        await a.close()
        await b.close()
        await db.dispose()


async def test_readers_do_not_wait_for_a_writer(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path}/y.db")
    await _table(db)
    writer = db.session()
    try:
        await writer.execute(text("update t set v = 5"))  # holds the write lock, uncommitted
        async with db.read_session() as reader:
            value = await asyncio.wait_for(reader.execute(text("select v from t")), timeout=2)
            assert value.scalar() == 1  # the last committed value
        await writer.commit()
    finally:
        await writer.close()
        await db.dispose()

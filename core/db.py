"""One DeclarativeBase for the core and every plugin; async engines for SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from advanced_alchemy.types import DateTimeUTC
from sqlalchemy import JSON, BigInteger, Integer, MetaData, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

# Explicit constraint names: SQLite batch migrations and PostgreSQL downgrades need them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


JSONType = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    # DateTimeUTC stores UTC and gives back aware datetimes on SQLite too.
    type_annotation_map = {datetime: DateTimeUTC(timezone=True), dict[str, Any]: JSONType, list[Any]: JSONType}


# BIGINT on PostgreSQL, INTEGER (the rowid alias, so autoincrement works) on SQLite.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")
MAX_ID = 2**63 - 1


def valid_id(value: Any) -> bool:
    """Could be a row id (a positive BIGINT): anything else is "not found" without a query
    (a huge number would overflow the driver's parameter, a bool is not an id)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ID


class IdMixin:
    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Take over transaction control from pysqlite so BEGIN is explicit (SQLAlchemy's recipe).
    dbapi_connection.isolation_level = None
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def _sqlite_begin(conn: Any) -> None:
    # A deferred transaction that reads and then writes fails at once with
    # SQLITE_BUSY_SNAPSHOT if another connection committed in between (busy_timeout
    # does not help), so writers take the write lock up front. Readers stay deferred:
    # under WAL they never block anyone.
    if conn.get_execution_options().get("zhongcao_writer"):
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        conn.exec_driver_sql("BEGIN")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
        return engine
    # no pre-ping (a round trip per checkout-out connection); recycle instead
    kwargs.setdefault("pool_recycle", 1800)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, **kwargs)


def dialect_insert(target: AsyncSession | AsyncConnection, table: Any) -> Any:
    """INSERT with the dialect's ON CONFLICT clauses (PostgreSQL and SQLite share them)."""
    dialect = target.dialect if isinstance(target, AsyncConnection) else target.bind.dialect
    if dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


class Database:
    """An engine and its session factories. Engines belong to one event loop.

    `session()` is for work that writes (the default); `read_session()` for work that
    only reads. On SQLite a writer begins IMMEDIATE and a reader is a deferred
    transaction (one snapshot under WAL). On PostgreSQL a reader runs in autocommit:
    under READ COMMITTED every statement takes its own snapshot inside a transaction
    too, so all that drops is the BEGIN and ROLLBACK round trips. Never write through a
    reading session (on PostgreSQL each statement would commit on its own).
    """

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        # A Session class of its own, so commit listeners stay with this database.
        self.sync_session_class: type[Session] = type("ZhongcaoSession", (Session,), {})
        writer = self.engine.execution_options(zhongcao_writer=True)
        self.sessionmaker = async_sessionmaker(
            writer, expire_on_commit=False, class_=AsyncSession, sync_session_class=self.sync_session_class
        )
        reader = self.engine if self.is_sqlite else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.read_sessionmaker = async_sessionmaker(
            reader, expire_on_commit=False, class_=AsyncSession, sync_session_class=self.sync_session_class
        )

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> AsyncSession:
        return self.sessionmaker()

    def read_session(self) -> AsyncSession:
        return self.read_sessionmaker()

    @contextlib.asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection for statements that are each safe on their own (a conditional
        UPDATE, an idempotent INSERT): on PostgreSQL each commits by itself, with no
        BEGIN/COMMIT round trips; on SQLite they share one writing transaction (BEGIN
        IMMEDIATE) that commits when the block ends. Nothing here may rely on two of
        its statements committing together."""
        if self.is_sqlite:
            async with self.engine.execution_options(zhongcao_writer=True).begin() as conn:
                yield conn
        else:
            async with self.engine.connect() as conn:
                yield await conn.execution_options(isolation_level="AUTOCOMMIT")

    async def dispose(self) -> None:
        await self.engine.dispose()


async def refresh_planner_statistics(db: Database, *, min_rows: int = 1000, factor: float = 2.0, limit: int = 0) -> list[str]:
    """SQLite's planner has no statistics until ANALYZE runs, and without them it can pick
    an index that reads every row (the feed's topic query: 50 ms instead of 0.15 ms at
    100k notes). ANALYZE each table that holds `min_rows` and was never analyzed, or has
    grown or shrunk by `factor` since (measured: 13 tables of 100k notes and 1M
    interactions in 0.17 s; `limit` > 0 samples instead, as `PRAGMA analysis_limit`, but
    sampled statistics did not fix the plans here). Row counts are estimated by
    max(rowid) (cheap; the tables are append-mostly).
    PostgreSQL's autovacuum keeps its own statistics: nothing to do. Returns the tables
    analyzed."""
    if not db.is_sqlite:
        return []
    async with db.engine.connect() as conn:  # a reader: a deferred transaction takes no lock
        # ordinary rowid tables only: WITHOUT ROWID tables have no max(rowid), and the
        # shadow tables of full-text indexes (search) are FTS5's business
        names = (await conn.exec_driver_sql(
            "SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND wr = 0 AND name NOT LIKE 'sqlite_%' AND name <> 'alembic_version'"
        )).scalars().all()
        known: dict[str, int] = {}
        if (await conn.exec_driver_sql("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")).first() is not None:
            for table, stat in await conn.exec_driver_sql("SELECT tbl, stat FROM sqlite_stat1"):
                head = str(stat or "0").split(" ", 1)[0]
                known[table] = max(known.get(table, 0), int(head) if head.isdigit() else 0)
        stale = []
        for name in names:
            rows = (await conn.exec_driver_sql(f'SELECT max(rowid) FROM "{name}"')).scalar() or 0
            before = known.get(name)
            if before is None:
                if rows >= min_rows:
                    stale.append(name)
            elif max(rows, before) >= min_rows and (rows > before * factor or rows * factor < before):
                stale.append(name)
        await conn.rollback()
    if stale:
        async with db.engine.execution_options(zhongcao_writer=True).begin() as conn:
            await conn.exec_driver_sql(f"PRAGMA analysis_limit = {int(limit)}")  # 0: no limit
            for name in stale:
                await conn.exec_driver_sql(f'ANALYZE "{name}"')
    return stale


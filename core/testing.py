"""Pytest fixtures for Zhongcao and its plugins (loaded through the `pytest11` entry point).

The backend comes from the environment that `scripts/test.sh` sets:
- ZHONGCAO_TEST_DATABASE_URL: PostgreSQL (asyncpg) URL; unset means a SQLite file per session.
- ZHONGCAO_TEST_REDIS_URL: a Redis server for the tests that need one (others skip).

Fixtures:
- `zc_settings`: Settings for a fresh, migrated database (one per test session).
- `zc_runtime`: a Runtime on it (`zc_extra_plugins` adds plugins); tables are emptied after each test.
- `zc_app` / `zc_client`: the Litestar app and an AsyncTestClient with its lifespan running.
- `zc_make_user`: creates a user (roles, brand membership) and returns it with its password.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from core.settings import Settings

TEST_PASSWORD = "correct horse battery"


def test_database_url(tmp_dir: Path) -> str:
    return os.environ.get("ZHONGCAO_TEST_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp_dir / 'test.db'}"


def make_test_settings(var_dir: Path, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "var_dir": var_dir,
        "database_url": database_url,
        "redis_url": None,
        "secret_key": "test-secret-key-not-for-production",
        "plugins_disabled": "",
        "relay_poll_seconds": 0.2,
        "guest_page_seconds": 0,  # tests see every write at once (tests/storefront/test_guest_pages.py turns it on)
        "queue_namespace": f"zctest-{uuid.uuid4().hex[:8]}",
    }
    values.update(overrides)
    return Settings(**values)


def _isolate_xdist_worker() -> None:
    """Under pytest-xdist (scripts/test.sh runs each pass with `-n`), the workers of a run
    share its servers: each worker gets a PostgreSQL database (`<name>_gw<n>`, made here
    on the same server), a Redis database (the URL's index plus n) and a localstripe of
    its own (the n-th of ZHONGCAO_TEST_STRIPE_API_BASES, comma-separated: a localstripe's
    webhook configuration is global). Rewritten in the environment, where the fixtures
    and the tests read them."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return
    index = int(worker.removeprefix("gw"))
    url = os.environ.get("ZHONGCAO_TEST_DATABASE_URL")
    if url:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
        name = f"{parsed.database}_{worker}"
        asyncio.run(_pg_create_missing(url, name))
        os.environ["ZHONGCAO_TEST_DATABASE_URL"] = parsed.set(database=name).render_as_string(hide_password=False)
    redis_url = os.environ.get("ZHONGCAO_TEST_REDIS_URL")
    if redis_url:
        from urllib.parse import urlsplit, urlunsplit

        parts = urlsplit(redis_url)
        db = int(parts.path.strip("/") or 0) + index
        os.environ["ZHONGCAO_TEST_REDIS_URL"] = urlunsplit(parts._replace(path=f"/{db}"))
    bases = [b for b in os.environ.get("ZHONGCAO_TEST_STRIPE_API_BASES", "").split(",") if b]
    if bases:
        if index >= len(bases):
            raise pytest.UsageError(f"worker {worker}: ZHONGCAO_TEST_STRIPE_API_BASES names {len(bases)} localstripe servers, one per worker is needed")
        os.environ["ZHONGCAO_TEST_STRIPE_API_BASE"] = bases[index]
    elif os.environ.get("ZHONGCAO_TEST_STRIPE_API_BASE") and int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
        raise pytest.UsageError("workers cannot share one localstripe (its webhook configuration is global): set ZHONGCAO_TEST_STRIPE_API_BASES, one per worker")


async def _pg_create_missing(url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_url(url))
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def pytest_configure(config: pytest.Config) -> None:
    _isolate_xdist_worker()
    config.addinivalue_line("markers", "postgres_only: runs only on the PostgreSQL backend")
    config.addinivalue_line("markers", "zc_demo: starts on a copy of a database the demo was seeded into (once per session)")
    # Argon2 with production parameters costs ~0.7 s a hash and as much a login on this
    # machine: most of the suite's time once pages sign users in. Tests hash with argon2's
    # cheapest profile (still argon2id; hashes made either way verify either way).
    from argon2 import PasswordHasher, profiles

    from core.auth import service as auth_service

    auth_service._hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
    # Every test that runs the app starts an in-process worker and stops it, and stopping
    # waits for its threads to look up from an idle wait (twice): 0.2 s a test at 100 ms.
    from core.jobs import Jobs

    Jobs.worker_idle_ms = 20


def pytest_report_header(config: pytest.Config) -> str:
    backend = "postgresql" if os.environ.get("ZHONGCAO_TEST_DATABASE_URL") else "sqlite"
    return f"zhongcao test backend: {backend}; redis: {'yes' if os.environ.get('ZHONGCAO_TEST_REDIS_URL') else 'no'}"


@pytest.fixture(scope="session")
def zc_var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("zhongcao-var")


@pytest.fixture(scope="session")
def zc_database_url(zc_var_dir: Path) -> str:
    return test_database_url(zc_var_dir)


@pytest.fixture
def zc_extra_plugins() -> list[tuple[str, object]]:
    """Override to register extra plugins (name, module-or-object) for a test module."""
    return []


@pytest.fixture
async def _zc_test_database(zc_var_dir: Path, zc_database_url: str, _zc_demo_templates: dict[str, str], request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """The session's database; for a test marked `zc_demo`, a private copy of a database
    the demo was seeded into once per session (see `_seed_demo_template`)."""
    if request.node.get_closest_marker("zc_demo") is None:
        yield zc_database_url
        return
    callspec = getattr(request.node, "callspec", None)
    if (callspec and callspec.params.get("zc_settings")) or request.getfixturevalue("zc_extra_plugins"):
        raise pytest.UsageError("zc_demo: the seeded demo is the default plugin set's; this test changes it")
    template = _zc_demo_templates.get("demo") or _zc_demo_templates.get("shared")
    if template is None:  # seeded on its own loop and thread, as a separate process would
        def seed() -> str:
            url = asyncio.run(_seed_demo_template(zc_var_dir, zc_database_url))
            media = Path(tempfile.mkdtemp(prefix="zc-demo-media-", dir=zc_var_dir.parent))  # as seeded, for the other workers
            shutil.copytree(zc_var_dir / "media", media, dirs_exist_ok=True)
            return json.dumps({"url": url, "media": str(media)})

        answer, made = await asyncio.to_thread(once_per_run, request.config, "zc-demo-template", seed)
        template = json.loads(answer)["url"]
        if not made:  # another worker seeded it: its media files too
            await asyncio.to_thread(shutil.copytree, json.loads(answer)["media"], zc_var_dir / "media", dirs_exist_ok=True)
        if _shared_folder(request.config) is None:  # the workers' one is dropped by the controller (pytest_sessionfinish)
            _zc_demo_templates["demo"] = template
        else:
            _zc_demo_templates["shared"] = template
    copy = await _copy_database(template, f"demo_{uuid.uuid4().hex[:12]}", zc_var_dir)
    try:
        yield copy
    finally:
        await _drop_database(copy)


@pytest.fixture
def zc_settings(zc_var_dir: Path, _zc_test_database: str, request: pytest.FixtureRequest) -> Settings:
    """`@pytest.mark.parametrize("zc_settings", ["notes"], indirect=True)` runs a test with those plugins disabled."""
    return make_test_settings(zc_var_dir, _zc_test_database, plugins_disabled=getattr(request, "param", ""))


@pytest.fixture(scope="session")
def _zc_demo_templates() -> Iterator[dict[str, str]]:
    """The seeded demo database of the session, made when a `zc_demo` test first needs it."""
    made: dict[str, str] = {}
    yield made
    if "demo" in made:
        asyncio.run(_drop_database(made["demo"]))


def _shared_folder(config: pytest.Config) -> Path | None:
    """The folder the pytest-xdist workers of a run share (the controller's base temp
    folder, each worker's is in it); None outside xdist."""
    if not hasattr(config, "workerinput"):
        return None
    return Path(config._tmp_path_factory.getbasetemp()).parent  # noqa: SLF001 - the tmp_path_factory fixture's own


def once_per_run(config: pytest.Config, name: str, make: Callable[[], str]) -> tuple[str, bool]:
    """`make()`'s answer (a string), made once per run: under pytest-xdist the first worker
    to ask makes it while the others wait, and every worker gets the same answer (kept in
    their shared folder); outside xdist, made at each call. Returns it and whether this
    call made it. A seeded demo costs 10-15 s of CPU a worker otherwise."""
    folder = _shared_folder(config)
    if folder is None:
        return make(), True
    import fcntl

    answer = folder / f"{name}.once"
    with open(folder / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if answer.exists():
            return answer.read_text(encoding="utf-8"), False
        value = make()
        partial = answer.with_suffix(".partial")
        partial.write_text(value, encoding="utf-8")
        partial.replace(answer)
        return value, True


_FILE_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    path = report.nodeid.split("::", 1)[0]
    _FILE_SECONDS[path] = _FILE_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The test files that took longest (setup, call and teardown of all their tests):
    where the suite's 15-minute budget goes, a file at a time."""
    if len(_FILE_SECONDS) < 20:
        return
    terminalreporter.write_sep("=", "slowest 15 files")
    for path, seconds in sorted(_FILE_SECONDS.items(), key=lambda item: -item[1])[:15]:
        terminalreporter.write_line(f"{seconds:7.1f}s {path}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller of a pytest-xdist run drops the seeded demo database its workers
    shared (no worker knows when the others are done with it)."""
    config = session.config
    if hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", None):
        return
    answer = Path(config._tmp_path_factory.getbasetemp()) / "zc-demo-template.once"  # noqa: SLF001
    if answer.exists():
        asyncio.run(_drop_database(json.loads(answer.read_text(encoding="utf-8"))["url"]))


async def _seed_demo_template(zc_var_dir: Path, zc_database_url: str) -> str:
    """A database the demo was seeded into (`zhongcao demo`'s seed, with the runtime's
    relay and worker running, then every event handled): seeding costs 10-15 s, a copy
    well under one."""
    from core.cli import seed
    from core.runtime import create_runtime

    url = await _copy_database(None, f"demo_template_{uuid.uuid4().hex[:12]}", zc_var_dir, like=zc_database_url)
    runtime = create_runtime(make_test_settings(zc_var_dir, url))
    await runtime.start()
    try:
        await seed(runtime)
        await settle(runtime)
        await asyncio.to_thread(runtime.jobs.join)
        await settle(runtime)
    finally:
        await runtime.stop()
        await runtime.dispose_loop_databases()
    return url


def _pg_admin_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql", database="postgres").render_as_string(hide_password=False)


async def _pg_admin(url: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(_pg_admin_url(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def _copy_database(source: str | None, name: str, folder: Path, *, like: str | None = None) -> str:
    """A new database `name` on the same server (PostgreSQL) or in `folder` (SQLite):
    a copy of `source`, or empty."""
    from sqlalchemy.engine import make_url

    base = make_url(source or like or "")
    if base.get_backend_name() == "sqlite":
        target = folder / f"{name}.db"
        if source is not None:
            import shutil

            for suffix in ("", "-wal"):
                if Path(f"{base.database}{suffix}").exists():
                    shutil.copyfile(f"{base.database}{suffix}", f"{target}{suffix}")
        return base.set(database=str(target)).render_as_string(hide_password=False)
    clause = f' TEMPLATE "{base.database}"' if source is not None else ""
    await _pg_admin(base.render_as_string(hide_password=False), f'CREATE DATABASE "{name}"{clause}')
    return base.set(database=name).render_as_string(hide_password=False)


async def _drop_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{parsed.database}{suffix}").unlink(missing_ok=True)
        return
    await _pg_admin(url, f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def _zc_migrated(zc_var_dir: Path, zc_database_url: str) -> None:
    from core import migrate
    from core.runtime import create_runtime

    runtime = create_runtime(make_test_settings(zc_var_dir, zc_database_url))
    await _drop_everything(runtime)
    await migrate.upgrade(runtime)
    await runtime.dispose_loop_databases()


async def _drop_everything(runtime: Any) -> None:
    async with runtime.db.engine.begin() as conn:
        if runtime.db.is_sqlite:
            names = (await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"))).scalars().all()
            await conn.execute(text("PRAGMA foreign_keys=OFF"))
            for name in names:
                await conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
        else:
            await conn.execute(text("DROP SCHEMA public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))


async def _filled(conn: Any, present: list[str]) -> set[str]:
    """The tables the test wrote to, in one round trip: ~80 DELETEs cost more than the test."""
    if not present:
        return set()
    probe = " UNION ALL ".join(f"""SELECT '{n}' WHERE EXISTS (SELECT 1 FROM "{n}")""" for n in present)
    return set((await conn.execute(text(probe))).scalars())


async def _delete_rows(conn: Any, tables: list[str], filled: set[str]) -> None:
    """Empty the filled tables, children first (`tables` is in that order). A tree's rows
    (category.parent_id) point at each other, and SQLite checks ON DELETE RESTRICT row by
    row: unlink them first."""
    from core.db import Base

    for table in Base.metadata.sorted_tables:
        for fk in table.foreign_keys:
            if fk.column.table is table and fk.parent.nullable and table.name in filled:
                await conn.execute(text(f'UPDATE "{table.name}" SET "{fk.parent.name}" = NULL'))
    for name in tables:
        if name in filled:
            await conn.execute(text(f'DELETE FROM "{name}"'))


async def empty_tables(runtime: Any, *, wait_ms: int | None = None) -> None:
    """Delete every row (but alembic_version) so the next test starts clean. With
    `wait_ms`, give up (OperationalError / lock timeout) after waiting that long for a lock."""
    from sqlalchemy.exc import DBAPIError

    from core.db import Base

    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # a writer connection: on SQLite it begins IMMEDIATE, so a job committing meanwhile
    # makes this wait (busy_timeout) instead of failing with "database is locked"
    engine = runtime.db.engine.execution_options(zhongcao_writer=True)
    if runtime.db.is_sqlite:
        async with runtime.db.engine.connect() as conn:
            if wait_ms is not None:  # set on a reader (a deferred BEGIN takes no lock), then write
                await conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(wait_ms)}")
                await conn.commit()
            await conn.execution_options(zhongcao_writer=True)
            try:
                async with conn.begin():
                    existing = set((await conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))).scalars())
                    await _delete_rows(conn, tables, await _filled(conn, [n for n in tables if n in existing]))
            finally:
                if wait_ms is not None:
                    await conn.execution_options(zhongcao_writer=False)
                    await conn.exec_driver_sql("PRAGMA busy_timeout = 10000")  # as core.db sets it
                    await conn.commit()
        return
    async with engine.begin() as conn:
        if wait_ms is not None:
            await conn.execute(text(f"SET LOCAL lock_timeout = '{int(wait_ms)}ms'"))
        existing = set((await conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname='public'"))).scalars())
        present = [n for n in tables if n in existing]
        if not present:
            return
        filled = await _filled(conn, present)  # emptied below; then every used sequence starts at 1 again, as RESTART IDENTITY would
        if filled:
            # DELETE, children first: a test's few rows go in ~10 ms, where TRUNCATE ...
            # CASCADE (new files for every table that references one of them) takes ~0.2 s.
            # A row of a table outside the models (a test's own) that still references one
            # makes it fail, and so can a deadlock with a transaction the test left running
            # (row locks, taken one by one): then TRUNCATE, which empties that table too and
            # waits for a lock on each table as a whole.
            try:
                async with conn.begin_nested():
                    await _delete_rows(conn, tables, filled)
            except DBAPIError as error:  # IntegrityError, DeadlockDetectedError
                if "lock timeout" in str(error.orig):
                    raise  # the caller's wait is over (see zc_runtime)
                quoted = [f'"{n}"' for n in sorted(filled)]
                await conn.execute(text(f"TRUNCATE {', '.join(quoted)} CASCADE"))
        await conn.execute(text(
            "SELECT setval(format('%I.%I', schemaname, sequencename), 1, false) FROM pg_sequences "
            "WHERE schemaname = 'public' AND last_value IS NOT NULL"
        ))


@pytest.fixture
async def zc_runtime(_zc_migrated: None, zc_settings: Settings, zc_extra_plugins: list) -> AsyncIterator[Any]:
    from core.runtime import create_runtime

    runtime = create_runtime(zc_settings, zc_extra_plugins)
    try:
        yield runtime
    finally:
        began = time.monotonic()
        await runtime.stop()
        stop_seconds = time.monotonic() - began
        # a connection a stopped job or relay abandoned mid-statement keeps its lock until
        # it is finalized: if the tables cannot be emptied at once, collect it and retry
        # (a full gc costs ~0.2 s, so only when needed; the root cause is connections of
        # the worker thread's own loop, not yet disposed). Search indexes live in tables
        # of their own, not emptied with the models': they are dropped (idempotent).
        try:
            await runtime.search.drop_all()
            await empty_tables(runtime, wait_ms=500)
        except Exception as error:  # noqa: BLE001 - locked: sqlite OperationalError, postgres LockNotAvailable
            _dump_threads(f"emptying the tables found a lock ({type(error).__name__}) after runtime.stop() took {stop_seconds:.1f} s")
            gc.collect()
            await runtime.search.drop_all()
            await empty_tables(runtime)
        await runtime.dispose_loop_databases()


# Apps by settings and plugin set, for the session: building one costs 1-3 s (Litestar
# prepares each of ~700 handlers), most of a page test's time if done per test.
_APPS: dict[Any, Any] = {}


def _app_key(runtime: Any) -> Any:
    """What an app's routes, middleware and templates depend on: the settings (but the
    per-test queue namespace and database) and the plugins: a module or class itself, an
    object by its class (a test's stand-in made afresh for each test answers its hooks
    through the test's runtime; what the app keeps of a plugin comes from its routes and
    templates, which its class decides). None (a fresh app, not kept) for a class made
    inside a function."""
    import types

    plugins = []
    for name, plugin in sorted(runtime.pm.list_name_plugin(), key=lambda item: item[0]):
        kind = plugin if isinstance(plugin, (types.ModuleType, type)) else type(plugin)
        if "<locals>" in getattr(kind, "__qualname__", ""):
            return None
        plugins.append((name, kind))
    settings = runtime.settings.model_dump(mode="json", exclude={"queue_namespace", "database_url"})
    return (repr(sorted(settings.items())), tuple(plugins))


@pytest.fixture
def zc_app(zc_runtime: Any) -> Any:
    """The Litestar app on this test's runtime; built once per settings and plugin set
    (see core.app.attach_runtime), so a test must not change the app itself."""
    from core.app import attach_runtime, create_app

    key = _app_key(zc_runtime)
    app = _APPS.get(key) if key is not None else None
    if app is None:
        app = create_app(runtime=zc_runtime)
        if key is not None:
            _APPS[key] = app
    else:
        attach_runtime(app, zc_runtime)
    return app


SHUTDOWN_WATCH_SECONDS = 60
SHUTDOWN_GIVE_UP_SECONDS = 300


def _dump_tasks(give_up: bool = False) -> None:
    """What every event loop of the process is waiting on (asyncio keeps no per-thread
    view), when an app's shutdown has not finished in time. Written to
    ZHONGCAO_TEST_HANG_LOG (scripts/test.sh prints it; pytest captures stderr, and a
    test that never ends never shows its capture), else to stderr. With `give_up` the
    process then exits: a run that hangs would otherwise spend CI's whole time limit."""
    import os
    import sys

    path = os.environ.get("ZHONGCAO_TEST_HANG_LOG")
    out = open(path, "a", encoding="utf-8") if path else sys.stderr  # noqa: SIM115 - closed below
    try:
        waited = SHUTDOWN_GIVE_UP_SECONDS if give_up else SHUTDOWN_WATCH_SECONDS
        print(f"\n[zhongcao] pid {os.getpid()}: the app's shutdown is still waiting after {waited} s; the tasks:", file=out)
        for task in list(asyncio.tasks._all_tasks):  # noqa: SLF001 - a diagnostic
            if not task.done():
                print(f"-- {task!r}", file=out)
                task.print_stack(file=out)
        if give_up:
            print("[zhongcao] giving up: exiting with status 3", file=out)
    finally:
        if out is not sys.stderr:
            out.close()
    if give_up:
        os._exit(3)


def _dump_threads(why: str) -> None:
    """Where every thread of the process is, to ZHONGCAO_TEST_HANG_LOG (scripts/test.sh
    prints it at the end): the suite's slowest teardowns (10-20 s, now and then, under
    load) wait on a lock whose holder is not known yet."""
    import sys
    import threading
    import traceback

    path = os.environ.get("ZHONGCAO_TEST_HANG_LOG")
    if not path:
        return
    names = {t.ident: t.name for t in threading.enumerate()}
    test = os.environ.get("PYTEST_CURRENT_TEST", "?")
    with open(path, "a", encoding="utf-8") as out:
        print(f"\n[zhongcao] pid {os.getpid()} {test}: {why}; the threads:", file=out)
        for ident, frame in sys._current_frames().items():  # noqa: SLF001 - a diagnostic
            print(f"-- thread {names.get(ident, ident)}", file=out)
            traceback.print_stack(frame, file=out)


@pytest.fixture
async def zc_client(zc_app: Any) -> AsyncIterator[Any]:
    """An AsyncTestClient with the app's lifespan running. Should its shutdown hang, the
    tasks it waits on are written out after SHUTDOWN_WATCH_SECONDS, and the run ends
    after SHUTDOWN_GIVE_UP_SECONDS (the blocked test loop cannot say so itself)."""
    import threading

    from litestar.testing import AsyncTestClient

    watchdogs = [threading.Timer(SHUTDOWN_WATCH_SECONDS, _dump_tasks), threading.Timer(SHUTDOWN_GIVE_UP_SECONDS, _dump_tasks, kwargs={"give_up": True})]
    try:
        async with AsyncTestClient(app=zc_app, base_url="http://testserver.local") as client:
            yield client
            for watchdog in watchdogs:
                watchdog.daemon = True
                watchdog.start()
    finally:
        for watchdog in watchdogs:
            watchdog.cancel()


@pytest.fixture
def zc_make_user(zc_runtime: Any) -> Callable[..., Any]:
    """`await zc_make_user(email=..., roles=("creator",), brand=("slug", "owner"), staff=False)`."""
    from core.auth.models import User
    from core.auth.service import grant_role, signup
    from core.catalog.models import Brand, BrandMember

    async def make(email: str | None = None, *, roles: tuple[str, ...] = (), brand: tuple[str, str] | None = None, staff: bool = False, password: str = TEST_PASSWORD) -> User:
        email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        async with zc_runtime.db.session() as session:
            user = await signup(session, zc_runtime, email=email, password=password, display_name=email.split("@")[0], roles=roles)
            if staff:
                await grant_role(session, user.id, "staff")
            if brand:
                slug, role = brand
                from sqlalchemy import select

                found = (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none()
                if found is None:
                    found = Brand(slug=slug, name=slug.replace("-", " ").title())
                    session.add(found)
                    await session.flush()
                session.add(BrandMember(brand_id=found.id, user_id=user.id, role=role))
            await session.commit()
            return user

    return make


async def api_token(client: Any, email: str, password: str = TEST_PASSWORD) -> dict[str, str]:
    """Authorization header for a user, through the real token endpoint."""
    response = await client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def html_login(client: Any, email: str, password: str = TEST_PASSWORD, path: str = "/login") -> Any:
    """Log in through the HTML form, CSRF token included, as a browser would."""
    page = await client.get(path)
    csrf = client.cookies.get("zc_csrf")
    assert csrf, "the login page must set a CSRF cookie"
    response = await client.post(path, data={"email": email, "password": password, "_csrf_token": csrf, "next": "/account"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return response


def csrf(client: Any) -> str:
    """The CSRF token a page set in the client's cookie."""
    token = client.cookies.get("zc_csrf")
    assert token, "a page must have set the CSRF cookie"
    return token


async def post_form(client: Any, path: str, data: dict[str, Any] | None = None, *, token: bool = True, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
    """A browser's form POST: with the CSRF token (a page is fetched first if none set it;
    `token=False` leaves it out), in English, redirects not followed."""
    if not client.cookies.get("zc_csrf"):
        await client.get("/login")
    body = {**(data or {}), **({"_csrf_token": csrf(client)} if token else {})}
    return await client.post(path, data=body, headers={"accept-language": "en", **(headers or {})}, follow_redirects=False, **kwargs)


@pytest.fixture
def zc_make_product(zc_runtime: Any) -> Callable[..., Any]:
    """`await zc_make_product(brand="slug", price=9900, stock=10, currency="CNY")` -> Variant.

    An active product with one variant, its price and stock at the brand's main location.
    """
    from sqlalchemy import select

    from core.catalog.models import Brand, Product, ShippingRate, Variant, VariantPrice
    from core.inventory import service as inventory

    async def make(brand: str = "test-brand", *, price: int = 9900, stock: int = 10, currency: str = "CNY", title: str | None = None, status: str = "active", shipping: int | None = None) -> Variant:
        async with zc_runtime.db.session() as session:
            found = (await session.execute(select(Brand).where(Brand.slug == brand))).scalar_one_or_none()
            if found is None:
                found = Brand(slug=brand, name=brand.replace("-", " ").title())
                session.add(found)
                await session.flush()
            if shipping is not None and await session.get(ShippingRate, (found.id, currency)) is None:
                session.add(ShippingRate(brand_id=found.id, currency=currency, amount_minor=shipping))
            suffix = uuid.uuid4().hex[:8]
            product = Product(brand_id=found.id, slug=f"p-{suffix}", title=title or f"Product {suffix}", status=status, option_names=["size"])
            session.add(product)
            await session.flush()
            variant = Variant(product_id=product.id, sku=f"SKU-{suffix}", options={"size": "M"})
            session.add(variant)
            await session.flush()
            session.add(VariantPrice(variant_id=variant.id, currency=currency, amount_minor=price))
            if stock:
                location = await inventory.ensure_location(session, found.id)
                await inventory.receive_stock(session, variant_id=variant.id, location_id=location.id, quantity=stock)
            await session.commit()
            return variant

    return make


ADDRESS = {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "country": "CN"}


BACKGROUND = ("zhongcao-", "notes-")  # names of the threads and tasks that do background work


class QueryCounter:
    """`with QueryCounter() as q: ...; q.count`: the SQL statements that requests ran
    meanwhile, for tests that bound a page's queries (no N+1). Every engine of the process
    is watched (the test client may run the app on another event loop, with its own
    engine), except the background work's: the job worker's thread and the named tasks
    of the core and plugins (relay, ticker, timers). Call `settle(runtime)` first so that
    the relay of earlier writes is done."""

    def __init__(self) -> None:
        self.statements: list[str] = []
        self.connections = 0  # held now by requests
        self.max_connections = 0  # held at once by requests: more than one per request can drain a pool

    @staticmethod
    def _foreground() -> bool:
        import asyncio
        import threading

        if threading.current_thread().name.startswith(BACKGROUND):  # the job worker's loop
            return False
        try:
            task = asyncio.current_task()
        except RuntimeError:
            task = None
        return task is None or not task.get_name().startswith(BACKGROUND)  # the relay, the ticker, timers

    def _seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if self._foreground():
            self.statements.append(statement)

    def _checkout(self, dbapi_conn: Any, record: Any, proxy: Any) -> None:
        if self._foreground():
            record.info["zc_counted"] = True
            self.connections += 1
            self.max_connections = max(self.max_connections, self.connections)

    def _checkin(self, dbapi_conn: Any, record: Any) -> None:
        if record.info.pop("zc_counted", False):
            self.connections -= 1

    def __enter__(self) -> QueryCounter:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        event.listen(Engine, "before_cursor_execute", self._seen)
        event.listen(Pool, "checkout", self._checkout)
        event.listen(Pool, "checkin", self._checkin)
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        event.remove(Engine, "before_cursor_execute", self._seen)
        event.remove(Pool, "checkout", self._checkout)
        event.remove(Pool, "checkin", self._checkin)

    @property
    def count(self) -> int:
        return len(self.statements)


async def settle(runtime: Any, timeout: float = 10.0) -> None:
    """Wait until every committed event has been relayed (the relay runs after commits,
    on the app's loop), so what follows sees a quiet app."""
    import asyncio

    from sqlalchemy import func, select

    from core.events import OutboxEvent

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        async with runtime.db.read_session() as s:
            waiting = (await s.execute(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.relayed_at.is_(None)))).scalar_one()
        if not waiting or asyncio.get_running_loop().time() > deadline:
            return
        await asyncio.sleep(0.02)

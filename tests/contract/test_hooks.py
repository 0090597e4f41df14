"""One test per hook in core/hookspecs.py: the core calls it and uses what it returns.

Every test registers the `everything` fixture plugin (tests/fixture_plugins/everything.py)
through `zc_extra_plugins`; a few also register a tiny misbehaving plugin to prove the
core's rules (prefixes, unique names) reject it with a PluginError that names the
plugin and the hook. Nothing of the core is mocked.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from contextlib import asynccontextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from litestar import get
from litestar.testing import AsyncTestClient
from sqlalchemy import func, select

from core import hookimpl, migrate
from core.app import create_app
from core.db import Base
from core.events import EventReceipt, OutboxEvent, UnknownEventType, record_event
from core.i18n import translator
from core.jobs import Job
from core.plugin_manager import PluginError
from core.runtime import create_runtime
from tests.fixture_plugins import everything

BUILTIN_BRANCHES = {"core", "notes", "feed", "live", "group_buy"}


@pytest.fixture
def zc_extra_plugins() -> list[tuple[str, object]]:
    return [("everything", everything)]


@asynccontextmanager
async def app_client(runtime: Any):
    """A client on an app built from `runtime`; the lifespan runs and the runtime stops after."""
    try:
        async with AsyncTestClient(app=create_app(runtime=runtime), base_url="http://testserver.local") as client:
            yield client
    finally:
        await runtime.stop()


async def wait_for(predicate: Any, timeout: float = 15.0) -> Any:
    """Poll `predicate` (sync or async) until it is truthy; return its value."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {predicate}")
        await asyncio.sleep(0.05)


async def downgrade_everything(runtime: Any) -> None:
    """Take the fixture plugin's branch out of the shared test database again."""
    await migrate.downgrade(runtime, "everything@base")
    assert "0001_everything" not in await migrate.current_heads(runtime)


# ---------------------------------------------------------------- registration hooks


async def test_hook_register_models(zc_runtime, zc_settings):
    assert everything.EverythingMark in zc_runtime.models
    from core.auth.models import User

    assert User in zc_runtime.models  # the core registers through the same hook

    class WrongPrefix(Base):
        __abstract__ = True
        __tablename__ = "mark"

    class NotAModel:
        __tablename__ = "badmodels_plain"

    class BadModels:
        def __init__(self, model: type) -> None:
            self.model = model

        @hookimpl
        def register_models(self) -> list[type]:
            return [self.model]

    with pytest.raises(PluginError) as excinfo:
        create_runtime(zc_settings, [("badmodels", BadModels(WrongPrefix))])
    message = str(excinfo.value)
    assert "'badmodels'" in message and "register_models" in message and "'mark'" in message and "'badmodels_'" in message

    with pytest.raises(PluginError) as excinfo:
        create_runtime(zc_settings, [("badmodels", BadModels(NotAModel))])
    assert "'badmodels'" in str(excinfo.value) and "register_models" in str(excinfo.value)
    assert "not a core.db.Base model" in str(excinfo.value)


async def test_hook_register_migrations(zc_runtime):
    locations = dict(zc_runtime.migration_locations())
    assert locations["everything"] == everything.MIGRATIONS
    heads = migrate.branch_heads(zc_runtime)
    assert BUILTIN_BRANCHES | {"everything"} <= set(heads)
    for label in BUILTIN_BRANCHES | {"everything"}:
        assert len(heads[label]) == 1, (label, heads[label])
    assert heads["everything"] == ["0001_everything"]
    try:
        await migrate.upgrade(zc_runtime)  # `zhongcao db upgrade` upgrades every branch
        assert "0001_everything" in await migrate.current_heads(zc_runtime)
    finally:
        await downgrade_everything(zc_runtime)


async def test_hook_register_routes(zc_client, zc_settings):
    # API surface under /api/v1/<plugin>
    ping = await zc_client.get("/api/v1/everything/ping")
    assert ping.status_code == 200 and ping.json() == {"plugin": "everything", "pong": "ok"}
    # a plugin's /me lands under its prefix; the core's /api/v1/me is untouched
    assert (await zc_client.get("/api/v1/everything/me")).json() == {"who": "everything"}
    core_me = await zc_client.get("/api/v1/me")
    assert core_me.status_code == 401, core_me.text
    # storefront surface under /<plugin>
    page = await zc_client.get("/everything/hello")
    assert page.status_code == 200 and 'data-testid="everything-hello"' in page.text
    # creator portal surface under /creator/<plugin>
    portal = await zc_client.get("/creator/everything/hello")
    assert portal.status_code == 200 and portal.text == "everything in the creator portal"
    # nothing is mounted at the root of a surface
    assert (await zc_client.get("/api/v1/ping")).status_code == 404
    assert (await zc_client.get("/hello")).status_code == 404

    # `_` in a plugin name becomes `-` in its prefix
    @get("/ping", sync_to_thread=False)
    def all_things_ping() -> dict[str, str]:
        return {"plugin": "all_things"}

    class AllThings:
        @hookimpl
        def register_routes(self, surface: str) -> list[Any]:
            return [all_things_ping] if surface == "api" else []

    async with app_client(create_runtime(zc_settings, [("all_things", AllThings())])) as client:
        response = await client.get("/api/v1/all-things/ping")
        assert response.status_code == 200 and response.json() == {"plugin": "all_things"}
        assert (await client.get("/api/v1/all_things/ping")).status_code == 404

    # a plugin whose prefix is already a surface URL (`/account`) is refused by name
    @get("/x", sync_to_thread=False)
    def account_x() -> str:
        return "x"

    class Account:
        @hookimpl
        def register_routes(self, surface: str) -> list[Any]:
            return [account_x] if surface == "storefront" else []

    clash = create_runtime(zc_settings, [("account", Account())])
    with pytest.raises(PluginError) as excinfo:
        create_app(runtime=clash)
    assert "'account'" in str(excinfo.value) and "register_routes" in str(excinfo.value)


async def test_hook_register_templates(zc_client):
    # the plugin's own template, extending a surface template
    page = await zc_client.get("/everything/hello")
    assert page.status_code == 200
    assert 'data-testid="everything-hello"' in page.text
    assert 'class="topbar"' in page.text  # from storefront/base.html
    # the plugin's error.html is searched before the core's and overrides it
    missing = await zc_client.get("/brands/no-such-brand", headers={"Accept": "text/html"})
    assert missing.status_code == 404
    assert 'data-testid="everything-error-page"' in missing.text
    assert 'data-testid="error-page"' not in missing.text
    # also for a URL no route matches, on both HTML surfaces
    for path, layout in (("/no-such-page", "surface-storefront"), ("/creator/no-such-page", "surface-portal")):
        unrouted = await zc_client.get(path, headers={"Accept": "text/html"})
        assert unrouted.status_code == 404, path
        assert 'data-testid="everything-error-page"' in unrouted.text, (path, unrouted.text[:300])
        assert layout in unrouted.text


async def test_hook_prepare_jinja_env(zc_client, zc_app):
    page = await zc_client.get("/everything/hello", params={"who": "mia"})
    assert page.status_code == 200
    assert re.search(r'data-testid="everything-shout">MIA!<', page.text), page.text
    assert f'data-testid="everything-version">{everything.__version__}<' in page.text
    # called on the app's own environment, after the core's globals were installed
    env = zc_app.template_engine.engine
    assert env in everything.CALLS.jinja_envs
    assert env.filters["everything_shout"] is everything.shout
    assert "slot" in env.globals and "money" in env.filters
    # the environment autoescapes: the filter's output is escaped in the page
    escaped = await zc_client.get("/everything/hello", params={"who": "<b>x</b>"})
    assert "&lt;B&gt;X&lt;/B&gt;!" in escaped.text and "<B>X</B>" not in escaped.text


async def test_hook_register_translations(zc_client, zc_runtime):
    assert zc_runtime.translations["zh-CN"][everything.HELLO] == everything.HELLO_ZH
    assert translator(zc_runtime, "zh-CN")(everything.HELLO) == everything.HELLO_ZH
    assert translator(zc_runtime, "en")(everything.HELLO) == everything.HELLO
    # the storefront's own catalogue is still there (merged, not replaced)
    assert translator(zc_runtime, "zh-CN")("Home") == "首页"
    zh = await zc_client.get("/everything/hello", headers={"Accept-Language": "zh-CN"})
    assert f'data-testid="everything-hello">{everything.HELLO_ZH}<' in zh.text
    en = await zc_client.get("/everything/hello", headers={"Accept-Language": "en"})
    assert f'data-testid="everything-hello">{everything.HELLO}<' in en.text


async def test_hook_register_jobs(zc_runtime, zc_settings):
    actors = zc_runtime.jobs.actors
    assert {"everything.record", "everything.record_async", "core.dispatch_event"} <= set(actors)
    assert actors["everything.record"].options["max_retries"] == 0
    await zc_runtime.start(worker=True, relay=False)
    sync_token, async_token = uuid.uuid4().hex, uuid.uuid4().hex
    zc_runtime.jobs.send("everything.record", sync_token)
    zc_runtime.jobs.send("everything.record_async", async_token)
    await asyncio.to_thread(zc_runtime.jobs.join)
    assert everything.CALLS.jobs[sync_token] == ("sync", zc_runtime)
    assert everything.CALLS.jobs[async_token] == ("async", zc_runtime)

    class BadJobs:
        @hookimpl
        def register_jobs(self) -> list[Job]:
            return [Job(name="record", fn=everything.record_job)]

    with pytest.raises(PluginError) as excinfo:
        create_runtime(zc_settings, [("badjobs", BadJobs())])
    message = str(excinfo.value)
    assert "'badjobs'" in message and "register_jobs" in message and "'record'" in message


async def test_hook_register_event_types(zc_runtime, zc_settings):
    assert everything.EVENT_TYPE in zc_runtime.event_types
    async with zc_runtime.db.session() as session:
        event_id = record_event(session, zc_runtime, everything.EVENT_TYPE, {"n": 1})
        with pytest.raises(UnknownEventType):
            record_event(session, zc_runtime, "everything.unknown", {})
        await session.commit()
        row = (await session.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))).scalar_one()
        assert row.type == everything.EVENT_TYPE and row.payload == {"n": 1}
        assert (await session.execute(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.type == "everything.unknown"))).scalar() == 0

    class Clash:
        @hookimpl
        def register_event_types(self) -> dict[str, str]:
            return {"user.signed_up": "already the core's"}

    with pytest.raises(PluginError) as excinfo:
        create_runtime(zc_settings, [("clash", Clash())])
    assert "'clash'" in str(excinfo.value) and "register_event_types" in str(excinfo.value)


async def test_hook_register_cli_commands(zc_runtime):
    from core.cli import cli

    runner = CliRunner()
    assert "everything-hello" not in cli.commands
    zc_runtime.pm.hook.register_cli_commands(cli=cli)  # as `core.cli.main` does
    try:
        result = runner.invoke(cli, ["everything-hello", "--name", "Mia"])
        assert result.exit_code == 0, result.output
        assert result.output == "everything says hello to Mia\n"
        assert "everything-hello" in runner.invoke(cli, ["--help"]).output
    finally:
        cli.commands.pop("everything-hello", None)  # the group is module-global


async def test_hook_startup(zc_app, zc_runtime):
    assert everything.CALLS.lifecycle_of(zc_runtime) == []
    async with AsyncTestClient(app=zc_app, base_url="http://testserver.local") as client:
        assert everything.CALLS.lifecycle_of(zc_runtime) == [("startup", zc_app)]
        assert (await client.get("/health")).status_code == 200
    assert everything.CALLS.lifecycle_of(zc_runtime)[0] == ("startup", zc_app)


async def test_hook_shutdown(zc_app, zc_runtime):
    async with AsyncTestClient(app=zc_app, base_url="http://testserver.local"):
        assert ("shutdown", zc_app) not in everything.CALLS.lifecycle_of(zc_runtime)
    assert everything.CALLS.lifecycle_of(zc_runtime) == [("startup", zc_app), ("shutdown", zc_app)]


# ---------------------------------------------------------------- rendering


async def test_hook_render_slot(zc_client, zc_runtime):
    from core.catalog.models import Brand

    async with zc_runtime.db.session() as session:
        session.add(Brand(slug="xss-co", name='<script>alert("x")</script> & Co', description=""))
        await session.commit()
    page = await zc_client.get("/", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200
    found = re.search(r'<section data-testid="everything-slot">(.*?)</section>', page.text, re.S)
    assert found, page.text
    fragment = found.group(1)
    # the page's context reached the plugin: its translator and the brands on the page
    assert everything.HELLO_ZH in fragment
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; Co" in fragment
    assert "<script>" not in page.text
    # the slot sits where home.html calls it: before the brand list
    assert page.text.index("everything-slot") < page.text.index('data-testid="brand-list"')
    # other slots get nothing from this plugin
    assert page.text.count("everything-slot") == 1


# ---------------------------------------------------------------- runtime


async def test_hook_handle_event(zc_runtime):
    await zc_runtime.start(worker=True, relay=True)
    token = uuid.uuid4().hex
    async with zc_runtime.db.session() as session:
        event_id = record_event(session, zc_runtime, everything.EVENT_TYPE, {"token": token})
        assert event_id not in everything.CALLS.events  # nothing before the commit
        await session.commit()

    async def completed() -> bool:
        async with zc_runtime.db.session() as session:
            row = (await session.execute(select(OutboxEvent).where(OutboxEvent.event_id == event_id))).scalar_one()
            return row.completed_at is not None

    await wait_for(completed)
    event, runtime = everything.CALLS.events[event_id]
    assert runtime is zc_runtime
    assert event.type == everything.EVENT_TYPE and event.payload == {"token": token}
    async with zc_runtime.db.session() as session:
        handlers = set((await session.execute(select(EventReceipt.handler).where(EventReceipt.event_id == event_id))).scalars())
    assert "everything" in handlers
    # a repeated dispatch (at-least-once delivery) does not run a handler that has a receipt
    zc_runtime.jobs.send("core.dispatch_event", event_id)
    await asyncio.to_thread(zc_runtime.jobs.join)
    assert everything.HANDLED[event_id] == 1

    # an event rolled back is never delivered
    async with zc_runtime.db.session() as session:
        lost = record_event(session, zc_runtime, everything.EVENT_TYPE, {"token": "rolled back"})
        await session.rollback()
    await zc_runtime.relay.relay_pending()
    await asyncio.to_thread(zc_runtime.jobs.join)
    assert lost not in everything.CALLS.events
    async with zc_runtime.db.session() as session:
        assert (await session.execute(select(OutboxEvent).where(OutboxEvent.event_id == lost))).first() is None


async def test_hook_seed_demo(zc_runtime):
    from core.auth.models import User
    from core.catalog.models import Brand
    from core.cli import seed
    from core.defaults.demo import DEMO_USERS

    try:
        await seed(zc_runtime)
        await seed(zc_runtime)  # `zhongcao demo` seeds on every start: idempotent
    finally:
        await downgrade_everything(zc_runtime)
    # the core's seed_demo ran first: the plugin saw the demo users both times
    assert [seen for rt, seen in everything.CALLS.seeds if rt is zc_runtime] == [True, True]
    async with zc_runtime.db.session() as session:
        brands = (await session.execute(select(Brand).where(Brand.slug == everything.SEED_BRAND))).scalars().all()
        emails = set((await session.execute(select(User.email))).scalars())
    assert len(brands) == 1 and brands[0].description == "seeded by the everything plugin"
    assert {email for email, _, _ in DEMO_USERS} <= emails

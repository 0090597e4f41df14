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
from core.pricing import Adjustment, quote
from core.runtime import create_runtime
from core.testing import ADDRESS, make_test_settings
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


async def test_hook_page_context(zc_client, zc_runtime):
    from core.catalog.models import Brand

    async with zc_runtime.db.session() as session:
        session.add_all([Brand(slug="one-co", name="One", description=""), Brand(slug="two-co", name="Two", description="")])
        await session.commit()
    page = await zc_client.get("/")
    # loaded by the async hook from the database, then shown by the synchronous slot
    assert re.search(r'data-testid="everything-count">2<', page.text), page.text
    assert "everything-count" not in (await zc_client.get("/products")).text  # other pages: nothing loaded, no slot


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


# ---------------------------------------------------------------- search


async def _search(client: Any, index: str, **params: Any) -> list[str]:
    r = await client.get(f"/api/v1/search/{index}", params=params)
    assert r.status_code == 200, r.text
    return [h["id"] for h in r.json()["hits"]]


async def test_hook_register_search_indexes(zc_client, zc_runtime, zc_settings):
    from core.search.base import SearchIndex

    declared = zc_runtime.search.indexes["everything_tips"]
    assert declared.owner == "everything" and {"products", "creators", "everything_tips"} <= set(zc_runtime.search.indexes)
    everything.TIPS.update({"t1": ("泡茶的水温 water temperature for tea", 1), "t2": ("面霜要先乳化 warm the cream", 1)})
    try:
        assert await _search(zc_client, "everything_tips", q="面霜") == ["t2"]  # first use: created and filled
        assert await _search(zc_client, "everything_tips", q="water") == ["t1"]
        assert await _search(zc_client, "everything_tips", sort="shortest") == ["t2", "t1"]
        # an event the index follows refreshes the documents it names
        everything.TIPS["t1"] = ("泡茶 only", 2)
        async with zc_runtime.db.session() as session:
            record_event(session, zc_runtime, everything.EVENT_TYPE, {"tip_ids": ["t1"]})
            await session.commit()
        await wait_for(lambda: _search(zc_client, "everything_tips", q="only"))
        assert await _search(zc_client, "everything_tips", q="water") == []
    finally:
        everything.TIPS.clear()

    class Broken:
        @hookimpl
        def register_search_indexes(self) -> list[Any]:
            return [SearchIndex(name="tips", searchable=("text",), filterable={"text2": "float"})]  # type: ignore[dict-item]

    with pytest.raises(PluginError) as excinfo:
        create_runtime(zc_settings, [("broken", Broken())])
    assert "'broken'" in str(excinfo.value) and "register_search_indexes" in str(excinfo.value) and "float" in str(excinfo.value)


async def test_hook_search_document(zc_client, zc_runtime, zc_make_product):
    product = await zc_make_product("hooks-brand", title="搜索测试面霜", price=9900)
    assert await zc_runtime.search.refresh("products", [product.product_id]) == 1
    r = await zc_client.get("/api/v1/search/products", params={"q": "面霜"})
    hit = r.json()["hits"][0]
    assert hit["document"]["title"] == "搜索测试面霜" and hit["document"]["everything"].startswith("seen ")  # the plugin's field, merged


# ---------------------------------------------------------------- commerce

async def product_with_sku(runtime: Any, make_product: Any, sku_prefix: str, brand: str = "hooks-brand", **kwargs: Any) -> Any:
    """A product whose variant SKU starts with `sku_prefix` (the fixture plugin's opt-in marker)."""
    from sqlalchemy import update

    from core.catalog.models import Variant

    variant = await make_product(brand, **kwargs)
    sku = f"{sku_prefix}-{uuid.uuid4().hex[:8]}"
    async with runtime.db.session() as session:
        await session.execute(update(Variant).where(Variant.id == variant.id).values(sku=sku))
        await session.commit()
    variant.sku = sku
    return variant


async def guest_cart(client: Any, *lines: tuple[int, int]) -> str:
    token = (await client.post("/api/v1/carts", json={})).json()["token"]
    for variant_id, quantity in lines:
        r = await client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": variant_id, "quantity": quantity})
        assert r.status_code == 200, r.text
    return token


async def start_checkout(client: Any, token: str) -> Any:
    return await client.post(f"/api/v1/carts/{token}/checkout", json={"address": ADDRESS, "email": "hooks@example.com"})


async def stock_counts(runtime: Any, variant_id: int) -> tuple[int, int, int]:
    from core.inventory import service as inventory

    async with runtime.db.read_session() as session:
        snap = await inventory.snapshot(session, variant_id)
    return snap.available, snap.reserved, snap.committed


async def row_count(runtime: Any, model: type) -> int:
    async with runtime.db.read_session() as session:
        return (await session.execute(select(func.count()).select_from(model))).scalar_one()


async def test_hook_price_adjustments(zc_client, zc_runtime, zc_make_product, zc_settings, zc_var_dir, zc_database_url):
    from core.inventory.models import StockHold

    discounted = await product_with_sku(zc_runtime, zc_make_product, everything.DISCOUNT_SKU, price=4990, stock=5)
    plain = await zc_make_product("hooks-brand", price=1000, stock=5)
    token = await guest_cart(zc_client, (discounted.id, 2), (plain.id, 1))

    # the plugin's discount is in the cart's server-side price, with its source
    cart = (await zc_client.get(f"/api/v1/carts/{token}")).json()
    lines = {ln["variant_id"]: ln for group in cart["groups"] for ln in group["lines"]}
    assert lines[discounted.id]["discount_minor"] == 998 and lines[discounted.id]["line_total_minor"] == 9980 - 998
    assert lines[discounted.id]["adjustments"] == [{"code": everything.DISCOUNT_CODE, "label": "Everything 10% off", "amount_minor": -998, "source": "everything"}]
    assert lines[plain.id]["discount_minor"] == 0 and lines[plain.id]["adjustments"] == []
    assert cart["total_minor"] == 9980 - 998 + 1000
    seen = [c for c, rt in everything.CALLS.priced if rt is zc_runtime]
    assert seen and {ln.sku for ln in seen[-1].lines} == {discounted.sku, plain.sku}

    # ... and again at checkout: the order carries the same discount
    r = await start_checkout(zc_client, token)
    assert r.status_code == 201, r.text
    checkout = r.json()
    assert checkout["total_minor"] == 9982
    (order,) = checkout["orders"]
    assert (order["subtotal_minor"], order["discount_minor"], order["total_minor"]) == (9982, 998, 9982)
    order_lines = {ln["variant_id"]: ln for ln in order["lines"]}
    assert (order_lines[discounted.id]["discount_minor"], order_lines[discounted.id]["total_minor"]) == (998, 8982)
    assert order_lines[plain.id]["total_minor"] == 1000

    # money never depends on plugin order: sorted by (priority, code, plugin)
    a = await zc_make_product("order-brand", price=1000, stock=0)
    b = await zc_make_product("order-brand", price=3000, stock=0)

    class Late:  # names only `cart`: the core passes only the arguments an implementation names
        @hookimpl
        def price_adjustments(self, cart: Any) -> list[Adjustment]:
            return [Adjustment(code="late", label="2000 off the brand", amount_minor=-2000, priority=20, brand_id=cart.lines[0].brand_id)]

    class Early:
        @hookimpl
        async def price_adjustments(self, cart: Any, runtime: Any) -> list[Adjustment]:
            return [Adjustment(code="early", label="800 off one item", amount_minor=-800, priority=10, variant_id=a.id)]

    async def priced(plugins: list[tuple[str, object]]) -> tuple[int, list[tuple[int, int, list]]]:
        runtime = create_runtime(zc_settings, plugins)
        try:
            async with runtime.db.read_session() as session:
                q = await quote(session, runtime, currency="CNY", user_id=None, wanted=[(a.id, 1), (b.id, 1)])
        finally:
            await runtime.dispose_loop_databases()
        return q.total_minor, [(ln.variant_id, ln.discount_minor, ln.adjustments) for bq in q.brands for ln in bq.lines]

    one = await priced([("alpha", Early()), ("beta", Late())])
    other = await priced([("beta", Late()), ("alpha", Early())])
    assert one == other
    # early first (800 off a), then 2000 split over the nets 200 : 3000 -> 125 + 1875;
    # the other way round a would be capped at zero and the total would differ
    assert one[0] == 4000 - 2800
    assert [(vid, discount) for vid, discount, _ in one[1]] == [(a.id, 925), (b.id, 1875)]
    assert [adj["source"] for adj in one[1][0][2]] == ["alpha", "beta"]

    # an adjustment that would raise a price is refused, naming the plugin
    class Greedy:
        @hookimpl
        def price_adjustments(self, cart: Any) -> list[Adjustment]:
            return [Adjustment(code="surcharge", label="more", amount_minor=100)]

    holds_before = await row_count(zc_runtime, StockHold)
    async with app_client(create_runtime(zc_settings, [("greedy", Greedy())])) as client:
        token = await guest_cart(client)
        await client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": plain.id, "quantity": 1})
        r = await client.get(f"/api/v1/carts/{token}")
        assert r.status_code == 422 and "greedy" in r.json()["detail"] and "raise" in r.json()["detail"], r.text
        r = await start_checkout(client, token)
        assert r.status_code == 422 and "greedy" in r.json()["detail"], r.text
        assert (await client.get(f"/api/v1/carts/{token}")).status_code == 422  # still open, still refused
    assert await row_count(zc_runtime, StockHold) == holds_before
    assert await stock_counts(zc_runtime, plain.id) == (5 - 1, 1, 0)  # only the checkout above holds it

    # a disabled plugin's coupon simply stops applying
    settings = make_test_settings(zc_var_dir, zc_database_url, plugins_disabled="everything")
    async with app_client(create_runtime(settings, [("everything", everything)])) as client:
        token = await guest_cart(client, (discounted.id, 2))
        cart = (await client.get(f"/api/v1/carts/{token}")).json()
        assert cart["total_minor"] == 9980
        assert cart["groups"][0]["lines"][0]["adjustments"] == []
        r = await start_checkout(client, token)
        assert r.status_code == 201 and r.json()["orders"][0]["discount_minor"] == 0, r.text


async def test_hook_validate_checkout(zc_client, zc_runtime, zc_make_product, zc_settings):
    from core.orders.models import Checkout, Order

    blocked = await product_with_sku(zc_runtime, zc_make_product, everything.BLOCK_SKU, price=2000, stock=5)
    fine = await zc_make_product("hooks-brand", price=1000, stock=5)

    class Picky:
        @hookimpl
        def validate_checkout(self, cart: Any, runtime: Any) -> list[str]:
            return ["picky: not more than 3 items"] if sum(ln.quantity for ln in cart.lines) > 3 else []

    async with app_client(create_runtime(zc_settings, [("everything", everything), ("picky", Picky())])) as client:
        token = await guest_cart(client, (blocked.id, 2), (fine.id, 2))
        r = await start_checkout(client, token)
        assert r.status_code == 422, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        problem = r.json()
        expected = {f"{blocked.sku} cannot be bought while the everything plugin is on", "picky: not more than 3 items"}
        assert set(problem["problems"]) == expected and all(p in problem["detail"] for p in expected)
        # nothing was written and nothing is held
        assert await stock_counts(zc_runtime, blocked.id) == (5, 0, 0)
        assert await stock_counts(zc_runtime, fine.id) == (5, 0, 0)
        assert await row_count(zc_runtime, Checkout) == 0 and await row_count(zc_runtime, Order) == 0
        assert (await client.get(f"/api/v1/carts/{token}")).json()["status"] == "open"
        # the hook saw the priced lines
        carts = [c for c, _rt in everything.CALLS.validated if any(ln.sku == blocked.sku for ln in c.lines)]
        assert carts and {(ln.variant_id, ln.quantity, ln.unit_price_minor) for ln in carts[-1].lines} == {(blocked.id, 2, 2000), (fine.id, 2, 1000)}
        # and the cart itself, as price_adjustments sees it: a plugin's one-off cart is known by its kind
        assert (carts[-1].cart_kind, carts[-1].codes) == ("shop", ()) and carts[-1].cart_id is not None

        # fix the cart: no problems, the checkout goes through
        r = await client.delete(f"/api/v1/carts/{token}/lines/{blocked.id}")
        assert r.status_code == 200, r.text
        r = await start_checkout(client, token)
        assert r.status_code == 201, r.text
        assert await stock_counts(zc_runtime, fine.id) == (3, 2, 0)


async def test_hook_register_payment_providers(zc_client, zc_runtime, zc_make_product, zc_settings):
    from core.payments.models import Payment
    from core.payments.providers import PaymentProvider

    mine = zc_runtime.payment_providers[everything.PROVIDER]
    assert isinstance(mine, everything.EverythingPay) and isinstance(mine, PaymentProvider)
    assert "sandbox" in zc_runtime.payment_providers  # the core's, through the same hook

    variant = await zc_make_product("hooks-brand", price=2500, stock=3)
    token = await guest_cart(zc_client, (variant.id, 2))
    checkout = (await start_checkout(zc_client, token)).json()
    declined = await zc_client.post(f"/api/v1/checkouts/{checkout['token']}/pay", json={"payment_method": "4000000000000002", "provider": everything.PROVIDER})
    assert declined.status_code == 402, declined.text
    r = await zc_client.post(f"/api/v1/checkouts/{checkout['token']}/pay", json={"payment_method": "4242424242424242", "provider": everything.PROVIDER})
    assert r.status_code == 200, r.text
    paid = r.json()
    assert paid["status"] == "paid" and paid["payment"]["provider"] == everything.PROVIDER
    assert paid["payment"]["captured_minor"] == 5000
    assert mine.ledger() == (5000, 0)
    assert zc_runtime.payment_providers["sandbox"].ledger() == (0, 0)
    async with zc_runtime.db.read_session() as session:
        assert [p.provider for p in (await session.execute(select(Payment))).scalars()] == [everything.PROVIDER]
    assert await stock_counts(zc_runtime, variant.id) == (1, 0, 2)

    # an unknown provider is refused
    token = await guest_cart(zc_client, (variant.id, 1))
    checkout = (await start_checkout(zc_client, token)).json()
    r = await zc_client.post(f"/api/v1/checkouts/{checkout['token']}/pay", json={"payment_method": "4242424242424242", "provider": "nope"})
    assert r.status_code == 422 and "nope" in r.json()["detail"], r.text

    # a second provider under a taken name stops start-up, naming the plugin and the hook
    class Copycat:
        @hookimpl
        def register_payment_providers(self, runtime: Any) -> list[Any]:
            return [everything.EverythingPay()]

    with pytest.raises(PluginError) as excinfo:
        create_runtime(zc_settings, [("everything", everything), ("copycat", Copycat())])
    message = str(excinfo.value)
    assert "'copycat'" in message and "register_payment_providers" in message and repr(everything.PROVIDER) in message


async def test_hook_creator_stats(zc_client, zc_make_user):
    from core.testing import api_token

    user = await zc_make_user(roles=("creator",))
    auth = await api_token(zc_client, user.email)
    everything.STATS_FOR[user.id] = (120_000, 9_600)
    try:
        r = await zc_client.put("/api/v1/me/creator-profile", json={"handle": f"stats{user.id}"}, headers=auth)
        card = r.json()["profile"]
        assert (card["followers"], card["avg_engagement"], card["engagement_rate_ppm"], card["stats_source"], card["tier"]) == (120_000, 9_600, 80_000, "everything", "mid")
        refused = await zc_client.put("/api/v1/me/creator-profile", json={"followers": 5_000_000}, headers=auth)
        assert refused.status_code == 422 and "computed" in refused.text
        everything.STATS_FOR[user.id] = (130_000, 9_600)  # the plugin's figures move: the next read shows them
        assert (await zc_client.get("/api/v1/me/creator-profile", headers=auth)).json()["profile"]["followers"] == 130_000
    finally:
        everything.STATS_FOR.pop(user.id, None)
    # no plugin answers any more: the figures stay, labelled self-reported, and are editable again
    card = (await zc_client.get("/api/v1/me/creator-profile", headers=auth)).json()["profile"]
    assert (card["followers"], card["stats_source"]) == (130_000, "self_reported")
    assert (await zc_client.put("/api/v1/me/creator-profile", json={"followers": 5_000}, headers=auth)).json()["profile"]["tier"] == "koc"


async def test_hook_register_payout_providers(zc_runtime, zc_make_user, zc_settings):
    from core.campaigns.models import CreatorProfile
    from core.campaigns.payouts import PayoutProvider, payout_providers, run_payouts
    from core.ledger import service as ledger
    from core.ledger.models import AccountKind
    from core.ledger.service import Posting, Txn

    providers = payout_providers(zc_runtime)
    mine = providers[everything.PROVIDER]
    assert isinstance(mine, everything.EverythingPayouts) and isinstance(mine, PayoutProvider)
    assert {"sandbox", "bank"} <= set(providers)  # the core's, through the same hook
    assert payout_providers(zc_runtime) is providers  # collected once per runtime

    creator = await zc_make_user(roles=("creator",))
    async with zc_runtime.db.session() as session:
        session.add(CreatorProfile(user_id=creator.id, handle=f"payout{creator.id}", payout_method=everything.PROVIDER, payout_details={}))
        await ledger.post(session, Txn(key=f"hooks-fee:{creator.id}", kind="fixed_fee", currency="CNY",
                                       postings=[Posting(AccountKind.BRAND_PAYABLE, 1, 50_000), Posting(AccountKind.CREATOR_AVAILABLE, creator.id, -50_000)]))
        await session.commit()
    result = await run_payouts(zc_runtime, currency="CNY", key=f"hooks-{uuid.uuid4().hex[:8]}")
    [payout] = result.payouts
    assert (payout.provider, payout.status, payout.net_minor) == (everything.PROVIDER, "paid", 45_000)
    assert mine.ledger() == {"CNY": 45_000} and providers["sandbox"].ledger() == {}

    # a second provider under a taken name stops the runtime's payouts, naming the plugin and the hook
    class Copycat:
        @hookimpl
        def register_payout_providers(self, runtime: Any) -> list[Any]:
            return [everything.EverythingPayouts()]

    with pytest.raises(PluginError) as excinfo:
        payout_providers(create_runtime(zc_settings, [("everything", everything), ("copycat", Copycat())]))
    message = str(excinfo.value)
    assert "'copycat'" in message and "register_payout_providers" in message and repr(everything.PROVIDER) in message


async def test_hook_attribute_sale(zc_client, zc_runtime, zc_make_user, zc_make_product):
    from datetime import timedelta

    from core.campaigns.attribution import attribute_order
    from core.campaigns.models import Attribution, Commission, DiscountCode, TrackedLink
    from tests.core.attribution_helpers import buy, click, seed_collaboration, settle

    cream = await zc_make_product("hooks-brand", price=10_000, stock=20)
    balm = await zc_make_product("hooks-brand", price=2_000, stock=20)
    note_author = await zc_make_user(roles=("creator",))
    linker = await zc_make_user(roles=("creator",))
    seeded = await seed_collaboration(zc_runtime, creator_id=note_author.id, variants=[cream, balm], attribution_days=7)
    other = await seed_collaboration(zc_runtime, creator_id=linker.id, variants=[cream], campaign_id=seeded.campaign_id)
    async with zc_runtime.db.session() as s:
        s.add(TrackedLink(code="hooklink", collaboration_id=other.collaboration_id, target_kind="campaign"))
        s.add(DiscountCode(code="LINKER", collaboration_id=other.collaboration_id))
        await s.commit()

    async def attributed(paid: dict[str, Any]) -> list[tuple[int, str, int, str | None]]:
        order_id = paid["orders"][0]["id"]
        await attribute_order(zc_runtime, order_id)
        await settle(zc_runtime)
        async with zc_runtime.db.read_session() as s:
            rows = (await s.execute(select(Attribution).where(Attribution.order_id == order_id).order_by(Attribution.order_line_id))).scalars().all()
        return [(a.creator_user_id, a.source, a.ref) for a in rows]

    everything.ATTRIBUTE_FOR[cream.id] = (note_author.id, 50, timedelta(hours=2))
    try:
        # the plugin's note (priority 50) beats the linker's click (10) on the line it claims
        visitor = str(uuid.uuid4())
        await click(zc_client, "hooklink", visitor)
        paid = await buy(zc_client, [(cream.id, 1), (balm.id, 1)], visitor=visitor)
        # the balm, which the plugin does not claim, goes to the link
        assert await attributed(paid) == [(note_author.id, "everything", f"note-{cream.id}"), (linker.id, "link", "hooklink")]
        seen = everything.SALES_SEEN[paid["orders"][0]["id"]]
        assert seen.visitor_id == visitor and seen.codes == () and [ln.variant_id for ln in seen.lines] == [cream.id, balm.id]
        assert [ln.paid_minor for ln in seen.lines] == [10_000, 2_000]

        # a code always wins: plugin priorities are capped below it
        everything.ATTRIBUTE_FOR[cream.id] = (note_author.id, 1_000, timedelta(hours=2))
        paid = await buy(zc_client, [(cream.id, 1)], code="LINKER")
        assert await attributed(paid) == [(linker.id, "code", "LINKER")]
        assert everything.SALES_SEEN[paid["orders"][0]["id"]].codes == ("LINKER",)

        # a claim from before the attribution window counts for nothing: the link wins
        everything.ATTRIBUTE_FOR[cream.id] = (note_author.id, 50, timedelta(days=8))
        visitor = str(uuid.uuid4())
        await click(zc_client, "hooklink", visitor)
        paid = await buy(zc_client, [(cream.id, 1)], visitor=visitor)
        assert await attributed(paid) == [(linker.id, "link", "hooklink")]

        # garbage from the plugin stops the handler, naming the plugin and the hook
        everything.BROKEN_ATTRIBUTION.add(balm.id)
        paid = await buy(zc_client, [(balm.id, 1)])
        with pytest.raises(PluginError) as excinfo:
            await attribute_order(zc_runtime, paid["orders"][0]["id"])
        assert "'everything'" in str(excinfo.value) and "attribute_sale" in str(excinfo.value)
    finally:
        everything.ATTRIBUTE_FOR.pop(cream.id, None)
        everything.BROKEN_ATTRIBUTION.discard(balm.id)
    async with zc_runtime.db.read_session() as s:
        assert len((await s.execute(select(Commission))).scalars().all()) == 4


async def test_hook_commission_policy(zc_client, zc_runtime, zc_make_user, zc_make_product):
    from core.campaigns.attribution import attribute_order
    from core.campaigns.commissions import CommissionTerms
    from core.campaigns.models import Commission, DiscountCode
    from tests.core.attribution_helpers import buy, seed_collaboration, settle

    special = await zc_make_product("hooks-brand", price=5_000, stock=20)
    plain = await zc_make_product("hooks-brand", price=5_000, stock=20)
    creator = await zc_make_user(roles=("creator",))
    seeded = await seed_collaboration(zc_runtime, creator_id=creator.id, variants=[special, plain], rate_ppm=100_000)
    async with zc_runtime.db.session() as s:
        s.add(DiscountCode(code="POLICY", collaboration_id=seeded.collaboration_id))
        await s.commit()
    everything.POLICY_FOR[special.id] = CommissionTerms(kind="flat", flat_minor=1_234)
    try:
        paid = await buy(zc_client, [(special.id, 2), (plain.id, 1)], code="POLICY")
        await attribute_order(zc_runtime, paid["orders"][0]["id"])
        await settle(zc_runtime)
    finally:
        everything.POLICY_FOR.pop(special.id, None)
    async with zc_runtime.db.read_session() as s:
        rows = (await s.execute(select(Commission).order_by(Commission.order_line_id))).scalars().all()
    # the plugin decided the special line; the core's own policy (trylast) the other
    assert [(c.rate_kind, c.flat_minor, c.rate_ppm, c.amount_minor) for c in rows] == [("flat", 1_234, 0, 2_468), ("percent", 0, 100_000, 500)]
    seen = everything.POLICY_SEEN[rows[0].order_line_id]
    assert (seen.creator_user_id, seen.quantity, seen.paid_minor, seen.new_buyer, seen.source) == (creator.id, 2, 10_000, True, "code")
    assert seen.terms == CommissionTerms(kind="percent", rate_ppm=100_000)  # what the campaign would have paid


async def test_hook_resolve_content(zc_client, zc_runtime, zc_settings, zc_make_user, zc_make_product):
    from datetime import timedelta

    from core.campaigns.collaborations import ContentInfo, note_protected_until, resolve_content
    from core.db import utcnow
    from tests.core.test_collaborations import API, delivered_collaboration

    c = await delivered_collaboration(zc_client, zc_make_user, zc_make_product)
    submit = f"{API}/collaborations/{c['id']}/content"
    assert await resolve_content(zc_runtime, "note", "hook-note") is None
    r = await zc_client.post(submit, json={"kind": "note", "ref": "hook-note"}, headers=c["creator"])
    assert r.status_code == 422 and "no such note" in r.text  # nobody knows this note yet

    live_at = utcnow() - timedelta(minutes=5)
    everything.NOTES["hook-note"] = ContentInfo(
        url="https://example.com/notes/hook-note", author_user_id=c["creator_id"], title="hook", sponsored_label=True, published=True, published_at=live_at, engagement=42,
    )
    try:
        assert await resolve_content(zc_runtime, "note", "hook-note") == everything.NOTES["hook-note"]  # the async hook is awaited
        assert await resolve_content(zc_runtime, "url", "hook-note") is None
        r = await zc_client.post(submit, json={"kind": "note", "ref": "hook-note"}, headers=c["creator"])
        assert (r.json()["status"], r.json()["disclosure_ok"]) == ("content_submitted", True), r.text
        # approval re-checks the label; the note is live, so the collaboration publishes at once
        r = await zc_client.post(f"{API}/collaborations/{c['id']}/approve", headers=c["brand"])
        assert (r.json()["status"], r.json()["published_at"]) == ("published", live_at.isoformat().replace("+00:00", "Z")), r.text
        async with zc_runtime.db.read_session() as s:
            assert await note_protected_until(s, "hook-note") == live_at + timedelta(days=30)
    finally:
        everything.NOTES.pop("hook-note", None)

    # an answer of the wrong type names the plugin
    class Sloppy:
        @hookimpl
        def resolve_content(self, kind: str, ref: str, runtime: Any) -> Any:
            return {"url": ref}

    with pytest.raises(TypeError, match="'sloppy'"):
        await resolve_content(create_runtime(zc_settings, [("everything", everything), ("sloppy", Sloppy())]), "note", "n-1")

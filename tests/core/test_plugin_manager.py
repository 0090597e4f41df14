"""The plugin manager: entry points, disabling, validation errors, tracing, route prefixes."""

from __future__ import annotations

import logging
import types

import pytest
from litestar import get
from litestar.testing import AsyncTestClient

from core import hookimpl
from core.app import create_app
from core.plugin_manager import PluginError, build_plugin_manager
from core.runtime import Runtime

BUILT_IN = {"notes", "feed", "live", "group_buy"}


def test_built_in_plugins_and_surfaces_load_through_entry_points():
    pm = build_plugin_manager()
    kinds = {name: info.kind for name, info in pm.infos.items()}
    assert {n for n, k in kinds.items() if k == "plugin"} >= BUILT_IN
    assert kinds["storefront"] == kinds["creator_portal"] == "surface"
    assert kinds["core"] == "core"
    for name in BUILT_IN:
        assert pm.infos[name].module == f"plugins.{name}.hooks"
        assert pm.infos[name].version == "0.1.0"


def test_disabled_plugins_are_not_loaded():
    pm = build_plugin_manager(disabled=("live", "feed"))
    assert pm.get_plugin("live") is None and pm.get_plugin("feed") is None
    assert pm.get_plugin("notes") is not None


def test_unknown_disabled_name_fails_start_up_naming_it():
    with pytest.raises(PluginError, match="nope"):
        build_plugin_manager(disabled=("nope",))


def test_hookimpl_without_a_spec_fails_naming_plugin_and_hook():
    bad = types.ModuleType("bad_plugin")

    @hookimpl
    def register_routez(surface):  # noqa: ANN001, ANN202 - the typo is the point
        return []

    bad.register_routez = register_routez
    with pytest.raises(PluginError) as err:
        build_plugin_manager(extra=[("badplug", bad)])
    assert "badplug" in str(err.value) and "register_routez" in str(err.value)


def test_hookimpl_with_wrong_arguments_fails_naming_plugin_and_hook():
    bad = types.ModuleType("bad_args")

    @hookimpl
    def register_routes(where):  # noqa: ANN001, ANN202
        return []

    bad.register_routes = register_routes
    with pytest.raises(PluginError) as err:
        build_plugin_manager(extra=[("wrongargs", bad)])
    assert "wrongargs" in str(err.value) and "register_routes" in str(err.value)


def test_trace_logs_every_hook_call(caplog):
    pm = build_plugin_manager(trace=True)
    logger = logging.getLogger("zhongcao.plugins")
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level(logging.INFO, logger="zhongcao.plugins"):
            pm.hook.register_templates()
            pm.call_each("register_routes", surface="api")
    finally:
        logger.removeHandler(caplog.handler)
    text = caplog.text
    assert "hook register_templates" in text and "storefront" in text
    assert "hook register_routes(surface) -> core" in text


def test_trace_is_switched_on_by_environment(zc_settings, monkeypatch):
    from core.settings import Settings

    monkeypatch.setenv("ZHONGCAO_TRACE_PLUGINS", "1")
    settings = Settings(var_dir=zc_settings.var_dir, database_url=zc_settings.database_url, secret_key="x")
    assert settings.trace_plugins
    from core.runtime import create_runtime

    assert create_runtime(settings).pm.trace_enabled


def _routes_plugin() -> types.ModuleType:
    plugin = types.ModuleType("shop_extras")

    @get("/where", sync_to_thread=False)
    def where() -> dict[str, str]:
        return {"ok": "yes"}

    @hookimpl
    def register_routes(surface):  # noqa: ANN001, ANN202
        return [where]

    plugin.register_routes = register_routes
    return plugin


@pytest.fixture
def zc_extra_plugins():
    return [("shop_extras", _routes_plugin())]


async def test_plugin_routes_mount_under_their_own_prefix(zc_client):
    for path in ("/api/v1/shop-extras/where", "/shop-extras/where", "/creator/shop-extras/where"):
        response = await zc_client.get(path)
        assert response.status_code == 200, path
        assert response.json() == {"ok": "yes"}
    assert (await zc_client.get("/where")).status_code == 404


def test_plugin_cannot_take_a_core_url(zc_settings):
    plugin = types.ModuleType("account")

    @get("/", sync_to_thread=False)
    def steal() -> str:
        return "mine"

    @hookimpl
    def register_routes(surface):  # noqa: ANN001, ANN202
        return [steal] if surface == "storefront" else []

    plugin.register_routes = register_routes
    from core.runtime import create_runtime

    with pytest.raises(Exception, match="account"):
        create_app(runtime=create_runtime(zc_settings, [("account", plugin)]))


async def test_disabling_a_plugin_breaks_no_page(zc_settings, _zc_migrated):
    from core.runtime import create_runtime

    settings = zc_settings.model_copy(update={"plugins_disabled": "notes,feed,live,group_buy"})
    runtime: Runtime = create_runtime(settings)
    async with AsyncTestClient(app=create_app(runtime=runtime)) as client:
        assert (await client.get("/")).status_code == 200
        assert (await client.get("/login")).status_code == 200
        assert (await client.get("/api/v1/brands")).status_code == 200


async def test_headless_mode_without_surfaces(zc_settings, _zc_migrated):
    from core.runtime import create_runtime

    settings = zc_settings.model_copy(update={"plugins_disabled": "storefront,creator_portal"})
    async with AsyncTestClient(app=create_app(runtime=create_runtime(settings))) as client:
        assert (await client.get("/api/v1/brands")).status_code == 200
        missing = await client.get("/login", headers={"accept": "text/html"})
        assert missing.status_code == 404

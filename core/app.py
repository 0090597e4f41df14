"""create_app(settings) -> Litestar: plugins, runtime, surfaces, then Litestar.

Each surface is a Router with only the middleware it needs: the API reads bearer
tokens; the storefront and portal read the session cookie and check CSRF. App-level
routes (/health, /metrics, /schema) carry no middleware at all, which keeps the
framework's per-request cost close to a bare Litestar app.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape
from litestar import Litestar, Request, Router, get
from litestar.channels import ChannelsPlugin
from litestar.config.csrf import CSRFConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.session import SessionMiddleware
from litestar.middleware.session.client_side import (
    ClientSideSessionBackend,
    CookieBackendConfig,
)
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme
from litestar.plugins.prometheus import PrometheusConfig, PrometheusController
from litestar.template.config import TemplateConfig
from sqlalchemy.ext.asyncio import AsyncSession

from core import __version__, realtime
from core.auth.permissions import Actor
from core.catalog.media import media_router
from core.logs import configure_logging
from core.plugin_manager import PluginError
from core.runtime import Runtime, create_runtime
from core.settings import Settings
from core.web import (
    BearerIdentity,
    GuestPageHits,
    SessionIdentity,
    handle_exception,
    install_jinja_globals,
    provide_actor,
    provide_runtime,
    provide_session,
)

SURFACE_PATHS = {"api": "/api/v1", "storefront": "/", "creator_portal": "/creator"}


def plugin_prefix(name: str) -> str:
    return name.replace("_", "-")


@get("/health", include_in_schema=False, sync_to_thread=False)
def health() -> dict[str, str]:
    return {"status": "ok", "version": __version__}


class MetricsController(PrometheusController):
    path = "/metrics"
    include_in_schema = False


def build_jinja_env(runtime: Runtime) -> Environment:
    """Plugins' folders first (they may override), then the surfaces', then the core's."""
    rank = {"plugin": 0, "surface": 1, "core": 2}
    folders = []
    for plugin, paths in runtime.pm.call_each("register_templates"):
        folders.extend((rank[runtime.pm.infos[plugin].kind], str(p)) for p in paths)
    loader = ChoiceLoader([FileSystemLoader(path) for _, path in sorted(folders, key=lambda f: f[0])])
    env = Environment(loader=loader, autoescape=select_autoescape(default=True, default_for_string=True), auto_reload=runtime.settings.debug)
    install_jinja_globals(env, runtime)
    runtime.pm.hook.prepare_jinja_env(env=env)
    return env


def _surface_handlers(runtime: Runtime, surface: str) -> list[Any]:
    own: list[Any] = []
    mounted: list[tuple[str, list[Any]]] = []
    for plugin, contributed in runtime.pm.call_each("register_routes", surface=surface):
        kind = runtime.pm.infos[plugin].kind
        contributed = list(contributed)
        if kind in ("core", "surface"):
            own.extend(contributed)
        elif contributed:
            mounted.append((plugin, contributed))
    # A plugin's prefix may not be a first path segment the core or surface already uses.
    taken = {route.path.strip("/").split("/")[0] for route in Router(path="/", route_handlers=own).routes} if own else set()
    handlers = list(own)
    for plugin, contributed in mounted:
        prefix = plugin_prefix(plugin)
        if prefix in taken:
            raise PluginError(f"plugin {plugin!r}: hook register_routes: prefix '/{prefix}' is already a {surface} URL")
        handlers.append(Router(path=f"/{prefix}", route_handlers=contributed, tags=[plugin]))
    return handlers


def _surface_enabled(runtime: Runtime, surface: str) -> bool:
    return surface == "api" or runtime.pm.get_plugin(surface) is not None


async def _run_hook(runtime: Runtime, name: str, app: Litestar) -> None:
    for result in getattr(runtime.pm.hook, name)(app=app, runtime=runtime):
        if inspect.isawaitable(result):
            await result


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None, extra_plugins: Any = ()) -> Litestar:
    settings = settings or (runtime.settings if runtime else Settings())
    configure_logging(debug=settings.debug)
    runtime = runtime or create_runtime(settings, extra_plugins)
    secure = settings.public_url.startswith("https://")

    prometheus = PrometheusConfig(app_name="zhongcao", prefix="zhongcao", group_path=True)
    session_config = CookieBackendConfig(secret=runtime.session_secret, key="zc_session", secure=secure, samesite="lax")
    session_mw = DefineMiddleware(SessionMiddleware, backend=_SharedCookieBackend(config=session_config))
    csrf = CSRFConfig(secret=runtime.token_secret, cookie_name="zc_csrf", cookie_secure=secure)
    csrf_mw = DefineMiddleware(CSRFMiddleware, config=csrf)

    routers: list[Any] = []
    for surface, path in SURFACE_PATHS.items():
        if not _surface_enabled(runtime, surface):
            continue
        handlers = _surface_handlers(runtime, surface)
        if not handlers:
            continue
        if surface == "api":
            middleware = [prometheus.middleware, BearerIdentity()]
        else:
            middleware = [realtime.keep_server_send, GuestPageHits(csrf), prometheus.middleware, session_mw, csrf_mw, SessionIdentity()]
        routers.append(
            Router(
                path=path, route_handlers=handlers, middleware=middleware, include_in_schema=surface == "api", opt={"surface": surface},
            )
        )

    async def on_startup(app: Litestar) -> None:
        await app.state.runtime.start()
        realtime.attach(app.state.runtime, app)
        await _run_hook(app.state.runtime, "startup", app)

    async def on_shutdown(app: Litestar) -> None:
        await _run_hook(app.state.runtime, "shutdown", app)
        realtime.detach(app.state.runtime)
        await app.state.runtime.stop()

    channels = ChannelsPlugin(
        backend=_channels_backend(settings), arbitrary_channels_allowed=True,
        subscriber_max_backlog=realtime.SUBSCRIBER_BACKLOG, subscriber_backlog_strategy="dropleft",
    )
    app = Litestar(
        route_handlers=[health, MetricsController, media_router(settings), *routers],
        dependencies={
            "runtime": Provide(provide_runtime),
            "session": Provide(provide_session),
            "actor": Provide(provide_actor),
        },
        exception_handlers={Exception: handle_exception},
        # handlers may import these only under TYPE_CHECKING
        signature_namespace={"Runtime": Runtime, "AsyncSession": AsyncSession, "Actor": Actor, "Request": Request},
        template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(build_jinja_env(runtime))),
        openapi_config=OpenAPIConfig(
            title="Zhongcao API",
            version=__version__,
            path="/schema",
            render_plugins=[SwaggerRenderPlugin()],
            components=Components(security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT")}),
            security=[{"bearer": []}],
            use_handler_docstrings=True,
        ),
        plugins=[channels],
        request_max_body_size=settings.max_body_bytes,
        on_startup=[on_startup],
        on_shutdown=[on_shutdown],
        state=State({"runtime": runtime}),
        debug=False,
        logging_config=None,
    )
    return app


def attach_runtime(app: Litestar, runtime: Runtime) -> None:
    """Serve `app` from another runtime with the same settings and plugins. Handlers,
    middleware and templates reach the runtime only through `app.state` and the Jinja
    globals, so an app (whose routes cost seconds to build) can outlive a runtime: the
    tests build one per plugin set and settings, not one per test."""
    app.state.runtime = runtime
    install_jinja_globals(app.template_engine.engine, runtime)


def _channels_backend(settings: Settings) -> Any:
    if settings.redis_url:
        from litestar.channels.backends.redis import RedisChannelsPubSubBackend
        from redis.asyncio import Redis

        return RedisChannelsPubSubBackend(redis=Redis.from_url(settings.redis_url))
    from litestar.channels.backends.memory import MemoryChannelsBackend

    return MemoryChannelsBackend()


class _SharedCookieBackend(ClientSideSessionBackend):
    """Routers are copied when mounted; the cipher inside cannot be, and need not be."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _SharedCookieBackend:
        return self


def template_folder(module_file: str) -> Path:
    return Path(module_file).resolve().parent / "templates"

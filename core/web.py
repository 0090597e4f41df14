"""What every surface shares: identity, the actor, guards, pages and error rendering."""

from __future__ import annotations

import inspect
import logging
import re
import time
from html import escape as html_escape
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import msgspec
from jinja2 import pass_context
from litestar import MediaType, Request
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import ASGIMiddleware
from litestar.plugins.problem_details import ProblemDetailsException
from litestar.response import Redirect, Response, Template
from markupsafe import Markup
from prometheus_client import Counter

from core.auth.permissions import Actor
from core.auth.service import load_actor, read_token
from core.errors import DomainError, NotAuthenticated
from core.i18n import pick_locale, plural_translator, translator
from core.plugin_manager import PluginError

if TYPE_CHECKING:
    from pathlib import Path

    from litestar import Router
    from litestar.config.csrf import CSRFConfig
    from litestar.connection import ASGIConnection
    from litestar.handlers import BaseRouteHandler
    from litestar.types import ASGIApp, Receive, Scope, Send

    from core.runtime import Runtime

log = logging.getLogger("zhongcao.web")
API_PREFIX = "/api/"
PORTAL_PREFIX = "/creator"
_UNSET = object()


class Identity(msgspec.Struct, frozen=True):
    user_id: int
    epoch: int
    via: str  # "session" | "token"


class SessionIdentity(ASGIMiddleware):
    """HTML surfaces: who is logged in, from the encrypted session cookie. Never rejects."""

    scopes = ("http", "websocket")  # type: ignore[assignment]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        session = scope.get("session") or {}
        uid = session.get("uid") if isinstance(session, dict) else None
        scope["user"] = Identity(int(uid), int(session.get("ep", 0)), "session") if uid else None
        await next_app(scope, receive, send)


class BearerIdentity(ASGIMiddleware):
    """JSON API: who is calling, from `Authorization: Bearer <jwt>`. Never rejects;
    guards and services decide what needs an actor."""

    scopes = ("http",)  # type: ignore[assignment]

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        scope["user"] = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                if scheme.lower() == "bearer" and token:
                    found = read_token(scope["app"].state.runtime, token.strip())
                    if found:
                        scope["user"] = Identity(found[0], found[1], "token")
                break
        await next_app(scope, receive, send)


def runtime_of(connection: ASGIConnection) -> Runtime:
    return connection.app.state.runtime


async def current_actor(connection: ASGIConnection) -> Actor | None:
    """Load the actor once per request (one user row, roles, brand memberships)."""
    cached = connection.scope.get("zc_actor", _UNSET)
    if cached is not _UNSET:
        return cached  # type: ignore[return-value]
    ident = connection.scope.get("user")
    actor = None
    if isinstance(ident, Identity):
        async with runtime_of(connection).db.read_session() as session:
            actor = await load_actor(session, ident.user_id, ident.epoch)
    connection.scope["zc_actor"] = actor  # type: ignore[typeddict-unknown-key]
    return actor


async def login_required(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
    if await current_actor(connection) is None:
        raise NotAuthenticated("log in to continue")


def role_required(role: str):
    async def guard(connection: ASGIConnection, _handler: BaseRouteHandler) -> None:
        from core.auth.permissions import require_role

        require_role(await current_actor(connection), role)

    guard.__name__ = f"requires_{role}"
    return guard


# ---------------------------------------------------------------- dependencies


async def provide_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


async def provide_session(request: Request):
    """Safe methods get a reading session, the others a writing one (see core.db)."""
    db = request.app.state.runtime.db
    async with (db.read_session() if request.method in ("GET", "HEAD", "OPTIONS") else db.session()) as session:
        request.state.db_session = session  # render() hands its connection back early
        yield session


async def provide_actor(request: Request) -> Actor | None:
    return await current_actor(request)


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


# ---------------------------------------------------------------- bodies

S = TypeVar("S", bound=msgspec.Struct)


async def strict_body(request: Request, data: S) -> S:
    """The body again, decoded strictly. Litestar converts bodies leniently ("100" and
    100.0 become 100, 1 becomes true); money and flags here take JSON types as they are.
    The body is cached, so this costs one more msgspec decode."""
    try:
        return msgspec.json.decode(await request.body(), type=type(data), strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        found = re.search(r"at `\$\.?([^`]*)`", message)
        key = found.group(1) if found else ""
        raise ValidationException(
            detail=f"Validation failed for {request.method} {request.url.path}",
            extra=[{"message": message, "key": key, "source": "body"}],
        ) from exc



# ---------------------------------------------------------------- pages


def surface_of(path: str) -> str:
    if path.startswith(API_PREFIX):
        return "api"
    return "creator_portal" if path == PORTAL_PREFIX or path.startswith(PORTAL_PREFIX + "/") else "storefront"


def build_page_context(request: Request, actor: Actor | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    runtime = runtime_of(request)
    locale = pick_locale(request, runtime, actor.locale if actor else None)
    ctx = {
        "actor": actor,
        "locale": locale,
        "_": (translate := translator(runtime, locale)),
        "_n": plural_translator(translate),
        "surface": surface_of(request.url.path),
        "payment_mode": runtime.settings.payment_mode,
        "payment_test_mode": getattr(runtime.payment_providers.get(runtime.settings.payment_mode), "test_mode", True),
        "current_path": request.url.path,
        "flash": request.query_params.get("notice"),
    }
    if extra:
        ctx.update(extra)
    return ctx


# ---------------------------------------------------------------- guest pages

GUEST_CACHE = "guest_cache"  # a GET handler's opt: guests may be served this page from the guest page cache
GUEST_PAGES_KEPT = 2_000
GUEST_PAGE_HITS = Counter("zhongcao_guest_page_hits", "Storefront pages served to guests from the guest page cache")


class GuestPages:
    """Pages as guests see them, kept a couple of seconds per process (micro-caching, as a
    CDN in front of a shop does): a popular product or note page under load is rendered
    once per interval instead of once per visit. Only for handlers that opt in, only for
    visitors with no session, cart or bearer token (whose pages never depend on who they
    are), keyed by path, query and language; each visitor's own CSRF token is put back
    in. Guests never see their own writes on these pages, so a short staleness is safe."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._pages: dict[tuple[str, str, str], tuple[float, int, tuple[bytes, ...]]] = {}

    def key(self, request: Request) -> tuple[str, str, str] | None:
        if self.seconds <= 0:
            return None
        cookies = request.cookies
        if "zc_session" in cookies or "zc_cart" in cookies or "authorization" in request.headers:
            return None
        runtime = runtime_of(request)
        return (request.url.path, request.url.query or "", pick_locale(request, runtime))

    def get(self, key: tuple[str, str, str]) -> tuple[int, tuple[bytes, ...]] | None:
        """The status and the page's UTF-8 bytes cut where the visitor's CSRF token goes."""
        kept = self._pages.get(key)
        if kept is None or kept[0] < time.monotonic():
            return None
        return kept[1], kept[2]

    def put(self, key: tuple[str, str, str], status: int, body: str, token: str) -> None:
        if len(self._pages) >= GUEST_PAGES_KEPT:
            now = time.monotonic()
            self._pages = {k: v for k, v in self._pages.items() if v[0] >= now}
            if len(self._pages) >= GUEST_PAGES_KEPT:
                self._pages.pop(next(iter(self._pages)))
        encoded = body.encode()
        self._pages[key] = (time.monotonic() + self.seconds, status, tuple(encoded.split(token.encode())) if token else (encoded,))


def _csrf_token(request: Request) -> str:
    from litestar.utils.scope.state import ScopeState

    return ScopeState.from_scope(request.scope).csrf_token or ""


class GuestPageHits(ASGIMiddleware):
    """First on the storefront surfaces: a kept guest page goes out from here, ahead of
    the metrics, session and CSRF middleware and the handler (on a hit those cost ~7x
    sending the page). The visitor's CSRF cookie is issued here as the CSRF middleware
    would (same token format, same cookie); kept pages are counted in
    `zhongcao_guest_page_hits_total`. On a miss the key is left in the scope's state
    for `render` to keep the page under."""

    scopes = ("http",)  # type: ignore[assignment]

    def __init__(self, csrf: CSRFConfig) -> None:
        from litestar.datastructures import Cookie

        self.csrf = csrf
        sample = Cookie(key=csrf.cookie_name, value="ZCTOKEN", path=csrf.cookie_path, secure=csrf.cookie_secure,
                        httponly=csrf.cookie_httponly, samesite=csrf.cookie_samesite, domain=csrf.cookie_domain).to_header(header="")
        self._cookie_head, _, self._cookie_tail = sample.partition("ZCTOKEN")

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        if scope["method"] == "GET" and scope["route_handler"].opt.get(GUEST_CACHE):
            request: Request = Request(scope)
            pages = runtime_of(request).guest_pages
            key = pages.key(request)
            kept = pages.get(key) if key is not None else None
            if kept is not None:
                GUEST_PAGE_HITS.inc()
                await self._send(scope, send, request, *kept)
                return
            scope.setdefault("state", {})["guest_page_key"] = key
        await next_app(scope, receive, send)

    async def _send(self, scope: Scope, send: Send, request: Request, status: int, parts: tuple[bytes, ...]) -> None:
        from litestar.middleware.csrf import generate_csrf_token

        token = request.cookies.get(self.csrf.cookie_name)
        headers = [(b"content-type", b"text/html; charset=utf-8")]
        if not token:
            token = generate_csrf_token(secret=self.csrf.secret)
            headers.append((b"set-cookie", f"{self._cookie_head}{token}{self._cookie_tail}".encode("latin-1")))
        payload = html_escape(token).encode().join(parts)
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


async def render(request: Request, template: str, context: dict[str, Any] | None = None, status_code: int = 200) -> Template | Response:
    # Rendering is a handler's last step: what it did not commit would be rolled back
    # anyway, so the request's session gives its connection back now. Otherwise the
    # actor lookup and the plugins' page_context would each hold a second connection
    # while this one waits, and a busy worker's pool would run dry (measured: 30 s
    # stalls at 32 connections on SQLite).
    held = getattr(request.state, "db_session", None)
    if held is not None:
        await held.close()
    ctx = build_page_context(request, await current_actor(request), context)
    runtime = runtime_of(request)
    for extra in runtime.pm.hook.page_context(template=template, context=ctx, runtime=runtime):
        if inspect.isawaitable(extra):
            extra = await extra
        if extra:
            ctx.update(extra)
    pages = runtime.guest_pages
    key = getattr(request.state, "guest_page_key", None) if status_code == 200 else None
    if key is not None:  # rendered here (as Litestar would) so the page can be kept
        page = Template(template_name=template, context=ctx)
        body = request.app.template_engine.get_template(template).render(**page.create_template_context(request))
        pages.put(key, status_code, body, html_escape(_csrf_token(request)))
        return Response(body, status_code=status_code, media_type=MediaType.HTML)
    return Template(template_name=template, context=ctx, status_code=status_code, media_type=MediaType.HTML)


def install_jinja_globals(env: Any, runtime: Runtime) -> None:
    pm = runtime.pm

    @pass_context
    def slot(ctx: Any, name: str, **extra: Any) -> Markup:
        context = dict(ctx)
        context.update(extra)

        def render_template(template: str, **more: Any) -> Markup:
            """A plugin's fragment template, rendered by the page's own environment (its
            globals, filters and template overrides) with the slot's context."""
            return Markup(ctx.environment.get_template(template).render({**context, **more}))

        context["render_template"] = render_template
        parts = pm.hook.render_slot(slot=name, context=context)
        for part in parts:
            if inspect.isawaitable(part):
                part.close()  # type: ignore[union-attr]
                raise PluginError(f"hook render_slot must be synchronous (slot {name!r})")
        return Markup("".join(str(p) for p in reversed(parts) if p))

    def money(amount_minor: int, currency: str) -> str:
        from core.money import Money

        return Money(amount_minor, currency).format()

    env.globals["slot"] = slot
    env.filters["money"] = money
    env.globals["login_url"] = login_url


class PageModules:
    """A plugin's page modules answering its page hooks together. Each module has
    TRANSLATIONS, `async page_context(template, context, runtime)` and
    `render_slot(slot, context)`; `load` imports them late, so a plugin's hooks module
    stays cheap to import."""

    def __init__(self, load: Callable[[], tuple[Any, ...]]) -> None:
        self._load = load

    def translations(self) -> dict[str, dict[str, str]]:
        from core.i18n import merge_catalogs

        return merge_catalogs(*(module.TRANSLATIONS for module in self._load()))

    async def page_context(self, template: str, context: dict[str, Any], runtime: Runtime) -> dict[str, Any] | None:
        merged: dict[str, Any] = {}
        for module in self._load():
            extra = await module.page_context(template, context, runtime)
            if extra:
                merged.update(extra)
        return merged or None

    def render_slot(self, slot: str, context: dict[str, Any]) -> Markup | None:
        parts = [part for module in self._load() if (part := module.render_slot(slot, context))]
        return Markup("".join(parts)) if parts else None


def static_assets(path: str, directory: Path, *, name: str) -> Router:
    """A surface's or plugin's own CSS, JS and images: cached by browsers for an hour
    (then revalidated by Last-Modified / ETag), and no session or CSRF work per file."""
    from litestar.datastructures import CacheControlHeader
    from litestar.static_files import create_static_files_router

    return create_static_files_router(
        path=path, directories=[directory], name=name, include_in_schema=False, opt={"skip_session": True, "exclude_from_csrf": True},
        cache_control=CacheControlHeader(public=True, max_age=3600),
    )


def login_url(path: str) -> str:
    base = PORTAL_PREFIX + "/login" if surface_of(path) == "creator_portal" else "/login"
    return f"{base}?next={quote(path)}"


# ---------------------------------------------------------------- errors


def _problem(request: Request, status: int, title: str, detail: str, slug: str, extra: dict[str, Any] | None = None, headers: dict[str, str] | None = None) -> Response:
    return ProblemDetailsException(
        detail=detail,
        status_code=status,
        title=title,
        type_=f"https://zhongcao.dev/problems/{slug}",
        instance=request.url.path,
        extra=extra or None,
        headers=headers,
    ).to_response(request)


_HTTP_TITLES = {
    400: ("Bad request", "bad-request"),
    401: ("Login required", "login-required"),
    403: ("Forbidden", "forbidden"),
    404: ("Not found", "not-found"),
    405: ("Method not allowed", "method-not-allowed"),
    413: ("Request body too large", "body-too-large"),
    415: ("Unsupported media type", "unsupported-media-type"),
    429: ("Too many requests", "throttled"),
}


def _undecodable_body(exc: Exception) -> bool:
    """Invalid UTF-8 or JSON nested thousands deep: msgspec raises these instead of its
    DecodeError, and Litestar's JSON decoding lets them through as if they were our bug."""
    if not isinstance(exc, (UnicodeDecodeError, RecursionError)) or exc.__traceback__ is None:
        return False
    tb = exc.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code.co_name == "decode_json"


def _describe(exc: Exception) -> tuple[int, str, str, str, dict[str, Any], dict[str, str]]:
    """status, title, detail, type slug, extra members, headers."""
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else {}
        return exc.status_code, exc.title, exc.detail, exc.type_slug, dict(exc.extra), headers
    if _undecodable_body(exc):
        return 400, "Bad request", f"the request body cannot be decoded: {type(exc).__name__}", "bad-request", {}, {}
    if isinstance(exc, HTTPException):
        status = exc.status_code
        title, slug = _HTTP_TITLES.get(status, ("Error", "http-error"))
        extra: dict[str, Any] = {}
        if isinstance(exc, ValidationException) and exc.extra:
            extra["errors"] = exc.extra
            title, slug = "Invalid request", "invalid-request"
        if status >= 500:
            return status, "Server error", "something went wrong on our side", "server-error", {}, {}
        return status, title, str(exc.detail), slug, extra, dict(exc.headers or {})
    return 500, "Server error", "something went wrong on our side", "server-error", {}, {}


def _csrf_input(request: Request) -> str:
    from html import escape

    from litestar.utils.empty import value_or_default
    from litestar.utils.scope.state import ScopeState

    token = value_or_default(ScopeState.from_scope(request.scope).csrf_token, "")  # Empty before the CSRF middleware ran
    return f'<input type="hidden" name="_csrf_token" value="{escape(token)}" />'


def _prefers_json(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "json" in accept and "html" not in accept


def handle_exception(request: Request, exc: Exception) -> Response:
    status, title, detail, slug, extra, headers = _describe(exc)
    if status >= 500:
        log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    surface = surface_of(request.url.path)
    if surface == "api" or _prefers_json(request):
        return _problem(request, status, title, detail, slug, extra, headers)
    if status == 401:
        return Redirect(login_url(request.url.path))
    try:
        actor = request.scope.get("zc_actor")  # only if already loaded: handlers are synchronous
        ctx = build_page_context(request, actor if isinstance(actor, Actor) else None, {"status": status, "title": title, "detail": detail})
        ctx["request"] = request
        ctx["csrf_input"] = _csrf_input(request)
        # rendered here, not lazily, so a broken or missing layout falls back below
        html = request.app.template_engine.get_template("error.html").render(**ctx)
        return Response(html, status_code=status, headers=headers or None, media_type=MediaType.HTML)
    except Exception:
        log.exception("error page failed")
        return Response(f"{status} {title}", status_code=status, media_type="text/plain")


# ---------------------------------------------------------------- HTML sessions


def start_session(request: Request, user: Any) -> None:
    """Log a user in on the HTML surfaces (encrypted cookie; epoch allows revocation)."""
    request.set_session({"uid": user.id, "ep": user.auth_epoch})
    request.scope.pop("zc_actor", None)  # type: ignore[misc]


def end_session(request: Request) -> None:
    request.clear_session()
    request.scope["zc_actor"] = None  # type: ignore[typeddict-unknown-key]


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths: never an open redirect. Browsers drop tabs and
    newlines inside URLs ("/<tab>/evil.com" is "//evil.com"), so unprintables are refused."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target and target.isprintable():
        return target
    return default

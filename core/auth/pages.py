"""Login, sign-up and logout pages, shared by the storefront and the creator portal.

Each surface builds its own controller with its own templates and landing page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body
from litestar.response import Redirect, Response

from core.auth import service
from core.errors import Conflict, NotAuthenticated, Throttled, ValidationFailed
from core.i18n import LANG_COOKIE, LOCALES
from core.orders.cookies import CART_COOKIE
from core.web import client_address, end_session, render, safe_next, start_session

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]


async def _merge_guest_cart(session: AsyncSession, token: str, user_id: int) -> None:
    """At login, the guest's cart folds into the user's (a failed merge never blocks a login)."""
    from core.errors import DomainError
    from core.orders.cart import merge_guest_cart

    actor = await service.load_actor(session, user_id)
    if actor is None:
        return
    try:
        await merge_guest_cart(session, token, actor)
        await session.commit()
    except DomainError:
        await session.rollback()


def remember_language(response: Response, code: str) -> None:
    """The language cookie: it beats the account's choice and the browser's (core.i18n.pick_locale)."""
    if code in LOCALES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax", httponly=False)


def _field(data: dict[str, Any], name: str) -> str:
    value = data.get(name, "")
    return value if isinstance(value, str) else ""


def make_auth_controller(*, path: str, template_dir: str, landing: str, signup_roles: tuple[str, ...] = ()) -> type[Controller]:
    login_tpl, signup_tpl = f"{template_dir}/login.html", f"{template_dir}/signup.html"

    class AuthPages(Controller):
        @get("/login")
        async def login_page(self, request: Request, next: str | None = None) -> Any:
            return await render(request, login_tpl, {"next": safe_next(next, landing), "email": "", "error": None})

        @post("/login")
        async def login_submit(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime) -> Any:
            email, target = _field(data, "email"), safe_next(_field(data, "next"), landing)
            try:
                user = await service.authenticate(session, runtime, email=email, password=_field(data, "password"), client=client_address(request))
            except (NotAuthenticated, Throttled) as exc:
                status = 429 if isinstance(exc, Throttled) else 401
                return await render(request, login_tpl, {"next": target, "email": email, "error": exc.detail}, status_code=status)
            start_session(request, user)
            response = Redirect(target, status_code=303)
            if request.cookies.get(CART_COOKIE):
                await _merge_guest_cart(session, request.cookies[CART_COOKIE], user.id)
                response.delete_cookie(CART_COOKIE, path="/")
            return response

        @get("/signup")
        async def signup_page(self, request: Request) -> Any:
            return await render(request, signup_tpl, {"form": {}, "errors": {}, "error": None})

        @post("/signup")
        async def signup_submit(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime) -> Any:
            form = {k: _field(data, k) for k in ("email", "display_name", "locale")}
            roles = ("creator",) if _field(data, "creator") or "creator" in signup_roles else ()
            try:
                user = await service.signup(
                    session, runtime, email=form["email"], password=_field(data, "password"),
                    display_name=form["display_name"], locale=form["locale"] or "zh-CN", roles=roles,
                )
                await session.commit()
            except (ValidationFailed, Conflict) as exc:
                errors = exc.extra.get("fields", {})
                return await render(request, signup_tpl, {"form": form, "errors": errors, "error": exc.detail}, status_code=exc.status_code)
            start_session(request, user)
            response = Redirect(landing, status_code=303)
            if request.cookies.get(CART_COOKIE):  # signing up logs in: the guest's cart comes along
                await _merge_guest_cart(session, request.cookies[CART_COOKIE], user.id)
                response.delete_cookie(CART_COOKIE, path="/")
            return response

        @post("/logout")
        async def logout(self, request: Request) -> Redirect:
            end_session(request)
            return Redirect(landing if landing != "/creator" else "/creator/login", status_code=303)

        @get("/lang/{code:str}")
        async def set_language(self, request: Request, code: str, next: str | None = None) -> Response:
            target = safe_next(next, landing)
            response = Redirect(target, status_code=303)
            remember_language(response, code)
            return response

    AuthPages.path = path
    AuthPages.__name__ = f"AuthPages_{template_dir}"
    return AuthPages

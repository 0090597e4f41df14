"""Core storefront pages. Thin: services do the work, templates only show it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Controller, Request, get, post
from litestar.response import Redirect

from core import forms
from core.auth import service as accounts
from core.auth.pages import remember_language
from core.catalog import service as catalog
from core.errors import Conflict, PermissionDenied, Throttled, ValidationFailed
from core.i18n import LOCALES
from core.notices import service as notices
from core.web import GUEST_CACHE, client_address, login_required, render, start_session
from storefront.commerce import Form, PageNumber, notice_url, problem, product_card

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime

NEW_ARRIVALS = 6
NOTICES_PER_PAGE = 20
BRAND_PRODUCTS = 48


class StorefrontPages(Controller):
    path = "/"

    @get("/", opt={GUEST_CACHE: True})
    async def home(self, request: Request, session: AsyncSession) -> Any:
        brands = await catalog.list_brands(session, limit=24)
        products = await catalog.list_active_products(session, limit=NEW_ARRIVALS)
        return await render(request, "storefront/home.html", {"brands": brands, "cards": [product_card(v) for v in products]})

    @get("/brands/{slug:str}", opt={GUEST_CACHE: True})
    async def brand(self, request: Request, slug: str, session: AsyncSession) -> Any:
        brand = await catalog.get_brand_by_slug(session, slug)
        products = await catalog.list_active_products(session, brand_slug=brand.slug, limit=BRAND_PRODUCTS)
        return await render(request, "storefront/brand.html", {"brand": brand, "cards": [product_card(v) for v in products]})

    @get("/account", guards=[login_required])
    async def account(self, request: Request) -> Any:
        return await render(request, "storefront/account.html")

    @get("/account/notices", guards=[login_required])
    async def my_notices(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, page: PageNumber = 1) -> Any:
        """Her notices, newest first; the unseen ones are marked, then seen (the top bar
        stops counting them)."""
        assert actor is not None
        found = await notices.notices_of(session, actor.user_id, limit=NOTICES_PER_PAGE + 1, offset=(page - 1) * NOTICES_PER_PAGE)
        shown = found[:NOTICES_PER_PAGE]
        unseen = [n.id for n in shown if n.seen_at is None]
        items = [{"notice": n, "unseen": n.seen_at is None} for n in shown]
        if unseen:
            async with runtime.db.session() as write:
                await notices.mark_seen(write, actor.user_id, unseen)
                await write.commit()
        return await render(request, "storefront/notices.html", {"items": items, "page": page, "has_next": len(found) > NOTICES_PER_PAGE, "notice_text": notices.notice_text})

    # -- account settings: name and language, password

    @get("/account/settings", guards=[login_required])
    async def account_settings(self, request: Request, actor: Actor | None) -> Any:
        return await self._settings_page(request, actor)

    async def _settings_page(
        self, request: Request, actor: Actor | None, *, profile: dict[str, str] | None = None, profile_failure: dict[str, Any] | None = None,
        password_failure: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        assert actor is not None
        return await render(
            request, "storefront/account_settings.html",
            {
                "profile": profile or {"display_name": actor.display_name, "locale": actor.locale}, "locales": LOCALES,
                "profile_failure": profile_failure or {}, "password_failure": password_failure or {},
            },
            status_code=status_code,
        )

    @post("/account/settings", guards=[login_required])
    async def save_account_settings(self, request: Request, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        """The language is kept on the account and in the language cookie (which the footer's
        switch sets too, and which wins), so the choice shows at once."""
        assert actor is not None
        profile = {"display_name": forms.text(data, "display_name"), "locale": forms.text(data, "locale")}
        try:
            await accounts.update_account(session, actor.user_id, display_name=profile["display_name"], locale=profile["locale"])
            await session.commit()
        except ValidationFailed as exc:
            await session.rollback()
            return await self._settings_page(request, actor, profile=profile, profile_failure=problem(exc), status_code=exc.status_code)
        response = Redirect(notice_url("/account/settings", "Settings saved"), status_code=303)
        remember_language(response, profile["locale"])
        return response

    @post("/account/settings/password", guards=[login_required])
    async def change_password(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        """Signs out every other session and token; this browser gets a fresh session."""
        assert actor is not None
        new_password = forms.text(data, "new_password")
        try:
            if new_password != forms.text(data, "confirm_password"):
                raise ValidationFailed("the new passwords do not match", extra={"fields": {"confirm_password": "does not match"}})
            user = await accounts.change_password(
                session, runtime, actor.user_id, current_password=forms.text(data, "current_password"), new_password=new_password,
                client=client_address(request),
            )
            await session.commit()
        except (ValidationFailed, PermissionDenied, Throttled, Conflict) as exc:
            await session.rollback()
            return await self._settings_page(request, actor, password_failure=problem(exc), status_code=exc.status_code)
        start_session(request, user)
        return Redirect(notice_url("/account/settings", "Password changed"), status_code=303)

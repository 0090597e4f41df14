from __future__ import annotations

from typing import TYPE_CHECKING

from litestar import Controller, Request, get, patch, post

from core.auth import service
from core.auth.permissions import Actor
from core.auth.schemas import (
    AccountIn,
    BrandRoleOut,
    MeOut,
    PasswordIn,
    SignupIn,
    TokenIn,
    TokenOut,
)
from core.web import client_address, login_required

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime


def me_out(actor: Actor) -> MeOut:
    return MeOut(
        id=actor.user_id,
        email=actor.email,
        display_name=actor.display_name,
        locale=actor.locale,
        roles=sorted(actor.roles),
        brands=[BrandRoleOut(brand_id=b, role=r) for b, r in sorted(actor.brand_roles.items())],
    )


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]

    @post("/signup", status_code=201)
    async def signup(self, data: SignupIn, session: AsyncSession, runtime: Runtime) -> TokenOut:
        """Create an account and return a bearer token for it."""
        user = await service.signup(
            session, runtime, email=data.email, password=data.password, display_name=data.display_name,
            locale=data.locale, roles=("creator",) if data.creator else (),
        )
        await session.commit()
        token, expires = service.issue_token(runtime, user)
        return TokenOut(access_token=token, token_type="Bearer", expires_at=expires)

    @post("/token", status_code=200)
    async def token(self, data: TokenIn, request: Request, session: AsyncSession, runtime: Runtime) -> TokenOut:
        """Exchange email and password for a bearer token. Rate-limited per email and address."""
        user = await service.authenticate(session, runtime, email=data.email, password=data.password, client=client_address(request))
        token, expires = service.issue_token(runtime, user)
        return TokenOut(access_token=token, token_type="Bearer", expires_at=expires)

    @patch("/me", guards=[login_required])
    async def update_me(self, data: AccountIn, session: AsyncSession, actor: Actor | None) -> MeOut:
        """Change the caller's display name (1-80 characters, as at sign-up) and preferred language (`zh-CN` or `en`)."""
        assert actor is not None
        await service.update_account(session, actor.user_id, display_name=data.display_name, locale=data.locale)
        await session.commit()
        updated = await service.load_actor(session, actor.user_id)
        assert updated is not None
        return me_out(updated)

    @post("/password", status_code=200, guards=[login_required])
    async def change_password(self, data: PasswordIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> TokenOut:
        """Change the caller's password. Every earlier session and token stops working, this
        one included: use the token returned. A wrong current password is 403 and counts as a
        failed login (rate-limited like `/auth/token`)."""
        assert actor is not None
        user = await service.change_password(
            session, runtime, actor.user_id, current_password=data.current_password, new_password=data.new_password, client=client_address(request)
        )
        await session.commit()
        token, expires = service.issue_token(runtime, user)
        return TokenOut(access_token=token, token_type="Bearer", expires_at=expires)

    @post("/logout-everywhere", status_code=204, guards=[login_required])
    async def logout_everywhere(self, session: AsyncSession, actor: Actor | None) -> None:
        """Revoke every session and token of the caller."""
        assert actor is not None
        await service.logout_everywhere(session, actor.user_id)
        await session.commit()


@get("/me", guards=[login_required], tags=["auth"])
async def me(actor: Actor | None) -> MeOut:
    """The caller's account, roles and brand memberships."""
    assert actor is not None
    return me_out(actor)

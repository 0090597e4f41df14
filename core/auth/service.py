"""Sign-up, login (rate-limited), account settings, actors and API tokens."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from litestar.security.jwt import Token
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.auth.models import GRANTABLE_ROLES, Role, User, UserRole
from core.auth.permissions import Actor
from core.catalog.models import BrandMember
from core.errors import (
    Conflict,
    NotAuthenticated,
    PermissionDenied,
    Throttled,
    ValidationFailed,
)
from core.events import mark_changed, record_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the email is unknown, so timing does not reveal which emails
    exist. Made when first needed (off the event loop), not at import: hashing costs
    ~0.5 s, which every process importing this module (each CLI command) paid."""
    return _hasher.hash("zhongcao-timing-equaliser")


# No whitespace or control characters (PostgreSQL text cannot even hold NUL).
EMAIL_RE = re.compile(r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,255}\.[^@\s\x00-\x1f\x7f]{2,}$")
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
LOCALES = ("zh-CN", "en")
JWT_ALGORITHM = "HS256"


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def verify_password(password_hash: str, password: str) -> bool:
    def check() -> bool:
        try:
            return _hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(check)


def password_problem(password: str) -> str | None:
    if len(password) < 8:
        return "use at least 8 characters"
    if len(password) > 256:
        return "use at most 256 characters"
    return None


async def display_names(session: AsyncSession, user_ids: set[int] | list[int]) -> dict[int, str]:
    """User id -> display name, for lists that show people beside their handles (one query)."""
    if not user_ids:
        return {}
    return dict((await session.execute(select(User.id, User.display_name).where(User.id.in_(sorted(set(user_ids)))))).all())


def display_name_problem(display_name: str) -> str | None:
    if not display_name.strip() or len(display_name) > 80 or CONTROL_RE.search(display_name):
        return "enter a name of 1-80 characters"
    return None


def _raise_problems(problems: dict[str, str | None]) -> None:
    found = {k: v for k, v in problems.items() if v}
    if found:
        raise ValidationFailed("; ".join(f"{k}: {v}" for k, v in found.items()), extra={"fields": found})


def validate_signup(email: str, password: str, display_name: str) -> None:
    _raise_problems({
        "email": None if EMAIL_RE.match(email) else "enter a valid email address",
        "password": password_problem(password),
        "display_name": display_name_problem(display_name),
    })


async def signup(
    session: AsyncSession,
    runtime: Runtime,
    *,
    email: str,
    password: str,
    display_name: str,
    locale: str = "zh-CN",
    roles: tuple[str, ...] = (),
) -> User:
    """Create an account. `roles` may only ask for `creator` here; staff is granted by staff."""
    email = normalise_email(email)
    validate_signup(email, password, display_name)
    if locale not in LOCALES:
        locale = runtime.settings.default_locale
    if set(roles) - {Role.CREATOR}:
        raise ValidationFailed("only the creator role can be chosen at sign-up")
    user = User(email=email, password_hash=await hash_password(password), display_name=display_name.strip(), locale=locale)
    session.add(user)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict("an account with this email already exists", extra={"fields": {"email": "already registered"}}) from exc
    for role in roles:
        session.add(UserRole(user_id=user.id, role=role))
    record_event(session, runtime, "user.signed_up", {"user_id": user.id, "roles": list(roles)})
    await session.flush()
    return user


async def grant_role(session: AsyncSession, user_id: int, role: str) -> None:
    if role not in GRANTABLE_ROLES:
        raise ValidationFailed(f"role {role!r} cannot be granted")
    if await session.get(UserRole, (user_id, role)) is None:
        session.add(UserRole(user_id=user_id, role=role))
        await session.flush()


class LoginLimiter:
    """Counts failed logins per email and per client address in the runtime's store
    (memory when embedded, Redis in production), over a sliding window."""

    def __init__(self, runtime: Runtime) -> None:
        self.store = runtime.stores.get("login_attempts")
        self.limit = runtime.settings.login_attempts
        self.window = runtime.settings.login_window_seconds

    @staticmethod
    def _keys(email: str, client: str) -> list[tuple[str, int]]:
        digest = hashlib.sha256(email.encode()).hexdigest()[:32]
        return [(f"email:{digest}", 1), (f"ip:{client}", 4)]

    async def check(self, email: str, client: str) -> None:
        for key, factor in self._keys(email, client):
            raw = await self.store.get(key)
            if raw is not None and int(raw) >= self.limit * factor:
                retry = await self.store.expires_in(key) or self.window
                raise Throttled("too many failed logins; try again later", retry_after=max(1, int(retry)))

    async def failed(self, email: str, client: str) -> None:
        for key, _factor in self._keys(email, client):
            raw = await self.store.get(key)
            await self.store.set(key, str(int(raw or 0) + 1), expires_in=self.window)

    async def succeeded(self, email: str, client: str) -> None:
        await self.store.delete(self._keys(email, client)[0][0])


async def authenticate(session: AsyncSession, runtime: Runtime, *, email: str, password: str, client: str) -> User:
    email = normalise_email(email)
    limiter = LoginLimiter(runtime)
    await limiter.check(email, client)
    # a malformed email cannot belong to an account (and NUL would upset PostgreSQL)
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none() if EMAIL_RE.match(email) else None
    stored_hash = user.password_hash if user else None
    await session.commit()  # end the transaction: hashing takes ~50 ms and must not hold a lock
    ok = await verify_password(stored_hash or await asyncio.to_thread(_dummy_hash), password)
    if user is None or not ok or not user.is_active:
        await limiter.failed(email, client)
        raise NotAuthenticated("wrong email or password")
    await limiter.succeeded(email, client)
    return user


async def load_actor(session: AsyncSession, user_id: int, epoch: int | None = None) -> Actor | None:
    """The actor for a session or token, or None if the user is gone, inactive or logged out."""
    user = await session.get(User, user_id)
    if user is None or not user.is_active or (epoch is not None and epoch != user.auth_epoch):
        return None
    roles = {Role.SHOPPER.value}
    roles.update((await session.execute(select(UserRole.role).where(UserRole.user_id == user_id))).scalars())
    brand_roles = dict((await session.execute(select(BrandMember.brand_id, BrandMember.role).where(BrandMember.user_id == user_id))).all())
    if brand_roles:
        roles.add(Role.BRAND_MEMBER.value)
    return Actor(user_id=user.id, email=user.email, display_name=user.display_name, locale=user.locale, roles=frozenset(roles), brand_roles=brand_roles)


async def logout_everywhere(session: AsyncSession, user_id: int) -> None:
    user = await session.get(User, user_id)
    if user is not None:
        user.auth_epoch = user.auth_epoch + 1
        await session.flush()


async def update_account(session: AsyncSession, user_id: int, *, display_name: str | None = None, locale: str | None = None) -> User:
    """Change the name others see and the preferred language (None leaves a field as it is)."""
    _raise_problems({
        "display_name": None if display_name is None else display_name_problem(display_name),
        "locale": None if locale is None or locale in LOCALES else "choose zh-CN or en",
    })
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("log in to continue")
    if display_name is not None and display_name.strip() != user.display_name:
        user.display_name = display_name.strip()
        mark_changed(session, "creator.changed", user_id)  # creator search shows the name
        mark_changed(session, "user.renamed", user_id)  # so do a plugin's copies (the notes' author)
    if locale is not None:
        user.locale = locale
    await session.flush()
    return user


async def change_password(
    session: AsyncSession, runtime: Runtime, user_id: int, *, current_password: str, new_password: str, client: str
) -> User:
    """Replace the password after checking the current one (wrong guesses count like failed
    logins), and bump `auth_epoch`: every session and token issued before stops working.
    The caller re-issues its own session or token from the returned user."""
    _raise_problems({"new_password": password_problem(new_password)})
    user = await session.get(User, user_id)
    if user is None or not user.is_active:
        raise NotAuthenticated("log in to continue")
    limiter = LoginLimiter(runtime)
    await limiter.check(user.email, client)
    old_hash = user.password_hash
    await session.commit()  # end the transaction: hashing takes ~100 ms and must not hold a lock
    if not await verify_password(old_hash, current_password):
        await limiter.failed(user.email, client)
        raise PermissionDenied("the current password is wrong", extra={"fields": {"current_password": "the current password is wrong"}})
    await limiter.succeeded(user.email, client)
    new_hash = await hash_password(new_password)
    changed = await session.execute(
        update(User).where(User.id == user_id, User.password_hash == old_hash)  # unless it changed meanwhile
        .values(password_hash=new_hash, auth_epoch=User.auth_epoch + 1).execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise Conflict("the password was changed meanwhile; log in again")
    await session.refresh(user)
    return user


def issue_token(runtime: Runtime, user: User) -> tuple[str, datetime]:
    expires = datetime.now(UTC) + timedelta(seconds=runtime.settings.token_ttl_seconds)
    token = Token(exp=expires, sub=str(user.id), iss="zhongcao", extras={"ep": user.auth_epoch})
    return token.encode(runtime.token_secret, JWT_ALGORITHM), expires


def read_token(runtime: Runtime, encoded: str) -> tuple[int, int] | None:
    """(user_id, epoch) from a valid token, else None."""
    try:
        token = Token.decode(encoded, runtime.token_secret, JWT_ALGORITHM, issuer="zhongcao")
        return int(token.sub), int(token.extras.get("ep", 0))
    except Exception:  # noqa: BLE001 - any bad token is simply anonymous
        return None


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())

"""Brand services. Products, variants and categories arrive with the commerce core."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from core.auth.models import User
from core.auth.permissions import Actor, require_staff
from core.catalog.models import Brand, BrandMember
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import record_event

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")


async def list_brands(session: AsyncSession, *, limit: int = 50, offset: int = 0) -> list[Brand]:
    rows = await session.execute(select(Brand).order_by(Brand.name).limit(limit).offset(offset))
    return list(rows.scalars())


async def get_brand_by_slug(session: AsyncSession, slug: str) -> Brand:
    # PostgreSQL rejects NUL in text; no slug holds one anyway
    brand = None if "\x00" in slug else (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none()
    if brand is None:
        raise NotFound(f"no brand {slug!r}")
    return brand


async def brands_of_user(session: AsyncSession, user_id: int) -> list[tuple[Brand, str]]:
    rows = await session.execute(
        select(Brand, BrandMember.role).join(BrandMember, BrandMember.brand_id == Brand.id).where(BrandMember.user_id == user_id).order_by(Brand.name)
    )
    return [(b, r) for b, r in rows.all()]


async def create_brand(session: AsyncSession, runtime: Runtime, actor: Actor, *, slug: str, name: str, description: str = "", owner_id: int | None = None) -> Brand:
    """Platform staff open brands and name their first owner."""
    require_staff(actor)
    if not SLUG_RE.match(slug):
        raise ValidationFailed("slug must be 1-80 lowercase letters, digits or hyphens")
    if not name.strip():
        raise ValidationFailed("name must not be empty")
    if "\x00" in name or "\x00" in description:
        raise ValidationFailed("name and description must not contain NUL characters")
    brand = Brand(slug=slug, name=name.strip(), description=description)
    session.add(brand)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"brand slug {slug!r} is taken") from exc
    if owner_id is not None:
        await add_brand_member(session, runtime, actor, brand_id=brand.id, user_id=owner_id, role="owner")
    return brand


async def add_brand_member(session: AsyncSession, runtime: Runtime, actor: Actor, *, brand_id: int, user_id: int, role: str = "staff") -> BrandMember:
    from core.auth.permissions import require_brand_member

    if not actor.is_staff:
        require_brand_member(actor, brand_id, role="owner")
    if role not in ("owner", "staff"):
        raise ValidationFailed("role must be owner or staff")
    if await session.get(User, user_id) is None:
        raise NotFound(f"no user {user_id}")
    member = await session.get(BrandMember, (brand_id, user_id))
    if member is None:
        member = BrandMember(brand_id=brand_id, user_id=user_id, role=role)
        session.add(member)
        record_event(session, runtime, "brand.member_added", {"brand_id": brand_id, "user_id": user_id, "role": role})
    else:
        member.role = role
    await session.flush()
    return member

"""Authors' public profiles in notes (the @handle, avatar, bio and counts), follows and
comment/post bans. A profile is made on first use: a creator keeps their creator
profile's handle; anyone else starts as `u<id>` and may choose another."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from plugins.notes.models import NotesProfile

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession


async def ensure_profile(session: AsyncSession, user_id: int) -> NotesProfile:
    """The user's notes profile, created if missing (safe against a concurrent creation)."""
    found = await session.get(NotesProfile, user_id)
    if found is not None:
        return found
    from core.campaigns.profiles import profile_of_user

    creator = await profile_of_user(session, user_id)
    candidates = [creator.handle] if creator is not None else []
    candidates.append(f"u{user_id}")
    for handle in candidates:
        taken = (await session.execute(select(NotesProfile.user_id).where(NotesProfile.handle == handle))).first()
        if taken is not None:
            continue
        try:
            async with session.begin_nested():
                profile = NotesProfile(user_id=user_id, handle=handle, bio="")
                session.add(profile)
            return profile
        except IntegrityError:
            found = await session.get(NotesProfile, user_id)
            if found is not None:
                return found
    raise RuntimeError(f"no free handle for user {user_id}")  # u<id> is unique to them


async def profile_by_handle(session: AsyncSession, handle: str) -> NotesProfile | None:
    return (await session.execute(select(NotesProfile).where(NotesProfile.handle == handle.lower()))).scalar_one_or_none()

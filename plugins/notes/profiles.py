"""Authors' public profiles in notes (the @handle, avatar, bio and counts), follows and
comment/post bans. A profile is made on first use: a creator keeps their creator
profile's handle; anyone else starts as `u<id>` and may choose another."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import and_, select, update
from sqlalchemy.exc import IntegrityError

from core.auth.models import User
from core.auth.service import display_names
from core.campaigns import profiles as creator_profiles
from core.db import dialect_insert, utcnow, valid_id
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events import mark_changed, record_event
from plugins.notes.models import BrandFollow, BrandStats, Follow, NotesProfile

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime


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


# ---------------------------------------------------------------- people: handles, follows, bans

HANDLE_RE = creator_profiles.HANDLE_RE  # one rule for handles: a creator's notes handle is their creator handle
DEFAULT_HANDLE_RE = re.compile(r"^u\d+$")  # `u<id>` belongs to user <id>: ensure_profile falls back on it
MAX_BIO = 500
PROFILES = NotesProfile.__table__
FOLLOWS = Follow.__table__
BRAND_FOLLOWS = BrandFollow.__table__
BRAND_STATS = BrandStats.__table__

PROFILE_EVENT_TYPES = {
    "user.followed": "A user followed another (payload: follower_user_id, followee_user_id).",
    "user.unfollowed": "A user stopped following another (payload: follower_user_id, followee_user_id).",
    "user.banned": "Platform staff barred a user from commenting and posting until a time (payload: user_id, until, reason, by_user_id).",
    "user.unbanned": "Platform staff lifted a user's ban (payload: user_id, by_user_id).",
    "brand.followed": "A user followed a brand (payload: user_id, brand_id).",
    "brand.unfollowed": "A user stopped following a brand (payload: user_id, brand_id).",
}


@dataclass(frozen=True)
class Person:
    """A profile as lists and cards show it; the relation flags are about the viewer."""

    profile: NotesProfile
    display_name: str
    followed_by_me: bool = False
    follows_me: bool = False
    since: datetime | None = None  # when the follow in a followers/following list began


@dataclass(frozen=True)
class FollowState:
    following: bool
    follower_count: int  # the followee's, after the change
    following_count: int  # the follower's, after the change


# -- bans

def is_banned(profile: NotesProfile | None, now: datetime | None = None) -> bool:
    return profile is not None and profile.banned_until is not None and profile.banned_until > (now or utcnow())


async def require_not_banned(session: AsyncSession, user_id: int, doing: str = "comment") -> None:
    """403 with the reason and the end of the ban while one runs (`doing`: comment, post)."""
    profile = await session.get(NotesProfile, user_id)
    if is_banned(profile):
        assert profile is not None and profile.banned_until is not None
        until = profile.banned_until.strftime("%Y-%m-%d %H:%M UTC")
        reason = f": {profile.ban_reason}" if profile.ban_reason else ""
        raise PermissionDenied(f"you are banned from posting and commenting until {until}{reason}",
                               extra={"banned_until": profile.banned_until.isoformat(), "reason": profile.ban_reason})


async def set_ban(session: AsyncSession, runtime: Runtime, actor: Actor | None, handle: str, *, until: datetime, reason: str) -> NotesProfile:
    """Platform staff bar a user from commenting and posting until `until` (in the future)."""
    from core.auth.permissions import require_staff

    actor = require_staff(actor)
    profile = await profile_or_404(session, handle, create=True)
    if until.tzinfo is None:
        raise ValidationFailed("until: give a time zone (e.g. 2030-01-01T00:00:00Z)", extra={"fields": {"until": "invalid"}})
    if until <= utcnow():
        raise ValidationFailed("until: must be in the future", extra={"fields": {"until": "invalid"}})
    reason = (reason or "").strip()
    if not reason or len(reason) > 200:
        raise ValidationFailed("reason: 1-200 characters", extra={"fields": {"reason": "invalid"}})
    if profile.user_id == actor.user_id:
        raise ValidationFailed("you cannot ban yourself")
    profile.banned_until = until
    profile.ban_reason = reason
    record_event(session, runtime, "user.banned", {"user_id": profile.user_id, "until": until.isoformat(), "reason": reason, "by_user_id": actor.user_id})
    await session.flush()
    return profile


async def lift_ban(session: AsyncSession, runtime: Runtime, actor: Actor | None, handle: str) -> NotesProfile:
    from core.auth.permissions import require_staff

    actor = require_staff(actor)
    profile = await profile_or_404(session, handle)
    if profile.banned_until is not None:
        profile.banned_until = None
        profile.ban_reason = ""
        record_event(session, runtime, "user.unbanned", {"user_id": profile.user_id, "by_user_id": actor.user_id})
        await session.flush()
    return profile


# -- handles and the public profile

async def profile_or_404(session: AsyncSession, handle: str, *, create: bool = False) -> NotesProfile:
    """The profile with that handle. A user who has never used notes has none yet but is
    reachable as `u<id>`: with `create` (writes) their profile is made, otherwise (reads)
    an unsaved one with zero counts stands in."""
    profile = await profile_by_handle(session, handle) if isinstance(handle, str) and len(handle) <= 40 else None
    if profile is None and isinstance(handle, str) and DEFAULT_HANDLE_RE.match(handle.lower()) and len(handle) < 20:
        user_id = int(handle[1:])
        user = await session.get(User, user_id) if valid_id(user_id) else None
        if user is not None and user.is_active and await session.get(NotesProfile, user_id) is None:
            if create:
                return await ensure_profile(session, user_id)
            return NotesProfile(user_id=user_id, handle=f"u{user_id}", bio="", avatar_path=None, follower_count=0, following_count=0,
                                note_count=0, likes_received=0, banned_until=None, ban_reason="")
    if profile is None:
        raise NotFound("no such user")
    return profile


async def change_handle(session: AsyncSession, user_id: int, handle: str) -> NotesProfile:
    """Choose another @handle: unique, the creator-handle rule, never someone else's
    `u<id>` default nor another user's creator handle."""
    from core.campaigns.models import CreatorProfile

    profile = await ensure_profile(session, user_id)
    handle = handle.strip().lower() if isinstance(handle, str) else ""
    if not HANDLE_RE.match(handle):
        raise ValidationFailed("handle: 3-30 of a-z, 0-9, _ and ., starting with a letter or digit", extra={"fields": {"handle": "invalid"}})
    if handle == profile.handle:
        return profile
    if DEFAULT_HANDLE_RE.match(handle) and handle != f"u{user_id}":
        raise Conflict("that handle is taken", extra={"fields": {"handle": "taken"}})
    taken = (await session.execute(select(NotesProfile.user_id).where(NotesProfile.handle == handle, NotesProfile.user_id != user_id))).first()
    creator = (await session.execute(select(CreatorProfile.user_id).where(CreatorProfile.handle == handle, CreatorProfile.user_id != user_id))).first()
    if taken is not None or creator is not None:
        raise Conflict("that handle is taken", extra={"fields": {"handle": "taken"}})
    try:
        async with session.begin_nested():
            profile.handle = handle
    except IntegrityError:  # taken meanwhile
        raise Conflict("that handle is taken", extra={"fields": {"handle": "taken"}}) from None
    mark_changed(session, "user.renamed", user_id)  # the author's notes carry the handle in search
    return profile


async def update_own_profile(session: AsyncSession, user_id: int, *, handle: str | None = None, bio: str | None = None) -> NotesProfile:
    profile = await ensure_profile(session, user_id)
    if bio is not None:
        bio = bio.strip()
        if len(bio) > MAX_BIO or any(ord(ch) < 32 and ch not in "\n" for ch in bio):
            raise ValidationFailed(f"bio: at most {MAX_BIO} characters, no control characters", extra={"fields": {"bio": "invalid"}})
    if handle is not None:
        profile = await change_handle(session, user_id, handle)
    if bio is not None:
        profile.bio = bio
        await session.flush()
    return profile


async def _followed_among(session: AsyncSession, follower_id: int | None, user_ids: set[int]) -> set[int]:
    """Which of `user_ids` the follower follows."""
    if follower_id is None or not user_ids:
        return set()
    rows = await session.execute(select(FOLLOWS.c.followee_user_id).where(FOLLOWS.c.follower_user_id == follower_id, FOLLOWS.c.followee_user_id.in_(user_ids)))
    return set(rows.scalars())


async def _following_me_among(session: AsyncSession, viewer_id: int | None, user_ids: set[int]) -> set[int]:
    if viewer_id is None or not user_ids:
        return set()
    rows = await session.execute(select(FOLLOWS.c.follower_user_id).where(FOLLOWS.c.followee_user_id == viewer_id, FOLLOWS.c.follower_user_id.in_(user_ids)))
    return set(rows.scalars())


async def people(session: AsyncSession, profiles: list[NotesProfile], viewer_id: int | None) -> list[Person]:
    """Profiles with display names and the viewer's relation to each (three queries)."""
    ids = {p.user_id for p in profiles}
    names = await display_names(session, ids)
    followed = await _followed_among(session, viewer_id, ids)
    following_me = await _following_me_among(session, viewer_id, ids)
    return [Person(p, names.get(p.user_id, ""), p.user_id in followed, p.user_id in following_me) for p in profiles]


async def public_profile(session: AsyncSession, handle: str, viewer_id: int | None) -> Person:
    profile = await profile_or_404(session, handle)
    return (await people(session, [profile], viewer_id))[0]


# -- follows

async def follow(session: AsyncSession, runtime: Runtime, follower_id: int, handle: str) -> FollowState:
    """Follow a user by handle; following oneself is refused (422), a repeat changes nothing."""
    target = await profile_or_404(session, handle, create=True)
    if target.user_id == follower_id:
        raise ValidationFailed("you cannot follow yourself")
    await ensure_profile(session, follower_id)
    inserted = (await session.execute(
        dialect_insert(session, FOLLOWS)
        .values(follower_user_id=follower_id, followee_user_id=target.user_id, created_at=utcnow())
        .on_conflict_do_nothing()
        .returning(FOLLOWS.c.followee_user_id)
    )).first()
    if inserted is None:
        return FollowState(True, *await _follow_counts(session, follower_id, target.user_id))
    counts = await _move_follow_counts(session, follower_id, target.user_id, +1)
    record_event(session, runtime, "user.followed", {"follower_user_id": follower_id, "followee_user_id": target.user_id})
    return FollowState(True, *counts)


async def unfollow(session: AsyncSession, runtime: Runtime, follower_id: int, handle: str) -> FollowState:
    target = await profile_or_404(session, handle)
    deleted = (await session.execute(
        FOLLOWS.delete()
        .where(FOLLOWS.c.follower_user_id == follower_id, FOLLOWS.c.followee_user_id == target.user_id)
        .returning(FOLLOWS.c.followee_user_id)
    )).first()
    if deleted is None:
        return FollowState(False, *await _follow_counts(session, follower_id, target.user_id))
    counts = await _move_follow_counts(session, follower_id, target.user_id, -1)
    record_event(session, runtime, "user.unfollowed", {"follower_user_id": follower_id, "followee_user_id": target.user_id})
    return FollowState(False, *counts)


async def _move_follow_counts(session: AsyncSession, follower_id: int, followee_id: int, delta: int) -> tuple[int, int]:
    """Both profiles' counts, locked in user-id order (two opposite follows never deadlock)."""
    out: dict[int, int] = {}
    for uid in sorted((follower_id, followee_id)):
        column = PROFILES.c.following_count if uid == follower_id else PROFILES.c.follower_count
        stmt = update(PROFILES).where(PROFILES.c.user_id == uid)
        if delta < 0:
            stmt = stmt.where(column >= -delta)
        value = (await session.execute(stmt.values({column.name: column + delta}).returning(column))).scalar_one_or_none()
        out[uid] = value if value is not None else 0
    return out[followee_id], out[follower_id]


async def _follow_counts(session: AsyncSession, follower_id: int, followee_id: int) -> tuple[int, int]:
    rows = {r.user_id: r for r in await session.execute(
        select(PROFILES.c.user_id, PROFILES.c.follower_count, PROFILES.c.following_count).where(PROFILES.c.user_id.in_((follower_id, followee_id)))
    )}
    followee, follower = rows.get(followee_id), rows.get(follower_id)
    return (followee.follower_count if followee else 0, follower.following_count if follower else 0)


async def _follow_list(session: AsyncSession, handle: str, viewer_id: int | None, *, followers: bool, limit: int, offset: int) -> list[Person]:
    owner = await profile_or_404(session, handle)
    mine, theirs = (FOLLOWS.c.followee_user_id, FOLLOWS.c.follower_user_id) if followers else (FOLLOWS.c.follower_user_id, FOLLOWS.c.followee_user_id)
    rows = (await session.execute(
        select(NotesProfile, FOLLOWS.c.created_at)
        .join(FOLLOWS, and_(theirs == NotesProfile.user_id, mine == owner.user_id))
        .order_by(FOLLOWS.c.created_at.desc(), theirs.desc())
        .limit(limit).offset(offset)
    )).all()
    listed = await people(session, [p for p, _ in rows], viewer_id)
    return [Person(p.profile, p.display_name, p.followed_by_me, p.follows_me, since) for p, (_, since) in zip(listed, rows, strict=True)]


async def followers(session: AsyncSession, handle: str, viewer_id: int | None = None, *, limit: int = 20, offset: int = 0) -> list[Person]:
    """Who follows `handle`, newest first."""
    return await _follow_list(session, handle, viewer_id, followers=True, limit=limit, offset=offset)


async def following(session: AsyncSession, handle: str, viewer_id: int | None = None, *, limit: int = 20, offset: int = 0) -> list[Person]:
    """Whom `handle` follows, newest first."""
    return await _follow_list(session, handle, viewer_id, followers=False, limit=limit, offset=offset)


async def is_following(session: AsyncSession, follower_id: int, followee_id: int) -> bool:
    return (await session.execute(select(FOLLOWS.c.followee_user_id).where(FOLLOWS.c.follower_user_id == follower_id, FOLLOWS.c.followee_user_id == followee_id))).first() is not None


# -- brand follows


@dataclass(frozen=True)
class BrandFollowState:
    following: bool
    follower_count: int


async def brand_id_of(session: AsyncSession, slug: str) -> int:
    from core.catalog.models import Brand

    brand_id = (await session.execute(select(Brand.id).where(Brand.slug == slug))).scalar_one_or_none()
    if brand_id is None:
        raise NotFound("no such brand")
    return brand_id


async def follow_brand(session: AsyncSession, runtime: Runtime, user_id: int, slug: str) -> BrandFollowState:
    """Follow a brand; a repeat changes nothing."""
    brand_id = await brand_id_of(session, slug)
    inserted = (await session.execute(
        dialect_insert(session, BRAND_FOLLOWS).values(user_id=user_id, brand_id=brand_id, created_at=utcnow()).on_conflict_do_nothing().returning(BRAND_FOLLOWS.c.brand_id)
    )).first()  # fmt: skip
    if inserted is None:
        return BrandFollowState(True, (await brand_followers(session, [brand_id])).get(brand_id, 0))
    await session.execute(dialect_insert(session, BRAND_STATS).values(brand_id=brand_id, follower_count=0).on_conflict_do_nothing())
    count = (await session.execute(
        update(BRAND_STATS).where(BRAND_STATS.c.brand_id == brand_id).values(follower_count=BRAND_STATS.c.follower_count + 1).returning(BRAND_STATS.c.follower_count)
    )).scalar_one()  # fmt: skip
    record_event(session, runtime, "brand.followed", {"user_id": user_id, "brand_id": brand_id})
    return BrandFollowState(True, count)


async def unfollow_brand(session: AsyncSession, runtime: Runtime, user_id: int, slug: str) -> BrandFollowState:
    brand_id = await brand_id_of(session, slug)
    deleted = (await session.execute(
        BRAND_FOLLOWS.delete().where(BRAND_FOLLOWS.c.user_id == user_id, BRAND_FOLLOWS.c.brand_id == brand_id).returning(BRAND_FOLLOWS.c.brand_id)
    )).first()  # fmt: skip
    if deleted is None:
        return BrandFollowState(False, (await brand_followers(session, [brand_id])).get(brand_id, 0))
    count = (await session.execute(
        update(BRAND_STATS).where(BRAND_STATS.c.brand_id == brand_id, BRAND_STATS.c.follower_count >= 1)
        .values(follower_count=BRAND_STATS.c.follower_count - 1).returning(BRAND_STATS.c.follower_count)
    )).scalar_one_or_none()  # fmt: skip
    record_event(session, runtime, "brand.unfollowed", {"user_id": user_id, "brand_id": brand_id})
    return BrandFollowState(False, count or 0)


async def brand_followers(session: AsyncSession, brand_ids: list[int]) -> dict[int, int]:
    """Follower counts of these brands (a brand nobody followed yet is absent: 0)."""
    if not brand_ids:
        return {}
    rows = await session.execute(select(BRAND_STATS.c.brand_id, BRAND_STATS.c.follower_count).where(BRAND_STATS.c.brand_id.in_(brand_ids)))
    return dict(rows.tuples().all())


async def brand_follow_state(session: AsyncSession, viewer_id: int | None, brand_id: int) -> BrandFollowState:
    """What a brand page shows: the count, and whether the viewer follows (one statement)."""
    following = select(BRAND_FOLLOWS.c.brand_id).where(BRAND_FOLLOWS.c.user_id == (viewer_id or 0), BRAND_FOLLOWS.c.brand_id == brand_id).exists()
    row = (await session.execute(
        select(select(BRAND_STATS.c.follower_count).where(BRAND_STATS.c.brand_id == brand_id).scalar_subquery(), following)
    )).one()  # fmt: skip
    return BrandFollowState(bool(row[1]) and viewer_id is not None, row[0] or 0)


def avatar_url(profile: NotesProfile | None) -> str | None:
    if profile is None or not profile.avatar_path:
        return None
    from core.catalog.media import media_url

    return media_url(profile.avatar_path)



async def follower_ids(session: AsyncSession, *, user_id: int | None = None, brand_id: int | None = None, after: int = 0, limit: int = 1000) -> list[int]:
    """Followers of a user or a brand, by ascending user id after `after` (keyset pages)."""
    if user_id is not None:
        query = select(FOLLOWS.c.follower_user_id).where(FOLLOWS.c.followee_user_id == user_id, FOLLOWS.c.follower_user_id > after).order_by(FOLLOWS.c.follower_user_id)
    elif brand_id is not None:
        query = select(BrandFollow.user_id).where(BrandFollow.brand_id == brand_id, BrandFollow.user_id > after).order_by(BrandFollow.user_id)
    else:
        return []
    return list((await session.execute(query.limit(limit))).scalars())

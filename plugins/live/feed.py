"""Live rooms as explore-feed cards (the feed plugin's `feed_candidates` hook) and the LIVE
badge on a host's profile (the notes plugin's `profile_badges` slot).

A card is a room on air now, the most recently started first; it links to the room and
carries the host as its author. Its cover is the room's cover, else its first pinned
product's first image. The title says it is live, in the viewer's language when she is
signed in (the feed keeps the card in her session), otherwise in the default language.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

KIND = "live"
MAX_CARDS = 10
TITLE = "LIVE · {title}"
TRANSLATIONS: dict[str, dict[str, str]] = {"zh-CN": {TITLE: "直播中 · {title}"}, "en": {TITLE: TITLE}}


async def feed_candidates(viewer: Any, cursor: Any, limit: int, runtime: Runtime, session: AsyncSession | None = None) -> list[Any]:
    from core.auth.models import User
    from core.catalog import service as catalog
    from plugins.feed.cards import CardAuthor, CardImage, FeedCard
    from plugins.live.models import LiveRoom, RoomStatus

    limit = max(0, min(int(limit), MAX_CARDS))
    if limit == 0:
        return []
    async with contextlib.AsyncExitStack() as stack:
        if session is None:  # called outside the feed (the feed passes its own read session)
            session = await stack.enter_async_context(runtime.db.read_session())
        rows = (
            await session.execute(
                select(LiveRoom, User.display_name).join(User, User.id == LiveRoom.host_user_id)
                .where(LiveRoom.status == RoomStatus.LIVE).order_by(LiveRoom.started_at.desc(), LiveRoom.id.desc()).limit(limit)
            )
        ).all()  # fmt: skip
        if not rows:
            return []
        first_pins = {r.LiveRoom.id: int(r.LiveRoom.pinned[0]) for r in rows if r.LiveRoom.pinned and not r.LiveRoom.cover_url}
        variants = await catalog.first_variants(session, set(first_pins.values()))
        cards_of = await catalog.variant_cards(session, list(variants.values()))
        locale = None
        if viewer.user_id is not None:
            locale = (await session.execute(select(User.locale).where(User.id == viewer.user_id))).scalar_one_or_none()
    words = TRANSLATIONS.get(locale or runtime.settings.default_locale, TRANSLATIONS["en"])
    cards = []
    for r in rows:
        room = r.LiveRoom
        cover = None
        if room.cover_url:
            cover = CardImage(url=room.cover_url, width=300, height=400)
        elif room.id in first_pins:
            image = cards_of.get(variants.get(first_pins[room.id], 0), {}).get("image")
            if image:
                cover = CardImage(url=image["src"], width=image.get("width") or 300, height=image.get("height") or 300)
        cards.append(FeedCard(
            kind=KIND, ref=str(room.id), title=words.get(TITLE, TITLE).format(title=room.title), url=f"/live/{room.id}", cover=cover,
            author=CardAuthor(user_id=room.host_user_id, handle=f"u{room.host_user_id}", display_name=r.display_name or ""),
            extra={"room_id": room.id, "status": room.status, "likes": room.likes},
        ))  # fmt: skip
    return cards


async def live_room_of_host(session: AsyncSession, user_id: int) -> int | None:
    """The room this person is on air in now, if any (the profile's LIVE badge)."""
    from plugins.live.models import LiveRoom, RoomStatus

    return (
        await session.execute(select(LiveRoom.id).where(LiveRoom.host_user_id == user_id, LiveRoom.status == RoomStatus.LIVE).order_by(LiveRoom.id.desc()).limit(1))
    ).scalar_one_or_none()

"""Explore-feed cards (the feed plugin's `feed_candidates` hook) for teams about to fill.

A card is worth showing when one tap can finish a team: the team is open, its leader has
paid (only then can others join), a seat is free, and it is not about to run out of time
(a team that closes before anyone could pay only disappoints). Fewest seats left first,
then the soonest to expire. The viewer's own teams are left out (she cannot join them).
Each card links to the team page (`/group-buy/teams/{id}`), where the share link and the
join button are; the feed renders it with its own card template (title, cover, author).

The card's title is written in the viewer's language when she is signed in (the feed
keeps the card in her session), otherwise in the default language.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, select

from core.db import utcnow
from core.money import Money

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

KIND = "group_buy"
MIN_TIME_LEFT = timedelta(minutes=1)
MAX_CARDS = 20
COVER_WIDTH = 300  # the feed shows covers 300 px wide

TITLE = "{n} more to join · {price} {product}"
TRANSLATIONS: dict[str, dict[str, str]] = {
    "zh-CN": {TITLE: "还差 {n} 人成团 · {price} {product}"},
    "en": {TITLE: TITLE},
}


def team_path(team_id: int) -> str:
    return f"/group-buy/teams/{team_id}"


async def feed_candidates(viewer: Any, cursor: Any, limit: int, runtime: Runtime, session: AsyncSession | None = None) -> list[Any]:
    from core.auth.models import User
    from core.catalog.media import media_url
    from core.catalog.models import Product, ProductMedia, ProductStatus, Variant, VariantPrice
    from plugins.feed.cards import CardAuthor, CardImage, FeedCard
    from plugins.group_buy.models import GroupOffer, MemberStatus, Team, TeamMember, TeamStatus

    limit = max(0, min(int(limit), MAX_CARDS))
    if limit == 0:
        return []
    now = utcnow()
    first_image = select(func.min(ProductMedia.position)).where(ProductMedia.product_id == Product.id).correlate(Product).scalar_subquery()
    query = (
        select(
            Team.id, Team.size, Team.seats_taken, Team.expires_at, Team.leader_user_id, User.display_name,
            GroupOffer.team_price_minor, GroupOffer.currency, VariantPrice.amount_minor.label("solo_price_minor"),
            Product.id.label("product_id"), Product.title, ProductMedia.path, ProductMedia.width, ProductMedia.height, ProductMedia.sizes,
        )
        .join(GroupOffer, GroupOffer.id == Team.offer_id)
        .join(Variant, Variant.id == GroupOffer.variant_id)
        .join(Product, Product.id == Variant.product_id)
        .join(User, User.id == Team.leader_user_id)
        .outerjoin(VariantPrice, and_(VariantPrice.variant_id == Variant.id, VariantPrice.currency == GroupOffer.currency))
        .outerjoin(ProductMedia, and_(ProductMedia.product_id == Product.id, ProductMedia.position == first_image))
        .where(
            Team.status == TeamStatus.OPEN, Team.authorized_count >= 1, Team.seats_taken < Team.size, Team.expires_at > now + MIN_TIME_LEFT,
            GroupOffer.active.is_(True), GroupOffer.starts_at <= now, (GroupOffer.ends_at.is_(None)) | (GroupOffer.ends_at > now),
            Variant.is_active.is_(True), Product.status == ProductStatus.ACTIVE,
        )
        .order_by(Team.size - Team.seats_taken, Team.expires_at, Team.id)
        .limit(limit * 2)  # a product with several images has one row per image at the first position
    )
    if viewer.user_id is not None:
        # in it already (one who gave up an unpaid seat may come back: she sees it again)
        query = query.where(~exists().where(TeamMember.team_id == Team.id, TeamMember.user_id == viewer.user_id, TeamMember.status != MemberStatus.LEFT))
    async with contextlib.AsyncExitStack() as stack:
        if session is None:  # called outside the feed (the feed passes its own read session)
            session = await stack.enter_async_context(runtime.db.read_session())
        rows = (await session.execute(query)).all()
        locale = None
        if rows and viewer.user_id is not None:  # the cards' language (none to write: no query)
            locale = (await session.execute(select(User.locale).where(User.id == viewer.user_id))).scalar_one_or_none()
    catalog = TRANSLATIONS.get(locale or runtime.settings.default_locale, TRANSLATIONS["en"])

    cards: list[Any] = []
    seen: set[int] = set()
    for r in rows:
        if r.id in seen:
            continue
        seen.add(r.id)
        seats_left = r.size - r.seats_taken
        price = Money(r.team_price_minor, r.currency).format()
        cards.append(FeedCard(
            kind=KIND, ref=str(r.id), title=catalog.get(TITLE, TITLE).format(n=seats_left, price=price, product=r.title), url=team_path(r.id),
            cover=_cover(r, media_url, CardImage), author=CardAuthor(user_id=r.leader_user_id, handle=f"u{r.leader_user_id}", display_name=r.display_name),
            extra={
                "team_id": r.id, "seats_left": seats_left, "size": r.size, "team_price_minor": r.team_price_minor, "solo_price_minor": r.solo_price_minor,
                "currency": r.currency, "product_id": r.product_id, "expires_at": r.expires_at.isoformat(),
            },
        ))  # fmt: skip
        if len(cards) >= limit:
            break
    return cards


def _cover(row: Any, media_url: Any, card_image: Any) -> Any:
    """The product's first image, in the smallest size at least as wide as a feed card."""
    if row.path is None:
        return None
    sizes = [v for v in (row.sizes or {}).values() if isinstance(v, dict) and "path" in v]
    if not sizes:
        return card_image(url=media_url(row.path), width=row.width, height=row.height)
    wide = [v for v in sizes if v.get("width", 0) >= COVER_WIDTH]
    best = min(wide, key=lambda v: v.get("width", 0)) if wide else max(sizes, key=lambda v: v.get("width", 0))
    return card_image(url=media_url(best["path"]), width=best.get("width", 0), height=best.get("height", 0))

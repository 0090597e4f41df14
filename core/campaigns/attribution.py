"""Attribution: which creator brought a sale.

Creators share tracked links (`/r/{code}`: a click records the time, the link and a
first-party visitor id, nothing else) and discount codes (the shopper applies one to the
cart). At payment each order line is given to at most one creator:

- candidates: the checkout's codes (priority 100), clicks on tracked links by the
  checkout's visitor (priority 10), and what plugins propose through `attribute_sale`
  (their priority, capped at 99: a code always wins);
- a candidate counts for a line only if its creator has an accepted-or-later
  collaboration in an open or closed campaign of the order's brand that seeds the
  line's product, and it touched the sale within that campaign's attribution window
  (`attribution_days` before the payment);
- the highest priority wins; a tie goes to the last touch, or to the first if every
  campaign involved says `attribution_model = "first"`;
- the winner is blocked as a self-referral when the buyer is the creator
  (`self_referral:user`), uses the creator's email (`self_referral:email`), or paid with
  a card the creator paid with before (`self_referral:payment`): the line gets an
  Attribution row with the reason and no commission, and nobody else gets it.

A line no candidate qualifies for gets no Attribution row at all. Rows are written
once (unique per order line); the commission follows in the same transaction.
"""

from __future__ import annotations

import re
import secrets
import string
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from core.auth.permissions import Actor, can_act_for_brand, require_actor
from core.catalog.service import ppm_to_percent
from core.campaigns.commissions import accrue_order, half_up, reverse_for_refunds
from core.campaigns.models import (
    Attribution,
    Campaign,
    CampaignProduct,
    CampaignStatus,
    Click,
    CollabStatus,
    Collaboration,
    Commission,
    DiscountCode,
    TrackedLink,
)
from core.db import dialect_insert, utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.plugin_manager import PluginError
from core.pricing import Adjustment

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.orders.models import Cart
    from core.pricing import PricingCart
    from core.runtime import Runtime

VISITOR_COOKIE = "zc_vid"
VISITOR_COOKIE_AGE = 365 * 86400
CODE_RE = re.compile(r"^[A-Z0-9-]{4,32}$")
NOTE_REF_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
LINK_CODE_LENGTH = 8
LINK_ALPHABET = string.ascii_lowercase + string.digits
TARGETS = ("campaign", "product", "note")
MAX_CART_CODES = 5
ADJUSTMENT_PREFIX = "creator-code:"

PRIORITY_CODE = 100
PRIORITY_LINK = 10
PLUGIN_PRIORITY_MAX = 99  # plugins never outrank a code
CLOCK_SKEW = timedelta(minutes=1)  # a touch recorded a moment after the payment still counts

# an accepted-or-later collaboration earns; invited, applied, declined, cancelled do not
EARNING_STATUSES = frozenset({
    CollabStatus.ACCEPTED, CollabStatus.SAMPLE_SHIPPED, CollabStatus.SAMPLE_DELIVERED, CollabStatus.CONTENT_SUBMITTED,
    CollabStatus.CHANGES_REQUESTED, CollabStatus.APPROVED, CollabStatus.PUBLISHED, CollabStatus.COMPLETED, CollabStatus.OVERDUE,
})  # fmt: skip
LIVE_CAMPAIGNS = (CampaignStatus.OPEN, CampaignStatus.CLOSED)


class SaleLine(msgspec.Struct, frozen=True, kw_only=True):
    order_line_id: int
    variant_id: int
    product_id: int
    quantity: int
    paid_minor: int  # quantity x unit price - discounts


class SaleContext(msgspec.Struct, frozen=True, kw_only=True):
    """A paid order, as `attribute_sale` sees it."""

    order_id: int
    order_number: str
    brand_id: int
    checkout_id: int
    user_id: int | None
    email: str
    currency: str
    paid_at: datetime
    codes: tuple[str, ...]  # creator codes applied at checkout
    visitor_id: str | None  # the checkout's first-party visitor id (`zc_vid`)
    lines: tuple[SaleLine, ...]


class SaleCandidate(msgspec.Struct, frozen=True, kw_only=True):
    """A plugin's claim that a creator brought (some lines of) a sale."""

    creator_user_id: int
    source: str  # e.g. "note", "live", "group_buy" (up to 20 characters)
    touched_at: datetime  # when the buyer met the creator's content
    variant_ids: tuple[int, ...] | None = None  # None: every line
    ref: str | None = None  # a note id, a room id... (up to 64 characters)
    priority: int = 50  # capped at 99, below codes (100); links are 10


# ---------------------------------------------------------------- helpers


def visitor_id_or_none(value: object) -> str | None:
    """A well-formed visitor id (a UUID) in canonical form, or None."""
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


def normalise_code(raw: object) -> str:
    code = raw.strip().upper() if isinstance(raw, str) else ""
    if not CODE_RE.match(code):
        raise ValidationFailed("a code is 4-32 characters: letters A-Z, digits and hyphens", extra={"fields": {"code": "invalid"}})
    return code


async def _collaboration(session: AsyncSession, actor: Actor | None, collaboration_id: int, *, brand_too: bool, lock: bool = False) -> tuple[Collaboration, Campaign, bool]:
    """The collaboration if the actor is its creator (or, with `brand_too`, a member of
    its brand): (collaboration, campaign, acting as the brand). Anyone else: 404. With
    `lock`, its row stays locked until the transaction ends (SQLite: one writer anyway)."""
    actor = require_actor(actor)
    collab = None
    if isinstance(collaboration_id, int):
        query = select(Collaboration).where(Collaboration.id == collaboration_id)
        collab = (await session.execute(query.with_for_update() if lock else query)).scalar_one_or_none()
    campaign = await session.get(Campaign, collab.campaign_id) if collab is not None else None
    if collab is None or campaign is None:
        raise NotFound("no such collaboration")
    if collab.creator_user_id == actor.user_id:
        return collab, campaign, False
    if brand_too and can_act_for_brand(actor, campaign.brand_id):
        return collab, campaign, True
    raise NotFound("no such collaboration")


def _require_earning(collab: Collaboration, campaign: Campaign, *, open_only: bool) -> None:
    if collab.status not in EARNING_STATUSES:
        raise Conflict(f"this collaboration is {collab.status}: links and codes come once it is accepted")
    allowed = (CampaignStatus.OPEN,) if open_only else LIVE_CAMPAIGNS
    if campaign.status not in allowed:
        raise Conflict(f"this campaign is {campaign.status}")


# ---------------------------------------------------------------- tracked links


async def create_link(session: AsyncSession, actor: Actor | None, *, collaboration_id: int, target: str, product_id: int | None = None, note_ref: str | None = None) -> TrackedLink:
    """A creator's tracked link for one of their accepted (or later) collaborations; asked
    for again (a double click, a retried request), the same link."""
    link, _created = await get_or_create_link(session, actor, collaboration_id=collaboration_id, target=target, product_id=product_id, note_ref=note_ref)
    return link


async def get_or_create_link(
    session: AsyncSession, actor: Actor | None, *, collaboration_id: int, target: str, product_id: int | None = None, note_ref: str | None = None
) -> tuple[TrackedLink, bool]:
    """`create_link`, saying whether the link is new. One link per (collaboration, target,
    product, note): the collaboration's row is locked first, so two concurrent requests
    for the same link wait for each other and the second finds the first's."""
    collab, campaign, _ = await _collaboration(session, actor, collaboration_id, brand_too=False, lock=True)
    _require_earning(collab, campaign, open_only=False)
    if target not in TARGETS:
        raise ValidationFailed("target is campaign, product or note", extra={"fields": {"target": "invalid"}})
    if target == "product":
        seeded = (
            await session.execute(select(CampaignProduct.id).where(CampaignProduct.campaign_id == campaign.id, CampaignProduct.product_id == product_id))
        ).first() if isinstance(product_id, int) else None
        if seeded is None:
            raise ValidationFailed("product_id must be one of the campaign's products", extra={"fields": {"product_id": "invalid"}})
        note_ref = None
    elif target == "note":
        if not isinstance(note_ref, str) or not NOTE_REF_RE.match(note_ref):
            raise ValidationFailed("note_ref is the note's id (1-64 letters, digits, - or _)", extra={"fields": {"note_ref": "invalid"}})
        product_id = None
    else:
        product_id = note_ref = None
    same = select(TrackedLink).where(
        TrackedLink.collaboration_id == collab.id, TrackedLink.target_kind == target, TrackedLink.product_id == product_id, TrackedLink.note_ref == note_ref
    )  # `== None` is IS NULL
    existing = (await session.execute(same.order_by(TrackedLink.id).limit(1))).scalar_one_or_none()
    if existing is not None:
        return existing, False
    for _ in range(5):
        code = "".join(secrets.choice(LINK_ALPHABET) for _ in range(LINK_CODE_LENGTH))
        if (await session.execute(select(TrackedLink.id).where(TrackedLink.code == code))).first() is None:
            break
    link = TrackedLink(code=code, collaboration_id=collab.id, target_kind=target, product_id=product_id, note_ref=note_ref, created_at=utcnow())
    session.add(link)
    await session.flush()
    return link, True


@dataclass(frozen=True)
class LinkView:
    link: TrackedLink
    campaign_id: int
    clicks: int


async def links_of_creator(session: AsyncSession, actor: Actor | None, *, collaboration_id: int | None = None) -> list[LinkView]:
    actor = require_actor(actor)
    clicks = select(Click.link_id, func.count().label("n")).group_by(Click.link_id).subquery()
    query = (
        select(TrackedLink, Collaboration.campaign_id, func.coalesce(clicks.c.n, 0))
        .join(Collaboration, Collaboration.id == TrackedLink.collaboration_id)
        .outerjoin(clicks, clicks.c.link_id == TrackedLink.id)
        .where(Collaboration.creator_user_id == actor.user_id)
    )
    if collaboration_id is not None:
        query = query.where(TrackedLink.collaboration_id == collaboration_id)
    rows = await session.execute(query.order_by(TrackedLink.id.desc()))
    return [LinkView(link, campaign_id, int(n)) for link, campaign_id, n in rows]


async def target_url(session: AsyncSession, link: TrackedLink) -> str:
    """Where a link leads on the storefront: the product page, the campaign's first
    product (or its brand page), or the note's page (the notes plugin's)."""
    from core.catalog.models import Brand, Product, ProductStatus

    if link.target_kind == "note" and link.note_ref:
        return f"/notes/{link.note_ref}"
    product_id = link.product_id
    if product_id is None:
        product_id = (
            await session.execute(
                select(CampaignProduct.product_id).join(Collaboration, Collaboration.campaign_id == CampaignProduct.campaign_id)
                .join(Product, Product.id == CampaignProduct.product_id)
                .where(Collaboration.id == link.collaboration_id, Product.status == ProductStatus.ACTIVE).order_by(CampaignProduct.id).limit(1)
            )
        ).scalar_one_or_none()
    if product_id is not None:
        row = (await session.execute(select(Product.slug, Product.status).where(Product.id == product_id))).first()
        if row is not None and row.status == ProductStatus.ACTIVE:
            return f"/products/{row.slug}"
    brand = (
        await session.execute(
            select(Brand.slug).join(Campaign, Campaign.brand_id == Brand.id).join(Collaboration, Collaboration.campaign_id == Campaign.id).where(Collaboration.id == link.collaboration_id)
        )
    ).scalar_one_or_none()
    return f"/brands/{brand}" if brand else "/"


async def record_click(session: AsyncSession, code: str, visitor_id: str) -> tuple[TrackedLink, str]:
    """A click on `/r/{code}` (or its API twin): recorded with the time, the link and the
    visitor id only. Returns the link and where to send the visitor."""
    visitor = visitor_id_or_none(visitor_id)
    if visitor is None:
        raise ValidationFailed("visitor_id must be a UUID", extra={"fields": {"visitor_id": "invalid"}})
    link = None
    if isinstance(code, str) and 0 < len(code) <= 16:
        link = (await session.execute(select(TrackedLink).where(TrackedLink.code == code))).scalar_one_or_none()
    if link is None:
        raise NotFound("no such link")
    session.add(Click(link_id=link.id, visitor_id=visitor, at=utcnow()))
    await session.flush()
    return link, await target_url(session, link)


# ---------------------------------------------------------------- discount codes


async def create_code(session: AsyncSession, actor: Actor | None, *, collaboration_id: int, code: str, discount_ppm: int = 0) -> DiscountCode:
    """A creator's code, made by the creator or by their brand, while the campaign is open."""
    collab, campaign, _ = await _collaboration(session, actor, collaboration_id, brand_too=True)
    _require_earning(collab, campaign, open_only=True)
    code = normalise_code(code)
    if isinstance(discount_ppm, bool) or not isinstance(discount_ppm, int) or not 0 <= discount_ppm <= 1_000_000:
        raise ValidationFailed("discount_ppm is 0 to 1000000 (100%)", extra={"fields": {"discount_ppm": "invalid"}})
    if (await session.execute(select(DiscountCode.id).where(DiscountCode.code == code))).first() is not None:
        raise Conflict(f"the code {code} is taken")
    row = DiscountCode(code=code, collaboration_id=collab.id, discount_ppm=discount_ppm, active=True, created_at=utcnow())
    session.add(row)
    try:
        await session.flush()
    except IntegrityError as exc:  # taken meanwhile
        raise Conflict(f"the code {code} is taken") from exc
    return row


async def code_for(session: AsyncSession, actor: Actor | None, code: str) -> tuple[DiscountCode, Campaign]:
    """A code its creator or its brand may manage; anyone else: 404."""
    actor = require_actor(actor)
    row = (await session.execute(select(DiscountCode).where(DiscountCode.code == code.strip().upper()))).scalar_one_or_none() if isinstance(code, str) else None
    if row is None:
        raise NotFound("no such code")
    try:
        _collab, campaign, _ = await _collaboration(session, actor, row.collaboration_id, brand_too=True)
    except NotFound:
        raise NotFound("no such code") from None  # the same answer as an unknown code: nothing tells it exists
    return row, campaign


async def set_code_active(session: AsyncSession, actor: Actor | None, code: str, active: bool) -> DiscountCode:
    row, _ = await code_for(session, actor, code)
    if row.active != active:
        row.active = active
        await session.flush()
    return row


@dataclass(frozen=True)
class CodeView:
    code: DiscountCode
    campaign_id: int
    creator_user_id: int


async def codes_of(session: AsyncSession, *, creator_user_id: int | None = None, brand_id: int | None = None) -> list[CodeView]:
    query = select(DiscountCode, Collaboration.campaign_id, Collaboration.creator_user_id).join(Collaboration, Collaboration.id == DiscountCode.collaboration_id)
    if creator_user_id is not None:
        query = query.where(Collaboration.creator_user_id == creator_user_id)
    if brand_id is not None:
        query = query.join(Campaign, Campaign.id == Collaboration.campaign_id).where(Campaign.brand_id == brand_id)
    rows = await session.execute(query.order_by(DiscountCode.id.desc()))
    return [CodeView(code, campaign_id, creator) for code, campaign_id, creator in rows]


def _require_open_cart(cart: Cart) -> None:
    from core.orders.models import CartStatus

    if cart.status == CartStatus.CHECKING_OUT:
        raise Conflict("this cart is in checkout; finish or cancel the payment first")
    if cart.status != CartStatus.OPEN:
        raise Conflict("this cart is closed")


async def apply_code(session: AsyncSession, cart: Cart, raw: str) -> DiscountCode:
    """Put a creator's code on the cart (one per campaign: a second replaces the first).
    An unknown or inactive code, or one whose campaign is not open: 422."""
    _require_open_cart(cart)
    code = normalise_code(raw)
    row = (
        await session.execute(
            select(DiscountCode, Collaboration.status, Campaign.status, Campaign.id)
            .join(Collaboration, Collaboration.id == DiscountCode.collaboration_id)
            .join(Campaign, Campaign.id == Collaboration.campaign_id)
            .where(DiscountCode.code == code)
        )
    ).first()
    if row is None or not row[0].active or row[1] not in EARNING_STATUSES:
        raise ValidationFailed(f"{code} is not a valid code", extra={"fields": {"code": "unknown"}})
    if row[2] != CampaignStatus.OPEN:
        raise ValidationFailed(f"{code} can no longer be used: its campaign has ended", extra={"fields": {"code": "ended"}})
    campaign_id = row[3]
    kept = [c for c in cart.codes or [] if isinstance(c, dict) and c.get("code") != code and c.get("campaign_id") != campaign_id]
    if len(kept) >= MAX_CART_CODES:
        raise ValidationFailed(f"at most {MAX_CART_CODES} codes per cart")
    cart.codes = [*kept, {"code": code, "campaign_id": campaign_id, "at": utcnow().isoformat()}]
    cart.updated_at = utcnow()
    await session.flush()
    return row[0]


async def remove_code(session: AsyncSession, cart: Cart, raw: str) -> None:
    """Take a code off the cart (removing one that is not there changes nothing)."""
    _require_open_cart(cart)
    code = raw.strip().upper() if isinstance(raw, str) else ""
    kept = [c for c in cart.codes or [] if isinstance(c, dict) and c.get("code") != code]
    if len(kept) != len(cart.codes or []):
        cart.codes = kept
        cart.updated_at = utcnow()
        await session.flush()


async def remember_visitor(session: AsyncSession, cart: Cart, visitor_id: object) -> None:
    """Note the browser's visitor id (`zc_vid`) on an open cart: link clicks made by that
    visitor count for the checkout. Anything but a UUID is ignored."""
    from core.orders.models import CartStatus

    visitor = visitor_id_or_none(visitor_id)
    if visitor is None or cart.status != CartStatus.OPEN or cart.visitor_id == visitor:
        return
    await session.execute(update(type(cart)).where(type(cart).id == cart.id).values(visitor_id=visitor).execution_options(synchronize_session=False))
    cart.visitor_id = visitor


def code_adjustments(cart: PricingCart, runtime: Runtime) -> Any:
    """The core's `price_adjustments`: a cart without codes costs nothing here (no
    coroutine, no query); with codes, an awaitable of the discounts."""
    if not cart.codes or not cart.lines:
        return None
    return _code_adjustments(cart, runtime)


async def _code_adjustments(cart: PricingCart, runtime: Runtime) -> list[Adjustment]:
    """`discount_ppm` off each line of a product the code's campaign seeds (the best code
    per line; codes do not stack), while the code is active and its campaign open."""
    products = {ln.product_id for ln in cart.lines}
    async with runtime.db.read_session() as session:
        rows = (
            await session.execute(
                select(DiscountCode.code, DiscountCode.discount_ppm, CampaignProduct.product_id)
                .join(Collaboration, Collaboration.id == DiscountCode.collaboration_id)
                .join(Campaign, Campaign.id == Collaboration.campaign_id)
                .join(CampaignProduct, CampaignProduct.campaign_id == Campaign.id)
                .where(
                    DiscountCode.code.in_(list(cart.codes)), DiscountCode.active.is_(True), DiscountCode.discount_ppm > 0,
                    Campaign.status == CampaignStatus.OPEN, Collaboration.status.in_(EARNING_STATUSES), CampaignProduct.product_id.in_(products),
                )
            )
        ).all()
    best: dict[int, tuple[int, str]] = {}
    for code, ppm, product_id in rows:
        if (ppm, code) > best.get(product_id, (0, "")):
            best[product_id] = (ppm, code)
    out = []
    for line in cart.lines:
        if line.product_id not in best:
            continue
        ppm, code = best[line.product_id]
        amount = half_up(line.quantity * line.unit_price_minor * ppm, 1_000_000)
        if amount:
            out.append(Adjustment(code=f"{ADJUSTMENT_PREFIX}{code}", label=f"{code} -{ppm_to_percent(ppm)}%", amount_minor=-amount, variant_id=line.variant_id, priority=100))
    return out


# ---------------------------------------------------------------- attribution at payment


@dataclass(frozen=True)
class _Candidate:
    creator_user_id: int
    source: str
    touched_at: datetime
    priority: int
    ref: str | None
    variant_ids: frozenset[int] | None
    order: int  # codes, then plugins (load order), then links: the last tie-break
    collaboration_id: int | None = None  # codes and links name it; plugins name the creator


@dataclass(frozen=True)
class _CampaignInfo:
    id: int
    days: int
    model: str


async def attribute_order(runtime: Runtime, order_id: int) -> int:
    """The `order.paid` handler: attribute the order's lines, then create their
    commissions (and claw back any refund that came first), in one transaction.
    Idempotent: rerunning it writes nothing new. Returns the attribution rows written."""
    rows = await plan_attribution(runtime, order_id)
    if rows is None:
        return 0  # nobody brought any of its lines (most orders): no write transaction at all
    async with runtime.db.session() as session:
        written = 0
        if rows:
            table = Attribution.__table__
            result = await session.execute(
                dialect_insert(session, table).values(rows).on_conflict_do_nothing(index_elements=["order_line_id"]).returning(table.c.id)
            )
            written = len(result.all())
        await accrue_order(session, runtime, order_id)
        await reverse_for_refunds(session, runtime, order_id)
        await session.commit()
    return written


async def plan_attribution(runtime: Runtime, order_id: int) -> list[dict[str, Any]] | None:
    """Read everything and decide (no transaction held while plugins answer): the rows to
    write; [] when the order was attributed before; None when there is nothing to do (no
    live campaign seeds its products, or no candidate qualifies)."""
    from core.auth.models import User
    from core.orders.models import Checkout, Order, OrderLine
    from core.payments.models import Payment, PaymentStatus

    async with runtime.db.read_session() as session:
        order = await session.get(Order, order_id)
        if order is None or order.paid_at is None:
            return None
        from core.campaigns.collaborations import is_sample_order

        if await is_sample_order(session, order_id):
            return None  # a campaign sample earns no one a commission
        lines = list((await session.execute(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id))).scalars())
        seeded = (
            await session.execute(
                select(CampaignProduct.product_id, Campaign.id, Campaign.attribution_days, Campaign.attribution_model)
                .join(Campaign, Campaign.id == CampaignProduct.campaign_id)
                .where(Campaign.brand_id == order.brand_id, Campaign.status.in_(LIVE_CAMPAIGNS), CampaignProduct.product_id.in_({ln.product_id for ln in lines}))
            )
        ).all()
        if not seeded:
            return None
        campaigns = {cid: _CampaignInfo(cid, days, model) for _, cid, days, model in seeded}
        campaigns_of_product: dict[int, set[int]] = defaultdict(set)
        for product_id, cid, _, _ in seeded:
            campaigns_of_product[product_id].add(cid)
        done = set((await session.execute(select(Attribution.order_line_id).where(Attribution.order_id == order_id))).scalars())
        todo = [ln for ln in lines if ln.id not in done and ln.product_id in campaigns_of_product]
        if not todo:
            return [] if done else None  # attributed before (a retry: make sure its commissions exist), or nothing to attribute
        checkout = await session.get(Checkout, order.checkout_id)
        payment = (
            await session.execute(select(Payment).where(Payment.checkout_id == order.checkout_id, Payment.status == PaymentStatus.SUCCEEDED).order_by(Payment.id).limit(1))
        ).scalar_one_or_none()
        paid_at = order.paid_at
        codes = {c["code"]: c for c in (checkout.codes if checkout else None) or [] if isinstance(c, dict) and c.get("code")}
        visitor = checkout.visitor_id if checkout else None
        candidates: list[_Candidate] = []
        # collaborations by id: (creator, campaign, status)
        collabs: dict[int, tuple[int, int, str]] = {}

        if codes:
            discounted = {a.get("code") for ln in lines for a in ln.adjustments or [] if isinstance(a, dict)}
            rows = await session.execute(
                select(DiscountCode.code, DiscountCode.active, Collaboration.id, Collaboration.creator_user_id, Collaboration.campaign_id, Collaboration.status)
                .join(Collaboration, Collaboration.id == DiscountCode.collaboration_id)
                .where(DiscountCode.code.in_(list(codes)), Collaboration.campaign_id.in_(list(campaigns)))
            )
            for code, active, collab_id, creator, cid, status in rows:
                collabs[collab_id] = (creator, cid, status)
                # a code counts while active, or if it gave this order its discount
                if active or f"{ADJUSTMENT_PREFIX}{code}" in discounted:
                    touched = checkout.created_at if checkout else paid_at  # the shopper checked out with it
                    candidates.append(_Candidate(creator, "code", touched, PRIORITY_CODE, code, None, 0, collab_id))

        plugin_candidates = await _plugin_candidates(runtime, order, checkout, lines, tuple(codes), visitor)
        if plugin_candidates:
            creators = {c.creator_user_id for c in plugin_candidates}
            rows = await session.execute(
                select(Collaboration.id, Collaboration.creator_user_id, Collaboration.campaign_id, Collaboration.status)
                .where(Collaboration.creator_user_id.in_(creators), Collaboration.campaign_id.in_(list(campaigns)))
            )
            for collab_id, creator, cid, status in rows:
                collabs[collab_id] = (creator, cid, status)
            candidates.extend(plugin_candidates)

        if visitor:
            since = paid_at - timedelta(days=max(c.days for c in campaigns.values()))
            rows = await session.execute(
                select(Click.at, TrackedLink.code, Collaboration.id, Collaboration.creator_user_id, Collaboration.campaign_id, Collaboration.status)
                .join(TrackedLink, TrackedLink.id == Click.link_id)
                .join(Collaboration, Collaboration.id == TrackedLink.collaboration_id)
                .where(Click.visitor_id == visitor, Click.at >= since, Click.at <= paid_at + CLOCK_SKEW, Collaboration.campaign_id.in_(list(campaigns)))
                .order_by(Click.id)
            )
            for at, code, collab_id, creator, cid, status in rows:
                collabs[collab_id] = (creator, cid, status)
                candidates.append(_Candidate(creator, "link", at, PRIORITY_LINK, code, None, 2, collab_id))

        decided: list[tuple[Any, int, _Candidate]] = []  # (line, collaboration id, winner)
        for line in todo:
            winner = _resolve(line, candidates, campaigns, campaigns_of_product[line.product_id], collabs, paid_at)
            if winner is not None:
                decided.append((line, *winner))
        if not decided:
            return [] if done else None

        creators = {cand.creator_user_id for _, _, cand in decided}
        emails = {uid: email.lower() for uid, email in (await session.execute(select(User.id, User.email).where(User.id.in_(creators)))).all()}
        card_owners: set[int] = set()
        if payment is not None and payment.fingerprint:
            same_card = await session.execute(
                select(Checkout.user_id, func.lower(Checkout.email))
                .join(Payment, Payment.checkout_id == Checkout.id)
                .where(Payment.fingerprint == payment.fingerprint, Payment.id < payment.id, Payment.status.in_((PaymentStatus.SUCCEEDED, PaymentStatus.AUTHORIZED)))
            )
            for user_id, email in same_card:
                card_owners.update(uid for uid, creator_email in emails.items() if uid == user_id or creator_email == email)

    now = utcnow()
    out = []
    for line, collab_id, cand in decided:
        creator = cand.creator_user_id
        reason = None
        if order.user_id is not None and order.user_id == creator:
            reason = "self_referral:user"
        elif emails.get(creator) is not None and emails[creator] == (order.email or "").lower():
            reason = "self_referral:email"
        elif creator in card_owners:
            reason = "self_referral:payment"
        out.append({
            "order_line_id": line.id, "order_id": order.id, "collaboration_id": collab_id, "creator_user_id": creator,
            "source": cand.source[:20], "ref": (cand.ref or None) and cand.ref[:64], "touched_at": cand.touched_at, "blocked_reason": reason, "created_at": now,
        })  # fmt: skip
    return out


def _resolve(
    line: Any, candidates: Sequence[_Candidate], campaigns: dict[int, _CampaignInfo], line_campaigns: set[int],
    collabs: dict[int, tuple[int, int, str]], paid_at: datetime,
) -> tuple[int, _Candidate] | None:
    """The winning (collaboration id, candidate) for one line, or None."""
    eligible: list[tuple[_Candidate, int, _CampaignInfo]] = []
    for cand in candidates:
        if cand.variant_ids is not None and line.variant_id not in cand.variant_ids:
            continue
        if cand.collaboration_id is not None:
            options = [cand.collaboration_id]
        else:  # a plugin named the creator: their collaborations in this line's campaigns
            options = sorted(cid for cid, (creator, _, _) in collabs.items() if creator == cand.creator_user_id)
        for collab_id in options:
            creator, campaign_id, status = collabs[collab_id]
            campaign = campaigns.get(campaign_id)
            if creator != cand.creator_user_id or campaign is None or campaign_id not in line_campaigns or status not in EARNING_STATUSES:
                continue
            if not paid_at - timedelta(days=campaign.days) <= cand.touched_at <= paid_at + CLOCK_SKEW:
                continue
            eligible.append((cand, collab_id, campaign))
            break
    if not eligible:
        return None
    top = max(c.priority for c, _, _ in eligible)
    best = [e for e in eligible if e[0].priority == top]
    first_touch = all(campaign.model == "first" for _, _, campaign in best)
    if first_touch:
        cand, collab_id, _ = min(best, key=lambda e: (e[0].touched_at, e[0].order))
    else:
        cand, collab_id, _ = min(best, key=lambda e: (-e[0].touched_at.timestamp(), e[0].order))
    return collab_id, cand


async def _plugin_candidates(runtime: Runtime, order: Any, checkout: Any, lines: Sequence[Any], codes: tuple[str, ...], visitor: str | None) -> list[_Candidate]:
    context = SaleContext(
        order_id=order.id, order_number=order.number, brand_id=order.brand_id, checkout_id=order.checkout_id, user_id=order.user_id, email=order.email,
        currency=order.currency, paid_at=order.paid_at, codes=codes, visitor_id=visitor,
        lines=tuple(
            SaleLine(order_line_id=ln.id, variant_id=ln.variant_id, product_id=ln.product_id, quantity=ln.quantity, paid_minor=ln.quantity * ln.unit_price_minor - ln.discount_minor)
            for ln in lines
        ),
    )
    out: list[_Candidate] = []
    for plugin, proposed in await runtime.pm.acall_each("attribute_sale", order=context, runtime=runtime):
        for cand in proposed or ():
            if not isinstance(cand, SaleCandidate):
                raise PluginError(f"plugin {plugin!r}: hook attribute_sale must return core.campaigns.attribution.SaleCandidate items")
            if not isinstance(cand.touched_at, datetime) or cand.touched_at.tzinfo is None:
                raise PluginError(f"plugin {plugin!r}: hook attribute_sale: touched_at must be an aware datetime")
            priority = min(int(cand.priority), PLUGIN_PRIORITY_MAX)
            variants = frozenset(cand.variant_ids) if cand.variant_ids is not None else None
            out.append(_Candidate(cand.creator_user_id, (cand.source or plugin)[:20], cand.touched_at, priority, cand.ref, variants, 1))
    return out


# ---------------------------------------------------------------- reading


@dataclass(frozen=True)
class AttributionView:
    attribution: Attribution
    campaign_id: int | None
    commission_id: int | None
    commission_amount_minor: int | None
    commission_reversed_minor: int | None
    commission_status: str | None


async def attributions_of_order(session: AsyncSession, actor: Actor | None, order_id: int) -> list[AttributionView]:
    """How an order's lines were attributed, for its brand's staff only (404 otherwise)."""
    from core.campaigns.models import Commission
    from core.orders.models import Order

    actor = require_actor(actor)
    order = await session.get(Order, order_id)
    if order is None or not can_act_for_brand(actor, order.brand_id):
        raise NotFound("no such order")
    rows = await session.execute(
        select(Attribution, Collaboration.campaign_id, Commission.id, Commission.amount_minor, Commission.reversed_minor, Commission.status)
        .outerjoin(Collaboration, Collaboration.id == Attribution.collaboration_id)
        .outerjoin(Commission, Commission.order_line_id == Attribution.order_line_id)
        .where(Attribution.order_id == order_id)
        .order_by(Attribution.order_line_id)
    )
    return [AttributionView(*row) for row in rows]


async def sales_by_touch(session: AsyncSession, creator_user_id: int) -> dict[tuple[str, str], dict[str, Any]]:
    """Orders and net commission per tracked link or code of a creator: (source, ref) ->
    {orders, commission: {currency: net minor}}. Self-referrals (blocked) earn nothing and
    are not counted."""
    touched = (Attribution.creator_user_id == creator_user_id, Attribution.source.in_(("link", "code")), Attribution.blocked_reason.is_(None))
    out: dict[tuple[str, str], dict[str, Any]] = {}
    orders = select(Attribution.source, Attribution.ref, func.count(func.distinct(Attribution.order_id))).where(*touched).group_by(Attribution.source, Attribution.ref)
    for source, ref, n in await session.execute(orders):
        out[(source, ref)] = {"orders": int(n), "commission": {}}
    money = (
        select(Attribution.source, Attribution.ref, Commission.currency, func.sum(Commission.amount_minor - Commission.reversed_minor))
        .join(Commission, Commission.order_line_id == Attribution.order_line_id)
        .where(*touched)
        .group_by(Attribution.source, Attribution.ref, Commission.currency)
    )
    for source, ref, currency, net in await session.execute(money):
        out.setdefault((source, ref), {"orders": 0, "commission": {}})["commission"][currency] = int(net or 0)
    return out

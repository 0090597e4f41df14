"""Collaborations: one creator in one campaign, from invitation or application to a
published, protected note.

    invited | applied -> accepted | declined
    accepted -> sample_shipped -> sample_delivered -> content_submitted
    content_submitted -> approved | changes_requested (-> content_submitted again)
    approved -> published -> completed
    sample_delivered | changes_requested -> overdue (the posting deadline passed; the job)
    overdue -> content_submitted (late: on_time = False)
    invited | applied | accepted | overdue -> cancelled

Every move is a conditional UPDATE on the state read (so a double click or a repeated
job moves once), is recorded in `CollaborationTransition` with who and when, and emits
`collaboration.<status>` in the same transaction.

Content is a note of the notes plugin (resolved through the `resolve_content` hook) or
an external URL. Disclosure is checked before approval: a note must carry the sponsored
label; for a URL the brand confirms it explicitly.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from core.auth.models import User
from core.auth.permissions import Actor, can_act_for_brand, require_actor, require_role
from core.campaigns import budget, profiles
from core.campaigns.campaigns import (
    campaign_for_brand,
    eligibility_problems,
    products_of,
)
from core.campaigns.models import (
    Campaign,
    CampaignStatus,
    Collaboration,
    CollaborationTransition,
    CollabStatus,
)
from core.db import utcnow
from core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from core.events import record_event
from core.inventory.service import OutOfStock
from core.ledger import service as ledger
from core.ledger.models import AccountKind
from core.orders import samples
from core.orders import service as orders
from core.orders.checkout import clean_address
from core.orders.models import Order, OrderStatus

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

S = CollabStatus

COLLABORATION_EVENT_TYPES = {
    f"collaboration.{status}": text
    for status, text in (
        (S.INVITED, "A brand invited a creator to a campaign."),
        (S.APPLIED, "A creator applied to a campaign."),
        (S.ACCEPTED, "A collaboration was agreed (the creator accepted an invitation, or the brand an application)."),
        (S.DECLINED, "An invitation or application was declined."),
        (S.SAMPLE_SHIPPED, "The brand shipped the sample (a zero-price order with a tracking number)."),
        (S.SAMPLE_DELIVERED, "The sample arrived; the posting deadline runs from now."),
        (S.CONTENT_SUBMITTED, "The creator submitted a note or URL for review."),
        (S.CHANGES_REQUESTED, "The brand asked for changes to the content."),
        (S.APPROVED, "The brand approved the content (disclosure checked)."),
        (S.PUBLISHED, "The content is live; its protection period runs."),
        (S.COMPLETED, "The collaboration is finished."),
        (S.OVERDUE, "The posting deadline passed without content."),
        (S.CANCELLED, "The collaboration was cancelled."),
    )
} | {"collaboration.reminder": "The posting deadline is near (payload `which`: 3d or 1d); sent once each."}

ALLOWED: dict[str | None, set[str]] = {
    None: {S.INVITED, S.APPLIED},
    S.INVITED: {S.ACCEPTED, S.DECLINED, S.CANCELLED},
    S.APPLIED: {S.ACCEPTED, S.DECLINED, S.CANCELLED},
    S.ACCEPTED: {S.SAMPLE_SHIPPED, S.CANCELLED},
    S.SAMPLE_SHIPPED: {S.SAMPLE_DELIVERED},
    S.SAMPLE_DELIVERED: {S.CONTENT_SUBMITTED, S.OVERDUE},
    S.CONTENT_SUBMITTED: {S.APPROVED, S.CHANGES_REQUESTED},
    S.CHANGES_REQUESTED: {S.CONTENT_SUBMITTED, S.OVERDUE},
    S.APPROVED: {S.PUBLISHED},
    S.PUBLISHED: {S.COMPLETED},
    S.OVERDUE: {S.CONTENT_SUBMITTED, S.CANCELLED},
    S.COMPLETED: set(),
    S.DECLINED: set(),
    S.CANCELLED: set(),
}
BRAND_CANCELS = (S.INVITED, S.APPLIED, S.ACCEPTED, S.OVERDUE)
CREATOR_CANCELS = (S.APPLIED, S.ACCEPTED)
DONE = (S.PUBLISHED, S.COMPLETED)
REMINDER_3D, REMINDER_1D = 1, 2
NOTE_REF_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
URL_RE = re.compile(r"^https?://[^\s/$.?#][^\s]*$", re.IGNORECASE)


class ContentInfo(msgspec.Struct, frozen=True, kw_only=True):
    """What `resolve_content` returns about a piece of content (a note, or a URL a plugin knows)."""

    url: str
    author_user_id: int | None
    title: str = ""
    sponsored_label: bool = False  # carries the sponsored / 广告 label, visible to readers
    published: bool = False
    published_at: datetime | None = None
    engagement: int = 0  # likes + collects + comments


class Fulfilment(NamedTuple):
    on_time: int  # published, content submitted by the deadline
    total: int  # collaborations that reached their deadline (finished, late or overdue)
    rate_ppm: int | None  # on_time / total; None before any


# ---------------------------------------------------------------- hooks


async def resolve_content(runtime: Runtime, kind: str, ref: str) -> ContentInfo | None:
    """The first plugin (in load order) that knows this content, and what it says."""
    for name, info in await runtime.pm.acall_each("resolve_content", kind=kind, ref=ref, runtime=runtime):
        if not isinstance(info, ContentInfo):
            raise TypeError(f"plugin {name!r}: resolve_content must return core.campaigns.collaborations.ContentInfo or None")
        return info
    return None


# ---------------------------------------------------------------- reading, with ownership


async def collaboration_for(session: AsyncSession, actor: Actor | None, collaboration_id: int, *, lock: bool = False) -> tuple[Collaboration, Campaign]:
    """The collaboration if the caller is its creator or works for its brand; else 404."""
    actor = require_actor(actor)
    query = select(Collaboration).where(Collaboration.id == collaboration_id)
    if lock:
        query = query.with_for_update()
    collab = (await session.execute(query)).scalar_one_or_none()
    campaign = await session.get(Campaign, collab.campaign_id) if collab is not None else None
    if collab is None or campaign is None or not (collab.creator_user_id == actor.user_id or can_act_for_brand(actor, campaign.brand_id)):
        raise NotFound("no such collaboration")
    return collab, campaign


def _brand_side(actor: Actor | None, campaign: Campaign, what: str) -> Actor:
    actor = require_actor(actor)
    if not can_act_for_brand(actor, campaign.brand_id):
        raise PermissionDenied(f"only the brand {what}")
    return actor


def _creator_side(actor: Actor | None, collab: Collaboration, what: str) -> Actor:
    actor = require_actor(actor)
    if actor.user_id != collab.creator_user_id:
        raise PermissionDenied(f"only the creator {what}")
    return actor


async def collaborations_of_creator(session: AsyncSession, actor: Actor | None, *, status: str | None = None, limit: int = 50, offset: int = 0) -> list[Collaboration]:
    actor = require_actor(actor)
    query = select(Collaboration).where(Collaboration.creator_user_id == actor.user_id)
    if status:
        query = query.where(Collaboration.status == status)
    return list((await session.execute(query.order_by(Collaboration.id.desc()).limit(limit).offset(offset))).scalars())


async def collaborations_of_campaign(session: AsyncSession, actor: Actor | None, campaign_id: int, *, status: str | None = None, limit: int = 100, offset: int = 0) -> list[Collaboration]:
    campaign = await campaign_for_brand(session, actor, campaign_id)
    query = select(Collaboration).where(Collaboration.campaign_id == campaign.id)
    if status:
        query = query.where(Collaboration.status == status)
    return list((await session.execute(query.order_by(Collaboration.id).limit(limit).offset(offset))).scalars())


async def transitions_of(session: AsyncSession, collaboration_id: int) -> list[CollaborationTransition]:
    rows = await session.execute(
        select(CollaborationTransition).where(CollaborationTransition.collaboration_id == collaboration_id).order_by(CollaborationTransition.at, CollaborationTransition.id)
    )
    return list(rows.scalars())


async def is_sample_order(session: AsyncSession, order_id: int) -> bool:
    """True for a campaign sample (a zero-price order): attribution and commissions skip it."""
    return (await session.execute(select(Collaboration.id).where(Collaboration.sample_order_id == order_id).limit(1))).first() is not None


# ---------------------------------------------------------------- moving


async def _claim(session: AsyncSession, collab: Collaboration, to: str, **values: Any) -> str | None:
    """Move to `to` if still in the state read; returns the state left, or None if someone
    else moved it first."""
    frm = collab.status
    if to not in ALLOWED[frm]:
        raise Conflict(f"a collaboration that is {frm} cannot become {to}")
    moved = await session.execute(
        update(Collaboration).where(Collaboration.id == collab.id, Collaboration.status == frm).values(status=to, updated_at=utcnow(), **values).execution_options(synchronize_session=False)
    )
    await session.refresh(collab)
    return frm if moved.rowcount == 1 else None


def _record(session: AsyncSession, runtime: Runtime, collab: Collaboration, campaign: Campaign, frm: str | None, actor: Actor | None, kind: str, note: str = "", **extra: Any) -> None:
    session.add(CollaborationTransition(
        collaboration_id=collab.id, from_status=frm, to_status=collab.status, actor_user_id=actor.user_id if actor else None, actor_kind=kind, note=note[:2000], at=utcnow(),
    ))
    record_event(session, runtime, f"collaboration.{collab.status}", {
        "collaboration_id": collab.id, "campaign_id": campaign.id, "brand_id": campaign.brand_id, "creator_user_id": collab.creator_user_id,
        "from": frm, "to": collab.status, **extra,
    })


async def _move(
    session: AsyncSession, runtime: Runtime, collab: Collaboration, campaign: Campaign, to: str, *, actor: Actor | None, kind: str, note: str = "", extra: dict[str, Any] | None = None, **values: Any
) -> bool:
    frm = await _claim(session, collab, to, **values)
    if frm is None:
        return False
    _record(session, runtime, collab, campaign, frm, actor, kind, note, **(extra or {}))
    await session.flush()
    return True


def _changed_meanwhile() -> Conflict:
    return Conflict("the collaboration changed meanwhile; reload it")


def _address(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ValidationFailed("shipping_address is an object (name, phone, line1, city, country, ...)")
    return clean_address(raw)


def _note(value: Any, field: str = "message", limit: int = 2000) -> str:
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationFailed(f"{field}: up to {limit} characters", extra={"fields": {field: "invalid"}})
    return value.strip()


async def _new(session: AsyncSession, runtime: Runtime, campaign: Campaign, creator_user_id: int, status: str, actor: Actor, kind: str, **values: Any) -> Collaboration:
    collab = Collaboration(campaign_id=campaign.id, creator_user_id=creator_user_id, status=status, origin=status, reminders_sent=0, review_comment="", **values)
    try:
        async with session.begin_nested():  # a double click racing this one: the unique key decides
            session.add(collab)
    except IntegrityError as exc:
        raise Conflict("this creator is in this campaign already") from exc
    _record(session, runtime, collab, campaign, None, actor, kind, values.get("message", ""))
    await session.flush()
    return collab


async def _existing(session: AsyncSession, campaign_id: int, user_id: int) -> Collaboration | None:
    return (await session.execute(select(Collaboration).where(Collaboration.campaign_id == campaign_id, Collaboration.creator_user_id == user_id))).scalar_one_or_none()


# ---------------------------------------------------------------- joining


async def apply(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int, *, message: Any = None, shipping_address: Any = None) -> Collaboration:
    """A creator applies to an open campaign with open recruitment they are eligible for."""
    actor = require_role(actor, "creator")
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None or (campaign.status == CampaignStatus.DRAFT and not can_act_for_brand(actor, campaign.brand_id)):
        raise NotFound("no such campaign")
    existing = await _existing(session, campaign.id, actor.user_id)
    if existing is not None:
        if existing.status == S.APPLIED:
            return existing  # a double click
        if existing.status == S.INVITED:
            raise Conflict("you are invited to this campaign already: accept the invitation instead")
        raise Conflict(f"you are in this campaign already ({existing.status})")
    if campaign.status != CampaignStatus.OPEN:
        raise Conflict(f"this campaign is {campaign.status} and takes no applications")
    if campaign.recruitment != "open":
        raise Conflict("this campaign is by invitation only")
    if can_act_for_brand(actor, campaign.brand_id):
        raise Conflict("you work for this brand, so you cannot join its campaigns as a creator")
    profile = await profiles.profile_of_user(session, actor.user_id)
    if profile is not None:
        await profiles.refresh_stats(session, runtime, profile)
    problems = eligibility_problems(runtime, campaign, profile)
    if problems:
        raise ValidationFailed("you are not eligible for this campaign: " + "; ".join(problems), extra={"reasons": problems})
    return await _new(session, runtime, campaign, actor.user_id, S.APPLIED, actor, "creator", message=_note(message), shipping_address=_address(shipping_address))


async def invite(session: AsyncSession, runtime: Runtime, actor: Actor | None, campaign_id: int, *, handle: Any, message: Any = None) -> Collaboration:
    """The brand invites a creator (by handle) to a draft or open campaign."""
    campaign = await campaign_for_brand(session, actor, campaign_id)
    assert actor is not None
    profile = await profiles.profile_by_handle(session, handle)
    existing = await _existing(session, campaign.id, profile.user_id)
    if existing is not None:
        if existing.status == S.INVITED:
            return existing
        raise Conflict(f"@{profile.handle} is in this campaign already ({existing.status})")
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.OPEN):
        raise Conflict(f"this campaign is {campaign.status} and takes no new creators")
    if can_act_for_brand(actor, campaign.brand_id) and profile.user_id == actor.user_id:
        raise Conflict("you cannot invite yourself")
    await _fee_fits(session, campaign, f"inviting @{profile.handle}")
    return await _new(session, runtime, campaign, profile.user_id, S.INVITED, actor, "brand", message=_note(message))


async def accept(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *, shipping_address: Any = None) -> Collaboration:
    """The creator accepts an invitation, or the brand an application."""
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    if collab.status not in (S.INVITED, S.APPLIED):
        if collab.status in (S.DECLINED, S.CANCELLED):
            raise Conflict(f"this collaboration was {collab.status}")
        return collab  # accepted already (a double click)
    if collab.status == S.INVITED:
        actor = _creator_side(actor, collab, "accepts an invitation")
        if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.OPEN):
            raise Conflict(f"this campaign is {campaign.status}")
        values: dict[str, Any] = {"shipping_address": _address(shipping_address)} if shipping_address is not None else {}
        side = "creator"
    else:
        actor = _brand_side(actor, campaign, "accepts an application")
        if campaign.status != CampaignStatus.OPEN:
            raise Conflict(f"this campaign is {campaign.status}")
        if shipping_address is not None:
            raise ValidationFailed("the creator gives the shipping address")
        values, side = {}, "brand"
    await _fee_fits(session, campaign, "accepting this creator")
    if not await _move(session, runtime, collab, campaign, S.ACCEPTED, actor=actor, kind=side, **values):
        raise _changed_meanwhile()
    await budget.close_if_spent(session, runtime, [campaign.id])
    return collab


async def _fee_fits(session: AsyncSession, campaign: Campaign, what: str) -> None:
    """A creator at a fixed fee commits that fee: refused when the budget has less left
    (the campaign row stays locked until commit, so two acceptances cannot share it)."""
    fee = campaign.fixed_fee_minor or 0
    if fee <= 0 or campaign.budget_minor <= 0:
        return
    current = await budget.budget_of(session, campaign, lock=True)
    left = current.left_minor
    if left is not None and left < fee:
        raise budget.BudgetExceeded(
            f"{what} commits a fixed fee of {fee} minor units of {campaign.currency}, but the budget has {left} left: raise the budget first", current
        )


async def decline(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *, reason: Any = None) -> Collaboration:
    """The creator declines an invitation, or the brand an application."""
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    if collab.status == S.DECLINED:
        return collab
    if collab.status == S.INVITED:
        actor, side = _creator_side(actor, collab, "declines an invitation"), "creator"
    elif collab.status == S.APPLIED:
        actor, side = _brand_side(actor, campaign, "declines an application"), "brand"
    else:
        raise Conflict(f"a collaboration that is {collab.status} cannot be declined")
    if not await _move(session, runtime, collab, campaign, S.DECLINED, actor=actor, kind=side, note=_note(reason, "reason")):
        raise _changed_meanwhile()
    return collab


async def decline_pending(session: AsyncSession, runtime: Runtime, campaign: Campaign, *, note: str) -> int:
    """The system declines the invitations and applications still open (a campaign closed)."""
    pending = (await session.execute(select(Collaboration).where(Collaboration.campaign_id == campaign.id, Collaboration.status.in_((S.INVITED, S.APPLIED))))).scalars().all()
    moved = 0
    for collab in pending:
        moved += await _move(session, runtime, collab, campaign, S.DECLINED, actor=None, kind="system", note=note)
    return moved


async def set_address(session: AsyncSession, actor: Actor | None, collaboration_id: int, address: Any) -> Collaboration:
    """The creator gives or changes where the sample goes, until it ships."""
    collab, _campaign = await collaboration_for(session, actor, collaboration_id)
    _creator_side(actor, collab, "gives the shipping address")
    if collab.status not in (S.INVITED, S.APPLIED, S.ACCEPTED):
        raise Conflict("the sample has shipped already" if collab.status not in (S.DECLINED, S.CANCELLED) else f"this collaboration was {collab.status}")
    collab.shipping_address = _address(address)
    await session.flush()
    return collab


async def cancel(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *, reason: Any = None) -> Collaboration:
    """The brand cancels before shipping (or once overdue); the creator withdraws before shipping."""
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    if collab.status == S.CANCELLED:
        return collab
    assert actor is not None
    if can_act_for_brand(actor, campaign.brand_id) and collab.status in BRAND_CANCELS:
        side = "brand"
    elif actor.user_id == collab.creator_user_id and collab.status in CREATOR_CANCELS:
        side = "creator"
    else:
        raise Conflict(f"a collaboration that is {collab.status} cannot be cancelled" + (" (decline the invitation instead)" if collab.status == S.INVITED else ""))
    if not await _move(session, runtime, collab, campaign, S.CANCELLED, actor=actor, kind=side, note=_note(reason, "reason")):
        raise _changed_meanwhile()
    return collab


# ---------------------------------------------------------------- the sample


async def ship_sample(
    session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *, carrier: Any, tracking_number: Any, address: Any = None
) -> Collaboration:
    """The brand ships one unit of every seeded product from the campaign's pools, as a
    zero-price order with a tracking number. A double click ships once."""
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    actor = _brand_side(actor, campaign, "ships the sample")
    if not isinstance(carrier, str) or not isinstance(tracking_number, str):
        raise ValidationFailed("carrier and tracking_number are text")
    if collab.status != S.ACCEPTED:
        if collab.sample_order_id is not None:
            order = await session.get(Order, collab.sample_order_id)
            if order is not None and order.tracking_number == tracking_number.strip():
                return collab  # a double click
            raise Conflict("the sample has shipped already")
        raise Conflict(f"a collaboration that is {collab.status} cannot ship a sample" + (" (accept it first)" if collab.status in (S.INVITED, S.APPLIED) else ""))
    if campaign.status not in (CampaignStatus.OPEN, CampaignStatus.CLOSED):
        raise Conflict(f"samples ship while the campaign is open (it is {campaign.status})")
    shipping = _address(address) if address is not None else dict(collab.shipping_address or {})
    if not shipping:
        raise ValidationFailed("the creator's shipping address is needed: send address, or ask the creator to add it", extra={"fields": {"address": "required"}})
    shipping = clean_address(shipping)
    items = [samples.SampleItem(variant_id=i.sample_variant_id, pool_id=i.pool_id, quantity=1) for i in await products_of(session, campaign.id) if i.pool_id is not None]
    if not items:
        raise Conflict("this campaign sets no samples aside")
    creator = await session.get(User, collab.creator_user_id)
    assert creator is not None
    # claim first: of two clicks racing, the second finds the state moved and ships nothing
    frm = await _claim(session, collab, S.SAMPLE_SHIPPED, shipped_at=utcnow(), shipping_address=shipping)
    if frm is None:
        if collab.status == S.SAMPLE_SHIPPED:
            return collab
        raise _changed_meanwhile()
    try:
        order = await samples.create_sample_order(
            session, runtime, actor, brand_id=campaign.brand_id, recipient_user_id=creator.id, email=creator.email, currency=campaign.currency,
            address=shipping, items=items, carrier=carrier, tracking_number=tracking_number, note=f"sample for collaboration {collab.id}",
        )
    except OutOfStock as exc:
        raise Conflict("no samples left: this campaign's sample pool is used up (add stock and a new campaign, or cancel the collaboration)", extra={"variant_id": exc.extra.get("variant_id")}) from exc
    collab.sample_order_id = order.id
    _record(session, runtime, collab, campaign, frm, actor, "brand", extra_note(order), order_id=order.id, tracking_number=order.tracking_number)
    await session.flush()
    return collab


def extra_note(order: Order) -> str:
    return f"{order.number} · {order.carrier} {order.tracking_number}"


async def mark_delivered(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *, now: datetime | None = None) -> Collaboration:
    """The creator (or the brand) says the sample arrived: the posting deadline starts."""
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    assert actor is not None
    if collab.status != S.SAMPLE_SHIPPED:
        if collab.delivered_at is not None:
            return collab
        raise Conflict(f"a collaboration that is {collab.status} has no sample on its way")
    now = now or utcnow()
    side = "creator" if actor.user_id == collab.creator_user_id else "brand"
    if not await _move(session, runtime, collab, campaign, S.SAMPLE_DELIVERED, actor=actor, kind=side, delivered_at=now, deadline_at=now + timedelta(days=campaign.posting_days)):
        raise _changed_meanwhile()
    if collab.sample_order_id is not None:
        order = await session.get(Order, collab.sample_order_id)
        if order is not None and order.status == OrderStatus.FULFILLED:
            await orders.complete(session, runtime, actor, order.id)
    return collab


# ---------------------------------------------------------------- content


def _clean_ref(kind: Any, ref: Any) -> tuple[str, str]:
    if kind not in ("note", "url"):
        raise ValidationFailed("content kind is note (a note id) or url", extra={"fields": {"kind": "invalid"}})
    if not isinstance(ref, str):
        raise ValidationFailed("ref is text", extra={"fields": {"ref": "invalid"}})
    ref = ref.strip()
    if kind == "note" and not NOTE_REF_RE.match(ref):
        raise ValidationFailed("a note id is 1-64 letters, digits, - or _", extra={"fields": {"ref": "invalid"}})
    if kind == "url" and (len(ref) > 500 or not URL_RE.match(ref)):
        raise ValidationFailed("a URL starting with http:// or https://, up to 500 characters", extra={"fields": {"ref": "invalid"}})
    return kind, ref


async def submit_content(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *, kind: Any, ref: Any, now: datetime | None = None) -> Collaboration:
    """The creator submits their note (which must be theirs) or an external URL. Late
    submission is allowed, and counts as not on time."""
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    actor = _creator_side(actor, collab, "submits content")
    kind, ref = _clean_ref(kind, ref)
    if collab.status in (S.CONTENT_SUBMITTED, S.APPROVED, *DONE) and (collab.content_kind, collab.content_ref) == (kind, ref):
        return collab  # a double click
    if collab.status not in (S.SAMPLE_DELIVERED, S.CHANGES_REQUESTED, S.OVERDUE):
        raise Conflict(f"a collaboration that is {collab.status} takes no content" + (" (it is being reviewed)" if collab.status == S.CONTENT_SUBMITTED else ""))
    info = await resolve_content(runtime, kind, ref)
    if kind == "note":
        if info is None:
            raise ValidationFailed("no such note", extra={"fields": {"ref": "unknown"}})
        if info.author_user_id != collab.creator_user_id:
            raise ValidationFailed("that note is not yours", extra={"fields": {"ref": "not_yours"}})
        disclosure: bool | None = info.sponsored_label
    else:
        if info is not None and info.author_user_id is not None and info.author_user_id != collab.creator_user_id:
            raise ValidationFailed("that post is not yours", extra={"fields": {"ref": "not_yours"}})
        disclosure = None  # the brand confirms it on approval
    now = now or utcnow()
    on_time = collab.status != S.OVERDUE and (collab.deadline_at is None or now <= collab.deadline_at)
    if not await _move(
        session, runtime, collab, campaign, S.CONTENT_SUBMITTED, actor=actor, kind="creator", note=ref, extra={"content_kind": kind, "content_ref": ref},
        content_kind=kind, content_ref=ref, disclosure_ok=disclosure, on_time=on_time,
    ):
        raise _changed_meanwhile()
    if not campaign.review_required and disclosure:
        await _approve(session, runtime, collab, campaign, None, "system", info, note="no review required; sponsored label checked")
    return collab


async def approve(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *, disclosure_confirmed: Any = False, comment: Any = None) -> Collaboration:
    """The brand approves the content once its disclosure holds: a note must carry the
    sponsored label; for a URL the brand confirms it (`disclosure_confirmed`)."""
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    actor = _brand_side(actor, campaign, "approves content")
    if collab.status in (S.APPROVED, *DONE):
        return collab  # a double click
    if collab.status != S.CONTENT_SUBMITTED:
        raise Conflict(f"a collaboration that is {collab.status} has no content to approve")
    if not isinstance(disclosure_confirmed, bool):
        raise ValidationFailed("disclosure_confirmed is true or false")
    info = await resolve_content(runtime, collab.content_kind or "", collab.content_ref or "")
    if collab.content_kind == "note":
        if info is None:
            raise ValidationFailed("the note can no longer be found")
        if not info.sponsored_label:
            raise ValidationFailed("the note does not carry the sponsored (广告) label: ask the creator to add it before approving", extra={"fields": {"disclosure": "missing"}})
    elif not disclosure_confirmed:
        raise ValidationFailed("confirm that the post is clearly labelled as sponsored (disclosure_confirmed: true) before approving", extra={"fields": {"disclosure_confirmed": "required"}})
    await _approve(session, runtime, collab, campaign, actor, "brand", info, note=_note(comment, "comment"))
    return collab


async def _approve(session: AsyncSession, runtime: Runtime, collab: Collaboration, campaign: Campaign, actor: Actor | None, side: str, info: ContentInfo | None, *, note: str) -> None:
    if not await _move(session, runtime, collab, campaign, S.APPROVED, actor=actor, kind=side, note=note, disclosure_ok=True, review_comment=note):
        raise _changed_meanwhile()
    await post_fixed_fee(session, runtime, collab, campaign)
    published = info is not None and info.published and (collab.content_kind == "url" or info.sponsored_label)
    if published:
        await _publish(session, runtime, collab, campaign, None, "system", info)


async def post_fixed_fee(session: AsyncSession, runtime: Runtime, collab: Collaboration, campaign: Campaign) -> int | None:
    """The campaign's fee per note, owed by the brand and payable to the creator: posted
    once per collaboration (the ledger key makes a repeat a no-op), and spent from the
    budget (it was committed there since acceptance)."""
    fee = campaign.fixed_fee_minor or 0
    if fee <= 0:
        return None
    posted = await ledger.post(session, ledger.Txn(
        key=f"fixed_fee:{collab.id}", kind="fixed_fee", currency=campaign.currency,
        postings=[ledger.Posting(AccountKind.BRAND_PAYABLE, campaign.brand_id, fee), ledger.Posting(AccountKind.CREATOR_AVAILABLE, collab.creator_user_id, -fee)],
        memo=f"fixed fee: {campaign.title}", ref={"collaboration_id": collab.id, "campaign_id": campaign.id},
    ))
    if posted is not None:
        await budget.record_spend(session, runtime, {campaign.id: fee})
    return posted


async def request_changes(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int, *, comment: Any) -> Collaboration:
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    actor = _brand_side(actor, campaign, "requests changes")
    comment = _note(comment, "comment")
    if not comment:
        raise ValidationFailed("say what should change", extra={"fields": {"comment": "required"}})
    if collab.status == S.CHANGES_REQUESTED and collab.review_comment == comment:
        return collab
    if collab.status != S.CONTENT_SUBMITTED:
        raise Conflict(f"a collaboration that is {collab.status} has no content to review")
    if not await _move(session, runtime, collab, campaign, S.CHANGES_REQUESTED, actor=actor, kind="brand", note=comment, review_comment=comment):
        raise _changed_meanwhile()
    return collab


async def publish(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int) -> Collaboration:
    """The creator says the approved content is live. A note must be published (and still
    labelled); a URL is taken as live unless a plugin that knows it says otherwise."""
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    actor = _creator_side(actor, collab, "publishes the content")
    if collab.status in DONE:
        return collab
    if collab.status != S.APPROVED:
        raise Conflict(f"a collaboration that is {collab.status} cannot be published" + (" (it needs the brand's approval first)" if collab.status == S.CONTENT_SUBMITTED else ""))
    info = await resolve_content(runtime, collab.content_kind or "", collab.content_ref or "")
    if collab.content_kind == "note":
        if info is None or not info.published:
            raise Conflict("your note is not published yet")
        if not info.sponsored_label:
            raise ValidationFailed("the note lost its sponsored (广告) label: add it back first")
    elif info is not None and not info.published:
        raise Conflict("that post is not live yet")
    await _publish(session, runtime, collab, campaign, actor, "creator", info)
    return collab


async def _publish(session: AsyncSession, runtime: Runtime, collab: Collaboration, campaign: Campaign, actor: Actor | None, side: str, info: ContentInfo | None) -> None:
    now = utcnow()
    published_at = info.published_at if info is not None and info.published_at is not None and info.published_at <= now else now
    if not await _move(
        session, runtime, collab, campaign, S.PUBLISHED, actor=actor, kind=side,
        published_at=published_at, protected_until=published_at + timedelta(days=campaign.protection_days), on_time=collab.on_time is not False,
    ):
        raise _changed_meanwhile()
    await post_fixed_fee(session, runtime, collab, campaign)  # posted at approval already; the key keeps it once


async def complete(session: AsyncSession, runtime: Runtime, actor: Actor | None, collaboration_id: int) -> Collaboration:
    collab, campaign = await collaboration_for(session, actor, collaboration_id)
    actor = _brand_side(actor, campaign, "completes a collaboration")
    if collab.status == S.COMPLETED:
        return collab
    if collab.status != S.PUBLISHED:
        raise Conflict(f"a collaboration that is {collab.status} cannot be completed (it completes once published)")
    if not await _move(session, runtime, collab, campaign, S.COMPLETED, actor=actor, kind="brand", completed_at=utcnow()):
        raise _changed_meanwhile()
    return collab


async def disclosure_holds(runtime: Runtime, collab: Collaboration) -> bool:
    """Checked again before paying out: a note must still carry the sponsored label; a
    URL keeps the brand's confirmation. Call it outside a transaction (hooks may be slow)."""
    if collab.content_kind == "note":
        info = await resolve_content(runtime, "note", collab.content_ref or "")
        return info is not None and info.sponsored_label
    return collab.content_kind == "url" and collab.disclosure_ok is True


async def note_protected_until(session: AsyncSession, note_ref: str, *, now: datetime | None = None) -> datetime | None:
    """Until when a note may not be deleted or hidden (a published collaboration's
    protection period), or None if it is free. The notes plugin asks before a delete."""
    until = (
        await session.execute(
            select(func.max(Collaboration.protected_until)).where(
                Collaboration.content_kind == "note", Collaboration.content_ref == note_ref, Collaboration.status.in_(DONE), Collaboration.protected_until > (now or utcnow())
            )
        )
    ).scalar_one_or_none()
    return until


# ---------------------------------------------------------------- fulfilment and deadlines


async def fulfilment(session: AsyncSession, user_id: int, *, now: datetime | None = None) -> Fulfilment:
    """A creator's record as brands see it: content published, submitted on time, out of
    the collaborations that reached their deadline (finished, submitted late, overdue,
    or cancelled once overdue). Still in review by the deadline does not count yet."""
    now = now or utcnow()
    reached = or_(
        Collaboration.status.in_(DONE),
        Collaboration.status.in_((S.OVERDUE, S.CANCELLED)) & Collaboration.deadline_at.is_not(None),
        Collaboration.on_time.is_(False),
        Collaboration.status.in_((S.SAMPLE_DELIVERED, S.CHANGES_REQUESTED)) & (Collaboration.deadline_at <= now),
    )
    on_time = Collaboration.status.in_(DONE) & Collaboration.on_time.is_(True)
    total, good = (
        await session.execute(
            select(func.count(), func.count().filter(on_time)).select_from(Collaboration).where(Collaboration.creator_user_id == user_id, Collaboration.deadline_at.is_not(None), reached)
        )
    ).one()
    return Fulfilment(on_time=good, total=total, rate_ppm=(good * 1_000_000 // total) if total else None)


async def run_deadlines(runtime: Runtime, *, now: datetime | None = None, limit: int = 500) -> dict[str, int]:
    """The `campaigns.collaboration_deadlines` job: reminders 3 days and 1 day before a
    posting deadline (each once: a bit in `reminders_sent`, flipped by a conditional
    UPDATE), overdue once it passes, and completed once a note's protection ends.
    Running it twice sends nothing twice."""
    now = now or utcnow()
    counts = {"reminded_3d": 0, "reminded_1d": 0, "overdue": 0, "completed": 0}
    async with runtime.db.session() as session:
        waiting = (
            await session.execute(
                select(Collaboration)
                .where(Collaboration.status.in_((S.SAMPLE_DELIVERED, S.CHANGES_REQUESTED)), Collaboration.deadline_at.is_not(None), Collaboration.deadline_at <= now + timedelta(days=3))
                .order_by(Collaboration.deadline_at, Collaboration.id)
                .limit(limit)
            )
        ).scalars().all()
        campaigns: dict[int, Campaign] = {}
        for collab in waiting:
            campaign = campaigns.get(collab.campaign_id) or await session.get(Campaign, collab.campaign_id)
            assert campaign is not None and collab.deadline_at is not None
            campaigns[campaign.id] = campaign
            if collab.deadline_at <= now:
                if await _move(session, runtime, collab, campaign, S.OVERDUE, actor=None, kind="system", note="the posting deadline passed"):
                    counts["overdue"] += 1
                continue
            which, bit, sets = ("1d", REMINDER_1D, REMINDER_3D | REMINDER_1D) if collab.deadline_at - now <= timedelta(days=1) else ("3d", REMINDER_3D, REMINDER_3D)
            flipped = await session.execute(
                update(Collaboration)
                .where(Collaboration.id == collab.id, Collaboration.reminders_sent.bitwise_and(bit) == 0)
                .values(reminders_sent=Collaboration.reminders_sent.bitwise_or(sets))
                .execution_options(synchronize_session=False)
            )
            if flipped.rowcount == 1:
                record_event(session, runtime, "collaboration.reminder", {
                    "collaboration_id": collab.id, "campaign_id": campaign.id, "brand_id": campaign.brand_id, "creator_user_id": collab.creator_user_id,
                    "which": which, "deadline_at": collab.deadline_at.isoformat(),
                })
                counts[f"reminded_{which}"] += 1
        protected = (
            await session.execute(
                select(Collaboration).where(Collaboration.status == S.PUBLISHED, Collaboration.protected_until <= now).order_by(Collaboration.id).limit(limit)
            )
        ).scalars().all()
        for collab in protected:
            campaign = campaigns.get(collab.campaign_id) or await session.get(Campaign, collab.campaign_id)
            assert campaign is not None
            if await _move(session, runtime, collab, campaign, S.COMPLETED, actor=None, kind="system", note="the protection period ended", completed_at=now):
                counts["completed"] += 1
        await session.commit()
    return counts


async def status_counts(session: AsyncSession, campaign_ids: list[int]) -> dict[int, dict[str, int]]:
    """Campaign id -> {collaboration status: how many}, for a list of campaigns in one query."""
    out: dict[int, dict[str, int]] = {cid: {} for cid in campaign_ids}
    if campaign_ids:
        rows = await session.execute(
            select(Collaboration.campaign_id, Collaboration.status, func.count()).where(Collaboration.campaign_id.in_(campaign_ids)).group_by(Collaboration.campaign_id, Collaboration.status)
        )
        for cid, status, n in rows:
            out[cid][status] = int(n)
    return out

"""The group_buy demo (the `seed_demo` hook, after the core's): Camellia Skin sells its
250ml cleansing oil at a two-person team price, and three teams show the whole life of
a team, each through the real services and the sandbox provider:

- Lin (shopper@) opened a team and Zhou (shopper2@) joined it from the share link: the
  team filled, both authorizations were captured, both orders are paid;
- Zhou's own team ran out of time with nobody else in it: the real expiry closed it and
  voided her authorization (nothing was taken from her card);
- Zhou's second team waits for one more member: the product page shows it, and a
  visitor signed in as Lin can join it and see it succeed.

The teams are opened and paid through services with their own transactions (and the
provider is called between them), so this commits the seed's work first, as the core's
attribution demo does. What the event handlers would do later (count an authorization,
capture a full team, void a failed one) is done at once by calling the same functions;
they are idempotent, so the handlers change nothing when the events arrive.

Idempotent: the offer is made once per variant; each team is seeded only while none of
its kind exists. The sandbox keeps its payments in memory: after a restart it no longer
knows the open team's authorization (a capture would fail), so that team is closed by
the real expiry (its time brought forward), its payment recorded as cancelled (no card
holds anything), and a fresh one is opened.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from core.auth.models import User
from core.db import utcnow
from core.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.auth.permissions import Actor
    from core.runtime import Runtime

log = logging.getLogger("zhongcao.group_buy")

DEMO_BRAND = "camellia-skin"
DEMO_SKU = "CS-OIL-250"  # ¥189.00 solo
DEMO_TEAM_PRICE = 14_900  # ¥149.00 in a team of two
DEMO_TEAM_SIZE = 2
DEMO_PER_USER = 5  # teams one shopper may be in: the demo accounts open and join a few
DEMO_LEADER = "shopper@demo.zhongcao.dev"  # Lin (the core's demo shopper)
DEMO_JOINER = "shopper2@demo.zhongcao.dev"  # Zhou, made here
DEMO_JOINER_NAME = "小周 Zhou"
DEMO_CARD = "5555 5555 5555 4444"  # sandbox; the core demo's shopper card (4242 is the visitors')
DEMO_PROVIDER = "sandbox"
LIN_ADDRESS = {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "region": "SH", "country": "CN"}
ZHOU_ADDRESS = {"name": "周一一", "phone": "+86 137 0000 0000", "line1": "西湖区文三路 90 号", "city": "杭州", "region": "ZJ", "country": "CN"}


async def seed_demo(session: AsyncSession, runtime: Runtime) -> None:
    from core.auth.service import signup
    from core.catalog.models import Brand, Variant
    from core.defaults.demo import DEMO_PASSWORD
    from plugins.group_buy import service
    from plugins.group_buy.models import GroupOffer

    brand = (await session.execute(select(Brand).where(Brand.slug == DEMO_BRAND))).scalar_one_or_none()
    variant_id = (await session.execute(select(Variant.id).where(Variant.sku == DEMO_SKU))).scalar_one_or_none()
    owner = (await session.execute(select(User).where(User.email == "brand@demo.zhongcao.dev"))).scalar_one_or_none()
    lin = (await session.execute(select(User).where(User.email == DEMO_LEADER))).scalar_one_or_none()
    if brand is None or variant_id is None or owner is None or lin is None:
        return  # the core demo did not make what the teams need
    zhou = (await session.execute(select(User).where(User.email == DEMO_JOINER))).scalar_one_or_none()
    if zhou is None:
        zhou = await signup(session, runtime, email=DEMO_JOINER, password=DEMO_PASSWORD, display_name=DEMO_JOINER_NAME)
    offer = (await session.execute(select(GroupOffer).where(GroupOffer.brand_id == brand.id, GroupOffer.variant_id == variant_id).order_by(GroupOffer.id).limit(1))).scalar_one_or_none()
    if offer is None:
        offer, _warnings = await service.create_offer(
            session, runtime, await _actor(session, owner.id), DEMO_BRAND,
            service.OfferInput(variant_id=variant_id, team_price_minor=DEMO_TEAM_PRICE, team_size=DEMO_TEAM_SIZE, currency="CNY", per_user_limit=DEMO_PER_USER),
        )  # fmt: skip
    offer_id, live = offer.id, service.is_live(offer, utcnow())
    lin_actor, zhou_actor = await _actor(session, lin.id), await _actor(session, zhou.id)
    await session.commit()  # the user and the offer, visible to the teams' own transactions
    if not live:
        return  # the brand paused or ended it: no new teams
    await seed_succeeded_team(runtime, offer_id, lin_actor, zhou_actor)
    await seed_expired_team(runtime, offer_id, zhou_actor)
    await seed_open_team(runtime, offer_id, zhou_actor)


async def _actor(session: AsyncSession, user_id: int) -> Actor:
    from core.auth.service import load_actor

    actor = await load_actor(session, user_id)
    assert actor is not None
    return actor


async def _pay_seat(runtime: Runtime, seat: Any, actor: Actor) -> None:
    """Pay a seat with the sandbox card (an authorization: the checkout is manual
    capture) and count it as the `payment.authorized` handler does."""
    from core.payments import service as payments
    from plugins.group_buy import service
    from plugins.group_buy.models import TeamMember

    await payments.pay(runtime, seat.checkout_token, actor, payment_method=DEMO_CARD, provider_name=DEMO_PROVIDER)
    async with runtime.db.read_session() as s:
        checkout_id = (await s.execute(select(TeamMember.checkout_id).where(TeamMember.id == seat.member_id))).scalar_one()
    await service.on_authorized(runtime, checkout_id)


async def seed_succeeded_team(runtime: Runtime, offer_id: int, lin: Actor, zhou: Actor) -> None:
    """Lin opens, Zhou joins through the share link; the full team is captured (what the
    `group_buy.team_succeeded` handler does)."""
    from plugins.group_buy import service
    from plugins.group_buy.models import Team, TeamStatus

    async with runtime.db.read_session() as s:
        done = (await s.execute(select(Team.id).where(Team.offer_id == offer_id, Team.leader_user_id == lin.user_id, Team.status == TeamStatus.SUCCEEDED).limit(1))).first()
    if done is not None:
        return
    seat = await service.open_team(runtime, lin, offer_id, address=LIN_ADDRESS)
    await _pay_seat(runtime, seat, lin)
    joined = await service.join_team(runtime, zhou, seat.team_id, address=ZHOU_ADDRESS)
    await _pay_seat(runtime, joined, zhou)
    await service.capture_team(runtime, seat.team_id)


async def seed_expired_team(runtime: Runtime, offer_id: int, zhou: Actor) -> None:
    """Zhou opens a team nobody joins; its time runs out (brought forward to now), the
    expiry fails it and its authorization is voided (what the delayed job or the sweep,
    then the `group_buy.team_failed` handler, do)."""
    from plugins.group_buy import service
    from plugins.group_buy.models import Team

    async with runtime.db.read_session() as s:
        done = (await s.execute(select(Team.id).where(Team.offer_id == offer_id, Team.closed_reason == "expired").limit(1))).first()
    if done is not None:
        return
    seat = await service.open_team(runtime, zhou, offer_id, address=ZHOU_ADDRESS)
    await _pay_seat(runtime, seat, zhou)
    await _run_out_of_time(runtime, seat.team_id)


async def _run_out_of_time(runtime: Runtime, team_id: int) -> None:
    from plugins.group_buy import service
    from plugins.group_buy.models import Team, TeamStatus

    async with runtime.db.session() as s:
        await s.execute(update(Team).where(Team.id == team_id, Team.status == TeamStatus.OPEN).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    await service.expire_team(runtime, team_id)  # None if the sweep got there first: it ended all the same
    await service.release_team(runtime, team_id)


async def seed_open_team(runtime: Runtime, offer_id: int, zhou: Actor) -> None:
    """One team a visitor can join (its leader paid, a seat free), whose authorization the
    provider still knows; a team whose authorization it forgot is closed first."""
    from core.payments.models import Payment, PaymentStatus
    from core.payments.providers import ProviderError
    from core.payments.service import provider_for
    from plugins.group_buy import service
    from plugins.group_buy.models import TeamMember

    async with runtime.db.read_session() as s:
        teams = await service.open_teams(s, offer_ids=[offer_id], limit=20, now=utcnow() + timedelta(minutes=5))
        leaders = {
            team_id: payment
            for team_id, payment in (
                await s.execute(
                    select(TeamMember.team_id, Payment)
                    .join(Payment, Payment.checkout_id == TeamMember.checkout_id)
                    .where(TeamMember.team_id.in_([t.id for t in teams] or [0]), TeamMember.is_leader.is_(True), Payment.status == PaymentStatus.AUTHORIZED)
                )
            ).all()
        }
    joinable = False
    for team in teams:
        payment = leaders.get(team.id)
        if payment is None or payment.provider_ref is None:
            continue
        try:
            await provider_for(runtime, payment.provider).retrieve(payment.provider_ref)
        except ProviderError:  # the in-memory sandbox restarted: this team could never be captured
            if payment.provider == DEMO_PROVIDER:  # it ends like any team out of time (the sandbox voids what it forgot)
                await _run_out_of_time(runtime, team.id)
            continue
        joinable = True
    if joinable:
        return
    try:
        seat = await service.open_team(runtime, zhou, offer_id, address=ZHOU_ADDRESS)
    except DomainError as exc:  # e.g. visitors signed in as Zhou used up her teams
        log.warning("group_buy demo: no open team seeded: %s", exc)
        return
    await _pay_seat(runtime, seat, zhou)

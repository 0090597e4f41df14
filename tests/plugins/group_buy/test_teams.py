"""Teams on the sandbox provider: fill and capture, expire and void, seats and limits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from core.db import utcnow
from core.errors import Conflict, NotFound, ValidationFailed
from core.inventory import service as inventory
from core.orders.models import Checkout, Order
from core.payments.models import Payment
from core.testing import ADDRESS
from plugins.group_buy import service
from plugins.group_buy.models import MemberStatus, Team, TeamMember
from plugins.group_buy.service import OfferInput
from tests.plugins.group_buy.helpers import actor_of, join_and_pay, make_offer, open_and_pay, settle


async def _orders_of(runtime, team_id: int) -> list[tuple[str, int, int]]:
    async with runtime.db.read_session() as s:
        rows = await s.execute(
            select(Order.status, Order.total_minor, Payment.captured_minor)
            .join(TeamMember, TeamMember.checkout_id == Order.checkout_id)
            .join(Payment, Payment.checkout_id == Order.checkout_id)
            .where(TeamMember.team_id == team_id)
            .order_by(TeamMember.id)
        )
        return [tuple(r) for r in rows.all()]


async def test_a_team_that_fills_is_captured_at_the_team_price(zc_runtime, zc_make_user, zc_make_product):
    offer, variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2, price=9900, team_price=6900)
    leader, friend = await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    async with zc_runtime.db.read_session() as s:
        team = await s.get(Team, seat.team_id)
        assert (team.status, team.seats_taken, team.authorized_count) == ("open", 1, 1)
    assert zc_runtime.payment_providers["sandbox"].ledger() == (0, 0)  # authorized, not taken
    await join_and_pay(zc_runtime, friend, seat.team_id)
    async with zc_runtime.db.read_session() as s:
        team = await s.get(Team, seat.team_id, populate_existing=True)
        assert (team.status, team.closed_reason, team.authorized_count) == ("succeeded", "full", 2)
        statuses = (await s.execute(select(TeamMember.status).where(TeamMember.team_id == team.id))).scalars().all()
        assert statuses == [MemberStatus.PAID, MemberStatus.PAID]
        snap = await inventory.snapshot(s, variant.id)
        assert (snap.reserved, snap.committed) == (0, 2)
    assert await _orders_of(zc_runtime, seat.team_id) == [("paid", 6900, 6900), ("paid", 6900, 6900)]
    assert zc_runtime.payment_providers["sandbox"].ledger() == (13800, 0)


async def test_a_team_whose_time_runs_out_is_voided_and_its_stock_released(zc_runtime, zc_make_user, zc_make_product):
    offer, variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=3)
    leader, friend = await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    await join_and_pay(zc_runtime, friend, seat.team_id)
    assert await service.expire_team(zc_runtime, seat.team_id) is None  # not due yet
    async with zc_runtime.db.session() as s:
        await s.execute(update(Team).where(Team.id == seat.team_id).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    assert await service.expire_team(zc_runtime, seat.team_id) == "failed"
    assert await service.expire_team(zc_runtime, seat.team_id) is None  # the job and the sweep both ran
    await settle(zc_runtime)
    async with zc_runtime.db.read_session() as s:
        team = await s.get(Team, seat.team_id, populate_existing=True)
        assert (team.status, team.closed_reason) == ("failed", "expired")
        assert set((await s.execute(select(TeamMember.status).where(TeamMember.team_id == team.id))).scalars()) == {MemberStatus.REFUNDED}
        assert set((await s.execute(select(Payment.status).join(TeamMember, TeamMember.checkout_id == Payment.checkout_id).where(TeamMember.team_id == team.id))).scalars()) == {"cancelled"}
        assert (await inventory.snapshot(s, variant.id)).available == 20
    assert zc_runtime.payment_providers["sandbox"].ledger() == (0, 0)


async def test_joining_is_refused_with_a_reason(zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2)
    leader, friend, late = await zc_make_user(), await zc_make_user(), await zc_make_user()
    leader_actor = await actor_of(zc_runtime, leader)
    unpaid = await service.open_team(zc_runtime, leader_actor, offer.id, address=ADDRESS)
    with pytest.raises(Conflict, match="opens once its leader has paid"):
        await service.join_team(zc_runtime, await actor_of(zc_runtime, friend), unpaid.team_id, address=ADDRESS)
    with pytest.raises(Conflict, match="at most 1 team"):  # the per-user limit: she holds a seat already
        await service.open_team(zc_runtime, leader_actor, offer.id, address=ADDRESS)
    from core.payments import service as payments

    await payments.pay(zc_runtime, unpaid.checkout_token, leader_actor, payment_method="4242424242424242")
    await settle(zc_runtime)
    with pytest.raises(Conflict, match="your own team"):
        await service.join_team(zc_runtime, leader_actor, unpaid.team_id, address=ADDRESS)
    await join_and_pay(zc_runtime, friend, unpaid.team_id)
    with pytest.raises(Conflict, match="full"):
        await service.join_team(zc_runtime, await actor_of(zc_runtime, late), unpaid.team_id, address=ADDRESS)
    with pytest.raises(NotFound):
        await service.join_team(zc_runtime, await actor_of(zc_runtime, late), 10**9, address=ADDRESS)


async def test_offer_rules(zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user(brand=("rules-brand", "owner"))
    other = await zc_make_user(brand=("other-brand", "owner"))
    variant = await zc_make_product("rules-brand", price=5000)
    actor = await actor_of(zc_runtime, owner)
    async with zc_runtime.db.session() as s:
        with pytest.raises(ValidationFailed, match="team size"):
            await service.create_offer(s, zc_runtime, actor, "rules-brand", OfferInput(variant_id=variant.id, team_price_minor=4000, team_size=1))
        with pytest.raises(ValidationFailed, match="lower than the solo price"):
            await service.create_offer(s, zc_runtime, actor, "rules-brand", OfferInput(variant_id=variant.id, team_price_minor=5001, team_size=2))
        _same, warnings = await service.create_offer(s, zc_runtime, actor, "rules-brand", OfferInput(variant_id=variant.id, team_price_minor=5000, team_size=2))
        assert warnings and "same as the solo price" in warnings[0]
        with pytest.raises(NotFound):  # another brand's variant
            await service.create_offer(s, zc_runtime, await actor_of(zc_runtime, other), "other-brand", OfferInput(variant_id=variant.id, team_price_minor=4000, team_size=2))
        await s.rollback()


async def test_a_seat_that_never_pays_is_freed_and_a_leader_who_never_pays_closes_her_team(zc_runtime, zc_make_user, zc_make_product):
    from core.orders import checkout as checkouts

    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=3)
    leader, quitter = await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    quitter_actor = await actor_of(zc_runtime, quitter)
    joined = await service.join_team(zc_runtime, quitter_actor, seat.team_id, address=ADDRESS)
    await checkouts.cancel_checkout(zc_runtime, joined.checkout_token, quitter_actor)
    await settle(zc_runtime)
    async with zc_runtime.db.read_session() as s:
        team = await s.get(Team, seat.team_id)
        assert (team.status, team.seats_taken) == ("open", 1)
    lonely = await service.open_team(zc_runtime, quitter_actor, offer.id, address=ADDRESS)
    await checkouts.cancel_checkout(zc_runtime, lonely.checkout_token, quitter_actor)
    await settle(zc_runtime)
    async with zc_runtime.db.read_session() as s:
        team = await s.get(Team, lonely.team_id)
        assert (team.status, team.closed_reason) == ("failed", "leader_left")
        assert (await s.execute(select(Checkout.status).where(Checkout.token == lonely.checkout_token))).scalar_one() == "cancelled"


async def test_the_sweep_frees_a_seat_whose_checkout_never_came_to_be(zc_runtime, zc_make_user, zc_make_product):
    """A seat taken, then the process stopped before its checkout was written (or giving
    the seat back failed): after the checkout hold time the sweep gives it back."""
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=3)
    leader, lost = await zc_make_user(), await zc_make_user()
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    joined = await service.join_team(zc_runtime, await actor_of(zc_runtime, lost), seat.team_id, address=ADDRESS)
    async with zc_runtime.db.session() as s:  # as if the checkout had never been written
        await s.execute(update(TeamMember).where(TeamMember.id == joined.member_id).values(checkout_id=None))
        await s.commit()
    assert (await service.sweep(zc_runtime))["freed"] == 0  # a seat being checked out right now is left alone
    async with zc_runtime.db.session() as s:
        await s.execute(update(TeamMember).where(TeamMember.id == joined.member_id).values(created_at=utcnow() - timedelta(minutes=service.CHECKOUT_MINUTES + 1)))
        await s.commit()
    assert (await service.sweep(zc_runtime))["freed"] == 1
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Team, seat.team_id)).seats_taken == 1
        assert (await s.get(TeamMember, joined.member_id)).status == MemberStatus.LEFT

"""Issue 9's "done when", on the real demo (`zhongcao demo` seeds the same way, on every
start): a team that filled and was captured, one that expired and was voided, and one a
visitor can join. Checked in the database and at the (sandbox) provider."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from core.auth.models import User
from core.catalog.models import Variant
from core.cli import seed
from core.defaults.demo import demo_accounts
from core.orders.models import Order
from core.payments.models import Payment
from core.payments.providers import SandboxProvider
from plugins.group_buy import demo, service
from plugins.group_buy.models import GroupOffer, MemberStatus, Team, TeamMember
from tests.plugins.group_buy.helpers import join_and_pay, settle


async def _teams(runtime) -> list[dict]:
    """Every demo team: its state, and each member's (email, status, order, payment, paid)."""
    async with runtime.db.read_session() as s:
        teams = list((await s.execute(select(Team).order_by(Team.id))).scalars())
        out = []
        for team in teams:
            rows = await s.execute(
                select(User.email, TeamMember.status, Order.status, Order.total_minor, Payment.status, Payment.captured_minor, Payment.provider_ref)
                .join(User, User.id == TeamMember.user_id)
                .join(Order, Order.checkout_id == TeamMember.checkout_id)
                .join(Payment, Payment.checkout_id == TeamMember.checkout_id)
                .where(TeamMember.team_id == team.id)
                .order_by(TeamMember.id)
            )
            out.append({"id": team.id, "status": team.status, "reason": team.closed_reason, "seats": (team.seats_taken, team.authorized_count, team.size), "members": [tuple(r) for r in rows]})
        return out


async def _intent_status(runtime, ref: str) -> str:
    return (await runtime.payment_providers["sandbox"].retrieve(ref)).status


async def test_the_demo_has_a_team_that_filled_one_that_expired_and_one_to_join(zc_client, zc_runtime):
    await seed(zc_runtime)
    async with zc_runtime.db.session() as s:  # every start seeds again: nothing twice
        await demo.seed_demo(s, zc_runtime)
        await s.commit()
    await settle(zc_runtime)  # the events' handlers run after the seed did their work: they change nothing

    async with zc_runtime.db.read_session() as s:
        [offer] = (await s.execute(select(GroupOffer))).scalars().all()
        sku = (await s.execute(select(Variant.sku).where(Variant.id == offer.variant_id))).scalar_one()
        assert (await s.execute(select(func.count()).select_from(User).where(User.email == demo.DEMO_JOINER))).scalar_one() == 1
    assert demo.DEMO_JOINER in await demo_accounts(zc_runtime)  # `zhongcao demo` lists her login with the core's
    async with zc_runtime.db.read_session() as s:  # Zhou is told how her two closed teams ended
        from core.notices.models import Notice

        zhou_id = (await s.execute(select(User.id).where(User.email == demo.DEMO_JOINER))).scalar_one()
        told = set((await s.execute(select(Notice.message).where(Notice.user_id == zhou_id, Notice.kind == "group_buy.team_closed"))).scalars())
        assert told == {service.TEAM_FILLED, service.TEAM_FAILED}
    assert (sku, offer.team_price_minor, offer.team_size, offer.active) == (demo.DEMO_SKU, demo.DEMO_TEAM_PRICE, 2, True)
    lin, zhou = demo.DEMO_LEADER, demo.DEMO_JOINER
    full, expired, waiting = await _teams(zc_runtime)

    # Lin opened, Zhou joined from the share link: both captured at the team price, both orders paid
    assert (full["status"], full["reason"], full["seats"]) == ("succeeded", "full", (2, 2, 2))
    assert [(m[0], m[1], m[2], m[4]) for m in full["members"]] == [(lin, MemberStatus.PAID, "paid", "succeeded"), (zhou, MemberStatus.PAID, "paid", "succeeded")]
    assert all(total == captured and total >= demo.DEMO_TEAM_PRICE for *_, total, _p, captured, _r in full["members"])
    assert [await _intent_status(zc_runtime, m[6]) for m in full["members"]] == ["succeeded", "succeeded"]

    # Zhou's team ran out of time: nothing taken, the authorization voided at the provider
    assert (expired["status"], expired["reason"]) == ("failed", "expired")
    [(email, member, order, _total, payment, captured, ref)] = expired["members"]
    assert (email, member, order, payment, captured) == (zhou, MemberStatus.REFUNDED, "cancelled", "cancelled", 0)
    assert await _intent_status(zc_runtime, ref) == "cancelled"

    # one more open team, its leader paid: a visitor (Lin) joins it and it succeeds
    assert (waiting["status"], waiting["seats"]) == ("open", (1, 1, 2))
    assert [m[:2] for m in waiting["members"]] == [(zhou, MemberStatus.AUTHORIZED)]
    async with zc_runtime.db.read_session() as s:
        lin_user = (await s.execute(select(User).where(User.email == lin))).scalar_one()
    await join_and_pay(zc_runtime, lin_user, waiting["id"])
    await settle(zc_runtime)
    teams = await _teams(zc_runtime)
    assert (teams[2]["status"], [m[1:3] for m in teams[2]["members"]]) == ("succeeded", [(MemberStatus.PAID, "paid"), (MemberStatus.PAID, "paid")])

    # the next start seeds a new team to join (the last one filled), and nothing else
    async with zc_runtime.db.session() as s:
        await demo.seed_demo(s, zc_runtime)
        await s.commit()
    teams = await _teams(zc_runtime)
    assert [t["status"] for t in teams] == ["succeeded", "failed", "succeeded", "open"]

    # a restart forgets the sandbox's payments: the open team (which could never be
    # captured now) is closed by the real expiry and a fresh one opened
    zc_runtime.payment_providers["sandbox"] = SandboxProvider()
    async with zc_runtime.db.session() as s:
        await demo.seed_demo(s, zc_runtime)
        await s.commit()
    teams = await _teams(zc_runtime)
    assert [(t["status"], t["reason"]) for t in teams[3:]] == [("failed", "expired"), ("open", None)]
    assert [m[1:3] + m[4:5] for m in teams[3]["members"]] == [(MemberStatus.REFUNDED, "cancelled", "cancelled")]
    assert [m[1:3] + m[4:5] for m in teams[4]["members"]] == [(MemberStatus.AUTHORIZED, "pending_payment", "authorized")]
    assert await _intent_status(zc_runtime, teams[4]["members"][0][6]) == "authorized"

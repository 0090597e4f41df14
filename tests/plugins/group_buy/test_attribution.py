"""Leader as creator: a campaign pays the team's leader on her team's orders (attribute_sale)."""

from __future__ import annotations

from sqlalchemy import select

from core.campaigns.models import Attribution, Commission
from core.orders.models import Order
from core.payments import service as payments
from core.testing import ADDRESS
from plugins.group_buy import service
from plugins.group_buy.models import TeamMember
from tests.core.attribution_helpers import seed_collaboration
from tests.plugins.group_buy.helpers import actor_of, make_offer, open_and_pay, settle


async def test_a_creator_leader_earns_commission_on_her_teams_orders(zc_runtime, zc_make_user, zc_make_product):
    offer, variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=2, price=10000, team_price=8000)
    leader = await zc_make_user(roles=("creator",))
    friend = await zc_make_user()
    await seed_collaboration(zc_runtime, creator_id=leader.id, variants=[variant], rate_ppm=100_000)
    seat = await open_and_pay(zc_runtime, leader, offer.id)
    friend_actor = await actor_of(zc_runtime, friend)
    joined = await service.join_team(zc_runtime, friend_actor, seat.team_id, address=ADDRESS)
    await payments.pay(zc_runtime, joined.checkout_token, friend_actor, payment_method="5555555555554444")  # her own card, not the leader's
    await settle(zc_runtime)
    async with zc_runtime.db.read_session() as s:
        rows = (
            await s.execute(
                select(TeamMember.user_id, Attribution.source, Attribution.ref, Attribution.creator_user_id, Attribution.blocked_reason)
                .join(Order, Order.checkout_id == TeamMember.checkout_id)
                .join(Attribution, Attribution.order_id == Order.id)
                .where(TeamMember.team_id == seat.team_id)
            )
        ).all()
        by_user = {r.user_id: r for r in rows}
        assert by_user[friend.id].source == "group_buy" and by_user[friend.id].ref == str(seat.team_id)
        assert by_user[friend.id].creator_user_id == leader.id and by_user[friend.id].blocked_reason is None
        assert by_user[leader.id].blocked_reason == "self_referral:user"  # her own seat earns her nothing
        commissions = (await s.execute(select(Commission.creator_user_id, Commission.base_minor, Commission.amount_minor))).all()
        assert [(c.creator_user_id, c.amount_minor) for c in commissions] == [(leader.id, 800)]  # 10% of the team price paid

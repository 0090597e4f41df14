"""Teams paid with Stripe, against localstripe, checked on the Stripe objects themselves:
a team that fills captures every authorization; a team whose time runs out cancels them.

The payments go through the core payments service with the provider `stripe` (a
PaymentIntent with manual capture per seat, confirmed with Stripe's test payment method
`pm_card_visa`); the test reads the PaymentIntents back through the stripe SDK. Skips
without localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh), like
tests/core/test_stripe.py.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pytest
import stripe
from sqlalchemy import select, update

from core.db import utcnow
from core.orders.models import Order
from core.payments import service as payments
from core.payments.models import Payment
from core.payments.stripe_provider import _HTTPXClient
from core.testing import ADDRESS, make_test_settings
from plugins.group_buy import service
from plugins.group_buy.models import MemberStatus, Team, TeamMember
from tests.plugins.group_buy.helpers import actor_of, make_offer, settle

API_BASE = os.environ.get("ZHONGCAO_TEST_STRIPE_API_BASE")
pytestmark = pytest.mark.skipif(not API_BASE, reason="needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh)")

KEY = "sk_test_zhongcao_group_buy"
VISA = "pm_card_visa"  # Stripe's test payment method (localstripe knows it too)


@pytest.fixture
def zc_settings(zc_var_dir, zc_database_url):
    return make_test_settings(zc_var_dir, zc_database_url, stripe_secret_key=KEY, stripe_api_base=API_BASE or "http://127.0.0.1:9")


def sdk() -> stripe.StripeClient:
    """Stripe as the test sees it: straight to localstripe, not through the app."""
    return stripe.StripeClient(KEY, base_addresses={"api": API_BASE}, http_client=_HTTPXClient())


async def take_seat(runtime: Any, user: Any, *, offer_id: int | None = None, team_id: int | None = None) -> service.Seat:
    """Open (offer_id) or join (team_id) a team and pay its seat with Stripe."""
    actor = await actor_of(runtime, user)
    if team_id is None:
        seat = await service.open_team(runtime, actor, offer_id, address=ADDRESS)
    else:
        seat = await service.join_team(runtime, actor, team_id, address=ADDRESS)
    payment = await payments.pay(runtime, seat.checkout_token, actor, payment_method=VISA, provider_name="stripe")
    assert (payment.provider, payment.status, payment.capture_method) == ("stripe", "authorized", "manual")
    await settle(runtime)
    return seat


async def intents_of(runtime: Any, team_id: int) -> list[dict[str, Any]]:
    """The team's PaymentIntents as Stripe has them, in seat order."""
    async with runtime.db.read_session() as s:
        refs = (
            await s.execute(select(Payment.provider_ref).join(TeamMember, TeamMember.checkout_id == Payment.checkout_id).where(TeamMember.team_id == team_id).order_by(TeamMember.id))
        ).scalars().all()
    assert refs and all(r and r.startswith("pi_") for r in refs), refs
    return [(await sdk().v1.payment_intents.retrieve_async(ref, {"expand": ["latest_charge"]})).to_dict() for ref in refs]


def received(pi: dict[str, Any]) -> int:
    """The PaymentIntent's `amount_received`. localstripe leaves that field out: there, the
    intent's charge says what was taken (captured, less anything refunded)."""
    if "amount_received" in pi:
        return pi["amount_received"]
    charge = pi.get("latest_charge")
    if not charge or not charge["captured"] or charge["status"] != "succeeded":
        return 0
    return charge["amount"] - (charge.get("amount_refunded") or 0)


async def test_authorize_fill_capture(zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, brand="stripe-team-brand", size=2, price=9900, team_price=6900)
    leader, friend = await zc_make_user(), await zc_make_user()
    seat = await take_seat(zc_runtime, leader, offer_id=offer.id)
    [held] = await intents_of(zc_runtime, seat.team_id)
    assert (held["status"], held["capture_method"], held["amount"], held["currency"]) == ("requires_capture", "manual", 6900, "cny")
    assert received(held) == 0  # authorized, nothing taken while the team waits

    await take_seat(zc_runtime, friend, team_id=seat.team_id)  # the last seat: the team fills, its handler captures
    intents = await intents_of(zc_runtime, seat.team_id)
    assert [(pi["status"], received(pi)) for pi in intents] == [("succeeded", 6900), ("succeeded", 6900)]
    async with zc_runtime.db.read_session() as s:
        team = await s.get(Team, seat.team_id)
        assert (team.status, team.closed_reason) == ("succeeded", "full")
        assert (await s.execute(select(TeamMember.status).where(TeamMember.team_id == team.id))).scalars().all() == [MemberStatus.PAID, MemberStatus.PAID]
        rows = (
            await s.execute(
                select(Payment.status, Payment.captured_minor, Order.status).join(Order, Order.checkout_id == Payment.checkout_id)
                .join(TeamMember, TeamMember.checkout_id == Payment.checkout_id).where(TeamMember.team_id == team.id).order_by(TeamMember.id)
            )
        ).all()  # fmt: skip
        assert [tuple(r) for r in rows] == [("succeeded", 6900, "paid"), ("succeeded", 6900, "paid")]
    await service.capture_team(zc_runtime, seat.team_id)  # the handler running twice takes nothing more
    assert [received(pi) for pi in await intents_of(zc_runtime, seat.team_id)] == [6900, 6900]


async def test_authorize_expire_cancel(zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, brand="stripe-team-brand", size=3, price=9900, team_price=6900)
    leader, friend = await zc_make_user(), await zc_make_user()
    seat = await take_seat(zc_runtime, leader, offer_id=offer.id)
    await take_seat(zc_runtime, friend, team_id=seat.team_id)
    assert [pi["status"] for pi in await intents_of(zc_runtime, seat.team_id)] == ["requires_capture", "requires_capture"]

    async with zc_runtime.db.session() as s:  # its time runs out (the delayed job is a day away: the sweep finds it)
        await s.execute(update(Team).where(Team.id == seat.team_id).values(expires_at=utcnow() - timedelta(seconds=1)))
        await s.commit()
    assert (await service.sweep(zc_runtime))["expired"] == 1
    await settle(zc_runtime)
    intents = await intents_of(zc_runtime, seat.team_id)
    assert [(pi["status"], received(pi)) for pi in intents] == [("canceled", 0), ("canceled", 0)]
    async with zc_runtime.db.read_session() as s:
        team = await s.get(Team, seat.team_id)
        assert (team.status, team.closed_reason) == ("failed", "expired")
        assert set((await s.execute(select(TeamMember.status).where(TeamMember.team_id == team.id))).scalars()) == {MemberStatus.REFUNDED}
        statuses = (await s.execute(select(Payment.status).join(TeamMember, TeamMember.checkout_id == Payment.checkout_id).where(TeamMember.team_id == team.id))).scalars().all()
        assert statuses == ["cancelled", "cancelled"]
    assert await service.expire_team(zc_runtime, seat.team_id) is None  # the delayed job arriving later does nothing
    await service.release_team(zc_runtime, seat.team_id)  # nor does the handler running again
    assert [pi["status"] for pi in await intents_of(zc_runtime, seat.team_id)] == ["canceled", "canceled"]

"""Payout runs: who is paid, how much, exactly once; failures, retries, bank files, Stripe
Connect transfers at the request level, permissions, the CLI, and the ledger after each.

Commissions and their ledger postings are written directly by small helpers here (the
commissions service posts the same transactions: accrued, approved, fixed fee, clawback).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select, update

from core.campaigns import payouts
from core.campaigns.models import (
    Attribution,
    Campaign,
    Collaboration,
    Commission,
    CreatorProfile,
    Payout,
    PayoutRun,
)
from core.campaigns.payouts import (
    PayoutError,
    StripePayoutProvider,
    fee_of,
    run_payouts,
)
from core.catalog.models import Brand
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.ledger import service as ledger
from core.ledger.models import AccountKind as K
from core.ledger.models import LedgerTransaction
from core.ledger.service import Posting, Txn
from core.orders.models import Cart, Checkout, Order, OrderLine
from core.settings import Settings
from core.testing import api_token, make_test_settings
from tests.core.test_api_conventions import assert_problem

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


# ---------------------------------------------------------------- helpers (shared with test_reports)


@dataclass
class World:
    brand_id: int
    brand_slug: str
    owner_email: str
    campaign_id: int
    variant_id: int
    product_id: int
    currency: str


async def make_world(runtime: Any, make_user: Any, make_product: Any, *, brand: str | None = None, currency: str = "CNY", title: str = "Seeding") -> World:
    brand = brand or f"pay-{uuid.uuid4().hex[:6]}"
    owner = await make_user(brand=(brand, "owner"))
    variant = await make_product(brand, price=10_000, stock=0, currency=currency)
    async with runtime.db.session() as s:
        brand_row = (await s.execute(select(Brand).where(Brand.slug == brand))).scalar_one()
        campaign = Campaign(brand_id=brand_row.id, title=title, status="open", currency=currency, budget_minor=0, eligibility={})
        s.add(campaign)
        await s.commit()
        return World(brand_row.id, brand, owner.email, campaign.id, variant.id, variant.product_id, currency)


async def make_creator(runtime: Any, make_user: Any, handle: str, method: str | None = "sandbox", details: dict[str, str] | None = None) -> Any:
    user = await make_user(f"{handle.replace('.', '-')}-{uuid.uuid4().hex[:4]}@example.com", roles=("creator",))
    async with runtime.db.session() as s:
        s.add(CreatorProfile(user_id=user.id, handle=handle, bio="", categories=[], region="CN", followers=1000, avg_engagement=10, engagement_rate_ppm=10_000,
                             rate_currency="CNY", payout_method=method, payout_details=details or {}))
        await s.commit()
    return user


async def collaboration(runtime: Any, world: World, creator_id: int, **values: Any) -> int:
    async with runtime.db.session() as s:
        found = (await s.execute(select(Collaboration).where(Collaboration.campaign_id == world.campaign_id, Collaboration.creator_user_id == creator_id))).scalar_one_or_none()
        if found is None:
            found = Collaboration(campaign_id=world.campaign_id, creator_user_id=creator_id, status=values.pop("status", "published"), origin="applied", **values)
            s.add(found)
            await s.commit()
        return found.id


async def earn(
    runtime: Any, world: World, creator_id: int, amount: int, *, status: str = "approved", line_total: int | None = None, attributed: bool = False,
    blocked: str | None = None, commission: bool = True,
) -> int:
    """A paid order line, its commission (pending or approved) and the ledger postings
    the commissions service makes. Returns the commission id (the order line's id when
    `commission` is False: an attribution that earned nothing, e.g. `blocked`)."""
    collab_id = await collaboration(runtime, world, creator_id)
    total = line_total if line_total is not None else amount * 10
    async with runtime.db.session() as s:
        cart = Cart(token=str(uuid.uuid4()), currency=world.currency, status="converted", codes=[])
        s.add(cart)
        await s.flush()
        checkout = Checkout(cart_id=cart.id, token=str(uuid.uuid4()), email="buyer@example.com", currency=world.currency, total_minor=total, status="paid", address={}, expires_at=NOW)
        s.add(checkout)
        await s.flush()
        order = Order(number=f"T{uuid.uuid4().hex[:12]}", checkout_id=checkout.id, brand_id=world.brand_id, email="buyer@example.com", currency=world.currency,
                      subtotal_minor=total, total_minor=total, status="paid")
        s.add(order)
        await s.flush()
        line = OrderLine(order_id=order.id, variant_id=world.variant_id, product_id=world.product_id, title="Cream", sku="SKU", options={}, quantity=1,
                         unit_price_minor=total, total_minor=total, adjustments=[])
        s.add(line)
        await s.flush()
        if attributed:
            s.add(Attribution(order_line_id=line.id, order_id=order.id, collaboration_id=collab_id, creator_user_id=creator_id, source="link", ref="x", touched_at=NOW,
                              blocked_reason=blocked))
        if not commission:
            await s.commit()
            return line.id
        c = Commission(order_line_id=line.id, order_id=order.id, collaboration_id=collab_id, campaign_id=world.campaign_id, brand_id=world.brand_id,
                       creator_user_id=creator_id, currency=world.currency, base_minor=total, rate_kind="percent", rate_ppm=100_000, flat_minor=0,
                       amount_minor=amount, reversed_minor=0, status="pending")
        s.add(c)
        await s.flush()
        txns = [Txn(key=f"commission.accrued:{c.id}", kind="commission.accrued", currency=world.currency,
                    postings=[Posting(K.BRAND_PAYABLE, world.brand_id, amount), Posting(K.CREATOR_PENDING, creator_id, -amount)])]
        if status == "approved":
            c.status, c.approved_at = "approved", NOW
            txns.append(Txn(key=f"commission.approved:{c.id}", kind="commission.approved", currency=world.currency,
                            postings=[Posting(K.CREATOR_PENDING, creator_id, amount), Posting(K.CREATOR_AVAILABLE, creator_id, -amount)]))
        await ledger.post_many(s, txns)
        # as the commissions service does: the campaign spent it (ledger check verifies)
        await s.execute(update(Campaign).where(Campaign.id == world.campaign_id, Campaign.currency == world.currency).values(spent_minor=Campaign.spent_minor + amount))
        await s.commit()
        return c.id


async def approve(runtime: Any, commission_id: int) -> None:
    async with runtime.db.session() as s:
        c = await s.get(Commission, commission_id)
        c.status, c.approved_at = "approved", NOW
        await ledger.post(s, Txn(key=f"commission.approved:{c.id}", kind="commission.approved", currency=c.currency,
                                 postings=[Posting(K.CREATOR_PENDING, c.creator_user_id, c.amount_minor), Posting(K.CREATOR_AVAILABLE, c.creator_user_id, -c.amount_minor)]))
        await s.commit()


async def fixed_fee(runtime: Any, world: World, creator_id: int, fee: int) -> None:
    collab_id = await collaboration(runtime, world, creator_id)
    async with runtime.db.session() as s:
        await ledger.post(s, Txn(key=f"fixed_fee:{collab_id}", kind="fixed_fee", currency=world.currency,
                                 postings=[Posting(K.BRAND_PAYABLE, world.brand_id, fee), Posting(K.CREATOR_AVAILABLE, creator_id, -fee)],
                                 ref={"collaboration_id": collab_id, "campaign_id": world.campaign_id}))
        await s.commit()


async def claw_back(runtime: Any, commission_id: int, amount: int) -> None:
    """A refund after approval (or payout): the creator owes it back."""
    async with runtime.db.session() as s:
        c = await s.get(Commission, commission_id)
        c.reversed_minor += amount
        await ledger.post(s, Txn(key=f"commission.reversed:{c.id}:{c.reversed_minor}", kind="commission.reversed", currency=c.currency,
                                 postings=[Posting(K.CREATOR_AVAILABLE, c.creator_user_id, amount), Posting(K.BRAND_PAYABLE, c.brand_id, -amount)]))
        await s.commit()


async def available(runtime: Any, user_id: int, currency: str = "CNY") -> int:
    """What the creator can be paid (the liability, as a positive number)."""
    async with runtime.db.read_session() as s:
        return -await ledger.balance(s, K.CREATOR_AVAILABLE, user_id, currency)


async def ledger_clean(runtime: Any) -> None:
    async with runtime.db.read_session() as s:
        assert await ledger.check(s) == []


async def payout_postings(runtime: Any) -> list[str]:
    async with runtime.db.read_session() as s:
        return list((await s.execute(select(LedgerTransaction.key).where(LedgerTransaction.kind == "payout").order_by(LedgerTransaction.id))).scalars())


def sandbox(runtime: Any) -> payouts.SandboxPayoutProvider:
    return payouts.payout_providers(runtime)["sandbox"]  # type: ignore[return-value]


# ---------------------------------------------------------------- arithmetic


@pytest.mark.parametrize(("gross", "ppm", "fee"), [
    (17_345, 100_000, 1_735),  # 1734.5 rounds up
    (17_344, 100_000, 1_734),  # 1734.4 rounds down
    (15, 100_000, 2),  # 1.5
    (14, 100_000, 1),
    (5, 100_000, 1),  # 0.5
    (4, 100_000, 0),
    (10_000, 0, 0),
    (1, 999_999, 1),
    (123_456_789, 123_457, 15_241_605),  # 15,241,604.799573
])
def test_fee_is_gross_times_ppm_rounded_half_up(gross, ppm, fee):
    assert fee_of(gross, ppm) == fee


def test_settings_bound_the_fee_and_minimum():
    assert (Settings().payout_minimum_major, Settings().platform_fee_ppm) == (100, 100_000)
    with pytest.raises(ValueError):
        Settings(platform_fee_ppm=1_000_000)  # the creator would get nothing
    with pytest.raises(ValueError):
        Settings(payout_minimum_major=-1)


# ---------------------------------------------------------------- runs


async def test_a_run_pays_once_per_key_minus_the_fee(zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    mia = await make_creator(zc_runtime, zc_make_user, "mia.pay")
    c1 = await earn(zc_runtime, world, mia.id, 12_345)
    still_pending = await earn(zc_runtime, world, mia.id, 7_000, status="pending")
    await fixed_fee(zc_runtime, world, mia.id, 5_000)
    assert await available(zc_runtime, mia.id) == 17_345

    first = await run_payouts(zc_runtime, currency="CNY", key="nov-1", now=NOW)
    assert first.created and first.run.status == "done" and first.run.skipped == []
    [p] = first.payouts
    assert (p.gross_minor, p.fee_minor, p.net_minor, p.provider, p.status, p.attempts) == (17_345, 1_735, 15_610, "sandbox", "paid", 1)
    assert p.provider_ref.startswith("sbx_tr_") and p.paid_at == NOW and p.idempotency_key == f"zc-payout-{first.run.id}-{mia.id}"
    assert (first.run.minimum_minor, first.run.fee_ppm) == (10_000, 100_000)

    again = await run_payouts(zc_runtime, currency="CNY", key="nov-1", now=NOW)
    assert not again.created and [x.id for x in again.payouts] == [p.id]
    assert sandbox(zc_runtime).ledger() == {"CNY": 15_610}  # one transfer
    assert await payout_postings(zc_runtime) == [f"payout:{p.id}"]
    async with zc_runtime.db.read_session() as s:
        assert await ledger.balance(s, K.CREATOR_AVAILABLE, mia.id, "CNY") == 0
        assert await ledger.balance(s, K.CREATOR_PENDING, mia.id, "CNY") == -7_000  # not yet approved: not paid
        assert await ledger.balance(s, K.PLATFORM_FEE, 0, "CNY") == -1_735
        assert await ledger.balance(s, K.PAYOUTS, 0, "CNY") == -15_610
        paid, pending = await s.get(Commission, c1), await s.get(Commission, still_pending)
        assert (paid.status, paid.payout_id, paid.paid_at) == ("paid", p.id, NOW)
        assert (pending.status, pending.payout_id) == ("pending", None)
        assert (await s.execute(select(func.count()).select_from(PayoutRun))).scalar_one() == 1
    await ledger_clean(zc_runtime)

    # another key finds nothing left to pay
    third = await run_payouts(zc_runtime, currency="CNY", key="nov-2", now=NOW)
    assert third.created and third.payouts == [] and third.run.status == "done"
    assert sandbox(zc_runtime).ledger() == {"CNY": 15_610}


async def test_the_default_key_is_one_run_a_month_and_a_key_belongs_to_its_currency(zc_runtime):
    result = await run_payouts(zc_runtime, currency="CNY", now=datetime(2026, 3, 5, tzinfo=UTC))
    assert result.run.key == "CNY-2026-03"
    with pytest.raises(Conflict):
        await run_payouts(zc_runtime, currency="USD", key="CNY-2026-03")
    for bad in ("", " x", "a" * 81, "semi;colon"):
        with pytest.raises(ValidationFailed):
            await run_payouts(zc_runtime, currency="CNY", key=bad)
    for bad in ("cny", "XXX", "CN"):
        with pytest.raises(ValidationFailed):
            await run_payouts(zc_runtime, currency=bad, key="k")


async def test_below_the_minimum_waits_and_is_paid_once_it_is_reached(zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    leo = await make_creator(zc_runtime, zc_make_user, "leo.pay")
    await earn(zc_runtime, world, leo.id, 9_999)  # ¥99.99 < ¥100
    first = await run_payouts(zc_runtime, currency="CNY", key="m1", now=NOW)
    assert first.payouts == []
    assert first.run.skipped == [{"creator_user_id": leo.id, "handle": "leo.pay", "balance_minor": 9_999, "reserved_minor": 0, "reason": "below_minimum"}]
    assert await available(zc_runtime, leo.id) == 9_999

    await earn(zc_runtime, world, leo.id, 1)  # exactly the minimum
    [p] = (await run_payouts(zc_runtime, currency="CNY", key="m2", now=NOW)).payouts
    assert (p.gross_minor, p.fee_minor, p.net_minor, p.status) == (10_000, 1_000, 9_000, "paid")
    async with zc_runtime.db.read_session() as s:
        assert list((await s.execute(select(Commission.status).where(Commission.creator_user_id == leo.id))).scalars()) == ["paid", "paid"]
    await ledger_clean(zc_runtime)


async def test_minimum_and_fee_follow_settings_and_currency_exponent(zc_runtime, zc_settings, zc_make_user, zc_make_product):
    from core.runtime import create_runtime

    runtime = create_runtime(make_test_settings(zc_settings.var_dir, zc_settings.database_url, payout_minimum_major=50, platform_fee_ppm=25_000))
    try:
        world = await make_world(runtime, zc_make_user, zc_make_product, currency="JPY")
        jun = await make_creator(runtime, zc_make_user, "jun.pay")
        await earn(runtime, world, jun.id, 49)  # ¥49 < ¥50 (JPY has no minor unit)
        assert (await run_payouts(runtime, currency="JPY", key="jp-1", now=NOW)).run.skipped[0]["reason"] == "below_minimum"
        await earn(runtime, world, jun.id, 9)  # 58 yen x 2.5% = 1.45 -> 1
        result = await run_payouts(runtime, currency="JPY", key="jp-2", now=NOW)
        assert (result.run.minimum_minor, result.run.fee_ppm) == (50, 25_000)
        [p] = result.payouts
        assert (p.gross_minor, p.fee_minor, p.net_minor, p.currency) == (58, 1, 57, "JPY")
        await ledger_clean(runtime)
    finally:
        await runtime.dispose_loop_databases()


async def test_a_clawback_after_payout_is_skipped_then_netted_next_time(zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    mia = await make_creator(zc_runtime, zc_make_user, "mia.net")
    c1 = await earn(zc_runtime, world, mia.id, 20_000)
    [first] = (await run_payouts(zc_runtime, currency="CNY", key="n1", now=NOW)).payouts
    assert (first.gross_minor, first.net_minor) == (20_000, 18_000)

    await claw_back(zc_runtime, c1, 3_000)  # refunded after it was paid
    assert await available(zc_runtime, mia.id) == -3_000
    second = await run_payouts(zc_runtime, currency="CNY", key="n2", now=NOW)
    assert second.payouts == [] and second.run.skipped == [
        {"creator_user_id": mia.id, "handle": "mia.net", "balance_minor": -3_000, "reserved_minor": 0, "reason": "negative_balance"},
    ]

    await earn(zc_runtime, world, mia.id, 15_000)
    [third] = (await run_payouts(zc_runtime, currency="CNY", key="n3", now=NOW)).payouts
    assert (third.gross_minor, third.fee_minor, third.net_minor) == (12_000, 1_200, 10_800)  # 15,000 less the 3,000 owed
    assert await available(zc_runtime, mia.id) == 0
    assert sandbox(zc_runtime).ledger() == {"CNY": 28_800}
    await ledger_clean(zc_runtime)


async def test_a_refused_transfer_fails_the_payout_and_the_next_run_pays(zc_runtime, zc_make_user, zc_make_product, monkeypatch):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    ana = await make_creator(zc_runtime, zc_make_user, "ana.fail")
    bob = await make_creator(zc_runtime, zc_make_user, "bob.ok")
    c_ana = await earn(zc_runtime, world, ana.id, 30_000)
    await earn(zc_runtime, world, bob.id, 20_000)
    box = sandbox(zc_runtime)
    real = box.transfer

    async def refuse_ana(**kw: Any) -> str:
        if kw["destination"]["creator_user_id"] == str(ana.id):
            raise PayoutError("account closed", code="account_closed")
        return await real(**kw)

    monkeypatch.setattr(box, "transfer", refuse_ana)
    result = await run_payouts(zc_runtime, currency="CNY", key="f1", now=NOW)
    by_creator = {p.creator_user_id: p for p in result.payouts}
    assert (by_creator[ana.id].status, by_creator[ana.id].error) == ("failed", "account closed")
    assert by_creator[bob.id].status == "paid" and result.run.status == "done"
    assert await available(zc_runtime, ana.id) == 30_000  # untouched
    async with zc_runtime.db.read_session() as s:
        c = await s.get(Commission, c_ana)
        assert (c.status, c.payout_id) == ("approved", None)  # released for the next run
    assert await payout_postings(zc_runtime) == [f"payout:{by_creator[bob.id].id}"]

    monkeypatch.setattr(box, "transfer", real)
    [retry] = (await run_payouts(zc_runtime, currency="CNY", key="f2", now=NOW)).payouts
    assert (retry.creator_user_id, retry.status, retry.gross_minor, retry.net_minor) == (ana.id, "paid", 30_000, 27_000)
    assert retry.idempotency_key != by_creator[ana.id].idempotency_key
    assert await available(zc_runtime, ana.id) == 0
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Commission, c_ana)).payout_id == retry.id
    await ledger_clean(zc_runtime)


async def test_an_ambiguous_error_keeps_the_payout_pending_and_reserved_until_asked_again(zc_runtime, zc_make_user, zc_make_product, monkeypatch):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    eve = await make_creator(zc_runtime, zc_make_user, "eve.flaky")
    await earn(zc_runtime, world, eve.id, 40_000)
    box = sandbox(zc_runtime)
    real = box.transfer
    keys: list[str] = []

    async def time_out_after_sending(**kw: Any) -> str:
        keys.append(kw["idempotency_key"])
        await real(**kw)  # the money left...
        raise PayoutError("read timeout", retryable=True)  # ...but we never heard back

    monkeypatch.setattr(box, "transfer", time_out_after_sending)
    first = await run_payouts(zc_runtime, currency="CNY", key="a1", now=NOW)
    [p] = first.payouts
    assert (p.status, p.error, first.run.status) == ("pending", "read timeout", "running")
    # another run meanwhile must not pay the reserved amount again
    monkeypatch.setattr(box, "transfer", real)
    await earn(zc_runtime, world, eve.id, 12_000)
    second = await run_payouts(zc_runtime, currency="CNY", key="a2", now=NOW)
    # the pending one was asked again first (same key: the same transfer), then the new money paid
    assert [x.gross_minor for x in second.payouts] == [12_000]
    async with zc_runtime.db.read_session() as s:
        settled = await s.get(Payout, p.id)
        assert (settled.status, settled.attempts, settled.error) == ("paid", 2, None)
        assert (await s.get(PayoutRun, first.run.id)).status == "done"
    assert keys == [p.idempotency_key]
    assert [t.amount_minor for t in box.transfers()] == [36_000, 10_800]
    assert await available(zc_runtime, eve.id) == 0
    await ledger_clean(zc_runtime)


async def test_a_run_interrupted_after_the_transfer_pays_once_on_rerun(zc_runtime, zc_make_user, zc_make_product, monkeypatch):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    kai = await make_creator(zc_runtime, zc_make_user, "kai.crash")
    await earn(zc_runtime, world, kai.id, 50_000)
    real_record = payouts.record_paid

    async def crash(*args: Any, **kwargs: Any) -> list[int]:
        raise RuntimeError("the process died")

    monkeypatch.setattr(payouts, "record_paid", crash)
    with pytest.raises(RuntimeError):
        await run_payouts(zc_runtime, currency="CNY", key="c1", now=NOW)
    assert len(sandbox(zc_runtime).transfers()) == 1  # the money went out
    async with zc_runtime.db.read_session() as s:
        [p] = (await s.execute(select(Payout))).scalars()
        assert p.status == "pending" and await ledger.balance(s, K.CREATOR_AVAILABLE, kai.id, "CNY") == -50_000

    monkeypatch.setattr(payouts, "record_paid", real_record)
    rerun = await run_payouts(zc_runtime, currency="CNY", key="c1", now=NOW)
    assert not rerun.created and [(x.id, x.status, x.attempts) for x in rerun.payouts] == [(p.id, "paid", 2)]
    assert [t.amount_minor for t in sandbox(zc_runtime).transfers()] == [45_000]
    assert rerun.payouts[0].provider_ref == sandbox(zc_runtime).transfers()[0].ref
    assert await payout_postings(zc_runtime) == [f"payout:{p.id}"] and await available(zc_runtime, kai.id) == 0
    await ledger_clean(zc_runtime)


async def test_creators_without_a_usable_method_are_skipped_with_a_reason(zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    none = await make_creator(zc_runtime, zc_make_user, "no.method", method=None)
    stripe_less = await make_creator(zc_runtime, zc_make_user, "no.stripe", method="stripe", details={"stripe_account": "acct_1234567"})
    no_profile = await zc_make_user(roles=("creator",))
    for who in (none, stripe_less, no_profile):
        await earn(zc_runtime, world, who.id, 20_000)
    result = await run_payouts(zc_runtime, currency="CNY", key="s1", now=NOW)
    assert result.payouts == []
    assert {(s["handle"], s["reason"]) for s in result.run.skipped} == {(None, "no_payout_method"), ("no.method", "no_payout_method"), ("no.stripe", "method_unavailable")}
    assert all(s["balance_minor"] == 20_000 for s in result.run.skipped)


async def test_concurrent_runs_with_different_keys_pay_each_creator_once(zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    creators = [await make_creator(zc_runtime, zc_make_user, f"race.{i}") for i in range(3)]
    for i, c in enumerate(creators):
        await earn(zc_runtime, world, c.id, 10_000 * (i + 1))
    results = await asyncio.gather(*(run_payouts(zc_runtime, currency="CNY", key=f"race-{k}", now=NOW) for k in range(3)))
    paid = [p for r in results for p in r.payouts]
    assert sorted(p.gross_minor for p in paid) == [10_000, 20_000, 30_000]
    assert sorted(t.amount_minor for t in sandbox(zc_runtime).transfers()) == [9_000, 18_000, 27_000]
    assert [await available(zc_runtime, c.id) for c in creators] == [0, 0, 0]
    await ledger_clean(zc_runtime)


# ---------------------------------------------------------------- bank payouts

BANK = {"account_name": "林小满", "account_number": "6222 0000 1234 5678", "bank_name": "招商银行 China Merchants Bank", "branch": "上海分行"}


async def test_bank_payouts_wait_in_a_file_until_staff_confirm(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    lin = await make_creator(zc_runtime, zc_make_user, "lin.bank", method="bank", details=BANK)
    tricky = await make_creator(zc_runtime, zc_make_user, "tricky.bank", method="bank", details={**BANK, "account_name": "=HYPERLINK(\"x\")", "account_number": "6222000000001111"})
    c_lin = await earn(zc_runtime, world, lin.id, 25_005)
    await earn(zc_runtime, world, tricky.id, 10_000)
    staff = await zc_make_user(staff=True)
    auth = await api_token(zc_client, staff.email)

    r = await zc_client.post("/api/v1/payout-runs", json={"currency": "CNY", "key": "bank-1"}, headers=auth)
    assert r.status_code == 201, r.text
    run = r.json()
    assert run["status"] == "done" and {p["status"] for p in run["payouts"]} == {"awaiting"}
    lin_payout = next(p for p in run["payouts"] if p["creator_handle"] == "lin.bank")
    assert (lin_payout["gross_minor"], lin_payout["fee_minor"], lin_payout["net_minor"]) == (25_005, 2_501, 22_504)  # 2500.5 rounds up
    assert run["totals"] == {"awaiting": {"count": 2, "gross_minor": 35_005, "fee_minor": 3_501, "net_minor": 31_504}}
    assert await payout_postings(zc_runtime) == [] and await available(zc_runtime, lin.id) == 25_005  # nothing moves before the bank pays

    # the reserved amount is not paid again by another run
    again = await zc_client.post("/api/v1/payout-runs", json={"currency": "CNY", "key": "bank-2"}, headers=auth)
    assert again.status_code == 201 and again.json()["payouts"] == []
    assert {s["reason"] for s in again.json()["skipped"]} == {"open_payout"}

    f = await zc_client.get(f"/api/v1/payout-runs/{run['id']}/bank-file.csv", headers=auth)
    assert f.status_code == 200 and f.headers["content-type"].startswith("text/csv")
    assert f'filename="payout-run-{run["id"]}-bank.csv"' in f.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(f.text)))
    assert rows[0] == ["payout_id", "creator", "account_name", "bank", "account_number", "branch", "swift", "gross", "fee", "net", "currency", "reference"]
    assert rows[1] == [str(lin_payout["id"]), "lin.bank", "林小满", "招商银行 China Merchants Bank", "6222 0000 1234 5678", "上海分行", "", "250.05", "25.01", "225.04", "CNY",
                       f"ZC-PAYOUT-{run['id']}-{lin.id}"]
    assert rows[2][2] == "'=HYPERLINK(\"x\")" and rows[2][4] == "6222000000001111"  # no formula reaches a spreadsheet

    tricky_payout = next(p for p in run["payouts"] if p["creator_handle"] == "tricky.bank")
    bounced = await zc_client.post(f"/api/v1/payouts/{tricky_payout['id']}/fail", json={"reason": "account name mismatch"}, headers=auth)
    assert bounced.status_code == 200 and (bounced.json()["status"], bounced.json()["error"]) == ("failed", "bank: account name mismatch")
    assert_problem(await zc_client.post(f"/api/v1/payouts/{tricky_payout['id']}/fail", json={"reason": "again"}, headers=auth), 409)

    done = await zc_client.post(f"/api/v1/payout-runs/{run['id']}/confirm", json={}, headers=auth)
    assert done.status_code == 200, done.text
    assert done.json()["paid"] == [lin_payout["id"]]
    assert done.json()["run"]["totals"]["paid"] == {"count": 1, "gross_minor": 25_005, "fee_minor": 2_501, "net_minor": 22_504}
    twice = await zc_client.post(f"/api/v1/payout-runs/{run['id']}/confirm", json={"payout_ids": [lin_payout["id"]]}, headers=auth)
    assert twice.status_code == 200 and twice.json()["paid"] == []
    assert_problem(await zc_client.post(f"/api/v1/payout-runs/{run['id']}/confirm", json={"payout_ids": [tricky_payout["id"]]}, headers=auth), 409)
    assert_problem(await zc_client.post(f"/api/v1/payout-runs/{run['id']}/confirm", json={"payout_ids": [999_999]}, headers=auth), 404)
    assert await payout_postings(zc_runtime) == [f"payout:{lin_payout['id']}"]
    assert await available(zc_runtime, lin.id) == 0 and await available(zc_runtime, tricky.id) == 10_000
    async with zc_runtime.db.read_session() as s:
        c = await s.get(Commission, c_lin)
        assert (c.status, c.payout_id) == ("paid", lin_payout["id"])
        p = await s.get(Payout, lin_payout["id"])
        assert p.confirmed_by == staff.id and p.provider_ref == f"ZC-PAYOUT-{run['id']}-{lin.id}"
    empty = await zc_client.get(f"/api/v1/payout-runs/{run['id']}/bank-file.csv", headers=auth)
    assert len(list(csv.reader(io.StringIO(empty.text)))) == 1  # nothing left to pay by bank

    # the bounced one is paid by the next run
    third = await zc_client.post("/api/v1/payout-runs", json={"currency": "CNY", "key": "bank-3"}, headers=auth)
    assert [(p["creator_handle"], p["status"], p["gross_minor"]) for p in third.json()["payouts"]] == [("tricky.bank", "awaiting", 10_000)]
    await ledger_clean(zc_runtime)


async def test_incomplete_bank_details_fail_the_payout(zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    odd = await make_creator(zc_runtime, zc_make_user, "odd.bank", method="bank", details={"account_name": "X"})
    await earn(zc_runtime, world, odd.id, 20_000)
    [p] = (await run_payouts(zc_runtime, currency="CNY", key="b1", now=NOW)).payouts
    assert (p.status, p.error) == ("failed", "bank details incomplete: account_number, bank_name")
    assert await available(zc_runtime, odd.id) == 20_000


# ---------------------------------------------------------------- API and permissions


async def test_staff_run_payouts_and_see_runs_creators_see_their_own(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    mia = await make_creator(zc_runtime, zc_make_user, "mia.api")
    leo = await make_creator(zc_runtime, zc_make_user, "leo.api")
    await earn(zc_runtime, world, mia.id, 30_000)
    await earn(zc_runtime, world, leo.id, 5_000)
    await earn(zc_runtime, world, leo.id, 4_000, status="pending")
    staff = await zc_make_user(staff=True)
    staff_auth = await api_token(zc_client, staff.email)
    mia_auth = await api_token(zc_client, mia.email)
    leo_auth = await api_token(zc_client, leo.email)
    owner_auth = await api_token(zc_client, world.owner_email)

    # only platform staff run and read payouts
    for auth in (mia_auth, owner_auth):
        assert_problem(await zc_client.post("/api/v1/payout-runs", json={"currency": "CNY"}, headers=auth), 403)
        assert_problem(await zc_client.get("/api/v1/payout-runs", headers=auth), 403)
    assert_problem(await zc_client.post("/api/v1/payout-runs", json={"currency": "CNY"}), 401)
    assert_problem(await zc_client.post("/api/v1/payout-runs", json={"currency": "CNY", "extra": 1}, headers=staff_auth), 400)
    assert_problem(await zc_client.post("/api/v1/payout-runs", json={"currency": "ZZZ"}, headers=staff_auth), 422)
    assert await payout_postings(zc_runtime) == []

    r = await zc_client.post("/api/v1/payout-runs", json={"currency": "CNY", "key": "api-1"}, headers=staff_auth)
    assert r.status_code == 201, r.text
    run = r.json()
    assert [(p["creator_handle"], p["status"], p["gross_minor"], p["fee_minor"], p["net_minor"]) for p in run["payouts"]] == [("mia.api", "paid", 30_000, 3_000, 27_000)]
    assert run["skipped"] == [{"creator_user_id": leo.id, "handle": "leo.api", "balance_minor": 5_000, "reserved_minor": 0, "reason": "below_minimum"}]
    replay = await zc_client.post("/api/v1/payout-runs", json={"currency": "CNY", "key": "api-1"}, headers=staff_auth)
    assert replay.status_code == 200 and replay.json()["payouts"] == run["payouts"]

    listed = (await zc_client.get("/api/v1/payout-runs", headers=staff_auth)).json()
    assert listed["total"] == 1 and listed["items"][0]["totals"] == {"paid": {"count": 1, "gross_minor": 30_000, "fee_minor": 3_000, "net_minor": 27_000}}
    assert listed["items"][0]["payouts"] is None
    one = await zc_client.get(f"/api/v1/payout-runs/{run['id']}", headers=staff_auth)
    assert one.status_code == 200 and one.json()["payouts"][0]["provider_ref"].startswith("sbx_tr_")
    assert_problem(await zc_client.get(f"/api/v1/payout-runs/{run['id']}", headers=mia_auth), 403)
    assert_problem(await zc_client.get("/api/v1/payout-runs/999999", headers=staff_auth), 404)
    assert_problem(await zc_client.get(f"/api/v1/payout-runs/{run['id']}/payouts.csv", headers=mia_auth), 403)
    assert_problem(await zc_client.get(f"/api/v1/payout-runs/{run['id']}/bank-file.csv", headers=owner_auth), 403)

    export = await zc_client.get(f"/api/v1/payout-runs/{run['id']}/payouts.csv", headers=staff_auth)
    rows = list(csv.reader(io.StringIO(export.text)))
    pid = run["payouts"][0]["id"]
    assert rows == [
        ["payout_id", "creator", "provider", "status", "gross", "fee", "net", "currency", "reference", "paid_at", "error"],
        [str(pid), "mia.api", "sandbox", "paid", "300.00", "30.00", "270.00", "CNY", run["payouts"][0]["provider_ref"], rows[1][9], ""],
    ]
    assert rows[1][9].startswith(datetime.now(UTC).strftime("%Y-"))

    mine = (await zc_client.get("/api/v1/me/payouts", headers=mia_auth)).json()
    assert [(p["id"], p["net_minor"]) for p in mine["items"]] == [(pid, 27_000)] and mine["total"] == 1
    assert mine["balances"] == [{"currency": "CNY", "available_minor": 0, "pending_minor": 0, "reserved_minor": 0}]
    theirs = (await zc_client.get("/api/v1/me/payouts", headers=leo_auth)).json()
    assert theirs["items"] == [] and theirs["balances"] == [{"currency": "CNY", "available_minor": 5_000, "pending_minor": 4_000, "reserved_minor": 0}]
    assert_problem(await zc_client.get("/api/v1/me/payouts"), 401)
    await ledger_clean(zc_runtime)


async def test_staff_only_services_refuse_others(zc_runtime, zc_make_user):
    from core.auth.permissions import Actor

    creator = Actor(user_id=1, email="c@example.com", display_name="c", locale="en", roles=frozenset({"creator"}))
    with pytest.raises(PermissionDenied):
        await run_payouts(zc_runtime, currency="CNY", key="x", actor=creator)
    with pytest.raises(PermissionDenied):
        await payouts.confirm_bank_payouts(zc_runtime, creator, 1)
    with pytest.raises(PermissionDenied):
        await payouts.fail_bank_payout(zc_runtime, creator, 1, "no")
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(func.count()).select_from(PayoutRun))).scalar_one() == 0


def _cli_run(args: list[str], env: dict[str, str]) -> Any:
    from core.cli import cli

    return CliRunner().invoke(cli, args, env=env, catch_exceptions=False)


async def test_cli_runs_payouts_idempotently(zc_runtime, zc_settings, zc_make_user, zc_make_product):
    world = await make_world(zc_runtime, zc_make_user, zc_make_product)
    mia = await make_creator(zc_runtime, zc_make_user, "mia.cli")
    await earn(zc_runtime, world, mia.id, 12_345)
    env = {"ZHONGCAO_DATABASE_URL": zc_settings.database_url, "ZHONGCAO_VAR_DIR": str(zc_settings.var_dir), "ZHONGCAO_SECRET_KEY": "x"}
    first = await asyncio.to_thread(_cli_run, ["payouts", "run", "--currency", "cny", "--key", "cli-1"], env)
    assert first.exit_code == 0, first.output
    assert "payout run cli-1 (CNY, done)" in first.output and "@mia.cli via sandbox: paid gross ¥123.45 fee ¥12.35 net ¥111.10" in first.output
    second = await asyncio.to_thread(_cli_run, ["payouts", "run", "--currency", "CNY", "--key", "cli-1"], env)
    assert second.exit_code == 0 and "already run, nothing new paid" in second.output
    assert len(await payout_postings(zc_runtime)) == 1 and await available(zc_runtime, mia.id) == 0
    bad = await asyncio.to_thread(_cli_run, ["payouts", "run", "--currency", "XXX"], env)
    assert bad.exit_code == 1 and "ISO 4217" in bad.output
    check = await asyncio.to_thread(_cli_run, ["ledger", "check"], env)
    assert check.exit_code == 0 and "ledger ok" in check.output


# ---------------------------------------------------------------- Stripe Connect, at the request level


class FakeStripe(ThreadingHTTPServer):
    """A tiny stand-in for Stripe's transfers endpoint (localstripe has no Connect): it
    records each request and answers like Stripe, deduplicating by Idempotency-Key."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.transfers: dict[str, dict[str, Any]] = {}  # by idempotency key
        self.fail_with: tuple[int, dict[str, Any]] | None = None
        super().__init__(("127.0.0.1", 0), _FakeStripeHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _FakeStripeHandler(BaseHTTPRequestHandler):
    server: FakeStripe

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.requests.append({"method": "GET", "path": url.path, "query": query, "headers": {k.lower(): v for k, v in self.headers.items()}})
        found = [t for t in self.server.transfers.values() if t["transfer_group"] == query.get("transfer_group")]
        self._answer(200, {"object": "list", "url": "/v1/transfers", "has_more": False, "data": found[:1]})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        key = self.headers.get("Idempotency-Key")
        self.server.requests.append({"method": "POST", "path": urlsplit(self.path).path, "form": form, "headers": {k.lower(): v for k, v in self.headers.items()}})
        if self.server.fail_with is not None:
            self._answer(*self.server.fail_with)
            return
        if key not in self.server.transfers:
            self.server.transfers[key] = {
                "id": f"tr_{len(self.server.transfers) + 1:04d}", "object": "transfer", "amount": int(form["amount"]), "currency": form["currency"],
                "destination": form["destination"], "transfer_group": form.get("transfer_group"), "livemode": False, "reversed": False,
                "metadata": {k[9:-1]: v for k, v in form.items() if k.startswith("metadata[")},
            }
        self._answer(200, self.server.transfers[key])


@pytest.fixture
def fake_stripe():
    server = FakeStripe()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


async def test_stripe_connect_transfers_on_the_wire(zc_runtime, zc_settings, zc_make_user, zc_make_product, fake_stripe):
    from core.runtime import create_runtime

    runtime = create_runtime(make_test_settings(zc_settings.var_dir, zc_settings.database_url, stripe_secret_key="sk_test_payouts", stripe_api_base=fake_stripe.url))
    try:
        provider = payouts.payout_providers(runtime)["stripe"]
        assert isinstance(provider, StripePayoutProvider) and isinstance(provider, payouts.PayoutProvider)
        assert (provider.name, provider.label, provider.test_mode) == ("stripe", "Stripe Connect", True)
        world = await make_world(runtime, zc_make_user, zc_make_product)
        ivy = await make_creator(runtime, zc_make_user, "ivy.stripe", method="stripe", details={"stripe_account": "acct_1IvyConnected"})
        await earn(runtime, world, ivy.id, 54_321)
        result = await run_payouts(runtime, currency="CNY", key="stripe-1", now=NOW)
        [p] = result.payouts
        assert (p.status, p.provider, p.provider_ref, p.gross_minor, p.fee_minor, p.net_minor) == ("paid", "stripe", "tr_0001", 54_321, 5_432, 48_889)

        lookup, create = fake_stripe.requests
        assert (lookup["method"], lookup["path"], lookup["query"]) == ("GET", "/v1/transfers", {"transfer_group": p.idempotency_key, "limit": "1"})
        assert (create["method"], create["path"]) == ("POST", "/v1/transfers")
        assert create["headers"]["idempotency-key"] == p.idempotency_key
        assert create["headers"]["authorization"] == "Bearer sk_test_payouts"
        form = create["form"]
        assert (form["amount"], form["currency"], form["destination"], form["transfer_group"]) == ("48889", "cny", "acct_1IvyConnected", p.idempotency_key)
        assert (form["metadata[payout_id]"], form["metadata[creator_user_id]"]) == (str(p.id), str(ivy.id))

        # asked again for the same payout (a crash before recording): found by its group, not sent twice
        again = await provider.transfer(amount_minor=48_889, currency="CNY", destination={"stripe_account": "acct_1IvyConnected"}, idempotency_key=p.idempotency_key, metadata={})
        assert again == "tr_0001" and [r["method"] for r in fake_stripe.requests] == ["GET", "POST", "GET"]
        assert len(fake_stripe.transfers) == 1
        await ledger_clean(runtime)
    finally:
        await runtime.dispose_loop_databases()


async def test_stripe_errors_are_refusals_or_ambiguous(fake_stripe):
    provider = StripePayoutProvider(Settings(stripe_secret_key="sk_test_x", stripe_api_base=fake_stripe.url), max_network_retries=0)
    kw = {"amount_minor": 1000, "currency": "CNY", "idempotency_key": "zc-payout-1-1", "metadata": {}}
    with pytest.raises(PayoutError) as refused:
        await provider.transfer(destination={}, **kw)
    assert not refused.value.retryable and not fake_stripe.requests  # no account: nothing sent

    fake_stripe.fail_with = (400, {"error": {"type": "invalid_request_error", "code": "resource_missing", "message": "No such destination: 'acct_gone1'"}})
    with pytest.raises(PayoutError) as missing:
        await provider.transfer(destination={"stripe_account": "acct_gone1"}, **kw)
    assert not missing.value.retryable and missing.value.code == "resource_missing" and "No such destination" in str(missing.value)

    fake_stripe.fail_with = (500, {"error": {"type": "api_error", "message": "Something went wrong"}})
    with pytest.raises(PayoutError) as outage:
        await provider.transfer(destination={"stripe_account": "acct_flaky1"}, **kw)
    assert outage.value.retryable  # Stripe may or may not have made it: ask again with the same key

    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{sock.getsockname()[1]}"
    offline = StripePayoutProvider(Settings(stripe_secret_key="sk_test_x", stripe_api_base=nowhere), max_network_retries=0)
    with pytest.raises(PayoutError) as unreachable:
        await offline.transfer(destination={"stripe_account": "acct_flaky1"}, **kw)
    assert unreachable.value.retryable


def test_providers_follow_the_protocol():
    for provider in (payouts.SandboxPayoutProvider(), payouts.BankPayoutProvider()):
        assert isinstance(provider, payouts.PayoutProvider) and provider.offline
    assert payouts.SandboxPayoutProvider.test_mode and payouts.BankPayoutProvider.manual
    with pytest.raises(ValueError):
        StripePayoutProvider(Settings(stripe_secret_key=None))


async def test_the_sandbox_answers_a_repeated_key_with_the_same_transfer():
    box = payouts.SandboxPayoutProvider()
    kw = {"currency": "CNY", "destination": {}, "metadata": {}}
    first = await box.transfer(amount_minor=500, idempotency_key="k1", **kw)
    assert await box.transfer(amount_minor=500, idempotency_key="k1", **kw) == first
    assert box.ledger() == {"CNY": 500}
    with pytest.raises(PayoutError) as mismatch:
        await box.transfer(amount_minor=501, idempotency_key="k1", **kw)
    assert mismatch.value.retryable
    with pytest.raises(PayoutError):
        await box.transfer(amount_minor=0, idempotency_key="k2", **kw)


# ---------------------------------------------------------------- demo


async def test_the_demo_approves_and_pays_mia_once_inside_the_seed_transaction(zc_runtime, zc_make_user, zc_make_product):
    from core.defaults.demo import DEMO_PAYOUT_RUN, seed_payouts_demo

    async with zc_runtime.db.session() as s:  # nothing earned yet: nothing happens
        await seed_payouts_demo(s, zc_runtime)
        await s.commit()
    world = await make_world(zc_runtime, zc_make_user, zc_make_product, brand="camellia-skin")
    mia = await make_creator(zc_runtime, zc_make_user, "mia.skin")
    pending = await earn(zc_runtime, world, mia.id, 16_800, status="pending")
    async with zc_runtime.db.session() as s:
        await seed_payouts_demo(s, zc_runtime)  # not yet in its holding period (no approve_after): nothing to pay
        await s.commit()
        assert (await s.execute(select(func.count()).select_from(PayoutRun))).scalar_one() == 0
        (await s.get(Commission, pending)).approve_after = datetime(2099, 1, 1, tzinfo=UTC)
        await s.commit()
    for _ in range(2):
        async with zc_runtime.db.session() as s:  # one transaction, like `zhongcao demo`
            await seed_payouts_demo(s, zc_runtime)
            await s.commit()
    async with zc_runtime.db.read_session() as s:
        [run] = (await s.execute(select(PayoutRun))).scalars()
        [payout] = (await s.execute(select(Payout))).scalars()
        c = await s.get(Commission, pending)
    assert run.key == DEMO_PAYOUT_RUN and run.status == "done" and run.minimum_minor == 0
    assert (payout.creator_user_id, payout.status, payout.gross_minor, payout.fee_minor, payout.net_minor) == (mia.id, "paid", 16_800, 1_680, 15_120)
    assert (c.status, c.payout_id) == ("paid", payout.id)
    assert sandbox(zc_runtime).ledger() == {"CNY": 15_120}
    await ledger_clean(zc_runtime)

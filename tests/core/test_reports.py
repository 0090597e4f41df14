"""Reports: a campaign's performance for its brand, a creator's earnings for them; exact
figures, CSV exports and who may see what."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta

import pytest

from core.campaigns.models import Click, Commission, TrackedLink
from core.campaigns.payouts import run_payouts
from core.campaigns.reports import div_round, major, ratio_ppm
from core.ledger import service as ledger
from core.ledger.models import AccountKind as K
from core.ledger.service import Posting, Txn
from core.testing import api_token
from tests.core.test_api_conventions import assert_problem
from tests.core.test_payouts import (
    NOW,
    World,
    collaboration,
    earn,
    fixed_fee,
    ledger_clean,
    make_creator,
    make_world,
)
from tests.fixture_plugins import everything


@pytest.fixture
def zc_extra_plugins() -> list[tuple[str, object]]:
    return [("everything", everything)]  # its resolve_content reports engagement of test notes


def test_integer_arithmetic():
    assert [div_round(n, 2) for n in (1, 3, -1, -3, 4)] == [1, 2, -1, -2, 2]
    assert div_round(125, 2) == 63 and div_round(-125, 2) == -63 and div_round(124, 3) == 41
    assert ratio_ppm(505_000, 75_000) == 6_733_333 and ratio_ppm(1, 0) is None and ratio_ppm(-1, 3) == -333_333
    assert (major(12_345, "CNY"), major(-5, "CNY"), major(500, "JPY"), major(1_234, "KWD"), major(0, "USD")) == ("123.45", "-0.05", "500", "1.234", "0.00")


async def reverse_before_approval(runtime, commission_id: int) -> None:
    async with runtime.db.session() as s:
        c = await s.get(Commission, commission_id)
        c.status, c.reversed_minor = "reversed", c.amount_minor
        await ledger.post(s, Txn(key=f"commission.reversed:{c.id}", kind="commission.reversed", currency=c.currency,
                                 postings=[Posting(K.CREATOR_PENDING, c.creator_user_id, c.amount_minor), Posting(K.BRAND_PAYABLE, c.brand_id, -c.amount_minor)]))
        await s.commit()


async def clicks(runtime, collab_id: int, n: int) -> None:
    async with runtime.db.session() as s:
        link = TrackedLink(code=uuid.uuid4().hex[:12], collaboration_id=collab_id, target_kind="campaign")
        s.add(link)
        await s.flush()
        s.add_all([Click(link_id=link.id, visitor_id=str(uuid.uuid4())) for _ in range(n)])
        await s.commit()


@pytest.fixture
async def scenario(zc_runtime, zc_make_user, zc_make_product):
    """Camellia's campaign: mia published a note (1,200 engagement) and sold twice; leo got
    his sample but has not posted; jun posted a link, one sale refunded before approval and
    one paid out."""
    from core.campaigns.collaborations import ContentInfo

    world = await make_world(zc_runtime, zc_make_user, zc_make_product, title="山茶花修护霜 种草计划")
    mia = await make_creator(zc_runtime, zc_make_user, "mia.report")
    leo = await make_creator(zc_runtime, zc_make_user, "leo.report")
    jun = await make_creator(zc_runtime, zc_make_user, "jun.report")
    shipped, published = NOW - timedelta(days=20), NOW - timedelta(days=10)
    mia_collab = await collaboration(zc_runtime, world, mia.id, status="published", shipped_at=shipped, published_at=published, content_kind="note", content_ref="n-mia")
    leo_collab = await collaboration(zc_runtime, world, leo.id, status="sample_delivered", shipped_at=shipped)
    await collaboration(zc_runtime, world, jun.id, status="published", shipped_at=shipped, published_at=published, content_kind="url", content_ref="https://example.com/jun")
    everything.NOTES["n-mia"] = ContentInfo(url="https://example.com/n-mia", author_user_id=mia.id, published=True, engagement=1_200, sponsored_label=True)

    # jun first: one commission reversed before approval, one approved and paid out
    refunded = await earn(zc_runtime, world, jun.id, 3_000, status="pending", line_total=30_000, attributed=True)
    await reverse_before_approval(zc_runtime, refunded)
    await earn(zc_runtime, world, jun.id, 40_000, line_total=400_000, attributed=True)
    [jun_payout] = (await run_payouts(zc_runtime, currency="CNY", key="report-1", now=NOW)).payouts
    # mia: an approved and a pending commission, a fixed fee, clicks
    await earn(zc_runtime, world, mia.id, 10_000, line_total=100_000, attributed=True)
    await earn(zc_runtime, world, mia.id, 5_000, status="pending", line_total=50_000, attributed=True)
    await fixed_fee(zc_runtime, world, mia.id, 20_000)
    await clicks(zc_runtime, mia_collab, 3)
    await clicks(zc_runtime, leo_collab, 1)
    # what must not count: a self-referral, an order in another currency, another brand's campaign
    await earn(zc_runtime, world, mia.id, 0, line_total=999_999, attributed=True, blocked="self_referral:user", commission=False)
    usd = await make_world(zc_runtime, zc_make_user, zc_make_product, currency="USD")
    usd.campaign_id = world.campaign_id  # an order in USD attributed to this CNY campaign
    await earn(zc_runtime, usd, mia.id, 0, line_total=5_000, attributed=True, commission=False)
    other = await make_world(zc_runtime, zc_make_user, zc_make_product, title="Other brand")
    await earn(zc_runtime, other, mia.id, 7_000, line_total=70_000, attributed=True)
    yield world, other, mia, leo, jun, jun_payout
    everything.NOTES.pop("n-mia", None)


async def test_campaign_report_figures(zc_client, zc_runtime, scenario):
    world, _other, mia, *_ = scenario
    auth = await api_token(zc_client, world.owner_email)
    r = await zc_client.get(f"/api/v1/reports/campaigns/{world.campaign_id}", headers=auth)
    assert r.status_code == 200, r.text
    body = r.json()
    lines = {x["creator_handle"]: x for x in body.pop("creators")}
    assert body == {
        "campaign_id": world.campaign_id, "title": "山茶花修护霜 种草计划", "currency": "CNY",
        "samples_sent": 3, "notes_published": 2, "engagement": 1_200, "clicks": 4, "attributed_orders": 4, "gmv_minor": 580_000,
        "commissions": {
            "pending": {"count": 1, "amount_minor": 5_000, "reversed_minor": 0},
            "approved": {"count": 1, "amount_minor": 10_000, "reversed_minor": 0},
            "paid": {"count": 1, "amount_minor": 40_000, "reversed_minor": 0},
            "reversed": {"count": 1, "amount_minor": 0, "reversed_minor": 3_000},
        },
        "fixed_fees_minor": 20_000, "cost_minor": 75_000,
        "cost_per_engagement_minor": 63,  # 75,000 / 1,200 = 62.5, half up
        "roi_ppm": 6_733_333,  # (580,000 - 75,000) / 75,000
    }
    assert lines["mia.report"] == {
        "collaboration_id": lines["mia.report"]["collaboration_id"], "creator_user_id": mia.id, "creator_handle": "mia.report", "status": "published",
        "sample_shipped": True, "published": True, "engagement": 1_200, "clicks": 3, "attributed_orders": 2, "gmv_minor": 150_000,
        "commissions": {
            "pending": {"count": 1, "amount_minor": 5_000, "reversed_minor": 0}, "approved": {"count": 1, "amount_minor": 10_000, "reversed_minor": 0},
            "paid": {"count": 0, "amount_minor": 0, "reversed_minor": 0}, "reversed": {"count": 0, "amount_minor": 0, "reversed_minor": 0},
        },
        "fixed_fees_minor": 20_000, "cost_minor": 35_000,
    }
    assert (lines["leo.report"]["sample_shipped"], lines["leo.report"]["published"], lines["leo.report"]["clicks"], lines["leo.report"]["cost_minor"]) == (True, False, 1, 0)
    assert (lines["jun.report"]["engagement"], lines["jun.report"]["attributed_orders"], lines["jun.report"]["gmv_minor"], lines["jun.report"]["cost_minor"]) == (0, 2, 430_000, 40_000)

    export = await zc_client.get(f"/api/v1/reports/campaigns/{world.campaign_id}/report.csv", headers=auth)
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["creator", "collaboration_id", "status", "sample_shipped", "published", "engagement", "clicks", "attributed_orders", "gmv",
                       "commission_pending", "commission_approved", "commission_paid", "commission_reversed", "fixed_fees", "cost", "currency"]
    assert rows[1] == ["mia.report", str(lines["mia.report"]["collaboration_id"]), "published", "1", "1", "1200", "3", "2", "1500.00",
                       "50.00", "100.00", "0.00", "0.00", "200.00", "350.00", "CNY"]
    assert rows[-1] == ["TOTAL", "", "", "3", "2", "1200", "4", "4", "5800.00", "50.00", "100.00", "400.00", "30.00", "200.00", "750.00", "CNY"]
    assert len(rows) == 5


async def test_campaign_report_is_for_the_campaigns_brand_only(zc_client, zc_runtime, zc_make_user, scenario):
    world, other, mia, *_ = scenario
    staff = await zc_make_user(staff=True)
    for email in (other.owner_email, mia.email, staff.email):
        auth = await api_token(zc_client, email)
        assert_problem(await zc_client.get(f"/api/v1/reports/campaigns/{world.campaign_id}", headers=auth), 404)
        assert_problem(await zc_client.get(f"/api/v1/reports/campaigns/{world.campaign_id}/report.csv", headers=auth), 404)
    assert_problem(await zc_client.get(f"/api/v1/reports/campaigns/{world.campaign_id}"), 401)
    mine = await api_token(zc_client, world.owner_email)
    assert_problem(await zc_client.get("/api/v1/reports/campaigns/999999", headers=mine), 404)
    assert_problem(await zc_client.get(f"/api/v1/reports/campaigns/{other.campaign_id}", headers=mine), 404)


async def test_creator_earnings_are_their_own(zc_client, zc_runtime, zc_make_user, scenario):
    world, other, mia, _leo, jun, jun_payout = scenario
    zero = {"count": 0, "amount_minor": 0, "reversed_minor": 0}
    no_payout = {"count": 0, "gross_minor": 0, "fee_minor": 0, "net_minor": 0}

    jun_view = (await zc_client.get("/api/v1/reports/earnings", headers=await api_token(zc_client, jun.email))).json()
    assert jun_view == {
        "currencies": [{
            "currency": "CNY",
            "commissions": {"pending": zero, "approved": zero, "paid": {"count": 1, "amount_minor": 40_000, "reversed_minor": 0}, "reversed": {"count": 1, "amount_minor": 0, "reversed_minor": 3_000}},
            "fixed_fees_minor": 0,
            "payouts": {"pending": no_payout, "awaiting": no_payout, "paid": {"count": 1, "gross_minor": 40_000, "fee_minor": 4_000, "net_minor": 36_000}, "failed": no_payout},
            "pending_balance_minor": 0, "available_balance_minor": 0,
        }],
        "campaigns": [{"campaign_id": world.campaign_id, "title": "山茶花修护霜 种草计划", "currency": "CNY",
                       "commissions": {"pending": zero, "approved": zero, "paid": {"count": 1, "amount_minor": 40_000, "reversed_minor": 0}, "reversed": {"count": 1, "amount_minor": 0, "reversed_minor": 3_000}},
                       "fixed_fees_minor": 0}],
    }
    assert jun_payout.net_minor == 36_000

    mia_auth = await api_token(zc_client, mia.email)
    mia_view = (await zc_client.get("/api/v1/reports/earnings", headers=mia_auth)).json()
    [cny] = mia_view["currencies"]
    assert cny["commissions"]["approved"] == {"count": 2, "amount_minor": 17_000, "reversed_minor": 0}  # both brands
    assert cny["commissions"]["pending"] == {"count": 1, "amount_minor": 5_000, "reversed_minor": 0}
    assert (cny["fixed_fees_minor"], cny["pending_balance_minor"], cny["available_balance_minor"]) == (20_000, 5_000, 37_000)
    assert [c["campaign_id"] for c in mia_view["campaigns"]] == [world.campaign_id, other.campaign_id]

    export = await zc_client.get("/api/v1/reports/earnings.csv", headers=mia_auth)
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows == [
        ["campaign_id", "campaign", "currency", "commission_pending", "commission_approved", "commission_paid", "commission_reversed", "fixed_fees", "earned"],
        [str(world.campaign_id), "山茶花修护霜 种草计划", "CNY", "50.00", "100.00", "0.00", "0.00", "200.00", "350.00"],
        [str(other.campaign_id), "Other brand", "CNY", "0.00", "70.00", "0.00", "0.00", "0.00", "70.00"],
    ]

    # someone with nothing sees nothing, and nobody sees another's
    nobody = await zc_make_user()
    assert (await zc_client.get("/api/v1/reports/earnings", headers=await api_token(zc_client, nobody.email))).json() == {"currencies": [], "campaigns": []}
    assert_problem(await zc_client.get("/api/v1/reports/earnings"), 401)
    await ledger_clean(zc_runtime)


async def test_a_campaign_with_nothing_yet_reports_zeros(zc_client, zc_runtime, zc_make_user, zc_make_product):
    world: World = await make_world(zc_runtime, zc_make_user, zc_make_product)
    body = (await zc_client.get(f"/api/v1/reports/campaigns/{world.campaign_id}", headers=await api_token(zc_client, world.owner_email))).json()
    assert (body["samples_sent"], body["gmv_minor"], body["cost_minor"], body["cost_per_engagement_minor"], body["roi_ppm"], body["creators"]) == (0, 0, 0, None, None, [])

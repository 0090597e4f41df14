"""Issue 4's "done when", on the real demo (`zhongcao demo` seeds the same way), read back
through the JSON API as the brand and the creator would."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.campaigns import budget
from core.campaigns.models import Attribution
from core.ledger import service as ledger
from core.testing import api_token
from tests.core.test_campaigns import API


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_the_demo_runs_a_campaign_from_application_to_payout_with_a_clawback(zc_client, zc_runtime):
    from core.cli import seed
    from core.defaults.demo import DEMO_CAMPAIGN_TITLE, DEMO_CODE, DEMO_PAYOUT_RUN

    await seed(zc_runtime)
    await seed(zc_runtime)  # every start seeds again: nothing twice
    brand = await api_token(zc_client, "brand@demo.zhongcao.dev", "zhongcao-demo")
    mia = await api_token(zc_client, "creator@demo.zhongcao.dev", "zhongcao-demo")

    # a brand with an open campaign, within its budget
    [campaign] = [c for c in (await zc_client.get(f"{API}/campaigns", headers=brand)).json() if c["title"] == DEMO_CAMPAIGN_TITLE]
    assert campaign["status"] == "open" and campaign["budget_minor"] > campaign["spent_minor"] > 0

    # a creator who applied, received a sample, published and was approved
    [collab] = [c for c in (await zc_client.get(f"{API}/collaborations", headers=mia)).json() if c["campaign"]["id"] == campaign["id"]]
    detail = (await zc_client.get(f"{API}/collaborations/{collab['id']}", headers=mia)).json()
    assert [t["to_status"] for t in detail["transitions"]] == ["applied", "accepted", "sample_shipped", "sample_delivered", "content_submitted", "approved", "published"]

    # purchases through her link and her code made commissions...
    commissions = (await zc_client.get(f"{API}/commissions?limit=100", headers=mia)).json()["items"]
    async with zc_runtime.db.read_session() as s:
        sources = set(
            (await s.execute(select(Attribution.source).where(Attribution.order_line_id.in_([c["order_line_id"] for c in commissions])))).scalars()
        )
    assert {"link", "code"} <= sources
    codes = (await zc_client.get(f"{API}/codes", headers=mia)).json()
    assert DEMO_CODE in {c["code"] for c in (codes["items"] if isinstance(codes, dict) else codes)}
    # ...that were approved and paid out in a payout run, once
    paid = [c for c in commissions if c["status"] == "paid"]
    assert paid and all(c["approved_at"] and c["payout_id"] for c in paid)
    payouts = (await zc_client.get(f"{API}/me/payouts", headers=mia)).json()
    items = payouts["items"] if isinstance(payouts, dict) else payouts
    assert [p["status"] for p in items] == ["paid"]
    assert items[0]["gross_minor"] == sum(c["net_minor"] for c in paid) + campaign["fixed_fee_minor"]  # commissions + the fee for her note
    # and a refund clawed one back
    assert any(c["reversed_minor"] > 0 for c in commissions)

    # the books: every balance is the sum of its entries, every campaign's spend its own
    async with zc_runtime.db.read_session() as s:
        assert await ledger.check(s) == []
        assert await budget.check(s) == []
    runs = (await zc_client.get(f"{API}/payout-runs", headers=await api_token(zc_client, "staff@demo.zhongcao.dev", "zhongcao-demo"))).json()
    assert DEMO_PAYOUT_RUN in {r["key"] for r in (runs["items"] if isinstance(runs, dict) else runs)}


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_the_demo_brand_has_a_second_campaign_with_work_on_its_board(zc_client, zc_runtime):
    from core.cli import seed
    from core.defaults.demo import DEMO_SECOND_CAMPAIGN_TITLE

    await seed(zc_runtime)
    await seed(zc_runtime)
    brand = await api_token(zc_client, "brand@demo.zhongcao.dev", "zhongcao-demo")
    [campaign] = [c for c in (await zc_client.get(f"{API}/campaigns", headers=brand)).json() if c["title"] == DEMO_SECOND_CAMPAIGN_TITLE]
    assert campaign["status"] == "open"
    board = (await zc_client.get(f"{API}/campaigns/{campaign['id']}/collaborations", headers=brand)).json()
    board = board["items"] if isinstance(board, dict) else board
    assert sorted(c["status"] for c in board) == ["applied", "invited", "sample_shipped"]
    mia = await api_token(zc_client, "creator@demo.zhongcao.dev", "zhongcao-demo")
    mine = [c for c in (await zc_client.get(f"{API}/collaborations", headers=mia)).json() if c["campaign"]["id"] == campaign["id"]]
    assert [c["status"] for c in mine] == ["invited"]  # her portal shows the invitation


@pytest.mark.zc_demo  # starts on the seeded demo; its own seed then finds everything there
async def test_the_demo_brand_has_a_campaign_in_content_review(zc_client, zc_runtime):
    """The third demo campaign shows the review states on the board: a note waiting for
    review (its label checked by machine), a draft sent back with a comment, and a sample
    delivered whose posting deadline is days away (Mia's dashboard shows it)."""
    from datetime import datetime, timedelta

    from core.cli import seed
    from core.db import utcnow
    from core.defaults.demo import DEMO_REVIEW_CAMPAIGN_TITLE, DEMO_REVIEW_POSTING_DAYS

    await seed(zc_runtime)
    await seed(zc_runtime)
    brand = await api_token(zc_client, "brand@demo.zhongcao.dev", "zhongcao-demo")
    [campaign] = [c for c in (await zc_client.get(f"{API}/campaigns", headers=brand)).json() if c["title"] == DEMO_REVIEW_CAMPAIGN_TITLE]
    board = (await zc_client.get(f"{API}/campaigns/{campaign['id']}/collaborations", headers=brand)).json()
    board = {c["creator"]["handle"]: c for c in (board["items"] if isinstance(board, dict) else board)}
    assert {h: c["status"] for h, c in board.items()} == {"mia.skin": "sample_delivered", "leo.trails": "changes_requested", "jun.tea": "content_submitted"}
    assert board["jun.tea"]["content_kind"] == "note" and board["jun.tea"]["disclosure_ok"] is True
    assert "广告" in board["leo.trails"]["review_comment"]
    deadline = board["mia.skin"]["deadline_at"]
    assert deadline is not None
    left = datetime.fromisoformat(deadline.replace("Z", "+00:00")).replace(tzinfo=None) - utcnow().replace(tzinfo=None)
    assert timedelta(days=DEMO_REVIEW_POSTING_DAYS - 1) < left <= timedelta(days=DEMO_REVIEW_POSTING_DAYS)

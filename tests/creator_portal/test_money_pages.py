"""Money pages over HTTP: a brand's commissions by state, fixed fees, platform fee and
ledger statement with CSV exports (/creator/brands/{slug}/money), and a creator's
earnings, payouts and statement (/creator/me/earnings). Figures are checked against the
commission and ledger rows the test writes; another brand's staff get 404, a creator
sees only their own, and the buyer never shows."""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import pytest
from sqlalchemy import update

from core.campaigns.models import Commission
from core.campaigns.payouts import run_payouts
from core.orders.models import Order
from core.testing import QueryCounter, html_login, settle
from tests.core.test_payouts import (
    NOW,
    collaboration,
    earn,
    fixed_fee,
    ledger_clean,
    make_creator,
    make_world,
)
from tests.core.test_reports import reverse_before_approval

BUYER = {"name": "Wang Hidden-Buyer", "phone": "13800009999", "line1": "88 Secret Garden Road", "city": "Hangzhou", "country": "CN"}
BUYER_EMAIL = "hidden.buyer@example.com"
XSS = '<script>alert("money")</script>'


async def portal_login(client: Any, email: str) -> None:
    client.cookies.clear()
    client.cookies.set("zc_lang", "en")
    await html_login(client, email, path="/creator/login")


def cell(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}"[^>]*>(.*?)</td>', html, re.DOTALL)
    assert found, f"no {testid} cell"
    return re.sub(r"<[^>]+>", " ", found.group(1))


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def with_buyer(runtime: Any, commission_id: int) -> None:
    """Give the order behind a commission a real buyer, who must never be shown."""
    async with runtime.db.session() as s:
        order_id = (await s.get(Commission, commission_id)).order_id
        await s.execute(update(Order).where(Order.id == order_id).values(email=BUYER_EMAIL, address=BUYER, paid_at=NOW))
        await s.commit()


@pytest.fixture
async def money_world(zc_runtime, zc_make_user, zc_make_product):
    """Camellia's campaign: mia has an approved and a pending commission and a fixed fee;
    jun had one commission paid out and one reversed before approval. Another brand's
    campaign pays mia too."""
    world = await make_world(zc_runtime, zc_make_user, zc_make_product, title=f"Camellia {XSS}")
    mia = await make_creator(zc_runtime, zc_make_user, "mia.money")
    jun = await make_creator(zc_runtime, zc_make_user, "jun.money")
    jun_paid = await earn(zc_runtime, world, jun.id, 40_000, line_total=400_000, attributed=True)
    [payout] = (await run_payouts(zc_runtime, currency="CNY", key="money-1", now=NOW)).payouts
    refunded = await earn(zc_runtime, world, jun.id, 3_000, status="pending", line_total=30_000, attributed=True)
    await reverse_before_approval(zc_runtime, refunded)
    mia_approved = await earn(zc_runtime, world, mia.id, 10_000, line_total=100_000, attributed=True)
    await earn(zc_runtime, world, mia.id, 5_000, status="pending", line_total=50_000, attributed=True)
    await fixed_fee(zc_runtime, world, mia.id, 20_000)
    await with_buyer(zc_runtime, mia_approved)
    await with_buyer(zc_runtime, jun_paid)
    other = await make_world(zc_runtime, zc_make_user, zc_make_product, title="Other brand campaign")
    await earn(zc_runtime, other, mia.id, 7_000, line_total=70_000, attributed=True)
    return world, other, mia, jun, payout


async def test_brand_money_figures_match_the_ledger(zc_client, zc_runtime, money_world):
    world, _other, _mia, _jun, _payout = money_world
    await portal_login(zc_client, world.owner_email)
    page = await zc_client.get(f"/creator/brands/{world.brand_slug}/money")
    assert page.status_code == 200, page.text
    html = page.text
    assert re.search(r'href="/creator/brands/[^"]+/money" aria-current="page"', html)

    # by state: net of refunds, with counts
    assert "¥50.00" in cell(html, "total-CNY-pending") and "1 commission" in cell(html, "total-CNY-pending")
    assert "¥100.00" in cell(html, "total-CNY-approved")
    assert "¥400.00" in cell(html, "total-CNY-paid")
    assert "¥0.00" in cell(html, "total-CNY-reversed") and "1 commission" in cell(html, "total-CNY-reversed")
    assert "¥200.00" in cell(html, "fees-CNY") and "1 note" in cell(html, "fees-CNY")
    # owed = every commission accrued + the fee - the reversal: 400 + 30 - 30 + 100 + 50 + 200
    assert "¥750.00" in cell(html, "owed-CNY")
    assert "10%" in re.search(r'data-testid="platform-fee">(.*?)</p>', html, re.DOTALL).group(1)

    # the commissions, the statement (one brand_payable entry per accrual, fee and reversal)
    assert html.count('data-testid="commission-row"') == 4
    assert html.count('data-testid="statement-row"') == 6
    assert "Other brand campaign" not in html and "¥70.00" not in html
    # a chart of the months, with its figures as a table
    assert re.search(r'data-testid="money-chart".*?<svg', html, re.DOTALL)
    table = re.search(r'data-testid="money-chart-table">(.*?)</table>', html, re.DOTALL).group(1)
    assert re.search(r"<th scope=\"row\">\d{4}-\d{2}</th><td class=\"num\">¥50.00</td><td class=\"num\">¥100.00</td><td class=\"num\">¥400.00</td>", table), table
    # the buyer never shows; a campaign title is text
    for secret in (BUYER_EMAIL, "Hidden-Buyer", "Secret Garden"):
        assert secret not in html
    assert XSS not in html and "&lt;script&gt;alert(&#34;money&#34;)&lt;/script&gt;" in html

    # filtered by state, paged
    pending = await zc_client.get(f"/creator/brands/{world.brand_slug}/money", params={"status": "pending"})
    assert pending.text.count('data-testid="commission-row"') == 1
    bogus = await zc_client.get(f"/creator/brands/{world.brand_slug}/money", params={"status": "nonsense", "currency": "XXX"})
    assert bogus.status_code == 200 and bogus.text.count('data-testid="commission-row"') == 4
    await ledger_clean(zc_runtime)


async def test_brand_money_csv_exports(zc_client, zc_runtime, money_world):
    world, *_ = money_world
    await portal_login(zc_client, world.owner_email)
    export = await zc_client.get(f"/creator/brands/{world.brand_slug}/money/commissions.csv")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"] == f'attachment; filename="{world.brand_slug}-commissions.csv"'
    rows = rows_of(export.text)
    assert rows[0] == ["commission_id", "created_at", "campaign", "creator", "order", "product", "quantity", "line_paid", "rate", "status", "amount",
                       "reversed", "net", "currency", "approved_at", "paid_at", "payout_id"]
    assert len(rows) == 5
    by_status = {r[9]: r for r in rows[1:]}
    assert by_status["paid"][3] == "jun.money" and by_status["paid"][7:9] == ["4000.00", "10%"] and by_status["paid"][10:14] == ["400.00", "0.00", "400.00", "CNY"]
    assert by_status["reversed"][10:13] == ["30.00", "30.00", "0.00"]
    assert by_status["paid"][2] == f"Camellia {XSS}" and by_status["paid"][4].startswith("T")  # the brand sees its order number
    assert BUYER_EMAIL not in export.text and "Hidden-Buyer" not in export.text

    statement = await zc_client.get(f"/creator/brands/{world.brand_slug}/money/statement.csv", params={"currency": "CNY"})
    assert statement.status_code == 200 and statement.headers["content-type"].startswith("text/csv")
    assert statement.headers["content-disposition"] == f'attachment; filename="{world.brand_slug}-statement-CNY.csv"'
    lines = rows_of(statement.text)
    assert lines[0] == ["at", "kind", "memo", "amount", "balance", "currency", "reference"]
    assert len(lines) == 7 and lines[1][4] == "750.00"  # newest first, the balance after it
    assert sorted(r[3] for r in lines[1:]) == sorted(["400.00", "30.00", "-30.00", "100.00", "50.00", "200.00"])
    assert (await zc_client.get(f"/creator/brands/{world.brand_slug}/money/statement.csv", params={"currency": "usd"})).text.count("\r\n") == 1
    assert (await zc_client.get(f"/creator/brands/{world.brand_slug}/money/statement.csv", params={"currency": "1$"})).status_code == 422


async def test_another_brand_and_creators_get_404(zc_client, zc_runtime, zc_make_user, money_world):
    world, other, mia, _jun, _payout = money_world
    paths = [f"/creator/brands/{world.brand_slug}/money", f"/creator/brands/{world.brand_slug}/money/commissions.csv",
             f"/creator/brands/{world.brand_slug}/money/statement.csv?currency=CNY"]
    for email in (other.owner_email, mia.email):
        await portal_login(zc_client, email)
        for path in paths:
            response = await zc_client.get(path)
            assert response.status_code == 404, (email, path)
            assert "Camellia" not in response.text and "750.00" not in response.text
    await portal_login(zc_client, other.owner_email)
    mine = await zc_client.get(f"/creator/brands/{other.brand_slug}/money")
    assert mine.status_code == 200 and "¥70.00" in cell(mine.text, "total-CNY-approved") and "Camellia" not in mine.text
    assert (await zc_client.get("/creator/brands/no-such-brand/money")).status_code == 404
    zc_client.cookies.clear()
    anonymous = await zc_client.get(f"/creator/brands/{world.brand_slug}/money", follow_redirects=False)
    assert anonymous.status_code in (302, 303) and "/creator/login" in anonymous.headers["location"]


async def test_creator_sees_their_own_earnings(zc_client, zc_runtime, money_world):
    world, other, mia, jun, _payout = money_world
    await portal_login(zc_client, mia.email)
    page = await zc_client.get("/creator/me/earnings")
    assert page.status_code == 200, page.text
    html = page.text
    assert re.search(r'href="/creator/me/earnings" aria-current="page"', html)
    assert "¥170.00" in cell(html, "earned-CNY-approved") and "2 commissions" in cell(html, "earned-CNY-approved")  # both brands
    assert "¥50.00" in cell(html, "earned-CNY-pending")
    assert "¥200.00" in cell(html, "fixed-CNY")
    assert "¥370.00" in cell(html, "available-CNY")  # 100 + 70 + 200 fee
    assert html.count('data-testid="commission-row"') == 3
    assert "Other brand campaign" in html and "jun.money" not in html and "¥400.00" not in html
    assert "Became payable" in html and "Payable from" not in html  # no delivery yet: no date to show
    assert re.search(r'data-testid="earnings-chart".*?<svg', html, re.DOTALL) and 'data-testid="earnings-chart-table"' in html
    assert 'data-testid="payout-row"' not in html and "No payouts yet." in html
    # what was bought, never who bought it, nor the order number
    assert "Cream × 1" in html
    for secret in (BUYER_EMAIL, "Hidden-Buyer", "Secret Garden", "13800009999"):
        assert secret not in html
    assert XSS not in html and "&lt;script&gt;" in html

    export = await zc_client.get("/creator/me/earnings/earnings.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.headers["content-disposition"] == 'attachment; filename="earnings.csv"'
    assert rows_of(export.text) == [
        ["campaign_id", "campaign", "currency", "commission_pending", "commission_approved", "commission_paid", "commission_reversed", "fixed_fees", "earned"],
        [str(world.campaign_id), f"Camellia {XSS}", "CNY", "50.00", "100.00", "0.00", "0.00", "200.00", "350.00"],
        [str(other.campaign_id), "Other brand campaign", "CNY", "0.00", "70.00", "0.00", "0.00", "0.00", "70.00"],
    ]
    commissions_csv = await zc_client.get("/creator/me/earnings/commissions.csv")
    assert commissions_csv.headers["content-disposition"] == 'attachment; filename="commissions.csv"'
    rows = rows_of(commissions_csv.text)
    assert len(rows) == 4 and {r[3] for r in rows[1:]} == {"mia.money"} and {r[4] for r in rows[1:]} == {""}  # no order numbers
    assert BUYER_EMAIL not in commissions_csv.text and "Hidden-Buyer" not in commissions_csv.text

    # jun: the payout, its commissions and the statement
    await portal_login(zc_client, jun.email)
    html = (await zc_client.get("/creator/me/earnings")).text
    assert html.count('data-testid="payout-row"') == 1
    payout_html = re.search(r'data-testid="payout-row">(.*?)</li>', html, re.DOTALL).group(1)
    assert "¥360.00" in payout_html and "¥400.00" in payout_html and "−¥40.00" in payout_html and "Paid out" in payout_html
    assert "Commissions in this payout" in payout_html and "Cream × 1" in payout_html
    assert "¥400.00" in cell(html, "earned-CNY-paid") and "¥0.00" in cell(html, "available-CNY")
    assert html.count('data-testid="statement-row"') == 2  # approved +400, payout -400
    histories = re.findall(r'<details class="history">(.*?)</details>', html, re.DOTALL)
    assert any("Became payable" in h and "Paid out" in h for h in histories)
    assert any("Reversed" in h and "-¥30.00" in h for h in histories)
    assert "mia.money" not in html and "Other brand campaign" not in html


async def test_buyer_address_is_not_loaded_for_creators(zc_client, zc_runtime, money_world):
    """The earnings page reads order lines, never the order's address or email."""
    _world, _other, mia, *_ = money_world
    await portal_login(zc_client, mia.email)
    await settle(zc_runtime)
    with QueryCounter() as q:
        assert (await zc_client.get("/creator/me/earnings")).status_code == 200
    loaded = " ".join(q.statements).lower()
    assert "sales_order.address" not in loaded and "sales_order.email" not in loaded


async def test_nobody_sees_an_empty_page_fine(zc_client, zc_make_user):
    nobody = await zc_make_user(roles=("creator",))
    await portal_login(zc_client, nobody.email)
    page = await zc_client.get("/creator/me/earnings")
    assert page.status_code == 200 and "No earnings yet." in page.text and "No commissions yet." in page.text and "<svg" not in page.text
    assert rows_of((await zc_client.get("/creator/me/earnings/earnings.csv")).text) == [
        ["campaign_id", "campaign", "currency", "commission_pending", "commission_approved", "commission_paid", "commission_reversed", "fixed_fees", "earned"]
    ]


async def statements_for(client: Any, runtime: Any, path: str) -> int:
    await settle(runtime)
    with QueryCounter() as q:
        response = await client.get(path)
    assert response.status_code == 200, response.text
    return q.count


async def test_money_pages_query_count_does_not_grow(zc_client, zc_runtime, zc_make_user, zc_make_product):
    """The same statements for one commission as for many (brand page and creator page)."""
    counts = {}
    for n in (1, 6):
        world = await make_world(zc_runtime, zc_make_user, zc_make_product, title=f"Seeding {n}")
        creator = await make_creator(zc_runtime, zc_make_user, f"kol.{n}")
        await collaboration(zc_runtime, world, creator.id)
        for _ in range(n):
            await earn(zc_runtime, world, creator.id, 20_000, attributed=True)
        await run_payouts(zc_runtime, currency="CNY", key=f"count-{n}", now=NOW)
        await earn(zc_runtime, world, creator.id, 1_000, status="pending", attributed=True)
        await fixed_fee(zc_runtime, world, creator.id, 5_000)
        await portal_login(zc_client, world.owner_email)
        brand = await statements_for(zc_client, zc_runtime, f"/creator/brands/{world.brand_slug}/money")
        await portal_login(zc_client, creator.email)
        mine = await statements_for(zc_client, zc_runtime, "/creator/me/earnings")
        counts[n] = (brand, mine)
    assert counts[1] == counts[6], counts


async def test_lists_are_paged_and_keep_the_other_choices(zc_client, monkeypatch, money_world):
    from creator_portal import money

    monkeypatch.setattr(money, "PAGE_SIZE", 2)
    world, *_ = money_world
    await portal_login(zc_client, world.owner_email)
    base = f"/creator/brands/{world.brand_slug}/money"
    first = (await zc_client.get(base)).text
    assert first.count('data-testid="commission-row"') == 2 and first.count('data-testid="statement-row"') == 2
    assert 'href="?status=&amp;currency=CNY&amp;page=2&amp;spage=1#commissions"' in first
    assert 'href="?status=&amp;currency=CNY&amp;page=1&amp;spage=2#statement"' in first
    last = (await zc_client.get(base, params={"page": 2, "spage": 3})).text
    assert last.count('data-testid="commission-row"') == 2 and last.count('data-testid="statement-row"') == 2
    assert 'data-testid="commissions-next"' not in last and 'data-testid="statement-next"' not in last
    assert 'href="?status=&amp;currency=CNY&amp;page=1&amp;spage=3#commissions"' in last  # back, keeping the statement page
    assert (await zc_client.get(base, params={"page": 0})).status_code == 400


def test_rates_are_written_by_the_core_rule():
    """The portal's "12.5%" is the core's `ppm_to_percent` with the sign (it had its own
    copy once, which wrote -2.5% as "-3.5%"): one rule for the API and every page."""
    from core.catalog.service import ppm_to_percent
    from creator_portal.money import percent_text

    for ppm in (0, 1, 120_000, 125_000, 1_000_000, 123_456, -25_000):
        assert percent_text(ppm) == f"{ppm_to_percent(ppm)}%"
    assert (percent_text(125_000), percent_text(-25_000), percent_text(1)) == ("12.5%", "-2.5%", "0.0001%")

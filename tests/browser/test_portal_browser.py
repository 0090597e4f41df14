"""The creator portal's journeys (issue 8) in a real browser, on the demo:

1. the brand (brand@demo, Camellia Skin) creates a campaign in the wizard with samples of
   a lip balm, publishes it (the samples go into a stock pool, shown on the Stock page), finds Mia through the
   discovery filters and invites her from her page; Mia (creator@demo, a second browser)
   accepts with her address; the brand ships the sample; Mia says it arrived and submits
   one of her notes; the brand approves it (the sponsored label checked), which publishes
   it as the note is live already. The card moves through the board's columns;
2. Mia makes a tracked link; a shopper (a third browser) follows it and buys; the brand
   ships the order; after the holding period the commission is payable on Mia's earnings
   page; platform staff (staff@demo, a fourth browser) run payouts on their page, which
   pays it; the shopper asks for a refund, the brand approves it, and the earnings page
   shows the clawback.

The demo runs with the commission holding period overridden to 0 days
(ZHONGCAO_COMMISSION_HOLD_DAYS, the project's time-travel setting) and a 1 s tick, so the
periodic approval job makes a shipped order's commission payable at once instead of 30
days later, and with no payout minimum (ZHONGCAO_PAYOUT_MINIMUM_MAJOR=0), so one sale is
paid. Each step's screenshot goes to the `shot` fixture's folder (conftest.ARTIFACTS).
"""

from __future__ import annotations

import contextlib
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import running_demo
from tests.browser.test_journeys_browser import sign_up
from tests.browser.test_purchase_browser import BRAND_OWNER, expect, login

pytestmark = pytest.mark.browser

DESKTOP = {"viewport": {"width": 1280, "height": 800}, "locale": "en-US"}
BRAND = "camellia-skin"
MIA = "creator@demo.zhongcao.dev"
STAFF = "staff@demo.zhongcao.dev"
MIA_HANDLE = "mia.skin"
MIA_NOTE = "山茶花修护霜两周记录"  # one of Mia's published notes, labelled sponsored (plugins/notes/demo.py)
DEMO_CAMPAIGN = "山茶花修护霜 种草计划"  # the demo's open campaign Mia is in (published): her links live there
SAMPLE_PRODUCT = "camellia-lip-balm"
SAMPLE_SKU = "CS-LIP-ROSE"
SAMPLES = 3
ADDRESS = {"name": "Mia 林", "phone": "+86 139 0000 0000", "line1": "徐汇区衡山路 8 号", "city": "上海", "region": "SH", "postal_code": "200031", "country": "CN"}
TIMEOUT = 20.0  # for what the demo's in-process worker does after a request (events, the 1 s tick)


# ---------------------------------------------------------------- the demo, with the holding period overridden


@pytest.fixture(scope="module")
def demo_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-portal-var")


@pytest.fixture(scope="module")
def demo_url(demo_var: Path) -> Iterator[str]:
    """The demo, its commissions payable as soon as the order ships (overrides conftest's)."""
    settings = {"ZHONGCAO_COMMISSION_HOLD_DAYS": "0", "ZHONGCAO_TICK_SECONDS": "1", "ZHONGCAO_PAYOUT_MINIMUM_MAJOR": "0"}
    with running_demo(demo_var, settings) as base:
        yield base


def one(demo_var: Path, sql: str, *params: Any) -> Any:
    """One value from the demo's database (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{demo_var / 'zhongcao.db'}?mode=ro", uri=True, timeout=10)) as db:
        row = db.execute(sql, params).fetchone()
    return row[0] if row else None


def eventually(read, what: str, timeout: float = TIMEOUT):
    deadline = time.monotonic() + timeout
    while not (found := read()):
        assert time.monotonic() < deadline, f"still no {what} after {timeout:.0f} s"
        time.sleep(0.1)
    return found


def reload_until(page, locator, text: str | re.Pattern[str], timeout: float = TIMEOUT) -> None:
    """Reload until `locator` shows `text`: the page shows what a background job did."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(AssertionError):
            expect()(locator).to_contain_text(text, timeout=500)
            return
        assert time.monotonic() < deadline, f"{page.url}: still not {text!r} after {timeout:.0f} s"
        page.reload()


# ---------------------------------------------------------------- steps


def fitting(shot):
    """`shot`, after checking the page does not scroll sideways at the desktop width."""

    def take(page, step: str, **options: Any) -> Path:
        width = DESKTOP["viewport"]["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= width, f"{step}: {page.url} scrolls sideways"
        return shot(page, step, **options)

    return take


def portal_login(page, email: str) -> None:
    page.goto("/creator/lang/en?next=/creator/login")
    login(page, email)
    expect()(page).to_have_url(re.compile(r"/creator$"))


def notice(page) -> Any:
    return page.locator("main .notice")


def card_in(page, column: str, collab_id: int) -> Any:
    """The collaboration's card, asserted to sit in `column` of the board."""
    card = page.get_by_test_id(f"column-{column}").get_by_test_id(f"collab-{collab_id}")
    expect()(card).to_have_count(1)
    return card


def sample_available(page) -> int:
    """The lip balm's sample variant: stock available for sale, from the product page."""
    page.goto(f"/creator/brands/{BRAND}/products")
    page.get_by_test_id("product-rows").get_by_role("link", name=re.compile("Lip Balm")).first.click()
    return int(page.get_by_test_id(f"variant-{SAMPLE_SKU}").get_by_test_id("available").inner_text())


# ---------------------------------------------------------------- 1. campaign, discovery, invitation, the board


def test_brand_seeds_a_campaign_and_the_creator_delivers(new_page, shot) -> None:
    shot = fitting(shot)
    brand = new_page(**DESKTOP)
    portal_login(brand, BRAND_OWNER)
    stock_before = sample_available(brand)

    # the wizard: brief, a product with samples and a commission, invitation only
    title = f"唇膏礼盒种草 Lip balm seeding {uuid.uuid4().hex[:6]}"
    brand.get_by_test_id("brand-campaigns-tab").click()
    brand.get_by_test_id("new-campaign").click()
    form = brand.get_by_test_id("campaign-form")
    form.get_by_test_id("title").fill(title)
    form.get_by_test_id("brief").fill("Three shades, one honest note: show the colour on your lips in daylight. #山茶花唇膏")
    row = form.get_by_test_id(f"seed-{SAMPLE_PRODUCT}")
    pick = row.locator('input[type="checkbox"]')
    pid = pick.get_attribute("name")  # p<product id>
    pick.check()
    variant = row.locator("option", has_text=SAMPLE_SKU).get_attribute("value")
    row.locator(f'select[name="{pid}_variant"]').select_option(variant)
    row.locator(f'input[name="{pid}_samples"]').fill(str(SAMPLES))
    row.locator(f'input[name="{pid}_rate"]').fill("15")
    form.get_by_test_id("budget").fill("5000")
    form.locator('input[name="recruitment"][value="invite"]').check()
    form.locator('input[name="categories"]').fill("beauty")
    shot(brand, "wizard", full_page=True)
    form.get_by_test_id("save-campaign").click()

    # the preview, then publish: the samples are set aside
    expect()(brand).to_have_url(re.compile(rf"/creator/brands/{BRAND}/campaigns/\d+\?notice="))
    campaign_id = int(re.search(r"/campaigns/(\d+)", brand.url).group(1))
    expect()(brand.get_by_test_id("campaign-status")).to_have_text("Draft")
    preview = brand.get_by_test_id("campaign-preview")
    expect()(preview).to_contain_text(title)
    expect()(preview).to_contain_text("15% of each sale")
    expect()(preview).to_contain_text("By invitation only")
    products = brand.get_by_test_id("campaign-products").locator("tbody tr")
    expect()(products).to_have_count(1)
    expect()(products.first).to_contain_text(SAMPLE_SKU)
    shot(brand, "preview", full_page=True)
    brand.get_by_test_id("publish").click()
    expect()(notice(brand)).to_contain_text("Published")
    expect()(brand.get_by_test_id("campaign-status")).to_have_text("Open")
    cells = products.first.locator("td")
    expect()(cells.nth(2)).to_have_text(str(SAMPLES))  # samples
    expect()(cells.nth(3)).to_have_text(str(SAMPLES))  # left in the campaign's pool
    shot(brand, "published")
    assert sample_available(brand) == stock_before - SAMPLES, "publishing moves the samples out of stock for sale"
    shot(brand, "product-stock")
    # the stock page: the samples sit in the campaign's own pool, which only completing the campaign releases
    brand.get_by_test_id("brand-stock-tab").click()
    pool = brand.get_by_test_id("pool-table").locator("tbody tr", has=brand.get_by_test_id("pool-campaign").filter(has_text=title))
    expect()(pool).to_have_count(1)
    expect()(pool).to_contain_text(SAMPLE_SKU)
    expect()(pool.locator("td.num").first).to_have_text(str(SAMPLES))
    expect()(pool).to_contain_text("Released when the campaign completes")
    shot(brand, "stock-pool", full_page=True)

    # discovery: beauty creators with 10k to 100k followers
    brand.get_by_test_id("brand-creators-tab").click()
    filters = brand.get_by_test_id("creator-filters")
    filters.get_by_test_id("filter-category").fill("beauty")
    filters.locator('input[name="followers_min"]').fill("10000")
    filters.locator('input[name="followers_max"]').fill("100000")
    filters.get_by_test_id("apply-filters").click()
    expect()(brand).to_have_url(re.compile(r"category=beauty.*followers_min=10000.*followers_max=100000"))
    cards = brand.get_by_test_id("creator-card")
    expect()(cards).to_have_count(1)
    expect()(cards.first).to_have_attribute("data-handle", MIA_HANDLE)
    expect()(brand.get_by_test_id("creator-total")).to_have_text("1 creator")
    shot(brand, "discovery")

    # Mia's page: stats, and the invitation
    cards.first.get_by_test_id("creator-link").click()
    expect()(brand).to_have_url(re.compile(rf"/creators/{re.escape(MIA_HANDLE)}$"))
    expect()(brand.get_by_test_id("stat-followers")).to_have_text("48,001")  # her audience from elsewhere, and Lin's follow
    invite = brand.get_by_test_id("creator-invite").get_by_test_id("invite-form")
    invite.get_by_test_id("invite-campaign").select_option(str(campaign_id))
    invite.get_by_test_id("invite-message").fill("We'd love your take on the Rose shade!")
    shot(brand, "creator-page", full_page=True)
    invite.get_by_test_id("invite-submit").click()
    expect()(notice(brand)).to_have_text("Invitation sent.")
    expect()(brand.get_by_test_id("creator-history")).to_contain_text(title)

    # the board: Mia among the invited
    brand.goto(f"/creator/brands/{BRAND}/campaigns/{campaign_id}/board")
    invited = brand.get_by_test_id("column-applicants").locator("article", has_text=f"@{MIA_HANDLE}")
    expect()(invited).to_have_attribute("data-status", "invited")
    collab_id = int(invited.get_attribute("data-testid").removeprefix("collab-"))
    board, mine = brand.url, f"/creator/me/collaborations/{collab_id}"
    shot(brand, "board-invited")

    # Mia accepts, with her shipping address
    mia = new_page(**DESKTOP)
    portal_login(mia, MIA)
    expect()(mia.get_by_test_id("creator-invitations")).to_contain_text(title)  # her dashboard
    shot(mia, "dashboard")
    mia.get_by_test_id("find-campaigns-link").click()
    invitation = mia.get_by_test_id(f"invitation-{collab_id}")
    expect()(invitation).to_contain_text(title)
    expect()(invitation).to_contain_text("We'd love your take on the Rose shade!")
    accept = invitation.get_by_test_id("accept-form")
    for name, value in ADDRESS.items():
        accept.locator(f'input[name="{name}"]').fill(value)
    shot(mia, "invitation", full_page=True)
    accept.get_by_test_id("accept").click()
    expect()(mia).to_have_url(re.compile(rf"/creator/me/collaborations/{collab_id}\?notice="))
    expect()(mia.get_by_test_id("collab-status")).to_have_text("Accepted")
    shot(mia, "accepted")

    # the brand ships the sample from the card
    brand.goto(board)
    card = card_in(brand, "accepted", collab_id)
    ship = card.get_by_test_id("ship-form")
    ship.locator('input[name="carrier"]').fill("顺丰 SF Express")
    ship.locator('input[name="tracking_number"]').fill("SF2026112600088")
    shot(brand, "board-accepted")
    ship.get_by_test_id("ship").click()
    expect()(notice(brand)).to_have_text("Sample shipped.")
    expect()(card_in(brand, "shipped", collab_id).get_by_test_id("tracking")).to_contain_text("SF2026112600088")
    shot(brand, "board-shipped")

    # Mia: the sample arrived; she submits her note through the notes plugin's picker
    mia.goto(mine)
    expect()(mia.get_by_test_id("tracking")).to_contain_text("SF2026112600088")
    mia.get_by_test_id("delivered").click()
    expect()(mia.get_by_test_id("collab-status")).to_have_text("Sample delivered")
    picker = mia.get_by_test_id("note-picker")
    picker.locator("label", has_text=MIA_NOTE).locator('input[type="radio"]').check()
    shot(mia, "pick-note", full_page=True)
    mia.get_by_test_id("submit-note").click()
    expect()(notice(mia)).to_contain_text("Content submitted")
    expect()(mia.get_by_test_id("collab-status")).to_have_text("Content submitted")
    expect()(mia.get_by_test_id("next-step")).to_have_text("The brand is reviewing your content.")

    # the brand sees the note with its sponsored label, and approves it
    brand.goto(board)
    card = card_in(brand, "content", collab_id)
    expect()(card.get_by_test_id("content")).to_contain_text(MIA_NOTE)
    expect()(card.get_by_test_id("disclosure-ok")).to_be_visible()
    card.scroll_into_view_if_needed()  # the board scrolls sideways within itself
    shot(brand, "board-content")
    card.get_by_test_id("approve-form").locator('input[name="comment"]').fill("Lovely daylight shots, thank you!")
    card.get_by_test_id("approve").click()
    expect()(notice(brand)).to_have_text("Content approved.")

    # the note is live already: approving it publishes the collaboration (the last column)
    card_in(brand, "published", collab_id).scroll_into_view_if_needed()
    for column in ("applicants", "accepted", "shipped", "content", "approved"):
        expect()(brand.get_by_test_id(f"column-{column}").get_by_test_id(f"collab-{collab_id}")).to_have_count(0)
    shot(brand, "board-published", full_page=True)
    mia.goto(mine)
    expect()(mia.get_by_test_id("collab-status")).to_have_text("Published")
    expect()(mia.get_by_test_id("review-comment")).to_have_text("Lovely daylight shots, thank you!")
    steps = mia.get_by_test_id("timeline").locator("li > strong")
    expect()(steps).to_have_text(["Invited", "Accepted", "Sample shipped", "Sample delivered", "Content submitted", "Approved", "Published"])
    shot(mia, "published", full_page=True)


# ---------------------------------------------------------------- 2. a sale through a link, approval, payout, refund


def commission_row(page, commission_id: int) -> Any:
    return page.get_by_test_id("commission-row").filter(has_text=re.compile(rf"History of commission {commission_id}(?!\d)"))


def net_of(row) -> Any:
    """A commission row's net amount (what it is worth after refunds)."""
    return row.locator("td.num strong")


def test_sale_through_a_link_is_approved_paid_and_clawed_back(new_page, shot, demo_var) -> None:
    shot = fitting(shot)
    # Mia makes a tracked link to her demo campaign (it leads to its first product)
    mia = new_page(**DESKTOP)
    portal_login(mia, MIA)
    mia.goto("/creator/me/links")
    group = mia.locator('[data-testid^="link-group-"]', has_text=DEMO_CAMPAIGN)
    expect()(group).to_have_count(1)
    rows = group.get_by_test_id("links").locator("tbody tr")
    before = set(rows.evaluate_all("rows => rows.map(r => r.dataset.testid)"))  # the demo's own links
    group.get_by_test_id("link-target").select_option("campaign")
    group.get_by_test_id("create-link").click()
    expect()(notice(mia)).to_contain_text("Link created")
    expect()(rows).to_have_count(len(before) + 1)
    (created,) = set(rows.evaluate_all("rows => rows.map(r => r.dataset.testid)")) - before
    new_row = group.get_by_test_id(created)
    url = new_row.locator("input.c-url").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/r/\w+", url), url
    expect()(new_row).to_contain_text("the campaign")
    expect()(new_row.get_by_test_id("clicks")).to_have_text("0")
    shot(mia, "link")

    # a new shopper follows it and buys with the sandbox card (the demo shopper has read
    # Mia's note before: a note outranks a link, and the sale would be the note's)
    shop = new_page(**DESKTOP)
    sign_up(shop, f"link-shopper-{uuid.uuid4().hex[:10]}@example.com", "链接买家 Link shopper")
    shop.goto(url)
    expect()(shop).to_have_url(re.compile(r"/products/camellia-repair-cream$"))
    shop.get_by_test_id("product-page").locator("label.variant", has_text="50ml").click()
    shop.get_by_test_id("add-to-cart").click()
    expect()(shop).to_have_url(re.compile(r"/cart$"))
    shop.get_by_test_id("checkout-link").click()
    form = shop.get_by_test_id("address-form")
    for name in ("name", "phone", "line1", "city", "region", "postal_code"):
        form.locator(f'input[name="{name}"]').fill(ADDRESS[name])
    shop.get_by_test_id("to-payment").click()
    expect()(shop).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}$"))
    shop.get_by_test_id("pay-form").locator('input[name="card"]').fill("4242 4242 4242 4242")
    shot(shop, "payment")
    shop.get_by_test_id("pay-button").click()
    expect()(shop).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}/done$"))
    ours = shop.get_by_test_id("done-order").filter(has_text="Camellia")
    expect()(ours).to_have_count(1)
    number = ours.locator("strong").first.inner_text()
    shot(shop, "done")

    # the sale is Mia's through the link: a commission in its holding period
    commission_id = eventually(
        lambda: one(demo_var, "SELECT c.id FROM commission c JOIN sales_order o ON o.id = c.order_id WHERE o.number = ?", number), "commission",
    )
    assert one(demo_var, "SELECT a.source FROM campaign_attribution a JOIN sales_order o ON o.id = a.order_id WHERE o.number = ?", number) == "link"
    mia.goto("/creator/me/links")
    expect()(new_row.get_by_test_id("clicks")).to_have_text("1")
    expect()(new_row.get_by_test_id("orders")).to_have_text("1")
    mia.get_by_test_id("creator-earnings-tab").click()
    row = commission_row(mia, commission_id)
    expect()(row).to_contain_text("In holding period")
    expect()(row).to_contain_text(DEMO_CAMPAIGN)
    net = net_of(row).inner_text()
    assert re.fullmatch(r"¥[\d,]+\.\d\d", net) and net != "¥0.00", net
    shot(mia, "earnings-pending", full_page=True)

    # the brand ships the order: the holding period (0 days here) starts at delivery
    brand = new_page(**DESKTOP)
    portal_login(brand, BRAND_OWNER)
    brand.goto(f"/creator/brands/{BRAND}/orders")
    brand.get_by_test_id("order-row").filter(has_text=number).get_by_role("link").first.click()
    order_url = brand.url
    fulfil = brand.get_by_test_id("fulfil-form")
    fulfil.locator('input[name="carrier"]').fill("顺丰 SF Express")
    fulfil.locator('input[name="tracking_number"]').fill("SF2026112600099")
    fulfil.locator('button[type="submit"]').click()
    expect()(brand.get_by_test_id("order-status")).to_have_text("Shipped")
    shot(brand, "order-shipped")

    # after the holding period the periodic job makes it payable
    reload_until(mia, commission_row(mia, commission_id), "Payable")
    expect()(net_of(commission_row(mia, commission_id))).to_have_text(net)
    shot(mia, "earnings-approved", full_page=True)

    # platform staff run the CNY payouts on their page, which pays it
    staff = new_page(**DESKTOP)
    portal_login(staff, STAFF)
    staff.goto("/creator/staff/payouts")
    run = staff.get_by_test_id("run-form")
    run.get_by_test_id("run-currency").select_option("CNY")
    run.get_by_test_id("run-key").fill(f"browser-{uuid.uuid4().hex[:8]}")
    shot(staff, "staff-run-payouts")
    run.get_by_test_id("run-submit").click()
    expect()(staff.get_by_test_id("run-notice")).to_contain_text("Paid")
    paid = staff.get_by_test_id("payout-row").filter(has_text=f"@{MIA_HANDLE}")
    expect()(paid.get_by_test_id("payout-status")).to_have_text("Paid out")
    shot(staff, "staff-payout-run", full_page=True)
    mia.reload()
    row = commission_row(mia, commission_id)
    expect()(row).to_contain_text("Paid out")
    payout = mia.get_by_test_id("payout-row").first
    expect()(payout).to_contain_text("Paid out")
    payout.locator("summary").click()
    expect()(payout.locator("details table")).to_contain_text(net)
    shot(mia, "earnings-paid", full_page=True)

    # the shopper asks for a refund; the brand approves it
    shop.goto("/account/orders")
    shop.get_by_test_id("order-list").locator("li", has_text=number).get_by_role("link").first.click()
    shop.get_by_text("Request a refund").click()
    request = shop.get_by_test_id("refund-request-form")
    request.locator('textarea[name="reason"]').fill("The cream was too rich for my skin.")
    request.locator('button[type="submit"]').click()
    expect()(shop.locator("main .notice")).to_contain_text("Refund requested")
    shot(shop, "refund-requested")
    brand.goto(order_url)
    refunds = brand.get_by_test_id("refund-requests")
    expect()(refunds).to_contain_text("The cream was too rich for my skin.")
    shot(brand, "refund-request", full_page=True)
    refunds.get_by_test_id("approve-form").locator('button[type="submit"]').click()
    expect()(notice(brand)).to_have_text("Refund approved.")
    expect()(brand.get_by_test_id("order-status")).to_have_text("Refunded")
    expect()(brand.get_by_test_id("refund-requests").get_by_test_id("approve-form")).to_have_count(0)
    shot(brand, "refund-approved", full_page=True)

    # the clawback: the paid commission is taken back; the statement shows it, to net off next time
    reload_until(mia, net_of(commission_row(mia, commission_id)), "¥0.00")
    row = commission_row(mia, commission_id)
    row.locator("summary").click()
    expect()(row.locator(".history")).to_contain_text("Taken back by refunds")
    expect()(row.locator(".history")).to_contain_text(f"-{net}")
    clawback = mia.get_by_test_id("statement-row").filter(has_text="Taken back by a refund")
    expect()(clawback).to_have_count(1)
    expect()(clawback).to_contain_text(f"-{net}")
    expect()(mia.get_by_test_id("available-CNY")).to_have_text(f"-{net}")  # owed back: netted against the next payout
    shot(mia, "earnings-clawback", full_page=True)

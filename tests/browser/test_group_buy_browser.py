"""A team purchase (拼团) in a real browser, in the demo: the brand owner creates a team
offer in the portal; shopper A (a new account) opens a team from the product page and
authorizes the sandbox test card; shopper B (another new account) opens the share link,
joins and pays; the team succeeds and both see their orders paid.

It makes what it needs itself (accounts, the offer on a variant the group_buy demo data
leaves alone), so it does not depend on that data. Screenshots through `shot`.
"""

from __future__ import annotations

import re
import uuid

import pytest

from tests.browser.conftest import DEMO_PASSWORD, MOBILE

pytestmark = pytest.mark.browser

BRAND_OWNER = "brand@demo.zhongcao.dev"
PRODUCT = "/products/camellia-lip-balm"
SKU = "CS-LIP-NAT"  # ¥39.00 solo; the offer: ¥29.00 in a team of two
CARD = "4242 4242 4242 4242"


def expect():  # noqa: ANN201 - imported lazily so a missing playwright skips in the fixture
    from playwright.sync_api import expect as _expect

    return _expect


def sign_up(page, name: str) -> None:  # noqa: ANN001
    page.goto("/lang/en?next=/signup")
    form = page.get_by_test_id("signup-form")
    form.locator('input[name="email"]').fill(f"{name.lower()}-{uuid.uuid4().hex[:8]}@example.com")
    form.locator('input[name="display_name"]').fill(name)
    form.locator('input[name="password"]').fill("team-up-2026")
    form.locator('select[name="locale"]').select_option("en")
    form.locator('button[type="submit"]').click()
    expect()(page).not_to_have_url(re.compile(r"/signup"))


def fill_address_and_pay(page, name: str, shot, step: str) -> str:  # noqa: ANN001
    """The team's address form, then the core's payment page: returns the total authorized."""
    form = page.get_by_test_id("group-buy-address-form")
    for field, value in {"name": name, "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海"}.items():
        form.locator(f'input[name="{field}"]').fill(value)
    expect()(form.locator('input[name="country"]')).to_have_value("CN")
    shot(page, f"{step}-address")
    page.get_by_test_id("group-buy-continue").click()
    expect()(page).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}$"))
    expect()(page.get_by_test_id("pay-order")).to_contain_text("¥29.00")  # the team price (plus the brand's shipping)
    total = page.get_by_test_id("pay-total").inner_text()
    page.get_by_test_id("pay-form").locator('input[name="card"]').fill(CARD)
    shot(page, f"{step}-pay")
    page.get_by_test_id("pay-button").click()
    return total


def test_two_shoppers_fill_a_team_from_the_share_link(new_page, shot) -> None:  # noqa: ANN001
    # the brand owner creates the offer in the portal
    portal = new_page(locale="en-US")
    portal.goto("/creator/lang/en?next=/creator/login")
    form = portal.get_by_test_id("login-form")
    form.locator('input[name="email"]').fill(BRAND_OWNER)
    form.locator('input[name="password"]').fill(DEMO_PASSWORD)
    form.locator('button[type="submit"]').click()
    expect()(portal).to_have_url(re.compile(r"/creator$"))
    portal.goto("/creator/brands/camellia-skin/stock")
    portal.get_by_test_id("brand-group-buy-tab").click()
    expect()(portal).to_have_url(re.compile(r"/creator/group-buy/brands/camellia-skin/offers$"))
    portal.get_by_test_id("new-group-offer").click()
    offer_form = portal.get_by_test_id("group-offer-form")
    variant = offer_form.locator("select[name=variant_id] option", has_text=SKU).get_attribute("value")
    offer_form.locator("select[name=variant_id]").select_option(variant)
    offer_form.locator('input[name="team_price"]').fill("29")
    offer_form.locator('input[name="team_size"]').fill("2")
    expect()(portal.get_by_test_id("group-offer-auto-complete").locator("input[type=checkbox]")).not_to_be_checked()
    shot(portal, "portal-offer-form", full_page=True)
    portal.get_by_test_id("group-offer-save").click()
    expect()(portal.locator(".notice")).to_contain_text("Offer created")
    portal.close()

    # shopper A opens a team from the product page and authorizes her card
    amy = new_page(**MOBILE, locale="en-US")
    sign_up(amy, "Amy")
    amy.goto(PRODUCT)
    card = amy.get_by_test_id("group-buy-card").filter(has_text="Natural")
    expect()(card).to_contain_text("Team price ¥29.00 · team of 2")
    shot(amy, "product-card", full_page=True)
    card.get_by_test_id("group-buy-open").click()
    totals = {"amy": fill_address_and_pay(amy, "Amy", shot, "leader")}
    expect()(amy).to_have_url(re.compile(r"/group-buy/teams/\d+$"))
    expect()(amy.get_by_test_id("group-buy-my-state")).to_contain_text("Your card is authorized")
    expect()(amy.get_by_test_id("group-buy-seats-left")).to_have_text("1 seat left")
    share = amy.get_by_test_id("group-buy-share-url").input_value()
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+/group-buy/teams/\d+", share), share
    amy.get_by_test_id("group-buy-copy").click()
    expect()(amy.get_by_test_id("group-buy-copy")).to_have_text("Copied")
    shot(amy, "leader-team", full_page=True)

    # shopper B opens the share link, joins and pays
    ben = new_page(**MOBILE, locale="en-US")
    sign_up(ben, "Ben")
    ben.goto(share)
    expect()(ben.get_by_test_id("gb-face")).to_have_count(1)  # Amy, the leader
    shot(ben, "share-link", full_page=True)
    ben.get_by_test_id("group-buy-join").click()
    expect()(ben).to_have_url(re.compile(r"/group-buy/teams/\d+/join$"))
    totals["ben"] = fill_address_and_pay(ben, "Ben", shot, "joiner")

    # the team succeeds (the capture runs on the worker) and both orders are paid
    for who, page in (("ben", ben), ("amy", amy)):
        page.goto(share)
        for _ in range(150):  # the capture waits for the events' worker: give a loaded machine time
            if page.get_by_test_id("group-buy-team-page").get_attribute("data-team-status") == "succeeded" and \
                    page.get_by_test_id("group-buy-my-state").get_attribute("data-member-status") == "paid":
                break
            page.wait_for_timeout(200)
            page.reload()
        expect()(page.get_by_test_id("group-buy-team-status")).to_have_text("Team succeeded")
        expect()(page.get_by_test_id("group-buy-my-state")).to_contain_text("Paid")
        shot(page, "team-succeeded", full_page=True)
        page.goto("/account/orders")
        orders = page.get_by_test_id("order-list").locator("li")
        expect()(orders).to_have_count(1)
        expect()(orders.first).to_contain_text("Paid")
        expect()(orders.first).to_contain_text(totals[who])
    shot(amy, "orders", full_page=True)

    # Amy is told: the top bar counts the news, "Notices" shows it, then it is seen
    amy.goto("/account")
    expect()(amy.get_by_test_id("notice-count")).to_have_text("1")
    amy.get_by_test_id("notices-link").click()
    expect()(amy.get_by_test_id("notice-list").locator("li")).to_have_count(1)
    expect()(amy.get_by_test_id("notice-list")).to_contain_text("filled: your order is paid.")
    shot(amy, "notice", full_page=True)
    amy.goto("/account")
    expect()(amy.get_by_test_id("notice-count")).to_have_count(0)

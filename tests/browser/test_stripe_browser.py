"""Paying with Stripe in a real browser: the demo in Stripe mode against localstripe.

`zhongcao demo` runs with a test secret key, localstripe as the API, a test publishable
key and localstripe's Stripe.js stand-in (`<localstripe>/js.stripe.com/v3/`), whose card
Element is five plain inputs and whose 3-D Secure is a modal with "Complete
authentication" / "Fail authentication". The shopper types the card into those inputs;
stripe-pay.js turns it into an id (createPaymentMethod, else createToken's card id), the
server confirms, and 3-D Secure runs in the page. Afterwards the PaymentIntent at
localstripe must be `succeeded` for the checkout's total.

Needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh); skips without it.
Screenshots (mobile, 390x844) go to /tmp/zc-stripe-*.png.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.browser.conftest import MOBILE, running_demo
from tests.browser.test_journeys_browser import (
    CREAM,
    SPONSORED_NOTE,
    assert_credited_to_the_author,
    buy_now,
    fits,
    note_id,
    sign_up,
)
from tests.browser.test_purchase_browser import SHOPPER, expect, fits_the_phone, login

API_BASE = os.environ.get("ZHONGCAO_TEST_STRIPE_API_BASE")
pytestmark = [pytest.mark.browser, pytest.mark.skipif(not API_BASE, reason="needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh)")]

SECRET_KEY = "sk_test_zhongcao_browser"
PUBLISHABLE_KEY = "pk_test_zhongcao_browser"
ADDRESS = {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "region": "SH", "postal_code": "200040"}


@pytest.fixture(scope="module")
def demo_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-stripe-var")


@pytest.fixture(scope="module")
def demo_url(demo_var: Path) -> Iterator[str]:
    """The demo in Stripe mode (overrides the sandbox demo of conftest for this module)."""
    env = {
        "ZHONGCAO_STRIPE_SECRET_KEY": SECRET_KEY,
        "ZHONGCAO_STRIPE_API_BASE": API_BASE or "",
        "ZHONGCAO_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "ZHONGCAO_STRIPE_JS_URL": f"{API_BASE}/js.stripe.com/v3/",
    }
    with running_demo(demo_var, env) as base:
        yield base


def add(page, slug: str, quantity: int = 1, option: str | None = None) -> None:  # noqa: ANN001
    page.goto(f"/products/{slug}")
    if option:
        page.get_by_test_id("product-page").locator("label.variant", has_text=option).click()
    page.get_by_test_id("add-to-cart-form").locator('input[name="quantity"]').fill(str(quantity))
    page.get_by_test_id("add-to-cart").click()
    expect()(page).to_have_url(re.compile(r"/cart$"))


def to_payment(page, email: str | None = None) -> str:  # noqa: ANN001
    """The address form, then the payment page; returns the checkout token."""
    page.get_by_test_id("checkout-link").click()
    form = page.get_by_test_id("address-form")
    if email:
        form.locator('input[name="email"]').fill(email)
    for name, value in ADDRESS.items():
        form.locator(f'input[name="{name}"]').fill(value)
    page.get_by_test_id("to-payment").click()
    expect()(page).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}$"))
    return page.url.rsplit("/", 1)[1]


def type_card(page, number: str) -> None:  # noqa: ANN001
    """Into the card Element: localstripe's inputs (placeholders number, exp_month, ...)."""
    element = page.get_by_test_id("card-element")
    for field, value in {"number": number, "exp_month": "12", "exp_year": "34", "cvc": "123", "postal_code": "12345"}.items():
        element.locator(f'input[placeholder="{field}"]').fill(value)


def recorded(demo_var: Path, token: str) -> dict[str, Any]:
    """What the demo's database says about the checkout (read-only)."""
    with contextlib.closing(sqlite3.connect(f"file:{demo_var / 'zhongcao.db'}?mode=ro", uri=True)) as db:
        total, status, checkout_id = db.execute("SELECT total_minor, status, id FROM checkout WHERE token = ?", (token,)).fetchone()
        payment = db.execute("SELECT provider, provider_ref, status, captured_minor FROM payment WHERE checkout_id = ? ORDER BY id DESC LIMIT 1", (checkout_id,)).fetchone()
        orders = [row[0] for row in db.execute('SELECT status FROM sales_order WHERE checkout_id = ?', (checkout_id,))]
    return {"total": total, "status": status, "payment": payment, "orders": orders}


def intent_at_stripe(ref: str) -> dict[str, Any]:
    r = httpx.get(f"{API_BASE}/v1/payment_intents/{ref}", headers={"Authorization": f"Bearer {SECRET_KEY}"})
    assert r.status_code == 200, r.text
    return r.json()


def assert_paid_at_stripe(demo_var: Path, token: str, orders: int) -> None:
    found = recorded(demo_var, token)
    provider, ref, status, captured = found["payment"]
    assert found["status"] == "paid" and found["orders"] == ["paid"] * orders
    assert provider == "stripe" and status == "succeeded" and captured == found["total"]
    pi = intent_at_stripe(ref)
    assert pi["status"] == "succeeded" and pi["amount"] == found["total"] and pi["currency"] == "cny"
    assert pi["metadata"]["checkout"] == token


def test_shopper_pays_two_brands_with_a_card(new_page, demo_var) -> None:  # noqa: ANN001
    shop = new_page(**MOBILE, locale="en-US")
    shop.goto("/lang/en?next=/login")
    login(shop, SHOPPER)
    add(shop, "camellia-repair-cream", option="50ml")
    add(shop, "tea-ritual-cold-brew-oolong", quantity=2)
    expect()(shop.get_by_test_id("cart-group")).to_have_count(2)
    token = to_payment(shop)

    pay_form = shop.get_by_test_id("pay-form")
    expect()(shop.get_by_test_id("stripe-test-mode")).to_contain_text("TEST MODE")
    expect()(shop.get_by_test_id("pay-order")).to_have_count(2)
    expect()(pay_form.get_by_test_id("card-element").locator('input[placeholder="number"]')).to_be_visible()  # localstripe's Element, mounted
    button = shop.get_by_test_id("pay-button")
    expect()(button).to_be_enabled()

    # nothing typed: Stripe.js cannot make a card of it; the message shows inline, the button comes back
    button.click()
    expect()(shop.get_by_test_id("card-error")).to_contain_text("The card details could not be read")
    expect()(button).to_be_enabled()
    assert shop.url.endswith(f"/checkout/{token}"), "nothing was submitted"

    type_card(shop, "4242424242424242")
    fits_the_phone(shop)
    shop.screenshot(path="/tmp/zc-stripe-payment.png", full_page=True)
    button.click()

    expect()(shop).to_have_url(re.compile(rf"/checkout/{token}/done$"))
    orders = shop.get_by_test_id("done-order")
    expect()(orders).to_have_count(2)
    for i in range(2):
        expect()(orders.nth(i)).to_contain_text("Paid")
    expect()(shop.locator("main")).to_contain_text("Camellia Skin")
    expect()(shop.locator("main")).to_contain_text("Tea Ritual")
    shop.screenshot(path="/tmp/zc-stripe-done.png", full_page=True)
    assert_paid_at_stripe(demo_var, token, orders=2)


def test_guest_pays_with_3d_secure(new_page, demo_var) -> None:  # noqa: ANN001
    shop = new_page(**MOBILE, locale="en-US")
    shop.goto("/lang/en?next=/products")
    add(shop, "north-trail-merino-socks")
    add(shop, "tea-ritual-cold-brew-oolong")
    token = to_payment(shop, email="guest-3ds@example.com")

    expect()(shop.get_by_test_id("pay-button")).to_be_enabled()
    type_card(shop, "4000002760003184")  # localstripe asks for 3-D Secure
    shop.get_by_test_id("pay-button").click()

    # the server confirmed; the bank wants the shopper: Stripe.js's modal opens by itself
    expect()(shop).to_have_url(re.compile(rf"/checkout/{token}/authenticate$"))
    expect()(shop.get_by_test_id("authenticate-form")).to_contain_text("Your bank asks you to confirm this payment.")
    expect()(shop.get_by_test_id("stripe-test-mode")).to_be_visible()
    complete = shop.get_by_role("button", name="Complete authentication")
    expect()(complete).to_be_visible()
    expect()(shop.get_by_test_id("authenticate-button")).to_be_disabled()  # while the bank is asked
    shop.screenshot(path="/tmp/zc-stripe-3ds.png", full_page=True)
    assert recorded(demo_var, token)["payment"][2] == "requires_action"
    complete.click()

    expect()(shop).to_have_url(re.compile(rf"/checkout/{token}/done$"))
    expect()(shop.get_by_test_id("done-order")).to_have_count(2)
    expect()(shop.get_by_test_id("checkout-done")).to_contain_text("guest-3ds@example.com")
    assert_paid_at_stripe(demo_var, token, orders=2)


def test_3d_secure_failed_then_the_card_form_again(new_page, demo_var) -> None:  # noqa: ANN001
    shop = new_page(**MOBILE, locale="en-US")
    shop.goto("/lang/en?next=/products")
    add(shop, "north-trail-merino-socks")
    token = to_payment(shop, email="guest-3ds-fail@example.com")
    expect()(shop.get_by_test_id("pay-button")).to_be_enabled()
    type_card(shop, "4000002500003155")
    shop.get_by_test_id("pay-button").click()
    shop.get_by_role("button", name="Fail authentication").click()

    expect()(shop.get_by_test_id("payment-error")).to_contain_text("could not be authenticated")
    expect()(shop).to_have_url(re.compile(rf"/checkout/{token}/confirm$"))
    expect()(shop.get_by_test_id("pay-button")).to_be_enabled()
    type_card(shop, "4242424242424242")
    shop.get_by_test_id("pay-button").click()
    expect()(shop).to_have_url(re.compile(rf"/checkout/{token}/done$"))
    assert_paid_at_stripe(demo_var, token, orders=1)


# ---------------------------------------------------------------- issue 7, journey 4


# Buying from a note with "Buy now", paid through Stripe.js's Element: the PaymentIntent
# succeeds for the checkout's total and the sale is the note author's.
def test_new_visitor_buys_from_a_note_with_stripe(new_page, shot, demo_var) -> None:  # noqa: ANN001
    page = new_page(**MOBILE, locale="en-US")
    email = f"visitor-{uuid.uuid4().hex[:10]}@example.com"
    sign_up(page, email)
    note = note_id(demo_var, SPONSORED_NOTE)
    page.goto(f"/notes/{note}")
    expect()(page.get_by_test_id("sponsored-label")).to_be_visible()
    shot(page, "note")

    token = buy_now(page, note, CREAM)
    expect()(page.get_by_test_id("stripe-test-mode")).to_contain_text("TEST MODE")
    expect()(page.get_by_test_id("card-element").locator('input[placeholder="number"]')).to_be_visible()  # Stripe.js's Element, mounted
    expect()(page.get_by_test_id("pay-button")).to_be_enabled()
    type_card(page, "4242424242424242")
    fits(page, 390)
    shot(page, "payment")
    page.get_by_test_id("pay-button").click()

    expect()(page).to_have_url(re.compile(rf"/checkout/{token}/done$"))
    done = page.get_by_test_id("done-order")
    expect()(done).to_have_count(1)
    expect()(done).to_contain_text("Paid")
    number = done.locator("strong").first.inner_text()
    shot(page, "done")
    page.goto("/account/orders")
    expect()(page.get_by_test_id("order-list").locator("li", has_text=number)).to_contain_text("Paid")
    shot(page, "orders")

    assert_paid_at_stripe(demo_var, token, orders=1)
    assert_credited_to_the_author(demo_var, token, email, note)

"""Journey 4 of issue 7: buying from a note with "Buy now", paid with Stripe (localstripe),
in a real browser. The demo runs in Stripe mode as in test_stripe_browser.py (its own
module-scoped demo); the card goes into Stripe.js's Element (localstripe's stand-in), the
PaymentIntent must be `succeeded` for the checkout's total, and the sale is the note
author's.

Needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh); skips without it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.conftest import MOBILE, running_demo
from tests.browser.test_journeys_browser import CREAM, SPONSORED_NOTE, assert_credited_to_the_author, buy_now, fits, note_id, sign_up
from tests.browser.test_purchase_browser import expect
from tests.browser.test_stripe_browser import API_BASE, PUBLISHABLE_KEY, SECRET_KEY, assert_paid_at_stripe, type_card

pytestmark = [pytest.mark.browser, pytest.mark.skipif(not API_BASE, reason="needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh)")]


@pytest.fixture(scope="module")
def demo_var(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("demo-journeys-stripe-var")


@pytest.fixture(scope="module")
def demo_url(demo_var: Path) -> Iterator[str]:
    """The demo in Stripe mode, against localstripe."""
    env = {
        "ZHONGCAO_STRIPE_SECRET_KEY": SECRET_KEY,
        "ZHONGCAO_STRIPE_API_BASE": API_BASE or "",
        "ZHONGCAO_STRIPE_PUBLISHABLE_KEY": PUBLISHABLE_KEY,
        "ZHONGCAO_STRIPE_JS_URL": f"{API_BASE}/js.stripe.com/v3/",
    }
    with running_demo(demo_var, env) as base:
        yield base


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

"""The storefront's payment step in Stripe mode, over HTTP as a browser does it.

The page mounts Stripe.js's card Element (stripe-pay.js); the browser turns the card into
an id and posts it to /checkout/{token}/pay, where the server confirms with Stripe. A card
that needs 3-D Secure goes to /checkout/{token}/authenticate (the intent's client secret,
for its owner only), Stripe.js authenticates, and /checkout/{token}/confirm records the
outcome. Here the test does what Stripe.js would, against localstripe: a card token from
`POST /v1/tokens` with the publishable key (what localstripe's Stripe.js does, since its
createPaymentMethod is a stub), and its `_authenticate` call for the 3-D Secure modal.
The real browser runs the same journeys in tests/browser/test_stripe_browser.py.

The page itself needs no Stripe server; the journeys need localstripe
(ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh) and skip without it.
"""

from __future__ import annotations

import os
import re
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from sqlalchemy import select

from core.orders.models import Checkout, CheckoutStatus, Order, OrderStatus
from core.payments.models import Payment, PaymentStatus
from core.testing import html_login, make_test_settings
from tests.storefront.test_commerce_pages import EN, add_to_cart, checkout, csrf, post_form

API_BASE = os.environ.get("ZHONGCAO_TEST_STRIPE_API_BASE")
needs_localstripe = pytest.mark.skipif(not API_BASE, reason="needs localstripe (ZHONGCAO_TEST_STRIPE_API_BASE, set by scripts/test.sh)")

SECRET_KEY = "sk_test_zhongcao_storefront"
PUBLISHABLE_KEY = "pk_test_zhongcao_storefront"
JS_URL = f"{API_BASE or 'http://stripe.invalid'}/js.stripe.com/v3/"
GOOD_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000341"  # localstripe declines it when charging (see tests/core/test_stripe.py)
THREE_D_SECURE_CARD = "4000002760003184"


@pytest.fixture
def zc_settings(zc_var_dir, zc_database_url):
    # without localstripe the pages still render (they call no Stripe server); nothing listens there
    return make_test_settings(
        zc_var_dir, zc_database_url, stripe_secret_key=SECRET_KEY, stripe_api_base=API_BASE or "http://127.0.0.1:9", stripe_publishable_key=PUBLISHABLE_KEY, stripe_js_url=JS_URL,
    )


# ---------------------------------------------------------------- helpers


async def card_id(number: str) -> str:
    """What localstripe's Stripe.js does in the browser: a card token, made with the publishable key."""
    async with httpx.AsyncClient(base_url=API_BASE) as http:
        r = await http.post("/v1/tokens", data={"card[number]": number, "card[exp_month]": "12", "card[exp_year]": "2034", "card[cvc]": "123", "key": PUBLISHABLE_KEY})
    assert r.status_code == 200, r.text
    return r.json()["card"]["id"]


async def authenticate_at_stripe(client_secret: str, *, success: bool) -> dict[str, Any]:
    """What Stripe.js's 3-D Secure modal does when the shopper clicks complete or fail."""
    pi = client_secret.split("_secret_")[0]
    async with httpx.AsyncClient(base_url=API_BASE) as http:
        r = await http.post(f"/v1/payment_intents/{pi}/_authenticate", params={"success": "true" if success else "false"}, json={"key": PUBLISHABLE_KEY, "client_secret": client_secret})
    assert r.status_code == 200, r.text
    return r.json()


async def intent_at_stripe(ref: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=API_BASE, headers={"Authorization": f"Bearer {SECRET_KEY}"}) as http:
        r = await http.get(f"/v1/payment_intents/{ref}")
    assert r.status_code == 200, r.text
    return r.json()


async def open_checkout(client: Any, make_product: Any, *, two_brands: bool = False) -> str:
    cream = await make_product("camellia", price=12900, stock=3, shipping=0, title="Repair Cream")
    await add_to_cart(client, cream)
    if two_brands:
        tea = await make_product("tea-house", price=3800, stock=5, shipping=1000, title="Cold Brew")
        await add_to_cart(client, tea, 2)
    started = await checkout(client)
    assert started.status_code == 303, started.text
    return started.headers["location"].rsplit("/", 1)[1]


async def checkout_row(runtime: Any, token: str) -> tuple[Checkout, Payment | None]:
    async with runtime.db.read_session() as s:
        found = (await s.execute(select(Checkout).where(Checkout.token == token))).scalar_one()
        payment = (await s.execute(select(Payment).where(Payment.checkout_id == found.id).order_by(Payment.id.desc()).limit(1))).scalar_one_or_none()
        return found, payment


def secret_in(html: str) -> str:
    found = re.search(r'data-client-secret="([^"]+)"', html)
    assert found, "the authenticate page carries the client secret"
    return found.group(1)


# ---------------------------------------------------------------- the page


async def test_payment_page_mounts_the_stripe_card_element(zc_client, zc_runtime, zc_make_product):
    token = await open_checkout(zc_client, zc_make_product)
    page = await zc_client.get(f"/checkout/{token}", headers=EN)
    assert page.status_code == 200
    html = page.text
    assert f'<script src="{JS_URL}"></script>' in html and '<script src="/static/storefront/stripe-pay.js"></script>' in html
    assert html.index(JS_URL) < html.index("stripe-pay.js"), "Stripe.js first"
    form = re.search(r'<form[^>]*data-testid="pay-form".*?</form>', html, re.S).group(0)
    assert f'action="/checkout/{token}/pay"' in form and "data-stripe-pay" in form and f'data-stripe-key="{PUBLISHABLE_KEY}"' in form
    assert 'name="_csrf_token"' in form and '<input type="hidden" name="card" value="">' in form
    assert 'data-card-element' in form and 'data-testid="card-error"' in form
    assert re.search(r'<button[^>]*data-testid="pay-button"[^>]*disabled', form), "no way to pay until the card form is up"
    assert "<noscript>" in form and "Card payment needs JavaScript" in form
    assert "TEST MODE" in html and "Stripe test mode" in html, "pk_test_/sk_test_: labelled test mode"
    assert 'data-msg-working="Processing…"' in form
    assert "sandbox" not in html.lower()
    assert 'data-testid="test-mode-banner"' in html and "Payments use Stripe test keys" in html, "test keys: the site-wide banner too"

    zh = await zc_client.get(f"/checkout/{token}", headers={"accept-language": "zh-CN"})
    assert "银行卡支付需要 JavaScript" in zh.text and "测试模式" in zh.text and 'data-msg-working="处理中…"' in zh.text and 'data-locale="zh-CN"' in zh.text

    script = await zc_client.get("/static/storefront/stripe-pay.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert "createPaymentMethod" in script.text and "createToken" in script.text and "confirmCardPayment" in script.text


async def test_live_keys_have_no_test_mode_label(zc_client, zc_runtime, zc_make_product):
    zc_runtime.settings.stripe_publishable_key = "pk_live_zhongcao"
    zc_runtime.payment_providers["stripe"].test_mode = False
    token = await open_checkout(zc_client, zc_make_product)
    page = await zc_client.get(f"/checkout/{token}", headers=EN)
    assert 'data-testid="pay-form"' in page.text and 'data-stripe-key="pk_live_zhongcao"' in page.text
    assert "TEST MODE" not in page.text and 'data-testid="stripe-test-mode"' not in page.text and 'data-testid="test-mode-banner"' not in page.text
    # a test secret key alone still says test mode
    zc_runtime.payment_providers["stripe"].test_mode = True
    assert 'data-testid="stripe-test-mode"' in (await zc_client.get(f"/checkout/{token}", headers=EN)).text


async def test_without_a_publishable_key_the_page_says_card_payment_is_not_set_up(zc_client, zc_runtime, zc_make_product):
    zc_runtime.settings.stripe_publishable_key = None
    token = await open_checkout(zc_client, zc_make_product)
    page = await zc_client.get(f"/checkout/{token}", headers=EN)
    assert page.status_code == 200 and 'data-testid="payment-unavailable"' in page.text
    scripts = re.findall(r"<script[^>]*>", page.text)
    assert scripts == ['<script src="/static/storefront/search.js" defer>']  # the site's own only: no Stripe.js, no payment script
    assert 'data-testid="pay-form"' not in page.text


# ---------------------------------------------------------------- journeys against localstripe


@needs_localstripe
async def test_guest_pays_two_brands_with_a_card_from_stripe_js(zc_client, zc_runtime, zc_make_product):
    token = await open_checkout(zc_client, zc_make_product, two_brands=True)
    paid = await post_form(zc_client, f"/checkout/{token}/pay", {"card": await card_id(GOOD_CARD)})
    assert paid.status_code == 303 and paid.headers["location"] == f"/checkout/{token}/done", paid.text
    done = await zc_client.get(paid.headers["location"], headers=EN)
    assert done.status_code == 200 and done.text.count('data-testid="done-order"') == 2

    found, payment = await checkout_row(zc_runtime, token)
    assert found.status == CheckoutStatus.PAID and found.total_minor == 12900 + 2 * 3800 + 1000
    assert payment.provider == "stripe" and payment.status == PaymentStatus.SUCCEEDED and payment.captured_minor == found.total_minor and payment.test_mode
    pi = await intent_at_stripe(payment.provider_ref)
    assert pi["status"] == "succeeded" and pi["amount"] == found.total_minor and pi["currency"] == "cny" and pi["metadata"]["checkout"] == token


@needs_localstripe
async def test_a_declined_card_shows_the_message_and_the_card_form_again(zc_client, zc_runtime, zc_make_product):
    token = await open_checkout(zc_client, zc_make_product)
    declined = await post_form(zc_client, f"/checkout/{token}/pay", {"card": await card_id(DECLINED_CARD)})
    assert declined.status_code == 402 and 'data-testid="payment-error"' in declined.text and "declined" in declined.text
    assert 'data-testid="pay-form"' in declined.text and "data-card-element" in declined.text
    not_an_id = await post_form(zc_client, f"/checkout/{token}/pay", {"card": ""})
    assert not_an_id.status_code == 422 and 'data-testid="payment-error"' in not_an_id.text


@needs_localstripe
async def test_3d_secure_completed(zc_client, zc_app, zc_runtime, zc_make_user, zc_make_product):
    shopper = await zc_make_user()
    await html_login(zc_client, shopper.email)
    zc_client.cookies.set("zc_lang", "en")  # over the account's language (the default, Chinese)
    token = await open_checkout(zc_client, zc_make_product, two_brands=True)

    started = await post_form(zc_client, f"/checkout/{token}/pay", {"card": await card_id(THREE_D_SECURE_CARD)})
    assert started.status_code == 303 and started.headers["location"] == f"/checkout/{token}/authenticate", started.text
    found, payment = await checkout_row(zc_runtime, token)
    assert found.status == CheckoutStatus.OPEN and payment.status == PaymentStatus.REQUIRES_ACTION
    assert (await intent_at_stripe(payment.provider_ref))["status"] == "requires_action"

    page = await zc_client.get(started.headers["location"], headers=EN)
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    secret = secret_in(page.text)
    assert secret.startswith(payment.provider_ref + "_secret_")
    form = re.search(r'<form[^>]*data-testid="authenticate-form".*?</form>', page.text, re.S).group(0)
    assert f'action="/checkout/{token}/confirm"' in form and "data-autostart" in form and 'name="_csrf_token"' in form
    assert "Your bank asks you to confirm this payment." in form and "TEST MODE" in page.text
    assert '<script src="/static/storefront/stripe-pay.js"></script>' in page.text

    # the secret is the shopper's alone: a guest or another shopper gets 404
    async with AsyncTestClient(app=zc_app, base_url="http://testserver.local") as stranger:
        assert (await stranger.get(f"/checkout/{token}/authenticate", headers={**EN, "accept": "text/html"})).status_code == 404
        other = await zc_make_user()
        await html_login(stranger, other.email)
        peek = await stranger.get(f"/checkout/{token}/authenticate", headers={**EN, "accept": "text/html"})
        assert peek.status_code == 404 and secret not in peek.text
        poke = await stranger.post(f"/checkout/{token}/confirm", data={"_csrf_token": csrf(stranger)}, headers=EN)
        assert poke.status_code == 404

    # back from the bank without authenticating: asked again, without starting by itself
    early = await post_form(zc_client, f"/checkout/{token}/confirm")
    assert early.status_code == 409 and "Your bank has not confirmed the payment yet." in early.text
    assert 'data-testid="authenticate-form"' in early.text and "data-autostart" not in early.text and secret_in(early.text) == secret

    assert (await authenticate_at_stripe(secret, success=True))["status"] == "succeeded"
    confirmed = await post_form(zc_client, f"/checkout/{token}/confirm")
    assert confirmed.status_code == 303 and confirmed.headers["location"] == f"/checkout/{token}/done"
    done = await zc_client.get(confirmed.headers["location"], headers=EN)
    assert done.status_code == 200 and done.text.count('data-testid="done-order"') == 2

    found, payment = await checkout_row(zc_runtime, token)
    assert found.status == CheckoutStatus.PAID and payment.status == PaymentStatus.SUCCEEDED and payment.captured_minor == found.total_minor
    async with zc_runtime.db.read_session() as s:
        assert set((await s.execute(select(Order.status).where(Order.checkout_id == found.id))).scalars()) == {OrderStatus.PAID}
    pi = await intent_at_stripe(payment.provider_ref)
    assert pi["status"] == "succeeded" and pi["amount"] == found.total_minor
    # a second confirm (double click, reload) changes nothing; the authenticate page leads to done
    again = await post_form(zc_client, f"/checkout/{token}/confirm")
    assert again.status_code == 303 and again.headers["location"].endswith("/done")
    late = await zc_client.get(f"/checkout/{token}/authenticate", follow_redirects=False)
    assert late.status_code == 303 and late.headers["location"].endswith("/done")


@needs_localstripe
async def test_3d_secure_failed_then_another_card_pays(zc_client, zc_runtime, zc_make_product):
    token = await open_checkout(zc_client, zc_make_product)
    started = await post_form(zc_client, f"/checkout/{token}/pay", {"card": await card_id("4000002500003155")})
    assert started.headers["location"] == f"/checkout/{token}/authenticate"
    secret = secret_in((await zc_client.get(started.headers["location"], headers=EN)).text)

    await authenticate_at_stripe(secret, success=False)
    refused = await post_form(zc_client, f"/checkout/{token}/confirm")
    assert refused.status_code == 402 and "the card could not be authenticated; try again or use another card" in refused.text
    assert 'data-testid="pay-form"' in refused.text and 'data-testid="authenticate-form"' not in refused.text
    zh = await zc_client.post(f"/checkout/{token}/confirm", data={"_csrf_token": csrf(zc_client)}, headers={"accept-language": "zh-CN"})
    assert zh.status_code == 402 and "银行卡验证未通过" in zh.text

    paid = await post_form(zc_client, f"/checkout/{token}/pay", {"card": await card_id(GOOD_CARD)})
    assert paid.status_code == 303 and paid.headers["location"].endswith("/done"), paid.text
    found, payment = await checkout_row(zc_runtime, token)
    assert found.status == CheckoutStatus.PAID and payment.status == PaymentStatus.SUCCEEDED
    assert secret.startswith(payment.provider_ref), "the same payment and intent, paid by the second card"
    assert (await intent_at_stripe(payment.provider_ref))["status"] == "succeeded"


@needs_localstripe
async def test_api_client_pays_with_3d_secure(zc_client, zc_runtime, zc_make_product):
    """The JSON API does the same: pay answers requires_action with the client secret, confirm records."""
    variant = await zc_make_product("camellia", price=12900, stock=3, shipping=0)
    cart = (await zc_client.post("/api/v1/carts", json={})).json()
    await zc_client.post(f"/api/v1/carts/{cart['token']}/lines", json={"variant_id": variant.id, "quantity": 1})
    token = (await zc_client.post(f"/api/v1/carts/{cart['token']}/checkout", json={"email": "api@example.com", "address": {"name": "A", "phone": "1", "line1": "1 Road", "city": "Shanghai", "country": "CN"}})).json()["token"]

    r = await zc_client.post(f"/api/v1/checkouts/{token}/pay", json={"payment_method": await card_id(THREE_D_SECURE_CARD)})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "open" and body["payment"]["status"] == "requires_action" and body["payment"]["provider"] == "stripe"
    secret = body["payment"]["client_secret"]
    await authenticate_at_stripe(secret, success=True)
    ok = await zc_client.post(f"/api/v1/checkouts/{token}/confirm")
    assert ok.status_code == 200, ok.text
    assert ok.json()["status"] == "paid" and ok.json()["payment"]["status"] == "succeeded" and ok.json()["payment"]["captured_minor"] == 12900

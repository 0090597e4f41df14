"""A purchase in a real browser, in the demo: a shopper buys from two brands in one
checkout with the sandbox card and gets two orders; the brand owner ships theirs in
the portal; the shopper sees the tracking number and confirms receipt.

Screenshots (mobile, 390x844) go to /tmp/zc-*.png.
"""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import DEMO_PASSWORD, MOBILE

pytestmark = pytest.mark.browser

SHOPPER = "shopper@demo.zhongcao.dev"
BRAND_OWNER = "brand@demo.zhongcao.dev"


def expect():  # noqa: ANN201 - imported lazily so a missing playwright skips in the fixture
    from playwright.sync_api import expect as _expect

    return _expect


def login(page, email: str, password: str = DEMO_PASSWORD) -> None:  # noqa: ANN001
    form = page.get_by_test_id("login-form")
    form.locator('input[name="email"]').fill(email)
    form.locator('input[name="password"]').fill(password)
    form.locator('button[type="submit"]').click()


def fits_the_phone(page) -> None:  # noqa: ANN001
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, f"{page.url} scrolls sideways"


def test_buy_from_two_brands_then_the_brand_ships(new_page) -> None:  # noqa: ANN001
    shop = new_page(**MOBILE, locale="en-US")

    # a guest finds a product from the list and picks a variant (in English: the
    # demo accounts' own language, Chinese, would win over the browser's after login)
    shop.goto("/lang/en?next=/products")
    expect()(shop.get_by_test_id("product-list")).to_be_visible()
    fits_the_phone(shop)
    shop.get_by_test_id("product-list").get_by_role("link", name=re.compile("Camellia Repair Cream")).click()
    expect()(shop).to_have_url(re.compile(r"/products/camellia-repair-cream$"))
    product = shop.get_by_test_id("product-page")
    expect()(product).to_contain_text("Only 4 left")  # the demo's low-stock variant
    expect()(product.locator("img").first).to_be_visible()
    # visible is not loaded: wait for the image itself (a busy machine serves it late)
    shop.wait_for_function("() => { const i = document.querySelector('.gallery img'); return i && i.complete && i.naturalWidth > 0 }")
    fits_the_phone(shop)
    shop.screenshot(path="/tmp/zc-product.png", full_page=True)
    product.locator("label.variant", has_text="50ml").click()
    expect()(shop.get_by_test_id("add-to-cart-form").locator('input[name="variant_id"]:checked')).to_have_count(1)
    shop.get_by_test_id("add-to-cart").click()
    expect()(shop).to_have_url(re.compile(r"/cart$"))
    expect()(shop.get_by_test_id("cart-line")).to_have_count(1)

    # logging in keeps the guest's cart
    shop.goto("/login?next=/cart")
    login(shop, SHOPPER)
    expect()(shop).to_have_url(re.compile(r"/cart$"))
    expect()(shop.get_by_test_id("cart-line")).to_contain_text("Camellia Repair Cream")

    # a second brand's product, two of them
    shop.goto("/products?category=tea")
    shop.get_by_test_id("product-list").get_by_role("link", name=re.compile("Cold Brew Oolong")).click()
    shop.get_by_test_id("add-to-cart-form").locator('input[name="quantity"]').fill("2")
    shop.get_by_test_id("add-to-cart").click()
    expect()(shop).to_have_url(re.compile(r"/cart$"))
    groups = shop.get_by_test_id("cart-group")
    expect()(groups).to_have_count(2)
    fits_the_phone(shop)
    shop.screenshot(path="/tmp/zc-cart.png", full_page=True)

    # checkout: the address, then the sandbox card
    shop.get_by_test_id("checkout-link").click()
    expect()(shop).to_have_url(re.compile(r"/checkout$"))
    form = shop.get_by_test_id("address-form")
    for name, value in {"name": "林小满", "phone": "+86 138 0000 0000", "line1": "静安区南京西路 1 号", "city": "上海", "region": "SH", "postal_code": "200040"}.items():
        form.locator(f'input[name="{name}"]').fill(value)
    expect()(form.locator('input[name="country"]')).to_have_value("CN")
    fits_the_phone(shop)
    shop.screenshot(path="/tmp/zc-checkout.png", full_page=True)
    shop.get_by_test_id("to-payment").click()
    expect()(shop).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}$"))
    pay_form = shop.get_by_test_id("pay-form")
    expect()(pay_form).to_contain_text("TEST MODE")
    expect()(pay_form).to_contain_text("4242 4242 4242 4242")
    expect()(shop.get_by_test_id("pay-order")).to_have_count(2)

    # a declined card first: the message, and the form again
    pay_form.locator('input[name="card"]').fill("4000 0000 0000 0002")
    shop.get_by_test_id("pay-button").click()
    expect()(shop.get_by_test_id("payment-error")).to_contain_text("declined")
    shop.get_by_test_id("pay-form").locator('input[name="card"]').fill("4242 4242 4242 4242")
    fits_the_phone(shop)
    shop.screenshot(path="/tmp/zc-payment.png", full_page=True)
    shop.get_by_test_id("pay-button").click()

    expect()(shop).to_have_url(re.compile(r"/checkout/[0-9a-f-]{36}/done$"))
    expect()(shop.get_by_test_id("checkout-done")).to_be_visible()
    orders = shop.get_by_test_id("done-order")
    expect()(orders).to_have_count(2)
    expect()(shop.locator("main")).to_contain_text("Camellia Skin")
    expect()(shop.locator("main")).to_contain_text("Tea Ritual")
    shop.screenshot(path="/tmp/zc-done.png", full_page=True)

    numbers = [orders.nth(i).locator("strong").first.inner_text() for i in range(2)]
    camellia_number = orders.filter(has_text="Camellia Skin").locator("strong").first.inner_text()
    shop.goto("/account/orders")
    listed = shop.get_by_test_id("order-list")
    for number in numbers:  # the demo shopper has demo orders of their own too
        expect()(listed.locator("li", has_text=number)).to_have_count(1)
        expect()(listed.locator("li", has_text=number)).to_contain_text("Paid")

    # the brand owner ships the Camellia order from the portal
    portal = new_page(**MOBILE, locale="en-US")
    portal.goto("/creator/lang/en?next=/creator/login")
    login(portal, BRAND_OWNER)
    expect()(portal).to_have_url(re.compile(r"/creator$"))
    portal.get_by_test_id("brand-orders-link").click()
    ours = portal.get_by_test_id("order-row").filter(has_text=camellia_number)
    expect()(ours).to_contain_text("To ship")
    expect()(ours).to_contain_text("Camellia Repair Cream")
    fits_the_phone(portal)
    portal.screenshot(path="/tmp/zc-portal-orders.png", full_page=True)
    ours.get_by_role("link").click()
    fulfil = portal.get_by_test_id("fulfil-form")
    fulfil.locator('input[name="carrier"]').fill("顺丰 SF Express")
    fulfil.locator('input[name="tracking_number"]').fill("SF1234567890")
    fits_the_phone(portal)
    portal.screenshot(path="/tmp/zc-portal-order.png", full_page=True)
    fulfil.locator('button[type="submit"]').click()
    expect()(portal.get_by_test_id("order-status")).to_have_text("Shipped")
    expect()(portal.get_by_test_id("tracking")).to_contain_text("SF1234567890")

    # the shopper sees it shipped and confirms receipt
    shop.goto("/account/orders")
    shop.get_by_test_id("order-list").locator("li", has_text=camellia_number).get_by_role("link").click()
    expect()(shop.get_by_test_id("tracking")).to_contain_text("SF1234567890")
    shop.get_by_test_id("confirm-received").click()
    expect()(shop.get_by_test_id("order-status")).to_have_text("Received")
    fits_the_phone(shop)
    shop.screenshot(path="/tmp/zc-order.png", full_page=True)


def test_chinese_product_page_and_empty_cart(new_page) -> None:  # noqa: ANN001
    page = new_page(**MOBILE, locale="zh-CN")
    page.goto("/products/north-trail-wind-jacket")
    expect()(page.get_by_test_id("add-to-cart")).to_have_text("加入购物车")
    expect()(page.get_by_test_id("product-price")).to_contain_text("¥399.00")
    fits_the_phone(page)
    page.goto("/cart")
    expect()(page.get_by_test_id("empty-cart")).to_contain_text("购物车还是空的")

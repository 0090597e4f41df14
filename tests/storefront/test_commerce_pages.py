"""Shopping over HTTP, as a browser does it: forms with CSRF, cookies, 303 redirects.

Products and product page, the guest cart (cookie), checkout with an address, the
sandbox card (paid and declined), the done page, cart merge at login, the shopper's
orders (confirm received, request a refund) and friendly errors for bad input.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from core.catalog.models import Product, ProductMedia, Variant
from core.inventory import service as inventory
from core.orders.models import Order, OrderStatus, Refund
from core.testing import ADDRESS, csrf, html_login, post_form

EN = {"accept-language": "en"}


async def slug_of(runtime: Any, variant: Variant) -> str:
    async with runtime.db.read_session() as s:
        return (await s.execute(select(Product.slug).where(Product.id == variant.product_id))).scalar_one()


async def add_to_cart(client: Any, variant: Variant, quantity: int | str = 1) -> Any:
    return await post_form(client, "/cart/lines", {"variant_id": str(variant.id), "quantity": str(quantity)})


async def checkout(client: Any, address: dict[str, str] | None = None, email: str | None = "guest@example.com") -> Any:
    data = dict(address or ADDRESS)
    if email:
        data["email"] = email
    return await post_form(client, "/checkout", data)


def between(html: str, testid: str) -> list[str]:
    return re.findall(rf'data-testid="{testid}"(.*?)</(?:section|li)>', html, re.S)


async def test_products_list_and_product_page(zc_client, zc_runtime, zc_make_product):
    cream = await zc_make_product("camellia", price=16800, stock=3, title="Repair Cream")
    tea = await zc_make_product("tea-house", price=4900, stock=50, title="Cold Brew")
    draft = await zc_make_product("camellia", price=100, title="Secret Draft", status="draft")
    async with zc_runtime.db.session() as s:  # a compare-at price and an image row
        from core.catalog.models import VariantPrice

        price = await s.get(VariantPrice, (cream.id, "CNY"))
        price.compare_at_minor = 19800
        s.add(ProductMedia(product_id=cream.product_id, path=f"products/{cream.product_id}/abc.png", content_type="image/png", width=800, height=800,
                           sizes={"320": {"path": f"products/{cream.product_id}/abc-320.webp", "width": 320, "height": 320}}, alt="jar"))
        await s.commit()

    listing = await zc_client.get("/products", headers=EN)
    assert listing.status_code == 200
    assert "Repair Cream" in listing.text and "Cold Brew" in listing.text and "Secret Draft" not in listing.text
    assert "¥168.00" in listing.text and "<s>¥198.00</s>" in listing.text
    assert f'src="/media/products/{cream.product_id}/abc-320.webp"' in listing.text

    only_tea = await zc_client.get("/products", params={"brand": "tea-house"}, headers=EN)
    assert "Cold Brew" in only_tea.text and "Repair Cream" not in only_tea.text
    assert "No products match." in (await zc_client.get("/products", params={"tag": "nothing-here"}, headers=EN)).text

    page = await zc_client.get(f"/products/{await slug_of(zc_runtime, cream)}", headers=EN)
    assert page.status_code == 200
    assert 'data-testid="add-to-cart-form"' in page.text and 'action="/cart/lines"' in page.text
    assert 'name="_csrf_token"' in page.text
    assert "Only 3 left" in page.text, "low stock is hinted"
    assert 'href="/brands/camellia"' in page.text
    assert "/media/products/" in page.text and 'alt="jar"' in page.text
    assert "<s>¥198.00</s>" in page.text

    assert "Only" not in (await zc_client.get(f"/products/{await slug_of(zc_runtime, tea)}", headers=EN)).text
    hidden = await zc_client.get(f"/products/{await slug_of(zc_runtime, draft)}", headers={**EN, "accept": "text/html"})
    assert hidden.status_code == 404 and 'data-testid="error-page"' in hidden.text

    brand = await zc_client.get("/brands/camellia", headers=EN)
    assert "Repair Cream" in brand.text and "Secret Draft" not in brand.text and "Cold Brew" not in brand.text
    home = await zc_client.get("/", headers=EN)
    assert 'href="/products"' in home.text and "Repair Cream" in home.text


async def test_guest_buys_from_two_brands_with_the_sandbox_card(zc_client, zc_runtime, zc_make_product):
    cream = await zc_make_product("camellia", price=12900, stock=3, shipping=0, title="Repair Cream")
    tea = await zc_make_product("tea-house", price=3800, stock=5, shipping=1000, title="Cold Brew")

    await zc_client.get("/cart")
    added = await add_to_cart(zc_client, tea, 2)
    assert added.status_code == 303 and added.headers["location"] == "/cart"
    cookie = added.headers["set-cookie"]
    assert "zc_cart=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("SameSite=Lax", "SameSite=lax")
    assert zc_client.cookies.get("zc_cart")
    second = await add_to_cart(zc_client, cream)
    assert second.status_code == 303 and "zc_cart=" not in second.headers.get("set-cookie", ""), "the same cart is reused"

    cart = await zc_client.get("/cart", headers=EN)
    assert cart.status_code == 200
    groups = between(cart.text, "cart-group")
    assert len(groups) == 2, "lines are grouped by brand"
    assert "Cold Brew" in cart.text and "Repair Cream" in cart.text
    assert "¥86.00" in cart.text  # tea: 2 × ¥38 + ¥10 shipping, priced on the server
    assert "¥215.00" in cart.text  # both brands

    form = await zc_client.get("/checkout", headers=EN)
    assert form.status_code == 200 and 'data-testid="address-form"' in form.text
    assert 'name="email"' in form.text, "guests give an email"
    assert 'name="country" value="CN"' in form.text

    started = await checkout(zc_client)
    assert started.status_code == 303, started.text
    pay_url = started.headers["location"]
    token = pay_url.rsplit("/", 1)[1]
    async with zc_runtime.db.read_session() as s:
        assert (await inventory.snapshot(s, tea.id)).reserved == 2

    pay_page = await zc_client.get(pay_url, headers=EN)
    assert pay_page.status_code == 200
    assert "TEST MODE" in pay_page.text and "4242 4242 4242 4242" in pay_page.text and "4000 0000 0000 0002" in pay_page.text
    assert len(between(pay_page.text, "pay-order")) == 2
    assert f'action="/checkout/{token}/cancel"' in pay_page.text

    paid = await post_form(zc_client, f"/checkout/{token}/pay", {"card": "4242 4242 4242 4242"})
    assert paid.status_code == 303 and paid.headers["location"] == f"/checkout/{token}/done"
    done = await zc_client.get(paid.headers["location"], headers=EN)
    assert done.status_code == 200 and 'data-testid="checkout-done"' in done.text
    assert len(between(done.text, "done-order")) == 2, "one order per brand"
    assert "Camellia" in done.text and "Tea House" in done.text
    assert "guest@example.com" in done.text

    async with zc_runtime.db.read_session() as s:
        statuses = (await s.execute(select(Order.status))).scalars().all()
        assert sorted(statuses) == [OrderStatus.PAID, OrderStatus.PAID]
        assert (await inventory.snapshot(s, tea.id)).committed == 2

    # the paid cart is closed: the cart page is empty again, and the payment page leads to the done page
    assert 'data-testid="empty-cart"' in (await zc_client.get("/cart", headers=EN)).text
    again = await zc_client.get(pay_url, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"].endswith("/done")


async def test_declined_card_shows_the_message_then_a_good_card_pays(zc_client, zc_runtime, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5)
    await add_to_cart(zc_client, tea)
    token = (await checkout(zc_client)).headers["location"].rsplit("/", 1)[1]

    declined = await post_form(zc_client, f"/checkout/{token}/pay", {"card": "4000 0000 0000 0002"})
    assert declined.status_code == 402
    assert declined.headers["content-type"].startswith("text/html")
    assert 'data-testid="payment-error"' in declined.text and "declined" in declined.text
    assert 'data-testid="pay-form"' in declined.text, "the payment form is shown again"

    not_a_card = await post_form(zc_client, f"/checkout/{token}/pay", {"card": ""})
    assert not_a_card.status_code == 422 and 'data-testid="payment-error"' in not_a_card.text

    zh = await zc_client.post(f"/checkout/{token}/pay", data={"card": "4000000000000002", "_csrf_token": csrf(zc_client)}, headers={"accept-language": "zh-CN"})
    assert zh.status_code == 402 and "银行卡被拒绝" in zh.text

    paid = await post_form(zc_client, f"/checkout/{token}/pay", {"card": "4242424242424242"})
    assert paid.status_code == 303 and paid.headers["location"].endswith("/done")


async def test_cancel_checkout_releases_stock_and_reopens_the_cart(zc_client, zc_runtime, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5)
    await add_to_cart(zc_client, tea, 2)
    token = (await checkout(zc_client)).headers["location"].rsplit("/", 1)[1]

    cart = await zc_client.get("/cart", headers=EN)
    assert 'data-testid="checkout-in-progress"' in cart.text, "a held cart says so and links to the payment"
    assert (await zc_client.get("/checkout", follow_redirects=False)).headers["location"] == f"/checkout/{token}"
    frozen = await add_to_cart(zc_client, tea)
    assert frozen.status_code == 409 and 'role="alert"' in frozen.text

    cancelled = await post_form(zc_client, f"/checkout/{token}/cancel")
    assert cancelled.status_code == 303 and cancelled.headers["location"].startswith("/cart")
    async with zc_runtime.db.read_session() as s:
        snap = await inventory.snapshot(s, tea.id)
        assert snap.reserved == 0 and snap.available == 5
    cart = await zc_client.get(cancelled.headers["location"], headers=EN)
    assert "Checkout cancelled" in cart.text and 'data-testid="checkout-link"' in cart.text
    closed = await zc_client.get(f"/checkout/{token}", headers=EN)
    assert 'data-testid="checkout-closed"' in closed.text and 'data-testid="pay-form"' not in closed.text


async def test_update_and_remove_cart_lines(zc_client, zc_runtime, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5, title="Cold Brew")
    await add_to_cart(zc_client, tea)
    updated = await post_form(zc_client, f"/cart/lines/{tea.id}", {"quantity": "3"})
    assert updated.status_code == 303
    assert 'value="3"' in (await zc_client.get("/cart")).text
    too_many = await post_form(zc_client, f"/cart/lines/{tea.id}", {"quantity": "7"})
    assert too_many.status_code == 303
    assert "Only 5 left" in (await zc_client.get("/cart", headers=EN)).text, "more than in stock is flagged"

    bad = await post_form(zc_client, f"/cart/lines/{tea.id}", {"quantity": "lots"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text and "whole number" in bad.text
    assert "Cold Brew" in bad.text, "the cart is shown again"

    removed = await post_form(zc_client, f"/cart/lines/{tea.id}/remove")
    assert removed.status_code == 303
    assert 'data-testid="empty-cart"' in (await zc_client.get("/cart")).text


async def test_unavailable_lines_are_flagged(zc_client, zc_runtime, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5, title="Cold Brew")
    await add_to_cart(zc_client, tea)
    async with zc_runtime.db.session() as s:
        product = await s.get(Product, tea.product_id)
        product.status = "archived"
        await s.commit()
    cart = await zc_client.get("/cart", headers=EN)
    assert cart.status_code == 200
    assert 'data-testid="unavailable-lines"' in cart.text and "Cold Brew" in cart.text


async def test_bad_quantity_re_renders_the_product_page(zc_client, zc_runtime, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5, title="Cold Brew")
    for bad in ("abc", "0", "-2", "1000", "1.5"):
        response = await add_to_cart(zc_client, tea, bad)
        assert response.status_code == 422, (bad, response.status_code)
        assert response.headers["content-type"].startswith("text/html")
        assert 'data-testid="add-to-cart-form"' in response.text and 'role="alert"' in response.text
        assert "Traceback" not in response.text
    missing = await post_form(zc_client, "/cart/lines", {"variant_id": "999999", "quantity": "1"})
    assert missing.status_code == 404 and 'data-testid="error-page"' in missing.text
    assert not zc_client.cookies.get("zc_cart"), "nothing was created"


async def test_bad_address_re_renders_with_field_errors(zc_client, zc_runtime, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5)
    await add_to_cart(zc_client, tea)
    response = await checkout(zc_client, {**ADDRESS, "name": "", "country": "China"})
    assert response.status_code == 422
    assert 'data-testid="address-form"' in response.text
    assert 'data-field="name"' in response.text and 'data-field="country"' in response.text
    assert 'value="上海"' in response.text, "what was typed is kept"
    no_email = await checkout(zc_client, ADDRESS, email=None)
    assert no_email.status_code == 422 and "email" in no_email.text
    zh = await zc_client.post("/checkout", data={**ADDRESS, "name": "", "email": "a@example.com", "_csrf_token": csrf(zc_client)}, headers={"accept-language": "zh-CN"})
    assert zh.status_code == 422 and "必填" in zh.text
    async with zc_runtime.db.read_session() as s:
        snap = await inventory.snapshot(s, tea.id)
        assert snap.reserved == 0, "nothing was held"


async def test_out_of_stock_at_checkout_names_the_item(zc_client, zc_runtime, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=1, title="Cold Brew")
    await add_to_cart(zc_client, tea, 2)
    response = await checkout(zc_client)
    assert response.status_code == 409
    assert "not enough stock" in response.text and "Cold Brew" in response.text


async def test_post_without_csrf_is_refused(zc_client, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5)
    await zc_client.get("/")
    response = await zc_client.post("/cart/lines", data={"variant_id": str(tea.id), "quantity": "1"}, headers=EN)
    assert response.status_code == 403


async def test_cart_merges_at_login(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5, title="Cold Brew")
    cream = await zc_make_product("camellia", price=12900, stock=5, title="Repair Cream")
    user = await zc_make_user("lin@example.com")
    zc_client.cookies.set("zc_lang", "en")

    # the user's own cart from an earlier visit
    await html_login(zc_client, user.email)
    await add_to_cart(zc_client, cream)
    await post_form(zc_client, "/logout")
    assert 'data-testid="empty-cart"' in (await zc_client.get("/cart")).text, "logged out: a fresh guest cart"

    await add_to_cart(zc_client, tea, 2)
    assert zc_client.cookies.get("zc_cart")
    login = await html_login(zc_client, user.email)
    assert "zc_cart=" in login.headers.get("set-cookie", ""), "the guest cookie is cleared"
    cart = await zc_client.get("/cart", headers=EN)
    assert "Cold Brew" in cart.text and "Repair Cream" in cart.text
    assert re.search(r'name="quantity" value="2"', cart.text)

    # logged in: checkout needs no email, it is the account's
    form = await zc_client.get("/checkout")
    assert 'name="email"' not in form.text
    started = await checkout(zc_client, email=None)
    assert started.status_code == 303
    token = started.headers["location"].rsplit("/", 1)[1]
    assert (await post_form(zc_client, f"/checkout/{token}/pay", {"card": "4242 4242 4242 4242"})).status_code == 303
    orders = await zc_client.get("/account/orders", headers=EN)
    assert orders.status_code == 200 and orders.text.count("/account/orders/") >= 2
    # the next checkout starts from the last address
    await add_to_cart(zc_client, tea)
    assert 'value="林小满"' in (await zc_client.get("/checkout")).text


async def test_my_orders_receive_and_refund_request(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5, title="Cold Brew")
    user = await zc_make_user()
    owner = await zc_make_user(brand=("tea-house", "owner"))
    stranger = await zc_make_user()
    zc_client.cookies.set("zc_lang", "en")  # the account's language (zh-CN) would win over Accept-Language
    await html_login(zc_client, user.email)
    await add_to_cart(zc_client, tea)
    token = (await checkout(zc_client, email=None)).headers["location"].rsplit("/", 1)[1]
    await post_form(zc_client, f"/checkout/{token}/pay", {"card": "4242 4242 4242 4242"})
    async with zc_runtime.db.read_session() as s:
        order_id = (await s.execute(select(Order.id))).scalar_one()

    page = await zc_client.get(f"/account/orders/{order_id}", headers=EN)
    assert page.status_code == 200
    assert 'data-testid="order-timeline"' in page.text and "Awaiting payment" in page.text and "Paid" in page.text
    assert 'data-testid="confirm-received"' not in page.text, "not shipped yet"
    assert 'data-testid="refund-request-form"' in page.text

    # the brand ships it (service call; the portal form is tested in tests/creator_portal)
    from core.auth.service import load_actor
    from core.orders import service as orders

    async with zc_runtime.db.session() as s:
        await orders.fulfil(s, zc_runtime, await load_actor(s, owner.id), order_id, carrier="SF Express", tracking_number="SF1234567890")
        await s.commit()
    shipped = await zc_client.get(f"/account/orders/{order_id}", headers=EN)
    assert 'data-testid="tracking"' in shipped.text and "SF1234567890" in shipped.text and "SF Express" in shipped.text
    received = await post_form(zc_client, f"/account/orders/{order_id}/complete")
    assert received.status_code == 303
    assert "Received" in (await zc_client.get(received.headers["location"], headers=EN)).text

    too_much = await post_form(zc_client, f"/account/orders/{order_id}/refund", {"amount": "500", "reason": "broken lid"})
    assert too_much.status_code == 422 and "more than" in too_much.text and "broken lid" in too_much.text
    bad_amount = await post_form(zc_client, f"/account/orders/{order_id}/refund", {"amount": "1.234", "reason": "broken lid"})
    assert bad_amount.status_code == 422
    no_reason = await post_form(zc_client, f"/account/orders/{order_id}/refund", {"amount": "10"})
    assert no_reason.status_code == 422
    asked = await post_form(zc_client, f"/account/orders/{order_id}/refund", {"amount": "10.50", "reason": "broken lid"})
    assert asked.status_code == 303
    async with zc_runtime.db.read_session() as s:
        refund = (await s.execute(select(Refund))).scalar_one()
        assert refund.amount_minor == 1050 and refund.status == "requested"
    assert "Requested" in (await zc_client.get(f"/account/orders/{order_id}", headers=EN)).text

    # someone else's order is a friendly 404, also for its brand's staff on the storefront
    for other in (stranger, owner):
        await post_form(zc_client, "/logout")
        await html_login(zc_client, other.email)
        response = await zc_client.get(f"/account/orders/{order_id}", headers={**EN, "accept": "text/html"})
        assert response.status_code == 404 and 'data-testid="error-page"' in response.text
        refused = await post_form(zc_client, f"/account/orders/{order_id}/refund", {"reason": "mine now"})
        assert refused.status_code == 404


async def test_orders_need_login(zc_client):
    response = await zc_client.get("/account/orders", follow_redirects=False)
    assert response.status_code in (302, 303) and response.headers["location"] == "/login?next=/account/orders"



async def test_buy_now_goes_straight_to_checkout(zc_client, zc_runtime, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5, title="Cold Brew")
    page = await zc_client.get(f"/products/{await slug_of(zc_runtime, tea)}", headers=EN)
    assert 'data-testid="buy-now"' in page.text and 'name="then" value="checkout"' in page.text
    bought = await post_form(zc_client, "/cart/lines", {"variant_id": str(tea.id), "quantity": "1", "then": "checkout"})
    assert bought.status_code == 303 and bought.headers["location"] == "/checkout"
    assert 'data-testid="address-form"' in (await zc_client.get("/checkout", headers=EN)).text
    assert "Cold Brew" in (await zc_client.get("/cart", headers=EN)).text

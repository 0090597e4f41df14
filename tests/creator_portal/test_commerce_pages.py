"""Brand staff in the portal, over HTTP with CSRF: products (create, variants, prices,
stock, images, publish) and orders (fulfil, refund with restock, refund requests,
cancel). Another brand's staff get 404 everywhere."""

from __future__ import annotations

import io
import re
from typing import Any

from sqlalchemy import select, update

from core.auth.service import load_actor
from core.catalog.models import Product, ProductMedia, Variant
from core.inventory import service as inventory
from core.orders import cart as carts
from core.orders import checkout as checkouts
from core.orders import refunds
from core.orders.models import Order, OrderStatus, OrderTransition, Refund
from core.payments import service as payments
from core.testing import ADDRESS, html_login

EN = {"accept-language": "en"}


async def portal_login(client: Any, email: str) -> None:
    client.cookies.set("zc_lang", "en")
    await html_login(client, email, path="/creator/login")


async def post_form(client: Any, path: str, data: dict[str, Any] | None = None, **kwargs: Any) -> Any:
    return await client.post(path, data={**(data or {}), "_csrf_token": client.cookies.get("zc_csrf")}, follow_redirects=False, **kwargs)


async def paid_order(runtime: Any, shopper: Any, *lines: tuple[Variant, int]) -> list[Order]:
    async with runtime.db.session() as s:
        actor = await load_actor(s, shopper.id)
        cart = await carts.new_cart(s, user_id=shopper.id)
        for variant, quantity in lines:
            await carts.set_line(s, cart, variant_id=variant.id, quantity=quantity)
        started = await checkouts.start_checkout(s, runtime, cart, actor, email=None, address=ADDRESS)
        await s.commit()
    await payments.pay(runtime, started.token, actor, payment_method="4242 4242 4242 4242")
    async with runtime.db.read_session() as s:
        return list((await s.execute(select(Order).where(Order.checkout_id == started.id).order_by(Order.id))).scalars())


async def stock(runtime: Any, variant_id: int) -> Any:
    async with runtime.db.read_session() as s:
        return await inventory.snapshot(s, variant_id)


def png() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (400, 300), (200, 60, 90)).save(out, "PNG")
    return out.getvalue()


async def test_dashboard_links_to_products_and_orders(zc_client, zc_make_user):
    owner = await zc_make_user(brand=("tea-house", "owner"))
    await portal_login(zc_client, owner.email)
    dashboard = await zc_client.get("/creator")
    assert 'href="/creator/brands/tea-house/products"' in dashboard.text
    assert 'href="/creator/brands/tea-house/orders"' in dashboard.text


async def test_brand_owner_builds_a_product(zc_client, zc_runtime, zc_make_user):
    owner = await zc_make_user(brand=("tea-house", "owner"))
    await portal_login(zc_client, owner.email)
    base = "/creator/brands/tea-house/products"
    listing = await zc_client.get(base)
    assert listing.status_code == 200 and 'data-testid="new-product-form"' in listing.text

    bad = await post_form(zc_client, base, {"title": "Cold Brew Oolong", "slug": "Not A Slug!", "option_names": "pack"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text and 'value="Cold Brew Oolong"' in bad.text
    created = await post_form(zc_client, base, {"title": "Cold Brew Oolong", "slug": "cold-brew-oolong", "description": "Bright.", "tags": "tea, 冷泡茶", "option_names": "pack"})
    assert created.status_code == 303, created.text
    page_url = created.headers["location"].split("?")[0]
    product_id = int(page_url.rsplit("/", 1)[1])
    page = await zc_client.get(page_url)
    assert page.status_code == 200 and "Draft" in page.text and 'data-testid="add-variant-form"' in page.text

    # publishing needs a priced variant
    refused = await post_form(zc_client, f"{page_url}/status", {"status": "active"})
    assert refused.status_code == 422 and "variant with a price" in refused.text

    bad_price = await post_form(zc_client, f"{page_url}/variants", {"sku": "TR-CBO-10", "option_0": "10 sachets", "amount": "forty-nine"})
    assert bad_price.status_code == 422 and "12.50" in bad_price.text and 'value="TR-CBO-10"' in bad_price.text
    added = await post_form(zc_client, f"{page_url}/variants", {"sku": "TR-CBO-10", "option_0": "10 sachets", "amount": "49", "compare_at": "59.00", "stock": "5"})
    assert added.status_code == 303, added.text
    async with zc_runtime.db.read_session() as s:
        variant = (await s.execute(select(Variant).where(Variant.product_id == product_id))).scalar_one()
    assert (await stock(zc_runtime, variant.id)).available == 5
    duplicate = await post_form(zc_client, f"{page_url}/variants", {"sku": "TR-CBO-10", "option_0": "30 sachets", "amount": "129"})
    assert duplicate.status_code == 409

    published = await post_form(zc_client, f"{page_url}/status", {"status": "active"})
    assert published.status_code == 303
    shop = await zc_client.get("/products/cold-brew-oolong", headers=EN)
    assert shop.status_code == 200 and "¥49.00" in shop.text and "<s>¥59.00</s>" in shop.text and "Only 5 left" in shop.text

    # stock in and out, shown as on hand / available / reserved / committed
    received = await post_form(zc_client, f"{page_url}/variants/{variant.id}/stock", {"quantity": "10"})
    assert received.status_code == 303
    assert (await stock(zc_runtime, variant.id)).available == 15
    too_much = await post_form(zc_client, f"{page_url}/variants/{variant.id}/stock", {"quantity": "-100"})
    assert too_much.status_code == 409 and "write off" in too_much.text
    not_a_number = await post_form(zc_client, f"{page_url}/variants/{variant.id}/stock", {"quantity": "ten"})
    assert not_a_number.status_code == 422
    page = await zc_client.get(page_url)
    assert re.search(r'data-testid="available">15<', page.text)

    repriced = await post_form(zc_client, f"{page_url}/variants/{variant.id}", {"amount": "45.50", "compare_at": "", "is_active": "1"})
    assert repriced.status_code == 303
    assert "¥45.50" in (await zc_client.get("/products/cold-brew-oolong")).text
    wrong_compare = await post_form(zc_client, f"{page_url}/variants/{variant.id}", {"amount": "45.50", "compare_at": "40", "is_active": "1"})
    assert wrong_compare.status_code == 422 and "compare_at" in wrong_compare.text

    # details
    saved = await post_form(zc_client, page_url, {"title": "Cold Brew Oolong Tea", "slug": "cold-brew-oolong", "description": "Six hours.", "tags": "tea", "option_names": "pack"})
    assert saved.status_code == 303
    async with zc_runtime.db.read_session() as s:
        product = await s.get(Product, product_id)
        assert product.title == "Cold Brew Oolong Tea" and product.tags == ["tea"]

    # images
    upload = await zc_client.post(
        f"{page_url}/media", data={"alt": "a cup", "_csrf_token": zc_client.cookies.get("zc_csrf")}, files={"file": ("cup.png", png(), "image/png")}, follow_redirects=False
    )
    assert upload.status_code == 303, upload.text
    async with zc_runtime.db.read_session() as s:
        media = (await s.execute(select(ProductMedia).where(ProductMedia.product_id == product_id))).scalar_one()
    assert media.alt == "a cup"
    assert f'/media/products/{product_id}/' in (await zc_client.get(page_url)).text
    not_image = await zc_client.post(
        f"{page_url}/media", data={"_csrf_token": zc_client.cookies.get("zc_csrf")}, files={"file": ("x.png", b"not an image", "image/png")}, follow_redirects=False
    )
    assert not_image.status_code == 422 and "JPEG, PNG or WebP" in not_image.text
    no_csrf = await zc_client.post(f"{page_url}/media", files={"file": ("cup.png", png(), "image/png")}, follow_redirects=False)
    assert no_csrf.status_code == 403
    removed = await post_form(zc_client, f"{page_url}/media/{media.id}/delete")
    assert removed.status_code == 303

    archived = await post_form(zc_client, f"{page_url}/status", {"status": "archived"})
    assert archived.status_code == 303
    assert (await zc_client.get("/products/cold-brew-oolong")).status_code == 404
    drafts = await zc_client.get(f"{base}?status=archived")
    assert "Cold Brew Oolong Tea" in drafts.text


async def test_brand_owner_fulfils_refunds_and_decides_requests(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5, shipping=1000, title="Cold Brew")
    pot = await zc_make_product("tea-house", price=8900, stock=5, title="Solo Teapot")
    shopper = await zc_make_user()
    owner = await zc_make_user(brand=("tea-house", "owner"))
    (order,) = await paid_order(zc_runtime, shopper, (tea, 2), (pot, 1))
    await portal_login(zc_client, owner.email)
    base = "/creator/brands/tea-house/orders"

    listing = await zc_client.get(base)
    assert listing.status_code == 200 and order.number in listing.text and "To ship" in listing.text
    assert order.number in (await zc_client.get(base, params={"status": "paid"})).text
    assert order.number not in (await zc_client.get(base, params={"status": "fulfilled"})).text

    detail = await zc_client.get(f"{base}/{order.id}")
    assert detail.status_code == 200 and 'data-testid="fulfil-form"' in detail.text and 'data-testid="refund-form"' in detail.text
    assert "林小满" in detail.text

    missing = await post_form(zc_client, f"{base}/{order.id}/fulfil", {"carrier": "SF Express", "tracking_number": ""})
    assert missing.status_code == 422 and "tracking number" in missing.text and 'value="SF Express"' in missing.text
    shipped = await post_form(zc_client, f"{base}/{order.id}/fulfil", {"carrier": "SF Express", "tracking_number": "SF1234567890"})
    assert shipped.status_code == 303
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Order, order.id)).status == OrderStatus.FULFILLED
    assert (await stock(zc_runtime, tea.id)).on_hand == 3, "shipped units left the warehouse"
    detail = await zc_client.get(f"{base}/{order.id}")
    assert "SF1234567890" in detail.text and 'data-testid="fulfil-form"' not in detail.text

    # a direct partial refund, restocking the teapot line
    async with zc_runtime.db.read_session() as s:
        from core.orders import service as orders

        pot_line = next(ln for ln in await orders.lines_of(s, order.id) if ln.variant_id == pot.id)
    too_much = await post_form(zc_client, f"{base}/{order.id}/refund", {"amount": "9999", "reason": "oops"})
    assert too_much.status_code == 422
    refunded = await post_form(zc_client, f"{base}/{order.id}/refund", {"amount": "89.00", "reason": "teapot cracked", "restock": str(pot_line.id)})
    assert refunded.status_code == 303, refunded.text
    async with zc_runtime.db.read_session() as s:
        fresh = await s.get(Order, order.id)
        assert fresh.status == OrderStatus.PARTIALLY_REFUNDED and fresh.refunded_minor == 8900

    # the shopper asks for more; the brand approves part of one request and rejects another
    async with zc_runtime.db.session() as s:
        shopper_actor = await load_actor(s, shopper.id)
        first = await refunds.request_refund(s, zc_runtime, shopper_actor, order.id, amount_minor=2000, reason="one bag leaked")
        second = await refunds.request_refund(s, zc_runtime, shopper_actor, order.id, amount_minor=1000, reason="changed my mind")
        await s.commit()
    detail = await zc_client.get(f"{base}/{order.id}")
    assert "one bag leaked" in detail.text and detail.text.count('data-testid="approve-form"') == 2
    assert "Refund requested" in (await zc_client.get(base)).text
    approved = await post_form(zc_client, f"{base}/{order.id}/refunds/{first.id}/approve", {"amount": "15"})
    assert approved.status_code == 303, approved.text
    rejected = await post_form(zc_client, f"{base}/{order.id}/refunds/{second.id}/reject", {"note": "opened"})
    assert rejected.status_code == 303
    async with zc_runtime.db.read_session() as s:
        decided = {r.id: r for r in (await s.execute(select(Refund))).scalars()}
        assert decided[first.id].status == "succeeded" and decided[first.id].amount_minor == 1500
        assert decided[second.id].status == "rejected"
        assert (await s.get(Order, order.id)).refunded_minor == 8900 + 1500
    again = await post_form(zc_client, f"{base}/{order.id}/refunds/{second.id}/reject", {"note": "again"})
    assert again.status_code == 409

    # the history says who moved the order in words, and a refund in money: also a memo
    # stored before the refund service wrote money ("refund 7: 1500", in minor units)
    async with zc_runtime.db.session() as s:
        memo = OrderTransition.note.like(f"refund {first.id}:%")
        stored = (await s.execute(select(OrderTransition.note).where(OrderTransition.order_id == order.id, memo))).scalar_one()
        assert stored == f"refund {first.id}: ¥15.00"  # readable in the API and any other surface too
        await s.execute(update(OrderTransition).where(OrderTransition.order_id == order.id, memo).values(note=f"refund {first.id}: 1500"))
        await s.commit()

    def history(html: str) -> str:
        return html.split('data-testid="history"')[1].split("</section>")[0]

    shown = history((await zc_client.get(f"{base}/{order.id}")).text)
    actors = re.findall(r'data-testid="actor">([^<]*)<', shown)
    assert actors == ["Shopper", "Payment provider", "Staff", "Staff", "Staff"], actors
    memos = re.findall(r'data-testid="memo">([^<]*)<', shown)
    assert memos == ["Refund of ¥89.00", "Refund of ¥15.00"], memos
    zc_client.cookies.set("zc_lang", "zh-CN")
    shown = history((await zc_client.get(f"{base}/{order.id}")).text)
    assert "买家" in shown and "支付渠道" in shown and "退款 ¥15.00" in shown and "Staff" not in shown


async def test_brand_cancels_a_paid_order(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5)
    shopper = await zc_make_user()
    owner = await zc_make_user(brand=("tea-house", "owner"))
    (order,) = await paid_order(zc_runtime, shopper, (tea, 2))
    await portal_login(zc_client, owner.email)
    cancelled = await post_form(zc_client, f"/creator/brands/tea-house/orders/{order.id}/cancel", {"reason": "out of stock at the warehouse"})
    assert cancelled.status_code == 303, cancelled.text
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Order, order.id)).status == OrderStatus.CANCELLED
    snap = await stock(zc_runtime, tea.id)
    assert snap.available == 5 and snap.committed == 0
    page = await zc_client.get(f"/creator/brands/tea-house/orders/{order.id}")
    assert "Cancelled" in page.text and 'data-testid="cancel-form"' not in page.text
    twice = await post_form(zc_client, f"/creator/brands/tea-house/orders/{order.id}/cancel", {"reason": "again"})
    assert twice.status_code == 409


async def test_another_brands_owner_gets_404(zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, stock=5)
    await zc_make_product("lotus-lane", price=100, stock=1)
    shopper = await zc_make_user()
    await zc_make_user(brand=("tea-house", "owner"))
    rival = await zc_make_user(brand=("lotus-lane", "owner"))
    (order,) = await paid_order(zc_runtime, shopper, (tea, 1))
    await portal_login(zc_client, rival.email)
    html = {"accept": "text/html"}

    for path in (
        "/creator/brands/tea-house/products",
        "/creator/brands/tea-house/orders",
        f"/creator/brands/tea-house/orders/{order.id}",
        f"/creator/brands/tea-house/products/{tea.product_id}",
        f"/creator/brands/lotus-lane/orders/{order.id}",  # their own brand's URL, another brand's order
        f"/creator/brands/lotus-lane/products/{tea.product_id}",
        "/creator/brands/no-such-brand/orders",
    ):
        response = await zc_client.get(path, headers=html)
        assert response.status_code == 404, path
        assert 'data-testid="error-page"' in response.text and 'class="surface-portal"' in response.text
    for path, data in (
        (f"/creator/brands/tea-house/orders/{order.id}/fulfil", {"carrier": "SF", "tracking_number": "X1"}),
        (f"/creator/brands/lotus-lane/orders/{order.id}/fulfil", {"carrier": "SF", "tracking_number": "X1"}),
        (f"/creator/brands/lotus-lane/orders/{order.id}/refund", {"amount": "1"}),
        (f"/creator/brands/lotus-lane/orders/{order.id}/cancel", {}),
        (f"/creator/brands/tea-house/products/{tea.product_id}/variants/{tea.id}/stock", {"quantity": "100"}),
        (f"/creator/brands/lotus-lane/products/{tea.product_id}/status", {"status": "archived"}),
    ):
        assert (await post_form(zc_client, path, data, headers=html)).status_code == 404, path
    async with zc_runtime.db.read_session() as s:
        assert (await s.get(Order, order.id)).status == OrderStatus.PAID
    assert (await stock(zc_runtime, tea.id)).on_hand == 5

    # a shopper with no brand at all
    await post_form(zc_client, "/creator/logout")
    await portal_login(zc_client, shopper.email)
    assert (await zc_client.get("/creator/brands/tea-house/orders", headers=html)).status_code == 404


async def test_portal_pages_need_login(zc_client):
    response = await zc_client.get("/creator/brands/tea-house/orders", follow_redirects=False)
    assert response.status_code in (302, 303)
    assert response.headers["location"] == "/creator/login?next=/creator/brands/tea-house/orders"

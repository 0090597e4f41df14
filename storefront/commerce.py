"""Shopping pages: products, cart, checkout and payment, the shopper's orders.

Thin on purpose: the catalog, cart, checkout, payment and order services do the work
and keep the rules (prices, stock, permissions); these handlers read forms, call them,
and show what they return. Bad input re-renders the same page with the service's
message and its status code; nothing here computes a price.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from sqlalchemy import select

from core import forms
from core.auth.permissions import Actor
from core.catalog import service as catalog
from core.catalog.media import media_url
from core.catalog.models import Brand, Product, ProductMedia, Variant
from core.errors import DomainError, NotFound
from core.inventory import service as inventory
from core.orders import cart as carts
from core.orders import checkout as checkouts
from core.orders import refunds
from core.orders import service as orders
from core.orders.cookies import current_cart, keep_guest_cart
from core.orders.models import (
    MAX_LINE_QUANTITY,
    Cart,
    CartStatus,
    CheckoutStatus,
    OrderStatus,
    Refund,
)
from core.orders.views import cart_out, checkout_out, order_out, refund_out
from core.payments import service as payments
from core.payments.models import PaymentStatus
from core.web import GUEST_CACHE, login_required, render

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
FilterText = Annotated[str | None, Parameter(max_length=120)]
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]

PAGE_SIZE = 24
LOW_STOCK = 5
DEFAULT_COUNTRY = "CN"  # the address form's default, and the region cart totals are estimated for
SANDBOX_CARDS = [("4242 4242 4242 4242", "Succeeds"), ("4000 0000 0000 0002", "Declined"), ("4000 0000 0000 9995", "Declined: insufficient funds")]
ADDRESS_FIELDS = tuple(checkouts.ADDRESS_FIELDS)  # the address form's fields, as the core checks them

STATUS_LABELS = {
    OrderStatus.PENDING_PAYMENT: "Awaiting payment",
    OrderStatus.PAID: "Paid",
    OrderStatus.FULFILLED: "Shipped",
    OrderStatus.COMPLETED: "Received",
    OrderStatus.CANCELLED: "Cancelled",
    OrderStatus.PARTIALLY_REFUNDED: "Partially refunded",
    OrderStatus.REFUNDED: "Refunded",
}
REFUND_LABELS = {"requested": "Requested", "rejected": "Rejected", "approved": "Approved", "succeeded": "Refunded", "failed": "Failed"}


# ---------------------------------------------------------------- view helpers


def notice_url(path: str, notice: str, fragment: str = "") -> str:
    """Where to go after a change, with a message the page shows (and translates)."""
    return f"{path}?{urlencode({'notice': notice})}{fragment}"


def image_of(media: ProductMedia) -> dict[str, Any]:
    """URLs of an image and its resized copies, for <img src srcset>."""
    sizes = sorted(
        (int(s["width"]), media_url(s["path"])) for s in (media.sizes or {}).values() if isinstance(s, dict) and "path" in s and "width" in s
    )
    original = media_url(media.path)
    return {
        "src": sizes[-1][1] if sizes else original,
        "thumb": sizes[0][1] if sizes else original,
        "srcset": ", ".join(f"{url} {w}w" for w, url in sizes),
        "alt": media.alt,
        "width": media.width,
        "height": media.height,
    }


def product_card(view: catalog.ProductView, currency: str = carts.DEFAULT_CURRENCY) -> dict[str, Any]:
    price = view.price_from().get(currency)
    return {
        "slug": view.product.slug,
        "title": view.product.title,
        "brand_name": view.brand.name,
        "brand_slug": view.brand.slug,
        "image": image_of(view.media[0]) if view.media else None,
        "price": price,
        "several_prices": len({v.prices[currency].amount_minor for v in view.variants if currency in v.prices}) > 1,
        "currency": currency,
    }


def option_label(options: dict[str, Any]) -> str:
    return " · ".join(str(v) for v in options.values())


async def variant_info(session: AsyncSession, variant_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Title, product link and thumbnail per variant, for cart lines (even unsellable ones)."""
    if not variant_ids:
        return {}
    rows = (
        await session.execute(select(Variant, Product, Brand).join(Product, Product.id == Variant.product_id).join(Brand, Brand.id == Product.brand_id).where(Variant.id.in_(variant_ids)))
    ).all()
    product_ids = list({p.id for _v, p, _b in rows})
    thumbs: dict[int, dict[str, Any]] = {}
    if product_ids:
        for media in (await session.execute(select(ProductMedia).where(ProductMedia.product_id.in_(product_ids)).order_by(ProductMedia.position, ProductMedia.id))).scalars():
            thumbs.setdefault(media.product_id, image_of(media))
    return {
        v.id: {
            "title": p.title, "slug": p.slug, "sku": v.sku, "options": option_label(v.options or {}), "image": thumbs.get(p.id),
            "brand_slug": b.slug, "brand_name": b.name,
        }
        for v, p, b in rows
    }


async def brand_names(session: AsyncSession, brand_ids: set[int]) -> dict[int, Brand]:
    if not brand_ids:
        return {}
    return {b.id: b for b in (await session.execute(select(Brand).where(Brand.id.in_(brand_ids)))).scalars()}


def stripe_page_settings(runtime: Runtime) -> dict[str, Any] | None:
    """What the payment page needs for Stripe.js (None in the sandbox): the publishable key,
    where Stripe.js comes from, and whether to show "test mode"."""
    settings = runtime.settings
    if settings.payment_mode != "stripe":
        return None
    key = settings.stripe_publishable_key or ""
    provider = runtime.payment_providers.get("stripe")
    return {"publishable_key": key, "js_url": settings.stripe_js_url, "test_mode": key.startswith("pk_test_") or bool(getattr(provider, "test_mode", False))}


def problem(exc: DomainError) -> dict[str, Any]:
    return {"error": exc.detail, "errors": exc.extra.get("fields", {}), "problems": exc.extra.get("problems", [])}


# ---------------------------------------------------------------- controller


class CommercePages(Controller):
    path = "/"

    # -- catalogue

    @get("/products", opt={GUEST_CACHE: True})
    async def products(
        self, request: Request, session: AsyncSession, brand: FilterText = None, category: FilterText = None, tag: FilterText = None, page: PageNumber = 1
    ) -> Any:
        views = await catalog.list_active_products(session, brand_slug=brand, category_slug=category, tag=tag, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        filters: dict[str, Any] = {"brand": brand, "category": category, "tag": tag}
        heading_brand = heading_category = None
        if brand:
            try:
                heading_brand = await catalog.get_brand_by_slug(session, brand)
            except NotFound:
                heading_brand = None
        if category:
            try:
                heading_category = await catalog.get_category_by_slug(session, category)
            except NotFound:
                heading_category = None
        tree = await catalog.category_tree(session)
        chips = [(node.category, 0) for node in tree] + [(child.category, 1) for node in tree for child in node.children]
        chips.sort(key=lambda c: (c[0].position, c[1]))
        query = {k: v for k, v in filters.items() if v}
        return await render(
            request, "storefront/products.html",
            {
                "cards": [product_card(v) for v in views[:PAGE_SIZE]], "filters": filters, "filter_brand": heading_brand, "filter_category": heading_category,
                "categories": [c for c, _depth in chips], "page": page, "has_next": len(views) > PAGE_SIZE, "query": query,
            },
        )

    @get("/products/{slug:str}", opt={GUEST_CACHE: True})
    async def product(self, request: Request, slug: str, session: AsyncSession, variant: int | None = None) -> Any:
        return await self._product_page(request, session, slug, selected_id=variant)

    async def _product_page(
        self, request: Request, session: AsyncSession, slug: str, *, selected_id: int | None = None, error: str | None = None, quantity: str = "1", status_code: int = 200
    ) -> Any:
        view = await catalog.get_active_product(session, slug)
        currency = carts.DEFAULT_CURRENCY
        available = await inventory.available_by_variant(session, [v.variant.id for v in view.variants])
        variants = []
        for vv in view.variants:
            left = available.get(vv.variant.id, 0)
            price = vv.prices.get(currency)
            variants.append({
                "id": vv.variant.id, "label": option_label(vv.variant.options or {}) or vv.variant.sku, "options": vv.variant.options, "sku": vv.variant.sku,
                "price": price, "available": left, "sold_out": left <= 0 or price is None, "low": 0 < left <= LOW_STOCK,
            })
        selected = next((v for v in variants if v["id"] == selected_id), None) or next((v for v in variants if not v["sold_out"]), None) or (variants[0] if variants else None)
        return await render(
            request, "storefront/product.html",
            {
                "product": view, "images": [image_of(m) for m in view.media], "variants": variants, "selected": selected, "currency": currency,
                "error": error, "quantity": quantity, "max_quantity": MAX_LINE_QUANTITY,
            },
            status_code=status_code,
        )

    # -- cart

    @get("/cart")
    async def cart(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._cart_page(request, session, runtime, await current_cart(session, request, actor))

    async def _cart_page(self, request: Request, session: AsyncSession, runtime: Runtime, cart: Cart | None, *, error: str | None = None, status_code: int = 200) -> Any:
        ctx: dict[str, Any] = {"cart": None, "error": error, "region": DEFAULT_COUNTRY}
        if cart is not None:
            priced = await cart_out(session, cart, await carts.price_cart(session, runtime, cart, region=DEFAULT_COUNTRY))
            quantities = dict(await carts.cart_lines(session, cart.id))
            info = await variant_info(session, list(quantities))
            brands = await brand_names(session, {g.brand_id for g in priced.groups})
            ctx.update(
                cart=priced, info=info, brands=brands, quantities=quantities, available=await inventory.available_by_variant(session, list(quantities)),
                checkout=await checkouts.open_checkout_of(session, cart.id) if cart.status == CartStatus.CHECKING_OUT else None,
                empty=not quantities,
            )
        return await render(request, "storefront/cart.html", ctx, status_code=status_code)

    @post("/cart/lines")
    async def add_to_cart(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        slug = forms.text(data, "product")
        raw_variant, raw_quantity = forms.text(data, "variant_id"), forms.text(data, "quantity") or "1"
        created = None
        try:
            variant_id = forms.whole_number(raw_variant, "the variant") if raw_variant else None
            if variant_id is None or variant_id < 1:
                raise NotFound("choose an option first")
            quantity = forms.whole_number(raw_quantity)
            cart = await current_cart(session, request, actor)
            if cart is None:
                cart = created = await carts.new_cart(session, user_id=actor.user_id if actor else None)
            await carts.set_line(session, cart, variant_id=variant_id, quantity=quantity, add=True)
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            if not slug:
                slug = await self._slug_of_variant(session, raw_variant)
            status = 422 if isinstance(exc, NotFound) else exc.status_code  # the page exists; the choice was wrong
            return await self._product_page(
                request, session, slug, selected_id=int(raw_variant) if raw_variant.isdigit() and len(raw_variant) < 18 else None,
                error=exc.detail, quantity=raw_quantity[:6], status_code=status,
            )
        response = Redirect("/checkout" if forms.text(data, "then") == "checkout" else "/cart", status_code=303)  # "Buy now" goes straight on
        if created is not None and actor is None:
            keep_guest_cart(response, request, created)
        return response

    # -- creator codes on the cart

    @post("/cart/codes")
    async def apply_code(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._change_codes(request, session, runtime, actor, forms.text(data, "code"), remove=False)

    @post("/cart/codes/{code:str}/remove")
    async def remove_code(self, request: Request, code: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._change_codes(request, session, runtime, actor, code, remove=True)

    async def _change_codes(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, code: str, *, remove: bool) -> Any:
        from core.campaigns import attribution

        cart = await current_cart(session, request, actor)
        if cart is None:
            return Redirect("/cart", status_code=303)
        try:
            if remove:
                await attribution.remove_code(session, cart, code)
            else:
                await attribution.apply_code(session, cart, code)
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            return await self._cart_page(request, session, runtime, await current_cart(session, request, actor), error=exc.detail, status_code=exc.status_code)
        return Redirect("/cart", status_code=303)

    async def _slug_of_variant(self, session: AsyncSession, raw: str) -> str:
        if not raw.isdigit() or len(raw) > 18:
            raise NotFound("no such product")
        slug = (await session.execute(select(Product.slug).join(Variant, Variant.product_id == Product.id).where(Variant.id == int(raw)))).scalar_one_or_none()
        if slug is None:
            raise NotFound("no such product")
        return slug

    @post("/cart/lines/{variant_id:int}")
    async def update_line(self, request: Request, variant_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._change_line(request, session, runtime, actor, variant_id, forms.text(data, "quantity"))

    @post("/cart/lines/{variant_id:int}/remove")
    async def remove_line(self, request: Request, variant_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._change_line(request, session, runtime, actor, variant_id, "0")

    async def _change_line(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None, variant_id: int, raw_quantity: str) -> Any:
        cart = await current_cart(session, request, actor)
        if cart is None:
            return Redirect("/cart", status_code=303)
        try:
            await carts.set_line(session, cart, variant_id=variant_id, quantity=forms.whole_number(raw_quantity))
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            return await self._cart_page(request, session, runtime, await current_cart(session, request, actor), error=exc.detail, status_code=exc.status_code)
        return Redirect("/cart", status_code=303)

    # -- checkout

    @get("/checkout")
    async def checkout(self, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        cart = await current_cart(session, request, actor)
        if cart is None or not await carts.cart_lines(session, cart.id):
            return Redirect("/cart", status_code=303)
        if cart.status == CartStatus.CHECKING_OUT:
            open_checkout = await checkouts.open_checkout_of(session, cart.id)
            if open_checkout is not None:
                return Redirect(f"/checkout/{open_checkout.token}", status_code=303)
        address = await orders.last_address(session, actor.user_id if actor else None, country=DEFAULT_COUNTRY)
        return await self._address_page(request, session, runtime, cart, address=address, email="")

    async def _address_page(
        self, request: Request, session: AsyncSession, runtime: Runtime, cart: Cart, *, address: dict[str, str], email: str,
        failure: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        priced = await cart_out(session, cart, await carts.price_cart(session, runtime, cart, region=DEFAULT_COUNTRY))
        quantities = dict(await carts.cart_lines(session, cart.id))
        info = await variant_info(session, list(quantities))
        failure = failure or {"error": None, "errors": {}, "problems": []}
        return await render(
            request, "storefront/checkout.html",
            {"step": "address", "cart": priced, "info": info, "address": address, "email": email, "region": DEFAULT_COUNTRY, **failure},
            status_code=status_code,
        )

    @post("/checkout")
    async def start_checkout(self, request: Request, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        address = {k: forms.text(data, k) for k in ADDRESS_FIELDS}
        email = forms.text(data, "email")
        cart = await current_cart(session, request, actor)
        if cart is None:
            return Redirect("/cart", status_code=303)
        try:
            from core.campaigns.attribution import VISITOR_COOKIE, remember_visitor

            await remember_visitor(session, cart, request.cookies.get(VISITOR_COOKIE))  # tracked-link clicks count for this checkout
            started = await checkouts.start_checkout(session, runtime, cart, actor, email=email or None, address=address)
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            failure = problem(exc)
            variant_id = exc.extra.get("variant_id")
            cart = await current_cart(session, request, actor)
            if cart is None:
                return Redirect("/cart", status_code=303)
            if isinstance(variant_id, int):
                item = (await variant_info(session, [variant_id])).get(variant_id)
                if item:
                    failure["item"] = f"{item['title']} ({item['options'] or item['sku']})"
            return await self._address_page(request, session, runtime, cart, address=address, email=email, failure=failure, status_code=exc.status_code)
        return Redirect(f"/checkout/{started.token}", status_code=303)

    @get("/checkout/{token:str}")
    async def payment(self, request: Request, token: str, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._payment_page(request, runtime, token, actor)

    async def _payment_page(
        self, request: Request, runtime: Runtime, token: str, actor: Actor | None, *, error: str | None = None, status_code: int = 200,
        authenticate: dict[str, Any] | None = None,
    ) -> Any:
        async with runtime.db.read_session() as session:
            found = await checkouts.get_checkout(session, token, actor)
            if found.status == CheckoutStatus.PAID:  # also after a double submit: the first one paid
                return Redirect(f"/checkout/{token}/done", status_code=303)
            if found.return_path and (found.status != CheckoutStatus.OPEN or await payments.is_authorized(session, found.id)):
                return Redirect(found.return_path, status_code=303)  # a plugin's purchase (a team's): its page tells what comes next
            out = await checkout_out(session, found)
            brands = await brand_names(session, {o.brand_id for o in out.orders})
        return await render(
            request, "storefront/checkout.html",
            {
                "step": "pay", "checkout": out, "brands": brands, "test_cards": SANDBOX_CARDS, "error": error, "address": found.address, "status_labels": STATUS_LABELS,
                "stripe": stripe_page_settings(runtime), "authenticate": authenticate if found.status == CheckoutStatus.OPEN else None,
            },
            status_code=status_code,
        )

    @post("/checkout/{token:str}/pay")
    async def pay(self, request: Request, token: str, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        """The sandbox card number, or (Stripe) the PaymentMethod id stripe-pay.js put in the form."""
        try:
            payment = await payments.pay(runtime, token, actor, payment_method=forms.text(data, "card"))
        except NotFound:
            raise
        except DomainError as exc:  # declined (402), closed meanwhile (409), no card (422), provider down (502)
            return await self._payment_page(request, runtime, token, actor, error=exc.detail, status_code=exc.status_code)
        if payment.status == PaymentStatus.REQUIRES_ACTION:  # 3-D Secure: the bank wants the shopper first
            return Redirect(f"/checkout/{token}/authenticate", status_code=303)
        return Redirect(f"/checkout/{token}/done", status_code=303)  # authorized only (a team purchase): the payment page sends it on

    @get("/checkout/{token:str}/authenticate")
    async def authenticate(self, request: Request, token: str, runtime: Runtime, actor: Actor | None) -> Any:
        """The payment waits for 3-D Secure: the page hands the intent's client secret to
        Stripe.js (this shopper's own checkout only), then posts to /confirm."""
        return await self._after_action(request, runtime, token, actor, autostart=True)

    @post("/checkout/{token:str}/confirm")
    async def confirm(self, request: Request, token: str, runtime: Runtime, actor: Actor | None) -> Any:
        """After 3-D Secure in the browser: ask the provider how it ended and record it."""
        return await self._after_action(request, runtime, token, actor, autostart=False)

    async def _after_action(self, request: Request, runtime: Runtime, token: str, actor: Actor | None, *, autostart: bool) -> Any:
        try:
            _payment, intent = await payments.refresh_payment(runtime, token, actor)
        except NotFound:
            raise
        except DomainError as exc:  # declined or authentication failed (402), nothing to confirm (409), provider down (502)
            return await self._payment_page(request, runtime, token, actor, error=exc.detail, status_code=exc.status_code)
        if intent is not None and intent.action_required and intent.client_secret:
            page = await self._payment_page(
                request, runtime, token, actor, authenticate={"client_secret": intent.client_secret, "autostart": autostart},
                error=None if autostart else "Your bank has not confirmed the payment yet.", status_code=200 if autostart else 409,
            )
            page.headers["Cache-Control"] = "no-store"  # it carries the intent's client secret
            return page
        return Redirect(f"/checkout/{token}/done", status_code=303)  # the done page sends an unpaid checkout back to the payment page

    @post("/checkout/{token:str}/cancel")
    async def cancel(self, request: Request, token: str, runtime: Runtime, actor: Actor | None) -> Any:
        try:
            cancelled = await checkouts.cancel_checkout(runtime, token, actor)
        except NotFound:
            raise
        except DomainError as exc:  # paid meanwhile
            return await self._payment_page(request, runtime, token, actor, error=exc.detail, status_code=exc.status_code)
        if cancelled.return_path:  # a plugin's purchase: back to its page
            return Redirect(notice_url(cancelled.return_path, "Payment cancelled."), status_code=303)
        return Redirect(notice_url("/cart", "Checkout cancelled: the items are back in your cart."), status_code=303)

    @get("/checkout/{token:str}/done")
    async def done(self, request: Request, token: str, session: AsyncSession, actor: Actor | None) -> Any:
        found = await checkouts.get_checkout(session, token, actor)
        if found.status != CheckoutStatus.PAID:
            return Redirect(f"/checkout/{token}", status_code=303)
        out = await checkout_out(session, found)
        brands = await brand_names(session, {o.brand_id for o in out.orders})
        return await render(request, "storefront/checkout_done.html", {"checkout": out, "brands": brands, "status_labels": STATUS_LABELS})

    # -- the shopper's orders

    @get("/account/orders", guards=[login_required])
    async def my_orders(self, request: Request, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        assert actor is not None
        found = await orders.orders_of_user(session, actor.user_id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        outs = [await order_out(session, o, detail=False) for o in found[:PAGE_SIZE]]
        brands = await brand_names(session, {o.brand_id for o in outs})
        return await render(request, "storefront/orders.html", {"orders": outs, "brands": brands, "status_labels": STATUS_LABELS, "page": page, "has_next": len(found) > PAGE_SIZE})

    @get("/account/orders/{order_id:int}", guards=[login_required])
    async def my_order(self, request: Request, order_id: int, session: AsyncSession, actor: Actor | None) -> Any:
        return await self._order_page(request, session, actor, order_id)

    async def _own_order(self, session: AsyncSession, actor: Actor | None, order_id: int):
        order = await orders.get_order_for(session, actor, order_id)
        if actor is None or order.user_id != actor.user_id:  # brand staff see orders in the portal
            raise NotFound("no such order")
        return order

    async def _order_page(
        self, request: Request, session: AsyncSession, actor: Actor | None, order_id: int, *, error: str | None = None, form: dict[str, str] | None = None, status_code: int = 200
    ) -> Any:
        order = await self._own_order(session, actor, order_id)
        out = await order_out(session, order)
        rows = await session.execute(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
        brand = (await brand_names(session, {order.brand_id})).get(order.brand_id)
        info = await variant_info(session, [ln.variant_id for ln in out.lines])
        return await render(
            request, "storefront/order.html",
            {
                "order": out, "brand": brand, "info": info, "refunds": [refund_out(r) for r in rows.scalars()], "status_labels": STATUS_LABELS,
                "refund_labels": REFUND_LABELS, "can_complete": out.status == OrderStatus.FULFILLED, "can_refund": out.status in refunds.REFUNDABLE and out.refunded_minor < out.total_minor,
                "error": error, "form": form or {},
            },
            status_code=status_code,
        )

    @post("/account/orders/{order_id:int}/complete", guards=[login_required])
    async def confirm_received(self, request: Request, order_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        await self._own_order(session, actor, order_id)
        try:
            await orders.complete(session, runtime, actor, order_id)
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            return await self._order_page(request, session, actor, order_id, error=exc.detail, status_code=exc.status_code)
        return Redirect(notice_url(f"/account/orders/{order_id}", "Thanks for confirming!"), status_code=303)

    @post("/account/orders/{order_id:int}/refund", guards=[login_required])
    async def ask_refund(self, request: Request, order_id: int, data: Form, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        order = await self._own_order(session, actor, order_id)
        form = {"amount": forms.text(data, "amount"), "reason": forms.text(data, "reason")}
        try:
            amount = forms.amount_minor(form["amount"], order.currency) if form["amount"].strip() else None
            await refunds.request_refund(session, runtime, actor, order_id, amount_minor=amount, reason=form["reason"])
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            return await self._order_page(request, session, actor, order_id, error=exc.detail, form=form, status_code=exc.status_code)
        return Redirect(notice_url(f"/account/orders/{order_id}", "Refund requested: the brand will decide soon."), status_code=303)

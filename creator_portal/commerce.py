"""Brand staff pages: the brand's products (variants, prices, stock, images) and orders
(fulfil, refund, refund requests, cancel).

Every page sits under `/creator/brands/{slug}`; a brand the signed-in user is not a
member of is "not found", exactly like a missing one, and so is a product or an order
of another brand. The catalog, inventory and order services keep the rules; these
handlers read forms, call them and show what they return.
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect
from sqlalchemy import select

from core.auth.permissions import Actor, can_act_for_brand
from core.catalog import media as media_service
from core.catalog import service as catalog
from core.catalog.media import media_url
from core.catalog.models import Brand, Product, ProductStatus
from core.errors import DomainError, NotFound, ValidationFailed
from core.inventory import service as inventory
from core.orders import refunds
from core.orders import service as orders
from core.orders.cart import DEFAULT_CURRENCY
from core.orders.models import Order, OrderStatus, Refund, RefundStatus
from core.orders.views import order_out, refund_out
from core.web import login_required, render
from core import forms
from creator_portal.translations import ACTOR_LABELS

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
Upload = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
StatusFilter = Annotated[str | None, Parameter(max_length=20)]
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]
UPLOAD_BODY_LIMIT = media_service.MAX_UPLOAD_BYTES + 64 * 1024
PAGE_SIZE = 50

ORDER_STATUSES = [
    (OrderStatus.PAID, "To ship"),
    (OrderStatus.FULFILLED, "Shipped"),
    (OrderStatus.COMPLETED, "Received"),
    (OrderStatus.PARTIALLY_REFUNDED, "Partially refunded"),
    (OrderStatus.REFUNDED, "Refunded"),
    (OrderStatus.CANCELLED, "Cancelled"),
    (OrderStatus.PENDING_PAYMENT, "Awaiting payment"),
]
STATUS_LABELS = dict(ORDER_STATUSES)
HISTORY_LABELS = {**STATUS_LABELS, OrderStatus.PAID: "Paid"}  # in the history, "paid" is an event, not a to-do
PRODUCT_STATUSES = [(ProductStatus.DRAFT.value, "Draft"), (ProductStatus.ACTIVE.value, "Active"), (ProductStatus.ARCHIVED.value, "Archived")]
STATUS_ACTIONS = {ProductStatus.ACTIVE.value: "Publish", ProductStatus.ARCHIVED.value: "Archive", ProductStatus.DRAFT.value: "Back to draft"}
REFUND_LABELS = {"requested": "Requested", "rejected": "Rejected", "approved": "Approved", "succeeded": "Refunded", "failed": "Failed"}
_SPLIT = re.compile(r"[,，、\n]")


def notice_url(path: str, notice: str, fragment: str = "") -> str:
    """Where to go after a change, with a message the page shows (and translates)."""
    return f"{path}?{urlencode({'notice': notice})}{fragment}"


def _list(raw: str) -> list[str]:
    return [part.strip() for part in _SPLIT.split(raw) if part.strip()]


async def my_brand(session: AsyncSession, actor: Actor | None, slug: str) -> Brand:
    """The brand, if the actor is on its staff; otherwise 404 (never 403: slugs leak nothing)."""
    brand = await catalog.get_brand_by_slug(session, slug)
    if not can_act_for_brand(actor, brand.id):
        raise NotFound(f"no brand {slug!r}")
    return brand


def image_of(media: Any) -> dict[str, Any]:
    sizes = sorted((int(s["width"]), media_url(s["path"])) for s in (media.sizes or {}).values() if isinstance(s, dict) and "path" in s and "width" in s)
    return {"id": media.id, "thumb": sizes[0][1] if sizes else media_url(media.path), "src": media_url(media.path), "alt": media.alt}


async def flat_categories(session: AsyncSession) -> list[tuple[Any, int]]:
    out: list[tuple[Any, int]] = []

    def walk(nodes: list[catalog.CategoryNode], depth: int) -> None:
        for node in nodes:
            out.append((node.category, depth))
            walk(node.children, depth + 1)

    walk(await catalog.category_tree(session), 0)
    return out


def _category_id(raw: str) -> int | None:
    if not raw.strip():
        return None
    return forms.whole_number(raw, "category")


def _failure(exc: DomainError, which: str) -> dict[str, Any]:
    return {"error": exc.detail, "failed": which}


# ---------------------------------------------------------------- products


class BrandProductPages(Controller):
    path = "/brands/{slug:str}/products"
    guards = [login_required]

    @get("/")
    async def products(self, request: Request, slug: str, session: AsyncSession, actor: Actor | None, status: StatusFilter = None) -> Any:
        return await self._list_page(request, session, actor, slug, status=status)

    async def _list_page(
        self, request: Request, session: AsyncSession, actor: Actor | None, slug: str, *, status: str | None = None,
        form: dict[str, str] | None = None, error: str | None = None, status_code: int = 200,
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        if status not in dict(PRODUCT_STATUSES):
            status = None
        views = await catalog.list_brand_products(session, actor, brand.id, status=status, limit=200)
        variant_ids = [vv.variant.id for v in views for vv in v.variants]
        available = await inventory.available_by_variant(session, variant_ids) if variant_ids else {}
        rows = [
            {
                "view": v, "image": image_of(v.media[0]) if v.media else None, "price": v.price_from().get(DEFAULT_CURRENCY),
                "variants": len(v.variants), "available": sum(available.get(vv.variant.id, 0) for vv in v.variants),
            }
            for v in views
        ]
        return await render(
            request, "portal/products.html",
            {
                "brand": brand, "rows": rows, "status": status, "product_statuses": PRODUCT_STATUSES, "categories": await flat_categories(session),
                "form": form or {}, "error": error, "currency": DEFAULT_CURRENCY, "section": "products",
            },
            status_code=status_code,
        )

    @post("/")
    async def create(self, request: Request, slug: str, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        form = {k: forms.text(data, k) for k in ("title", "slug", "description", "category_id", "tags", "option_names")}
        try:
            product = await catalog.create_product(
                session, actor, brand.id, slug=form["slug"].strip().lower(), title=form["title"], description=form["description"],
                category_id=_category_id(form["category_id"]), tags=_list(form["tags"]), option_names=_list(form["option_names"]),
            )
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            return await self._list_page(request, session, actor, slug, form=form, error=exc.detail, status_code=exc.status_code)
        return Redirect(notice_url(f"/creator/brands/{slug}/products/{product.id}", "Product created as a draft: add a variant with a price, then publish it."), status_code=303)

    # -- one product

    async def _owned(self, session: AsyncSession, actor: Actor | None, brand: Brand, product_id: int) -> Product:
        product = await catalog.get_owned_product(session, actor, product_id)
        if product.brand_id != brand.id:
            raise NotFound(f"no product {product_id}")
        return product

    @get("/{product_id:int}")
    async def product(self, request: Request, slug: str, product_id: int, session: AsyncSession, actor: Actor | None) -> Any:
        return await self._product_page(request, session, actor, slug, product_id)

    async def _product_page(
        self, request: Request, session: AsyncSession, actor: Actor | None, slug: str, product_id: int, *,
        error: str | None = None, failed: str | None = None, form: dict[str, str] | None = None, status_code: int = 200,
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._owned(session, actor, brand, product_id)
        view = await catalog.get_owned_product_view(session, actor, product_id)
        variants = []
        stock = await inventory.snapshots(session, [vv.variant.id for vv in view.variants])
        for vv in view.variants:
            snap = stock[vv.variant.id]
            price = vv.prices.get(DEFAULT_CURRENCY)
            variants.append({
                "variant": vv.variant, "price": price, "stock": snap,
                "amount": forms.major(price.amount_minor, DEFAULT_CURRENCY) if price else "",
                "compare_at": forms.major(price.compare_at_minor, DEFAULT_CURRENCY) if price and price.compare_at_minor is not None else "",
                "label": " · ".join(str(x) for x in (vv.variant.options or {}).values()),
            })
        product = view.product
        by_location = await inventory.stock_by_location(session, [v["variant"].id for v in variants])
        return await render(
            request, "portal/product_edit.html",
            {
                "locations": await inventory.locations_of(session, brand.id), "by_location": by_location,
                "brand": brand, "view": view, "product": product, "variants": variants, "images": [image_of(m) for m in view.media],
                "categories": await flat_categories(session), "next_statuses": sorted(catalog.STATUS_TRANSITIONS[product.status]),
                "status_actions": STATUS_ACTIONS, "product_statuses": dict(PRODUCT_STATUSES), "currency": DEFAULT_CURRENCY,
                "error": error, "failed": failed, "form": form or {}, "section": "products", "max_upload_mb": media_service.MAX_UPLOAD_BYTES // (1024 * 1024),
            },
            status_code=status_code,
        )

    async def _after(self, request: Request, session: AsyncSession, actor: Actor | None, slug: str, product_id: int, which: str, form: dict[str, str] | None, work: Any) -> Any:
        """Run a change; commit and go back to the product, or re-render it with the message."""
        try:
            await work()
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            return await self._product_page(request, session, actor, slug, product_id, error=exc.detail, failed=which, form=form, status_code=exc.status_code)
        return Redirect(notice_url(f"/creator/brands/{slug}/products/{product_id}", "Saved.", f"#{which}"), status_code=303)

    @post("/{product_id:int}")
    async def update(self, request: Request, slug: str, product_id: int, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        product = await self._owned(session, actor, brand, product_id)
        form = {k: forms.text(data, k) for k in ("title", "slug", "description", "category_id", "tags", "option_names")}

        async def work() -> None:
            changes: dict[str, Any] = {
                "title": form["title"], "slug": form["slug"].strip().lower(), "description": form["description"],
                "category_id": _category_id(form["category_id"]), "tags": _list(form["tags"]),
            }
            names = _list(form["option_names"])
            if names != list(product.option_names):
                changes["option_names"] = names
            await catalog.update_product(session, actor, product_id, **changes)

        return await self._after(request, session, actor, slug, product_id, "details", form, work)

    @post("/{product_id:int}/status")
    async def set_status(self, request: Request, slug: str, product_id: int, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._owned(session, actor, brand, product_id)

        async def work() -> None:
            await catalog.set_product_status(session, actor, product_id, forms.text(data, "status"))

        return await self._after(request, session, actor, slug, product_id, "status", None, work)

    @post("/{product_id:int}/variants")
    async def add_variant(self, request: Request, slug: str, product_id: int, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        product = await self._owned(session, actor, brand, product_id)
        form = {k: forms.text(data, k) for k in ("sku", "amount", "compare_at", "weight_grams", "stock")}
        options = {name: forms.text(data, f"option_{i}") for i, name in enumerate(product.option_names)}
        form.update({f"option_{i}": v for i, v in enumerate(options.values())})

        async def work() -> None:
            weight = forms.whole_number(form["weight_grams"], "weight") if form["weight_grams"].strip() else 0
            amount = forms.amount_minor(form["amount"], DEFAULT_CURRENCY)
            compare_at = forms.amount_minor(form["compare_at"], DEFAULT_CURRENCY) if form["compare_at"].strip() else None
            stock = forms.whole_number(form["stock"], "stock") if form["stock"].strip() else 0
            if stock < 0:
                raise ValidationFailed("starting stock cannot be negative")
            variant = await catalog.create_variant(session, actor, product_id, sku=form["sku"].strip(), options=options, weight_grams=weight)
            await catalog.set_variant_price(session, actor, variant.id, DEFAULT_CURRENCY, amount, compare_at)
            if stock:
                location = await inventory.ensure_location(session, brand.id)
                await inventory.receive_stock(session, variant_id=variant.id, location_id=location.id, quantity=stock)

        return await self._after(request, session, actor, slug, product_id, "variants", form, work)

    @post("/{product_id:int}/variants/{variant_id:int}")
    async def update_variant(self, request: Request, slug: str, product_id: int, variant_id: int, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._owned(session, actor, brand, product_id)
        variant, owner = await catalog.get_owned_variant(session, actor, variant_id)
        if owner.id != product_id:
            raise NotFound(f"no variant {variant_id}")
        form = {k: forms.text(data, k) for k in ("amount", "compare_at")}

        async def work() -> None:
            amount = forms.amount_minor(form["amount"], DEFAULT_CURRENCY)
            compare_at = forms.amount_minor(form["compare_at"], DEFAULT_CURRENCY) if form["compare_at"].strip() else None
            await catalog.set_variant_price(session, actor, variant_id, DEFAULT_CURRENCY, amount, compare_at)
            await catalog.update_variant(session, actor, variant_id, is_active=forms.text(data, "is_active") == "1")

        return await self._after(request, session, actor, slug, product_id, f"variant-{variant_id}", form, work)

    @post("/{product_id:int}/variants/{variant_id:int}/stock")
    async def receive(self, request: Request, slug: str, product_id: int, variant_id: int, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._owned(session, actor, brand, product_id)
        _variant, owner = await catalog.get_owned_variant(session, actor, variant_id)
        if owner.id != product_id:
            raise NotFound(f"no variant {variant_id}")

        async def work() -> None:
            quantity = forms.whole_number(forms.text(data, "quantity"))
            chosen = forms.text(data, "location_id").strip()  # the stock page's locations; none yet: the main one
            location = await inventory.location_of_brand(session, brand.id, int(chosen) if chosen.isdigit() else None) if chosen else await inventory.ensure_location(session, brand.id)
            await inventory.receive_stock(session, variant_id=variant_id, location_id=location.id, quantity=quantity)

        return await self._after(request, session, actor, slug, product_id, f"variant-{variant_id}", None, work)

    @post("/{product_id:int}/media", request_max_body_size=UPLOAD_BODY_LIMIT)
    async def upload(self, request: Request, slug: str, product_id: int, data: Upload, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._owned(session, actor, brand, product_id)
        upload = data.get("file")
        alt = data.get("alt") if isinstance(data.get("alt"), str) else ""
        item = None
        try:
            if not isinstance(upload, UploadFile):
                raise ValidationFailed("choose an image file")
            raw = await upload.read(media_service.MAX_UPLOAD_BYTES + 1)
            prepared = await asyncio.to_thread(media_service.prepare_image, raw)
            item = await media_service.add_product_media(session, runtime.settings, actor, product_id, prepared, alt=alt)
            await session.commit()
        except DomainError as exc:
            await session.rollback()
            if item is not None:
                await media_service.remove_media_files(runtime.settings, item)
            return await self._product_page(request, session, actor, slug, product_id, error=exc.detail, failed="images", status_code=exc.status_code)
        return Redirect(notice_url(f"/creator/brands/{slug}/products/{product_id}", "Image added.", "#images"), status_code=303)

    @post("/{product_id:int}/media/{media_id:int}/delete")
    async def delete_image(self, request: Request, slug: str, product_id: int, media_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> Any:
        brand = await my_brand(session, actor, slug)
        await self._owned(session, actor, brand, product_id)
        media = await media_service.get_owned_media(session, actor, media_id)
        if media.product_id != product_id:
            raise NotFound(f"no media {media_id}")
        item = await media_service.delete_product_media(session, actor, media_id)
        await session.commit()
        await media_service.remove_media_files(runtime.settings, item)
        return Redirect(notice_url(f"/creator/brands/{slug}/products/{product_id}", "Image removed.", "#images"), status_code=303)


# ---------------------------------------------------------------- orders


class BrandOrderPages(Controller):
    """Order handlers open their own sessions: refunds and cancellation call the payment
    provider between transactions, so no session may be held open around them."""

    path = "/brands/{slug:str}/orders"
    guards = [login_required]

    @get("/")
    async def orders(self, request: Request, slug: str, runtime: Runtime, actor: Actor | None, status: StatusFilter = None, page: PageNumber = 1) -> Any:
        async with runtime.db.read_session() as session:
            brand = await my_brand(session, actor, slug)
            if status not in STATUS_LABELS:
                status = None
            found = await orders.orders_of_brand(session, actor, brand.id, status, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
            outs = [await order_out(session, o) for o in found[:PAGE_SIZE]]
            requested = set(
                (await session.execute(select(Refund.order_id).where(Refund.order_id.in_([o.id for o in outs]), Refund.status == RefundStatus.REQUESTED))).scalars()
            ) if outs else set()
        return await render(
            request, "portal/orders.html",
            {
                "brand": brand, "orders": outs, "status": status, "statuses": ORDER_STATUSES, "status_labels": STATUS_LABELS, "requested": requested,
                "page": page, "has_next": len(found) > PAGE_SIZE, "section": "orders",
            },
        )

    async def _order_page(
        self, request: Request, runtime: Runtime, actor: Actor | None, slug: str, order_id: int, *,
        error: str | None = None, failed: str | None = None, form: dict[str, Any] | None = None, status_code: int = 200,
    ) -> Any:
        async with runtime.db.read_session() as session:
            brand, order = await self._brand_order(session, actor, slug, order_id)
            out = await order_out(session, order)
            rows = await session.execute(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
            refund_list = [refund_out(r) for r in rows.scalars()]
        return await render(
            request, "portal/order.html",
            {
                "brand": brand, "order": out, "refunds": refund_list, "status_labels": STATUS_LABELS, "history_labels": HISTORY_LABELS, "refund_labels": REFUND_LABELS,
                "actor_labels": ACTOR_LABELS, "shopper_id": order.user_id,
                "can_fulfil": out.status in (OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED) and not out.tracking_number,
                "can_refund": out.status in refunds.REFUNDABLE and out.refunded_minor < out.total_minor,
                "can_cancel": out.status == OrderStatus.PAID,
                "error": error, "failed": failed, "form": form or {}, "section": "orders",
            },
            status_code=status_code,
        )

    async def _brand_order(self, session: AsyncSession, actor: Actor | None, slug: str, order_id: int) -> tuple[Brand, Order]:
        brand = await my_brand(session, actor, slug)
        order = await orders.get_order_for(session, actor, order_id)
        if order.brand_id != brand.id:
            raise NotFound("no such order")
        return brand, order

    async def _check(self, runtime: Runtime, actor: Actor | None, slug: str, order_id: int) -> Order:
        async with runtime.db.read_session() as session:
            return (await self._brand_order(session, actor, slug, order_id))[1]

    @get("/{order_id:int}")
    async def order(self, request: Request, slug: str, order_id: int, runtime: Runtime, actor: Actor | None) -> Any:
        return await self._order_page(request, runtime, actor, slug, order_id)

    async def _do(self, request: Request, runtime: Runtime, actor: Actor | None, slug: str, order_id: int, which: str, form: dict[str, Any], work: Any, notice: str) -> Any:
        try:
            await work()
        except NotFound:
            raise
        except DomainError as exc:
            return await self._order_page(request, runtime, actor, slug, order_id, error=exc.detail, failed=which, form=form, status_code=exc.status_code)
        return Redirect(notice_url(f"/creator/brands/{slug}/orders/{order_id}", notice), status_code=303)

    @post("/{order_id:int}/fulfil")
    async def fulfil(self, request: Request, slug: str, order_id: int, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        await self._check(runtime, actor, slug, order_id)
        form = {"carrier": forms.text(data, "carrier"), "tracking_number": forms.text(data, "tracking_number")}

        async def work() -> None:
            async with runtime.db.session() as session:
                await orders.fulfil(session, runtime, actor, order_id, carrier=form["carrier"], tracking_number=form["tracking_number"])
                await session.commit()

        return await self._do(request, runtime, actor, slug, order_id, "fulfil", form, work, "Marked as shipped.")

    @post("/{order_id:int}/refund")
    async def refund(self, request: Request, slug: str, order_id: int, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        order = await self._check(runtime, actor, slug, order_id)
        form = {"amount": forms.text(data, "amount"), "reason": forms.text(data, "reason"), "restock": forms.values(data, "restock")}

        async def work() -> None:
            amount = forms.amount_minor(form["amount"], order.currency)
            await refunds.refund_directly(runtime, actor, order_id, amount_minor=amount, reason=form["reason"], restock_line_ids=forms.ids(form["restock"]))

        return await self._do(request, runtime, actor, slug, order_id, "refund", form, work, "Refunded.")

    @post("/{order_id:int}/cancel")
    async def cancel(self, request: Request, slug: str, order_id: int, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        await self._check(runtime, actor, slug, order_id)
        form = {"reason": forms.text(data, "reason")}

        async def work() -> None:
            await refunds.cancel_paid_order(runtime, actor, order_id, reason=form["reason"].strip()[:2000])

        return await self._do(request, runtime, actor, slug, order_id, "cancel", form, work, "Order cancelled and refunded in full.")

    async def _refund_of(self, runtime: Runtime, order_id: int, refund_id: int) -> Refund:
        async with runtime.db.read_session() as session:
            found = await session.get(Refund, refund_id)
        if found is None or found.order_id != order_id:
            raise NotFound("no such refund")
        return found

    @post("/{order_id:int}/refunds/{refund_id:int}/approve")
    async def approve(self, request: Request, slug: str, order_id: int, refund_id: int, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        order = await self._check(runtime, actor, slug, order_id)
        await self._refund_of(runtime, order_id, refund_id)
        form = {"amount": forms.text(data, "amount"), "restock": forms.values(data, "restock")}

        async def work() -> None:
            amount = forms.amount_minor(form["amount"], order.currency) if form["amount"].strip() else None
            await refunds.approve_refund(runtime, actor, refund_id, amount_minor=amount, restock_line_ids=forms.ids(form["restock"]))

        return await self._do(request, runtime, actor, slug, order_id, f"refund-{refund_id}", form, work, "Refund approved.")

    @post("/{order_id:int}/refunds/{refund_id:int}/reject")
    async def reject(self, request: Request, slug: str, order_id: int, refund_id: int, data: Form, runtime: Runtime, actor: Actor | None) -> Any:
        await self._check(runtime, actor, slug, order_id)
        await self._refund_of(runtime, order_id, refund_id)
        form = {"note": forms.text(data, "note")}

        async def work() -> None:
            if len(form["note"]) > 2000:
                raise ValidationFailed("the note may be at most 2000 characters")
            async with runtime.db.session() as session:
                await refunds.reject_refund(session, runtime, actor, refund_id, note=form["note"].strip())
                await session.commit()

        return await self._do(request, runtime, actor, slug, order_id, f"refund-{refund_id}", form, work, "Refund request rejected.")

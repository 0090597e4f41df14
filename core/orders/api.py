"""JSON API for carts, checkout, payment, orders, refunds and stock."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import msgspec

from litestar import Controller, Request, delete, get, post, put
from litestar.params import Parameter
from sqlalchemy import select

from core.auth.permissions import Actor, can_act_for_brand, require_actor, require_brand_member
from core.campaigns import campaigns as campaign_service
from core.catalog import service as catalog
from core.catalog.models import Brand, Product, Variant
from core.errors import NotFound
from core.inventory import service as inventory
from core.orders import cart as carts
from core.orders import checkout as checkouts
from core.orders import refunds
from core.orders import service as orders
from core.orders.schemas import (
    ApproveIn,
    CancelIn,
    CartIn,
    CartOut,
    CheckoutIn,
    CheckoutOut,
    FulfilIn,
    IntentIn,
    LineIn,
    LocationIn,
    LocationOut,
    LocationStockOut,
    OrderOut,
    PayIn,
    PaymentOut,
    PoolIn,
    PoolOut,
    QuantityIn,
    RefundIn,
    RefundOut,
    RefundRequestIn,
    RejectIn,
    ReleaseOut,
    StockIn,
    StockOut,
)
from core.orders.views import cart_out, checkout_out, order_out, payment_out, refund_out
from core.payments import service as payments
from core.payments.models import PaymentStatus
from core.web import login_required, strict_body

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.payments.providers import ProviderIntent

    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]


async def _priced(session: AsyncSession, runtime: Runtime, cart) -> CartOut:  # noqa: ANN001
    return await cart_out(session, cart, await carts.price_cart(session, runtime, cart))


class CartController(Controller):
    path = "/carts"
    tags = ["cart"]

    @post("/", status_code=201)
    async def create_cart(self, data: CartIn, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CartOut:
        """A new cart. Keep its token: guests have no other key to it."""
        cart = await carts.new_cart(session, user_id=actor.user_id if actor else None, currency=data.currency.upper())
        await session.commit()
        return await _priced(session, runtime, cart)

    @get("/{token:str}")
    async def get_cart(self, token: str, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CartOut:
        """The cart with current server-side prices, grouped by brand."""
        return await _priced(session, runtime, await carts.require_cart(session, token, actor))

    @post("/{token:str}/lines", status_code=200)
    async def add_line(self, token: str, data: LineIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CartOut:
        data = await strict_body(request, data)  # "2" is not a number here
        cart = await carts.require_cart(session, token, actor)
        await carts.set_line(session, cart, variant_id=data.variant_id, quantity=data.quantity, add=True)
        await session.commit()
        return await _priced(session, runtime, cart)

    @put("/{token:str}/lines/{variant_id:int}")
    async def set_line(self, token: str, variant_id: int, data: QuantityIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CartOut:
        """Set a line's quantity; 0 removes it."""
        data = await strict_body(request, data)  # "2" is not a number here
        cart = await carts.require_cart(session, token, actor)
        await carts.set_line(session, cart, variant_id=variant_id, quantity=data.quantity)
        await session.commit()
        return await _priced(session, runtime, cart)

    @delete("/{token:str}/lines/{variant_id:int}", status_code=200)
    async def remove_line(self, token: str, variant_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CartOut:
        cart = await carts.require_cart(session, token, actor)
        await carts.set_line(session, cart, variant_id=variant_id, quantity=0)
        await session.commit()
        return await _priced(session, runtime, cart)

    @post("/{token:str}/checkout", status_code=201)
    async def checkout(self, token: str, data: CheckoutIn, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> CheckoutOut:
        """Hold stock and create one order per brand. Started twice, it returns the same checkout."""
        cart = await carts.require_cart(session, token, actor)
        checkout = await checkouts.start_checkout(session, runtime, cart, actor, email=data.email, address=_address(data))
        await session.commit()
        return await checkout_out(session, checkout)


def _address(data: CheckoutIn) -> dict[str, str]:
    import msgspec

    return msgspec.structs.asdict(data.address)


class CheckoutController(Controller):
    path = "/checkouts"
    tags = ["checkout"]

    @get("/{token:str}")
    async def get_checkout(self, token: str, session: AsyncSession, actor: Actor | None) -> CheckoutOut:
        return await checkout_out(session, await checkouts.get_checkout(session, token, actor))

    @post("/{token:str}/pay", status_code=200)
    async def pay(self, token: str, data: PayIn, runtime: Runtime, actor: Actor | None) -> CheckoutOut:
        """Pay with a sandbox test card (4242 4242 4242 4242) or a Stripe PaymentMethod id.
        Submitting twice charges once. A card that needs 3-D Secure leaves the checkout
        open and `payment.status` `requires_action` with `payment.client_secret`: run
        Stripe.js `handleNextAction` / `confirmCardPayment` with it, then call `confirm`."""
        payment = await payments.pay(runtime, token, actor, payment_method=data.payment_method, provider_name=data.provider, capture_method=data.capture_method)
        intent = None
        if payment.status == PaymentStatus.REQUIRES_ACTION:
            _payment, intent = await payments.refresh_payment(runtime, token, actor)
        return await _checkout_with_action(runtime, token, actor, intent)

    @post("/{token:str}/confirm", status_code=200)
    async def confirm(self, token: str, runtime: Runtime, actor: Actor | None) -> CheckoutOut:
        """After the shopper acted in the browser (3-D Secure): asks the provider how the
        checkout's payment stands and records it, so the checkout is `paid` on return
        when the bank agreed. 402 if the bank refused (pay again, with another card);
        still `requires_action` (with `payment.client_secret`) if nothing happened yet."""
        _payment, intent = await payments.refresh_payment(runtime, token, actor)
        return await _checkout_with_action(runtime, token, actor, intent)

    @post("/{token:str}/payment-intent", status_code=200)
    async def payment_intent(self, token: str, data: IntentIn, runtime: Runtime, actor: Actor | None) -> PaymentOut:
        """For front ends that confirm in the browser (Stripe.js): the intent's client secret."""
        payment, intent = await payments.begin_payment(runtime, token, actor, provider_name=data.provider, capture_method=data.capture_method)
        return payment_out(payment, client_secret=intent.client_secret)

    @post("/{token:str}/cancel", status_code=200)
    async def cancel(self, token: str, runtime: Runtime, actor: Actor | None) -> CheckoutOut:
        """Abandon an unpaid checkout: its stock is released and the cart opens again."""
        await checkouts.cancel_checkout(runtime, token, actor)
        async with runtime.db.read_session() as session:
            return await checkout_out(session, await checkouts.get_checkout(session, token, actor))


async def _checkout_with_action(runtime: Runtime, token: str, actor: Actor | None, intent: ProviderIntent | None) -> CheckoutOut:
    """The checkout; its payment carries the client secret only while the shopper must act."""
    async with runtime.db.read_session() as session:
        out = await checkout_out(session, await checkouts.get_checkout(session, token, actor))
    if intent is not None and intent.action_required and out.payment is not None and out.payment.status == PaymentStatus.REQUIRES_ACTION:
        out.payment.client_secret = intent.client_secret
    return out


class OrderController(Controller):
    path = "/orders"
    tags = ["orders"]
    guards = [login_required]

    @get("/")
    async def my_orders(self, session: AsyncSession, actor: Actor | None, limit: Limit = 50, offset: Offset = 0) -> list[OrderOut]:
        actor = require_actor(actor)
        return [await order_out(session, o, detail=False) for o in await orders.orders_of_user(session, actor.user_id, limit, offset)]

    @get("/{order_id:int}")
    async def get_order(self, order_id: int, session: AsyncSession, actor: Actor | None) -> OrderOut:
        """The shopper who placed it, or its brand's staff."""
        return await order_out(session, await orders.get_order_for(session, actor, order_id))

    @post("/{order_id:int}/complete", status_code=200)
    async def complete(self, order_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> OrderOut:
        order = await orders.complete(session, runtime, actor, order_id)
        await session.commit()
        return await order_out(session, order)

    @post("/{order_id:int}/fulfil", status_code=200)
    async def fulfil(self, order_id: int, data: FulfilIn, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> OrderOut:
        """Brand staff ship it with a tracking number."""
        order = await orders.fulfil(session, runtime, actor, order_id, carrier=data.carrier, tracking_number=data.tracking_number)
        await session.commit()
        return await order_out(session, order)

    @post("/{order_id:int}/cancel", status_code=200)
    async def cancel(self, order_id: int, data: CancelIn, runtime: Runtime, actor: Actor | None) -> OrderOut:
        """Brand staff cancel a paid, unshipped order: refunded in full and restocked."""
        order = await refunds.cancel_paid_order(runtime, actor, order_id, reason=data.reason)
        async with runtime.db.read_session() as session:
            return await order_out(session, order)

    @post("/{order_id:int}/refund-requests", status_code=201)
    async def request_refund(self, order_id: int, data: RefundRequestIn, request: Request, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> RefundOut:
        """The shopper asks for money back (all that is left, or `amount_minor`)."""
        data = await strict_body(request, data)  # "2" is not a number here
        refund = await refunds.request_refund(session, runtime, actor, order_id, amount_minor=data.amount_minor, reason=data.reason)
        await session.commit()
        return refund_out(refund)

    @post("/{order_id:int}/refunds", status_code=201)
    async def refund(self, order_id: int, data: RefundIn, request: Request, runtime: Runtime, actor: Actor | None) -> RefundOut:
        """Brand staff refund directly, optionally restocking whole lines."""
        data = await strict_body(request, data)  # "2" is not a number here
        return refund_out(await refunds.refund_directly(runtime, actor, order_id, amount_minor=data.amount_minor, reason=data.reason, restock_line_ids=list(data.restock_line_ids)))

    @get("/{order_id:int}/refunds")
    async def list_refunds(self, order_id: int, session: AsyncSession, actor: Actor | None) -> list[RefundOut]:
        from core.orders.models import Refund

        order = await orders.get_order_for(session, actor, order_id)
        rows = await session.execute(select(Refund).where(Refund.order_id == order.id).order_by(Refund.id))
        return [refund_out(r) for r in rows.scalars()]


class RefundController(Controller):
    path = "/refunds"
    tags = ["orders"]
    guards = [login_required]

    @post("/{refund_id:int}/approve", status_code=200)
    async def approve(self, refund_id: int, data: ApproveIn, request: Request, runtime: Runtime, actor: Actor | None) -> RefundOut:
        data = await strict_body(request, data)  # "2" is not a number here
        return refund_out(await refunds.approve_refund(runtime, actor, refund_id, amount_minor=data.amount_minor, restock_line_ids=list(data.restock_line_ids)))

    @post("/{refund_id:int}/reject", status_code=200)
    async def reject(self, refund_id: int, data: RejectIn, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> RefundOut:
        refund = await refunds.reject_refund(session, runtime, actor, refund_id, note=data.note)
        await session.commit()
        return refund_out(refund)


async def _brand_by_slug(session: AsyncSession, slug: str) -> Brand:
    brand = (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none()
    if brand is None:
        raise NotFound("no such brand")
    return brand


async def _own_variant(session: AsyncSession, actor: Actor | None, variant_id: int) -> tuple[Variant, Product]:
    row = (await session.execute(select(Variant, Product).join(Product, Product.id == Variant.product_id).where(Variant.id == variant_id))).first()
    actor = require_actor(actor)
    if row is None or row[1].brand_id not in actor.brand_ids:
        raise NotFound("no such variant")
    return row[0], row[1]


class BrandOrdersController(Controller):
    path = "/brands/{slug:str}"
    tags = ["orders"]
    guards = [login_required]

    @get("/orders")
    async def brand_orders(self, slug: str, session: AsyncSession, actor: Actor | None, status: str | None = None, limit: Limit = 50, offset: Offset = 0) -> list[OrderOut]:
        brand = await _brand_by_slug(session, slug)
        return [await order_out(session, o, detail=False) for o in await orders.orders_of_brand(session, actor, brand.id, status, limit, offset)]


def _stock_out(variant_id: int, snap: inventory.StockSnapshot, levels: list[inventory.LocationStock]) -> StockOut:
    return StockOut(
        variant_id=variant_id, on_hand=snap.on_hand, available=snap.available, reserved=snap.reserved, committed=snap.committed, pooled=snap.pooled,
        locations=[
            LocationStockOut(location_id=lv.location_id, location=lv.location, on_hand=lv.on_hand, available=lv.available, reserved=lv.reserved, committed=lv.committed, in_pools=lv.in_pools)
            for lv in levels
        ],
    )


async def _stock(session: AsyncSession, variant_id: int) -> StockOut:
    snap = await inventory.snapshot(session, variant_id)
    return _stock_out(variant_id, snap, (await inventory.stock_by_location(session, [variant_id]))[variant_id])


def _pool_out(row: inventory.PoolRow, campaign_id: int | None) -> PoolOut:
    return PoolOut(
        id=row.id, name=row.name, variant_id=row.variant_id, available=row.available, reserved=row.reserved, committed=row.committed,
        location_id=row.location_id, location=row.location, sku=row.sku, campaign_id=campaign_id,
    )


async def _my_brand(session: AsyncSession, actor: Actor | None, slug: str) -> Brand:
    """The brand if the caller is on its staff; any other brand is 404, like a missing one."""
    brand = await catalog.get_brand_by_slug(session, slug)
    if not can_act_for_brand(require_actor(actor), brand.id):
        raise NotFound(f"no brand {slug!r}")
    return brand


class StockController(Controller):
    path = "/variants/{variant_id:int}"
    tags = ["inventory"]
    guards = [login_required]

    @get("/stock")
    async def stock(self, variant_id: int, session: AsyncSession, actor: Actor | None) -> StockOut:
        """Totals, and each location's counters in `locations`."""
        await _own_variant(session, actor, variant_id)
        return await _stock(session, variant_id)

    @post("/stock", status_code=200)
    async def receive(self, variant_id: int, data: StockIn, request: Request, session: AsyncSession, actor: Actor | None) -> StockOut:
        """Goods in (positive) or written off (negative, from available only), at the
        location named (created if new) or the main one."""
        data = await strict_body(request, data)  # "2" is not a number here
        _variant, product = await _own_variant(session, actor, variant_id)
        require_brand_member(actor, product.brand_id)
        if data.location is None:
            location = await inventory.ensure_location(session, product.brand_id)
        else:
            try:
                location = await inventory.location_named(session, product.brand_id, data.location)
            except NotFound:  # a new name: a new location, last in checkout order
                location = await inventory.add_location(session, product.brand_id, data.location)
        await inventory.receive_stock(session, variant_id=variant_id, location_id=location.id, quantity=data.quantity)
        await session.commit()
        return await _stock(session, variant_id)

    @post("/pools", status_code=201)
    async def create_pool(self, variant_id: int, data: PoolIn, request: Request, session: AsyncSession, actor: Actor | None) -> PoolOut:
        """Set units aside under a name (a flash deal) at the location named, or the brand's first."""
        data = await strict_body(request, data)  # "2" is not a number here
        _variant, product = await _own_variant(session, actor, variant_id)
        if data.location is not None:
            location = await inventory.location_named(session, product.brand_id, data.location)
        else:
            first = await inventory.locations_of(session, product.brand_id)
            if not first:
                raise NotFound("this brand has no stock yet")
            location = first[0]
        pool = await inventory.set_aside(session, product.brand_id, name=data.name, variant_id=variant_id, location_id=location.id, quantity=data.quantity)
        await session.commit()
        (row,) = await inventory.pools_of_brand(session, product.brand_id, pool_ids=[pool.id])
        return _pool_out(row, None)


class BrandStockController(Controller):
    path = "/brands/{slug:str}"
    tags = ["inventory"]
    guards = [login_required]

    @get("/locations")
    async def locations(self, slug: str, session: AsyncSession, actor: Actor | None) -> list[LocationOut]:
        """The brand's stock locations, in the order checkout takes stock from them."""
        brand = await _my_brand(session, actor, slug)
        return [LocationOut(id=loc.id, name=loc.name, position=loc.position) for loc in await inventory.locations_of(session, brand.id)]

    @post("/locations", status_code=201)
    async def add_location(self, slug: str, data: LocationIn, session: AsyncSession, actor: Actor | None) -> LocationOut:
        """A new location (its name unique within the brand), last in checkout order."""
        brand = await _my_brand(session, actor, slug)
        location = await inventory.add_location(session, brand.id, data.name)
        await session.commit()
        return LocationOut(id=location.id, name=location.name, position=location.position)

    @get("/pools")
    async def pools(self, slug: str, session: AsyncSession, actor: Actor | None, limit: Limit = 50, offset: Offset = 0) -> list[PoolOut]:
        """The brand's pools, newest first; `campaign_id` marks a campaign's samples."""
        brand = await _my_brand(session, actor, slug)
        rows = await inventory.pools_of_brand(session, brand.id, limit=limit, offset=offset)
        campaigns = await campaign_service.campaigns_of_pools(session, [r.id for r in rows])
        return [_pool_out(r, campaigns[r.id].id if r.id in campaigns else None) for r in rows]


class PoolController(Controller):
    path = "/pools"
    tags = ["inventory"]
    guards = [login_required]

    @post("/{pool_id:int}/release", status_code=200)
    async def release(self, pool_id: int, session: AsyncSession, actor: Actor | None) -> ReleaseOut:
        """Give a pool's unreserved units back to general stock (reserved and committed
        units stay until their orders settle). Repeated, it releases 0. A campaign's
        samples pool is refused (409): it goes back when the campaign completes."""
        actor = require_actor(actor)
        brand_id = await _pool_brand(session, actor, pool_id)
        released = await campaign_service.release_pool_by_hand(session, brand_id, pool_id)
        await session.commit()
        (row,) = await inventory.pools_of_brand(session, brand_id, pool_ids=[pool_id])
        return ReleaseOut(released=released, pool=_pool_out(row, None))


async def _pool_brand(session: AsyncSession, actor: Actor, pool_id: int) -> int:
    """The brand of a pool the caller's brands own; anything else is 404."""
    brand_id = await inventory.brand_of_pool(session, pool_id)
    if brand_id is None or not can_act_for_brand(actor, brand_id):
        raise NotFound("no such stock pool")
    return brand_id


class AvailabilityOut(msgspec.Struct):
    variant_id: int
    available: int
    in_stock: bool


@get("/variants/{variant_id:int}/availability", tags=["inventory"])
async def availability(variant_id: int, session: AsyncSession) -> AvailabilityOut:
    """Live units available for a variant of an active product (never cached)."""
    row = (await session.execute(select(Variant.id).join(Product, Product.id == Variant.product_id).where(Variant.id == variant_id, Product.status == "active", Variant.is_active.is_(True)))).first()
    if row is None:
        raise NotFound("no such variant")
    available = (await inventory.available_by_variant(session, [variant_id]))[variant_id]
    return AvailabilityOut(variant_id=variant_id, available=available, in_stock=available > 0)


ORDER_CONTROLLERS = [availability, CartController, CheckoutController, OrderController, RefundController, BrandOrdersController, StockController, BrandStockController, PoolController]


"""Stateful invariants of the shop, driven by hypothesis.

A `RuleBasedStateMachine` shops, checks out, pays (sandbox: succeed or decline),
expires, cancels, fulfils, refunds (partial or full, with or without restock), cancels
paid orders, receives and writes off stock and sets pools aside, in any order. After
every step:

- stock: for every level, on_hand = available + reserved + committed + all units in
  its pools (available + reserved + committed); no counter is negative; reserved and
  committed equal the active and committed holds; on_hand = received - shipped;
- money: Σ over paid orders of (total - refunded) = what the sandbox captured minus
  what it refunded, and the payment rows say the same; every paid checkout's orders add
  up to its payment.

The machine runs synchronously: every rule submits a coroutine to an event loop that
runs in its own thread (the runtime's database engine is bound to that loop, so each
runtime is created inside it). Each example gets a fresh SQLite file (copied from a
migrated template) or, on PostgreSQL, freshly truncated tables.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select, update

from core import migrate
from core.auth.models import User
from core.auth.permissions import Actor
from core.catalog.models import Brand, Product, ShippingRate, TaxRate, Variant, VariantPrice
from core.db import utcnow
from core.errors import DomainError
from core.inventory import service as inventory
from core.inventory.models import HoldState, StockHold, StockLevel, StockPool
from core.orders import cart as carts
from core.orders import checkout as checkouts
from core.orders import refunds
from core.orders import service as orders
from core.orders.models import Cart, CartLine, CartStatus, Checkout, CheckoutStatus, Order, OrderLine, OrderStatus
from core.payments import service as payments
from core.payments.models import Payment, PaymentStatus
from core.runtime import create_runtime
from core.testing import ADDRESS, empty_tables, make_test_settings

GOOD_CARD, DECLINED_CARD = "4242424242424242", "4000000000000002"
index = st.integers(min_value=0, max_value=7)
pick = st.tuples(index, st.integers(min_value=0, max_value=3))  # (which, 0 = among all rows)


class LoopThread:
    """An event loop in a thread; `run` blocks until a coroutine finishes there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="invariants-loop", daemon=True)
        self.thread.start()

    def run(self, coro: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Backend:
    """Where each example's runtime lives: a copy of a migrated SQLite file, or the
    PostgreSQL test database emptied before and after."""

    def __init__(self, work_dir: Path, pg_url: str | None) -> None:
        self.work_dir = work_dir
        self.pg_url = pg_url
        self.template = work_dir / "template.db"

    async def prepare(self) -> None:
        if self.pg_url:
            return  # the session's `_zc_migrated` fixture migrated it
        runtime = create_runtime(make_test_settings(self.work_dir, f"sqlite+aiosqlite:///{self.template}"))
        await migrate.upgrade(runtime)
        await runtime.dispose_loop_databases()  # closing the last connection folds the WAL in

    async def new_runtime(self) -> Any:
        if self.pg_url:
            runtime = create_runtime(make_test_settings(self.work_dir, self.pg_url))
            await empty_tables(runtime)
            return runtime
        folder = Path(tempfile.mkdtemp(prefix="example-", dir=self.work_dir))
        shutil.copyfile(self.template, folder / "zc.db")
        return create_runtime(make_test_settings(folder, f"sqlite+aiosqlite:///{folder / 'zc.db'}"))

    async def finish(self, runtime: Any) -> None:
        try:
            if self.pg_url:
                await empty_tables(runtime)
        finally:
            await runtime.dispose_loop_databases()


class Shop(RuleBasedStateMachine):
    loop: LoopThread
    backend: Backend

    def __init__(self) -> None:
        super().__init__()
        self.runtime: Any = None
        self.variants: list[int] = []  # variant ids
        self.locations: dict[int, int] = {}  # variant id -> its brand's location
        self.received: dict[int, int] = {}  # variant id -> units received minus written off
        self.pools: list[int] = []
        self.owners: dict[int, Actor] = {}  # brand id -> its owner
        self.shopper: Actor | None = None
        self.step = 0

    def run(self, coro: Any) -> Any:
        return self.loop.run(coro)

    async def tx(self, fn: Any) -> Any:
        """`fn(session)` in one writing transaction; a DomainError rolls it back and is
        returned as its class name prefixed with "refused: "."""
        try:
            async with self.runtime.db.session() as session:
                result = await fn(session)
                await session.commit()
                return result
        except DomainError as exc:
            return f"refused: {type(exc).__name__}: {exc.detail[:40]}"

    # ------------------------------------------------------------ setup

    @initialize(
        prices=st.lists(st.integers(min_value=1, max_value=30_000), min_size=3, max_size=3),
        stock=st.lists(st.integers(min_value=0, max_value=8), min_size=3, max_size=3),
        shipping=st.integers(min_value=0, max_value=1500),
        tax=st.sampled_from([(130_000, True), (72_500, False), (88_750, False), None]),
        first_cart=st.lists(st.integers(min_value=0, max_value=3), min_size=3, max_size=3),
    )
    def setup(self, prices: list[int], stock: list[int], shipping: int, tax: tuple[int, bool] | None, first_cart: list[int]) -> None:
        self.run(self._setup(prices, stock, shipping, tax, first_cart))

    async def _setup(self, prices: list[int], stock: list[int], shipping: int, tax: tuple[int, bool] | None, first_cart: list[int]) -> None:
        self.runtime = await self.backend.new_runtime()
        async with self.runtime.db.session() as s:
            people = [User(email=f"{n}@example.com", password_hash="-", display_name=n) for n in ("shopper", "owner-a", "owner-b")]
            s.add_all(people)
            brands = [Brand(slug="brand-a", name="Brand A"), Brand(slug="brand-b", name="Brand B")]
            s.add_all(brands)
            await s.flush()
            self.shopper = Actor(user_id=people[0].id, email=people[0].email, display_name="shopper", locale="en", roles=frozenset())
            for brand, owner in zip(brands, people[1:], strict=True):
                self.owners[brand.id] = Actor(user_id=owner.id, email=owner.email, display_name=owner.display_name, locale="en", roles=frozenset(), brand_roles={brand.id: "owner"})
            s.add(ShippingRate(brand_id=brands[0].id, currency="CNY", amount_minor=shipping, free_over_minor=20_000))
            if tax is not None:
                s.add(TaxRate(region="CN", rate_ppm=tax[0], inclusive=tax[1]))
            for n, (price, units) in enumerate(zip(prices, stock, strict=True)):
                brand = brands[0] if n < 2 else brands[1]
                product = Product(brand_id=brand.id, slug=f"p{n}", title=f"Product {n}", status="active")
                s.add(product)
                await s.flush()
                variant = Variant(product_id=product.id, sku=f"SKU-{n}")
                s.add(variant)
                await s.flush()
                s.add(VariantPrice(variant_id=variant.id, currency="CNY", amount_minor=price))
                location = await inventory.ensure_location(s, brand.id)
                if units:
                    await inventory.receive_stock(s, variant_id=variant.id, location_id=location.id, quantity=units)
                self.variants.append(variant.id)
                self.locations[variant.id] = location.id
                self.received[variant.id] = units
            await s.commit()
        # the shopper arrives with something in the cart
        async with self.runtime.db.session() as s:
            cart = await carts.new_cart(s, user_id=self.shopper.user_id)
            for n, quantity in enumerate(first_cart):
                if quantity:
                    await carts.set_line(s, cart, variant_id=self.variants[n], quantity=quantity)
            await s.commit()

    def teardown(self) -> None:
        if self.runtime is not None:
            self.run(self.backend.finish(self.runtime))

    # ------------------------------------------------------------ picking rows

    async def _pick(self, model: Any, column: Any, choice: tuple[int, int], *useful: Any) -> Any:
        """A row's `column`: usually among the `useful` rows (open carts, paid orders),
        one time in four among all of them, so refusals are exercised too."""
        i, anything = choice
        async with self.runtime.db.read_session() as s:
            rows = list((await s.execute(select(column).where(*useful).order_by(model.id))).scalars()) if useful and anything else []
            if not rows:
                rows = list((await s.execute(select(column).order_by(model.id))).scalars())
        return rows[i % len(rows)] if rows else None

    def has(self, kind: str) -> bool:
        """Preconditions: rules that need an open cart, checkout or a paid order wait for one."""
        return self.runtime is not None and self.run(self._has(kind))

    async def _has(self, kind: str) -> bool:
        query = {
            "open cart": select(Cart.id).join(CartLine, CartLine.cart_id == Cart.id).where(Cart.status == CartStatus.OPEN),
            "open checkout": select(Checkout.id).where(Checkout.status == CheckoutStatus.OPEN),
            "paid order": select(Order.id).where(Order.paid_at.is_not(None)),
        }[kind]
        async with self.runtime.db.read_session() as s:
            return (await s.execute(query.limit(1))).first() is not None

    # ------------------------------------------------------------ shopping

    @rule(cart=pick, variant=index, quantity=st.integers(min_value=1, max_value=4), new=st.integers(min_value=0, max_value=4))
    def add_to_cart(self, cart: tuple[int, int], variant: int, quantity: int, new: int) -> None:
        async def go(s: Any) -> str:
            cart_id = None if new == 0 else await self._pick(Cart, Cart.id, cart, Cart.status == CartStatus.OPEN)
            c = await carts.new_cart(s, user_id=self.shopper.user_id) if cart_id is None else await s.get(Cart, cart_id)
            await carts.set_line(s, c, variant_id=self.variants[variant % len(self.variants)], quantity=quantity, add=True)
            return "added"

        event(f"add to cart: {self.run(self.tx(go))}")

    @precondition(lambda self: self.has("open cart"))
    @rule(cart=pick)
    def checkout(self, cart: tuple[int, int]) -> None:
        async def go(s: Any) -> str | None:
            cart_id = await self._pick(Cart, Cart.id, cart, Cart.status == CartStatus.OPEN)
            await checkouts.start_checkout(s, self.runtime, await s.get(Cart, cart_id), self.shopper, email=None, address=ADDRESS)
            return "started"

        event(f"checkout: {self.run(self.tx(go))}")

    @precondition(lambda self: self.has("open checkout"))
    @rule(checkout=pick, good=st.integers(min_value=0, max_value=3))
    def pay(self, checkout: tuple[int, int], good: int) -> None:
        async def go() -> str:
            token = await self._pick(Checkout, Checkout.token, checkout, Checkout.status == CheckoutStatus.OPEN)
            if token is None:
                return "nothing to pay"
            try:
                await payments.pay(self.runtime, token, self.shopper, payment_method=GOOD_CARD if good else DECLINED_CARD)
            except DomainError as exc:
                return type(exc).__name__
            return "paid"

        event(f"pay: {self.run(go())}")

    @precondition(lambda self: self.has("open checkout"))
    @rule(checkout=pick)
    def expire(self, checkout: tuple[int, int]) -> None:
        async def go() -> str:
            token = await self._pick(Checkout, Checkout.token, checkout, Checkout.status == CheckoutStatus.OPEN)
            async with self.runtime.db.session() as s:
                await s.execute(update(Checkout).where(Checkout.token == token, Checkout.status == CheckoutStatus.OPEN).values(expires_at=utcnow() - timedelta(minutes=1)))
                await s.commit()
            return f"{await checkouts.expire_checkouts(self.runtime)} expired"

        event(f"expire: {self.run(go())}")

    @precondition(lambda self: self.has("open checkout"))
    @rule(checkout=pick)
    def cancel_checkout(self, checkout: tuple[int, int]) -> None:
        async def go() -> str:
            token = await self._pick(Checkout, Checkout.token, checkout, Checkout.status == CheckoutStatus.OPEN)
            if token is None:
                return "nothing to cancel"
            try:
                await checkouts.cancel_checkout(self.runtime, token, self.shopper)
            except DomainError as exc:
                return type(exc).__name__
            return "cancelled"

        event(f"cancel checkout: {self.run(go())}")

    # ------------------------------------------------------------ after payment

    async def _order(self, choice: tuple[int, int], *useful: Any) -> tuple[int, Actor] | None:
        order_id = await self._pick(Order, Order.id, choice, Order.paid_at.is_not(None), *useful)
        if order_id is None:
            return None
        async with self.runtime.db.read_session() as s:
            return order_id, self.owners[(await s.get(Order, order_id)).brand_id]

    @precondition(lambda self: self.has("paid order"))
    @rule(order=pick, then_complete=st.booleans())
    def fulfil(self, order: tuple[int, int], then_complete: bool) -> None:
        """Brand staff ship the order; the shopper may confirm receipt afterwards."""
        self.step += 1

        async def go() -> str:
            found = await self._order(order, Order.status.in_((OrderStatus.PAID, OrderStatus.PARTIALLY_REFUNDED)))
            if found is None:
                return "no order"
            order_id, owner = found
            done = await self.tx(lambda s: orders.fulfil(s, self.runtime, owner, order_id, carrier="SF", tracking_number=f"SF{self.step}"))
            done = done if isinstance(done, str) else "done"
            if then_complete:
                completed = await self.tx(lambda s: orders.complete(s, self.runtime, self.shopper, order_id))
                return f"{done}, completion {completed if isinstance(completed, str) else 'done'}"
            return done

        event(f"fulfil: {self.run(go())}")

    @precondition(lambda self: self.has("paid order"))
    @rule(order=pick, percent=st.integers(min_value=1, max_value=100), full=st.booleans(), restock=st.booleans(), how=st.sampled_from(["direct", "request", "cancel order"]))
    def refund(self, order: tuple[int, int], percent: int, full: bool, restock: bool, how: str) -> None:
        """Money back: brand staff refund directly, or approve the shopper's request, or
        cancel the paid order (full refund, all stock back)."""

        async def go() -> str:
            found = await self._order(order, Order.refunded_minor < Order.total_minor, Order.status.in_(refunds.REFUNDABLE))
            if found is None:
                return "no order"
            order_id, owner = found
            async with self.runtime.db.read_session() as s:
                o = await s.get(Order, order_id)
                left = o.total_minor - o.refunded_minor
                lines = [ln.id for ln in await orders.lines_of(s, order_id)] if restock else []
            amount = left if full else max(1, left * percent // 100)
            try:
                if how == "cancel order":
                    await refunds.cancel_paid_order(self.runtime, owner, order_id, reason="out of stock")
                    return "order cancelled"
                if how == "request":
                    req = await self.tx(lambda s: refunds.request_refund(s, self.runtime, self.shopper, order_id, amount_minor=amount, reason="not as described"))
                    if isinstance(req, str):
                        return f"request {req}"
                    await refunds.approve_refund(self.runtime, owner, req.id, restock_line_ids=lines)
                else:
                    await refunds.refund_directly(self.runtime, owner, order_id, amount_minor=amount, reason="goodwill", restock_line_ids=lines)
            except DomainError as exc:
                return f"{how}: {type(exc).__name__}"
            return f"{how}: {'full' if amount == left else 'partial'}{' with restock' if restock else ''}"

        event(f"refund: {self.run(go())}")

    # ------------------------------------------------------------ stock

    @rule(variant=index, quantity=st.integers(min_value=-3, max_value=6).filter(bool), pool=st.sampled_from([None, "create", "release"]))
    def receive_stock(self, variant: int, quantity: int, pool: str | None) -> None:
        """Goods in or written off; or units set aside in a pool, or a pool handed back."""
        vid = self.variants[variant % len(self.variants)]
        self.step += 1

        async def go(s: Any) -> str:
            if pool == "create":
                created = await inventory.create_pool(s, name=f"pool-{self.step}", variant_id=vid, location_id=self.locations[vid], quantity=abs(quantity))
                self.pools.append(created.id)
                return "pool created"
            if pool == "release":
                if not self.pools:
                    return "no pool"
                return f"pool released {await inventory.release_pool(s, self.pools[variant % len(self.pools)])}"
            await inventory.receive_stock(s, variant_id=vid, location_id=self.locations[vid], quantity=quantity)
            self.received[vid] += quantity
            return "received" if quantity > 0 else "written off"

        event(f"stock: {self.run(self.tx(go))}")

    # ------------------------------------------------------------ invariants

    @invariant()
    def stock_adds_up(self) -> None:
        if self.runtime is not None:
            self.run(self._check_stock())

    async def _check_stock(self) -> None:
        async with self.runtime.db.read_session() as s:
            levels = (await s.execute(select(StockLevel))).scalars().all()
            pools = (await s.execute(select(StockPool))).scalars().all()
            holds = (await s.execute(select(StockHold))).scalars().all()
        for p in pools:
            assert min(p.available, p.reserved, p.committed) >= 0, p.__dict__
            mine = [h for h in holds if h.pool_id == p.id]
            assert p.reserved == sum(h.quantity for h in mine if h.state == HoldState.ACTIVE)
            assert p.committed == sum(h.quantity for h in mine if h.state == HoldState.COMMITTED)
        for lv in levels:
            assert min(lv.on_hand, lv.available, lv.reserved, lv.committed) >= 0, lv.__dict__
            here = [p for p in pools if (p.variant_id, p.location_id) == (lv.variant_id, lv.location_id)]
            pooled = sum(p.available + p.reserved + p.committed for p in here)
            assert lv.on_hand == lv.available + lv.reserved + lv.committed + pooled, (lv.__dict__, pooled)
            general = [h for h in holds if (h.variant_id, h.location_id) == (lv.variant_id, lv.location_id) and h.pool_id is None]
            assert lv.reserved == sum(h.quantity for h in general if h.state == HoldState.ACTIVE)
            assert lv.committed == sum(h.quantity for h in general if h.state == HoldState.COMMITTED)
            shipped = sum(h.quantity for h in holds if (h.variant_id, h.location_id) == (lv.variant_id, lv.location_id) and h.state == HoldState.SHIPPED)
            assert lv.on_hand == self.received[lv.variant_id] - shipped, (lv.__dict__, self.received[lv.variant_id], shipped)

    @invariant()
    def money_adds_up(self) -> None:
        if self.runtime is not None:
            self.run(self._check_money())

    async def _check_money(self) -> None:
        captured, refunded = self.runtime.payment_providers["sandbox"].ledger()
        async with self.runtime.db.read_session() as s:
            all_orders = (await s.execute(select(Order))).scalars().all()
            all_checkouts = {c.id: c for c in (await s.execute(select(Checkout))).scalars()}
            all_payments = (await s.execute(select(Payment))).scalars().all()
            line_totals = dict((await s.execute(select(OrderLine.order_id, func.sum(OrderLine.total_minor)).group_by(OrderLine.order_id))).all())
        paid = [o for o in all_orders if o.paid_at is not None]
        assert sum(o.total_minor - o.refunded_minor for o in paid) == captured - refunded
        assert sum(o.refunded_minor for o in paid) == refunded
        succeeded = [p for p in all_payments if p.status == PaymentStatus.SUCCEEDED]
        assert sum(p.captured_minor for p in succeeded) == captured
        assert sum(p.refunded_minor for p in all_payments) == refunded
        for o in all_orders:
            assert 0 <= o.refunded_minor <= o.total_minor
            assert o.total_minor == int(line_totals.get(o.id, 0)) + o.shipping_minor
            if o.paid_at is None:
                assert o.refunded_minor == 0 and o.status in (OrderStatus.PENDING_PAYMENT, OrderStatus.CANCELLED), (o.status, o.refunded_minor)
            elif o.refunded_minor == o.total_minor and o.total_minor > 0:
                assert o.status in (OrderStatus.REFUNDED, OrderStatus.CANCELLED), o.status
        for checkout_id, checkout in all_checkouts.items():
            mine = [o for o in all_orders if o.checkout_id == checkout_id]
            assert sum(o.total_minor for o in mine) == checkout.total_minor
            payment = [p for p in succeeded if p.checkout_id == checkout_id]
            if checkout.status == CheckoutStatus.PAID:
                assert len(payment) == 1 and payment[0].captured_minor == payment[0].amount_minor == checkout.total_minor
                assert all(o.paid_at is not None for o in mine)
            else:
                assert payment == [] and all(o.paid_at is None for o in mine)


def test_commerce_invariants(_zc_migrated, tmp_path):
    loop = LoopThread()
    try:
        backend = Backend(tmp_path, os.environ.get("ZHONGCAO_TEST_DATABASE_URL"))
        loop.run(backend.prepare())
        Shop.loop, Shop.backend = loop, backend
        run_state_machine_as_test(
            Shop,
            settings=settings(max_examples=25, stateful_step_count=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much]),
        )
    finally:
        loop.close()

"""Server-side pricing (core.pricing): tax included or added, flat and free-over shipping,
and a split checkout whose brand orders add up exactly to the one payment, whatever the
prices, quantities and discounts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select, update

from core import hookimpl
from core.catalog.models import Brand, ShippingRate, TaxRate, VariantPrice
from core.orders import cart as carts
from core.orders.checkout import cancel_checkout, orders_of_checkout, start_checkout
from core.orders.models import OrderLine
from core.payments import service as payments
from core.pricing import Adjustment, PricingCart, _tax_portion, quote
from core.testing import ADDRESS, api_token


class Coupons:
    """A test plugin that proposes whatever adjustments the test put in `offers`."""

    def __init__(self) -> None:
        self.offers: list[Adjustment] = []

    @hookimpl
    def price_adjustments(self, cart: PricingCart) -> list[Adjustment]:
        return list(self.offers)


COUPONS = Coupons()


@pytest.fixture
def zc_extra_plugins() -> list[tuple[str, object]]:
    COUPONS.offers = []
    return [("coupons", COUPONS)]


async def set_tax(runtime: Any, region: str, rate_ppm: int, inclusive: bool) -> None:
    async with runtime.db.session() as s:
        await s.execute(delete(TaxRate).where(TaxRate.region == region))
        s.add(TaxRate(region=region, rate_ppm=rate_ppm, inclusive=inclusive))
        await s.commit()


async def set_shipping(runtime: Any, brand_slug: str, currency: str, amount: int, free_over: int | None) -> None:
    async with runtime.db.session() as s:
        brand = (await s.execute(select(Brand).where(Brand.slug == brand_slug))).scalar_one()
        await s.execute(delete(ShippingRate).where(ShippingRate.brand_id == brand.id, ShippingRate.currency == currency))
        s.add(ShippingRate(brand_id=brand.id, currency=currency, amount_minor=amount, free_over_minor=free_over))
        await s.commit()


async def price(runtime: Any, wanted: list[tuple[int, int]], *, currency: str = "CNY", region: str | None = None) -> Any:
    async with runtime.db.read_session() as s:
        return await quote(s, runtime, currency=currency, user_id=None, wanted=wanted, region=region)


# ---------------------------------------------------------------- tax


def test_tax_portion_rounds_half_up():
    assert _tax_portion(11300, 130_000, True) == 1300  # CN 13% inside the price
    assert _tax_portion(10000, 72_500, False) == 725
    assert _tax_portion(1000, 72_500, False) == 73  # 72.5 -> 73
    assert _tax_portion(999, 72_500, False) == 72  # 72.43 -> 72
    assert _tax_portion(10000, 88_750, False) == 888  # 887.5 -> 888
    assert _tax_portion(0, 130_000, True) == 0
    assert _tax_portion(100, 0, False) == 0


async def test_tax_included_cn(zc_runtime, zc_make_product, zc_client, zc_make_user):
    await set_tax(zc_runtime, "CN", 130_000, True)
    cream = await zc_make_product("tax-cn", price=11300, stock=5)
    q = await price(zc_runtime, [(cream.id, 1)], region="CN")
    (brand,) = q.brands
    assert (brand.tax_minor, brand.tax_inclusive, brand.total_minor, q.total_minor) == (1300, True, 11300, 11300)
    assert brand.lines[0].tax_minor == 1300
    # no rate for the region: no tax
    q = await price(zc_runtime, [(cream.id, 1)], region="JP")
    assert (q.brands[0].tax_minor, q.total_minor) == (0, 11300)

    # the order of a checkout shipped to CN carries it
    shopper = await zc_make_user()
    auth = await api_token(zc_client, shopper.email)
    token = (await zc_client.post("/api/v1/carts", json={}, headers=auth)).json()["token"]
    await zc_client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": cream.id, "quantity": 2}, headers=auth)
    r = await zc_client.post(f"/api/v1/carts/{token}/checkout", json={"address": ADDRESS}, headers=auth)
    assert r.status_code == 201, r.text
    (order,) = r.json()["orders"]
    assert (order["tax_minor"], order["tax_inclusive"], order["total_minor"], order["subtotal_minor"]) == (2600, True, 22600, 22600)
    assert order["lines"][0]["tax_minor"] == 2600 and order["lines"][0]["total_minor"] == 22600


async def test_tax_added_us(zc_runtime, zc_make_product, zc_client):
    # California's 7.25%, added on top as in the US
    await set_tax(zc_runtime, "US", 72_500, False)
    boots = await zc_make_product("tax-us", price=10000, stock=5, currency="USD")
    socks = await zc_make_product("tax-us", price=1000, stock=5, currency="USD")
    q = await price(zc_runtime, [(boots.id, 1), (socks.id, 1)], currency="USD", region="US")
    (brand,) = q.brands
    assert [ln.tax_minor for ln in brand.lines] == [725, 73]  # per line, half up
    assert (brand.subtotal_minor, brand.tax_minor, brand.tax_inclusive, brand.total_minor) == (11000, 798, False, 11798)

    token = (await zc_client.post("/api/v1/carts", json={"currency": "USD"})).json()["token"]
    await zc_client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": boots.id, "quantity": 1})
    await zc_client.post(f"/api/v1/carts/{token}/lines", json={"variant_id": socks.id, "quantity": 1})
    address = {"name": "Ann Lee", "phone": "+1 212 555 0100", "line1": "1 Main St", "city": "Los Angeles", "region": "CA", "country": "US"}
    r = await zc_client.post(f"/api/v1/carts/{token}/checkout", json={"address": address, "email": "ann@example.com"})
    assert r.status_code == 201, r.text
    checkout = r.json()
    (order,) = checkout["orders"]
    assert (order["subtotal_minor"], order["tax_minor"], order["tax_inclusive"], order["total_minor"]) == (11000, 798, False, 11798)
    assert checkout["total_minor"] == 11798
    assert sorted(ln["total_minor"] for ln in order["lines"]) == [1073, 10725]  # added tax in the line total
    paid = await zc_client.post(f"/api/v1/checkouts/{checkout['token']}/pay", json={"payment_method": "4242424242424242"})
    assert paid.status_code == 200 and paid.json()["payment"]["amount_minor"] == 11798, paid.text


async def test_most_specific_tax_region_wins(zc_runtime, zc_make_product):
    await set_tax(zc_runtime, "US", 0, False)
    await set_tax(zc_runtime, "US-NY", 40_000, False)
    item = await zc_make_product("tax-ny", price=10000, stock=1, currency="USD")
    assert (await price(zc_runtime, [(item.id, 1)], currency="USD", region="US-NY")).total_minor == 10400
    assert (await price(zc_runtime, [(item.id, 1)], currency="USD", region="us-ny")).total_minor == 10400
    assert (await price(zc_runtime, [(item.id, 1)], currency="USD", region="US-TX")).total_minor == 10000  # falls back to US
    assert (await price(zc_runtime, [(item.id, 1)], currency="USD", region=None)).total_minor == 10000


async def test_fractional_rate_new_york_city(zc_runtime, zc_make_product):
    # 8.875%: 4% state + 4.5% city + 0.375% MCTD, exact in parts per million
    await set_tax(zc_runtime, "US-NY", 88_750, False)
    coat = await zc_make_product("tax-nyc", price=19_999, stock=1, currency="USD")
    mug = await zc_make_product("tax-nyc", price=400, stock=1, currency="USD")
    q = await price(zc_runtime, [(coat.id, 1), (mug.id, 1)], currency="USD", region="US-NY")
    assert [ln.tax_minor for ln in q.brands[0].lines] == [1775, 36]  # 1774.91 and 35.5, half up
    assert q.total_minor == 19_999 + 400 + 1775 + 36


async def test_tax_is_on_the_discounted_amount(zc_runtime, zc_make_product):
    await set_tax(zc_runtime, "CN", 130_000, True)
    item = await zc_make_product("tax-disc", price=11300, stock=1)
    COUPONS.offers = [Adjustment(code="half", label="half off", amount_minor=-5650, variant_id=item.id)]
    q = await price(zc_runtime, [(item.id, 1)], region="CN")
    assert (q.brands[0].lines[0].net_minor, q.brands[0].tax_minor, q.total_minor) == (5650, 650, 5650)


# ---------------------------------------------------------------- shipping


async def test_flat_shipping_and_free_over(zc_runtime, zc_make_product):
    tea = await zc_make_product("ship-tea", price=3300, stock=10)
    await set_shipping(zc_runtime, "ship-tea", "CNY", 1000, 9900)
    assert (await price(zc_runtime, [(tea.id, 1)])).brands[0].shipping_minor == 1000
    assert (await price(zc_runtime, [(tea.id, 2)])).total_minor == 6600 + 1000
    q = await price(zc_runtime, [(tea.id, 3)])  # 9900: exactly the threshold ships free
    assert (q.brands[0].shipping_minor, q.total_minor) == (0, 9900)
    # the threshold applies to what is paid for goods, after discounts
    COUPONS.offers = [Adjustment(code="c1", label="1 off", amount_minor=-1, brand_id=None)]
    q = await price(zc_runtime, [(tea.id, 3)])
    assert (q.brands[0].shipping_minor, q.total_minor) == (1000, 9899 + 1000)
    COUPONS.offers = []
    # a flat rate without a threshold always applies; a rate in another currency does not
    await set_shipping(zc_runtime, "ship-tea", "CNY", 800, None)
    assert (await price(zc_runtime, [(tea.id, 10)])).brands[0].shipping_minor == 800
    async with zc_runtime.db.session() as s:
        s.add(VariantPrice(variant_id=tea.id, currency="USD", amount_minor=500))
        await s.commit()
    assert (await price(zc_runtime, [(tea.id, 1)], currency="USD")).brands[0].shipping_minor == 0


async def test_shipping_is_per_brand(zc_runtime, zc_make_product):
    a = await zc_make_product("ship-a", price=1000, stock=5, shipping=500)
    b = await zc_make_product("ship-b", price=2000, stock=5, shipping=700)
    q = await price(zc_runtime, [(a.id, 1), (b.id, 1)])
    assert sorted(bq.shipping_minor for bq in q.brands) == [500, 700]
    assert q.total_minor == 1000 + 2000 + 500 + 700


# ---------------------------------------------------------------- adjustments


async def test_adjustments_never_go_below_zero_and_sum_exactly(zc_runtime, zc_make_product):
    a = await zc_make_product("adj", price=333, stock=5)
    b = await zc_make_product("adj", price=667, stock=5)
    COUPONS.offers = [Adjustment(code="third", label="100 off", amount_minor=-100)]
    q = await price(zc_runtime, [(a.id, 1), (b.id, 1)])
    discounts = [ln.discount_minor for ln in q.brands[0].lines]
    assert sum(discounts) == 100 and discounts == [33, 67]
    COUPONS.offers = [Adjustment(code="all", label="everything off", amount_minor=-10**9)]
    q = await price(zc_runtime, [(a.id, 2), (b.id, 1)])
    assert q.total_minor == 0 and all(ln.net_minor == 0 for ln in q.brands[0].lines)
    # aimed at a brand or variant that is not in the cart: nothing happens
    COUPONS.offers = [Adjustment(code="x", label="x", amount_minor=-50, variant_id=10**12), Adjustment(code="y", label="y", amount_minor=-50, brand_id=10**12)]
    assert (await price(zc_runtime, [(a.id, 1)])).total_minor == 333


# ---------------------------------------------------------------- split checkout, random carts

BRANDS = ("split-a", "split-b", "split-c")
REGIONS = (None, "CN", "US", "DE")  # CN 13% included, US 7.25% added, DE has no rate

adjustment_st = st.tuples(
    st.sampled_from(("variant", "brand", "cart")),
    st.integers(min_value=0, max_value=5),  # which variant / brand
    st.integers(min_value=1, max_value=60_000),  # discount size
    st.integers(min_value=0, max_value=3),  # priority
)
cart_st = st.fixed_dictionaries(
    {
        "prices": st.lists(st.integers(min_value=0, max_value=200_000), min_size=6, max_size=6),
        "lines": st.dictionaries(st.integers(min_value=0, max_value=5), st.integers(min_value=1, max_value=999), min_size=1, max_size=6),
        "adjustments": st.lists(adjustment_st, max_size=5),
        "shipping": st.lists(st.tuples(st.integers(min_value=0, max_value=3000), st.none() | st.integers(min_value=0, max_value=500_000)), min_size=3, max_size=3),
        "region": st.sampled_from(REGIONS),
    }
)


@pytest.fixture
async def split_catalog(zc_runtime, zc_make_product) -> list[Any]:
    await set_tax(zc_runtime, "CN", 130_000, True)
    await set_tax(zc_runtime, "US", 72_500, False)
    variants = []
    for slug in BRANDS:
        for _ in range(2):
            variants.append(await zc_make_product(slug, price=100, stock=10**6))
    return variants


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cart_st)
async def test_split_orders_sum_exactly_to_the_payment(zc_runtime, split_catalog, case):
    variants = split_catalog
    async with zc_runtime.db.session() as s:
        for variant, amount in zip(variants, case["prices"], strict=True):
            await s.execute(update(VariantPrice).where(VariantPrice.variant_id == variant.id, VariantPrice.currency == "CNY").values(amount_minor=amount))
        await s.commit()
    for slug, (amount, free_over) in zip(BRANDS, case["shipping"], strict=True):
        await set_shipping(zc_runtime, slug, "CNY", amount, free_over)
    async with zc_runtime.db.read_session() as s:
        brand_ids = [(await s.execute(select(Brand.id).where(Brand.slug == slug))).scalar_one() for slug in BRANDS]
    offers = []
    for n, (kind, which, size, priority) in enumerate(case["adjustments"]):
        target = {"variant": {"variant_id": variants[which].id}, "brand": {"brand_id": brand_ids[which % 3]}, "cart": {}}[kind]
        offers.append(Adjustment(code=f"c{n}", label=f"coupon {n}", amount_minor=-size, priority=priority, **target))
    COUPONS.offers = offers

    wanted = [(variants[i].id, qty) for i, qty in sorted(case["lines"].items())]
    region = case["region"]
    q = await price(zc_runtime, wanted, region=region)
    for bq in q.brands:
        for ln in bq.lines:
            assert 0 <= ln.discount_minor <= ln.gross_minor and ln.net_minor >= 0
            assert ln.discount_minor == -sum(a["amount_minor"] for a in ln.adjustments)
        assert bq.total_minor == bq.subtotal_minor + bq.shipping_minor + (0 if bq.tax_inclusive else bq.tax_minor)
    assert q.total_minor == sum(bq.total_minor for bq in q.brands)
    gross = sum(ln.gross_minor for bq in q.brands for ln in bq.lines)
    proposed = sum(-a.amount_minor for a in offers)
    assert gross - sum(bq.subtotal_minor for bq in q.brands) <= proposed  # never more discount than offered

    # the same through a real checkout and the payment it asks for
    address = dict(ADDRESS, country=region.split("-")[0] if region else "JP")
    async with zc_runtime.db.session() as s:
        cart = await carts.new_cart(s, user_id=None)
        for variant_id, qty in wanted:
            await carts.set_line(s, cart, variant_id=variant_id, quantity=qty)
        checkout = await start_checkout(s, zc_runtime, cart, None, email=f"{uuid.uuid4().hex[:8]}@example.com", address=address)
        await s.commit()
    payment, _intent = await payments.begin_payment(zc_runtime, checkout.token, None)
    async with zc_runtime.db.read_session() as s:
        orders = await orders_of_checkout(s, checkout.id)
        order_lines = (await s.execute(select(OrderLine).where(OrderLine.order_id.in_([o.id for o in orders])))).scalars().all()
    assert checkout.total_minor == q.total_minor == payment.amount_minor == sum(o.total_minor for o in orders)
    assert len(orders) == len(q.brands)
    for order in orders:
        mine = [ln for ln in order_lines if ln.order_id == order.id]
        assert order.subtotal_minor == sum(ln.quantity * ln.unit_price_minor - ln.discount_minor for ln in mine)
        assert order.discount_minor == sum(ln.discount_minor for ln in mine)
        assert order.total_minor == sum(ln.total_minor for ln in mine) + order.shipping_minor
        assert all(ln.discount_minor >= 0 and ln.total_minor >= 0 for ln in mine)
    await cancel_checkout(zc_runtime, checkout.token, None)  # its holds go back for the next example

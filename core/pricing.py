"""Server-side prices: catalog price, then `price_adjustments` by priority, shipping, tax.

Nothing a client sends is a price. Every figure is integer minor units; a split
checkout's brand totals sum exactly to the payment.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import bindparam, select

from core.catalog.models import Brand, Product, ProductStatus, ShippingRate, TaxRate, Variant, VariantPrice
from core.errors import NotFound, ValidationFailed
from core.money import Money, allocate_minor

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime


class Adjustment(msgspec.Struct, frozen=True, kw_only=True):
    """A price change proposed by a plugin: negative is a discount.

    `variant_id` targets one line; None spreads it over the brand's lines (or the whole
    cart if `brand_id` is None too) in proportion to their amounts.
    """

    code: str
    label: str
    amount_minor: int
    priority: int = 100
    variant_id: int | None = None
    brand_id: int | None = None


class PricingLine(msgspec.Struct, frozen=True, kw_only=True):
    """What `price_adjustments` and `validate_checkout` see of a line."""

    variant_id: int
    product_id: int
    brand_id: int
    sku: str
    quantity: int
    unit_price_minor: int


class PricingCart(msgspec.Struct, frozen=True, kw_only=True):
    currency: str
    user_id: int | None
    lines: list[PricingLine]
    region: str | None = None
    codes: tuple[str, ...] = ()  # creator discount codes the shopper applied (upper case)
    cart_id: int | None = None  # the cart being priced or checked out (None for a bare quote)
    cart_kind: str = "shop"  # "shop", or the kind of a plugin's one-off cart (core.orders.cart.new_cart)


@dataclass
class LineQuote:
    variant_id: int
    product_id: int
    brand_id: int
    title: str
    sku: str
    options: dict[str, Any]
    quantity: int
    unit_price_minor: int
    discount_minor: int = 0
    tax_minor: int = 0
    adjustments: list[dict[str, Any]] = field(default_factory=list)

    @property
    def gross_minor(self) -> int:
        return self.quantity * self.unit_price_minor

    @property
    def net_minor(self) -> int:
        return self.gross_minor - self.discount_minor


@dataclass
class BrandQuote:
    brand_id: int
    brand_name: str
    lines: list[LineQuote]
    shipping_minor: int = 0
    tax_minor: int = 0
    tax_inclusive: bool = True

    @property
    def subtotal_minor(self) -> int:
        return sum(line.net_minor for line in self.lines)

    @property
    def discount_minor(self) -> int:
        return sum(line.discount_minor for line in self.lines)

    @property
    def total_minor(self) -> int:
        return self.subtotal_minor + self.shipping_minor + (0 if self.tax_inclusive else self.tax_minor)


@dataclass
class Quote:
    currency: str
    brands: list[BrandQuote]
    region: str | None

    @property
    def total_minor(self) -> int:
        return sum(b.total_minor for b in self.brands)

    def money(self, amount_minor: int) -> Money:
        return Money(amount_minor, self.currency)


async def _call_runtime_hook(hook: Any, **kwargs: Any) -> list[Any]:
    results = []
    for result in hook(**kwargs):
        if inspect.isawaitable(result):
            result = await result
        if result:
            results.append(result)
    return results


@dataclass(frozen=True)
class BrandInfo:
    """What a quote needs of a brand, read with its lines: its name and shipping rate."""

    name: str
    shipping_minor: int | None  # None: no rate in this currency
    free_over_minor: int | None


def _line_columns() -> tuple[Any, ...]:
    return (
        Variant.id, Variant.sku, Variant.options, Variant.is_active, Product.id, Product.title, Product.status, Product.brand_id,
        VariantPrice.amount_minor, Brand.name, ShippingRate.amount_minor, ShippingRate.free_over_minor,
    )


def _line_joins(stmt: Any) -> Any:
    # one row per line: shipping_rate's key is (brand_id, currency), variant_price's (variant_id, currency)
    currency = bindparam("currency")
    return (
        stmt.join(Product, Product.id == Variant.product_id)
        .join(Brand, Brand.id == Product.brand_id)
        .outerjoin(VariantPrice, (VariantPrice.variant_id == Variant.id) & (VariantPrice.currency == currency))
        .outerjoin(ShippingRate, (ShippingRate.brand_id == Product.brand_id) & (ShippingRate.currency == currency))
    )


@functools.cache
def _variants_query() -> Any:
    # built once (bound parameters): no statement construction or cache-key work per call
    return _line_joins(select(*_line_columns()).select_from(Variant)).where(Variant.id.in_(bindparam("ids", expanding=True)))


@functools.cache
def _cart_query() -> Any:
    from core.orders.models import CartLine

    return (
        _line_joins(select(CartLine.variant_id, CartLine.quantity, *_line_columns()).select_from(CartLine).join(Variant, Variant.id == CartLine.variant_id))
        .where(CartLine.cart_id == bindparam("cart_id"))
        .order_by(CartLine.id)
    )


def _lines_from(rows: dict[int, Any], wanted: list[tuple[int, int]], currency: str, brands: dict[int, BrandInfo], *, strict: bool) -> list[LineQuote]:
    lines = []
    for variant_id, quantity in wanted:
        row = rows.get(variant_id)
        if row is None:
            if strict:
                raise NotFound(f"variant {variant_id} does not exist", extra={"variant_id": variant_id})
            continue
        vid, sku, options, is_active, product_id, title, status, brand_id, price, brand_name, ship, free_over = row
        if status != ProductStatus.ACTIVE or not is_active:
            if strict:
                raise ValidationFailed(f"{title} ({sku}) is not for sale", extra={"variant_id": variant_id})
            continue
        if price is None:
            if strict:
                raise ValidationFailed(f"{title} ({sku}) has no price in {currency}", extra={"variant_id": variant_id})
            continue
        if brand_id not in brands:
            brands[brand_id] = BrandInfo(name=brand_name, shipping_minor=ship, free_over_minor=free_over)
        lines.append(
            LineQuote(
                variant_id=vid, product_id=product_id, brand_id=brand_id, title=title, sku=sku,
                options=dict(options or {}), quantity=quantity, unit_price_minor=price,
            )
        )
    return lines


async def _load(session: AsyncSession, currency: str, wanted: list[tuple[int, int]]) -> tuple[list[LineQuote], dict[int, BrandInfo]]:
    brands: dict[int, BrandInfo] = {}
    if not wanted:
        return [], brands
    rows = (await session.execute(_variants_query(), {"currency": currency, "ids": [vid for vid, _ in wanted]})).all()
    return _lines_from({r[0]: r for r in rows}, wanted, currency, brands, strict=True), brands


async def load_lines(session: AsyncSession, currency: str, wanted: list[tuple[int, int]]) -> list[LineQuote]:
    """Catalog prices for (variant_id, quantity) pairs; refuses what cannot be sold."""
    return (await _load(session, currency, wanted))[0]


async def load_cart(session: AsyncSession, cart_id: int, currency: str, *, strict: bool) -> tuple[list[LineQuote], dict[int, BrandInfo]]:
    """A cart's lines, in cart order, priced from the catalog, with their brands (one query).

    `strict` refuses a line that cannot be sold (checkout); otherwise such lines are
    left out (showing a cart whose items went off sale)."""
    rows = (await session.execute(_cart_query(), {"currency": currency, "cart_id": cart_id})).all()
    wanted = [(r[0], r[1]) for r in rows]
    brands: dict[int, BrandInfo] = {}
    return _lines_from({r[0]: r[2:] for r in rows}, wanted, currency, brands, strict=strict), brands


def _apply(lines: list[LineQuote], adjustment: Adjustment, source: str) -> None:
    targets = [ln for ln in lines if (adjustment.variant_id is None or ln.variant_id == adjustment.variant_id) and (adjustment.brand_id is None or ln.brand_id == adjustment.brand_id)]
    if not targets or adjustment.amount_minor == 0:
        return
    if adjustment.amount_minor > 0:
        raise ValidationFailed(f"adjustment {adjustment.code!r} from {source} would raise a price")
    weights = [ln.net_minor for ln in targets]
    if sum(weights) == 0:
        return
    # never discount below zero: cap at what the lines still cost
    amount = min(-adjustment.amount_minor, sum(weights))
    for line, share in zip(targets, allocate_minor(amount, weights), strict=True):
        if share:
            line.discount_minor += share
            line.adjustments.append({"code": adjustment.code, "label": adjustment.label, "amount_minor": -share, "source": source})


def _tax_portion(amount: int, rate_ppm: int, inclusive: bool) -> int:
    """Tax in minor units, half up: the part inside an inclusive price, or on top otherwise."""
    numerator = amount * rate_ppm
    denominator = 1_000_000 + rate_ppm if inclusive else 1_000_000
    q, r = divmod(numerator, denominator)
    return q + (1 if r * 2 >= denominator else 0)


async def quote(session: AsyncSession, runtime: Runtime, *, currency: str, user_id: int | None, wanted: list[tuple[int, int]], region: str | None = None) -> Quote:
    lines, brands = await _load(session, currency, wanted)
    return await price_lines(session, runtime, currency=currency, user_id=user_id, lines=lines, brands=brands, region=region)


async def price_lines(
    session: AsyncSession, runtime: Runtime, *, currency: str, user_id: int | None, lines: list[LineQuote], brands: dict[int, BrandInfo], region: str | None = None,
    codes: tuple[str, ...] = (), cart_id: int | None = None, cart_kind: str = "shop",
) -> Quote:
    """Adjustments, shipping and tax for lines loaded by `load_lines`/`load_cart` (which
    also give `brands`). `codes`: the cart's creator codes, passed to the hook, with the
    cart's id and kind (a plugin prices its own one-off carts)."""
    cart = PricingCart(
        currency=currency, user_id=user_id, region=region, codes=codes, cart_id=cart_id, cart_kind=cart_kind,
        lines=[PricingLine(variant_id=ln.variant_id, product_id=ln.product_id, brand_id=ln.brand_id, sku=ln.sku, quantity=ln.quantity, unit_price_minor=ln.unit_price_minor) for ln in lines],
    )
    proposals: list[tuple[Adjustment, str]] = []
    offered = {"cart": cart, "runtime": runtime}
    for impl in reversed(runtime.pm.hook.price_adjustments.get_hookimpls()):
        result = impl.function(**{name: offered[name] for name in impl.argnames})  # only what it names, as pluggy does
        if inspect.isawaitable(result):
            result = await result
        for adj in result or ():
            if not isinstance(adj, Adjustment):
                raise TypeError(f"plugin {impl.plugin_name!r}: hook price_adjustments must return core.pricing.Adjustment items")
            proposals.append((adj, impl.plugin_name))
    for adj, source in sorted(proposals, key=lambda p: (p[0].priority, p[0].code, p[1])):
        _apply(lines, adj, source)

    brand_ids = sorted({ln.brand_id for ln in lines})
    tax = await _tax_rate(session, region)
    out = []
    for brand_id in brand_ids:
        info = brands[brand_id]
        bq = BrandQuote(brand_id=brand_id, brand_name=info.name, lines=[ln for ln in lines if ln.brand_id == brand_id])
        if info.shipping_minor is not None and not (info.free_over_minor is not None and bq.subtotal_minor >= info.free_over_minor):
            bq.shipping_minor = info.shipping_minor
        if tax is not None:
            bq.tax_inclusive = tax.inclusive
            for ln in bq.lines:
                ln.tax_minor = _tax_portion(ln.net_minor, tax.rate_ppm, tax.inclusive)
            bq.tax_minor = sum(ln.tax_minor for ln in bq.lines)
        out.append(bq)
    return Quote(currency=currency, brands=out, region=region)


@functools.cache
def _tax_query() -> Any:
    return select(TaxRate).where(TaxRate.region.in_(bindparam("regions", expanding=True)))


async def _tax_rate(session: AsyncSession, region: str | None) -> TaxRate | None:
    """The most specific rate: "CN-31" before "CN"."""
    if not region:
        return None
    candidates = [region.upper()]
    if "-" in region:
        candidates.append(region.split("-")[0].upper())
    rows = {r.region: r for r in (await session.execute(_tax_query(), {"regions": candidates})).scalars()}
    for c in candidates:
        if c in rows:
            return rows[c]
    return None


async def validate(runtime: Runtime, q: Quote, *, user_id: int | None, cart_id: int | None = None, cart_kind: str = "shop", codes: tuple[str, ...] = ()) -> None:
    """Run `validate_checkout`; any problem stops the checkout before anything is written.
    The hook sees the cart as `price_adjustments` did: its id, kind and codes included."""
    cart = PricingCart(
        currency=q.currency, user_id=user_id, region=q.region, cart_id=cart_id, cart_kind=cart_kind, codes=codes,
        lines=[PricingLine(variant_id=ln.variant_id, product_id=ln.product_id, brand_id=ln.brand_id, sku=ln.sku, quantity=ln.quantity, unit_price_minor=ln.unit_price_minor) for b in q.brands for ln in b.lines],
    )
    problems: list[str] = []
    for result in await _call_runtime_hook(runtime.pm.hook.validate_checkout, cart=cart, runtime=runtime):
        problems.extend(result)
    if problems:
        raise ValidationFailed("; ".join(problems), extra={"problems": problems})

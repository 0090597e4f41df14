from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import msgspec

Quantity = Annotated[int, msgspec.Meta(ge=0, le=999)]
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]
Minor = Annotated[int, msgspec.Meta(ge=1, le=10**15)]


class CartIn(msgspec.Struct, forbid_unknown_fields=True):
    currency: Annotated[str, msgspec.Meta(min_length=3, max_length=3)] = "CNY"


class LineIn(msgspec.Struct, forbid_unknown_fields=True):
    variant_id: Id
    quantity: Quantity = 1


class QuantityIn(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Quantity


class AddressIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    phone: str
    line1: str
    city: str
    country: Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
    line2: str = ""
    region: str = ""
    postal_code: str = ""


class CheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    address: AddressIn
    email: Annotated[str, msgspec.Meta(max_length=320)] | None = None


class PayIn(msgspec.Struct, forbid_unknown_fields=True):
    payment_method: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    provider: str | None = None
    capture_method: str = "automatic"


class IntentIn(msgspec.Struct, forbid_unknown_fields=True):
    provider: str | None = None
    capture_method: str = "automatic"


class AdjustmentOut(msgspec.Struct):
    code: str
    label: str
    amount_minor: int
    source: str


class CartLineOut(msgspec.Struct):
    variant_id: int
    product_id: int
    title: str
    sku: str
    options: dict[str, Any]
    quantity: int
    unit_price_minor: int
    discount_minor: int
    line_total_minor: int
    adjustments: list[AdjustmentOut]


class BrandGroupOut(msgspec.Struct):
    brand_id: int
    brand_name: str
    lines: list[CartLineOut]
    subtotal_minor: int
    shipping_minor: int
    tax_minor: int
    tax_inclusive: bool
    total_minor: int


class CartOut(msgspec.Struct):
    token: str
    currency: str
    status: str
    groups: list[BrandGroupOut]
    total_minor: int
    unavailable_variant_ids: list[int]
    codes: list[str] = msgspec.field(default_factory=list)  # creator codes applied (POST /carts/{token}/codes)


class OrderLineOut(msgspec.Struct):
    id: int
    variant_id: int
    title: str
    sku: str
    options: dict[str, Any]
    quantity: int
    unit_price_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    restocked_quantity: int


class TransitionOut(msgspec.Struct):
    from_status: str | None
    to_status: str
    actor_kind: str
    actor_user_id: int | None
    at: datetime
    note: str


class OrderOut(msgspec.Struct):
    id: int
    number: str
    brand_id: int
    status: str
    currency: str
    subtotal_minor: int
    discount_minor: int
    shipping_minor: int
    tax_minor: int
    tax_inclusive: bool
    total_minor: int
    refunded_minor: int
    email: str
    address: dict[str, Any]
    carrier: str | None
    tracking_number: str | None
    created_at: datetime
    paid_at: datetime | None
    lines: list[OrderLineOut] = []
    transitions: list[TransitionOut] = []


class PaymentOut(msgspec.Struct):
    id: int
    provider: str
    status: str
    amount_minor: int
    captured_minor: int
    refunded_minor: int
    test_mode: bool
    client_secret: str | None = None
    last_error: str | None = None


class CheckoutOut(msgspec.Struct):
    token: str
    status: str
    currency: str
    total_minor: int
    email: str
    expires_at: datetime
    orders: list[OrderOut]
    payment: PaymentOut | None = None


class FulfilIn(msgspec.Struct, forbid_unknown_fields=True):
    carrier: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    tracking_number: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]


class RefundRequestIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
    amount_minor: Minor | None = None


class RefundIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: Minor
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""
    restock_line_ids: list[Id] = []


class ApproveIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: Minor | None = None
    restock_line_ids: list[Id] = []


class RejectIn(msgspec.Struct, forbid_unknown_fields=True):
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class CancelIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class RefundOut(msgspec.Struct):
    id: int
    order_id: int
    amount_minor: int
    currency: str
    status: str
    reason: str
    restock_line_ids: list[int]
    created_at: datetime


class StockIn(msgspec.Struct, forbid_unknown_fields=True):
    quantity: Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)]
    location: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] | None = None


class PoolIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)]
    location: Annotated[str, msgspec.Meta(min_length=1, max_length=80)] | None = None  # a location's name; default the first


class LocationIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]


class LocationOut(msgspec.Struct):
    id: int
    name: str
    position: int


class LocationStockOut(msgspec.Struct):
    """One location: on_hand = available + reserved + committed + in_pools."""

    location_id: int
    location: str
    on_hand: int
    available: int
    reserved: int
    committed: int
    in_pools: int


class StockOut(msgspec.Struct):
    variant_id: int
    on_hand: int
    available: int
    reserved: int
    committed: int
    pooled: int
    locations: list[LocationStockOut] = []


class PoolOut(msgspec.Struct):
    id: int
    name: str
    variant_id: int
    available: int
    reserved: int
    committed: int
    location_id: int | None = None
    location: str | None = None
    sku: str | None = None
    campaign_id: int | None = None  # set for a campaign's samples pool (released when the campaign completes)


class ReleaseOut(msgspec.Struct):
    released: int  # units given back to general stock by this call (0 when repeated)
    pool: PoolOut

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import msgspec

# A database id: positive and within BIGINT, so a huge number is a 400, not a driver error.
Id = Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1)]


class BrandOut(msgspec.Struct):
    id: int
    slug: str
    name: str
    description: str


class BrandIn(msgspec.Struct, forbid_unknown_fields=True):
    slug: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    description: Annotated[str, msgspec.Meta(max_length=5000)] = ""
    owner_id: Id | None = None


class BrandMemberIn(msgspec.Struct, forbid_unknown_fields=True):
    user_id: Id
    role: str = "staff"


class BrandMemberOut(msgspec.Struct):
    brand_id: int
    user_id: int
    role: str


class Page(msgspec.Struct):
    items: list[BrandOut]
    limit: int
    offset: int


# ---------------------------------------------------------------- catalog: shared pieces

Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
Title = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Description = Annotated[str, msgspec.Meta(max_length=20_000)]
Tags = Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=50)]
OptionNames = Annotated[list[Annotated[str, msgspec.Meta(max_length=100)]], msgspec.Meta(max_length=10)]
Options = Annotated[dict[Annotated[str, msgspec.Meta(max_length=100)], Annotated[str, msgspec.Meta(max_length=200)]], msgspec.Meta(max_length=10)]
Sku = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
# Minor units: integers only (msgspec refuses floats and bools for int), within BIGINT.
Amount = Annotated[int, msgspec.Meta(ge=0, le=10**15)]
Position = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]
Weight = Annotated[int, msgspec.Meta(ge=0, le=1_000_000)]


# ---------------------------------------------------------------- catalog: answers


class BrandRefOut(msgspec.Struct):
    slug: str
    name: str


class CategoryRefOut(msgspec.Struct):
    id: int
    slug: str
    name: str


class CategoryNodeOut(msgspec.Struct):
    id: int
    slug: str
    name: str
    position: int
    parent_id: int | None
    children: list[CategoryNodeOut]


class PriceOut(msgspec.Struct):
    amount_minor: int
    compare_at_minor: int | None


class VariantOut(msgspec.Struct):
    id: int
    sku: str
    options: dict[str, str]
    weight_grams: int
    position: int
    is_active: bool
    prices: dict[str, PriceOut]  # currency -> price


class MediaSizeOut(msgspec.Struct):
    url: str
    width: int
    height: int


class MediaOut(msgspec.Struct):
    id: int
    url: str
    content_type: str
    width: int
    height: int
    alt: str
    position: int
    sizes: dict[str, MediaSizeOut]  # "320", "960"


class ProductOut(msgspec.Struct):
    id: int
    slug: str
    title: str
    description: str
    status: str
    brand: BrandRefOut
    category: CategoryRefOut | None
    tags: list[str]
    option_names: list[str]
    media: list[MediaOut]
    variants: list[VariantOut]


class ProductSummaryOut(msgspec.Struct):
    """A product card: the first image and, per currency, the lowest price."""

    id: int
    slug: str
    title: str
    brand: BrandRefOut
    category: CategoryRefOut | None
    tags: list[str]
    image: MediaOut | None
    price_from: dict[str, PriceOut]


class ProductPage(msgspec.Struct):
    items: list[ProductSummaryOut]
    limit: int
    offset: int


class ManagedProductPage(msgspec.Struct):
    items: list[ProductOut]
    limit: int
    offset: int


class ShippingRateOut(msgspec.Struct):
    currency: str
    amount_minor: int
    free_over_minor: int | None


class TaxRateOut(msgspec.Struct):
    region: str
    rate_percent: str  # exact decimal, e.g. "8.875"
    inclusive: bool


# ---------------------------------------------------------------- catalog: requests


class CategoryIn(msgspec.Struct, forbid_unknown_fields=True):
    slug: Annotated[str, msgspec.Meta(min_length=1, max_length=80)]
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)]
    parent_id: Id | None = None
    position: Position = 0


class CategoryPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=120)] | msgspec.UnsetType = msgspec.UNSET
    parent_id: Id | None | msgspec.UnsetType = msgspec.UNSET
    position: Position | msgspec.UnsetType = msgspec.UNSET


class ProductIn(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug
    title: Title
    description: Description = ""
    category_id: Id | None = None
    tags: Tags = msgspec.field(default_factory=list)
    option_names: OptionNames = msgspec.field(default_factory=list)


class ProductPatch(msgspec.Struct, forbid_unknown_fields=True):
    slug: Slug | msgspec.UnsetType = msgspec.UNSET
    title: Title | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    category_id: Id | None | msgspec.UnsetType = msgspec.UNSET  # null clears it
    tags: Tags | msgspec.UnsetType = msgspec.UNSET
    option_names: OptionNames | msgspec.UnsetType = msgspec.UNSET


class StatusIn(msgspec.Struct, forbid_unknown_fields=True):
    status: Literal["draft", "active", "archived"]


class VariantIn(msgspec.Struct, forbid_unknown_fields=True):
    sku: Sku
    options: Options = msgspec.field(default_factory=dict)
    weight_grams: Weight = 0
    position: Position | None = None
    is_active: bool = True


class VariantPatch(msgspec.Struct, forbid_unknown_fields=True):
    sku: Sku | msgspec.UnsetType = msgspec.UNSET
    options: Options | msgspec.UnsetType = msgspec.UNSET
    weight_grams: Weight | msgspec.UnsetType = msgspec.UNSET
    position: Position | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class PriceIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: Amount
    compare_at_minor: Amount | None = None


class ShippingRateIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: Amount
    free_over_minor: Amount | None = None


class TaxRateIn(msgspec.Struct, forbid_unknown_fields=True):
    rate_percent: Decimal  # a JSON number or string, up to 4 decimals: 13, "8.875"
    inclusive: bool = True

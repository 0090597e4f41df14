"""The `products` search index: active products, with their brand, category, tags,
lowest price in the search currency and whether any variant is in stock."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from core.search.base import SearchIndex, Sort

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime


@dataclass
class ProductSource:
    """What a product's document is built from (loaded in batches)."""

    id: int
    slug: str
    title: str
    description: str
    tags: list[str]
    brand_slug: str
    brand_name: str
    categories: list[tuple[str, str]]  # (slug, name), the product's category first, then its ancestors
    price_minor: int | None  # the lowest active variant price in the search currency
    currency: str
    in_stock: bool
    image: str | None
    created_at: int
    version: int
    extra: dict[str, Any] = field(default_factory=dict)


async def load_products(session: AsyncSession, runtime: Runtime, ids: list[str]) -> Mapping[str, ProductSource]:
    from core.catalog.media import media_url
    from core.catalog.models import (
        Brand,
        Category,
        Product,
        ProductMedia,
        ProductStatus,
        Variant,
        VariantPrice,
    )
    from core.catalog.service import _depth_and_ancestors
    from core.inventory.models import StockLevel

    wanted = [int(i) for i in ids if i.isdigit()]
    if not wanted:
        return {}
    currency = runtime.settings.search_currency
    rows = (await session.execute(
        select(Product, Brand.slug, Brand.name).join(Brand, Brand.id == Product.brand_id)
        .where(Product.id.in_(wanted), Product.status == ProductStatus.ACTIVE.value)
    )).all()  # fmt: skip
    if not rows:
        return {}
    found = [r[0].id for r in rows]
    variants = (await session.execute(
        select(Variant.product_id, func.max(Variant.updated_at), func.min(VariantPrice.amount_minor))
        .outerjoin(VariantPrice, (VariantPrice.variant_id == Variant.id) & (VariantPrice.currency == currency))
        .where(Variant.product_id.in_(found), Variant.is_active.is_(True)).group_by(Variant.product_id)
    )).all()  # fmt: skip
    per_product = {pid: (changed, price) for pid, changed, price in variants}
    stocked = set((await session.execute(
        select(Variant.product_id).join(StockLevel, StockLevel.variant_id == Variant.id)
        .where(Variant.product_id.in_(found), Variant.is_active.is_(True), StockLevel.available > 0).distinct()
    )).scalars())  # fmt: skip
    images: dict[int, str] = {}
    for pid, path in (await session.execute(
        select(ProductMedia.product_id, ProductMedia.path).where(ProductMedia.product_id.in_(found)).order_by(ProductMedia.product_id, ProductMedia.position)
    )).all():  # fmt: skip
        images.setdefault(pid, media_url(path))
    categories = {c.id: c for c in (await session.execute(select(Category))).scalars()}
    parents = {cid: c.parent_id for cid, c in categories.items()}
    out: dict[str, ProductSource] = {}
    for product, brand_slug, brand_name in rows:
        chain = [(categories[cid].slug, categories[cid].name) for cid in _depth_and_ancestors(parents, product.category_id) if cid in categories]
        changed, price = per_product.get(product.id, (None, None))
        stamps = [product.updated_at] + ([changed] if changed is not None else [])
        out[str(product.id)] = ProductSource(
            id=product.id, slug=product.slug, title=product.title, description=product.description, tags=[str(t) for t in product.tags or []],
            brand_slug=brand_slug, brand_name=brand_name, categories=chain, price_minor=price, currency=currency,
            in_stock=product.id in stocked, image=images.get(product.id), created_at=int(product.created_at.timestamp()),
            version=int(max(stamps).timestamp() * 1_000_000),
        )
    return out


async def product_ids(session: AsyncSession, runtime: Runtime, after: str | None, limit: int) -> list[str]:
    from core.catalog.models import Product, ProductStatus

    query = select(Product.id).where(Product.status == ProductStatus.ACTIVE.value).order_by(Product.id).limit(limit)
    if after is not None:
        query = query.where(Product.id > int(after))
    return [str(i) for i in (await session.execute(query)).scalars()]


def product_document(obj: ProductSource) -> dict[str, Any]:
    return {
        "version": obj.version,
        "title": obj.title,
        "brand_name": obj.brand_name,
        "category_names": " ".join(name for _, name in obj.categories),
        "tags_text": " ".join(obj.tags),
        "description": obj.description[:2_000],
        "brand": obj.brand_slug,
        "category": [slug for slug, _ in obj.categories],
        "tags": obj.tags,
        "price": obj.price_minor if obj.price_minor is not None else 0,
        "in_stock": obj.in_stock,
        "created_at": obj.created_at,
        "slug": obj.slug,
        "currency": obj.currency,
        "image": obj.image,
    }


PRODUCTS = SearchIndex(
    name="products",
    searchable=("title", "brand_name", "category_names", "tags_text", "description"),
    filterable={"brand": "keyword", "category": "keywords", "tags": "keywords", "price": "int", "in_stock": "bool", "created_at": "time"},
    sortable=("price", "created_at"),
    sorts={"newest": Sort("created_at"), "price_asc": Sort("price", descending=False), "price_desc": Sort("price")},
    ranking=(("created_at", True),),
    browse="newest",
    facets=("brand", "category", "tags", "in_stock"),
    ranges=("price", "created_at"),
    suggest="title",
    load=load_products,
    ids=product_ids,
    events={"product.changed": lambda payload: payload.get("ids", ())},
)

"""Catalog services: brands, categories, products, variants, prices, shipping and tax rates.

Rules every function here keeps:
- Brand staff act only on their own brand's products (`require_brand_member`); platform
  staff are not exempt. A product, variant or media id of another brand is "not found",
  never "forbidden", so ids leak nothing.
- Public reads (`list_active_products`, `get_active_product`) only ever see ACTIVE
  products and their active variants.
- Money is integer minor units; bools and floats are refused, not coerced.
- Reads load a page of products in a fixed number of queries (products with brand and
  category, variants with prices, media), whatever the page size.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from sqlalchemy import exists, func, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import IntegrityError

from core.auth.models import User
from core.auth.permissions import Actor, can_act_for_brand, require_actor, require_brand_member, require_staff
from core.catalog.models import (
    Brand,
    BrandMember,
    Category,
    Product,
    ProductMedia,
    ProductStatus,
    ShippingRate,
    TaxRate,
    Variant,
    VariantPrice,
)
from core.db import valid_id
from core.errors import Conflict, NotFound, ValidationFailed
from core.events import mark_changed, record_event
from core.money import validate_currency

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,78}[a-z0-9])?$")
PRODUCT_SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,118}[a-z0-9])?$")
SKU_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
REGION_RE = re.compile(r"^[A-Z]{2}(?:-[A-Z0-9]{1,3})?$")

MAX_TAGS = 20
MAX_TAG_LENGTH = 32
MAX_OPTION_NAMES = 3
MAX_OPTION_NAME_LENGTH = 40
MAX_OPTION_VALUE_LENGTH = 60
MAX_WEIGHT_GRAMS = 1_000_000  # one tonne
MAX_POSITION = 1_000_000
MAX_AMOUNT_MINOR = 10**15  # far beyond any price, far within BIGINT
MAX_CATEGORY_DEPTH = 6

# draft -> active -> archived, an archived product may be reworked as a draft, and a
# draft that never sold may be archived directly.
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    ProductStatus.DRAFT: frozenset({ProductStatus.ACTIVE, ProductStatus.ARCHIVED}),
    ProductStatus.ACTIVE: frozenset({ProductStatus.ARCHIVED}),
    ProductStatus.ARCHIVED: frozenset({ProductStatus.DRAFT}),
}

_UNSET: Any = object()  # "leave as it is" for update functions, where None may mean "clear"


# ---------------------------------------------------------------- input helpers


def _has_control(text: str, allow_newlines: bool = False) -> bool:
    for ch in text:
        if allow_newlines and ch in "\n\r\t":
            continue
        if unicodedata.category(ch) == "Cc":
            return True
    return False


def _clean_text(value: Any, what: str, max_length: int, *, allow_empty: bool = False, multiline: bool = False) -> str:
    if not isinstance(value, str):
        raise ValidationFailed(f"{what} must be a string")
    if "\x00" in value or _has_control(value, allow_newlines=multiline):
        raise ValidationFailed(f"{what} must not contain control characters")
    cleaned = value if multiline else value.strip()
    if not cleaned.strip() and not allow_empty:
        raise ValidationFailed(f"{what} must not be empty")
    if len(cleaned) > max_length:
        raise ValidationFailed(f"{what} must be at most {max_length} characters")
    return cleaned


def _int(value: Any, what: str, *, minimum: int = 0, maximum: int = MAX_AMOUNT_MINOR) -> int:
    """An exact integer: bools, floats, decimals and strings are refused, never coerced."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{what} must be an integer")
    if value < minimum or value > maximum:
        raise ValidationFailed(f"{what} must be between {minimum} and {maximum}")
    return value


def _currency(code: Any) -> str:
    if not isinstance(code, str) or len(code) != 3 or not code.isascii():
        raise ValidationFailed(f"unsupported currency {code!r}")
    try:
        return validate_currency(code)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from exc


def _product_slug(slug: Any) -> str:
    if not isinstance(slug, str) or not PRODUCT_SLUG_RE.match(slug):
        raise ValidationFailed("slug must be 1-120 lowercase letters, digits or hyphens, not starting or ending with a hyphen")
    return slug


def _category_slug(slug: Any) -> str:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ValidationFailed("slug must be 1-80 lowercase letters, digits or hyphens, not starting or ending with a hyphen")
    return slug


def normalise_tags(tags: Any) -> list[str]:
    """Trimmed, lower-cased, inner spaces collapsed, a leading '#' dropped, duplicates
    removed (first one wins), at most 20 tags of at most 32 characters."""
    if not isinstance(tags, (list, tuple)):
        raise ValidationFailed("tags must be a list of strings")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str):
            raise ValidationFailed("tags must be a list of strings")
        if _has_control(tag):
            raise ValidationFailed("tags must not contain control characters")
        cleaned = " ".join(tag.strip().lstrip("#").split()).lower()
        if not cleaned:
            raise ValidationFailed("tags must not be empty")
        if len(cleaned) > MAX_TAG_LENGTH:
            raise ValidationFailed(f"each tag must be at most {MAX_TAG_LENGTH} characters")
        if cleaned not in out:
            out.append(cleaned)
    if len(out) > MAX_TAGS:
        raise ValidationFailed(f"at most {MAX_TAGS} tags")
    return out


def _option_names(names: Any) -> list[str]:
    if not isinstance(names, (list, tuple)):
        raise ValidationFailed("option_names must be a list of strings")
    out: list[str] = []
    for name in names:
        cleaned = _clean_text(name, "an option name", MAX_OPTION_NAME_LENGTH)
        if cleaned.casefold() in (n.casefold() for n in out):
            raise ValidationFailed(f"option name {cleaned!r} is repeated")
        out.append(cleaned)
    if len(out) > MAX_OPTION_NAMES:
        raise ValidationFailed(f"at most {MAX_OPTION_NAMES} option names")
    return out


def _variant_options(options: Any, option_names: list[str]) -> dict[str, str]:
    """The option values of a variant: exactly the product's option names as keys, in their order."""
    if not isinstance(options, dict):
        raise ValidationFailed("options must be an object")
    if set(options) != set(option_names):
        expected = ", ".join(option_names) or "no options"
        raise ValidationFailed(f"options must name exactly the product's options ({expected})")
    return {name: _clean_text(options[name], f"option {name!r}", MAX_OPTION_VALUE_LENGTH) for name in option_names}


def _same_options(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return {k: str(v).casefold() for k, v in a.items()} == {k: str(v).casefold() for k, v in b.items()}


@asynccontextmanager
async def _savepoint(session: AsyncSession, conflict: str) -> AsyncIterator[None]:
    """Add rows inside a savepoint: a unique-constraint race (the pre-checks passed, a
    concurrent transaction won) costs this change only, and becomes a 409."""
    try:
        async with session.begin_nested():
            yield
    except IntegrityError as exc:
        raise Conflict(conflict) from exc


async def _flush(session: AsyncSession, conflict: str) -> None:
    try:
        await session.flush()
    except IntegrityError as exc:  # only a race gets here: callers check first
        raise Conflict(conflict) from exc


# ---------------------------------------------------------------- brands


async def list_brands(session: AsyncSession, *, limit: int = 50, offset: int = 0) -> list[Brand]:
    rows = await session.execute(select(Brand).order_by(Brand.name).limit(limit).offset(offset))
    return list(rows.scalars())


async def get_brand_by_slug(session: AsyncSession, slug: str) -> Brand:
    # PostgreSQL rejects NUL in text; no slug holds one anyway
    brand = None if "\x00" in slug else (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none()
    if brand is None:
        raise NotFound(f"no brand {slug!r}")
    return brand


async def brands_of_user(session: AsyncSession, user_id: int) -> list[tuple[Brand, str]]:
    rows = await session.execute(
        select(Brand, BrandMember.role).join(BrandMember, BrandMember.brand_id == Brand.id).where(BrandMember.user_id == user_id).order_by(Brand.name)
    )
    return [(b, r) for b, r in rows.all()]


async def create_brand(session: AsyncSession, runtime: Runtime, actor: Actor, *, slug: str, name: str, description: str = "", owner_id: int | None = None) -> Brand:
    """Platform staff open brands and name their first owner."""
    require_staff(actor)
    if not SLUG_RE.match(slug):
        raise ValidationFailed("slug must be 1-80 lowercase letters, digits or hyphens")
    if not name.strip():
        raise ValidationFailed("name must not be empty")
    if "\x00" in name or "\x00" in description:
        raise ValidationFailed("name and description must not contain NUL characters")
    brand = Brand(slug=slug, name=name.strip(), description=description)
    session.add(brand)
    try:
        await session.flush()
    except IntegrityError as exc:
        await session.rollback()
        raise Conflict(f"brand slug {slug!r} is taken") from exc
    if owner_id is not None:
        await add_brand_member(session, runtime, actor, brand_id=brand.id, user_id=owner_id, role="owner")
    return brand


async def add_brand_member(session: AsyncSession, runtime: Runtime, actor: Actor, *, brand_id: int, user_id: int, role: str = "staff") -> BrandMember:
    if not actor.is_staff:
        require_brand_member(actor, brand_id, role="owner")
    if role not in ("owner", "staff"):
        raise ValidationFailed("role must be owner or staff")
    if await session.get(User, user_id) is None:
        raise NotFound(f"no user {user_id}")
    member = await session.get(BrandMember, (brand_id, user_id))
    if member is None:
        member = BrandMember(brand_id=brand_id, user_id=user_id, role=role)
        session.add(member)
        record_event(session, runtime, "brand.member_added", {"brand_id": brand_id, "user_id": user_id, "role": role})
    else:
        member.role = role
    await session.flush()
    return member


# ---------------------------------------------------------------- categories


@dataclass(slots=True)
class CategoryNode:
    category: Category
    children: list[CategoryNode] = field(default_factory=list)


async def _all_categories(session: AsyncSession) -> list[Category]:
    return list((await session.execute(select(Category).order_by(Category.position, Category.name, Category.id))).scalars())


async def category_tree(session: AsyncSession) -> list[CategoryNode]:
    """The whole tree, roots first, siblings by position then name. One query."""
    categories = await _all_categories(session)
    nodes = {c.id: CategoryNode(c) for c in categories}
    roots: list[CategoryNode] = []
    for c in categories:
        parent = nodes.get(c.parent_id) if c.parent_id is not None else None
        (parent.children if parent is not None else roots).append(nodes[c.id])
    return roots


def _depth_and_ancestors(parents: dict[int, int | None], start: int | None) -> list[int]:
    """Ids from `start` up to its root (inclusive)."""
    chain: list[int] = []
    current = start
    while current is not None:
        if current in chain:  # a cycle already in the data: never loop forever
            break
        chain.append(current)
        current = parents.get(current)
    return chain


async def create_category(session: AsyncSession, actor: Actor | None, *, slug: str, name: str, parent_id: int | None = None, position: int = 0) -> Category:
    """Platform staff shape the shared category tree."""
    require_staff(actor)
    slug = _category_slug(slug)
    name = _clean_text(name, "name", 120)
    position = _int(position, "position", maximum=MAX_POSITION)
    if parent_id is not None:
        if not valid_id(parent_id) or await session.get(Category, parent_id) is None:
            raise ValidationFailed(f"no parent category {parent_id}")
        parents = {c.id: c.parent_id for c in await _all_categories(session)}
        if len(_depth_and_ancestors(parents, parent_id)) >= MAX_CATEGORY_DEPTH:
            raise ValidationFailed(f"categories nest at most {MAX_CATEGORY_DEPTH} deep")
    if (await session.execute(select(Category.id).where(Category.slug == slug))).first() is not None:
        raise Conflict(f"category slug {slug!r} is taken")
    category = Category(slug=slug, name=name, parent_id=parent_id, position=position)
    async with _savepoint(session, f"category slug {slug!r} is taken"):
        session.add(category)
    return category


async def update_category(
    session: AsyncSession, actor: Actor | None, category_id: int, *, name: Any = _UNSET, parent_id: Any = _UNSET, position: Any = _UNSET
) -> Category:
    """Rename, reorder or move a category; a move under itself or a descendant is refused."""
    require_staff(actor)
    category = await session.get(Category, category_id) if valid_id(category_id) else None
    if category is None:
        raise NotFound(f"no category {category_id}")
    changes: dict[str, Any] = {}
    if name is not _UNSET:
        changes["name"] = _clean_text(name, "name", 120)
    if position is not _UNSET:
        changes["position"] = _int(position, "position", maximum=MAX_POSITION)
    if parent_id is not _UNSET and parent_id != category.parent_id:
        if parent_id is not None:
            if not valid_id(parent_id):
                raise ValidationFailed(f"no parent category {parent_id}")
            parents = {c.id: c.parent_id for c in await _all_categories(session)}
            if parent_id not in parents:
                raise ValidationFailed(f"no parent category {parent_id}")
            chain = _depth_and_ancestors(parents, parent_id)
            if category.id in chain:
                raise ValidationFailed("a category cannot be moved under itself or one of its descendants")
            if len(chain) + _subtree_height(parents, category.id) > MAX_CATEGORY_DEPTH:
                raise ValidationFailed(f"categories nest at most {MAX_CATEGORY_DEPTH} deep")
        changes["parent_id"] = parent_id
    for attr, value in changes.items():
        setattr(category, attr, value)
    await session.flush()
    return category


def _subtree_height(parents: dict[int, int | None], root: int) -> int:
    children: dict[int, list[int]] = {}
    for cid, pid in parents.items():
        if pid is not None:
            children.setdefault(pid, []).append(cid)

    def height(node: int, seen: frozenset[int]) -> int:
        kids = [k for k in children.get(node, []) if k not in seen]
        return 1 + max((height(k, seen | {k}) for k in kids), default=0)

    return height(root, frozenset({root}))


async def get_category_by_slug(session: AsyncSession, slug: str) -> Category:
    category = None if "\x00" in slug else (await session.execute(select(Category).where(Category.slug == slug))).scalar_one_or_none()
    if category is None:
        raise NotFound(f"no category {slug!r}")
    return category


async def _category_and_descendants(session: AsyncSession, slug: str) -> list[int]:
    categories = await _all_categories(session)
    root = next((c for c in categories if c.slug == slug), None)
    if root is None:
        return []
    children: dict[int, list[int]] = {}
    for c in categories:
        if c.parent_id is not None:
            children.setdefault(c.parent_id, []).append(c.id)
    found, todo = [], [root.id]
    while todo:
        cid = todo.pop()
        if cid in found:
            continue
        found.append(cid)
        todo.extend(children.get(cid, []))
    return found


# ---------------------------------------------------------------- product views (reads)


@dataclass(slots=True)
class VariantView:
    variant: Variant
    prices: dict[str, VariantPrice]  # currency -> price


@dataclass(slots=True)
class ProductView:
    """A product with what its page shows; built in a fixed number of queries."""

    product: Product
    brand: Brand
    category: Category | None
    variants: list[VariantView]
    media: list[ProductMedia]

    def price_from(self) -> dict[str, VariantPrice]:
        """Per currency, the cheapest price among the loaded variants."""
        best: dict[str, VariantPrice] = {}
        for v in self.variants:
            for currency, price in v.prices.items():
                if currency not in best or price.amount_minor < best[currency].amount_minor:
                    best[currency] = price
        return best


def _product_query():  # noqa: ANN202
    return select(Product, Brand, Category).join(Brand, Brand.id == Product.brand_id).outerjoin(Category, Category.id == Product.category_id)


async def _views(session: AsyncSession, rows: Iterable[Any], *, active_variants_only: bool) -> list[ProductView]:
    views = [ProductView(product=p, brand=b, category=c, variants=[], media=[]) for p, b, c in rows]
    if not views:
        return views
    by_id = {v.product.id: v for v in views}
    ids = list(by_id)
    variant_query = (
        select(Variant, VariantPrice)
        .outerjoin(VariantPrice, VariantPrice.variant_id == Variant.id)
        .where(Variant.product_id.in_(ids))
        .order_by(Variant.product_id, Variant.position, Variant.id, VariantPrice.currency)
    )
    if active_variants_only:
        variant_query = variant_query.where(Variant.is_active.is_(True))
    seen: dict[int, VariantView] = {}
    for variant, price in (await session.execute(variant_query)).all():
        vv = seen.get(variant.id)
        if vv is None:
            vv = seen[variant.id] = VariantView(variant=variant, prices={})
            by_id[variant.product_id].variants.append(vv)
        if price is not None:
            vv.prices[price.currency] = price
    media = await session.execute(select(ProductMedia).where(ProductMedia.product_id.in_(ids)).order_by(ProductMedia.position, ProductMedia.id))
    for m in media.scalars():
        by_id[m.product_id].media.append(m)
    return views


def _tag_filter(session: AsyncSession, tag: str) -> Any:
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        return type_coerce(Product.tags, JSONB).contains([tag])
    each = func.json_each(Product.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


async def list_active_products(
    session: AsyncSession,
    *,
    brand_slug: str | None = None,
    category_slug: str | None = None,
    tag: str | None = None,
    limit: int = 24,
    offset: int = 0,
) -> list[ProductView]:
    """Public catalogue: active products only (newest first), with their active variants,
    prices and media. A category includes its descendants; unknown filters give nothing."""
    query = _product_query().where(Product.status == ProductStatus.ACTIVE.value)
    if any(f is not None and "\x00" in f for f in (brand_slug, category_slug, tag)):
        return []
    if brand_slug is not None:
        query = query.where(Brand.slug == brand_slug)
    if category_slug is not None:
        ids = await _category_and_descendants(session, category_slug)
        if not ids:
            return []
        query = query.where(Product.category_id.in_(ids))
    if tag is not None:
        normalised = " ".join(tag.strip().lstrip("#").split()).lower()
        if not normalised:
            return []
        query = query.where(_tag_filter(session, normalised))
    rows = await session.execute(query.order_by(Product.id.desc()).limit(limit).offset(offset))
    return await _views(session, rows.all(), active_variants_only=True)


async def first_variants(session: AsyncSession, product_ids: list[int] | set[int]) -> dict[int, int]:
    """Product id -> its first variant's id (the one a product's card shows when no
    variant is chosen, as a pinned product in a live room): one query."""
    if not product_ids:
        return {}
    return dict((await session.execute(select(Variant.product_id, func.min(Variant.id)).where(Variant.product_id.in_(list(product_ids))).group_by(Variant.product_id))).all())


async def variant_cards(session: AsyncSession, variant_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Variant id -> what a card of it shows (title, link, option label, SKU, first image),
    for plugins' pages (a team offer, a live room's deal): two queries for any number."""
    from core.catalog.media import media_url

    if not variant_ids:
        return {}
    rows = (
        await session.execute(
            select(Variant.id, Variant.sku, Variant.options, Product.id.label("product_id"), Product.title, Product.slug)
            .join(Product, Product.id == Variant.product_id)
            .where(Variant.id.in_(variant_ids))
        )
    ).all()
    product_ids = {r.product_id for r in rows}
    images: dict[int, dict[str, Any]] = {}
    for m in (await session.execute(select(ProductMedia).where(ProductMedia.product_id.in_(product_ids)).order_by(ProductMedia.product_id, ProductMedia.position, ProductMedia.id))).scalars():
        images.setdefault(m.product_id, {"src": media_url(m.path), "alt": m.alt, "width": m.width, "height": m.height})
    return {
        r.id: {
            "title": r.title, "href": f"/products/{r.slug}?variant={r.id}", "options": " · ".join(str(v) for v in (r.options or {}).values()), "sku": r.sku,
            "image": images.get(r.product_id), "product_id": r.product_id,
        }
        for r in rows
    }


async def get_active_product(session: AsyncSession, slug: str) -> ProductView:
    """The public product page: 404 unless the product is active."""
    if "\x00" in slug:
        raise NotFound(f"no product {slug!r}")
    row = (await session.execute(_product_query().where(Product.slug == slug, Product.status == ProductStatus.ACTIVE.value))).first()
    if row is None:
        raise NotFound(f"no product {slug!r}")
    return (await _views(session, [row], active_variants_only=True))[0]


async def list_brand_products(
    session: AsyncSession, actor: Actor | None, brand_id: int, *, status: str | None = None, limit: int = 50, offset: int = 0
) -> list[ProductView]:
    """Brand staff see every product of their own brand, drafts and archived included."""
    require_brand_member(actor, brand_id)
    query = _product_query().where(Product.brand_id == brand_id)
    if status is not None:
        if status not in STATUS_TRANSITIONS:
            raise ValidationFailed("status must be draft, active or archived")
        query = query.where(Product.status == status)
    rows = await session.execute(query.order_by(Product.id.desc()).limit(limit).offset(offset))
    return await _views(session, rows.all(), active_variants_only=False)


async def get_owned_product(session: AsyncSession, actor: Actor | None, product_id: int, *, for_update: bool = False) -> Product:
    """A product of the actor's brand, or NotFound (also for other brands' products)."""
    actor = require_actor(actor)
    product = await session.get(Product, product_id, with_for_update=for_update) if valid_id(product_id) else None
    if product is None or not can_act_for_brand(actor, product.brand_id):
        raise NotFound(f"no product {product_id}")
    return product


async def get_owned_product_view(session: AsyncSession, actor: Actor | None, product_id: int) -> ProductView:
    product = await get_owned_product(session, actor, product_id)
    row = (await session.execute(_product_query().where(Product.id == product.id))).one()
    return (await _views(session, [row], active_variants_only=False))[0]


# ---------------------------------------------------------------- products (writes)


async def _check_category(session: AsyncSession, category_id: Any) -> int | None:
    if category_id is None:
        return None
    if not valid_id(category_id) or await session.get(Category, category_id) is None:
        raise ValidationFailed(f"no category {category_id}")
    return category_id


async def _slug_taken(session: AsyncSession, slug: str, exclude_id: int | None = None) -> bool:
    query = select(Product.id).where(Product.slug == slug)
    if exclude_id is not None:
        query = query.where(Product.id != exclude_id)
    return (await session.execute(query)).first() is not None


async def create_product(
    session: AsyncSession,
    actor: Actor | None,
    brand_id: int,
    *,
    slug: str,
    title: str,
    description: str = "",
    category_id: int | None = None,
    tags: Iterable[str] = (),
    option_names: Iterable[str] = (),
) -> Product:
    """Brand staff add a product to their brand; it starts as a draft."""
    require_brand_member(actor, brand_id)
    slug = _product_slug(slug)
    product = Product(
        brand_id=brand_id,
        slug=slug,
        title=_clean_text(title, "title", 200),
        description=_clean_text(description, "description", 20_000, allow_empty=True, multiline=True),
        status=ProductStatus.DRAFT.value,
        category_id=await _check_category(session, category_id),
        tags=normalise_tags(list(tags)),
        option_names=_option_names(list(option_names)),
    )
    if await _slug_taken(session, slug):
        raise Conflict(f"product slug {slug!r} is taken")
    async with _savepoint(session, f"product slug {slug!r} is taken"):
        session.add(product)
    product_changed(session, product.id)
    return product


async def update_product(
    session: AsyncSession,
    actor: Actor | None,
    product_id: int,
    *,
    slug: Any = _UNSET,
    title: Any = _UNSET,
    description: Any = _UNSET,
    category_id: Any = _UNSET,
    tags: Any = _UNSET,
    option_names: Any = _UNSET,
) -> Product:
    """Change what was given; `category_id=None` clears the category. Option names are
    fixed once the product has variants (their options are keyed by them)."""
    product = await get_owned_product(session, actor, product_id, for_update=True)
    # check everything first, then change: a refused update leaves the product untouched
    changes: dict[str, Any] = {}
    if slug is not _UNSET and slug != product.slug:
        changes["slug"] = _product_slug(slug)
        if await _slug_taken(session, changes["slug"], exclude_id=product.id):
            raise Conflict(f"product slug {slug!r} is taken")
    if title is not _UNSET:
        changes["title"] = _clean_text(title, "title", 200)
    if description is not _UNSET:
        changes["description"] = _clean_text(description, "description", 20_000, allow_empty=True, multiline=True)
    if category_id is not _UNSET:
        changes["category_id"] = await _check_category(session, category_id)
    if tags is not _UNSET:
        changes["tags"] = normalise_tags(tags)
    if option_names is not _UNSET:
        names = _option_names(option_names)
        if names != list(product.option_names):
            has_variants = (await session.execute(select(Variant.id).where(Variant.product_id == product.id).limit(1))).first()
            if has_variants is not None:
                raise Conflict("option names cannot change once the product has variants")
            changes["option_names"] = names
    for name, value in changes.items():
        setattr(product, name, value)
    await _flush(session, f"product slug {product.slug!r} is taken")
    product_changed(session, product.id)
    return product


async def set_product_status(session: AsyncSession, actor: Actor | None, product_id: int, status: str) -> Product:
    """draft -> active -> archived, archived -> draft (and draft -> archived). Setting the
    current status again is a no-op. Going active needs a buyable variant: an active one
    with at least one price."""
    product = await get_owned_product(session, actor, product_id, for_update=True)
    if status not in STATUS_TRANSITIONS:
        raise ValidationFailed("status must be draft, active or archived")
    if status == product.status:
        return product
    if status not in STATUS_TRANSITIONS[product.status]:
        raise Conflict(f"a {product.status} product cannot become {status}")
    if status == ProductStatus.ACTIVE:
        buyable = await session.execute(
            select(Variant.id)
            .join(VariantPrice, VariantPrice.variant_id == Variant.id)
            .where(Variant.product_id == product.id, Variant.is_active.is_(True))
            .limit(1)
        )
        if buyable.first() is None:
            raise ValidationFailed("a product needs an active variant with a price before it can be active")
    product.status = status
    await session.flush()
    product_changed(session, product.id)
    return product


async def archive_product(session: AsyncSession, actor: Actor | None, product_id: int) -> Product:
    return await set_product_status(session, actor, product_id, ProductStatus.ARCHIVED.value)


def product_changed(session: AsyncSession, product_id: int) -> None:
    """This transaction changed what shoppers see of a product: one `product.changed`
    event names every such product when it commits (search follows it)."""
    mark_changed(session, "product.changed", product_id)


# ---------------------------------------------------------------- variants and prices


async def get_owned_variant(session: AsyncSession, actor: Actor | None, variant_id: int, *, for_update: bool = False) -> tuple[Variant, Product]:
    """A variant of the actor's brand (and its product), or NotFound."""
    actor = require_actor(actor)
    row = None
    if valid_id(variant_id):
        query = select(Variant, Product).join(Product, Product.id == Variant.product_id).where(Variant.id == variant_id)
        if for_update:
            query = query.with_for_update(of=Product)  # serialises variant changes per product
        row = (await session.execute(query)).first()
    if row is None or not can_act_for_brand(actor, row[1].brand_id):
        raise NotFound(f"no variant {variant_id}")
    return row[0], row[1]


async def _check_sku(session: AsyncSession, sku: Any, exclude_id: int | None = None) -> str:
    if not isinstance(sku, str) or not SKU_RE.match(sku):
        raise ValidationFailed("sku must be 1-64 letters, digits, dots, underscores or hyphens")
    query = select(Variant.id).where(Variant.sku == sku)
    if exclude_id is not None:
        query = query.where(Variant.id != exclude_id)
    if (await session.execute(query)).first() is not None:
        raise Conflict(f"sku {sku!r} is taken")
    return sku


async def _check_combination(session: AsyncSession, product_id: int, options: dict[str, str], exclude_id: int | None = None) -> None:
    query = select(Variant).where(Variant.product_id == product_id)
    if exclude_id is not None:
        query = query.where(Variant.id != exclude_id)
    for other in (await session.execute(query)).scalars():
        if _same_options(other.options, options):
            described = ", ".join(f"{k}={v}" for k, v in options.items()) or "no options"
            raise Conflict(f"the product already has a variant with {described} (sku {other.sku})")


async def create_variant(
    session: AsyncSession,
    actor: Actor | None,
    product_id: int,
    *,
    sku: str,
    options: dict[str, str] | None = None,
    weight_grams: int = 0,
    position: int | None = None,
    is_active: bool = True,
) -> Variant:
    """A buyable combination of the product's options. Prices come separately."""
    # the product row lock serialises variant changes per product (PostgreSQL)
    product = await get_owned_product(session, actor, product_id, for_update=True)
    opts = _variant_options(options or {}, list(product.option_names))
    weight = _int(weight_grams, "weight_grams", maximum=MAX_WEIGHT_GRAMS)
    if not isinstance(is_active, bool):
        raise ValidationFailed("is_active must be true or false")
    if position is None:
        last = (await session.execute(select(func.max(Variant.position)).where(Variant.product_id == product.id))).scalar()
        position = 0 if last is None else last + 1
    position = _int(position, "position", maximum=MAX_POSITION)
    sku = await _check_sku(session, sku)
    await _check_combination(session, product.id, opts)
    variant = Variant(product_id=product.id, sku=sku, options=opts, weight_grams=weight, position=position, is_active=is_active)
    async with _savepoint(session, f"sku {sku!r} is taken"):
        session.add(variant)
    product_changed(session, product.id)
    return variant


async def update_variant(
    session: AsyncSession,
    actor: Actor | None,
    variant_id: int,
    *,
    sku: Any = _UNSET,
    options: Any = _UNSET,
    weight_grams: Any = _UNSET,
    position: Any = _UNSET,
    is_active: Any = _UNSET,
) -> Variant:
    variant, product = await get_owned_variant(session, actor, variant_id, for_update=True)
    changes: dict[str, Any] = {}
    if sku is not _UNSET and sku != variant.sku:
        changes["sku"] = await _check_sku(session, sku, exclude_id=variant.id)
    if options is not _UNSET:
        changes["options"] = _variant_options(options, list(product.option_names))
        await _check_combination(session, product.id, changes["options"], exclude_id=variant.id)
    if weight_grams is not _UNSET:
        changes["weight_grams"] = _int(weight_grams, "weight_grams", maximum=MAX_WEIGHT_GRAMS)
    if position is not _UNSET:
        changes["position"] = _int(position, "position", maximum=MAX_POSITION)
    if is_active is not _UNSET:
        if not isinstance(is_active, bool):
            raise ValidationFailed("is_active must be true or false")
        changes["is_active"] = is_active
    for name, value in changes.items():
        setattr(variant, name, value)
    await _flush(session, f"sku {variant.sku!r} is taken")
    product_changed(session, product.id)
    return variant


def _check_price(amount_minor: Any, compare_at_minor: Any) -> tuple[int, int | None]:
    amount = _int(amount_minor, "amount_minor")
    compare_at = None if compare_at_minor is None else _int(compare_at_minor, "compare_at_minor")
    if compare_at is not None and compare_at <= amount:
        raise ValidationFailed("compare_at_minor must be greater than amount_minor")
    return amount, compare_at


async def set_variant_price(
    session: AsyncSession, actor: Actor | None, variant_id: int, currency: str, amount_minor: int, compare_at_minor: int | None = None
) -> VariantPrice:
    """Set (or replace) a variant's price in one currency, in minor units."""
    variant, _product = await get_owned_variant(session, actor, variant_id)
    currency = _currency(currency)
    amount, compare_at = _check_price(amount_minor, compare_at_minor)
    price = await session.get(VariantPrice, (variant.id, currency))
    if price is None:
        price = VariantPrice(variant_id=variant.id, currency=currency, amount_minor=amount, compare_at_minor=compare_at)
        async with _savepoint(session, f"the {currency} price was set concurrently; try again"):
            session.add(price)
    else:
        price.amount_minor = amount
        price.compare_at_minor = compare_at
        await session.flush()
    product_changed(session, variant.product_id)
    return price


async def delete_variant_price(session: AsyncSession, actor: Actor | None, variant_id: int, currency: str) -> None:
    variant, _product = await get_owned_variant(session, actor, variant_id)
    price = await session.get(VariantPrice, (variant.id, _currency(currency)))
    if price is None:
        raise NotFound(f"variant {variant_id} has no {currency} price")
    await session.delete(price)
    await session.flush()
    product_changed(session, variant.product_id)


async def variant_prices(session: AsyncSession, variant_id: int) -> dict[str, VariantPrice]:
    rows = await session.execute(select(VariantPrice).where(VariantPrice.variant_id == variant_id).order_by(VariantPrice.currency))
    return {p.currency: p for p in rows.scalars()}


# ---------------------------------------------------------------- shipping and tax


async def set_shipping_rate(
    session: AsyncSession, actor: Actor | None, brand_id: int, currency: str, amount_minor: int, free_over_minor: int | None = None
) -> ShippingRate:
    """A brand's flat shipping rate in one currency, optionally free from an order subtotal."""
    require_brand_member(actor, brand_id)
    currency = _currency(currency)
    amount = _int(amount_minor, "amount_minor")
    free_over = None if free_over_minor is None else _int(free_over_minor, "free_over_minor")
    rate = await session.get(ShippingRate, (brand_id, currency))
    if rate is None:
        rate = ShippingRate(brand_id=brand_id, currency=currency, amount_minor=amount, free_over_minor=free_over)
        async with _savepoint(session, f"the {currency} shipping rate was set concurrently; try again"):
            session.add(rate)
    else:
        rate.amount_minor = amount
        rate.free_over_minor = free_over
        await session.flush()
    return rate


async def shipping_rates(session: AsyncSession, brand_id: int) -> list[ShippingRate]:
    rows = await session.execute(select(ShippingRate).where(ShippingRate.brand_id == brand_id).order_by(ShippingRate.currency))
    return list(rows.scalars())


def _region(region: Any) -> str:
    if not isinstance(region, str) or not REGION_RE.match(region.upper()):
        raise ValidationFailed("region must be an ISO 3166 code such as CN or US-CA")
    return region.upper()


def percent_to_ppm(value: Any) -> int:
    """An exact percentage ("8.875", 8.875 decoded as Decimal, 13) to parts per million.
    Four decimals at most, as Stripe's tax rates allow; floats are refused, not rounded."""
    if isinstance(value, bool) or not isinstance(value, (int, str, Decimal)):
        raise ValidationFailed("rate_percent must be a number such as 13 or \"8.875\"")
    try:
        rate = Decimal(value)
    except InvalidOperation as exc:
        raise ValidationFailed("rate_percent must be a number such as 13 or \"8.875\"") from exc
    if not rate.is_finite() or not 0 <= rate <= 100:
        raise ValidationFailed("rate_percent must be between 0 and 100")
    ppm = rate * 10_000
    if ppm != ppm.to_integral_value():
        raise ValidationFailed("rate_percent has at most 4 decimal places")
    return int(ppm)


def ppm_to_percent(ppm: int) -> str:
    """88_750 -> "8.875": the exact decimal, no trailing zeros."""
    text = format(Decimal(ppm) / 10_000, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


async def set_tax_rate(session: AsyncSession, actor: Actor | None, region: str, rate_percent: Any, inclusive: bool = True) -> TaxRate:
    """Platform staff set a region's tax rate (a percentage; inclusive = already in prices)."""
    require_staff(actor)
    region = _region(region)
    rate = percent_to_ppm(rate_percent)
    if not isinstance(inclusive, bool):
        raise ValidationFailed("inclusive must be true or false")
    row = (await session.execute(select(TaxRate).where(TaxRate.region == region))).scalar_one_or_none()
    if row is None:
        row = TaxRate(region=region, rate_ppm=rate, inclusive=inclusive)
        async with _savepoint(session, f"tax rate for {region} was set concurrently; try again"):
            session.add(row)
    else:
        row.rate_ppm = rate
        row.inclusive = inclusive
        await session.flush()
    return row


async def tax_rates(session: AsyncSession) -> list[TaxRate]:
    return list((await session.execute(select(TaxRate).order_by(TaxRate.region))).scalars())

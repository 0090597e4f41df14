"""Catalog JSON API under /api/v1: brands, the public catalogue, and brand-staff management.

Management addresses products, variants and media by id; an id of another brand's
object answers 404, exactly as a missing one does.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Literal

import msgspec
from litestar import Controller, MediaType, Request, Response, delete, get, patch, post, put
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter

from core.auth.permissions import Actor
from core.catalog import media as media_service
from core.catalog import service
from core.catalog.schemas import (
    BrandIn,
    BrandMemberIn,
    BrandMemberOut,
    BrandOut,
    BrandRefOut,
    CategoryIn,
    CategoryNodeOut,
    CategoryPatch,
    CategoryRefOut,
    ManagedProductPage,
    MediaOut,
    MediaSizeOut,
    Page,
    PriceIn,
    PriceOut,
    ProductIn,
    ProductOut,
    ProductPage,
    ProductPatch,
    ProductSummaryOut,
    ShippingRateIn,
    ShippingRateOut,
    StatusIn,
    TaxRateIn,
    TaxRateOut,
    VariantIn,
    VariantOut,
    VariantPatch,
)
from core.catalog.models import Variant
from core.errors import ValidationFailed
from core.web import login_required, strict_body

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.catalog.models import Category, ProductMedia, ShippingRate, TaxRate, VariantPrice
    from core.runtime import Runtime

Limit = Annotated[int, Parameter(ge=1, le=100)]
Offset = Annotated[int, Parameter(ge=0, le=1_000_000_000)]
FilterText = Annotated[str | None, Parameter(max_length=120)]
# the body limit of the upload route: the image plus room for the multipart envelope
UPLOAD_BODY_LIMIT = media_service.MAX_UPLOAD_BYTES + 64 * 1024


# ---------------------------------------------------------------- ORM -> answers


def brand_out(b) -> BrandOut:  # noqa: ANN001
    return BrandOut(id=b.id, slug=b.slug, name=b.name, description=b.description)


def category_ref(c: Category | None) -> CategoryRefOut | None:
    return None if c is None else CategoryRefOut(id=c.id, slug=c.slug, name=c.name)


def price_out(p: VariantPrice) -> PriceOut:
    return PriceOut(amount_minor=p.amount_minor, compare_at_minor=p.compare_at_minor)


def media_out(m: ProductMedia) -> MediaOut:
    sizes = {
        name: MediaSizeOut(url=media_service.media_url(s["path"]), width=s["width"], height=s["height"])
        for name, s in sorted((m.sizes or {}).items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0)
    }
    return MediaOut(
        id=m.id, url=media_service.media_url(m.path), content_type=m.content_type, width=m.width, height=m.height,
        alt=m.alt, position=m.position, sizes=sizes,
    )


def variant_out(vv: service.VariantView) -> VariantOut:
    v = vv.variant
    return VariantOut(
        id=v.id, sku=v.sku, options=dict(v.options), weight_grams=v.weight_grams, position=v.position, is_active=v.is_active,
        prices={c: price_out(p) for c, p in sorted(vv.prices.items())},
    )


def product_out(view: service.ProductView) -> ProductOut:
    p = view.product
    return ProductOut(
        id=p.id, slug=p.slug, title=p.title, description=p.description, status=p.status,
        brand=BrandRefOut(slug=view.brand.slug, name=view.brand.name), category=category_ref(view.category),
        tags=list(p.tags), option_names=list(p.option_names),
        media=[media_out(m) for m in view.media], variants=[variant_out(v) for v in view.variants],
    )


def product_summary_out(view: service.ProductView) -> ProductSummaryOut:
    p = view.product
    return ProductSummaryOut(
        id=p.id, slug=p.slug, title=p.title,
        brand=BrandRefOut(slug=view.brand.slug, name=view.brand.name), category=category_ref(view.category),
        tags=list(p.tags), image=media_out(view.media[0]) if view.media else None,
        price_from={c: price_out(pr) for c, pr in sorted(view.price_from().items())},
    )


def category_node_out(node: service.CategoryNode) -> CategoryNodeOut:
    c = node.category
    return CategoryNodeOut(
        id=c.id, slug=c.slug, name=c.name, position=c.position, parent_id=c.parent_id,
        children=[category_node_out(n) for n in node.children],
    )


def shipping_rate_out(r: ShippingRate) -> ShippingRateOut:
    return ShippingRateOut(currency=r.currency, amount_minor=r.amount_minor, free_over_minor=r.free_over_minor)


def tax_rate_out(r: TaxRate) -> TaxRateOut:
    return TaxRateOut(region=r.region, rate_percent=service.ppm_to_percent(r.rate_ppm), inclusive=r.inclusive)




def _given(struct: msgspec.Struct) -> dict[str, object]:
    """The fields a PATCH body actually carried."""
    return {f: getattr(struct, f) for f in struct.__struct_fields__ if getattr(struct, f) is not msgspec.UNSET}


# ---------------------------------------------------------------- brands


class BrandController(Controller):
    path = "/brands"
    tags = ["brands"]

    @get("/")
    async def list_brands(self, session: AsyncSession, limit: Limit = 50, offset: Offset = 0) -> Page:
        """Public list of brands."""
        brands = await service.list_brands(session, limit=limit, offset=offset)
        return Page(items=[brand_out(b) for b in brands], limit=limit, offset=offset)

    @get("/{slug:str}")
    async def get_brand(self, slug: str, session: AsyncSession) -> BrandOut:
        return brand_out(await service.get_brand_by_slug(session, slug))

    @post("/", guards=[login_required], status_code=201)
    async def create_brand(self, data: BrandIn, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> BrandOut:
        """Platform staff open a brand and name its owner."""
        brand = await service.create_brand(session, runtime, actor, slug=data.slug, name=data.name, description=data.description, owner_id=data.owner_id)
        await session.commit()
        return brand_out(brand)

    @post("/{slug:str}/members", guards=[login_required], status_code=201)
    async def add_member(self, slug: str, data: BrandMemberIn, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> BrandMemberOut:
        """A brand owner (or staff) adds a user to the brand's staff."""
        brand = await service.get_brand_by_slug(session, slug)
        member = await service.add_brand_member(session, runtime, actor, brand_id=brand.id, user_id=data.user_id, role=data.role)
        await session.commit()
        return BrandMemberOut(brand_id=member.brand_id, user_id=member.user_id, role=member.role)

    # -- the brand's catalogue, for its staff

    @post("/{slug:str}/products", guards=[login_required], status_code=201, tags=["products"])
    async def create_product(self, slug: str, data: ProductIn, request: Request, session: AsyncSession, actor: Actor | None) -> ProductOut:
        """Brand staff add a product (a draft) to their brand."""
        data = await strict_body(request, data)
        brand = await service.get_brand_by_slug(session, slug)
        product = await service.create_product(
            session, actor, brand.id, slug=data.slug, title=data.title, description=data.description,
            category_id=data.category_id, tags=data.tags, option_names=data.option_names,
        )
        view = await service.get_owned_product_view(session, actor, product.id)
        await session.commit()
        return product_out(view)

    @get("/{slug:str}/products", guards=[login_required], tags=["products"])
    async def list_products(
        self,
        slug: str,
        session: AsyncSession,
        actor: Actor | None,
        status: Literal["draft", "active", "archived"] | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ManagedProductPage:
        """Brand staff: every product of their brand, drafts and archived included."""
        brand = await service.get_brand_by_slug(session, slug)
        views = await service.list_brand_products(session, actor, brand.id, status=status, limit=limit, offset=offset)
        return ManagedProductPage(items=[product_out(v) for v in views], limit=limit, offset=offset)

    @get("/{slug:str}/shipping-rates", tags=["shipping"])
    async def list_shipping_rates(self, slug: str, session: AsyncSession) -> list[ShippingRateOut]:
        """A brand's flat shipping rates, per currency (public)."""
        brand = await service.get_brand_by_slug(session, slug)
        return [shipping_rate_out(r) for r in await service.shipping_rates(session, brand.id)]

    @put("/{slug:str}/shipping-rates/{currency:str}", guards=[login_required], tags=["shipping"])
    async def set_shipping_rate(self, slug: str, currency: str, data: ShippingRateIn, request: Request, session: AsyncSession, actor: Actor | None) -> ShippingRateOut:
        """Brand staff set their flat shipping rate in a currency, optionally free over an amount."""
        data = await strict_body(request, data)
        brand = await service.get_brand_by_slug(session, slug)
        rate = await service.set_shipping_rate(session, actor, brand.id, currency, data.amount_minor, data.free_over_minor)
        await session.commit()
        return shipping_rate_out(rate)


# ---------------------------------------------------------------- products


@dataclass
class MediaUpload:
    file: UploadFile
    alt: str = ""


class ProductController(Controller):
    path = "/products"
    tags = ["products"]

    @get("/")
    async def list_products(
        self,
        session: AsyncSession,
        brand: FilterText = None,
        category: FilterText = None,
        tag: FilterText = None,
        limit: Limit = 24,
        offset: Offset = 0,
    ) -> ProductPage:
        """Public catalogue: active products, newest first; filter by brand slug, category
        slug (its subcategories included) or tag."""
        views = await service.list_active_products(session, brand_slug=brand, category_slug=category, tag=tag, limit=limit, offset=offset)
        return ProductPage(items=[product_summary_out(v) for v in views], limit=limit, offset=offset)

    @get("/{slug:str}")
    async def get_product(self, slug: str, runtime: Runtime) -> ProductOut:
        """Public product page: an active product with its active variants, prices and media.
        Served from the read model (stock is not part of it; see /variants/{id}/availability)."""

        async def build() -> bytes:
            async with runtime.db.read_session() as session:
                return msgspec.json.encode(product_out(await service.get_active_product(session, slug)))

        doc = await runtime.read_models.get_or_build(f"product:{slug}", build)
        return Response(content=doc, media_type=MediaType.JSON)  # type: ignore[return-value] - pre-encoded ProductOut

    @patch("/{product_id:int}", guards=[login_required])
    async def update_product(self, product_id: int, data: ProductPatch, request: Request, session: AsyncSession, actor: Actor | None) -> ProductOut:
        """Brand staff change a product's slug, title, description, category, tags or option names."""
        data = await strict_body(request, data)
        await service.update_product(session, actor, product_id, **_given(data))
        view = await service.get_owned_product_view(session, actor, product_id)
        await session.commit()
        return product_out(view)

    @post("/{product_id:int}/status", guards=[login_required], status_code=200)
    async def set_status(self, product_id: int, data: StatusIn, request: Request, session: AsyncSession, actor: Actor | None) -> ProductOut:
        """draft -> active -> archived; archived -> draft. Active needs a priced, active variant."""
        data = await strict_body(request, data)
        await service.set_product_status(session, actor, product_id, data.status)
        view = await service.get_owned_product_view(session, actor, product_id)
        await session.commit()
        return product_out(view)

    @post("/{product_id:int}/variants", guards=[login_required], status_code=201)
    async def create_variant(self, product_id: int, data: VariantIn, request: Request, session: AsyncSession, actor: Actor | None) -> VariantOut:
        """Brand staff add a variant; its options must name exactly the product's option names."""
        data = await strict_body(request, data)
        variant = await service.create_variant(
            session, actor, product_id, sku=data.sku, options=data.options, weight_grams=data.weight_grams,
            position=data.position, is_active=data.is_active,
        )
        await session.commit()
        return variant_out(service.VariantView(variant=variant, prices={}))

    @post("/{product_id:int}/media", guards=[login_required], status_code=201, request_max_body_size=UPLOAD_BODY_LIMIT)
    async def upload_media(
        self,
        product_id: int,
        data: Annotated[MediaUpload, Body(media_type=RequestEncodingType.MULTI_PART)],
        session: AsyncSession,
        runtime: Runtime,
        actor: Actor | None,
    ) -> MediaOut:
        """Upload a JPEG, PNG or WebP image (multipart field `file`, optional `alt`), at most 10 MB."""
        if not isinstance(data.file, UploadFile):
            raise ValidationFailed("send the image as the multipart field 'file'")
        raw = await data.file.read(media_service.MAX_UPLOAD_BYTES + 1)
        prepared = await asyncio.to_thread(media_service.prepare_image, raw)
        item = await media_service.add_product_media(session, runtime.settings, actor, product_id, prepared, alt=data.alt)
        try:
            await session.commit()
        except BaseException:
            await media_service.remove_media_files(runtime.settings, item)
            raise
        return media_out(item)


class VariantController(Controller):
    path = "/variants"
    tags = ["products"]

    @patch("/{variant_id:int}", guards=[login_required])
    async def update_variant(self, variant_id: int, data: VariantPatch, request: Request, session: AsyncSession, actor: Actor | None) -> VariantOut:
        """Brand staff change a variant's SKU, options, weight, position or whether it is sold."""
        data = await strict_body(request, data)
        variant = await service.update_variant(session, actor, variant_id, **_given(data))
        prices = await service.variant_prices(session, variant.id)
        await session.commit()
        return variant_out(service.VariantView(variant=variant, prices=prices))

    @put("/{variant_id:int}/prices/{currency:str}", guards=[login_required])
    async def set_price(self, variant_id: int, currency: str, data: PriceIn, request: Request, session: AsyncSession, actor: Actor | None) -> VariantOut:
        """Brand staff set a variant's price in a currency (integer minor units); a
        compare-at price, if given, must be higher."""
        data = await strict_body(request, data)
        await service.set_variant_price(session, actor, variant_id, currency, data.amount_minor, data.compare_at_minor)
        variant = await session.get(Variant, variant_id)  # in the identity map already
        assert variant is not None
        prices = await service.variant_prices(session, variant.id)
        await session.commit()
        return variant_out(service.VariantView(variant=variant, prices=prices))

    @delete("/{variant_id:int}/prices/{currency:str}", guards=[login_required], status_code=204)
    async def delete_price(self, variant_id: int, currency: str, session: AsyncSession, actor: Actor | None) -> None:
        """Brand staff stop selling a variant in a currency."""
        await service.delete_variant_price(session, actor, variant_id, currency)
        await session.commit()


class MediaController(Controller):
    path = "/media"
    tags = ["products"]

    @delete("/{media_id:int}", guards=[login_required], status_code=204)
    async def delete_media(self, media_id: int, session: AsyncSession, runtime: Runtime, actor: Actor | None) -> None:
        """Brand staff remove a product image (and its files)."""
        item = await media_service.delete_product_media(session, actor, media_id)
        await session.commit()
        await media_service.remove_media_files(runtime.settings, item)


# ---------------------------------------------------------------- categories and tax rates


class CategoryController(Controller):
    path = "/categories"
    tags = ["categories"]

    @get("/")
    async def tree(self, session: AsyncSession) -> list[CategoryNodeOut]:
        """The category tree: roots, each with its children, ordered by position then name."""
        return [category_node_out(n) for n in await service.category_tree(session)]

    @post("/", guards=[login_required], status_code=201)
    async def create(self, data: CategoryIn, request: Request, session: AsyncSession, actor: Actor | None) -> CategoryNodeOut:
        """Platform staff add a category (optionally under a parent)."""
        data = await strict_body(request, data)
        c = await service.create_category(session, actor, slug=data.slug, name=data.name, parent_id=data.parent_id, position=data.position)
        await session.commit()
        return CategoryNodeOut(id=c.id, slug=c.slug, name=c.name, position=c.position, parent_id=c.parent_id, children=[])

    @patch("/{category_id:int}", guards=[login_required])
    async def update(self, category_id: int, data: CategoryPatch, request: Request, session: AsyncSession, actor: Actor | None) -> CategoryNodeOut:
        """Platform staff rename, reorder or move a category (never under its own subtree)."""
        data = await strict_body(request, data)
        c = await service.update_category(session, actor, category_id, **_given(data))
        await session.commit()
        return CategoryNodeOut(id=c.id, slug=c.slug, name=c.name, position=c.position, parent_id=c.parent_id, children=[])


class TaxRateController(Controller):
    path = "/tax-rates"
    tags = ["tax"]

    @get("/")
    async def list_rates(self, session: AsyncSession) -> list[TaxRateOut]:
        """Tax rates per region (public)."""
        return [tax_rate_out(r) for r in await service.tax_rates(session)]

    @put("/{region:str}", guards=[login_required])
    async def set_rate(self, region: str, data: TaxRateIn, request: Request, session: AsyncSession, actor: Actor | None) -> TaxRateOut:
        """Platform staff set a region's rate as an exact percentage (`13`, `"8.875"`); `inclusive` when prices contain it."""
        data = await strict_body(request, data)
        rate = await service.set_tax_rate(session, actor, region, data.rate_percent, data.inclusive)
        await session.commit()
        return tax_rate_out(rate)


CATALOG_CONTROLLERS = [BrandController, ProductController, VariantController, MediaController, CategoryController, TaxRateController]

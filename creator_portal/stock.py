"""Brand staff page for stock: the brand's locations, every variant's stock at each of
them, goods in and write-offs at a chosen location, and pools (units set aside by hand,
and the campaigns' sample pools, which only the campaign releases).

Everything sits under `/creator/brands/{slug}/stock`; a variant, location or pool of
another brand is "not found", like a missing one. The inventory and campaign services
keep the rules; these handlers read forms, call them and show what they answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from litestar import Controller, Request, get, post
from litestar.enums import RequestEncodingType
from litestar.params import Body, Parameter
from litestar.response import Redirect

from core import forms
from core.auth.permissions import Actor
from core.campaigns import campaigns as campaign_service
from core.catalog import service as catalog
from core.errors import DomainError, NotFound
from core.inventory import service as inventory
from core.web import login_required, render
from creator_portal.commerce import my_brand

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
PageNumber = Annotated[int, Parameter(ge=1, le=10_000)]
PAGE_SIZE = 20  # products per page (each with all its variants)
POOLS_SHOWN = 100  # the newest pools


def _page(data: dict[str, Any]) -> int:
    raw = forms.text(data, "page").strip()
    return int(raw) if raw.isdigit() and 1 <= int(raw) <= 10_000 else 1


class BrandStockPages(Controller):
    path = "/brands/{slug:str}/stock"
    guards = [login_required]

    @get("/")
    async def stock(self, request: Request, slug: str, session: AsyncSession, actor: Actor | None, page: PageNumber = 1) -> Any:
        return await self._page(request, session, actor, slug, page)

    async def _page(
        self, request: Request, session: AsyncSession, actor: Actor | None, slug: str, page: int, *,
        error: str | None = None, failed: str | None = None, form: dict[str, str] | None = None, status_code: int = 200,
    ) -> Any:
        brand = await my_brand(session, actor, slug)
        views = await catalog.list_brand_products(session, actor, brand.id, limit=PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
        has_next = len(views) > PAGE_SIZE
        variants = [(v.product, vv.variant) for v in views[:PAGE_SIZE] for vv in v.variants]
        levels = await inventory.stock_by_location(session, [variant.id for _p, variant in variants])
        rows = [
            {"product": product, "variant": variant, "label": " · ".join(str(x) for x in (variant.options or {}).values()), "levels": levels[variant.id]}
            for product, variant in variants
        ]
        pools = await inventory.pools_of_brand(session, brand.id, limit=POOLS_SHOWN)
        campaigns = await campaign_service.campaigns_of_pools(session, [p.id for p in pools])
        return await render(
            request, "portal/stock.html",
            {
                "brand": brand, "locations": await inventory.locations_of(session, brand.id), "rows": rows, "page": page, "has_next": has_next,
                "pools": [{"pool": p, "campaign": campaigns.get(p.id)} for p in pools], "pools_shown": POOLS_SHOWN,
                "error": error, "failed": failed, "form": form or {}, "section": "stock",
            },
            status_code=status_code,
        )

    async def _do(self, request: Request, session: AsyncSession, actor: Actor | None, slug: str, data: dict[str, Any], which: str, form: dict[str, str], work: Any, notice: str) -> Any:
        """Run a change in one transaction; back to the page with a notice, or the page
        again with the service's message. Another brand's ids are the 404 page."""
        brand = await my_brand(session, actor, slug)
        page = _page(data)
        try:
            await work(brand)
            await session.commit()
        except NotFound:
            raise
        except DomainError as exc:
            await session.rollback()
            return await self._page(request, session, actor, slug, page, error=exc.detail, failed=which, form=form, status_code=exc.status_code)
        return Redirect(f"/creator/brands/{slug}/stock?{urlencode({'page': page, 'notice': notice})}#{which}", status_code=303)

    @post("/locations")
    async def add_location(self, request: Request, slug: str, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        form = {"name": forms.text(data, "name")}

        async def work(brand: Any) -> None:
            await inventory.add_location(session, brand.id, form["name"])

        return await self._do(request, session, actor, slug, data, "locations", form, work, "Location added.")

    @post("/receive")
    async def receive(self, request: Request, slug: str, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        form = {k: forms.text(data, k) for k in ("variant_id", "location_id", "quantity")}

        async def work(brand: Any) -> None:
            quantity = forms.whole_number(form["quantity"])
            await inventory.receive_at(session, brand.id, variant_id=_id(form["variant_id"]), location_id=_id(form["location_id"]), quantity=quantity)

        return await self._do(request, session, actor, slug, data, "receive", form, work, "Stock updated.")

    @post("/pools")
    async def set_aside(self, request: Request, slug: str, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        form = {k: forms.text(data, k) for k in ("name", "variant_id", "location_id", "quantity")}

        async def work(brand: Any) -> None:
            quantity = forms.whole_number(form["quantity"])
            await inventory.set_aside(session, brand.id, name=form["name"], variant_id=_id(form["variant_id"]), location_id=_id(form["location_id"]), quantity=quantity)

        return await self._do(request, session, actor, slug, data, "pools", form, work, "Pool set aside.")

    @post("/pools/{pool_id:int}/release")
    async def release(self, request: Request, slug: str, pool_id: int, data: Form, session: AsyncSession, actor: Actor | None) -> Any:
        async def work(brand: Any) -> None:
            await campaign_service.release_pool_by_hand(session, brand.id, pool_id)

        return await self._do(request, session, actor, slug, data, f"pool-{pool_id}", {}, work, "Pool released: its available units are back in stock.")


def _id(raw: str) -> int:
    """A select's value; anything that is no id is "not found" (a tampered form)."""
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise NotFound("no such variant or location")
    return int(raw)


TRANSLATIONS = {
    "zh-CN": {
        "Stock": "库存",
        "Stock locations": "库存地点",
        "Checkout takes stock from the first location that has it, in this order.": "结算时按此顺序从第一个有货的地点扣减库存。",
        "No locations yet: add one to receive stock.": "还没有库存地点：添加一个后即可入库。",
        "Location name": "地点名称",
        "Add location": "添加地点",
        "Location added.": "地点已添加。",
        "Stock by location": "各地点库存",
        "On hand = available + reserved + committed + in pools.": "在库 = 可售 + 已预留 + 待发货 + 活动池内。",
        "Product": "商品",
        "Variant": "规格",
        "Location": "地点",
        "On hand": "在库",
        "Available": "可售",
        "Reserved": "已预留",
        "Committed": "待发货",
        "In pools": "活动池内",
        "No stock yet": "暂无库存",
        "No products yet.": "还没有商品。",
        "Receive or write off": "入库或报损",
        "Quantity": "数量",
        "negative writes off (from available only)": "负数为报损（仅从可售中扣除）",
        "Update stock": "更新库存",
        "Stock updated.": "库存已更新。",
        "Pools": "活动库存池",
        "Units set aside under a name (a flash deal); a campaign's sample pool goes back to stock when the campaign completes.": "以名称预留的库存（如限时特惠）；合作活动的样品池在活动完成时归还库存。",
        "Pool": "库存池",
        "Campaign": "合作活动",
        "campaign samples": "活动样品",
        "Release": "释放",
        "Released when the campaign completes": "活动完成时释放",
        "No pools yet.": "还没有库存池。",
        "Set aside a pool": "预留库存池",
        "Pool name": "库存池名称",
        "Set aside": "预留",
        "Pool set aside.": "库存池已预留。",
        "Pool released: its available units are back in stock.": "库存池已释放：可售件数已归还库存。",
        "The {n} newest pools are shown.": "仅显示最新的 {n} 个库存池。",
        "Stock by location, pools and locations: see the Stock page.": "各地点库存、库存池与地点：见库存页。",
        "the location needs a name": "地点需要名称",
        "the pool needs a name": "库存池需要名称",
        "a pool needs at least one unit": "库存池至少需要一件",
        "quantity must be a whole number": "数量必须是整数",
        "quantity must be a non-zero integer": "数量必须是非零整数",
    }
}

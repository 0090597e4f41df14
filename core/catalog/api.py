from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from litestar import Controller, get, post
from litestar.params import Parameter

from core.auth.permissions import Actor
from core.catalog import service
from core.catalog.schemas import BrandIn, BrandMemberIn, BrandMemberOut, BrandOut, Page
from core.web import login_required

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime


def brand_out(b) -> BrandOut:  # noqa: ANN001
    return BrandOut(id=b.id, slug=b.slug, name=b.name, description=b.description)


class BrandController(Controller):
    path = "/brands"
    tags = ["brands"]

    @get("/")
    async def list_brands(
        self,
        session: AsyncSession,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 50,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000_000)] = 0,
    ) -> Page:
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

"""The core's demo data: one account per role and a few brands. Idempotent."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from core.auth.models import User
from core.auth.service import grant_role, signup
from core.catalog.models import Brand, BrandMember

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

DEMO_PASSWORD = "zhongcao-demo"
DEMO_USERS = [
    ("shopper@demo.zhongcao.dev", "小林 Lin", ()),
    ("brand@demo.zhongcao.dev", "山茶花 Camellia Team", ()),
    ("creator@demo.zhongcao.dev", "种草小达人 Mia", ("creator",)),
    ("staff@demo.zhongcao.dev", "平台运营 Ops", ()),
]
DEMO_BRANDS = [
    ("camellia-skin", "山茶花护肤 Camellia Skin", "温和修护的国货护肤 · Gentle skincare made in Yunnan."),
    ("north-trail", "北行户外 North Trail", "轻量徒步装备 · Light hiking gear for weekend trails."),
    ("tea-ritual", "茶事 Tea Ritual", "一人食茶具与冷泡茶 · Single-serve teaware and cold brew."),
]


async def seed_core_demo(session: AsyncSession, runtime: Runtime) -> None:
    users: dict[str, User] = {}
    for email, name, roles in DEMO_USERS:
        user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
        if user is None:
            user = await signup(session, runtime, email=email, password=DEMO_PASSWORD, display_name=name, roles=roles)
        users[email] = user
    await grant_role(session, users["staff@demo.zhongcao.dev"].id, "staff")
    for slug, name, description in DEMO_BRANDS:
        brand = (await session.execute(select(Brand).where(Brand.slug == slug))).scalar_one_or_none()
        if brand is None:
            brand = Brand(slug=slug, name=name, description=description)
            session.add(brand)
            await session.flush()
        if slug == "camellia-skin" and await session.get(BrandMember, (brand.id, users["brand@demo.zhongcao.dev"].id)) is None:
            session.add(BrandMember(brand_id=brand.id, user_id=users["brand@demo.zhongcao.dev"].id, role="owner"))
    await session.flush()

"""Brand staff's team offers in the creator portal over HTTP: the brand nav's tab (a slot),
the list with team counts, creating (variant picker of the brand's own variants, the
same-price warning, a higher price refused), editing and deactivating; another brand's
offers are 404; forms carry CSRF; zh-CN."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from core.catalog.models import Product, Variant
from core.testing import html_login, post_form
from plugins.group_buy.models import GroupOffer
from tests.plugins.group_buy.helpers import make_offer, open_and_pay

EN = {"accept-language": "en"}
BASE = "/creator/group-buy/brands/team-brand/offers"


async def portal_login(client: Any, email: str, lang: str = "en") -> None:
    client.cookies.set("zc_lang", lang)
    await html_login(client, email, path="/creator/login")


async def page(client: Any, path: str, status: int = 200) -> str:
    r = await client.get(path, headers=EN, follow_redirects=False)
    assert r.status_code == status, (path, r.status_code, r.text[:800])
    return r.text


async def offers_in_db(runtime: Any) -> list[GroupOffer]:
    async with runtime.db.read_session() as s:
        return list((await s.execute(select(GroupOffer).order_by(GroupOffer.id))).scalars())


def form(variant_id: int, price: str = "69", **extra: str) -> dict[str, str]:
    return {"variant_id": str(variant_id), "team_price": price, "team_size": "2", "time_limit_hours": "24", "per_user_limit": "1", "total_limit": "", "pool_id": "",
            "starts_at": "", "ends_at": "", **extra}


async def test_brand_staff_create_edit_and_deactivate_an_offer(zc_client, zc_runtime, zc_make_user, zc_make_product):
    owner = await zc_make_user("owner@example.com", brand=("team-brand", "owner"))
    variant = await zc_make_product("team-brand", price=9900, title="Camellia Cream")
    foreign = await zc_make_product("other-brand", price=9900, title="Other Tea")
    await portal_login(zc_client, owner.email)

    nav = await page(zc_client, "/creator/brands/team-brand/products")
    assert f'href="{BASE}"' in nav and 'data-testid="brand-group-buy-tab"' in nav
    assert 'data-testid="no-group-offers"' in await page(zc_client, BASE)
    new = await page(zc_client, f"{BASE}/new")
    assert f'<option value="{variant.id}"' in new and "Camellia Cream" in new
    assert f'<option value="{foreign.id}"' not in new and "Other Tea" not in new
    assert "Auto-complete (off by default)" in new and re.search(r'name="auto_complete" value="1"\s*>', new)  # unticked

    # a higher team price is refused, with the message, the form kept
    r = await post_form(zc_client, BASE, form(variant.id, "120"))
    assert r.status_code == 422 and "the team price must be lower than the solo price" in r.text and 'value="120"' in r.text
    r = await post_form(zc_client, BASE, form(variant.id, "69", team_size="1"))
    assert r.status_code == 422 and "team size is a whole number from 2 to 50" in r.text
    for hours in ("0", "100000"):  # asked in hours, refused in hours (the service counts minutes)
        r = await post_form(zc_client, BASE, form(variant.id, "69", time_limit_hours=hours))
        assert r.status_code == 422 and f"the time limit is a whole number of hours from 1 to {zc_runtime.settings.authorization_hold_hours}" in r.text
    r = await post_form(zc_client, BASE, form(variant.id, "abc"))
    assert r.status_code == 422 and "enter an amount such as 12.50" in r.text
    r = await post_form(zc_client, BASE, form(foreign.id))  # another brand's variant: not found
    assert r.status_code == 404 and "no such variant" in r.text
    r = await post_form(zc_client, BASE, form(variant.id), token=False)
    assert r.status_code == 403
    assert await offers_in_db(zc_runtime) == []

    r = await post_form(zc_client, BASE, form(variant.id, "69", team_size="3", total_limit="30"))
    assert r.status_code == 303
    (offer,) = await offers_in_db(zc_runtime)
    assert (offer.team_price_minor, offer.team_size, offer.total_limit, offer.time_limit_minutes, offer.auto_complete) == (6900, 3, 30, 24 * 60, False)
    assert r.headers["location"].startswith(f"{BASE}/{offer.id}?notice=")
    edit = await page(zc_client, r.headers["location"])
    assert "Offer created" in edit and 'value="69.00"' in edit

    # the same price as the solo price: saved, with the warning shown
    r = await post_form(zc_client, f"{BASE}/{offer.id}", form(variant.id, "99", team_size="3", auto_complete="1"))
    assert r.status_code == 303
    shown = await page(zc_client, r.headers["location"])
    assert "shoppers gain nothing by teaming up" in shown
    (offer,) = await offers_in_db(zc_runtime)
    assert (offer.team_price_minor, offer.auto_complete) == (9900, True)
    r = await post_form(zc_client, f"{BASE}/{offer.id}", form(variant.id, "100", team_size="3"))
    assert r.status_code == 422 and "the team price must be lower than the solo price" in r.text

    listing = await page(zc_client, BASE)
    assert f'data-testid="group-offer-{offer.id}"' in listing and "Teams: 0 open · 0 succeeded · 0 failed" in listing and ">Running<" in listing
    r = await post_form(zc_client, f"{BASE}/{offer.id}/active", {"active": "0"})
    assert r.status_code == 303
    assert (await offers_in_db(zc_runtime))[0].active is False
    assert ">Inactive<" in await page(zc_client, BASE)
    r = await post_form(zc_client, f"{BASE}/{offer.id}/active", {"active": "1"})
    assert (await offers_in_db(zc_runtime))[0].active is True


async def test_the_list_counts_teams_by_status(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, _variant, owner_actor = await make_offer(zc_runtime, zc_make_user, zc_make_product, size=3)
    leader = await zc_make_user()
    await open_and_pay(zc_runtime, leader, offer.id)
    staff = await zc_make_user("staff@example.com", brand=("team-brand", "staff"))
    await portal_login(zc_client, staff.email)
    listing = await page(zc_client, BASE)
    assert "Teams: 1 open · 0 succeeded · 0 failed" in listing


async def test_another_brands_offers_are_404(zc_client, zc_runtime, zc_make_user, zc_make_product):
    offer, variant, _owner = await make_offer(zc_runtime, zc_make_user, zc_make_product, brand="team-brand")
    other = await zc_make_user("other@example.com", brand=("other-brand", "owner"))
    await zc_make_product("other-brand")
    await portal_login(zc_client, other.email)
    await page(zc_client, BASE, 404)
    await page(zc_client, f"{BASE}/new", 404)
    await page(zc_client, f"/creator/group-buy/brands/other-brand/offers/{offer.id}", 404)
    await page(zc_client, f"/creator/group-buy/brands/other-brand/offers/{offer.id + 99}", 404)
    r = await post_form(zc_client, f"/creator/group-buy/brands/other-brand/offers/{offer.id}", form(variant.id, "10"))
    assert r.status_code == 404
    r = await post_form(zc_client, f"/creator/group-buy/brands/other-brand/offers/{offer.id}/active", {"active": "0"})
    assert r.status_code == 404
    r = await post_form(zc_client, "/creator/group-buy/brands/other-brand/offers", form(variant.id, "10"))
    assert r.status_code == 404
    assert (await offers_in_db(zc_runtime))[0].team_price_minor == offer.team_price_minor and (await offers_in_db(zc_runtime))[0].active
    shopper = await zc_make_user("shopper@example.com")
    zc_client.cookies.clear()
    await portal_login(zc_client, shopper.email)
    await page(zc_client, "/creator/group-buy/brands/other-brand/offers", 404)


async def test_the_offer_pages_in_chinese_and_without_login(zc_client, zc_runtime, zc_make_user, zc_make_product):
    r = await zc_client.get(BASE, headers=EN, follow_redirects=False)
    assert r.status_code in (302, 303) and "/creator/login" in r.headers["location"]
    owner = await zc_make_user("owner@example.com", brand=("team-brand", "owner"))
    await zc_make_product("team-brand")
    await portal_login(zc_client, owner.email, "zh-CN")
    zh = (await zc_client.get(f"{BASE}/new")).text
    for text in ("新建拼团活动", "拼团价", "成团人数", "自动成团（默认关闭）", "创建活动", "拼团活动"):
        assert text in zh, text
    owner_row = re.search(r'data-testid="brand-group-buy-tab"[^>]*>([^<]+)<', zh)
    assert owner_row and owner_row.group(1) == "拼团活动"
    variant_id = re.search(r'<option value="(\d+)"', zh).group(1)
    r = await zc_client.post(BASE, data={**form(int(variant_id), "999"), "_csrf_token": zc_client.cookies.get("zc_csrf")}, follow_redirects=False)
    assert r.status_code == 422 and "拼团价必须低于单买价" in r.text
    assert (await offers_in_db(zc_runtime)) == []
    async with zc_runtime.db.read_session() as s:
        assert (await s.execute(select(Product.id).join(Variant).where(Variant.id == int(variant_id)))).scalar_one()

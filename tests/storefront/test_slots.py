"""The storefront's named slots reach plugins, with the page's objects, and what a
plugin returns is placed where the slot sits (data loaded by `page_context`)."""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import Markup
from sqlalchemy import select

from core import hookimpl
from core.catalog.models import Product
from tests.storefront.test_commerce_pages import EN, add_to_cart, checkout, post_form


class SlotProbe:
    """A plugin that marks every slot it is asked to fill."""

    @hookimpl
    async def page_context(self, template: str, context: dict[str, Any], runtime: Any) -> dict[str, Any] | None:
        return {"probe_template": template}

    @hookimpl
    def render_slot(self, slot: str, context: dict[str, Any]) -> str | None:
        subject = context.get("product") or context.get("order")
        ident = getattr(getattr(subject, "product", subject), "id", "")
        return Markup('<i data-testid="probe-{}" data-of="{}" data-template="{}"></i>').format(slot, ident, context.get("probe_template", ""))


@pytest.fixture
def zc_extra_plugins() -> list[tuple[str, object]]:
    return [("slot_probe", SlotProbe())]


async def test_product_and_order_pages_offer_their_slots(zc_client, zc_runtime, zc_make_user, zc_make_product):
    from core.testing import html_login

    tea = await zc_make_product("tea-house", price=3800, stock=5, title="Cold Brew")
    async with zc_runtime.db.read_session() as s:
        slug = (await s.execute(select(Product.slug).where(Product.id == tea.product_id))).scalar_one()
    page = (await zc_client.get(f"/products/{slug}", headers=EN)).text
    for slot in ("product_aside", "product_below", "storefront_nav", "storefront_tabbar"):
        assert f'data-testid="probe-{slot}"' in page, slot
    assert f'data-testid="probe-product_below" data-of="{tea.product_id}" data-template="storefront/product.html"' in page
    assert page.index("probe-product_aside") < page.index("probe-product_below")

    user = await zc_make_user()
    await html_login(zc_client, user.email)
    await add_to_cart(zc_client, tea)
    token = (await checkout(zc_client, email=None)).headers["location"].rsplit("/", 1)[1]
    await post_form(zc_client, f"/checkout/{token}/pay", {"card": "4242 4242 4242 4242"})
    from core.orders.models import Order

    async with zc_runtime.db.read_session() as s:
        order_id = (await s.execute(select(Order.id))).scalar_one()
    order_page = (await zc_client.get(f"/account/orders/{order_id}", headers=EN)).text
    assert f'data-testid="probe-order_aside" data-of="{order_id}" data-template="storefront/order.html"' in order_page

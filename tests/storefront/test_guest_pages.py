"""Guest pages kept a couple of seconds (micro-caching): served again without queries,
with each visitor's own CSRF token, never to a signed-in shopper or a guest with a cart,
and only for pages that opt in."""

from __future__ import annotations

import re

import pytest
from litestar.testing import AsyncTestClient

from core.testing import QueryCounter, html_login, make_test_settings, settle
from tests.storefront.test_commerce_pages import EN, slug_of


@pytest.fixture
def zc_settings(zc_var_dir, zc_database_url):
    return make_test_settings(zc_var_dir, zc_database_url, guest_page_seconds=60)


def token_in(html: str) -> str:
    return re.search(r'name="_csrf_token" value="([^"]+)"', html).group(1)


async def test_a_guest_page_is_served_again_without_queries(zc_app, zc_client, zc_runtime, zc_make_user, zc_make_product):
    tea = await zc_make_product("tea-house", price=3800, title="Cold Brew")
    path = f"/products/{await slug_of(zc_runtime, tea)}"
    first = await zc_client.get(path, headers=EN)
    assert first.status_code == 200 and "Cold Brew" in first.text
    await settle(zc_runtime)
    with QueryCounter() as q:
        again = await zc_client.get(path, headers=EN)
    assert again.status_code == 200 and q.count == 0 and "Cold Brew" in again.text
    assert token_in(again.text) == token_in(first.text)  # this visitor's own token, put back in

    # another guest: the same page, with their own CSRF token, which their form post needs
    async with AsyncTestClient(app=zc_app, base_url="http://testserver.local") as other:
        page = await other.get(path, headers=EN)
        assert "Cold Brew" in page.text and token_in(page.text) != token_in(again.text)
        added = await other.post("/cart/lines", data={"variant_id": str(tea.id), "quantity": "1", "_csrf_token": token_in(page.text)}, headers=EN, follow_redirects=False)
        assert added.status_code == 303, added.text
        with QueryCounter() as q:  # now with a cart: rendered for them
            await other.get(path, headers=EN)
        assert q.count > 0

    # the language is part of the key
    zh = await zc_client.get(path, headers={"accept-language": "zh-CN"})
    assert "加入购物车" in zh.text and "Add to cart" in again.text

    # a signed-in shopper always gets a page rendered for them
    user = await zc_make_user()
    await html_login(zc_client, user.email)
    with QueryCounter() as q:
        mine = await zc_client.get(path, headers=EN)
    assert mine.status_code == 200 and q.count > 0 and 'data-testid="account-link"' in mine.text


async def test_pages_that_do_not_opt_in_are_never_kept(zc_client, zc_runtime, zc_make_product):
    await zc_make_product("tea-house", title="Cold Brew")
    for path in ("/cart", "/login", "/search?q=brew"):
        assert (await zc_client.get(path, headers=EN)).status_code == 200
    kept = {path for path, _, _ in zc_runtime.guest_pages._pages}
    assert kept == {"/search"}  # the search page opts in; the cart and the login form do not


async def test_a_kept_page_gives_a_new_guest_the_csrf_cookie_the_middleware_would(zc_app, zc_runtime, zc_make_product):
    from prometheus_client import REGISTRY

    tea = await zc_make_product("tea-house", price=3800, title="Cold Brew")
    path = f"/products/{await slug_of(zc_runtime, tea)}"
    hits = REGISTRY.get_sample_value("zhongcao_guest_page_hits_total") or 0
    cookies = []
    for _ in range(2):  # rendered (the CSRF middleware sets the cookie), then kept (GuestPageHits does)
        async with AsyncTestClient(app=zc_app, base_url="http://testserver.local") as guest:
            page = await guest.get(path, headers=EN)
            assert page.status_code == 200 and "Cold Brew" in page.text
            assert page.headers["content-type"] == "text/html; charset=utf-8"
            cookies.append(page.headers["set-cookie"])
            assert token_in(page.text) == guest.cookies["zc_csrf"]
    assert REGISTRY.get_sample_value("zhongcao_guest_page_hits_total") == hits + 1
    first, kept = (re.sub(r"zc_csrf=[^;]+", "zc_csrf=T", c) for c in cookies)
    assert first == kept and cookies[0] != cookies[1]  # same attributes, a token of its own

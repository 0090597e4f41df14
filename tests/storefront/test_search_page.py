"""The storefront search page over HTTP: products and notes through the search service,
highlights, facets, sorts, pages, friendly errors, and the notes tab vanishing with the
notes plugin."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.exceptions import NoRouteMatchFoundException

from core.testing import api_token
from storefront.search import link
from tests.core.search.test_search_api import (
    catalogue,  # the same four products as the API's tests
)

EN = {"accept-language": "en"}


@pytest.fixture(autouse=True)
def _default_moderation(monkeypatch):
    monkeypatch.delenv("ZHONGCAO_NOTES_BLOCKLIST", raising=False)
    monkeypatch.delenv("ZHONGCAO_NOTES_HOLDLIST", raising=False)


async def page(client: Any, status: int = 200, **params: Any) -> str:
    r = await client.get("/search", params=params, headers=EN)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("text/html")
    return r.text


def results(html: str) -> str:
    found = re.search(r'data-testid="search-results"(.*?)</ul>', html, re.DOTALL)
    return found.group(1) if found else ""


def titles(html: str) -> list[str]:
    """Result titles in order, marks removed."""
    return [re.sub(r"</?mark>", "", t) for t in re.findall(r'class="card-title">(.*?)</strong>', results(html), re.DOTALL)]


async def test_chinese_and_english_words_find_products_with_highlights(zc_client, zc_runtime, zc_make_product):
    await catalogue(zc_runtime, zc_make_product)
    html = await page(zc_client, q="面霜")  # 2 CJK characters; the draft is not searchable
    assert titles(html) == ["修护面霜 Repair Cream"]
    assert "修护<mark>面霜</mark> Repair Cream" in html
    assert "1 result" in html and "¥168.00" in html and "Camellia" in html and "In stock" in results(html)
    assert re.search(r'href="/products/p-[0-9a-f]{8}"', results(html))
    assert 'value="面霜"' in html, "the box keeps the query"

    html = await page(zc_client, q="cream")
    assert titles(html) == ["修护面霜 Repair Cream"] and "<mark>Cream</mark>" in html
    html = await page(zc_client, q="serum")
    assert titles(html) == ["美白精华 Vitamin C Serum"] and "Sold out" in results(html)

    chinese = (await zc_client.get("/search", params={"q": "徒步"})).text  # the default language
    assert "共 1 条结果" in chinese and "<mark>徒步</mark>" in chinese and "综合" in chinese


async def test_an_empty_query_browses_and_facets_narrow(zc_client, zc_runtime, zc_make_product):
    await catalogue(zc_runtime, zc_make_product)
    html = await page(zc_client)
    assert sorted(titles(html)) == sorted(["修护面霜 Repair Cream", "美白精华 Vitamin C Serum", "Hiking Boots 徒步鞋"]) and "3 results" in html
    brands = re.search(r'data-testid="facet-brand"(.*?)</fieldset>', html, re.DOTALL).group(1)
    assert 'name="brand" value="lumi"' in brands and "Lumi" in brands  # brand names, not slugs
    assert 'name="in_stock" value="true"' in html

    html = await page(zc_client, brand="lumi")
    assert titles(html) == ["美白精华 Vitamin C Serum"]
    assert re.search(r'name="brand" value="lumi" checked', html), "a chosen value stays checked"
    assert titles(await page(zc_client, brand=["lumi", "peak"], in_stock="true")) == ["Hiking Boots 徒步鞋"]
    # prices in major units; an empty field (as a GET form sends it) means no bound
    assert titles(await page(zc_client, price_min="", price_max="200")) == ["修护面霜 Repair Cream"]
    assert sorted(titles(await page(zc_client, price_min="200.5", price_max=""))) == ["Hiking Boots 徒步鞋", "美白精华 Vitamin C Serum"]
    assert titles(await page(zc_client, price_min="0", price_max="168")) == ["修护面霜 Repair Cream"]
    assert "≈" not in brands
    zc_runtime.search.backend.facet_sample = 1  # as for a search with more matches than the sample
    brands = re.search(r'data-testid="facet-brand"(.*?)</fieldset>', await page(zc_client, price_min="0"), re.DOTALL).group(1)
    assert "≈" in brands and 'title="Estimated"' in brands
    html = await page(zc_client, q="面霜", brand="lumi")
    assert 'data-testid="search-empty"' in html and "Nothing found for “面霜”." in html and 'data-testid="clear-filters"' in html


def options(html: str, field: str) -> dict[str, tuple[str, bool]]:
    """A facet's options: value -> (count as shown, checked)."""
    group = re.search(rf'data-testid="facet-{field}"(.*?)</fieldset>', html, re.DOTALL)
    found = re.findall(r'data-testid="facet-option"><input type="checkbox" name="[^"]+" value="([^"]*)" (checked)?>.*?data-testid="facet-count"[^>]*>([^<]*)</small>', group.group(1) if group else "", re.DOTALL)
    return {value: (count, bool(checked)) for value, checked, count in found}


async def test_ticking_a_brand_keeps_the_others_and_a_second_one_shows_both(zc_client, zc_runtime, zc_make_product):
    await catalogue(zc_runtime, zc_make_product)  # cream: camellia; serum: lumi, sold out; boots: peak
    html = await page(zc_client, brand="lumi")
    assert titles(html) == ["美白精华 Vitamin C Serum"] and "1 result" in html
    assert options(html, "brand") == {"camellia": ("1", False), "lumi": ("1", True), "peak": ("1", False)}, "the other brands stay, to tick one more"
    assert '<details class="search-filters" open' in html

    both = await page(zc_client, brand=["lumi", "camellia"])  # what the form sends with two boxes ticked
    assert sorted(titles(both)) == ["修护面霜 Repair Cream", "美白精华 Vitamin C Serum"] and "2 results" in both
    assert options(both, "brand") == {"camellia": ("1", True), "lumi": ("1", True), "peak": ("1", False)}
    assert options(both, "in_stock") == {"true": ("1", False)}, "other facets count the chosen brands' matches"

    in_stock = await page(zc_client, brand=["lumi", "camellia"], in_stock="true")
    assert titles(in_stock) == ["修护面霜 Repair Cream"] and options(in_stock, "in_stock") == {"true": ("1", True)}
    assert options(in_stock, "brand") == {"camellia": ("1", True), "lumi": ("0", True), "peak": ("1", False)}, "counts under the other filters"
    assert link({"q": ["霜"], "brand": ["lumi", "camellia"], "tab": ["products"]}, page=2) == "/search?q=%E9%9C%9C&brand=lumi&brand=camellia&tab=products&page=2"

    zc_runtime.search.backend.facet_sample = 1  # as for more matches than the sample: estimated, and marked
    estimated = options(await page(zc_client, brand="lumi", price_min="0"), "brand")
    assert "lumi" in estimated and estimated["lumi"][1] and all(count.startswith("≈") for count, _ in estimated.values())


async def test_sort_by_price(zc_client, zc_runtime, zc_make_product):
    await catalogue(zc_runtime, zc_make_product)
    up = ["修护面霜 Repair Cream", "美白精华 Vitamin C Serum", "Hiking Boots 徒步鞋"]
    html = await page(zc_client, sort="price_asc")
    assert titles(html) == up
    assert '<option value="price_asc" selected>' in html and "Price: low to high" in html
    assert titles(await page(zc_client, sort="price_desc")) == up[::-1]


async def test_pages_and_a_page_beyond_the_end(zc_client, zc_runtime, zc_make_product):
    for i in range(21):
        await zc_make_product("camellia", title=f"Tea {i:02d}", price=1_000 + i)
    await zc_runtime.search.rebuild("products")
    first = await page(zc_client, q="tea", sort="price_asc")
    assert len(titles(first)) == 20 and "21 results" in first
    next_url = re.search(r'href="([^"]+)" data-testid="search-next"', first).group(1).replace("&amp;", "&")
    assert "page=2" in next_url and "q=tea" in next_url and "sort=price_asc" in next_url
    second = (await zc_client.get(next_url, headers=EN)).text
    assert titles(second) == ["Tea 20"] and 'rel="prev"' in second and 'data-testid="search-next"' not in second

    beyond = await page(zc_client, q="tea", sort="price_asc", page="9")
    assert 'data-testid="search-beyond"' in beyond and "No more results." in beyond and "21 results" in beyond
    back = re.search(r'data-testid="search-beyond">.*?href="([^"]+)"', beyond, re.DOTALL).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(back).query) == {"q": ["tea"], "sort": ["price_asc"], "page": ["2"], "tab": ["products"]}, "back to the last page"
    assert titles((await zc_client.get(back, headers=EN)).text) == ["Tea 20"]


async def test_bad_parameters_give_a_friendly_page(zc_client, zc_runtime, zc_make_product):
    await catalogue(zc_runtime, zc_make_product)
    for params in ({"q": "面霜", "colour": "red"}, {"q": "面霜", "sort": "random"}, {"q": "面霜", "price_min": "cheap"}, {"q": "面霜", "in_stock": "maybe"}, {"q": "面霜", "page": "0"}):
        html = await page(zc_client, 422, **params)
        assert 'data-testid="search-error"' in html and "Search again without filters" in html, params
        assert 'name="q" value="面霜"' in html, "the search box stays, with the query"
        assert "Traceback" not in html and 'data-testid="search-results"' not in html
    assert "colour" in await page(zc_client, 422, colour="red")
    r = await zc_client.get("/search", params={"colour": "red"}, headers={"accept": "application/json"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html"), "a page, not problem+json"
    # odd queries are text, never markup or an error
    html = await page(zc_client, q='<script>alert(1)</script> " * NEAR -')
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


async def test_the_notes_tab_finds_published_notes(zc_client, zc_runtime, zc_app, zc_make_user, zc_make_product):
    from tests.plugins.notes.notes_helpers import create_note

    await zc_make_user("mia@example.com", roles=("creator",))
    mia = await api_token(zc_client, "mia@example.com")
    published = await create_note(zc_client, mia, title="面霜测评 night cream", body="敏感肌 #护肤 review", publish=True)
    await create_note(zc_client, mia, title="没发的面霜", body="草稿")
    await zc_runtime.search.rebuild("notes")

    html = await page(zc_client, q="面霜", tab="notes")
    assert titles(html) == ["面霜测评 night cream"], "the draft is not found"
    assert "<mark>面霜</mark>测评" in html and "1 result" in html
    assert re.search(r'data-testid="tab-notes" aria-current="page"', html)
    assert re.search(r'href="/search\?q=%E9%9D%A2%E9%9C%9C&amp;tab=products" data-testid="tab-products"', html), "the query is kept across tabs"
    assert 'name="topics" value="护肤"' in html and "#护肤" in html and "Image" in html
    assert "Most liked" in html and "Last 7 days" in html and "Price: low to high" not in html
    try:
        zc_app.route_reverse("note_page", note_id=published["id"])
        linked = True
    except NoRouteMatchFoundException:
        linked = False
    assert ("<a href" in results(html)) is linked, "a note card links to the note page only when there is one"

    assert titles(await page(zc_client, q="面霜", tab="notes", within="7d", sort="likes", type="image", topics="护肤")) == ["面霜测评 night cream"]
    assert 'data-testid="search-error"' in await page(zc_client, 422, tab="notes", within="forever")
    assert 'data-testid="search-error"' in await page(zc_client, 422, tab="notes", brand="lumi"), "a products filter means nothing for notes"
    assert titles(await page(zc_client, q="面霜", tab="notes", type="video")) == []
    products = await page(zc_client, q="面霜")
    assert 'data-testid="tab-notes"' in products and titles(products) == []


async def test_the_header_has_a_search_box_with_suggestions(zc_client, zc_runtime, zc_make_product):
    await catalogue(zc_runtime, zc_make_product)
    home = (await zc_client.get("/", headers=EN)).text
    assert 'action="/search"' in home and 'data-suggest="products"' in home and 'list="top-suggestions"' in home
    assert '<label for="top-q"' in home and '<script src="/static/storefront/search.js" defer></script>' in home
    script = await zc_client.get("/static/storefront/search.js")
    assert script.status_code == 200 and "/suggest?limit=8&q=" in script.text
    html = await page(zc_client, q="hik")
    assert 'id="top-q"' not in html, "the search page has its own box"
    assert 'list="search-suggestions"' in html and '<datalist id="search-suggestions">' in html
    suggestions = (await zc_client.get("/api/v1/search/products/suggest", params={"q": "hik"})).json()["suggestions"]
    assert suggestions == ["Hiking Boots 徒步鞋"]


@pytest.mark.parametrize("zc_settings", ["notes"], indirect=True)
async def test_the_notes_tab_vanishes_without_the_notes_plugin(zc_client, zc_runtime, zc_make_product):
    assert zc_runtime.pm.get_plugin("notes") is None and "notes" not in zc_runtime.search.indexes
    await catalogue(zc_runtime, zc_make_product)
    html = await page(zc_client, q="面霜")
    assert 'data-testid="tab-notes"' not in html and titles(html) == ["修护面霜 Repair Cream"]
    old_link = await page(zc_client, q="面霜", tab="notes", type="image", within="7d")  # a link from when notes were on
    assert 'data-testid="tab-products" aria-current="page"' in old_link and titles(old_link) == ["修护面霜 Repair Cream"]


async def test_the_creators_tab_filters_by_tier_and_followers(zc_client, zc_runtime, zc_make_user):
    for handle, followers, categories in (("koc.tea", 3_000, ["tea"]), ("micro.beauty", 60_000, ["beauty"]), ("mid.outdoor", 250_000, ["outdoor"])):
        user = await zc_make_user(f"{handle.replace('.', '-')}@example.com", roles=("creator",))
        auth = await api_token(zc_client, user.email)
        r = await zc_client.put("/api/v1/me/creator-profile", json={"handle": handle, "categories": categories, "followers": followers, "bio": "<script>x()</script> 博主"}, headers=auth)
        assert r.status_code == 200, r.text
    await zc_runtime.search.rebuild("creators")

    def handles(html: str) -> list[str]:
        return [re.sub(r"</?mark>", "", h) for h in re.findall(r'<span class="muted">@(.*?)</span>', results(html))]

    html = await page(zc_client, tab="creators")
    assert 'data-testid="tab-creators" aria-current="page"' in html and handles(html) == ["mid.outdoor", "micro.beauty", "koc.tea"]
    assert 'data-testid="facet-tier"' in html and 'data-testid="facet-followers"' in html
    assert "<script>x()</script>" not in html and "&lt;script&gt;" in html  # a bio is text
    assert handles(await page(zc_client, tab="creators", tier="koc")) == ["koc.tea"]
    assert handles(await page(zc_client, tab="creators", followers_min="10000", followers_max="100000")) == ["micro.beauty"]
    assert handles(await page(zc_client, tab="creators", q="outdoor")) == ["mid.outdoor"]
    assert "Nothing found" in await page(zc_client, tab="creators", q="nobody-like-this")
    await page(zc_client, status=422, tab="creators", followers_min="lots")  # a friendly page, not a 500

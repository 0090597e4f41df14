"""One contract for every search backend, with the same Chinese and English cases.

It runs against the embedded backend of the test database (SQLite FTS5 in the SQLite
run, PostgreSQL pg_trgm in the PostgreSQL run: `scripts/test.sh` runs both), and against
a real Meilisearch server whenever ZHONGCAO_MEILI_URL is set. No server package exists
on this machine's registries, so the Meilisearch case is skipped here: it is never
replaced by a mock.
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime

import pytest

from core.search.backends import embedded_backend, meilisearch_backend
from core.search.base import Filter, SearchIndex, SearchQuery, Sort

DAY = 86_400
T0 = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())

THINGS = SearchIndex(
    name="things",
    searchable=("title", "body"),
    filterable={"brand": "keyword", "tags": "keywords", "price": "int", "in_stock": "bool", "created": "time", "likes": "int"},
    sortable=("price", "created", "likes"),
    sorts={"newest": Sort("created"), "likes": Sort("likes"), "price_asc": Sort("price", descending=False)},
    ranking=(("likes", True),),
    browse="newest",
    facets=("brand", "tags", "in_stock"),
    ranges=("price", "created"),
    suggest="title",
)


def doc(i: int, title: str, body: str, brand: str, tags: list[str], price: int, in_stock: bool, likes: int, version: int = 1) -> dict:
    return {"id": str(i), "version": version, "title": title, "body": body, "brand": brand, "tags": tags, "price": price, "in_stock": in_stock, "created": T0 + i * DAY, "likes": likes}


DOCS = [
    doc(1, "修护面霜 Camellia Repair Cream", "敏感肌夜间修护，50ml", "camellia", ["skincare", "cream"], 16800, True, 120),
    doc(2, "美白精华液", "提亮肤色 vitamin C serum", "lumi", ["skincare", "serum"], 25800, False, 300),
    doc(3, "Hiking boots", "waterproof trail boots for 徒步", "peak", ["outdoor"], 89900, True, 45),
    doc(4, "防晒霜 SPF50+", "户外防晒，清爽不油腻 sunscreen", "lumi", ["skincare", "sun"], 12800, True, 500),
    doc(5, "面膜 10片", "补水保湿 hydrating sheet mask", "camellia", ["skincare", "mask"], 9900, True, 80),
    doc(6, "Green tea 龙井", "明前龙井 spring tea, 250g", "teahouse", ["tea"], 15800, True, 60),
    doc(7, "霜降时节的养生茶", "秋冬 tea for the frost season", "teahouse", ["tea"], 6800, False, 10),
    doc(8, "清爽乳液", "适合夏天，防晒前使用", "lumi", ["skincare"], 11800, True, 900),  # liked most, matches only in its body
    doc(9, "<b>Bold</b> & \"quoted\" 50% off", "markup & symbols: 100% _under_ \\slash", "peak", ["outdoor"], 100, True, 1),
]


def _backends() -> list:
    out = [pytest.param("embedded", id="embedded")]
    out.append(pytest.param("meilisearch", id="meilisearch", marks=pytest.mark.skipif(
        not os.environ.get("ZHONGCAO_MEILI_URL"), reason="ZHONGCAO_MEILI_URL not set (no Meilisearch server can be installed here)")))
    return out


@pytest.fixture(params=_backends())
async def things(request, zc_runtime):
    """(backend, physical index) filled with DOCS; dropped afterwards."""
    if request.param == "meilisearch":
        backend = meilisearch_backend(os.environ["ZHONGCAO_MEILI_URL"], os.environ.get("ZHONGCAO_MEILI_KEY"), f"zc_test_{secrets.token_hex(3)}")
    else:
        backend = embedded_backend(zc_runtime)
    physical = f"things_{secrets.token_hex(3)}"
    await backend.create(THINGS, physical)
    await backend.create(THINGS, physical)  # twice is harmless
    await backend.upsert(THINGS, physical, [dict(d) for d in DOCS])
    try:
        yield backend, physical
    finally:
        await backend.drop(physical)
        await backend.drop(physical)
        await backend.close()


async def ids(things, q: str = "", **kw) -> list[str]:
    backend, physical = things
    result = await backend.search(THINGS, physical, SearchQuery(q=q, **kw))
    return [h.id for h in result.hits]


async def found(things, q: str, **kw) -> set[str]:
    return set(await ids(things, q, per_page=100, **kw))


# ---------------------------------------------------------------- matching


@pytest.mark.parametrize(("q", "expected"), [
    ("面霜", {"1"}),  # 2 CJK characters: the trigram tokenizer alone finds nothing
    ("霜", {"1", "4", "7"}),  # 1 character: 面霜, 防晒霜, 霜降
    ("敏感肌", {"1"}),  # 3 characters, in the body
    ("修护面霜", {"1"}),  # 4 characters
    ("防晒", {"4", "8"}),
    ("龙井", {"6"}),
    ("cream", {"1"}),
    ("CREAM", {"1"}),  # case
    ("ｃｒｅａｍ", {"1"}),  # full width
    ("repair cream", {"1"}),  # every term must match
    ("tea 龙井", {"6"}),
    ("boots 徒步", {"3"}),
    ("vitamin", {"2"}),
    ("spf50", {"4"}),
    ("50ml", {"1"}),
    ("moisturizer", set()),
    ("面霜 boots", set()),
])
async def test_terms_match_in_chinese_and_english(things, q, expected):
    assert await found(things, q) == expected


async def test_a_title_match_ranks_above_a_body_match(things):
    assert (await ids(things, "防晒"))[:2] == ["4", "8"]  # 4 has it in its title; 8 has more likes
    assert (await ids(things, "tea"))[0] == "6"  # title and body, before 7's body-only match


async def test_an_empty_query_browses_in_the_browse_order(things):
    assert await ids(things, "", per_page=100) == [str(i) for i in range(9, 0, -1)]  # newest first
    assert await ids(things, "   ", per_page=100) == [str(i) for i in range(9, 0, -1)]


# ---------------------------------------------------------------- filters, facets, sorts, pages


async def test_filters(things):
    assert await found(things, "", filters=(Filter("brand", ("lumi",)),)) == {"2", "4", "8"}
    assert await found(things, "霜", filters=(Filter("brand", ("lumi",)),)) == {"4"}
    assert await found(things, "", filters=(Filter("brand", ("lumi", "peak")),)) == {"2", "3", "4", "8", "9"}
    assert await found(things, "", filters=(Filter("price", low=10_000, high=20_000),)) == {"1", "4", "6", "8"}
    assert await found(things, "", filters=(Filter("price", low=80_000),)) == {"3"}
    assert await found(things, "", filters=(Filter("in_stock", (False,)),)) == {"2", "7"}
    assert await found(things, "", filters=(Filter("tags", ("tea",)),)) == {"6", "7"}
    assert await found(things, "", filters=(Filter("tags", ("serum", "mask")),)) == {"2", "5"}
    assert await found(things, "", filters=(Filter("created", low=T0 + 8 * DAY),)) == {"8", "9"}
    both = (Filter("brand", ("camellia",)), Filter("in_stock", (True,)), Filter("price", high=10_000))
    assert await found(things, "", filters=both) == {"5"}


async def test_facets_count_every_match_not_only_the_page(things):
    backend, physical = things
    result = await backend.search(THINGS, physical, SearchQuery(q="", per_page=2))
    assert result.total == 9 and len(result.hits) == 2
    assert result.facets["brand"] == {"lumi": 3, "camellia": 2, "peak": 2, "teahouse": 2}
    assert result.facets["tags"]["skincare"] == 5 and result.facets["tags"]["tea"] == 2
    assert result.facets["in_stock"] == {"true": 7, "false": 2}
    filtered = await backend.search(THINGS, physical, SearchQuery(q="霜", filters=(Filter("in_stock", (True,)),)))
    assert filtered.total == 2 and filtered.facets["brand"] == {"camellia": 1, "lumi": 1}
    assert list(result.facets["brand"])[0] == "lumi"  # most first


async def test_facets_of_many_matches_are_estimated_from_a_fixed_sample(things):
    backend, physical = things
    if backend.name == "meilisearch":
        pytest.skip("Meilisearch counts every match")
    every = (Filter("price", low=0),)  # all 9 documents, through the filtered path
    exact = await backend.search(THINGS, physical, SearchQuery(q="", filters=every))
    assert exact.facets_exact and exact.facets["brand"] == {"lumi": 3, "camellia": 2, "peak": 2, "teahouse": 2}
    backend.facet_sample = 5  # as if 9 matches were millions
    first = await backend.search(THINGS, physical, SearchQuery(q="", filters=every))
    again = await backend.search(THINGS, physical, SearchQuery(q="", filters=every))
    assert first.total == 9 and not first.facets_exact
    assert first.facets == again.facets  # the same sample every time: pages and reloads agree
    brands = first.facets["brand"]
    assert brands and set(brands) <= {"lumi", "camellia", "peak", "teahouse"} and min(brands.values()) >= 1
    assert abs(sum(first.facets["in_stock"].values()) - 9) <= 1  # scaled to the total
    assert [h.id for h in first.hits] == [h.id for h in exact.hits]  # the page and the total stay exact
    few = await backend.search(THINGS, physical, SearchQuery(q="霜"))  # 3 matches: below the sample size
    assert few.facets_exact and few.facets["brand"] == {"camellia": 1, "lumi": 1, "teahouse": 1}


async def facets_of(things, q: str = "", *filters: Filter):
    backend, physical = things
    return await backend.search(THINGS, physical, SearchQuery(q=q, filters=filters, per_page=100))


async def test_a_filtered_facet_is_counted_without_its_own_filter(things):
    """Disjunctive facets: ticking a brand keeps the other brands listed, with their counts
    under the other filters; the other facets count under every filter."""
    lumi = await facets_of(things, "", Filter("brand", ("lumi",)))
    assert {h.id for h in lumi.hits} == {"2", "4", "8"} and lumi.total == 3
    assert lumi.facets["brand"] == {"lumi": 3, "camellia": 2, "peak": 2, "teahouse": 2}  # as if no brand were ticked
    assert lumi.facets["tags"] == {"skincare": 3, "serum": 1, "sun": 1} and lumi.facets["in_stock"] == {"true": 2, "false": 1}
    assert list(lumi.facets) == ["brand", "tags", "in_stock"] and lumi.facets_exact

    in_stock = Filter("in_stock", (True,))
    both = await facets_of(things, "", Filter("brand", ("lumi",)), in_stock)
    assert {h.id for h in both.hits} == {"4", "8"}
    assert both.facets["brand"] == {"camellia": 2, "lumi": 2, "peak": 2, "teahouse": 1}  # under in_stock only
    assert both.facets["in_stock"] == {"true": 2, "false": 1}  # under brand only
    assert both.facets["tags"] == {"skincare": 2, "sun": 1}  # under both

    # a second brand ORs within the field (and still ANDs with in_stock)
    union = await facets_of(things, "", Filter("brand", ("lumi", "camellia")), in_stock)
    assert {h.id for h in union.hits} == {"1", "4", "5", "8"} and union.total == 4
    assert union.facets["brand"] == both.facets["brand"]
    assert union.facets["in_stock"] == {"true": 4, "false": 1}
    assert union.facets["tags"] == {"skincare": 4, "cream": 1, "mask": 1, "sun": 1}

    # with words and a range: the brand counts follow both
    worded = await facets_of(things, "霜", Filter("brand", ("lumi",)), Filter("price", low=10_000))
    assert [h.id for h in worded.hits] == ["4"] and worded.facets["brand"] == {"camellia": 1, "lumi": 1}  # 7 costs less
    assert worded.facets["in_stock"] == {"true": 1}

    # a keywords facet alike
    tea = await facets_of(things, "", Filter("tags", ("tea", "sun")))
    assert {h.id for h in tea.hits} == {"4", "6", "7"}
    assert tea.facets["tags"] == {"skincare": 5, "outdoor": 2, "tea": 2, "cream": 1, "mask": 1, "serum": 1, "sun": 1}
    assert tea.facets["brand"] == {"teahouse": 2, "lumi": 1}

    # a brand without matches ticked: nothing found, yet the brands that have some are listed
    none = await facets_of(things, "cream 霜", Filter("brand", ("lumi",)))
    assert none.hits == [] and none.total == 0 and none.facets["brand"] == {"camellia": 1} and none.facets["tags"] == {}


@pytest.mark.parametrize(("q", "filters"), [
    ("", (Filter("brand", ("lumi",)),)),
    ("", (Filter("brand", ("lumi", "peak")), Filter("tags", ("skincare",)), Filter("price", high=50_000))),
    ("霜", (Filter("in_stock", (False,)), Filter("created", low=T0 + 2 * DAY))),
    ("tea", (Filter("tags", ("tea",)), Filter("brand", ("teahouse",)))),
    ("tea 茶", (Filter("brand", ("teahouse", "lumi")), Filter("in_stock", (False,)))),  # a long and a short term
    ("cream 霜", (Filter("brand", ("lumi",)),)),  # nothing left, yet camellia is counted
])
async def test_a_filtered_facet_counts_as_the_same_search_without_its_filter(things, q, filters):
    result = await facets_of(things, q, *filters)
    for f in {x.field for x in filters} & set(THINGS.facets):
        without = await facets_of(things, q, *(x for x in filters if x.field != f))
        assert result.facets[f] == without.facets[f], f


async def test_filtered_facets_of_many_matches_are_estimated_from_the_same_sample(things):
    backend, _ = things
    if backend.name == "meilisearch":
        pytest.skip("Meilisearch counts every match")
    backend.facet_sample = 5  # the brand pass counts 9 matches: estimated; the 3 of brand=lumi are counted exactly
    every = Filter("price", low=0)
    lumi = await facets_of(things, "", Filter("brand", ("lumi",)), every)
    alone = await facets_of(things, "", every)
    assert not alone.facets_exact and not lumi.facets_exact  # one estimated pass makes the answer an estimate
    assert lumi.facets["brand"] == alone.facets["brand"] and set(lumi.facets["brand"]) <= {"lumi", "camellia", "peak", "teahouse"}
    assert abs(sum(lumi.facets["brand"].values()) - 9) <= 2  # scaled to the matches under the price filter
    assert lumi.facets["tags"] == {"skincare": 3, "serum": 1, "sun": 1}  # exact: below the sample size
    assert {h.id for h in lumi.hits} == {"2", "4", "8"} and lumi.total == 3
    assert (await facets_of(things, "", Filter("brand", ("lumi",)), every)).facets == lumi.facets  # the same figures every time
    backend.facet_sample = 1  # with words: "霜" has 3 matches
    worded = await facets_of(things, "霜", Filter("brand", ("lumi",)))
    assert not worded.facets_exact and worded.facets["brand"] == (await facets_of(things, "霜")).facets["brand"]
    assert [h.id for h in worded.hits] == ["4"]
    backend.facet_sample = 100
    assert (await facets_of(things, "霜", Filter("brand", ("lumi",)))).facets_exact


async def test_sorts(things):
    assert await ids(things, "霜", sort="likes") == ["4", "1", "7"]
    assert await ids(things, "霜", sort="price_asc") == ["7", "4", "1"]
    assert await ids(things, "霜", sort="newest") == ["7", "4", "1"]
    assert await ids(things, "", sort="likes", per_page=3) == ["8", "4", "2"]


async def test_pages_and_a_page_beyond_the_end(things):
    backend, physical = things
    seen = []
    for page in (1, 2, 3):
        result = await backend.search(THINGS, physical, SearchQuery(q="", page=page, per_page=4))
        assert result.total == 9 and (result.page, result.per_page) == (page, 4)
        seen += [h.id for h in result.hits]
    assert seen == [str(i) for i in range(9, 0, -1)]
    beyond = await backend.search(THINGS, physical, SearchQuery(q="霜", page=50, per_page=20))
    assert (beyond.hits, beyond.total) == ([], 3)


# ---------------------------------------------------------------- what comes back


async def test_hits_carry_the_document_and_escaped_highlights(things):
    backend, physical = things
    hit = (await backend.search(THINGS, physical, SearchQuery(q="面霜"))).hits[0]
    assert hit.document["title"] == "修护面霜 Camellia Repair Cream" and hit.document["price"] == 16800 and hit.document["tags"] == ["skincare", "cream"]
    assert "<mark>面霜</mark>" in hit.highlights["title"]
    hit = (await backend.search(THINGS, physical, SearchQuery(q="bold"))).hits[0]
    assert "<b>" not in hit.highlights["title"] and "&lt;b&gt;<mark>Bold</mark>&lt;/b&gt;" in hit.highlights["title"]
    hit = (await backend.search(THINGS, physical, SearchQuery(q="serum"))).hits[0]
    assert "<mark>serum</mark>" in hit.highlights["body"]


@pytest.mark.parametrize("q", [
    '"', '""', "*", "面*", "NEAR", "NEAR(a b)", "a NEAR b", "-", "-面霜", ":", "title:cream", "^", "(", ")",
    "' OR 1=1 --", "'; DROP TABLE user_account; --", "%", "_", "\\", "%_%", "AND", "OR NOT", "{}", "[]", "\x00", "😀",
])
async def test_syntax_characters_are_never_an_error_or_an_injection(things, q):
    await found(things, q)  # no exception
    await found(things, q + " 面霜")


async def test_syntax_characters_are_only_separators(things):
    assert await found(things, '"面霜"') == {"1"}
    assert await found(things, "cream*") == {"1"}
    assert await found(things, "-cream") == {"1"}
    assert "9" in await found(things, "50%") and await found(things, "50%") == await found(things, "50")
    assert await found(things, "under") == {"9"}


async def test_a_ten_thousand_character_query(things):
    await found(things, "面霜" * 5_000)
    await found(things, "cream " * 2_000)


async def test_typo_tolerance_where_the_backend_has_it(things):
    backend, _ = things
    if not backend.typo_tolerance:
        pytest.skip(f"{backend.name} has no typo tolerance")
    assert "3" in await found(things, "hikking")


# ---------------------------------------------------------------- writes


async def test_writes_are_idempotent_and_never_go_back_a_version(things):
    backend, physical = things
    newer = {**DOCS[0], "version": 3, "title": "修护面霜 第二代"}
    await backend.upsert(THINGS, physical, [newer])
    await backend.upsert(THINGS, physical, [newer])  # twice
    await backend.upsert(THINGS, physical, [{**DOCS[0], "version": 2, "title": "旧的标题"}])  # late, older
    assert await found(things, "第二代") == {"1"} and await found(things, "旧的") == set()
    assert await found(things, "camellia") == set()  # the old title's words are gone from doc 1
    assert await backend.versions(THINGS, physical, ["1", "2", "404"]) == {"1": 3, "2": 1}
    await backend.delete(THINGS, physical, ["1", "404"])
    await backend.delete(THINGS, physical, ["1"])
    assert await found(things, "面霜") == set() and await backend.count(THINGS, physical) == 8
    await backend.upsert(THINGS, physical, [{**DOCS[0], "version": 4}])  # back, newer
    assert await found(things, "面霜") == {"1"} and await backend.count(THINGS, physical) == 9


# ---------------------------------------------------------------- suggest


async def test_suggest_as_you_type(things):
    backend, physical = things
    assert await backend.suggest(THINGS, physical, "修", 5) == ["修护面霜 Camellia Repair Cream"]
    assert await backend.suggest(THINGS, physical, "hik", 5) == ["Hiking boots"]
    assert await backend.suggest(THINGS, physical, "green t", 5) == ["Green tea 龙井"]
    assert set(await backend.suggest(THINGS, physical, "霜", 5)) == {"修护面霜 Camellia Repair Cream", "防晒霜 SPF50+", "霜降时节的养生茶"}
    assert await backend.suggest(THINGS, physical, "", 5) == []
    assert await backend.suggest(THINGS, physical, '"*', 5) == []
    assert len(await backend.suggest(THINGS, physical, "霜", 2)) == 2


def test_bad_declarations_are_refused():
    with pytest.raises(ValueError, match="sortable"):
        SearchIndex(name="x", searchable=("t",), filterable={"b": "keyword"}, sortable=("b",)).check()
    with pytest.raises(ValueError, match="browse"):
        SearchIndex(name="x", searchable=("t",), filterable={}, browse="newest").check()
    with pytest.raises(ValueError, match="name"):
        SearchIndex(name="X-1", searchable=("t",), filterable={}).check()
    THINGS.check()

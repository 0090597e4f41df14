"""The Meilisearch backend's pure parts: settings, filter and sort expressions, request and
result mapping, companion text, the version guard's choices. Nothing here talks to a server
(the contract suite does, when ZHONGCAO_MEILI_URL is set)."""

from __future__ import annotations

import pytest

from core.search.backends.meili import (
    MeiliSearch,
    facet_requests,
    filter_expression,
    index_text,
    latest_by_id,
    overwritten,
    quote,
    search_request,
    search_result,
    settings_for,
    sort_expression,
    stored_document,
    to_write,
)
from core.search.base import (
    MAX_PAGE_DEPTH,
    MAX_PER_PAGE,
    MAX_QUERY_CHARS,
    Filter,
    SearchQuery,
)
from tests.core.search.test_search_contract import THINGS  # the contract's index


def test_settings_follow_the_declaration():
    s = settings_for(THINGS)
    assert s["searchableAttributes"] == ["title", "_tokens_title", "body", "_tokens_body"]
    assert set(s["filterableAttributes"]) == {*THINGS.filterable, "id", "version"}
    assert s["sortableAttributes"] == ["price", "created", "likes", "id"]
    assert s["rankingRules"] == ["sort", "words", "typo", "proximity", "attribute", "exactness", "likes:desc", "id:desc"]
    assert s["pagination"]["maxTotalHits"] >= MAX_PAGE_DEPTH + MAX_PER_PAGE
    assert s["faceting"]["sortFacetValuesBy"] == {"*": "count"}


def test_sorts_translate_to_field_then_tie_breakers_then_id():
    assert sort_expression(THINGS, "newest") == ["created:desc", "likes:desc", "id:desc"]
    assert sort_expression(THINGS, "likes") == ["likes:desc", "id:desc"]  # no repeated field
    assert sort_expression(THINGS, "price_asc") == ["price:asc", "likes:desc", "id:desc"]
    assert sort_expression(THINGS, "relevance") is None
    with pytest.raises(ValueError, match="sort"):
        sort_expression(THINGS, "cheapest")


def test_quoting_escapes_backslashes_then_quotes():
    assert quote("lumi") == '"lumi"'
    assert quote('a"b') == '"a\\"b"'
    assert quote("a\\b") == '"a\\\\b"'
    assert quote('x\\" OR id EXISTS') == '"x\\\\\\" OR id EXISTS"'
    assert quote("霜 ' ) ]") == '"霜 \' ) ]"'


def test_filters():
    assert filter_expression(THINGS, [Filter("brand", ("lumi", "peak"))]) == ['brand IN ["lumi", "peak"]']
    assert filter_expression(THINGS, [Filter("tags", ("tea",))]) == ['tags IN ["tea"]']
    assert filter_expression(THINGS, [Filter("in_stock", (False,))]) == ["in_stock IN [false]"]
    assert filter_expression(THINGS, [Filter("likes", (1, 2))]) == ["likes IN [1, 2]"]
    assert filter_expression(THINGS, [Filter("price", low=10_000, high=20_000)]) == ["price >= 10000", "price <= 20000"]
    assert filter_expression(THINGS, [Filter("created", high=5)]) == ["created <= 5"]
    assert filter_expression(THINGS, [Filter("price")]) == []
    injection = filter_expression(THINGS, [Filter("brand", ('x" OR brand EXISTS OR brand = "y',))])
    assert injection == ['brand IN ["x\\" OR brand EXISTS OR brand = \\"y"]']


@pytest.mark.parametrize("bad", [Filter("colour", ("red",)), Filter("price", ("cheap",)), Filter("brand", low=1), Filter("in_stock", (1,))])
def test_bad_filters_are_value_errors(bad):
    with pytest.raises(ValueError):
        filter_expression(THINGS, [bad])


def test_requests():
    terms, body = search_request(THINGS, SearchQuery(q=""))
    assert terms == [] and body["sort"] == ["created:desc", "likes:desc", "id:desc"]  # browse
    assert (body["page"], body["hitsPerPage"], body["matchingStrategy"]) == (1, 20, "all")
    assert body["facets"] == ["brand", "tags", "in_stock"] and "filter" not in body and "q" not in body

    terms, body = search_request(THINGS, SearchQuery(q='"面霜" -cream* NEAR(a', facets=False))
    assert terms == ["面霜", "cream", "near", "a"] and "sort" not in body and "facets" not in body  # relevance

    _, body = search_request(THINGS, SearchQuery(q="霜", sort="likes", filters=(Filter("brand", ("lumi",)),)))
    assert body["sort"] == ["likes:desc", "id:desc"] and body["filter"] == ['brand IN ["lumi"]']

    _, body = search_request(THINGS, SearchQuery(q="x", page=3, per_page=500))
    assert (body["page"], body["hitsPerPage"]) == (3, MAX_PER_PAGE)
    _, body = search_request(THINGS, SearchQuery(q="x", page=MAX_PAGE_DEPTH, per_page=20))
    assert (body["page"], body["hitsPerPage"]) == (1, 0)  # beyond the depth: total and facets only

    terms, _ = search_request(THINGS, SearchQuery(q="面霜" * 5_000))
    assert terms == ["面霜" * (MAX_QUERY_CHARS // 2)]  # cut by query_terms; Meilisearch keeps 10 words


def test_results_drop_companions_and_mark_escaped_terms():
    query = SearchQuery(q="bold 50")
    terms, _ = search_request(THINGS, query)
    stored = stored_document(THINGS, {"id": "9", "version": 1, "title": "<b>Bold</b> 50% off", "body": "x" * 200 + " bold", "brand": "peak", "tags": ["outdoor"], "in_stock": True})
    response = {
        "hits": [{**stored, "_rankingScore": 0.9}],
        "totalHits": 1,
        "facetDistribution": {"brand": {"peak": 1, "lumi": 3, "camellia": 3}, "in_stock": {"true": 1}},
    }
    result = search_result(THINGS, query, terms, response)
    hit = result.hits[0]
    assert hit.id == "9" and hit.document == {"id": "9", "version": 1, "title": "<b>Bold</b> 50% off", "body": "x" * 200 + " bold", "brand": "peak", "tags": ["outdoor"], "in_stock": True}
    assert hit.highlights["title"] == "&lt;b&gt;<mark>Bold</mark>&lt;/b&gt; <mark>50</mark>% off"
    assert hit.highlights["body"].startswith("…") and hit.highlights["body"].endswith("<mark>bold</mark>")
    assert result.total == 1 and result.typo_tolerant
    assert result.facets == {"brand": {"camellia": 3, "lumi": 3, "peak": 1}, "tags": {}, "in_stock": {"true": 1}}
    assert list(result.facets["brand"]) == ["camellia", "lumi", "peak"]  # most first, then by value

    browse = search_result(THINGS, SearchQuery(q="", facets=False), [], {"hits": [{**stored}], "totalHits": 9})
    assert browse.hits[0].highlights == {} and browse.facets == {} and browse.total == 9 and not browse.typo_tolerant


def test_companion_text_is_what_query_terms_would_match():
    assert index_text("修护面霜 Camellia Repair Cream") == "camellia repair cream 修 修护 护 护面 面 面霜 霜"
    assert index_text("防晒霜 SPF50+") == "spf50 防 防晒 晒 晒霜 霜"
    assert index_text("敏感肌夜间修护，50ml").startswith("50ml 敏 敏感")  # Latin words before any CJK
    assert index_text("<b>Bold</b> & \"quoted\" _under_ ｃｒｅａｍ") == "b bold quoted under cream"
    assert index_text(None) == "" and index_text(["tea", "龙井"]) == "tea 龙 龙井 井"
    assert stored_document(THINGS, {"id": "1", "version": 1, "title": "Tea"})["_tokens_body"] == ""


def test_the_version_guard_choices():
    docs = [{"id": "1", "version": 2}, {"id": "1", "version": 5}, {"id": "1", "version": 3}, {"id": "2", "version": 1}]
    newest = latest_by_id(docs)
    assert {i: d["version"] for i, d in newest.items()} == {"1": 5, "2": 1}
    assert set(to_write(newest, {"1": 6, "2": 1})) == {"2"}  # equal version: replaced (idempotent)
    assert set(to_write(newest, {"1": 4})) == {"1", "2"}  # unknown ids are written
    assert set(overwritten(newest, {"1": 4, "2": 1})) == {"1"}  # an older write won: send again
    assert overwritten(newest, {"1": 7}) == {}  # newer stored, or "2" deleted meanwhile: leave it


def test_names_are_validated():
    backend = MeiliSearch("http://127.0.0.1:7700/", None, "zc_test-1")
    assert backend.uid("things_3") == "zc_test-1_things_3" and backend.url == "http://127.0.0.1:7700"
    for bad in ("Things", "things-3", "a b", "", "x/../y"):
        with pytest.raises(ValueError):
            backend.uid(bad)
    with pytest.raises(ValueError):
        MeiliSearch("http://127.0.0.1:7700", None, "zc:test")


def test_a_filtered_facet_is_counted_by_a_second_query_without_its_filter():
    query = SearchQuery(q="霜", filters=(Filter("brand", ("lumi", "peak")), Filter("in_stock", (True,)), Filter("price", low=100)))
    terms, body = search_request(THINGS, query)
    assert body["facets"] == ["tags"] and body["filter"] == ['brand IN ["lumi", "peak"]', "in_stock IN [true]", "price >= 100"]
    counting = facet_requests(THINGS, query)
    assert counting == {
        "brand": {"matchingStrategy": "all", "limit": 0, "facets": ["brand"], "filter": ["in_stock IN [true]", "price >= 100"]},
        "in_stock": {"matchingStrategy": "all", "limit": 0, "facets": ["in_stock"], "filter": ['brand IN ["lumi", "peak"]', "price >= 100"]},
    }
    assert facet_requests(THINGS, SearchQuery(q="霜", filters=(Filter("price", low=100),))) == {}  # no facet filter: one plain search
    assert facet_requests(THINGS, SearchQuery(filters=(Filter("brand", ("lumi",)),), facets=False)) == {}
    assert facet_requests(THINGS, SearchQuery(filters=(Filter("tags", ("tea",)),))) == {"tags": {"matchingStrategy": "all", "limit": 0, "facets": ["tags"]}}
    _, alone = search_request(THINGS, SearchQuery(filters=(Filter("brand", ("lumi",)), Filter("tags", ("tea",)), Filter("in_stock", (True,)))))
    assert "facets" not in alone  # every facet is filtered: each comes from its own query

    response = {"hits": [], "totalHits": 2, "facetDistribution": {"tags": {"skincare": 2}}}
    result = search_result(THINGS, query, terms, response, {
        "brand": {"hits": [], "totalHits": 5, "facetDistribution": {"brand": {"lumi": 2, "peak": 2, "camellia": 1}}},
        "in_stock": {"hits": [], "totalHits": 3, "facetDistribution": {"in_stock": {"true": 2, "false": 1}}},
    })
    assert result.total == 2 and list(result.facets) == ["brand", "tags", "in_stock"]
    assert result.facets == {"brand": {"lumi": 2, "peak": 2, "camellia": 1}, "tags": {"skincare": 2}, "in_stock": {"true": 2, "false": 1}}


async def test_a_search_with_a_facet_filter_is_one_multi_search_request(monkeypatch):
    """The wiring only (a stand-in for the client records the calls); the contract suite talks to a server."""
    calls: list[tuple[str, object]] = []

    class Index:
        def search(self, q, body):
            calls.append(("search", (q, body)))
            return {"hits": [], "totalHits": 0, "facetDistribution": {}}

    class Client:
        def index(self, uid):
            assert uid == "zc_things_1"
            return Index()

        def multi_search(self, queries):
            calls.append(("multi_search", queries))
            return {"results": [{"hits": [], "totalHits": 1, "facetDistribution": {"tags": {"sun": 1}, "in_stock": {"true": 1}}},
                                {"hits": [], "estimatedTotalHits": 3, "facetDistribution": {"brand": {"lumi": 1, "peak": 2}}}]}

    backend = MeiliSearch("http://127.0.0.1:7700", None, "zc")
    monkeypatch.setattr(backend, "_client", Client)
    result = await backend.search(THINGS, "things_1", SearchQuery(q="霜", filters=(Filter("brand", ("lumi",)),)))
    (name, queries), = calls
    assert name == "multi_search" and [q["indexUid"] for q in queries] == ["zc_things_1"] * 2 and {q["q"] for q in queries} == {"霜"}
    assert queries[0]["filter"] == ['brand IN ["lumi"]'] and queries[0]["facets"] == ["tags", "in_stock"]
    assert queries[1] == {"indexUid": "zc_things_1", "q": "霜", "matchingStrategy": "all", "limit": 0, "facets": ["brand"]}
    assert result.total == 1 and result.facets == {"brand": {"peak": 2, "lumi": 1}, "tags": {"sun": 1}, "in_stock": {"true": 1}}
    calls.clear()
    await backend.search(THINGS, "things_1", SearchQuery(q="霜", filters=(Filter("price", low=1),)))
    assert [name for name, _ in calls] == ["search"]  # no facet filter: one plain search, as before

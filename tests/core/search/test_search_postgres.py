"""What the PostgreSQL backend does beyond the shared contract: kept counts, typo
tolerance as a fallback, whole-word short terms, names, concurrent creation, with
the contract's cases."""

from __future__ import annotations

import asyncio
import secrets

import pytest
from sqlalchemy import text

from core.search.base import Filter, SearchQuery
from tests.core.search.test_search_contract import DOCS, THINGS, doc


@pytest.fixture
async def pg(zc_runtime):
    if zc_runtime.db.is_sqlite:
        pytest.skip("PostgreSQL backend only")
    from core.search.backends.postgres import PostgresSearch

    backend, physical = PostgresSearch(zc_runtime), f"pgthings_{secrets.token_hex(3)}"
    await asyncio.gather(backend.create(THINGS, physical), backend.create(THINGS, physical))  # at once: no catalog collision
    await backend.upsert(THINGS, physical, [dict(d) for d in DOCS])
    try:
        yield backend, physical
    finally:
        await backend.drop(physical)
        await backend.drop(physical)


async def counted(backend, physical, **kw):
    """The kept counts (browsing everything) and the same counted from the rows (a filter that keeps all)."""
    kept = await backend.search(THINGS, physical, SearchQuery(**kw))
    scanned = await backend.search(THINGS, physical, SearchQuery(filters=(Filter("price", low=0),), **kw))
    return (kept.total, kept.facets), (scanned.total, scanned.facets)


async def test_kept_counts_follow_inserts_updates_older_versions_and_deletes(pg):
    backend, physical = pg
    kept, scanned = await counted(backend, physical)
    assert kept == scanned and kept[0] == 9
    await backend.upsert(THINGS, physical, [
        {**DOCS[0], "version": 2, "brand": "lumi", "tags": ["cream", "cream", "new"], "in_stock": False},  # changed
        {**DOCS[1], "version": 0, "brand": "nobody"},  # older: ignored
        doc(10, "新品", "new", "fresh", ["new"], 100, True, 0),  # inserted
    ])
    await backend.delete(THINGS, physical, ["3", "404"])
    kept, scanned = await counted(backend, physical)
    assert kept == scanned and kept[0] == 9
    assert kept[1]["brand"] == {"lumi": 4, "teahouse": 2, "camellia": 1, "fresh": 1, "peak": 1}
    assert kept[1]["tags"]["new"] == 2 and kept[1]["tags"]["cream"] == 1 and "outdoor" in kept[1]["tags"]
    assert kept[1]["in_stock"] == {"true": 6, "false": 3}
    await backend.delete(THINGS, physical, [str(i) for i in range(1, 11)])
    assert (await backend.search(THINGS, physical, SearchQuery())).total == 0
    facets = (await backend.search(THINGS, physical, SearchQuery())).facets
    assert facets == {"brand": {}, "tags": {}, "in_stock": {}}


async def test_typos_are_a_fallback_and_only_for_longer_words(pg):
    backend, physical = pg
    exact = await backend.search(THINGS, physical, SearchQuery(q="boots"))
    assert not exact.typo_tolerant and {h.id for h in exact.hits} == {"3"}
    fuzzy = await backend.search(THINGS, physical, SearchQuery(q="waterprof"))
    assert fuzzy.typo_tolerant and [h.id for h in fuzzy.hits] == ["3"]
    assert (await backend.search(THINGS, physical, SearchQuery(q="tae"))).total == 0  # 3 letters: exact only


async def test_short_latin_terms_match_whole_words(pg):
    backend, physical = pg
    await backend.upsert(THINGS, physical, [doc(20, "UV 防护 café crème", "5g uva", "x", [], 1, True, 0)])
    assert {h.id for h in (await backend.search(THINGS, physical, SearchQuery(q="uv"))).hits} == {"20"}
    assert {h.id for h in (await backend.search(THINGS, physical, SearchQuery(q="5G"))).hits} == {"20"}
    assert (await backend.search(THINGS, physical, SearchQuery(q="va"))).total == 0  # inside "uva": not a word
    hits = (await backend.search(THINGS, physical, SearchQuery(q="CRÈME café"))).hits
    assert [h.id for h in hits] == ["20"] and hits[0].document["title"] == "UV 防护 café crème"


async def test_pages_beyond_the_depth_limit_are_empty_but_counted(pg):
    backend, physical = pg
    result = await backend.search(THINGS, physical, SearchQuery(q="霜", page=101, per_page=100))
    assert (result.hits, result.total) == ([], 3)


async def test_bad_names_sorts_and_filters_are_refused(pg):
    backend, physical = pg
    for bad in ("Things", "a-b", 'x"; DROP TABLE user_account; --', "", "x" * 49):
        with pytest.raises(ValueError):
            await backend.search(THINGS, bad, SearchQuery())
    with pytest.raises(ValueError):
        await backend.search(THINGS, physical, SearchQuery(sort="cheapest"))
    with pytest.raises(ValueError):
        await backend.search(THINGS, physical, SearchQuery(filters=(Filter("colour", ("red",)),)))
    with pytest.raises(ValueError):
        await backend.search(THINGS, physical, SearchQuery(filters=(Filter("price", ("cheap",)),)))


async def test_drop_leaves_nothing_behind(zc_runtime, pg):
    backend, physical = pg
    await backend.drop(physical)
    async with zc_runtime.db.read_session() as s:
        left = (await s.execute(text("SELECT relname FROM pg_class WHERE relname LIKE :p UNION ALL SELECT proname FROM pg_proc WHERE proname LIKE :p"), {"p": f"search_{physical}%"})).scalars().all()
    assert left == []


async def test_suggest_gives_each_value_once_best_first(pg):
    backend, physical = pg
    same = [doc(30 + i, "Hiking boots", "again", "peak", [], 1, True, likes) for i, likes in enumerate((5, 700, 50))]
    await backend.upsert(THINGS, physical, [*same, doc(40, "Hiking poles", "", "peak", [], 1, True, 600)])
    assert await backend.suggest(THINGS, physical, "hik", 1) == ["Hiking boots"]  # 700 likes
    assert await backend.suggest(THINGS, physical, "hik", 5) == ["Hiking boots", "Hiking poles"]

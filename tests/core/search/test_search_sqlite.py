"""What the SQLite backend does beyond the shared contract: its names, its ranking by
field, its cached totals and facets, and the odd documents."""

from __future__ import annotations

import secrets

import pytest

from core.search.backends import sqlite as sqlite_backend
from core.search.backends.sqlite import SqliteSearch
from core.search.base import MAX_PAGE_DEPTH, Filter, SearchIndex, SearchQuery, Sort

NOTES = SearchIndex(
    name="notes",
    searchable=("title", "body"),
    filterable={"kind": "keyword", "topics": "keywords", "likes": "int", "video": "bool"},
    sortable=("likes",),
    sorts={"likes": Sort("likes")},
    ranking=(("likes", True),),
    facets=("kind", "topics", "video"),
    suggest="title",
)


def note(i: int, title: str, body: str = "", likes: int = 0, **more) -> dict:
    return {"id": str(i), "version": 1, "title": title, "body": body, "kind": "photo", "topics": [], "likes": likes, "video": False, **more}


@pytest.fixture
async def notes(zc_runtime):
    if not zc_runtime.db.is_sqlite:
        pytest.skip("the SQLite backend")
    backend = SqliteSearch(zc_runtime)
    physical = f"notes_{secrets.token_hex(3)}"
    await backend.create(NOTES, physical)
    yield backend, physical
    await backend.drop(physical)


async def search(notes, q: str = "", **kw):
    backend, physical = notes
    return await backend.search(NOTES, physical, SearchQuery(q=q, per_page=100, **kw))


async def test_physical_names_are_checked(zc_runtime):
    backend = SqliteSearch(zc_runtime)
    for bad in ("Notes", "notes-1", 'x"; DROP TABLE user_account; --', ""):
        with pytest.raises(ValueError, match="physical"):
            await backend.create(NOTES, bad)
        with pytest.raises(ValueError, match="physical"):
            await backend.search(NOTES, bad, SearchQuery(q="x"))


async def test_a_title_match_outranks_any_body_match_then_likes_decide(notes):
    backend, physical = notes
    await backend.upsert(NOTES, physical, [
        note(1, "面霜测评", likes=1),
        note(2, "好物分享", "这款面霜很好用", likes=1000),
        note(3, "秋冬面霜", "面霜 面霜 面霜", likes=50),
        note(4, "cream review", "a night cream", likes=5),
    ])
    assert [h.id for h in (await search(notes, "面霜")).hits] == ["3", "1", "2"]
    assert [h.id for h in (await search(notes, "面霜", sort="likes")).hits] == ["2", "3", "1"]


async def test_documents_come_back_as_given(notes):
    backend, physical = notes
    odd = note(1, "Ｔｅａ 茶", "", likes=3, topics=["a", "a", "b"], kind=None, extra={"nested": [1, 2.5, None]})
    del odd["video"]
    await backend.upsert(NOTES, physical, [odd, note(2, "tea", "")])
    result = await search(notes, "tea")
    assert {h.id: h.document for h in result.hits}["1"] == odd
    assert result.facets["topics"] == {"a": 1, "b": 1} and result.facets["kind"] == {"photo": 1}
    assert result.facets["video"] == {"false": 1}


async def test_bad_queries_are_value_errors(notes):
    with pytest.raises(ValueError, match="sort"):
        await search(notes, "x", sort="newest")
    with pytest.raises(ValueError, match="unknown filter"):
        await search(notes, "x", filters=(Filter("nope", ("a",)),))
    with pytest.raises(ValueError):
        await search(notes, "x", filters=(Filter("video", ("yes",)),))


async def test_cached_totals_and_facets_follow_every_write(notes, zc_runtime, monkeypatch):
    monkeypatch.setattr(sqlite_backend, "CACHE_FROM", 0)  # remember every search
    backend, physical = notes
    other = SqliteSearch(zc_runtime)  # another process: its writes must show here too
    await backend.upsert(NOTES, physical, [note(i, f"茶 {i}", topics=["tea"]) for i in range(1, 4)])
    first = await search(notes, "茶", filters=(Filter("likes", low=0),))
    assert first.total == 3 and first.facets["topics"] == {"tea": 3}
    assert len(backend._aggregates) == 1
    await other.upsert(NOTES, physical, [note(4, "茶 4", topics=["tea", "green"])])
    second = await search(notes, "茶", filters=(Filter("likes", low=0),))
    assert second.total == 4 and second.facets["topics"] == {"tea": 4, "green": 1} and len(second.hits) == 4
    await other.delete(NOTES, physical, ["1"])
    assert (await search(notes, "茶", filters=(Filter("likes", low=0),))).total == 3
    await other.upsert(NOTES, physical, [note(2, "茶 2", topics=["tea"])])  # same version: rewritten, same counts
    assert (await search(notes, "茶", filters=(Filter("likes", low=0),))).facets["topics"] == {"tea": 3, "green": 1}
    # a dropped and re-created index starts again, with nothing remembered from before
    await other.drop(physical)
    await other.create(NOTES, physical)
    await other.upsert(NOTES, physical, [note(9, "茶 9")])
    assert (await search(notes, "茶", filters=(Filter("likes", low=0),))).total == 1


async def test_cached_filtered_facets_follow_every_write(notes, zc_runtime):
    """A filtered facet's counts (over the matches without its filter) are remembered with the rest."""
    backend, physical = notes
    other = SqliteSearch(zc_runtime)
    await backend.upsert(NOTES, physical, [note(1, "茶 1", kind="photo"), note(2, "茶 2", kind="clip")])
    photo = (Filter("kind", ("photo",)),)
    first = await search(notes, "", filters=photo)  # counts the whole index: remembered whatever its size
    assert first.total == 1 and first.facets["kind"] == {"clip": 1, "photo": 1} and len(backend._aggregates) == 1
    worded = await search(notes, "茶", filters=photo)
    assert worded.total == 1 and worded.facets["kind"] == {"clip": 1, "photo": 1}
    await other.upsert(NOTES, physical, [note(3, "茶 3", kind="clip")])
    for q in ("", "茶"):
        again = await search(notes, q, filters=photo)
        assert again.total == 1 and again.facets["kind"] == {"clip": 2, "photo": 1}, q


async def test_pages_beyond_the_deepest_page_are_empty(notes):
    backend, physical = notes
    await backend.upsert(NOTES, physical, [note(i, f"tea {i}") for i in range(1, 4)])
    result = await backend.search(NOTES, physical, SearchQuery(q="tea", page=MAX_PAGE_DEPTH // 20 + 1, per_page=20))
    assert (result.hits, result.total) == ([], 3)
    assert len((await backend.search(NOTES, physical, SearchQuery(q="tea", per_page=1000))).hits) == 3


async def test_suggest_skips_repeated_values_and_matches_the_suggest_field_only(notes):
    backend, physical = notes
    await backend.upsert(NOTES, physical, [note(i, "Hiking boots", likes=100 + i) for i in range(1, 13)])
    await backend.upsert(NOTES, physical, [note(20, "Hiking poles", likes=1), note(21, "Rain jacket", "for hiking", likes=500)])
    assert await backend.suggest(NOTES, physical, "hik", 2) == ["Hiking boots", "Hiking poles"]
    assert await backend.suggest(NOTES, physical, "hiking p", 5) == ["Hiking poles"]
    assert await backend.suggest(NOTES, physical, "iking", 5) == []  # a word's start, not its middle


async def test_an_index_of_one_text_field_and_nothing_else(zc_runtime):
    if not zc_runtime.db.is_sqlite:
        pytest.skip("the SQLite backend")
    plain = SearchIndex(name="plain", searchable=("text",), filterable={})
    backend, physical = SqliteSearch(zc_runtime), f"plain_{secrets.token_hex(3)}"
    await backend.create(plain, physical)
    try:
        await backend.upsert(plain, physical, [{"id": "a", "version": 1, "text": "防晒霜"}, {"id": "b", "version": 1, "text": "面霜"}])
        result = await backend.search(plain, physical, SearchQuery(q="霜"))
        assert [h.id for h in result.hits] == ["b", "a"] and result.facets == {}  # id descending
        assert await backend.suggest(plain, physical, "霜", 5) == []
    finally:
        await backend.drop(physical)

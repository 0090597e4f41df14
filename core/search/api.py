"""`/api/v1/search/{index}`: search any declared index, with its filters, facets, sorts,
pages and highlights; `/api/v1/search/{index}/suggest`: suggest-as-you-type.

Filters are query parameters named after the index's filterable fields:
`brand=camellia,lumi` or `brand=camellia&brand=lumi` (any of), `in_stock=true`, and for
ranges `price_min=` / `price_max=` (integers; times as ISO 8601 dates or datetimes, or
seconds since the epoch); different fields must all hold. Anything else is refused (422),
so a typo never silently widens a search. Facets are disjunctive: a facet with a filter
is counted under the other filters only, so its other values keep their counts.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get

from core.errors import NotFound, ValidationFailed
from core.runtime import Runtime
from core.search.base import (
    MAX_PAGE_DEPTH,
    MAX_PER_PAGE,
    Filter,
    SearchIndex,
    SearchQuery,
    check_filter,
)
from core.search.service import UnknownIndex

RESERVED = {"q", "sort", "page", "per_page", "facets", "highlight"}


class HitOut(msgspec.Struct):
    id: str
    document: dict[str, Any]
    highlights: dict[str, str]


class SearchOut(msgspec.Struct):
    index: str
    q: str
    sort: str
    total: int
    page: int
    per_page: int
    pages: int
    hits: list[HitOut]
    facets: dict[str, dict[str, int]]  # field -> value -> matches, most first; a filtered field's under the other filters only
    facets_exact: bool  # false: some counts are estimated from a sample of the matches
    sorts: list[str]
    typo_tolerant: bool


class SuggestOut(msgspec.Struct):
    index: str
    q: str
    suggestions: list[str]


def _index(runtime: Runtime, name: str) -> SearchIndex:
    try:
        return runtime.search.index(name)
    except UnknownIndex:
        raise NotFound(f"no search index {name!r}", extra={"indexes": sorted(runtime.search.indexes)}) from None


def _int(name: str, raw: str, *, low: int, high: int) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be an integer", extra={"fields": {name: "not an integer"}}) from None
    if not low <= value <= high:
        raise ValidationFailed(f"{name} must lie within {low}..{high}", extra={"fields": {name: "out of range"}})
    return value


def _time(name: str, raw: str) -> int:
    if raw.lstrip("-").isdigit():
        return _int(name, raw, low=-(2**62), high=2**62)
    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        raise ValidationFailed(f"{name} must be a date, a datetime or seconds since the epoch", extra={"fields": {name: "not a time"}}) from None
    return int((at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp())


def filter_values(values: list[str]) -> list[str]:
    """A filter parameter's values: repeated and/or comma-separated, blanks dropped."""
    return [p.strip() for v in values for p in v.split(",") if p.strip()]


def parse_query(index: SearchIndex, params: dict[str, list[str]]) -> SearchQuery:
    """The query a client's parameters ask for, or a 422 naming what is wrong."""
    def one(name: str, default: str) -> str:
        values = params.get(name)
        return values[-1] if values else default

    filters: list[Filter] = []
    ranges: dict[str, dict[str, int]] = {}
    for name, values in params.items():
        if name in RESERVED:
            continue
        base, _, end = name.rpartition("_")
        if end in ("min", "max") and base in index.ranges:
            kind = index.filterable[base]
            value = _time(name, values[-1]) if kind == "time" else _int(name, values[-1], low=-(2**62), high=2**62)
            ranges.setdefault(base, {})["low" if end == "min" else "high"] = value
            continue
        kind = index.filterable.get(name)
        if kind is None or kind in ("int", "time"):
            allowed = sorted([f for f, k in index.filterable.items() if k not in ("int", "time")] + [f"{f}_{e}" for f in index.ranges for e in ("min", "max")])
            raise ValidationFailed(f"unknown filter field {name!r}", extra={"fields": {name: "unknown"}, "filters": allowed})
        parts = filter_values(values)
        if not parts or len(parts) > 50:
            raise ValidationFailed(f"{name}: give 1 to 50 values", extra={"fields": {name: "empty or too many"}})
        if kind == "bool":
            if len(set(parts)) != 1 or parts[0] not in ("true", "false"):
                raise ValidationFailed(f"{name} must be true or false", extra={"fields": {name: "not true or false"}})
            filters.append(Filter(name, (parts[0] == "true",)))
        else:
            filters.append(Filter(name, tuple(dict.fromkeys(p[:200] for p in parts))))
    for name, bounds in ranges.items():
        filters.append(Filter(name, low=bounds.get("low"), high=bounds.get("high")))
    for f in filters:
        try:
            check_filter(index, f)
        except ValueError as exc:
            raise ValidationFailed(str(exc), extra={"fields": {f.field: "invalid"}}) from None
    sort = one("sort", "relevance")
    if sort not in index.sort_names:
        raise ValidationFailed(f"unknown sort {sort!r}", extra={"fields": {"sort": "unknown"}, "sorts": list(index.sort_names)})
    per_page = _int("per_page", one("per_page", "20"), low=1, high=MAX_PER_PAGE)
    page = _int("page", one("page", "1"), low=1, high=MAX_PAGE_DEPTH)
    flags = {}
    for flag in ("facets", "highlight"):
        raw = one(flag, "true")
        if raw not in ("true", "false"):
            raise ValidationFailed(f"{flag} must be true or false", extra={"fields": {flag: "not true or false"}})
        flags[flag] = raw == "true"
    return SearchQuery(q=one("q", ""), filters=tuple(filters), sort=sort, page=page, per_page=per_page, **flags)


class SearchController(Controller):
    path = "/search"
    tags = ["search"]

    @get("/{index:str}")
    async def search(self, index: str, request: Request, runtime: Runtime) -> SearchOut:
        """Search an index (`products`, `notes`, `creators`, and any a plugin declares).
        An empty `q` browses in the index's default order. `sort`: relevance or one of
        the index's sorts (listed in the answer). Filters: any of a field's values
        (`brand=a&brand=b`), every field. Facets: value counts of the matches; a field with
        a filter is counted under the other filters only, so its other values stay listed."""
        declared = _index(runtime, index)
        query = parse_query(declared, {k: list(v) for k, v in request.query_params.dict().items()})
        result = await runtime.search.search(index, query)
        return SearchOut(
            index=index, q=query.q, sort=query.sort, total=result.total, page=query.page, per_page=query.per_page, pages=result.pages,
            hits=[HitOut(id=h.id, document=h.document, highlights=h.highlights) for h in result.hits],
            facets=result.facets, facets_exact=result.facets_exact, sorts=list(declared.sort_names), typo_tolerant=result.typo_tolerant,
        )

    @get("/{index:str}/suggest")
    async def suggest(self, index: str, runtime: Runtime, q: str = "", limit: int = 8) -> SuggestOut:
        """Completions of what was typed so far (`q`), best first."""
        _index(runtime, index)
        if not 1 <= limit <= 20:
            raise ValidationFailed("limit must lie within 1..20", extra={"fields": {"limit": "out of range"}})
        return SuggestOut(index=index, q=q, suggestions=await runtime.search.suggest(index, q, limit))


SEARCH_CONTROLLERS = [SearchController]

"""What every search backend is given and gives back: index definitions, queries,
results, and the `SearchBackend` interface.

An index (`SearchIndex`) is declared once by the module or plugin that owns the data,
through `register_search_indexes`. A backend keeps *physical* indexes (one per build:
`products_3`); the service maps each index name to the physical index that answers
(an alias), so a rebuild fills a new one and swaps, with no downtime.

Documents are plain dicts: `id` (str), `version` (int, grows with every change of the
source object: a backend never replaces a document by an older version), and the
declared fields. Text fields are strings; `keywords` fields lists of strings; `int`
and `time` fields integers (a time is seconds since the epoch); `bool` fields booleans.
"""

from __future__ import annotations

import re
import unicodedata
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from core.runtime import Runtime

FieldType = Literal["keyword", "keywords", "int", "bool", "time"]
FIELD_TYPES: tuple[str, ...] = ("keyword", "keywords", "int", "bool", "time")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
MAX_QUERY_CHARS = 200  # longer queries are cut (Meilisearch keeps 10 words; nobody types more)
MAX_PER_PAGE = 100
MAX_PAGE_DEPTH = 10_000  # page * per_page beyond this answers an empty page (deep paging is a crawler's game)
# Facet counts cost ~1-2 µs per match and facet: above this many matches the embedded
# backends count a fixed pseudo-random sample of about this many (by a hash of the
# document, so the same query always gets the same figures) and scale to the total;
# `SearchResult.facets_exact` says so (as Algolia's `exhaustiveFacetsCount` does).
FACET_SAMPLE = 2_000


@dataclass(frozen=True)
class Sort:
    """A named order: `field` (a sortable field, or "relevance"), then the index's ranking tie-breakers."""

    field: str
    descending: bool = True


@dataclass(frozen=True)
class SearchIndex:
    """An index as its owner declares it.

    - `searchable`: text fields, most important first: a match in an earlier field ranks higher.
    - `filterable`: field -> type, for filters and facets.
    - `sortable`: fields a sort may use (each must be an int, time or bool filterable field).
    - `sorts`: named orders offered to clients (`newest`, `likes`, ...); "relevance" is always there.
    - `ranking`: tie-breakers after relevance, best first, as (field, descending).
    - `browse`: the sort used for an empty query.
    - `facets`: keyword/keywords/bool fields whose value counts come back with results.
    - `ranges`: int/time fields clients may filter with `<field>_min` / `<field>_max`.
    - `suggest`: the text field suggest-as-you-type completes.
    - `load(session, runtime, ids)`: the source objects of these ids that are searchable now
      (an id missing from the answer is deleted from the index), batched.
    - `ids(session, runtime, after, limit)`: every searchable id after `after`, ascending, for rebuilds.
    - `events`: domain event type -> function(payload) giving the ids to refresh.
    """

    name: str
    searchable: tuple[str, ...]
    filterable: Mapping[str, FieldType]
    sortable: tuple[str, ...] = ()
    sorts: Mapping[str, Sort] = field(default_factory=dict)
    ranking: tuple[tuple[str, bool], ...] = ()
    browse: str = "relevance"
    facets: tuple[str, ...] = ()
    ranges: tuple[str, ...] = ()
    suggest: str | None = None
    load: Callable[[AsyncSession, Runtime, list[str]], Awaitable[Mapping[str, Any]]] | None = None
    ids: Callable[[AsyncSession, Runtime, str | None, int], Awaitable[list[str]]] | None = None
    events: Mapping[str, Callable[[dict[str, Any]], Iterable[Any]]] = field(default_factory=dict)
    owner: str = ""  # the plugin that declared it (set by the registry)

    def check(self) -> None:
        """Refuse a declaration that no backend could serve (raised at start-up)."""
        problems = []
        if not NAME.match(self.name):
            problems.append("name: lower-case letters, digits and _, at most 30 characters")
        if not self.searchable:
            problems.append("searchable: at least one text field")
        names = list(self.searchable) + list(self.filterable)
        for f in names:
            if not NAME.match(f) or f in ("id", "version"):
                problems.append(f"field {f!r}: lower-case letters, digits and _ (not id or version)")
        if len(set(names)) != len(names):
            problems.append("a field is both searchable and filterable, or repeated")
        for f, kind in self.filterable.items():
            if kind not in FIELD_TYPES:
                problems.append(f"filterable {f!r}: type {kind!r} is not one of {', '.join(FIELD_TYPES)}")
        for f in self.sortable:
            if self.filterable.get(f) not in ("int", "time", "bool"):
                problems.append(f"sortable {f!r}: must be an int, time or bool filterable field")
        for name, sort in self.sorts.items():
            if not NAME.match(name) or (sort.field != "relevance" and sort.field not in self.sortable):
                problems.append(f"sort {name!r}: orders by {sort.field!r}, which is not sortable")
        for f, _ in self.ranking:
            if f not in self.sortable:
                problems.append(f"ranking {f!r}: not a sortable field")
        if self.browse not in self.sort_names:
            problems.append(f"browse {self.browse!r}: not one of the sorts")
        for f in self.facets:
            if self.filterable.get(f) not in ("keyword", "keywords", "bool"):
                problems.append(f"facet {f!r}: must be a keyword, keywords or bool filterable field")
        for f in self.ranges:
            if self.filterable.get(f) not in ("int", "time"):
                problems.append(f"range {f!r}: must be an int or time filterable field")
        if self.suggest is not None and self.suggest not in self.searchable:
            problems.append(f"suggest {self.suggest!r}: not a searchable field")
        if problems:
            raise ValueError(f"search index {self.name!r}: " + "; ".join(problems))

    @property
    def sort_names(self) -> tuple[str, ...]:
        return ("relevance", *self.sorts)

    def sort_for(self, name: str) -> Sort:
        return Sort("relevance") if name == "relevance" else self.sorts[name]


# ---------------------------------------------------------------- queries and results


@dataclass(frozen=True)
class Filter:
    """`field` equals one of `values` (keyword, keywords: any of them; bool: the one value),
    or lies within [`low`, `high`] (int, time; either end may be None)."""

    field: str
    values: tuple[Any, ...] = ()
    low: int | None = None
    high: int | None = None

    @property
    def is_range(self) -> bool:
        return not self.values


@dataclass(frozen=True)
class SearchQuery:
    q: str = ""
    filters: tuple[Filter, ...] = ()
    sort: str = "relevance"  # one of the index's sort names; "relevance" with no terms means browse
    page: int = 1
    per_page: int = 20
    facets: bool = True
    highlight: bool = True

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page


@dataclass
class Hit:
    id: str
    document: dict[str, Any]
    highlights: dict[str, str] = field(default_factory=dict)  # field -> escaped HTML with <mark>…</mark>


@dataclass
class SearchResult:
    hits: list[Hit]
    total: int  # all matches (exact on the embedded backends, Meilisearch's estimate otherwise)
    page: int
    per_page: int
    facets: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> value -> count, most first (`facet_plan`)
    typo_tolerant: bool = False  # True when the backend matched with typos allowed
    facets_exact: bool = True  # False when the counts are estimated from a sample (FACET_SAMPLE)

    @property
    def pages(self) -> int:
        return -(-self.total // self.per_page) if self.per_page > 0 else 0


def facet_plan(index: SearchIndex, query: SearchQuery) -> tuple[list[str], dict[str, tuple[Filter, ...]]]:
    """Disjunctive faceting, as Shopify, Algolia and Meilisearch storefronts do it: a facet
    the query filters on is counted under every *other* filter, not its own, so its other
    values stay listed with the matches ticking them would add (values of one field are
    ORed, fields ANDed). Returns the facets counted over the query's own matches, and for
    each filtered facet the filters its counts are taken under (one more counting pass
    each; none without a filter on a facet)."""
    if not query.facets:
        return [], {}
    filtered = {f.field for f in query.filters}
    return (
        [f for f in index.facets if f not in filtered],
        {f: tuple(x for x in query.filters if x.field != f) for f in index.facets if f in filtered},
    )


def facet_counts(found: Mapping[str, Mapping[str, int]], total: int, sampled: int) -> tuple[dict[str, dict[str, int]], bool]:
    """Each facet's counts, most first, and whether they are exact: counted over `sampled`
    of the `total` matches, scaled (an estimate never says 0)."""
    exact = sampled >= total
    ratio = 1.0 if exact or not sampled else total / sampled
    scaled = {f: {v: n if exact else max(1, round(n * ratio)) for v, n in c.items()} for f, c in found.items()}
    return {f: dict(sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))) for f, c in scaled.items()}, exact


def planned_facet_counts(
    index: SearchIndex, plan: tuple[list[str], dict[str, tuple[Filter, ...]]], found: Mapping[str, Mapping[str, int]],
    sizes: Mapping[str | None, int], sampled: Mapping[str | None, int],
) -> tuple[dict[str, dict[str, int]], bool]:
    """`facet_counts` of each counting pass of a `facet_plan`, as one answer in the index's
    facet order, exact only if every pass was. A pass is None (the query's own matches) or
    its filtered facet; `sizes` holds its matches, `sampled` how many were counted (absent: all)."""
    own, passes = plan
    facets: dict[str, dict[str, int]] = {}
    exact = True
    for fields, key in [(own, None), *(([f], f) for f in passes)]:
        total = sizes.get(key, 0)
        counted, counted_exactly = facet_counts({f: found.get(f, {}) for f in fields}, total, sampled.get(key, total))
        facets |= counted
        exact = exact and counted_exactly
    return {f: facets[f] for f in index.facets if f in facets}, exact


# ---------------------------------------------------------------- the backend interface


class SearchBackend(ABC):
    """Where documents are kept and searched. Implementations: `sqlite` (FTS5), `postgres`
    (pg_trgm), `meilisearch`. Every method may be called from any process at any time;
    writes are idempotent and never replace a document by an older version."""

    name: str = ""
    typo_tolerance: bool = False
    facet_sample: int = FACET_SAMPLE  # the embedded backends' sample size (tests make it small)

    @abstractmethod
    async def create(self, index: SearchIndex, physical: str) -> None:
        """Create an empty physical index for `index` (nothing happens if it exists)."""

    @abstractmethod
    async def drop(self, physical: str) -> None:
        """Remove a physical index and its documents (nothing happens if it is gone)."""

    async def built(self, index: SearchIndex, physical: str) -> None:  # noqa: B027 - most backends need nothing
        """A rebuild filled `physical` and searches are about to use it: tidy it up for reading."""

    @abstractmethod
    async def upsert(self, index: SearchIndex, physical: str, documents: list[dict[str, Any]]) -> None:
        """Add or replace documents; one whose stored version is newer is left alone."""

    @abstractmethod
    async def delete(self, index: SearchIndex, physical: str, ids: list[str]) -> None:
        """Remove documents by id (unknown ids are fine)."""

    @abstractmethod
    async def versions(self, index: SearchIndex, physical: str, ids: list[str]) -> dict[str, int]:
        """The stored version of each of `ids` that is in the index."""

    @abstractmethod
    async def count(self, index: SearchIndex, physical: str) -> int:
        """Documents in the physical index."""

    @abstractmethod
    async def search(self, index: SearchIndex, physical: str, query: SearchQuery) -> SearchResult:
        """Matches of every term of `query.q` (all terms must match), filtered, sorted and
        paged; facet counts over all matches, a filtered facet's without its own filter
        (`facet_plan`); highlights of the searchable fields."""

    @abstractmethod
    async def suggest(self, index: SearchIndex, physical: str, prefix: str, limit: int) -> list[str]:
        """Values of `index.suggest` that contain the words typed so far (the last one as a
        prefix), best first, without repeats."""

    async def close(self) -> None:
        """Let go of connections (the runtime's shutdown)."""


# ---------------------------------------------------------------- text helpers every backend shares


_CJK = (
    (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x2FA1F),  # Han
    (0x3040, 0x30FF), (0x31F0, 0x31FF),  # kana
    (0xAC00, 0xD7AF),  # Hangul syllables
)


_CJK_CLASS = "".join(f"{chr(lo)}-{chr(hi)}" for lo, hi in _CJK)
# a CJK run, or a run of letters/digits that are not CJK ([^\W_] is exactly str.isalnum);
# one regex is ~24x faster than a loop over characters (indexing's hot spot)
_RUN = re.compile(f"[{_CJK_CLASS}]+|[^\\W_{_CJK_CLASS}]+")


def is_cjk(ch: str) -> bool:
    o = ord(ch)
    return any(lo <= o <= hi for lo, hi in _CJK)


def normalize(text: str) -> str:
    """NFKC (full-width ＡＢＣ１２３ -> ABC123) and case-folded: what is indexed and what is searched."""
    return unicodedata.normalize("NFKC", text).casefold()


def query_terms(q: str) -> list[str]:
    """The terms of a query: runs of CJK characters and runs of other letters/digits
    (normalized), in order, without repeats; everything else (quotes, *, -, :, %, NEAR
    as syntax) only separates. "敏感肌 面霜" -> ["敏感肌", "面霜"]; "SPF50+防晒" -> ["spf50", "防晒"]."""
    terms: list[str] = []
    for run in term_runs(normalize(q[:MAX_QUERY_CHARS])):
        if run not in terms:
            terms.append(run)
    return terms[:10]


def term_runs(text: str) -> list[str]:
    """Runs of CJK characters and runs of other letters/digits, in order (the text as
    given: normalize it first); every other character only separates."""
    return _RUN.findall(text)


def cjk_grams(text: str) -> list[str]:
    """The 1- and 2-character grams of the CJK runs of `text` (normalized), in order,
    without repeats: what the embedded backends index so 1- and 2-character terms match
    (the trigram tokenizer and pg_trgm cannot)."""
    seen: dict[str, None] = {}
    for run in term_runs(normalize(text)):
        if not is_cjk(run[0]):
            if len(run) <= 2:
                seen.setdefault(run)  # short Latin words and numbers ("uv", "5g") likewise
            continue
        for i, ch in enumerate(run):
            seen.setdefault(ch)
            if i + 1 < len(run):
                seen.setdefault(run[i : i + 2])
    return list(seen)


def highlight(text: str, terms: list[str], *, crop: int | None = None) -> str | None:
    """`text` HTML-escaped, with each occurrence of a term wrapped in <mark>…</mark>
    (case- and width-insensitive); with `crop`, a window of about that many characters
    around the first match, with … where cut. None when no term occurs."""
    from markupsafe import escape

    if not text or not terms:
        return None
    folded, index_map = _fold_with_map(text)
    spans: list[tuple[int, int]] = []
    for term in sorted(terms, key=len, reverse=True):
        start = 0
        while (at := folded.find(term, start)) >= 0:
            end = at + len(term)
            if not any(a < end and at < b for a, b in spans):
                spans.append((at, end))
            start = end
    if not spans:
        return None
    spans.sort()
    # back to positions in the original text
    pieces = [(index_map[a], index_map[b - 1] + 1) for a, b in spans]
    lo, hi = 0, len(text)
    if crop is not None and len(text) > crop:
        first = pieces[0][0]
        lo = max(0, first - crop // 3)
        hi = min(len(text), lo + crop)
        lo = max(0, min(lo, hi - crop))
    out = ["…" if lo > 0 else ""]
    at = lo
    for a, b in pieces:
        if b <= lo or a >= hi:
            continue
        a, b = max(a, lo), min(b, hi)
        out.append(str(escape(text[at:a])))
        out.append(f"<mark>{escape(text[a:b])}</mark>")
        at = b
    out.append(str(escape(text[at:hi])))
    out.append("…" if hi < len(text) else "")
    return "".join(out)


def _fold_with_map(text: str) -> tuple[str, list[int]]:
    """The normalized text and, for each of its characters, the index of the original
    character it came from."""
    folded: list[str] = []
    index_map: list[int] = []
    for i, ch in enumerate(text):
        f = normalize(ch)
        folded.append(f)
        index_map.extend([i] * len(f))
    return "".join(folded), index_map


def check_filter(index: SearchIndex, f: Filter) -> None:
    """A filter a backend can run: a declared field and values of its type (ValueError otherwise)."""
    kind = index.filterable.get(f.field)
    if kind is None:
        raise ValueError(f"unknown filter field {f.field!r}")
    if f.is_range:
        if kind not in ("int", "time"):
            raise ValueError(f"{f.field!r} cannot be filtered by a range")
        return
    for v in f.values:
        ok = isinstance(v, bool) if kind == "bool" else isinstance(v, str) if kind in ("keyword", "keywords") else isinstance(v, int) and not isinstance(v, bool)
        if not ok:
            raise ValueError(f"{f.field!r}: {v!r} is not a {kind}")

"""Meilisearch, through the official `meilisearch` client (synchronous HTTP).

Every call runs in a worker thread (`asyncio.to_thread`) with a client of its own (the
client's request helper mutates shared headers, so threads must not share one); callers never
hold a database transaction across these calls. A physical index is the Meilisearch index
`<prefix>_<physical>`; aliases and swaps are the service's business, not this backend's.

Matching. Meilisearch tokenizes by itself: jieba for Chinese (words longer than two
characters are then cut into dictionary bigrams), separators for the rest. So "面霜" inside
"修护面霜" is one token and a search for "霜" would miss it, "SPF50+" stays "spf50+", and
"…，50ml" becomes "50" + "ml" (digits join the preceding CJK run). Each searchable field
therefore gets a companion `_tokens_<field>` holding the text as `query_terms` sees it: its
Latin/digit words first (so no CJK run precedes them), then the 1- and 2-character grams of
its CJK runs (`cjk_grams`). The companion follows its field in searchableAttributes, so a
match in an earlier field still ranks higher. Queries are `query_terms(q)` joined by spaces
(no phrase quotes or `-` negation can survive), matched with matchingStrategy "all".

Ranking rules: sort, words, typo, proximity, attribute, exactness, the index's tie-breakers,
id:desc. `sort` comes first (it only acts when a search carries a sort) so a named sort is
exact, as on the embedded backends: the field, then the tie-breakers, then id descending.

Highlights come from `base.highlight` on the returned document, not from `_formatted`:
Meilisearch does not HTML-escape the text around its tags (a title "<b>Bold</b>" would come
back as live markup), and it marks its own tokens, so the output would differ from the embedded
backends. The cost: a typo match ("hikking" -> "Hiking") is found but not marked.

Facets are disjunctive (`base.facet_plan`), the way Meilisearch documents it: a search with
a filter on a facet is one multi-search request holding the search and, per filtered facet, a
query without that facet's filter, no hits and only that facet (`facet_requests`). A search
without a facet filter stays one plain search.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Iterator
from typing import Any

import meilisearch
from meilisearch.models.task import TaskInfo

from core.search.base import (
    MAX_PAGE_DEPTH,
    MAX_PER_PAGE,
    Filter,
    Hit,
    SearchBackend,
    SearchIndex,
    SearchQuery,
    SearchResult,
    check_filter,
    cjk_grams,
    facet_plan,
    highlight,
    is_cjk,
    normalize,
    query_terms,
    term_runs,
)

TOKENS = "_tokens_"  # companion fields; declared names start with a letter, so never clash
PHYSICAL = re.compile(r"^[a-z0-9_]+$")
PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,100}$")  # Meilisearch index uids: letters, digits, - and _
HTTP_TIMEOUT = 10  # seconds per request
TASK_TIMEOUT_MS = 60_000  # a settings change or a document batch must be applied within this
WRITE_ROUNDS = 5  # version-guard retries when a concurrent older write keeps winning
MAX_TOTAL_HITS = 1_000_000  # caps `totalHits` (Meilisearch counts min(matches, this)); paging stops at MAX_PAGE_DEPTH anyway
FACET_VALUES = 100  # values per facet, the most frequent ones
CROP = 80  # characters of a highlighted field after the first searchable one
ID_BATCH = 500  # ids per `id IN [...]` lookup


class MeiliTaskFailed(RuntimeError):
    """A Meilisearch task ended in failure (or a write kept losing to older ones)."""


class MeiliSearch(SearchBackend):
    name = "meilisearch"
    typo_tolerance = True

    def __init__(self, url: str, key: str | None, prefix: str) -> None:
        if not PREFIX.match(prefix):
            raise ValueError(f"Meilisearch index prefix {prefix!r}: letters, digits, - and _ only")
        self.url = url.rstrip("/")
        self.key = key or None
        self.prefix = prefix

    # ------------------------------------------------------------ plumbing

    def _client(self) -> meilisearch.Client:
        return meilisearch.Client(self.url, self.key, timeout=HTTP_TIMEOUT)

    def uid(self, physical: str) -> str:
        if not PHYSICAL.match(physical):
            raise ValueError(f"physical index name {physical!r}: lower-case letters, digits and _ only")
        return f"{self.prefix}_{physical}"

    @staticmethod
    def _wait(client: meilisearch.Client, info: Any, *, fine: tuple[str, ...] = ()) -> None:
        task = client.wait_for_task(info.task_uid, timeout_in_ms=TASK_TIMEOUT_MS)
        code = (task.error or {}).get("code")
        if task.status != "succeeded" and code not in fine:
            raise MeiliTaskFailed(f"Meilisearch task {task.uid} ({task.type}) {task.status}: {task.error}")

    # ------------------------------------------------------------ indexes

    async def create(self, index: SearchIndex, physical: str) -> None:
        uid = self.uid(physical)

        def run() -> None:
            client = self._client()
            self._wait(client, client.create_index(uid, {"primaryKey": "id"}), fine=("index_already_exists",))
            self._wait(client, client.index(uid).update_settings(settings_for(index)))

        await asyncio.to_thread(run)

    async def drop(self, physical: str) -> None:
        uid = self.uid(physical)

        def run() -> None:
            client = self._client()
            self._wait(client, client.delete_index(uid), fine=("index_not_found",))

        await asyncio.to_thread(run)

    async def count(self, index: SearchIndex, physical: str) -> int:
        uid = self.uid(physical)
        return await asyncio.to_thread(lambda: self._client().index(uid).get_stats().number_of_documents)

    # ------------------------------------------------------------ documents

    async def upsert(self, index: SearchIndex, physical: str, documents: list[dict[str, Any]]) -> None:
        """Write `documents`, never replacing a stored document by an older version.

        Meilisearch has no conditional write, so the guard is optimistic: read the stored
        versions, send the documents whose version is >= the stored one (equal replaces, so a
        re-delivery is harmless), wait for the task, then read the versions again. A stored
        version now *lower* than the one sent means a concurrent older write was applied after
        ours: send ours again (a few rounds, then fail so the job is retried). Every writer runs
        this check, so the newest version wins whatever the interleaving. A document missing
        after our write was deleted meanwhile and is not brought back. Writing to a physical
        index that does not exist fails at the first read (Meilisearch would otherwise create
        it, without settings).
        """
        uid = self.uid(physical)
        newest = latest_by_id(documents)
        if not newest:
            return

        def run() -> None:
            client = self._client()
            idx = client.index(uid)
            pending = to_write(newest, read_versions(idx, list(newest)))
            for _ in range(WRITE_ROUNDS):
                if not pending:
                    return
                self._wait(client, idx.add_documents([stored_document(index, d) for d in pending.values()], primary_key="id"))
                pending = overwritten(pending, read_versions(idx, list(pending)))
            if pending:
                raise MeiliTaskFailed(f"{uid}: documents {sorted(pending)[:5]} kept being overwritten by older versions")

        await asyncio.to_thread(run)

    async def delete(self, index: SearchIndex, physical: str, ids: list[str]) -> None:
        uid = self.uid(physical)
        if not ids:
            return

        def run() -> None:
            client = self._client()
            idx = client.index(uid)
            # the documents/delete-batch route by exact id (the client's `delete_documents(ids)`
            # warns it is deprecated; deleting by filter would compare ids case-insensitively)
            for chunk in batched([str(i) for i in ids], ID_BATCH):
                info = TaskInfo(**idx.http.post(f"{idx.config.paths.index}/{uid}/{idx.config.paths.document}/delete-batch", chunk))
                self._wait(client, info)

        await asyncio.to_thread(run)

    async def versions(self, index: SearchIndex, physical: str, ids: list[str]) -> dict[str, int]:
        uid = self.uid(physical)
        if not ids:
            return {}
        return await asyncio.to_thread(lambda: read_versions(self._client().index(uid), [str(i) for i in ids]))

    # ------------------------------------------------------------ search

    async def search(self, index: SearchIndex, physical: str, query: SearchQuery) -> SearchResult:
        uid = self.uid(physical)
        terms, body = search_request(index, query)
        counting = facet_requests(index, query)
        q = " ".join(terms)

        def run() -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
            client = self._client()
            if not counting:
                return client.index(uid).search(q, body), {}
            # the search and each filtered facet's count in one request (Meilisearch's way to disjunctive facets)
            results = client.multi_search([{"indexUid": uid, "q": q, **b} for b in (body, *counting.values())])["results"]
            return results[0], dict(zip(counting, results[1:], strict=True))

        response, facet_responses = await asyncio.to_thread(run)
        return search_result(index, query, terms, response, facet_responses)

    async def suggest(self, index: SearchIndex, physical: str, prefix: str, limit: int) -> list[str]:
        uid = self.uid(physical)
        terms = query_terms(prefix)
        field = index.suggest
        if not terms or field is None or limit <= 0:
            return []
        body = {
            "attributesToSearchOn": [field, TOKENS + field],
            "attributesToRetrieve": [field],
            "matchingStrategy": "all",  # Meilisearch treats the last word as a prefix
            "limit": min(MAX_PER_PAGE, limit * 3),  # room for repeated values
            "sort": tie_breakers(index, ()),
        }
        response = await asyncio.to_thread(lambda: self._client().index(uid).search(" ".join(terms), body))
        values = dict.fromkeys(h[field] for h in response["hits"] if isinstance(h.get(field), str) and h[field])
        return list(values)[:limit]


# ---------------------------------------------------------------- pure helpers (unit-tested)


def settings_for(index: SearchIndex) -> dict[str, Any]:
    """The Meilisearch settings of a physical index of `index`."""
    return {
        "searchableAttributes": [name for f in index.searchable for name in (f, TOKENS + f)],
        "filterableAttributes": [*index.filterable, "id", "version"],
        "sortableAttributes": [*index.sortable, "id"],
        "rankingRules": ["sort", "words", "typo", "proximity", "attribute", "exactness", *tie_breakers(index, ())],
        "typoTolerance": {"enabled": True},
        "faceting": {"maxValuesPerFacet": FACET_VALUES, "sortFacetValuesBy": {"*": "count"}},
        "pagination": {"maxTotalHits": MAX_TOTAL_HITS},
    }


def tie_breakers(index: SearchIndex, skip: Iterable[str]) -> list[str]:
    """The index's ranking tie-breakers, then id descending, as `field:desc|asc` (minus `skip`)."""
    skip = set(skip)
    return [*(f"{f}:{'desc' if desc else 'asc'}" for f, desc in index.ranking if f not in skip), "id:desc"]


def sort_expression(index: SearchIndex, name: str) -> list[str] | None:
    """The `sort` parameter of a named sort (None: relevance, i.e. the ranking rules alone)."""
    if name not in index.sort_names:
        raise ValueError(f"unknown sort {name!r}")
    sort = index.sort_for(name)
    if sort.field == "relevance":
        return None
    return [f"{sort.field}:{'desc' if sort.descending else 'asc'}", *tie_breakers(index, (sort.field,))]


def quote(value: str) -> str:
    """A filter string literal: Meilisearch reads `\\"` as a quote and `\\\\` as a backslash."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return quote(str(value))


def filter_expression(index: SearchIndex, filters: Iterable[Filter]) -> list[str]:
    """Meilisearch filter conditions (all must hold) for validated filters; field names are
    declared names (`[a-z][a-z0-9_]*`), values always literals."""
    out: list[str] = []
    for f in filters:
        check_filter(index, f)
        if not f.is_range:
            out.append(f"{f.field} IN [{', '.join(literal(v) for v in f.values)}]")
            continue
        if f.low is not None:
            out.append(f"{f.field} >= {int(f.low)}")
        if f.high is not None:
            out.append(f"{f.field} <= {int(f.high)}")
    return out


def page_window(query: SearchQuery) -> tuple[int, int, bool]:
    """(page, per_page, beyond): per_page capped at MAX_PER_PAGE; beyond MAX_PAGE_DEPTH the page is empty."""
    page = max(1, query.page)
    per_page = max(1, min(query.per_page, MAX_PER_PAGE))
    return page, per_page, page * per_page > MAX_PAGE_DEPTH


def search_request(index: SearchIndex, query: SearchQuery) -> tuple[list[str], dict[str, Any]]:
    """The query terms (sent joined by spaces as `q`) and the other search parameters."""
    terms = query_terms(query.q)
    page, per_page, beyond = page_window(query)
    body: dict[str, Any] = {"matchingStrategy": "all"}
    # hitsPerPage 0: no hits, but the exact totalHits and the facets
    body.update({"page": 1, "hitsPerPage": 0} if beyond else {"page": page, "hitsPerPage": per_page})
    if conditions := filter_expression(index, query.filters):
        body["filter"] = conditions
    sort = sort_expression(index, query.sort if terms or query.sort != "relevance" else index.browse)
    if sort:
        body["sort"] = sort
    own, _ = facet_plan(index, query)
    if own:
        body["facets"] = own
    return terms, body


def facet_requests(index: SearchIndex, query: SearchQuery) -> dict[str, dict[str, Any]]:
    """For each filtered facet (`facet_plan`), the parameters of a search (same `q`) that
    counts it under the other filters, without hits."""
    _, passes = facet_plan(index, query)
    out: dict[str, dict[str, Any]] = {}
    for f, others in passes.items():
        body: dict[str, Any] = {"matchingStrategy": "all", "limit": 0, "facets": [f]}
        if conditions := filter_expression(index, others):
            body["filter"] = conditions
        out[f] = body
    return out


def search_result(
    index: SearchIndex, query: SearchQuery, terms: list[str], response: dict[str, Any], facet_responses: dict[str, dict[str, Any]] | None = None,
) -> SearchResult:
    """The answer of the search (`response`) and of each filtered facet's count (`facet_responses`)."""
    page, per_page, _ = page_window(query)
    hits = []
    for raw in response.get("hits", []):
        document = {k: v for k, v in raw.items() if not k.startswith("_")}  # companions, _formatted, …
        marks: dict[str, str] = {}
        if query.highlight and terms:
            for i, f in enumerate(index.searchable):
                text = document.get(f)
                if isinstance(text, str) and (marked := highlight(text, terms, crop=None if i == 0 else CROP)):
                    marks[f] = marked
        hits.append(Hit(id=str(document["id"]), document=document, highlights=marks))
    facets: dict[str, dict[str, int]] = {}
    if query.facets:
        distribution = dict(response.get("facetDistribution") or {})
        for f, counted in (facet_responses or {}).items():
            distribution[f] = (counted.get("facetDistribution") or {}).get(f)
        for f in index.facets:
            counts = distribution.get(f) or {}
            facets[f] = dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))
    return SearchResult(hits=hits, total=int(response.get("totalHits", 0)), page=page, per_page=per_page, facets=facets, typo_tolerant=bool(terms))


def index_text(value: Any) -> str:
    """A companion field: the Latin/digit words of `value` (as `query_terms` splits them), then
    the 1- and 2-character grams of its CJK runs."""
    if value is None:
        return ""
    text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
    words = dict.fromkeys(w for w in term_runs(normalize(text)) if not is_cjk(w[0]))
    grams = [g for g in cjk_grams(text) if is_cjk(g[0])]
    return " ".join([*words, *grams])


def stored_document(index: SearchIndex, document: dict[str, Any]) -> dict[str, Any]:
    return {**document, **{TOKENS + f: index_text(document.get(f)) for f in index.searchable}}


def latest_by_id(documents: Iterable[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """One document per id: the highest version (the last one given on a tie)."""
    out: dict[str, dict[str, Any]] = {}
    for d in documents:
        key = str(d["id"])
        if key not in out or d["version"] >= out[key]["version"]:
            out[key] = d
    return out


def to_write(documents: dict[str, dict[str, Any]], stored: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Documents not older than what is stored (equal: replaced, so re-sending is harmless)."""
    return {i: d for i, d in documents.items() if i not in stored or d["version"] >= stored[i]}


def overwritten(sent: dict[str, dict[str, Any]], stored: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Sent documents that an older version replaced after our write (deleted ones stay deleted)."""
    return {i: d for i, d in sent.items() if i in stored and stored[i] < d["version"]}


def read_versions(idx: Any, ids: list[str]) -> dict[str, int]:
    """Stored versions by exact id (the filter compares strings case-insensitively: re-check)."""
    wanted = set(ids)
    out: dict[str, int] = {}
    for chunk in batched(sorted(wanted), ID_BATCH):
        found = idx.get_documents({"filter": f"id IN [{', '.join(quote(i) for i in chunk)}]", "fields": ["id", "version"], "limit": 2 * len(chunk)})
        for doc in found.results:
            row = dict(doc)
            if str(row.get("id")) in wanted:
                out[str(row["id"])] = int(row["version"])
    return out


def batched(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]

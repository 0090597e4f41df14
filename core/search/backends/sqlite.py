"""The embedded search backend on SQLite: FTS5 in the application's own database.

Each physical index `p` is a few tables, created at runtime (not by Alembic), all keyed
by the document's rowid:

- `search_<p>_doc`: id, version, and one typed, indexed column (`f_<field>`) per keyword,
  int, bool and time field. Narrow on purpose: filters, sorts and facets read only this
  (and its indexes), so tens of thousands of matches stay in a few thousand pages;
- `search_<p>_json`: the document as given, read only for the hits of the page;
- `search_<p>_kw`: (doc, field, value) for `keywords` fields, indexed both ways;
- `search_<p>_tri`: FTS5, trigram tokenizer, one column per searchable field
  (normalized): terms of 3+ characters, as substrings;
- `search_<p>_gram`: FTS5 over `cjk_grams` of each field (CJK unigrams and bigrams,
  Latin words of 1-2 characters): the shorter terms, which trigrams cannot match. The
  `ascii` tokenizer keeps every non-ASCII character inside a token, so each gram is
  exactly one token. The suggest field also gets its longer Latin words there, so
  suggest can complete a word from its prefix;
- `search_<p>_meta`: a generation, bumped by every write.

A search is one statement: the matches are materialized once (a CTE), then the total,
every facet and the page are read from them (UNION ALL, rows tagged by kind). Relevance
is by field, not bm25 (which costs ~3 µs per match, 150 ms for 50,000): a match in an
earlier searchable field ranks above matches only in later ones, then the index's
ranking decides. Counting facets costs ~1-2 µs per match, so the total and facets of a
search with many matches are kept per process until the index's generation moves.
A filtered facet (`base.facet_plan`) is counted in the same statement over the matches
under the other filters: their number first, then only the documents in the sample.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

from core.search.base import (
    MAX_PAGE_DEPTH,
    MAX_PER_PAGE,
    NAME,
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
    planned_facet_counts,
    query_terms,
    term_runs,
)

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from core.runtime import Runtime

PHYSICAL = re.compile(r"^[a-z0-9_]{1,60}$")
CHUNK = 500  # ids per IN (...) list
CROP = 80  # characters of a highlighted field after the first
CACHE_FROM = 2_000  # matches from which a search's total and facets are worth remembering
CACHE_SIZE = 256  # searches remembered per backend
SCALAR = ("keyword", "int", "bool", "time")  # kept as columns of the doc table
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


@dataclass(frozen=True)
class _Tables:
    doc: str
    json: str
    meta: str
    kw: str
    tri: str
    gram: str
    prefix: str  # for index names


def _tables(physical: str) -> _Tables:
    if not PHYSICAL.match(physical):
        raise ValueError(f"physical index name {physical!r}: lower-case letters, digits and _ only")
    p = f"search_{physical}"
    return _Tables(f'"{p}_doc"', f'"{p}_json"', f'"{p}_meta"', f'"{p}_kw"', f'"{p}_tri"', f'"{p}_gram"', p)


def _col(field: str) -> str:
    if not NAME.match(field):
        raise ValueError(f"field name {field!r}")
    return f'"f_{field}"'


def _phrase(term: str) -> str:
    """A term as an FTS5 string: whatever it holds is matched, never parsed as syntax."""
    return '"' + term.replace('"', '""') + '"'


def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


class SqliteSearch(SearchBackend):
    name = "sqlite"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime  # its database is per event loop: ask for it on every call
        # (physical, terms, filters, facets) -> (generation, (total, facets)): the part of a
        # search whose cost grows with the matches, kept while the index does not change
        self._aggregates: dict[tuple[Any, ...], tuple[int, tuple[int, dict[str, dict[str, int]], bool]]] = {}

    # ---------------------------------------------------------------- schema

    async def create(self, index: SearchIndex, physical: str) -> None:
        t = _tables(physical)
        scalars = [f for f, kind in index.filterable.items() if kind in SCALAR]
        text_cols = ", ".join(_col(f) for f in index.searchable)
        typed = "".join(f", {_col(f)} {'TEXT' if index.filterable[f] == 'keyword' else 'INTEGER'}" for f in scalars)
        ddl = [
            f"CREATE TABLE IF NOT EXISTS {t.doc} (id INTEGER PRIMARY KEY, doc_id TEXT NOT NULL UNIQUE, version INTEGER NOT NULL{typed})",
            f"CREATE TABLE IF NOT EXISTS {t.json} (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {t.meta} (one INTEGER PRIMARY KEY CHECK (one = 1), generation INTEGER NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {t.kw} (doc INTEGER NOT NULL, field TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (doc, field, value)) WITHOUT ROWID",
            f'CREATE INDEX IF NOT EXISTS "{t.prefix}_kw_value" ON {t.kw} (field, value, doc)',
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {t.tri} USING fts5({text_cols}, tokenize='trigram')",
            f"CREATE VIRTUAL TABLE IF NOT EXISTS {t.gram} USING fts5({text_cols}, tokenize='ascii', detail=column)",
        ]
        # one index per order (its field, then the tie-breakers), so a browse reads its page off an index
        orders = {(s.field, s.descending) for s in index.sorts.values() if s.field != "relevance"}
        led = {f for f, _ in orders}
        for field, desc in sorted(orders):
            cols = ", ".join([f"{_col(field)} {'DESC' if desc else 'ASC'}", *self._tie_breakers(index)])
            ddl.append(f'CREATE INDEX IF NOT EXISTS "{t.prefix}_doc_by_{field}_{"desc" if desc else "asc"}" ON {t.doc} ({cols})')
        if index.ranking:
            ddl.append(f'CREATE INDEX IF NOT EXISTS "{t.prefix}_doc_ranked" ON {t.doc} ({", ".join(self._tie_breakers(index))})')
        # and one per other filterable column (filters; facets count off it without touching rows)
        for f in scalars:
            if f not in led:
                ddl.append(f'CREATE INDEX IF NOT EXISTS "{t.prefix}_doc_{f}" ON {t.doc} ({_col(f)})')
        async with self.runtime.db.session() as session:
            conn = await session.connection()
            for statement in ddl:
                await conn.exec_driver_sql(statement)
            # from the clock, so a dropped and re-created index never repeats a generation
            await conn.exec_driver_sql(f"INSERT OR IGNORE INTO {t.meta} (one, generation) VALUES (1, ?)", (time.time_ns(),))
            await session.commit()

    async def drop(self, physical: str) -> None:
        t = _tables(physical)
        async with self.runtime.db.session() as session:
            conn = await session.connection()
            for table in (t.tri, t.gram, t.kw, t.json, t.doc, t.meta):
                await conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
            await session.commit()

    # ---------------------------------------------------------------- writes

    async def upsert(self, index: SearchIndex, physical: str, documents: list[dict[str, Any]]) -> None:
        t = _tables(physical)
        latest: dict[str, dict[str, Any]] = {}
        for d in documents:  # a batch may hold one id twice: the newest wins
            key = str(d["id"])
            if key not in latest or d["version"] >= latest[key]["version"]:
                latest[key] = d
        if not latest:
            return
        scalars = [f for f, kind in index.filterable.items() if kind in SCALAR]
        keywords = [f for f, kind in index.filterable.items() if kind == "keywords"]
        cols = "".join(f", {_col(f)}" for f in scalars)
        sets = "".join(f", {c} = excluded.{c}" for c in map(_col, scalars))
        async with self.runtime.db.session() as session:  # BEGIN IMMEDIATE: versions cannot change under us
            conn = await session.connection()
            stored = await self._versions(conn, t, list(latest))
            fresh = [d for key, d in latest.items() if key not in stored or stored[key] <= d["version"]]
            if fresh:
                await conn.exec_driver_sql(
                    f"INSERT INTO {t.doc} (doc_id, version{cols}) VALUES (?, ?{', ?' * len(scalars)}) "
                    f"ON CONFLICT (doc_id) DO UPDATE SET version = excluded.version{sets} WHERE excluded.version >= {t.doc}.version",
                    [(str(d["id"]), d["version"], *(self._scalar(index, f, d.get(f)) for f in scalars)) for d in fresh],
                )
                rowids: dict[str, int] = {}
                for chunk in _chunks([str(d["id"]) for d in fresh]):
                    rows = await conn.exec_driver_sql(f"SELECT doc_id, id FROM {t.doc} WHERE doc_id IN ({_marks(len(chunk))})", tuple(chunk))
                    rowids.update(rows.all())
                marks = ", ?" * len(index.searchable)
                text_cols = ", ".join(_col(f) for f in index.searchable)
                tri, gram, kw, json = [], [], [], []
                for d in fresh:
                    rowid = rowids[str(d["id"])]
                    json.append((rowid, _encode(d).decode()))
                    texts = [d.get(f) if isinstance(d.get(f), str) else "" for f in index.searchable]
                    tri.append((rowid, *map(normalize, texts)))
                    gram.append((rowid, *(self._grams(index, f, text) for f, text in zip(index.searchable, texts, strict=True))))
                    kw += [(rowid, f, str(v)) for f in keywords for v in d.get(f) or ()]
                await conn.exec_driver_sql(f"INSERT OR REPLACE INTO {t.json} (id, doc) VALUES (?, ?)", json)
                # OR REPLACE: FTS5 removes the old row of that rowid first
                await conn.exec_driver_sql(f"INSERT OR REPLACE INTO {t.tri} (rowid, {text_cols}) VALUES (?{marks})", tri)
                await conn.exec_driver_sql(f"INSERT OR REPLACE INTO {t.gram} (rowid, {text_cols}) VALUES (?{marks})", gram)
                if keywords:
                    replaced = [(rowids[key],) for key in stored if key in rowids]
                    if replaced:
                        await conn.exec_driver_sql(f"DELETE FROM {t.kw} WHERE doc = ?", replaced)
                    if kw:
                        await conn.exec_driver_sql(f"INSERT OR IGNORE INTO {t.kw} (doc, field, value) VALUES (?, ?, ?)", kw)
                await conn.exec_driver_sql(f"UPDATE {t.meta} SET generation = generation + 1")
            await session.commit()

    async def delete(self, index: SearchIndex, physical: str, ids: list[str]) -> None:
        t = _tables(physical)
        async with self.runtime.db.session() as session:
            conn = await session.connection()
            for chunk in _chunks([str(i) for i in ids]):
                rowids = [(r,) for r in (await conn.exec_driver_sql(f"SELECT id FROM {t.doc} WHERE doc_id IN ({_marks(len(chunk))})", tuple(chunk))).scalars()]
                if rowids:
                    for table, key in ((t.tri, "rowid"), (t.gram, "rowid"), (t.kw, "doc"), (t.json, "id"), (t.doc, "id")):
                        await conn.exec_driver_sql(f"DELETE FROM {table} WHERE {key} = ?", rowids)
                    await conn.exec_driver_sql(f"UPDATE {t.meta} SET generation = generation + 1")
            await session.commit()

    # ---------------------------------------------------------------- reads

    async def versions(self, index: SearchIndex, physical: str, ids: list[str]) -> dict[str, int]:
        t = _tables(physical)
        async with self.runtime.db.read_session() as session:
            return await self._versions(await session.connection(), t, [str(i) for i in ids])

    async def count(self, index: SearchIndex, physical: str) -> int:
        t = _tables(physical)
        async with self.runtime.db.read_session() as session:
            conn = await session.connection()
            return (await conn.exec_driver_sql(f"SELECT count(*) FROM {t.doc}")).scalar_one()

    async def search(self, index: SearchIndex, physical: str, query: SearchQuery) -> SearchResult:
        t = _tables(physical)
        if query.sort not in index.sort_names:
            raise ValueError(f"unknown sort {query.sort!r}")
        terms = query_terms(query.q)
        facets = list(index.facets) if query.facets else []
        own, passes = facet_plan(index, query)
        key = (physical, tuple(terms), repr(query.filters), tuple(facets))
        async with self.runtime.db.read_session() as session:  # one snapshot for the generation and the rows
            conn = await session.connection()
            generation = (await conn.exec_driver_sql(f"SELECT generation FROM {t.meta}")).scalar_one()
            known = self._aggregates.get(key)
            aggregates = known[1] if known is not None and known[0] == generation else None
            fresh = aggregates is None
            sql, params = self._statement(index, t, query, terms, facets if fresh else [], passes if fresh else {}, total=fresh)
            rows = (await conn.exec_driver_sql(sql, tuple(params))).all() if sql else []

        # matches and samples by pass: None the query's own, else the filtered facet's (by its kind)
        sizes: dict[str | None, int] = {}
        sampled: dict[str | None, int] = {}
        counts: dict[str, dict[str, int]] = {f: {} for f in facets}
        found = []
        for kind, key_, n, doc in rows:
            if kind in (0, -2):
                (sizes if kind == 0 else sampled)[facets[key_ - 1] if key_ else None] = n
            elif kind == -1:
                found.append((n, doc))
            elif key_ is not None:
                f = facets[kind - 1]
                counts[f][("true" if key_ else "false") if index.filterable[f] == "bool" else str(key_)] = n
        if aggregates is None:
            aggregates = sizes.get(None, 0), *planned_facet_counts(index, (own, passes), counts, sizes, sampled)
            # worth remembering: many matches counted (a pass without terms or filters counts the whole index)
            if max(sizes.values(), default=0) >= CACHE_FROM or (not terms and not all(passes.values())):
                self._aggregates.pop(key, None)
                self._aggregates[key] = (generation, aggregates)
                while len(self._aggregates) > CACHE_SIZE:
                    self._aggregates.pop(next(iter(self._aggregates)), None)
        hits = []
        for _, doc in sorted(found):
            document = _decode(doc)
            hits.append(Hit(id=str(document["id"]), document=document, highlights=self._highlights(index, document, terms) if query.highlight else {}))
        total, facet_values, exact = aggregates
        return SearchResult(hits=hits, total=total, page=query.page, per_page=query.per_page, facets={f: dict(c) for f, c in facet_values.items()}, facets_exact=exact)

    def _statement(
        self, index: SearchIndex, t: _Tables, query: SearchQuery, terms: list[str], facets: list[str], passes: dict[str, tuple[Filter, ...]], *, total: bool,
    ) -> tuple[str, list[Any]]:
        """One SELECT for the total, the facet counts and the page, as UNION ALL members
        tagged by kind (0: a number of matches; -2: a sample's size; 1, 2...: each facet's
        value counts; -1: the page, with its rank). The matches (terms or filters) are
        materialized once and shared. A filtered facet (`passes`) is counted over the
        matches under the other filters: counted first, then walked again for the sample
        only (the sampling hash is on the rowid, so rows outside it are never read)."""
        conditions, where_params = self._conditions(index, t, query.filters)
        where = f" WHERE {conditions}" if conditions else ""
        sort = index.sort_for(query.sort if terms or query.sort != "relevance" else index.browse)
        ranked = bool(terms) and sort.field == "relevance" and len(index.searchable) > 1
        order = ([] if sort.field == "relevance" else [f"{_col(sort.field)} {'DESC' if sort.descending else 'ASC'}"]) + self._tie_breakers(index)
        if ranked:
            order.insert(0, "score DESC")
        per_page = max(1, min(query.per_page, MAX_PER_PAGE))
        at = max(1, query.page)
        page = at * per_page <= MAX_PAGE_DEPTH
        if not (page or total or facets):
            return "", []
        own = [f for f in facets if f not in passes]
        n = int(self.facet_sample)

        def sample(count: str, rowid: str) -> str:
            """A fixed sample of the matches (by a multiplicative hash of the rowid: no aliasing with regular rowids)."""
            return f"{count}.n <= {n} OR ({rowid} % 4294967296) * 2654435761 % 4294967296 < 4294967296 * {n} / {count}.n"

        ctes, params, parts, tail = [], [], [], []  # tail: the parameters of `parts`, after the CTEs'

        def tally(f: str, rows: str | None) -> None:
            """Count facet `f` over `rows` (with an `id`), or over the whole index (None)."""
            kind = facets.index(f) + 1
            if index.filterable[f] == "keywords":
                # the matches drive, one seek each: not a join (the planner, knowing nothing of m's
                # size, would read the whole keyword table into a Bloom filter first), and +field
                # (without it, and without statistics, it would scan the field's index instead)
                parts.append(f"SELECT {kind}, k.value, count(*), NULL FROM {t.kw} k WHERE {f'+k.field = ? AND k.doc IN (SELECT id FROM {rows})' if rows else 'k.field = ?'} GROUP BY 2")
                tail.append(f)
            else:
                parts.append(f"SELECT {kind}, {_col(f)}, count(*), NULL FROM {rows or f'{t.doc} d'} GROUP BY 2")

        if terms or where:
            # the fields the facets (and, for terms, the page's order) read ride along
            scalar = [f for f in own if index.filterable[f] != "keywords"]
            if terms:
                scalar += [f for f, _ in index.ranking] + ([sort.field] if sort.field != "relevance" else [])
            cols = "".join(f", d.{_col(f)}" for f in dict.fromkeys(scalar))
            matched = ""
            if terms:
                sources, params = self._matching(index, t, terms)
                ctes = [f"x{i} AS {'MATERIALIZED ' if len(sources) > 1 or passes else ''}({s})" for i, s in enumerate(sources)]
                # CROSS: the full-text matches drive (else, without statistics, the planner may
                # walk a filter's index and run the full-text query once per row)
                matched = "x0" + "".join(f" CROSS JOIN x{i} ON x{i}.id = x0.id" for i in range(1, len(sources)))
                if passes and len(sources) > 1:  # read by every pass: joined once
                    ctes.append(f"x AS MATERIALIZED (SELECT x0.id FROM {matched})")
                    matched = "x AS x0"
                score = scored = ""
                if ranked:  # scored once per document that matches in a ranked field (often few), then one probe per match
                    tiers, tier_params = self._tiers(index, t, terms)
                    weighted = " UNION ALL ".join(f"SELECT id, {1 << (len(tiers) - 1 - i)} AS w FROM ({s})" for i, s in enumerate(tiers))
                    ctes.append(f"sc AS MATERIALIZED (SELECT id, sum(w) AS score FROM ({weighted}) GROUP BY id)")
                    params += tier_params
                    score, scored = ", coalesce(sc.score, 0) AS score", " LEFT JOIN sc ON sc.id = d.id"
                ctes.append(f"m AS MATERIALIZED (SELECT d.id, d.doc_id{score}{cols} FROM {matched} CROSS JOIN {t.doc} d ON d.id = x0.id{scored}{where})")
            else:
                ctes.append(f"m AS MATERIALIZED (SELECT d.id{cols} FROM {t.doc} d{where})")
            params += where_params
            counted = "m"
            if own:
                ctes += ["c AS MATERIALIZED (SELECT count(*) AS n FROM m)", f"s AS MATERIALIZED (SELECT m.* FROM m, c WHERE {sample('c', 'm.id')})"]
                counted = "s"
        else:
            counted = None

        if total:
            parts.append(f"SELECT 0 AS kind, NULL AS key, {'n' if counted == 's' else 'count(*)'} AS n, NULL AS doc FROM {'c' if counted == 's' else counted or f'{t.doc} d'}")
        if counted == "s":  # the sample's size
            parts.append("SELECT -2, NULL, count(*), NULL FROM s")
        for f in own:
            tally(f, counted)
        for f, filters in passes.items():  # only ever with a filter: the query's matches are `m`
            kind = facets.index(f) + 1
            others, others_params = self._conditions(index, t, filters)
            if not (terms or others):  # no terms, no other filter: the whole index, exactly (as browsing)
                tally(f, None)
                continue
            column = "" if index.filterable[f] == "keywords" else f", d.{_col(f)}"
            if terms:  # the sample gates the full-text matches: only the documents in it are read
                scope = matched + (f" CROSS JOIN {t.doc} d ON d.id = x0.id WHERE {others}" if others else "")
                gated = f"SELECT x0.id AS id FROM c{kind} CROSS JOIN {matched} WHERE {sample(f'c{kind}', 'x0.id')}"
                # IN, not a join: for a join the planner may first read the whole table into a Bloom filter
                in_sample = f"SELECT d.id AS id{column} FROM {t.doc} d WHERE d.id IN ({gated}){f' AND {others}' if others else ''}" if others or column else gated
            else:  # through the filters' indexes, the rowid gate before any row is read
                scope = f"{t.doc} d WHERE {others}"
                in_sample = f"SELECT d.id AS id{column} FROM c{kind} CROSS JOIN {t.doc} d WHERE {others} AND ({sample(f'c{kind}', 'd.id')})"
            ctes += [f"c{kind} AS MATERIALIZED (SELECT count(*) AS n FROM {scope})", f"s{kind} AS MATERIALIZED ({in_sample})"]
            params += others_params * 2
            parts += [f"SELECT 0, {kind}, n, NULL FROM c{kind}", f"SELECT -2, {kind}, count(*), NULL FROM s{kind}"]
            tally(f, f"s{kind}")
        if page:  # numbered, so its order survives the UNION
            inner = "SELECT * FROM m" if terms else f"SELECT d.* FROM {t.doc} d{where}"
            parts.append(
                f"SELECT -1, NULL, row_number() OVER (ORDER BY {', '.join(f'p.{o}' for o in order)}), j.doc "
                f"FROM ({inner} ORDER BY {', '.join(order)} LIMIT ? OFFSET ?) p JOIN {t.json} j ON j.id = p.id"
            )
            tail += ([] if terms else where_params) + [per_page, (at - 1) * per_page]
        return ("WITH " + ", ".join(ctes) + " " if ctes else "") + " UNION ALL ".join(parts), params + tail

    async def suggest(self, index: SearchIndex, physical: str, prefix: str, limit: int) -> list[str]:
        t = _tables(physical)
        terms = query_terms(prefix)
        if not terms or limit <= 0 or index.suggest is None:
            return []
        *whole, last = terms
        word_prefix = None if is_cjk(last[0]) else last  # CJK: contains; Latin: a word that starts with it
        sources, params = self._matching(index, t, whole if word_prefix else terms, field=index.suggest, word_prefix=word_prefix)
        ctes = ", ".join(f"x{i} AS {'MATERIALIZED ' if len(sources) > 1 else ''}({s})" for i, s in enumerate(sources))
        joins = "".join(f" CROSS JOIN x{i} ON x{i}.id = x0.id" for i in range(1, len(sources)))
        order = self._tie_breakers(index)
        cols = "".join(f", d.{_col(f)}" for f, _ in index.ranking)
        sql = (
            f"WITH {ctes} SELECT json_extract(j.doc, ?) FROM (SELECT d.id, d.doc_id{cols} FROM x0{joins} CROSS JOIN {t.doc} d ON d.id = x0.id "
            f"ORDER BY {', '.join(order)} LIMIT ?) p JOIN {t.json} j ON j.id = p.id ORDER BY {', '.join(f'p.{o}' for o in order)}"
        )
        wanted = limit * 4  # the best documents, read until `limit` different values turn up
        async with self.runtime.db.read_session() as session:
            conn = await session.connection()
            while True:
                values = list((await conn.exec_driver_sql(sql, (*params, f"$.{index.suggest}", wanted))).scalars())
                distinct = list(dict.fromkeys(v for v in values if isinstance(v, str)))
                if len(distinct) >= limit or len(values) < wanted:
                    return distinct[:limit]
                wanted *= 8

    # ---------------------------------------------------------------- pieces

    @staticmethod
    def _tie_breakers(index: SearchIndex) -> list[str]:
        return [f"{_col(f)} {'DESC' if desc else 'ASC'}" for f, desc in index.ranking] + ["doc_id DESC"]

    @staticmethod
    def _scalar(index: SearchIndex, field: str, value: Any) -> Any:
        if value is None:
            return None
        kind = index.filterable[field]
        return str(value) if kind == "keyword" else int(value)

    @staticmethod
    def _grams(index: SearchIndex, field: str, text: str) -> str:
        grams = cjk_grams(text)
        if field == index.suggest:  # whole Latin words too, for suggest's word prefixes
            grams += [w for w in dict.fromkeys(term_runs(normalize(text))) if len(w) > 2 and not is_cjk(w[0])]
        return " ".join(grams)

    @staticmethod
    def _matching(index: SearchIndex, t: _Tables, terms: list[str], *, field: str | None = None, word_prefix: str | None = None) -> tuple[list[str], list[str]]:
        """SELECTs of the rowids (`id`) matching every term: terms of 3+ characters in the
        trigram table, shorter ones (and a word prefix) in the gram table; only in `field`
        when given."""
        only = f"{_col(field)} : " if field else ""
        long = " ".join(only + _phrase(term) for term in terms if len(term) >= 3)
        short = " ".join([only + _phrase(term) for term in terms if len(term) < 3] + ([f"{only}{_phrase(word_prefix)} *"] if word_prefix else []))
        return [f"SELECT rowid AS id FROM {table} WHERE {table} MATCH ?" for table, e in ((t.tri, long), (t.gram, short)) if e], [e for e in (long, short) if e]

    @staticmethod
    def _tiers(index: SearchIndex, t: _Tables, terms: list[str]) -> tuple[list[str], list[str]]:
        """For each searchable field but the last, a SELECT of the rowids where that field
        holds any of the terms: a match in an earlier field outranks any in later ones."""
        sources, params = [], []
        for field in index.searchable[:-1]:
            selects = []
            for table, mine in ((t.tri, [x for x in terms if len(x) >= 3]), (t.gram, [x for x in terms if len(x) < 3])):
                if mine:
                    selects.append(f"SELECT rowid AS id FROM {table} WHERE {table} MATCH ?")
                    params.append(" OR ".join(f"{_col(field)} : {_phrase(x)}" for x in mine))
            sources.append(" UNION ".join(selects))
        return sources, params

    @staticmethod
    def _conditions(index: SearchIndex, t: _Tables, filters: tuple[Filter, ...]) -> tuple[str, list[Any]]:
        """The filters as SQL conditions on the document table `d`, ANDed ("" for none), and their parameters."""
        conditions, params = [], []
        for f in filters:
            check_filter(index, f)
            col = f"d.{_col(f.field)}"
            if f.is_range:
                for op, bound in ((">=", f.low), ("<=", f.high)):
                    if bound is not None:
                        conditions.append(f"{col} {op} ?")
                        params.append(int(bound))
            elif index.filterable[f.field] == "keywords":
                conditions.append(f"d.id IN (SELECT doc FROM {t.kw} WHERE field = ? AND value IN ({_marks(len(f.values))}))")
                params += [f.field, *f.values]
            else:
                conditions.append(f"{col} IN ({_marks(len(f.values))})")
                params += [int(v) if isinstance(v, bool) else v for v in f.values]
        return " AND ".join(conditions), params

    @staticmethod
    def _highlights(index: SearchIndex, document: dict[str, Any], terms: list[str]) -> dict[str, str]:
        out = {}
        for i, f in enumerate(index.searchable):
            text = document.get(f)
            if isinstance(text, str) and (marked := highlight(text, terms, crop=None if i == 0 else CROP)):
                out[f] = marked
        return out

    @staticmethod
    async def _versions(conn: AsyncConnection, t: _Tables, ids: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for chunk in _chunks(ids):
            rows = await conn.exec_driver_sql(f"SELECT doc_id, version FROM {t.doc} WHERE doc_id IN ({_marks(len(chunk))})", tuple(chunk))
            out.update(rows.all())
        return out

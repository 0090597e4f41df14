"""The embedded search backend on PostgreSQL: one table per physical index, created at
runtime (not by Alembic), searched with pg_trgm and a CJK gram vector.

A document is a row of `search_<physical>_docs`: a typed column per filterable field
(`k_<field>`, first, so scans that filter, sort and count never walk past text), the
normalized text of each searchable field (`t_<field>`), `grams` (the CJK unigrams and
bigrams, and Latin words of <= 2 characters, of all of them, as a position-less
tsvector: one GIN index, and a cheap check per row) and the document as given (`json`,
so it comes back exactly).

How a term is looked up (all terms must match):
- CJK: `grams @@` its bigrams (or the character itself), through the GIN index; a
  longer term also `LIKE '%term%'` for contiguity. pg_trgm cannot serve CJK: under the C
  locale it ignores non-ASCII characters, and no locale gives it 1- and 2-character terms.
- 3 or more other letters/digits: `LIKE '%term%'` on the joined text, through a
  gin_trgm_ops expression index (a substring match, like the trigram tokenizer on SQLite).
- 1 or 2 letters/digits ("uv", "5g"): `grams @@` the word: a whole-word match.
When nothing matches, a retry lets words of 4+ letters match with typos (pg_trgm word
similarity, `<%`, on the same index); `typo_tolerant` says so on the result.

Relevance: each term scores the weight of the first field it occurs in (a field
outweighs all later ones together), summed over the terms; then the index's ranking,
then id descending. A search is one statement: the matches are collected once (a
MATERIALIZED CTE) and the page, the total and the facets are read from them. Browsing
without filters pages straight from a sort index and reads the total and the facets
from `search_<physical>_counts`, which statement triggers keep exact on every write.
A filtered facet (`base.facet_plan`) is counted in the same statement over the matches
under the other filters, collected alike (or from the kept counts when that is everything).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

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
    planned_facet_counts,
    query_terms,
)

if TYPE_CHECKING:
    from core.runtime import Runtime

PHYSICAL = re.compile(r"^[a-z0-9_]{1,48}$")  # "search_" + name + the longest suffix fits PostgreSQL's 63
COLUMN_TYPES = {"keyword": "text", "keywords": "text[]", "int": "bigint", "time": "bigint", "bool": "boolean"}
SEARCH_MEMORY = text("SELECT set_config('work_mem', '32MB', true)")
SEARCH_SETTINGS = text("SELECT set_config('work_mem', '32MB', true), set_config('enable_seqscan', 'off', true)")
ARRAY_TYPES = {"keyword": "text[]", "keywords": "text[]", "int": "bigint[]", "time": "bigint[]", "bool": "boolean[]"}
CROP = 80  # characters of a highlighted field after the first one
TYPO_MIN = 4  # shorter words only match exactly (one typo in "tea" is another word)
DDL_LOCK = 0x7A63_5345_0000_0001  # advisory lock: two processes creating at once would collide in the catalog


def _base(physical: str) -> str:
    if not isinstance(physical, str) or not PHYSICAL.match(physical):
        raise ValueError(f"physical index name {physical!r}: lower-case letters, digits and _ only")
    return f"search_{physical}"


def _table(physical: str) -> str:
    return f'"{_base(physical)}_docs"'


def _counts(physical: str) -> str:
    return f'"{_base(physical)}_counts"'


def _t(field: str) -> str:
    return f'"t_{field}"'


def _k(field: str) -> str:
    return f'"k_{field}"'


def _text_expr(index: SearchIndex) -> str:
    """All searchable text joined by a space (no term contains one, so none spans two
    fields); the trigram index is on exactly this expression, so queries spell it alike."""
    return "(" + " || ' ' || ".join(_t(f) for f in index.searchable) + ")"


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _tsquery(grams: list[str]) -> str:
    return " & ".join("'" + g.replace("\\", "\\\\").replace("'", "''") + "'" for g in dict.fromkeys(grams))


def _order(index: SearchIndex, sort_field: str | None, descending: bool, *, scored: bool = False, prefix: str = "") -> str:
    keys = [f"{prefix}score DESC"] if scored else []
    if sort_field is not None:
        keys.append(f"{prefix}{_k(sort_field)} {'DESC' if descending else 'ASC'} NULLS LAST")
    keys += [f"{prefix}{_k(f)} {'DESC' if d else 'ASC'} NULLS LAST" for f, d in index.ranking]
    return ", ".join([*keys, f"{prefix}doc_id DESC"])


def _facet_value(column: str, kind: str) -> str:
    return f"CASE WHEN {column} THEN 'true' ELSE 'false' END" if kind == "bool" else column


def _tally(index: SearchIndex, rows: str, sign: int) -> list[str]:
    """(field, value, +1/-1) for the total and each facet value of `rows`."""
    out = [f"SELECT '' AS field, '' AS value, {sign} AS d FROM {rows}"]
    for f in index.facets:
        column, kind = _k(f), index.filterable[f]
        if kind == "keywords":
            out.append(f"SELECT '{f}', v, {sign} FROM {rows}, unnest({column}) v")
        else:
            out.append(f"SELECT '{f}', {_facet_value(column, kind)}, {sign} FROM {rows} WHERE {column} IS NOT NULL")
    return out


HASH = "(hashtext(doc_id) & 2147483647)"  # where a document falls in the facet sample: fixed, stable


class PostgresSearch(SearchBackend):
    name = "postgres"
    typo_tolerance = True

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    # ------------------------------------------------------------ indexes

    async def create(self, index: SearchIndex, physical: str) -> None:
        base, table, counts = _base(physical), _table(physical), _counts(physical)
        await self._ensure_pg_trgm()
        fixed = [f for f, kind in index.filterable.items() if kind in ("int", "time", "bool")]
        columns = ["version bigint NOT NULL", *(f"{_k(f)} {COLUMN_TYPES[index.filterable[f]]}" for f in fixed), "doc_id text PRIMARY KEY"]
        columns += [f"{_k(f)} {COLUMN_TYPES[kind]}" for f, kind in index.filterable.items() if f not in fixed]
        columns += [f"{_t(f)} text NOT NULL DEFAULT ''" for f in index.searchable]
        columns += ["grams tsvector NOT NULL", "doc json NOT NULL"]
        ddl = [
            f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)})",
            f'CREATE INDEX IF NOT EXISTS "{base}_grams" ON {table} USING gin (grams)',
            f'CREATE INDEX IF NOT EXISTS "{base}_trgm" ON {table} USING gin ({_text_expr(index)} gin_trgm_ops)',
            f'CREATE INDEX IF NOT EXISTS "{base}_h" ON {table} (({HASH}))',  # the facet sample of filtered browsing
        ]
        for i, (f, kind) in enumerate(index.filterable.items()):
            if kind in ("keyword", "keywords"):
                ddl.append(f'CREATE INDEX IF NOT EXISTS "{base}_f{i}" ON {table} USING {"gin" if kind == "keywords" else "btree"} ({_k(f)})')
        orders = [(s.field, s.descending) for s in index.sorts.values() if s.field != "relevance"] + list(index.ranking[:1])
        for i, (f, desc) in enumerate(dict.fromkeys(orders)):
            ddl.append(f'CREATE INDEX IF NOT EXISTS "{base}_s{i}" ON {table} ({_k(f)} {"DESC" if desc else "ASC"} NULLS LAST)')
        # exact totals and facet counts of the whole index, kept by statement triggers
        # (the advisory lock orders concurrent writers, so their counter updates never deadlock)
        tallies = " UNION ALL ".join(_tally(index, "new_rows", 1) + _tally(index, "old_rows", -1))
        ddl += [
            f"CREATE TABLE IF NOT EXISTS {counts} (field text, value text, n bigint NOT NULL, PRIMARY KEY (field, value))",
            f"INSERT INTO {counts} VALUES ('', '', 0) ON CONFLICT DO NOTHING",
            f"""CREATE OR REPLACE FUNCTION "{base}_tally"() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              PERFORM pg_advisory_xact_lock(CAST(CAST(CAST('{table}' AS regclass) AS oid) AS bigint));
              IF TG_OP = 'INSERT' THEN
                INSERT INTO {counts} SELECT field, value, sum(d) FROM ({" UNION ALL ".join(_tally(index, "new_rows", 1))}) x
                GROUP BY field, value ORDER BY field, value ON CONFLICT (field, value) DO UPDATE SET n = {counts}.n + EXCLUDED.n;
              ELSIF TG_OP = 'UPDATE' THEN
                INSERT INTO {counts} SELECT field, value, sum(d) FROM ({tallies}) x
                GROUP BY field, value HAVING sum(d) <> 0 ORDER BY field, value ON CONFLICT (field, value) DO UPDATE SET n = {counts}.n + EXCLUDED.n;
              ELSE
                INSERT INTO {counts} SELECT field, value, sum(d) FROM ({" UNION ALL ".join(_tally(index, "old_rows", -1))}) x
                GROUP BY field, value ORDER BY field, value ON CONFLICT (field, value) DO UPDATE SET n = {counts}.n + EXCLUDED.n;
              END IF;
              RETURN NULL;
            END $$""",
        ]
        for op, refs in (("INSERT", "NEW TABLE AS new_rows"), ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows")):
            ddl.append(
                f'CREATE TRIGGER "{base}_{op.lower()}" AFTER {op} ON {table} REFERENCING {refs} '
                f'FOR EACH STATEMENT EXECUTE FUNCTION "{base}_tally"()'
            )
        async with self.runtime.db.session() as session:
            await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK})
            if (await session.execute(text("SELECT to_regclass(:name)"), {"name": f"{base}_docs"})).scalar() is None:
                for statement in ddl:
                    await session.execute(text(statement))
            await session.commit()

    async def _ensure_pg_trgm(self) -> None:
        async with self.runtime.db.session() as session:
            if (await session.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'"))).first():
                return
            try:
                await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": DDL_LOCK})
                await session.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
                await session.commit()
            except DBAPIError as e:
                raise RuntimeError(
                    "search on PostgreSQL needs the pg_trgm extension, which this database role may not create: "
                    "run `CREATE EXTENSION pg_trgm;` in this database as a superuser or its owner, "
                    f"or set ZHONGCAO_MEILI_URL to use Meilisearch ({e.orig})"
                ) from e

    async def built(self, index: SearchIndex, physical: str) -> None:
        """VACUUM ANALYZE after the bulk load: the visibility map lets filtered browsing count
        its facet scopes from the indexes alone, and the planner gets the hash index's
        statistics (autovacuum would do both, minutes later)."""
        async with self.runtime.db.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text(f"VACUUM (ANALYZE) {_table(physical)}"))

    async def drop(self, physical: str) -> None:
        base = _base(physical)
        async with self.runtime.db.session() as session:
            await session.execute(text(f"DROP TABLE IF EXISTS {_table(physical)}, {_counts(physical)}"))
            await session.execute(text(f'DROP FUNCTION IF EXISTS "{base}_tally"()'))
            await session.commit()

    # ------------------------------------------------------------ writes

    async def upsert(self, index: SearchIndex, physical: str, documents: list[dict[str, Any]]) -> None:
        latest: dict[str, dict[str, Any]] = {}
        for d in documents:  # one row per id (ON CONFLICT may not touch a row twice): the newest
            key = str(d["id"])
            if key not in latest or int(d["version"]) >= int(latest[key]["version"]):
                latest[key] = d
        if not latest:
            return
        table = _table(physical)
        fields = [("doc_id", "text"), ("version", "bigint"), ("doc", "json"), ("grams", "text[]")]
        fields += [(f"t_{f}", "text") for f in index.searchable]
        fields += [(f"k_{f}", COLUMN_TYPES[kind]) for f, kind in index.filterable.items()]
        names = ", ".join(f'"{name}"' for name, _ in fields)
        values = ", ".join("array_to_tsvector(grams)" if name == "grams" else f'"{name}"' for name, _ in fields)
        updates = ", ".join(f'"{name}" = EXCLUDED."{name}"' for name, _ in fields[1:])
        # one statement (the count triggers run once), rows in id order (concurrent batches
        # lock shared rows in the same order: no deadlock)
        sql = (
            f"INSERT INTO {table} ({names}) SELECT {values} "
            f"FROM json_to_recordset(CAST(:rows AS json)) AS r({', '.join(f'{name} {kind}' for name, kind in fields)}) "
            f"ON CONFLICT (doc_id) DO UPDATE SET {updates} WHERE {table}.version <= EXCLUDED.version"
        )
        rows = msgspec.json.encode([self._row(index, latest[key]) for key in sorted(latest)]).decode()
        async with self.runtime.db.session() as session:
            await session.execute(text(sql), {"rows": rows})
            await session.commit()

    @staticmethod
    def _row(index: SearchIndex, d: dict[str, Any]) -> dict[str, Any]:
        texts = [normalize(str(d.get(f) or "")) for f in index.searchable]
        row: dict[str, Any] = {"doc_id": str(d["id"]), "version": int(d["version"]), "doc": d, "grams": cjk_grams(" ".join(texts))}
        row |= {f"t_{f}": t for f, t in zip(index.searchable, texts)}
        for f, kind in index.filterable.items():
            v = d.get(f)
            if v is not None:
                if kind == "keywords":
                    v = list(dict.fromkeys(str(x) for x in v))  # each value counts once in a facet
                else:
                    v = str(v) if kind == "keyword" else bool(v) if kind == "bool" else int(v)
            row[f"k_{f}"] = v
        return row

    async def delete(self, index: SearchIndex, physical: str, ids: list[str]) -> None:
        if not ids:
            return
        async with self.runtime.db.session() as session:
            await session.execute(text(f"DELETE FROM {_table(physical)} WHERE doc_id = ANY(CAST(:ids AS text[]))"), {"ids": [str(i) for i in ids]})
            await session.commit()

    # ------------------------------------------------------------ reads

    async def versions(self, index: SearchIndex, physical: str, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        sql = f"SELECT doc_id, version FROM {_table(physical)} WHERE doc_id = ANY(CAST(:ids AS text[]))"
        async with self.runtime.db.read_session() as session:
            return {doc_id: version for doc_id, version in await session.execute(text(sql), {"ids": [str(i) for i in ids]})}

    async def count(self, index: SearchIndex, physical: str) -> int:
        async with self.runtime.db.read_session() as session:
            return (await session.execute(text(f"SELECT count(*) FROM {_table(physical)}"))).scalar_one()

    async def search(self, index: SearchIndex, physical: str, query: SearchQuery) -> SearchResult:
        if query.sort not in index.sort_names:
            raise ValueError(f"unknown sort {query.sort!r}")
        for f in query.filters:
            check_filter(index, f)
        terms = query_terms(query.q)
        result = await self._search(index, physical, query, terms, fuzzy=False)
        if result.total == 0 and any(self._fuzzy(t) for t in terms):
            result = await self._search(index, physical, query, terms, fuzzy=True)
            result.typo_tolerant = True
        return result

    @staticmethod
    def _fuzzy(term: str) -> bool:
        return len(term) >= TYPO_MIN and not is_cjk(term[0])

    def _match(self, index: SearchIndex, terms: list[str], params: dict[str, Any], *, fuzzy: bool = False) -> tuple[list[str], str]:
        """WHERE conditions matching every term, and the relevance score. Substring checks
        that no index serves are strpos(): a LIKE the trigram index could take would be
        planned onto it (a generic plan does), and for CJK that index scans everything."""
        expr, where, grams, score = _text_expr(index), [], [], []
        weights = [2 ** (len(index.searchable) - 1 - i) for i in range(len(index.searchable))]
        for i, term in enumerate(terms):
            params[f"s{i}"] = term
            if is_cjk(term[0]):
                grams += [term[j : j + 2] for j in range(len(term) - 1)] or [term]
                if len(term) > 2:
                    where.append("(" + " OR ".join(f"strpos({_t(f)}, :s{i}) > 0" for f in index.searchable) + ")")
            elif len(term) <= 2:
                grams.append(term)
            elif fuzzy and self._fuzzy(term):
                where.append(f"CAST(:s{i} AS text) <% {expr}")
                score.append("CASE " + " ".join(f"WHEN CAST(:s{i} AS text) <% {_t(f)} THEN {w}" for f, w in zip(index.searchable, weights)) + " ELSE 0 END")
                continue
            else:
                params[f"l{i}"] = _like(term)
                where.append(f"{expr} LIKE :l{i}")
            # the first field it occurs in; it occurs in one, so the last needs no check
            cases = " ".join(f"WHEN strpos({_t(f)}, :s{i}) > 0 THEN {w}" for f, w in zip(index.searchable[:-1], weights))
            score.append(f"CASE {cases} ELSE {weights[-1]} END" if cases else str(weights[-1]))
        if grams:
            params["grams"] = _tsquery(grams)
            where.insert(0, "grams @@ CAST(:grams AS tsquery)")
        return where, " + ".join(score) or "0"

    @staticmethod
    def _filters(index: SearchIndex, filters: tuple[Filter, ...], params: dict[str, Any], prefix: str = "") -> list[str]:
        """Conditions for `filters`, their values bound as parameters (`prefix` keeps another pass's apart)."""
        where = []
        for i, f in enumerate(filters):
            column, kind, at = _k(f.field), index.filterable[f.field], f"{prefix}{i}"
            if not f.is_range:
                params[f"f{at}"] = list(f.values)
                where.append(f"{column} {'&&' if kind == 'keywords' else '= ANY'}(CAST(:f{at} AS {ARRAY_TYPES[kind]}))")
                continue
            if f.low is not None:
                params[f"lo{at}"] = int(f.low)
                where.append(f"{column} >= :lo{at}")
            if f.high is not None:
                params[f"hi{at}"] = int(f.high)
                where.append(f"{column} <= :hi{at}")
        return where

    async def _search(self, index: SearchIndex, physical: str, query: SearchQuery, terms: list[str], *, fuzzy: bool) -> SearchResult:
        table, counts = _table(physical), _counts(physical)
        params: dict[str, Any] = {}
        match, score = self._match(index, terms, params, fuzzy=fuzzy)
        filters = self._filters(index, query.filters, params)
        where = " AND ".join(match + filters) or "TRUE"
        sort = index.sort_for(query.sort if terms or query.sort != "relevance" else index.browse)
        scored = bool(terms) and sort.field == "relevance"
        sort_field = None if sort.field == "relevance" else sort.field
        per_page = min(max(query.per_page, 1), MAX_PER_PAGE)
        page = max(query.page, 1)
        params["limit"] = 0 if page * per_page > MAX_PAGE_DEPTH else per_page
        params["offset"] = (page - 1) * per_page
        facets = list(index.facets) if query.facets else []
        own, passes = facet_plan(index, query)
        order = _order(index, sort_field, sort.descending, scored=scored)
        n = int(self.facet_sample)

        def sample(m: str, c: str) -> str:
            """A fixed sample of the matches `m` (`c`: their number), by a hash of the id."""
            return f"SELECT {m}.* FROM {m}, {c} WHERE {c}.n <= {n} OR (hashtext({m}.doc_id) & 2147483647) < 2147483647 * {n}::bigint / {c}.n"

        def tally(f: str, rows: str) -> None:
            column, kind = _k(f), index.filterable[f]
            if kind == "keywords":
                parts.append(f"SELECT 2, CAST(:n_{f} AS text), v, count(*), NULL FROM (SELECT unnest({column}) v FROM {rows}) u GROUP BY v")
            else:
                parts.append(f"SELECT 2, CAST(:n_{f} AS text), {_facet_value(column, kind)}, count(*), NULL FROM {rows} WHERE {column} IS NOT NULL GROUP BY {column}")
            params[f"n_{f}"] = f

        parts: list[str] = []
        no_seqscan = bool(terms)
        if terms or filters:  # the matches, once, with what ordering and facets need of them
            needed = ["doc_id", f"{score} AS score" if scored else "0 AS score"]
            needed += dict.fromkeys([*([_k(sort_field)] if sort_field else []), *(_k(f) for f, _ in index.ranking), *(_k(f) for f in own)])
            # a filtered facet is counted over the matches under the other filters (`scopes`; none:
            # everything), sampled alike. With terms, the first such set is read with what the
            # query's matches need, which are then those of it that pass that facet's filter: no
            # second read of the text index. Without terms the query's own matches come from the
            # filters' indexes (a wide set materialized with every column spilled to disk: 84 ms
            # for a brand within a price range over 100k products), and each pass keeps only the
            # id and its facet's column
            scopes = {f: " AND ".join(match + self._filters(index, others, params, prefix=f"p{j}_")) for j, (f, others) in enumerate(passes.items(), 1)}
            first = next((j for j, scope in enumerate(scopes.values(), 1) if scope), None) if terms else None  # numbered as `passes`
            if first is None:
                ctes = [f"m AS MATERIALIZED (SELECT {', '.join(needed)} FROM {table} WHERE {where})"]
            else:
                field = list(scopes)[first - 1]
                chosen = self._filters(index, tuple(x for x in query.filters if x.field == field), params, prefix="q")
                ctes = [f"m{first} AS MATERIALIZED (SELECT {', '.join(dict.fromkeys([*needed, _k(field)]))} FROM {table} WHERE {scopes[field]})",
                        f"m AS MATERIALIZED (SELECT * FROM m{first} WHERE {' AND '.join(chosen)})"]
            # with terms the page comes from the matches (sorted anyway); filtered browsing
            # pages straight from the table, where a sort index may serve the order
            source = "m" if terms else f"{table} WHERE {where}"
            ctes.append("c AS (SELECT count(*) AS n FROM m)")
            parts.append("SELECT 1, NULL, NULL, n, NULL FROM c")
            if own:
                ctes.append(f"s AS MATERIALIZED ({sample('m', 'c')})")
                parts.append("SELECT 3, NULL, NULL, count(*), NULL FROM s")
            for f in own:
                tally(f, "s")
            for j, (f, scope) in enumerate(scopes.items(), 1):
                if not scope:  # no terms, no other filter: the kept counts of the whole index
                    parts.append(f"SELECT 2, field, value, n, NULL FROM {counts} WHERE n > 0 AND field = CAST(:n_{f} AS text)")
                    params[f"n_{f}"] = f
                    continue
                if not terms:
                    no_seqscan = True
                    # filters only: the set is counted from its indexes, and the same fixed sample
                    # is read through the hash index (`_h`, a BitmapAnd with the filters' indexes)
                    # instead of a scan of every row in it: 35 -> 8 ms for a quarter of 100k notes
                    cut = f"CASE WHEN c{j}.n <= {n} THEN 2147483648 ELSE 2147483647 * {n}::bigint / c{j}.n END"
                    ctes += [f"c{j} AS MATERIALIZED (SELECT count(*) AS n FROM {table} WHERE {scope})",
                             f"s{j} AS MATERIALIZED (SELECT x.* FROM c{j} CROSS JOIN LATERAL (SELECT doc_id, {_k(f)} FROM {table} WHERE {scope} AND {HASH} < {cut}) x)"]
                else:
                    if j != first:
                        ctes.append(f"m{j} AS MATERIALIZED (SELECT doc_id, {_k(f)} FROM {table} WHERE {scope})")
                    ctes += [f"c{j} AS (SELECT count(*) AS n FROM m{j})", f"s{j} AS MATERIALIZED ({sample(f'm{j}', f'c{j}')})"]
                parts += [f"SELECT 1, CAST(:n_{f} AS text), NULL, n, NULL FROM c{j}", f"SELECT 3, CAST(:n_{f} AS text), NULL, count(*), NULL FROM s{j}"]
                tally(f, f"s{j}")
        else:  # browsing everything: the counts are kept
            ctes, source = [], table
            parts.append(f"SELECT CASE field WHEN '' THEN 1 ELSE 2 END, field, value, n, NULL FROM {counts} WHERE n > 0 AND field = ANY(CAST(:fields AS text[]))")
            params["fields"] = ["", *facets]
        ctes.append(f"p AS (SELECT doc_id, row_number() OVER () AS n FROM (SELECT doc_id FROM {source} ORDER BY {order} LIMIT :limit OFFSET :offset) o)")
        parts.insert(0, f"SELECT 0 AS kind, p.doc_id AS name, NULL AS value, p.n AS n, t.doc AS doc FROM p JOIN {table} t USING (doc_id)")
        sql = f"WITH {', '.join(ctes)} " + " UNION ALL ".join(parts)
        # a transaction of its own (a reading session autocommits), for settings of its own:
        # the matches kept in memory (not spilled to disk at 4 MB), and terms looked up
        # through their index: the planner prices `grams @@` as cheap, but on a sequential
        # scan it decompresses every row's grams (200 ms instead of 40 at 100k notes); and
        # it cannot know the facet sample's hash cut-off (computed in the statement), so it
        # guesses a third of the rows and scans them all
        async with self.runtime.db.engine.connect() as conn, conn.begin():
            await conn.execute(SEARCH_SETTINGS if no_seqscan else SEARCH_MEMORY)
            rows = (await conn.execute(text(sql), params)).all()

        hits: list[tuple[int, Hit]] = []
        sizes: dict[str | None, int] = {}  # matches and samples by pass: None the query's own, else the filtered facet's
        sampled: dict[str | None, int] = {}
        found: dict[str, dict[str, int]] = {f: {} for f in facets}
        for kind, name, value, count, doc in rows:
            if kind == 0:
                hits.append((count, Hit(id=name, document=doc, highlights=self._highlights(index, doc, terms) if query.highlight and not fuzzy else {})))
            elif kind == 1:
                sizes[name or None] = count  # browsing names the total ''
            elif kind == 3:
                sampled[name] = count
            else:
                found[name][value] = count
        hits.sort(key=lambda h: h[0])
        facet_values, exact = planned_facet_counts(index, (own, passes), found, sizes, sampled)
        return SearchResult(hits=[h for _, h in hits], total=sizes.get(None, 0), page=query.page, per_page=query.per_page, facets=facet_values, facets_exact=exact)

    @staticmethod
    def _highlights(index: SearchIndex, doc: dict[str, Any], terms: list[str]) -> dict[str, str]:
        out = {}
        for i, f in enumerate(index.searchable):
            value = doc.get(f)
            if isinstance(value, str) and (marked := highlight(value, terms, crop=None if i == 0 else CROP)) is not None:
                out[f] = marked
        return out

    async def suggest(self, index: SearchIndex, physical: str, prefix: str, limit: int) -> list[str]:
        terms = query_terms(prefix)
        if not terms or index.suggest is None or limit <= 0:
            return []
        table, column = _table(physical), _t(index.suggest)
        params: dict[str, Any] = {"limit": limit}
        *whole, last = terms
        exact = terms if is_cjk(last[0]) else whole  # a CJK last term is contained, like a whole one
        where, _ = self._match(index, exact, params)  # candidates through the indexes
        where += [f"strpos({column}, :s{i}) > 0" for i in range(len(exact))]  # ... that have them in the field
        if not is_cjk(last[0]):  # ... and a word of the field starting with the last one
            j = len(whole)
            if len(last) >= 3:
                params[f"l{j}"] = _like(last)
                where.append(f"{_text_expr(index)} LIKE :l{j}")
            params[f"r{j}"] = "(^|[^a-z0-9])" + re.sub(r"(\W)", r"\\\1", last)
            where.append(f"{column} ~ :r{j}")
        where_sql = " AND ".join(where)
        # usually the best few matches already hold `limit` distinct values (and a sort index
        # finds them without sorting every match); otherwise the distinct values of them all
        params["first"] = limit * 4
        first = f"SELECT {column}, doc FROM {table} WHERE {where_sql} ORDER BY {_order(index, None, True)} LIMIT :first"
        rank_columns = "".join(f", {_k(f)}" for f, _ in index.ranking)
        every = (
            f"SELECT NULL, t.doc FROM (SELECT DISTINCT ON ({column}) doc_id{rank_columns} FROM {table} WHERE {where_sql} "
            f"ORDER BY {column}, {_order(index, None, True)}) s JOIN {table} t USING (doc_id) "
            f"ORDER BY {_order(index, None, True, prefix='s.')} LIMIT :limit"
        )
        async with self.runtime.db.read_session() as session:
            rows = (await session.execute(text(first), params)).all()
            best: dict[str, Any] = {}
            for value, doc in rows:
                best.setdefault(value, doc)
            docs = list(best.values())
            if len(docs) < limit and len(rows) == params["first"]:
                docs = [doc for _, doc in await session.execute(text(every), params)]
        return [str(d.get(index.suggest)) for d in docs[:limit]]

"""Search backends: `sqlite` (FTS5 trigram + a CJK gram index), `postgres` (pg_trgm + a
CJK gram array), `meilisearch` (the official client). `backend_for(runtime)` picks one:
Meilisearch when ZHONGCAO_MEILI_URL is set, else the embedded backend of the database."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.runtime import Runtime
    from core.search.base import SearchBackend


def embedded_backend(runtime: Runtime) -> SearchBackend:
    """The backend that keeps its indexes in the application's own database."""
    if runtime.settings.is_sqlite:
        from core.search.backends.sqlite import SqliteSearch

        return SqliteSearch(runtime)
    from core.search.backends.postgres import PostgresSearch

    return PostgresSearch(runtime)


def meilisearch_backend(url: str, key: str | None, prefix: str) -> SearchBackend:
    from core.search.backends.meili import MeiliSearch

    return MeiliSearch(url, key, prefix)


def backend_for(runtime: Runtime) -> SearchBackend:
    s = runtime.settings
    if s.meili_url:
        return meilisearch_backend(s.meili_url, s.meili_key, s.queue_namespace)
    return embedded_backend(runtime)

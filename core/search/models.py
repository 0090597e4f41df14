"""The search service's own tables: which physical index answers for each index name
(the alias a rebuild swaps), and the documents waiting to be (re)indexed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class SearchAlias(Base):
    """`physical` answers searches for `name`; `building` (during a rebuild) receives every
    live change too; `retired` is the previous physical index, dropped by the next rebuild
    (not at once: another process may still be reading it)."""

    __tablename__ = "search_alias"

    name: Mapped[str] = mapped_column(String(30), primary_key=True)
    backend: Mapped[str] = mapped_column(String(20))
    physical: Mapped[str] = mapped_column(String(60))
    generation: Mapped[int] = mapped_column(default=1)
    building: Mapped[str | None] = mapped_column(String(60))
    retired: Mapped[str | None] = mapped_column(String(60))
    built_at: Mapped[datetime | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SearchQueueItem(Base):
    """A document to refresh: written by the event handler (one row per document however
    many events name it), drained in batches by the `search.drain` job."""

    __tablename__ = "search_queue"
    __table_args__ = (Index("ix_search_queue_index_queued", "index_name", "queued_at"),)

    index_name: Mapped[str] = mapped_column(String(30), primary_key=True)
    doc_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    queued_at: Mapped[datetime] = mapped_column(default=utcnow)

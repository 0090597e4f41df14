from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, utcnow


class Notice(IdMixin, Base):
    """One thing one user is told. `key` makes it one: writing the same key to the same
    user again (a retried job, a room that goes live twice) changes nothing.

    The text is an English message with `{placeholders}`, translated when it is shown
    (the writer registers its translations), so each reader sees her own language."""

    __tablename__ = "notice"
    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_notice_user_unseen", "user_id", "seen_at", "id"),
    )

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(60))  # who wrote it and why, e.g. "live.room_live"
    key: Mapped[str] = mapped_column(String(120))  # e.g. "live.room:12"
    message: Mapped[str] = mapped_column(String(200))
    args: Mapped[dict[str, Any]] = mapped_column(default=dict)
    url: Mapped[str] = mapped_column(String(500), default="")  # where it leads: a path on the storefront
    image_url: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    seen_at: Mapped[datetime | None]

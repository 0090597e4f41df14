"""The feed plugin's tables (prefix `feed_`).

- `feed_topic_pick`: topics a viewer picked at sign-up (cold start).
- `feed_session` + `feed_session_card`: an explore-feed session and the cards placed in
  it, in order. A batch of cards is ranked at once and appended; pages are read back by
  position, so scrolling never repeats or skips a card, and a note is placed at most
  once per session (unique per session). The signed cursor carries the session and the
  position.

Topic and note ids are plain integers, not foreign keys into the notes plugin's tables:
the feed migrates and runs (answering empty pages) while the notes plugin is disabled.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, utcnow

USER_FK = "user_account.id"


class TopicPick(Base):
    __tablename__ = "feed_topic_pick"

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"), primary_key=True)
    topic_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedSession(IdMixin, Base):
    """One explore-feed session: from a load without a cursor until the client starts over."""

    __tablename__ = "feed_session"
    __table_args__ = (Index("ix_feed_session_user", "user_id", "created_at"),)

    user_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey(USER_FK, ondelete="CASCADE"))  # None: anonymous
    seed: Mapped[int] = mapped_column(BigInteger)  # exploration picks and ties, reproducible within the session
    lat_e6: Mapped[int | None] = mapped_column(Integer)  # the location shared at the start, if any
    lng_e6: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer, default=0)  # cards placed so far
    batches: Mapped[int] = mapped_column(Integer, default=0)
    exhausted: Mapped[bool] = mapped_column(default=False)  # no candidate left: the feed ends here
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    refilled_at: Mapped[datetime] = mapped_column(default=utcnow)


class SessionCard(Base):
    """A card placed at `position` of a session: a note, or another plugin's card (kept whole)."""

    __tablename__ = "feed_session_card"
    __table_args__ = (UniqueConstraint("session_id", "note_id"), UniqueConstraint("session_id", "kind", "ref"))

    session_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("feed_session.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), default="note")
    ref: Mapped[str] = mapped_column(String(64))  # the note id, or the plugin's reference
    note_id: Mapped[int | None] = mapped_column(BigInteger)
    source: Mapped[str] = mapped_column(String(20))  # follow, topic, popular, fresh, nearby, or the plugin's name
    card: Mapped[dict[str, Any] | None] = mapped_column()  # another plugin's card as it gave it


MODELS = (TopicPick, FeedSession, SessionCard)

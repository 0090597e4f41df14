"""The plugin's tables. Every table starts with the plugin's name, as the core requires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, utcnow


class WishlistItem(IdMixin, Base):
    """A brand a user wants to remember."""

    __tablename__ = "wishlist_item"

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    brand_slug: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WishlistNotification(IdMixin, Base):
    """What the event handler leaves behind: one row per `wishlist.item_added` event.

    The unique event id makes a redelivered event harmless.
    """

    __tablename__ = "wishlist_notification"

    event_id: Mapped[str] = mapped_column(String(36), unique=True)
    item_id: Mapped[int] = mapped_column(BigIntPK)
    user_id: Mapped[int] = mapped_column(BigIntPK)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

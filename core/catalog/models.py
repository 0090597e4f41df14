from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, TimestampMixin


class Brand(IdMixin, TimestampMixin, Base):
    """A merchant. Its staff are users with a BrandMember row."""

    __tablename__ = "brand"

    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    description: Mapped[str] = mapped_column(Text, default="")


class BrandMember(Base):
    __tablename__ = "brand_member"

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True, index=True)
    role: Mapped[str] = mapped_column(String(20), default="staff")  # owner | staff

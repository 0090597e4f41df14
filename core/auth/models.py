from __future__ import annotations

from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, BigIntPK, IdMixin, TimestampMixin


class Role(StrEnum):
    SHOPPER = "shopper"  # everyone with an account
    BRAND_MEMBER = "brand_member"  # derived from BrandMember rows
    CREATOR = "creator"
    STAFF = "staff"  # platform operators


GRANTABLE_ROLES = {Role.CREATOR, Role.STAFF}


class User(IdMixin, TimestampMixin, Base):
    __tablename__ = "user_account"

    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(80))
    locale: Mapped[str] = mapped_column(String(10), default="zh-CN")
    is_active: Mapped[bool] = mapped_column(default=True)
    # Bumped on logout-everywhere or password change: old sessions and tokens stop working.
    auth_epoch: Mapped[int] = mapped_column(default=0)


class UserRole(Base):
    __tablename__ = "user_role"

    user_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20), primary_key=True)

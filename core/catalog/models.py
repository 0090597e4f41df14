from __future__ import annotations

from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text, UniqueConstraint
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


class Category(IdMixin, Base):
    """A node of the shared category tree."""

    __tablename__ = "category"

    parent_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("category.id", ondelete="RESTRICT"), index=True)
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    position: Mapped[int] = mapped_column(Integer, default=0)


class ProductStatus(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class Product(IdMixin, TimestampMixin, Base):
    __tablename__ = "product"
    __table_args__ = (CheckConstraint("status in ('draft','active','archived')", name="status"),)

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="RESTRICT"), index=True)
    slug: Mapped[str] = mapped_column(String(120), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default=ProductStatus.DRAFT.value, index=True)
    category_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("category.id", ondelete="SET NULL"), index=True)
    tags: Mapped[list[Any]] = mapped_column(default=list)
    option_names: Mapped[list[Any]] = mapped_column(default=list)  # e.g. ["colour", "size"]


class Variant(IdMixin, TimestampMixin, Base):
    """A buyable combination of option values; carries the SKU and the prices."""

    __tablename__ = "variant"
    __table_args__ = (CheckConstraint("weight_grams >= 0", name="weight"),)

    product_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("product.id", ondelete="CASCADE"), index=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    options: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {"colour": "red", "size": "M"}
    weight_grams: Mapped[int] = mapped_column(Integer, default=0)
    position: Mapped[int] = mapped_column(Integer, default=0)
    is_active: Mapped[bool] = mapped_column(default=True)


class VariantPrice(Base):
    __tablename__ = "variant_price"
    __table_args__ = (
        CheckConstraint("amount_minor >= 0", name="amount"),
        CheckConstraint("compare_at_minor IS NULL OR compare_at_minor >= 0", name="compare_at"),
    )

    variant_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("variant.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    compare_at_minor: Mapped[int | None] = mapped_column(BigInteger)


class ProductMedia(IdMixin, Base):
    """An image under the media folder; `sizes` maps a size name to its file and width."""

    __tablename__ = "product_media"

    product_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("product.id", ondelete="CASCADE"), index=True)
    path: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(50))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    sizes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    alt: Mapped[str] = mapped_column(String(200), default="")
    position: Mapped[int] = mapped_column(Integer, default=0)


class ShippingRate(Base):
    """Flat-rate shipping per brand and currency, optionally free above a threshold."""

    __tablename__ = "shipping_rate"
    __table_args__ = (CheckConstraint("amount_minor >= 0", name="amount"),)

    brand_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("brand.id", ondelete="CASCADE"), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    free_over_minor: Mapped[int | None] = mapped_column(BigInteger)


class TaxRate(Base):
    """A tax rate per region (ISO country or country-subdivision code), in parts per
    million of the price (88_750 = 8.875%, New York City's; whole basis points are too
    coarse for US combined rates). `inclusive` means catalog prices already contain it
    (CN, EU), otherwise it is added (US)."""

    __tablename__ = "tax_rate"
    __table_args__ = (UniqueConstraint("region"), CheckConstraint("rate_ppm >= 0 AND rate_ppm <= 1000000", name="rate"))

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(10))
    rate_ppm: Mapped[int] = mapped_column(Integer)
    inclusive: Mapped[bool] = mapped_column(default=True)

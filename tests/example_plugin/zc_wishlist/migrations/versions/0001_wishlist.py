"""wishlist branch base: wishlist items and the event handler's notifications

Revision ID: 0001_wishlist
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from advanced_alchemy.types import DateTimeUTC

revision: str = "0001_wishlist"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("wishlist",)
depends_on: str | Sequence[str] | None = "0001_core"

BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wishlist_item",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("user_id", BIGINT_PK, nullable=False),
        sa.Column("brand_slug", sa.String(length=80), nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user_account.id"], name=op.f("fk_wishlist_item_user_id_user_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wishlist_item")),
    )
    op.create_index(op.f("ix_wishlist_item_user_id"), "wishlist_item", ["user_id"], unique=False)
    op.create_table(
        "wishlist_notification",
        sa.Column("id", BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=36), nullable=False),
        sa.Column("item_id", BIGINT_PK, nullable=False),
        sa.Column("user_id", BIGINT_PK, nullable=False),
        sa.Column("created_at", DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wishlist_notification")),
        sa.UniqueConstraint("event_id", name=op.f("uq_wishlist_notification_event_id")),
    )


def downgrade() -> None:
    op.drop_table("wishlist_notification")
    op.drop_index(op.f("ix_wishlist_item_user_id"), table_name="wishlist_item")
    op.drop_table("wishlist_item")

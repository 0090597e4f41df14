"""search: index aliases and the indexing queue (physical indexes are created by the backends)

Revision ID: 0010_search
Revises: 0009_campaign_budget
Create Date: 2026-11-26 09:20:00

"""
from typing import Sequence, Union

from alembic import op
import advanced_alchemy
import sqlalchemy as sa

revision: str = "0010_search"
down_revision: Union[str, Sequence[str], None] = "0009_campaign_budget"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "search_alias",
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("backend", sa.String(length=20), nullable=False),
        sa.Column("physical", sa.String(length=60), nullable=False),
        sa.Column("generation", sa.Integer(), nullable=False),
        sa.Column("building", sa.String(length=60), nullable=True),
        sa.Column("retired", sa.String(length=60), nullable=True),
        sa.Column("built_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True),
        sa.Column("updated_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_search_alias")),
    )
    op.create_table(
        "search_queue",
        sa.Column("index_name", sa.String(length=30), nullable=False),
        sa.Column("doc_id", sa.String(length=64), nullable=False),
        sa.Column("queued_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("index_name", "doc_id", name=op.f("pk_search_queue")),
    )
    op.create_index("ix_search_queue_index_queued", "search_queue", ["index_name", "queued_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_search_queue_index_queued", table_name="search_queue")
    op.drop_table("search_queue")
    op.drop_table("search_alias")

"""creator shortlist: the creators a brand keeps in mind, one row per brand and creator

Revision ID: 0011_creator_shortlist
Revises: 0010_search
Create Date: 2026-11-26 14:40:00

"""
from typing import Sequence, Union

from alembic import op
import advanced_alchemy
import sqlalchemy as sa

revision: str = "0011_creator_shortlist"
down_revision: Union[str, Sequence[str], None] = "0010_search"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "creator_shortlist",
        sa.Column("brand_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("creator_user_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["brand_id"], ["brand.id"], name=op.f("fk_creator_shortlist_brand_id_brand"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["creator_user_id"], ["user_account.id"], name=op.f("fk_creator_shortlist_creator_user_id_user_account"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("brand_id", "creator_user_id", name=op.f("pk_creator_shortlist")),
    )
    op.create_index(op.f("ix_creator_shortlist_creator_user_id"), "creator_shortlist", ["creator_user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_creator_shortlist_creator_user_id"), table_name="creator_shortlist")
    op.drop_table("creator_shortlist")

"""attribution: cart codes and visitor, payment fingerprints

Revision ID: 0007_attribution
Revises: 0006_campaigns
Create Date: 2026-11-26 02:20:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0007_attribution"
down_revision: Union[str, Sequence[str], None] = "0006_campaigns"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    # existing carts and checkouts get an empty list of codes (server default for the
    # ALTER only; the application always writes the column itself)
    for table in ("cart", "checkout"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("codes", _json(), nullable=False, server_default=sa.text("'[]'")))
            batch_op.add_column(sa.Column("visitor_id", sa.String(length=36), nullable=True))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column("codes", existing_type=_json(), existing_nullable=False, server_default=None)
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fingerprint", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_payment_fingerprint"), ["fingerprint"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_fingerprint"))
        batch_op.drop_column("fingerprint")
    for table in ("checkout", "cart"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("visitor_id")
            batch_op.drop_column("codes")

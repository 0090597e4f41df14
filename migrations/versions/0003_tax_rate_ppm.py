"""tax rates in parts per million (8.875% was not storable in whole basis points)

Revision ID: 0003_tax_rate_ppm
Revises: 0002_commerce
Create Date: 2026-11-26 01:55:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0003_tax_rate_ppm"
down_revision: Union[str, Sequence[str], None] = "0002_commerce"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("tax_rate") as batch:
        batch.add_column(sa.Column("rate_ppm", sa.Integer(), nullable=True))
    op.execute("UPDATE tax_rate SET rate_ppm = rate_bps * 100")
    with op.batch_alter_table("tax_rate") as batch:
        batch.drop_constraint(op.f("ck_tax_rate_rate"), type_="check")
        batch.alter_column("rate_ppm", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("rate_bps")
        batch.create_check_constraint(op.f("ck_tax_rate_rate"), "rate_ppm >= 0 AND rate_ppm <= 1000000")


def downgrade() -> None:
    with op.batch_alter_table("tax_rate") as batch:
        batch.add_column(sa.Column("rate_bps", sa.Integer(), nullable=True))
    op.execute("UPDATE tax_rate SET rate_bps = (rate_ppm + 50) / 100")  # rounds 8.875% to 8.88%
    with op.batch_alter_table("tax_rate") as batch:
        batch.drop_constraint(op.f("ck_tax_rate_rate"), type_="check")
        batch.alter_column("rate_bps", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("rate_ppm")
        batch.create_check_constraint(op.f("ck_tax_rate_rate"), "rate_bps >= 0 AND rate_bps <= 10000")

"""payouts: run summary and author, payout attempts, paid time, bank confirmation

Revision ID: 0008_payouts
Revises: 0007_attribution
Create Date: 2026-11-26 02:20:00

"""
from typing import Sequence, Union

from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
import advanced_alchemy.types
from sqlalchemy import Text  # noqa: F401 - JSONB(astext_type=Text())
from sqlalchemy.dialects import postgresql

revision: str = "0008_payouts"
down_revision: Union[str, Sequence[str], None] = "0007_attribution"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table('payout_run', schema=None) as batch_op:
        batch_op.add_column(sa.Column('skipped', sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), 'postgresql'), nullable=True))
        batch_op.add_column(sa.Column('created_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_payout_run_created_by_user_account'), 'user_account', ['created_by'], ['id'], ondelete='SET NULL')

    with op.batch_alter_table('payout', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('paid_at', advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('confirmed_by', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_payout_confirmed_by_user_account'), 'user_account', ['confirmed_by'], ['id'], ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_payout_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('payout', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payout_status'))
        batch_op.drop_constraint(batch_op.f('fk_payout_confirmed_by_user_account'), type_='foreignkey')
        batch_op.drop_column('confirmed_by')
        batch_op.drop_column('paid_at')
        batch_op.drop_column('attempts')

    with op.batch_alter_table('payout_run', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payout_run_created_by_user_account'), type_='foreignkey')
        batch_op.drop_column('created_by')
        batch_op.drop_column('skipped')

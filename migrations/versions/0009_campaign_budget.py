"""campaign budget: spent so far per campaign, and what the budget cut from a commission

Revision ID: 0009_campaign_budget
Revises: 0008_payouts
Create Date: 2026-11-26 05:10:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0009_campaign_budget"
down_revision: Union[str, Sequence[str], None] = "0008_payouts"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.add_column(sa.Column("spent_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
        batch_op.drop_constraint(op.f("ck_campaign_money"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_campaign_money"), "budget_minor >= 0 AND spent_minor >= 0 AND (fixed_fee_minor IS NULL OR fixed_fee_minor >= 0)"
        )
    with op.batch_alter_table("commission", schema=None) as batch_op:
        batch_op.add_column(sa.Column("budget_cut_minor", sa.BigInteger(), server_default=sa.text("0"), nullable=False))
        batch_op.drop_constraint(op.f("ck_commission_amounts"), type_="check")
        batch_op.create_check_constraint(
            op.f("ck_commission_amounts"), "amount_minor >= 0 AND reversed_minor >= 0 AND base_minor >= 0 AND budget_cut_minor >= 0"
        )
    # what campaigns already spent in their own currency: commissions net of clawbacks
    # plus the fixed fees posted to the ledger (keyed fixed_fee:<collaboration id>)
    op.execute(
        """
        UPDATE campaign SET spent_minor =
            COALESCE((SELECT SUM(c.amount_minor - c.reversed_minor) FROM commission c
                      WHERE c.campaign_id = campaign.id AND c.currency = campaign.currency), 0)
          + COALESCE(campaign.fixed_fee_minor, 0) * (SELECT COUNT(*) FROM collaboration k JOIN ledger_transaction t
                      ON t.key = 'fixed_fee:' || CAST(k.id AS VARCHAR(20)) WHERE k.campaign_id = campaign.id)
        """
    )


def downgrade() -> None:
    with op.batch_alter_table("commission", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_commission_amounts"), type_="check")
        batch_op.create_check_constraint(op.f("ck_commission_amounts"), "amount_minor >= 0 AND reversed_minor >= 0 AND base_minor >= 0")
        batch_op.drop_column("budget_cut_minor")
    with op.batch_alter_table("campaign", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_campaign_money"), type_="check")
        batch_op.create_check_constraint(op.f("ck_campaign_money"), "budget_minor >= 0 AND (fixed_fee_minor IS NULL OR fixed_fee_minor >= 0)")
        batch_op.drop_column("spent_minor")

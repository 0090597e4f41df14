"""plugin carts and manual-capture checkouts: cart.kind ("shop" or a plugin's own), checkout.capture_method and checkout.return_path

Revision ID: 0012_plugin_carts_and_capture
Revises: 0011_creator_shortlist
Create Date: 2026-11-27 04:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0012_plugin_carts_and_capture"
down_revision: Union[str, Sequence[str], None] = "0011_creator_shortlist"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("cart") as batch:
        batch.add_column(sa.Column("kind", sa.String(length=20), server_default="shop", nullable=False))
    with op.batch_alter_table("checkout") as batch:
        batch.add_column(sa.Column("capture_method", sa.String(length=10), server_default="automatic", nullable=False))
        batch.add_column(sa.Column("return_path", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checkout") as batch:
        batch.drop_column("return_path")
        batch.drop_column("capture_method")
    with op.batch_alter_table("cart") as batch:
        batch.drop_column("kind")

"""stock pool names are a brand's own: unique per location, no longer across all brands

Revision ID: 0013_pool_names_per_location
Revises: 0012_plugin_carts_and_capture
Create Date: 2026-11-27 10:30:00

"""
from typing import Sequence, Union

from alembic import op

revision: str = "0013_pool_names_per_location"
down_revision: Union[str, Sequence[str], None] = "0012_plugin_carts_and_capture"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("stock_pool") as batch:
        batch.drop_constraint("uq_stock_pool_name", type_="unique")
        batch.create_unique_constraint("uq_stock_pool_location_id_name", ["location_id", "name"])


def downgrade() -> None:
    with op.batch_alter_table("stock_pool") as batch:
        batch.drop_constraint("uq_stock_pool_location_id_name", type_="unique")
        batch.create_unique_constraint("uq_stock_pool_name", ["name"])

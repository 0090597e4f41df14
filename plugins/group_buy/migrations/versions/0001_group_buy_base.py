"""group_buy branch base: the plugin's tables arrive with its issue.

Revision ID: 0001_group_buy
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

revision: str = "0001_group_buy"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("group_buy",)
depends_on: str | Sequence[str] | None = "0001_core"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""live branch base: the plugin's tables arrive with its issue.

Revision ID: 0001_live
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

revision: str = "0001_live"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("live",)
depends_on: str | Sequence[str] | None = "0001_core"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

"""everything branch base (test fixture plugin): no tables, only the branch.

Revision ID: 0001_everything
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

revision: str = "0001_everything"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = ("everything",)
depends_on: str | Sequence[str] | None = "0001_core"


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

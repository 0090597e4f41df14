"""group_buy: members' notices move to the core's notices (core.notices); the unseen ones
are carried over, then group_buy_member.notice_seen_at goes

Revision ID: 0004_group_buy_core_notices
Revises: 0003_group_buy_notices
Create Date: 2026-11-27 14:10:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import advanced_alchemy.types


revision: str = "0004_group_buy_core_notices"
down_revision: Union[str, Sequence[str], None] = "0003_group_buy_notices"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = "0014_notices"

# as plugins.group_buy.service writes them (frozen here: the migration must not change with the code)
TEAM_FILLED = "Your team for {product} filled: your order is paid."
TEAM_DONE_WITHOUT_YOU = "Your team for {product} completed without your payment: you were not charged."
TEAM_FAILED = "Your team for {product} did not fill: you were not charged."


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT m.user_id, m.team_id, m.status, m.notified_at, t.status AS team_status, p.title"
        " FROM group_buy_member m JOIN group_buy_team t ON t.id = m.team_id"
        " JOIN group_buy_offer o ON o.id = t.offer_id JOIN variant v ON v.id = o.variant_id JOIN product p ON p.id = v.product_id"
        " WHERE m.notified_at IS NOT NULL AND m.notice_seen_at IS NULL"
    ).columns(notified_at=advanced_alchemy.types.datetime.DateTimeUTC(timezone=True))).all()
    notice = sa.table(
        "notice", sa.column("user_id"), sa.column("kind"), sa.column("key"), sa.column("message"), sa.column("args", sa.JSON()),
        sa.column("url"), sa.column("image_url"), sa.column("created_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True)), sa.column("seen_at"),
    )
    carried = []
    for user_id, team_id, status, notified_at, team_status, title in rows:
        if team_status != "succeeded":
            message = TEAM_FAILED
        else:
            message = TEAM_FILLED if status in ("authorized", "paid") else TEAM_DONE_WITHOUT_YOU
        carried.append({
            "user_id": user_id, "kind": "group_buy.team_closed", "key": f"group_buy.team:{team_id}", "message": message, "args": {"product": title},
            "url": f"/group-buy/teams/{team_id}", "image_url": "", "created_at": notified_at, "seen_at": None,
        })
    if carried:
        op.bulk_insert(notice, carried)
    with op.batch_alter_table("group_buy_member", schema=None) as batch_op:
        batch_op.drop_column("notice_seen_at")


def downgrade() -> None:
    with op.batch_alter_table("group_buy_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notice_seen_at", advanced_alchemy.types.datetime.DateTimeUTC(timezone=True), nullable=True))
    op.execute("DELETE FROM notice WHERE kind = 'group_buy.team_closed'")

"""Card state history: one row per state change; existing cards get their current state as the first row.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "card_states",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cards.id"), nullable=False),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("from_state", sa.String(16)),
        sa.Column("to_state", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("incident_id", sa.String(255)),
        sa.Column("repair_id", sa.Integer()),
    )
    op.create_index("ix_card_states_card_at", "card_states", ["card_id", "at"])
    # Releases before 0002 kept only the current state: carry it over so every card has a history.
    op.execute(
        "INSERT INTO card_states (card_id, at, from_state, to_state, reason) "
        "SELECT id, updated_at, NULL, state, 'state carried over by the 0002 upgrade' FROM cards"
    )


def downgrade() -> None:
    op.drop_table("card_states")

"""Initial fleet store: nodes, slots, cards, jobs, incidents, events, repairs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_EVENT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_STAGES = ("fault", "observed", "detected", "localized", "stopped", "restarted", "resumed")


def upgrade() -> None:
    op.create_table(
        "nodes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False, unique=True),
        sa.Column("rack", sa.String(255)),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_table(
        "slots",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("node_id", sa.Integer(), sa.ForeignKey("nodes.id"), nullable=False),
        sa.Column("idx", sa.Integer(), nullable=False),
        sa.Column("bus_id", sa.String(64)),
        sa.UniqueConstraint("node_id", "idx", name="uq_slots_node_idx"),
    )
    op.create_table(
        "cards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("serial", sa.String(128), unique=True),
        sa.Column("uuid", sa.String(128), unique=True),
        sa.Column("bus_id", sa.String(64)),
        sa.Column("vendor", sa.String(64)),
        sa.Column("model", sa.String(128)),
        sa.Column("slot_id", sa.Integer(), sa.ForeignKey("slots.id")),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("installed_at", sa.Double()),
        sa.Column("removed_at", sa.Double()),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
    )
    op.create_index("ix_cards_slot_id", "cards", ["slot_id"])
    op.create_index("ix_cards_state", "cards", ["state"])
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("world_size", sa.Integer()),
        sa.Column("started_at", sa.Double()),
        sa.Column("ended_at", sa.Double()),
        sa.Column("info", sa.JSON(), nullable=False),
    )
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("job_id", sa.String(255), sa.ForeignKey("jobs.id")),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("symptom", sa.String(32), nullable=False),
        sa.Column("fault", sa.String(128)),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("component", sa.String(32)),
        sa.Column("action", sa.String(32)),
        sa.Column("confidence", sa.Double()),
        sa.Column("rank", sa.Integer()),
        sa.Column("node_id", sa.Integer(), sa.ForeignKey("nodes.id")),
        sa.Column("slot_id", sa.Integer(), sa.ForeignKey("slots.id")),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cards.id")),
        *(sa.Column(f"{s}_at", sa.Double()) for s in _STAGES),
        sa.Column("action_taken", sa.String(32), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("recorded_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_incidents_at", "incidents", ["at"])
    op.create_index("ix_incidents_job_id", "incidents", ["job_id"])
    op.create_index("ix_incidents_slot_id", "incidents", ["slot_id"])
    op.create_index("ix_incidents_card_at", "incidents", ["card_id", "at"])
    op.create_index("ix_incidents_node_at", "incidents", ["node_id", "at"])
    op.create_table(
        "events",
        sa.Column("id", _EVENT_ID, primary_key=True),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("symptom", sa.String(32), nullable=False),
        sa.Column("node", sa.String(255)),
        sa.Column("rank", sa.Integer()),
        sa.Column("card_index", sa.Integer()),
        sa.Column("bus_id", sa.String(64)),
        sa.Column("card_id", sa.Integer()),
        sa.Column("incident_id", sa.String(255)),
        sa.Column("rule", sa.String(128)),
        sa.Column("fault", sa.String(128)),
        sa.Column("component", sa.String(32), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
    )
    op.create_index("ix_events_card_at", "events", ["card_id", "at"])
    op.create_index(
        "ix_events_incident_id",
        "events",
        ["incident_id"],
        sqlite_where=sa.text("incident_id IS NOT NULL"),
        postgresql_where=sa.text("incident_id IS NOT NULL"),
    )
    op.create_table(
        "repairs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("card_id", sa.Integer(), sa.ForeignKey("cards.id"), nullable=False),
        sa.Column("slot_id", sa.Integer(), sa.ForeignKey("slots.id")),
        sa.Column("incident_id", sa.String(255), sa.ForeignKey("incidents.id")),
        sa.Column("at", sa.Double(), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("parts", sa.JSON(), nullable=False),
        sa.Column("steps", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("technician", sa.String(128)),
        sa.Column("verification_test", sa.String(255)),
        sa.Column("verification_result", sa.String(8)),
        sa.Column("back_in_service_at", sa.Double()),
        sa.Column("replacement_card_id", sa.Integer(), sa.ForeignKey("cards.id")),
    )
    op.create_index("ix_repairs_slot_id", "repairs", ["slot_id"])
    op.create_index("ix_repairs_card_at", "repairs", ["card_id", "at"])


def downgrade() -> None:
    for table in ("repairs", "events", "incidents", "jobs", "cards", "slots", "nodes"):
        op.drop_table(table)

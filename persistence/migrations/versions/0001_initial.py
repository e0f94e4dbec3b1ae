"""Initial schema: definitions, users, cases, append-only events, timers, documents.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

from persistence.orm import RoleList, UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
OPEN_TIMER = "fired_at IS NULL AND cancelled_at IS NULL"
APPEND_ONLY = "events are append-only"


def upgrade() -> None:
    op.create_table(
        "definitions",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tier", sa.String(16)),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("deployed_at", UTCDateTime, nullable=False),
        sa.Column("compiled", sa.Text, nullable=False),
        sa.UniqueConstraint("name", "version", name="uq_definitions_name_version"),
    )
    op.create_table(
        "users",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("roles", RoleList, nullable=False),
        sa.Column("branch", sa.String(64)),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime),
    )
    op.create_table(
        "cases",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("customer_type", sa.String(16), nullable=False),
        sa.Column("rating", sa.String(16)),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("guarantee", sa.String(16), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("term_months", sa.Integer),
        sa.Column("priority", sa.String(8), nullable=False),
        sa.Column("tier", sa.String(8), nullable=False),
        sa.Column("branch", sa.String(64)),
        sa.Column("originator", sa.String(64), nullable=False),
        sa.Column("definition_name", sa.String(64), nullable=False),
        sa.Column("definition_version", sa.Integer, nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("participants", sa.JSON, nullable=False),
        sa.Column("votes", sa.JSON, nullable=False),
        sa.Column("escalation_level", sa.Integer, nullable=False),
        sa.Column("due_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("state_entered_at", UTCDateTime, nullable=False),
        sa.Column("last_activity_at", UTCDateTime, nullable=False),
        sa.Column("last_event_at", UTCDateTime, nullable=False),
        sa.Column("last_seq", sa.Integer, nullable=False),
        sa.Column("last_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_cases_position", "cases", ["definition_name", "definition_version", "state"]
    )
    op.create_index("ix_cases_state_tier", "cases", ["state", "tier"])
    op.create_index("ix_cases_due_at", "cases", ["due_at"])
    op.create_index("ix_cases_escalation", "cases", ["escalation_level"])
    op.create_table(
        "events",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("case_id", Id, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("from_state", sa.String(64)),
        sa.Column("to_state", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(64), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("comment", sa.Text),
        sa.Column("details", sa.JSON, nullable=False),
        sa.Column("definition_name", sa.String(64), nullable=False),
        sa.Column("definition_version", sa.Integer, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_table(
        "timers",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("case_id", Id, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("level", sa.Integer, nullable=False),
        sa.Column("state", sa.String(64), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=False),
        sa.Column("armed_seq", sa.Integer, nullable=False),
        sa.Column("fired_at", UTCDateTime),
        sa.Column("cancelled_at", UTCDateTime),
    )
    op.create_table(
        "documents",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("case_id", Id, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("template", sa.String(64), nullable=False),
        sa.Column("copy", sa.String(32), nullable=False),
        sa.Column("content", sa.Text, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("issued_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("case_id", "seq", "template", "copy", name="uq_documents_issue"),
    )
    where = {"sqlite_where": sa.text(OPEN_TIMER), "postgresql_where": sa.text(OPEN_TIMER)}
    op.create_index("ix_timers_open_due", "timers", ["due_at"], **where)
    op.create_index("ix_timers_open_case", "timers", ["case_id"], **where)
    _forbid_event_changes()


def _forbid_event_changes() -> None:
    """The database itself refuses UPDATE and DELETE on events (defence in depth)."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER events_no_{verb.lower()} BEFORE {verb} ON events "
                f"BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION loanflow_events_append_only() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{APPEND_ONLY}'; END $$"
    )
    op.execute(
        "CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON events "
        "FOR EACH ROW EXECUTE FUNCTION loanflow_events_append_only()"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
        op.execute("DROP FUNCTION IF EXISTS loanflow_events_append_only()")
    for table in ("documents", "timers", "events", "cases", "users", "definitions"):
        op.drop_table(table)

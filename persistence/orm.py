"""Tables, and how each plain domain class maps onto its table (a data mapper by hand).

loanflow maps its six classes itself instead of through SQLAlchemy's ORM: an action is a handful of
prebuilt Core statements, which cost a fifth of the ORM's flush and load machinery (see the
README's Performance section), and the CLI does not import `sqlalchemy.orm` at all.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    bindparam,
)
from sqlalchemy.engine import Row
from sqlalchemy.sql import Insert, Update
from sqlalchemy.types import TypeDecorator

from workflow.model import Case, DeployedDefinition, Document, Event, Timer, User

# The Alembic revision this code expects; tests check it is the migrations' head.
SCHEMA_REVISION = "0001"


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the backend keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; loanflow keeps aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class RoleList(TypeDecorator[tuple[str, ...]]):
    """A user's roles, kept as one comma-separated column."""

    impl = String(400)
    cache_ok = True

    def process_bind_param(self, value: tuple[str, ...] | None, dialect: Dialect) -> str | None:
        return None if value is None else ",".join(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> tuple[str, ...]:
        return tuple(value.split(",")) if value else ()


Id = BigInteger().with_variant(Integer(), "sqlite")  # INTEGER PRIMARY KEY is SQLite's rowid
metadata = MetaData()

definitions = Table(
    "definitions",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("kind", String(16), nullable=False),
    Column("tier", String(16)),
    Column("source", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("deployed_at", UTCDateTime, nullable=False),
    Column("compiled", Text, nullable=False),
    UniqueConstraint("name", "version", name="uq_definitions_name_version"),
)

users = Table(
    "users",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False, unique=True),
    Column("roles", RoleList, nullable=False),
    Column("branch", String(64)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", UTCDateTime),
)

cases = Table(
    "cases",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("customer_name", String(200), nullable=False),
    Column("customer_type", String(16), nullable=False),
    Column("rating", String(16)),
    Column("product", String(64), nullable=False),
    Column("guarantee", String(16), nullable=False),
    Column("amount_fen", BigInteger, nullable=False),
    Column("term_months", Integer),
    Column("priority", String(8), nullable=False),
    Column("tier", String(8), nullable=False),
    Column("branch", String(64)),
    Column("originator", String(64), nullable=False),
    Column("definition_name", String(64), nullable=False),
    Column("definition_version", Integer, nullable=False),
    Column("state", String(64), nullable=False),
    Column("participants", JSON, nullable=False),
    Column("votes", JSON, nullable=False),
    Column("escalation_level", Integer, nullable=False, default=0),
    Column("due_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("state_entered_at", UTCDateTime, nullable=False),
    Column("last_activity_at", UTCDateTime, nullable=False),
    Column("last_event_at", UTCDateTime, nullable=False),
    Column("last_seq", Integer, nullable=False),
    Column("last_hash", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Index("ix_cases_position", "definition_name", "definition_version", "state"),
    Index("ix_cases_state_tier", "state", "tier"),
    Index("ix_cases_due_at", "due_at"),
    Index("ix_cases_escalation", "escalation_level"),
)

events = Table(
    "events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("action", String(64), nullable=False),
    Column("from_state", String(64)),
    Column("to_state", String(64), nullable=False),
    Column("actor", String(64), nullable=False),
    Column("role", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("comment", Text),
    Column("details", JSON, nullable=False),
    Column("definition_name", String(64), nullable=False),
    Column("definition_version", Integer, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    UniqueConstraint("case_id", "seq", name="uq_events_case_seq"),
    Index("ix_events_at", "at"),
)

timers = Table(
    "timers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("level", Integer, nullable=False),
    Column("state", String(64), nullable=False),
    Column("due_at", UTCDateTime, nullable=False),
    Column("armed_seq", Integer, nullable=False),
    Column("fired_at", UTCDateTime),
    Column("cancelled_at", UTCDateTime),
    # The partial indexes on open timers (ix_timers_open_due, ix_timers_open_case) are created by
    # the migration: naming them here with postgresql_where would load the PostgreSQL dialect in
    # every process, SQLite ones included, for DDL that only the migration runs.
)

documents = Table(
    "documents",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("case_id", Id, ForeignKey("cases.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("template", String(64), nullable=False),
    Column("copy", String(32), nullable=False),
    Column("content", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    UniqueConstraint("case_id", "seq", "template", "copy", name="uq_documents_issue"),
)


@dataclass(frozen=True, eq=False)  # one per class: compared and hashed by identity
class Mapping:
    """How one domain class is stored: its table, the columns an UPDATE may change, and the
    column that counts committed changes (optimistic concurrency) if it has one.

    Every column is an attribute of the same name; `id` is the primary key.
    """

    cls: type[Any]
    table: Table
    mutable: tuple[str, ...] = ()
    version: str | None = None
    # Whether an inserted object joins the identity map, its id read back by RETURNING: users,
    # that admin commands read back and change. Events and documents never change; timers armed
    # by an action are changed by later transactions, or cancelled in bulk (which keeps them in
    # step in memory). RETURNING on the timers cost an action about a sixth of its speed.
    track_inserts: bool = False
    columns: tuple[str, ...] = field(init=False)
    insert: Insert = field(init=False)
    update: Update | None = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # a frozen dataclass's derived fields
        set_(self, "columns", tuple(c.name for c in self.table.columns if c.name != "id"))
        set_(self, "insert", self.table.insert())
        update = None
        if self.mutable:
            t = self.table
            # Prebuilt, so SQLAlchemy compiles it once per process; the SET clause comes from the
            # parameter names, the WHERE from these binds (named so they never clash with a column).
            update = t.update().where(t.c.id == bindparam("_id"))
            if self.version:
                update = update.where(t.c[self.version] == bindparam("_version"))
        set_(self, "update", update)

    def load(self, row: Row[Any]) -> Any:
        """The domain object for a row of every column."""
        return self.cls(**row._mapping)

    def values(self, obj: Any) -> dict[str, Any]:
        """The column values of an object, for an INSERT."""
        return {name: getattr(obj, name) for name in self.columns}


DEFINITION = Mapping(DeployedDefinition, definitions)
USER = Mapping(User, users, mutable=("roles", "branch", "active"), track_inserts=True)
# The service layer bumps `version` once per event; the UPDATE adds `WHERE version = <as read>`,
# so a writer that lost the race changes no row and its transaction is refused.
CASE = Mapping(
    Case,
    cases,
    # What the workflow changes; the application's own fields are written once, by `apply`.
    mutable=(
        "state",
        "participants",
        "votes",
        "escalation_level",
        "due_at",
        "state_entered_at",
        "last_activity_at",
        "last_event_at",
        "last_seq",
        "last_hash",
        "version",
    ),
    version="version",
)
EVENT = Mapping(Event, events)  # append-only: never updated
TIMER = Mapping(Timer, timers, mutable=("fired_at", "cancelled_at"))
DOCUMENT = Mapping(Document, documents)  # append-only: never updated
MAPPINGS: dict[type[Any], Mapping] = {
    m.cls: m for m in (DEFINITION, USER, CASE, EVENT, TIMER, DOCUMENT)
}

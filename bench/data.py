"""Databases for the benchmarks: migrated and staffed like a branch, filled fast, and the floor.

The *floor* is plain DB-API doing the writes an action must do, with the pragmas loanflow ships
with: update the case row with a version check, insert the event row with its hash, cancel and
arm the timer rows, one transaction per action.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from definitions.loader import bundled_parsed, parse_compiled
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from workflow import admin
from workflow.history import GENESIS_HASH
from workflow.policy import Application

T0 = datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
STAFF = {
    "wang": "account_manager",
    "li": "account_manager",
    "chen": "risk_officer",
    "zhou": "risk_officer",
    "sun": "reviewer",
    "zhao": "branch_head",
    "qian": "committee_member",
    "wu": "committee_member",
    "ma": "teller",
    "audit1": "auditor",
}
HIGH = Application(
    "Harvest Co", "corporate", None, "farm_machinery_loan", "mortgage", 80000000, 36, "normal"
)
# The high path, who takes each step, and (for the floor) where it leads.
HIGH_STEPS = [
    ("accept", "wang", "accepted", "account_manager", None),
    ("investigate", "wang", "investigated", "account_manager", None),
    ("cross_check", "li", "ab_checked", "account_manager", None),
    ("risk_review", "chen", "risk_reviewed", "risk_officer", None),
    ("vote", "qian", "risk_reviewed", "committee_member", "approve"),
    ("vote", "wu", "approved", "committee_member", "approve"),
    ("sign_contract", "zhou", "contract_signed", "risk_officer", None),
    ("review_account", "zhou", "account_reviewed", "risk_officer", None),
    ("re_review", "sun", "ready_to_disburse", "reviewer", None),
    ("disburse", "ma", "disbursed", "teller", None),
    ("confirm_use_of_funds", "wang", "funds_verified", "account_manager", None),
]
ACTIONS_PER_CASE = 1 + len(HIGH_STEPS)


class PlainRenderer:
    """Documents rendered by string formatting, so the benchmarks measure the workflow, not Jinja
    (the CLI renders Jinja templates, lazily, on the two steps that issue documents)."""

    def render(self, template: str, context: dict[str, Any]) -> str:
        return (
            f"<h1>{template}</h1><p>{context['case']['customer']} {context['case']['amount']}</p>"
        )


@dataclass
class Branch:
    """A migrated database with the definitions deployed and the staff added."""

    url: str
    engine: Engine

    def uow(self, *, write: bool = True) -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(self.engine, parse_compiled, write=write)


def sqlite_url(folder: Path, name: str) -> str:
    return f"sqlite:///{folder / name}"


def open_branch(url: str) -> Branch:
    """Migrate a fresh database at `url`, deploy the definitions and add the staff."""
    engine = make_engine(url)
    upgrade(engine)
    branch = Branch(url, engine)
    admin.deploy_definitions(branch.uow(), bundled_parsed(), T0)
    for name, role in STAFF.items():
        admin.add_user(branch.uow(), None, name, [role], "yingshang", T0)
    return branch


def dbapi_connect(url: str) -> Any:
    """A raw DB-API connection with loanflow's pragmas (SQLite) or autocommit off (PostgreSQL)."""
    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None, timeout=30)
        for pragma in (
            "journal_mode=WAL",
            "busy_timeout=30000",
            "synchronous=FULL",
            "foreign_keys=ON",
        ):
            conn.execute(f"PRAGMA {pragma}")
        return conn
    import psycopg

    return psycopg.connect(
        url.replace("postgresql+psycopg://", "postgresql://").split("?")[0] + _pg_options(url)
    )


def _pg_options(url: str) -> str:
    return "?" + url.split("?", 1)[1] if "?" in url else ""


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """BEGIN IMMEDIATE on SQLite (as loanflow does), a plain transaction on PostgreSQL."""
    cur = conn.cursor()
    if _is_sqlite(conn):
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            cur.execute("ROLLBACK")
            raise
        cur.execute("COMMIT")
    else:
        with conn.transaction():
            yield cur


def _is_sqlite(conn: Any) -> bool:
    return type(conn).__module__.startswith("sqlite3")


def sql(conn: Any, statement: str) -> str:
    """`?` placeholders for sqlite3, `%s` for psycopg."""
    return statement if _is_sqlite(conn) else statement.replace("?", "%s")


def stamp(conn: Any, at: datetime) -> Any:
    """A time as the column stores it: naive UTC text on SQLite, aware on PostgreSQL."""
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ") if _is_sqlite(conn) else at


def event_hash(fields: dict[str, Any]) -> str:
    """The SHA-256 of an event's canonical content (the same bytes as workflow.history)."""
    payload = {**fields, "at": fields["at"].astimezone(UTC).isoformat(timespec="microseconds")}
    data = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(data.encode()).hexdigest()


class FloorWriter:
    """The least an action must write, with plain DB-API: the floor the benchmarks compare with."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def apply(self, cur: Any, at: datetime) -> tuple[int, str]:
        """A new case and its first event; returns its id and the event's hash."""
        cur.execute(sql(self.conn, INSERT_CASE + " RETURNING id"), case_row(self.conn, at))
        case_id = int(cur.fetchone()[0])
        digest = self.step(
            cur, case_id, 0, None, "submitted", "apply", "wang", "account_manager", at, GENESIS_HASH
        )
        return case_id, digest

    def walk(self, at: datetime, bulk: Any = None) -> datetime:
        """One case down the whole high path: a transaction per action, or all in `bulk`."""

        def tx() -> Any:
            return transaction(self.conn) if bulk is None else nullcontext(bulk)

        with tx() as cur:
            case_id, digest = self.apply(cur, at)
        state, version = "submitted", 1
        for action, actor, to_state, role, _ in HIGH_STEPS:
            at += timedelta(minutes=1)
            with tx() as cur:
                digest = self.step(
                    cur, case_id, version, state, to_state, action, actor, role, at, digest
                )
            state, version = to_state, version + 1
        return at

    def populate(self, cases: int, at: datetime) -> datetime:
        """`cases` finished high-path cases, written in bulk (set-up, not measured)."""
        with transaction(self.conn) as cur:
            for _ in range(cases):
                at = self.walk(at, bulk=cur)
        return at

    def step(
        self,
        cur: Any,
        case_id: int,
        version: int,
        from_state: str | None,
        to_state: str,
        action: str,
        actor: str,
        role: str,
        at: datetime,
        prev_hash: str,
    ) -> str:
        fields = {
            "case_id": case_id,
            "seq": version + 1,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "actor": actor,
            "role": role,
            "at": at,
            "comment": None,
            "details": {},
            "definition_name": "high_risk",
            "definition_version": 1,
            "prev_hash": prev_hash,
        }
        digest = event_hash(fields)
        cur.execute(
            sql(self.conn, _UPDATE_CASE),
            (
                to_state,
                version + 1,
                version + 1,
                digest,
                stamp(self.conn, at),
                stamp(self.conn, at),
                case_id,
                version,
            ),
        )
        if cur.rowcount != 1:
            raise RuntimeError("the floor lost an optimistic race")
        cur.execute(
            sql(self.conn, INSERT_EVENT),
            (
                case_id,
                version + 1,
                action,
                from_state,
                to_state,
                actor,
                role,
                stamp(self.conn, at),
                "{}",
                "high_risk",
                1,
                prev_hash,
                digest,
            ),
        )
        cur.execute(sql(self.conn, _CANCEL_TIMERS), (stamp(self.conn, at), case_id))
        for kind, level, days in (("escalate", 1, 2), ("escalate", 2, 4), ("expire", 0, 30)):
            cur.execute(
                sql(self.conn, _ARM_TIMER),
                (
                    case_id,
                    kind,
                    level,
                    to_state,
                    stamp(self.conn, at + timedelta(days=days)),
                    version + 1,
                ),
            )
        return digest


def case_row(
    conn: Any, at: datetime, state: str = "submitted", due: datetime | None = None, seq: int = 0
) -> tuple[Any, ...]:
    """A high-risk case row for INSERT_CASE; `seq` events are taken as written (hash "seed")."""
    t = stamp(conn, at)
    return (
        "Harvest Co",
        "corporate",
        None,
        "farm_machinery_loan",
        "mortgage",
        80000000,
        36,
        "normal",
        "high",
        "yingshang",
        "wang",
        "high_risk",
        1,
        state,
        '{"originator": "wang"}',
        "{}",
        0,
        None if due is None else stamp(conn, due),
        t,
        t,
        t,
        t,
        seq,
        "seed" if seq else "",
        seq,
    )


INSERT_CASE = (
    "INSERT INTO cases (customer_name, customer_type, rating, product, guarantee, amount_fen, "
    "term_months, priority, tier, branch, originator, definition_name, definition_version, state, "
    "participants, votes, escalation_level, due_at, created_at, state_entered_at, "
    "last_activity_at, last_event_at, last_seq, last_hash, version) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_CASE = (
    "UPDATE cases SET state = ?, version = ?, last_seq = ?, last_hash = ?, last_activity_at = ?, "
    "last_event_at = ? WHERE id = ? AND version = ?"
)
INSERT_EVENT = (
    "INSERT INTO events (case_id, seq, action, from_state, to_state, actor, role, at, details, "
    "definition_name, definition_version, prev_hash, hash) VALUES "
    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_CANCEL_TIMERS = (
    "UPDATE timers SET cancelled_at = ? WHERE case_id = ? AND fired_at IS NULL "
    "AND cancelled_at IS NULL"
)
_ARM_TIMER = (
    "INSERT INTO timers (case_id, kind, level, state, due_at, armed_seq) VALUES (?, ?, ?, ?, ?, ?)"
)

"""The queries that must stay flat as the database grows use an index (SQLite's query plans)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

from definitions.loader import bundled_parsed, parse_compiled
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from workflow import admin, services
from workflow.escalation import fire_due_timers
from workflow.ports import CaseQuery

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def captured(tmp_path: Path) -> Iterator[tuple[Any, list[tuple[str, Any]]]]:
    """A migrated SQLite database, and the SELECTs run against it (SQL and parameters)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'plans.db'}")
    upgrade(engine)
    admin.deploy_definitions(SqlAlchemyUnitOfWork(engine, parse_compiled), bundled_parsed(), NOW)
    admin.add_user(
        SqlAlchemyUnitOfWork(engine, parse_compiled), None, "wang", ["account_manager"], "ys", NOW
    )
    seen: list[tuple[str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    yield SqlAlchemyUnitOfWork(engine, parse_compiled), seen
    engine.dispose()


def plans(uow: SqlAlchemyUnitOfWork, seen: list[tuple[str, Any]], table: str) -> list[str]:
    """The query plan of each captured SELECT that reads `table`."""
    found = []
    with uow:
        for statement, params in seen:
            if f"FROM {table}" in statement:
                rows = uow.connection.exec_driver_sql(
                    f"EXPLAIN QUERY PLAN {statement}", params
                ).all()
                found.append(" / ".join(str(r[-1]) for r in rows))
    return found


def test_list_overdue_searches_the_due_index(captured: Any) -> None:
    uow, seen = captured
    services.list_cases(uow, CaseQuery(overdue_at=NOW, limit=50))
    [plan] = plans(uow, seen, "cases")
    assert "USING INDEX ix_cases_due_at" in plan
    assert "SCAN cases" not in plan


def test_the_inbox_searches_by_position_not_by_scanning(captured: Any) -> None:
    uow, seen = captured
    services.inbox(uow, "wang", 50)
    [plan] = plans(uow, seen, "cases")
    assert "ix_cases_position" in plan
    assert "SCAN cases" not in plan


def test_the_sweep_claims_due_timers_through_the_partial_index(captured: Any) -> None:
    uow, seen = captured
    fire_due_timers(uow, NOW)
    claim = [p for p in plans(uow, seen, "timers") if "ix_timers_open_due" in p]
    assert claim, plans(uow, seen, "timers")


def test_a_case_s_events_are_read_by_their_unique_key(captured: Any) -> None:
    uow, seen = captured
    with uow:
        uow.events.for_case(1)
    [plan] = plans(uow, seen, "events")
    assert "SEARCH events USING INDEX" in plan  # the unique (case_id, seq) constraint's index
    assert "(case_id=?)" in plan

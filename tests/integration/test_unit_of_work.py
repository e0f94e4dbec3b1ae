"""The SQLAlchemy unit of work on a real SQLite file: atomicity, versions, reloads, migrations."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import DatabaseError

from definitions.loader import bundled_parsed, parse_compiled
from persistence.database import make_engine
from persistence.migrate import head_revision, upgrade
from persistence.orm import SCHEMA_REVISION
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from tests.dbs import dump
from workflow import admin, history, services
from workflow.errors import ConcurrentChange
from workflow.history import event_hash
from workflow.model import Case, Timer, User
from workflow.policy import Application

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
APP = Application(
    "Li Wei", "individual", "good", "small_farmer_credit", "credit", 450000, 12, "normal"
)


@pytest.fixture
def make_uow(db_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(db_url)
    upgrade(engine)

    def make() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(engine, parse_compiled)

    admin.deploy_definitions(make(), bundled_parsed(), NOW)
    for name, role in [("wang", "account_manager"), ("zhao", "branch_head"), ("ma", "teller")]:
        admin.add_user(make(), None, name, [role], "ys", NOW)
    yield make
    engine.dispose()


def reload(make_uow, case_id: int = 1) -> Case:  # type: ignore[no-untyped-def]
    """The case as a new transaction reads it."""
    with make_uow() as uow:
        case = uow.cases.get(case_id)
        assert case is not None
        return case


def test_the_code_expects_the_migrations_head() -> None:
    assert head_revision() == SCHEMA_REVISION


def test_each_step_reloads_exactly_as_it_was_left(make_uow) -> None:  # type: ignore[no-untyped-def]
    services.apply(make_uow(), "wang", APP, NOW)
    for hours, (action, actor) in enumerate(
        [("grant_credit", "wang"), ("approve", "zhao"), ("disburse", "ma")], start=1
    ):
        view = services.act(make_uow(), "LA-000001", action, actor, NOW + timedelta(hours=hours))
        case = reload(make_uow)
        assert (case.state, case.version, case.last_seq) == (view.state, hours + 1, hours + 1)
        assert case.state_entered_at == NOW + timedelta(hours=hours)
    with make_uow() as uow:
        events = uow.events.for_case(1)
        assert all(e.hash == event_hash(e) for e in events)  # survives the round trip exactly
        assert [e.at.tzinfo for e in events] == [UTC] * 4


def test_leaving_without_commit_rolls_everything_back(make_uow) -> None:  # type: ignore[no-untyped-def]
    services.apply(make_uow(), "wang", APP, NOW)
    with make_uow() as uow:
        case = uow.cases.get(1)
        assert case is not None
        case.state = "approved"
        uow.flush()
    assert reload(make_uow).state == "submitted"


def test_a_stale_version_is_a_concurrent_change_and_writes_nothing(make_uow) -> None:  # type: ignore[no-untyped-def]
    services.apply(make_uow(), "wang", APP, NOW)
    with make_uow() as uow:
        case = uow.cases.get(1)
        assert case is not None
        uow.connection.execute(text("UPDATE cases SET version = version + 1 WHERE id = 1"))
        case.state, case.version = "credit_granted", case.version + 1
        with pytest.raises(ConcurrentChange) as conflict:
            uow.commit()
    assert conflict.value.case_id == "LA-000001"
    assert reload(make_uow).version == 1


def test_events_are_append_only_in_the_database(make_uow) -> None:  # type: ignore[no-untyped-def]
    services.apply(make_uow(), "wang", APP, NOW)
    for statement in ("UPDATE events SET actor = 'eve'", "DELETE FROM events"):
        with make_uow() as uow, pytest.raises(DatabaseError, match="events are append-only"):
            uow.connection.execute(text(statement))


def test_migrating_twice_changes_nothing(db_url: str) -> None:
    engine = make_engine(db_url)
    assert upgrade(engine) == (None, SCHEMA_REVISION)
    before = dump(db_url)
    assert upgrade(engine) == (SCHEMA_REVISION, SCHEMA_REVISION)
    assert dump(db_url) == before
    engine.dispose()


def test_a_failed_savepoint_undoes_its_changes_and_the_rest_commits(make_uow) -> None:  # type: ignore[no-untyped-def]
    services.apply(make_uow(), "wang", APP, NOW)
    services.apply(make_uow(), "wang", APP, NOW)
    with make_uow() as uow:
        first, second = uow.cases.get(1), uow.cases.get(2)
        assert first is not None
        assert second is not None
        first.state, first.version = "credit_granted", first.version + 1
        uow.connection.execute(text("UPDATE cases SET version = version + 1 WHERE id = 2"))

        def change_second() -> None:
            second.state, second.votes["x"] = "approved", "approve"
            second.version += 1

        with pytest.raises(ConcurrentChange) as conflict, uow.savepoint():
            change_second()
        assert conflict.value.case_id == "LA-000002"
        assert (second.state, second.votes, second.version) == ("submitted", {}, 1)
        uow.commit()
    assert (reload(make_uow, 1).state, reload(make_uow, 1).version) == ("credit_granted", 2)
    assert (reload(make_uow, 2).state, reload(make_uow, 2).version) == ("submitted", 2)


def test_an_action_writes_only_the_case_columns_it_changed(make_uow) -> None:  # type: ignore[no-untyped-def]
    services.apply(make_uow(), "wang", APP, NOW)
    with make_uow() as uow:
        updates: list[str] = []
        event.listen(uow.connection, "before_cursor_execute", _capture(updates))
        case = uow.cases.get(1)
        assert case is not None
        case.escalation_level, case.version = 1, case.version + 1
        uow.commit()
    [statement] = [s for s in updates if s.startswith("UPDATE cases")]
    set_clause = statement.split(" WHERE ")[0]
    assert re.findall(r"(\w+)=", set_clause) == ["escalation_level", "version"]


def _capture(into: list[str]):  # type: ignore[no-untyped-def]
    def capture(_c, _cur, statement, *_):  # type: ignore[no-untyped-def]
        into.append(statement)

    return capture


def test_a_change_refused_at_a_savepoint_is_refused_again_at_commit(make_uow, db_url: str) -> None:  # type: ignore[no-untyped-def]
    services.apply(make_uow(), "wang", APP, NOW)
    before = dump(db_url)
    with make_uow() as uow:
        case = uow.cases.get(1)
        assert case is not None
        case.state = "credit_granted"
        history.append_event(uow, case, "grant_credit", "submitted", "a", "wang", NOW, None, {})
        uow.connection.execute(text("UPDATE cases SET version = version + 1 WHERE id = 1"))
        with pytest.raises(ConcurrentChange), uow.savepoint():
            pass  # the pending change is written first, and loses
        with pytest.raises(ConcurrentChange):
            uow.commit()  # still pending: never the event without its case
    assert dump(db_url) == before


def test_what_a_transaction_adds_it_reads_back_as_the_same_object(make_uow) -> None:  # type: ignore[no-untyped-def]
    services.apply(make_uow(), "wang", APP, NOW)
    with make_uow() as uow:
        added = User("sun", ("reviewer",), "ys")
        uow.users.add(added)
        assert uow.users.get("sun") is added
        added.active = False
        timer = Timer(1, "escalate", 9, "submitted", NOW + timedelta(days=9), 1)
        uow.timers.add(timer)
        uow.timers.cancel_pending(1, NOW)
        assert timer.cancelled_at == NOW
        uow.commit()
    with make_uow() as uow:
        sun = uow.users.get("sun")
        assert sun is not None
        assert not sun.active
        assert uow.timers.pending_for_case(1) == []

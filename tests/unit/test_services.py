"""The service layer over the fake unit of work: one commit per action, nothing left by refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.fakes import FakeUnitOfWork
from workflow import services
from workflow.errors import ActionRefused, InvalidInput, NotFound
from workflow.history import GENESIS_HASH, event_hash
from workflow.model import DeployedDefinition, User
from workflow.policy import Application
from workflow.spec import WorkflowSpec

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
APP = Application(
    "Li Wei", "individual", "good", "small_farmer_credit", "credit", 450000, 12, "normal"
)


@pytest.fixture
def uow() -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    for (name, version), spec in uow.definitions.specs.items():
        kind = "workflow" if isinstance(spec, WorkflowSpec) else name
        uow.definitions.add(
            DeployedDefinition(name, version, kind, getattr(spec, "tier", None), "", "", NOW)
        )
    for name, role in [("wang", "account_manager"), ("zhao", "branch_head"), ("ma", "teller")]:
        uow.users.add(User(name, (role,), "ys"))
    uow.commit()
    return uow


def test_apply_starts_the_case_on_its_tier_path_and_commits_once(uow: FakeUnitOfWork) -> None:
    view = services.apply(uow, "wang", APP, NOW)
    assert (view.id, view.tier, view.state, view.definition) == (
        "LA-000001",
        "low",
        "submitted",
        "low_risk",
    )
    assert uow.commits == 2
    [event] = uow.events.for_case(1)
    assert (event.seq, event.action, event.to_state, event.prev_hash) == (
        1,
        "apply",
        "submitted",
        GENESIS_HASH,
    )


def test_each_action_appends_one_event_chained_to_the_one_before(uow: FakeUnitOfWork) -> None:
    services.apply(uow, "wang", APP, NOW)
    services.act(uow, "LA-000001", "grant_credit", "wang", NOW + timedelta(hours=1))
    view = services.act(uow, "la-1", "approve", "zhao", NOW + timedelta(hours=2))
    events = uow.events.for_case(1)
    assert [e.seq for e in events] == [1, 2, 3]
    assert all(e.hash == event_hash(e) for e in events)
    assert [e.prev_hash for e in events[1:]] == [e.hash for e in events[:-1]]
    assert view.version == 3
    assert view.state == "approved"


def test_a_refused_action_writes_nothing(uow: FakeUnitOfWork) -> None:
    services.apply(uow, "wang", APP, NOW)
    commits = uow.commits
    with pytest.raises(ActionRefused):
        services.act(uow, "LA-000001", "approve", "zhao", NOW)
    assert uow.commits == commits
    assert len(uow.events.for_case(1)) == 1
    assert uow.cases.get(1).state == "submitted"  # type: ignore[union-attr]


def test_entering_a_state_arms_its_timers_and_leaving_cancels_them(uow: FakeUnitOfWork) -> None:
    services.apply(uow, "wang", APP, NOW)
    armed = uow.timers.pending_for_case(1)
    assert sorted((t.kind, t.level, t.due_at - NOW) for t in armed) == [
        ("escalate", 1, timedelta(days=2)),
        ("escalate", 2, timedelta(days=4)),
        ("expire", 0, timedelta(days=30)),
    ]
    later = NOW + timedelta(hours=3)
    services.act(uow, "LA-000001", "grant_credit", "wang", later)
    assert all(t.cancelled_at == later for t in armed)
    assert {t.state for t in uow.timers.pending_for_case(1)} == {"credit_granted"}


def test_vip_cases_get_half_the_sla(uow: FakeUnitOfWork) -> None:
    view = services.apply(uow, "wang", Application(**{**APP.__dict__, "priority": "vip"}), NOW)
    assert view.due_at == NOW + timedelta(days=1)


@pytest.mark.parametrize(
    ("actor", "error"), [(None, InvalidInput), ("nobody", NotFound), ("zhao", InvalidInput)]
)
def test_only_a_known_account_manager_may_apply(
    uow: FakeUnitOfWork, actor: str | None, error: type[Exception]
) -> None:
    with pytest.raises(error):
        services.apply(uow, actor, APP, NOW)
    assert uow.cases.rows == {}


def test_unknown_case_references_are_not_found(uow: FakeUnitOfWork) -> None:
    for ref in ("LA-000009", "nonsense", "LA-", "42"):
        with pytest.raises(NotFound):
            services.show_case(uow, ref, None)


def test_inbox_lists_the_cases_waiting_for_the_actors_work(uow: FakeUnitOfWork) -> None:
    services.apply(uow, "wang", APP, NOW)
    services.apply(uow, "wang", APP, NOW)
    services.act(uow, "LA-000001", "grant_credit", "wang", NOW)
    assert [v.id for v in services.inbox(uow, "zhao")] == ["LA-000001"]
    assert [v.id for v in services.inbox(uow, "wang")] == ["LA-000002"]  # LA-000001: withdraw only
    assert services.inbox(uow, "ma") == []


def test_an_action_is_never_dated_before_the_cases_last_event(uow: FakeUnitOfWork) -> None:
    services.apply(uow, "wang", APP, NOW)
    skewed = NOW - timedelta(seconds=3)  # another officer's machine runs a little behind
    services.act(uow, "LA-000001", "grant_credit", "wang", skewed)
    first, second = uow.events.for_case(1)
    assert second.at == first.at == NOW

"""Auditors' services: replay one case, verify every case, export events, report on a case.

Auditors read everything and change nothing: every function here opens read-only transactions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from workflow.errors import InvalidInput, LoanflowError
from workflow.model import Case, Document, Event, User, case_ref
from workflow.ports import AbstractUnitOfWork
from workflow.replay import Replay, Violation, replay
from workflow.services import CaseView, EventView, case_view, event_view, get_case, resolve_actor
from workflow.spec import WorkflowSpec
from workflow.timers import effective_sla

AUDIT_ROLES = ("auditor", "admin")
VERIFY_BATCH = 500
T = TypeVar("T", Event, Document)


@dataclass(frozen=True)
class Finding:
    """A broken case, as `audit verify` names it."""

    case_id: str
    seq: int | None
    problem: str


@dataclass
class VerifyReport:
    """The verdict on every case's history."""

    cases: int = 0
    events: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class DocumentView:
    """A document issued for a case."""

    seq: int
    template: str
    copy: str
    sha256: str
    issued_at: datetime
    content: str


@dataclass(frozen=True)
class StateVisit:
    """A stay in one state: when it began and ended, how long, and whether it broke its SLA."""

    state: str
    entered_at: datetime
    left_at: datetime | None
    duration: timedelta
    sla: timedelta | None
    breached: bool


@dataclass(frozen=True)
class CaseReport:
    """Everything the audit report of one case shows."""

    case: CaseView
    events: list[EventView]
    visits: list[StateVisit]
    documents: list[DocumentView]
    replay: Replay
    workflow: WorkflowSpec
    generated_at: datetime


def require_auditor(uow: AbstractUnitOfWork, name: str | None) -> User:
    """The actor, who must hold the auditor (or admin) role to use the audit commands."""
    user = resolve_actor(uow, name)
    if not set(user.roles) & set(AUDIT_ROLES):
        raise InvalidInput("actor", name, "audit commands are for auditors")
    return user


def replay_case(
    uow: AbstractUnitOfWork, ref: str, actor_name: str | None, at: datetime | None = None
) -> Replay:
    """Replay a case's history, to the moment `at` if given."""
    with uow:
        require_auditor(uow, actor_name)
        case = get_case(uow, ref)
        return _replay(
            uow,
            case,
            uow.events.for_case(case.id or 0),
            uow.documents.for_case(case.id or 0),
            _user_names(uow),
            at,
        )


def verify_history(
    uow: AbstractUnitOfWork,
    actor_name: str | None,
    progress: Callable[[int], None] | None = None,
    batch: int = VERIFY_BATCH,
) -> VerifyReport:
    """Check every case's hash chain and replay, `batch` cases per read transaction."""
    with uow:
        require_auditor(uow, actor_name)
        users = _user_names(uow)
    report = VerifyReport()
    after = 0
    while True:
        with uow:
            cases = list(uow.cases.batch_after(after, batch))
            if not cases:
                return report
            ids = [c.id or 0 for c in cases]
            by_case = _group(uow.events.for_cases(ids))
            docs = _group(uow.documents.for_cases(ids))
            for case in cases:
                events = by_case.get(case.id or 0, [])
                result = _replay(uow, case, events, docs.get(case.id or 0, []), users)
                report.cases += 1
                report.events += len(events)
                if result.violation is not None:
                    report.findings.append(_finding(result.violation))
            after = ids[-1]
        if progress:
            progress(len(cases))


def count_cases(uow: AbstractUnitOfWork) -> int:
    """How many cases there are (for a progress bar)."""
    with uow:
        return uow.cases.count()


def iter_events(
    uow: AbstractUnitOfWork, actor_name: str | None, since: datetime | None, batch: int = 1000
) -> Iterator[tuple[str, EventView]]:
    """Every event at or after `since`, in the order written, with its case id.

    The actor is checked at once, before anything is yielded (and so before anything is written).
    """
    with uow:
        require_auditor(uow, actor_name)
    return _stream_events(uow, since, batch)


def _stream_events(
    uow: AbstractUnitOfWork, since: datetime | None, batch: int
) -> Iterator[tuple[str, EventView]]:
    after = 0
    while True:
        with uow:
            found = list(uow.events.batch_after(after, since, batch))
            views = [(_ref(e), event_view(e)) for e in found]
            after = found[-1].id or 0 if found else after
        if not views:
            return
        yield from views


def list_documents(uow: AbstractUnitOfWork, ref: str) -> list[DocumentView]:
    """The documents issued for a case, in the order issued."""
    with uow:
        case = get_case(uow, ref)
        return [_document_view(d) for d in uow.documents.for_case(case.id or 0)]


def case_report(
    uow: AbstractUnitOfWork, ref: str, actor_name: str | None, now: datetime
) -> CaseReport:
    """The audit report of a case: timeline, time in each state against its SLA, documents and
    the replay verdict."""
    with uow:
        require_auditor(uow, actor_name)
        case = get_case(uow, ref)
        workflow = uow.definitions.workflow(case.definition_name, case.definition_version)
        events = list(uow.events.for_case(case.id or 0))
        documents = list(uow.documents.for_case(case.id or 0))
        verdict = _replay(uow, case, events, documents, _user_names(uow))
        return CaseReport(
            case=case_view(case, workflow),
            events=[event_view(e) for e in events],
            visits=_visits(events, case, workflow, now),
            documents=[_document_view(d) for d in documents],
            replay=verdict,
            workflow=workflow,
            generated_at=now,
        )


def _replay(
    uow: AbstractUnitOfWork,
    case: Case,
    events: Sequence[Event],
    documents: Sequence[Document],
    users: dict[str, tuple[str, ...]],
    at: datetime | None = None,
) -> Replay:
    try:
        workflow = uow.definitions.workflow(case.definition_name, case.definition_version)
    except LoanflowError as err:  # a case pinned to nothing deployed is a finding, not a crash
        failed = Replay(case.ref, case.definition_name, case.definition_version, at)
        failed.violation = Violation(case.ref, None, f"its definition cannot be loaded: {err}")
        return failed
    return replay(case, events, workflow, users, documents, at)


def _visits(
    events: list[Event], case: Case, workflow: WorkflowSpec, now: datetime
) -> list[StateVisit]:
    visits: list[StateVisit] = []
    entered: tuple[str, datetime] | None = None
    for e in events:
        if e.from_state == e.to_state:
            continue
        if entered:
            visits.append(_visit(entered, e.at, case, workflow))
        entered = (e.to_state, e.at)
    if entered and not workflow.is_terminal(entered[0]):
        visits.append(_visit(entered, None, case, workflow, now))
    return visits


def _visit(
    entered: tuple[str, datetime],
    left: datetime | None,
    case: Case,
    workflow: WorkflowSpec,
    now: datetime | None = None,
) -> StateVisit:
    state, at = entered
    end = left or now or at
    spec = workflow.state(state).timers
    sla = effective_sla(spec, case.priority) if spec and spec.sla else None
    return StateVisit(state, at, left, end - at, sla, bool(sla and end - at > sla))


def _group(rows: Iterable[T]) -> dict[int, list[T]]:
    grouped: dict[int, list[T]] = {}
    for row in rows:
        grouped.setdefault(row.case_id, []).append(row)
    return grouped


def _user_names(uow: AbstractUnitOfWork) -> dict[str, tuple[str, ...]]:
    return {u.name: tuple(u.roles) for u in uow.users.list()}


def _ref(e: Event) -> str:
    return case_ref(e.case_id)


def _document_view(d: Document) -> DocumentView:
    return DocumentView(d.seq, d.template, d.copy, d.sha256, d.issued_at, d.content)


def _finding(v: Violation) -> Finding:
    return Finding(v.case_id, v.seq, v.problem)

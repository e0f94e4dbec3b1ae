"""Replay: re-run a case's history through the machine of its pinned definition, checking each step.

Pure: it is given the stored case row, its events (in seq order) and documents, and the spec.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflow import history, timers
from workflow.engine import engine_for
from workflow.errors import LoanflowError
from workflow.model import Actor, Case, Document, Event
from workflow.policy import format_fen
from workflow.spec import EXPIRE, SYSTEM_ACTOR, SYSTEM_ROLE, WorkflowSpec

APPLY, ESCALATE = "apply", "escalate"
ROW_FIELDS = (
    "state",
    "version",
    "last_seq",
    "last_hash",
    "escalation_level",
    "participants",
    "votes",
    "state_entered_at",
    "last_activity_at",
    "last_event_at",
    "due_at",
)
APPLICATION_FIELDS = {
    "tier": "tier",
    "branch": "branch",
    "customer": "customer_name",
    "customer_type": "customer_type",
    "rating": "rating",
    "product": "product",
    "guarantee": "guarantee",
    "term_months": "term_months",
    "priority": "priority",
}


class Violation(Exception):
    """The first thing wrong with a case's history: which case, which event, what."""

    def __init__(self, case_id: str, seq: int | None, problem: str) -> None:
        self.case_id, self.seq, self.problem = case_id, seq, problem
        where = f"seq {seq}" if seq is not None else "case row"
        super().__init__(f"{case_id} {where}: {problem}")


@dataclass(frozen=True)
class ReplayStep:
    """One event as replayed."""

    seq: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    at: datetime
    legal: bool


@dataclass
class Replay:
    """The verdict on a case's history, and the case as replayed (as of `as_of`, if given)."""

    case_id: str
    definition: str
    definition_version: int
    as_of: datetime | None
    steps: list[ReplayStep] = field(default_factory=list)
    violation: Violation | None = None
    state: str | None = None
    escalation_level: int = 0
    participants: dict[str, str] = field(default_factory=dict)
    votes: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the whole history checked out."""
        return self.violation is None


def replay(
    case: Case,
    events: Iterable[Event],
    workflow: WorkflowSpec,
    users: Mapping[str, tuple[str, ...]],
    documents: Sequence[Document] = (),
    until: datetime | None = None,
) -> Replay:
    """Replay `events` of `case`; stop at the first violation, or after the last event <= `until`.

    Without `until`, the stored case row must equal the replayed case.
    """
    result = Replay(case.ref, case.definition_name, case.definition_version, until)
    checker = _Checker(case, workflow, users, documents)
    try:
        for event in events:
            if until is not None and event.at > until:
                break
            checker.check(event)
            result.steps.append(_step(event))
        checker.finish(check_row=until is None)
    except Violation as violation:
        result.violation = violation
        current = checker.current
        if current is not None and violation.seq == current.seq:
            result.steps.append(_step(current, legal=False))
    shadow = checker.shadow
    if shadow is not None:
        result.state, result.escalation_level = shadow.state, shadow.escalation_level
        result.participants, result.votes = dict(shadow.participants), dict(shadow.votes)
    return result


def _step(event: Event, legal: bool = True) -> ReplayStep:
    return ReplayStep(
        event.seq,
        event.action,
        event.from_state,
        event.to_state,
        event.actor,
        event.role,
        event.at,
        legal,
    )


class _Checker:
    """Walks the events one by one, keeping a shadow of the case as the history says it is."""

    def __init__(
        self,
        case: Case,
        workflow: WorkflowSpec,
        users: Mapping[str, tuple[str, ...]],
        documents: Sequence[Document],
    ) -> None:
        self.case, self.workflow, self.users = case, workflow, users
        self.documents = {(d.seq, d.template, d.copy): d for d in documents}
        self.listed: set[tuple[int, str, str]] = set()
        self.engine = engine_for(workflow)
        self.shadow: Case | None = None
        self.current: Event | None = None
        self.prev: Event | None = None

    def fail(self, problem: str, seq: int | None = None) -> Violation:
        return Violation(
            self.case.ref, self.current.seq if seq is None and self.current else seq, problem
        )

    def check(self, event: Event) -> None:
        self.current = event
        self._chain(event)
        if event.seq == 1:
            self._apply(event)
        else:
            self._move(event)
        self._documents(event)
        assert self.shadow is not None
        history.advance(self.shadow, event)
        self.prev = event

    def _chain(self, e: Event) -> None:
        expected = self.prev.seq + 1 if self.prev else 1
        if e.seq != expected:
            raise self.fail(
                f"expected seq {expected}, found {e.seq}: an event is missing or was inserted"
            )
        linked = self.prev.hash if self.prev else history.GENESIS_HASH
        if e.prev_hash != linked:
            raise self.fail(
                "prev_hash does not match the previous event's hash: events were "
                "reordered, inserted or removed"
            )
        if e.hash != history.event_hash(e):
            raise self.fail("content does not match its hash: the row was altered")
        if (e.definition_name, e.definition_version) != (
            self.case.definition_name,
            self.case.definition_version,
        ):
            raise self.fail(
                f"event claims {e.definition_name} v{e.definition_version}, the case "
                f"is pinned to {self.case.definition_name} "
                f"v{self.case.definition_version}"
            )
        if self.prev and e.at < self.prev.at:
            raise self.fail("time runs backwards from the previous event")

    def _apply(self, e: Event) -> None:
        wf = self.workflow
        if (e.action, e.from_state, e.to_state, e.role) != (
            APPLY,
            None,
            wf.initial,
            "account_manager",
        ):
            raise self.fail(f"the first event must be an application entering {wf.initial}")
        self._known(e)
        for key, attribute in APPLICATION_FIELDS.items():
            if e.details.get(key) != getattr(self.case, attribute):
                raise self.fail(f"the case row's {key} differs from the application", 1)
        if e.details.get("amount") != format_fen(self.case.amount_fen):
            raise self.fail("the case row's amount differs from the application", 1)
        if (self.case.originator, self.case.created_at) != (e.actor, e.at):
            raise self.fail(
                "the case row's originator or creation time differs from the application", 1
            )
        self.shadow = dataclasses.replace(
            self.case,
            state=wf.initial,
            participants={"originator": e.actor},
            votes={},
            escalation_level=0,
            due_at=None,
            last_seq=0,
            last_hash="",
            version=0,
            created_at=e.at,
            state_entered_at=e.at,
            last_activity_at=e.at,
            last_event_at=e.at,
        )
        self.shadow.due_at = timers.sla_due_at(self.shadow, wf)

    def _move(self, e: Event) -> None:
        shadow = self.shadow
        assert shadow is not None
        if e.from_state != shadow.state:
            raise self.fail(f"recorded from {e.from_state} but the case was in {shadow.state}")
        before = shadow.state
        if e.action == ESCALATE:
            self._escalate(e, shadow)
        elif e.action == EXPIRE:
            self._expire(e, shadow)
        else:
            self._person(e, shadow)
        if shadow.state != e.to_state:
            raise self.fail(f"recorded to {e.to_state} but the definition leads to {shadow.state}")
        if shadow.state != before:
            shadow.enter_state(e.at)
        shadow.due_at = timers.sla_due_at(shadow, self.workflow)

    def _person(self, e: Event, shadow: Case) -> None:
        self._known(e)
        vote = e.details.get("vote")
        try:
            step = self.engine.fire(
                shadow, e.action, Actor(e.actor, frozenset({e.role})), e.at, e.comment, vote
            )
        except LoanflowError as err:
            raise self.fail(f"illegal step: {err}") from err
        expected = dict(step.details)
        recorded = {k: v for k, v in e.details.items() if k != "documents"}
        if recorded != expected:
            raise self.fail(f"details {recorded} differ from the replayed {expected}")
        if [(d.template, list(d.copies)) for d in step.documents] != _issued(e):
            raise self.fail("the documents recorded differ from those the step issues")

    def _escalate(self, e: Event, shadow: Case) -> None:
        self._system(e)
        spec = self.workflow.state(shadow.state).timers
        level = e.details.get("level")
        if spec is None or level not in spec.escalation_levels or level <= shadow.escalation_level:
            raise self.fail(f"escalation to level {level} is not on this state's ladder")
        due = shadow.state_entered_at + timers.effective_sla(spec, shadow.priority) * level
        self._after_due(e, due)
        shadow.escalation_level = level

    def _expire(self, e: Event, shadow: Case) -> None:
        self._system(e)
        spec = self.workflow.state(shadow.state).timers
        if spec is None or not self.engine.can_expire(shadow):
            raise self.fail(f"a case cannot expire from {shadow.state}")
        self._after_due(e, shadow.last_activity_at + spec.idle_expiry)
        self.engine.expire(shadow, e.at)

    def _after_due(self, e: Event, due: datetime) -> None:
        if e.details.get("due_at") != history.canonical_time(due):
            raise self.fail(
                f"timer recorded due at {e.details.get('due_at')}, the definition "
                f"says {history.canonical_time(due)}"
            )
        if e.at < due:
            raise self.fail(f"timer fired at {history.canonical_time(e.at)}, before it was due")

    def _system(self, e: Event) -> None:
        if (e.actor, e.role) != (SYSTEM_ACTOR, SYSTEM_ROLE):
            raise self.fail(f"{e.action} is the scheduler's; recorded by {e.actor} ({e.role})")

    def _known(self, e: Event) -> None:
        """The actor is a user who holds the role recorded (roles are never taken away: users are
        disabled instead, so the roles held now are the roles held then)."""
        if e.actor == SYSTEM_ACTOR or e.actor not in self.users:
            raise self.fail(f"{e.actor!r} is not a known user")
        if e.role not in self.users[e.actor]:
            raise self.fail(f"{e.actor} does not hold the role {e.role} recorded for them")

    def _documents(self, e: Event) -> None:
        for listed in e.details.get("documents", []):
            key = (e.seq, listed["template"], listed["copy"])
            self.listed.add(key)
            stored = self.documents.get(key)
            if stored is None:
                raise self.fail(f"document {listed['template']} ({listed['copy']}) is missing")
            digest = hashlib.sha256(stored.content.encode()).hexdigest()
            if digest != listed["sha256"] or stored.sha256 != digest:
                raise self.fail(f"document {listed['template']} ({listed['copy']}) was altered")

    def finish(self, check_row: bool) -> None:
        if self.shadow is None:
            raise Violation(self.case.ref, None, "the case has no history")
        if not check_row:
            return
        unlisted = sorted(set(self.documents) - self.listed)
        if unlisted:
            seq, template, copy = unlisted[0]
            raise Violation(
                self.case.ref, seq, f"document {template} ({copy}) is listed by no event"
            )
        for name in ROW_FIELDS:
            stored, replayed = getattr(self.case, name), getattr(self.shadow, name)
            if stored != replayed:
                raise Violation(
                    self.case.ref,
                    None,
                    f"stored {name} {_show(stored)} but the history gives {_show(replayed)}",
                )


def _issued(e: Event) -> list[tuple[str, list[str]]]:
    grouped: dict[str, list[str]] = {}
    for listed in e.details.get("documents", []):
        grouped.setdefault(listed["template"], []).append(listed["copy"])
    return list(grouped.items())


def _show(value: Any) -> str:
    return history.canonical_time(value) if isinstance(value, datetime) else repr(value)

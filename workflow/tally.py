"""Running totals of the service indicators over a stream of events (pure; see indicators.py for
the definitions they implement)."""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby
from operator import itemgetter

from workflow.ports import HistoryRow
from workflow.spec import RETURN, SYSTEM_ACTOR, WITHDRAW, StateSpec, WorkflowSpec
from workflow.timers import effective_sla

APPLY, ESCALATE = "apply", "escalate"
UNMEASURED = frozenset({APPLY, WITHDRAW})  # not work that waited on the officer: no turnaround
DECISIONS = frozenset({"approved", "rejected"})
OUTCOMES = frozenset({"disbursed", "rejected", "withdrawn", "expired"})
OFFICER, QUEUE = "officer", "queue"
SpecLookup = Callable[[str, int], WorkflowSpec]
BlameKey = tuple[str, str, str, str]  # tier, state, OFFICER or QUEUE, officer or queue roles
Cell = tuple[str | None, str, str]  # branch, tier, priority


def percentile(ordered: Sequence[float], p: int) -> float | None:
    """The nearest-rank p-th percentile of sorted values: the value at rank ceil(p/100 x n)."""
    if not ordered:
        return None
    rank = max(1, -(-p * len(ordered) // 100))  # the ceiling in integers: no rounding error
    return ordered[rank - 1]


def _samples() -> array[float]:
    return array("d")  # 8 bytes a value: a county's month is millions of them


@dataclass
class Totals:
    """Running totals of one officer, branch, tier, priority, or of everything in scope."""

    actions: Counter[str] = field(default_factory=Counter)
    turnaround: array[float] = field(default_factory=_samples)  # seconds
    ratios: array[float] = field(default_factory=_samples)  # turnaround / SLA
    decisions: array[float] = field(default_factory=_samples)  # seconds
    finished: Counter[str] = field(default_factory=Counter)
    breaches: int = 0
    pending: int = 0
    escalations: int = 0
    returns_given: int = 0
    returns_received: int = 0


@dataclass
class StateTotals:
    """Running totals of one state of a tier's path."""

    order: int  # the state's place in its definition, for listing
    sla: float | None  # seconds, for normal priority
    time: array[float] = field(default_factory=_samples)
    breaches: int = 0
    pending: int = 0
    escalations: int = 0


@dataclass(frozen=True)
class Overdue:
    """A visit open past its SLA at the end of the period."""

    overdue_seconds: float
    case_id: int
    tier: str
    priority: str
    state: str
    entered_at: datetime
    queue: str


@dataclass
class _Walk:
    """Where one case stands while its events stream past."""

    first: HistoryRow
    spec: WorkflowSpec
    cell: Totals  # the totals of the case's branch, tier and priority
    state: str
    entered: datetime
    escalations: int = 0  # in the period, during the current visit: attributed when it ends
    sla: float | None = None  # the current state's SLA for this case, in seconds
    here: StateTotals | None = None  # the current state's totals, once needed
    decided: bool = False
    forward: dict[str, str] = field(default_factory=dict)  # state -> who last moved it there


class Tally:
    """The indicators' running totals over history rows ordered by case, then seq.

    Args:
        start: the period's first moment (UTC).
        end: the moment after the period.
        as_of: when visits still open are judged: the period's end, or now if that is earlier.
        lookup: the pinned definition of a case.
    """

    def __init__(self, start: datetime, end: datetime, as_of: datetime, lookup: SpecLookup) -> None:
        self.start, self.end, self.as_of, self.lookup = start, end, as_of, lookup
        self.officers: defaultdict[str, Totals] = defaultdict(Totals)
        # One cell per (branch, tier, priority), merged into each grouping at the end: an event
        # updates two totals (its officer's and its cell), not five.
        self.cells: defaultdict[Cell, Totals] = defaultdict(Totals)
        self.states: dict[tuple[str, str], StateTotals] = {}
        self.blame: defaultdict[BlameKey, Counter[str]] = defaultdict(Counter)
        self.overdue: list[Overdue] = []
        self._slas: dict[tuple[str, int, str, str], float | None] = {}

    def add(self, rows: Iterable[HistoryRow]) -> None:
        """Take in the events of any number of cases, each case's events together and in order."""
        for _, case_rows in groupby(rows, key=itemgetter(0)):
            self._case(list(case_rows))

    def _case(self, rows: list[HistoryRow]) -> None:
        first = rows[0]
        cell = self.cells[(first.branch, first.tier, first.priority)]
        spec = self.lookup(first.definition_name, first.definition_version)
        walk = _Walk(first, spec, cell, first.to_state, first.at)
        walk.sla = self._sla(walk, first.priority)
        walk.forward[first.to_state] = first.actor
        if self.start <= first.at < self.end:
            self._action(walk, first)
        for row in rows[1:]:
            if row.at >= self.end:
                break  # the period is judged as it stood at its end, whenever it is read
            self._event(walk, row)
        self._close(walk)

    def _event(self, walk: _Walk, row: HistoryRow) -> None:
        in_period = self.start <= row.at < self.end
        if row.actor == SYSTEM_ACTOR and row.action == ESCALATE:
            if in_period:
                self._escalation(walk)
            return
        if in_period and row.actor != SYSTEM_ACTOR:
            self._action(walk, row)
        if row.to_state != walk.state:
            self._leave(walk, row, in_period)

    def _escalation(self, walk: _Walk) -> None:
        walk.escalations += 1
        self._state(walk).escalations += 1
        walk.cell.escalations += 1

    def _action(self, walk: _Walk, row: HistoryRow) -> None:
        officer, cell = self.officers[row.actor], walk.cell
        officer.actions[row.action] += 1
        cell.actions[row.action] += 1
        if row.action in UNMEASURED:
            return
        waited = (row.at - walk.entered).total_seconds()
        officer.turnaround.append(waited)
        cell.turnaround.append(waited)
        sla = walk.sla
        if sla:
            officer.ratios.append(waited / sla)
            cell.ratios.append(waited / sla)
        if row.action == RETURN:
            officer.returns_given += 1
            cell.returns_given += 1
            receiver = walk.forward.get(walk.state)
            if receiver:
                self.officers[receiver].returns_received += 1

    def _leave(self, walk: _Walk, row: HistoryRow, in_period: bool) -> None:
        """The event ends the current visit and starts the next."""
        # Expiry and the customer's withdrawal end a visit nobody acted on: the queue answers.
        if row.actor == SYSTEM_ACTOR or row.action == WITHDRAW:
            who = (QUEUE, queue_of(walk.spec, walk.state))
        else:
            who = (OFFICER, row.actor)
        if walk.escalations:
            self.blame[self._key(walk, who)]["escalations"] += walk.escalations
        if in_period:
            self._ended(walk, (row.at - walk.entered).total_seconds(), who)
            if row.to_state in OUTCOMES:
                walk.cell.finished[row.to_state] += 1
        if row.to_state in DECISIONS and not walk.decided:
            walk.decided = True
            if in_period:
                walk.cell.decisions.append((row.at - walk.first.at).total_seconds())
        if row.action != RETURN:
            walk.forward[row.to_state] = row.actor
        walk.state, walk.entered, walk.escalations, walk.here = row.to_state, row.at, 0, None
        walk.sla = self._sla(walk, walk.first.priority)

    def _ended(self, walk: _Walk, waited: float, who: tuple[str, str]) -> None:
        state = self._state(walk)
        state.time.append(waited)
        sla = walk.sla
        if sla is not None and waited > sla:
            state.breaches += 1
            self.blame[self._key(walk, who)]["breaches"] += 1
            walk.cell.breaches += 1

    def _close(self, walk: _Walk) -> None:
        """The visit still open at the end of the period: its queue answers for it."""
        state_spec = _state_spec(walk.spec, walk.state)
        if state_spec is None or state_spec.terminal:
            return
        queue = queue_of(walk.spec, walk.state)
        key = self._key(walk, (QUEUE, queue))
        if walk.escalations:
            self.blame[key]["escalations"] += walk.escalations
        sla = walk.sla
        waited = (self.as_of - walk.entered).total_seconds()
        if sla is None or waited <= sla:
            return
        self.blame[key]["pending"] += 1
        self._state(walk).pending += 1
        walk.cell.pending += 1
        first = walk.first
        self.overdue.append(
            Overdue(
                waited - sla,
                first.case_id,
                first.tier,
                first.priority,
                walk.state,
                walk.entered,
                queue,
            )
        )

    def grouped(self, part: int | None) -> dict[str | None, Totals]:
        """The cells merged by branch (part 0), tier (1) or priority (2); None: into one."""
        merged: dict[str | None, Totals] = {}
        for key, cell in self.cells.items():
            into = merged.setdefault(None if part is None else key[part], Totals())
            into.actions.update(cell.actions)
            into.finished.update(cell.finished)
            for name in ("turnaround", "ratios", "decisions"):
                getattr(into, name).extend(getattr(cell, name))
            for name in ("breaches", "pending", "escalations", "returns_given", "returns_received"):
                setattr(into, name, getattr(into, name) + getattr(cell, name))
        return merged

    def _key(self, walk: _Walk, who: tuple[str, str]) -> BlameKey:
        return (walk.first.tier, walk.state, *who)

    def _state(self, walk: _Walk) -> StateTotals:
        if walk.here is None:
            key = (walk.first.tier, walk.state)
            found = self.states.get(key)
            if found is None:
                order = path_order(walk.spec).get(walk.state, 0)
                found = self.states[key] = StateTotals(order, self._sla(walk, "normal"))
            walk.here = found
        return walk.here

    def _sla(self, walk: _Walk, priority: str) -> float | None:
        """The SLA in seconds of the walk's current state for a priority (cached)."""
        key = (walk.spec.name, walk.spec.version, walk.state, priority)
        if key not in self._slas:
            state = _state_spec(walk.spec, walk.state)
            timers = state.timers if state else None
            sla = effective_sla(timers, priority) if timers and timers.sla else None
            self._slas[key] = sla.total_seconds() if sla else None
        return self._slas[key]


def queue_of(spec: WorkflowSpec, state: str) -> str:
    """The roles that could move the work on from `state`, joined by "/"."""
    work = spec.work_actions_from(state)
    roles = dict.fromkeys(t.role for t in spec.transitions_from(state) if t.action in work)
    return "/".join(roles) or "-"


def path_order(spec: WorkflowSpec) -> dict[str, int]:
    """Each state's place along the path: the initial state, then in the order the definition's
    steps leave and enter them (what a reader expects, whatever order the states are stored in)."""
    found = _ORDERS.get((spec.name, spec.version))
    if found is None:
        ends = (end for t in spec.transitions for end in (t.source, t.dest) if end)
        names = dict.fromkeys([spec.initial, *ends, *(s.name for s in spec.states)])
        found = _ORDERS[(spec.name, spec.version)] = {name: i for i, name in enumerate(names)}
    return found


_ORDERS: dict[tuple[str, int], dict[str, int]] = {}


def _state_spec(spec: WorkflowSpec, state: str) -> StateSpec | None:
    return next((s for s in spec.states if s.name == state), None)

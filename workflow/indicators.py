"""Service indicators: the monthly assessment of officers, branches and tiers that seed 002 asks
for, computed from the event history alone (the rows auditors replay) in one streamed pass.

Definitions (the README's "Service indicators" says the same):

- A *visit* is a stay of a case in one state: from the event that put the case there (its first
  event, or any event whose to_state differs from its from_state) to the next event that moves it
  elsewhere. Escalations and undecided votes do not end a visit.
- An officer's *turnaround* for an action is the time from the start of the visit in which they
  took it (the moment the case became actionable by them) to the action. Every person's action
  but `apply` and `withdraw` is *measured*; its *turnaround ratio* divides the turnaround by the
  state's SLA for the case (halved for VIP). Ratios exist only in states with an SLA.
- *Time to decision* runs from the case's first event (`apply`: it enters `submitted`) to its first
  entry into `approved` or `rejected`, counted in the period of that entry.
- An *SLA breach* is a visit that lasted longer than its state's SLA for the case. It counts in
  the period in which the visit ended, attributed to the officer whose action ended it, or to the
  *queue* (the roles that could act in that state) when it ended by expiry or withdrawal. A visit
  still open at the end of the period and past its SLA is *pending*, attributed to the queue.
- *Escalations* (`escalate` events by `system`) count in the period they happen, and are
  attributed like the visit they happened in.
- A *return* is given by the officer who returned the case and received by the officer who last
  moved the case forward into the state it was returned from.
- *Percentiles* are nearest-rank: the p-th is the value at rank ceil(p/100 x n) of the sorted
  values; the median is the 50th, so for an even count it is the lower middle value.
- An event belongs to the period when its time, in the cooperative's time zone, falls in it; open
  visits are judged at the period's end, or now if the period is not over.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from workflow.errors import InvalidInput, NotFound
from workflow.model import User, case_ref
from workflow.periods import Period
from workflow.ports import AbstractUnitOfWork, HistoryQuery
from workflow.services import resolve_actor
from workflow.spec import ServiceRating, WorkflowSpec
from workflow.tally import OFFICER, QUEUE, Overdue, Tally, Totals, percentile

RATING = "service_rating"
READERS = ("branch_head", "auditor", "admin")
WORKING_ROLES = frozenset(
    {"account_manager", "risk_officer", "reviewer", "committee_member", "branch_head", "teller"}
)
TIERS = ("low", "medium", "high")
PENDING_SHOWN = 20


@dataclass(frozen=True)
class Durations:
    """How many, the median and the 90th percentile (nearest rank), in seconds."""

    count: int
    median_seconds: float | None
    p90_seconds: float | None


@dataclass(frozen=True)
class OfficerIndicators:
    """One officer's period: work, turnaround against the SLA, responsibility and stars."""

    name: str
    branch: str | None
    roles: tuple[str, ...]
    actions: dict[str, int]
    actions_total: int
    turnaround: Durations
    measured: int  # measured actions in a state with an SLA: the rating's denominator
    turnaround_ratio_median: float | None
    turnaround_ratio_p90: float | None
    breaches: int
    breach_rate: float | None  # breaches / measured
    escalations: int
    returns_given: int
    returns_received: int
    stars: int | None
    rating: str  # how the rule read the inputs, shown beside the stars


@dataclass(frozen=True)
class GroupIndicators:
    """A branch, a tier, a priority (VIP or normal), or everything in scope."""

    name: str | None
    actions: dict[str, int]
    actions_total: int
    finished: dict[str, int]
    decision: Durations
    turnaround: Durations
    turnaround_ratio_median: float | None
    breaches: int
    pending: int
    escalations: int
    returns: int


@dataclass(frozen=True)
class StateIndicators:
    """Time in one state of a tier's path, over the visits that ended in the period."""

    tier: str
    state: str
    sla_seconds: float | None  # for normal priority; VIP cases are held to their own
    time_in_state: Durations
    breaches: int
    pending: int
    escalations: int


@dataclass(frozen=True)
class Responsibility:
    """Breaches and escalations of one state, attributed to an officer or to a queue of roles."""

    tier: str
    state: str
    kind: str  # "officer" or "queue"
    name: str  # the officer, or the queue's roles joined by "/"
    breaches: int
    pending: int
    escalations: int


@dataclass(frozen=True)
class PendingBreach:
    """A case past its SLA at the end of the period, waiting on a queue."""

    case_id: str
    customer: str
    tier: str
    priority: str
    state: str
    entered_at: datetime
    overdue_seconds: float
    queue: str


@dataclass(frozen=True)
class ServiceReport:
    """Everything `loanflow report service` shows."""

    period: Period
    generated_at: datetime
    as_of: datetime  # when open visits were judged
    branch: str | None
    officer: str | None
    rule: ServiceRating
    officers: list[OfficerIndicators]
    total: GroupIndicators
    branches: list[GroupIndicators]
    tiers: list[GroupIndicators]
    priorities: list[GroupIndicators]
    states: list[StateIndicators]
    responsibility: list[Responsibility]
    pending: list[PendingBreach]  # the most overdue first, at most PENDING_SHOWN


def service_report(
    uow: AbstractUnitOfWork,
    actor_name: str | None,
    period: Period,
    now: datetime,
    *,
    officer: str | None = None,
    branch: str | None = None,
) -> ServiceReport:
    """The service indicators of a period, per officer, branch, tier, state and priority.

    Branch heads read their own branch (an officer may read their own figures with `officer`);
    auditors and admins read any branch, or all.

    Raises:
        NotFound: an unknown actor, officer or branch, or no star rule deployed.
        InvalidInput: a reader without the right, or a period that has not begun.
    """
    if period.start > now:
        raise InvalidInput("period", period.label, "has not begun yet")
    with uow:
        users = {u.name: u for u in uow.users.list()}
        scope = _scope(uow, actor_name, users, officer, branch)
        rule = _rule(uow)
        specs = _Specs(uow)
        tally = Tally(period.start, period.end, min(now, period.end), specs)
        tally.add(
            uow.indicators.history(HistoryQuery(period.start, period.end, specs.closed(), scope))
        )
        overdue = heapq.nlargest(PENDING_SHOWN, tally.overdue, _overdue)
        # Built inside the transaction: the users are read from it.
        return ServiceReport(
            period=period,
            generated_at=now,
            as_of=tally.as_of,
            branch=scope,
            officer=officer,
            rule=rule,
            officers=_officers(tally, users, rule, scope, officer),
            total=_group(None, tally.grouped(None).get(None, Totals())),
            branches=_groups(tally.grouped(0), _branch_order),
            tiers=_groups(tally.grouped(1), _tier_order),
            priorities=_groups(tally.grouped(2), _priority_order),
            states=_states(tally),
            responsibility=_responsibility(tally, officer),
            pending=[_pending(uow, o) for o in overdue],
        )


def _scope(
    uow: AbstractUnitOfWork,
    actor_name: str | None,
    users: dict[str, User],
    officer: str | None,
    branch: str | None,
) -> str | None:
    """The branch the reader may see (None: every branch)."""
    reader = resolve_actor(uow, actor_name)
    if officer is not None and officer not in users:
        raise NotFound("user", officer)
    if branch is not None and all(u.branch != branch for u in users.values()):
        raise NotFound("branch", branch, "no user works there")
    if reader.holds("auditor") or reader.holds("admin"):
        return branch
    if not (reader.holds("branch_head") or officer == reader.name):
        raise InvalidInput(
            "actor",
            reader.name,
            "service reports are for branch heads, auditors and admins; "
            f"an officer may read their own with --officer {reader.name}",
        )
    if reader.branch is None or branch in (None, reader.branch):
        return reader.branch or branch
    raise InvalidInput("--branch", branch, f"{reader.name} reads branch {reader.branch} only")


def _rule(uow: AbstractUnitOfWork) -> ServiceRating:
    deployed = uow.definitions.latest(RATING)
    if deployed is None:
        raise NotFound("definition", RATING, "run `loanflow init` to deploy the star rule")
    rule = uow.definitions.parsed(deployed.name, deployed.version)
    if not isinstance(rule, ServiceRating):
        raise NotFound("definition", f"{RATING} of kind service_rating")
    return rule


class _Specs:
    """The pinned definitions, each read once per report."""

    def __init__(self, uow: AbstractUnitOfWork) -> None:
        self.uow = uow
        self.found: dict[tuple[str, int], WorkflowSpec] = {}

    def __call__(self, name: str, version: int) -> WorkflowSpec:
        spec = self.found.get((name, version))
        if spec is None:
            spec = self.found[(name, version)] = self.uow.definitions.workflow(name, version)
        return spec

    def closed(self) -> tuple[tuple[str, int, str], ...]:
        """The terminal states of every deployed path, as (definition, version, state)."""
        workflows = [d for d in self.uow.definitions.list() if d.kind == "workflow"]
        return tuple(
            (d.name, d.version, s.name)
            for d in workflows
            for s in self(d.name, d.version).states
            if s.terminal
        )


def _pending(uow: AbstractUnitOfWork, o: Overdue) -> PendingBreach:
    case = uow.cases.get(o.case_id)
    customer = case.customer_name if case else "-"
    return PendingBreach(
        case_ref(o.case_id),
        customer,
        o.tier,
        o.priority,
        o.state,
        o.entered_at,
        o.overdue_seconds,
        o.queue,
    )


def _overdue(o: Overdue) -> tuple[float, int]:
    return (o.overdue_seconds, -o.case_id)


def _summary(values: Iterable[float]) -> Durations:
    ordered = sorted(values)
    return Durations(len(ordered), percentile(ordered, 50), percentile(ordered, 90))


def _median(values: Iterable[float]) -> float | None:
    return percentile(sorted(values), 50)


def _group(name: str | None, t: Totals) -> GroupIndicators:
    return GroupIndicators(
        name=name,
        actions=dict(sorted(t.actions.items())),
        actions_total=sum(t.actions.values()),
        finished=dict(sorted(t.finished.items())),
        decision=_summary(t.decisions),
        turnaround=_summary(t.turnaround),
        turnaround_ratio_median=_median(t.ratios),
        breaches=t.breaches,
        pending=t.pending,
        escalations=t.escalations,
        returns=t.returns_given,
    )


def _officers(
    tally: Tally,
    users: dict[str, User],
    rule: ServiceRating,
    scope: str | None,
    officer: str | None,
) -> list[OfficerIndicators]:
    """Everyone who acted in scope, and the idle working staff of the branch, by name."""
    idle = {
        u.name
        for u in users.values()
        if u.active and WORKING_ROLES & set(u.roles) and scope in (None, u.branch)
    }
    names = sorted((set(tally.officers) | idle) if officer is None else {officer})
    blamed: dict[str, Counter[str]] = {}
    for (_, _, kind, name), counts in tally.blame.items():
        if kind == OFFICER:
            blamed.setdefault(name, Counter()).update(counts)
    return [
        _officer(n, tally.officers.get(n, Totals()), blamed.get(n, Counter()), users.get(n), rule)
        for n in names
    ]


def _officer(
    name: str, t: Totals, blamed: Counter[str], user: User | None, rule: ServiceRating
) -> OfficerIndicators:
    ratios = sorted(t.ratios)
    measured, ratio = len(ratios), percentile(ratios, 50)
    breach_rate = blamed["breaches"] / measured if measured else None
    stars = rule.stars(measured, ratio, breach_rate)
    return OfficerIndicators(
        name=name,
        branch=user.branch if user else None,
        roles=tuple(user.roles) if user else (),
        actions=dict(sorted(t.actions.items())),
        actions_total=sum(t.actions.values()),
        turnaround=_summary(t.turnaround),
        measured=measured,
        turnaround_ratio_median=ratio,
        turnaround_ratio_p90=percentile(ratios, 90),
        breaches=blamed["breaches"],
        breach_rate=breach_rate,
        escalations=blamed["escalations"],
        returns_given=t.returns_given,
        returns_received=t.returns_received,
        stars=stars,
        rating=rating_note(rule, measured, ratio, breach_rate, stars),
    )


def rating_note(
    rule: ServiceRating,
    measured: int,
    ratio: float | None,
    breach_rate: float | None,
    stars: int | None,
) -> str:
    """Why the rule gave these stars, in words: the inputs against the limits they met."""
    if stars is None or ratio is None or breach_rate is None:
        return f"not rated: {measured} measured actions, the rule needs {rule.min_measured_actions}"
    met = next((level for level in rule.levels if level.stars == stars), None)
    inputs = f"turnaround {ratio:.2f} of SLA, breach rate {breach_rate:.2f}"
    if met is None:
        last = rule.levels[-1]
        return (
            f"{stars} stars: {inputs}; no level met (the loosest allows "
            f"{last.max_turnaround_ratio:.2f} and {last.max_breach_rate:.2f})"
        )
    return (
        f"{stars} stars: {inputs} (limits {met.max_turnaround_ratio:.2f} and "
        f"{met.max_breach_rate:.2f})"
    )


def _states(tally: Tally) -> list[StateIndicators]:
    ordered = sorted(tally.states.items(), key=lambda kv: (_tier_order(kv[0][0]), kv[1].order))
    return [
        StateIndicators(tier, state, s.sla, _summary(s.time), s.breaches, s.pending, s.escalations)
        for (tier, state), s in ordered
    ]


def _responsibility(tally: Tally, officer: str | None) -> list[Responsibility]:
    """Who answers for each state's breaches and escalations (an officer sees only their own
    rows and the queues')."""
    order = {key: s.order for key, s in tally.states.items()}
    rows = [
        Responsibility(tier, state, kind, name, c["breaches"], c["pending"], c["escalations"])
        for (tier, state, kind, name), c in tally.blame.items()
        if officer is None or kind == QUEUE or name == officer
    ]
    return sorted(
        rows,
        key=lambda r: (_tier_order(r.tier), order.get((r.tier, r.state), 0), r.kind, r.name),
    )


def _groups(
    merged: dict[str | None, Totals], order: Callable[[str | None], tuple[int, str]]
) -> list[GroupIndicators]:
    return [_group(name, merged[name]) for name in sorted(merged, key=order)]


def _tier_order(tier: str | None) -> tuple[int, str]:
    return (TIERS.index(tier) if tier in TIERS else len(TIERS), tier or "")


def _branch_order(branch: str | None) -> tuple[int, str]:
    return (branch is None, branch or "")


def _priority_order(priority: str | None) -> tuple[int, str]:
    return (priority != "vip", priority or "")  # the green channel first

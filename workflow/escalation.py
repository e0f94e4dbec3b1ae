"""The sweep: fire each due timer once, in due order, escalating stalled cases, expiring idle ones.

The timers table is the source of truth for what is due; whoever calls this (the `escalate`
command, the scheduler daemon) only decides when.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from workflow import history, timers
from workflow.engine import engine_for
from workflow.model import Case, Timer
from workflow.ports import AbstractUnitOfWork
from workflow.spec import EXPIRE, SYSTEM_ACTOR, SYSTEM_ROLE, WorkflowSpec

log = logging.getLogger(__name__)
DEFAULT_BATCH = 500
ESCALATE = "escalate"


@dataclass
class Escalation:
    """One case raised to a new escalation level (the branch head is told)."""

    id: str
    level: int
    state: str
    branch: str | None


@dataclass
class SweepReport:
    """What one sweep did."""

    now: datetime
    fired: int = 0
    escalated: int = 0
    expired: int = 0
    skipped: int = 0
    deferred: int = 0  # due, but the case has an event later than this sweep's moment
    escalations: list[Escalation] = field(default_factory=list)
    expirations: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def merge(self, other: SweepReport) -> None:
        """Add what another (partial) report counted."""
        self.fired += other.fired
        self.escalated += other.escalated
        self.expired += other.expired
        self.skipped += other.skipped
        self.deferred += other.deferred
        self.escalations += other.escalations
        self.expirations += other.expirations
        self.failed += other.failed


def count_due_timers(uow: AbstractUnitOfWork, now: datetime) -> int:
    """How many timers are due at `now` (for a progress bar)."""
    with uow:
        return uow.timers.count_due(now)


def fire_due_timers(
    uow: AbstractUnitOfWork,
    now: datetime,
    batch_size: int = DEFAULT_BATCH,
    progress: Callable[[int], None] | None = None,
) -> SweepReport:
    """Fire every timer due at `now`, in batches of cases, one transaction per batch.

    Each case is fired inside a savepoint: a case that fails is reported with its reason and left
    for the next sweep, and the rest of the batch commits. A timer whose case moved on since it was
    armed is re-evaluated and cancelled instead of fired.

    Args:
        uow: entered once per batch.
        now: the moment to sweep at (catch-up and rehearsal pass a past or future one).
        batch_size: cases per transaction.
        progress: called with the number of timers handled after each batch.
    """
    report = SweepReport(now)
    started = time.perf_counter()
    failed_ids: set[int] = set()  # cases this sweep leaves alone: failed, or deferred
    careful = False
    while True:
        with uow:
            claimed = uow.timers.claim_due(now, batch_size, failed_ids)
            if not claimed:
                break
            batch = SweepReport(now)
            try:
                _fire_batch(uow, claimed, now, batch, failed_ids, careful)
                uow.commit()
            except Exception:
                if careful:
                    raise  # not one case's fault: the database itself
                # Something in the batch failed: nothing of it was written. Redo it case by case,
                # each in a savepoint, so that only the failing case is left out.
                log.info("sweep: a batch failed; redoing it case by case", exc_info=True)
                careful = True
                continue
        careful = False
        report.merge(batch)
        if progress:
            progress(sum(len(due) for _, due in claimed))
    report.seconds = time.perf_counter() - started
    return report


def _fire_batch(
    uow: AbstractUnitOfWork,
    claimed: list[tuple[Case, list[Timer]]],
    now: datetime,
    batch: SweepReport,
    failed_ids: set[int],
    careful: bool,
) -> None:
    """Fire a batch: in one go (one flush at commit), or, `careful`, each case in a savepoint."""
    for case, due in claimed:
        if now < case.last_event_at:
            # A sweep "as of" a moment before the case's last event: history never runs back.
            # The case waits for a later sweep, and this one claims it no more.
            failed_ids.add(case.id or 0)
            batch.deferred += len(due)
            continue
        if careful:
            _fire_case_safely(uow, case, due, now, batch, failed_ids)
        else:
            _fire_case(uow, case, due, now, batch)


def _fire_case_safely(
    uow: AbstractUnitOfWork,
    case: Case,
    due: list[Timer],
    now: datetime,
    report: SweepReport,
    failed_ids: set[int],
) -> None:
    ref = case.ref
    partial = SweepReport(now)
    try:
        with uow.savepoint():
            _fire_case(uow, case, due, now, partial)
    except Exception as err:  # one bad case must not stop everyone else's escalation
        log.warning("sweep: %s failed: %s", ref, err, exc_info=True)
        failed_ids.add(case.id or 0)
        report.failed.append((ref, f"{type(err).__name__}: {err}"))
        return
    report.merge(partial)


def _fire_case(
    uow: AbstractUnitOfWork, case: Case, due: list[Timer], now: datetime, report: SweepReport
) -> None:
    workflow = uow.definitions.workflow(case.definition_name, case.definition_version)
    for timer in due:
        if timer.cancelled_at is not None or timer.fired_at is not None:
            continue  # cancelled by an expiry fired just before
        if not _still_due(case, timer, workflow):
            timer.cancelled_at = now
            report.skipped += 1
            continue
        if timer.kind == ESCALATE:
            _escalate(uow, case, timer, now, report)
        else:
            _expire(uow, case, workflow, timer, now, report)
        # Marked after its effects: an expiry cancels the case's open timers, itself included.
        timer.fired_at, timer.cancelled_at = now, None
        report.fired += 1


def _still_due(case: Case, timer: Timer, workflow: WorkflowSpec) -> bool:
    """Re-evaluate a timer against the case as it is now, not as it was when armed."""
    if case.state != timer.state:
        return False
    if timer.kind == ESCALATE:
        return case.escalation_level < timer.level
    return engine_for(workflow).can_expire(case)


def _escalate(
    uow: AbstractUnitOfWork, case: Case, timer: Timer, now: datetime, report: SweepReport
) -> None:
    case.escalation_level = timer.level
    details = {"level": timer.level, "due_at": history.canonical_time(timer.due_at)}
    history.append_event(
        uow, case, ESCALATE, case.state, SYSTEM_ROLE, SYSTEM_ACTOR, now, None, details
    )
    report.escalated += 1
    report.escalations.append(Escalation(case.ref, timer.level, case.state, case.branch))


def _expire(
    uow: AbstractUnitOfWork,
    case: Case,
    workflow: WorkflowSpec,
    timer: Timer,
    now: datetime,
    report: SweepReport,
) -> None:
    from_state = case.state
    engine_for(workflow).expire(case, now)
    details = {
        "due_at": history.canonical_time(timer.due_at),
        "idle_since": history.canonical_time(case.last_activity_at),
    }
    history.append_event(
        uow, case, EXPIRE, from_state, SYSTEM_ROLE, SYSTEM_ACTOR, now, None, details
    )
    case.enter_state(now)
    timers.rearm(uow, case, workflow, now)
    report.expired += 1
    report.expirations.append(case.ref)

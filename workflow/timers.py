"""When a case's timers fall due: armed on entering a state, re-armed on every action (pure)."""

from __future__ import annotations

from datetime import datetime, timedelta

from workflow.model import Case, Timer
from workflow.ports import AbstractUnitOfWork
from workflow.spec import TimerSpec, WorkflowSpec

ESCALATE, EXPIRE = "escalate", "expire"


def effective_sla(timers: TimerSpec, priority: str) -> timedelta:
    """The state's SLA for this case: the green channel (VIP) gets it scaled by `vip_factor`."""
    return timers.sla * timers.vip_factor if priority == "vip" else timers.sla


def sla_due_at(case: Case, workflow: WorkflowSpec) -> datetime | None:
    """When the case's current state breaches its SLA; None for terminal or timer-less states."""
    timers = workflow.state(case.state).timers
    if timers is None or not timers.sla:
        return None
    return case.state_entered_at + effective_sla(timers, case.priority)


def plan(case: Case, workflow: WorkflowSpec, now: datetime) -> list[Timer]:
    """The timers a case needs after an action at `now`, assuming none is pending.

    Escalations above the case's current level fall due at level x SLA after it entered its
    state; the idle expiry falls due `idle_expiry` after this action.
    """
    assert case.id is not None
    timers = workflow.state(case.state).timers
    if timers is None:
        return []
    planned: list[Timer] = []
    if timers.sla:
        sla = effective_sla(timers, case.priority)
        planned.extend(
            Timer(
                case.id,
                ESCALATE,
                level,
                case.state,
                case.state_entered_at + sla * level,
                case.last_seq,
            )
            for level in timers.escalation_levels
            if level > case.escalation_level
        )
    if timers.idle_expiry:
        planned.append(
            Timer(case.id, EXPIRE, 0, case.state, now + timers.idle_expiry, case.last_seq)
        )
    return planned


def rearm(uow: AbstractUnitOfWork, case: Case, workflow: WorkflowSpec, now: datetime) -> None:
    """Cancel the case's pending timers and arm the ones its state needs now."""
    assert case.id is not None
    uow.timers.cancel_pending(case.id, now)
    for timer in plan(case, workflow, now):
        uow.timers.add(timer)
    case.due_at = sla_due_at(case, workflow)

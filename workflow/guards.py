"""The rules a transition may name in YAML: each refuses by raising, naming the rule it enforces."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from workflow.errors import DutySegregationBreach
from workflow.model import Actor, Case
from workflow.spec import TransitionSpec


@dataclass(frozen=True)
class GuardContext:
    """What a guard may look at: the case, the actor and the move being tried."""

    case: Case
    case_ref: str
    actor: Actor
    transition: TransitionSpec


Guard = Callable[[GuardContext, tuple[str, ...]], None]


def distinct_from(ctx: GuardContext, slots: tuple[str, ...]) -> None:
    """Nobody checks their own work: the actor must not have played any of `slots` on this case."""
    for slot in slots:
        if ctx.case.participants.get(slot) == ctx.actor.name:
            raise _breach(ctx, f"not the {slot}", f"{ctx.actor.name} was the {slot} of this case")


def not_voted(ctx: GuardContext, _: tuple[str, ...]) -> None:
    """Each committee member votes once."""
    if ctx.actor.name in ctx.case.votes:
        raise _breach(ctx, "one vote each", f"{ctx.actor.name} has already voted on this case")


def _breach(ctx: GuardContext, rule: str, detail: str) -> DutySegregationBreach:
    t = ctx.transition
    return DutySegregationBreach(ctx.case_ref, t.action, t.source, rule, detail)


KNOWN_GUARDS: dict[str, Guard] = {"distinct_from": distinct_from, "not_voted": not_voted}

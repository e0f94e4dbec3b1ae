"""The pure engine: one `transitions.Machine` per definition version, fired on any case."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, cast

from transitions import EventData, Machine, MachineError

from workflow import spec as s
from workflow.errors import (
    ActionNotAllowed,
    ActionRefused,
    CommentRequired,
    InvalidInput,
    RoleRequired,
)
from workflow.guards import KNOWN_GUARDS, GuardContext
from workflow.model import Actor, Case, case_ref

VOTE_CHOICES = ("approve", "reject")


@dataclass(frozen=True)
class Step:
    """What one action did to a case, ready to be written as an event."""

    action: str
    from_state: str
    to_state: str
    role: str
    kind: str
    details: dict[str, Any] = field(default_factory=dict)
    documents: tuple[s.DocumentSpec, ...] = ()

    @property
    def changed_state(self) -> bool:
        """Whether the case left its state (an undecided vote does not)."""
        return self.from_state != self.to_state


class Engine:
    """Fires actions of one definition version on any number of cases.

    The machine is built once with `model=None`: cases are passed to each trigger and never
    registered, so memory does not grow with the number of cases.
    """

    def __init__(self, workflow: s.WorkflowSpec) -> None:
        self.spec = workflow
        self.machine = Machine(
            model=None,
            states=[st.name for st in workflow.states],
            initial=workflow.initial,
            auto_transitions=False,
            send_event=True,
        )
        for t in workflow.transitions:
            conditions: list[Any] = [partial(self._check, t)]
            if t.outcome is not None:
                conditions.append(partial(self._decides, t.outcome))
            self.machine.add_transition(
                t.action,
                t.source,
                t.dest,
                conditions=conditions,
                after=partial(self._record, t),
            )

    def fire(
        self,
        case: Case,
        action: str,
        actor: Actor,
        now: datetime,
        comment: str | None = None,
        vote: str | None = None,
    ) -> Step:
        """Perform `action` on `case` as `actor`, changing its state, participants and votes.

        Returns:
            The step taken, for the history.

        Raises:
            ActionNotAllowed: the definition has no such move from the case's state.
            RoleRequired, DutySegregationBreach, CommentRequired: a guard refused.
            InvalidInput: `vote` given where it means nothing, or missing or unknown on a vote.
        """
        if action not in self.spec.actions_from(case.state):
            raise self._not_allowed(case, action)
        self._check_vote_argument(action, case.state, vote)
        return self._trigger(case, action, actor, now, comment, vote)

    def expire(self, case: Case, now: datetime) -> Step:
        """Move an idle case to `expired`: the scheduler's move, never a person's."""
        if not self.can_expire(case):
            raise self._not_allowed(case, s.EXPIRE)
        system = Actor(s.SYSTEM_ACTOR, frozenset({s.SYSTEM_ROLE}))
        return self._trigger(case, s.EXPIRE, system, now, None, None)

    def can_expire(self, case: Case) -> bool:
        """Whether the definition lets the case expire from its current state."""
        return any(t.kind == s.EXPIRE for t in self.spec.transitions_from(case.state))

    def allowed_actions(self, case: Case, actor: Actor) -> tuple[str, ...]:
        """The actions `actor` may take on `case` now, every guard considered."""
        allowed: list[str] = []
        for t in self.spec.transitions_from(case.state):
            if t.action in allowed or t.role == s.SYSTEM_ROLE:
                continue
            try:
                self._authorise(t, case, actor)
            except ActionRefused:
                continue
            allowed.append(t.action)
        return tuple(allowed)

    def _trigger(
        self,
        case: Case,
        action: str,
        actor: Actor,
        now: datetime,
        comment: str | None,
        vote: str | None,
    ) -> Step:
        taken: list[Step] = []
        try:
            done = self.machine.events[action].trigger(
                case, actor=actor, now=now, comment=comment, vote=vote, taken=taken
            )
        except MachineError as err:  # pragma: no cover - the spec was consulted first
            raise self._not_allowed(case, action) from err
        if not done or not taken:
            raise self._not_allowed(case, action)
        return taken[0]

    def _not_allowed(self, case: Case, action: str) -> ActionNotAllowed:
        ref = case_ref(case.id or 0)
        return ActionNotAllowed(ref, action, case.state, self.spec.actions_from(case.state))

    def _check_vote_argument(self, action: str, state: str, vote: str | None) -> None:
        is_vote = any(
            t.kind == s.VOTE for t in self.spec.transitions_from(state) if t.action == action
        )
        if is_vote and vote not in VOTE_CHOICES:
            raise InvalidInput(
                "--vote", vote, f"{action} needs --vote {' or --vote '.join(VOTE_CHOICES)}"
            )
        if not is_vote and vote is not None:
            raise InvalidInput("--vote", vote, f"{action} is not a vote")

    def _authorise(self, t: s.TransitionSpec, case: Case, actor: Actor) -> None:
        if t.role not in actor.roles:
            raise RoleRequired(case_ref(case.id or 0), t.action, t.source, t.role, actor.name)
        ctx = GuardContext(case, case_ref(case.id or 0), actor, t)
        for guard in t.guards:
            KNOWN_GUARDS[guard.name](ctx, guard.params)

    def _check(self, t: s.TransitionSpec, event: EventData) -> bool:
        case, actor = cast(Case, event.model), event.kwargs["actor"]
        self._authorise(t, case, actor)
        if t.comment_required and not (event.kwargs.get("comment") or "").strip():
            raise CommentRequired(case_ref(case.id or 0), t.action, t.source)
        return True

    def _decides(self, outcome: str, event: EventData) -> bool:
        committee = self.spec.committee
        assert committee is not None  # the loader requires a committee for vote steps
        tally = _tally(cast(Case, event.model).votes, event.kwargs["vote"])
        needed = committee.approvals_needed if outcome == "approve" else committee.rejections_needed
        return tally[outcome] >= needed

    def _record(self, t: s.TransitionSpec, event: EventData) -> None:
        case = cast(Case, event.model)
        actor: Actor = event.kwargs["actor"]
        details: dict[str, Any] = {}
        if t.records:
            case.participants = {**case.participants, t.records: actor.name}
        if t.kind == s.VOTE:
            vote = event.kwargs["vote"]
            case.votes = {**case.votes, actor.name: vote}
            details = {"vote": vote, "tally": _tally(case.votes, None)}
            if t.outcome is not None:
                details["decision"] = t.outcome
        to_state = t.dest or t.source
        step = Step(t.action, t.source, to_state, t.role, t.kind, details, t.documents)
        event.kwargs["taken"].append(step)


def _tally(votes: dict[str, str], extra: str | None) -> dict[str, int]:
    cast = [*votes.values(), *([extra] if extra else [])]
    return {choice: cast.count(choice) for choice in VOTE_CHOICES}


_ENGINES: dict[tuple[str, int], Engine] = {}


def engine_for(workflow: s.WorkflowSpec) -> Engine:
    """The one engine of a definition version, built on first use."""
    key = (workflow.name, workflow.version)
    engine = _ENGINES.get(key)
    if engine is None or engine.spec != workflow:
        engine = _ENGINES[key] = Engine(workflow)
    return engine

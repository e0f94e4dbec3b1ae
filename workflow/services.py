"""The service layer: every use of loanflow goes through these functions, one transaction each."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflow import history, timers
from workflow.engine import Step, engine_for
from workflow.errors import InvalidInput, NotFound
from workflow.model import Actor, Case, Document, Event, User, case_ref
from workflow.policy import Application, check_application, classify, format_fen
from workflow.ports import AbstractUnitOfWork, CaseQuery, DocumentRenderer, InboxQuery
from workflow.spec import WorkflowSpec

AUDITOR = "auditor"
AUDITORS_CHANGE_NOTHING = "auditors read everything and change nothing"
_REF = re.compile(r"^\s*LA-(\d{1,12})\s*$", re.IGNORECASE)
APPLY = "apply"


@dataclass(frozen=True)
class CaseView:
    """A case as shown to a person; `allowed_actions` are those of the actor who asked."""

    id: str
    tier: str
    state: str
    version: int
    amount: str
    customer: str
    customer_type: str
    rating: str | None
    product: str
    guarantee: str
    term_months: int | None
    priority: str
    branch: str | None
    originator: str
    definition: str
    definition_version: int
    escalation_level: int
    due_at: datetime | None
    created_at: datetime
    state_entered_at: datetime
    queue: tuple[str, ...]
    allowed_actions: tuple[str, ...] = ()
    participants: dict[str, str] = field(default_factory=dict)
    votes: dict[str, str] = field(default_factory=dict)
    closed: bool = False


@dataclass(frozen=True)
class EventView:
    """One history event as shown to a person."""

    seq: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    at: datetime
    comment: str | None
    details: dict[str, Any]
    definition: str
    definition_version: int
    hash: str


def parse_ref(ref: str) -> int:
    """The numeric id in a case reference (`LA-000042` -> 42).

    Raises:
        NotFound: the text is not a case reference.
    """
    match = _REF.match(ref)
    if not match:
        raise NotFound("case", ref, "case ids look like LA-000001")
    return int(match.group(1))


def apply(
    uow: AbstractUnitOfWork, actor_name: str | None, app: Application, now: datetime
) -> CaseView:
    """Take a loan application: classify its tier and start it on that tier's latest definition.

    Raises:
        InvalidInput, NotFound, RoleRequired: bad input or an actor who may not apply.
    """
    with uow:
        user = resolve_actor(uow, actor_name, "account_manager", "apply", changing=True)
        policy = uow.definitions.policy()
        check_application(app, policy)
        tier = classify(app, policy)
        deployed = uow.definitions.latest(policy.paths[tier])
        if deployed is None:
            raise NotFound("definition", policy.paths[tier], "run `loanflow init`")
        workflow = uow.definitions.workflow(deployed.name, deployed.version)
        case = _new_case(app, tier, user, workflow, now)
        uow.cases.add(case)
        details = {
            "tier": tier,
            "branch": user.branch,
            "policy": f"{policy.name} v{policy.version}",
            **_app_details(app),
        }
        history.append_event(
            uow, case, APPLY, None, "account_manager", user.name, now, None, details
        )
        timers.rearm(uow, case, workflow, now)
        view = case_view(case, workflow, _actor(user))
        uow.commit()
    return view


def act(
    uow: AbstractUnitOfWork,
    ref: str,
    action: str,
    actor_name: str | None,
    now: datetime,
    comment: str | None = None,
    vote: str | None = None,
    renderer: DocumentRenderer | None = None,
) -> CaseView:
    """Perform one action on a case as a person; the case, its event, its timers and the documents
    the step issues commit together.

    Raises:
        NotFound: no such case or actor.
        ActionRefused: the move is not allowed (state, role, segregation of duties, comment).
        ConcurrentChange: another writer changed the case first.
    """
    with uow:
        user = resolve_actor(uow, actor_name, changing=True)
        case = get_case(uow, ref)
        workflow = uow.definitions.workflow(case.definition_name, case.definition_version)
        # Officers' machines may disagree on the time by a little: a case's history never runs
        # back, so an action is dated no earlier than the case's last event.
        now = max(now, case.last_event_at)
        from_state = case.state
        step = engine_for(workflow).fire(case, action, _actor(user), now, comment, vote)
        issued = _render_documents(case, step, renderer, now)
        details = {**step.details, **_document_details(issued)}
        event = history.append_event(
            uow, case, action, from_state, step.role, user.name, now, comment, details
        )
        for document in issued:
            document.seq = event.seq
            uow.documents.add(document)
        if step.changed_state:
            case.enter_state(now)
        timers.rearm(uow, case, workflow, now)
        view = case_view(case, workflow, _actor(user))
        uow.commit()
    return view


def show_case(uow: AbstractUnitOfWork, ref: str, actor_name: str | None) -> CaseView:
    """A case with the actions the actor may take now (none without an actor)."""
    with uow:
        case = get_case(uow, ref)
        workflow = uow.definitions.workflow(case.definition_name, case.definition_version)
        user = resolve_actor(uow, actor_name) if actor_name else None
        return case_view(case, workflow, _actor(user) if user else None)


def case_history(uow: AbstractUnitOfWork, ref: str) -> list[EventView]:
    """Every event of a case, in order."""
    with uow:
        case = get_case(uow, ref)
        return [event_view(e) for e in uow.events.for_case(case.id or 0)]


def list_cases(uow: AbstractUnitOfWork, query: CaseQuery) -> list[CaseView]:
    """Cases matching the query (no allowed actions: there is no actor)."""
    with uow:
        found = uow.cases.list(query)
        return [
            case_view(c, uow.definitions.workflow(c.definition_name, c.definition_version))
            for c in found
        ]


def inbox(uow: AbstractUnitOfWork, actor_name: str | None, limit: int = 50) -> list[CaseView]:
    """Cases waiting for the actor's work (a step or a vote they may take now), plus, for a branch
    head, cases escalated to level 2.

    VIP first, then the most escalated, then the oldest.
    """
    with uow:
        user = resolve_actor(uow, actor_name)
        actor = _actor(user)
        positions = _positions_for(uow, actor)
        escalation = 2 if actor.roles & {"branch_head"} else None
        query = InboxQuery(positions, user.branch, escalation)
        found: list[CaseView] = []
        for case in uow.cases.inbox_candidates(query):
            workflow = uow.definitions.workflow(case.definition_name, case.definition_version)
            view = case_view(case, workflow, actor)
            waiting = set(view.allowed_actions) & set(workflow.work_actions_from(case.state))
            if waiting or (escalation and case.escalation_level >= escalation):
                found.append(view)
                if len(found) >= limit:
                    break
        return found


def resolve_actor(
    uow: AbstractUnitOfWork,
    name: str | None,
    role: str | None = None,
    doing: str = "",
    *,
    changing: bool = False,
) -> User:
    """The active user behind `--actor`, holding `role` if one is named.

    Raises:
        InvalidInput: no actor given, or the user is disabled.
        NotFound: no such user.
        RoleRequired: the user lacks `role`.
    """
    if not name:
        raise InvalidInput("actor", name, "say who you are with --actor NAME or LOANFLOW_ACTOR")
    user = uow.users.get(name)
    if user is None:
        raise NotFound("user", name, "add one with `loanflow user add`")
    if not user.active:
        raise InvalidInput("actor", name, "this user is disabled")
    if changing and user.holds(AUDITOR):
        raise InvalidInput("actor", name, AUDITORS_CHANGE_NOTHING)
    if role and not user.holds(role):
        raise InvalidInput("actor", name, f"only a {role} may {doing}; {name} holds {_roles(user)}")
    return user


def check_may_change(uow: AbstractUnitOfWork, actor_name: str | None) -> None:
    """Refuse a changing command to an auditor (commands without an actor need none)."""
    if actor_name:
        with uow:
            user = uow.users.get(actor_name)
            if user is not None and user.holds(AUDITOR):
                raise InvalidInput("actor", actor_name, AUDITORS_CHANGE_NOTHING)


def _roles(user: User) -> str:
    return ", ".join(user.roles) or "no role"


def _actor(user: User) -> Actor:
    return Actor(user.name, frozenset(user.roles))


def get_case(uow: AbstractUnitOfWork, ref: str) -> Case:
    case = uow.cases.get(parse_ref(ref))
    if case is None:
        raise NotFound("case", ref.strip())
    return case


def _new_case(
    app: Application, tier: str, user: User, workflow: WorkflowSpec, now: datetime
) -> Case:
    return Case(
        customer_name=app.customer_name.strip(),
        customer_type=app.customer_type,
        rating=app.rating,
        product=app.product,
        guarantee=app.guarantee,
        amount_fen=app.amount_fen,
        term_months=app.term_months,
        priority=app.priority,
        tier=tier,
        branch=user.branch,
        originator=user.name,
        definition_name=workflow.name,
        definition_version=workflow.version,
        state=workflow.initial,
        created_at=now,
        state_entered_at=now,
        last_activity_at=now,
        last_event_at=now,
        participants={"originator": user.name},
    )


def _app_details(app: Application) -> dict[str, Any]:
    return {
        "customer": app.customer_name.strip(),
        "customer_type": app.customer_type,
        "rating": app.rating,
        "product": app.product,
        "guarantee": app.guarantee,
        "amount": format_fen(app.amount_fen),
        "term_months": app.term_months,
        "priority": app.priority,
    }


def _render_documents(
    case: Case, step: Step, renderer: DocumentRenderer | None, now: datetime
) -> list[Document]:
    """Render the documents the step issues, one per copy, with their SHA-256."""
    if not step.documents:
        return []
    if renderer is None:
        raise RuntimeError(f"{step.action} issues documents but no renderer was wired")
    assert case.id is not None
    issued = []
    for spec in step.documents:
        for copy in spec.copies:
            context = document_context(case, spec.template, copy, now)
            content = renderer.render(spec.template, context)
            digest = hashlib.sha256(content.encode()).hexdigest()
            issued.append(Document(case.id, 0, spec.template, copy, content, digest, now))
    return issued


def _document_details(issued: list[Document]) -> dict[str, Any]:
    if not issued:
        return {}
    listed = [{"template": d.template, "copy": d.copy, "sha256": d.sha256} for d in issued]
    return {"documents": listed}


def document_context(case: Case, template: str, copy: str, now: datetime) -> dict[str, Any]:
    """What a document template may use: the case, the people on it, the committee's tally."""
    votes = list(case.votes.values())
    return {
        "case": {
            "id": case.ref,
            "customer": case.customer_name,
            "customer_type": case.customer_type,
            "rating": case.rating,
            "product": case.product,
            "guarantee": case.guarantee,
            "amount": format_fen(case.amount_fen),
            "term_months": case.term_months,
            "branch": case.branch,
        },
        "people": dict(case.participants),
        "votes": {"approve": votes.count("approve"), "reject": votes.count("reject")},
        "copy": copy,
        "document_no": f"{case.ref}-{template.upper().replace('_', '-')}",
        "issued_at": now,
    }


def _positions_for(uow: AbstractUnitOfWork, actor: Actor) -> tuple[tuple[str, int, str], ...]:
    positions: list[tuple[str, int, str]] = []
    for deployed in uow.definitions.list():
        if deployed.kind != "workflow":
            continue
        workflow = uow.definitions.workflow(deployed.name, deployed.version)
        # Only where a step or vote waits for them: withdraw, return and reject alone put nothing
        # in an inbox (and would make an account manager's candidates every open case).
        states = {
            t.source
            for t in workflow.transitions
            if t.role in actor.roles and t.action in workflow.work_actions_from(t.source)
        }
        positions.extend((workflow.name, workflow.version, state) for state in sorted(states))
    return tuple(positions)


def case_view(case: Case, workflow: WorkflowSpec, actor: Actor | None = None) -> CaseView:
    assert case.id is not None
    closed = workflow.is_terminal(case.state)
    allowed = engine_for(workflow).allowed_actions(case, actor) if actor and not closed else ()
    work = workflow.work_actions_from(case.state)
    queue = tuple(
        dict.fromkeys(t.role for t in workflow.transitions_from(case.state) if t.action in work)
    )
    return CaseView(
        id=case_ref(case.id),
        tier=case.tier,
        state=case.state,
        version=case.version,
        amount=format_fen(case.amount_fen),
        customer=case.customer_name,
        customer_type=case.customer_type,
        rating=case.rating,
        product=case.product,
        guarantee=case.guarantee,
        term_months=case.term_months,
        priority=case.priority,
        branch=case.branch,
        originator=case.originator,
        definition=case.definition_name,
        definition_version=case.definition_version,
        escalation_level=case.escalation_level,
        due_at=case.due_at,
        created_at=case.created_at,
        state_entered_at=case.state_entered_at,
        queue=queue,
        allowed_actions=allowed,
        participants=dict(case.participants),
        votes=dict(case.votes),
        closed=closed,
    )


def event_view(e: Event) -> EventView:
    return EventView(
        seq=e.seq,
        action=e.action,
        from_state=e.from_state,
        to_state=e.to_state,
        actor=e.actor,
        role=e.role,
        at=e.at,
        comment=e.comment,
        details=dict(e.details),
        definition=e.definition_name,
        definition_version=e.definition_version,
        hash=e.hash,
    )

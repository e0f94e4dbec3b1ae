"""SQLAlchemy repositories: queries only; they never commit."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, false, func, or_, select, update
from sqlalchemy.orm import Session

from persistence.orm import cases, definitions, documents, events, timers, users
from workflow import ports
from workflow.errors import InvalidDefinition, NotFound
from workflow.model import Case, DeployedDefinition, Document, Event, Timer, User
from workflow.spec import DefinitionSpec, TierPolicy, WorkflowSpec

Parser = Callable[[str, str], DefinitionSpec]

# Parsed specs by database and (name, version): a deployed version never changes (deploying other
# content under it is refused), so one read and one parse per process serve every case pinned to it.
_PARSED: dict[tuple[str, str, int], DefinitionSpec] = {}


class SqlAlchemyCaseRepository(ports.AbstractCaseRepository):
    def __init__(self, session: Session) -> None:
        self.session = session
        self.seen: list[Case] = []

    def add(self, case: Case) -> None:
        self.session.add(case)
        self.session.flush()  # assigns the id the first event needs
        self.seen.append(case)

    def get(self, case_id: int) -> Case | None:
        case = self.session.get(Case, case_id)
        if case is not None:
            self.seen.append(case)
        return case

    def list(self, query: ports.CaseQuery) -> Sequence[Case]:
        c = cases.c
        stmt = select(Case)
        if query.state:
            stmt = stmt.where(c.state == query.state)
        if query.tier:
            stmt = stmt.where(c.tier == query.tier)
        if query.branch:
            stmt = stmt.where(c.branch == query.branch)
        if query.overdue_at is not None:
            stmt = stmt.where(c.due_at <= query.overdue_at).order_by(c.due_at, c.id)
        stmt = stmt.order_by(c.id).limit(query.limit)
        return self.session.scalars(stmt).all()

    def inbox_candidates(self, query: ports.InboxQuery) -> Iterator[Case]:
        c = cases.c
        where: list[Any] = [
            and_(c.definition_name == n, c.definition_version == v, c.state == st)
            for n, v, st in query.positions
        ]
        if query.min_escalation is not None:
            where.append(c.escalation_level >= query.min_escalation)
        stmt = select(Case).where(or_(*where) if where else false())
        if query.branch:
            stmt = stmt.where(c.branch == query.branch)
        vip_first = case((c.priority == "vip", 0), else_=1)
        stmt = stmt.order_by(vip_first, c.escalation_level.desc(), c.state_entered_at, c.id)
        offset = 0
        while True:
            batch = self.session.scalars(stmt.offset(offset).limit(query.batch)).all()
            yield from batch
            if len(batch) < query.batch:
                return
            offset += query.batch

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(cases)) or 0

    def batch_after(self, after_id: int, limit: int) -> Sequence[Case]:
        c = cases.c
        stmt = select(Case).where(c.id > after_id).order_by(c.id).limit(limit)
        return self.session.scalars(stmt).all()

    def current_state(self, case_id: int) -> str | None:
        c = cases.c
        return self.session.execute(select(c.state).where(c.id == case_id)).scalar_one_or_none()


class SqlAlchemyEventRepository(ports.AbstractEventRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, event: Event) -> None:
        self.session.add(event)

    def for_case(self, case_id: int) -> Sequence[Event]:
        c = events.c
        return self.session.scalars(select(Event).where(c.case_id == case_id).order_by(c.seq)).all()

    def for_cases(self, case_ids: Sequence[int]) -> Sequence[Event]:
        c = events.c
        stmt = select(Event).where(c.case_id.in_(case_ids)).order_by(c.case_id, c.seq, c.id)
        return self.session.scalars(stmt).all()

    def batch_after(self, after_id: int, since: datetime | None, limit: int) -> Sequence[Event]:
        c = events.c
        stmt = select(Event).where(c.id > after_id)
        if since is not None:
            stmt = stmt.where(c.at >= since)
        return self.session.scalars(stmt.order_by(c.id).limit(limit)).all()


class SqlAlchemyDocumentRepository(ports.AbstractDocumentRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, document: Document) -> None:
        self.session.add(document)

    def for_case(self, case_id: int) -> Sequence[Document]:
        c = documents.c
        stmt = select(Document).where(c.case_id == case_id).order_by(c.seq, c.id)
        return self.session.scalars(stmt).all()

    def for_cases(self, case_ids: Sequence[int]) -> Sequence[Document]:
        c = documents.c
        stmt = select(Document).where(c.case_id.in_(case_ids)).order_by(c.case_id, c.seq, c.id)
        return self.session.scalars(stmt).all()


class SqlAlchemyTimerRepository(ports.AbstractTimerRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, timer: Timer) -> None:
        self.session.add(timer)

    def pending_for_case(self, case_id: int) -> Sequence[Timer]:
        c = timers.c
        stmt = select(Timer).where(c.case_id == case_id, _open())
        # The action's changes are flushed once, at commit, not half-way for this query: the
        # timers it reads were written by earlier transactions.
        with self.session.no_autoflush:
            return self.session.scalars(stmt.order_by(c.due_at, c.id)).all()

    def cancel_pending(self, case_id: int, at: datetime) -> None:
        # One UPDATE, not a load and an UPDATE per timer; timers already in the session are
        # updated too (synchronize_session), so a sweep sees what it cancelled.
        mapped: Any = Timer  # once mapped, its attributes are SQL expressions Python can evaluate
        stmt = (
            update(Timer)
            .where(mapped.case_id == case_id, mapped.fired_at.is_(None))
            .where(mapped.cancelled_at.is_(None))
            .values(cancelled_at=at)
        )
        # An action has changed no timer yet: its changes are flushed once, at commit. A sweep
        # has (it fired some): those must reach the database first, or this would cancel them.
        if any(isinstance(obj, Timer) for obj in self.session.dirty):
            self.session.flush()
        with self.session.no_autoflush:
            self.session.execute(stmt, execution_options={"synchronize_session": "evaluate"})

    def claim_due(
        self, now: datetime, limit: int, exclude: set[int]
    ) -> list[tuple[Case, list[Timer]]]:
        c, t = cases.c, timers.c
        due = select(t.case_id).where(_open(), t.due_at <= now)
        stmt = select(Case).where(c.id.in_(due))
        if exclude:
            stmt = stmt.where(c.id.not_in(exclude))
        stmt = stmt.order_by(c.id).limit(limit).with_for_update(skip_locked=True, of=cases)
        claimed = self.session.scalars(stmt).all()
        if not claimed:
            return []
        ids = [case.id for case in claimed]
        rows = self.session.scalars(
            select(Timer)
            .where(t.case_id.in_(ids), _open(), t.due_at <= now)
            .order_by(t.case_id, t.due_at, t.level, t.id)
        ).all()
        by_case: dict[int, list[Timer]] = {}
        for timer in rows:
            by_case.setdefault(timer.case_id, []).append(timer)
        return [(case, by_case.get(case.id or 0, [])) for case in claimed]

    def count_due(self, now: datetime) -> int:
        t = timers.c
        return self.session.scalar(select(func.count()).where(_open(), t.due_at <= now)) or 0


def _open() -> Any:
    return and_(timers.c.fired_at.is_(None), timers.c.cancelled_at.is_(None))


class SqlAlchemyUserRepository(ports.AbstractUserRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, user: User) -> None:
        self.session.add(user)

    def get(self, name: str) -> User | None:
        c = users.c
        return self.session.scalars(select(User).where(c.name == name)).one_or_none()

    def list(self) -> Sequence[User]:
        c = users.c
        return self.session.scalars(select(User).order_by(c.name)).all()

    def admin_exists(self) -> bool:
        # Few users, and roles are one column: checking in Python keeps the match exact.
        active = self.session.scalars(select(User).where(users.c.active.is_(True)))
        return any(u.holds("admin") for u in active)


class SqlAlchemyDefinitionRepository(ports.AbstractDefinitionRepository):
    def __init__(self, session: Session, parse: Parser) -> None:
        self.session = session
        self.parse = parse

    def add(self, definition: DeployedDefinition) -> None:
        self.session.add(definition)

    def get(self, name: str, version: int) -> DeployedDefinition | None:
        c = definitions.c
        stmt = select(DeployedDefinition).where(c.name == name, c.version == version)
        return self.session.scalars(stmt).one_or_none()

    def list(self) -> Sequence[DeployedDefinition]:
        c = definitions.c
        return self.session.scalars(select(DeployedDefinition).order_by(c.name, c.version)).all()

    def latest(self, name: str) -> DeployedDefinition | None:
        c = definitions.c
        stmt = select(DeployedDefinition).where(c.name == name).order_by(c.version.desc()).limit(1)
        return self.session.scalars(stmt).first()

    def parsed(self, name: str, version: int) -> DefinitionSpec:
        bind = self.session.get_bind()
        key = (str(bind.engine.url), name, version)
        spec = _PARSED.get(key)
        if spec is None:
            deployed = self.get(name, version)
            if deployed is None:
                raise NotFound("definition", f"{name} v{version}", "run `loanflow init`")
            spec = _PARSED[key] = self.parse(f"{name} v{version}", deployed.compiled)
        return spec

    def workflow(self, name: str, version: int) -> WorkflowSpec:
        spec = self.parsed(name, version)
        if not isinstance(spec, WorkflowSpec):
            raise InvalidDefinition(name, "kind", "is a tier policy, not a workflow")
        return spec

    def policy(self) -> TierPolicy:
        c = definitions.c
        stmt = select(DeployedDefinition).where(c.kind == "tier_policy").order_by(c.version.desc())
        deployed = self.session.scalars(stmt.limit(1)).first()
        if deployed is None:
            raise NotFound("tier policy", "deployed", "run `loanflow init`")
        spec = self.parsed(deployed.name, deployed.version)
        assert isinstance(spec, TierPolicy)
        return spec

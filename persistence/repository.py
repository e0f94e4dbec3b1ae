"""SQLAlchemy repositories: Core queries that load plain domain objects; they never commit.

The statements an action runs are built once, at import, so each costs SQLAlchemy a cache lookup
rather than a construction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, bindparam, case, false, func, or_, select

from persistence.changes import Changes
from persistence.orm import (
    CASE,
    DEFINITION,
    DOCUMENT,
    EVENT,
    TIMER,
    USER,
    cases,
    definitions,
    documents,
    events,
    timers,
    users,
)
from workflow import ports
from workflow.errors import InvalidDefinition, NotFound
from workflow.model import Case, DeployedDefinition, Document, Event, Timer, User
from workflow.spec import DefinitionSpec, TierPolicy, WorkflowSpec

Parser = Callable[[str, str], DefinitionSpec]

# Parsed specs by database and (name, version): a deployed version never changes (deploying other
# content under it is refused), so one read and one parse per process serve every case pinned to it.
_PARSED: dict[tuple[str, str, int], DefinitionSpec] = {}


def _open() -> Any:
    return and_(timers.c.fired_at.is_(None), timers.c.cancelled_at.is_(None))


_CASE_BY_ID = select(cases).where(cases.c.id == bindparam("id"))
_USER_BY_NAME = select(users).where(users.c.name == bindparam("name"))
_PENDING_TIMERS = (
    select(timers)
    .where(timers.c.case_id == bindparam("case_id"), _open())
    .order_by(timers.c.due_at, timers.c.id)
)
_CANCEL_PENDING = (
    timers.update()
    .where(timers.c.case_id == bindparam("of_case"), _open())
    .values(cancelled_at=bindparam("at"))
)


class SqlAlchemyCaseRepository(ports.AbstractCaseRepository):
    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self.connection = changes.connection
        self.seen: list[Case] = []

    def add(self, case: Case) -> None:
        self.changes.insert_now(case)  # assigns the id the first event needs
        self.seen.append(case)

    def get(self, case_id: int) -> Case | None:
        row = self.connection.execute(_CASE_BY_ID, {"id": case_id}).one_or_none()
        if row is None:
            return None
        case: Case = self.changes.load(CASE, row)
        self.seen.append(case)
        return case

    def _load(self, stmt: Any) -> Sequence[Case]:
        return [self.changes.load(CASE, row) for row in self.connection.execute(stmt)]

    def list(self, query: ports.CaseQuery) -> Sequence[Case]:
        c = cases.c
        stmt = select(cases)
        if query.state:
            stmt = stmt.where(c.state == query.state)
        if query.tier:
            stmt = stmt.where(c.tier == query.tier)
        if query.branch:
            stmt = stmt.where(c.branch == query.branch)
        if query.overdue_at is not None:
            stmt = stmt.where(c.due_at <= query.overdue_at).order_by(c.due_at, c.id)
        return self._load(stmt.order_by(c.id).limit(query.limit))

    def inbox_candidates(self, query: ports.InboxQuery) -> Iterator[Case]:
        c = cases.c
        where: list[Any] = [
            and_(c.definition_name == n, c.definition_version == v, c.state == st)
            for n, v, st in query.positions
        ]
        if query.min_escalation is not None:
            where.append(c.escalation_level >= query.min_escalation)
        stmt = select(cases).where(or_(*where) if where else false())
        if query.branch:
            stmt = stmt.where(c.branch == query.branch)
        vip_first = case((c.priority == "vip", 0), else_=1)
        stmt = stmt.order_by(vip_first, c.escalation_level.desc(), c.state_entered_at, c.id)
        offset = 0
        while True:
            batch = self._load(stmt.offset(offset).limit(query.batch))
            yield from batch
            if len(batch) < query.batch:
                return
            offset += query.batch

    def count(self) -> int:
        return self.connection.scalar(select(func.count()).select_from(cases)) or 0

    def batch_after(self, after_id: int, limit: int) -> Sequence[Case]:
        c = cases.c
        return self._load(select(cases).where(c.id > after_id).order_by(c.id).limit(limit))

    def current_state(self, case_id: int) -> str | None:
        c = cases.c
        return self.connection.execute(select(c.state).where(c.id == case_id)).scalar_one_or_none()


class SqlAlchemyEventRepository(ports.AbstractEventRepository):
    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self.connection = changes.connection

    def add(self, event: Event) -> None:
        self.changes.add(event)

    def for_case(self, case_id: int) -> Sequence[Event]:
        c = events.c
        return self._load(select(events).where(c.case_id == case_id).order_by(c.seq))

    def for_cases(self, case_ids: Sequence[int]) -> Sequence[Event]:
        c = events.c
        stmt = select(events).where(c.case_id.in_(case_ids)).order_by(c.case_id, c.seq, c.id)
        return self._load(stmt)

    def batch_after(self, after_id: int, since: datetime | None, limit: int) -> Sequence[Event]:
        c = events.c
        stmt = select(events).where(c.id > after_id)
        if since is not None:
            stmt = stmt.where(c.at >= since)
        return self._load(stmt.order_by(c.id).limit(limit))

    def _load(self, stmt: Any) -> list[Event]:
        self.changes.flush(Event)  # an event added in this transaction is read back too
        return [EVENT.load(row) for row in self.connection.execute(stmt)]


class SqlAlchemyDocumentRepository(ports.AbstractDocumentRepository):
    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self.connection = changes.connection

    def add(self, document: Document) -> None:
        self.changes.add(document)

    def for_case(self, case_id: int) -> Sequence[Document]:
        c = documents.c
        return self._load(select(documents).where(c.case_id == case_id).order_by(c.seq, c.id))

    def for_cases(self, case_ids: Sequence[int]) -> Sequence[Document]:
        c = documents.c
        stmt = select(documents).where(c.case_id.in_(case_ids)).order_by(c.case_id, c.seq, c.id)
        return self._load(stmt)

    def _load(self, stmt: Any) -> list[Document]:
        self.changes.flush(Document)
        return [DOCUMENT.load(row) for row in self.connection.execute(stmt)]


class SqlAlchemyTimerRepository(ports.AbstractTimerRepository):
    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self.connection = changes.connection
        self.loaded: dict[int, list[Timer]] = {}  # by case: what cancel_pending must keep in step

    def add(self, timer: Timer) -> None:
        self.changes.add(timer)
        self._track([timer])

    def pending_for_case(self, case_id: int) -> Sequence[Timer]:
        self.changes.flush(Timer)
        rows = self.connection.execute(_PENDING_TIMERS, {"case_id": case_id})
        return self._track([self.changes.load(TIMER, row) for row in rows])

    def cancel_pending(self, case_id: int, at: datetime) -> None:
        # Timers fired or armed earlier in this transaction reach the database first, or this
        # one UPDATE would cancel a fired timer (a sweep) or miss a new one.
        self.changes.flush(Timer)
        self.connection.execute(_CANCEL_PENDING, {"of_case": case_id, "at": at})
        for timer in self.loaded.get(case_id, ()):  # and the ones in memory say so too
            if timer.fired_at is None and timer.cancelled_at is None:
                timer.cancelled_at = at
                self.changes.written(timer)

    def claim_due(
        self, now: datetime, limit: int, exclude: set[int]
    ) -> list[tuple[Case, list[Timer]]]:
        c, t = cases.c, timers.c
        due = select(t.case_id).where(_open(), t.due_at <= now)
        if exclude:
            due = due.where(t.case_id.not_in(exclude))
        # No ORDER BY: sorting every due case would make each claim read them all (a sweep's
        # cost would grow with the square of what is due); unordered, the claim stops at `limit`
        # cases it could lock. The batch is then fired in id order.
        stmt = select(cases).where(c.id.in_(due)).limit(limit)
        stmt = stmt.with_for_update(skip_locked=True, of=cases)
        rows = self.connection.execute(stmt)
        claimed = sorted((self.changes.load(CASE, row) for row in rows), key=lambda k: k.id)
        if not claimed:
            return []
        ids = [case.id for case in claimed]
        rows = self.connection.execute(
            select(timers)
            .where(t.case_id.in_(ids), _open(), t.due_at <= now)
            .order_by(t.case_id, t.due_at, t.level, t.id)
        )
        by_case: dict[int, list[Timer]] = {}
        for timer in self._track([self.changes.load(TIMER, row) for row in rows]):
            by_case.setdefault(timer.case_id, []).append(timer)
        return [(case, by_case.get(case.id or 0, [])) for case in claimed]

    def count_due(self, now: datetime) -> int:
        t = timers.c
        return self.connection.scalar(select(func.count()).where(_open(), t.due_at <= now)) or 0

    def _track(self, loaded: list[Timer]) -> list[Timer]:
        for timer in loaded:
            known = self.loaded.setdefault(timer.case_id, [])
            if timer not in known:
                known.append(timer)
        return loaded


class SqlAlchemyUserRepository(ports.AbstractUserRepository):
    def __init__(self, changes: Changes) -> None:
        self.changes = changes
        self.connection = changes.connection

    def add(self, user: User) -> None:
        self.changes.add(user)

    def get(self, name: str) -> User | None:
        self.changes.flush(User)  # a user added in this transaction is found too
        row = self.connection.execute(_USER_BY_NAME, {"name": name}).one_or_none()
        return None if row is None else self.changes.load(USER, row)

    def list(self) -> Sequence[User]:
        return self._load(select(users).order_by(users.c.name))

    def admin_exists(self) -> bool:
        # Few users, and roles are one column: checking in Python keeps the match exact.
        active = self._load(select(users).where(users.c.active.is_(True)))
        return any(u.holds("admin") for u in active)

    def _load(self, stmt: Any) -> Sequence[User]:
        self.changes.flush(User)
        return [self.changes.load(USER, row) for row in self.connection.execute(stmt)]


class SqlAlchemyDefinitionRepository(ports.AbstractDefinitionRepository):
    def __init__(self, changes: Changes, parse: Parser) -> None:
        self.changes = changes
        self.connection = changes.connection
        self.parse = parse
        self._database = str(changes.connection.engine.url)  # once: rendering it is not free

    def add(self, definition: DeployedDefinition) -> None:
        self.changes.add(definition)

    def get(self, name: str, version: int) -> DeployedDefinition | None:
        c = definitions.c
        found = self._load(select(definitions).where(c.name == name, c.version == version))
        return found[0] if found else None

    def list(self) -> Sequence[DeployedDefinition]:
        c = definitions.c
        return self._load(select(definitions).order_by(c.name, c.version))

    def latest(self, name: str) -> DeployedDefinition | None:
        c = definitions.c
        stmt = select(definitions).where(c.name == name).order_by(c.version.desc()).limit(1)
        found = self._load(stmt)
        return found[0] if found else None

    def parsed(self, name: str, version: int) -> DefinitionSpec:
        key = (self._database, name, version)
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
        stmt = select(definitions).where(c.kind == "tier_policy").order_by(c.version.desc())
        found = self._load(stmt.limit(1))
        if not found:
            raise NotFound("tier policy", "deployed", "run `loanflow init`")
        spec = self.parsed(found[0].name, found[0].version)
        assert isinstance(spec, TierPolicy)
        return spec

    def _load(self, stmt: Any) -> Sequence[DeployedDefinition]:
        self.changes.flush(DeployedDefinition)  # deploying reads back what it added
        return [DEFINITION.load(row) for row in self.connection.execute(stmt)]

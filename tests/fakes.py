"""In-memory adapters for service tests: the same ports, no database."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from definitions.loader import bundled_sources, load
from workflow import ports
from workflow.errors import NotFound
from workflow.model import Case, DeployedDefinition, Document, Event, Timer, User
from workflow.spec import TierPolicy, WorkflowSpec


class FakeCaseRepository(ports.AbstractCaseRepository):
    def __init__(self) -> None:
        self.rows: dict[int, Case] = {}

    def add(self, case: Case) -> None:
        case.id = len(self.rows) + 1
        self.rows[case.id] = case

    def get(self, case_id: int) -> Case | None:
        return self.rows.get(case_id)

    def list(self, query: ports.CaseQuery) -> Sequence[Case]:
        found = [c for c in self.rows.values() if query.state in (None, c.state)]
        found = [c for c in found if query.tier in (None, c.tier)]
        if query.overdue_at is not None:
            found = sorted(
                (c for c in found if c.due_at and c.due_at <= query.overdue_at),
                key=lambda c: c.due_at or query.overdue_at,
            )
        return found[: query.limit]

    def inbox_candidates(self, query: ports.InboxQuery) -> Iterator[Case]:
        positions = set(query.positions)
        for c in sorted(
            self.rows.values(), key=lambda c: (c.priority != "vip", c.state_entered_at)
        ):
            if (c.definition_name, c.definition_version, c.state) in positions:
                yield c

    def count(self) -> int:
        return len(self.rows)

    def batch_after(self, after_id: int, limit: int) -> Sequence[Case]:
        return [self.rows[i] for i in sorted(self.rows) if i > after_id][:limit]

    def current_state(self, case_id: int) -> str | None:
        return self.rows[case_id].state if case_id in self.rows else None


class FakeListRepository:
    def __init__(self) -> None:
        self.rows: list[object] = []

    def add(self, row: object) -> None:
        self.rows.append(row)


class FakeEventRepository(FakeListRepository, ports.AbstractEventRepository):
    def for_case(self, case_id: int) -> Sequence[Event]:
        return [e for e in self.rows if isinstance(e, Event) and e.case_id == case_id]

    def for_cases(self, case_ids: Sequence[int]) -> Sequence[Event]:
        found = [e for e in self.rows if isinstance(e, Event) and e.case_id in case_ids]
        return sorted(found, key=lambda e: (e.case_id, e.seq))

    def batch_after(self, after_id: int, since: datetime | None, limit: int) -> Sequence[Event]:
        found = [
            e
            for i, e in enumerate(self.rows, start=1)
            if isinstance(e, Event) and i > after_id and (since is None or e.at >= since)
        ]
        return found[:limit]


class FakeTimerRepository(FakeListRepository, ports.AbstractTimerRepository):
    def __init__(self, cases: FakeCaseRepository) -> None:
        super().__init__()
        self.cases = cases

    def open(self) -> list[Timer]:
        return [
            t
            for t in self.rows
            if isinstance(t, Timer) and t.fired_at is None and t.cancelled_at is None
        ]

    def pending_for_case(self, case_id: int) -> Sequence[Timer]:
        return [t for t in self.open() if t.case_id == case_id]

    def cancel_pending(self, case_id: int, at: datetime) -> None:
        for timer in self.pending_for_case(case_id):
            timer.cancelled_at = at

    def claim_due(
        self, now: datetime, limit: int, exclude: set[int]
    ) -> list[tuple[Case, list[Timer]]]:
        due = sorted(
            (t for t in self.open() if t.due_at <= now and t.case_id not in exclude),
            key=lambda t: (t.case_id, t.due_at, t.level),
        )
        ids = sorted({t.case_id for t in due})[:limit]
        return [(self.cases.rows[i], [t for t in due if t.case_id == i]) for i in ids]

    def count_due(self, now: datetime) -> int:
        return sum(1 for t in self.open() if t.due_at <= now)


class FakeDocumentRepository(FakeListRepository, ports.AbstractDocumentRepository):
    def for_case(self, case_id: int) -> Sequence[Document]:
        return [d for d in self.rows if isinstance(d, Document) and d.case_id == case_id]

    def for_cases(self, case_ids: Sequence[int]) -> Sequence[Document]:
        return [d for d in self.rows if isinstance(d, Document) and d.case_id in case_ids]


class FakeUserRepository(ports.AbstractUserRepository):
    def __init__(self) -> None:
        self.rows: dict[str, User] = {}

    def add(self, user: User) -> None:
        self.rows[user.name] = user

    def get(self, name: str) -> User | None:
        return self.rows.get(name)

    def list(self) -> Sequence[User]:
        return sorted(self.rows.values(), key=lambda u: u.name)

    def admin_exists(self) -> bool:
        return any(u.active and u.holds("admin") for u in self.rows.values())


class FakeDefinitionRepository(ports.AbstractDefinitionRepository):
    """Serves the bundled definitions, parsed once."""

    def __init__(self) -> None:
        self.specs = {(spec.name, spec.version): spec for spec in map(load, bundled_sources())}
        self.rows: list[DeployedDefinition] = []

    def add(self, definition: DeployedDefinition) -> None:
        self.rows.append(definition)

    def get(self, name: str, version: int) -> DeployedDefinition | None:
        return next((d for d in self.rows if (d.name, d.version) == (name, version)), None)

    def list(self) -> Sequence[DeployedDefinition]:
        return self.rows

    def latest(self, name: str) -> DeployedDefinition | None:
        versions = [d for d in self.rows if d.name == name]
        return max(versions, key=lambda d: d.version) if versions else None

    def parsed(self, name: str, version: int) -> WorkflowSpec | TierPolicy:
        if (name, version) not in self.specs:
            raise NotFound("definition", name)
        return self.specs[(name, version)]

    def workflow(self, name: str, version: int) -> WorkflowSpec:
        spec = self.parsed(name, version)
        assert isinstance(spec, WorkflowSpec)
        return spec

    def policy(self) -> TierPolicy:
        spec = self.parsed("tier_policy", 1)
        assert isinstance(spec, TierPolicy)
        return spec


class FakeUnitOfWork(ports.AbstractUnitOfWork):
    """Commits by keeping a snapshot; a rollback restores the last committed snapshot."""

    def __init__(self) -> None:
        self.cases = FakeCaseRepository()
        self.events = FakeEventRepository()
        self.timers = FakeTimerRepository(self.cases)
        self.documents = FakeDocumentRepository()
        self.users = FakeUserRepository()
        self.definitions = FakeDefinitionRepository()
        self.commits = 0
        self._snapshot = self._state()

    def _repositories(
        self,
    ) -> tuple[FakeCaseRepository | FakeListRepository | FakeUserRepository, ...]:
        return (self.cases, self.events, self.timers, self.documents, self.users)

    def _state(self) -> list[object]:
        return copy.deepcopy([repo.rows for repo in self._repositories()])

    def _restore(self, state: list[object]) -> None:
        for repo, rows in zip(self._repositories(), copy.deepcopy(state), strict=True):
            repo.rows = rows  # type: ignore[assignment]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        saved = self._state()
        try:
            yield
        except BaseException:
            self._restore(saved)
            raise

    def commit(self) -> None:
        self.commits += 1
        self._snapshot = self._state()

    def rollback(self) -> None:
        self._restore(self._snapshot)

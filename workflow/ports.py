"""The persistence interface the service layer needs; adapters live in persistence/."""

from __future__ import annotations

import abc
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, NamedTuple, Protocol

from workflow.model import Case, DeployedDefinition, Document, Event, Timer, User
from workflow.spec import DefinitionSpec, TierPolicy, WorkflowSpec


@dataclass(frozen=True)
class CaseQuery:
    """Filters for listing cases; `overdue_at` keeps cases past their SLA at that moment."""

    state: str | None = None
    tier: str | None = None
    branch: str | None = None
    overdue_at: datetime | None = None
    limit: int = 50


@dataclass(frozen=True)
class InboxQuery:
    """Open cases in any of `(definition, version, state)` or escalated to `min_escalation`."""

    positions: tuple[tuple[str, int, str], ...]
    branch: str | None
    min_escalation: int | None
    batch: int = 200


class AbstractCaseRepository(abc.ABC):
    """Cases by id; `add` assigns the id."""

    @abc.abstractmethod
    def add(self, case: Case) -> None: ...

    @abc.abstractmethod
    def get(self, case_id: int) -> Case | None: ...

    @abc.abstractmethod
    def list(self, query: CaseQuery) -> Sequence[Case]: ...

    @abc.abstractmethod
    def inbox_candidates(self, query: InboxQuery) -> Iterator[Case]:
        """Candidates, VIP first, then most escalated, then oldest; the caller checks guards."""

    @abc.abstractmethod
    def count(self) -> int: ...

    @abc.abstractmethod
    def batch_after(self, after_id: int, limit: int) -> Sequence[Case]:
        """The next `limit` cases by id after `after_id` (for streaming over every case)."""

    @abc.abstractmethod
    def current_state(self, case_id: int) -> str | None:
        """The committed state, read afresh (for conflict messages)."""


class AbstractEventRepository(abc.ABC):
    """The append-only history."""

    @abc.abstractmethod
    def add(self, event: Event) -> None: ...

    @abc.abstractmethod
    def for_case(self, case_id: int) -> Sequence[Event]: ...

    @abc.abstractmethod
    def for_cases(self, case_ids: Sequence[int]) -> Sequence[Event]:
        """The events of several cases, by case then seq."""

    @abc.abstractmethod
    def batch_after(self, after_id: int, since: datetime | None, limit: int) -> Sequence[Event]:
        """The next `limit` events by id after `after_id`, at or after `since`."""


class DocumentRenderer(Protocol):
    """Renders a document template with a context (the Jinja adapter lives in definitions/)."""

    def render(self, template: str, context: dict[str, Any]) -> str: ...


class AbstractDocumentRepository(abc.ABC):
    """Documents issued at steps."""

    @abc.abstractmethod
    def add(self, document: Document) -> None: ...

    @abc.abstractmethod
    def for_case(self, case_id: int) -> Sequence[Document]: ...

    @abc.abstractmethod
    def for_cases(self, case_ids: Sequence[int]) -> Sequence[Document]: ...


class AbstractTimerRepository(abc.ABC):
    """Timers armed and cancelled in the same transaction as the action."""

    @abc.abstractmethod
    def add(self, timer: Timer) -> None: ...

    @abc.abstractmethod
    def pending_for_case(self, case_id: int) -> Sequence[Timer]: ...

    @abc.abstractmethod
    def cancel_pending(self, case_id: int, at: datetime) -> None:
        """Cancel every timer of the case not yet fired or cancelled."""

    @abc.abstractmethod
    def claim_due(
        self, now: datetime, limit: int, exclude: set[int]
    ) -> list[tuple[Case, list[Timer]]]:
        """Up to `limit` cases with open timers due at `now`, each with those timers in due order.

        The cases are locked for this transaction; cases another sweeper holds are skipped
        (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: the write lock taken at BEGIN).
        """

    @abc.abstractmethod
    def count_due(self, now: datetime) -> int:
        """How many open timers are due at `now`."""


class AbstractUserRepository(abc.ABC):
    """People and their roles."""

    @abc.abstractmethod
    def add(self, user: User) -> None: ...

    @abc.abstractmethod
    def get(self, name: str) -> User | None: ...

    @abc.abstractmethod
    def list(self) -> Sequence[User]: ...

    @abc.abstractmethod
    def admin_exists(self) -> bool: ...


class AbstractDefinitionRepository(abc.ABC):
    """Deployed definitions: the stored text is parsed into specs by the adapter."""

    @abc.abstractmethod
    def add(self, definition: DeployedDefinition) -> None: ...

    @abc.abstractmethod
    def get(self, name: str, version: int) -> DeployedDefinition | None: ...

    @abc.abstractmethod
    def list(self) -> Sequence[DeployedDefinition]: ...

    @abc.abstractmethod
    def latest(self, name: str) -> DeployedDefinition | None: ...

    @abc.abstractmethod
    def parsed(self, name: str, version: int) -> DefinitionSpec:
        """The parsed spec of a deployed definition version (NotFound if none)."""

    @abc.abstractmethod
    def workflow(self, name: str, version: int) -> WorkflowSpec:
        """The parsed spec of a deployed workflow version (NotFound if none)."""

    @abc.abstractmethod
    def policy(self) -> TierPolicy:
        """The latest deployed tier policy (NotFound if none)."""


class AbstractUnitOfWork(abc.ABC):
    """One transaction: leaving without `commit()` rolls everything back."""

    cases: AbstractCaseRepository
    events: AbstractEventRepository
    timers: AbstractTimerRepository
    documents: AbstractDocumentRepository
    users: AbstractUserRepository
    definitions: AbstractDefinitionRepository
    indicators: AbstractIndicatorQueries

    def __enter__(self) -> AbstractUnitOfWork:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.rollback()

    @abc.abstractmethod
    def savepoint(self) -> AbstractContextManager[None]:
        """A nested transaction: an exception inside undoes only what was done inside."""

    @abc.abstractmethod
    def commit(self) -> None:
        """Make the transaction's writes durable (ConcurrentChange on a lost optimistic race)."""

    @abc.abstractmethod
    def rollback(self) -> None: ...


class HistoryRow(NamedTuple):
    """One event as the service indicators read it, with its case's tier, branch and priority.

    A named tuple, not a dataclass: a month of a county's cases is a million of these.
    """

    case_id: int
    seq: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    at: datetime
    level: int | None  # the escalation level an `escalate` event raised the case to
    definition_name: str
    definition_version: int
    tier: str
    branch: str | None
    priority: str


@dataclass(frozen=True)
class HistoryQuery:
    """The cases active in [start, end): created before `end`, and with an event at or after
    `start` or still open (not in one of `closed`, given as (definition, version, state))."""

    start: datetime
    end: datetime
    closed: tuple[tuple[str, int, str], ...]
    branch: str | None = None


class AbstractIndicatorQueries(abc.ABC):
    """What the service indicators read: the event history, streamed."""

    @abc.abstractmethod
    def history(self, query: HistoryQuery) -> Iterator[HistoryRow]:
        """Every event before `query.end` of the cases active in the period, by case then seq."""

"""The SQLAlchemy unit of work: one connection, one transaction, committed only on request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from persistence import repository
from persistence.changes import Changes, StaleVersion
from persistence.database import WRITE
from persistence.indicators import SqlAlchemyIndicatorQueries
from workflow.errors import ConcurrentChange, DatabaseUnavailable
from workflow.model import case_ref
from workflow.ports import AbstractUnitOfWork


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """A transaction over all repositories.

    Args:
        engine: where to connect; one connection per `with` block.
        parse: turns a deployed definition's text into its spec (the loader, wired by the CLI).
        write: take the write lock at the start (SQLite); readers pass False and block no writer.
    """

    cases: repository.SqlAlchemyCaseRepository

    def __init__(
        self,
        engine: Engine,
        parse: repository.Parser,
        *,
        write: bool = True,
    ) -> None:
        self.engine = engine
        self.parse = parse
        self.write = write

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        options: dict[str, object] = {WRITE: self.write}
        if not self.write and self.engine.dialect.name == "postgresql":
            # A reader (audit verify, reports) sees one snapshot: a case row and its events from
            # the same moment, however busy the officers are.
            options["isolation_level"] = "REPEATABLE READ"
        try:
            self.connection: Connection = self.engine.connect().execution_options(**options)
        except OperationalError as err:
            raise _unavailable(err) from err
        try:
            self.connection.begin()  # a writer takes SQLite's write lock here (BEGIN IMMEDIATE)
        except OperationalError as err:
            self.connection.close()
            raise _unavailable(err) from err
        self.changes = Changes(self.connection)
        self.cases = repository.SqlAlchemyCaseRepository(self.changes)
        self.events = repository.SqlAlchemyEventRepository(self.changes)
        self.timers = repository.SqlAlchemyTimerRepository(self.changes)
        self.documents = repository.SqlAlchemyDocumentRepository(self.changes)
        self.users = repository.SqlAlchemyUserRepository(self.changes)
        self.definitions = repository.SqlAlchemyDefinitionRepository(self.changes, self.parse)
        self.indicators = SqlAlchemyIndicatorQueries(self.connection)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
            if isinstance(exc, StaleVersion | IntegrityError):  # a flush lost a race
                raise self._conflict() from exc
        finally:
            self.connection.close()
        if isinstance(exc, OperationalError):
            raise _unavailable(exc) from exc

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        try:
            with self.changes.savepoint():
                yield
        except StaleVersion as err:
            case_id = err.case_id
            current = self.cases.current_state(case_id) if case_id is not None else None
            raise ConcurrentChange(case_ref(case_id) if case_id else None, current) from err

    def flush(self) -> None:
        """Write the changes so far, inside the transaction (commit does this itself)."""
        self.changes.flush()

    def commit(self) -> None:
        try:
            self.changes.flush()
            self.connection.commit()
        except (StaleVersion, IntegrityError) as err:
            # IntegrityError here is two writers appending the same event seq (PostgreSQL).
            self.connection.rollback()
            raise self._conflict() from err

    def rollback(self) -> None:
        self.connection.rollback()

    def _conflict(self) -> ConcurrentChange:
        """Name the case we were changing and the state another writer left it in."""
        case_id = self.cases.seen[-1].id if self.cases.seen else None
        if case_id is None:
            return ConcurrentChange(None, None)
        self.connection.rollback()
        current = self.cases.current_state(case_id) or "unknown"
        return ConcurrentChange(case_ref(case_id), current)


def _unavailable(err: OperationalError) -> DatabaseUnavailable:
    message = str(err.orig).splitlines()[0] if err.orig else str(err).splitlines()[0]
    if "no such table" in message or "does not exist" in message:
        return DatabaseUnavailable(
            f"the database is not initialised ({message}); run `loanflow init`"
        )
    return DatabaseUnavailable(f"database error: {message}")

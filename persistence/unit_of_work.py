"""The SQLAlchemy unit of work: one session, one transaction, committed only on request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from persistence import repository
from persistence.database import WRITE
from persistence.indicators import SqlAlchemyIndicatorQueries
from persistence.orm import start_mappers
from workflow.errors import ConcurrentChange, DatabaseUnavailable
from workflow.model import case_ref
from workflow.ports import AbstractUnitOfWork


class SqlAlchemyUnitOfWork(AbstractUnitOfWork):
    """A transaction over all repositories.

    Args:
        session_factory: makes the session; one per `with` block.
        parse: turns a deployed definition's text into its spec (the loader, wired by the CLI).
        write: take the write lock at the start (SQLite); readers pass False and block no writer.
    """

    cases: repository.SqlAlchemyCaseRepository

    def __init__(
        self,
        session_factory: sessionmaker[Session],
        parse: repository.Parser,
        *,
        write: bool = True,
    ) -> None:
        start_mappers()
        self.session_factory = session_factory
        self.parse = parse
        self.write = write

    def __enter__(self) -> SqlAlchemyUnitOfWork:
        self.session = self.session_factory()
        options: dict[str, object] = {WRITE: self.write}
        if not self.write and self.session.get_bind().dialect.name == "postgresql":
            # A reader (audit verify, reports) sees one snapshot: a case row and its events from
            # the same moment, however busy the officers are.
            options["isolation_level"] = "REPEATABLE READ"
        try:
            self.session.connection(execution_options=options)
        except OperationalError as err:
            self.session.close()
            raise _unavailable(err) from err
        self.cases = repository.SqlAlchemyCaseRepository(self.session)
        self.events = repository.SqlAlchemyEventRepository(self.session)
        self.timers = repository.SqlAlchemyTimerRepository(self.session)
        self.documents = repository.SqlAlchemyDocumentRepository(self.session)
        self.users = repository.SqlAlchemyUserRepository(self.session)
        self.definitions = repository.SqlAlchemyDefinitionRepository(self.session, self.parse)
        self.indicators = SqlAlchemyIndicatorQueries(self.session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            super().__exit__(exc_type, exc, tb)
            if isinstance(exc, StaleDataError | IntegrityError):  # an autoflush lost a race
                raise self._conflict() from exc
        finally:
            self.session.close()
        if isinstance(exc, OperationalError):
            raise _unavailable(exc) from exc

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        with self.session.begin_nested():
            yield

    def commit(self) -> None:
        try:
            self.session.commit()
        except (StaleDataError, IntegrityError) as err:
            # IntegrityError here is two writers appending the same event seq (PostgreSQL).
            self.session.rollback()
            raise self._conflict() from err

    def rollback(self) -> None:
        self.session.rollback()

    def _conflict(self) -> ConcurrentChange:
        """Name the case we were changing and the state another writer left it in."""
        case_id = self.cases.seen[-1].id if self.cases.seen else None
        if case_id is None:
            return ConcurrentChange(None, None)
        self.session.rollback()
        current = self.cases.current_state(case_id) or "unknown"
        return ConcurrentChange(case_ref(case_id), current)


def _unavailable(err: OperationalError) -> DatabaseUnavailable:
    message = str(err.orig).splitlines()[0] if err.orig else str(err).splitlines()[0]
    if "no such table" in message or "does not exist" in message:
        return DatabaseUnavailable(
            f"the database is not initialised ({message}); run `loanflow init`"
        )
    return DatabaseUnavailable(f"database error: {message}")

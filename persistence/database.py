"""Engine factory: SQLite set up for many CLI processes at once, PostgreSQL through psycopg 3."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from workflow.errors import DatabaseUnavailable, InvalidInput

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE = "loanflow_write"  # execution option: this transaction will write


def parse_url(url: str) -> URL:
    """A database URL, checked for a dialect loanflow supports.

    Raises:
        InvalidInput: not a URL, or neither SQLite nor PostgreSQL.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise InvalidInput("--db", url, "expected a URL like sqlite:///loanflow.db") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise InvalidInput("--db", url, "loanflow runs on sqlite or postgresql")
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() != "psycopg":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def sqlite_path(url: URL) -> str | None:
    """The file of a file-backed SQLite URL, else None."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


def make_engine(url: str, *, must_exist: bool = False) -> Engine:
    """An engine for `url`; nothing connects until first use.

    Args:
        url: a SQLAlchemy URL, sqlite or postgresql.
        must_exist: refuse a SQLite file that does not exist yet (only `init` creates one).

    Raises:
        InvalidInput: a bad URL.
        DatabaseUnavailable: no database at that path.
    """
    parsed = parse_url(url)
    path = sqlite_path(parsed)
    if path is not None:
        if must_exist and not os.path.exists(path):
            raise DatabaseUnavailable(f"no loanflow database at {path}; run `loanflow init` first")
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    try:
        import psycopg  # noqa: F401  # the optional `postgres` extra
    except ModuleNotFoundError:
        raise InvalidInput(
            "--db", parsed.render_as_string(), "PostgreSQL needs: pip install 'loanflow[postgres]'"
        ) from None
    return create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, and BEGIN IMMEDIATE for writers (SQLAlchemy's pysqlite recipe).

    Writers take the write lock when their transaction starts, so concurrent CLI processes queue
    on the busy timeout instead of failing with "database is locked" when upgrading a read lock.
    """

    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn: Any) -> None:
        write = conn.get_execution_options().get(WRITE, True)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

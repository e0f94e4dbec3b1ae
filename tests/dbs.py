"""The test databases: a temporary SQLite file, or an isolated schema on the PostgreSQL that
LOANFLOW_TEST_PG names; and backend-neutral helpers to dump, query and tamper with them."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, select, text
from sqlalchemy.exc import OperationalError

from persistence.orm import metadata

PG_URL = os.environ.get("LOANFLOW_TEST_PG")
BACKENDS = ["sqlite", "postgresql"]


@contextmanager
def database(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of `backend`, removed afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'loanflow.db'}"
        return
    if not PG_URL:
        pytest.skip("LOANFLOW_TEST_PG is not set: the PostgreSQL half of this test is skipped")
    schema = f"lf_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except OperationalError as err:  # set but unreachable: a failure, never a silent skip
        pytest.fail(f"LOANFLOW_TEST_PG={PG_URL} cannot be reached: {err}")
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def connect(db_url: str) -> Iterator[Connection]:
    """A connection in one transaction, committed on success (for checks and tampering)."""
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            yield conn
    finally:
        engine.dispose()


def query(db_url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with connect(db_url) as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


def execute(db_url: str, *statements: str) -> None:
    with connect(db_url) as conn:
        for statement in statements:
            conn.execute(text(statement))


def dump(db_url: str) -> str:
    """Every row of every loanflow table, in key order: equal dumps mean nothing was written."""
    lines = []
    with connect(db_url) as conn:
        for table in metadata.sorted_tables:
            keys = list(table.primary_key.columns)
            rows = conn.execute(select(table).order_by(*keys)).all()
            lines.extend(f"{table.name} {tuple(row)!r}" for row in rows)
    return "\n".join(lines)


@contextmanager
def tamperer(db_url: str) -> Iterator[Connection]:
    """A connection with the append-only triggers dropped, as someone with database access could."""
    with connect(db_url) as conn:
        if conn.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER events_no_update"))
            conn.execute(text("DROP TRIGGER events_no_delete"))
        else:
            conn.execute(text("DROP TRIGGER events_append_only ON events"))
        yield conn

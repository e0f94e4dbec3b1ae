"""Run the packaged Alembic migrations (imported only by `loanflow init`: Alembic is heavy)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from workflow.errors import DatabaseUnavailable

SCRIPT_LOCATION = "persistence:migrations"


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    """The newest revision the package ships."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    except OperationalError as err:
        raise _unreachable(engine, err) from err


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the head revision; returns (before, after)."""
    before = current_revision(engine)
    config = _config()
    try:
        with engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except OperationalError as err:
        raise _unreachable(engine, err) from err
    return before, head_revision()


def _unreachable(engine: Engine, err: OperationalError) -> DatabaseUnavailable:
    reason = str(err.orig).splitlines()[0] if err.orig else str(err).splitlines()[0]
    return DatabaseUnavailable(f"cannot open {engine.url.render_as_string()}: {reason}")

"""Alembic environment: runs on the connection `loanflow init` hands over."""

from __future__ import annotations

from alembic import context

from persistence.orm import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - loanflow always passes its own connection
    raise RuntimeError("run migrations through `loanflow init`, which supplies the connection")
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()

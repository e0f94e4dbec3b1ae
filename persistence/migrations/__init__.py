"""Alembic migrations of loanflow's schema, run by `loanflow init`."""

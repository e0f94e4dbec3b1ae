"""SQLAlchemy adapters for loanflow's ports: tables, repositories, unit of work, migrations."""

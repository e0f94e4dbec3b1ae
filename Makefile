# One command runs lint, formatting, types and tests: `make check` (the README and .ci/run use it).
PYTHON ?= python

.PHONY: check lint types test

check: lint types test

lint:
	$(PYTHON) -m ruff check .
	$(PYTHON) -m ruff format --check .

types:
	$(PYTHON) -m mypy

test:
	$(PYTHON) -m pytest

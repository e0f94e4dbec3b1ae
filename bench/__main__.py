"""`python -m bench [--quick] [--only NAME ...]`: run the benchmarks and print the results table.

Each benchmark runs loanflow and its reference (a floor or a peer) in the same process run,
alternating, several repetitions; the table gives medians, min-max and the ratio to the target.
PostgreSQL rows need a server: LOANFLOW_BENCH_PG (default: the local test database), each run in
a schema of its own that is dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable

from bench.common import Row, format_table

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _suites(quick: bool) -> dict[str, Callable[[], list[Row]]]:
    from bench import actions, audit, cli_action, peer, sweep

    return {
        "actions": lambda: actions.sqlite_rows(quick),
        "peer": lambda: peer.run(quick),
        "cli": lambda: cli_action.rows(quick),
        "sweep": lambda: sweep.sqlite_rows(quick),
        "audit": lambda: audit.rows(quick),
        "postgresql": lambda: _postgresql(quick),
    }


def _postgresql(quick: bool) -> list[Row]:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    from bench import actions, sweep

    base = os.environ.get("LOANFLOW_BENCH_PG", PG_DEFAULT)
    admin = create_engine(base)
    rows: list[Row] = []
    for suite in (actions.pg_rows, sweep.pg_rows):
        schema = f"lf_bench_{uuid.uuid4().hex[:10]}"
        try:
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        except OperationalError as err:
            print(
                f"PostgreSQL rows skipped: {base} cannot be reached ({err.orig})", file=sys.stderr
            )
            return rows
        try:
            rows += suite(f"{base}?options=-csearch_path%3D{schema}", quick)
        finally:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a smoke run, under a minute or two")
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="actions, peer, cli, sweep, audit, postgresql"
    )
    args = parser.parse_args(argv)
    suites = _suites(args.quick)
    chosen = args.only or list(suites)
    unknown = [n for n in chosen if n not in suites]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(suites)}")
    rows: list[Row] = []
    started = time.perf_counter()
    for name in chosen:
        print(f"running {name}...", file=sys.stderr, flush=True)
        rows += suites[name]()
    print(format_table(rows))
    print(f"\n({'quick' if args.quick else 'full'} run, {time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

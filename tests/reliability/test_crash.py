"""A worker killed with SIGKILL at random moments, fifty times: the history always verifies."""

from __future__ import annotations

import random
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import text

from definitions.loader import parse_compiled
from persistence.database import make_engine
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from workflow.audit import verify_history

ROOT = Path(__file__).resolve().parents[2]
KILLS = 50


def _start(db_url: str, seed: int) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.reliability.worker", db_url, str(seed), "100000", "--sweep"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def test_killing_a_busy_worker_never_leaves_a_half_written_change(
    filled: Callable[[int], str],
) -> None:
    db_url = filled(20)
    rng = random.Random(7)
    engine = make_engine(db_url)
    uow = SqlAlchemyUnitOfWork(engine, parse_compiled, write=False)
    done = 0
    worker = _start(db_url, 0)
    for kill in range(KILLS):
        assert worker.stdout is not None
        for _ in range(rng.randint(1, 4)):  # let it commit a few actions, then kill it mid-way
            if worker.stdout.readline():
                done += 1
        worker.kill()
        worker.wait(timeout=10)
        worker.stdout.close()
        assert worker.returncode == -9
        worker = _start(db_url, kill + 1)  # starting up while we check what the last one left
        report = verify_history(uow, "audit1")
        assert report.ok, report.findings
        with uow:  # one snapshot for both counts
            fired, system = uow.connection.execute(
                text(
                    "SELECT (SELECT COUNT(*) FROM timers WHERE fired_at IS NOT NULL), "
                    "(SELECT COUNT(*) FROM events WHERE actor = 'system')"
                )
            ).one()
        assert fired == system  # each fired timer wrote its one event, and no event lacks one
    worker.kill()
    worker.communicate(timeout=10)
    engine.dispose()
    assert done >= KILLS

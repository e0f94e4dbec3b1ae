"""Eight processes fire random actions, legal and illegal, at the same 20 cases at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.conftest import Loanflow
from tests.dbs import query
from tests.reliability.conftest import start

ROOT = Path(__file__).resolve().parents[2]
WORKERS, ATTEMPTS, CASES = 8, 200, 20


def run_workers(db_url: str, count: int, attempts: int, *extra: str) -> list[dict[str, int]]:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.reliability.worker",
                db_url,
                str(seed),
                str(attempts),
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(count)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "Traceback" not in err
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def test_eight_processes_of_random_actions_lose_nothing(
    filled: Callable[[int], str],
) -> None:
    db_url = filled(CASES)
    results = run_workers(db_url, WORKERS, ATTEMPTS)
    succeeded = sum(r["succeeded"] for r in results)
    for r in results:
        assert r["attempts"] == ATTEMPTS == r["succeeded"] + r["conflicts"] + r["refused"]
    assert succeeded > 0
    [(events,)] = query(db_url, "SELECT COUNT(*) FROM events")
    assert events == CASES + succeeded  # a refused or conflicting action wrote nothing
    per_case = query(
        db_url,
        "SELECT c.version, c.last_seq, COUNT(e.id) FROM cases c "
        "JOIN events e ON e.case_id = c.id GROUP BY c.id, c.version, c.last_seq",
    )
    assert all(version == last_seq == n for version, last_seq, n in per_case)
    verdict = start(db_url, "--actor", "audit1", "--json", "audit", "verify")
    out, err = verdict.communicate(timeout=60)
    assert verdict.returncode == 0, out + err
    assert json.loads(out)["cases"] == CASES


def test_the_worker_counts_conflicts_refusals_and_successes(lf: Loanflow) -> None:
    """The worker itself: with no cases at all, every attempt is refused."""
    results = run_workers(lf.db_url, 1, 20)
    assert results == [{"attempts": 20, "succeeded": 0, "conflicts": 0, "refused": 20}]

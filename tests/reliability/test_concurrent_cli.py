"""Two officers' CLI processes acting on one case at the same moment: one wins, nothing is lost."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import Loanflow
from tests.dbs import query

CLI = [sys.executable, "-c", "from cli import cli; cli()"]


def start(db_url: str, actor: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*CLI, "--db", db_url, "--actor", actor, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_processes_acting_on_one_case_at_once_one_wins(lf: Loanflow) -> None:
    cases = [lf.apply() for _ in range(6)]
    for case_id in cases:
        racers = [
            start(lf.db_url, actor, "act", case_id, "grant_credit") for actor in ("wang", "li")
        ]
        outcomes = []
        for proc in racers:
            out, err = proc.communicate(timeout=60)
            outcomes.append((proc.returncode, err))
        codes = sorted(code for code, _ in outcomes)
        assert codes[0] == 0, outcomes
        assert codes[1] in (1, 3), outcomes  # 3: lost the optimistic race; 1: saw the new state
        loser = next(err for code, err in outcomes if code != 0)
        assert "Traceback" not in loser
        assert (
            "changed since it was read" in loser
            or "cannot grant_credit in state credit_granted" in loser
        )
    counts = query(
        lf.db_url,
        "SELECT case_id, COUNT(*) FROM events WHERE action = 'grant_credit' GROUP BY case_id",
    )
    versions = query(lf.db_url, "SELECT DISTINCT version, last_seq FROM cases")
    assert sorted(counts) == [(n, 1) for n in range(1, 7)]
    assert versions == [(2, 2)]

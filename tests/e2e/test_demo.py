"""`loanflow demo`, the README's main job, on a fresh SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli import cli


def test_the_demo_takes_cases_down_every_path_and_shows_the_refusals(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(cli, ["demo", "--db", db_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "wang does not hold the role branch_head" in out
    assert "segregation of duties (not the investigator)" in out
    assert "over the limit of 1000000.00 yuan" in out
    assert "-> level 2" in out  # the closing sweep escalates the stalled cases
    assert f"loanflow --db {db_url} --actor zhao inbox" in out
    listed = json.loads(CliRunner().invoke(cli, ["--db", db_url, "--json", "list"]).output)
    assert {c["tier"] for c in listed} == {"low", "medium", "high"}
    assert {"disbursed", "funds_verified", "rejected", "withdrawn"} <= {c["state"] for c in listed}


def test_the_demo_refuses_a_database_that_holds_data(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    CliRunner().invoke(cli, ["demo", "--db", db_url])
    again = CliRunner().invoke(cli, ["demo", "--db", db_url])
    assert again.exit_code == 1
    assert "the demo needs a new database" in again.output

"""The CLI contract: bad input gets one line and an exit code, nothing written; help everywhere."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cli import cli
from persistence import repository
from tests.conftest import Loanflow
from tests.e2e.helpers import dump

APPLY = [
    "apply",
    "--customer",
    "Li Wei",
    "--customer-type",
    "individual",
    "--product",
    "small_farmer_credit",
]


@pytest.mark.parametrize(
    ("args", "actor", "message"),
    [
        ([*APPLY, "--rating", "good", "--amount", "abc"], "wang", "not a number"),
        ([*APPLY, "--rating", "good", "--amount", "-5"], "wang", "must be above zero"),
        ([*APPLY, "--rating", "good", "--amount", "0"], "wang", "must be above zero"),
        ([*APPLY, "--rating", "good", "--amount", "1000000.01"], "wang", "over the limit"),
        ([*APPLY, "--rating", "good", "--amount", "12.345"], "wang", "more than two decimals"),
        ([*APPLY, "--rating", "good", "--amount", "NaN"], "wang", "not a finite number"),
        ([*APPLY, "--amount", "2000"], "wang", "rating missing"),
        (
            [
                "apply",
                "--customer",
                "X",
                "--customer-type",
                "individual",
                "--product",
                "gold",
                "--amount",
                "10",
            ],
            "wang",
            "invalid product 'gold'",
        ),
        ([*APPLY, "--rating", "good", "--amount", "10"], "ghost", "no user 'ghost'"),
        (
            [*APPLY, "--rating", "good", "--amount", "10"],
            "zhao",
            "only a account_manager may apply",
        ),
        ([*APPLY, "--rating", "good", "--amount", "10"], None, "actor missing"),
        (["act", "LA-000099", "approve"], "zhao", "no case 'LA-000099'"),
        (["act", "LA-000001", "fly"], "wang", "cannot fly in state submitted"),
        (["act", "hello", "approve"], "zhao", "case ids look like LA-000001"),
        (["show", "LA-000042"], None, "no case 'LA-000042'"),
        (["history", "LA-000042"], None, "no case"),
    ],
)
def test_bad_input_gets_one_line_exit_1_and_writes_nothing(
    lf: Loanflow, args: list[str], actor: str | None, message: str
) -> None:
    lf.apply()
    before = dump(lf.db_url)
    result = lf(*args, actor=actor)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert result.output.count("\n") == 1
    assert result.output.startswith("error: ")
    assert dump(lf.db_url) == before


@pytest.mark.parametrize(
    "args",
    [
        ["apply", "--customer", "X"],
        [*APPLY, "--amount", "10", "--customer-type", "alien"],
        ["act", "LA-000001"],
        ["list", "--limit", "0"],
        ["frobnicate"],
        ["escalate-all-the-things"],
    ],
)
def test_usage_errors_exit_2_and_write_nothing(lf: Loanflow, args: list[str]) -> None:
    before = dump(lf.db_url)
    result = lf(*args, actor="wang")
    assert result.exit_code == 2
    assert dump(lf.db_url) == before


def test_a_case_changed_between_read_and_write_is_a_conflict_exit_3(
    lf: Loanflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    case_id = lf.apply()
    before = dump(lf.db_url)
    real_get = repository.SqlAlchemyCaseRepository.get

    def get_then_someone_else_writes(self: repository.SqlAlchemyCaseRepository, case_id: int):  # type: ignore[no-untyped-def]
        case = real_get(self, case_id)
        # Another officer's committed change, as seen by our optimistic check.
        self.connection.execute(
            text("UPDATE cases SET version = version + 1, state = 'credit_granted' WHERE id = :id"),
            {"id": case_id},
        )
        return case

    monkeypatch.setattr(repository.SqlAlchemyCaseRepository, "get", get_then_someone_else_writes)
    result = lf("act", case_id, "grant_credit", actor="wang")
    assert result.exit_code == 3
    assert result.output.strip() == (
        f"error: {case_id}: this case changed since it was read (now in state submitted); "
        "run the command again"
    )
    assert dump(lf.db_url) == before


def test_init_on_a_folder_that_does_not_exist_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--db", f"sqlite:///{tmp_path}/no/such/dir/x.db", "init"])
    assert result.exit_code == 1
    assert result.output.startswith("error: cannot open sqlite:///")
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_init_is_idempotent(lf: Loanflow) -> None:
    before = dump(lf.db_url)
    result = lf.ok("init", as_json=True)
    assert {d["outcome"] for d in json.loads(result.output)["definitions"]} == {"unchanged"}
    assert dump(lf.db_url) == before


def test_commands_other_than_init_refuse_a_missing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 1
    assert "run `loanflow init` first" in result.output
    assert list(tmp_path.iterdir()) == []


def test_once_an_admin_exists_only_admins_manage_users(lf: Loanflow) -> None:
    lf.ok("user", "add", "root", "--role", "admin")
    refused = lf("user", "add", "eve", "--role", "teller", actor="wang")
    assert refused.exit_code == 1
    assert "only a admin may add users" in refused.output
    lf.ok("user", "add", "eve", "--role", "teller", "--role", "reviewer", actor="root")
    lf.ok("user", "disable", "eve", actor="root")
    users = {u["name"]: u for u in json.loads(lf.ok("user", "list", as_json=True).output)}
    assert users["eve"] == {
        "name": "eve",
        "roles": ["reviewer", "teller"],
        "branch": None,
        "active": False,
    }
    assert "this user is disabled" in lf("inbox", actor="eve").output


def test_a_taken_user_name_is_refused(lf: Loanflow) -> None:
    result = lf("user", "add", "wang", "--role", "teller")
    assert result.exit_code == 1
    assert "exists already" in result.output


def test_definitions_are_listed_and_shown(lf: Loanflow) -> None:
    listed = json.loads(lf.ok("definitions", "list", as_json=True).output)
    assert {(d["name"], d["version"]) for d in listed} == {
        ("low_risk", 1),
        ("medium_risk", 1),
        ("high_risk", 1),
        ("tier_policy", 1),
        ("service_rating", 1),
    }
    assert "collective approval" in lf.ok("definitions", "show", "high_risk").output
    assert lf("definitions", "show", "nope").exit_code == 1


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):  # the top level loads its commands lazily
        command = group.get_command(context, name)
        assert command is not None, name
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(_commands(command, (*prefix, name)))
    return found


def test_the_command_list_is_the_contract() -> None:
    assert {path[0] for path in _commands(cli)} == {
        "act",
        "apply",
        "audit",
        "definitions",
        "demo",
        "documents",
        "escalate",
        "history",
        "inbox",
        "init",
        "list",
        "report",
        "scheduler",
        "show",
        "user",
    }
    assert len(_commands(cli)) > 25  # with the subcommands of user, audit, definitions, report


@pytest.mark.parametrize("path", _commands(cli))
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0
    assert "Usage:" in result.output
    assert len(result.output.splitlines()) > 3

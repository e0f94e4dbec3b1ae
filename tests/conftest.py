"""Shared fixtures: a fixed clock, a fresh SQLite database and a CLI runner that acts as a user."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cli import cli
from tests.dbs import BACKENDS, database

T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # 09:00 in Asia/Shanghai, a Monday

STAFF = {
    "wang": ["account_manager"],
    "li": ["account_manager"],
    "zhang": ["account_manager"],
    "chen": ["risk_officer"],
    "zhou": ["risk_officer"],
    "sun": ["reviewer"],
    "zhao": ["branch_head"],
    "qian": ["committee_member"],
    "wu": ["committee_member"],
    "zheng": ["committee_member"],
    "feng": ["committee_member"],
    "ma": ["teller"],
    "audit1": ["auditor"],
}


@dataclass
class Clock:
    """A clock the test moves by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class Loanflow:
    """Runs `loanflow` in-process against one database with an injected clock."""

    db_url: str
    clock: Clock
    runner: CliRunner = field(default_factory=CliRunner)

    def __call__(self, *args: str, actor: str | None = None, as_json: bool = False) -> Result:
        argv = ["--db", self.db_url]
        if actor:
            argv += ["--actor", actor]
        if as_json:
            argv.append("--json")
        self.clock.advance(minutes=1)
        return self.runner.invoke(
            cli, [*argv, *args], obj={"clock": self.clock}, catch_exceptions=False
        )

    def ok(self, *args: str, actor: str | None = None, as_json: bool = False) -> Result:
        result = self(*args, actor=actor, as_json=as_json)
        assert result.exit_code == 0, result.output
        return result

    def apply(self, actor: str = "wang", **fields: str | None) -> str:
        """Apply as `actor`; fields override the defaults, None leaves an option out."""
        argv: list[str] = []
        for key, value in {**DEFAULT_APPLICATION, **fields}.items():
            if value is not None:
                argv += [f"--{key.replace('_', '-')}", value]
        return str(json.loads(self.ok("apply", *argv, actor=actor, as_json=True).output)["id"])


DEFAULT_APPLICATION: dict[str, str | None] = {
    "customer": "Li Wei",
    "customer_type": "individual",
    "rating": "good",
    "product": "small_farmer_credit",
    "amount": "4500",
}


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a SQLite file, and an isolated PostgreSQL schema when configured."""
    with database(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def lf(db_url: str, clock: Clock) -> Loanflow:
    """A migrated database with the bundled definitions and the branch's staff."""
    tool = Loanflow(db_url, clock)
    tool.ok("init")
    for name, roles in STAFF.items():
        tool.ok("user", "add", name, *[a for r in roles for a in ("--role", r)], "--branch", "ys")
    return tool


Factory = Callable[..., str]

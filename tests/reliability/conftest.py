"""Fixtures for multi-process tests: a database filled through the service layer, fast."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from datetime import timedelta

import pytest

from definitions.loader import bundled_parsed, parse_compiled
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from tests.conftest import STAFF, T0
from workflow import admin, services
from workflow.policy import Application

CLI = [sys.executable, "-c", "from cli import cli; cli()"]
APPS = [  # low, medium and high risk; the high one in the green channel
    Application(
        "Li Wei", "individual", "good", "small_farmer_credit", "credit", 450000, 12, "normal"
    ),
    Application("Hu Jun", "individual", None, "merchant_loan", "guarantee", 6000000, 24, "normal"),
    Application(
        "Harvest Co", "corporate", None, "farm_machinery_loan", "mortgage", 80000000, 36, "vip"
    ),
]


def start(db_url: str, *args: str) -> subprocess.Popen[str]:
    """A `loanflow` process, started now; its output is collected by communicate()."""
    return subprocess.Popen(
        [*CLI, "--db", db_url, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.fixture
def filled(db_url: str) -> Callable[[int], str]:
    """A migrated database with `n` low-risk cases applied at T0, one a second."""

    def fill(n: int) -> str:
        url = db_url
        engine = make_engine(url)
        upgrade(engine)

        def uow() -> SqlAlchemyUnitOfWork:
            return SqlAlchemyUnitOfWork(engine, parse_compiled)

        admin.deploy_definitions(uow(), bundled_parsed(), T0)
        for name, roles in STAFF.items():
            admin.add_user(uow(), None, name, roles, "ys", T0)
        for i in range(n):
            services.apply(uow(), "wang", APPS[i % len(APPS)], T0 + timedelta(seconds=i))
        engine.dispose()
        return url

    return fill

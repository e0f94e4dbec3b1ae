"""Benchmark 3: one `loanflow act` as a whole process, against the import floor of the stack."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.common import Row, alternate
from bench.data import HIGH, T0, open_branch, sqlite_url
from workflow import services

FLOOR = [sys.executable, "-c", "import sqlalchemy, transitions, click"]


def loanflow_command() -> list[str]:
    script = Path(sys.executable).parent / "loanflow"
    return (
        [str(script)] if script.exists() else [sys.executable, "-c", "from cli import cli; cli()"]
    )


def byte_compile() -> None:
    """Compile loanflow's own modules, as installing a wheel does: the floor's packages come
    compiled, and with PYTHONDONTWRITEBYTECODE set (as here) an editable checkout never is."""
    import compileall
    import importlib.util

    for package in ("cli", "workflow", "persistence", "definitions"):
        spec = importlib.util.find_spec(package)
        assert spec is not None
        assert spec.submodule_search_locations
        for folder in spec.submodule_search_locations:
            compileall.compile_dir(folder, quiet=1)


def rows(quick: bool) -> list[Row]:
    runs, reps = (5, 2) if quick else (10, 3)
    byte_compile()
    with tempfile.TemporaryDirectory() as folder:
        url = sqlite_url(Path(folder), "cli.db")
        branch = open_branch(url)
        refs = [
            services.apply(branch.uow(), "wang", HIGH, T0 + timedelta(minutes=i)).id
            for i in range(runs * reps)
        ]
        branch.engine.dispose()
        pending = iter(refs)

        def ours(_rep: int) -> float:
            return _mean_seconds(
                [
                    [
                        *loanflow_command(),
                        "--db",
                        url,
                        "--actor",
                        "wang",
                        "act",
                        next(pending),
                        "accept",
                    ]
                    for _ in range(runs)
                ]
            )

        def floor(_rep: int) -> float:
            return _mean_seconds([FLOOR] * runs)

        mine, theirs = alternate(ours, floor, reps)
    return [
        Row(
            "one CLI action (a whole `loanflow act` process)",
            "s",
            mine,
            theirs,
            "python -c 'import sqlalchemy, transitions, click'",
            1,
            "<= 1.3",
            "a process per action on a SQLite file, loanflow's modules byte-compiled as a wheel "
            "install leaves them; lower is better, ratio = time / floor",
        )
    ]


def _mean_seconds(commands: list[list[str]]) -> float:
    import time

    start = time.perf_counter()
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)
    return (time.perf_counter() - start) / len(commands)

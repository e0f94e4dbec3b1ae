"""Benchmark 1 (and 6): cases driven down the whole high path, one transaction per action.

loanflow's service layer against the floor, on a SQLite file that already holds N cases; and on
PostgreSQL with 1, 2 and 4 worker processes.
"""

from __future__ import annotations

import multiprocessing
import shutil
import tempfile
import time
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import Row, Timing, alternate, timed
from bench.data import (
    ACTIONS_PER_CASE,
    HIGH,
    HIGH_STEPS,
    T0,
    Branch,
    FloorWriter,
    dbapi_connect,
    open_branch,
    sqlite_url,
)
from workflow import services


def drive(branch: Branch, cases: int, start_minutes: int = 0) -> None:
    """`cases` new cases down the whole high path through the service layer."""
    from definitions.documents import JinjaRenderer

    renderer = JinjaRenderer(ZoneInfo("Asia/Shanghai"))
    now = T0 + timedelta(days=400, minutes=start_minutes)
    for _ in range(cases):
        view = services.apply(branch.uow(), "wang", HIGH, now)
        for action, actor, _, _, vote in HIGH_STEPS:
            now += timedelta(minutes=1)
            services.act(branch.uow(), view.id, action, actor, now, None, vote, renderer)


def drive_floor(url: str, cases: int) -> None:
    conn = dbapi_connect(url)
    writer = FloorWriter(conn)
    at = T0 + timedelta(days=400)
    for _ in range(cases):
        at = writer.walk(at)
    conn.close()


def sqlite_rows(quick: bool) -> list[Row]:
    sizes = (2_000,) if quick else (2_000, 20_000)
    sample, reps = (20, 2) if quick else (100, 3)
    return [_sqlite_row(size, sample, reps) for size in sizes]


def _sqlite_row(size: int, sample: int, reps: int) -> Row:
    with tempfile.TemporaryDirectory() as folder:
        ours_url = sqlite_url(Path(folder), "loanflow.db")
        branch = open_branch(ours_url)
        conn = dbapi_connect(ours_url)
        FloorWriter(conn).populate(size - sample * reps, T0)
        conn.close()
        branch.engine.dispose()
        floor_path = Path(folder) / "floor.db"
        shutil.copy(Path(folder) / "loanflow.db", floor_path)
        branch = open_branch_existing(ours_url)
        ours, floor = alternate(
            lambda rep: timed(lambda: drive(branch, sample, rep * 10_000)),
            lambda rep: timed(lambda: drive_floor(f"sqlite:///{floor_path}", sample)),
            reps,
        )
        branch.engine.dispose()
    return Row(
        f"persisted actions, SQLite, N={size:,}",
        "actions/s",
        ours,
        floor,
        "floor",
        sample * ACTIONS_PER_CASE,
        ">= 0.5",
        f"{sample} cases x {ACTIONS_PER_CASE} actions per repetition in a database of "
        f"{size:,} cases; WAL, synchronous=FULL, one transaction per action",
    )


def open_branch_existing(url: str) -> Branch:
    from persistence.database import make_engine

    return Branch(url, make_engine(url))


# ---------------------------------------------------------------- PostgreSQL, 1-4 workers


def pg_rows(pg_url: str, quick: bool) -> list[Row]:
    """Actions/s with 1, 2 and 4 workers, loanflow against the floor at each count."""
    per_worker = 5 if quick else 25
    rows = []
    branch = open_branch(pg_url)
    branch.engine.dispose()
    for workers in (1, 2, 4):
        ours, floor = alternate(
            partial(_run_parallel, pg_url, workers, per_worker, "loanflow"),
            partial(_run_parallel, pg_url, workers, per_worker, "floor"),
            2,
        )
        rows.append(
            Row(
                f"persisted actions, PostgreSQL, {workers} worker(s)",
                "actions/s",
                ours,
                floor,
                "floor",
                workers * per_worker * ACTIONS_PER_CASE,
                ">= 0.5",
            )
        )
    return rows


def _run_parallel(url: str, workers: int, cases: int, side: str, _rep: int) -> float:
    return _parallel(url, workers, cases, side)


def _parallel(url: str, workers: int, cases: int, side: str) -> float:
    """Wall seconds for `workers` processes each driving `cases` cases, started together."""
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(url, cases, side, n, go, results)) for n in range(workers)
    ]
    for proc in procs:
        proc.start()
    ready = [results.get(timeout=120) for _ in procs]
    assert all(r == "ready" for r in ready)
    go.set()
    spans = [results.get(timeout=600) for _ in procs]
    for proc in procs:
        proc.join()
    return float(max(end for _, end in spans) - min(start for start, _ in spans))


def _worker(url: str, cases: int, side: str, n: int, go: Any, results: Any) -> None:
    from persistence.database import make_engine

    branch = Branch(url, make_engine(url))
    conn = dbapi_connect(url) if side == "floor" else None
    if side == "loanflow":
        drive(branch, 1, start_minutes=n * 100_000 + 50_000)  # warm up: mapping, statement cache
    results.put("ready")
    go.wait()
    start = time.time()
    if side == "floor":
        writer = FloorWriter(conn)
        at = T0 + timedelta(days=500 + n)
        for _ in range(cases):
            at = writer.walk(at)
    else:
        drive(branch, cases, start_minutes=n * 100_000)
    results.put((start, time.time()))
    branch.engine.dispose()


__all__ = ["Timing", "pg_rows", "sqlite_rows"]

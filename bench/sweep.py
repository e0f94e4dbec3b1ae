"""Benchmark 4 (and 6): one escalation sweep over a large database, and listing cost by size.

A database of N cases of which `overdue` wait past their SLA (1,000,000 and 10,000 in the full
run). loanflow's `fire_due_timers` against a floor that selects the due timers by index and writes
one event per escalation with executemany, in batches of 500.
"""

from __future__ import annotations

import multiprocessing
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import Row, Timing, alternate, timed
from bench.data import (
    INSERT_CASE,
    INSERT_EVENT,
    T0,
    Branch,
    case_row,
    dbapi_connect,
    event_hash,
    open_branch,
    sql,
    sqlite_url,
    stamp,
    transaction,
)
from workflow.escalation import fire_due_timers
from workflow.ports import CaseQuery
from workflow.services import inbox, list_cases

NOW = T0 + timedelta(days=3)  # the overdue cases entered `submitted` at T0; their SLA is 2 days
BATCH = 500


def fill(url: str, cases: int, overdue: int) -> None:
    """`overdue` open high-risk cases past their SLA, the rest closed; set-up, not measured."""
    conn = dbapi_connect(url)
    due = T0 + timedelta(days=2)
    rows = [
        case_row(conn, T0, "submitted", due, 1)
        if i < overdue
        else case_row(conn, T0, "funds_verified", None, 1)
        for i in range(cases)
    ]
    with transaction(conn) as cur:
        for start in range(0, len(rows), 50_000):
            cur.executemany(sql(conn, INSERT_CASE), rows[start : start + 50_000])
        cur.execute(sql(conn, "SELECT id FROM cases WHERE state = 'submitted' ORDER BY id"))
        open_ids = [r[0] for r in cur.fetchall()]
        timers = [
            (case_id, kind, level, "submitted", stamp(conn, T0 + timedelta(days=days)), 1)
            for case_id in open_ids
            for kind, level, days in (("escalate", 1, 2), ("escalate", 2, 4), ("expire", 0, 30))
        ]
        cur.executemany(sql(conn, _INSERT_TIMER), timers)
        # The benchmark resets its sweeps between repetitions: allow deleting escalation events.
        if url.startswith("sqlite"):
            cur.execute("DROP TRIGGER IF EXISTS events_no_delete")
        else:
            cur.execute("DROP TRIGGER IF EXISTS events_append_only ON events")
    if not url.startswith("sqlite"):
        # What autovacuum would do a minute after such a bulk load: without statistics the
        # planner takes the tables for empty, for loanflow's claim and the floor's select alike.
        with transaction(conn) as cur:
            cur.execute("ANALYZE cases")
            cur.execute("ANALYZE timers")
    conn.close()


def reset(url: str) -> None:
    conn = dbapi_connect(url)
    with transaction(conn) as cur:
        cur.execute("DELETE FROM events WHERE action = 'escalate'")
        cur.execute("UPDATE timers SET fired_at = NULL WHERE fired_at IS NOT NULL")
        cur.execute(
            "UPDATE cases SET escalation_level = 0, version = 1, last_seq = 1, "
            "last_hash = 'seed' WHERE escalation_level > 0"
        )
    conn.close()


def floor_sweep(url: str) -> int:
    """Due timers by index, one event per escalation, executemany in batches of 500."""
    conn = dbapi_connect(url)
    fired = 0
    while True:
        with transaction(conn) as cur:
            cur.execute(sql(conn, _DUE), (stamp(conn, NOW), BATCH))
            due = cur.fetchall()
            if not due:
                break
            events, cases, timers = [], [], []
            for timer_id, case_id, level, due_at, seq, last_hash, state, version in due:
                fields = {
                    "case_id": case_id,
                    "seq": seq + 1,
                    "action": "escalate",
                    "from_state": state,
                    "to_state": state,
                    "actor": "system",
                    "role": "system",
                    "at": NOW,
                    "comment": None,
                    "details": {"level": level, "due_at": str(due_at)},
                    "definition_name": "high_risk",
                    "definition_version": 1,
                    "prev_hash": last_hash,
                }
                digest = event_hash(fields)
                events.append(
                    (
                        case_id,
                        seq + 1,
                        "escalate",
                        state,
                        state,
                        "system",
                        "system",
                        stamp(conn, NOW),
                        f'{{"level": {level}}}',
                        "high_risk",
                        1,
                        last_hash,
                        digest,
                    )
                )
                cases.append((level, version + 1, seq + 1, digest, case_id, version))
                timers.append((stamp(conn, NOW), timer_id))
            cur.executemany(sql(conn, INSERT_EVENT), events)
            cur.executemany(sql(conn, _ESCALATE_CASE), cases)
            cur.executemany(sql(conn, "UPDATE timers SET fired_at = ? WHERE id = ?"), timers)
            fired += len(due)
    conn.close()
    return fired


def ours_sweep(branch: Branch) -> int:
    return fire_due_timers(branch.uow(), NOW, BATCH).fired


def sqlite_rows(quick: bool) -> list[Row]:
    cases, overdue = (20_000, 200) if quick else (1_000_000, 10_000)
    reps = 2 if quick else 3
    with tempfile.TemporaryDirectory() as folder:
        big = open_branch(sqlite_url(Path(folder), "big.db"))
        fill(big.url, cases, overdue)
        sweep = _sweep_row(big, f"sweep, SQLite, {cases:,} cases, {overdue:,} overdue", reps)
        small = open_branch(sqlite_url(Path(folder), "small.db"))
        fill(small.url, overdue, overdue)
        flat = _flat_rows(big, small, cases, overdue)
        big.engine.dispose()
        small.engine.dispose()
    return [sweep, *flat]


def _sweep_row(branch: Branch, name: str, reps: int) -> Row:
    counted: list[int] = []

    def ours(_rep: int) -> float:
        reset(branch.url)
        return timed(lambda: counted.append(ours_sweep(branch)))

    def floor(_rep: int) -> float:
        reset(branch.url)
        return timed(lambda: counted.append(floor_sweep(branch.url)))

    mine, theirs = alternate(ours, floor, reps)
    assert len(set(counted)) == 1, counted  # both sides fired the same escalations
    return Row(name, "escalations/s", mine, theirs, "floor (executemany)", counted[0], ">= 0.2")


def _flat_rows(big: Branch, small: Branch, cases: int, overdue: int) -> list[Row]:
    """The time of `list --overdue` and `inbox` (50 rows) with many closed cases, against the
    time with none: flat means a ratio near 1."""
    reset(big.url)
    reset(small.url)
    rows = []
    queries: list[tuple[str, Callable[[Branch], object]]] = [
        ("list --overdue", _list_overdue),
        ("inbox", _inbox),
    ]
    for label, query in queries:
        for branch in (big, small):
            query(branch)  # warm the process's caches alike for both sizes
        mine, theirs = alternate(partial(_time, query, big), partial(_time, query, small), 5)
        rows.append(
            Row(
                f"{label}: {cases:,} cases against {overdue:,}",
                "s",
                mine,
                theirs,
                f"{overdue:,} cases",
                1,
                "<= 1.5",
                "time ratio; flat in database size means near 1",
            )
        )
    return rows


def _list_overdue(branch: Branch) -> object:
    return list_cases(branch.uow(write=False), CaseQuery(overdue_at=NOW, limit=50))


def _inbox(branch: Branch) -> object:
    return inbox(branch.uow(write=False), "wang", 50)


def _time(query: Callable[[Branch], object], branch: Branch, _rep: int) -> float:
    return timed(lambda: query(branch))


# ---------------------------------------------------------------- PostgreSQL, 1-4 workers


def pg_rows(pg_url: str, quick: bool) -> list[Row]:
    """Sweep escalations/s with 1, 2 and 4 `escalate` workers over the same due timers."""
    cases, overdue = (20_000, 2_000) if quick else (200_000, 10_000)
    branch = open_branch(pg_url)
    fill(pg_url, cases, overdue)
    branch.engine.dispose()
    results: dict[int, Timing] = {}
    busy: dict[int, float] = {}
    for workers in (1, 2, 4):
        runs = []
        for _ in range(2 if quick else 3):
            reset(pg_url)
            runs.append(_parallel_sweep(pg_url, workers))
        results[workers] = Timing(tuple(seconds for seconds, _ in runs))
        busy[workers] = max(cpu for _, cpu in runs)
    return [
        Row(
            f"sweep, PostgreSQL, {w} workers vs {ref}",
            "escalations/s",
            results[w],
            results[ref],
            f"{ref} worker(s)",
            overdue,
            target,
            f"both cores busy {busy[ref]:.0%} with {ref} worker(s), {busy[w]:.0%} with {w} "
            "(workers and PostgreSQL together)",
        )
        for w, ref, target in ((2, 1, ">= 1.3"), (4, 2, ">= 1.0"))
    ] + [
        Row(
            "sweep, PostgreSQL, 1 worker vs floor",
            "escalations/s",
            results[1],
            Timing(tuple(_floor_pg(pg_url) for _ in range(2))),
            "floor",
            overdue,
            ">= 0.2",
        )
    ]


def _floor_pg(url: str) -> float:
    reset(url)
    return timed(lambda: floor_sweep(url))


def _parallel_sweep(url: str, workers: int) -> tuple[float, float]:
    """Wall seconds for `workers` sweepers started together, and how busy the CPUs were."""
    ctx = multiprocessing.get_context("spawn")
    go, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_sweeper, args=(url, go, results)) for _ in range(workers)]
    for proc in procs:
        proc.start()
    assert all(results.get(timeout=120) == "ready" for _ in procs)
    before = _cpu_times()
    go.set()
    spans = [results.get(timeout=600) for _ in procs]
    after = _cpu_times()
    for proc in procs:
        proc.join()
    spent = [b - a for a, b in zip(before, after, strict=True)]
    idle = spent[3] + spent[4]  # idle and iowait
    return float(max(end for _, end in spans) - min(start for start, _ in spans)), (
        1 - idle / sum(spent) if sum(spent) else 0.0
    )


def _cpu_times() -> list[int]:
    """The machine's CPU time counters (Linux /proc/stat: user, nice, system, idle, iowait...)."""
    with open("/proc/stat") as stat:
        return [int(n) for n in stat.readline().split()[1:]]


def _sweeper(url: str, go: Any, results: Any) -> None:
    from persistence.database import make_engine

    branch = Branch(url, make_engine(url))
    fire_due_timers(branch.uow(), T0)  # warm up before the start line: nothing is due yet
    results.put("ready")
    go.wait()
    start = time.time()
    ours_sweep(branch)
    results.put((start, time.time()))
    branch.engine.dispose()


_INSERT_TIMER = (
    "INSERT INTO timers (case_id, kind, level, state, due_at, armed_seq) VALUES (?, ?, ?, ?, ?, ?)"
)
_DUE = (
    "SELECT t.id, t.case_id, t.level, t.due_at, c.last_seq, c.last_hash, c.state, c.version "
    "FROM timers t JOIN cases c ON c.id = t.case_id WHERE t.fired_at IS NULL "
    "AND t.cancelled_at IS NULL AND t.due_at <= ? ORDER BY t.due_at, t.id LIMIT ?"
)
_ESCALATE_CASE = (
    "UPDATE cases SET escalation_level = ?, version = ?, last_seq = ?, last_hash = ? "
    "WHERE id = ? AND version = ?"
)

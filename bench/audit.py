"""Benchmark 5: `audit verify` over many events against hashing the same bytes, and one replay.

The history is one real case taken through the service layer (the high path with returns and
escalations, about 20 events), cloned under new case ids with its hash chain recomputed, so that
every clone verifies.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import Row, alternate, timed
from bench.data import (
    HIGH,
    T0,
    Branch,
    PlainRenderer,
    dbapi_connect,
    open_branch,
    sql,
    sqlite_url,
)
from bench.data import event_hash as bench_event_hash
from persistence.orm import events
from workflow import services
from workflow.audit import VERIFY_BATCH, replay_case, verify_history
from workflow.escalation import fire_due_timers
from workflow.history import canonical_bytes, event_hash
from workflow.model import Event

SCRIPT = [
    ("accept", "wang", None),
    ("investigate", "wang", None),
    ("cross_check", "li", None),
    ("return", "chen", None),
    ("cross_check", "li", None),
    ("risk_review", "chen", None),
    ("vote", "qian", "approve"),
    ("vote", "wu", "approve"),
    ("sign_contract", "zhou", None),
    ("review_account", "zhou", None),
    ("return", "sun", None),
    ("review_account", "zhou", None),
    ("re_review", "sun", None),
    ("disburse", "ma", None),
    ("confirm_use_of_funds", "wang", None),
]


def template(branch: Branch) -> str:
    """One case with about 20 events: steps, returns, votes and two escalations."""
    now = T0
    ref = services.apply(branch.uow(), "wang", HIGH, now).id
    for i, (action, actor, vote) in enumerate(SCRIPT):
        now += timedelta(hours=6)
        if i == 5:  # it stalls before risk review and escalates twice
            now += timedelta(days=5)
            fire_due_timers(branch.uow(), now)
        services.act(branch.uow(), ref, action, actor, now, "checked", vote, PlainRenderer())
    return ref


def clone(url: str, copies: int) -> int:
    """`copies` more cases with case 1's history; returns the events in the database."""
    conn = dbapi_connect(url)
    cur = conn.cursor()
    cur.execute("SELECT * FROM cases WHERE id = 1")
    case_cols = [d[0] for d in cur.description]
    case_row = list(cur.fetchone())
    cur.execute("SELECT * FROM events WHERE case_id = 1 ORDER BY seq")
    event_cols = [d[0] for d in cur.description]
    events = [dict(zip(event_cols, r, strict=True)) for r in cur.fetchall()]
    cur.execute("SELECT * FROM documents WHERE case_id = 1")
    doc_cols = [d[0] for d in cur.description]
    docs = [list(r) for r in cur.fetchall()]
    cur.close()
    rows: dict[str, list[Any]] = {"cases": [], "events": [], "documents": []}
    for case_id in range(2, copies + 2):
        last = _rechain(events, case_id, rows["events"], event_cols)
        row = dict(zip(case_cols, case_row, strict=True))
        row.update(id=case_id, last_hash=last)
        rows["cases"].append([row[c] for c in case_cols])
        rows["documents"] += [
            [
                None if c == "id" else (case_id if c == "case_id" else v)
                for c, v in zip(doc_cols, d, strict=True)
            ]
            for d in docs
        ]
    _insert(conn, "cases", case_cols, rows["cases"])
    _insert(conn, "events", [c for c in event_cols if c != "id"], rows["events"])
    _insert(
        conn,
        "documents",
        [c for c in doc_cols if c != "id"],
        [[v for c, v in zip(doc_cols, d, strict=True) if c != "id"] for d in rows["documents"]],
    )
    conn.close()
    return len(events) * (copies + 1)


def _rechain(events: list[dict[str, Any]], case_id: int, out: list[Any], cols: list[str]) -> str:
    prev = events[0]["prev_hash"]
    for e in events:
        fields = {k: v for k, v in e.items() if k != "id"}
        fields.update(case_id=case_id, prev_hash=prev)
        event = _event(fields)
        fields["hash"] = prev = event_hash(event)
        out.append([fields[c] for c in cols if c != "id"])
    return str(prev)


def _event(fields: dict[str, Any]) -> Event:
    at = fields["at"]
    moment = datetime.fromisoformat(at) if isinstance(at, str) else at
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
    details = fields["details"]
    return Event(
        fields["case_id"],
        fields["seq"],
        fields["action"],
        fields["from_state"],
        fields["to_state"],
        fields["actor"],
        fields["role"],
        moment,
        fields["comment"],
        json.loads(details) if isinstance(details, str) else details,
        fields["definition_name"],
        fields["definition_version"],
        fields["prev_hash"],
        "",
    )


def _insert(conn: Any, table: str, cols: list[str], rows: list[list[Any]]) -> None:
    marks = ", ".join("?" for _ in cols)
    with conn:
        cur = conn.cursor()
        for start in range(0, len(rows), 50_000):
            cur.executemany(
                sql(conn, f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks})"),
                rows[start : start + 50_000],
            )


def rows(quick: bool) -> list[Row]:
    cases = 1_000 if quick else 5_000  # 1,000,000 events would take ~6 minutes a repetition
    reps = 2 if quick else 3
    with tempfile.TemporaryDirectory() as folder:
        big = open_branch(sqlite_url(Path(folder), "big.db"))
        ref = template(big)
        events = clone(big.url, cases - 1)
        small = open_branch(sqlite_url(Path(folder), "small.db"))
        template(small)
        # Two verifier batches' worth: past this, memory should not grow with the history.
        medium, medium_events = big, events
        if cases > 2 * VERIFY_BATCH:  # the quick run's database is that size already
            medium = open_branch(sqlite_url(Path(folder), "medium.db"))
            template(medium)
            medium_events = clone(medium.url, 2 * VERIFY_BATCH - 1)
        payloads = _canonical(big)
        ours, floor = alternate(
            lambda _r: timed(lambda: _verify_ok(big)),
            lambda _r: timed(lambda: _hash_all(payloads)),
            reps,
        )
        ours_again, reading = alternate(
            lambda _r: timed(lambda: _verify_ok(big)),
            lambda _r: timed(lambda: _read_and_hash(big.url)),
            reps,
        )
        memory = {url: _verify_memory(url) for url in {small.url, medium.url, big.url}}
        replays = alternate(
            lambda _r: timed(lambda: replay_case(big.uow(write=False), ref, "audit1")),
            lambda _r: timed(lambda: replay_case(small.uow(write=False), ref, "audit1")),
            5,
        )
        big.engine.dispose()
        small.engine.dispose()
        if medium is not big:
            medium.engine.dispose()
    return [
        Row(
            f"audit verify, {events:,} events",
            "events/s",
            ours,
            floor,
            "hashlib over the same canonical bytes",
            events,
            ">= 0.5",
            f"peak memory of a `loanflow audit verify` process: {memory[small.url]} MB over "
            f"one case, {memory[medium.url]} MB over {medium_events:,} events, "
            f"{memory[big.url]} MB over {events:,} events (it reads {VERIFY_BATCH} cases at a "
            "time)",
        ),
        Row(
            f"audit verify, {events:,} events, against reading them too",
            "events/s",
            ours_again,
            reading,
            "plain sqlite3 reading each event, rebuilding its canonical bytes and hashing them",
            events,
            ">= 0.5",
            "informational: the least any verifier of this schema does, without the replay",
        ),
        Row(
            f"replay of one {len(SCRIPT) + 3}-event case among {events:,} events",
            "s",
            replays[0],
            replays[1],
            "the same case alone",
            1,
            "<= 1.5",
            "time ratio; independent of the database's size means near 1",
        ),
    ]


def _verify_ok(branch: Branch) -> None:
    report = verify_history(branch.uow(write=False), "audit1")
    assert report.ok, report.findings[:3]


def _canonical(branch: Branch) -> list[bytes]:
    with branch.uow(write=False) as uow:
        return [
            canonical_bytes(e)
            for c in uow.cases.batch_after(0, 10**9)
            for e in uow.events.for_case(c.id or 0)
        ]


def _read_and_hash(url: str) -> None:
    """Every event read with plain sqlite3, its canonical bytes rebuilt and hashed, and compared."""
    conn = dbapi_connect(url)
    cur = conn.execute(f"SELECT {', '.join(_HASHED)}, hash FROM events ORDER BY case_id, seq")
    for row in cur:
        fields = dict(zip(_HASHED, row[:-1], strict=True))
        fields["details"] = json.loads(fields["details"])
        fields["at"] = datetime.fromisoformat(fields["at"]).replace(tzinfo=UTC)
        assert bench_event_hash(fields) == row[-1]
    conn.close()


# Every column but the id and the hash itself: what workflow.history.canonical_bytes covers.
_HASHED = tuple(c.name for c in events.columns if c.name not in ("id", "hash"))


def _hash_all(payloads: list[bytes]) -> None:
    for payload in payloads:
        hashlib.sha256(payload).hexdigest()


def _verify_memory(url: str) -> int:
    # VmHWM, not ru_maxrss: the latter survives exec, so it would report the (large) benchmark
    # process that forked this one.
    code = (
        "from cli import cli\ntry: cli(['--db', %r, '--actor', 'audit1', "
        "'audit', 'verify'])\nexcept SystemExit: pass\nimport re, sys\n"
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1)\n"
        "print(int(hwm) // 1024, file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code % url], capture_output=True, text=True, check=True
    )
    return int(done.stderr.strip().splitlines()[-1])

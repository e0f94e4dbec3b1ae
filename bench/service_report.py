"""Benchmark: `report service` over one month of a county's cases on SQLite.

Builds a temporary SQLite file holding 100,000 cases applied for in November 2026 (low, medium and
high risk, one in ten VIP, across five branches), each with the events its officers would have
written: steps at realistic delays, escalations by the system where a step waited past its SLA,
returns for rework, rejections, withdrawals, committee votes, and cases still open at the end of
the month. The rows go in by bulk inserts (the hash chain is not the subject here, so hashes are
placeholders), then the month's report is timed, for every branch and for one.

    python -m bench.service_report [--cases N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from definitions.loader import bundled_parsed, parse_compiled
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.orm import cases, events, users
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from workflow.admin import deploy_definitions
from workflow.indicators import service_report
from workflow.periods import month_period
from workflow.spec import STEP, VOTE, WorkflowSpec
from workflow.timers import effective_sla

TZ = ZoneInfo("Asia/Shanghai")
MONTH = "2026-11"
BRANCHES = ("yingshang", "funan", "linquan", "taihe", "jieshou")
ROLES = {
    "account_manager": 8,
    "risk_officer": 3,
    "reviewer": 2,
    "committee_member": 3,
    "branch_head": 1,
    "teller": 2,
}
PLACEHOLDER_HASH = "0" * 64
CHUNK = 5_000  # cases per insert batch
HOUR = 3600.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        run(Path(folder) / "bench.db", args.cases, args.seed)


def run(path: Path, count: int, seed: int) -> None:
    engine = make_engine(f"sqlite:///{path}", must_exist=False)
    upgrade(engine)

    def uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(engine, parse_compiled, write=False)

    period = month_period(MONTH, TZ)
    deploy_definitions(SqlAlchemyUnitOfWork(engine, parse_compiled), bundled_parsed(), period.start)
    specs = {p.spec.tier: p.spec for p in bundled_parsed() if isinstance(p.spec, WorkflowSpec)}
    started = time.perf_counter()
    n_events = build(engine, specs, count, random.Random(seed), period.start)
    size = path.stat().st_size / 1e6
    print(
        f"built {count:,} cases, {n_events:,} events ({size:,.0f} MB) "
        f"in {time.perf_counter() - started:.1f} s"
    )
    now = period.end + timedelta(days=5)
    for label, branch in (("all branches", None), (f"branch {BRANCHES[0]}", BRANCHES[0])):
        started = time.perf_counter()
        report = service_report(uow(), "auditor", period, now, branch=branch)
        seconds = time.perf_counter() - started
        print(
            f"report service --month {MONTH}, {label}: {seconds:.2f} s "
            f"({report.total.actions_total:,} actions, {len(report.officers)} officers, "
            f"{report.total.breaches:,} breaches, {report.total.pending:,} pending)"
        )
    engine.dispose()


def build(
    engine: Any, specs: dict[str, WorkflowSpec], count: int, rng: random.Random, start: datetime
) -> int:
    staff = _staff()
    with engine.begin() as conn:
        conn.execute(users.insert(), [_user(name, role, branch) for name, role, branch in staff])
    total = 0
    for first in range(1, count + 1, CHUNK):
        case_rows, event_rows = [], []
        for case_id in range(first, min(first + CHUNK, count + 1)):
            case, history = _case(case_id, specs, rng, start, staff)
            case_rows.append(case)
            event_rows.extend(history)
        with engine.begin() as conn:
            conn.execute(cases.insert(), case_rows)
            conn.execute(events.insert(), event_rows)
        total += len(event_rows)
    return total


def _staff() -> list[tuple[str, str, str]]:
    people = [("auditor", "auditor", "")]
    for branch in BRANCHES:
        for role, n in ROLES.items():
            people += [(f"{branch}_{role}_{i}", role, branch) for i in range(n)]
    return people


def _user(name: str, role: str, branch: str) -> dict[str, Any]:
    return {"name": name, "roles": (role,), "branch": branch or None, "active": True}


class _Writer:
    """One case's history as it is written, event by event."""

    def __init__(self, case_id: int, spec: WorkflowSpec, priority: str, at: datetime) -> None:
        self.case_id, self.spec, self.priority = case_id, spec, priority
        self.rows: list[dict[str, Any]] = []
        self.state, self.entered, self.at = spec.initial, at, at

    def write(self, action: str, to: str, actor: str, role: str, details: dict[str, Any]) -> None:
        self.rows.append(
            {
                "case_id": self.case_id,
                "seq": len(self.rows) + 1,
                "action": action,
                "from_state": self.state if self.rows else None,
                "to_state": to,
                "actor": actor,
                "role": role,
                "at": self.at,
                "comment": None,
                "details": details,
                "definition_name": self.spec.name,
                "definition_version": self.spec.version,
                "prev_hash": PLACEHOLDER_HASH,
                "hash": PLACEHOLDER_HASH,
            }
        )
        if to != self.state:
            self.state, self.entered = to, self.at

    def wait(self, hours: float) -> None:
        """Time passes; the sweeper escalates the case at each multiple of the SLA it crosses."""
        timers = self.spec.state(self.state).timers
        target = self.at + timedelta(hours=hours)
        if timers and timers.sla:
            sla = effective_sla(timers, self.priority)
            for level in timers.escalation_levels:
                due = self.entered + sla * level
                if self.at < due <= target:
                    self.at = due
                    self.write("escalate", self.state, "system", "system", {"level": level})
        self.at = target


def _case(
    case_id: int,
    specs: dict[str, WorkflowSpec],
    rng: random.Random,
    start: datetime,
    staff: list[tuple[str, str, str]],
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    tier = rng.choices(("low", "medium", "high"), (55, 35, 10))[0]
    priority = "vip" if rng.random() < 0.1 else "normal"
    branch = rng.choice(BRANCHES)
    spec = specs[tier]
    applied = start + timedelta(seconds=rng.uniform(0, 30 * 86400))
    w = _Writer(case_id, spec, priority, applied)
    people = {role: [n for n, r, b in staff if r == role and b == branch] for role in ROLES}
    originator = rng.choice(people["account_manager"])
    w.write("apply", spec.initial, originator, "account_manager", {"tier": tier})
    _walk(w, spec, rng, people)
    return _case_row(case_id, w, tier, priority, branch, originator), w.rows


def _walk(w: _Writer, spec: WorkflowSpec, rng: random.Random, people: dict[str, list[str]]) -> None:
    """Down the path, one step after another, with the detours real cases take."""
    returned = False
    while not spec.is_terminal(w.state):
        if rng.random() < 0.015:
            return  # stalls: still open at the end of its history
        w.wait(rng.lognormvariate(1.8, 1.0))  # a median near 6 hours, a long tail past the SLA
        step = next((t for t in spec.transitions_from(w.state) if t.kind in (STEP, VOTE)), None)
        if step is None:
            return
        actor = rng.choice(people[step.role])
        others = {t.kind: t for t in spec.transitions_from(w.state)}
        roll = rng.random()
        if "return" in others and not returned and roll < 0.05:
            returned = True
            w.write("return", others["return"].dest or w.state, actor, step.role, {})
        elif "reject" in others and roll > 0.985:
            w.write("reject", "rejected", actor, step.role, {})
        elif "withdraw" in others and 0.05 <= roll < 0.06:
            w.write(
                "withdraw",
                "withdrawn",
                rng.choice(people["account_manager"]),
                "account_manager",
                {},
            )
        elif step.kind == VOTE:
            _votes(w, rng, people)
        else:
            w.write(step.action, step.dest or w.state, actor, step.role, {})


def _votes(w: _Writer, rng: random.Random, people: dict[str, list[str]]) -> None:
    """Two committee members approve: the first vote is undecided, the second decides."""
    first, second = rng.sample(people["committee_member"], 2)
    w.write("vote", w.state, first, "committee_member", {"vote": "approve"})
    w.wait(rng.lognormvariate(1.5, 0.8))
    w.write("vote", "approved", second, "committee_member", {"vote": "approve"})


def _case_row(
    case_id: int, w: _Writer, tier: str, priority: str, branch: str, originator: str
) -> dict[str, Any]:
    last = w.rows[-1]
    return {
        "id": case_id,
        "customer_name": f"Customer {case_id}",
        "customer_type": "individual",
        "rating": "good",
        "product": "small_farmer_credit",
        "guarantee": "credit",
        "amount_fen": 450_000,
        "term_months": 12,
        "priority": priority,
        "tier": tier,
        "branch": branch,
        "originator": originator,
        "definition_name": w.spec.name,
        "definition_version": w.spec.version,
        "state": w.state,
        "participants": {},
        "votes": {},
        "escalation_level": 0,
        "due_at": None,
        "created_at": w.rows[0]["at"],
        "state_entered_at": w.entered,
        "last_activity_at": last["at"],
        "last_event_at": last["at"],
        "last_seq": len(w.rows),
        "last_hash": PLACEHOLDER_HASH,
        "version": len(w.rows),
    }


if __name__ == "__main__":
    main()

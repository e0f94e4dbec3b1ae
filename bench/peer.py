"""Peer engine: loanflow against SpiffWorkflow 3 on the same high-risk path (issue 6, item 2).

The high path of `definitions/high_risk.yaml` is also drawn as a BPMN process, `high_risk.bpmn`
next to this file: one user task per step after the application (accept, investigate,
cross_check, risk_review, two committee approvals, sign_contract, review_account, re_review,
disburse, confirm_use_of_funds). Two comparisons:

- persisted: M cases walked to the end one after the other. loanflow goes through the service
  layer on a migrated SQLite file (`apply` and `act`, one transaction per action, real staff, its
  guards, history chain, timers and documents). SpiffWorkflow runs as a host application would
  use it: the workflow is serialized (`serialize_json`) into a `workflows` table on creation and
  after every completed task, one committed transaction each, with loanflow's durability settings
  (WAL, synchronous=FULL, BEGIN IMMEDIATE). Both sides count the application plus 11 steps.
- in memory: the pure engine (`Engine.fire`, transitions triggers on plain `Case` objects) against
  SpiffWorkflow task completion (find the READY user task, set its data, `run()`,
  `do_engine_steps()`), nothing persisted; 11 steps per case, instances built before the clock.

SpiffWorkflow is the optional `bench` extra; without it `run()` says so and returns no rows.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bench.common import Row, alternate
from definitions.documents import JinjaRenderer
from definitions.loader import bundled_parsed, parse_compiled
from persistence.database import SQLITE_BUSY_TIMEOUT_MS, make_engine
from persistence.migrate import upgrade
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from workflow import admin, services
from workflow.engine import engine_for
from workflow.model import Actor, Case
from workflow.policy import Application
from workflow.spec import WorkflowSpec

BPMN_FILE = Path(__file__).with_name("high_risk.bpmn")
PROCESS_ID = "high_risk"
REFERENCE = "SpiffWorkflow 3.x"
T0 = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
BRANCH = "ys"

STAFF: dict[str, str] = {
    "wang": "account_manager",
    "li": "account_manager",
    "chen": "risk_officer",
    "zhou": "risk_officer",
    "qian": "committee_member",
    "wu": "committee_member",
    "sun": "reviewer",
    "ma": "teller",
}
ORIGINATOR = "wang"


@dataclass(frozen=True)
class PathStep:
    """One step of the high path: loanflow's action, who takes it, its vote, the BPMN task."""

    action: str
    actor: str
    task: str
    vote: str | None = None


HIGH_PATH = (  # as tests/e2e/helpers.py walks it: HIGH_TO_VOTE, two approvals, HIGH_AFTER_VOTE
    PathStep("accept", "wang", "accept"),
    PathStep("investigate", "wang", "investigate"),
    PathStep("cross_check", "li", "cross_check"),
    PathStep("risk_review", "chen", "risk_review"),
    PathStep("vote", "qian", "vote_1", "approve"),
    PathStep("vote", "wu", "vote_2", "approve"),
    PathStep("sign_contract", "zhou", "sign_contract"),
    PathStep("review_account", "zhou", "review_account"),
    PathStep("re_review", "sun", "re_review"),
    PathStep("disburse", "ma", "disburse"),
    PathStep("confirm_use_of_funds", "wang", "confirm_use_of_funds"),
)
STEPS_PER_CASE = len(HIGH_PATH)  # in memory: the steps after the application
PERSISTED_STEPS_PER_CASE = 1 + len(HIGH_PATH)  # persisted: the application is a write too
HIGH_APPLICATION = Application(
    "Harvest Co", "corporate", None, "farm_machinery_loan", "mortgage", 80_000_000, 36, "normal"
)


@dataclass(frozen=True)
class Sizes:
    """How much work one repetition does."""

    persisted_cases: int
    memory_cases: int
    repetitions: int


QUICK = Sizes(persisted_cases=30, memory_cases=300, repetitions=2)
FULL = Sizes(persisted_cases=200, memory_cases=600, repetitions=3)


def run(quick: bool) -> list[Row]:
    """The persisted and in-memory rows; none (and a hint on stderr) without SpiffWorkflow."""
    try:
        spiff = SpiffSide()
    except ImportError:
        print(
            'bench/peer.py skipped: SpiffWorkflow is missing; pip install -e ".[bench]"',
            file=sys.stderr,
        )
        return []
    sizes = QUICK if quick else FULL
    with tempfile.TemporaryDirectory(prefix="loanflow-peer-") as folder:
        persisted = _persisted_row(spiff, Path(folder), sizes)
    return [persisted, _memory_row(spiff, sizes)]


def _persisted_row(spiff: SpiffSide, folder: Path, sizes: Sizes) -> Row:
    cases = sizes.persisted_cases
    ours, reference = alternate(
        lambda rep: loanflow_persisted(folder / f"loanflow-{rep}.db", cases),
        lambda rep: spiff.persisted(folder / f"spiff-{rep}.db", cases),
        sizes.repetitions,
    )
    return Row(
        name="peer: persisted high path",
        unit="steps/s",
        ours=ours,
        reference=reference,
        reference_name=REFERENCE,
        work=cases * PERSISTED_STEPS_PER_CASE,
        target=">= 5",
        note=(
            f"{cases} high-risk cases, application + {STEPS_PER_CASE} steps each, one committed "
            "SQLite transaction per step (WAL, synchronous=FULL) on both sides; loanflow also "
            "checks roles and segregation of duties, chains history, re-arms timers and renders "
            "4 documents per case, SpiffWorkflow rewrites its whole serialized workflow"
        ),
    )


def _memory_row(spiff: SpiffSide, sizes: Sizes) -> Row:
    cases = sizes.memory_cases
    ours, reference = alternate(
        lambda _rep: loanflow_in_memory(cases),
        lambda _rep: spiff.in_memory(cases),
        sizes.repetitions,
    )
    return Row(
        name="peer: in-memory high path",
        unit="steps/s",
        ours=ours,
        reference=reference,
        reference_name=REFERENCE,
        work=cases * STEPS_PER_CASE,
        target=">= 1",
        note=(
            f"informational: {cases} cases x {STEPS_PER_CASE} steps, no persistence; "
            "transitions triggers (Engine.fire) against SpiffWorkflow task run + engine steps"
        ),
    )


# loanflow -----------------------------------------------------------------------------------


def loanflow_persisted(db_file: Path, cases: int) -> float:
    """Seconds to apply for and walk `cases` high-risk cases through the service layer."""
    engine = make_engine(f"sqlite:///{db_file}")
    upgrade(engine)

    def uow() -> SqlAlchemyUnitOfWork:
        return SqlAlchemyUnitOfWork(engine, parse_compiled)

    admin.deploy_definitions(uow(), bundled_parsed(), T0)
    for name, role in STAFF.items():
        admin.add_user(uow(), None, name, [role], BRANCH, T0)
    renderer = JinjaRenderer(ZoneInfo("Asia/Shanghai"))
    start = time.perf_counter()
    for i in range(cases):
        now = T0 + timedelta(minutes=i)
        ref = services.apply(uow(), ORIGINATOR, HIGH_APPLICATION, now).id
        for step in HIGH_PATH:
            services.act(uow(), ref, step.action, step.actor, now, None, step.vote, renderer)
    elapsed = time.perf_counter() - start
    engine.dispose()
    return elapsed


def loanflow_in_memory(cases: int) -> float:
    """Seconds for the pure engine to fire the high path on `cases` fresh in-memory cases."""
    spec = high_risk_spec()
    engine = engine_for(spec)
    actors = {name: Actor(name, frozenset({role})) for name, role in STAFF.items()}
    walks = [
        [(step.action, actors[step.actor], step.vote) for step in HIGH_PATH] for _ in range(cases)
    ]
    fresh = [_new_case(spec, i) for i in range(cases)]
    start = time.perf_counter()
    for case, walk in zip(fresh, walks, strict=True):
        for action, actor, vote in walk:
            engine.fire(case, action, actor, T0, None, vote)
    elapsed = time.perf_counter() - start
    assert all(case.state == "funds_verified" for case in fresh)
    return elapsed


def high_risk_spec() -> WorkflowSpec:
    """The bundled high-risk definition."""
    for parsed in bundled_parsed():
        if isinstance(parsed.spec, WorkflowSpec) and parsed.spec.name == "high_risk":
            return parsed.spec
    raise LookupError("definitions/high_risk.yaml is not bundled")


def _new_case(spec: WorkflowSpec, case_id: int) -> Case:
    app = HIGH_APPLICATION
    return Case(
        app.customer_name,
        app.customer_type,
        app.rating,
        app.product,
        app.guarantee,
        app.amount_fen,
        app.term_months,
        app.priority,
        spec.tier,
        BRANCH,
        ORIGINATOR,
        spec.name,
        spec.version,
        spec.initial,
        T0,
        T0,
        T0,
        T0,
        participants={"originator": ORIGINATOR},
        id=case_id + 1,
    )


# SpiffWorkflow ------------------------------------------------------------------------------


class SpiffSide:
    """The peer: the BPMN process parsed once, workflows run and serialized as a host would.

    Raises:
        ImportError: SpiffWorkflow is not installed (the `bench` extra).
    """

    def __init__(self) -> None:
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
        from SpiffWorkflow.util.task import TaskState

        parser = BpmnParser()
        parser.add_bpmn_file(str(BPMN_FILE))
        self.spec = parser.get_spec(PROCESS_ID)
        self.workflow_class = BpmnWorkflow
        self.ready = TaskState.READY
        self.serializer = BpmnWorkflowSerializer()

    def new_workflow(self) -> Any:
        """A started workflow, waiting at its first user task."""
        workflow = self.workflow_class(self.spec)
        workflow.do_engine_steps()
        return workflow

    def complete(self, workflow: Any, step: PathStep) -> None:
        """Complete the READY user task of `step` with the form data a person would submit."""
        task = workflow.get_next_task(state=self.ready, manual=True)
        if task is None or task.task_spec.name != step.task:
            raise RuntimeError(f"expected {step.task} to be ready, found {task}")
        form = {f"{step.task}_by": step.actor} | ({"vote": step.vote} if step.vote else {})
        task.set_data(**form)
        task.run()
        workflow.do_engine_steps()

    def persisted(self, db_file: Path, cases: int) -> float:
        """Seconds to start `cases` workflows and walk them, saving each after every step."""
        db = _connect(db_file)
        db.execute("CREATE TABLE workflows (id INTEGER PRIMARY KEY, state TEXT NOT NULL)")
        save = self.serializer.serialize_json
        start = time.perf_counter()
        for _ in range(cases):
            workflow = self.new_workflow()
            row_id = _write(db, "INSERT INTO workflows (state) VALUES (?)", save(workflow))
            for step in HIGH_PATH:
                self.complete(workflow, step)
                _write(db, "UPDATE workflows SET state = ? WHERE id = ?", save(workflow), row_id)
            assert workflow.is_completed()
        elapsed = time.perf_counter() - start
        db.close()
        return elapsed

    def in_memory(self, cases: int) -> float:
        """Seconds to walk `cases` fresh workflows through the high path, nothing saved."""
        fresh = [self.new_workflow() for _ in range(cases)]
        start = time.perf_counter()
        for workflow in fresh:
            for step in HIGH_PATH:
                self.complete(workflow, step)
        elapsed = time.perf_counter() - start
        assert all(workflow.is_completed() for workflow in fresh)
        return elapsed


def _connect(db_file: Path) -> sqlite3.Connection:
    """A connection with loanflow's SQLite settings (persistence/database.py)."""
    db = sqlite3.connect(db_file, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    db.execute("PRAGMA synchronous=FULL")
    return db


def _write(db: sqlite3.Connection, sql: str, *params: object) -> int:
    """Run one statement in its own committed write transaction; the row id it wrote."""
    db.execute("BEGIN IMMEDIATE")
    try:
        cursor = db.execute(sql, params)
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
    return cursor.lastrowid or 0

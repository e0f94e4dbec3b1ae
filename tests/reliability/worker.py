"""A worker process for reliability tests: random actions (legal or not) by random staff.

Run as `python -m tests.reliability.worker DB_URL SEED ATTEMPTS [--sweep]`; prints one JSON line
with its counts. With --sweep it also fires due timers now and then, and prints a line per
committed action, so that a parent killing it can tell what it had done.
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta

from definitions.loader import parse_compiled
from persistence.database import make_engine
from persistence.unit_of_work import SqlAlchemyUnitOfWork
from workflow import services
from workflow.errors import ConcurrentChange, LoanflowError
from workflow.escalation import fire_due_timers
from workflow.policy import Application

ACTORS = [
    "wang",
    "li",
    "zhang",
    "chen",
    "zhou",
    "sun",
    "zhao",
    "qian",
    "wu",
    "zheng",
    "feng",
    "ma",
    "audit1",
    "ghost",
]
ACTIONS = [
    "grant_credit",
    "approve",
    "disburse",
    "investigate",
    "cross_check",
    "risk_review",
    "sign_contract",
    "review_account",
    "re_review",
    "accept",
    "vote",
    "return",
    "reject",
    "withdraw",
    "confirm_use_of_funds",
    "expire",
    "fly",
]


APPLICATION = Application(
    "Li Wei", "individual", None, "merchant_loan", "guarantee", 6000000, 24, "normal"
)


class _Renderer:
    def render(self, template: str, context: dict[str, object]) -> str:
        return f"{template} for {context['case']}"


def main(db_url: str, seed: int, attempts: int, sweep: bool) -> None:
    rng = random.Random(seed)
    engine = make_engine(db_url)
    counts = {"attempts": 0, "succeeded": 0, "conflicts": 0, "refused": 0}
    ahead = timedelta(0)  # sweeps move this worker's clock ahead of the wall clock
    newest = 20  # the cases the test made; a sweeping worker also takes new applications
    for _ in range(attempts):
        uow = SqlAlchemyUnitOfWork(engine, parse_compiled)
        if sweep and rng.random() < 0.2:
            ahead += timedelta(days=rng.choice([1, 3, 31]))
            fire_due_timers(uow, datetime.now(UTC) + ahead, batch_size=5)
            continue
        now = datetime.now(UTC) + ahead
        if sweep and rng.random() < 0.15:
            newest = int(services.apply(uow, "wang", APPLICATION, now).id[3:])
            print(json.dumps({"done": ["apply", newest]}), flush=True)
            continue
        ref = f"LA-{rng.randint(max(1, newest - 19), newest + 1):06d}"  # the last never exists
        action, actor = rng.choice(ACTIONS), rng.choice(ACTORS)
        vote = rng.choice(["approve", "reject", None]) if action == "vote" else None
        comment = rng.choice(["because", None])
        counts["attempts"] += 1
        try:
            services.act(uow, ref, action, actor, now, comment, vote, _Renderer())
        except ConcurrentChange:
            counts["conflicts"] += 1
        except LoanflowError:
            counts["refused"] += 1
        else:
            counts["succeeded"] += 1
            if sweep:
                print(json.dumps({"done": [ref, action, actor]}), flush=True)
    engine.dispose()
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), "--sweep" in sys.argv)

"""Several sweepers at once fire each due timer once; the daemon stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from persistence.orm import timers
from tests.conftest import T0
from tests.dbs import connect, query
from tests.reliability.conftest import start

CASES = 150  # x 3 due timers (two escalations and the expiry) = 450


def counts(db_url: str) -> dict[str, int]:
    """Events by action, system events written twice, and open timers already due."""
    seen = dict(query(db_url, "SELECT action, COUNT(*) FROM events GROUP BY action"))
    twice = query(
        db_url,
        "SELECT COUNT(*) FROM (SELECT case_id, action, to_state FROM events WHERE actor = 'system' "
        "AND action = 'expire' GROUP BY case_id, action, to_state HAVING COUNT(*) > 1) AS t",
    )[0][0]
    levels = query(db_url, "SELECT case_id, seq, details FROM events WHERE action = 'escalate'")
    per_level = Counter((case_id, _level(details)) for case_id, _, details in levels)
    twice += sum(1 for n in per_level.values() if n > 1)
    with connect(db_url) as conn:
        open_due = conn.execute(
            select(func.count()).where(
                timers.c.fired_at.is_(None),
                timers.c.cancelled_at.is_(None),
                timers.c.due_at <= datetime.now(UTC),
            )
        ).scalar_one()
    return {**seen, "duplicates": twice, "open_due": open_due}


def _level(details: object) -> int:
    data = json.loads(details) if isinstance(details, str) else details
    return int(data["level"])  # type: ignore[index]


def test_three_sweepers_at_once_fire_each_timer_exactly_once(
    filled: Callable[[int], str],
) -> None:
    db_url = filled(CASES)
    when = (T0 + timedelta(days=40)).isoformat()
    sweepers = [
        start(db_url, "--json", "escalate", "--now", when, "--allow-future", "--batch-size", "20")
        for _ in range(3)
    ]
    results = [proc.communicate(timeout=120) for proc in sweepers]
    assert [proc.returncode for proc in sweepers] == [0, 0, 0], results
    seen = counts(db_url)
    assert (seen["escalate"], seen["expire"], seen["duplicates"]) == (2 * CASES, CASES, 0)
    fired = [json.loads(out)["fired"] for out, _ in results]
    assert sum(fired) == 3 * CASES  # every timer fired once, by exactly one of the sweepers


def test_the_scheduler_daemon_sweeps_then_stops_cleanly_on_sigterm(
    filled: Callable[[int], str],
) -> None:
    db_url = filled(20)  # applied weeks ago by the wall clock: their escalations are due
    daemon = start(db_url, "scheduler", "--interval", "1")
    assert daemon.stderr is not None
    for line in daemon.stderr:  # wait for the first sweep's log line, not for a fixed time
        if "sweep: fired" in line:
            assert "sweep: fired 0 " not in line
            break
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=10)
    assert daemon.returncode == 0, err
    assert "scheduler: stopped" in err
    seen = counts(db_url)
    assert seen["escalate"] >= 2 * 20
    assert seen["open_due"] == 0

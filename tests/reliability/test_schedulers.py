"""Four `escalate` processes started together over 5,000 due timers: each fires exactly once."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from tests.conftest import T0
from tests.dbs import query
from tests.reliability.conftest import start

CASES = 1667  # x 3 due timers (two escalations, the expiry) = 5,001


def test_four_sweepers_over_five_thousand_timers_fire_each_once(
    filled: Callable[[int], str],
) -> None:
    db_url = filled(CASES)
    [(due,)] = query(
        db_url, "SELECT COUNT(*) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
    )
    assert due == 3 * CASES
    when = (T0 + timedelta(days=60)).isoformat()
    sweepers = [
        start(db_url, "--json", "escalate", "--now", when, "--allow-future") for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120) for proc in sweepers]
    assert [proc.returncode for proc in sweepers] == [0, 0, 0, 0], outputs
    fired = [json.loads(out)["fired"] for out, _ in outputs]
    assert sum(fired) == 3 * CASES
    [(events,)] = query(db_url, "SELECT COUNT(*) FROM events WHERE actor = 'system'")
    assert events == 3 * CASES
    duplicates = query(
        db_url,
        "SELECT case_id, COUNT(*) FROM events WHERE action = 'expire' "
        "GROUP BY case_id HAVING COUNT(*) > 1",
    )
    assert duplicates == []
    [(left,)] = query(
        db_url, "SELECT COUNT(*) FROM timers WHERE fired_at IS NULL AND cancelled_at IS NULL"
    )
    assert left == 0

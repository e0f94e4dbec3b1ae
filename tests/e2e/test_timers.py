"""SLA timers through the CLI with the clock given explicitly: escalation, expiry, catch-up."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.conftest import T0, Loanflow
from tests.dbs import dump, execute, query
from tests.e2e.helpers import HIGH_APPLICATION, MEDIUM_APPLICATION, walk

PATHS = {"low": {}, "medium": MEDIUM_APPLICATION, "high": HIGH_APPLICATION}


def at(**delta: float) -> str:
    return (T0 + timedelta(**delta)).isoformat()


def sweep(lf: Loanflow, when: str) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(lf.ok("escalate", "--now", when, "--allow-future", as_json=True).output))


def show(lf: Loanflow, case_id: str, actor: str | None = None) -> dict:  # type: ignore[type-arg]
    return dict(json.loads(lf.ok("show", case_id, actor=actor, as_json=True).output))


def events(lf: Loanflow, case_id: str) -> list[tuple[str, str, str]]:
    history = json.loads(lf.ok("history", case_id, as_json=True).output)
    return [(e["action"], e["to_state"], e["actor"]) for e in history]


@pytest.mark.parametrize("tier", ["low", "medium", "high"])
def test_a_stalled_case_escalates_at_its_sla_then_at_twice_it_then_expires(
    lf: Loanflow, tier: str
) -> None:
    case_id = lf.apply(**PATHS[tier])
    applied = datetime.fromisoformat(show(lf, case_id)["created_at"])
    assert show(lf, case_id)["due_at"] == (applied + timedelta(days=2)).isoformat()
    assert sweep(lf, (applied + timedelta(days=2, seconds=-1)).isoformat())["fired"] == 0
    first = sweep(lf, (applied + timedelta(days=2)).isoformat())
    assert (first["escalated"], show(lf, case_id)["escalation_level"]) == (1, 1)
    assert show(lf, case_id)["id"] not in [c["id"] for c in _inbox(lf, "zhao")]
    second = sweep(lf, (applied + timedelta(days=4)).isoformat())
    assert (second["escalated"], show(lf, case_id)["escalation_level"]) == (1, 2)
    assert case_id in [c["id"] for c in _inbox(lf, "zhao")]  # level 2: the branch head's inbox
    third = sweep(lf, (applied + timedelta(days=30)).isoformat())
    assert (third["expired"], show(lf, case_id)["state"]) == (1, "expired")
    assert events(lf, case_id)[1:] == [
        ("escalate", "submitted", "system"),
        ("escalate", "submitted", "system"),
        ("expire", "expired", "system"),
    ]


def _inbox(lf: Loanflow, actor: str) -> list[dict]:  # type: ignore[type-arg]
    return list(json.loads(lf.ok("inbox", actor=actor, as_json=True).output))


def test_vip_cases_escalate_at_half_the_sla(lf: Loanflow) -> None:
    normal, vip = lf.apply(), lf.apply(priority="vip")
    report = sweep(lf, at(days=1, hours=1))
    assert [e["id"] for e in report["escalations"]] == [vip]
    assert show(lf, normal)["escalation_level"] == 0


def test_leaving_a_state_cancels_its_timers_and_return_arms_fresh_ones(lf: Loanflow) -> None:
    case_id = lf.apply(**MEDIUM_APPLICATION)
    lf.clock.now = T0 + timedelta(days=1)
    walk(lf, case_id, [("investigate", "wang")])
    # Day 2.5: submitted's SLA has passed, but the case left submitted; investigated's has not.
    assert sweep(lf, at(days=2, hours=12))["fired"] == 0
    lf.clock.now = T0 + timedelta(days=2, hours=13)
    lf.ok("act", case_id, "return", "--comment", "missing documents", actor="li")
    returned = datetime.fromisoformat(show(lf, case_id)["state_entered_at"])
    assert sweep(lf, (returned + timedelta(days=1)).isoformat())["fired"] == 0
    report = sweep(lf, (returned + timedelta(days=2)).isoformat())
    assert [(e["id"], e["level"], e["state"]) for e in report["escalations"]] == [
        (case_id, 1, "submitted")
    ]


def test_a_case_idle_40_days_catches_up_in_due_order_once(lf: Loanflow) -> None:
    case_id = lf.apply()
    report = sweep(lf, at(days=40))
    assert (report["fired"], report["escalated"], report["expired"]) == (3, 2, 1)
    assert [a for a, _, _ in events(lf, case_id)] == ["apply", "escalate", "escalate", "expire"]
    history = json.loads(lf.ok("history", case_id, as_json=True).output)
    assert [e["details"].get("level") for e in history[1:3]] == [1, 2]
    assert sweep(lf, at(days=41))["fired"] == 0
    both = query(
        lf.db_url,
        "SELECT COUNT(*) FROM timers WHERE fired_at IS NOT NULL AND cancelled_at IS NOT NULL",
    )
    assert both == [(0,)]  # the expiry fired; the timers it cancelled did not


def test_disbursed_high_risk_cases_escalate_but_never_expire(lf: Loanflow) -> None:
    case_id = lf.apply(**HIGH_APPLICATION)
    walk(
        lf,
        case_id,
        [
            ("accept", "wang"),
            ("investigate", "wang"),
            ("cross_check", "li"),
            ("risk_review", "chen"),
        ],
    )
    for member in ("qian", "wu"):
        lf.ok("act", case_id, "vote", "--vote", "approve", actor=member)
    walk(
        lf,
        case_id,
        [
            ("sign_contract", "zhou"),
            ("review_account", "zhou"),
            ("re_review", "sun"),
            ("disburse", "ma"),
        ],
    )
    report = sweep(lf, at(days=90))
    assert (report["escalated"], report["expired"]) == (2, 0)
    assert show(lf, case_id)["state"] == "disbursed"


def test_list_overdue_shows_the_most_overdue_first(lf: Loanflow) -> None:
    older = lf.apply()
    lf.clock.advance(hours=5)
    newer = lf.apply()
    vip = lf.apply(priority="vip")
    lf.clock.now = T0 + timedelta(days=3)
    overdue = json.loads(lf.ok("list", "--overdue", as_json=True).output)
    assert [c["id"] for c in overdue] == [vip, older, newer]
    lf.clock.now = T0 + timedelta(days=1, hours=6)  # only the VIP case's halved SLA has passed
    assert [c["id"] for c in json.loads(lf.ok("list", "--overdue", as_json=True).output)] == [vip]


def test_a_timer_whose_case_moved_on_is_re_evaluated_not_fired(lf: Loanflow) -> None:
    case_id = lf.apply()
    # The case moved on without its timers (only a bug or a hand-edit could do this).
    execute(lf.db_url, "UPDATE cases SET state = 'credit_granted' WHERE id = 1")
    report = sweep(lf, at(days=5))
    assert (report["fired"], report["skipped"]) == (0, 2)
    assert [a for a, _, _ in events(lf, case_id)] == ["apply"]


def test_one_failing_case_is_reported_and_the_sweep_goes_on(lf: Loanflow) -> None:
    broken, fine = lf.apply(), lf.apply()
    execute(lf.db_url, "UPDATE cases SET definition_version = 99 WHERE id = 1")
    result = lf("escalate", "--now", at(days=3), "--allow-future", as_json=True)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [ref for ref, _ in report["failed"]] == [broken]
    assert "low_risk v99" in report["failed"][0][1]
    assert [e["id"] for e in report["escalations"]] == [fine]


def test_a_sweep_as_of_a_moment_before_the_last_action_writes_nothing(lf: Loanflow) -> None:
    case_id = lf.apply(**{"priority": "vip"})
    lf.clock.now = T0 + timedelta(days=3)
    lf.ok("act", case_id, "grant_credit", actor="wang")
    before = dump(lf.db_url)
    assert sweep(lf, at(days=2))["fired"] == 0
    assert dump(lf.db_url) == before


def test_a_due_timer_on_a_case_with_a_later_event_waits_and_the_sweep_ends(lf: Loanflow) -> None:
    case_id = lf.apply(**HIGH_APPLICATION)
    walk(
        lf,
        case_id,
        [
            ("accept", "wang"),
            ("investigate", "wang"),
            ("cross_check", "li"),
            ("risk_review", "chen"),
        ],
    )
    lf.clock.now = T0 + timedelta(days=5)  # a vote long after the SLA, before any sweep ran
    lf.ok("act", case_id, "vote", "--vote", "approve", actor="qian")
    report = sweep(lf, at(days=4))  # a sweep as of a moment before that vote
    assert (report["fired"], report["deferred"]) == (0, 1)
    assert sweep(lf, at(days=6))["escalated"] == 2


def test_a_sweep_dated_in_the_future_needs_allow_future(lf: Loanflow) -> None:
    case_id = lf.apply()
    before = dump(lf.db_url)
    result = lf("escalate", "--now", at(days=40))
    assert result.exit_code == 2
    assert "--allow-future" in result.output
    assert dump(lf.db_url) == before
    assert show(lf, case_id)["state"] == "submitted"


def test_escalate_rejects_a_time_that_is_not_iso_8601(lf: Loanflow) -> None:
    result = lf("escalate", "--now", "next tuesday")
    assert result.exit_code == 2
    assert "ISO 8601" in result.output


def test_a_time_without_offset_is_in_the_cooperatives_time_zone(lf: Loanflow) -> None:
    case_id = lf.apply()
    due = datetime.fromisoformat(show(lf, case_id)["due_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    just_before = (due - timedelta(seconds=1)).replace(tzinfo=None).isoformat()
    assert sweep(lf, just_before)["fired"] == 0
    assert sweep(lf, due.replace(tzinfo=None).isoformat())["fired"] == 1

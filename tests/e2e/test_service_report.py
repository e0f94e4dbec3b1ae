"""`report service` through the CLI: a small November built by hand, then every figure checked
against the arithmetic written beside it (Asia/Shanghai; SLA 2 days, 1 day for VIP)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result

from cli import cli
from tests.conftest import Loanflow
from tests.e2e.helpers import MEDIUM_APPLICATION, headless_flags

SHANGHAI = ZoneInfo("Asia/Shanghai")
HOUR, DAY = 3600.0, 86400.0
HOSTILE = "<script>alert('x')</script>"
BROWSER = shutil.which("chromium")


def moment(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


def at(lf: Loanflow, when: datetime, *args: str, actor: str | None = None) -> Result:
    """Run a command at exactly `when` (the runner advances the clock a minute first)."""
    lf.clock.now = when - timedelta(minutes=1)
    return lf.ok(*args, actor=actor)


def apply_at(lf: Loanflow, when: datetime, actor: str, **fields: str | None) -> str:
    lf.clock.now = when - timedelta(minutes=1)
    return lf.apply(actor, **fields)


def report(lf: Loanflow, *args: str, actor: str = "zhao") -> dict[str, Any]:
    # At 5 December 09:00, after November: that month's end is the judging moment.
    lf.clock.now = moment(5, 9, month=12) - timedelta(minutes=1)
    return dict(json.loads(lf.ok("report", "service", *args, actor=actor, as_json=True).output))


@pytest.fixture
def november(lf: Loanflow) -> Loanflow:
    """Five cases of branch ys in November 2026."""
    a = apply_at(lf, moment(3, 9), "wang")  # LA-000001, low
    at(lf, moment(3, 13), "act", a, "grant_credit", actor="wang")  # 4h
    at(lf, moment(6, 9), "escalate")  # level 1: credit_granted since the 3rd, 13:00
    at(lf, moment(6, 13), "act", a, "approve", actor="zhao")  # 72h: zhao's breach
    at(lf, moment(6, 14), "act", a, "disburse", actor="ma")  # 1h
    b = apply_at(lf, moment(10, 9), "li", **MEDIUM_APPLICATION, priority="vip")  # LA-000002
    at(lf, moment(10, 11), "act", b, "investigate", actor="li")  # 2h
    at(lf, moment(10, 15), "act", b, "cross_check", actor="wang")  # 4h
    at(lf, moment(10, 16), "act", b, "return", "--comment", "redo", actor="chen")  # 1h
    at(lf, moment(10, 18), "act", b, "cross_check", actor="wang")  # 2h
    at(lf, moment(11, 10), "act", b, "reject", "--comment", "arrears", actor="chen")  # 16h
    e = apply_at(lf, moment(15, 9), "wang")  # LA-000003, low, an hour a step
    at(lf, moment(15, 10), "act", e, "grant_credit", actor="wang")
    at(lf, moment(15, 11), "act", e, "approve", actor="zhao")
    at(lf, moment(15, 12), "act", e, "disburse", actor="ma")
    d = apply_at(lf, moment(25, 9), "li")  # LA-000004: nobody picks it up in November
    at(lf, moment(28, 9), "escalate")  # level 1
    at(lf, moment(29, 10), "escalate")  # level 2
    c = apply_at(lf, moment(30, 20), "wang")  # LA-000005, at the month's edge
    at(lf, moment(30, 23, 59, 59), "act", c, "grant_credit", actor="wang")  # November
    at(lf, moment(1, 0, month=12), "act", c, "approve", actor="zhao")  # December
    at(lf, moment(2, 9, month=12), "act", d, "grant_credit", actor="wang")  # 7 days late
    return lf


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in rows}


def test_each_officers_figures_match_the_hand_count(november: Loanflow) -> None:
    data = report(november, "--month", "2026-11")
    officers = by_name(data["officers"])
    # Idle staff of the branch are listed too; the auditor is not working staff.
    assert sorted(officers) == sorted(
        ["chen", "feng", "li", "ma", "qian", "sun", "wang", "wu", "zhang", "zhao", "zheng", "zhou"]
    )
    wang = officers["wang"]
    assert wang["actions"] == {"apply": 3, "cross_check": 2, "grant_credit": 3}
    # turnarounds 4h (A), 4h and 2h (B, VIP), 1h (E), 3:59:59 (C): sorted 1h 2h 3:59:59 4h 4h
    assert wang["turnaround"] == {"count": 5, "median_seconds": 14399.0, "p90_seconds": 14400.0}
    # ratios 1/12, 1/6 (4h of a VIP day), 1/12, 1/48, 14399/172800: median 1/12, p90 1/6
    assert (wang["measured"], wang["turnaround_ratio_median"]) == (5, 1 / 12)
    assert wang["turnaround_ratio_p90"] == 1 / 6
    assert (wang["breaches"], wang["breach_rate"], wang["escalations"]) == (0, 0.0, 0)
    assert (wang["returns_given"], wang["returns_received"]) == (0, 1)  # B's cross-check
    assert wang["stars"] == 5  # ratio 0.08 <= 0.25 and breach rate 0 <= 0
    assert wang["rating"] == (
        "5 stars: turnaround 0.08 of SLA, breach rate 0.00 (limits 0.25 and 0.00)"
    )
    zhao = officers["zhao"]
    assert zhao["actions"] == {"approve": 2}  # the approval of 1 December is December's
    assert zhao["turnaround"] == {"count": 2, "median_seconds": HOUR, "p90_seconds": 72 * HOUR}
    assert (zhao["breaches"], zhao["escalations"], zhao["breach_rate"]) == (1, 1, 0.5)
    assert (zhao["stars"], zhao["rating"]) == (
        None,
        "not rated: 2 measured actions, the rule needs 5",
    )
    chen = officers["chen"]
    assert chen["actions"] == {"reject": 1, "return": 1}
    assert chen["turnaround"] == {"count": 2, "median_seconds": HOUR, "p90_seconds": 16 * HOUR}
    assert chen["turnaround_ratio_p90"] == 16 / 24  # VIP
    assert (chen["returns_given"], chen["returns_received"]) == (1, 0)
    assert officers["li"]["actions"] == {"apply": 2, "investigate": 1}
    assert officers["ma"]["turnaround"] == {"count": 2, "median_seconds": HOUR, "p90_seconds": HOUR}
    assert officers["zhou"]["actions_total"] == 0


def test_branch_tier_and_priority_figures_match_the_hand_count(november: Loanflow) -> None:
    data = report(november, "--month", "2026-11")
    total = data["total"]
    assert total["actions_total"] == 17
    assert total["finished"] == {"disbursed": 2, "rejected": 1}
    # to decision: E 2h, B 25h, A 3d 4h
    assert total["decision"] == {"count": 3, "median_seconds": 25 * HOUR, "p90_seconds": 76 * HOUR}
    assert (total["breaches"], total["pending"], total["escalations"], total["returns"]) == (
        1,
        1,
        3,
        1,
    )
    assert [b["name"] for b in data["branches"]] == ["ys"]
    tiers = by_name(data["tiers"])
    assert tiers["low"]["decision"] == {
        "count": 2,
        "median_seconds": 2 * HOUR,
        "p90_seconds": 76 * HOUR,
    }
    assert tiers["medium"]["decision"]["median_seconds"] == 25 * HOUR
    priorities = data["priorities"]
    assert [p["name"] for p in priorities] == ["vip", "normal"]
    assert priorities[0]["decision"]["median_seconds"] == 25 * HOUR
    # the green channel's five steps: 2h 4h 1h 2h 16h
    assert priorities[0]["turnaround"] == {
        "count": 5,
        "median_seconds": 2 * HOUR,
        "p90_seconds": 16 * HOUR,
    }


def test_states_responsibility_and_pending_cases(november: Loanflow) -> None:
    data = report(november, "--month", "2026-11")
    states = {(s["tier"], s["state"]): s for s in data["states"]}
    submitted = states[("low", "submitted")]
    assert submitted["time_in_state"] == {
        "count": 3,
        "median_seconds": 14399.0,
        "p90_seconds": 4 * HOUR,
    }
    assert (submitted["breaches"], submitted["pending"], submitted["escalations"]) == (0, 1, 2)
    granted = states[("low", "credit_granted")]
    assert granted["time_in_state"] == {
        "count": 2,
        "median_seconds": HOUR,
        "p90_seconds": 72 * HOUR,
    }
    assert (granted["sla_seconds"], granted["breaches"], granted["escalations"]) == (2 * DAY, 1, 1)
    checked = states[("medium", "ab_checked")]
    assert checked["time_in_state"] == {
        "count": 2,
        "median_seconds": HOUR,
        "p90_seconds": 16 * HOUR,
    }
    assert [s for s in states if s[0] == "low"][:3] == [
        ("low", "submitted"),
        ("low", "credit_granted"),
        ("low", "approved"),
    ]
    assert data["responsibility"] == [
        {"tier": "low", "state": "submitted", "kind": "queue", "name": "account_manager",
         "breaches": 0, "pending": 1, "escalations": 2},
        {"tier": "low", "state": "credit_granted", "kind": "officer", "name": "zhao",
         "breaches": 1, "pending": 0, "escalations": 1},
    ]  # fmt: skip
    [pending] = data["pending"]
    assert (pending["case_id"], pending["state"], pending["queue"]) == (
        "LA-000004",
        "submitted",
        "account_manager",
    )
    assert pending["overdue_seconds"] == 5 * DAY + 15 * HOUR - 2 * DAY  # judged at 1 Dec 00:00
    assert data["rule"]["name"] == "service_rating"
    assert data["period"]["start"] == "2026-10-31T16:00:00+00:00"
    assert data["as_of"] == "2026-11-30T16:00:00+00:00"


def test_the_last_second_of_the_month_is_that_months_and_midnight_is_the_next(
    november: Loanflow,
) -> None:
    last_day = by_name(report(november, "--from", "2026-11-30", "--to", "2026-11-30")["officers"])
    assert last_day["wang"]["actions"] == {"apply": 1, "grant_credit": 1}
    assert last_day["zhao"]["actions"] == {}
    december = report(november, "--month", "2026-12")
    officers = by_name(december["officers"])
    assert officers["zhao"]["actions"] == {"approve": 1}
    assert officers["zhao"]["turnaround"]["median_seconds"] == 1.0
    # November's report keeps LA-000004's wait on the queue (as it stood at the month's end);
    # December's gives the late pick-up to wang, without November's escalations.
    assert officers["wang"]["actions"] == {"grant_credit": 1}
    assert officers["wang"]["turnaround"]["median_seconds"] == 7 * DAY
    assert (officers["wang"]["breaches"], officers["wang"]["escalations"]) == (1, 0)
    # December is not over on the 5th: open cases are judged now (5 Dec 09:00).
    assert december["as_of"] == moment(5, 9, month=12).isoformat()
    assert {(p["case_id"], p["queue"], p["overdue_seconds"]) for p in december["pending"]} == {
        ("LA-000005", "teller", 4 * DAY + 9 * HOUR - 2 * DAY),
        ("LA-000004", "branch_head", 3 * DAY - 2 * DAY),
    }


def test_a_case_untouched_all_month_is_still_pending_in_its_queue(lf: Loanflow) -> None:
    apply_at(lf, moment(20, 9, month=10), "li")  # no sweep ran: no event in November
    closed = apply_at(lf, moment(21, 9, month=10), "li")
    at(lf, moment(21, 10, month=10), "act", closed, "withdraw", "--comment", "no", actor="li")
    data = report(lf, "--month", "2026-11")
    [pending] = data["pending"]
    assert pending["case_id"] == "LA-000001"
    assert pending["overdue_seconds"] == 41 * DAY + 15 * HOUR - 2 * DAY  # at 1 Dec 00:00
    assert data["total"]["actions_total"] == 0


def test_an_officer_reads_their_own_figures_and_nobody_elses(november: Loanflow) -> None:
    own = report(november, "--month", "2026-11", "--officer", "wang", actor="wang")
    assert [o["name"] for o in own["officers"]] == ["wang"]
    assert {r["kind"] for r in own["responsibility"]} == {"queue"}
    assert own["total"]["actions_total"] == 17  # beside the branch's figures
    assert own["branch"] == "ys"


@pytest.mark.parametrize(
    ("args", "actor", "message"),
    [
        (["--month", "2026-11"], "wang", "service reports are for branch heads"),
        (["--month", "2026-11", "--officer", "li"], "wang", "service reports are for"),
        (["--month", "2026-11", "--branch", "fn"], "zhao", "zhao reads branch ys only"),
        (["--month", "2026-11", "--branch", "nowhere"], "audit1", "no branch 'nowhere'"),
        (["--month", "2026-11", "--officer", "nobody"], "zhao", "no user 'nobody'"),
        (["--month", "2026-11"], None, "say who you are with --actor"),
        (["--month", "2026-13"], "zhao", "expected a month as YYYY-MM"),
        (["--month", "2027-01"], "zhao", "has not begun yet"),
        (["--from", "2026-11-30", "--to", "2026-11-01"], "zhao", "is before --from"),
        (["--from", "2026-11-01"], "zhao", "give --month YYYY-MM, or --from DAY and --to DAY"),
        ([], "zhao", "give --month YYYY-MM"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    lf: Loanflow, args: list[str], actor: str | None, message: str
) -> None:
    lf.ok("user", "add", "hu", "--role", "account_manager", "--branch", "fn")
    lf.clock.now = moment(5, 9, month=12)
    result = lf("report", "service", *args, actor=actor)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_auditors_and_admins_read_any_branch(lf: Loanflow) -> None:
    lf.ok("user", "add", "hu", "--role", "account_manager", "--branch", "fn")
    apply_at(lf, moment(3, 9), "hu")
    data = report(lf, "--month", "2026-11", "--branch", "fn", actor="audit1")
    assert (data["branch"], [o["name"] for o in data["officers"]]) == ("fn", ["hu"])
    everyone = report(lf, "--month", "2026-11", actor="audit1")
    assert everyone["branch"] is None
    assert [b["name"] for b in everyone["branches"]] == ["fn"]


def test_text_is_the_default_and_states_the_rule(november: Loanflow) -> None:
    november.clock.now = moment(5, 9, month=12)
    text = november.ok("report", "service", "--month", "2026-11", actor="zhao").output
    assert text.startswith(
        "Service indicators 2026-11 (2026-11-01 to 2026-11-30) in Asia/Shanghai, branch ys"
    )
    assert "Star rule service_rating v1" in text
    assert "5 stars: turnaround ratio <= 0.25 and breach rate <= 0.00" in text
    assert "5 stars: turnaround 0.08 of SLA, breach rate 0.00" in text  # beside wang's stars
    assert "LA-000004" in text
    assert "queue: account_manager" in text


def test_csv_has_one_row_per_indicator(november: Loanflow, tmp_path: Path) -> None:
    out = tmp_path / "q4.csv"
    at(november, moment(5, 9, month=12), "report", "service", "--from", "2026-09-01",
       "--to", "2026-11-30", "--format", "csv", "-o", str(out), actor="zhao")  # fmt: skip
    rows = list(csv.reader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert rows[0] == ["section", "tier", "state", "name", "indicator", "value"]
    cells = {(r[0], r[1], r[2], r[3], r[4]): r[5] for r in rows[1:]}
    assert cells[("period", "", "", "2026-09-01 to 2026-11-30", "start")] == "2026-09-01"
    assert cells[("officer", "", "", "wang", "turnaround.median_seconds")] == "14399.0"
    assert cells[("officer", "", "", "wang", "actions.grant_credit")] == "3"
    assert cells[("officer", "", "", "wang", "stars")] == "5"
    assert cells[("tier", "", "", "low", "decision.p90_seconds")] == str(76 * HOUR)
    assert cells[("responsibility", "low", "credit_granted", "zhao", "breaches")] == "1"
    key = ("responsibility", "low", "submitted", "queue: account_manager", "pending")
    assert cells[key] == "1"
    assert cells[("pending", "low", "submitted", "LA-000004", "queue")] == "account_manager"


def test_the_html_report_is_self_contained_and_escapes_names(lf: Loanflow, tmp_path: Path) -> None:
    lf.ok("user", "add", HOSTILE, "--role", "account_manager", "--branch", "ys")
    case = apply_at(lf, moment(3, 9), HOSTILE, customer=f"{HOSTILE} Li")
    at(lf, moment(3, 10), "act", case, "grant_credit", actor=HOSTILE)
    out = tmp_path / "nov.html"
    at(lf, moment(5, 9, month=12), "report", "service", "--month", "2026-11", "--format", "html",
       "-o", str(out), actor="zhao")  # fmt: skip
    html = out.read_text(encoding="utf-8")
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    assert html.count(escaped) >= 3  # the officers' table, their chart label, the customer
    assert f"{escaped} Li" in html  # the customer of the case past its SLA
    assert "<script" not in html
    assert "<svg" in html
    assert "Star rule service_rating v1" in html
    for external in ("http://", "https://", "src=", "<link", "url("):
        assert external not in html


@pytest.mark.skipif(BROWSER is None, reason="no chromium installed (Debian package chromium)")
def test_the_html_report_renders_in_a_real_headless_browser(
    november: Loanflow, tmp_path: Path
) -> None:
    page = tmp_path / "nov.html"
    at(november, moment(5, 9, month=12), "report", "service", "--month", "2026-11",
       "--format", "html", "-o", str(page), actor="zhao")  # fmt: skip
    shot = tmp_path / "nov.png"
    flags = headless_flags(tmp_path / "profile")
    assert BROWSER is not None
    dom = subprocess.run(
        [BROWSER, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert "Service indicators 2026-11" in dom.stdout
    assert dom.stdout.count("<rect") >= 10  # the inline SVG charts were parsed into the DOM
    subprocess.run(
        [BROWSER, *flags, "--window-size=1280,2400", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 50_000  # a blank page is a few kilobytes


def test_the_demo_ends_with_its_branchs_service_report(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(cli, ["demo", "--db", db_url], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    ending = result.output.split("The branch's service report", 1)[1]
    assert f"loanflow --db {db_url} --actor zhao" in ending
    assert "Service indicators" in ending
    assert "branch yingshang" in ending
    assert "Star rule service_rating v1" in ending
    assert "wang" in ending
    assert "LA-000005" in ending  # the high-risk case left waiting on the committee
    assert ending.rstrip().splitlines()[-1].startswith("  LA-")  # the report is the last thing

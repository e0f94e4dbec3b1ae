"""Service indicators on a hand-built history: every figure below was worked out by hand."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from definitions.loader import DefinitionSource, bundled_sources, load
from workflow.errors import InvalidDefinition, InvalidInput
from workflow.indicators import rating_note
from workflow.periods import days_period, month_period, period_of
from workflow.ports import HistoryRow
from workflow.spec import ServiceRating, StarLevel, WorkflowSpec
from workflow.tally import Tally, percentile

SHANGHAI = ZoneInfo("Asia/Shanghai")
SPECS = {s.name: s for s in map(load, bundled_sources()) if isinstance(s, WorkflowSpec)}
HOUR, DAY = 3600.0, 86400.0
NOVEMBER = month_period("2026-11", SHANGHAI)


def local(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 11) -> datetime:
    """A moment of 2026 in the cooperative's time zone, as the database keeps it (UTC)."""
    return datetime(2026, month, day, hour, minute, second, tzinfo=SHANGHAI).astimezone(UTC)


class Case:
    """Writes one low-risk case's history, event by event, as the service layer would."""

    def __init__(self, case_id: int, priority: str = "normal", branch: str = "ys") -> None:
        self.case_id, self.priority, self.branch = case_id, priority, branch
        self.rows: list[HistoryRow] = []
        self.state: str | None = None

    def event(
        self, action: str, to: str, actor: str, at: datetime, level: int | None = None
    ) -> Case:
        row = (self.case_id, len(self.rows) + 1, action, self.state, to, actor, at, level)
        self.rows.append(HistoryRow(*row, "low_risk", 1, "low", self.branch, self.priority))
        self.state = to
        return self

    def escalate(self, level: int, at: datetime) -> Case:
        assert self.state is not None
        return self.event("escalate", self.state, "system", at, level)


def history() -> Iterator[HistoryRow]:
    """Seven low-risk cases around November 2026 (Asia/Shanghai); SLA 2 days, 1 day for VIP."""
    one = Case(1)  # applied in October, worked in November; the teller is late
    one.event("apply", "submitted", "wang", local(30, 10, month=10))
    one.event("grant_credit", "credit_granted", "wang", local(1, 10))  # 48h: on time, ratio 1
    one.event("approve", "approved", "zhao", local(1, 16))  # 6h
    one.escalate(1, local(3, 16))
    one.event("disburse", "disbursed", "ma", local(4, 17))  # 73h: a breach, ma's
    two = Case(2, priority="vip")  # returned for rework, approved at 23:59:59 on the last day
    two.event("apply", "submitted", "li", local(10, 9))
    two.event("grant_credit", "credit_granted", "li", local(10, 21))  # 12h against 24h
    two.escalate(1, local(11, 21))
    two.event("return", "submitted", "zhao", local(12, 9))  # 36h: zhao's breach; li receives it
    two.event("grant_credit", "credit_granted", "li", local(12, 10))  # 1h
    two.escalate(1, local(13, 10)).escalate(2, local(14, 10))
    two.event("approve", "approved", "zhao", local(30, 23, 59, 59))  # in November: zhao's breach
    two.event("disburse", "disbursed", "ma", local(1, 0, month=12))  # in December: not counted
    three = Case(3, branch="fn")  # never picked up: pending in the account managers' queue
    three.event("apply", "submitted", "hu", local(20, 9))
    three.escalate(1, local(22, 9)).escalate(2, local(24, 9))
    four = Case(4)  # rejected within hours
    four.event("apply", "submitted", "wang", local(2, 9))
    four.event("grant_credit", "credit_granted", "wang", local(2, 10))
    four.event("reject", "rejected", "zhao", local(2, 12))
    five = Case(5)  # withdrawn after 73h waiting: the queue's breach, not li's
    five.event("apply", "submitted", "li", local(3, 9))
    five.event("withdraw", "withdrawn", "li", local(6, 10))
    six = Case(6)  # closed in October: nothing of it counts
    six.event("apply", "submitted", "wang", local(1, 9, month=10))
    six.event("grant_credit", "credit_granted", "wang", local(2, 9, month=10))
    six.event("approve", "approved", "zhao", local(3, 9, month=10))
    six.event("disburse", "disbursed", "ma", local(4, 9, month=10))
    seven = Case(7, branch="fn")  # idle for 30 days: expired by the system in November
    seven.event("apply", "submitted", "hu", local(20, 9, month=10))
    seven.escalate(1, local(22, 9, month=10)).escalate(2, local(24, 9, month=10))
    seven.event("expire", "expired", "system", local(19, 9))
    for case in (one, two, three, four, five, six, seven):
        yield from case.rows


@pytest.fixture(scope="module")
def tally() -> Tally:
    # The period's end is the judging moment: "now" is long after it.
    t = Tally(NOVEMBER.start, NOVEMBER.end, NOVEMBER.end, lambda name, version: SPECS[name])
    t.add(history())
    return t


def sorted_list(values: Iterable[float]) -> list[float]:
    return sorted(values)


def test_percentiles_are_nearest_rank() -> None:
    ten = [float(v) for v in range(1, 11)]
    assert (percentile(ten, 50), percentile(ten, 90)) == (5.0, 9.0)
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0  # an even count: the lower middle value
    assert percentile([1.0, 2.0, 3.0, 4.0], 90) == 4.0  # rank ceil(3.6) = 4
    assert percentile([float(v) for v in range(1, 31)], 90) == 27.0  # exact, no float rounding
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 50) == 3.0  # rank ceil(2.5) = 3
    assert percentile([float(v) for v in range(1, 7)], 90) == 6.0  # rank ceil(5.4) = 6
    assert percentile([7.0], 90) == 7.0
    assert percentile([], 50) is None


def test_a_month_is_its_days_in_the_cooperatives_time_zone() -> None:
    assert NOVEMBER.start == datetime(2026, 10, 31, 16, tzinfo=UTC)
    assert NOVEMBER.end == datetime(2026, 11, 30, 16, tzinfo=UTC)
    december = month_period("2026-12", SHANGHAI)
    assert (december.first_day, december.last_day) == ("2026-12-01", "2026-12-31")
    assert december.end == datetime(2026, 12, 31, 16, tzinfo=UTC)
    quarter = days_period("2026-09-01", "2026-11-30", SHANGHAI)
    assert (quarter.start, quarter.end) == (datetime(2026, 8, 31, 16, tzinfo=UTC), NOVEMBER.end)
    utc = month_period("2026-11", ZoneInfo("UTC"))
    assert (utc.start, utc.end) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 12, 1, tzinfo=UTC),
    )


@pytest.mark.parametrize(
    ("month", "first", "last", "message"),
    [
        ("2026-13", None, None, "expected a month as YYYY-MM"),
        ("2026-1", None, None, "expected a month as YYYY-MM"),
        ("0000-01", None, None, "expected a month as YYYY-MM"),
        ("9999-12", None, None, "expected a month as YYYY-MM"),
        ("nov", None, None, "expected a month as YYYY-MM"),
        (None, "2026-11-30", "2026-11-01", "is before --from 2026-11-30"),
        (None, "2026-02-30", "2026-03-01", "expected a day as YYYY-MM-DD"),
        (None, "2026-11-01", None, "give --month YYYY-MM, or --from DAY and --to DAY"),
        (None, None, None, "give --month YYYY-MM, or --from DAY and --to DAY"),
        ("2026-11", "2026-11-01", "2026-11-02", "not both"),
        (None, "0001-01-01", "0001-01-01", "outside the calendar"),
    ],
)
def test_a_bad_period_is_refused_in_one_line(
    month: str | None, first: str | None, last: str | None, message: str
) -> None:
    with pytest.raises(InvalidInput) as err:
        period_of(month, first, last, SHANGHAI)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_an_action_at_235959_on_the_last_day_belongs_to_that_month_in_the_cooperatives_zone() -> (
    None
):
    last_second = Case(1).event("apply", "submitted", "wang", local(30, 23, 59, 59))
    midnight = Case(2).event("apply", "submitted", "li", local(1, 0, month=12))

    def counted(tz: str) -> set[str]:
        month = month_period("2026-11", ZoneInfo(tz))
        t = Tally(month.start, month.end, month.end, lambda name, version: SPECS[name])
        t.add([*last_second.rows, *midnight.rows])
        return {name for name, totals in t.officers.items() if totals.actions}

    assert counted("Asia/Shanghai") == {"wang"}  # 23:59:59 on the 30th is in, 00:00 is out
    assert counted("UTC") == {"wang", "li"}  # the zone is a setting: in UTC both are 30 November


def test_turnaround_is_counted_from_the_start_of_the_visit_in_which_the_officer_acted(
    tally: Tally,
) -> None:
    wang = tally.officers["wang"]
    assert dict(wang.actions) == {"grant_credit": 2, "apply": 1}
    assert sorted_list(wang.turnaround) == [HOUR, 48 * HOUR]  # case 1 waited since October
    assert sorted_list(wang.ratios) == [1 / 48, 1.0]
    zhao = tally.officers["zhao"]
    assert dict(zhao.actions) == {"approve": 2, "return": 1, "reject": 1}
    # The escalations between do not restart the clock: case 2 waited 18d 13:59:59 for zhao.
    slow = 18 * DAY + 13 * HOUR + 59 * 60 + 59
    assert sorted_list(zhao.turnaround) == [2 * HOUR, 6 * HOUR, 36 * HOUR, slow]
    assert sorted_list(zhao.ratios) == [2 / 48, 6 / 48, 36 / 24, slow / DAY]  # VIP: a 1-day SLA
    li = tally.officers["li"]
    assert dict(li.actions) == {"apply": 2, "grant_credit": 2, "withdraw": 1}
    assert sorted_list(li.turnaround) == [HOUR, 12 * HOUR]  # withdraw and apply are not measured
    assert sorted_list(tally.officers["ma"].turnaround) == [73 * HOUR]  # December's is not here
    assert "system" not in tally.officers


def test_returns_are_given_by_the_reviewer_and_received_by_who_did_the_work(tally: Tally) -> None:
    assert (tally.officers["zhao"].returns_given, tally.officers["zhao"].returns_received) == (1, 0)
    assert (tally.officers["li"].returns_given, tally.officers["li"].returns_received) == (0, 1)


def test_breaches_and_escalations_go_to_who_ended_the_visit_or_to_the_queue(tally: Tally) -> None:
    blame = {key: dict(counts) for key, counts in tally.blame.items()}
    assert blame == {
        ("low", "approved", "officer", "ma"): {"breaches": 1, "escalations": 1},
        ("low", "credit_granted", "officer", "zhao"): {"breaches": 2, "escalations": 3},
        # case 3 pending (two escalations in November); case 5 withdrawn, case 7 expired, late
        ("low", "submitted", "queue", "account_manager"): {
            "breaches": 2,
            "pending": 1,
            "escalations": 2,
        },
    }
    [overdue] = tally.overdue
    assert (overdue.case_id, overdue.state, overdue.queue) == (3, "submitted", "account_manager")
    assert overdue.overdue_seconds == 10 * DAY + 15 * HOUR - 2 * DAY  # at 1 December 00:00


def test_time_in_each_state_counts_the_visits_ended_in_the_period(tally: Tally) -> None:
    submitted = tally.states[("low", "submitted")]
    assert sorted_list(submitted.time) == [HOUR, HOUR, 12 * HOUR, 48 * HOUR, 73 * HOUR, 30 * DAY]
    assert (submitted.breaches, submitted.pending, submitted.escalations) == (2, 1, 2)
    granted = tally.states[("low", "credit_granted")]
    slow = 18 * DAY + 13 * HOUR + 59 * 60 + 59
    assert sorted_list(granted.time) == [2 * HOUR, 6 * HOUR, 36 * HOUR, slow]
    assert (granted.breaches, granted.escalations, granted.sla) == (2, 3, 2 * DAY)
    approved = tally.states[("low", "approved")]
    assert (sorted_list(approved.time), approved.breaches, approved.pending) == ([73 * HOUR], 1, 0)


def test_decisions_outcomes_and_groups(tally: Tally) -> None:
    total = tally.grouped(None)[None]
    assert sum(total.actions.values()) == 14
    assert dict(total.finished) == {"disbursed": 1, "rejected": 1, "withdrawn": 1, "expired": 1}
    to_decision = [3 * HOUR, 54 * HOUR, 20 * DAY + 14 * HOUR + 59 * 60 + 59]
    assert sorted_list(total.decisions) == to_decision
    assert (percentile(to_decision, 50), percentile(to_decision, 90)) == (54 * HOUR, to_decision[2])
    assert (total.breaches, total.pending, total.escalations, total.returns_given) == (5, 1, 6, 1)
    branches = tally.grouped(0)
    assert (branches["ys"].breaches, branches["fn"].breaches, branches["fn"].pending) == (4, 1, 1)
    vip = tally.grouped(2)["vip"]
    assert sorted_list(vip.decisions) == [to_decision[2]]
    assert sorted_list(vip.turnaround) == [HOUR, 12 * HOUR, 36 * HOUR, 18 * DAY + 50399]


RULE = ServiceRating(
    "service_rating",
    1,
    "test",
    5,
    (StarLevel(5, 0.25, 0.0), StarLevel(4, 0.5, 0.05), StarLevel(3, 0.75, 0.1)),
    1,
)


@pytest.mark.parametrize(
    ("measured", "ratio", "rate", "stars"),
    [
        (5, 0.25, 0.0, 5),  # limits are inclusive
        (5, 0.2501, 0.0, 4),
        (20, 0.1, 0.05, 4),  # one level's limits must both be met
        (20, 0.5, 0.0501, 3),
        (20, 0.76, 0.0, 1),  # no level met: the floor
        (4, 0.0, 0.0, None),  # too few measured actions: not rated
    ],
)
def test_the_star_rule_gives_the_first_level_whose_limits_are_both_met(
    measured: int, ratio: float, rate: float, stars: int | None
) -> None:
    assert RULE.stars(measured, ratio, rate) == stars
    note = rating_note(RULE, measured, ratio, rate, RULE.stars(measured, ratio, rate))
    assert note.startswith(
        "not rated" if stars is None else f"{stars} stars: turnaround {ratio:.2f}"
    )


def test_the_bundled_star_rule_loads() -> None:
    [rule] = [s for s in map(load, bundled_sources()) if isinstance(s, ServiceRating)]
    assert (rule.name, rule.version, rule.min_measured_actions, rule.floor) == (
        "service_rating",
        1,
        5,
        1,
    )
    assert [lv.stars for lv in rule.levels] == [5, 4, 3, 2]


RATING_YAML = """\
name: service_rating
version: 2
kind: service_rating
min_measured_actions: 5
floor: 1
levels:
  - {stars: 5, max_turnaround_ratio: 0.25, max_breach_rate: 0.0}
  - {stars: 4, max_turnaround_ratio: 0.5, max_breach_rate: 0.05}
"""


@pytest.mark.parametrize(
    ("old", "new", "where", "problem"),
    [
        ("stars: 4,", "stars: 6,", "line 8, levels.1.stars", "from most stars to fewest"),
        ("0.5,", "0.2,", "line 8, levels.1", "as loose as the one above"),
        ("0.05}", "1.5}", "line 8, levels.1.max_breach_rate", "from 0 to 1"),
        ("0.25,", "0,", "line 7, levels.0.max_turnaround_ratio", "must be above 0"),
        ("floor: 1", "floor: 4", "line 5, floor", "fewer stars than the last level"),
        ("min_measured_actions: 5", "min_measured_actions: 0", "line 4", "from 1"),
        ("stars: 5,", "stars: true,", "line 7, levels.0.stars", "expected int"),
        ("floor: 1", "floor: 1\nbonus: 2", "line 6, bonus", "unknown key 'bonus'"),
    ],
)
def test_a_bad_star_rule_is_refused_naming_its_line(
    old: str, new: str, where: str, problem: str
) -> None:
    assert isinstance(load(DefinitionSource("rating.yaml", RATING_YAML)), ServiceRating)
    with pytest.raises(InvalidDefinition) as err:
        load(DefinitionSource("rating.yaml", RATING_YAML.replace(old, new, 1)))
    assert err.value.file == "rating.yaml"
    assert err.value.where.startswith(where)
    assert problem in err.value.problem

"""Service reports: `report service`, the indicators per officer, branch, tier and state."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from cli.output import local, plain
from cli.settings import Settings, pass_settings

if TYPE_CHECKING:
    from workflow.indicators import GroupIndicators, OfficerIndicators, ServiceReport

FORMATS = ("text", "json", "csv", "html")
CSV_COLUMNS = ("section", "tier", "state", "name", "indicator", "value")


@click.group()
def report() -> None:
    """Service reports (branch heads for their branch, auditors and admins for any)."""


@report.command()
@click.option(
    "--month", metavar="YYYY-MM", help="A calendar month, YYYY-MM, in the cooperative's time zone."
)
@click.option("--from", "first", metavar="DAY", help="The first day, YYYY-MM-DD (with --to).")
@click.option("--to", "last", metavar="DAY", help="The last day, YYYY-MM-DD, included.")
@click.option(
    "--officer", metavar="NAME", help="One officer's figures, beside those of the branch."
)
@click.option(
    "--branch", metavar="BRANCH", help="One branch (a branch head always reads their own)."
)
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="text (default; json with --json)."
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8", lazy=True),
    default="-",
    help="File to write (default: stdout).",
)
@pass_settings
def service(
    settings: Settings,
    month: str | None,
    first: str | None,
    last: str | None,
    officer: str | None,
    branch: str | None,
    fmt: str | None,
    output: IO[str],
) -> None:
    """Service indicators: work, turnaround against the SLA, breaches, escalations, returns,
    time to decision per tier, VIP against normal, and each officer's stars beside their inputs."""
    from workflow.indicators import service_report
    from workflow.periods import period_of

    period = period_of(month, first, last, settings.tz)
    data = service_report(
        settings.uow(write=False),
        settings.actor,
        period,
        settings.now(),
        officer=officer,
        branch=branch,
    )
    chosen = fmt or ("json" if settings.json else "text")
    if chosen == "json":
        output.write(json.dumps(plain(data), ensure_ascii=False, indent=2) + "\n")
    elif chosen == "csv":
        write_csv(data, output)
    elif chosen == "html":
        output.write(render_html(data, settings.tz))
    else:
        output.write("\n".join(text_lines(data, settings.tz)) + "\n")


def span(seconds: float | None) -> str:
    """A duration for people: `45s`, `12m 05s`, `5h 03m`, `2d 04h`."""
    if seconds is None:
        return "-"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def stars(value: int | None, rule: Any) -> str:
    """`4/5`, or `-` for an officer the rule does not rate."""
    return "-" if value is None else f"{value}/{rule.levels[0].stars}"


def rule_lines(data: ServiceReport) -> list[str]:
    """The star rule in words, as the report states it beside the stars."""
    rule = data.rule
    levels = "; ".join(
        f"{lv.stars} stars: turnaround ratio <= {lv.max_turnaround_ratio:.2f} and breach rate "
        f"<= {lv.max_breach_rate:.2f}"
        for lv in rule.levels
    )
    return [
        f"Star rule {rule.name} v{rule.version}: {rule.title}",
        f"  {levels}; otherwise {rule.floor}; not rated under {rule.min_measured_actions} "
        "measured actions",
    ]


def text_lines(data: ServiceReport, tz: ZoneInfo) -> list[str]:
    """The report as plain text, section by section."""
    p = data.period
    scope = f"branch {data.branch}" if data.branch else "all branches"
    days = f"{p.first_day} to {p.last_day}"
    title = p.label if p.label == days else f"{p.label} ({days})"
    lines = [
        f"Service indicators {title} in {p.tz}, {scope}"
        + (f", officer {data.officer}" if data.officer else ""),
        f"as of {local(data.as_of, tz)}, generated {local(data.generated_at, tz)}",
        *rule_lines(data),
        "",
        "Officers",
        f"  {'officer':15} {'actions':>7} {'measured':>8}  {'turnaround median/p90':>21}  "
        f"{'ratio median/p90':>16}  {'breaches':>8} {'rate':>4}  {'escal.':>6}  "
        f"{'returns given/received':>22}  {'stars':>5}",
    ]
    for o in data.officers:
        lines += _officer_lines(o, data)
    lines += [
        "",
        "Branches, tiers and priorities",
        f"  {'group':15} {'actions':>7} {'finished':>9}  {'decision median/p90':>19}  "
        f"{'turnaround median/p90':>21}  {'ratio':>5}  {'breaches':>8} {'pending':>7} "
        f"{'escal.':>6} {'returns':>7}",
    ]
    lines += [_group_line(label, g) for label, g in groups(data)]
    lines += _state_lines(data) + _responsibility_lines(data) + _pending_lines(data, tz)
    return lines


def groups(data: ServiceReport) -> list[tuple[str, GroupIndicators]]:
    """Everything in scope, then each branch, tier and priority, with their labels."""
    return [
        ("all", data.total),
        *((f"branch {g.name or '-'}", g) for g in data.branches),
        *((f"tier {g.name}", g) for g in data.tiers),
        *((f"priority {g.name}", g) for g in data.priorities),
    ]


def _officer_lines(o: OfficerIndicators, data: ServiceReport) -> list[str]:
    turnaround = f"{span(o.turnaround.median_seconds)} / {span(o.turnaround.p90_seconds)}"
    ratios = f"{ratio(o.turnaround_ratio_median)} / {ratio(o.turnaround_ratio_p90)}"
    returns = f"{o.returns_given}/{o.returns_received}"
    actions = ", ".join(f"{a} {n}" for a, n in o.actions.items()) or "no actions"
    return [
        f"  {o.name:15} {o.actions_total:>7} {o.measured:>8}  {turnaround:>21}  {ratios:>16}  "
        f"{o.breaches:>8} {ratio(o.breach_rate):>4}  {o.escalations:>6}  {returns:>22}  "
        f"{stars(o.stars, data.rule):>5}",
        f"      {actions}; {o.rating}",
    ]


def _group_line(label: str, g: GroupIndicators) -> str:
    finished = sum(g.finished.values())
    decision = f"{span(g.decision.median_seconds)} / {span(g.decision.p90_seconds)}"
    turnaround = f"{span(g.turnaround.median_seconds)} / {span(g.turnaround.p90_seconds)}"
    return (
        f"  {label:15} {g.actions_total:>7} {finished:>9}  {decision:>19}  {turnaround:>21}  "
        f"{ratio(g.turnaround_ratio_median):>5}  {g.breaches:>8} {g.pending:>7} "
        f"{g.escalations:>6} {g.returns:>7}"
    )


def _state_lines(data: ServiceReport) -> list[str]:
    lines = ["", "Time in each state  (visits ended in the period; SLA for normal priority)"]
    for s in data.states:
        t = s.time_in_state
        lines.append(
            f"  {s.tier:6} {s.state:18} SLA {span(s.sla_seconds):>7}  visits {t.count:>5}  "
            f"median {span(t.median_seconds):>7}  p90 {span(t.p90_seconds):>7}  "
            f"breaches {s.breaches}  pending {s.pending}  escalations {s.escalations}"
        )
    return lines


def _responsibility_lines(data: ServiceReport) -> list[str]:
    lines = ["", "Who answers for breaches and escalations (by the state they happened in)"]
    for r in data.responsibility:
        who = r.name if r.kind == "officer" else f"queue: {r.name}"
        lines.append(
            f"  {r.tier:6} {r.state:18} {who:28} breaches {r.breaches}  pending {r.pending}  "
            f"escalations {r.escalations}"
        )
    if not data.responsibility:
        lines.append("  none")
    return lines


def _pending_lines(data: ServiceReport, tz: ZoneInfo) -> list[str]:
    lines = ["", "Past their SLA at the end of the period (most overdue first)"]
    for c in data.pending:
        lines.append(
            f"  {c.case_id}  {c.tier:6} {c.priority:6} {c.state:18} since "
            f"{local(c.entered_at, tz)}  overdue {span(c.overdue_seconds)}  "
            f"queue: {c.queue}  {c.customer}"
        )
    if not data.pending:
        lines.append("  none")
    return lines


def write_csv(data: ServiceReport, output: IO[str]) -> None:
    """Every indicator as one row (section, tier, state, name, indicator, value): durations in
    seconds, ratios as decimals; a pivot table turns it into any shape."""
    writer = csv.writer(output)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_rows(data))


def _csv_rows(data: ServiceReport) -> Iterator[list[Any]]:
    p = data.period
    for key, value in (("start", p.first_day), ("end", p.last_day), ("tz", p.tz)):
        yield ["period", "", "", p.label, key, value]
    yield ["period", "", "", p.label, "rule", f"{data.rule.name} v{data.rule.version}"]
    for o in data.officers:
        yield from _flat("officer", "", "", o.name, o, skip={"name"})
    for section, groups in (
        ("total", [data.total]),
        ("branch", data.branches),
        ("tier", data.tiers),
        ("priority", data.priorities),
    ):
        for g in groups:
            yield from _flat(section, "", "", g.name or "", g, skip={"name"})
    for s in data.states:
        yield from _flat("state", s.tier, s.state, "", s, skip={"tier", "state"})
    for r in data.responsibility:
        who = r.name if r.kind == "officer" else f"queue: {r.name}"
        yield from _flat("responsibility", r.tier, r.state, who, r, skip={"tier", "state", "name"})
    for c in data.pending:
        yield from _flat("pending", c.tier, c.state, c.case_id, c, skip={"tier", "state"})


def _flat(
    section: str, tier: str, state: str, name: str, row: Any, skip: set[str]
) -> Iterator[list[Any]]:
    def walk(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
        if isinstance(value, dict):
            for key, inner in value.items():
                yield from walk(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, list):
            yield prefix, ",".join(str(v) for v in value)
        else:
            yield prefix, "" if value is None else value

    fields = {k: v for k, v in plain(row).items() if k not in skip}
    for indicator, value in walk("", fields):
        yield [section, tier, state, name, indicator, value]


def render_html(data: ServiceReport, tz: ZoneInfo) -> str:
    """The report as one self-contained HTML page with inline SVG charts."""
    from definitions.documents import JinjaRenderer

    context = {
        "report": data,
        "tz": str(tz),
        "rule": rule_lines(data),
        "span": span,
        "ratio": ratio,
        "stars": lambda value: stars(value, data.rule),
        "charts": _charts(data),
        "groups": groups(data),
    }
    return JinjaRenderer(tz).render_report("service_report", context)


def _charts(data: ServiceReport) -> list[dict[str, Any]]:
    """What each chart draws: labelled rows of bar segments on one scale."""
    officers = [o for o in data.officers if o.turnaround_ratio_median is not None]
    turnaround = {
        "title": "Turnaround against the SLA, per officer (median; the tick is the p90)",
        "line": 1.0,
        "line_label": "SLA",
        "rows": [
            {
                "label": o.name,
                "segments": [(o.turnaround_ratio_median, "bar")],
                "tick": o.turnaround_ratio_p90,
                "note": f"{ratio(o.turnaround_ratio_median)} x SLA, "
                + (f"{stars(o.stars, data.rule)} stars" if o.stars is not None else "not rated"),
            }
            for o in officers
        ],
    }
    states = {
        "title": "SLA breaches, pending breaches and escalations, per state",
        "rows": [
            {
                "label": f"{s.tier} / {s.state}",
                "segments": [
                    (s.breaches, "breach"),
                    (s.pending, "pending"),
                    (s.escalations, "escalation"),
                ],
                "note": f"{s.breaches} / {s.pending} / {s.escalations}",
            }
            for s in data.states
            if s.breaches or s.pending or s.escalations
        ],
    }
    decision = {
        "title": "Time to decision per tier and priority, in days (median; the tick is the p90)",
        "rows": [
            _decision_row(label, g)
            for label, g in [(f"tier {g.name}", g) for g in data.tiers]
            + [(f"priority {g.name}", g) for g in data.priorities]
            if g.decision.count
        ],
    }
    return [_scaled(c) for c in (turnaround, states, decision)]


def _decision_row(label: str, g: GroupIndicators) -> dict[str, Any]:
    median, p90 = g.decision.median_seconds or 0.0, g.decision.p90_seconds or 0.0
    return {
        "label": label,
        "segments": [(median / 86400, "bar")],
        "tick": p90 / 86400,
        "note": f"{span(median)} / {span(p90)} ({g.decision.count})",
    }


def _scaled(chart: dict[str, Any]) -> dict[str, Any]:
    """Add the scale: the largest bar, tick or line, never zero."""
    ends = [sum(v for v, _ in row["segments"]) for row in chart["rows"]]
    ends += [row.get("tick") or 0 for row in chart["rows"]] + [chart.get("line") or 0]
    return {**chart, "max": max(ends + [1e-9])}

"""Auditors' commands: `audit replay|verify|report|export` and `documents`."""

from __future__ import annotations

import csv
import json
import sys
from datetime import datetime
from typing import IO, Any

import click

from cli.output import emit, local, plain
from cli.settings import Moment, Settings, pass_settings

EVENT_COLUMNS = (
    "case_id",
    "seq",
    "action",
    "from_state",
    "to_state",
    "actor",
    "role",
    "at",
    "comment",
    "details",
    "definition",
    "definition_version",
    "hash",
)


@click.group()
def audit() -> None:
    """Replay and verify histories, report and export (auditors and admins)."""


@audit.command()
@click.argument("case_id")
@click.option("--at", type=Moment(), help="The case as it stood at this moment.")
@pass_settings
def replay(settings: Settings, case_id: str, at: datetime | None) -> None:
    """Step through a case's history, checking each step against its definition version."""
    from workflow.audit import replay_case

    result = replay_case(settings.uow(write=False), case_id, settings.actor, at)
    if settings.json:
        emit(_replay_json(result))
    else:
        _print_replay(result, settings)
    if not result.ok:
        raise SystemExit(1)


def _replay_json(result: Any) -> dict[str, Any]:
    data = plain(result)
    data["ok"] = result.ok
    data["violation"] = (
        {"seq": result.violation.seq, "problem": result.violation.problem}
        if result.violation
        else None
    )
    return dict(data)


def _print_replay(result: Any, settings: Settings) -> None:
    as_of = f" as of {local(result.as_of, settings.tz)}" if result.as_of else ""
    click.echo(f"{result.case_id} under {result.definition} v{result.definition_version}{as_of}")
    for s in result.steps:
        mark = "ok " if s.legal else "BAD"
        click.echo(
            f"  {mark} {s.seq:>3} {local(s.at, settings.tz)}  {s.action:20} "
            f"{s.from_state or '-'} -> {s.to_state}  {s.actor} ({s.role})"
        )
    click.echo(f"state {result.state}, escalation level {result.escalation_level}")
    if result.violation:
        click.echo(f"VIOLATION {result.violation}", err=True)
    else:
        click.echo(
            "verdict: every step legal, hash chain intact"
            + ("" if result.as_of else ", case row matches the history")
        )


@audit.command()
@pass_settings
def verify(settings: Settings) -> None:
    """Every case: hash chains intact, replay equal to the stored row (exit 1 naming each break)."""
    from workflow.audit import verify_history

    show_bar = not settings.json and sys.stdout.isatty()
    if show_bar:
        with click.progressbar(length=_case_count(settings), label="verifying cases") as bar:
            report = verify_history(settings.uow(write=False), settings.actor, bar.update)
    else:
        report = verify_history(settings.uow(write=False), settings.actor)
    if settings.json:
        emit(
            {
                "ok": report.ok,
                "cases": report.cases,
                "events": report.events,
                "findings": report.findings,
            }
        )
    else:
        for f in report.findings:
            where = f"seq {f.seq}" if f.seq is not None else "case row"
            click.echo(f"BROKEN {f.case_id} {where}: {f.problem}")
        verdict = "intact" if report.ok else f"{len(report.findings)} broken"
        click.echo(f"verified {report.cases} cases, {report.events} events: {verdict}")
    if not report.ok:
        raise SystemExit(1)


def _case_count(settings: Settings) -> int:
    from workflow.audit import count_cases

    return count_cases(settings.uow(write=False))


@audit.command()
@click.argument("case_id")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "json", "csv"]), default="html", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="File to write (default: stdout).",
)
@pass_settings
def report(settings: Settings, case_id: str, fmt: str, output: IO[str]) -> None:
    """The audit report of a case: timeline, SLA breaches, documents, verdict, process diagram."""
    from workflow.audit import case_report

    data = case_report(settings.uow(write=False), case_id, settings.actor, settings.now())
    if fmt == "json":
        output.write(json.dumps(_report_json(data), ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        _write_events_csv(output, ((data.case.id, e) for e in data.events))
    else:
        from definitions.documents import JinjaRenderer
        from definitions.graph import to_svg

        taken = [(e.from_state, e.to_state) for e in data.events if e.from_state]
        visited = [e.to_state for e in data.events]
        svg = to_svg(data.workflow, visited=visited, current=data.case.state, taken=taken)
        html = JinjaRenderer(settings.tz).render_report(
            "audit_report", {"report": data, "diagram": svg, "tz": str(settings.tz)}
        )
        output.write(html)


def _report_json(data: Any) -> dict[str, Any]:
    body = plain(
        {k: getattr(data, k) for k in ("case", "events", "visits", "documents", "generated_at")}
    )
    body["replay"] = _replay_json(data.replay)
    for document in body["documents"]:
        document.pop("content")
    return dict(body)


@audit.command()
@click.option("--since", type=Moment(), help="Only events at or after this moment.")
@click.option(
    "--format", "fmt", type=click.Choice(["csv", "json"]), default="csv", show_default=True
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="File to write (default: stdout).",
)
@pass_settings
def export(settings: Settings, since: datetime | None, fmt: str, output: IO[str]) -> None:
    """Every event (since a moment), streamed as CSV or JSON lines."""
    from workflow.audit import iter_events

    rows = iter_events(settings.uow(write=False), settings.actor, since)
    if fmt == "csv":
        _write_events_csv(output, rows)
        return
    for ref, event in rows:
        output.write(json.dumps({"case_id": ref, **plain(event)}, ensure_ascii=False) + "\n")


def _write_events_csv(output: IO[str], rows: Any) -> None:
    writer = csv.writer(output)
    writer.writerow(EVENT_COLUMNS)
    for ref, e in rows:
        writer.writerow(
            [
                ref,
                e.seq,
                e.action,
                e.from_state or "",
                e.to_state,
                e.actor,
                e.role,
                plain(e.at),
                e.comment or "",
                json.dumps(e.details, ensure_ascii=False, sort_keys=True),
                e.definition,
                e.definition_version,
                e.hash,
            ]
        )


@click.command()
@click.argument("case_id")
@click.option("--show", "template", help="Print this document's content (e.g. loan_contract).")
@click.option("--copy", default=None, help="Which copy to print (default: the first).")
@pass_settings
def documents(settings: Settings, case_id: str, template: str | None, copy: str | None) -> None:
    """The documents issued for a case, with their SHA-256; --show prints one."""
    from workflow.audit import list_documents
    from workflow.errors import NotFound

    issued = list_documents(settings.uow(write=False), case_id)
    if template:
        chosen = [d for d in issued if d.template == template and copy in (None, d.copy)]
        if not chosen:
            raise NotFound("document", f"{template} ({copy or 'any copy'}) for {case_id}")
        click.echo(chosen[-1].content, nl=False)  # the latest issue (a return may re-issue it)
        return
    if settings.json:
        emit([{k: v for k, v in plain(d).items() if k != "content"} for d in issued])
        return
    if not issued:
        click.echo("no documents issued")
    for d in issued:
        click.echo(
            f"seq {d.seq:>3}  {local(d.issued_at, settings.tz)}  {d.template:20} "
            f"{d.copy:11} sha256 {d.sha256}"
        )

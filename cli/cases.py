"""Officers' commands: apply, show, act, history, list, inbox."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from zoneinfo import ZoneInfo

import click

from cli.output import emit, local
from cli.settings import Settings, pass_settings


@click.command()
@click.option("--customer", required=True, help="The customer's name.")
@click.option("--customer-type", required=True, type=click.Choice(["individual", "corporate"]))
@click.option(
    "--rating",
    type=click.Choice(["general", "good", "excellent"]),
    help="Credit rating of a farm household.",
)
@click.option("--product", required=True, help="Product id, e.g. small_farmer_credit.")
@click.option("--amount", required=True, help="Yuan, up to two decimals.")
@click.option("--term-months", type=int, help="Loan term in months.")
@click.option(
    "--guarantee",
    default="credit",
    show_default=True,
    type=click.Choice(["credit", "guarantee", "mortgage", "pledge"]),
)
@click.option(
    "--priority", default="normal", show_default=True, type=click.Choice(["normal", "vip"])
)
@pass_settings
def apply(
    settings: Settings,
    customer: str,
    customer_type: str,
    rating: str | None,
    product: str,
    amount: str,
    term_months: int | None,
    guarantee: str,
    priority: str,
) -> None:
    """Take a loan application; its tier picks the path it follows."""
    from workflow import services
    from workflow.policy import Application, parse_amount

    app = Application(
        customer,
        customer_type,
        rating,
        product,
        guarantee,
        parse_amount(amount),
        term_months,
        priority,
    )
    view = services.apply(settings.uow(), settings.actor, app, settings.now())
    if settings.json:
        return emit(view)
    click.echo(
        f"{view.id} {view.tier} risk, {view.definition} v{view.definition_version}: {view.state}"
    )


@click.command()
@click.argument("case_id")
@click.option(
    "--graph",
    type=click.Choice(["mermaid", "dot"]),
    is_flag=False,
    flag_value="mermaid",
    default=None,
    help="Print the process diagram (mermaid unless dot is named) marking where the "
    "case is and the states it went through.",
)
@pass_settings
def show(settings: Settings, case_id: str, graph: str | None) -> None:
    """Show a case and the actions you may take on it now."""
    from workflow import services

    view = services.show_case(settings.uow(write=False), case_id, settings.actor)
    if graph:
        return click.echo(_case_graph(settings, view, graph))
    if settings.json:
        return emit(view)
    for label, value in _case_lines(view, settings.tz):
        click.echo(f"{label:12} {value}")


def _case_graph(settings: Settings, view: Any, fmt: str) -> str:
    from definitions.graph import to_dot, to_mermaid
    from workflow import services
    from workflow.admin import show_definition

    events = services.case_history(settings.uow(write=False), view.id)
    spec = show_definition(settings.uow(write=False), view.definition, view.definition_version).spec
    draw = to_dot if fmt == "dot" else to_mermaid
    return draw(spec, visited=[e.to_state for e in events], current=view.state)  # type: ignore[arg-type]


@click.command()
@click.argument("case_id")
@click.argument("action")
@click.option("--comment", help="Why; required for return, reject and withdraw.")
@click.option("--vote", type=click.Choice(["approve", "reject"]), help="A committee member's vote.")
@pass_settings
def act(
    settings: Settings, case_id: str, action: str, comment: str | None, vote: str | None
) -> None:
    """Perform ACTION on a case (see `show` for the actions you may take)."""
    from workflow import services

    view = services.act(
        settings.uow(),
        case_id,
        action,
        settings.actor,
        settings.now(),
        comment,
        vote,
        settings.renderer(),
    )
    if settings.json:
        return emit(view)
    tally = f"  (votes: {_tally(view.votes)})" if action == "vote" else ""
    click.echo(f"{view.id} {view.state}{tally}")


@click.command()
@click.argument("case_id")
@pass_settings
def history(settings: Settings, case_id: str) -> None:
    """The events of a case, oldest first."""
    from workflow import services

    events = services.case_history(settings.uow(write=False), case_id)
    if settings.json:
        return emit(events)
    for e in events:
        moved = f"{e.from_state or '-'} -> {e.to_state}"
        note = f'  "{e.comment}"' if e.comment else ""
        extra = f"  {_tally_detail(e.details)}" if "vote" in e.details else ""
        click.echo(
            f"{e.seq:>3} {local(e.at, settings.tz)}  {e.action:20} {moved:36} "
            f"{e.actor} ({e.role}){extra}{note}"
        )


@click.command("list")
@click.option("--state", help="Only cases in this state.")
@click.option("--tier", type=click.Choice(["low", "medium", "high"]))
@click.option("--branch", help="Only cases of this branch.")
@click.option("--overdue", is_flag=True, help="Only cases past their SLA, most overdue first.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@pass_settings
def list_(
    settings: Settings,
    state: str | None,
    tier: str | None,
    branch: str | None,
    overdue: bool,
    limit: int,
) -> None:
    """List cases."""
    from workflow import services
    from workflow.ports import CaseQuery

    query = CaseQuery(state, tier, branch, settings.now() if overdue else None, limit=limit)
    _print_cases(settings, services.list_cases(settings.uow(write=False), query))


@click.command()
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@pass_settings
def inbox(settings: Settings, limit: int) -> None:
    """Cases you can act on now: VIP first, then the most escalated, then the oldest."""
    from workflow import services

    _print_cases(settings, services.inbox(settings.uow(write=False), settings.actor, limit))


def _print_cases(settings: Settings, views: list[Any]) -> None:
    if settings.json:
        return emit(views)
    if not views:
        click.echo("no cases")
    for v in views:
        due = local(v.due_at, settings.tz) if v.due_at else "-"
        flag = f" esc{v.escalation_level}" if v.escalation_level else ""
        you = f"  you: {', '.join(v.allowed_actions)}" if v.allowed_actions else ""
        click.echo(
            f"{v.id}  {v.tier:6} {v.priority:6} {v.state:18} {v.amount:>12}  "
            f"{v.customer[:24]:24} due {due}{flag}{you}"
        )


def _case_lines(v: Any, tz: ZoneInfo) -> Iterable[tuple[str, str]]:
    yield v.id, f"{v.customer} ({v.customer_type}{', ' + v.rating if v.rating else ''})"
    yield "tier", f"{v.tier} ({v.definition} v{v.definition_version})"
    yield "state", f"{v.state} since {local(v.state_entered_at, tz)}"
    term = f", {v.term_months} months" if v.term_months else ""
    yield "amount", f"{v.amount} yuan, {v.product}, {v.guarantee} guarantee{term}"
    yield "priority", v.priority
    yield "branch", f"{v.branch or '-'} (originated by {v.originator})"
    if not v.closed:
        yield "queue", ", ".join(v.queue) or "-"
        yield "escalation", f"level {v.escalation_level}"
        yield "sla due", local(v.due_at, tz) if v.due_at else "-"
    if v.votes:
        yield "votes", _tally(v.votes)
    yield "you may", ", ".join(v.allowed_actions) or "(nothing)"


def _tally(votes: dict[str, str]) -> str:
    return ", ".join(f"{name} {choice}" for name, choice in votes.items())


def _tally_detail(details: dict[str, Any]) -> str:
    tally = details.get("tally", {})
    return f"[{details['vote']}; {tally.get('approve', 0)} for, {tally.get('reject', 0)} against]"

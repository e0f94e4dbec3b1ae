"""Set-up and administration commands: init, user, definitions, demo."""

from __future__ import annotations

import dataclasses
from typing import Any

import click

from cli.output import emit, shown_db
from cli.settings import Settings, pass_settings
from workflow.errors import InvalidInput
from workflow.spec import ROLES


@click.command()
@pass_settings
def init(settings: Settings) -> None:
    """Create or upgrade the schema and deploy the bundled definitions (idempotent)."""
    from definitions.loader import bundled_parsed
    from persistence.migrate import upgrade
    from workflow.admin import deploy_definitions

    settings.refuse_auditor()
    parsed = bundled_parsed()
    before, after = upgrade(settings.engine(must_exist=False))
    reports = deploy_definitions(settings.uow(), parsed, settings.now())
    if settings.json:
        return emit({"schema": {"before": before, "after": after}, "definitions": reports})
    schema = f"schema at revision {after}" + (
        " (unchanged)" if before == after else f" (was {before or 'empty'})"
    )
    click.echo(f"{schema} in {shown_db(settings.db_url)}")
    for r in reports:
        click.echo(f"  {r.outcome:9} {r.kind:14} {r.name} v{r.version}")


@click.group()
def user() -> None:
    """Manage users and their roles (admin only, once an admin exists)."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(sorted(ROLES)),
    help="A role the user holds; repeat for several.",
)
@click.option("--branch", help="The branch the user works at.")
@pass_settings
def user_add(settings: Settings, name: str, roles: tuple[str, ...], branch: str | None) -> None:
    """Add a user with one or more roles."""
    from workflow.admin import add_user

    view = add_user(settings.uow(), settings.actor, name, roles, branch, settings.now())
    _print_users(settings, view)


@user.command("list")
@pass_settings
def user_list(settings: Settings) -> None:
    """List users."""
    from workflow.admin import list_users

    _print_users(settings, list_users(settings.uow(write=False)))


@user.command("disable")
@click.argument("name")
@pass_settings
def user_disable(settings: Settings, name: str) -> None:
    """Stop a user from acting (their history stays)."""
    from workflow.admin import disable_user

    view = disable_user(settings.uow(), settings.actor, name)
    _print_users(settings, view)


def _print_users(settings: Settings, shown: Any) -> None:
    """One user (after add or disable) or a list of them."""
    if settings.json:
        return emit(shown)
    for v in shown if isinstance(shown, list) else [shown]:
        status = "" if v.active else "  (disabled)"
        click.echo(f"{v.name:16} {','.join(v.roles):40} {v.branch or '-'}{status}")


@click.group()
def definitions() -> None:
    """The deployed path definitions and tier policy."""


@definitions.command("list")
@pass_settings
def definitions_list(settings: Settings) -> None:
    """List deployed definitions."""
    from workflow.admin import list_definitions

    views = list_definitions(settings.uow(write=False))
    if settings.json:
        return emit([_definition_summary(v) for v in views])
    for v in views:
        click.echo(f"{v.name:14} v{v.version:<3} {v.kind:14} {v.tier or '-':7} {v.sha256[:12]}")


@definitions.command("graph")
@click.argument("name")
@click.option(
    "--format", "fmt", type=click.Choice(["mermaid", "dot"]), default="mermaid", show_default=True
)
@click.option(
    "--version", "version", type=click.IntRange(min=1), help="A version (default: latest)."
)
@pass_settings
def definitions_graph(settings: Settings, name: str, fmt: str, version: int | None) -> None:
    """Draw a path definition as a Mermaid state diagram or Graphviz DOT."""
    from definitions.graph import to_dot, to_mermaid
    from workflow.admin import show_definition
    from workflow.errors import InvalidInput
    from workflow.spec import WorkflowSpec

    view = show_definition(settings.uow(write=False), name, version)
    if not isinstance(view.spec, WorkflowSpec):
        raise InvalidInput("definition", name, f"is a {view.kind}, not a path to draw")
    click.echo((to_dot if fmt == "dot" else to_mermaid)(view.spec), nl=False)


@definitions.command("show")
@click.argument("name")
@click.option(
    "--version", "version", type=click.IntRange(min=1), help="A version (default: latest)."
)
@pass_settings
def definitions_show(settings: Settings, name: str, version: int | None) -> None:
    """Show a definition: its states and transitions, or with --json its parsed form."""
    from workflow.admin import show_definition

    view = show_definition(settings.uow(write=False), name, version)
    if settings.json:
        return emit({**_definition_summary(view), "spec": view.spec, "source": view.source})
    click.echo(view.source.rstrip())


def _definition_summary(v: Any) -> dict[str, Any]:
    return {
        "name": v.name,
        "version": v.version,
        "kind": v.kind,
        "tier": v.tier,
        "sha256": v.sha256,
        "deployed_at": v.deployed_at,
    }


@click.command()
@click.option(
    "--db",
    "demo_db",
    default="sqlite:///loanflow-demo.db",
    show_default=True,
    help="Where to build the demo branch (must be new or empty).",
)
@pass_settings
def demo(settings: Settings, demo_db: str) -> None:
    """Build a demo branch: staff, cases on all three paths and refusals; print what happened."""
    from definitions.loader import bundled_parsed
    from persistence.database import parse_url, sqlite_path
    from persistence.migrate import current_revision, upgrade
    from workflow.demo import run_demo

    demo_settings = dataclasses.replace(settings, db_url=demo_db)
    engine = demo_settings.engine(must_exist=False)
    path = sqlite_path(parse_url(demo_db))
    if current_revision(engine) is not None:
        raise InvalidInput(
            "--db", demo_db, "the demo needs a new database; delete it or pass another --db"
        )
    upgrade(engine)
    run_demo(demo_settings.uow, bundled_parsed(), settings.now(), click.echo, settings.renderer())
    where = f"--db sqlite:///{path}" if path else f"--db '{demo_db}'"
    click.echo("\nExplore the result:")
    for command in (
        "--actor zhao inbox",
        "--actor qian show LA-000005",
        "history LA-000004",
        "list --overdue",
        "escalate",
    ):
        click.echo(f"  loanflow {where} {command}")
    _print_demo_service_report(demo_settings, where)


def _print_demo_service_report(settings: Settings, where: str) -> None:
    """The demo ends with the service report of its branch, as its branch head reads it."""
    from cli.reports import text_lines
    from workflow.demo import BRANCH_HEAD, service_report

    data = service_report(settings.uow, settings.now(), settings.tz)
    period = f"--from {data.period.first_day} --to {data.period.last_day}"
    click.echo(f"\nThe branch's service report (loanflow {where} --actor {BRANCH_HEAD} ")
    click.echo(f"report service {period}; add --format html -o report.html for charts):\n")
    for line in text_lines(data, settings.tz):
        click.echo(line)

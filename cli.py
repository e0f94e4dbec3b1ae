"""The `loanflow` command line: parse, call one service, print. Only it reads the environment."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from workflow.errors import InvalidInput, LoanflowError

if TYPE_CHECKING:
    from workflow.ports import AbstractUnitOfWork

DEFAULT_DB = "sqlite:///loanflow.db"
DEFAULT_TZ = "Asia/Shanghai"
EXIT_CODES = "exit codes: 0 done, 1 refused or invalid input, 2 usage error, 3 concurrent change"


@dataclasses.dataclass(frozen=True)
class Settings:
    """What every command needs, read once from options and the environment."""

    db_url: str
    actor: str | None
    json: bool
    tz: ZoneInfo
    clock: Callable[[], datetime]

    def now(self) -> datetime:
        return self.clock()

    def uow(self, *, write: bool = True, must_exist: bool = True) -> AbstractUnitOfWork:
        from definitions.loader import parse_text
        from persistence.database import make_engine, session_factory
        from persistence.unit_of_work import SqlAlchemyUnitOfWork

        engine = _ENGINES.get(self.db_url)
        if engine is None:
            engine = _ENGINES[self.db_url] = make_engine(self.db_url, must_exist=must_exist)
        return SqlAlchemyUnitOfWork(session_factory(engine), parse_text, write=write)


_ENGINES: dict[str, Any] = {}


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Moment(click.ParamType):  # type: ignore[type-arg]  # generic from click 8.5 on
    """ISO 8601 with an offset, or without one in the cooperative's time zone."""

    name = "moment"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value).strip())
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 time such as 2026-12-01T09:00", param, ctx)
        if moment.tzinfo is None:
            settings = ctx.find_object(Settings) if ctx else None
            moment = moment.replace(tzinfo=settings.tz if settings else ZoneInfo(DEFAULT_TZ))
        return moment.astimezone(UTC)


class LoanflowGroup(click.Group):
    """A user's mistake becomes one line on stderr and its exit code; bugs keep their traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LoanflowError as err:
            click.echo(f"error: {err}", err=True)
            ctx.exit(err.exit_code)


@click.group(cls=LoanflowGroup, epilog=EXIT_CODES)
@click.option(
    "--db",
    "db_url",
    envvar="LOANFLOW_DB",
    default=DEFAULT_DB,
    show_default=True,
    help="Database URL (sqlite:///FILE or postgresql+psycopg://USER@HOST/DB).",
)
@click.option("--actor", envvar="LOANFLOW_ACTOR", help="Who is acting (a user name).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.option(
    "--tz",
    envvar="LOANFLOW_TZ",
    default=DEFAULT_TZ,
    show_default=True,
    help="The cooperative's time zone, for times shown and times given without offset.",
)
@click.version_option(package_name="loanflow")
@click.pass_context
def cli(ctx: click.Context, db_url: str, actor: str | None, as_json: bool, tz: str) -> None:
    """loanflow: loan applications through their approval paths, with an auditable history."""
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {tz!r}", param_hint="--tz") from None
    injected = ctx.obj if isinstance(ctx.obj, dict) else {}
    ctx.obj = Settings(db_url, actor or None, as_json, zone, injected.get("clock", _utcnow))


pass_settings = click.make_pass_decorator(Settings)


# ---------------------------------------------------------------- set-up


@cli.command()
@pass_settings
def init(settings: Settings) -> None:
    """Create or upgrade the schema and deploy the bundled definitions (idempotent)."""
    from definitions.loader import bundled_parsed
    from persistence.database import make_engine
    from persistence.migrate import upgrade
    from workflow.admin import deploy_definitions

    parsed = bundled_parsed()
    before, after = upgrade(make_engine(settings.db_url))
    reports = deploy_definitions(settings.uow(), parsed, settings.now())
    if settings.json:
        return _emit({"schema": {"before": before, "after": after}, "definitions": reports})
    schema = f"schema at revision {after}" + (
        " (unchanged)" if before == after else f" (was {before or 'empty'})"
    )
    click.echo(f"{schema} in {_shown_db(settings.db_url)}")
    for r in reports:
        click.echo(f"  {r.outcome:9} {r.kind:11} {r.name} v{r.version}")


# ---------------------------------------------------------------- users


@cli.group()
def user() -> None:
    """Manage users and their roles (admin only, once an admin exists)."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    type=click.Choice(
        sorted(
            [
                "account_manager",
                "risk_officer",
                "reviewer",
                "committee_member",
                "branch_head",
                "teller",
                "auditor",
                "admin",
            ]
        )
    ),
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
        return _emit(shown)
    for v in shown if isinstance(shown, list) else [shown]:
        status = "" if v.active else "  (disabled)"
        click.echo(f"{v.name:16} {','.join(v.roles):40} {v.branch or '-'}{status}")


# ---------------------------------------------------------------- cases


@cli.command()
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
        return _emit(view)
    click.echo(
        f"{view.id} {view.tier} risk, {view.definition} v{view.definition_version}: {view.state}"
    )


@cli.command()
@click.argument("case_id")
@pass_settings
def show(settings: Settings, case_id: str) -> None:
    """Show a case and the actions you may take on it now."""
    from workflow import services

    view = services.show_case(settings.uow(write=False), case_id, settings.actor)
    if settings.json:
        return _emit(view)
    for label, value in _case_lines(view, settings.tz):
        click.echo(f"{label:12} {value}")


@cli.command()
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
        settings.uow(), case_id, action, settings.actor, settings.now(), comment, vote
    )
    if settings.json:
        return _emit(view)
    tally = f"  (votes: {_tally(view.votes)})" if action == "vote" else ""
    click.echo(f"{view.id} {view.state}{tally}")


@cli.command()
@click.argument("case_id")
@pass_settings
def history(settings: Settings, case_id: str) -> None:
    """The events of a case, oldest first."""
    from workflow import services

    events = services.case_history(settings.uow(write=False), case_id)
    if settings.json:
        return _emit(events)
    for e in events:
        moved = f"{e.from_state or '-'} -> {e.to_state}"
        note = f'  "{e.comment}"' if e.comment else ""
        extra = f"  {_tally_detail(e.details)}" if "vote" in e.details else ""
        click.echo(
            f"{e.seq:>3} {_local(e.at, settings.tz)}  {e.action:20} {moved:36} "
            f"{e.actor} ({e.role}){extra}{note}"
        )


@cli.command("list")
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


@cli.command()
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@pass_settings
def inbox(settings: Settings, limit: int) -> None:
    """Cases you can act on now: VIP first, then the most escalated, then the oldest."""
    from workflow import services

    _print_cases(settings, services.inbox(settings.uow(write=False), settings.actor, limit))


def _print_cases(settings: Settings, views: list[Any]) -> None:
    if settings.json:
        return _emit(views)
    if not views:
        click.echo("no cases")
    for v in views:
        due = _local(v.due_at, settings.tz) if v.due_at else "-"
        flag = f" esc{v.escalation_level}" if v.escalation_level else ""
        you = f"  you: {', '.join(v.allowed_actions)}" if v.allowed_actions else ""
        click.echo(
            f"{v.id}  {v.tier:6} {v.priority:6} {v.state:18} {v.amount:>12}  "
            f"{v.customer[:24]:24} due {due}{flag}{you}"
        )


def _case_lines(v: Any, tz: ZoneInfo) -> Iterable[tuple[str, str]]:
    yield v.id, f"{v.customer} ({v.customer_type}{', ' + v.rating if v.rating else ''})"
    yield "tier", f"{v.tier} ({v.definition} v{v.definition_version})"
    yield "state", f"{v.state} since {_local(v.state_entered_at, tz)}"
    term = f", {v.term_months} months" if v.term_months else ""
    yield "amount", f"{v.amount} yuan, {v.product}, {v.guarantee} guarantee{term}"
    yield "priority", v.priority
    yield "branch", f"{v.branch or '-'} (originated by {v.originator})"
    if not v.closed:
        yield "queue", ", ".join(v.queue) or "-"
        yield "escalation", f"level {v.escalation_level}"
        yield "sla due", _local(v.due_at, tz) if v.due_at else "-"
    if v.votes:
        yield "votes", _tally(v.votes)
    yield "you may", ", ".join(v.allowed_actions) or "(nothing)"


def _tally(votes: dict[str, str]) -> str:
    return ", ".join(f"{name} {choice}" for name, choice in votes.items())


def _tally_detail(details: dict[str, Any]) -> str:
    tally = details.get("tally", {})
    return f"[{details['vote']}; {tally.get('approve', 0)} for, {tally.get('reject', 0)} against]"


# ---------------------------------------------------------------- definitions


@cli.group()
def definitions() -> None:
    """The deployed path definitions and tier policy."""


@definitions.command("list")
@pass_settings
def definitions_list(settings: Settings) -> None:
    """List deployed definitions."""
    from workflow.admin import list_definitions

    views = list_definitions(settings.uow(write=False))
    if settings.json:
        return _emit([_definition_summary(v) for v in views])
    for v in views:
        click.echo(f"{v.name:14} v{v.version:<3} {v.kind:11} {v.tier or '-':7} {v.sha256[:12]}")


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
        return _emit({**_definition_summary(view), "spec": view.spec, "source": view.source})
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


# ---------------------------------------------------------------- demo


@cli.command()
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
    from persistence.database import make_engine, parse_url, sqlite_path
    from persistence.migrate import current_revision, upgrade
    from workflow.demo import run_demo

    engine = make_engine(demo_db)
    path = sqlite_path(parse_url(demo_db))
    if current_revision(engine) is not None:
        raise InvalidInput(
            "--db", demo_db, "the demo needs a new database; delete it or pass another --db"
        )
    upgrade(engine)
    demo_settings = dataclasses.replace(settings, db_url=demo_db)
    run_demo(demo_settings.uow, bundled_parsed(), settings.now(), click.echo)
    where = f"--db sqlite:///{path}" if path else f"--db '{demo_db}'"
    click.echo("\nExplore the result:")
    for command in (
        "--actor zhao inbox",
        "--actor wang show LA-000001",
        "history LA-000003",
        "list --tier high",
        "--actor sun inbox",
    ):
        click.echo(f"  loanflow {where} {command}")


# ---------------------------------------------------------------- output


def _emit(data: Any) -> None:
    click.echo(json.dumps(_plain(data), ensure_ascii=False, indent=2))


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: _plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return value


def _local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"


def _shown_db(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url

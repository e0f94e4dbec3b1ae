"""The `loanflow` command line: parse, call one service, print. Only it reads the environment."""

from __future__ import annotations

import importlib
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from cli.settings import DEFAULT_DB, DEFAULT_TZ, Settings, dispose_engines, utcnow
from workflow.errors import LoanflowError

EXIT_CODES = "exit codes: 0 done, 1 refused or invalid input, 2 usage error, 3 concurrent change"
# Each command's module is imported when that command runs (or help lists it), so that `act` pays
# for cli/cases.py alone, not for the audit, report and scheduler commands too.
COMMANDS = {
    "init": "admin:init",
    "user": "admin:user",
    "definitions": "admin:definitions",
    "demo": "admin:demo",
    "apply": "cases:apply",
    "show": "cases:show",
    "act": "cases:act",
    "history": "cases:history",
    "list": "cases:list_",
    "inbox": "cases:inbox",
    "escalate": "timers:escalate",
    "scheduler": "timers:scheduler",
    "audit": "audit:audit",
    "documents": "audit:documents",
    "report": "reports:report",
}


class LoanflowGroup(click.Group):
    """A user's mistake becomes one line on stderr and its exit code; bugs keep their traceback."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # Bytes that are not UTF-8 reach Python as lone surrogates; no database can store them.
        for arg in args:
            _check_text(arg, "argument")
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, name = target.split(":")
        command: click.Command = getattr(importlib.import_module(f"cli.{module}"), name)
        return command

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
    for name, value in (("LOANFLOW_DB", db_url), ("LOANFLOW_ACTOR", actor), ("LOANFLOW_TZ", tz)):
        _check_text(value or "", name)
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder, a name too long
        raise click.BadParameter(f"unknown time zone {tz[:60]!r}", param_hint="--tz") from None
    injected = ctx.obj if isinstance(ctx.obj, dict) else {}
    ctx.obj = Settings(db_url, actor or None, as_json, zone, injected.get("clock", utcnow))
    ctx.call_on_close(dispose_engines)


def _check_text(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise click.UsageError(f"{what} {value[:40]!r} is not valid UTF-8 text") from None
    if "\x00" in value:
        raise click.UsageError(f"{what} {value[:40]!r} contains a NUL character")

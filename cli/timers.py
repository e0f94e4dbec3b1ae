"""Time commands: `escalate` (one sweep, cron-friendly) and `scheduler` (the APScheduler daemon)."""

from __future__ import annotations

import logging
import signal
import sys
from datetime import datetime, timedelta
from types import FrameType
from typing import Any

import click

from cli.output import emit, local
from cli.settings import Moment, Settings, pass_settings

log = logging.getLogger("loanflow.scheduler")
JOB_ID = "loanflow-sweep"
CLOCK_SKEW = timedelta(minutes=5)  # machines' clocks may disagree by a little


@click.command()
@click.option("--now", type=Moment(), help="Sweep as if it were this moment (default: now).")
@click.option(
    "--batch-size",
    type=click.IntRange(1, 10_000),
    default=500,
    show_default=True,
    help="Cases per transaction.",
)
@click.option(
    "--allow-future",
    is_flag=True,
    help="Let --now be later than the clock: the events are dated then (a rehearsal, on a copy).",
)
@pass_settings
def escalate(settings: Settings, now: datetime | None, batch_size: int, allow_future: bool) -> None:
    """Fire every due timer once: escalate stalled cases, expire idle ones (1: a case failed)."""
    from workflow.escalation import count_due_timers, fire_due_timers

    settings.refuse_auditor()
    moment = now or settings.now()
    if moment > settings.now() + CLOCK_SKEW and not allow_future:
        raise click.BadParameter(
            "is later than the clock: it would write events dated in the future; "
            "add --allow-future to rehearse on a copy of the database",
            param_hint="--now",
        )
    if settings.json or not sys.stdout.isatty():
        report = fire_due_timers(settings.uow(), moment, batch_size)
    else:
        total = count_due_timers(settings.uow(write=False), moment)
        with click.progressbar(length=total, label="firing due timers") as bar:
            report = fire_due_timers(settings.uow(), moment, batch_size, bar.update)
    if settings.json:
        emit(report)
    else:
        _print_report(report, settings)
    if report.failed:
        raise SystemExit(1)


def _print_report(report: Any, settings: Settings) -> None:
    click.echo(
        f"swept at {local(report.now, settings.tz)}: fired {report.fired} "
        f"({report.escalated} escalated, {report.expired} expired), {report.skipped} skipped"
        f"{f', {len(report.failed)} failed' if report.failed else ''}"
    )
    for e in report.escalations:
        click.echo(f"  {e.id} escalated to level {e.level} in {e.state} (branch {e.branch or '-'})")
    for ref in report.expirations:
        click.echo(f"  {ref} expired")
    for ref, reason in report.failed:
        click.echo(f"  FAILED {ref}: {reason}", err=True)


@click.command()
@click.option(
    "--interval",
    type=click.IntRange(min=1),
    default=60,
    show_default=True,
    help="Seconds between sweeps.",
)
@click.option("--cron", help='A crontab line instead of an interval, e.g. "*/5 8-18 * * 1-5".')
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=500, show_default=True)
@pass_settings
def scheduler(settings: Settings, interval: int, cron: str | None, batch_size: int) -> None:
    """Sweep on a schedule until SIGTERM or SIGINT; several may run against one database."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger
    from apscheduler.triggers.interval import IntervalTrigger

    from workflow.escalation import fire_due_timers

    settings.refuse_auditor()
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    try:
        trigger: Any = (
            CronTrigger.from_crontab(cron, timezone=settings.tz)
            if cron
            else (IntervalTrigger(seconds=interval, timezone=settings.tz))
        )
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--cron") from None
    uow = settings.uow()

    def sweep() -> None:
        report = fire_due_timers(uow, settings.now(), batch_size)
        log.info(
            "sweep: fired %d (%d escalated, %d expired), %d skipped, %d failed in %.3fs",
            report.fired,
            report.escalated,
            report.expired,
            report.skipped,
            len(report.failed),
            report.seconds,
        )
        for ref, reason in report.failed:
            log.warning("sweep: %s failed: %s", ref, reason)

    # APScheduler only ticks: the timers table says what is due. One job, never overlapping,
    # and missed runs (a long sweep, a suspended machine) coalesce into one.
    daemon = BlockingScheduler(timezone=settings.tz)
    daemon.add_job(
        sweep,
        trigger,
        id=JOB_ID,
        max_instances=1,
        coalesce=True,
        next_run_time=datetime.now(settings.tz),
        misfire_grace_time=None,
    )

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info(
            "scheduler: %s received; stopping after the sweep in progress",
            signal.Signals(signum).name,
        )
        daemon.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("scheduler: sweeping %s", f"on cron {cron!r}" if cron else f"every {interval}s")
    daemon.start()
    log.info("scheduler: stopped")

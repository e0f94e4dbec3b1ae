"""Settings read once from options and the environment, and the parameter types commands share."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from workflow.ports import AbstractUnitOfWork

DEFAULT_DB = "sqlite:///loanflow.db"
DEFAULT_TZ = "Asia/Shanghai"


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

    def engine(self, *, must_exist: bool = True) -> Engine:
        """The process's engine for --db, made on first use (disposed when the command ends)."""
        from persistence.database import make_engine

        engine = _ENGINES.get(self.db_url)
        if engine is None:
            engine = _ENGINES[self.db_url] = make_engine(self.db_url, must_exist=must_exist)
        return engine

    def uow(self, *, write: bool = True) -> AbstractUnitOfWork:
        from definitions.loader import parse_compiled
        from persistence.unit_of_work import SqlAlchemyUnitOfWork

        return SqlAlchemyUnitOfWork(self.engine(), parse_compiled, write=write)

    def refuse_auditor(self) -> None:
        """Changing commands refuse an auditor named by --actor (an uninitialised database has
        no users, so nobody is refused there)."""
        from workflow.errors import DatabaseUnavailable
        from workflow.services import check_may_change

        if self.actor:
            try:
                check_may_change(self.uow(write=False), self.actor)
            except DatabaseUnavailable:
                pass

    def renderer(self) -> LazyRenderer:
        return LazyRenderer(self.tz)


class LazyRenderer:
    """Imports Jinja only when a step issues a document: most actions never pay for it."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._real: Any = None

    def render(self, template: str, context: dict[str, Any]) -> str:
        if self._real is None:
            from definitions.documents import JinjaRenderer

            self._real = JinjaRenderer(self.tz)
        return str(self._real.render(template, context))


_ENGINES: dict[str, Any] = {}


def dispose_engines() -> None:
    """Close every pooled connection: a command leaves none open behind it."""
    while _ENGINES:
        _ENGINES.popitem()[1].dispose()


def utcnow() -> datetime:
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
        try:
            return moment.astimezone(UTC)
        except OverflowError:  # e.g. 0001-01-01T00:00 east of UTC falls before year 1
            self.fail(f"{value!r} is out of the range of representable times", param, ctx)


pass_settings = click.make_pass_decorator(Settings)

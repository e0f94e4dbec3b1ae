"""Report periods: whole days in the cooperative's time zone, as UTC moments."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from workflow.errors import InvalidInput

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True)
class Period:
    """Whole days in the cooperative's time zone, as the UTC moments [start, end)."""

    label: str
    first_day: str
    last_day: str
    tz: str
    start: datetime
    end: datetime


def month_period(month: str, tz: tzinfo) -> Period:
    """A calendar month `YYYY-MM` in the time zone `tz`.

    Raises:
        InvalidInput: not a month.
    """
    match = _MONTH.fullmatch(month.strip())
    try:
        if not match:
            raise ValueError(month)
        year, number = int(match[1]), int(match[2])
        first = date(year, number, 1)
        last = date(year + number // 12, number % 12 + 1, 1) - timedelta(days=1)
    except (ValueError, OverflowError):
        raise InvalidInput(
            "--month", month, "expected a month as YYYY-MM, such as 2026-11"
        ) from None
    return _period(month.strip(), first, last, tz)


def days_period(first: str, last: str, tz: tzinfo) -> Period:
    """The days from `first` to `last` inclusive (`YYYY-MM-DD`) in the time zone `tz`.

    Raises:
        InvalidInput: not days, or `last` before `first`.
    """
    first_day, last_day = _day("--from", first), _day("--to", last)
    if last_day < first_day:
        raise InvalidInput("--to", last, f"is before --from {first_day}")
    return _period(f"{first_day} to {last_day}", first_day, last_day, tz)


def period_of(month: str | None, first: str | None, last: str | None, tz: tzinfo) -> Period:
    """The period the command's options name: `--month`, or `--from` and `--to`.

    Raises:
        InvalidInput: neither or both given, or a bad month or day.
    """
    if month is not None and (first is not None or last is not None):
        raise InvalidInput("--month", month, "give --month or --from/--to, not both")
    if month is not None:
        return month_period(month, tz)
    if first is None or last is None:
        raise InvalidInput("period", None, "give --month YYYY-MM, or --from DAY and --to DAY")
    return days_period(first, last, tz)


def _day(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(option, text, "expected a day as YYYY-MM-DD") from None


def _period(label: str, first: date, last: date, tz: tzinfo) -> Period:
    try:
        start = datetime.combine(first, time(), tz).astimezone(UTC)
        end = datetime.combine(last + timedelta(days=1), time(), tz).astimezone(UTC)
    except (ValueError, OverflowError):
        raise InvalidInput("period", label, "is outside the calendar loanflow counts") from None
    return Period(label, first.isoformat(), last.isoformat(), str(tz), start, end)

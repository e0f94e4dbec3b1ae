"""The Jinja environment, built once: documents issued at steps and the auditors' reports."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape


class JinjaRenderer:
    """Renders the packaged templates with autoescaping (HTML) and strict undefined variables.

    Args:
        tz: the cooperative's time zone, for the `local` filter that prints times.
    """

    def __init__(self, tz: tzinfo) -> None:
        self.env = Environment(
            loader=PackageLoader("definitions", "templates"),
            autoescape=select_autoescape(),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["local"] = lambda moment: _local(moment, tz)
        self.env.filters["duration"] = _duration

    def render(self, template: str, context: dict[str, Any]) -> str:
        """A document template (`definitions/templates/<template>.html`) rendered to text."""
        return self.env.get_template(f"{template}.html").render(**context)

    def render_report(self, template: str, context: dict[str, Any]) -> str:
        """A report template (`definitions/templates/reports/<template>.html`) rendered to text."""
        return self.env.get_template(f"reports/{template}.html").render(**context)


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}d {hours}h {minutes:02d}m" if days else f"{hours}h {minutes:02d}m"


def _local(moment: datetime | None, tz: tzinfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"

"""Printing: one JSON document with --json, plain lines otherwise."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import click


def emit(data: Any) -> None:
    click.echo(json.dumps(plain(data), ensure_ascii=False, indent=2))


def plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            f.name: plain(getattr(value, f.name))
            for f in dataclasses.fields(value)
            if not f.name.startswith("_")
        }
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | frozenset | set):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return value


def local(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if moment else "-"


def shown_db(url: str) -> str:
    return url.split("@")[-1] if "@" in url else url

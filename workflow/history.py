"""The hash chain of a case's history: canonical event content and its SHA-256."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from workflow.model import Event

GENESIS_HASH = "0" * 64


def canonical_time(at: datetime) -> str:
    """A moment as the fixed-width UTC text that is hashed (microsecond precision)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_bytes(event: Event) -> bytes:
    """The bytes an event's hash covers: every field but its own hash, keys sorted."""
    payload: dict[str, Any] = {
        "case_id": event.case_id,
        "seq": event.seq,
        "action": event.action,
        "from_state": event.from_state,
        "to_state": event.to_state,
        "actor": event.actor,
        "role": event.role,
        "at": canonical_time(event.at),
        "comment": event.comment,
        "details": event.details,
        "definition_name": event.definition_name,
        "definition_version": event.definition_version,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: Event) -> str:
    """The SHA-256 (hex) of an event's canonical content, which includes the previous hash."""
    return hashlib.sha256(canonical_bytes(event)).hexdigest()


def seal(event: Event) -> Event:
    """Set the event's hash from its content and return it."""
    event.hash = event_hash(event)
    return event

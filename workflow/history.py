"""The hash chain of a case's history: canonical event content and its SHA-256."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from workflow.model import Case, Event
from workflow.ports import AbstractUnitOfWork
from workflow.spec import SYSTEM_ROLE

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


def append_event(
    uow: AbstractUnitOfWork,
    case: Case,
    action: str,
    from_state: str | None,
    role: str,
    actor: str,
    now: datetime,
    comment: str | None,
    details: dict[str, Any],
) -> Event:
    """Write the next event of the case's hash chain and advance the chain's head on the case.

    Every event bumps the case's version, the token of optimistic concurrency; only a person's
    event counts as activity for the idle expiry.
    """
    assert case.id is not None
    event = seal(
        Event(
            case_id=case.id,
            seq=case.last_seq + 1,
            action=action,
            from_state=from_state,
            to_state=case.state,
            actor=actor,
            role=role,
            at=now,
            comment=comment,
            details=details,
            definition_name=case.definition_name,
            definition_version=case.definition_version,
            prev_hash=case.last_hash or GENESIS_HASH,
            hash="",
        )
    )
    uow.events.add(event)
    advance(case, event)
    return event


def advance(case: Case, event: Event) -> None:
    """What every event does to its case's row: the chain's head, the version and, for a person's
    event, the last activity that the idle expiry counts from."""
    case.last_seq, case.last_hash = event.seq, event.hash
    case.last_event_at = event.at
    case.version += 1
    if event.role != SYSTEM_ROLE:
        case.last_activity_at = event.at

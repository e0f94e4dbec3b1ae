"""Plain domain objects: cases, their history events, timers and users (mapped by persistence/)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CASE_PREFIX = "LA-"


def case_ref(case_id: int) -> str:
    """The human-friendly, sortable reference of a case id (`LA-000001`)."""
    return f"{CASE_PREFIX}{case_id:06d}"


@dataclass(eq=False)
class User:
    """A person who may act, with the roles they hold and the branch they work at."""

    name: str
    roles: tuple[str, ...]
    branch: str | None = None
    active: bool = True
    created_at: datetime | None = None
    id: int | None = None

    def holds(self, role: str) -> bool:
        """Whether the user holds `role`."""
        return role in self.roles


@dataclass(frozen=True)
class Actor:
    """Who performs an action: a person's name and roles, or the system."""

    name: str
    roles: frozenset[str]


@dataclass(eq=False)
class Case:
    """One loan application and where it stands; `version` counts its committed changes."""

    customer_name: str
    customer_type: str
    rating: str | None
    product: str
    guarantee: str
    amount_fen: int
    term_months: int | None
    priority: str
    tier: str
    branch: str | None
    originator: str
    definition_name: str
    definition_version: int
    state: str
    created_at: datetime
    state_entered_at: datetime
    last_activity_at: datetime
    last_event_at: datetime
    participants: dict[str, str] = field(default_factory=dict)
    votes: dict[str, str] = field(default_factory=dict)
    escalation_level: int = 0
    due_at: datetime | None = None
    last_seq: int = 0
    last_hash: str = ""
    version: int = 0
    id: int | None = None

    def enter_state(self, now: datetime) -> None:
        """Start the clock of a newly entered state; escalation is per state."""
        self.state_entered_at = now
        self.escalation_level = 0

    @property
    def ref(self) -> str:
        """The case's human-friendly id."""
        if self.id is None:
            raise ValueError("the case has no id until it is stored")
        return case_ref(self.id)


@dataclass(eq=False)
class Event:
    """One immutable row of a case's history, hash-chained to the one before."""

    case_id: int
    seq: int
    action: str
    from_state: str | None
    to_state: str
    actor: str
    role: str
    at: datetime
    comment: str | None
    details: dict[str, Any]
    definition_name: str
    definition_version: int
    prev_hash: str
    hash: str
    id: int | None = None


@dataclass(eq=False)
class Timer:
    """A due moment of a case: an escalation level or the idle expiry, armed on entering a state."""

    case_id: int
    kind: str  # "escalate" or "expire"
    level: int  # the escalation level it raises to; 0 for expiry
    state: str  # the state it was armed in
    due_at: datetime
    armed_seq: int  # the event that armed it
    fired_at: datetime | None = None
    cancelled_at: datetime | None = None
    id: int | None = None


@dataclass(eq=False)
class Document:
    """A document issued at a step, kept with the SHA-256 that its event's hash chain covers."""

    case_id: int
    seq: int  # the event that issued it
    template: str
    copy: str
    content: str
    sha256: str
    issued_at: datetime
    id: int | None = None


@dataclass(eq=False)
class DeployedDefinition:
    """A definition file as deployed: its text is the source of truth for cases pinned to it."""

    name: str
    version: int
    kind: str  # "workflow" or "tier_policy"
    tier: str | None
    source: str
    sha256: str
    deployed_at: datetime
    compiled: str = ""  # the source's data as JSON: what the engine loads, no YAML needed
    id: int | None = None

"""Frozen, validated descriptions of workflow definitions and the tier policy."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

ROLES = frozenset(
    {
        "account_manager",
        "risk_officer",
        "reviewer",
        "committee_member",
        "branch_head",
        "teller",
        "auditor",
        "admin",
    }
)
SYSTEM_ACTOR = "system"
SYSTEM_ROLE = "system"

# Kinds of transition; only `step` and `vote` are written out one by one in the YAML.
STEP, VOTE, RETURN, REJECT, WITHDRAW, EXPIRE = (
    "step",
    "vote",
    "return",
    "reject",
    "withdraw",
    "expire",
)
RESERVED_ACTIONS = frozenset({RETURN, REJECT, WITHDRAW, EXPIRE})


@dataclass(frozen=True)
class GuardSpec:
    """A named rule checked before a transition; `params` name participant slots."""

    name: str
    params: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocumentSpec:
    """A document issued when a step is taken: a template, rendered once per copy."""

    template: str
    copies: tuple[str, ...] = ("original",)


@dataclass(frozen=True)
class TransitionSpec:
    """One legal move: `action` from `source` to `dest` (None: stays, as an undecided vote)."""

    action: str
    source: str
    dest: str | None
    kind: str
    role: str
    guards: tuple[GuardSpec, ...] = ()
    records: str | None = None
    comment_required: bool = False
    outcome: str | None = None  # the vote this transition decides on ("approve"/"reject")
    documents: tuple[DocumentSpec, ...] = ()


@dataclass(frozen=True)
class TimerSpec:
    """When a state's timers fall due."""

    sla: timedelta
    escalation_levels: tuple[int, ...]  # level n falls due at n x SLA
    idle_expiry: timedelta
    vip_factor: float


@dataclass(frozen=True)
class StateSpec:
    """A state of the path; terminal states accept nothing and arm no timers."""

    name: str
    terminal: bool
    timers: TimerSpec | None


@dataclass(frozen=True)
class CommitteeSpec:
    """The collective-approval panel rule."""

    panel: int
    approvals_needed: int
    rejections_needed: int


@dataclass(frozen=True)
class WorkflowSpec:
    """A validated path definition, pinned by (name, version)."""

    name: str
    version: int
    tier: str
    title: str
    initial: str
    states: tuple[StateSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    committee: CommitteeSpec | None = None
    _by_state: dict[str, tuple[TransitionSpec, ...]] = field(
        default_factory=dict, compare=False, repr=False
    )

    def __post_init__(self) -> None:
        index: dict[str, list[TransitionSpec]] = {}
        for transition in self.transitions:
            index.setdefault(transition.source, []).append(transition)
        self._by_state.update({name: tuple(ts) for name, ts in index.items()})

    def state(self, name: str) -> StateSpec:
        """The state called `name` (KeyError if the definition has none)."""
        return next(s for s in self.states if s.name == name)

    def is_terminal(self, name: str) -> bool:
        """Whether `name` is a terminal state."""
        return self.state(name).terminal

    def transitions_from(self, state: str) -> tuple[TransitionSpec, ...]:
        """Every transition leaving `state`, in definition order."""
        return self._by_state.get(state, ())

    def actions_from(self, state: str) -> tuple[str, ...]:
        """The distinct actions a person may take in `state` (system actions excluded)."""
        names = (t.action for t in self.transitions_from(state) if t.role != SYSTEM_ROLE)
        return tuple(dict.fromkeys(names))

    def work_actions_from(self, state: str) -> tuple[str, ...]:
        """The actions that move the work forward from `state` (steps and votes)."""
        names = (t.action for t in self.transitions_from(state) if t.kind in (STEP, VOTE))
        return tuple(dict.fromkeys(names))

    @property
    def actions(self) -> tuple[str, ...]:
        """Every action of the definition, in definition order."""
        return tuple(dict.fromkeys(t.action for t in self.transitions))


@dataclass(frozen=True)
class TierPolicy:
    """Which path an application takes (DOMAIN.md section 2); amounts in fen."""

    name: str
    version: int
    max_amount_fen: int
    medium_cap_fen: int
    products: tuple[str, ...]
    guarantees: tuple[str, ...]
    low_product: str
    low_guarantee: str
    rating_caps_fen: dict[str, int]
    paths: dict[str, str]


@dataclass(frozen=True)
class StarLevel:
    """One row of the star rule: the stars an officer gets when both limits are met."""

    stars: int
    max_turnaround_ratio: float  # the median of turnaround / SLA over measured actions
    max_breach_rate: float  # SLA breaches attributed to the officer per measured action


@dataclass(frozen=True)
class ServiceRating:
    """The star rule of the monthly service assessment (`definitions/service_rating.yaml`)."""

    name: str
    version: int
    title: str
    min_measured_actions: int  # fewer measured actions in the period: not rated
    levels: tuple[StarLevel, ...]  # most stars first, each level's limits looser than the last
    floor: int  # the stars of an officer who meets no level

    def stars(self, measured: int, ratio: float | None, breach_rate: float | None) -> int | None:
        """The stars for these inputs; None (not rated) under `min_measured_actions`."""
        if measured < self.min_measured_actions or ratio is None or breach_rate is None:
            return None
        return next(
            (
                level.stars
                for level in self.levels
                if ratio <= level.max_turnaround_ratio and breach_rate <= level.max_breach_rate
            ),
            self.floor,
        )


# Every kind of deployed definition, as the loader builds it.
DefinitionSpec = WorkflowSpec | TierPolicy | ServiceRating

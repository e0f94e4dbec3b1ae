"""The full authorization matrix of every path, checked against a hand-written oracle."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from functools import cache

import pytest

from definitions.loader import bundled_sources, load
from workflow.engine import Engine, engine_for
from workflow.errors import (
    ActionNotAllowed,
    ActionRefused,
    DutySegregationBreach,
    InvalidInput,
    RoleRequired,
)
from workflow.model import Actor, Case
from workflow.spec import WorkflowSpec

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
SPECS = {spec.name: spec for spec in map(load, bundled_sources()) if isinstance(spec, WorkflowSpec)}

AM, RO, RV, CM = "account_manager", "risk_officer", "reviewer", "committee_member"
BH, TE = "branch_head", "teller"
ROLES = (AM, RO, RV, CM, BH, TE, "auditor", "admin")
ACTIONS = (
    "grant_credit",
    "accept",
    "investigate",
    "cross_check",
    "risk_review",
    "approve",
    "vote",
    "sign_contract",
    "review_account",
    "re_review",
    "disburse",
    "confirm_use_of_funds",
    "return",
    "reject",
    "withdraw",
    "expire",
    "launder_money",  # no path knows this one
)
ORIGINATOR = "zhang"

# The oracle, written by hand from DOMAIN.md section 3: per state, the (action, role) pairs a
# fresh person may take, and the state each one leads to. Anything not listed is refused.
Allowed = dict[str, dict[tuple[str, str], str]]
CLOSED: dict[tuple[str, str], str] = {}

LOW: Allowed = {
    "submitted": {
        ("grant_credit", AM): "credit_granted",
        ("reject", AM): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "credit_granted": {
        ("approve", BH): "approved",
        ("return", BH): "submitted",
        ("reject", BH): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "approved": {
        ("disburse", TE): "disbursed",
        ("withdraw", AM): "withdrawn",
    },
    "disbursed": CLOSED,
    "rejected": CLOSED,
    "withdrawn": CLOSED,
    "expired": CLOSED,
}

MEDIUM: Allowed = {
    "submitted": {
        ("investigate", AM): "investigated",
        ("reject", AM): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "investigated": {
        ("cross_check", AM): "ab_checked",
        ("return", AM): "submitted",
        ("reject", AM): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "ab_checked": {
        ("risk_review", RO): "risk_reviewed",
        ("return", RO): "investigated",
        ("reject", RO): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "risk_reviewed": {
        ("approve", BH): "approved",
        ("return", BH): "ab_checked",
        ("reject", BH): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "approved": {
        ("sign_contract", RO): "contract_signed",
        ("reject", RO): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "contract_signed": {
        ("review_account", RO): "account_reviewed",
        ("return", RO): "approved",
        ("reject", RO): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "account_reviewed": {
        ("re_review", RV): "ready_to_disburse",
        ("return", RV): "contract_signed",
        ("reject", RV): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "ready_to_disburse": {
        ("disburse", TE): "disbursed",
        ("withdraw", AM): "withdrawn",
    },
    "disbursed": CLOSED,
    "rejected": CLOSED,
    "withdrawn": CLOSED,
    "expired": CLOSED,
}

HIGH: Allowed = {
    "submitted": {
        ("accept", AM): "accepted",
        ("reject", AM): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "accepted": {
        ("investigate", AM): "investigated",
        ("return", AM): "submitted",
        ("reject", AM): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "investigated": {
        ("cross_check", AM): "ab_checked",
        ("return", AM): "accepted",
        ("reject", AM): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "ab_checked": {
        ("risk_review", RO): "risk_reviewed",
        ("return", RO): "investigated",
        ("reject", RO): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "risk_reviewed": {
        ("vote", CM): "risk_reviewed",  # one approval of the two needed: still undecided
        ("withdraw", AM): "withdrawn",
    },
    "approved": {
        ("sign_contract", RO): "contract_signed",
        ("reject", RO): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "contract_signed": {
        ("review_account", RO): "account_reviewed",
        ("return", RO): "approved",
        ("reject", RO): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "account_reviewed": {
        ("re_review", RV): "ready_to_disburse",
        ("return", RV): "contract_signed",
        ("reject", RV): "rejected",
        ("withdraw", AM): "withdrawn",
    },
    "ready_to_disburse": {
        ("disburse", TE): "disbursed",
        ("withdraw", AM): "withdrawn",
    },
    "disbursed": {
        ("confirm_use_of_funds", AM): "funds_verified",
    },
    "funds_verified": CLOSED,
    "rejected": CLOSED,
    "withdrawn": CLOSED,
    "expired": CLOSED,
}

ORACLE: dict[str, Allowed] = {"low_risk": LOW, "medium_risk": MEDIUM, "high_risk": HIGH}

# The happy path of each tier, walked by distinct people: (action, person, role).
Walk = tuple[tuple[str, str, str], ...]
HAPPY: dict[str, Walk] = {
    "low_risk": (
        ("grant_credit", "wang", AM),
        ("approve", "zhao", BH),
        ("disburse", "ma", TE),
    ),
    "medium_risk": (
        ("investigate", "wang", AM),
        ("cross_check", "li", AM),
        ("risk_review", "chen", RO),
        ("approve", "zhao", BH),
        ("sign_contract", "zhou", RO),
        ("review_account", "zhou", RO),
        ("re_review", "sun", RV),
        ("disburse", "ma", TE),
    ),
    "high_risk": (
        ("accept", "guo", AM),
        ("investigate", "wang", AM),
        ("cross_check", "li", AM),
        ("risk_review", "chen", RO),
        ("vote", "qian", CM),
        ("vote", "wu", CM),
        ("sign_contract", "zhou", RO),
        ("review_account", "zhou", RO),
        ("re_review", "sun", RV),
        ("disburse", "ma", TE),
        ("confirm_use_of_funds", "wang", AM),
    ),
}


def new_case(path: str) -> Case:
    spec = SPECS[path]
    return Case(
        "Li Wei",
        "individual",
        "good",
        "small_farmer_credit",
        "credit",
        450000,
        None,
        "normal",
        spec.tier,
        "ys",
        ORIGINATOR,
        spec.name,
        spec.version,
        spec.initial,
        NOW,
        NOW,
        NOW,
        NOW,
        participants={"originator": ORIGINATOR},
        id=1,
    )


def fire(engine: Engine, case: Case, action: str, name: str, role: str) -> None:
    vote = "approve" if action == "vote" else None
    engine.fire(case, action, Actor(name, frozenset({role})), NOW, "because", vote)


@cache
def prepared(path: str) -> dict[str, Case]:
    """One case in every state of `path`, reached by walking to it; deep-copy before use."""
    engine = engine_for(SPECS[path])
    case = new_case(path)
    cases = {case.state: copy.deepcopy(case)}
    for action, name, role in HAPPY[path]:
        fire(engine, case, action, name, role)
        cases.setdefault(case.state, copy.deepcopy(case))
    for action, end in (("reject", "rejected"), ("withdraw", "withdrawn")):
        ended = new_case(path)
        fire(engine, ended, action, "wang", AM)
        assert ended.state == end
        cases[end] = ended
    expired = new_case(path)
    engine.expire(expired, NOW)
    cases[expired.state] = expired
    assert set(cases) == set(ORACLE[path])
    return cases


def try_one(path: str, state: str, action: str, role: str) -> str | None:
    """Fire `action` as a fresh holder of `role` on a case in `state`; a mismatch, or None."""
    allowed = ORACLE[path][state]
    case = copy.deepcopy(prepared(path)[state])
    before = (case.state, dict(case.participants), dict(case.votes))
    who = f"{path}/{state}: {action} by {role}"
    try:
        fire(engine_for(SPECS[path]), case, action, f"fresh_{role}", role)
    except (ActionRefused, InvalidInput) as refused:
        if (action, role) in allowed:
            return f"{who}: refused ({refused}), expected to lead to {allowed[action, role]}"
        known_here = any(a == action for a, _ in allowed)
        expected = RoleRequired if known_here else ActionNotAllowed
        if type(refused) is not expected:
            return f"{who}: refused with {type(refused).__name__}, expected {expected.__name__}"
        if (case.state, case.participants, case.votes) != before:
            return f"{who}: refused but the case changed"
        return None
    if (action, role) not in allowed:
        return f"{who}: succeeded (now {case.state}), expected a refusal"
    if case.state != allowed[action, role]:
        return f"{who}: led to {case.state}, expected {allowed[action, role]}"
    return None


def test_the_oracle_names_every_state_of_every_path() -> None:
    assert set(ORACLE) == set(SPECS)
    for path, allowed in ORACLE.items():
        assert set(allowed) == {st.name for st in SPECS[path].states}, path


@pytest.mark.parametrize(
    ("path", "state"),
    [pytest.param(path, state, id=f"{path}-{state}") for path in ORACLE for state in ORACLE[path]],
)
def test_exactly_the_allowed_roles_may_take_each_action_in_each_state(
    path: str, state: str
) -> None:
    mismatches = [
        mismatch
        for action in ACTIONS
        for role in ROLES
        if (mismatch := try_one(path, state, action, role)) is not None
    ]
    assert mismatches == []


# Segregation of duties on top of roles: (path, state, votes already cast, action, the person
# who played the conflicting part, the role they now hold, the rule the engine names).
SEGREGATION = [
    ("low_risk", "credit_granted", (), "approve", "wang", BH, "not the granter"),
    ("low_risk", "credit_granted", (), "approve", ORIGINATOR, BH, "not the originator"),
    ("medium_risk", "investigated", (), "cross_check", "wang", AM, "not the investigator"),
    ("medium_risk", "ab_checked", (), "risk_review", "wang", RO, "not the investigator"),
    ("medium_risk", "ab_checked", (), "risk_review", "li", RO, "not the cross_checker"),
    ("medium_risk", "risk_reviewed", (), "approve", ORIGINATOR, BH, "not the originator"),
    ("medium_risk", "account_reviewed", (), "re_review", "zhou", RV, "not the account_reviewer"),
    ("high_risk", "investigated", (), "cross_check", "wang", AM, "not the investigator"),
    ("high_risk", "ab_checked", (), "risk_review", "wang", RO, "not the investigator"),
    ("high_risk", "ab_checked", (), "risk_review", "li", RO, "not the cross_checker"),
    ("high_risk", "risk_reviewed", (), "vote", "wang", CM, "not the investigator"),
    ("high_risk", "risk_reviewed", (), "vote", "li", CM, "not the cross_checker"),
    ("high_risk", "risk_reviewed", (), "vote", "chen", CM, "not the risk_reviewer"),
    ("high_risk", "risk_reviewed", (), "vote", ORIGINATOR, CM, "not the originator"),
    ("high_risk", "risk_reviewed", ("qian",), "vote", "qian", CM, "one vote each"),
    ("high_risk", "account_reviewed", (), "re_review", "zhou", RV, "not the account_reviewer"),
]


@pytest.mark.parametrize(
    ("path", "state", "voted", "action", "name", "role", "rule"),
    [pytest.param(*row, id=f"{row[0]}-{row[3]}-{row[4]}-{row[6]}") for row in SEGREGATION],
)
def test_segregation_refuses_the_conflicting_person_but_not_a_fresh_one_in_the_same_role(
    path: str,
    state: str,
    voted: tuple[str, ...],
    action: str,
    name: str,
    role: str,
    rule: str,
) -> None:
    engine = engine_for(SPECS[path])
    case = copy.deepcopy(prepared(path)[state])
    for member in voted:
        fire(engine, case, "vote", member, CM)
    before = (case.state, dict(case.participants), dict(case.votes))
    with pytest.raises(DutySegregationBreach) as refused:
        fire(engine, case, action, name, role)
    assert refused.value.rule == rule
    assert (case.state, case.participants, case.votes) == before
    fire(engine, case, action, f"fresh_{role}", role)
    # With one approval already cast, the fresh member's approval is the second: it decides.
    assert case.state == ("approved" if voted else ORACLE[path][state][action, role])

"""The pure engine: legal moves, roles, segregation of duties and the committee's panel rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from definitions.loader import bundled_sources, load
from workflow.engine import Engine, engine_for
from workflow.errors import (
    ActionNotAllowed,
    CommentRequired,
    DutySegregationBreach,
    InvalidInput,
    RoleRequired,
)
from workflow.model import Actor, Case
from workflow.spec import WorkflowSpec

NOW = datetime(2026, 11, 2, 1, 0, tzinfo=UTC)
SPECS = {spec.name: spec for spec in map(load, bundled_sources()) if isinstance(spec, WorkflowSpec)}


def person(name: str, *roles: str) -> Actor:
    return Actor(name, frozenset(roles))


AM = "account_manager"
WANG, LI, ZHANG = person("wang", AM), person("li", AM), person("zhang", AM)
CHEN, ZHOU = person("chen", "risk_officer"), person("zhou", "risk_officer")
SUN, ZHAO, MA = person("sun", "reviewer"), person("zhao", "branch_head"), person("ma", "teller")


def new_case(path: str, originator: str = "wang") -> Case:
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
        originator,
        spec.name,
        spec.version,
        spec.initial,
        NOW,
        NOW,
        NOW,
        NOW,
        participants={"originator": originator},
        id=1,
    )


def run(path: str, case: Case, *steps: tuple[str, Actor]) -> Engine:
    engine = engine_for(SPECS[path])
    for action, actor in steps:
        engine.fire(case, action, actor, NOW)
    return engine


MEDIUM_TO_RISK_REVIEWED = (("investigate", WANG), ("cross_check", LI), ("risk_review", CHEN))


def test_low_path_runs_to_disbursed() -> None:
    case = new_case("low_risk")
    run("low_risk", case, ("grant_credit", WANG), ("approve", ZHAO), ("disburse", MA))
    assert case.state == "disbursed"
    assert case.participants == {
        "originator": "wang",
        "granter": "wang",
        "approver": "zhao",
        "teller": "ma",
    }


def test_medium_path_runs_through_gates_one_to_four() -> None:
    case = new_case("medium_risk")
    run(
        "medium_risk",
        case,
        *MEDIUM_TO_RISK_REVIEWED,
        ("approve", ZHAO),
        ("sign_contract", ZHOU),
        ("review_account", ZHOU),
        ("re_review", SUN),
        ("disburse", MA),
    )
    assert case.state == "disbursed"


def test_one_machine_serves_every_case_of_a_definition_version() -> None:
    first, second = new_case("low_risk"), new_case("low_risk")
    engine = run("low_risk", first, ("grant_credit", WANG))
    assert engine_for(SPECS["low_risk"]) is engine
    assert engine.machine.models == []  # cases are never registered on the machine
    assert (first.state, second.state) == ("credit_granted", "submitted")


def test_an_action_not_allowed_in_the_state_names_the_allowed_ones() -> None:
    case = new_case("low_risk")
    with pytest.raises(ActionNotAllowed) as refused:
        run("low_risk", case, ("disburse", MA))
    assert refused.value.allowed_actions == ("grant_credit", "reject", "withdraw")
    assert case.state == "submitted"


def test_the_wrong_role_is_refused_naming_the_role() -> None:
    case = new_case("low_risk")
    with pytest.raises(RoleRequired) as refused:
        run("low_risk", case, ("grant_credit", MA))
    assert refused.value.role == AM


@pytest.mark.parametrize(
    ("path", "steps", "action", "actor", "rule"),
    [
        (
            "low_risk",
            [("grant_credit", person("boss", AM, "branch_head"))],
            "approve",
            person("boss", AM, "branch_head"),
            "not the granter",
        ),
        ("medium_risk", [("investigate", WANG)], "cross_check", WANG, "not the investigator"),
        (
            "medium_risk",
            [("investigate", WANG), ("cross_check", LI)],
            "risk_review",
            person("wang", "risk_officer"),
            "not the investigator",
        ),
        (
            "medium_risk",
            [("investigate", WANG), ("cross_check", LI)],
            "risk_review",
            person("li", "risk_officer"),
            "not the cross_checker",
        ),
        (
            "medium_risk",
            [
                *MEDIUM_TO_RISK_REVIEWED,
                ("approve", ZHAO),
                ("sign_contract", ZHOU),
                ("review_account", ZHOU),
            ],
            "re_review",
            person("zhou", "reviewer"),
            "not the account_reviewer",
        ),
        (
            "medium_risk",
            list(MEDIUM_TO_RISK_REVIEWED),
            "approve",
            person("wang", "branch_head"),
            "not the originator",
        ),
    ],
)
def test_segregation_of_duties_refuses_checking_your_own_work(
    path: str, steps: list[tuple[str, Actor]], action: str, actor: Actor, rule: str
) -> None:
    case = new_case(path)
    engine = run(path, case, *steps)
    before = (case.state, dict(case.participants))
    with pytest.raises(DutySegregationBreach) as refused:
        engine.fire(case, action, actor, NOW)
    assert refused.value.rule == rule
    assert (case.state, case.participants) == before


def high_case_at_vote() -> tuple[Case, Engine]:
    case = new_case("high_risk")
    engine = run(
        "high_risk",
        case,
        ("accept", WANG),
        ("investigate", WANG),
        ("cross_check", LI),
        ("risk_review", CHEN),
    )
    return case, engine


@pytest.mark.parametrize("name", ["wang", "li", "chen"])
def test_originator_a_b_and_risk_reviewer_may_not_vote(name: str) -> None:
    case, engine = high_case_at_vote()
    with pytest.raises(DutySegregationBreach):
        engine.fire(case, "vote", person(name, "committee_member"), NOW, vote="approve")
    assert case.votes == {}


def test_each_member_votes_once() -> None:
    case, engine = high_case_at_vote()
    engine.fire(case, "vote", person("qian", "committee_member"), NOW, vote="approve")
    with pytest.raises(DutySegregationBreach) as refused:
        engine.fire(case, "vote", person("qian", "committee_member"), NOW, vote="approve")
    assert refused.value.rule == "one vote each"


@pytest.mark.parametrize(
    ("votes", "states"),
    [
        (["approve", "approve"], ["risk_reviewed", "approved"]),
        (["reject", "reject"], ["risk_reviewed", "rejected"]),
        (["approve", "reject", "approve"], ["risk_reviewed", "risk_reviewed", "approved"]),
        (["reject", "approve", "reject"], ["risk_reviewed", "risk_reviewed", "rejected"]),
    ],
)
def test_the_panel_decides_as_soon_as_the_outcome_cannot_change(
    votes: list[str], states: list[str]
) -> None:
    case, engine = high_case_at_vote()
    seen = []
    for member, vote in zip(["qian", "wu", "zheng"], votes, strict=False):
        engine.fire(case, "vote", person(member, "committee_member"), NOW, vote=vote)
        seen.append(case.state)
    assert seen == states


def test_a_vote_needs_a_choice_and_other_actions_take_none() -> None:
    case, engine = high_case_at_vote()
    with pytest.raises(InvalidInput):
        engine.fire(case, "vote", person("qian", "committee_member"), NOW)
    with pytest.raises(InvalidInput):
        engine_for(SPECS["low_risk"]).fire(
            new_case("low_risk"), "grant_credit", WANG, NOW, vote="approve"
        )


def test_return_sends_the_case_back_one_step_and_needs_a_comment() -> None:
    case = new_case("medium_risk")
    engine = run("medium_risk", case, ("investigate", WANG))
    with pytest.raises(CommentRequired):
        engine.fire(case, "return", LI, NOW)
    engine.fire(case, "return", LI, NOW, comment="missing land certificate")
    assert case.state == "submitted"


def test_the_investigator_cannot_return_their_own_work() -> None:
    case = new_case("medium_risk")
    engine = run("medium_risk", case, ("investigate", WANG))
    with pytest.raises(DutySegregationBreach):
        engine.fire(case, "return", WANG, NOW, comment="looks fine to me")


def test_reject_is_terminal_and_terminal_states_accept_nothing() -> None:
    case = new_case("medium_risk")
    engine = run("medium_risk", case, ("investigate", WANG), ("cross_check", LI))
    engine.fire(case, "reject", CHEN, NOW, comment="arrears elsewhere")
    assert case.state == "rejected"
    with pytest.raises(ActionNotAllowed) as refused:
        engine.fire(case, "withdraw", WANG, NOW, comment="too late")
    assert refused.value.allowed_actions == ()


def test_withdraw_is_allowed_before_disbursement_only() -> None:
    case = new_case("low_risk")
    engine = run("low_risk", case, ("grant_credit", WANG), ("approve", ZHAO))
    assert "withdraw" in engine.allowed_actions(case, WANG)
    engine.fire(case, "disburse", MA, NOW)
    assert case.state == "disbursed"
    with pytest.raises(ActionNotAllowed):
        engine.fire(case, "withdraw", WANG, NOW, comment="changed mind")


def test_people_cannot_expire_a_case_but_the_scheduler_can() -> None:
    case = new_case("low_risk")
    engine = engine_for(SPECS["low_risk"])
    with pytest.raises(ActionNotAllowed):
        engine.fire(case, "expire", person("root", *["admin", AM, "branch_head"]), NOW)
    engine.expire(case, NOW)
    assert case.state == "expired"


def test_allowed_actions_consider_role_and_every_guard() -> None:
    case = new_case("medium_risk")
    engine = run("medium_risk", case, ("investigate", WANG))
    assert engine.allowed_actions(case, WANG) == ("withdraw",)
    assert engine.allowed_actions(case, LI) == ("cross_check", "return", "reject", "withdraw")
    assert engine.allowed_actions(case, MA) == ()

"""Each path end to end through the CLI on a temporary SQLite file, as the officers would run it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import Loanflow
from tests.e2e.helpers import (
    HIGH_AFTER_VOTE,
    HIGH_APPLICATION,
    LOW_PATH,
    MEDIUM_APPLICATION,
    MEDIUM_PATH,
    dump,
    high_case_at_vote,
    walk,
)


def state_of(lf: Loanflow, case_id: str) -> str:
    return str(json.loads(lf.ok("show", case_id, as_json=True).output)["state"])


def test_low_path_from_application_to_disbursement(lf: Loanflow) -> None:
    applied = json.loads(
        lf.ok(
            "apply",
            "--customer",
            "Li Wei",
            "--customer-type",
            "individual",
            "--rating",
            "good",
            "--product",
            "small_farmer_credit",
            "--amount",
            "4500",
            actor="wang",
            as_json=True,
        ).output
    )
    assert applied == {
        **applied,
        "id": "LA-000001",
        "tier": "low",
        "state": "submitted",
        "definition": "low_risk",
        "definition_version": 1,
    }
    result = lf.ok(
        "act", "LA-000001", "grant_credit", "--comment", "visited the farm", actor="wang"
    )
    assert result.output.strip() == "LA-000001 credit_granted"
    walk(lf, "LA-000001", LOW_PATH[1:])
    assert state_of(lf, "LA-000001") == "disbursed"
    events = json.loads(lf.ok("history", "LA-000001", as_json=True).output)
    assert [
        (e["seq"], e["action"], e["from_state"], e["to_state"], e["actor"]) for e in events
    ] == [
        (1, "apply", None, "submitted", "wang"),
        (2, "grant_credit", "submitted", "credit_granted", "wang"),
        (3, "approve", "credit_granted", "approved", "zhao"),
        (4, "disburse", "approved", "disbursed", "ma"),
    ]
    assert events[1]["comment"] == "visited the farm"
    assert events[2]["role"] == "branch_head"
    assert all(e["at"].endswith("+00:00") for e in events)


def test_medium_path_through_gates_one_to_four(lf: Loanflow) -> None:
    case_id = lf.apply(**MEDIUM_APPLICATION)
    walk(lf, case_id, MEDIUM_PATH)
    assert state_of(lf, case_id) == "disbursed"


def test_high_path_through_all_five_gates_with_the_committee(lf: Loanflow) -> None:
    case_id = high_case_at_vote(lf)
    assert (
        "risk_reviewed  (votes: qian approve)"
        in lf.ok("act", case_id, "vote", "--vote", "approve", actor="qian").output
    )
    lf.ok("act", case_id, "vote", "--vote", "reject", "--comment", "collateral thin", actor="wu")
    assert lf.ok("act", case_id, "vote", "--vote", "approve", actor="zheng").output.startswith(
        f"{case_id} approved  (votes: qian approve, wu reject, zheng approve)"
    )
    walk(lf, case_id, HIGH_AFTER_VOTE)
    assert state_of(lf, case_id) == "funds_verified"
    history = json.loads(lf.ok("history", case_id, as_json=True).output)
    assert [e["details"].get("tally") for e in history if e["action"] == "vote"] == [
        {"approve": 1, "reject": 0},
        {"approve": 1, "reject": 1},
        {"approve": 2, "reject": 1},
    ]


def test_two_rejections_reject_the_case(lf: Loanflow) -> None:
    case_id = high_case_at_vote(lf)
    lf.ok("act", case_id, "vote", "--vote", "reject", actor="qian")
    lf.ok("act", case_id, "vote", "--vote", "reject", actor="wu")
    assert state_of(lf, case_id) == "rejected"


def test_return_sends_back_for_rework_and_the_case_goes_on(lf: Loanflow) -> None:
    case_id = lf.apply(**MEDIUM_APPLICATION)
    walk(lf, case_id, MEDIUM_PATH[:2])
    lf.ok("act", case_id, "return", "--comment", "income proof missing", actor="chen")
    assert state_of(lf, case_id) == "investigated"
    walk(lf, case_id, MEDIUM_PATH[1:])
    assert state_of(lf, case_id) == "disbursed"


def test_reject_and_withdraw_close_the_case(lf: Loanflow) -> None:
    rejected, withdrawn = lf.apply(), lf.apply()
    lf.ok("act", rejected, "reject", "--comment", "arrears", actor="wang")
    lf.ok("act", withdrawn, "withdraw", "--comment", "customer's request", actor="li")
    assert (state_of(lf, rejected), state_of(lf, withdrawn)) == ("rejected", "withdrawn")
    result = lf("act", rejected, "approve", actor="zhao")
    assert result.exit_code == 1
    assert "allowed actions here are: none (the case is closed)" in result.output


def test_show_gives_the_contract_keys_and_the_actors_allowed_actions(lf: Loanflow) -> None:
    case_id = lf.apply(priority="vip")
    shown = json.loads(lf.ok("show", case_id, actor="wang", as_json=True).output)
    assert {
        "id",
        "tier",
        "state",
        "version",
        "amount",
        "customer",
        "priority",
        "escalation_level",
        "due_at",
        "allowed_actions",
    } <= set(shown)
    assert shown["amount"] == "4500.00"
    assert shown["priority"] == "vip"
    assert shown["allowed_actions"] == ["grant_credit", "reject", "withdraw"]
    assert (
        json.loads(lf.ok("show", case_id, actor="ma", as_json=True).output)["allowed_actions"] == []
    )
    assert json.loads(lf.ok("show", case_id, as_json=True).output)["allowed_actions"] == []


def test_inbox_puts_vip_first_then_the_oldest(lf: Loanflow) -> None:
    first, second = lf.apply(), lf.apply()
    vip = lf.apply(priority="vip")
    lf.apply(**HIGH_APPLICATION)
    inbox = json.loads(lf.ok("inbox", actor="li", as_json=True).output)
    assert [c["id"] for c in inbox] == [vip, first, second, "LA-000004"]
    assert lf.ok("inbox", actor="zhao").output.strip() == "no cases"


def test_list_filters_by_state_and_tier(lf: Loanflow) -> None:
    low, high = lf.apply(), lf.apply(**HIGH_APPLICATION)
    lf.ok("act", low, "grant_credit", actor="wang")
    listed = json.loads(
        lf.ok("list", "--state", "submitted", "--tier", "high", as_json=True).output
    )
    assert [c["id"] for c in listed] == [high]
    assert len(json.loads(lf.ok("list", "--limit", "1", as_json=True).output)) == 1


@pytest.mark.parametrize(
    ("setup", "action", "actor", "rule"),
    [
        (LOW_PATH[:1], "approve", "wang", "does not hold the role branch_head"),
        (MEDIUM_PATH[:1], "cross_check", "wang", "not the investigator"),
        (
            MEDIUM_PATH[:4] + [("sign_contract", "zhou"), ("review_account", "zhou")],
            "re_review",
            "zhou",
            "does not hold the role reviewer",
        ),
    ],
)
def test_refused_actions_name_the_rule_exit_1_and_write_nothing(
    lf: Loanflow, setup: list[tuple[str, str]], action: str, actor: str, rule: str
) -> None:
    case_id = lf.apply(**(MEDIUM_APPLICATION if setup[0][0] == "investigate" else {}))
    walk(lf, case_id, setup)
    before = dump(lf.db_url)
    result = lf("act", case_id, action, actor=actor)
    assert result.exit_code == 1
    assert rule in result.output
    assert "Traceback" not in result.output
    assert dump(lf.db_url) == before

"""Auditors: replay, verify against every kind of tampering, documents, and read-only access."""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from persistence.orm import cases, events
from tests.conftest import Loanflow
from tests.dbs import execute, tamperer
from tests.e2e.helpers import (
    HIGH_AFTER_VOTE,
    LOW_PATH,
    MEDIUM_APPLICATION,
    MEDIUM_PATH,
    dump,
    high_case_at_vote,
    walk,
)
from workflow.history import GENESIS_HASH, canonical_bytes
from workflow.model import Event


def verify(lf: Loanflow) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = lf("audit", "verify", actor="audit1", as_json=True)
    return result.exit_code, json.loads(result.stdout)


def replay(lf: Loanflow, case_id: str, *extra: str) -> dict:  # type: ignore[type-arg]
    return dict(
        json.loads(lf("audit", "replay", case_id, *extra, actor="audit1", as_json=True).stdout)
    )


@pytest.fixture
def three_paths(lf: Loanflow) -> list[str]:
    low, medium = lf.apply(), lf.apply(**MEDIUM_APPLICATION)
    walk(lf, low, LOW_PATH)
    walk(lf, medium, MEDIUM_PATH)
    high = high_case_at_vote(lf)
    lf.ok("act", high, "vote", "--vote", "approve", actor="qian")
    lf.ok("act", high, "vote", "--vote", "approve", actor="wu")
    walk(lf, high, HIGH_AFTER_VOTE)
    lf.ok("escalate", "--now", (lf.clock.now + timedelta(days=5)).isoformat(), "--allow-future")
    return [low, medium, high]


def test_replay_of_each_path_matches_the_stored_case(lf: Loanflow, three_paths: list[str]) -> None:
    for case_id in three_paths:
        result = replay(lf, case_id)
        assert result["ok"], result["violation"]
        stored = json.loads(lf.ok("show", case_id, as_json=True).output)
        assert result["state"] == stored["state"]
        assert all(step["legal"] for step in result["steps"])
    assert verify(lf) == (0, {"ok": True, "cases": 3, "events": 4 + 9 + 12, "findings": []})


def test_replay_at_a_moment_shows_the_case_as_it_stood(lf: Loanflow) -> None:
    case_id = lf.apply(**MEDIUM_APPLICATION)
    moments = []
    for action, actor in MEDIUM_PATH[:4]:
        lf.ok("act", case_id, action, actor=actor)
        moments.append(lf.clock.now.isoformat())
    lf.clock.advance(hours=1)
    states = [replay(lf, case_id, "--at", at)["state"] for at in moments]
    assert states == ["investigated", "ab_checked", "risk_reviewed", "approved"]
    early = replay(lf, case_id, "--at", moments[1])
    assert [s["seq"] for s in early["steps"]] == [1, 2, 3]
    assert early["participants"] == {
        "originator": "wang",
        "investigator": "wang",
        "cross_checker": "li",
    }


TAMPERING = {
    "update one column": (
        "UPDATE events SET actor = 'eve' WHERE case_id = 2 AND seq = 3",
        3,
        "content does not match its hash",
    ),
    "delete a row": (
        "DELETE FROM events WHERE case_id = 2 AND seq = 4",
        5,
        "expected seq 4, found 5",
    ),
    "reorder two rows": ("(two statements, see below)", 3, "prev_hash"),
    "delete the last row": (
        "DELETE FROM events WHERE case_id = 2 AND seq = 9",
        None,
        "stored state 'disbursed' but the history gives 'ready_to_disburse'",
    ),
    "change the case row": (
        "UPDATE cases SET amount_fen = 9900000 WHERE id = 2",
        1,
        "amount differs from the application",
    ),
    "move the case to another branch": (
        "UPDATE cases SET branch = 'elsewhere' WHERE id = 2",
        1,
        "branch differs from the application",
    ),
    "add a document no event lists": (
        "INSERT INTO documents (case_id, seq, template, copy, content, sha256, issued_at) "
        "SELECT case_id, 2, template, 'forged', content, sha256, issued_at FROM documents "
        "WHERE case_id = 2 AND copy = 'original'",
        2,
        "is listed by no event",
    ),
}


@pytest.mark.parametrize("kind", TAMPERING)
def test_verify_names_the_case_and_event_of_each_kind_of_tampering(
    lf: Loanflow, three_paths: list[str], kind: str
) -> None:
    statement, seq, problem = TAMPERING[kind]
    with tamperer(lf.db_url) as conn:
        if "reorder" in kind:  # through negative numbers, so that (case_id, seq) stays unique
            conn.execute(text("UPDATE events SET seq = -seq WHERE case_id = 2 AND seq IN (3, 4)"))
            conn.execute(
                text(
                    "UPDATE events SET seq = CASE seq WHEN -3 THEN 4 ELSE 3 END "
                    "WHERE case_id = 2 AND seq IN (-3, -4)"
                )
            )
        else:
            conn.execute(text(statement))
    code, report = verify(lf)
    assert code == 1
    [finding] = report["findings"]
    assert (finding["case_id"], finding["seq"]) == (three_paths[1], seq)
    assert problem in finding["problem"]


def test_a_row_inserted_in_the_middle_is_found(lf: Loanflow, three_paths: list[str]) -> None:
    with tamperer(lf.db_url) as conn:
        conn.execute(text("UPDATE events SET seq = seq + 100 WHERE case_id = 2 AND seq >= 4"))
        conn.execute(text("UPDATE events SET seq = seq - 99 WHERE case_id = 2 AND seq >= 104"))
        third = conn.execute(select(events).where(events.c.case_id == 2, events.c.seq == 3)).one()
        row = {
            **third._asdict(),
            "seq": 4,
            "action": "approve",
            "actor": "zhao",
            "role": "branch_head",
            "prev_hash": third.hash,
        }
        conn.execute(events.insert().values({k: v for k, v in row.items() if k != "id"}))
    code, report = verify(lf)
    assert code == 1
    assert report["findings"][0]["case_id"] == three_paths[1]
    assert report["findings"][0]["seq"] == 4


def forge(lf: Loanflow, case_id: int, **changes: object) -> None:
    """Append an event with a valid hash chained to the last one: only replay can catch it."""
    with tamperer(lf.db_url) as conn:
        last = conn.execute(
            select(events).where(events.c.case_id == case_id).order_by(events.c.seq.desc()).limit(1)
        ).one()
        fields = {
            "case_id": case_id,
            "seq": last.seq + 1,
            "action": "approve",
            "from_state": last.to_state,
            "to_state": "approved",
            "actor": "zhao",
            "role": "branch_head",
            "at": last.at + timedelta(hours=1),
            "comment": None,
            "details": {},
            "definition_name": "low_risk",
            "definition_version": 1,
            "prev_hash": last.hash,
            "hash": "",
        }
        fields.update(changes)
        event = Event(**fields)  # type: ignore[arg-type]
        event.hash = hashlib.sha256(canonical_bytes(event)).hexdigest()
        conn.execute(events.insert().values({**fields, "hash": event.hash}))
        conn.execute(
            update(cases)
            .where(cases.c.id == case_id)
            .values(
                state=event.to_state, last_seq=event.seq, last_hash=event.hash, version=event.seq
            )
        )


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        (
            {"action": "disburse", "to_state": "disbursed", "actor": "ma", "role": "teller"},
            "cannot disburse in state submitted",
        ),
        (
            {
                "role": "account_manager",
                "actor": "wang",
                "action": "grant_credit",
                "to_state": "credit_granted",
                "prev_hash": GENESIS_HASH,
            },
            "prev_hash",
        ),
        (
            {"actor": "wang", "role": "account_manager", "action": "approve"},
            "does not hold the role branch_head",
        ),
        (
            {"actor": "ma", "role": "branch_head", "action": "approve"},
            "ma does not hold the role branch_head recorded for them",
        ),
    ],
)
def test_an_illegal_history_with_valid_hashes_is_caught_by_replay(
    lf: Loanflow, changes: dict[str, object], problem: str
) -> None:
    case_id = lf.apply()
    if changes["action"] == "approve":
        lf.ok("act", case_id, "grant_credit", actor="li")
    forge(lf, 1, **changes)
    result = replay(lf, case_id)
    assert not result["ok"]
    assert problem in result["violation"]["problem"]


def test_steps_issue_their_documents_with_hashes_in_the_history(lf: Loanflow) -> None:
    case_id = lf.apply(**{**MEDIUM_APPLICATION, "customer": "<script>alert(1)</script> Wang"})
    walk(lf, case_id, MEDIUM_PATH[:6])
    listed = json.loads(lf.ok("documents", case_id, as_json=True).output)
    assert [(d["template"], d["copy"]) for d in listed] == [
        ("loan_certificate", "original"),
        ("disbursement_notice", "customer"),
        ("disbursement_notice", "accounting"),
        ("disbursement_notice", "loan_file"),
    ]
    certificate = lf.ok("documents", case_id, "--show", "loan_certificate").output
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Wang" in certificate
    assert "<script>" not in certificate
    assert "revolving, for two years" in certificate
    assert "60000.00 yuan" in certificate
    assert hashlib.sha256(certificate.encode()).hexdigest() == listed[0]["sha256"]
    history = json.loads(lf.ok("history", case_id, as_json=True).output)
    assert history[5]["details"]["documents"][0]["sha256"] == listed[0]["sha256"]
    copy = lf.ok("documents", case_id, "--show", "disbursement_notice", "--copy", "accounting")
    assert "Copy: accounting" in copy.output


def test_an_altered_document_is_found_by_verify(lf: Loanflow) -> None:
    case_id = lf.apply(**MEDIUM_APPLICATION)
    walk(lf, case_id, MEDIUM_PATH[:5])
    execute(lf.db_url, "UPDATE documents SET content = replace(content, '60000.00', '90000.00')")
    code, report = verify(lf)
    assert code == 1
    assert report["findings"][0]["problem"] == "document loan_certificate (original) was altered"


@pytest.mark.parametrize(
    "args",
    [
        ["act", "LA-000001", "grant_credit"],
        [
            "apply",
            "--customer",
            "X",
            "--customer-type",
            "corporate",
            "--product",
            "car_loan",
            "--amount",
            "100",
        ],
        ["escalate"],
        ["init"],
        ["user", "add", "mallory", "--role", "teller"],
    ],
)
def test_every_changing_command_refuses_an_auditor(lf: Loanflow, args: list[str]) -> None:
    lf.apply()
    before = dump(lf.db_url)
    result = lf(*args, actor="audit1")
    assert result.exit_code == 1
    assert "auditors read everything and change nothing" in result.output
    assert dump(lf.db_url) == before


def test_audit_commands_are_for_auditors(lf: Loanflow) -> None:
    lf.apply()
    result = lf("audit", "verify", actor="wang")
    assert result.exit_code == 1
    assert "audit commands are for auditors" in result.output


def test_export_streams_events_since_a_moment_as_csv(lf: Loanflow, three_paths: list[str]) -> None:
    result = lf.ok("audit", "export", "--since", "2026-11-02T09:30", actor="audit1")
    rows = result.output.strip().splitlines()
    assert rows[0].startswith("case_id,seq,action,from_state,to_state,actor,role,at")
    every = lf.ok("audit", "export", actor="audit1").output.strip().splitlines()
    assert 1 < len(rows) < len(every) == 1 + 4 + 9 + 12

"""Helpers for end-to-end tests: database dumps and the staff's walk down each path."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import Loanflow
from tests.dbs import dump as dump

LOW_PATH = [("grant_credit", "wang"), ("approve", "zhao"), ("disburse", "ma")]
MEDIUM_PATH = [
    ("investigate", "wang"),
    ("cross_check", "li"),
    ("risk_review", "chen"),
    ("approve", "zhao"),
    ("sign_contract", "zhou"),
    ("review_account", "zhou"),
    ("re_review", "sun"),
    ("disburse", "ma"),
]
HIGH_TO_VOTE = [
    ("accept", "wang"),
    ("investigate", "wang"),
    ("cross_check", "li"),
    ("risk_review", "chen"),
]
HIGH_AFTER_VOTE = [
    ("sign_contract", "zhou"),
    ("review_account", "zhou"),
    ("re_review", "sun"),
    ("disburse", "ma"),
    ("confirm_use_of_funds", "wang"),
]
MEDIUM_APPLICATION: dict[str, str | None] = {
    "rating": "good",
    "amount": "60000",
    "product": "merchant_loan",
    "guarantee": "guarantee",
}
HIGH_APPLICATION: dict[str, str | None] = {
    "customer_type": "corporate",
    "rating": None,
    "amount": "800000",
    "product": "farm_machinery_loan",
    "guarantee": "mortgage",
}


def walk(lf: Loanflow, case_id: str, steps: list[tuple[str, str]]) -> None:
    for action, actor in steps:
        lf.ok("act", case_id, action, actor=actor)


def high_case_at_vote(lf: Loanflow) -> str:
    case_id = lf.apply(**HIGH_APPLICATION)
    walk(lf, case_id, HIGH_TO_VOTE)
    return case_id


def headless_flags(profile: Path) -> list[str]:
    """Chromium, headless, quiet on a closed network, with a fresh profile of its own."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]

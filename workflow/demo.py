"""`loanflow demo`: a branch's staff take realistic applications through all three paths.

Everything goes through the service layer, as the officers' commands would; the clock is simulated
so that the history spans the days a real branch would take.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo

from workflow import admin, indicators, services
from workflow.errors import LoanflowError
from workflow.escalation import fire_due_timers
from workflow.periods import days_period
from workflow.policy import Application, parse_amount
from workflow.ports import AbstractUnitOfWork, CaseQuery, DocumentRenderer

BRANCH = "yingshang"
STAFF = (
    ("root", ("admin",)),
    ("wang", ("account_manager",)),
    ("li", ("account_manager",)),
    ("chen", ("risk_officer",)),
    ("zhou", ("risk_officer",)),
    ("sun", ("reviewer",)),
    ("zhao", ("branch_head",)),
    ("qian", ("committee_member",)),
    ("wu", ("committee_member",)),
    ("zheng", ("committee_member",)),
    ("ma", ("teller",)),
    ("audit1", ("auditor",)),
)
UowFactory = Callable[[], AbstractUnitOfWork]
Say = Callable[[str], None]


@dataclass
class _Branch:
    make_uow: UowFactory
    say: Say
    now: datetime
    renderer: DocumentRenderer

    def tick(self, hours: float) -> datetime:
        self.now += timedelta(hours=hours)
        return self.now

    def apply(
        self,
        actor: str,
        customer: str,
        kind: str,
        rating: str | None,
        product: str,
        amount: str,
        guarantee: str = "credit",
        priority: str = "normal",
    ) -> str | None:
        try:
            fen = parse_amount(amount)
            app = Application(customer, kind, rating, product, guarantee, fen, 12, priority)
            view = services.apply(self.make_uow(), actor, app, self.tick(1))
        except LoanflowError as err:
            self.say(f"  REFUSED  {actor:7} apply {customer}, {amount} yuan: {err}")
            return None
        self.say(
            f"  {actor:7} apply         {view.id}  {customer}, {view.amount} yuan, "
            f"{product} -> {view.tier} risk, {view.state}"
        )
        return view.id

    def act(
        self,
        ref: str,
        actor: str,
        *actions: str,
        comment: str | None = None,
        vote: str | None = None,
        hours: float = 4,
    ) -> None:
        for action in actions:
            try:
                view = services.act(
                    self.make_uow(),
                    ref,
                    action,
                    actor,
                    self.tick(hours),
                    comment,
                    vote,
                    self.renderer,
                )
            except LoanflowError as err:
                self.say(f"  REFUSED  {actor:7} {action:13} {err}")
                continue
            said = f'  "{comment}"' if comment else ""
            voted = f" ({vote})" if vote else ""
            self.say(f"  {actor:7} {action + voted:21} {ref} -> {view.state}{said}")


def run_demo(
    make_uow: UowFactory,
    parsed: Iterable[admin.ParsedDefinition],
    now: datetime,
    say: Say,
    renderer: DocumentRenderer,
) -> None:
    """Build the demo branch on an empty, migrated database, printing each step."""
    start = now - timedelta(days=14)
    admin.deploy_definitions(make_uow(), parsed, start)
    for name, roles in STAFF:
        admin.add_user(make_uow(), "root", name, roles, BRANCH, start)
    say(f"Staff of branch {BRANCH}: " + ", ".join(f"{n} ({'/'.join(r)})" for n, r in STAFF))
    branch = _Branch(make_uow, say, start, renderer)
    _low_path(branch)
    _medium_path(branch)
    _high_path(branch)
    _other_outcomes(branch)
    say(f"\nThe scheduler's sweep at {now:%Y-%m-%d %H:%M} UTC: stalled cases escalate")
    report = fire_due_timers(make_uow(), now)
    for e in report.escalations:
        say(f"  system  escalate              {e.id} -> level {e.level} in {e.state}")
    say("\nWhere the cases stand:")
    for view in services.list_cases(make_uow(), CaseQuery(limit=100)):
        level = f"  escalation level {view.escalation_level}" if view.escalation_level else ""
        say(f"  {view.id}  {view.tier:6} {view.state:18} {view.amount:>12}  {view.customer}{level}")


def _low_path(b: _Branch) -> None:
    b.say("\nLow risk: application - credit granting - approval - issuance")
    first = b.apply("wang", "Li Wei", "individual", "good", "small_farmer_credit", "4500")
    if first:
        b.act(first, "wang", "grant_credit", comment="visited the farm; 12 mu of wheat")
        b.act(first, "wang", "approve")  # refused: wang is not a branch head
        b.act(first, "zhao", "approve")
        b.act(first, "ma", "disburse")
    vip = b.apply(
        "li", "Zhang Min", "individual", "excellent", "small_farmer_credit", "8000", priority="vip"
    )
    if vip:
        b.act(vip, "li", "grant_credit")
        b.act(vip, "zhao", "approve")


def _medium_path(b: _Branch) -> None:
    b.say("\nMedium risk: gates 1-4 (AB-corner check, risk review, contract, account review)")
    ref = b.apply("wang", "Hu Jun", "individual", None, "merchant_loan", "60000", "guarantee")
    if ref:
        b.act(ref, "wang", "investigate")
        b.act(ref, "wang", "cross_check")  # refused: B must not be A
        b.act(ref, "li", "cross_check")
        b.act(ref, "chen", "risk_review")
        b.act(ref, "zhao", "approve")
        b.act(ref, "zhou", "sign_contract", "review_account")
        b.act(ref, "sun", "re_review")
        b.act(ref, "ma", "disburse")


def _high_path(b: _Branch) -> None:
    b.say("\nHigh risk: the five-gate review, with the committee's collective approval")
    ref = b.apply(
        "li",
        "Anhui Green Harvest Co-op",
        "corporate",
        None,
        "farm_machinery_loan",
        "800000",
        "mortgage",
    )
    if ref:
        b.act(ref, "li", "accept", "investigate")
        b.act(ref, "wang", "cross_check")
        b.act(ref, "chen", "risk_review")
        b.act(ref, "qian", "vote", vote="approve")
        b.act(ref, "qian", "vote", vote="approve")  # refused: one vote each
        b.act(ref, "wu", "vote", vote="reject", comment="herd collateral overvalued")
        b.act(ref, "zheng", "vote", vote="approve")
        b.act(ref, "zhou", "sign_contract", "review_account")
        b.act(ref, "sun", "re_review")
        b.act(ref, "ma", "disburse")
        b.act(ref, "li", "confirm_use_of_funds", hours=24 * 2)
    waiting = b.apply(
        "wang",
        "Fuyang Grain Storage Ltd",
        "corporate",
        None,
        "small_business_loan",
        "350000",
        "pledge",
    )
    if waiting:
        b.act(waiting, "wang", "accept", "investigate")
        b.act(waiting, "li", "cross_check")
        b.act(waiting, "chen", "risk_review")
        b.act(waiting, "wu", "vote", vote="approve")


def _other_outcomes(b: _Branch) -> None:
    b.say("\nReturns, rejections, withdrawals and refusals at intake")
    b.apply(
        "wang", "Big Farm Holdings", "corporate", None, "small_business_loan", "1500000", "mortgage"
    )
    b.apply("wang", "Liu Yang", "individual", None, "small_farmer_credit", "2000")
    returned = b.apply("li", "Zhao Lei", "individual", None, "car_loan", "45000", "pledge")
    if returned:
        b.act(returned, "li", "investigate")
        b.act(returned, "wang", "return", comment="vehicle invoice missing; ask the customer")
    rejected = b.apply("wang", "Sun Hao", "individual", "general", "small_farmer_credit", "9000")
    if rejected:
        b.act(rejected, "wang", "investigate")
        b.act(rejected, "li", "cross_check")
        b.act(rejected, "chen", "reject", comment="existing arrears at another cooperative")
    withdrawn = b.apply("li", "Gao Fang", "individual", "good", "small_farmer_credit", "3000")
    if withdrawn:
        b.act(withdrawn, "li", "withdraw", comment="the customer found family funding")


HISTORY_DAYS = 14  # run_demo's history starts this many days before `now`
BRANCH_HEAD = "zhao"


def service_report(make_uow: UowFactory, now: datetime, tz: tzinfo) -> indicators.ServiceReport:
    """The demo branch's service indicators over the days of its history, as its head reads them.

    The period is the demo's days rather than the calendar month, which early in a month would
    leave most of the demo's history out.
    """
    today = now.astimezone(tz).date()
    first = today - timedelta(days=HISTORY_DAYS)
    period = days_period(first.isoformat(), today.isoformat(), tz)
    return indicators.service_report(make_uow(), BRANCH_HEAD, period, now, branch=BRANCH)

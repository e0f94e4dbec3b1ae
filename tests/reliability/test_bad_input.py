"""Random bad arguments exit 1 or 2, never with a traceback, and leave the database as it was."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import STAFF, Loanflow
from tests.dbs import dump

# The database is made once per test and shared by its examples: nothing may be written anyway.
BAD_INPUT = settings(
    suppress_health_check=[HealthCheck.function_scoped_fixture],
    deadline=None,
    max_examples=100,
)

ACCOUNT_MANAGERS = sorted(name for name, roles in STAFF.items() if "account_manager" in roles)
OTHER_STAFF = sorted(name for name, roles in STAFF.items() if "account_manager" not in roles)
ROLES = [
    "account_manager",
    "risk_officer",
    "reviewer",
    "committee_member",
    "branch_head",
    "teller",
    "auditor",
    "admin",
]
# Every action of the bundled definitions; a low-risk case just applied for allows only these
# three, and only to an account manager (reject and withdraw with a --comment).
ALL_ACTIONS = [
    "accept",
    "approve",
    "confirm_use_of_funds",
    "cross_check",
    "disburse",
    "expire",
    "grant_credit",
    "investigate",
    "re_review",
    "reject",
    "return",
    "review_account",
    "risk_review",
    "sign_contract",
    "vote",
    "withdraw",
]
FROM_SUBMITTED = ["grant_credit", "reject", "withdraw"]
NEEDS_COMMENT = ["reject", "withdraw"]
PRODUCTS = [
    "small_farmer_credit",
    "small_business_loan",
    "merchant_loan",
    "rural_housing_mortgage",
    "farm_machinery_loan",
    "car_loan",
]

SQL = [
    "'; DROP TABLE cases; --",
    "' OR '1'='1",
    '" OR 1=1 --',
    "1; DELETE FROM users",
    "LA-000001'; UPDATE cases SET state='approved'; --",
    "%",
    "_",
    "*",
    "NULL",
]
ODD = [
    "",
    " ",
    "\t",
    "\n",
    "\r\n",
    "\x1b[31mred",
    "\x7f",
    "\u202eevil",
    "\u2028",
    "\u200b",
    "\ufeff",
    "汉字",
    "Zoë",
    "🐄",
    "-",
    "--",
    "--help",
    "None",
    "null",
    "x" * 10_000,
    "汉" * 10_000,
]

# What a process's argv can hold: any text but NUL (execve cannot pass it), and bytes that are
# not UTF-8 as the surrogate escapes Python decodes them to (`--actor $'\xff'`).
ARGV_TEXT = st.one_of(
    st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]), max_size=30),
    st.binary(max_size=30)
    .filter(lambda raw: b"\x00" not in raw)
    .map(lambda raw: raw.decode("utf-8", "surrogateescape")),
)
LONG_TEXT = st.builds(
    lambda char, n: char * n,
    st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
    st.integers(1_000, 10_000),
)
JUNK = st.one_of(st.sampled_from([*SQL, *ODD]), ARGV_TEXT, LONG_TEXT)


def not_one_of(valid: list[str]) -> st.SearchStrategy[str]:
    return JUNK.filter(lambda text: text not in valid)


def _int_within(text: str, low: int, high: int) -> bool:
    """Whether click's int conversion takes `text` and it falls within [low, high]."""
    try:
        return low <= int(text) <= high
    except ValueError:
        return False


def bad_ints(low: int, high: int) -> st.SearchStrategy[str]:
    """Text an IntRange(low, high) option must refuse: numbers outside it, and non-numbers."""
    return st.one_of(
        st.integers(max_value=low - 1).map(str),
        st.integers(min_value=high + 1).map(str),
        st.integers(16, 400).map(lambda n: str(10**n)),
        st.sampled_from(["1.5", "1e3", "0x10", "NaN", "inf", "", " "]),
        JUNK.filter(lambda text: not _int_within(text, low, high)),
    )


def _names_the_case(ref: str) -> bool:
    """Whether `ref` would name case 1 (`LA-000001`, `la-1`, ` LA-0001 `...)."""
    match = re.fullmatch(r"\s*LA-(\d+)\s*", ref, re.IGNORECASE)
    return bool(match) and int(match.group(1)) == 1


CASE_ONE = st.sampled_from(["LA-000001", "LA-1", "la-000001", " LA-000001 ", "LA-000000000001"])
UNKNOWN_CASES = st.one_of(
    st.sampled_from(["LA-999999", "LA-000002", "LA-000000", "LA-999999999999", "LA-1000000000000"]),
    st.integers(2, 10**40).map(lambda n: f"LA-{n:06d}"),
    st.integers(max_value=0).map(lambda n: f"LA-{n}"),
    JUNK.filter(lambda ref: not _names_the_case(ref)),
)
UNKNOWN_ACTORS = not_one_of(list(STAFF))

VALID_NAMES = st.one_of(
    st.sampled_from(
        ["Li Wei", "王小明", "Zoë Ñúñez", "O'Brien", "Ахмед", "'; DROP TABLE cases; --"]
    ),
    st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=60),
)
BAD_NAMES = st.one_of(
    st.text(st.sampled_from(" \t\n\r\x0b\x0c\xa0\u2003\u3000"), max_size=20),  # blank
    st.builds(  # a control or format character inside an otherwise good name
        lambda name, char, at: name[:at] + char + name[at:],
        VALID_NAMES,
        st.characters(categories=["Cc", "Cf", "Zl", "Zp"], exclude_characters="\x00"),
        st.integers(0, 60),
    ),
    st.builds(
        lambda char, n: char * n, st.characters(categories=["L", "N"]), st.integers(201, 10_000)
    ),
    st.sampled_from(["Li \udcff", "\udce6\udc9d\udc8e"]),  # not UTF-8 on the command line
)

BAD_AMOUNTS = st.one_of(
    st.sampled_from(
        [
            "1e309",
            "-1e309",
            "1E+400",
            "NaN",
            "nan",
            "sNaN",
            "-NaN",
            "inf",
            "-Infinity",
            "-0",
            "0",
            "0.00",
            "-0.00",
            "0e10",
            "12.345",
            "0.001",
            "1e-309",
            "-5",
            "1000000.01",
            "1,000,000.01",
            "",
            " ",
            ",",
            ".",
            "4500.5.5",
            "4 500",
            "--5",
            "+-5",
            "0x10",
            "1/2",
            "½",
            "五千",
            "4500元",
            "¥4500",
            "4500\x00",
            "1" * 10_000,
        ]
    ),
    st.integers(max_value=0).map(str),
    st.integers(min_value=1_000_001).map(str),  # over the limit of 1,000,000.00 yuan
    st.integers(16, 400).map(lambda n: str(10**n)),  # far beyond any limit
    st.integers(33, 10_000).map(lambda n: "9" * n),
    st.builds(  # three or more decimals
        lambda whole, fen, extra: f"{whole}.{fen:02d}{extra}",
        st.integers(-1_000_000, 1_000_000),
        st.integers(0, 99),
        st.integers(1, 10**6).filter(lambda n: n % 10 != 0),
    ),
    st.builds(  # a letter that is no exponent: never a finite number
        lambda head, letter, tail: head + letter + tail,
        st.text("0123456789.,-+", max_size=8),
        st.sampled_from("abcdfgijxyzXYZ$¥元"),
        st.text("0123456789.,-+", max_size=8),
    ),
)
GOOD_AMOUNTS = st.one_of(
    st.integers(1, 1_000_000).map(str),
    st.integers(1, 100_000_000).map(lambda fen: f"{fen // 100}.{fen % 100:02d}"),
    st.integers(1_000, 999_999).map(lambda yuan: f"{yuan:,}"),
)
# (customer type, rating, product): combinations the tier policy takes.
GOOD_PROFILES = st.sampled_from(
    [
        ("individual", "good", "small_farmer_credit"),
        ("individual", "general", "small_farmer_credit"),
        ("individual", "excellent", "merchant_loan"),
        ("individual", None, "car_loan"),
        ("corporate", None, "farm_machinery_loan"),
        ("corporate", None, "small_business_loan"),
    ]
)


@st.composite
def good_applications(draw: st.DrawFn) -> dict[str, str | None]:
    """The options of an application the cooperative would take."""
    customer_type, rating, product = draw(GOOD_PROFILES)
    return {
        "--customer": draw(VALID_NAMES),
        "--customer-type": customer_type,
        "--rating": rating,
        "--product": product,
        "--amount": draw(GOOD_AMOUNTS),
        "--term-months": draw(st.none() | st.integers(1, 360).map(str)),
        "--guarantee": draw(st.sampled_from(["credit", "guarantee", "mortgage", "pledge"])),
        "--priority": draw(st.sampled_from(["normal", "vip"])),
    }


# One field made bad; every other field stays good.
BAD_FIELDS: dict[str, st.SearchStrategy[str]] = {
    "--customer": BAD_NAMES,
    "--amount": BAD_AMOUNTS,
    "--customer-type": not_one_of(["individual", "corporate"]),
    "--rating": not_one_of(["general", "good", "excellent"]),
    "--product": not_one_of(PRODUCTS),
    "--guarantee": not_one_of(["credit", "guarantee", "mortgage", "pledge"]),
    "--priority": not_one_of(["normal", "vip"]),
    "--term-months": bad_ints(1, 360),
}
REQUIRED = ["--customer", "--customer-type", "--product", "--amount"]


@st.composite
def bad_applications(draw: st.DrawFn) -> tuple[list[str], str | None]:
    """`apply` arguments and an actor, exactly one thing about them bad."""
    fields = draw(good_applications())
    actor: str | None = draw(st.sampled_from(ACCOUNT_MANAGERS))
    flaw = draw(st.sampled_from([*BAD_FIELDS, "actor", "missing", "rating", "no rating"]))
    if flaw in BAD_FIELDS:
        fields[flaw] = draw(BAD_FIELDS[flaw])
    elif flaw == "actor":  # no account manager: other staff, nobody known, nobody at all
        actor = draw(st.sampled_from([*OTHER_STAFF, ""]) | UNKNOWN_ACTORS)
    elif flaw == "missing":
        fields[draw(st.sampled_from(REQUIRED))] = None
    elif flaw == "rating":  # ratings are for individuals
        fields.update({"--customer-type": "corporate", "--rating": "good"})
    else:  # the graded farm-household credit loan needs a rating
        fields.update({"--customer-type": "individual", "--product": PRODUCTS[0], "--rating": None})
    args = ["apply"]
    for option, value in fields.items():
        if value is not None:
            args += [option, value]
    return args, actor


@st.composite
def bad_actions(draw: st.DrawFn) -> tuple[list[str], str | None]:
    """`act` arguments on the submitted low-risk case 1 and an actor, at least one thing bad."""
    ref, action = draw(CASE_ONE), draw(st.sampled_from(FROM_SUBMITTED))
    actor: str | None = draw(st.sampled_from(ACCOUNT_MANAGERS))
    extra = ["--comment", draw(VALID_NAMES)] if action in NEEDS_COMMENT else []
    flaw = draw(st.sampled_from(["case", "action", "state", "role", "comment", "actor", "vote"]))
    if flaw == "case":
        ref, action = draw(UNKNOWN_CASES), draw(st.sampled_from(ALL_ACTIONS) | JUNK)
    elif flaw == "action":
        action = draw(not_one_of(FROM_SUBMITTED))
    elif flaw == "state":  # a real action, but not one from `submitted`
        action = draw(st.sampled_from(sorted(set(ALL_ACTIONS) - set(FROM_SUBMITTED))))
        actor = draw(st.sampled_from(sorted(STAFF)))
    elif flaw == "role":  # a move from `submitted`, by staff who are not account managers
        actor = draw(st.sampled_from(OTHER_STAFF))
    elif flaw == "comment":  # reject and withdraw must say why
        action = draw(st.sampled_from(NEEDS_COMMENT))
        blank = st.text(st.sampled_from(" \t\n\u3000"), max_size=5).map(lambda c: ["--comment", c])
        extra = draw(st.just([]) | blank)
    elif flaw == "actor":
        actor = draw(st.just("") | UNKNOWN_ACTORS)
    else:  # no step from `submitted` is a vote
        extra = [*extra, "--vote", draw(st.sampled_from(["approve", "reject"]) | JUNK)]
    return ["act", *extra, "--", ref, action], actor


class Branch:
    """A branch's database holding one submitted low-risk case, and its dump."""

    def __init__(self, lf: Loanflow) -> None:
        self.lf = lf
        self.case_id = lf.apply()
        self.before = dump(lf.db_url)

    def __repr__(self) -> str:  # short, for hypothesis's report of a failing example
        return f"Branch({self.lf.db_url!r}, case_id={self.case_id!r})"

    def refuses(self, args: list[str], actor: str | None = None) -> None:
        """Run `loanflow` with `--actor actor` (when not None) and check that it refused."""
        prefix = [] if actor is None else ["--actor", actor]
        # lf() lets any exception but SystemExit escape: that alone fails the example.
        result = self.lf(*prefix, *args)
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        assert result.exit_code in (1, 2), result.output
        assert "Traceback" not in result.output
        assert dump(self.lf.db_url) == self.before


@pytest.fixture
def branch(lf: Loanflow) -> Branch:
    branch = Branch(lf)
    assert branch.case_id == "LA-000001"
    return branch


@BAD_INPUT
@given(bad=bad_applications())
def test_an_application_with_one_bad_field_is_refused(
    branch: Branch, bad: tuple[list[str], str | None]
) -> None:
    branch.refuses(*bad)


@BAD_INPUT
@given(bad=bad_actions())
def test_an_action_on_an_unknown_case_or_by_the_wrong_person_is_refused(
    branch: Branch, bad: tuple[list[str], str | None]
) -> None:
    branch.refuses(*bad)


@BAD_INPUT
@given(
    command=st.sampled_from(
        [["show"], ["show", "--graph", "dot"], ["history"], ["documents"], ["audit", "replay"]]
    ),
    ref=UNKNOWN_CASES,
    actor=st.none() | st.sampled_from(sorted(STAFF)),
)
def test_reading_an_unknown_case_is_refused(
    branch: Branch, command: list[str], ref: str, actor: str | None
) -> None:
    branch.refuses([*command, "--", ref], actor)


@BAD_INPUT
@given(graph=not_one_of(["mermaid", "dot"]).filter(lambda g: not g.startswith("-")))
def test_an_unknown_graph_format_is_refused(branch: Branch, graph: str) -> None:
    branch.refuses(["show", branch.case_id, "--graph", graph])


def _iso(text: str) -> bool:
    try:
        datetime.fromisoformat(text.strip())
    except ValueError:
        return False
    return True


# Times no UTC clock can show: before year 1 or after year 9999 once the offset is applied
# (naive times are in Asia/Shanghai, +08:05:43 in year 1).
UNREPRESENTABLE = st.one_of(
    st.datetimes(max_value=datetime(1, 1, 1, 8, 5)).map(datetime.isoformat),
    st.datetimes(min_value=datetime(9999, 12, 31, 12, 1)).map(lambda d: f"{d.isoformat()}-12:00"),
)
BAD_MOMENTS = st.one_of(
    st.sampled_from(["tomorrow", "2026-13-01", "2026-02-30T09:00", "2026-11-02T25:00", "now"]),
    JUNK.filter(lambda text: not _iso(text)),
    UNREPRESENTABLE,
)


@BAD_INPUT
@given(
    args=st.one_of(
        BAD_MOMENTS.map(lambda moment: ["escalate", "--now", moment]),
        bad_ints(1, 10_000).map(lambda size: ["escalate", "--batch-size", size]),
    ),
    actor=st.none() | st.sampled_from(sorted(STAFF)),
)
def test_a_sweep_at_a_bad_moment_or_batch_size_is_refused(
    branch: Branch, args: list[str], actor: str | None
) -> None:
    branch.refuses(args, actor)


@BAD_INPUT
@given(
    args=st.one_of(
        BAD_MOMENTS.map(lambda moment: ["audit", "replay", "LA-000001", "--at", moment]),
        BAD_MOMENTS.map(lambda moment: ["audit", "export", "--since", moment]),
    )
)
def test_an_audit_at_a_bad_moment_is_refused(branch: Branch, args: list[str]) -> None:
    branch.refuses(args, "audit1")


@BAD_INPUT
@given(
    args=st.one_of(
        bad_ints(1, 10_000).map(lambda limit: ["list", "--limit", limit]),
        bad_ints(1, 10_000).map(lambda limit: ["inbox", "--limit", limit]),
        not_one_of(["low", "medium", "high"]).map(lambda tier: ["list", "--tier", tier]),
    ),
    actor=st.none() | st.sampled_from(sorted(STAFF)),
)
def test_listing_with_an_out_of_range_limit_or_unknown_tier_is_refused(
    branch: Branch, args: list[str], actor: str | None
) -> None:
    branch.refuses(args, actor)


FRESH_NAMES = VALID_NAMES.filter(lambda name: name.strip() not in {*STAFF, "system"})
# User names and branches are stripped first, so a control character must be inside one.
BAD_USER_NAMES = st.one_of(
    st.text(st.sampled_from(" \t\n\r\x0b\x0c\x1f\x85\xa0\u2003\u3000"), max_size=20),  # blank
    st.sampled_from(["system", " system ", "Li \udcff Wei", "\udce6\udc9d\udc8e"]),
    st.builds(
        lambda name, char: f"{name}{char}x",
        VALID_NAMES,
        st.characters(categories=["Cc", "Cf", "Zl", "Zp"], exclude_characters="\x00"),
    ),
    st.builds(lambda char, n: char * n, st.characters(categories=["L"]), st.integers(65, 10_000)),
)
TAKEN_NAMES = st.builds(
    lambda name, pad: f"{pad}{name}{pad}",
    st.sampled_from(sorted(STAFF)),
    st.sampled_from(["", " ", "\t"]),
)


@st.composite
def bad_users(draw: st.DrawFn) -> tuple[list[str], str | None]:
    """`user add` arguments and an actor, exactly one thing about them bad."""
    name = draw(FRESH_NAMES)
    roles = draw(st.lists(st.sampled_from(ROLES[:-2]), min_size=1, max_size=3))
    branch_name = draw(st.none() | FRESH_NAMES)
    actor = draw(st.none() | st.sampled_from(sorted(set(STAFF) - {"audit1"})))
    flaw = draw(st.sampled_from(["role", "no role", "auditor", "name", "branch", "actor"]))
    if flaw == "role":
        roles = [*roles, draw(not_one_of(ROLES))]
    elif flaw == "no role":
        roles = []
    elif flaw == "auditor":  # held alone
        roles = [*roles, "auditor"]
    elif flaw == "name":
        name = draw(BAD_USER_NAMES | TAKEN_NAMES)
    elif flaw == "branch":
        branch_name = draw(BAD_USER_NAMES)
    else:  # auditors change nothing, users included
        actor = "audit1"
    args = ["user", "add", *[a for role in roles for a in ("--role", role)]]
    if branch_name is not None:
        args += ["--branch", branch_name]
    return [*args, "--", name], actor


@BAD_INPUT
@given(bad=bad_users())
def test_adding_a_user_with_a_bad_role_name_or_branch_is_refused(
    branch: Branch, bad: tuple[list[str], str | None]
) -> None:
    branch.refuses(*bad)


def _zone(key: str) -> bool:
    try:
        ZoneInfo(key)
    except Exception:  # any failure means there is no such zone
        return False
    return True


@BAD_INPUT
@given(
    tz=st.one_of(
        st.sampled_from(["Mars/Olympus_Mons", "Asia", "../etc/passwd", "/etc/localtime", "+08:00"]),
        JUNK.filter(lambda key: not _zone(key)),
    ),
    command=st.sampled_from(
        [["list"], ["show", "LA-000001"], ["act", "LA-000001", "grant_credit"]]
    ),
)
def test_an_unknown_time_zone_is_refused_before_the_command_runs(
    branch: Branch, tz: str, command: list[str]
) -> None:
    branch.refuses(["--tz", tz, *command], "wang")

"""Intake rules: parse amounts exactly and classify an application into its risk tier."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from workflow.errors import InvalidInput
from workflow.spec import TierPolicy

CUSTOMER_TYPES = ("individual", "corporate")
PRIORITIES = ("normal", "vip")
_MAX_AMOUNT_CHARS = 32
_MAX_DIGITS = 15  # whole-yuan digits; keeps quantize() within Decimal's precision


@dataclass(frozen=True)
class Application:
    """What an account manager takes down from the customer."""

    customer_name: str
    customer_type: str
    rating: str | None
    product: str
    guarantee: str
    amount_fen: int
    term_months: int | None
    priority: str


def parse_amount(text: str) -> int:
    """Yuan as typed by a person (`4500`, `4500.5`, `4,500.50`) into exact integer fen.

    Raises:
        InvalidInput: not a finite number, or more than two decimals.
    """
    cleaned = text.strip().replace(",", "")
    if not cleaned or len(cleaned) > _MAX_AMOUNT_CHARS:
        raise InvalidInput("amount", text, "expected yuan with at most two decimals, e.g. 4500.00")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InvalidInput("amount", text, "not a number; give yuan, e.g. 4500.00") from None
    if not value.is_finite():
        raise InvalidInput("amount", text, "not a finite number")
    if value.adjusted() > _MAX_DIGITS:
        raise InvalidInput("amount", text, "far beyond any loan limit")
    if value != value.quantize(Decimal("0.01"), rounding="ROUND_DOWN"):
        raise InvalidInput("amount", text, "more than two decimals (amounts are yuan and fen)")
    return int(value * 100)


def format_fen(amount_fen: int) -> str:
    """Integer fen as yuan with two decimals (`450000` -> `4500.00`)."""
    sign = "-" if amount_fen < 0 else ""
    yuan, fen = divmod(abs(amount_fen), 100)
    return f"{sign}{yuan}.{fen:02d}"


def check_application(app: Application, policy: TierPolicy) -> None:
    """Refuse an application the cooperative cannot take, naming the field.

    Raises:
        InvalidInput: unknown customer type, rating, product, guarantee or priority; an amount
            outside (0, max]; a missing rating on the graded farm-household credit loan.
    """
    _one_of("customer type", app.customer_type, CUSTOMER_TYPES)
    _one_of("product", app.product, policy.products)
    _one_of("guarantee", app.guarantee, policy.guarantees)
    _one_of("priority", app.priority, PRIORITIES)
    if not app.customer_name.strip() or not app.customer_name.isprintable():
        raise InvalidInput(
            "customer", app.customer_name, "a name of printable characters is required"
        )
    if len(app.customer_name) > 200:
        raise InvalidInput("customer", app.customer_name, "at most 200 characters")
    if app.term_months is not None and not 1 <= app.term_months <= 360:
        raise InvalidInput("term", app.term_months, "months must be from 1 to 360")
    if app.amount_fen <= 0:
        raise InvalidInput("amount", format_fen(app.amount_fen), "must be above zero")
    if app.amount_fen > policy.max_amount_fen:
        limit = format_fen(policy.max_amount_fen)
        raise InvalidInput("amount", format_fen(app.amount_fen), f"over the limit of {limit} yuan")
    if app.customer_type == "corporate" and app.rating is not None:
        raise InvalidInput("rating", app.rating, "ratings are for individual customers only")
    if app.rating is not None:
        _one_of("rating", app.rating, tuple(policy.rating_caps_fen))
    if _is_graded_credit(app, policy) and app.rating is None:
        raise InvalidInput(
            "rating",
            None,
            f"{policy.low_product} for an individual needs --rating "
            f"({'|'.join(policy.rating_caps_fen)})",
        )


def classify(app: Application, policy: TierPolicy) -> str:
    """The risk tier of a checked application: `low`, `medium` or `high` (DOMAIN.md section 2)."""
    if app.amount_fen > policy.medium_cap_fen:
        return "high"
    if app.customer_type == "individual" and app.guarantee == policy.low_guarantee:
        cap = policy.rating_caps_fen.get(app.rating or "")
        if app.product == policy.low_product and cap is not None and app.amount_fen <= cap:
            return "low"
    return "medium"


def _is_graded_credit(app: Application, policy: TierPolicy) -> bool:
    return app.customer_type == "individual" and app.product == policy.low_product


def _one_of(field: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise InvalidInput(field, value, f"expected one of {', '.join(allowed)}")

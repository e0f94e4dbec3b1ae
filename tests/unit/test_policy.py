"""The tier policy of DOMAIN.md section 2 at every boundary, and exact amounts."""

from __future__ import annotations

import pytest

from definitions.loader import bundled_sources, load
from workflow.errors import InvalidInput
from workflow.policy import Application, check_application, classify, parse_amount
from workflow.spec import TierPolicy


@pytest.fixture(scope="module")
def policy() -> TierPolicy:
    spec = load(next(s for s in bundled_sources() if s.file == "tier_policy.yaml"))
    assert isinstance(spec, TierPolicy)
    return spec


def app(
    amount: str,
    customer_type: str = "individual",
    rating: str | None = "general",
    product: str = "small_farmer_credit",
    guarantee: str = "credit",
) -> Application:
    return Application(
        "Li Wei", customer_type, rating, product, guarantee, parse_amount(amount), None, "normal"
    )


@pytest.mark.parametrize(
    ("rating", "amount", "tier"),
    [
        ("general", "0.01", "low"),
        ("general", "3000.00", "low"),
        ("general", "3000.01", "medium"),
        ("good", "5000.00", "low"),
        ("good", "5000.01", "medium"),
        ("excellent", "10000.00", "low"),
        ("excellent", "10000.01", "medium"),
        ("excellent", "100000.00", "medium"),
        ("excellent", "100000.01", "high"),
        ("general", "1000000.00", "high"),
    ],
)
def test_individual_graded_credit_follows_the_rating_caps(
    policy: TierPolicy, rating: str, amount: str, tier: str
) -> None:
    application = app(amount, rating=rating)
    check_application(application, policy)
    assert classify(application, policy) == tier


@pytest.mark.parametrize(
    ("amount", "tier"),
    [("0.01", "medium"), ("100000.00", "medium"), ("100000.01", "high"), ("1000000.00", "high")],
)
def test_corporate_customers_are_medium_up_to_the_cap_then_high(
    policy: TierPolicy, amount: str, tier: str
) -> None:
    application = app(amount, "corporate", None, "small_business_loan", "mortgage")
    check_application(application, policy)
    assert classify(application, policy) == tier


@pytest.mark.parametrize(
    ("product", "guarantee"),
    [("merchant_loan", "credit"), ("small_farmer_credit", "guarantee"), ("car_loan", "pledge")],
)
def test_other_products_or_guarantees_from_individuals_start_at_medium(
    policy: TierPolicy, product: str, guarantee: str
) -> None:
    application = app("1000", rating="excellent", product=product, guarantee=guarantee)
    assert classify(application, policy) == "medium"


def test_an_unrated_individual_on_another_product_is_medium(policy: TierPolicy) -> None:
    application = app("50000", rating=None, product="merchant_loan", guarantee="guarantee")
    check_application(application, policy)
    assert classify(application, policy) == "medium"


@pytest.mark.parametrize(
    ("application", "field"),
    [
        (app("1000000.01"), "amount"),
        (app("0"), "amount"),
        (app("-5"), "amount"),
        (app("1000", rating=None), "rating"),
        (app("1000", product="gold_loan"), "product"),
        (app("1000", "corporate", "good", "small_business_loan"), "rating"),
    ],
)
def test_applications_the_cooperative_cannot_take_are_refused_naming_the_field(
    policy: TierPolicy, application: Application, field: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_application(application, policy)
    assert refused.value.field == field


@pytest.mark.parametrize(
    ("text", "fen"),
    [
        ("4500", 450000),
        ("4500.5", 450050),
        ("4,500.50", 450050),
        ("0.01", 1),
        ("-0", 0),
        ("1000000.00", 100000000),
    ],
)
def test_amounts_are_parsed_exactly_into_fen(text: str, fen: int) -> None:
    assert parse_amount(text) == fen


@pytest.mark.parametrize("text", ["12.345", "abc", "", "NaN", "inf", "1e309", "0.001", "1" * 40])
def test_amounts_that_are_not_yuan_and_fen_are_refused(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_amount(text)

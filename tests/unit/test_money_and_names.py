"""Money and name rules from the contract, without Ray."""

from decimal import Decimal

import pytest

from raybank.domain.errors import InvalidInput
from raybank.domain.names import validate_name, validate_op_id
from raybank.domain.money import format_money, parse_amount, parse_balance


@pytest.mark.parametrize("text, expected", [
    ("1", "1.00"), ("12.5", "12.50"), ("0.01", "0.01"), ("1000000000000.00", "1000000000000.00"),
    ("007.10", "7.10"),
])
def test_valid_amounts_are_exact_decimals(text, expected):
    value = parse_amount(text)
    assert isinstance(value, Decimal) and format_money(value) == expected


@pytest.mark.parametrize("text", [
    "1e3", "nan", "inf", "-5", "0", "0.00", "0.001", "12,50", "abc", "", " 5", "5 ", "+5",
    "1000000000000.01", "1_000", "٣", "0x10", ".5", "5.",
])
def test_invalid_amounts_exit_2(text):
    with pytest.raises(InvalidInput) as raised:
        parse_amount(text)
    assert raised.value.exit_code == 2 and raised.value.code == "invalid-amount"


def test_balances_allow_zero_and_minimums_allow_negative():
    assert parse_balance("0") == Decimal("0.00")
    assert parse_balance("-20.5", allow_negative=True) == Decimal("-20.50")
    with pytest.raises(InvalidInput):
        parse_balance("-1")
    with pytest.raises(InvalidInput):
        parse_balance("-1000000000000.01", allow_negative=True)


def test_money_formats_with_two_digits():
    assert format_money(Decimal("130")) == "130.00"
    assert format_money(Decimal("-0.5")) == "-0.50"


@pytest.mark.parametrize("name", ["a", "Alice_1", "x.y-z", "9" * 64, "_hidden"])
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", [
    "", ".", "..", "../etc", "a/b", "-x", ".x", "a" * 65, "a b", "é", "a\x00", "a:b",
])
def test_invalid_names_exit_2(name):
    with pytest.raises(InvalidInput) as raised:
        validate_name(name)
    assert raised.value.exit_code == 2


def test_user_op_ids_cannot_look_like_transfer_legs():
    assert validate_op_id("retry-7") == "retry-7"
    with pytest.raises(InvalidInput):
        validate_op_id("t1:hold")


@pytest.mark.parametrize("text", ["-0", "-0.0", "-0.00", "0", "-00.00"])
def test_a_negative_zero_minimum_is_plain_zero(text):
    assert format_money(parse_balance(text, what="minimum balance", allow_negative=True)) == "0.00"

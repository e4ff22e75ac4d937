"""The Python API's edges without Ray: money it accepts, and typed results read from the
contract's objects."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

import raybank
from raybank.api.amounts import amount, balance
from raybank.domain.errors import InvalidAmount
from raybank.service import results


@pytest.mark.parametrize("value, expected", [
    (5, "5.00"), ("12.5", "12.50"), (Decimal("0.01"), "0.01"), (Decimal("1E+2"), "100.00"),
])
def test_amounts_accept_decimal_str_and_int(value: object, expected: str) -> None:
    assert amount(value) == Decimal(expected)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [1.5, True, None, [1]])
def test_a_float_or_anything_else_is_a_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="Decimal, str or int"):
        amount(value)  # type: ignore[arg-type]


def test_amounts_follow_the_command_lines_rules() -> None:
    with pytest.raises(InvalidAmount):
        amount(0)
    with pytest.raises(InvalidAmount):
        amount("1.234")
    assert balance(-5, "minimum balance", allow_negative=True) == Decimal("-5.00")
    with pytest.raises(InvalidAmount):
        balance(-5, "opening balance")


def test_errors_are_importable_from_the_package_with_code_and_exit_code() -> None:
    assert raybank.InsufficientFunds.code == "insufficient-funds"
    assert raybank.InsufficientFunds.exit_code == 1
    assert raybank.AccountNotFound.exit_code == 3
    assert issubclass(raybank.StorageCorrupt, raybank.BankError)
    assert "connect" in dir(raybank)
    with pytest.raises(AttributeError):
        raybank.no_such_thing  # noqa: B018


def test_typed_results_read_the_contracts_objects() -> None:
    account = results.Account.from_contract(
        {"name": "a", "balance": "10.00", "min_balance": Decimal("-5.00"), "duplicate": True})
    assert account == results.Account("a", Decimal("10.00"), Decimal("-5.00"), duplicate=True)
    event = results.Event.from_contract(
        {"seq": 1, "op_id": "x", "type": "created", "amount": None, "balance": "1.00",
         "at": "2026-11-22T10:00:00+00:00", "min_balance": "0.00"})
    assert event.amount is None and isinstance(event.at, datetime)
    assert event.extra == {"min_balance": "0.00"}
    listing = results.Listing.from_contract({
        "accounts": [{"name": "a", "balance": "1.00", "min_balance": "0.00",
                      "actor": {"state": "INACTIVE", "pid": None, "node_id": None,
                                "restarts": 0, "host": "raybank:host-0"}}],
        "total": "1.00", "count": 1})
    assert listing.accounts[0].actor.extra == {"host": "raybank:host-0"}
    assert listing.extra == {"count": 1} and listing.total == Decimal("1.00")


@pytest.mark.parametrize("kind, data", [
    (results.Account, {"name": "a", "balance": Decimal("1.00"), "min_balance": Decimal("0.00")}),
    (results.Account, {"name": "a", "balance": Decimal("1.00"), "min_balance": Decimal("0.00"),
                       "held": Decimal("0.50")}),
    (results.Account, {"name": "a", "balance": Decimal("1.00"), "min_balance": Decimal("0.00"),
                       "duplicate": True}),
    (results.Transfer, {"transfer_id": "t", "amount": Decimal("2.00"),
                        "from": {"name": "a", "balance": Decimal("1.00"),
                                 "min_balance": Decimal("0.00")},
                        "to": {"name": "b", "balance": Decimal("2.00"),
                               "min_balance": Decimal("0.00")}, "duplicate": True}),
    (results.Listing, {"accounts": [
        {"name": "a", "balance": Decimal("1.00"), "min_balance": Decimal("0.00"),
         "actor": {"state": "ALIVE", "pid": 7, "node_id": "n", "restarts": 1},
         "calls": {"summary": 2}},
        {"name": "b", "balance": Decimal("1.00"), "min_balance": Decimal("0.00"),
         "actor": {"state": "INACTIVE", "pid": None, "node_id": None, "restarts": 0}}],
        "total": Decimal("2.00")}),
    (results.History, {"name": "a", "events": [
        {"seq": 1, "op_id": "x", "type": "created", "amount": None,
         "balance": Decimal("1.00"), "at": "2026-11-22T10:00:00.000000+00:00",
         "min_balance": "0.00"}]}),
    (results.Kill, {"name": "a", "before": {"name": "a", "balance": Decimal("1.00"),
                                            "min_balance": Decimal("0.00"),
                                            "actor": {"state": "ALIVE", "pid": 1,
                                                      "node_id": "n", "restarts": 0}},
                    "after": None, "restarted": False, "recovered": True}),
    (results.Verification, {"ok": False, "checked": 2, "mismatches": [
        {"name": "a", "stored": Decimal("1.00"), "live": Decimal("2.00"), "what": "balance"}]}),
])
def test_each_result_reads_and_writes_the_contracts_object_unchanged(
        kind: type, data: dict) -> None:
    """The CLI prints ``to_contract()``: it must be the object the typed result was read
    from, key order included (scripts diff JSON output)."""
    written = kind.from_contract(data).to_contract()
    assert written == data and list(written) == list(data)

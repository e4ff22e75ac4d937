"""Exact money: parsing user input and formatting for people and JSON.

Money is ``decimal.Decimal`` quantized to cents everywhere; ``float`` never touches it.
"""

from __future__ import annotations

import re
from decimal import Decimal

from raybank.domain.errors import InvalidAmount

CENT = Decimal("0.01")
MAX_AMOUNT = Decimal("1000000000000.00")
ZERO = Decimal("0.00")

# Plain decimal notation only: no exponent, sign, grouping or special values.
_AMOUNT = re.compile(r"[0-9]{1,13}(\.[0-9]{1,2})?")
_SIGNED_AMOUNT = re.compile(r"-?[0-9]{1,13}(\.[0-9]{1,2})?")
# What format_money writes, and so the only money storage accepts: exactly 2 fraction
# digits, no leading zeros, at most 28 digits (Decimal's default precision: sums stay exact).
_STORED = re.compile(r"-?(0|[1-9][0-9]{0,25})\.[0-9]{2}")


def parse_amount(text: str) -> Decimal:
    """Parse an amount a command moves: greater than 0, at most 1e12, 2 fraction digits."""
    if not isinstance(text, str) or not _AMOUNT.fullmatch(text):
        raise InvalidAmount(
            f"invalid amount {text!r}: use a plain decimal like 12.50 (at most 2 fraction digits)",
        )
    value = Decimal(text).quantize(CENT)
    if value <= 0 or value > MAX_AMOUNT:
        raise InvalidAmount(
            f"invalid amount {text!r}: must be greater than 0 and at most {MAX_AMOUNT}",
        )
    return value


def parse_balance(text: str, *, what: str = "balance", allow_negative: bool = False) -> Decimal:
    """Parse an opening or minimum balance: zero allowed, negative only for minimums."""
    pattern = _SIGNED_AMOUNT if allow_negative else _AMOUNT
    if not isinstance(text, str) or not pattern.fullmatch(text):
        raise InvalidAmount(
            f"invalid {what} {text!r}: use a plain decimal like 12.50 (at most 2 fraction digits)",
        )
    value = Decimal(text).quantize(CENT)
    if abs(value) > MAX_AMOUNT:
        raise InvalidAmount(f"invalid {what} {text!r}: at most {MAX_AMOUNT}")
    return value if value else ZERO  # "-0" is zero, never a stored "-0.00"


def parse_stored(value: object) -> Decimal:
    """Parse money read back from storage; ValueError unless it is what format_money writes.

    A "-0.00" written by older versions reads as zero.
    """
    if not isinstance(value, str) or not _STORED.fullmatch(value):
        raise ValueError(f"not a stored money value: {value!r}")
    amount = Decimal(value)
    return amount if amount else ZERO


def format_money(value: Decimal) -> str:
    """Render money with exactly two fraction digits: ``Decimal('130') -> '130.00'``."""
    return str(value.quantize(CENT))

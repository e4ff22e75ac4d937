"""Money from Python callers: ``Decimal``, ``str`` or ``int``, never ``float``.

A float cannot hold most cent amounts exactly (0.1 + 0.2 != 0.3), so accepting one would
let a rounding error into a ledger that promises exact money: it is a ``TypeError``, raised
before anything is sent. Every accepted value is turned into the text the command line
would have been given, and parsed by the same rules (raybank.domain.money).
"""

from __future__ import annotations

from decimal import Decimal

from raybank.domain.money import parse_amount, parse_balance

Money = Decimal | str | int


def as_text(value: Money, what: str) -> str:
    """The command-line text of ``value``; TypeError for a float, a bool or anything else."""
    if isinstance(value, bool) or not isinstance(value, (Decimal, str, int)):
        kind = type(value).__name__
        hint = (" (floats cannot hold cents exactly: pass Decimal('12.50') or '12.50')"
                if isinstance(value, float) else "")
        raise TypeError(f"{what} must be a Decimal, str or int, not {kind}{hint}")
    if isinstance(value, Decimal):
        return format(value, "f")  # never an exponent: Decimal('1E+2') is '100'
    return str(value)


def amount(value: Money) -> Decimal:
    """An amount a command moves: greater than 0, at most 2 fraction digits."""
    return parse_amount(as_text(value, "amount"))


def balance(value: Money, what: str, *, allow_negative: bool = False) -> Decimal:
    """An opening or minimum balance (a minimum may be negative: an overdraft limit)."""
    return parse_balance(as_text(value, what), what=what, allow_negative=allow_negative)

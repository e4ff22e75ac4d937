"""raybank: a banking simulator built on Ray actors, from the shell or from Python.

    import raybank
    with raybank.connect() as bank:
        bank.create("alice", balance="100.00")

``connect`` and the error classes (``raybank.InsufficientFunds``, ``raybank.AccountNotFound``,
..., every one with ``.code`` and ``.exit_code``) are loaded on first use: the command line
imports this package too, and must not pay for Ray or the service when it does not need them.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name in ("connect", "BankConnection"):
        from raybank import api

        return getattr(api, name)
    if name in _error_names():
        from raybank.domain import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'raybank' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "connect", "BankConnection", *_error_names()])


def _error_names() -> list[str]:
    from raybank.domain import errors

    return [name for name, value in vars(errors).items()
            if isinstance(value, type) and issubclass(value, errors.BankError)]

"""``raybank.connect()``: the same bank as the command line, as a Python object.

A connection makes this process a Ray driver of raybank's cluster (the embedded one, started
if need be, or ``address``) and then calls the service exactly as the commands do: the same
validation, the same op ids, the same data. What differs is only the edges a library needs:
results are typed (raybank.service.results), errors are raised rather than printed, and
nothing touches the process's stdout or ends it, so it works inside Jupyter.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

from raybank.api import amounts
from raybank.api.amounts import Money
from raybank.domain.errors import BankError, InvalidHome, InvalidOption
from raybank.domain.names import new_op_id, validate_name, validate_namespace, validate_op_id
from raybank.service import results

if TYPE_CHECKING:
    from raybank.service.bank import Bank

DEFAULT_HOME = "~/.raybank"
DEFAULT_NAMESPACE = "raybank"
STORAGE_KINDS = ("journal", "snapshot")
T = TypeVar("T")


def connect(home: str | os.PathLike[str] | None = None, namespace: str | None = None,
            address: str | None = None, *, persistence: str | None = None
            ) -> BankConnection:
    """Attach to raybank's cluster and return the bank of ``namespace``.

    Defaults are the command line's: RAYBANK_HOME (else ~/.raybank), RAYBANK_NAMESPACE (else
    "raybank"), RAY_ADDRESS (else raybank's embedded cluster, started if it is not running).
    """
    from raybank.cluster.embedded import Home, attach

    folder = Path(home or os.environ.get("RAYBANK_HOME") or DEFAULT_HOME)
    try:
        folder = folder.expanduser().absolute()
    except RuntimeError as error:  # ~user of no such user
        raise InvalidHome(f"invalid home {str(folder)!r}: {error}") from None
    chosen = validate_namespace(namespace or os.environ.get("RAYBANK_NAMESPACE")
                                or DEFAULT_NAMESPACE)
    was_driver = _is_driver()
    attach(Home(folder).ensure(), address or os.environ.get("RAY_ADDRESS") or None, chosen)
    from raybank.service.bank import Bank  # imports Ray: only once attach set its auth

    return BankConnection(Bank(folder, chosen, persistence), owns_driver=not was_driver)


def _is_driver() -> bool:
    import sys

    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


class BankConnection:
    """A namespace's accounts, reached from Python; methods named after the commands.

    Mutating methods take ``op_id`` (default: a fresh one): repeating a call with the same
    op id applies it once and answers the first result with ``duplicate=True``. Every error
    is the command line's (``raybank.InsufficientFunds``, ...), with ``.code``,
    ``.exit_code`` and, for a change, ``.op_id``; on ``may_have_applied`` repeat the call
    with that op id.
    """

    def __init__(self, bank: Bank, *, owns_driver: bool) -> None:
        self._bank: Bank | None = bank
        self._owns_driver = owns_driver
        self.home = bank.home
        self.namespace = bank.namespace

    # -- commands that change accounts -----------------------------------------------------
    def create(self, name: str, balance: Money = "0", min_balance: Money = "0",
               op_id: str | None = None, *, storage: str | None = None) -> results.Account:
        """Open an account; a balance below the minimum is refused (BelowMinimum)."""
        def run(op: str) -> results.Account:
            account = validate_name(name)
            opening = amounts.balance(balance, "opening balance")
            minimum = amounts.balance(min_balance, "minimum balance",
                                      allow_negative=True)
            if storage is not None and storage not in STORAGE_KINDS:
                raise InvalidOption(f"invalid storage {storage!r}: use one of "
                                    f"{', '.join(STORAGE_KINDS)}")
            return self._service.create(account, opening, minimum, op, storage)

        return _changing(op_id, run)

    def deposit(self, name: str, amount: Money, op_id: str | None = None) -> results.Account:
        """Add money to an account."""
        return _changing(op_id, lambda op: self._service.deposit(
            validate_name(name), amounts.amount(amount), op))

    def withdraw(self, name: str, amount: Money, op_id: str | None = None) -> results.Account:
        """Take money; the balance may not fall below the minimum (InsufficientFunds)."""
        return _changing(op_id, lambda op: self._service.withdraw(
            validate_name(name), amounts.amount(amount), op))

    def transfer(self, source: str, target: str, amount: Money, op_id: str | None = None
                 ) -> results.Transfer:
        """Move money atomically from ``source`` to ``target``; ``op_id`` is its id."""
        return _changing(op_id, lambda op: self._service.transfer(
            validate_name(source), validate_name(target), amounts.amount(amount), op),
            transfer=True)

    # -- reading ---------------------------------------------------------------------------
    def balance(self, name: str) -> results.Account:
        return self._service.balance(validate_name(name))

    def accounts(self, limit: int | None = None) -> results.Listing:
        """Every account with its actor (only the first ``limit`` by name, if given), and
        the total and ``count`` of them all at one consistent cut."""
        return self._service.accounts(_limit(limit, least=1))

    def history(self, name: str, limit: int | None = None) -> results.History:
        """The account's events, oldest first (only the last ``limit`` if given)."""
        return self._service.history(validate_name(name), _limit(limit, least=0))

    def verify(self, name: str | None = None) -> results.Verification:
        """Rebuild each account (or one) from storage alone and compare with its actor."""
        account = None if name is None else validate_name(name)
        return self._service.verify(account)

    # -- actors ----------------------------------------------------------------------------
    def kill(self, name: str, restart: bool = False) -> results.Kill:
        """Kill the account's actor; with ``restart`` let Ray bring it back from storage."""
        return self._service.kill(validate_name(name), restart)

    # -- the connection --------------------------------------------------------------------
    @property
    def _service(self) -> Bank:
        if self._bank is None:
            raise RuntimeError("this raybank connection is closed")
        return self._bank

    def close(self) -> None:
        """Detach: the accounts, their actors and the cluster keep running. Ray is shut down
        in this process only if ``connect`` made it a driver."""
        if self._bank is None:
            return
        self._bank = None
        if self._owns_driver:
            import ray

            ray.shutdown()

    def __enter__(self) -> BankConnection:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._bank is None else "open"
        return f"<raybank connection {self.namespace!r} at {str(self.home)!r} ({state})>"


def _changing(op_id: str | None, run: Callable[[str], T], *, transfer: bool = False) -> T:
    """Run a change under its op id, settled first; every BankError it raises names it."""
    op = new_op_id() if op_id is None else validate_op_id(op_id)
    try:
        return run(op)
    except BankError as error:
        raise error.about(op, transfer_id=op if transfer else None) from None


def _limit(limit: int | None, least: int) -> int | None:
    """A ``limit`` argument: None, or a whole number of at least ``least``."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                              or limit < least):
        raise InvalidOption(f"invalid limit {limit!r}: use a whole number, {least} or more")
    return limit

"""The one error hierarchy of raybank.

Every failure a user can see is a ``BankError``. Each class carries the exit code of the
command-line contract and a kebab-case ``code`` for JSON; the CLI maps them in one place.
Errors pickle by their ``args`` so that they cross Ray's process boundary intact.
"""

from __future__ import annotations


class BankError(Exception):
    """Base of every error raybank reports to a user."""

    exit_code = 4
    code = "error"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message, code)  # both in args, so the error pickles across Ray
        if code:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])

    def __str__(self) -> str:
        return self.message


class RuleViolation(BankError):
    """Refused by the bank's rules (exit 1): funds, minimum balance, duplicates."""

    exit_code = 1
    code = "rule-violation"


class InvalidInput(BankError):
    """The command's input is malformed (exit 2): amount, name, option."""

    exit_code = 2
    code = "invalid-input"


class AccountNotFound(BankError):
    """No account by that name (exit 3)."""

    exit_code = 3
    code = "account-not-found"


class InfrastructureError(BankError):
    """The cluster or storage failed (exit 4); the command may not have run."""

    exit_code = 4
    code = "infrastructure"


class StorageError(InfrastructureError):
    """Stored state is missing, unreadable, corrupt or unwritable. Names the file."""

    code = "storage-error"


class ClusterUnavailable(InfrastructureError):
    """The Ray cluster cannot be reached or started."""

    code = "cluster-unavailable"


def unwrap_remote(error: Exception) -> BankError:
    """The BankError an actor raised, out of Ray's wrapper; anything else is infrastructure.

    Ray re-raises an actor's exception wrapped in a RayTaskError whose ``cause`` is the
    original; reading the attribute keeps this module free of Ray.
    """
    cause = getattr(error, "cause", None)
    if isinstance(cause, BankError):
        return cause
    return InfrastructureError(f"actor failed: {cause or error}", "actor-failed")

"""The one error hierarchy of raybank.

Every failure a user can see is a ``BankError``. Each class carries the exit code of the
command-line contract and a kebab-case ``code`` for JSON; the CLI maps them in one place.
Errors pickle by their ``args`` so that they cross Ray's process boundary intact.
"""

from __future__ import annotations

from typing import Any


class BankError(Exception):
    """Base of every error raybank reports to a user.

    An error of a mutating command also says which op id it was about (``op_id``, and
    ``transfer_id`` for transfers), so that a script can repeat it safely, and whether the
    change may have happened anyway (``may_have_applied``): never for exits 1-3, which
    change nothing; for exit 4 unless raybank knows it did not (``not_applied``).
    Instance attributes travel with the error through pickling (Ray) like its args.
    """

    exit_code = 4
    code = "error"

    def __init__(self, message: str, code: str | None = None, *,
                 not_applied: bool = False) -> None:
        super().__init__(message, code)  # both in args, so the error pickles across Ray
        if code:
            self.code = code
        self.op_id: str | None = None
        self.transfer_id: str | None = None
        self.not_applied = not_applied

    @property
    def may_have_applied(self) -> bool:
        return self.exit_code == 4 and not self.not_applied

    def about(self, op_id: str, transfer_id: str | None = None) -> BankError:
        """Mark this error as the outcome of the command with ``op_id``; returns self."""
        self.op_id = op_id
        self.transfer_id = transfer_id
        return self

    def explained(self) -> str:
        """The message for people, with what a script must do about the op id."""
        if self.op_id is None:
            return self.message
        if self.may_have_applied:
            return (f"{self.message} (op id {self.op_id}: it may have been applied; repeat "
                    f"with --op-id {self.op_id} to apply it exactly once)")
        if self.exit_code == 4:
            return f"{self.message} (op id {self.op_id}: not applied)"
        return f"{self.message} (op id {self.op_id})"

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


_DETAIL_CHARS = 300  # of an unexpected exception's text, in its one-line message


class InternalError(InfrastructureError):
    """An exception raybank did not expect (a bug): exit 4, since the command may have run."""

    code = "internal-error"

    @classmethod
    def of(cls, error: BaseException) -> InternalError:
        """One line for people; the traceback goes to stderr only under RAYBANK_DEBUG."""
        lines = str(error).strip().splitlines()
        detail = lines[0][:_DETAIL_CHARS] if lines else "no detail"
        return cls(f"internal error ({type(error).__name__}: {detail}); "
                   "set RAYBANK_DEBUG=1 to see its traceback")


def error_object(error: BankError) -> dict[str, Any]:
    """The contract's JSON error object: built here and nowhere else."""
    result: dict[str, Any] = {"code": error.code, "message": error.explained()}
    if error.op_id is not None:
        result["op_id"] = error.op_id
        if error.transfer_id is not None:
            result["transfer_id"] = error.transfer_id
        result["may_have_applied"] = error.may_have_applied
    return result


def unwrap_remote(error: Exception) -> BankError:
    """The BankError an actor raised, out of Ray's wrapper; anything else is infrastructure.

    Ray re-raises an actor's exception wrapped in a RayTaskError whose ``cause`` is the
    original; reading the attribute keeps this module free of Ray.
    """
    cause = getattr(error, "cause", None)
    if isinstance(cause, BankError):
        return cause
    return InfrastructureError(f"actor failed: {cause or error}", "actor-failed")

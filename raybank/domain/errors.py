"""The one error hierarchy of raybank, and the exit statuses of the command-line contract.

Every failure a user can see is a ``BankError``. A few *families* say what kind of failure it
is and carry its exit status (``RuleViolation`` 1, ``InvalidInput`` 2, ``AccountNotFound`` 3,
``InfrastructureError`` 4 with ``StorageError`` and ``ClusterUnavailable`` under it); under
them one *specific* class per kebab-case ``code`` that JSON reports (``InsufficientFunds``,
``StorageCorrupt``, ...). Code raises the specific class with a message only, and catches a
family; the CLI maps them to output in one place. docs/decisions.md lists every code by exit
status (tests/unit/test_docs.py checks it). Errors pickle by their message and their
``__dict__``, so they cross Ray's process boundary as the same class with the same fields.
"""

from __future__ import annotations

import enum
from typing import Any

# The hierarchy, for the Python API (raybank.InsufficientFunds, ...); helpers stay unlisted.
__all__ = [
    "ExitStatus", "BankError",
    # families
    "RuleViolation", "InvalidInput", "AccountNotFound", "InfrastructureError", "StorageError",
    "ClusterUnavailable",
    # exit 1
    "AccountExists", "InsufficientFunds", "BelowMinimum", "OpIdReused", "NoSuchHold",
    # exit 2
    "UsageError", "InvalidAmount", "InvalidName", "InvalidNamespace", "InvalidOpId",
    "InvalidOption", "InvalidHome", "HomeNotShared", "SameAccount", "InvalidBatchLine",
    "UnreadableInput", "MissingExtra", "UnknownNode", "HeadNodeRefused", "ForeignNode",
    "NodeNotAlive",
    # exit 4
    "StorageCorrupt", "StorageMissing", "StorageUnreadable", "StorageUnwritable",
    "StorageLocked", "StorageUnsafePath", "StorageConflict", "StaleShard",
    "ClusterUnreachable", "ClusterStartFailed", "CallTimeout", "GatewayMismatch",
    "ActorFailed", "ActorUnavailable", "RestartTimeout", "ReleaseTimeout", "NoCoordinator",
    "RayFailed", "BadGroup", "CutTimeout", "TransfersBusy", "TransferStuck",
    "TransferUnfinished", "InjectedFault", "GatewayLost", "InternalError",
]


class ExitStatus(enum.IntEnum):
    """How a command ends: the exit codes of the command-line contract.

    An ``int``, so it goes wherever an exit code goes (``sys.exit``, JSON) as its number.
    """

    OK = 0  # done: the change is durable
    REFUSED = 1  # refused by the bank's rules; nothing changed
    CHECK_FAILED = 1  # alias: verify, demo or simulate found something wrong
    INVALID = 2  # invalid input or usage; nothing changed
    NOT_FOUND = 3  # no such account; nothing changed
    INFRASTRUCTURE = 4  # cluster, storage or raybank itself failed; may have applied
    INTERRUPTED = 130  # Ctrl-C: the shells' 128 + SIGINT, outside the contract's codes


class BankError(Exception):
    """Base of every error raybank reports to a user.

    An error of a mutating command also says which op id it was about (``op_id``, and
    ``transfer_id`` for transfers), so that a script can repeat it safely, and whether the
    change may have happened anyway (``may_have_applied``): never for exits 1-3, which
    change nothing; for exit 4 unless raybank knows it did not (``not_applied``).
    Instance attributes travel with the error through pickling (Ray) like its message.
    """

    exit_code: ExitStatus = ExitStatus.INFRASTRUCTURE
    code = "error"

    def __init__(self, message: str, *, not_applied: bool = False) -> None:
        super().__init__(message)  # the message alone in args: every class rebuilds from it
        self.op_id: str | None = None
        self.transfer_id: str | None = None
        self.not_applied = not_applied

    @property
    def may_have_applied(self) -> bool:
        return self.exit_code == ExitStatus.INFRASTRUCTURE and not self.not_applied

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
        if self.exit_code == ExitStatus.INFRASTRUCTURE:
            return f"{self.message} (op id {self.op_id}: not applied)"
        return f"{self.message} (op id {self.op_id})"

    @property
    def message(self) -> str:
        return str(self.args[0])

    def __str__(self) -> str:
        return self.message


# -- families: what kind of failure, and so the exit status --------------------------------

class RuleViolation(BankError):
    """Refused by the bank's rules (exit 1): funds, minimum balance, duplicates."""

    exit_code = ExitStatus.REFUSED
    code = "rule-violation"


class InvalidInput(BankError):
    """The command's input is malformed (exit 2): amount, name, option."""

    exit_code = ExitStatus.INVALID
    code = "invalid-input"


class AccountNotFound(BankError):
    """No account by that name (exit 3). Both a family and the one error of its kind."""

    exit_code = ExitStatus.NOT_FOUND
    code = "account-not-found"


class InfrastructureError(BankError):
    """The cluster or storage failed (exit 4); the command may not have run."""

    exit_code = ExitStatus.INFRASTRUCTURE
    code = "infrastructure"


class StorageError(InfrastructureError):
    """Stored state is missing, unreadable, corrupt or unwritable. Names the file."""

    code = "storage-error"


class ClusterUnavailable(InfrastructureError):
    """The Ray cluster cannot be reached or started, or does not answer in time."""

    code = "cluster-unavailable"


# -- exit 1: refused by the bank's rules ---------------------------------------------------

class AccountExists(RuleViolation):
    """``create`` of a name that is taken."""

    code = "account-exists"


class InsufficientFunds(RuleViolation):
    """The money would fall below the account's minimum balance (withdrawal, transfer)."""

    code = "insufficient-funds"


class BelowMinimum(RuleViolation):
    """An opening balance below the account's own minimum."""

    code = "below-minimum"


class OpIdReused(RuleViolation):
    """An op id used before on this account (or transfer) for another request."""

    code = "op-id-reused"


class NoSuchHold(RuleViolation):
    """A transfer settled or released a hold the account does not have."""

    code = "no-such-hold"


# -- exit 2: invalid input -----------------------------------------------------------------

class UsageError(InvalidInput):
    """The words do not parse as a command (click's usage errors, with --json)."""

    code = "invalid-input"


class InvalidAmount(InvalidInput):
    code = "invalid-amount"


class InvalidName(InvalidInput):
    code = "invalid-name"


class InvalidNamespace(InvalidInput):
    code = "invalid-namespace"


class InvalidOpId(InvalidInput):
    code = "invalid-op-id"


class InvalidOption(InvalidInput):
    """An option's value is not one of its choices, or not for this namespace."""

    code = "invalid-option"


class UnknownNode(InvalidInput):
    """A node id (or prefix) that names no node of the cluster, or more than one."""

    code = "unknown-node"


class HeadNodeRefused(InvalidInput):
    """kill-node of the head: without GCS fault tolerance the whole cluster would go."""

    code = "head-node-refused"


class ForeignNode(InvalidInput):
    """kill-node of a node raybank did not start: its processes are not raybank's to kill."""

    code = "foreign-node"


class NodeNotAlive(InvalidInput):
    """kill-node of a node that is already dead."""

    code = "node-not-alive"


class InvalidHome(InvalidInput):
    """A home that cannot be named, or that others own or may write to."""

    code = "invalid-home"


class HomeNotShared(InvalidHome):
    """A node of the cluster does not see the home at the same path (``--address``)."""

    code = "home-not-shared"


class SameAccount(InvalidInput):
    """A transfer from an account to itself."""

    code = "same-account"


class InvalidBatchLine(InvalidInput):
    """A batch line that cannot run: overlong, not UTF-8, unsplittable, or not allowed."""

    code = "invalid-batch-line"


class UnreadableInput(InvalidInput):
    """The batch input file cannot be opened or read."""

    code = "unreadable-input"


class MissingExtra(InvalidInput):
    """An option needs an optional extra that is not installed (`up --dashboard`): the
    user's environment must change, and nothing was started."""

    code = "missing-extra"


# -- exit 4: storage -----------------------------------------------------------------------

class StorageCorrupt(StorageError):
    code = "storage-corrupt"


class StorageMissing(StorageError):
    """The account's folder is there, its state file is not."""

    code = "storage-missing"


class StorageUnreadable(StorageError):
    code = "storage-unreadable"


class StorageUnwritable(StorageError):
    code = "storage-unwritable"


class StorageLocked(StorageError):
    """Another live process holds the file's writer lock."""

    code = "storage-locked"


class StorageUnsafePath(StorageError):
    """A path that would leave the data folder (defence behind the name rules)."""

    code = "storage-unsafe-path"


class StaleShard(StorageError):
    """A host wrote to a shard that another host has taken over (its epoch moved on)."""

    code = "stale-shard"


class StorageConflict(StorageError):
    """An event that does not follow the stored history (persistence pool)."""

    code = "storage-conflict"


# -- exit 4: the cluster and its actors ----------------------------------------------------

class ClusterUnreachable(ClusterUnavailable):
    code = "cluster-unreachable"


class ClusterStartFailed(ClusterUnavailable):
    code = "cluster-start-failed"


class CallTimeout(ClusterUnavailable):
    """An actor did not answer in time."""

    code = "timeout"


class GatewayMismatch(ClusterUnavailable):
    """The gateway was asked to serve another home or cluster than its own."""

    code = "gateway-mismatch"


class ActorFailed(InfrastructureError):
    """An actor call failed in Ray, not with a BankError of its own."""

    code = "actor-failed"


class ActorUnavailable(InfrastructureError):
    """The actor died again, or could not be found or started."""

    code = "actor-unavailable"


class RestartTimeout(InfrastructureError):
    """A killed actor did not come back in time (kill --restart)."""

    code = "restart-timeout"


class ReleaseTimeout(InfrastructureError):
    """A dead actor's name was not freed in time for its successor."""

    code = "release-timeout"


class NoCoordinator(InfrastructureError):
    """A routing without a transfer coordinator was asked for one (a bug)."""

    code = "no-coordinator"


class RayFailed(InfrastructureError):
    """A look-up in Ray itself failed (accounts)."""

    code = "ray-error"


class BadGroup(InfrastructureError):
    """A group commit was asked to run a method that cannot run in a group (a bug)."""

    code = "bad-group"


class GatewayLost(InfrastructureError):
    """The gateway stopped before answering a request that may have changed something."""

    code = "gateway-lost"


# -- exit 4: transfers ---------------------------------------------------------------------

class CutTimeout(InfrastructureError):
    """The accounts could not all be read within a pause of the transfers."""

    code = "cut-timeout"


class TransfersBusy(InfrastructureError):
    """Transfer legs kept running: no consistent read possible now."""

    code = "transfers-busy"


class TransferStuck(InfrastructureError):
    """A credited transfer's source refused its settle or release: a broken invariant."""

    code = "transfer-stuck"


class TransferUnfinished(InfrastructureError):
    """A transfer met a failure mid-way; the coordinator finishes it in the background."""

    code = "transfer-unfinished"


class InjectedFault(InfrastructureError):
    """A failure injected on purpose (a testing aid)."""

    code = "injected-fault"


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

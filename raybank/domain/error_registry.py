"""Every error code raybank reports, its class, and the way back from a code to the class.

An error comes back from somewhere else as a code: from a transfer's stored refusal, or
from an actor through Ray. This module finds the class that reports each code (built from
the subclasses in ``errors``, so a new class is registered by being written) and rebuilds
the error, so that a caller can catch it by class wherever it was raised.
"""

from __future__ import annotations

from raybank.domain.errors import (
    AccountNotFound,
    ActorFailed,
    BankError,
    ClusterUnavailable,
    ExitStatus,
    InfrastructureError,
    InvalidInput,
    RuleViolation,
    StorageError,
)


def unwrap_remote(error: Exception) -> BankError:
    """The BankError an actor raised, out of Ray's wrapper; anything else is infrastructure.

    Ray re-raises an actor's exception wrapped in a RayTaskError whose ``cause`` is the
    original (the same class, pickled across); reading the attribute keeps this module free
    of Ray.
    """
    cause = getattr(error, "cause", None)
    if isinstance(cause, BankError):
        return cause
    return ActorFailed(f"actor failed: {cause or error}")


_FAMILIES = (BankError, RuleViolation, InvalidInput, InfrastructureError, StorageError,
             ClusterUnavailable)
# A code recorded under an exit status, when this version has no class for the code.
_FAMILY_OF_STATUS: dict[int, type[BankError]] = {
    ExitStatus.REFUSED: RuleViolation,
    ExitStatus.INVALID: InvalidInput,
    ExitStatus.NOT_FOUND: AccountNotFound,
}


def _specific_classes() -> dict[str, type[BankError]]:
    """Every class of this module below the families, by its code (each code once)."""
    found: dict[str, type[BankError]] = {}
    pending = list(BankError.__subclasses__())
    while pending:
        kind = pending.pop(0)
        pending.extend(kind.__subclasses__())
        if kind in _FAMILIES:
            continue
        if "code" not in vars(kind) or kind.code in found:
            raise TypeError(f"{kind.__name__} needs a code of its own, not {kind.code!r}")
        found[kind.code] = kind
    return found


_BY_CODE = _specific_classes()


def specific_errors() -> tuple[type[BankError], ...]:
    """The class of every code raybank reports, by exit status, then code."""
    return tuple(sorted(_BY_CODE.values(), key=lambda kind: (kind.exit_code, kind.code)))


def error_class(code: str) -> type[BankError] | None:
    """The class that reports ``code``, or None for a code raybank does not have."""
    return _BY_CODE.get(code)


def rebuilt(code: str | None, message: str, exit_status: int) -> BankError:
    """The error that a stored outcome (its code, message and exit status) stands for.

    A known code comes back as its own class. A code this version does not have (stored by
    another one) keeps its string, in the family of its exit status.
    """
    kind = _BY_CODE.get(code or "")
    if kind is not None:
        return kind(message)
    error = _FAMILY_OF_STATUS.get(exit_status, InfrastructureError)(message)
    if code:
        error.code = code  # an instance attribute: it pickles with the error
    return error

"""Rules for the names people choose: accounts, namespaces and op ids."""

from __future__ import annotations

import re
import uuid

from raybank.domain.errors import InvalidInput, InvalidName, InvalidNamespace, InvalidOpId

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
# Op ids chosen by users never contain ':'; raybank derives the op ids of transfer legs as
# '<transfer id>:<leg>', so the two can never collide.
_OP_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def validate_name(name: str, *, what: str = "account name",
                  error: type[InvalidInput] = InvalidName) -> str:
    """Accept 1-64 characters of A-Z a-z 0-9 _ . -, not starting with '.' or '-'."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise error(
            f"invalid {what} {name!r}: use 1-64 characters of A-Z a-z 0-9 _ . - "
            "not starting with '.' or '-'",
        )
    return name


def validate_namespace(namespace: str) -> str:
    """A namespace follows the account-name rules: it names a Ray namespace and, hex-encoded,
    a data folder, and is shown to people (never as markup)."""
    return validate_name(namespace, what="namespace", error=InvalidNamespace)


def validate_op_id(op_id: str) -> str:
    """Accept 1-128 characters of A-Z a-z 0-9 _ . -, not starting with '.' or '-'."""
    if not isinstance(op_id, str) or not _OP_ID.fullmatch(op_id):
        raise InvalidOpId(
            f"invalid op id {op_id!r}: use 1-128 characters of A-Z a-z 0-9 _ . -",
        )
    return op_id


def new_op_id() -> str:
    """A fresh op id for a command that was not given one."""
    return str(uuid.uuid4())

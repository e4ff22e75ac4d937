"""The error hierarchy: one exit status per family, one class per code, intact across Ray."""

from __future__ import annotations

import pickle
from decimal import Decimal

import pytest

from raybank.domain import errors
from raybank.domain.errors import (
    AccountNotFound,
    BankError,
    ExitStatus,
    InfrastructureError,
    InsufficientFunds,
    InvalidInput,
    OpIdReused,
    RuleViolation,
    StorageCorrupt,
    StorageError,
)
from raybank.domain.error_registry import error_class, rebuilt, specific_errors
from raybank.domain.transfer import begin
from raybank.storage.codecs import transfer_from_record, transfer_record

SPECIFIC = specific_errors()


def test_exit_statuses_are_the_contracts_exit_codes():
    assert [int(status) for status in (ExitStatus.OK, ExitStatus.REFUSED, ExitStatus.INVALID,
                                       ExitStatus.NOT_FOUND, ExitStatus.INFRASTRUCTURE)] == [
        0, 1, 2, 3, 4]
    assert (RuleViolation.exit_code, InvalidInput.exit_code, AccountNotFound.exit_code,
            InfrastructureError.exit_code) == (1, 2, 3, 4)


def test_every_code_names_exactly_one_class_with_an_exit_status_from_its_family():
    assert len(SPECIFIC) >= 40
    codes = [kind.code for kind in SPECIFIC]
    assert len(codes) == len(set(codes))
    for kind in SPECIFIC:
        assert error_class(kind.code) is kind
        assert kind.code.islower() and " " not in kind.code and "_" not in kind.code
        assert isinstance(kind.exit_code, ExitStatus)
        assert kind.exit_code in (ExitStatus.REFUSED, ExitStatus.INVALID, ExitStatus.NOT_FOUND,
                                  ExitStatus.INFRASTRUCTURE)
    assert error_class("no-such-code") is None


@pytest.mark.parametrize("kind", SPECIFIC, ids=lambda kind: kind.code)
def test_every_error_crosses_a_process_boundary_with_its_class_and_attributes(kind):
    # Ray pickles an actor's exception to send it to the caller: args and __dict__.
    error = kind("it went wrong", not_applied=True).about("op-1", transfer_id="t-1")
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is kind
    assert (copy.message, copy.code, copy.exit_code, copy.op_id, copy.transfer_id,
            copy.not_applied) == ("it went wrong", kind.code, kind.exit_code, "op-1", "t-1", True)
    assert errors.error_object(copy) == errors.error_object(error)


def test_specific_errors_are_caught_by_their_family():
    assert issubclass(InsufficientFunds, RuleViolation)
    assert issubclass(StorageCorrupt, StorageError)
    assert issubclass(StorageError, InfrastructureError)
    assert all(issubclass(kind, BankError) for kind in SPECIFIC)


def test_a_stored_code_is_rebuilt_as_its_own_class_and_an_unknown_one_keeps_its_code():
    again = rebuilt("op-id-reused", "used before", ExitStatus.REFUSED)
    assert type(again) is OpIdReused and again.message == "used before"
    strange = rebuilt("from-a-later-version", "odd", ExitStatus.REFUSED)
    assert isinstance(strange, RuleViolation) and strange.code == "from-a-later-version"
    assert pickle.loads(pickle.dumps(strange)).code == "from-a-later-version"
    assert type(rebuilt("whatever", "x", ExitStatus.INFRASTRUCTURE)) is InfrastructureError


def test_a_repeated_refused_transfer_raises_the_same_class_as_the_first_time():
    record = begin("t1", "a", "b", Decimal("30.00"), "r1").refused(InsufficientFunds("no money"))
    stored = transfer_from_record(transfer_record(record))
    with pytest.raises(InsufficientFunds) as refused:
        stored.outcome(duplicate=True)
    assert (refused.value.code, refused.value.message, refused.value.exit_code) == (
        "insufficient-funds", "no money", ExitStatus.REFUSED)
    assert transfer_record(record)["error"] == {"exit": 1, "code": "insufficient-funds",
                                           "message": "no money"}


def test_the_whole_hierarchy_is_exported_for_the_python_api():
    exported = {getattr(errors, name) for name in errors.__all__}
    assert set(SPECIFIC) <= exported
    assert {BankError, RuleViolation, InvalidInput, AccountNotFound, InfrastructureError,
            StorageError, errors.ClusterUnavailable, ExitStatus} <= exported


def test_the_thin_client_exits_with_the_enums_infrastructure_status():
    from raybank.gateway import client  # keeps its own copy: it does not import this module

    assert client.INFRASTRUCTURE_EXIT == ExitStatus.INFRASTRUCTURE

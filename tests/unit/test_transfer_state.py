"""The transfer state machine and its log, without Ray."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from raybank.domain.errors import (
    AccountNotFound,
    InsufficientFunds,
    RuleViolation,
    StorageError,
    StorageMissing,
)
from raybank.storage.codecs import transfer_from_record, transfer_record
from raybank.storage.transfer_log import TransferLog
from raybank.domain.transfer import (
    ABORTED, ABORTING, BEGUN, COMMITTED, CREDITED, HELD, InFlight, TransferRecord, applied_legs,
    begin, consistent_total, unfinished,
)

A, B = {"name": "a", "balance": "70.00", "min_balance": "0.00"}, {
    "name": "b", "balance": "30.00", "min_balance": "0.00", "held": "1.00"}


def new() -> TransferRecord:
    return begin("t1", "a", "b", Decimal("30.00"), "req-1")


def test_happy_path_reaches_committed_with_both_sides():
    record = new().held().credited(B).committed(A)
    assert [record.state, record.ended] == [COMMITTED, True]
    assert record.outcome(duplicate=False) == {
        "transfer_id": "t1", "amount": Decimal("30.00"),
        "from": {"name": "a", "balance": Decimal("70.00"), "min_balance": Decimal("0.00")},
        "to": {"name": "b", "balance": Decimal("30.00"), "min_balance": Decimal("0.00")}}
    assert record.outcome(duplicate=True)["duplicate"] is True


def test_refused_hold_aborts_at_once_and_repeats_the_refusal():
    record = new().refused(InsufficientFunds("no money"))
    assert record.state == ABORTED
    with pytest.raises(RuleViolation) as refused:
        record.outcome(duplicate=True)
    assert (refused.value.code, refused.value.message) == ("insufficient-funds", "no money")


def test_refusal_after_the_hold_goes_through_aborting_then_release():
    record = new().held().refused(AccountNotFound("gone"))
    assert [record.state, record.ended] == [ABORTING, False]
    record = record.released()
    with pytest.raises(AccountNotFound):
        record.outcome(duplicate=False)


@pytest.mark.parametrize("state,bad", [
    (BEGUN, CREDITED), (HELD, COMMITTED), (CREDITED, ABORTING), (COMMITTED, ABORTED),
    (ABORTED, HELD)])
def test_illegal_moves_are_refused(state, bad):
    record = TransferRecord("t", "a", "b", Decimal("1.00"), state, "r")
    with pytest.raises(ValueError):
        record._to(bad)


def test_credited_cannot_be_called_off():
    with pytest.raises(ValueError):
        new().held().credited(B).refused(AccountNotFound("gone"))


def test_unended_transfer_has_no_outcome():
    with pytest.raises(ValueError):
        new().held().outcome(duplicate=False)


def test_same_op_id_with_other_parameters_is_refused():
    record = new()
    record.check_same("a", "b", Decimal("30.00"))
    for other in (("b", "a", Decimal("30.00")), ("a", "c", Decimal("30.00")),
                  ("a", "b", Decimal("30.01"))):
        with pytest.raises(RuleViolation) as refused:
            record.check_same(*other)
        assert refused.value.code == "op-id-reused"


def test_record_round_trips_through_its_storage_form():
    for record in (new(), new().held().credited(B), new().held().credited(B).committed(A),
                   new().refused(InsufficientFunds("no"))):
        assert transfer_from_record(transfer_record(record)) == record
    with pytest.raises(ValueError):
        transfer_from_record({**transfer_record(new()), "state": "lost"})


def test_log_keeps_the_newest_state_of_each_transfer(tmp_path: Path):
    log = TransferLog(tmp_path, "ns")
    assert log.open() == {}
    first = new()
    log.append(first)
    log.append(first.held())
    other = begin("t2", "b", "a", Decimal("1.00"), "req-2")
    log.append(other)
    log.close()
    again = TransferLog(tmp_path, "ns")
    assert again.open() == {"t1": first.held(), "t2": other}
    again.close()


def test_log_drops_a_torn_tail_but_reports_other_damage(tmp_path: Path):
    log = TransferLog(tmp_path, "ns")
    log.open()
    log.append(new())
    log.close()
    data = log.path.read_bytes()
    end = len(data.rstrip(b"\0"))
    torn = b"0000 {\"half"  # a crash in the middle of the next append, right after the last
    log.path.write_bytes(data[:end] + torn + data[end + len(torn):])
    reopened = TransferLog(tmp_path, "ns")
    assert reopened.open() == {"t1": new()}
    reopened.append(new().held())  # appends after the repaired end, not after the tear
    reopened.close()
    checked = TransferLog(tmp_path, "ns")
    assert checked.open() == {"t1": new().held()}
    checked.close()
    data = log.path.read_bytes()
    log.path.write_bytes(data.replace(b"held", b"hexd"))
    with pytest.raises(StorageError):
        TransferLog(tmp_path, "ns").open()


def test_log_lives_under_the_namespace_folder(tmp_path: Path):
    log = TransferLog(tmp_path, "ns")
    assert log.path == tmp_path / "namespaces" / b"ns".hex() / "transfers" / "transfers.log"


# -- a consistent total: what the reads of the accounts say about each unended transfer ------

def flight(tid: str = "t1", amount: str = "30.00") -> InFlight:
    return InFlight(tid, "a", "b", Decimal(amount))


@pytest.mark.parametrize("source_out,target_in,a,b", [
    (False, False, "100.00", "0.00"),  # not credited yet: the money is on a
    (False, True, "100.00", "30.00"),  # credited, not settled: the plain sum shows it twice
    (True, True, "70.00", "30.00"),  # done
    (True, False, "70.00", "0.00"),  # b read before its credit, a after its settle: nowhere
])
def test_total_counts_each_transfer_once_whatever_each_read_saw(source_out, target_in, a, b):
    legs = {"a": {"in": [], "out": ["t1"] if source_out else []},
            "b": {"in": ["t1"] if target_in else [], "out": []}}
    balances = {"a": Decimal(a), "b": Decimal(b)}
    assert consistent_total(balances, [flight()], legs) == Decimal("100.00")


def test_total_adds_up_several_transfers_and_ignores_ones_whose_accounts_were_not_read():
    balances = {"a": Decimal("10.00"), "b": Decimal("55.00")}
    legs = {"a": {"in": [], "out": []}, "b": {"in": ["t1", "t2"], "out": []}}
    in_flight = [flight("t1", "30.00"), flight("t2", "5.00"),
                 InFlight("t3", "a", "gone", Decimal("7.00"))]
    assert consistent_total(balances, in_flight, legs) == Decimal("30.00")
    assert consistent_total(balances, [], legs) == Decimal("65.00")


def test_applied_legs_reads_the_derived_op_ids_of_the_asked_transfers():
    applied = {"t1:in", "t1:hold", "t2:out", "t2:hold", "deposit-1", "t3:release"}
    assert applied_legs(applied, ["t1", "t2", "t3", "t4"]) == {"in": ["t1"], "out": ["t2"]}
    assert applied_legs(applied, []) == {"in": [], "out": []}


def test_an_unfinished_transfer_error_says_it_continues_and_may_have_applied():
    error = unfinished("t1", StorageMissing("cannot read journal.log"))
    assert (error.exit_code, error.code, error.may_have_applied) == (
        4, "transfer-unfinished", True)
    assert "t1" in error.message and "cannot read journal.log" in error.message
    assert "background" in error.message
    assert "ValueError: bad" in unfinished("t1", ValueError("bad")).message

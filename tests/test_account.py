"""Account rules, events and their fold, without Ray."""

from decimal import Decimal as D

import pytest

from raybank.domain import account as domain
from raybank.domain.account import Account, Event, from_snapshot, replay, to_snapshot
from raybank.domain.errors import AccountNotFound, RuleViolation, StorageError


def opened(balance="100.00", minimum="20.00") -> Account:
    account = Account(name="alice")
    account.apply(account.decide_open("op-open", D(balance), D(minimum)))
    return account


def test_open_deposit_withdraw_fold_into_balance():
    account = opened()
    account.apply(account.decide_deposit("d1", D("50.00")))
    account.apply(account.decide_withdrawal("w1", D("30.00")))
    assert (account.balance, account.min_balance, account.seq) == (D("120.00"), D("20.00"), 3)


def test_withdrawal_below_minimum_is_refused_and_changes_nothing():
    account = opened()
    with pytest.raises(RuleViolation) as refused:
        account.decide_withdrawal("w1", D("80.01"))
    assert refused.value.code == "insufficient-funds" and refused.value.exit_code == 1
    assert (account.balance, account.seq) == (D("100.00"), 1)
    account.decide_withdrawal("w2", D("80.00"))  # exactly down to the minimum is allowed


def test_opening_below_minimum_and_reopening_are_refused():
    with pytest.raises(RuleViolation, match="below the minimum"):
        Account(name="x").decide_open("o", D("1.00"), D("2.00"))
    with pytest.raises(RuleViolation) as exists:
        opened().decide_open("o2", D("0"), D("0"))
    assert exists.value.code == "account-exists"


def test_commands_on_an_unopened_account_are_not_found():
    with pytest.raises(AccountNotFound):
        Account(name="ghost").decide_deposit("d", D("1.00"))


def test_an_applied_op_id_is_recognised_and_reuse_for_another_request_refused():
    account = opened()
    account.apply(account.decide_deposit("d1", D("5.00")))
    earlier = account.previous("d1", domain.request(domain.DEPOSIT, D("5.00")))
    assert earlier is not None
    assert account.answer_for(earlier) == {
        "name": "alice", "balance": D("105.00"), "min_balance": D("20.00"), "duplicate": True}
    with pytest.raises(RuleViolation) as reused:
        account.previous("d1", domain.request(domain.DEPOSIT, D("6.00")))
    assert reused.value.code == "op-id-reused"
    with pytest.raises(RuleViolation):
        account.previous("d1", domain.request(domain.WITHDRAWAL, D("5.00")))
    assert account.previous("new", domain.request(domain.DEPOSIT, D("5.00"))) is None


def test_held_money_cannot_be_withdrawn_and_settles_once():
    account = opened()
    account.apply(account.decide_hold("t1:hold", "t1", D("70.00"), "bob"))
    assert account.balance == D("100.00") and account.available == D("10.00")
    with pytest.raises(RuleViolation):
        account.decide_withdrawal("w", D("10.01"))
    account.apply(account.decide_transfer_out("t1:out", "t1", D("70.00"), "bob"))
    assert account.balance == D("30.00") and account.holds == {}
    with pytest.raises(RuleViolation) as no_hold:
        account.decide_transfer_out("t1:out2", "t1", D("70.00"), "bob")
    assert no_hold.value.code == "no-such-hold"


def test_a_released_hold_gives_the_money_back():
    account = opened()
    account.apply(account.decide_hold("t2:hold", "t2", D("50.00"), "bob"))
    account.apply(account.decide_release("t2:release", "t2", D("50.00"), "bob"))
    assert account.available == D("80.00") and account.balance == D("100.00")


def test_replay_and_snapshot_rebuild_the_same_state():
    account = opened()
    events = [Event.from_record(e.to_record()) for e in [
        account.decide_deposit("d1", D("1.10"))]]
    account.apply(events[0])
    rebuilt = from_snapshot(to_snapshot(account))
    assert to_snapshot(rebuilt) == to_snapshot(account)
    fresh = replay("alice", [Event.from_record(r) for r in [
        Account(name="alice").decide_open("op-open", D("100.00"), D("20.00")).to_record()]])
    fresh.apply(events[0])
    assert fresh.balance == account.balance == D("101.10")


def test_replay_refuses_a_gap_in_the_sequence():
    account = opened()
    skipped = Event(seq=3, op_id="x", type=domain.DEPOSIT, amount=D("1"), balance=D("101"),
                    at="2026-01-01T00:00:00+00:00")
    with pytest.raises(StorageError):
        account.apply(skipped)


def test_malformed_records_are_rejected():
    with pytest.raises(ValueError):
        Event.from_record({"seq": 1, "type": "teleport", "op_id": "x", "balance": "1", "at": ""})
    with pytest.raises(ValueError):
        Event.from_record({"seq": "1", "type": "deposit"})

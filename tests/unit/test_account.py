"""Account rules, events and their fold, without Ray."""

from decimal import Decimal as D

import pytest

from raybank.domain import account as domain
from raybank.domain.account import Account, Event, replay
from raybank.domain.errors import AccountNotFound, RuleViolation, StorageError
from raybank.storage.codecs import (account_from_snapshot, event_from_record, event_record,
                                    snapshot_record)


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
    events = [event_from_record(event_record(e)) for e in [
        account.decide_deposit("d1", D("1.10"))]]
    account.apply(events[0])
    rebuilt = account_from_snapshot(snapshot_record(account))
    assert snapshot_record(rebuilt) == snapshot_record(account)
    opening = Account(name="alice").decide_open("op-open", D("100.00"), D("20.00"))
    fresh = replay("alice", [event_from_record(event_record(opening))])
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
        event_from_record({"seq": 1, "type": "teleport", "op_id": "x", "balance": "1", "at": ""})
    with pytest.raises(ValueError):
        event_from_record({"seq": "1", "type": "deposit"})


def event(seq: int, type_: str, amount: str | None, balance: str, op_id: str = "x",
          **extra) -> Event:
    return Event(seq=seq, op_id=op_id, type=type_, amount=None if amount is None else D(amount),
                 balance=D(balance), at="2026-01-01T00:00:00+00:00", **extra)


def held(amount: str = "30.00") -> Account:
    """alice with 100.00 (minimum 20.00) and a hold of ``amount`` for transfer t1."""
    account = opened()
    account.apply(account.decide_hold("t1:hold", "t1", D(amount), "bob"))
    return account


LEG = {"transfer_id": "t1", "counterparty": "bob"}


@pytest.mark.parametrize("start, bad", [
    (lambda: Account(name="alice"), event(1, domain.CREATED, "5.00", "6.00",
                                          min_balance=D("0.00"))),
    (lambda: Account(name="alice"), event(1, domain.DEPOSIT, "5.00", "5.00")),
    (opened, event(2, domain.CREATED, "5.00", "5.00", min_balance=D("0.00"))),
    (opened, event(2, domain.DEPOSIT, "5.00", "106.00")),
    (opened, event(2, domain.DEPOSIT, "0.00", "100.00")),
    (opened, event(2, domain.DEPOSIT, "-5.00", "95.00")),
    (opened, event(2, domain.WITHDRAWAL, "5.00", "105.00")),
    (opened, event(2, domain.TRANSFER_IN, "5.00", "100.00", **LEG)),
    (opened, event(2, domain.HOLD, "5.00", "95.00", **LEG)),
    (opened, event(2, domain.TRANSFER_OUT, "5.00", "95.00", **LEG)),  # no hold to settle
    (opened, event(2, domain.HOLD_RELEASED, "5.00", "100.00", **LEG)),  # no hold to release
    (held, event(3, domain.TRANSFER_OUT, "30.00", "80.00", **LEG)),
    (held, event(3, domain.TRANSFER_OUT, "20.00", "80.00", **LEG)),  # not the held amount
    (held, event(3, domain.HOLD, "30.00", "100.00", **LEG)),  # the same transfer twice
    (opened, event(2, domain.DEPOSIT, "5.00", "105.00", op_id="op-open")),  # op id twice
])
def test_replay_refuses_events_that_do_not_add_up(start, bad):
    account = start()
    before = snapshot_record(account)
    with pytest.raises(StorageError) as raised:
        account.apply(bad)
    assert raised.value.code == "storage-corrupt"
    assert snapshot_record(account) == before  # a refused event changes nothing


def test_every_decided_event_passes_the_replay_checks():
    account = Account(name="alice")
    decisions = [
        (Account.decide_open, ("op-open", D("100.00"), D("-20.00"))),
        (Account.decide_deposit, ("d", D("1.00"))),
        (Account.decide_withdrawal, ("w", D("2.00"))),
        (Account.decide_hold, ("t1:hold", "t1", D("3.00"), "bob")),
        (Account.decide_transfer_out, ("t1:out", "t1", D("3.00"), "bob")),
        (Account.decide_hold, ("t2:hold", "t2", D("4.00"), "bob")),
        (Account.decide_release, ("t2:release", "t2", D("4.00"), "bob")),
        (Account.decide_transfer_in, ("t3:in", "t3", D("5.00"), "bob")),
    ]
    records = []
    for decide, args in decisions:
        decided = decide(account, *args)
        account.apply(decided)  # what the actor does live
        records.append(event_record(decided))
    rebuilt = replay("alice", [event_from_record(record) for record in records])
    assert snapshot_record(rebuilt) == snapshot_record(account)


GOOD = {"seq": 2, "op_id": "d1", "type": "deposit", "amount": "5.00", "balance": "105.00",
        "at": "2026-01-01T00:00:00+00:00"}


@pytest.mark.parametrize("change", [
    {"amount": "1e3"}, {"amount": "NaN"}, {"amount": "Infinity"}, {"amount": "5"},
    {"amount": "5.0"}, {"amount": "5.000"}, {"amount": " 5.00"}, {"amount": 5},
    {"amount": 5.0}, {"amount": None}, {"balance": "1E2"}, {"balance": "105.00\n"},
    {"seq": True}, {"seq": 2.0}, {"seq": "2"}, {"seq": 0}, {"op_id": 7}, {"op_id": ""},
    {"at": None}, {"type": "teleport"}, {"transfer_id": "t1"}, {"surprise": 1},
])
def test_stored_events_are_parsed_strictly(change):
    assert event_from_record(GOOD).amount == D("5.00")
    with pytest.raises(ValueError):
        event_from_record({**GOOD, **change})


def test_a_minimum_stored_as_negative_zero_by_older_versions_still_reads():
    created = event_from_record({"seq": 1, "op_id": "o", "type": "created", "amount": "0.00",
                                 "balance": "0.00", "min_balance": "-0.00", "at": "t"})
    assert str(created.min_balance) == "0.00"


@pytest.mark.parametrize("change", [
    {"balance": 1.5}, {"balance": "NaN"}, {"seq": True}, {"holds": {"t1": "1e2"}},
    {"applied": {"d1": ["deposit", "5.00", 105, None, None]}}, {"name": 5},
])
def test_snapshots_are_parsed_strictly(change):
    good = snapshot_record(opened())
    assert account_from_snapshot(good).balance == D("100.00")
    with pytest.raises(ValueError):
        account_from_snapshot({**good, **change})

"""The service without Ray: the real Bank over an in-process routing and real storage."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from raybank.domain.errors import AccountNotFound, InvalidInput, RuleViolation
from raybank.service.bank import Bank
from raybank.service.results import Account, Verification
from tests.support.in_process import InProcessRouting

D = Decimal


@pytest.fixture
def bank(tmp_path: Path) -> Bank:
    home = tmp_path / "home"
    return Bank(home, "unit", routing=InProcessRouting(home, "unit"))  # type: ignore[arg-type]


def test_commands_change_balances_and_refusals_change_nothing(bank: Bank) -> None:
    assert bank.create("alice", D("100.00"), D("20.00"), "o1").balance == D("100.00")
    assert bank.deposit("alice", D("5.50"), "d1").balance == D("105.50")
    with pytest.raises(RuleViolation) as refused:
        bank.withdraw("alice", D("90.00"), "w1")
    assert refused.value.code == "insufficient-funds"
    assert bank.withdraw("alice", D("85.50"), "w2").balance == D("20.00")
    with pytest.raises(AccountNotFound):
        bank.balance("nobody")
    assert bank.balance("alice") == Account("alice", D("20.00"), D("20.00"))


def test_a_repeated_op_id_is_answered_once_and_reuse_is_refused(bank: Bank) -> None:
    bank.create("bob", D("0"), D("0"), "o2")
    assert bank.deposit("bob", D("1.00"), "same").balance == D("1.00")
    again = bank.deposit("bob", D("1.00"), "same")
    assert again.balance == D("1.00") and again.duplicate is True
    with pytest.raises(RuleViolation) as reused:
        bank.deposit("bob", D("2.00"), "same")
    assert reused.value.code == "op-id-reused"


def test_a_refused_create_leaves_no_account_and_no_live_object(bank: Bank) -> None:
    with pytest.raises(RuleViolation):
        bank.create("carol", D("1.00"), D("2.00"), "o3")
    assert not bank.storage.exists("carol")
    assert bank.routing.live("carol") is None


def test_transfer_moves_money_once_and_the_total_counts_it_once(bank: Bank) -> None:
    bank.create("a", D("50.00"), D("0"), "oa")
    bank.create("b", D("0"), D("0"), "ob")
    moved = bank.transfer("a", "b", D("20.00"), "t1")
    assert (moved.source.balance, moved.target.balance) == (D("30.00"), D("20.00"))
    assert bank.transfer("a", "b", D("20.00"), "t1").duplicate is True
    listing = bank.accounts()
    assert [row.account.name for row in listing.accounts] == ["a", "b"]
    assert listing.total == D("50.00")
    with pytest.raises(InvalidInput) as same:
        bank.transfer("a", "a", D("1.00"), "t2")
    assert same.value.transfer_id == "t2"


def test_transfers_driven_together_answer_each_as_transfer_would(bank: Bank) -> None:
    bank.create("a", D("100.00"), D("0"), "oa")
    bank.create("b", D("0"), D("0"), "ob")
    bank.create("c", D("10.00"), D("0"), "oc")
    asked = [("a", "b", D("30.00"), "t1"), ("a", "c", D("500.00"), "t2"),
             ("a", "a", D("1.00"), "t3"), ("a", "nobody", D("5.00"), "t4"),
             ("c", "a", D("10.00"), "t5")]
    first = bank.transfer_many(asked)
    assert first[0].target.balance == D("30.00")  # (a's balance after it: t5 runs alongside)
    assert first[1].code == "insufficient-funds" and first[1].transfer_id == "t2"
    assert first[2].code == "same-account" and first[2].transfer_id == "t3"
    assert isinstance(first[3], AccountNotFound)  # the coordinator refused it: no money moved
    assert first[4].target.name == "a"
    again = bank.transfer_many(asked)  # a retry of every one: applied once, answered again
    assert again[0].duplicate and again[4].duplicate
    assert [bank.balance(n).balance for n in "abc"] == [D("80.00"), D("30.00"), D("0.00")]
    assert bank.transfer("a", "b", D("30.00"), "t1").duplicate  # one id space with transfer
    assert bank.accounts().total == D("110.00")


def test_kill_with_restart_recovers_the_state_from_storage(bank: Bank) -> None:
    bank.create("dave", D("10.00"), D("0"), "od")
    result = bank.kill("dave", restart=True)
    assert result.recovered and result.after.actor.restarts == 1
    gone = bank.kill("dave", restart=False)
    assert gone.after.actor.state == "INACTIVE"
    assert bank.deposit("dave", D("1.00"), "d2").balance == D("11.00")  # revived


def test_batch_pipeline_groups_calls_per_account_in_order(bank: Bank) -> None:
    pipeline = bank.pipeline()
    items = [pipeline.create("e", D("0"), D("0"), "oe"),
             pipeline.deposit("e", D("3.00"), "d3"),
             pipeline.withdraw("e", D("5.00"), "w3"),
             pipeline.balance("e")]
    pipeline.flush()
    assert items[1].result().balance == D("3.00")
    with pytest.raises(RuleViolation):
        items[2].result()
    assert items[3].result().balance == D("3.00")
    assert bank.routing.calls["e"] == {"apply_many": 1}


def test_verify_compares_replay_with_the_live_state(bank: Bank) -> None:
    bank.create("f", D("1.00"), D("0"), "of")
    bank.deposit("f", D("1.00"), "d4")
    assert bank.verify() == Verification(ok=True, checked=1, mismatches=[])
    assert [e.type for e in bank.history("f").events] == ["created", "deposit"]

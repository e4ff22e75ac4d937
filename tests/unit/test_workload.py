"""The simulator's plan and invariant checks, without Ray."""

from decimal import Decimal as D

from raybank.domain.account import Account
from raybank.scenarios.workload import (
    DEPOSIT,
    TRANSFER,
    WITHDRAW,
    Operation,
    Outcome,
    account_names,
    Invariants,
    plan,
)

NAMES = account_names("s-", 4)


def test_the_same_seed_plans_the_same_operations():
    assert plan(7, NAMES, 200) == plan(7, NAMES, 200)
    assert plan(7, NAMES, 200) != plan(8, NAMES, 200)
    ops = plan(7, NAMES, 500)
    assert {op.kind for op in ops} == {DEPOSIT, WITHDRAW, TRANSFER}
    assert all(op.target not in (None, op.account) for op in ops if op.kind == TRANSFER)
    assert {op.target for op in ops if op.kind == TRANSFER} == set(NAMES)
    assert all(D("0.01") <= op.amount <= D("400.00") for op in ops)
    assert len({op.op_id for op in ops}) == 500
    assert TRANSFER not in {op.kind for op in plan(7, NAMES, 200, transfers=False)}


def history(*steps):
    """Build journals by running domain decisions, as the actors would."""
    accounts = {name: Account(name=name) for name in ("a", "b")}
    journals = {name: [] for name in accounts}

    def record(name, event):
        accounts[name].apply(event)
        journals[name].append(event)

    for name in accounts:
        record(name, accounts[name].decide_open(f"open-{name}", D("100.00"), D("0.00")))
    for step in steps:
        step(accounts, record)
    return accounts, journals


def deposit(op_id, name, amount):
    return lambda accounts, record: record(name, accounts[name].decide_deposit(op_id, D(amount)))


def transfer(tid, source, target, amount, finish=True):
    def run(accounts, record):
        record(source, accounts[source].decide_hold(f"{tid}:hold", tid, D(amount), target))
        if finish:
            record(target, accounts[target].decide_transfer_in(f"{tid}:in", tid, D(amount),
                                                               source))
            record(source, accounts[source].decide_transfer_out(f"{tid}:out", tid, D(amount),
                                                              target))
    return run


def outcome(op_id, kind, name, amount, target=None):
    return Outcome(Operation(0, kind, name, D(amount), op_id, target), "ok", 1.0)


def check(accounts, journals, outcomes, live=None):
    invariants = Invariants({"a": D("100.00"), "b": D("100.00")}, outcomes)
    for name, events in journals.items():
        invariants.add(name, events, accounts.get(name), (live or {}).get(name))
    return invariants.result()


def test_a_clean_history_passes_every_invariant():
    accounts, journals = history(deposit("d1", "a", "5.00"), transfer("t1", "a", "b", "50.00"))
    result = check(accounts, journals, [outcome("d1", DEPOSIT, "a", "5.00"),
                                        outcome("t1", TRANSFER, "a", "50.00", "b")],
                   live={"a": D("55.00"), "b": D("150.00")})
    assert all(result.values()), result


def test_an_acknowledged_event_that_storage_lost_is_caught():
    accounts, journals = history()
    result = check(accounts, journals, [outcome("d1", DEPOSIT, "a", "5.00")])
    assert result["money_conserved"] is False and result["acknowledged_applied"] is False


def test_a_half_done_transfer_is_caught():
    accounts, journals = history(transfer("t1", "a", "b", "10.00", finish=False))
    assert check(accounts, journals, [])["transfers_complete"] is False


def test_a_live_balance_that_disagrees_with_the_journal_is_caught():
    accounts, journals = history()
    assert check(accounts, journals, [], live={"a": D("99.00")})["journals_match"] is False


def test_an_op_applied_twice_is_caught():
    accounts, journals = history(deposit("d1", "a", "1.00"))
    journals["b"].append(journals["a"][-1])
    assert check(accounts, journals, [outcome("d1", DEPOSIT, "a", "1.00")])[
        "no_duplicate_ops"] is False

"""Property-based tests: money, names, and storage loading under random damage.

The contract's rules are restated here independently of the implementation (no shared
regex), and hypothesis searches for input on which the two disagree. For storage, each
example writes a random history through a real store, damages the files at random and
loads them: the answer must be the true state or a StorageError, never anything else.
"""

from __future__ import annotations

import string
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from raybank.domain.account import Account, Event
from raybank.domain.errors import InvalidInput, RuleViolation, StorageError
from raybank.domain.names import validate_name
from raybank.domain.money import MAX_AMOUNT, format_money, parse_amount, parse_balance
from raybank.storage import JournalStore, PickledStateStore
from raybank.storage.base import AccountStore
from raybank.storage.codecs import snapshot_record

FAST = settings(max_examples=150, deadline=None)
STORAGE = settings(max_examples=60, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow])


# -- money -------------------------------------------------------------------------------
def contract_money(text: str, *, signed: bool) -> Decimal | None:
    """The contract's reading of a money string: plain ASCII digits, an optional point and
    1-2 fraction digits (at most 13 integer digits), a '-' only where allowed; else None."""
    body = text[1:] if signed and text.startswith("-") else text
    whole, point, fraction = body.partition(".")
    digits = string.digits
    if not whole or len(whole) > 13 or any(c not in digits for c in whole):
        return None
    if point and (not 1 <= len(fraction) <= 2 or any(c not in digits for c in fraction)):
        return None
    value = Decimal(whole + "." + (fraction or "0"))
    return -value if body is not text else value


money_text = st.one_of(
    st.text(alphabet="0123456789.-+eE ,_nafi٣\n", max_size=17),
    st.from_regex(r"-?[0-9]{1,14}(\.[0-9]{0,3})?", fullmatch=True),
    st.decimals(min_value=-2 * MAX_AMOUNT, max_value=2 * MAX_AMOUNT, places=2).map(str),
)


@FAST
@given(money_text)
def test_amounts_are_accepted_exactly_as_the_contract_says(text):
    expected = contract_money(text, signed=False)
    if expected is None or not 0 < expected <= MAX_AMOUNT:
        with pytest.raises(InvalidInput):
            parse_amount(text)
        return
    value = parse_amount(text)
    assert value == expected and format_money(value) == f"{expected:.2f}"
    assert parse_amount(format_money(value)) == value  # the round trip is exact


@FAST
@given(money_text, st.booleans())
@example("-0", True)
@example("-0.00", True)
@example("-0", False)
def test_balances_are_accepted_exactly_as_the_contract_says(text, negative_allowed):
    expected = contract_money(text, signed=negative_allowed)
    if expected is None or abs(expected) > MAX_AMOUNT:
        with pytest.raises(InvalidInput):
            parse_balance(text, allow_negative=negative_allowed)
        return
    value = parse_balance(text, allow_negative=negative_allowed)
    assert value == expected
    shown = format_money(value)
    assert shown != "-0.00" and parse_balance(shown, allow_negative=True) == value


@FAST
@given(st.decimals(min_value=Decimal("0.01"), max_value=MAX_AMOUNT, places=2))
def test_every_amount_survives_formatting_and_parsing(amount):
    assert parse_amount(format_money(amount)) == amount


# -- names -------------------------------------------------------------------------------
NAME_CHARS = string.ascii_letters + string.digits + "_.-"


@FAST
@given(st.text(alphabet=NAME_CHARS + " /:\\é\0\n[]", max_size=70)
       | st.text(alphabet=NAME_CHARS, min_size=60, max_size=70))
def test_names_are_accepted_exactly_as_the_contract_says(name):
    allowed = (1 <= len(name) <= 64 and all(c in NAME_CHARS for c in name)
               and name[0] not in ".-")
    if allowed:
        assert validate_name(name) == name
    else:
        with pytest.raises(InvalidInput):
            validate_name(name)


# -- storage loading ---------------------------------------------------------------------
cents = st.integers(min_value=1, max_value=5_000).map(lambda c: Decimal(c) / 100)
operation = st.one_of(
    st.tuples(st.just("deposit"), cents),
    st.tuples(st.just("withdraw"), cents),
    st.tuples(st.just("hold"), cents),
    st.tuples(st.just("settle"), st.integers(0, 9)),
    st.tuples(st.just("release"), st.integers(0, 9)),
    st.tuples(st.just("receive"), cents),
)
history = st.lists(st.tuples(operation, st.booleans()), max_size=30)  # (op, synced alone?)


def decide(account: Account, op: tuple, step: int) -> Event:
    kind, value = op
    held = sorted(account.holds)
    if kind == "deposit":
        return account.decide_deposit(f"op{step}", value)
    if kind == "withdraw":
        return account.decide_withdrawal(f"op{step}", value)
    if kind == "hold":
        return account.decide_hold(f"t{step}:hold", f"t{step}", value, "bob")
    if kind == "receive":
        return account.decide_transfer_in(f"u{step}:in", f"u{step}", value, "bob")
    if not held:
        raise RuleViolation("no hold to end")
    transfer = held[value % len(held)]
    leg = account.decide_transfer_out if kind == "settle" else account.decide_release
    return leg(f"{transfer}:{kind}", transfer, account.holds[transfer], "bob")


def write(store: AccountStore, ops: list) -> Account:
    """Apply ``ops`` as the actor would (refusals skipped); returns the true state."""
    account = Account(name="alice")
    opening = account.decide_open("open", Decimal("100.00"), Decimal("-50.00"))
    account.apply(opening)
    store.append(account, opening)
    for step, (op, alone) in enumerate(ops):
        try:
            event = decide(account, op, step)
        except RuleViolation:
            continue
        account.apply(event)
        store.append(account, event, sync=alone)  # the others share a group commit
    store.sync("alice")
    store.close_all()
    return account


fault = st.one_of(st.none(), st.tuples(st.just("truncate"), st.floats(0, 1)),
                  st.tuples(st.just("byte"), st.floats(0, 1), st.integers(0, 255)))


def damage(path: Path, chosen: tuple | None, *, near: int | None = None) -> None:
    """Cut ``path`` or change one of its bytes; positions fall in its first ``near`` bytes
    (the records, not the zeroed space) when given."""
    if chosen is None:
        return
    data = bytearray(path.read_bytes())
    span = min(len(data), near or len(data))
    where = min(int(chosen[1] * span), max(span - 1, 0))
    if chosen[0] == "truncate":
        del data[where:]
    elif data:
        data[where] = chosen[2]
    path.write_bytes(bytes(data))


def loaded_or_refused(load, truth: Account) -> None:
    try:
        account = load()
    except StorageError:
        return  # exit 4, naming the file: allowed
    assert snapshot_record(account) == snapshot_record(truth)  # never a wrong or older state


@STORAGE
@given(history, st.integers(2, 6), fault,
       st.lists(st.one_of(fault, st.just("delete"), st.just("foreign")), max_size=2), history)
def test_a_damaged_journal_loads_the_true_state_or_refuses(ops, every, journal_fault,
                                                             snapshot_faults, other_ops):
    with tempfile.TemporaryDirectory() as tmp:
        root, elsewhere = Path(tmp) / "bank", Path(tmp) / "other"
        store = JournalStore(root, snapshot_every=every)
        truth = write(store, ops)
        folder = store.folder("alice")
        journal = folder / store.marker
        records = len(journal.read_bytes().rstrip(b"\0"))
        damage(journal, journal_fault, near=records + 8)
        for snapshot, chosen in zip(sorted(folder.glob("snapshot-*"), reverse=True),
                                    snapshot_faults):
            if chosen == "delete":
                snapshot.unlink()
            elif chosen == "foreign":  # a good snapshot of another history of "alice"
                other = JournalStore(elsewhere, snapshot_every=2)
                if not other.exists("alice"):
                    write(other, [(("deposit", Decimal("1.00")), True)] * 2 + other_ops)
                newest = sorted(other.folder("alice").glob("snapshot-*"))[-1]
                # named as the newest, so recovery must check it against the journal
                (folder / f"snapshot-{10**19:020d}.json").write_bytes(newest.read_bytes())
            else:
                damage(snapshot, chosen)
        loaded_or_refused(lambda: JournalStore(root).load("alice", repair=True), truth)
        reader = JournalStore(root)
        loaded_or_refused(lambda: replay_all(reader.events("alice")), truth)


def replay_all(events: list[Event]) -> Account:
    account = Account(name="alice")
    for event in events:
        account.apply(event)
    return account


@STORAGE
@given(history, fault)
def test_a_damaged_whole_state_file_loads_the_true_state_or_refuses(ops, chosen):
    key = b"k" * 32
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = PickledStateStore(root, key)
        truth = write(store, ops[:8])  # each change rewrites the whole history
        damage(store.folder("alice") / store.marker, chosen)
        loaded_or_refused(lambda: PickledStateStore(root, key).load("alice"), truth)

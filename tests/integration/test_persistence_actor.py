"""The persistence actor's own logic, run as a plain object (no Ray): appends are idempotent.

A "restart" is a new PersistenceActor on the same home, after the old one let go of its
files, as Ray's restart of a dead persistence actor would be.
"""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from raybank.domain.account import Account, Event
from raybank.storage.audit import read_back
from raybank.domain.errors import RuleViolation, StorageError
from raybank.actors.persistence_pool import PersistenceActor
from raybank.storage import Storage
from raybank.storage.files import private_dir

NAMESPACE = "ns"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return private_dir(tmp_path / "home")


def history(deposits: int) -> list[Event]:
    """The events an account actor would send: decided and folded on its side."""
    account = Account(name="alice")
    events = [account.decide_open("open", D("10.00"), D("0.00"))]
    account.apply(events[0])
    for i in range(deposits):
        events.append(account.decide_deposit(f"d{i}", D("1.00")))
        account.apply(events[-1])
    return events


def restarted(home: Path, dead: PersistenceActor) -> PersistenceActor:
    dead.close("journal", "alice")  # a dead process's files close with it
    return PersistenceActor(str(home), NAMESPACE)


def stored(home: Path) -> list[tuple[int, str]]:
    return [(e.seq, e.op_id) for e in Storage(home, NAMESPACE).stores["journal"].events("alice")]


def test_an_append_retried_after_a_restart_is_answered_as_done(home):
    events = history(1)
    first = PersistenceActor(str(home), NAMESPACE)
    for event in events:
        first.append("journal", "alice", event, True)
    second = restarted(home, first)
    second.append("journal", "alice", events[1], True)  # the retry of the last append
    assert stored(home) == [(1, "open"), (2, "d0")]


def test_a_retried_first_event_is_done_not_account_exists(home):
    events = history(0)
    first = PersistenceActor(str(home), NAMESPACE)
    first.append("journal", "alice", events[0], True)
    second = restarted(home, first)
    second.append("journal", "alice", events[0], True)
    assert stored(home) == [(1, "open")]


def test_any_other_conflict_is_refused_and_writes_nothing(home):
    events = history(2)
    actor = PersistenceActor(str(home), NAMESPACE)
    for event in events[:2]:
        actor.append("journal", "alice", event, True)
    other = Account(name="alice")
    with pytest.raises(RuleViolation, match="already exists"):  # another create
        actor.append("journal", "alice", other.decide_open("open-2", D("1"), D("0")), True)
    replaced = Event(seq=2, op_id="d-other", type="deposit", amount=D("1.00"),
                     balance=D("11.00"), at=events[1].at)
    with pytest.raises(StorageError, match="conflicts"):  # the same seq, another op
        actor.append("journal", "alice", replaced, True)
    gap = Event(seq=4, op_id="d9", type="deposit", amount=D("1.00"), balance=D("13.00"),
                at=events[1].at)
    with pytest.raises(StorageError, match="does not follow"):
        actor.append("journal", "alice", gap, True)
    actor.append("journal", "alice", events[2], True)  # the right next event still goes in
    assert stored(home) == [(1, "open"), (2, "d0"), (3, "d1")]
    actor.close("journal", "alice")


def test_snapshots_are_made_from_the_actors_own_state(home, monkeypatch):
    monkeypatch.setenv("RAYBANK_SNAPSHOT_EVERY", "3")
    actor = PersistenceActor(str(home), NAMESPACE)
    for event in history(9):
        actor.append("journal", "alice", event, True)
    actor.close("journal", "alice")
    store = Storage(home, NAMESPACE).stores["journal"]
    assert list(store.folder("alice").glob("snapshot-*"))
    check = read_back(store, "alice")
    assert check.differences == [] and check.loaded.balance == D("19.00")

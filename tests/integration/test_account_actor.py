"""The account actor's own logic, run as a plain object (no Ray): what reaches memory when."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import pytest

from raybank.actors.account_actor import AccountActor
from raybank.domain.errors import RuleViolation
from raybank.storage import Storage
from raybank.storage.files import private_dir

NAMESPACE = "ns"


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return private_dir(tmp_path / "home")


@pytest.fixture
def actor(home: Path):
    made = AccountActor(str(home), NAMESPACE, "alice")
    yield made
    made.passivate()


def stored_op_ids(home: Path, name: str = "alice") -> list[str]:
    storage = Storage(home, NAMESPACE)
    return [event.op_id for event in storage.store_for(name).events(name)]


def test_a_change_that_failed_before_reaching_disk_is_applied_by_its_retry(home, actor):
    actor.open("open", D("10.00"), D("0.00"))
    (home / "faults").write_bytes(b"")  # a file, not a folder: the fault check itself fails
    with pytest.raises(OSError):
        actor.deposit("d1", D("5.00"))
    assert stored_op_ids(home) == ["open"]
    (home / "faults").unlink()
    retried = actor.deposit("d1", D("5.00"))
    assert retried == {"name": "alice", "balance": D("15.00"), "min_balance": D("0.00")}
    assert stored_op_ids(home) == ["open", "d1"]
    assert actor.summary()["balance"] == D("15.00")


def test_a_refused_create_with_another_storage_does_not_choose_it(home, actor):
    with pytest.raises(RuleViolation):
        actor.open("o1", D("1.00"), D("2.00"), "snapshot")
    actor.open("o2", D("0.00"), D("0.00"))
    folder = Storage(home, NAMESPACE).stores["journal"].folder("alice")
    assert sorted(path.name for path in folder.iterdir()) == ["journal.log"]


def test_a_create_with_another_storage_uses_it(home, actor):
    actor.open("o1", D("1.00"), D("0.00"), "snapshot")
    actor.deposit("d1", D("1.00"))
    folder = Storage(home, NAMESPACE).stores["snapshot"].folder("alice")
    assert sorted(path.name for path in folder.iterdir()) == ["state.pickle"]
    assert stored_op_ids(home) == ["o1", "d1"]

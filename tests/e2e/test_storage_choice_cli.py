"""`create --storage`: the format is chosen by the create that succeeds, and only by it."""

from __future__ import annotations

import json

import pytest

from raybank.storage import Storage

pytestmark = pytest.mark.ray


def test_a_refused_create_with_storage_snapshot_leaves_the_next_create_on_the_default(
        driver_bank):
    # batch keeps the actor of a refused create alive, so the second line meets the same one
    script = "create x --storage snapshot --balance 1 --min-balance 2\ncreate x\n"
    result = driver_bank("batch", "-", "--json", input=script)
    assert [json.loads(line)["exit"] for line in result.stdout.splitlines()] == [1, 0]
    folder = Storage(driver_bank.home, driver_bank.namespace).stores["journal"].folder("x")
    assert sorted(path.name for path in folder.iterdir()) == ["journal.log"]
    assert driver_bank.json("deposit", "x", "1.00")["balance"] == "1.00"

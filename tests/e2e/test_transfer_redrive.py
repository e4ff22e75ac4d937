"""A transfer that meets an infrastructure error in a live coordinator is finished by it.

No restart is involved: the coordinator's background re-drive loop keeps driving the transfer
until its storage is back, and a repeat of the command with the same op id returns the one
outcome. The failure is real: the destination's journal is moved away, so its actor cannot
load it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import GATEWAY_ONLY, Raybank
from tests.support.probes import coordinator, legs, wait_for

pytestmark = pytest.mark.ray


def journal(raybank: Raybank, name: str) -> Path:
    return (raybank.home / "namespaces" / raybank.namespace.encode().hex() / "accounts"
            / name.encode().hex() / "journal.log")


@GATEWAY_ONLY
def test_a_transfer_whose_destination_cannot_load_is_finished_in_the_background(raybank):
    raybank.json("create", "a", "--balance", "100.00")
    raybank.json("create", "b", "--balance", "5.00")
    raybank.json("transfer", "a", "b", "1.00", "--op-id", "warm-up")  # the coordinator runs
    before = coordinator(raybank)
    raybank.json("kill", "b")  # b's actor lets go of its journal...
    path = journal(raybank, "b")
    away = path.with_name("away.log")
    path.rename(away)  # ...and cannot load it again: every credit fails with exit 4
    try:
        failed = raybank.json("transfer", "a", "b", "60.00", "--op-id", "pay", expect=4)
        error = failed["error"]
        assert (error["op_id"], error["transfer_id"], error["may_have_applied"]) == (
            "pay", "pay", True)
        assert error["code"] == "transfer-unfinished" and "background" in error["message"]
        assert raybank.json("balance", "a")["held"] == "60.00"  # safe, not yet moved
    finally:
        away.rename(path)

    def settled() -> bool:
        a = raybank.json("balance", "a")
        return a["balance"] == "39.00" and "held" not in a

    wait_for(settled, "the re-drive loop settles the transfer once b's journal is back")
    assert raybank.json("balance", "b")["balance"] == "66.00"
    after = coordinator(raybank)
    assert (after["pid"], after["restarts"]) == (before["pid"], before["restarts"])
    again = raybank.json("transfer", "a", "b", "60.00", "--op-id", "pay")
    assert again == {"transfer_id": "pay", "amount": "60.00", "duplicate": True,
                     "from": {"name": "a", "balance": "39.00", "min_balance": "0.00"},
                     "to": {"name": "b", "balance": "66.00", "min_balance": "0.00"}}
    assert legs(raybank, "a") == {("warm-up", "hold"): 1, ("warm-up", "transfer_out"): 1,
                                  ("pay", "hold"): 1, ("pay", "transfer_out"): 1}
    assert legs(raybank, "b") == {("warm-up", "transfer_in"): 1, ("pay", "transfer_in"): 1}

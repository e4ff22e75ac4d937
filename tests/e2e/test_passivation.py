"""Actor placement's passivation: at most RAYBANK_MAX_LIVE account actors, idle ones stopped,
every account revived by name with nothing lost and no op id forgotten.

Driver path only: the limit is read by the process that routes the calls (the command
itself here; through the gateway, the gateway's environment: docs/design.md).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import Raybank, attached_bank
from tests.support.probes import wait_for

pytestmark = pytest.mark.ray


def live_actors(bank: Raybank) -> dict[str, str]:
    return {row["name"]: row["actor"]["state"] for row in bank.json("accounts")["accounts"]}


def alive(bank: Raybank) -> set[str]:
    return {name for name, state in live_actors(bank).items() if state != "INACTIVE"}


@pytest.fixture
def limited(session_cluster: Raybank, tmp_path: Path) -> Raybank:
    bank = attached_bank(session_cluster, tmp_path, "driver")
    bank.extra_env.update(RAYBANK_MAX_LIVE="2")
    return bank


def test_at_most_max_live_actors_and_nothing_lost(limited: Raybank) -> None:
    for name in ("a", "b", "c", "d"):
        limited.json("create", name, "--balance", "10.00")
        assert len(alive(limited)) <= 2
    assert limited.json("status")["evictions"] >= 2
    # "a" was passivated to make room: its next command revives it, with its op ids.
    assert "a" not in alive(limited)
    first = limited.json("deposit", "a", "5.00", "--op-id", "dep-a")
    assert first["balance"] == "15.00"
    for name in ("b", "c", "d"):
        limited.json("deposit", name, "1.00")
        assert len(alive(limited)) <= 2
    assert "a" not in alive(limited)
    again = limited.json("deposit", "a", "5.00", "--op-id", "dep-a")
    assert again == {**first, "duplicate": True}  # answered from the record, not applied
    balances = {name: limited.json("balance", name)["balance"] for name in "abcd"}
    assert balances == {"a": "15.00", "b": "11.00", "c": "11.00", "d": "11.00"}
    counts = limited.json("status")
    assert counts["activations"] >= 1 and counts["evictions"] >= 4
    assert limited.json("verify")["ok"] is True


def test_an_idle_actor_stops_itself_and_comes_back_by_name(limited: Raybank) -> None:
    limited.extra_env.update(RAYBANK_MAX_LIVE="8", RAYBANK_IDLE_S="1")
    limited.json("create", "idle", "--balance", "3.00")
    wait_for(lambda: "idle" not in alive(limited), "the idle actor to stop", timeout=20)
    assert limited.json("deposit", "idle", "1.00")["balance"] == "4.00"
    assert limited.json("status")["evictions"] >= 1


def test_simulate_checks_accounts_whose_actors_stopped_while_idle(limited: Raybank) -> None:
    """The simulator opens its accounts itself, so it holds a handle to each; an account
    idle for RAYBANK_IDLE_S stops on its own meanwhile (a long run's first accounts do).
    Its checks must read such an account from storage, not call the stopped actor (a
    1,000-account run once ended in an internal error here)."""
    limited.extra_env.update(RAYBANK_MAX_LIVE="8", RAYBANK_IDLE_S="0.5")
    report = limited.json("simulate", "--accounts", "6", "--ops", "12", "--concurrency", "1",
                          "--seed", "3")
    assert report["ok"] is True and all(report["invariants"].values()), report
    assert report["evictions"] >= 1  # some actor did stop while idle

"""raybank simulate: a seeded chaos run keeps every promise, and a planted defect is caught."""

from __future__ import annotations

import pytest

from raybank.testing.faults import arm
from tests.support.cli import PLACEMENTS

pytestmark = pytest.mark.ray


@pytest.fixture
def raybank(driver_bank):
    """`simulate` always runs in-process, never through the gateway: one path covers it."""
    return driver_bank


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_a_seeded_chaos_run_passes_every_invariant_and_cleans_up(raybank, placement):
    result = raybank.json("simulate", "--accounts", "4", "--ops", "200", "--concurrency", "2",
                          "--chaos", "0.03", "--seed", "11")
    assert result["ok"] is True and all(result["invariants"].values()), result["invariants"]
    assert result["ops"] == 200 and result["accounts"] == 4 and result["kills"] >= 1
    assert set(result["latency_ms"]) == {"p50", "p99"} and result["ops_per_s"] > 0
    assert result["names"] == ["sim-0000", "sim-0001", "sim-0002", "sim-0003"]
    assert result["namespace"].startswith("raybank-sim-")
    assert result["placement"] == placement
    if placement == "hosted":  # every account was activated in its host at least once
        assert result["activations"] >= 4
    leftover = raybank.json("--namespace", result["namespace"], "accounts")["accounts"]
    assert leftover == []


@pytest.mark.usefixtures("fault_injection")
def test_an_acknowledged_event_dropped_by_storage_is_caught(raybank):
    arm(raybank.home, "drop-append", "sim-0001")
    result = raybank.json("simulate", "--accounts", "3", "--ops", "60", "--concurrency", "1",
                          "--seed", "5", "--keep", expect=1)
    assert result["ok"] is False
    assert result["invariants"]["money_conserved"] is False
    assert result["invariants"]["journals_match"] is False
    # The live actor still remembers the event; storage has a gap where it should be.
    verified = raybank.json("--namespace", result["namespace"], "verify", expect=4)
    assert verified["error"]["code"] == "storage-corrupt"
    assert "73696d2d30303031" in verified["error"]["message"]  # sim-0001's folder


def test_the_summary_table_is_readable(raybank):
    shown = raybank("simulate", "--accounts", "2", "--ops", "20", "--seed", "2")
    assert shown.code == 0, shown.stderr[-2000:]
    for label in ("ops/s", "latency p50 / p99 ms", "money conserved", "All invariants held."):
        assert label in shown.stdout


def test_plot_saves_the_report_as_a_picture(raybank, tmp_path):
    path = tmp_path / "run.svg"
    result = raybank.json("simulate", "--accounts", "2", "--ops", "30", "--seed", "4",
                          "--plot", str(path))
    assert result["plot"] == str(path)
    assert sum(b["count"] for b in result["latency_histogram"]) == 30
    assert result["throughput"] and path.stat().st_size > 0
    assert "throughput" in path.read_text()

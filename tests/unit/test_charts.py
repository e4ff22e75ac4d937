"""Pictures: the simulator's latency histogram and throughput over time, the accounts'
distribution of balances, and the SVG that `simulate --plot` saves. No Ray."""

from __future__ import annotations

import io
from decimal import Decimal as D

import pytest

from raybank.cli.charts import SUMMARY_FROM
from raybank.cli.plot import plot_path, write_plot
from raybank.cli.render import Renderer
from raybank.domain.errors import InvalidOption
from raybank.scenarios.workload import latency_histogram, throughput_series

ACTOR = {"state": "ALIVE", "pid": 4242, "node_id": "c6bd7da6ffff", "restarts": 0}


def simulation_result() -> dict:
    latencies = [1.0] * 50 + [2.0] * 30 + [40.0] * 5 + [900.0]
    return {
        "namespace": "raybank-sim-x", "seed": 3, "accounts": 2, "ops": len(latencies),
        "refused": 0, "retried": 0, "seconds": 2.0, "ops_per_s": 43.0,
        "latency_ms": {"p50": 1.0, "p99": 40.0}, "kills": 0, "restarts": 0,
        "memory_mb_per_actor": None, "calls": {}, "invariants": {"money_conserved": True},
        "ok": True, "latency_histogram": latency_histogram(latencies),
        "throughput": throughput_series([10.0] * 60 + [11.9] * 26, 10.0, 2.0),
    }


def draw(view: str, payload: dict) -> str:
    out = io.StringIO()
    renderer = Renderer(False, out, io.StringIO())
    renderer.console.width = 100
    renderer.result(view, payload)
    return out.getvalue()


def test_the_histogram_counts_every_latency_once_in_bins_that_cover_them_all():
    latencies = [0.5, 0.7, 3.0, 3.0, 250.0, 4000.0]
    bins = latency_histogram(latencies)
    assert sum(b["count"] for b in bins) == len(latencies)
    assert bins[0]["from_ms"] == 0.5 and bins[-1]["to_ms"] == 4000.0
    assert all(a["to_ms"] == b["from_ms"] for a, b in zip(bins, bins[1:]))
    assert latency_histogram([]) == [] and latency_histogram([2.0, 2.0])[0]["count"] == 2


def test_throughput_puts_each_completion_in_its_slice_of_the_run():
    series = throughput_series([100.0, 100.1, 101.9, 102.0], started=100.0, seconds=2.0,
                               buckets=2)
    assert series == [{"at_s": 0.0, "ops_per_s": 2.0}, {"at_s": 1.0, "ops_per_s": 2.0}]


def test_the_simulate_report_draws_both_charts():
    shown = draw("simulate", simulation_result())
    assert "latency (ms)" in shown and "throughput over time" in shown
    assert "█" * 40 in shown  # the largest bin is a full-width bar
    assert "All invariants held." in shown


def test_plot_writes_a_non_empty_svg_of_the_same_report(tmp_path):
    path = plot_path(str(tmp_path / "run.svg"))
    write_plot(path, "simulate", simulation_result(), "raybank simulate --seed 3")
    picture = path.read_text()
    assert picture.startswith("<svg") and picture.rstrip().endswith("</svg>")
    assert "throughput" in picture and "latency" in picture


@pytest.mark.parametrize("name", ["run.png", "run", "missing-folder/run.svg"])
def test_plot_refuses_what_it_cannot_write_before_anything_runs(tmp_path, name):
    with pytest.raises(InvalidOption):
        plot_path(str(tmp_path / name))


def rows(balances: list[str]) -> list[dict]:
    return [{"name": f"acct-{i}", "balance": D(b), "min_balance": D("0"), "actor": ACTOR}
            for i, b in enumerate(balances)]


def test_a_long_listing_starts_with_count_total_and_distribution():
    balances = [f"{i}.00" for i in range(SUMMARY_FROM)] + ["-50.00", "1000.00"]
    listing = rows(balances)
    total = sum(row["balance"] for row in listing)
    shown = draw("accounts", {"accounts": listing, "total": total})
    assert f"{len(listing)} accounts, total {total:.2f}" in shown
    assert "lowest -50.00" in shown and "highest 1000.00" in shown
    assert shown.index("balances") < shown.index("Restarts")  # above the table


def test_a_short_listing_has_no_summary():
    listing = rows(["1.00", "2.00"])
    assert "lowest" not in draw("accounts", {"accounts": listing, "total": D("3.00")})


def test_equal_balances_make_one_bar():
    listing = rows(["5.00"] * SUMMARY_FROM)
    assert f"{SUMMARY_FROM} accounts" in draw("accounts", {"accounts": listing,
                                                         "total": D(5 * SUMMARY_FROM)})

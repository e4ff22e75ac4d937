"""`accounts` shows the bank's total at one consistent cut: a transfer counted exactly once."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import pytest

from raybank.testing.faults import arm
from raybank.cli.render import Renderer
from tests.support.cli import GATEWAY_ONLY, wait_all
from tests.support.probes import wait_for


def rows(listing: dict) -> dict[str, dict]:
    return {row["name"]: row for row in listing["accounts"]}


@pytest.mark.ray
@pytest.mark.usefixtures("fault_injection")
def test_a_transfer_stuck_between_credit_and_settle_is_counted_once(raybank):
    raybank.json("create", "a", "--balance", "100.00")
    raybank.json("create", "b", "--balance", "50.00")
    raybank.json("create", "c")
    raybank.json("transfer", "a", "c", "1.00", "--op-id", "warm-up")
    # Every settle on a fails (exit 4) while the marker exists: the transfer stays credited.
    marker = arm(raybank.home, "fail-transfer_out", "a")
    failed = raybank.json("transfer", "a", "b", "30.00", "--op-id", "stuck", expect=4)
    assert failed["error"]["transfer_id"] == "stuck"
    listing = raybank.json("accounts")
    a, b = rows(listing)["a"], rows(listing)["b"]
    # b has the money and a still has it too (held): their plain sum is 180.00.
    assert (a["balance"], a["held"], b["balance"]) == ("99.00", "30.00", "80.00")
    assert listing["total"] == "150.00"
    shown = raybank("accounts")
    assert shown.code == 0 and "Total" in shown.stdout and "150.00" in shown.stdout
    marker.unlink()

    def settled() -> dict | None:
        listing = raybank.json("accounts")
        return listing if "held" not in rows(listing)["a"] else None

    listing = wait_for(settled, "the transfer is settled once the fault is cleared")
    assert {name: row["balance"] for name, row in rows(listing).items()} == {
        "a": "69.00", "b": "80.00", "c": "1.00"}
    assert listing["total"] == "150.00"


@pytest.mark.ray
def test_a_namespace_without_transfers_has_a_plain_total(raybank):
    raybank.json("create", "a", "--balance", "10.50")
    raybank.json("create", "b", "--min-balance", "-5.00")
    raybank.json("withdraw", "b", "2.25")
    assert raybank.json("accounts")["total"] == "8.25"
    assert not (raybank.home / "namespaces" / raybank.namespace.encode().hex()
                / "transfers").exists()  # listing started no coordinator


PAIRS = [("a", "b"), ("b", "c"), ("c", "d"), ("d", "a"), ("a", "c"), ("b", "d")]


@pytest.mark.ray
@GATEWAY_ONLY
def test_every_total_read_during_transfers_and_a_kill_is_the_initial_sum(raybank,
                                                                          tmp_path: Path):
    for name in "abcd":
        raybank.json("create", name, "--balance", "100.00")
    raybank.json("transfer", "a", "b", "0.01", "--op-id", "warm-up")
    batches = []
    for worker in range(4):
        lines = [f"transfer {' '.join(PAIRS[(worker + n) % len(PAIRS)])} "
                 f"{n + 1}.{(17 * n + worker) % 100:02d}" for n in range(10)]
        path = tmp_path / f"batch-{worker}.txt"
        path.write_text("\n".join(lines) + "\n")
        batches.append(raybank.popen("batch", str(path), "--json"))
    totals = [raybank.json("accounts")["total"]]
    killer = raybank.popen("kill", "b", "--restart", "--json")  # an actor dies mid-way
    while any(process.poll() is None for process in batches) or len(totals) < 4:
        totals.append(raybank.json("accounts")["total"])
        assert len(totals) < 200
    results = wait_all([*batches, killer])
    assert all(result.code in (0, 1) for result in results), [r.stderr[-2000:] for r in results]
    final = raybank.json("accounts")
    totals.append(final["total"])
    assert set(totals) == {"400.00"}
    assert sum(Decimal(row["balance"]) for row in final["accounts"]) == Decimal("400.00")
    assert all("held" not in row for row in final["accounts"])


def test_the_table_ends_with_the_total_under_a_rule_on_80_columns():
    actor = {"state": "INACTIVE", "pid": None, "node_id": None, "restarts": 0}
    payload = {"accounts": [{"name": "Total", "balance": Decimal("-2.50"),
                             "min_balance": Decimal("-5.00"), "actor": actor},
                            {"name": "b", "balance": Decimal("123456789012.00"),
                             "min_balance": Decimal("0.00"), "actor": actor}],
               "total": Decimal("123456789009.50")}
    out = io.StringIO()
    renderer = Renderer(False, out, io.StringIO())
    renderer.console.width = 80
    renderer.result("accounts", payload)
    lines = out.getvalue().splitlines()
    assert all(len(line) <= 80 for line in lines)
    last = next(n for n, line in enumerate(lines) if "123456789009" in line)
    assert lines[last].split()[0] == "Total" and last > next(
        n for n, line in enumerate(lines) if "123456789012" in line)


@pytest.mark.ray
@pytest.mark.parametrize("placement", ["actor", "hosted"])
def test_limit_shows_the_first_accounts_with_the_count_and_total_of_all(raybank, placement):
    script = "".join(f"create n{i} --balance {i + 1}.00\n" for i in range(5))
    assert raybank("batch", "-", "--json", input=script).code == 0
    raybank.json("transfer", "n4", "n0", "2.00")
    limited = raybank.json("accounts", "--limit", "2")
    assert [row["name"] for row in limited["accounts"]] == ["n0", "n1"]
    assert (limited["count"], limited["shown"], limited["total"]) == (5, 2, "15.00")
    assert limited["accounts"][0]["balance"] == "3.00"
    whole = raybank.json("accounts")
    assert (whole["count"], whole["shown"], len(whole["accounts"])) == (5, 5, 5)
    shown = raybank("accounts", "--limit", "2")
    assert shown.code == 0
    assert "5 accounts, total 15.00 (showing the first 2; see --limit)" in shown.stdout
    assert "n2" not in shown.stdout
    for bad in ("0", "-1", "two"):
        refused = raybank("accounts", "--limit", bad, "--json")
        assert refused.code == 2, (bad, refused.stdout, refused.stderr)

"""`raybank batch`: JSON Lines in input order, per-account order, first failure's exit code."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal

import pytest

pytestmark = pytest.mark.ray


def lines_of(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_batch_reports_every_line_in_order_with_contract_codes(driver_bank):
    script = "\n".join([
        "# opening accounts",
        "create a --balance 10",
        "create b --balance 1 --min-balance -5",
        "",
        "deposit a 5 --op-id dep-1",
        "withdraw b 7",            # refused: would pass the minimum
        "deposit a 5 --op-id dep-1",  # duplicate: applied once
        "deposit b 1e3",           # invalid amount
        "balance nobody",          # not found
        "history a --limit 1",     # not pipelined: waits for the lines before it
        "withdraw b 6",
        "nosuch x",
        "up",
    ]) + "\n"
    result = driver_bank("batch", "-", "--json", input=script)
    assert result.code == 1, result.stderr[-2000:]
    records = lines_of(result)
    assert [(r["line"], r["exit"]) for r in records] == [
        (2, 0), (3, 0), (5, 0), (6, 1), (7, 0), (8, 2), (9, 3), (10, 0), (11, 0), (12, 2),
        (13, 2)]
    by_line = {r["line"]: r for r in records}
    assert by_line[2]["result"] == {"name": "a", "balance": "10.00", "min_balance": "0.00"}
    assert by_line[6]["error"]["code"] == "insufficient-funds"
    assert by_line[7]["result"] == {"name": "a", "balance": "15.00", "min_balance": "0.00",
                                    "duplicate": True}
    assert by_line[8]["error"]["code"] == "invalid-amount"
    assert by_line[9]["error"]["code"] == "account-not-found"
    assert by_line[10]["result"]["events"][0]["balance"] == "15.00"
    assert by_line[11]["result"]["balance"] == "-5.00"
    # Printed means durable: a fresh process reads the same balances.
    assert driver_bank.json("balance", "a")["balance"] == "15.00"
    assert driver_bank.json("balance", "b")["balance"] == "-5.00"


def test_batch_keeps_each_accounts_order_across_interleaved_accounts(driver_bank):
    script = ["create x --balance 0", "create y --balance 0"]
    for n in range(1, 41):
        script += [f"deposit x {n}.00", "withdraw y 1.00" if n % 2 else "deposit y 1.00"]
    script += ["withdraw x 820.00", "withdraw x 0.01"]  # 1+..+40 = 820: exactly empties x
    result = driver_bank("batch", "--json", input="\n".join(script))
    records = lines_of(result)
    assert result.code == 1 and len(records) == len(script)
    assert [r["line"] for r in records] == list(range(1, len(script) + 1))
    deposits_x = [r["result"]["balance"] for r in records[2:82:2]]
    assert deposits_x == [f"{n * (n + 1) // 2}.00" for n in range(1, 41)]
    y = [r["result"]["balance"] if r["exit"] == 0 else r["error"]["code"]
         for r in records[3:82:2]]
    assert y == ["insufficient-funds"] + ["1.00", "0.00"] * 19 + ["1.00"]
    assert records[-2]["result"]["balance"] == "0.00"
    assert records[-1]["error"]["code"] == "insufficient-funds"


def test_batch_of_only_good_lines_exits_0_and_reads_files(driver_bank, tmp_path):
    ops = tmp_path / "ops.txt"
    ops.write_text("create f --balance 3\nbalance f\n")
    result = driver_bank("batch", str(ops))
    assert result.code == 0
    assert [r["result"]["balance"] for r in lines_of(result)] == ["3.00", "3.00"]
    missing = driver_bank("batch", str(tmp_path / "nope.txt"), "--json")
    assert missing.code == 2 and missing.json["error"]["code"] == "unreadable-input"


def test_batch_stops_reading_when_its_reader_goes_away(driver_bank, tmp_path):
    # `raybank batch ops.txt | head -1`: no traceback, exit 4, and the lines after the
    # point where output failed are not run (bounded by the lines already in flight).
    ops = tmp_path / "ops.txt"
    ops.write_text("create p --balance 0\n" + "deposit p 0.01\n" * 10_000)
    process = subprocess.Popen(driver_bank.command("batch", str(ops)), env=driver_bank.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert json.loads(process.stdout.readline())["line"] == 1
    process.stdout.close()
    with process.stderr:
        stderr = process.stderr.read()
    assert process.wait(timeout=120) == 4, stderr[-2000:]
    assert "Traceback" not in stderr and "stopped reading input" in stderr
    balance = Decimal(driver_bank.json("balance", "p")["balance"])
    assert Decimal("0.01") <= balance < Decimal("100.00")  # some deposits ran, not all

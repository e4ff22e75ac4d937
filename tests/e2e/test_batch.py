"""`raybank batch`: JSON Lines in input order, per-account order, first failure's exit code."""

from __future__ import annotations

import json
import select
import subprocess
from decimal import Decimal

import pytest

from tests.support.cli import PLACEMENTS

pytestmark = pytest.mark.ray


def lines_of(result):
    return [json.loads(line) for line in result.stdout.splitlines()]


@pytest.mark.parametrize("placement", PLACEMENTS)
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


@pytest.mark.parametrize("placement", PLACEMENTS)
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


def test_a_form_feed_inside_a_comment_runs_no_hidden_command(driver_bank):
    script = "create a --balance 100\n# pay\fwithdraw a 50.00\nbalance a\n"
    result = driver_bank("batch", "-", "--json", input=script)
    assert result.code == 0, result.stdout + result.stderr[-2000:]
    records = lines_of(result)
    assert [r["line"] for r in records] == [1, 3]
    assert records[-1]["result"]["balance"] == "100.00"
    assert [e["type"] for e in driver_bank.json("history", "a")["events"]] == ["created"]


def test_batch_answers_a_line_before_its_input_is_closed(driver_bank):
    # A script may write one line, wait for its result, and decide what to write next.
    process = subprocess.Popen(driver_bank.command("batch", "-"), env=driver_bank.env,
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        for line, balance in (("create s --balance 1", "1.00"), ("deposit s 2", "3.00")):
            process.stdin.write(line + "\n")
            process.stdin.flush()
            ready, _, _ = select.select([process.stdout], [], [], 120)
            assert ready, f"no result for {line!r} while the input stayed open"
            assert json.loads(process.stdout.readline())["result"]["balance"] == balance
        process.stdin.close()
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
        for pipe in (process.stdin, process.stdout, process.stderr):
            pipe.close()
        process.wait()


def test_each_failing_line_names_its_own_op_id(driver_bank):
    script = "\n".join([
        "create o --balance 1",
        "withdraw o 5 --op-id w-1",         # refused (1), pipelined: the error comes later
        "withdraw o 5",                     # the same, with a generated op id
        "deposit nobody 1 --op-id d-1",     # one group error answers both lines on 'nobody'
        "deposit nobody 2 --op-id d-2",
        "create p",
        "transfer o p 5 --op-id t-1",       # refused transfer: its transfer id too
        "deposit o 1e3 --op-id d-3",        # invalid input
    ]) + "\n"
    records = {r["line"]: r for r in lines_of(driver_bank("batch", "-", "--json",
                                                          input=script))}
    errors = {line: r["error"] for line, r in records.items() if "error" in r}
    assert {line: (e["code"], e.get("op_id"), e.get("transfer_id"), e["may_have_applied"])
            for line, e in errors.items() if line != 3} == {
        2: ("insufficient-funds", "w-1", None, False),
        4: ("account-not-found", "d-1", None, False),
        5: ("account-not-found", "d-2", None, False),
        7: ("insufficient-funds", "t-1", "t-1", False),
        8: ("invalid-amount", "d-3", None, False)}
    assert errors[3]["code"] == "insufficient-funds" and len(errors[3]["op_id"]) == 36
    assert "(op id w-1)" in errors[2]["message"]

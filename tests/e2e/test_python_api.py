"""The Python API end to end: `raybank.connect()` in a real Python process on the test cluster.

Each check runs a short script in its own interpreter (as a notebook would be), with the
test's home and namespace in its environment, so this test process never becomes a Ray
driver. The script prints one JSON object; the CLI then reads the same bank.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from tests.support.cli import Raybank

pytestmark = pytest.mark.ray


def run_python(bank: Raybank, code: str) -> Any:
    """Run ``code`` with raybank's environment; it must print one JSON object last.

    Ray may print its own warnings to a driver's stdout (a "(raylet)" line about worker
    processes on a busy cluster): a Python process is a plain driver, and raybank does not
    take its stdout away. The script's object is its last line that starts with "{".
    """
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=bank.env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert lines, done.stdout[-3000:]
    return json.loads(lines[-1])


def test_changes_made_in_python_are_the_clis_and_results_are_typed(driver_bank: Raybank
                                                                   ) -> None:
    seen = run_python(driver_bank, """
        import json
        from decimal import Decimal
        import raybank

        with raybank.connect() as bank:
            alice = bank.create("alice", balance="100.00", min_balance=10)
            bank.create("bob")
            deposit = bank.deposit("alice", Decimal("25.50"), op_id="dep-1")
            again = bank.deposit("alice", Decimal("25.50"), op_id="dep-1")
            moved = bank.transfer("alice", "bob", 5)
            listing = bank.accounts()
            history = bank.history("alice")
            print(json.dumps({
                "types": [type(alice).__name__, type(alice.balance).__name__,
                          type(moved).__name__, type(history.events[0].at).__name__],
                "deposit": str(deposit.balance), "again": str(again.balance),
                "duplicate": [deposit.duplicate, again.duplicate],
                "moved": [str(moved.source.balance), str(moved.target.balance)],
                "total": str(listing.total),
                "names": [row.account.name for row in listing.accounts],
                "events": [event.type for event in history.events],
            }))
    """)
    assert seen["types"] == ["Account", "Decimal", "Transfer", "datetime"]
    assert seen["deposit"] == seen["again"] == "125.50"  # applied once
    assert seen["duplicate"] == [False, True]
    assert seen["moved"] == ["120.50", "5.00"]
    assert seen["total"] == "125.50"
    assert seen["names"] == ["alice", "bob"]
    assert seen["events"][:2] == ["created", "deposit"]
    # The command line sees the same accounts, and its changes are seen from Python.
    assert driver_bank.json("balance", "alice")["balance"] == "120.50"
    driver_bank.json("withdraw", "bob", "1.00")
    again = run_python(driver_bank, """
        import json, raybank
        bank = raybank.connect()
        print(json.dumps({"bob": str(bank.balance("bob").balance)}))
        bank.close()
    """)
    assert again == {"bob": "4.00"}


def test_errors_are_the_clis_hierarchy_and_change_nothing(driver_bank: Raybank) -> None:
    driver_bank.json("create", "carol", "--balance", "10.00")
    seen = run_python(driver_bank, """
        import json
        import raybank

        caught = {}
        with raybank.connect() as bank:
            for label, call in [
                ("float", lambda: bank.deposit("carol", 1.5)),
                ("funds", lambda: bank.withdraw("carol", "50.00", op_id="w-1")),
                ("missing", lambda: bank.balance("nobody")),
                ("name", lambda: bank.deposit("no/slash", 1)),
                ("reused", lambda: bank.deposit("carol", 2, op_id="w-1")),
            ]:
                try:
                    call()
                except TypeError as error:
                    caught[label] = ["TypeError", str(error)]
                except raybank.BankError as error:
                    caught[label] = [type(error).__name__, error.code, int(error.exit_code),
                                     error.op_id]
            balance = str(bank.balance("carol").balance)
            rule = isinstance(raybank.InsufficientFunds("x"), raybank.RuleViolation)
        print(json.dumps({"caught": caught, "balance": balance, "rule": rule}))
    """)
    caught = seen["caught"]
    assert caught["float"][0] == "TypeError" and "Decimal" in caught["float"][1]
    assert caught["funds"] == ["InsufficientFunds", "insufficient-funds", 1, "w-1"]
    assert caught["missing"][:3] == ["AccountNotFound", "account-not-found", 3]
    assert caught["name"][:3] == ["InvalidName", "invalid-name", 2]
    # w-1 was refused, so it was never applied: using it again is a new change
    assert caught.get("reused") is None
    assert seen["balance"] == "12.00"
    assert seen["rule"] is True


def test_kill_restart_and_verify_from_python(driver_bank: Raybank) -> None:
    seen = run_python(driver_bank, """
        import json
        import raybank

        with raybank.connect() as bank:
            bank.create("dave", balance="7.00")
            kill = bank.kill("dave", restart=True)
            check = bank.verify()
        print(json.dumps({"recovered": kill.recovered, "restarted": kill.restarted,
                          "after": str(kill.after.account.balance),
                          "pids": [kill.before.actor.pid, kill.after.actor.pid],
                          "ok": check.ok, "checked": check.checked}))
    """)
    assert seen["recovered"] and seen["restarted"]
    assert seen["after"] == "7.00"
    assert seen["pids"][0] != seen["pids"][1]
    assert seen["ok"] and seen["checked"] == 1


def test_connect_after_ray_was_imported_and_close_detaches(driver_bank: Raybank) -> None:
    """A notebook may import Ray first: connect still reaches the private cluster, and
    close() leaves the process able to go on (no exit, no stolen stdout)."""
    seen = run_python(driver_bank, """
        import json
        import ray
        import raybank

        bank = raybank.connect()
        bank.create("erin", balance="3.00")
        bank.close()
        closed = False
        try:
            bank.balance("erin")
        except RuntimeError:
            closed = True
        print(json.dumps({"initialized": ray.is_initialized(), "closed": closed,
                          "repr": repr(bank)}))
    """)
    assert seen == {"initialized": False, "closed": True,
                    "repr": seen["repr"]}
    assert "closed" in seen["repr"]
    assert driver_bank.json("balance", "erin")["balance"] == "3.00"

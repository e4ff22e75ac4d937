"""The core commands, end to end: the real CLI against a real Ray cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.support.cli import GATEWAY_ONLY, PLACEMENTS, wait_all

pytestmark = pytest.mark.ray


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_create_deposit_withdraw_balance_round_trip(raybank):
    assert raybank.json("create", "alice", "--balance", "100", "--min-balance", "20") == {
        "name": "alice", "balance": "100.00", "min_balance": "20.00"}
    assert raybank.json("deposit", "alice", "50.55")["balance"] == "150.55"
    assert raybank.json("withdraw", "alice", "0.55")["balance"] == "150.00"
    assert raybank.json("balance", "alice") == {
        "name": "alice", "balance": "150.00", "min_balance": "20.00"}


def test_refusals_have_contract_exit_codes_and_change_nothing(raybank):
    raybank.json("create", "bob", "--balance", "10.00", "--min-balance", "-5.00")
    refused = raybank.json("withdraw", "bob", "15.01", expect=1)
    assert refused["error"]["code"] == "insufficient-funds"
    assert raybank.json("withdraw", "bob", "15.00")["balance"] == "-5.00"  # overdraft limit
    for bad in ("1e3", "nan", "inf", "-5", "0", "0.001", "12,50", "abc", "1000000000000.01"):
        result = raybank("deposit", "--json", "bob", "--", bad)
        assert result.code == 2 and result.json["error"]["code"] == "invalid-amount", bad
    assert raybank.json("create", "bob", expect=1)["error"]["code"] == "account-exists"
    assert raybank.json("create", "../etc", expect=2)["error"]["code"] == "invalid-name"
    assert raybank.json("balance", "nobody", expect=3)["error"]["code"] == "account-not-found"
    below = raybank.json("create", "carol", "--balance", "1", "--min-balance", "2", expect=1)
    assert below["error"]["code"] == "below-minimum"
    assert raybank.json("balance", "bob")["balance"] == "-5.00"
    assert raybank.json("balance", "carol", expect=3)["error"]["code"] == "account-not-found"
    assert [a["name"] for a in raybank.json("accounts")["accounts"]] == ["bob"]


NAMED_ACTORS = """
import json, os
from pathlib import Path
from raybank.cluster.embedded import Home, attach
ns = os.environ["RAYBANK_NAMESPACE"]
attach(Home(Path(os.environ["RAYBANK_HOME"])).ensure(), None, ns)
import ray
print(json.dumps(sorted(a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                        if a["namespace"] == ns)), flush=True)
os._exit(0)
"""


def test_a_refused_create_leaves_no_actor_behind(driver_bank):
    # The CLI cannot list actors that hold no account, so ask Ray directly.
    driver_bank.json("create", "kept")
    below = driver_bank.json("create", "gone", "--balance", "1", "--min-balance", "2", expect=1)
    assert below["error"]["code"] == "below-minimum"
    done = subprocess.run([sys.executable, "-c", NAMED_ACTORS], env=driver_bank.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == ["kept"]


def test_json_stdout_is_exactly_one_object_and_human_errors_go_to_stderr(raybank):
    raybank.json("create", "dave")
    result = raybank("deposit", "dave", "1.00", "--json")
    assert result.stdout.count("\n") == 1 and result.stdout.startswith("{")
    human = raybank("withdraw", "dave", "5.00")
    assert human.code == 1 and human.stdout == "" and "insufficient funds" in human.stderr
    shown = raybank("balance", "dave")
    assert shown.code == 0 and "1.00" in shown.stdout and "INFO" not in shown.stdout


def test_an_unwritable_stdout_is_exit_4_without_a_traceback(raybank):
    # `> /dev/full` (a full disk): the deposit happened, so the command must not look done.
    raybank.json("create", "fran")
    with open("/dev/full", "w") as full:
        done = subprocess.run(raybank.command("deposit", "fran", "1.00", "--json"),
                              env=raybank.env, stdout=full, stderr=subprocess.PIPE, text=True,
                              timeout=120)
    assert done.returncode == 4 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert raybank.json("balance", "fran")["balance"] == "1.00"


def test_usage_errors_exit_2_as_json(raybank):
    result = raybank("deposit", "--json")
    assert result.code == 2
    assert result.json["error"]["code"] == "invalid-input"


def test_kill_with_restart_recovers_the_balance(raybank):
    raybank.json("create", "erin", "--balance", "42.10")
    killed = raybank.json("kill", "erin", "--restart")
    assert killed["restarted"] is True and killed["recovered"] is True
    before, after = killed["before"], killed["after"]
    assert before["actor"]["state"] == after["actor"]["state"] == "ALIVE"
    assert after["actor"]["pid"] != before["actor"]["pid"]
    assert after["actor"]["restarts"] == before["actor"]["restarts"] + 1
    assert after["balance"] == "42.10"


def test_kill_for_good_leaves_account_inactive_until_next_use(raybank):
    raybank.json("create", "frank", "--balance", "7.00")
    killed = raybank.json("kill", "frank")
    assert killed["after"]["actor"]["state"] == "INACTIVE" and killed["after"]["balance"] == "7.00"
    listed = raybank.json("accounts")["accounts"]
    assert [(a["name"], a["actor"]["state"]) for a in listed] == [("frank", "INACTIVE")]
    assert raybank.json("deposit", "frank", "3.00")["balance"] == "10.00"
    listed = raybank.json("accounts")["accounts"]
    assert listed[0]["actor"]["state"] == "ALIVE" and listed[0]["balance"] == "10.00"


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_kill_minus_nine_from_outside_loses_nothing(raybank):
    raybank.json("create", "gina", "--balance", "5.00")
    raybank.json("deposit", "gina", "6.00")
    pid = raybank.json("accounts")["accounts"][0]["actor"]["pid"]
    os.kill(pid, signal.SIGKILL)
    assert raybank.json("balance", "gina")["balance"] == "11.00"
    actor = raybank.json("accounts")["accounts"][0]["actor"]
    assert actor["pid"] != pid and actor["restarts"] >= 1


@GATEWAY_ONLY
def test_concurrent_withdrawals_never_pass_the_minimum(raybank):
    raybank.json("create", "hank", "--balance", "100.00", "--min-balance", "10.00")
    processes = [raybank.popen("withdraw", "hank", "10.00", "--json") for _ in range(20)]
    codes = [result.code for result in wait_all(processes)]
    assert sorted(codes) == [0] * 9 + [1] * 11
    assert raybank.json("balance", "hank")["balance"] == "10.00"


@pytest.mark.parametrize("placement", PLACEMENTS)
def test_concurrent_creates_of_one_name_have_one_winner(raybank):
    processes = [raybank.popen("create", "ivy", "--balance", f"{n}.00", "--json")
                 for n in range(1, 5)]
    outcomes = [(result.code, result.stdout) for result in wait_all(processes)]
    assert sorted(code for code, _ in outcomes) == [0, 1, 1, 1]
    winner = next(out for code, out in outcomes if code == 0)
    balance = raybank.json("balance", "ivy")["balance"]
    assert f'"balance": "{balance}"' in winner
    history = raybank.json("history", "ivy")["events"]
    assert [event["type"] for event in history] == ["created"]


def test_status_reports_cluster_and_accounts(raybank):
    raybank.json("create", "jo")
    status = raybank.json("status")
    assert status["running"] is True and status["accounts"] == 1
    assert status["namespace"] == raybank.namespace
    assert status["address"].startswith("127.0.0.1:")


def test_unreachable_address_fails_fast_with_exit_4(raybank):
    started = time.monotonic()
    result = raybank("--address", "127.0.0.1:1", "balance", "x", "--json")
    assert result.code == 4 and result.json["error"]["code"] == "cluster-unreachable"
    assert time.monotonic() - started < 30

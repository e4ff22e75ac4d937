"""The gateway path: private socket, thin client, replacement after kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.support.cli import Raybank, gateway_pid
from tests.support.probes import THIN_PROBE

pytestmark = pytest.mark.ray


GATEWAY_PROBE = """
import sys
from pathlib import Path
from raybank.cluster.embedded import Home, attach
home = Home(Path(sys.argv[1])).ensure()
attach(home, None, "raybank")
import ray
from raybank.gateway.server import NAMESPACE, gateway_name
live = {(actor["namespace"], actor["name"])
        for actor in ray.util.list_named_actors(all_namespaces=True)}
print((NAMESPACE, gateway_name(home.path)) in live)
"""


def test_answers_are_identical_on_both_paths(raybank):
    """The same script, exact JSON and exit codes, whichever path the fixture chose."""
    assert raybank.json("create", "al", "--balance", "10", "--op-id", "op-1") == {
        "name": "al", "balance": "10.00", "min_balance": "0.00"}
    assert raybank.json("create", "al", "--balance", "10", "--op-id", "op-1") == {
        "name": "al", "balance": "10.00", "min_balance": "0.00", "duplicate": True}
    assert raybank.json("deposit", "al", "2.50")["balance"] == "12.50"
    assert raybank.json("withdraw", "al", "99", expect=1)["error"]["code"] == "insufficient-funds"
    assert raybank.json("deposit", "al", "1e3", expect=2)["error"]["code"] == "invalid-amount"
    assert raybank.json("deposit", "al", expect=2)["error"]["code"] == "invalid-input"
    assert raybank.json("balance", "zed", expect=3)["error"]["code"] == "account-not-found"
    events = raybank.json("history", "al")["events"]
    assert [(e["type"], e["balance"]) for e in events] == [("created", "10.00"),
                                                          ("deposit", "12.50")]
    assert [a["name"] for a in raybank.json("accounts")["accounts"]] == ["al"]
    assert raybank.json("verify") == {"ok": True, "checked": 1, "mismatches": []}
    status = raybank.json("status")
    assert (status["running"], status["namespace"], status["accounts"]) == (
        True, raybank.namespace, 1)
    human = raybank("withdraw", "al", "99")
    assert (human.code, human.stdout) == (1, "") and "insufficient funds" in human.stderr
    table = raybank("balance", "al")
    assert table.code == 0 and "12.50" in table.stdout and "\x1b[" not in table.stdout


def test_both_paths_print_the_same_bytes_for_the_same_commands(gateway_bank):
    gateway_bank.json("create", "dee", "--balance", "3")
    gateway_bank.json("deposit", "dee", "4", "--op-id", "dep-dee")
    driver = Raybank(home=gateway_bank.home, namespace=gateway_bank.namespace,
                     extra_env={"RAYBANK_NO_GATEWAY": "1"})
    for args in (("balance", "dee", "--json"), ("history", "dee", "--json"),
                 ("status", "--json"), ("verify", "--json"), ("balance", "nope", "--json"),
                 ("deposit", "dee", "0", "--op-id", "dep-0", "--json"),
                 ("withdraw", "dee", "--json"),
                 ("deposit", "dee", "4", "--op-id", "dep-dee", "--json"),
                 ("balance", "dee"), ("withdraw", "dee", "100", "--op-id", "w-100")):
        through_gateway, as_driver = gateway_bank(*args), driver(*args)
        assert (through_gateway.code, through_gateway.stdout) == (
            as_driver.code, as_driver.stdout), args
        if not through_gateway.stdout:
            assert through_gateway.stderr.strip() and as_driver.stderr.strip(), args


def test_socket_is_0600_in_a_0700_home(gateway_bank):
    socket_file = gateway_bank.home / "gateway.sock"
    assert (gateway_bank.home.stat().st_mode & 0o777) == 0o700
    assert (socket_file.stat().st_mode & 0o777) == 0o600
    assert socket_file.stat().st_uid == os.getuid()


def test_thin_client_imports_neither_ray_nor_typer_nor_rich(gateway_bank):
    gateway_bank.json("create", "bo")
    probe = subprocess.run([sys.executable, "-c", THIN_PROBE, "balance", "bo", "--json"],
                           env=gateway_bank.env, capture_output=True, text=True, timeout=60)
    assert probe.stdout.strip() == '{"name": "bo", "balance": "0.00", "min_balance": "0.00"}'
    assert probe.stderr.strip().splitlines()[-1] == "0 []"


def test_gateway_killed_with_kill_9_is_replaced_and_nothing_is_lost(gateway_bank):
    gateway_bank.json("create", "cy", "--balance", "5")
    old = gateway_pid(gateway_bank.home)
    os.kill(old, signal.SIGKILL)
    # Right away: either the client falls back to the driver path or Ray's new gateway answers.
    assert gateway_bank.json("deposit", "cy", "1.00")["balance"] == "6.00"
    assert gateway_pid(gateway_bank.home, other_than=old) != old
    assert gateway_bank.json("balance", "cy")["balance"] == "6.00"


def test_a_driver_starts_no_gateway_with_address_or_when_told_not_to(driver_bank):
    """The gateway is the embedded cluster's: a driver starts it after attaching, unless
    RAYBANK_NO_GATEWAY is set or --address names the cluster (any cluster)."""
    assert driver_bank.json("balance", "nobody", expect=3)["error"]["code"] == (
        "account-not-found")
    address = json.loads((driver_bank.home / "cluster.json").read_text())["address"]
    with_address = Raybank(home=driver_bank.home, namespace=driver_bank.namespace,
                           extra_env={"RAYBANK_NO_GATEWAY": ""})
    assert with_address.json("--address", address, "balance", "nobody", expect=3)
    probe = subprocess.run([sys.executable, "-c", GATEWAY_PROBE, str(driver_bank.home)],
                           env=driver_bank.env, capture_output=True, text=True, timeout=120)
    assert (probe.returncode, probe.stdout.strip()) == (0, "False"), probe.stderr[-2000:]
    assert not (driver_bank.home / "gateway.sock").exists()

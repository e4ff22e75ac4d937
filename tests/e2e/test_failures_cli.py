"""What a failed command tells a script, on both paths: the op id that repeats it safely,
whether it may have been applied, and a gateway that dies or meets a surprise."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from raybank.testing.faults import arm
from tests.support.cli import gateway_pid
from tests.support.probes import THIN_PROBE

pytestmark = pytest.mark.ray

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_a_refusal_names_the_op_id_given_or_generated(raybank):
    raybank.json("create", "r", "--balance", "1.00")
    raybank.json("create", "s")
    error = raybank.json("withdraw", "r", "5.00", "--op-id", "w-1", expect=1)["error"]
    assert error == {"code": "insufficient-funds", "op_id": "w-1", "may_have_applied": False,
                     "message": error["message"]}
    assert error["message"].endswith("(op id w-1)")
    raybank.json("deposit", "r", "1.00", "--op-id", "d-1")
    reused = raybank.json("withdraw", "r", "1.00", "--op-id", "d-1", expect=1)["error"]
    assert (reused["code"], reused["op_id"]) == ("op-id-reused", "d-1")
    error = raybank.json("withdraw", "r", "5.00", expect=1)["error"]
    assert UUID.fullmatch(error["op_id"]) and error["may_have_applied"] is False
    error = raybank.json("transfer", "r", "s", "5.00", "--op-id", "t-1", expect=1)["error"]
    assert (error["op_id"], error["transfer_id"]) == ("t-1", "t-1")
    human = raybank("withdraw", "r", "5.00")
    assert human.code == 1 and UUID.search(human.stderr)
    assert raybank.json("balance", "r")["balance"] == "2.00"


@pytest.mark.usefixtures("fault_injection")
def test_an_unexpected_exception_is_the_same_exit_4_on_both_paths(raybank):
    arm(raybank.home, "command-raises", "balance")
    error = raybank.json("balance", "nobody", expect=4)["error"]
    assert error == {"code": "internal-error", "message": (
        "internal error (RuntimeError: injected by the fault step command-raises); "
        "set RAYBANK_DEBUG=1 to see its traceback")}
    arm(raybank.home, "command-raises", "balance")
    human = raybank("balance", "nobody")
    assert human.code == 4 and "Traceback" not in human.stderr
    assert human.stderr.strip().splitlines() == [f"Error: {error['message']}"]


@pytest.mark.usefixtures("fault_injection")
def test_a_gateway_lost_with_a_deposit_in_hand_names_the_op_id_that_applies_it_once(
        gateway_bank):
    gateway_bank.json("create", "g", "--balance", "10.00")
    old = gateway_pid(gateway_bank.home)
    arm(gateway_bank.home, "gateway-before-reply", "deposit")
    lost = gateway_bank("deposit", "g", "2.50", "--json")  # no --op-id: the client made one
    assert lost.code == 4, lost.stderr[-2000:]
    error = lost.json["error"]
    assert (error["code"], error["may_have_applied"]) == ("gateway-lost", True)
    assert UUID.fullmatch(error["op_id"])
    assert f"repeat with --op-id {error['op_id']}" in error["message"]
    # The gateway ran the deposit before it died: the repeat finds it and applies nothing.
    again = gateway_bank.json("deposit", "g", "2.50", "--op-id", error["op_id"])
    assert (again["balance"], again.get("duplicate")) == ("12.50", True)
    gateway_pid(gateway_bank.home, other_than=old)  # Ray replaced the gateway

    arm(gateway_bank.home, "gateway-before-reply", "transfer")
    gateway_bank.json("create", "h")
    lost = gateway_bank("transfer", "g", "h", "1.00", "--op-id", "move-1")
    assert lost.code == 4 and "repeat with --op-id move-1" in lost.stderr
    assert gateway_bank.json("transfer", "g", "h", "1.00", "--op-id", "move-1")[
        "duplicate"] is True
    assert gateway_bank.json("balance", "g")["balance"] == "11.50"

    arm(gateway_bank.home, "gateway-before-reply", "kill")
    error = gateway_bank.json("kill", "h", expect=4)["error"]
    assert error["code"] == "gateway-lost" and "op_id" not in error
    assert "op id" not in error["message"] and "--op-id" not in error["message"]


@pytest.mark.usefixtures("fault_injection")
def test_the_gateway_keeps_serving_after_a_connection_fails(gateway_bank):
    gateway_bank.json("create", "k")
    pid = gateway_pid(gateway_bank.home)
    marker = arm(gateway_bank.home, "gateway-accept-fails", "next")
    # That connection is closed unanswered; a read-only command then runs here instead.
    assert gateway_bank.json("balance", "k")["balance"] == "0.00"
    assert not marker.exists()
    probe = subprocess.run([sys.executable, "-c", THIN_PROBE, "balance", "k", "--json"],
                           env=gateway_bank.env, capture_output=True, text=True, timeout=60)
    assert probe.stderr.strip().splitlines()[-1] == "0 []"  # answered by the gateway
    assert gateway_pid(gateway_bank.home) == pid

"""Every error of a mutating command names its op id, given or generated, and says whether
it may have been applied; unexpected exceptions are exit 4 in one line. Ray-free: the errors
here happen before anything is sent (an address where no cluster answers, bad input)."""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path

import pytest

from raybank.testing.faults import arm
from tests.support.cli import Raybank

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def unreachable(tmp_path: Path) -> Raybank:
    """A bank whose cluster address answers nothing: every command fails before sending."""
    return Raybank(home=tmp_path / "home", namespace="raybank",
                   extra_env={"RAY_ADDRESS": f"127.0.0.1:{free_port()}"})


def test_an_unreachable_cluster_is_not_applied_and_names_the_given_op_id(unreachable):
    error = unreachable.json("deposit", "alice", "5.00", "--op-id", "pay-7", expect=4)["error"]
    assert (error["code"], error["op_id"], error["may_have_applied"]) == (
        "cluster-unreachable", "pay-7", False)
    assert "pay-7: not applied" in error["message"]
    assert "transfer_id" not in error


def test_a_generated_op_id_is_named_too(unreachable):
    error = unreachable.json("deposit", "alice", "5.00", expect=4)["error"]
    assert UUID.fullmatch(error["op_id"]) and error["may_have_applied"] is False
    human = unreachable("withdraw", "alice", "5.00")
    assert human.code == 4 and human.stdout == ""
    op_id = UUID.search(human.stderr)
    assert op_id and f"op id {op_id.group()}: not applied" in human.stderr


def test_a_transfer_names_its_transfer_id(unreachable):
    error = unreachable.json("transfer", "a", "b", "1.00", "--op-id", "t-9", expect=4)["error"]
    assert (error["op_id"], error["transfer_id"], error["may_have_applied"]) == (
        "t-9", "t-9", False)
    error = unreachable.json("create", "c", "--op-id", "open-c", expect=4)["error"]
    assert error["op_id"] == "open-c" and "transfer_id" not in error


def test_invalid_input_carries_the_op_id_and_an_invalid_op_id_names_none(unreachable):
    error = unreachable.json("deposit", "alice", "1e3", "--op-id", "d-1", expect=2)["error"]
    assert (error["code"], error["op_id"], error["may_have_applied"]) == (
        "invalid-amount", "d-1", False)
    error = unreachable.json("withdraw", "../x", "1.00", expect=2)["error"]
    assert error["code"] == "invalid-name" and UUID.fullmatch(error["op_id"])
    error = unreachable.json("deposit", "alice", "1.00", "--op-id", "a:b", expect=2)["error"]
    assert error["code"] == "invalid-op-id" and "op_id" not in error


def test_commands_that_change_nothing_name_no_op_id(unreachable):
    error = unreachable.json("balance", "alice", expect=4)["error"]
    assert error == {"code": "cluster-unreachable", "message": error["message"]}


@pytest.mark.usefixtures("fault_injection")
def test_an_unexpected_exception_is_exit_4_in_one_line(tmp_path: Path):
    bank = Raybank(home=tmp_path / "home", namespace="raybank",
                   extra_env={"RAYBANK_NO_GATEWAY": "1"})
    bank.home.mkdir(mode=0o700)
    arm(bank.home, "command-raises", "status")
    result = bank("status", "--json")
    assert result.code == 4, result.stderr
    assert result.json["error"]["code"] == "internal-error"
    assert "injected" in result.json["error"]["message"] and "Traceback" not in result.stderr
    arm(bank.home, "command-raises", "status")
    human = bank("status")
    assert human.code == 4 and human.stdout == "" and "Traceback" not in human.stderr
    assert len(human.stderr.strip().splitlines()) == 1
    arm(bank.home, "command-raises", "status")
    debug = Raybank(bank.home, bank.namespace, {"RAYBANK_NO_GATEWAY": "1",
                                                "RAYBANK_DEBUG": "1"})("status")
    assert debug.code == 4 and "Traceback" in debug.stderr


@pytest.mark.usefixtures("fault_injection")
def test_an_unexpected_exception_in_a_mutating_command_may_have_applied(unreachable):
    unreachable.home.mkdir(mode=0o700)
    arm(unreachable.home, "command-raises", "deposit")
    error = unreachable.json("deposit", "alice", "1.00", "--op-id", f"d-{uuid.uuid4().hex}",
                             expect=4)["error"]
    assert error["code"] == "internal-error" and error["may_have_applied"] is True
    assert f"repeat with --op-id {error['op_id']}" in error["message"]

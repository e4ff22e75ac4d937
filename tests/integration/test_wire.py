"""The thin client's routing and the gateway's wire, without a cluster."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from raybank.gateway import client as entry
from raybank.gateway import wire


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for key in ("RAYBANK_NO_GATEWAY", "RAY_ADDRESS", "RAYBANK_NAMESPACE"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("RAYBANK_HOME", str(tmp_path))
    return tmp_path


def test_route_sends_bank_commands_to_the_home_gateway(clean_env: Path) -> None:
    assert entry.route(["balance", "alice", "--json"]) == (clean_env, "balance", 0)
    assert entry.route(["--home", "/x/h", "--namespace", "n", "deposit", "a", "1"]) == (
        Path("/x/h"), "deposit", 4)
    assert entry.route(["--home=/x/h", "status"]) == (Path("/x/h"), "status", 1)


def test_the_thin_client_sends_an_op_id_with_every_command_that_takes_one(
        clean_env: Path) -> None:
    argv = ["--namespace", "n", "deposit", "a", "--", "1.00"]
    sent, op_id = entry.settle_op_id(argv, entry.route(argv))
    assert op_id and sent == ["--namespace", "n", "deposit", "--op-id", op_id, "a", "--",
                              "1.00"]
    for given in (["--op-id", "mine"], ["--op-id=mine"]):
        argv = ["transfer", "a", "b", "1", *given, "--json"]
        assert entry.settle_op_id(argv, entry.route(argv)) == (argv, "mine")
    for argv in (["kill", "a"], ["balance", "a"]):
        assert entry.settle_op_id(argv, entry.route(argv)) == (argv, None)


def test_a_lost_gateway_names_the_op_id_that_repeats_the_command_safely(
        capsys: pytest.CaptureFixture[str]) -> None:
    lost = OSError("connection closed mid-message")
    argv = ["deposit", "--op-id", "d-1", "a", "1", "--json"]
    assert entry.lost_reply(argv, "deposit", "d-1", lost) == 4
    error = json.loads(capsys.readouterr().out)["error"]
    assert (error["code"], error["op_id"], error["may_have_applied"]) == (
        "gateway-lost", "d-1", True)
    assert "repeat with --op-id d-1" in error["message"]
    assert entry.lost_reply(["transfer", "a", "b", "1"], "transfer", "t-1", lost) == 4
    assert "repeat with --op-id t-1" in capsys.readouterr().err
    assert entry.lost_reply(["kill", "a", "--json"], "kill", None, lost) == 4
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "gateway-lost" and "op_id" not in error
    assert "op id" not in error["message"] and "--op-id" not in error["message"]


@pytest.mark.parametrize("argv", [
    ["up"], ["down"], ["demo"], ["batch", "-"], ["balance", "--help"], ["-h"], [],
    ["--address", "127.0.0.1:1", "balance", "a"], ["--home", "relative", "balance", "a"],
    ["--verbose", "balance", "a"], ["--home"], ["nosuch"],
])
def test_route_runs_everything_else_here(clean_env: Path, argv: list[str]) -> None:
    assert entry.route(argv) is None


@pytest.mark.parametrize("variable", ["RAYBANK_NO_GATEWAY", "RAY_ADDRESS"])
def test_route_obeys_the_environment(clean_env: Path, monkeypatch: pytest.MonkeyPatch,
                                     variable: str) -> None:
    monkeypatch.setenv(variable, "1")
    assert entry.route(["balance", "alice"]) is None


def test_no_gateway_means_run_here(clean_env: Path) -> None:
    assert entry.via_gateway(["balance", "alice"]) is None  # no socket
    stale = wire.listen(wire.socket_path(clean_env))
    stale.close()  # a socket file nobody listens on: a stopped cluster's
    assert entry.via_gateway(["balance", "alice"]) is None


def test_messages_round_trip_and_peer_is_this_user() -> None:
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        wire.send(left, {"argv": ["balance", "ü"], "n": 1})
        assert wire.receive(right) == {"argv": ["balance", "ü"], "n": 1}
        assert wire.peer(right) == (os.getpid(), os.getuid())
        wire.check_peer(right)
        left.sendall(b"\x00\x00\x00\x09{}")
        left.close()
        with pytest.raises(wire.WireError):
            wire.receive(right)


def test_socket_is_private_even_with_a_long_path(tmp_path: Path) -> None:
    folder = tmp_path / ("d" * 120)
    folder.mkdir(mode=0o700)
    listener = wire.listen(wire.socket_path(folder))
    with listener:
        assert (wire.socket_path(folder).stat().st_mode & 0o777) == 0o600
        client = wire.connect(wire.socket_path(folder), timeout=1.0)
        server, _ = listener.accept()
        with client, server:
            wire.send(client, {"ping": True})
            assert wire.receive(server) == {"ping": True}

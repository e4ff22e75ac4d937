"""Running the real `raybank` command in tests, each test with its own home and namespace
on the one cluster the session shares (started by the real CLI, stopped by `raybank down`).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CLI_TIMEOUT_S = 240
PLACEMENTS = ["actor", "hosted"]  # for tests that run in both: parametrize "placement"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


@dataclass
class Raybank:
    """Runs the real `raybank` command with one home and namespace."""

    home: Path
    namespace: str
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items()
               if k not in ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH")}
        env.update(RAYBANK_HOME=str(self.home), RAYBANK_NAMESPACE=self.namespace,
                   **self.extra_env)
        return env

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "raybank", *args]

    def __call__(self, *args: str, input: str | None = None, timeout: float = CLI_TIMEOUT_S
                 ) -> Result:
        done = subprocess.run(self.command(*args), env=self.env, capture_output=True,
                              text=True, input=input, timeout=timeout)
        return Result(done.returncode, done.stdout, done.stderr)

    def json(self, *args: str, expect: int = 0) -> Any:
        """Run with --json, check the exit code, and return the one JSON object."""
        result = self(*args, "--json")
        assert result.code == expect, (result.code, result.stdout, result.stderr[-2000:])
        return result.json

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(self.command(*args), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)


def wait_all(processes: list[subprocess.Popen[str]], timeout: float = CLI_TIMEOUT_S
             ) -> list[Result]:
    """Wait for processes started with ``Raybank.popen``, closing their pipes."""
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=timeout)
        results.append(Result(process.returncode, stdout, stderr))
    return results


def start_cluster(home: Path, *options: str) -> Raybank:
    """raybank's embedded cluster in ``home``, started by `raybank up` (with ``options``)."""
    bank = Raybank(home=home, namespace="raybank")
    up = bank("up", *options, "--json")
    if up.code != 0:  # a head may run while its workers failed: leave nothing running
        bank("down", "--json")
    assert up.code == 0, (up.code, up.stdout, up.stderr[-2000:])
    assert up.json["started"] is True
    return bank


def stop_cluster(bank: Raybank) -> None:
    result = bank("down", "--json")
    assert result.code == 0, result.stderr[-2000:]


GATEWAY_WAIT_S = 60.0


def gateway_pid(home: Path, other_than: int | None = None) -> int:
    """Wait until the home's gateway answers on its socket (a new one if ``other_than``)."""
    from raybank.gateway import wire

    deadline = time.monotonic() + GATEWAY_WAIT_S
    while True:
        try:
            with wire.connect(wire.socket_path(home), timeout=1.0) as sock:
                pid = wire.peer(sock)[0]
            if pid != other_than:
                return pid
        except OSError:
            pass
        assert time.monotonic() < deadline, "no gateway answered"
        time.sleep(0.05)


def attached_bank(session_cluster: Raybank, tmp_path: Path, path: str,
                  placement: str = "actor") -> Raybank:
    """A fresh home and namespace on the session's cluster, reached as a Ray driver
    (RAYBANK_NO_GATEWAY=1) or through the home's gateway, which it then waits for; its
    accounts in ``placement`` (RAYBANK_PLACEMENT, read by both paths)."""
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    for name in ("cluster.json", "cluster.token"):
        shutil.copy2(session_cluster.home / name, home / name)
    namespace = f"test-{uuid.uuid4().hex[:12]}"
    chosen = {"RAYBANK_PLACEMENT": placement}
    if path == "driver":
        return Raybank(home=home, namespace=namespace,
                       extra_env={"RAYBANK_NO_GATEWAY": "1", **chosen})
    bank = Raybank(home=home, namespace=namespace,
                   extra_env={"RAYBANK_NO_GATEWAY": "", **chosen})
    # Any command that attaches as a driver starts the home's gateway.
    assert bank("balance", "no-such-account", "--json").code == 3
    gateway_pid(home)
    return bank


# For checks of what the actors do (transfers, crashes, concurrency) rather than of the path a
# command takes: run them through the gateway only. The driver path pays Ray's import on every
# command (about 1.5 s here), and both paths run the same command code (test_gateway.py).
GATEWAY_ONLY = pytest.mark.parametrize("raybank", ["gateway"], indirect=True)

"""raybank's own cluster: found again, stopped alone, restarted with every account intact.

These tests start clusters of their own (not the session's), because they stop them.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.support.cli import Raybank, start_cluster, stop_cluster

pytestmark = pytest.mark.ray


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def session_pids(session_id: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == session_id and fields[0] != "Z":
                pids.append(int(entry.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


NO_AUTH = {"RAY_AUTH_MODE": "disabled"}


@pytest.fixture
def foreign_cluster(tmp_path: Path):
    """A plain Ray cluster that is not raybank's, stopped by its own session's pids."""
    port = free_port()
    temp_dir = tempfile.mkdtemp(prefix="foreign-")
    # Without authentication, whatever the user's ~/.ray/auth_token says: Ray turns token
    # auth on by itself when that file exists and RAY_AUTH_MODE is unset.
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RAY_")},
           **NO_AUTH}
    starter = subprocess.Popen(
        [sys.executable, "-c", "import sys; from ray.scripts.scripts import main; "
         "sys.argv[0] = 'ray'; main()", "start", "--head", f"--port={port}",
         "--node-ip-address=127.0.0.1", "--include-dashboard=false", "--num-cpus=1",
         "--disable-usage-stats", f"--temp-dir={temp_dir}", "--object-store-memory=100000000",
         f"--dashboard-agent-listen-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
         f"--metrics-export-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}"],
        env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    assert starter.wait(timeout=120) == 0 and answers(port)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in session_pids(starter.pid):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 5
            while session_pids(starter.pid) and time.monotonic() < deadline:
                time.sleep(0.1)


def test_down_then_up_restores_every_account_and_leaves_other_clusters_alone(
        tmp_path, foreign_cluster):
    home = tmp_path / "home"
    bank = start_cluster(home)
    bank = Raybank(home=home, namespace="raybank")
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert stat.S_IMODE((home / "cluster.token").stat().st_mode) == 0o600
    record = json.loads((home / "cluster.json").read_text())
    ray_dir = Path(record["temp_dir"])
    assert stat.S_IMODE(ray_dir.stat().st_mode) == 0o700  # Ray's own sockets live inside
    assert bank.json("up")["started"] is False  # idempotent: finds the same cluster
    bank.json("create", "alice", "--balance", "12.34")
    bank.json("deposit", "alice", "0.66", "--op-id", "before-down")
    port = int(bank.json("status")["address"].rsplit(":", 1)[1])

    assert bank.json("down") == {"stopped": True}
    assert not answers(port)
    # Every process of the cluster proved it was the cluster's (cluster.py: _belongs).
    assert session_pids(record["session_id"]) == []
    assert not ray_dir.exists()
    assert answers(int(foreign_cluster.rsplit(":", 1)[1])), "down stopped another cluster"
    assert bank.json("status")["running"] is False
    assert bank.json("down") == {"stopped": False}

    # Any command brings the embedded cluster back; the account is restored from storage.
    assert bank.json("balance", "alice")["balance"] == "13.00"
    assert bank.json("deposit", "alice", "0.66", "--op-id", "before-down")["duplicate"] is True
    stop_cluster(bank)


def test_address_attaches_to_an_existing_cluster(tmp_path, foreign_cluster):
    bank = Raybank(home=tmp_path / "home", namespace="attached",
                   extra_env={"RAY_ADDRESS": foreign_cluster, **NO_AUTH})
    assert bank.json("create", "zed", "--balance", "1.00")["balance"] == "1.00"
    assert bank.json("status") == {"running": True, "address": foreign_cluster,
                                   "namespace": "attached", "accounts": 1,
                                   "placement": "actor", "activations": 0, "evictions": 0}
    assert bank.json("balance", "zed")["balance"] == "1.00"
    assert not (tmp_path / "home" / "cluster.json").exists()  # no embedded cluster started

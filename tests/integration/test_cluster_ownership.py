"""`down`, and the clean-up of a stale cluster record, stop only raybank's own processes.

Ray-free: a stale cluster.json names a session that now belongs to an unrelated process
whose command line says "ray"; nothing answers at the recorded address.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from raybank.cluster.embedded import ClusterRecord, Home
from raybank.cluster.processes import stop_group
from tests.support.cli import Raybank


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    """A process of this user, leader of its own session, whose command line holds "ray"."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "ray"],
                               start_new_session=True)
    try:
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)


def alive(process: subprocess.Popen[bytes]) -> bool:
    time.sleep(0.2)  # a SIGTERM would have landed by now
    return process.poll() is None


def stale_record(home: Path, session_id: int, temp_dir: Path) -> ClusterRecord:
    """cluster.json as an earlier raybank wrote it, for a cluster long gone."""
    home.mkdir(mode=0o700, exist_ok=True)
    record = {"address": f"127.0.0.1:{free_port()}", "session_id": session_id,
              "temp_dir": str(temp_dir), "started_at": time.time() - 3600}
    (home / "cluster.json").write_text(json.dumps(record))
    return ClusterRecord(**record)


def test_down_with_a_stale_record_leaves_a_reused_session_alone(
        tmp_path: Path, bystander: subprocess.Popen[bytes]) -> None:
    keep = tmp_path / "not-raybanks"
    keep.mkdir()
    home = tmp_path / "home"
    stale_record(home, bystander.pid, keep)
    bank = Raybank(home=home, namespace="raybank", extra_env={"RAYBANK_NO_GATEWAY": "1"})
    assert bank.json("down") == {"stopped": False}
    assert alive(bystander), "down killed a process raybank did not start"
    assert keep.is_dir(), "down removed a folder raybank did not create"
    assert not (home / "cluster.json").exists()  # the stale record is gone


def test_clearing_a_dead_clusters_leftovers_leaves_a_reused_session_alone(
        tmp_path: Path, bystander: subprocess.Popen[bytes]) -> None:
    # `up` (and so the first command after the cluster died) clears leftovers this way.
    keep = tmp_path / "not-raybanks"
    keep.mkdir()
    record = stale_record(tmp_path / "home", bystander.pid, keep)
    assert stop_group(record) is False
    assert alive(bystander)
    assert keep.is_dir()


def test_own_processes_are_recognised_by_the_cluster_id_in_their_environment(
        tmp_path: Path) -> None:
    home = Home(tmp_path / "home").ensure()
    cluster_id = "c0ffee" * 4
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"],
                               start_new_session=True,
                               env={**os.environ, "RAYBANK_CLUSTER_ID": cluster_id})
    try:
        record = ClusterRecord(address=f"127.0.0.1:{free_port()}", session_id=process.pid,
                               temp_dir=str(tmp_path / "gone"), started_at=time.time(),
                               cluster_id=cluster_id)
        home.write_record(record)
        assert stop_group(record) is True
        assert process.wait(timeout=10) == -signal.SIGTERM
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

"""`raybank env`: a hand-written driver and Ray's own CLI reach the cluster, as the
tutorials do (`ray.get_actor("alice", namespace=...)` from another driver)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.cli import Raybank

pytestmark = pytest.mark.ray

DRIVER = """
import os, ray
ray.init(address=os.environ["RAY_ADDRESS"])
alice = ray.get_actor("alice", namespace=os.environ["RAYBANK_NAMESPACE"])
print(ray.get(alice.summary.remote())["balance"])
"""


@pytest.fixture
def spaced_bank(session_cluster: Raybank, tmp_path: Path) -> Raybank:
    """A home on the session's cluster whose path needs shell quoting."""
    home = tmp_path / "my home's bank"
    home.mkdir(mode=0o700)
    for name in ("cluster.json", "cluster.token"):
        shutil.copy2(session_cluster.home / name, home / name)
    return Raybank(home=home, namespace="tutorial-ns", extra_env={"RAYBANK_NO_GATEWAY": "1"})


def test_a_hand_written_driver_reaches_an_account_by_name_after_eval(spaced_bank):
    spaced_bank.json("create", "alice", "--balance", "12.50")
    script = f'eval "$({sys.executable} -m raybank env)" && {sys.executable} -c "$DRIVER"'
    # A token left in the shell for another cluster would shadow the token file: env unsets it.
    shell = {**spaced_bank.env, "DRIVER": DRIVER, "RAY_AUTH_TOKEN": "another-clusters"}
    done = subprocess.run(["bash", "-c", script], env=shell,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "12.50"


def test_json_names_the_cluster_its_token_file_and_the_namespace(spaced_bank, session_cluster):
    env = spaced_bank.json("env")
    record = (session_cluster.home / "cluster.json").read_text()
    assert set(env) == {"RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH",
                        "RAYBANK_NAMESPACE"}
    assert env["RAY_ADDRESS"] in record
    assert env["RAY_AUTH_MODE"] == "token"
    assert env["RAY_AUTH_TOKEN_PATH"] == str(spaced_bank.home / "cluster.token")
    assert env["RAYBANK_NAMESPACE"] == "tutorial-ns"


def test_ray_status_works_after_eval(spaced_bank):
    ray_cli = Path(sys.executable).with_name("ray")
    script = f'eval "$({sys.executable} -m raybank env)" && {ray_cli} status'
    deadline = time.monotonic() + 60
    while True:  # a cluster that just started has "No cluster status" for a few seconds
        done = subprocess.run(["bash", "-c", script], env=spaced_bank.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        if "Resources" in done.stdout or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert "Resources" in done.stdout


def test_a_token_left_in_the_shell_does_not_lock_raybank_out_of_its_own_cluster(spaced_bank):
    """Ray reads RAY_AUTH_TOKEN before RAY_AUTH_TOKEN_PATH: raybank must not pass it on."""
    stale = Raybank(home=spaced_bank.home, namespace=spaced_bank.namespace,
                    extra_env={**spaced_bank.extra_env, "RAY_AUTH_TOKEN": "another-clusters"})
    assert stale("balance", "nobody", "--json", timeout=60).code == 3

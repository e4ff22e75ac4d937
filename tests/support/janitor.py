"""Releasing what a test left running on the session's shared cluster.

Every test gets a namespace (and a home, so a gateway) of its own on one cluster, and its
named, detached actors -- accounts, hosts, the coordinator, the gateway -- outlive it: that is
what detached means. Left alone they added up to 110 idle Ray workers four minutes into the
end-to-end tests, each waking a few times a second, until the machine was slow enough that a
cluster started later (the multi-node tests' `up --nodes 3`) missed Ray's 30 s start-up
deadline.

The janitor is one Ray driver for the whole session, in a process of its own so that the
pytest process never becomes a driver. It reads one request a line, ``{"namespace": ...,
"home": ...}``, kills that namespace's named actors and that home's gateway (no restart),
and answers with how many it killed. Run as ``python -m tests.support.janitor`` with the
lines of `raybank env` in its environment.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import IO


# Ray is imported by the janitor process only (inside its functions): conftest imports this
# module, and the pytest process itself never needs Ray.


def _release(namespace: str, home: Path) -> int:
    import ray

    from raybank.gateway.server import NAMESPACE as GATEWAY_NAMESPACE
    from raybank.gateway.server import gateway_name
    from raybank.routing.introspection import live_names

    targets = [(name, namespace) for name in live_names(namespace)]
    targets.append((gateway_name(home), GATEWAY_NAMESPACE))
    killed = 0
    for name, actor_namespace in targets:
        try:
            handle = ray.get_actor(name, namespace=actor_namespace)
        except ValueError:  # not running (a driver-only home has no gateway)
            continue
        ray.kill(handle, no_restart=True)
        killed += 1
    return killed


def _serve(requests: IO[str], replies: IO[str]) -> None:
    import ray

    ray.init(namespace="raybank-test-janitor", logging_level=logging.WARNING,
             log_to_driver=False)
    for line in requests:
        request = json.loads(line)
        killed = _release(request["namespace"], Path(request["home"]))
        replies.write(json.dumps({"killed": killed}) + "\n")
        replies.flush()


class Janitor:
    """The pytest side: starts the janitor process and asks it to release test namespaces."""

    def __init__(self, env: dict[str, str]) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.janitor"], env=env, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)

    def release(self, namespace: str, home: Path) -> int:
        """Kill the namespace's named actors and the home's gateway; how many there were."""
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None
        stdin.write(json.dumps({"namespace": namespace, "home": str(home)}) + "\n")
        stdin.flush()
        reply = stdout.readline()
        assert reply, f"the test janitor exited ({self._process.poll()})"
        return int(json.loads(reply)["killed"])

    def close(self) -> None:
        """End the janitor's driver (closing its input ends its loop)."""
        if self._process.stdin is not None:
            self._process.stdin.close()
        self._process.wait(timeout=60)
        if self._process.stdout is not None:
            self._process.stdout.close()


if __name__ == "__main__":
    # Replies get a descriptor of their own: whatever Ray prints goes to stderr instead.
    _replies = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    _serve(sys.stdin, _replies)

"""Looking at a running bank from outside the CLI: probes shared by the end-to-end tests."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from tests.support.cli import Raybank

DEADLINE_S = 60.0

# The thin client alone: its exit code, and which heavy modules it imported (none, we hope).
THIN_PROBE = """
import sys
from raybank.gateway.client import via_gateway
code = via_gateway(sys.argv[1:])
heavy = sorted(m for m in ("ray", "typer", "rich", "click") if m in sys.modules)
print(code, heavy, file=sys.stderr)
"""


COORDINATOR_INFO = """
import json, os
from pathlib import Path
from raybank.cluster.embedded import Home, attach
ns = os.environ["RAYBANK_NAMESPACE"]
attach(Home(Path(os.environ["RAYBANK_HOME"])).ensure(), None, ns)
import ray
from raybank.routing.introspection import describe
from raybank.actors.coordinator import COORDINATOR_NAME
print(json.dumps(describe(ray.get_actor(COORDINATOR_NAME, namespace=ns))), flush=True)
os._exit(0)
"""


def coordinator(raybank: Raybank) -> dict:
    """The coordinator's actor info (state, pid, restarts), read through Ray directly."""
    done = subprocess.run([sys.executable, "-c", COORDINATOR_INFO], env=raybank.env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def legs(raybank: Raybank, name: str) -> Counter[tuple[str, str]]:
    """How often each (transfer id, event type) appears in the account's history."""
    events = raybank.json("history", name)["events"]
    return Counter((event.get("transfer_id", ""), event["type"]) for event in events
                   if event.get("transfer_id"))


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE_S) -> Any:
    """Poll ``check`` until it returns something true; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout:.0f}s: {what}"
        time.sleep(0.2)

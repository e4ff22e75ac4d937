"""Does every node of a cluster see the home at the same path?

Accounts and hosts read and write their journals under RAYBANK_HOME wherever Ray places them,
so on a cluster of several machines the home must be shared storage mounted at the same path
on every node (NFS, a cluster file system). raybank's own cluster runs on one machine, so this
is only asked of a cluster reached with ``--address``: a random marker is written in the home
and a small task pinned to each node reads it back. A node that reads something else, or
nothing, is named in a clear error (exit 2, ``home-not-shared``) before any account is used
there. Nodes that passed are remembered in the home, so each new node is asked once.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable
from pathlib import Path

from raybank.domain.errors import HomeNotShared, StorageError
from raybank.storage.files import read_bytes, write_atomically

CHECK_TIMEOUT_S = 60.0  # a task may need a new worker process on its node
MARKER = "shared-check.marker"
CHECKED = "shared-check.json"  # node ids that read the marker, as a JSON list


def unseen(answers: dict[str, str | None], token: str) -> list[str]:
    """The nodes whose answer is not the marker's token (None: they found no marker)."""
    return sorted(node for node, answer in answers.items() if answer != token)


def _read_marker(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _checked(home: Path) -> set[str]:
    try:
        return set(json.loads(read_bytes(home / CHECKED)))
    except (StorageError, ValueError, TypeError):
        return set()  # never checked, or unreadable: ask again


def check_shared_home(home: Path, nodes: Iterable[str]) -> None:
    """Ask each of ``nodes`` (alive node ids) not yet checked to read a marker in ``home``."""
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    known = _checked(home)
    wanted = sorted(set(nodes) - known)
    if not wanted:
        return
    token = secrets.token_hex(16)
    marker = home / MARKER
    write_atomically(marker, token.encode())
    reader = ray.remote(_read_marker)
    calls = {node: reader.options(num_cpus=0, max_retries=0,
                                  scheduling_strategy=NodeAffinitySchedulingStrategy(
                                      node, soft=False)).remote(str(marker))
             for node in wanted}
    answers: dict[str, str | None] = {}
    for node, call in calls.items():
        try:
            answers[node] = ray.get(call, timeout=CHECK_TIMEOUT_S)
        except (ray.exceptions.RayError, TimeoutError):
            continue  # the node died, or could not run it yet: asked again next time
    missing = unseen(answers, token)
    if missing:
        raise HomeNotShared(
            f"{len(missing)} node(s) of the cluster ({', '.join(n[:8] for n in missing)}) do "
            f"not see the home {home} at the same path: on a cluster of several machines, "
            "RAYBANK_HOME must be shared storage mounted at the same path on every node")
    write_atomically(home / CHECKED, json.dumps(sorted(known | set(answers))).encode())

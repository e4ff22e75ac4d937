"""`nodes` and `kill-node`: which of the namespace's actors live on which node, and the loss
of one worker node, shown as `kill --restart` shows the loss of one actor.

A node is killed only if raybank started it as a worker of its embedded cluster (recorded in
cluster.json, its processes proved to be its own): never the head, whose loss would take the
whole cluster with it (there is no GCS fault tolerance without an external Redis), and never
a node of a cluster raybank did not start.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from raybank.cluster.embedded import ClusterRecord, Home, WorkerNode, kill_worker
from raybank.domain.errors import ForeignNode, HeadNodeRefused, NodeNotAlive, UnknownNode
from raybank.routing.hosted import HOST_PREFIX, host_name
from raybank.routing.introspection import actors_by_node, node_table

if TYPE_CHECKING:
    from raybank.service.bank import Bank

_NODE_ID = re.compile(r"[0-9a-f]{1,56}")
# In hosted placement, the accounts a kill-node report follows for each lost host: enough to
# see them come back (one call wakes the whole host), not a hundred thousand rows.
SHOWN_PER_HOST = 5


def _is_account(name: str) -> bool:
    return ":" not in name  # raybank's own actors have ':' in their names; accounts cannot


def list_nodes(bank: Bank, record: ClusterRecord | None) -> dict[str, Any]:
    """Every node with the number of the namespace's accounts and hosts on it.

    ``record``: raybank's embedded cluster when that is the one attached to, else None;
    its workers are ``killable``.
    """
    placed = actors_by_node(bank.namespace)
    nodes = []
    for node in node_table():
        names = placed.get(node["node_id"], [])
        nodes.append({
            "node_id": node["node_id"], "head": node["head"], "alive": node["alive"],
            "address": node["address"],
            "accounts": sum(1 for name in names if _is_account(name)),
            "hosts": sum(1 for name in names if name.startswith(HOST_PREFIX)),
            "services": [name for name in names
                         if not _is_account(name) and not name.startswith(HOST_PREFIX)],
            "killable": (node["alive"] and not node["head"]
                         and _worker(record, node["node_manager_port"]) is not None),
        })
    # The head first, then the live nodes: what a person looks for first.
    nodes.sort(key=lambda node: (not node["head"], not node["alive"], node["node_id"]))
    return {"nodes": nodes}


def _worker(record: ClusterRecord | None, node_manager_port: int) -> WorkerNode | None:
    if record is None:
        return None
    return next((worker for worker in record.workers
                 if worker.node_manager_port == node_manager_port), None)


def find_node(prefix: str) -> dict[str, Any]:
    """The one node whose id starts with ``prefix`` (as `nodes` prints it, or shortened)."""
    wanted = prefix.strip().lower()
    if not _NODE_ID.fullmatch(wanted):
        raise UnknownNode(f"{prefix!r} is not a node id (hexadecimal, as `raybank nodes` "
                          "shows it)")
    matches = [node for node in node_table() if node["node_id"].startswith(wanted)]
    if len(matches) != 1:
        raise UnknownNode(f"{len(matches) or 'no'} nodes have an id starting with {wanted!r}"
                          + ("; give more of it" if matches else ""))
    return matches[0]


def kill_node(bank: Bank, home: Home, record: ClusterRecord | None, prefix: str
              ) -> dict[str, Any]:
    """SIGKILL one worker node's processes, then wait until every account of the namespace
    that lived there answers again (Ray restarts its actor on a live node), and show where.
    """
    node = find_node(prefix)
    if node["head"]:
        raise HeadNodeRefused("refusing to kill the head node: its GCS holds the cluster "
                              "together, and without GCS fault tolerance every node would go")
    if not node["alive"]:
        raise NodeNotAlive(f"node {node['node_id'][:8]} is already dead")
    worker = _worker(record, node["node_manager_port"])
    if worker is None:
        raise ForeignNode(f"node {node['node_id'][:8]} was not started by raybank "
                          "(`raybank up --nodes N`): its processes are not raybank's to kill")
    names = _accounts_on(bank, actors_by_node(bank.namespace).get(node["node_id"], []))
    before = _read(bank, names)
    killed_at = time.monotonic()
    kill_worker(home, worker)
    after = _read(bank, names)  # each call waits until Ray has restarted its actor
    seconds = time.monotonic() - killed_at
    recovered = all((a["balance"], a["min_balance"]) == (b["balance"], b["min_balance"])
                    for a, b in zip(after, before, strict=True))
    return {"node_id": node["node_id"], "before": before, "after": after,
            "seconds": round(seconds, 2), "recovered": recovered}


def _accounts_on(bank: Bank, actors: list[str]) -> list[str]:
    """The accounts a node's loss takes away: its account actors, or, in hosted placement,
    the first few accounts (by name) of each host actor on it."""
    hosts = {actor for actor in actors if actor.startswith(HOST_PREFIX)}
    if not hosts:
        return [actor for actor in actors if _is_account(actor)]
    shown: Counter[str] = Counter()
    names = []
    for name in bank.storage.names():
        host = host_name(bank.placement.host_of(name))
        if host in hosts and shown[host] < SHOWN_PER_HOST:
            shown[host] += 1
            names.append(name)
    return names


def _read(bank: Bank, names: list[str]) -> list[dict[str, Any]]:
    """Each account's balance and actor info, the calls sent all at once."""
    calls = [bank.routing.submit(name, "summary") for name in names]
    rows = [call.result() for call in calls]
    return [{**row, "actor": bank.routing.describe(call.handle)}
            for row, call in zip(rows, calls, strict=True)]

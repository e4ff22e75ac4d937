"""What Ray's control store knows about an actor: the one place raybank reads Ray's private API.

Ray's public state API (``ray.util.state``) needs the dashboard, which the embedded cluster
does not run, so the actor table is read through ``ray._private.state`` and an actor's id
through its handle's private attribute. If Ray moves either, only this module changes.
"""

from __future__ import annotations

from typing import Any

import ray

INACTIVE: dict[str, Any] = {"state": "INACTIVE", "pid": None, "node_id": None, "restarts": 0}
# Ray's actor states, folded into the contract's: a pending actor is on its way up.
_STATES = {"ALIVE": "ALIVE", "RESTARTING": "RESTARTING", "DEAD": "DEAD",
           "PENDING_CREATION": "RESTARTING", "DEPENDENCIES_UNREADY": "RESTARTING"}


def actor_id(handle: ray.actor.ActorHandle) -> str:
    """The actor's id: tells one incarnation of a name from the next one."""
    return handle._actor_id.hex()


def describe(handle: ray.actor.ActorHandle) -> dict[str, Any]:
    """The contract's actor info: state, pid, node and restart count, from the GCS."""
    from ray._private import state

    entry = state.actors(actor_id(handle))
    return {
        "state": _STATES.get(entry.get("State", ""), "DEAD"),
        "pid": entry.get("Pid") or None,
        "node_id": (entry.get("Address") or {}).get("NodeID") or None,
        "restarts": int(entry.get("NumRestarts", 0)),
    }


def live_names(namespace: str) -> set[str]:
    """Names of the live (or restarting) named actors of one namespace, in one GCS call."""
    return {entry["name"] for entry in ray.util.list_named_actors(all_namespaces=True)
            if entry["namespace"] == namespace}


# A resource Ray gives the head node only.
_HEAD_RESOURCE = "node:__internal_head__"


def node_table() -> list[dict[str, Any]]:
    """Every node the GCS knows, the dead ones too: id, head, alive, address, raylet port.

    ``ray.nodes()`` is public and reads the GCS alone (no dashboard needed).
    """
    return [{"node_id": node["NodeID"], "head": _HEAD_RESOURCE in node.get("Resources", {}),
             "alive": bool(node["Alive"]),
             "address": f"{node['NodeManagerAddress']}:{node['NodeManagerPort']}",
             "node_manager_port": int(node["NodeManagerPort"])}
            for node in ray.nodes()]


def actors_by_node(namespace: str) -> dict[str, list[str]]:
    """Node id -> names of the namespace's named actors running (ALIVE) on it.

    The actor table names no namespace, so it is matched with the namespace's live names;
    a name that runs in several namespaces at once is settled by its handle's actor id.
    """
    from ray._private import state

    names = live_names(namespace)
    entries: dict[str, list[dict[str, Any]]] = {}
    for entry in state.actors(actor_state_name="ALIVE").values():
        if entry.get("Name") in names:
            entries.setdefault(entry["Name"], []).append(entry)
    placed: dict[str, list[str]] = {}
    for name, found in entries.items():
        if len(found) > 1:
            try:
                own = actor_id(ray.get_actor(name, namespace=namespace))
            except ValueError:  # gone since the table was read
                continue
            found = [entry for entry in found if entry["ActorID"] == own]
        for entry in found:
            node = (entry.get("Address") or {}).get("NodeID")
            if node:
                placed.setdefault(node, []).append(name)
    return {node: sorted(names) for node, names in placed.items()}

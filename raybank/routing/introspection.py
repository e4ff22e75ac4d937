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

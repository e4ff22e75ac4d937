"""The routing of a namespace by its placement, with the remote classes it starts.

The service and the transfer coordinator both reach accounts by name; this is the one place
that decides whether a name leads to an actor of its own or to a host of many.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ray

from raybank.actors.account_actor import RemoteAccountActor
from raybank.actors.account_host import RemoteAccountHost, passivation_limits
from raybank.routing.accounts import AccountRouting
from raybank.routing.hosted import HostedRouting
from raybank.storage import Storage
from raybank.storage.placement import Placement

Coordinator = tuple[str, Callable[[], ray.actor.ActorHandle]]


def routing_for(home: Path, namespace: str, placement: Placement, storage: Storage,
                coordinator: Coordinator | None = None) -> AccountRouting | HostedRouting:
    """``AccountRouting`` in ``actor`` placement, ``HostedRouting`` in ``hosted``."""
    if placement.hosted:
        return HostedRouting(home, namespace, RemoteAccountHost, placement,
                             host_args=passivation_limits(), coordinator=coordinator)
    return AccountRouting(home, namespace, RemoteAccountActor, storage.exists,
                          coordinator=coordinator)

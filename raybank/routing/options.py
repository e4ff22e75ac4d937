"""The one builder of the options raybank starts its actors with.

Every long-lived raybank actor is named (found again by any process), detached (outlives the
command that started it), restarted by Ray for ever (its ``__init__`` is its recovery), and
started with ``get_if_exists`` so that two racing starts end in one actor.
"""

from __future__ import annotations

from typing import Any

SPREAD = "SPREAD"  # Ray's spread scheduling strategy, by its name


def restartable(name: str, namespace: str, *, retry_calls: bool = True,
                **extra: Any) -> dict[str, Any]:
    """Options for a named, detached actor that Ray restarts whenever its process dies.

    ``num_cpus=0``: these actors wait on disks and on each other, not on CPU; reserving a
    CPU each would let a 2-core machine run two of them. With ``retry_calls`` a call in
    flight when the process dies is run again on the new process: at-least-once, so only
    for actors whose every change carries an op id.

    ``SPREAD``: on a cluster of several nodes the actors (accounts, hosts, the coordinator)
    are placed over all of them rather than packed where the driver is, so no one node
    holds the whole bank and the loss of a node costs only its share -- visible in `raybank
    nodes`. A restart after a node loss spreads over the nodes that are left. On one node it
    changes nothing.
    """
    options: dict[str, Any] = {"name": name, "namespace": namespace, "lifetime": "detached",
                               "get_if_exists": True, "max_restarts": -1, "num_cpus": 0,
                               "scheduling_strategy": SPREAD}
    if retry_calls:
        options["max_task_retries"] = -1
    options.update(extra)
    return options

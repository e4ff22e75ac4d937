"""The commands about the cluster's nodes: nodes, kill-node."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from raybank.cli.app import JsonOption
from raybank.cli.runner import Invocation, run

if TYPE_CHECKING:
    from raybank.cluster.embedded import ClusterRecord, Home


def _own_cluster(inv: Invocation) -> tuple[Home, ClusterRecord | None]:
    """The home, and its embedded cluster's record if that is the cluster attached to."""
    from raybank.cluster.embedded import Home

    home = Home(inv.settings.home).ensure()
    record = home.read_record()
    if record is not None and inv.settings.address not in (None, record.address):
        record = None
    return home, record


def nodes(ctx: typer.Context, json_: JsonOption = False) -> None:
    """List the cluster's nodes: head or worker, alive, and the namespace's accounts on each.

    Example: raybank nodes
    """
    def action(inv: Invocation) -> None:
        bank = inv.bank()  # before the service: it imports Ray, which attach configures
        from raybank.service.nodes import list_nodes

        inv.finish("nodes", list_nodes(bank, _own_cluster(inv)[1]))

    run(ctx, json_, action)


def kill_node(ctx: typer.Context, node_id: str, json_: JsonOption = False) -> None:
    """Crash one worker node of raybank's cluster (SIGKILL of its processes, nothing else).

    Shows the accounts that lived there and where they answer after Ray restarted them on a
    live node. The head, and any node raybank did not start, are refused (exit 2). NODE_ID
    may be a unique prefix of the id `raybank nodes` shows.
    Example: raybank kill-node 3f2a9c
    """
    def action(inv: Invocation) -> None:
        bank = inv.bank()  # before the service: it imports Ray, which attach configures
        from raybank.service.nodes import kill_node as kill

        home, record = _own_cluster(inv)
        inv.finish("kill-node", kill(bank, home, record, node_id))

    run(ctx, json_, action)

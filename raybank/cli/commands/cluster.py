"""Commands about raybank's own cluster: up, down, status. None of them imports Ray."""

from __future__ import annotations

from typing import Annotated

import typer

from raybank.cli.app import JsonOption
from raybank.cli.runner import Invocation, run

# Each worker node is a raylet and its agents, a few hundred MB: a local cluster to learn on.
MAX_NODES = 8


def up(
    ctx: typer.Context,
    nodes: Annotated[int, typer.Option(
        min=1, max=MAX_NODES, help="A head and N-1 worker nodes on this machine; on a running "
        "cluster, workers are added until N nodes live.")] = 1,
    dashboard: Annotated[bool, typer.Option(
        "--dashboard", help="With Ray's dashboard on 127.0.0.1 (needs "
        "pip install 'raybank[dashboard]').")] = False,
    json_: JsonOption = False,
) -> None:
    """Start raybank's embedded local Ray cluster if it is not running.

    Example: raybank up --nodes 3
    """
    def action(inv: Invocation) -> None:
        from raybank.cluster.embedded import Home
        from raybank.cluster.embedded import up as start

        home = Home(inv.settings.home).ensure()
        record, started = start(home, nodes=nodes, dashboard=dashboard)
        inv.finish("up", {"address": record.address, "namespace": inv.settings.namespace,
                          "started": started, "nodes": 1 + len(record.workers),
                          "dashboard_url": record.dashboard_url or None,
                          "token_path": str(home.token_path)})

    run(ctx, json_, action)


def down(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Stop the cluster raybank started, and no other. Account data stays on disk.

    Example: raybank down
    """
    def action(inv: Invocation) -> None:
        from raybank.cluster.embedded import Home
        from raybank.cluster.embedded import down as stop

        inv.finish("down", {"stopped": stop(Home(inv.settings.home).ensure())})

    run(ctx, json_, action)


def status(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Show whether the cluster runs and how many accounts the namespace holds.

    Example: raybank status --json
    """
    def action(inv: Invocation) -> None:
        from raybank.cluster.embedded import Home, answers, running_record
        from raybank.service.namespace import count_accounts, passivation_counts, placement_of

        settings = inv.settings
        home = Home(settings.home).ensure()
        if settings.address:
            address = settings.address if answers(settings.address) else None
        else:
            record = running_record(home)
            address = record.address if record else None
        accounts = count_accounts(home.path, settings.namespace)
        inv.finish("status", {"running": address is not None, "address": address,
                              "namespace": settings.namespace, "accounts": accounts,
                              "placement": placement_of(home.path, settings.namespace,
                                                        settings.placement),
                              **passivation_counts(home.path, settings.namespace)})

    run(ctx, json_, action)

"""Commands that run a scenario in a namespace of its own: demo and simulate."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from raybank.cli.app import JsonOption
from raybank.cli.runner import Invocation, run
from raybank.domain.errors import ExitStatus
from raybank.domain.names import new_op_id


def demo(ctx: typer.Context, json_: JsonOption = False) -> None:
    """A guided tour in a private namespace: accounts, a refusal, a kill and a recovery.

    Example: raybank demo
    """
    def action(inv: Invocation) -> None:
        from raybank.scenarios.demo import DEMO_PREFIX, run_demo

        namespace = f"{DEMO_PREFIX}{new_op_id()[:8]}"
        result = run_demo(inv.bank(namespace))
        inv.finish("demo", result, ExitStatus.OK if result["ok"] else ExitStatus.CHECK_FAILED)

    run(ctx, json_, action)


def simulate(
    ctx: typer.Context,
    accounts: Annotated[int, typer.Option(min=1, help="Fresh accounts to open.")] = 10,
    ops: Annotated[int, typer.Option(min=0, help="Operations to run.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent client actors.")] = 4,
    chaos: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Probability, per operation, of killing an actor first.")] = 0.0,
    node_chaos: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Probability, per operation, of killing a worker node of "
        "raybank's cluster (`up --nodes N`) and starting a new one in its place.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Same seed, same operations.")] = 1,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the simulation's accounts (in their own namespace).")] = False,
    plot: Annotated[Optional[str], typer.Option(
        metavar="FILE.svg", help="Also save the report, with its latency histogram and "
        "throughput over time, as an SVG picture.")] = None,
    json_: JsonOption = False,
) -> None:
    """Run a seeded random workload under chaos, then check the bank's invariants.

    Opens fresh accounts in a namespace of their own; exits 1 if any invariant fails.
    Example: raybank simulate --accounts 20 --ops 5000 --concurrency 8 --chaos 0.01
    """
    def action(inv: Invocation) -> None:
        from raybank.cli.plot import plot_path, write_plot
        from raybank.scenarios.workload import SIMULATION_PREFIX

        picture = None if plot is None else plot_path(plot)  # refused before any work

        bank = inv.bank(f"{SIMULATION_PREFIX}{new_op_id()[:8]}")
        # These import Ray: only after attach.
        from raybank.scenarios.node_chaos import NodeChaos, usable_record
        from raybank.scenarios.simulation import run_simulation

        nodes = (NodeChaos(bank.home, usable_record(inv.settings.home, inv.settings.address),
                           node_chaos, seed) if node_chaos else None)
        with inv.renderer.progress("simulating") as advance:
            result = run_simulation(bank, accounts=accounts, ops=ops, concurrency=concurrency,
                                    chaos=chaos, seed=seed, keep=keep, node_chaos=nodes,
                                    on_progress=advance)
        if picture is not None:
            write_plot(picture, "simulate", result, f"raybank simulate --seed {seed}")
            result["plot"] = str(picture)
        inv.finish("simulate", result, ExitStatus.OK if result["ok"] else ExitStatus.CHECK_FAILED)

    run(ctx, json_, action)

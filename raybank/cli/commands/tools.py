"""Commands that open raybank to other tools: env (Ray's CLI and hand-written drivers)."""

from __future__ import annotations

import typer

from raybank.cli.app import JsonOption
from raybank.cli.runner import Invocation, run


def env(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Print the shell lines that let `ray status` and your own ray.init() driver reach the
    cluster and its named account actors; starts the embedded cluster if needed.

    Example: raybank env   (in a shell: eval "$(raybank env)")
    """
    def action(inv: Invocation) -> None:
        from raybank.cluster.embedded import Home
        from raybank.cluster.environment import driver_environment

        settings = inv.settings
        home = Home(settings.home).ensure()
        inv.finish("env", driver_environment(home, settings.address, settings.namespace))

    run(ctx, json_, action)

"""The catalog of command facts is the one place that says what each command is, and it
agrees with the commands themselves. Ray-free."""

from __future__ import annotations

import subprocess
import sys

from raybank.cli import catalog
from raybank.cli.main import app


def registered() -> dict[str, object]:
    return {command.name or command.callback.__name__: command.callback
            for command in app.registered_commands}


def test_every_command_has_its_facts_and_every_fact_a_command() -> None:
    assert list(catalog.COMMANDS) == list(registered())


def test_the_commands_that_take_an_op_id_are_those_with_an_op_id_option() -> None:
    """Their op id is settled before anything else and named by every error (runner.run)."""
    import inspect

    with_option = {name for name, callback in registered().items()
                   if "op_id" in inspect.signature(callback).parameters}
    assert catalog.TAKES_OP_ID == with_option
    assert catalog.TAKES_OP_ID <= catalog.MUTATING  # an op id makes a change safe to repeat


def test_batch_and_the_gateway_agree_on_what_each_may_run() -> None:
    assert not catalog.PIPELINED & catalog.REFUSED_IN_BATCH
    # The gateway serves the embedded cluster's short commands; what batch refuses manages
    # the cluster or runs long, and always runs in the caller's own process.
    assert not catalog.GATEWAY_COMMANDS & catalog.REFUSED_IN_BATCH


def test_the_thin_client_and_the_catalog_import_no_typer_rich_or_ray() -> None:
    probe = ("import sys\n"
             "import raybank.cli.catalog, raybank.gateway.client\n"
             "print(sorted(m for m in ('ray', 'typer', 'rich', 'click') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60)
    assert (done.returncode, done.stdout.strip()) == (0, "[]"), done.stderr

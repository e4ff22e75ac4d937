"""What each command is, in the one table that the CLI, batch and the thin client all read.

A fact about a command that more than one part of raybank acts on lives here and nowhere
else: which commands the gateway serves, which may have changed something once sent, which
take an op id, and how `batch` runs each. Standard library only: the thin client imports it
before it knows whether it needs Typer at all.
"""

from __future__ import annotations

from typing import NamedTuple

# How `batch` runs a command (raybank.cli.batch).
PIPELINE = "pipeline"  # exactly one call to one account's actor: queued with that account's
ALONE = "alone"  # waits until every line before it has been printed, then runs by itself
REFUSE = "refuse"  # manages the cluster or runs long: not inside a batch


class Facts(NamedTuple):
    gateway: bool = False  # the gateway may serve it (short commands on the embedded cluster)
    mutating: bool = False  # may have changed something once sent: a lost reply is not rerun
    op_id: bool = False  # takes --op-id, settled before anything else, named by every error
    transfer_id: bool = False  # its op id is also its transfer id
    batch: str = ALONE


# In the order `raybank --help` lists them.
COMMANDS: dict[str, Facts] = {
    "up": Facts(batch=REFUSE),
    "down": Facts(batch=REFUSE),
    "status": Facts(gateway=True),
    "nodes": Facts(gateway=True),
    # Not through the gateway: it may live on the node being killed.
    "kill-node": Facts(batch=REFUSE),
    "create": Facts(gateway=True, mutating=True, op_id=True, batch=PIPELINE),
    "deposit": Facts(gateway=True, mutating=True, op_id=True, batch=PIPELINE),
    "withdraw": Facts(gateway=True, mutating=True, op_id=True, batch=PIPELINE),
    "transfer": Facts(gateway=True, mutating=True, op_id=True, transfer_id=True),
    "balance": Facts(gateway=True, batch=PIPELINE),
    "accounts": Facts(gateway=True),
    "kill": Facts(gateway=True, mutating=True),
    "history": Facts(gateway=True),
    "verify": Facts(gateway=True),
    "demo": Facts(batch=REFUSE),
    "simulate": Facts(batch=REFUSE),
    "batch": Facts(batch=REFUSE),
    "env": Facts(batch=REFUSE),  # may start the cluster; prints shell lines
}

GATEWAY_COMMANDS = frozenset(name for name, facts in COMMANDS.items() if facts.gateway)
MUTATING = frozenset(name for name, facts in COMMANDS.items() if facts.mutating)
TAKES_OP_ID = frozenset(name for name, facts in COMMANDS.items() if facts.op_id)
PIPELINED = frozenset(name for name, facts in COMMANDS.items() if facts.batch == PIPELINE)
REFUSED_IN_BATCH = frozenset(name for name, facts in COMMANDS.items() if facts.batch == REFUSE)


"""The `raybank` console entry point: ask the gateway first, else run the command here.

A command run here pays for importing Ray, Typer and Rich and for attaching to the cluster
(about 0.4 s and more). The embedded cluster's gateway already holds all of that, so when
it answers on its socket in RAYBANK_HOME, this process only forwards the words it was
given and prints what comes back. It imports nothing but the standard library (and the
command catalog, itself standard library only) until it knows the gateway cannot answer:
then the normal in-process CLI (a Ray driver) runs, and starts the gateway for next time.

The local path is always used for --help, for commands that manage the cluster or run long
(up, down, demo, batch, simulate), with --address or RAY_ADDRESS (the gateway serves only
the embedded cluster), and when RAYBANK_NO_GATEWAY=1.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import NamedTuple

from raybank.cli.catalog import COMMANDS, GATEWAY_COMMANDS, MUTATING, TAKES_OP_ID
from raybank.gateway import wire

_VALUE_OPTIONS = {"--home": "home", "--namespace": "namespace", "--address": "address",
                  "--placement": "placement"}
_TERMINAL_ENV = ("TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "COLUMNS", "LINES",
                 "TTY_COMPATIBLE", "TTY_INTERACTIVE")
CONNECT_TIMEOUT_S = 1.0
REPLY_TIMEOUT_S = 600.0
# ExitStatus.INFRASTRUCTURE, named here because this module must start fast and so does not
# import raybank.domain.errors (tests/unit/test_errors.py keeps the two equal).
INFRASTRUCTURE_EXIT = 4


def main() -> None:
    code = via_gateway(sys.argv[1:])
    if code is None:
        from raybank.cli.main import main as run_here

        run_here(after_attach=[start_gateway])
    else:
        sys.exit(code)


def start_gateway(home: Path) -> None:
    """Run after this process attached to the embedded cluster as a driver: make sure the
    home's gateway runs, so that the next command need not import Ray."""
    if not os.environ.get("RAYBANK_NO_GATEWAY"):
        from raybank.gateway.server import ensure_gateway  # imports Ray: attached already

        ensure_gateway(home)


class Route(NamedTuple):
    home: Path
    command: str
    at: int  # the command word's index in argv


def route(argv: list[str]) -> Route | None:
    """Where the gateway may serve these words, else None."""
    if os.environ.get("RAYBANK_NO_GATEWAY") or os.environ.get("RAY_ADDRESS"):
        return None
    if "--help" in argv or "-h" in argv:
        return None
    options: dict[str, str] = {}
    index = 0
    while index < len(argv) and argv[index].startswith("-"):
        flag, equals, value = argv[index].partition("=")
        if flag not in _VALUE_OPTIONS:
            return None
        if not equals:
            index += 1
            if index == len(argv):
                return None
            value = argv[index]
        options[_VALUE_OPTIONS[flag]] = value
        index += 1
    if options.get("home") and not os.path.isabs(os.path.expanduser(options["home"])):
        return None  # the gateway's working folder is not ours
    if options.get("address") or index == len(argv) or argv[index] not in GATEWAY_COMMANDS:
        return None
    home = options.get("home") or os.environ.get("RAYBANK_HOME") or "~/.raybank"
    # os.path, not Path.expanduser: an unknown ~user is the local CLI's to report.
    return Route(Path(os.path.expanduser(home)).absolute(), argv[index], index)


def settle_op_id(argv: list[str], routed: Route) -> tuple[list[str], str | None]:
    """The words to send and the op id they will run with (None if the command takes none).

    Without --op-id the op id is generated here and added to the words, so that a reply
    lost with the gateway can still name the op id that repeats the command safely.
    """
    if routed.command not in TAKES_OP_ID:
        return argv, None
    given = None
    words = argv[routed.at + 1:]
    for position, word in enumerate(words):
        if word == "--":
            break  # what follows is arguments, not options
        if word == "--op-id" and position + 1 < len(words):
            given = words[position + 1]
        elif word.startswith("--op-id="):
            given = word.partition("=")[2]
    if given is not None:
        return argv, given
    from raybank.domain.names import new_op_id  # only here: `balance` need not pay for uuid

    op_id = new_op_id()
    return [*argv[:routed.at + 1], "--op-id", op_id, *words], op_id


def terminal() -> dict[str, object]:
    """What the gateway needs to draw human output as this terminal would show it."""
    size = None
    for fd in (1, 2, 0):
        try:
            size = os.get_terminal_size(fd)
            break
        except OSError:
            continue
    return {
        "stdout_tty": os.isatty(1), "stderr_tty": os.isatty(2),
        "columns": size.columns if size else None, "lines": size.lines if size else None,
        "env": {key: os.environ[key] for key in _TERMINAL_ENV if key in os.environ},
    }


def via_gateway(argv: list[str]) -> int | None:
    """Run the command through the gateway; its exit code, or None to run it here."""
    routed = route(argv)
    if routed is None:
        return None
    home, command = routed.home, routed.command
    try:
        sock = wire.connect(wire.socket_path(home), CONNECT_TIMEOUT_S)
    except OSError:
        return None  # no gateway (yet), or a stale socket of a stopped cluster
    argv, op_id = settle_op_id(argv, routed)
    with sock:
        request = {"argv": argv, "home": str(home), "command": command,
                   "namespace": os.environ.get("RAYBANK_NAMESPACE"),
                   "persistence": os.environ.get("RAYBANK_PERSISTENCE"),
                   "placement": os.environ.get("RAYBANK_PLACEMENT"),
                   "debug": bool(os.environ.get("RAYBANK_DEBUG")),
                   "terminal": terminal()}
        try:
            wire.send(sock, request)
        except OSError:
            return None  # nothing was delivered: safe to run here instead
        try:
            sock.settimeout(REPLY_TIMEOUT_S)
            reply = wire.receive(sock)
        except OSError as error:
            if command not in MUTATING:
                return None
            return lost_reply(argv, command, op_id, error)
    if reply.get("refused"):
        return None  # not this gateway's to serve (another home): run here
    code = int(reply.get("exit", INFRASTRUCTURE_EXIT))
    try:
        sys.stdout.write(reply.get("stdout", ""))
        sys.stdout.flush()
    except OSError:  # the reader went away (`| head`) or the disk is full: no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = code or INFRASTRUCTURE_EXIT
    sys.stderr.write(reply.get("stderr", ""))
    return code


def lost_reply(argv: list[str], command: str, op_id: str | None, error: OSError) -> int:
    """The gateway died with a mutating request in hand: it may have run, so say so (exit 4).

    With an op id the way out is to repeat the command with it; `kill` has none, so the
    user must look at the account before repeating it.
    """
    import json

    from raybank.domain.errors import GatewayLost, error_object

    if op_id is None:
        failure = GatewayLost(
            f"the gateway stopped before answering ({error}); the {command} may or may not "
            "have happened: check the account (raybank accounts) before repeating it")
    else:
        failure = GatewayLost(
            f"the gateway stopped before answering ({error})",
        ).about(op_id, op_id if COMMANDS[command].transfer_id else None)
    if "--json" in argv:
        sys.stdout.write(json.dumps({"error": error_object(failure)}) + "\n")
    else:
        sys.stderr.write(f"Error: {failure.explained()}\n")
    return failure.exit_code

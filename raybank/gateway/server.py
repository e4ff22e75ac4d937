"""The gateway: one long-lived Ray actor per home that runs commands for thin clients.

A short command spends most of its time importing Ray and attaching, not banking. The
gateway pays that once: it is a detached actor in raybank's own cluster, listening on a Unix
socket in its home (see raybank.gateway.wire), and for every request it runs the *same*
Typer app as the command line, with that request's words, environment and terminal, its
output captured per request (a raybank.cli.runner.Channel) instead of written to this
process's descriptors.

Ray restarts it when it dies (``max_restarts=-1``; ``__init__`` binds the socket again),
and it dies with the cluster, since it runs in one of the cluster's worker processes. Any
command that attaches to the embedded cluster as a driver makes sure it exists (the
console entry point, raybank.gateway.client, asks the CLI to call ensure_gateway then).
"""

from __future__ import annotations

import hashlib
import io
import os
import socket
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

import ray

from raybank.gateway import wire
from raybank.routing.options import restartable
from raybank.testing.faults import GATEWAY_ACCEPT_FAILS, GATEWAY_BEFORE_REPLY, crash_point, fires

NAMESPACE = "raybank-gateway"
ACCEPT_RETRY_S = 0.1  # after a failed accept (a full descriptor table): do not spin
# Variables of whoever started the cluster, inherited by its workers: a request brings its own.
_INHERITED = ("RAYBANK_HOME", "RAYBANK_NAMESPACE", "RAYBANK_PERSISTENCE", "RAY_ADDRESS",
              "COLUMNS", "LINES", "NO_COLOR", "FORCE_COLOR")


def gateway_name(home: Path) -> str:
    return "gateway-" + hashlib.sha256(str(home).encode()).hexdigest()[:24]


def ensure_gateway(home: Path) -> None:
    """Start this home's gateway unless it runs (race-safe); does not wait for it."""
    # Not retry_calls: a request in flight is a client's, and the client says it was lost.
    RemoteGateway.options(**restartable(gateway_name(home), NAMESPACE, retry_calls=False)
                          ).remote(str(home))


class Gateway:
    """Serves the embedded cluster's commands for one home over its private socket."""

    def __init__(self, home: str) -> None:
        for key in _INHERITED:
            os.environ.pop(key, None)
        self.home = Path(home)
        from raybank.cli import main, render, views  # noqa: F401 - warm: first requests are fast
        from raybank.service import bank  # noqa: F401

        main.command_group()
        self._listener = wire.listen(wire.socket_path(self.home))
        threading.Thread(target=self._accept, name="gateway-accept", daemon=True).start()

    def pid(self) -> int:
        return os.getpid()

    def _accept(self) -> None:
        """Accept connections for as long as the actor lives.

        No failure may end this loop: the actor would stay alive with its socket bound and
        unserved, and every client would wait for its reply timeout. A failed connection is
        logged (to the worker's log) and closed, and the loop goes on.
        """
        while True:
            try:
                connection, _ = self._listener.accept()
            except OSError:
                traceback.print_exc(file=sys.stderr)
                time.sleep(ACCEPT_RETRY_S)
                continue
            try:
                if fires(self.home, GATEWAY_ACCEPT_FAILS, "next"):  # testing aid
                    raise RuntimeError("injected by the fault step gateway-accept-fails")
                threading.Thread(target=self._serve, args=(connection,), daemon=True).start()
            except Exception:
                traceback.print_exc(file=sys.stderr)
                connection.close()  # the client sees the gateway lost, not silence

    def _serve(self, connection: socket.socket) -> None:
        with connection:
            try:
                wire.check_peer(connection)
                request = wire.receive(connection)
                reply = self.answer(request)
                # Testing aid: die with the command run and its reply not sent (gateway-lost).
                crash_point(self.home, GATEWAY_BEFORE_REPLY, str(request.get("command")))
                wire.send(connection, reply)
            except OSError:
                pass  # a client that left, or another user's: nothing to tell them
            except Exception:  # a bug: the client sees the connection close, and no hang
                traceback.print_exc(file=sys.stderr)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        """Run one command line as the CLI would, capturing its output and exit code."""
        from raybank.cli.main import command_group
        from raybank.cli.runner import CHANNEL, Channel, execute

        if Path(request.get("home", "")) != self.home:
            return {"refused": True}
        stdout, stderr = io.StringIO(), io.StringIO()
        channel = Channel(stdout, stderr, self._bank_for, console_options(request),
                          debug=bool(request.get("debug")))
        defaults = {"home": str(self.home)}
        # The client's environment, not ours:
        for option in ("namespace", "persistence", "placement"):
            if request.get(option):
                defaults[option] = request[option]
        token = CHANNEL.set(channel)
        try:  # execute reports every error itself, exactly as on the driver path
            code = execute(command_group(), list(request["argv"]), default_map=defaults)
        finally:
            CHANNEL.reset(token)
        return {"stdout": stdout.getvalue(), "stderr": stderr.getvalue(), "exit": code}

    def _bank_for(self, settings: Any, namespace: str | None) -> Any:
        from raybank.service.bank import Bank
        from raybank.cluster.embedded import check_home
        from raybank.domain.errors import GatewayMismatch

        if settings.address is not None or settings.home != self.home:
            raise GatewayMismatch("the gateway serves only its own home's cluster")
        check_home(self.home)  # as a driver would (Home.ensure): its mode may have changed
        return Bank(self.home, namespace or settings.namespace, settings.persistence,
                    settings.placement)


def console_options(request: dict[str, Any]) -> dict[str, Any]:
    """Rich Console options that draw as the client's own terminal would."""
    terminal = request.get("terminal") or {}
    environ = dict(terminal.get("env") or {})
    options: dict[str, Any] = {"force_terminal": bool(terminal.get("stdout_tty")),
                               "stderr_terminal": bool(terminal.get("stderr_tty")),
                               "_environ": environ}
    if terminal.get("columns") and "COLUMNS" not in environ:
        options["width"] = int(terminal["columns"])
    return options


RemoteGateway = ray.remote(Gateway)

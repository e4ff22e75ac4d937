"""How one command runs: its output streams, its bank, its errors and its exit.

Every command, whether from the command line, a gateway request or a `batch` line, goes
through execute and run here, so all three paths answer alike. The commands
(raybank.cli.commands) only parse, call the bank and hand the result to their Invocation.
"""

from __future__ import annotations

import contextlib
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

import typer

from raybank.cli.catalog import COMMANDS
from raybank.domain.errors import (
    BankError,
    ExitStatus,
    InfrastructureError,
    InternalError,
    UsageError,
    error_object,
)
from raybank.domain.names import new_op_id, validate_namespace, validate_op_id
from raybank.testing.faults import COMMAND_RAISES, fires

if TYPE_CHECKING:
    from raybank.cli.app import Settings
    from raybank.cli.render import Renderer
    from raybank.service.bank import Bank

# Called with the home's folder each time this process attached to the embedded cluster as
# a driver. The console entry point (raybank.gateway.client) puts the gateway's start here:
# the CLI itself knows nothing of the gateway.
AFTER_ATTACH: list[Callable[[Path], None]] = []


@dataclass
class Channel:
    """Where an invocation that is not a process of its own writes, and the bank it uses.

    The gateway runs each request, and `batch` each line, through the same commands as the
    command line; a Channel in CHANNEL gives that invocation its own streams instead of the
    process's file descriptors, and a bank that is already attached.
    """

    stdout: TextIO
    stderr: TextIO
    bank_for: Callable[[Settings, str | None], Bank]
    console: dict[str, Any] = field(default_factory=dict)  # rich Console options
    debug: bool = False  # the client's RAYBANK_DEBUG: tracebacks of internal errors

    def result(self, invocation: Invocation, view: str, payload: Any, code: int) -> None:
        invocation.renderer.result(view, payload)

    def error(self, invocation: Invocation, error: BankError) -> None:
        invocation.renderer.error(error)

    def usage_error(self, error: Exception, json_mode: bool) -> None:
        show_usage_error(error, json_mode, self.stdout, self.stderr)

    def early_error(self, error: BankError, json_mode: bool) -> None:
        """An error before the command's own code ran (see execute)."""
        show_error(error, json_mode, self.stdout, self.stderr)


CHANNEL: ContextVar[Channel | None] = ContextVar("raybank_channel", default=None)


class Invocation:
    """One command's run: its output streams, its bank connection, its exit."""

    def __init__(self, ctx: typer.Context, json_mode: bool) -> None:
        self.settings: Settings = ctx.obj
        self.facts = COMMANDS[ctx.command.name or ""]
        self.json_mode = json_mode
        self.channel = CHANNEL.get()
        if self.channel is not None:
            self.stdout, self.stderr = self.channel.stdout, self.channel.stderr
        else:
            # Ray and its C++ core may write to fd 1. Keep the real stdout for our output
            # only and point fd 1 at stderr, so no log line can ever reach a script's stdout.
            self.stdout = os.fdopen(os.dup(1), "w", encoding="utf-8")
            os.dup2(2, 1)
            sys.stdout = sys.stderr
            self.stderr = sys.stderr
        self._renderer: Renderer | None = None
        self._bank: Bank | None = None
        self.output_lost = False
        # A mutating command's op id, given or generated before anything else (run).
        self.op_id: str | None = None

    @property
    def transfer_id(self) -> str | None:
        """A transfer's op id is also its transfer id: its errors name it as both."""
        return self.op_id if self.facts.transfer_id else None

    @property
    def debug(self) -> bool:
        if self.channel is not None:
            return self.channel.debug
        return bool(os.environ.get("RAYBANK_DEBUG"))

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from raybank.cli.render import Renderer

            options = self.channel.console if self.channel is not None else {}
            # Only a command of this process's own draws live progress: not a batch line
            # (the batch has its bar) nor a gateway request (its stderr is a buffer).
            self._renderer = Renderer(self.json_mode, self.stdout, self.stderr,
                                      live=self.channel is None, **options)
        return self._renderer

    def bank(self, namespace: str | None = None) -> Bank:
        """Attach to the cluster (starting the embedded one if needed) on first use."""
        if self._bank is None:
            try:
                self._bank = self._attach(namespace)
            except BankError as error:
                error.not_applied = True  # nothing was sent to any account yet
                raise
        return self._bank

    def _attach(self, namespace: str | None) -> Bank:
        if self.channel is not None:
            return self.channel.bank_for(self.settings, namespace)
        from raybank.cluster.embedded import Home, attach

        home = Home(self.settings.home).ensure()
        attach(home, self.settings.address, self.settings.namespace)
        from raybank.service.bank import Bank  # imports Ray: only after attach set its auth

        if self.settings.address is None:
            for hook in AFTER_ATTACH:
                hook(home.path)
        return Bank(home.path, namespace or self.settings.namespace, self.settings.persistence,
                    self.settings.placement)

    def finish(self, view: str, payload: Any, exit_code: int = ExitStatus.OK) -> NoReturn:
        if self.channel is not None:
            self.channel.result(self, view, payload, exit_code)
        else:
            with self.unwritable_output_fails():
                self.renderer.result(view, payload)
        self.exit(exit_code)

    def fail(self, error: BankError) -> NoReturn:
        if self.channel is not None:
            self.channel.error(self, error)
        else:
            with self.unwritable_output_fails():
                self.renderer.error(error)
        self.exit(error.exit_code)

    @contextlib.contextmanager
    def unwritable_output_fails(self) -> Iterator[None]:
        """A result that cannot be written (the reader went away, as with `| head`, or the
        disk is full) ends the command with exit 4 instead of a traceback."""
        try:
            yield
        except OSError:
            self.output_lost = True
            if self.channel is None:  # no later flush (at exit too) may fail again
                os.dup2(os.open(os.devnull, os.O_WRONLY), self.stdout.fileno())

    def exit(self, code: int) -> NoReturn:
        with self.unwritable_output_fails():
            self.stdout.flush()
        if self.output_lost:
            code = code or InfrastructureError.exit_code
        self.stderr.flush()
        if self._bank is not None and self.channel is None:
            # Every result has been awaited; skip Ray's ~0.8 s teardown at interpreter exit.
            os._exit(code)
        raise typer.Exit(code)


def run(ctx: typer.Context, json_mode: bool, action: Callable[[Invocation], None], *,
        op_id: str | None = None) -> NoReturn:
    """Run ``action(invocation)``, mapping every error to its output and exit code.

    The op id of a command that takes one (raybank.cli.catalog: ``op_id``, or a fresh one)
    is settled first, before anything is validated or sent, and every error of the command
    names it (for a transfer also as its transfer id): a script can always repeat the
    command safely. Any exception that is not a BankError is a bug: exit 4, one line, the
    traceback only under RAYBANK_DEBUG.
    """
    invocation = Invocation(ctx, json_mode)
    try:
        if invocation.facts.op_id:
            invocation.op_id = op_id_or_new(op_id)
        validate_namespace(invocation.settings.namespace)
        if _injected(invocation.settings.home, COMMAND_RAISES, ctx.info_name or ""):
            raise RuntimeError(f"injected by the fault step {COMMAND_RAISES}")
        action(invocation)
    except (typer.Exit, typer.Abort):
        raise
    except BankError as error:
        failure = error
    except Exception as error:
        failure = internal_error(error, invocation.debug, invocation.stderr)
    else:
        raise AssertionError("a command must finish or fail")
    if invocation.op_id is not None:
        failure.about(invocation.op_id, invocation.transfer_id)
    invocation.fail(failure)


def internal_error(error: Exception, debug: bool, stderr: TextIO) -> InternalError:
    """The exit-4 error for an exception raybank did not expect, its traceback if asked."""
    if debug:
        traceback.print_exception(error, file=stderr)
    return InternalError.of(error)


def _injected(home: Path, step: str, subject: str) -> bool:
    """Fault injection (raybank.testing.faults), a testing aid: is ``step`` armed for
    ``subject``?"""
    try:
        return fires(home, step, subject)
    except OSError:  # a home that is no folder: the command itself says so
        return False


def op_id_or_new(op_id: str | None) -> str:
    return new_op_id() if op_id is None else validate_op_id(op_id)


def parent_context(group: Any, settings: Settings) -> Any:
    """A context of the command ``group`` holding ``settings``, for running many command
    lines under it without parsing the global options again (batch)."""
    # Parsed leniently (no words would otherwise mean "show help"), then strict again.
    context = group.make_context("raybank", [], resilient_parsing=True)
    context.resilient_parsing = False
    context.obj = settings
    return context


def execute(group: Any, args: list[str], default_map: dict[str, Any] | None = None,
            parent: Any = None) -> int:
    """Run one command line through the command ``group``; returns its exit code.

    With ``parent`` (see parent_context) only the command's own words are parsed. Errors
    before a command's own code runs -- usage errors (Typer's own copy of click's, exit 2),
    and anything unexpected (exit 4, see run) -- go to the invocation's channel when there
    is one (gateway, batch), else to this process's stdout (with --json) or stderr.
    """
    json_mode = "--json" in args
    channel = CHANNEL.get()
    try:
        if parent is None:
            code = group.main(args, prog_name="raybank", standalone_mode=False,
                              default_map=default_map)
        else:
            name, command, rest = group.resolve_command(parent, args)
            with command.make_context(name, rest, parent=parent) as context:
                code = command.invoke(context)
    except typer.Exit as done:
        code = done.exit_code
    except typer.Abort:
        code = ExitStatus.INTERRUPTED
    except Exception as error:
        usage = getattr(error, "exit_code", None) == ExitStatus.INVALID  # click's, also 2
        if usage and hasattr(error, "format_message"):
            if channel is not None:
                channel.usage_error(error, json_mode)
            else:
                show_usage_error(error, json_mode, sys.stdout, sys.stderr)
            return ExitStatus.INVALID
        debug = channel.debug if channel is not None else bool(os.environ.get("RAYBANK_DEBUG"))
        failure = error if isinstance(error, BankError) else internal_error(
            error, debug, channel.stderr if channel is not None else sys.stderr)
        if channel is not None:
            channel.early_error(failure, json_mode)
        else:
            show_error(failure, json_mode, sys.stdout, sys.stderr)
        return failure.exit_code
    return code if isinstance(code, int) else ExitStatus.OK


def show_usage_error(error: Exception, json_mode: bool, stdout: TextIO, stderr: TextIO) -> None:
    if json_mode:
        message = error.format_message()  # type: ignore[attr-defined]
        show_error(UsageError(message), json_mode, stdout, stderr)
    else:
        error.show(file=stderr)  # type: ignore[attr-defined]


def show_error(error: BankError, json_mode: bool, stdout: TextIO, stderr: TextIO) -> None:
    """An error outside any command's renderer: the contract's JSON object, or one line."""
    if json_mode:
        from raybank.cli.render import to_json

        stdout.write(to_json({"error": error_object(error)}) + "\n")
        stdout.flush()
    else:
        stderr.write(f"Error: {error.explained()}\n")
        stderr.flush()

"""The `raybank` command line: parse, call the bank, render. Nothing else lives here.

Ray is imported only by commands that talk to actors, so `raybank --help`, `up`, `down`
and `status` answer without paying for it.
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
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, Optional, TextIO

import typer

from raybank.domain.errors import (
    BankError,
    ExitStatus,
    InfrastructureError,
    InternalError,
    InvalidHome,
    InvalidOption,
    UsageError,
    error_object,
)
from raybank.testing.faults import fires
from raybank.domain.names import new_op_id, validate_name, validate_namespace, validate_op_id
from raybank.domain.money import parse_amount, parse_balance

if TYPE_CHECKING:
    from raybank.service.bank import Bank
    from raybank.cli.render import Renderer

app = typer.Typer(
    add_completion=False, no_args_is_help=True, rich_markup_mode=None,
    help="A banking simulator on Ray actors: every account is a named, detached actor "
         "whose state survives crashes, kills and restarts.",
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object.")]
OpIdOption = Annotated[Optional[str], typer.Option(
    "--op-id", help="Idempotency key: repeating it applies the command once. Default: new UUID.")]


@dataclass(frozen=True)
class Settings:
    home: Path
    address: str | None
    namespace: str
    persistence: str | None


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
    def debug(self) -> bool:
        if self.channel is not None:
            return self.channel.debug
        return bool(os.environ.get("RAYBANK_DEBUG"))

    @property
    def renderer(self) -> Renderer:
        if self._renderer is None:
            from raybank.cli.render import Renderer

            options = self.channel.console if self.channel is not None else {}
            self._renderer = Renderer(self.json_mode, self.stdout, self.stderr, **options)
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

        if self.settings.address is None and not os.environ.get("RAYBANK_NO_GATEWAY"):
            from raybank.gateway.server import ensure_gateway

            ensure_gateway(home.path)  # so that the next command need not import Ray
        return Bank(home.path, namespace or self.settings.namespace, self.settings.persistence)

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
        mutating: bool = False, op_id: str | None = None, transfer: bool = False
        ) -> NoReturn:
    """Run ``action(invocation)``, mapping every error to its output and exit code.

    A ``mutating`` command's op id (``op_id``, or a fresh one) is settled first, before
    anything is validated or sent, and every error of the command names it (for a transfer
    also as its transfer id): a script can always repeat the command safely. Any exception
    that is not a BankError is a bug: exit 4, one line, the traceback only under
    RAYBANK_DEBUG.
    """
    invocation = Invocation(ctx, json_mode)
    try:
        if mutating:
            invocation.op_id = op_id_or_new(op_id)
        validate_namespace(invocation.settings.namespace)
        if _injected(invocation.settings.home, "command-raises", ctx.info_name or ""):
            raise RuntimeError("injected by the fault step command-raises")
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
        failure.about(invocation.op_id, invocation.op_id if transfer else None)
    invocation.fail(failure)


def internal_error(error: Exception, debug: bool, stderr: TextIO) -> InternalError:
    """The exit-4 error for an exception raybank did not expect, its traceback if asked."""
    if debug:
        traceback.print_exception(error, file=stderr)
    return InternalError.of(error)


def _injected(home: Path, step: str, subject: str) -> bool:
    """Fault injection (raybank.testing.faults), a testing aid: is ``step`` armed for ``subject``?"""
    try:
        return fires(home, step, subject)
    except OSError:  # a home that is no folder: the command itself says so
        return False


def op_id_or_new(op_id: str | None) -> str:
    return new_op_id() if op_id is None else validate_op_id(op_id)


@app.callback()
def main_options(
    ctx: typer.Context,
    home: Annotated[Path, typer.Option(
        "--home", envvar="RAYBANK_HOME", help="Where raybank keeps its data.",
        show_default="~/.raybank")] = Path("~/.raybank"),
    address: Annotated[Optional[str], typer.Option(
        "--address", envvar="RAY_ADDRESS",
        help="Attach to this Ray cluster (host:port) instead of the embedded one.")] = None,
    namespace: Annotated[str, typer.Option(
        "--namespace", envvar="RAYBANK_NAMESPACE", help="Ray namespace of the accounts.")
    ] = "raybank",
    persistence: Annotated[Optional[str], typer.Option(
        "--persistence", envvar="RAYBANK_PERSISTENCE",
        help="How account actors reach storage in a new namespace: direct (default) or "
             "pool (through a few persistence actors).")] = None,
) -> None:
    try:
        home = home.expanduser()
    except RuntimeError as error:  # ~user of no such user
        raise InvalidHome(f"invalid home {str(home)!r}: {error}") from None
    ctx.obj = Settings(home=home.absolute(), address=address or None,
                       namespace=namespace, persistence=persistence)


# -- cluster ------------------------------------------------------------------------------
@app.command()
def up(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Start raybank's embedded local Ray cluster if it is not running.

    Example: raybank up
    """
    def action(inv: Invocation) -> None:
        from raybank.cluster.embedded import Home
        from raybank.cluster.embedded import up as start

        record, started = start(Home(inv.settings.home).ensure())
        inv.finish("up", {"address": record.address, "namespace": inv.settings.namespace,
                          "started": started})

    run(ctx, json_, action)


@app.command()
def down(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Stop the cluster raybank started, and no other. Account data stays on disk.

    Example: raybank down
    """
    def action(inv: Invocation) -> None:
        from raybank.cluster.embedded import Home
        from raybank.cluster.embedded import down as stop

        inv.finish("down", {"stopped": stop(Home(inv.settings.home).ensure())})

    run(ctx, json_, action)


@app.command()
def status(ctx: typer.Context, json_: JsonOption = False) -> None:
    """Show whether the cluster runs and how many accounts the namespace holds.

    Example: raybank status --json
    """
    def action(inv: Invocation) -> None:
        from raybank.cluster.embedded import Home, answers, running_record
        from raybank.storage import Storage

        settings = inv.settings
        home = Home(settings.home).ensure()
        if settings.address:
            address = settings.address if answers(settings.address) else None
        else:
            record = running_record(home)
            address = record.address if record else None
        accounts = len(Storage(home.path, settings.namespace).names())
        inv.finish("status", {"running": address is not None, "address": address,
                              "namespace": settings.namespace, "accounts": accounts})

    run(ctx, json_, action)


# -- accounts -----------------------------------------------------------------------------
@app.command()
def create(
    ctx: typer.Context,
    name: str,
    balance: Annotated[str, typer.Option(help="Opening balance.")] = "0.00",
    min_balance: Annotated[str, typer.Option(
        "--min-balance", help="Lowest allowed balance; negative is an overdraft limit.")
    ] = "0.00",
    storage: Annotated[Optional[str], typer.Option(
        help="Storage format for this account: journal (default) or snapshot.")] = None,
    op_id: OpIdOption = None,
    json_: JsonOption = False,
) -> None:
    """Open an account.

    Example: raybank create alice --balance 100.00 --min-balance 20.00
    """
    def action(inv: Invocation) -> None:
        from raybank.storage import STORAGE_KINDS

        account = validate_name(name)
        opening = parse_balance(balance, what="opening balance")
        minimum = parse_balance(min_balance, what="minimum balance", allow_negative=True)
        if storage is not None and storage not in STORAGE_KINDS:
            raise InvalidOption(f"invalid storage {storage!r}: use one of "
                                f"{', '.join(STORAGE_KINDS)}")
        inv.finish("account", inv.bank().create(account, opening, minimum, inv.op_id, storage))

    run(ctx, json_, action, mutating=True, op_id=op_id)


@app.command()
def deposit(ctx: typer.Context, name: str, amount: str, op_id: OpIdOption = None,
            json_: JsonOption = False) -> None:
    """Add money to an account.

    Example: raybank deposit alice 25.50
    """
    def action(inv: Invocation) -> None:
        args = validate_name(name), parse_amount(amount), inv.op_id
        inv.finish("account", inv.bank().deposit(*args))

    run(ctx, json_, action, mutating=True, op_id=op_id)


@app.command()
def withdraw(ctx: typer.Context, name: str, amount: str, op_id: OpIdOption = None,
             json_: JsonOption = False) -> None:
    """Take money from an account; it may not fall below its minimum balance.

    Example: raybank withdraw alice 10.00
    """
    def action(inv: Invocation) -> None:
        args = validate_name(name), parse_amount(amount), inv.op_id
        inv.finish("account", inv.bank().withdraw(*args))

    run(ctx, json_, action, mutating=True, op_id=op_id)


@app.command()
def transfer(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FROM")],
    target: Annotated[str, typer.Argument(metavar="TO")],
    amount: Annotated[str, typer.Argument(metavar="AMT")],
    op_id: OpIdOption = None,
    fail_at: Annotated[Optional[str], typer.Option("--fail-at", hidden=True)] = None,
    json_: JsonOption = False,
) -> None:
    """Move money atomically from one account to another, exactly once per op id.

    Example: raybank transfer alice bob 25.00
    """
    def action(inv: Invocation) -> None:
        from raybank.domain.transfer import parse_fault

        args = validate_name(source), validate_name(target), parse_amount(amount)
        fault = None if fail_at is None else parse_fault(fail_at)  # testing aid only
        inv.finish("transfer", inv.bank().transfer(*args, inv.op_id, fault=fault))

    run(ctx, json_, action, mutating=True, op_id=op_id, transfer=True)


@app.command()
def balance(ctx: typer.Context, name: str, json_: JsonOption = False) -> None:
    """Show an account's balance.

    Example: raybank balance alice
    """
    def action(inv: Invocation) -> None:
        account = validate_name(name)
        inv.finish("account", inv.bank().balance(account))

    run(ctx, json_, action)


@app.command()
def accounts(ctx: typer.Context, json_: JsonOption = False) -> None:
    """List every account with its actor (state, pid, node, restarts, calls) and the total.

    Example: raybank accounts
    """
    def action(inv: Invocation) -> None:
        inv.finish("accounts", inv.bank().accounts())

    run(ctx, json_, action)


@app.command()
def kill(
    ctx: typer.Context,
    name: str,
    restart: Annotated[bool, typer.Option(
        "--restart", help="Let Ray restart the actor; it restores its state from storage.")
    ] = False,
    json_: JsonOption = False,
) -> None:
    """Kill an account's actor process and show the account before and after.

    Without --restart the actor stays dead (INACTIVE) until a command needs it again.
    Example: raybank kill alice --restart
    """
    def action(inv: Invocation) -> None:
        account = validate_name(name)
        inv.finish("kill", inv.bank().kill(account, restart))

    run(ctx, json_, action)


@app.command()
def history(
    ctx: typer.Context,
    name: str,
    limit: Annotated[Optional[int], typer.Option(
        min=0, help="Show only the last N events (still oldest first).")] = None,
    json_: JsonOption = False,
) -> None:
    """Show an account's event journal, oldest first.

    Example: raybank history alice --limit 10
    """
    def action(inv: Invocation) -> None:
        account = validate_name(name)
        inv.finish("history", inv.bank().history(account, limit))

    run(ctx, json_, action)


@app.command()
def verify(ctx: typer.Context, name: Annotated[Optional[str], typer.Argument()] = None,
           json_: JsonOption = False) -> None:
    """Rebuild accounts from storage alone and compare them with their live actors.

    Exits 1 if any account differs. Example: raybank verify
    """
    def action(inv: Invocation) -> None:
        account = None if name is None else validate_name(name)
        result = inv.bank().verify(account)
        inv.finish("verify", result, ExitStatus.OK if result["ok"] else ExitStatus.CHECK_FAILED)

    run(ctx, json_, action)


@app.command()
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


@app.command()
def simulate(
    ctx: typer.Context,
    accounts: Annotated[int, typer.Option(min=1, help="Fresh accounts to open.")] = 10,
    ops: Annotated[int, typer.Option(min=0, help="Operations to run.")] = 1000,
    concurrency: Annotated[int, typer.Option(min=1, help="Concurrent client actors.")] = 4,
    chaos: Annotated[float, typer.Option(
        min=0.0, max=1.0, help="Probability, per operation, of killing an actor first.")] = 0.0,
    seed: Annotated[int, typer.Option(help="Same seed, same operations.")] = 1,
    keep: Annotated[bool, typer.Option(
        "--keep", help="Keep the simulation's accounts (in their own namespace).")] = False,
    json_: JsonOption = False,
) -> None:
    """Run a seeded random workload under chaos, then check the bank's invariants.

    Opens fresh accounts in a namespace of their own; exits 1 if any invariant fails.
    Example: raybank simulate --accounts 20 --ops 5000 --concurrency 8 --chaos 0.01
    """
    def action(inv: Invocation) -> None:
        from raybank.scenarios.workload import SIMULATION_PREFIX

        bank = inv.bank(f"{SIMULATION_PREFIX}{new_op_id()[:8]}")
        from raybank.scenarios.simulation import run_simulation  # imports Ray: only after attach

        with inv.renderer.progress("simulating") as advance:
            result = run_simulation(bank, accounts=accounts, ops=ops, concurrency=concurrency,
                                    chaos=chaos, seed=seed, keep=keep, on_progress=advance)
        inv.finish("simulate", result, ExitStatus.OK if result["ok"] else ExitStatus.CHECK_FAILED)

    run(ctx, json_, action)


@app.command()
def batch(ctx: typer.Context,
          file: Annotated[str, typer.Argument(help="File of commands; - for stdin.")] = "-",
          json_: JsonOption = False) -> None:
    """Run one command a line (the words after `raybank`) over one connection.

    Prints one JSON line per command, in input order, each once its command is durable:
    {"line": N, "exit": CODE, "result": {...}} or {"line": N, "exit": CODE, "error": {...}}.
    Commands on one account keep their order; different accounts proceed in parallel.
    Exits 0 if every line did, else with the first failing line's code.
    Example: raybank batch ops.txt
    """
    def action(inv: Invocation) -> None:
        from raybank.cli.batch import open_input, run_batch

        inv.exit(run_batch(inv, open_input(file)))

    run(ctx, json_, action)


_COMMAND: Any = None


def command_group() -> Any:
    """The click group behind the Typer app, built once per process."""
    global _COMMAND
    if _COMMAND is None:
        _COMMAND = typer.main.get_command(app)
    return _COMMAND


def parent_context(settings: Settings) -> Any:
    """A group context holding ``settings``, for running many command lines under it
    without parsing the global options again (batch)."""
    # Parsed leniently (no words would otherwise mean "show help"), then strict again.
    context = command_group().make_context("raybank", [], resilient_parsing=True)
    context.resilient_parsing = False
    context.obj = settings
    return context


def execute(args: list[str], default_map: dict[str, Any] | None = None,
            parent: Any = None) -> int:
    """Run one command line through the Typer app; returns its exit code.

    With ``parent`` (see parent_context) only the command's own words are parsed. Errors
    before a command's own code runs -- usage errors (Typer's own copy of click's, exit 2),
    and anything unexpected (exit 4, see run) -- go to the invocation's channel when there
    is one (gateway, batch), else to this process's stdout (with --json) or stderr.
    """
    group = command_group()
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


def main() -> None:
    """Run the command here, as a Ray driver when it needs one; usage errors exit 2."""
    sys.exit(execute(sys.argv[1:]))


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

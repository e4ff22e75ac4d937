"""`raybank batch`: many command lines over one connection, pipelined where that is safe.

Each line is run by the same Typer app as the command line (cli.execute with a Channel per
line), so there is one parser and one implementation of every command. What batch adds is
scheduling:

- Commands in PIPELINED make exactly one call to one account's actor. Their call is queued
  in that account's group (Bank.deferred) and every SEND_EVERY lines each group goes to its
  actor as one `apply_many`: the actor runs the group in order and makes it durable with
  one fsync (group commit). Ray runs calls from one caller to one actor in the order they
  were sent, so one account's lines keep their order while different accounts' actors work
  in parallel, and no line waits for the one before it.
- Every other command waits until everything before it has been printed, then runs alone.
  That is always correct; it is what `transfer` gets by being a CLI command at all.

A separate thread waits for the results in input order and prints one JSON line each; an
actor acknowledges only once its change is on disk, so a printed line is a durable one.
"""

from __future__ import annotations

import queue
import shlex
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raybank.cli import CHANNEL, Channel, execute, parent_context
from raybank.errors import BankError, InfrastructureError, InvalidInput

if TYPE_CHECKING:
    from raybank.bank import Bank
    from raybank.cli import Invocation
    from raybank.render import Renderer

PIPELINED = frozenset({"create", "deposit", "withdraw", "balance"})
REFUSED = frozenset({"batch", "up", "down", "demo", "simulate"})
IN_FLIGHT = 4096  # lines read but not yet printed: bounds memory, not order
SEND_EVERY = 200  # queued lines after which the account groups are sent


def read_lines(file: str) -> list[str]:
    try:
        if file == "-":
            return sys.stdin.read().splitlines()
        return Path(file).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidInput(f"cannot read batch input {file!r}: {error}",
                           "unreadable-input") from error


@dataclass
class Outcome:
    """What one line's command ended with: a result (maybe still pending) or an error."""

    payload: Any = None
    exit: int = 0
    error: BankError | None = None


class LineChannel(Channel):
    """Runs one line through the CLI, keeping its outcome instead of printing it."""

    def __init__(self, invocation: Invocation, bank: Bank) -> None:
        super().__init__(invocation.stdout, invocation.stderr, lambda settings, ns: bank)
        self.outcome: Outcome | None = None

    def result(self, invocation: Invocation, view: str, payload: Any, code: int) -> None:
        self.outcome = Outcome(payload=payload, exit=code)

    def error(self, invocation: Invocation, error: BankError) -> None:
        self.outcome = Outcome(exit=error.exit_code, error=error)

    def usage_error(self, error: Exception, json_mode: bool) -> None:
        message = error.format_message()  # type: ignore[attr-defined]
        self.outcome = Outcome(exit=2, error=InvalidInput(message, "invalid-input"))


class Printer:
    """Waits for outcomes in input order and prints each as one JSON line."""

    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.first_failure = 0
        self.closed_at: int | None = None  # the first line that could not be printed
        self._queue: queue.Queue[tuple[int, Outcome] | None] = queue.Queue(IN_FLIGHT)
        self._thread = threading.Thread(target=self._run, name="batch-printer", daemon=True)
        self._thread.start()

    def put(self, line: int, outcome: Outcome) -> None:
        self._queue.put((line, outcome))

    def drain(self) -> None:
        """Return once every line put so far has been printed."""
        self._queue.join()

    def close(self) -> int:
        self._queue.put(None)
        self._thread.join()
        return self.first_failure

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            line, outcome = item
            record = resolve(line, outcome)  # awaited even unprinted: the line was sent
            if self.closed_at is None:
                try:
                    self.renderer.record(record)
                except OSError:  # the reader went away (`| head`) or the disk is full
                    self.closed_at = line
            if record["exit"] and not self.first_failure:
                self.first_failure = record["exit"]
            self._queue.task_done()
        self._queue.task_done()


def resolve(line: int, outcome: Outcome) -> dict[str, Any]:
    """The JSON line for an outcome, waiting for its actor call if it is still in flight."""
    error, payload = outcome.error, outcome.payload
    if error is None and hasattr(payload, "result"):
        try:
            payload = payload.result()
        except BankError as failed:
            error = failed
        except Exception as failed:  # never lose the lines after a surprise
            error = InfrastructureError(f"line {line} failed: {failed}", "batch-failed")
    if error is not None:
        return {"line": line, "exit": error.exit_code,
                "error": {"code": error.code, "message": error.message}}
    return {"line": line, "exit": outcome.exit, "result": payload}


def run_line(invocation: Invocation, bank: Bank, parent: Any, words: list[str]) -> Outcome:
    command = words[0]
    if command in REFUSED or command.startswith("-"):
        return Outcome(exit=2, error=InvalidInput(
            f"{command!r} cannot run inside batch (global options and the commands "
            f"{', '.join(sorted(REFUSED))} are not allowed)", "invalid-batch-line"))
    channel = LineChannel(invocation, bank)
    bank.deferred = command in PIPELINED
    token = CHANNEL.set(channel)
    try:
        code = execute(words, parent=parent)
    finally:
        CHANNEL.reset(token)
        bank.deferred = False
    if channel.outcome is None:  # e.g. --help: nothing to report but its exit code
        return Outcome(exit=code, error=InvalidInput("the line produced no result",
                                                     "invalid-batch-line") if code else None,
                       payload={})
    return channel.outcome


def split_words(text: str) -> list[str]:
    """A line's words as a shell would split them; `#` starts a comment."""
    if any(quote in text for quote in "'\"\\"):
        return shlex.split(text, comments=True)
    return text.partition("#")[0].split()  # the same words, without shlex's per-char cost


def run_batch(invocation: Invocation, lines: list[str]) -> int:
    """Run every line; returns 0 if all did, else the first failing line's exit code."""
    bank = invocation.bank()
    parent = parent_context(invocation.settings)
    printer = Printer(invocation.renderer)
    queued = 0
    try:
        for number, text in enumerate(lines, start=1):
            try:
                words = split_words(text)
            except ValueError as error:
                printer.put(number, Outcome(exit=2, error=InvalidInput(
                    f"cannot split line {number}: {error}", "invalid-batch-line")))
                continue
            if not words:
                continue
            if printer.closed_at is not None:
                break  # no one can read the results: run no more lines
            if words[0] not in PIPELINED:
                bank.flush()
                printer.drain()
            printer.put(number, run_line(invocation, bank, parent, words))
            queued += 1
            if queued % SEND_EVERY == 0:
                bank.flush()
    finally:
        bank.flush()  # the printer may be waiting on a group: always send them
        code = printer.close()
    if printer.closed_at is not None:
        invocation.stderr.write(
            f"raybank batch: could not print line {printer.closed_at} (output closed or "
            f"full); stopped reading input there. Lines already read were run to the end; "
            f"their results were not printed.\n")
        return InfrastructureError.exit_code
    return code

"""`raybank batch`: many command lines over one connection, pipelined where that is safe.

Each line is run by the same Typer app as the command line (runner.execute, under the batch
command's own group, with a Channel per line), so there is one parser and one implementation
of every command. What batch adds is scheduling (raybank.cli.catalog says which commands
pipeline, and which batch refuses):

- Pipelined commands make exactly one call to one account's actor. They run against the
  bank's explicit pipeline (service.pipeline) instead of the bank itself: their call is
  queued in that account's group, and every SEND_EVERY lines each group goes to its
  actor as one `apply_many`: the actor runs the group in order and makes it durable with
  one fsync (group commit). Ray runs calls from one caller to one actor in the order they
  were sent, so one account's lines keep their order while different accounts' actors work
  in parallel, and no line waits for the one before it.
- Every other command waits until everything before it has been printed, then runs alone.
  That is always correct; it is what `transfer` gets by being a CLI command at all.

A separate thread waits for the results in input order and prints one JSON line each; an
actor acknowledges only once its change is on disk, so a printed line is a durable one.

Input is streamed: a reader thread reads one line at a time (lines end at a newline only,
see read_lines) into a bounded queue, so memory stays bounded and a line runs as soon as it
arrives. When no further line is waiting, the queued groups are sent at once: a script that
writes a line and waits for its result gets it.
"""

from __future__ import annotations

import copy
import os
import queue
import shlex
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from raybank.cli.catalog import PIPELINED, REFUSED_IN_BATCH
from raybank.cli.runner import CHANNEL, Channel, execute, internal_error
from raybank.domain.errors import (
    BankError,
    ExitStatus,
    InfrastructureError,
    InvalidBatchLine,
    UnreadableInput,
    UsageError,
    error_object,
)

if TYPE_CHECKING:
    from raybank.cli.render import Renderer
    from raybank.cli.runner import Invocation
    from raybank.service.bank import Bank
    from raybank.service.pipeline import Pipeline

IN_FLIGHT = 4096  # lines read but not yet printed: bounds memory, not order
SEND_EVERY = 200  # queued lines after which the account groups are sent
READ_AHEAD = 1024  # lines read but not yet run
MAX_LINE_BYTES = 64 * 1024  # a command line is short; this bounds what one line can cost


def open_input(file: str) -> BinaryIO:
    """The batch's input, as bytes: decoding and line ends are read_lines' business."""
    if file == "-":
        return sys.stdin.buffer
    try:
        return open(file, "rb")  # read_lines closes it
    except OSError as error:
        raise UnreadableInput(f"cannot read batch input {file!r}: {error.strerror}") from error


def read_lines(source: BinaryIO) -> Iterator[str | BankError]:
    r"""Each line's text, one at a time, or the error that makes that line unusable.

    A line ends at "\n" only, and one "\r" before it is dropped (files written on Windows).
    Any other character -- a form feed, a lone "\r", "\x85", "\u2028", all of which
    str.splitlines() and Python's text mode take for line ends -- stays inside its line, so
    a comment can never hide a command after it. A line longer than MAX_LINE_BYTES is an
    error rather than a reason to hold the whole input in memory.
    """
    with source:
        while True:
            try:
                raw = source.readline(MAX_LINE_BYTES + 1)
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    while raw and not raw.endswith(b"\n"):  # skip the rest of it
                        raw = source.readline(MAX_LINE_BYTES + 1)
                    yield InvalidBatchLine(f"line longer than {MAX_LINE_BYTES} bytes")
                    continue
            except OSError as error:
                yield UnreadableInput(f"cannot read batch input: {error.strerror}")
                return
            if not raw:
                return
            try:
                yield raw.removesuffix(b"\n").removesuffix(b"\r").decode("utf-8")
            except UnicodeDecodeError as error:
                yield InvalidBatchLine(f"line is not UTF-8: {error}")


class LineReader:
    """Reads input lines in a thread of its own, at most READ_AHEAD ahead of the runner,
    so that the runner can tell "no line yet" (send what is queued) from "next line"."""

    def __init__(self, lines: Iterator[str | BankError]) -> None:
        self._queue: queue.Queue[str | BankError | None] = queue.Queue(READ_AHEAD)
        self._lines = lines
        threading.Thread(target=self._read, name="batch-reader", daemon=True).start()

    def _read(self) -> None:
        try:
            for line in self._lines:
                self._queue.put(line)
        finally:
            self._queue.put(None)

    def ready(self) -> bool:
        """Is a line (or the end) already waiting?"""
        return not self._queue.empty()

    def next(self) -> str | BankError | None:
        """The next line, its error, or None at the end (waits for it)."""
        return self._queue.get()


@dataclass
class Outcome:
    """What one line's command ended with: a result (maybe still pending) or an error."""

    payload: Any = None
    exit: int = ExitStatus.OK
    error: BankError | None = None
    op_id: str | None = None  # of a mutating line, for an error that comes later
    transfer_id: str | None = None


class LineChannel(Channel):
    """Runs one line through the CLI, keeping its outcome instead of printing it."""

    def __init__(self, invocation: Invocation, bank: Bank | Pipeline) -> None:
        super().__init__(invocation.stdout, invocation.stderr, lambda settings, ns: bank,
                         debug=invocation.debug)
        self.outcome: Outcome | None = None

    def result(self, invocation: Invocation, view: str, payload: Any, code: int) -> None:
        # A deferred result may still fail: keep the op id its error must name.
        self.outcome = Outcome(payload=payload, exit=code, op_id=invocation.op_id,
                               transfer_id=invocation.transfer_id)

    def error(self, invocation: Invocation, error: BankError) -> None:
        self.outcome = Outcome(exit=error.exit_code, error=error)  # run() named the op id

    def usage_error(self, error: Exception, json_mode: bool) -> None:
        message = error.format_message()  # type: ignore[attr-defined]
        self.outcome = Outcome(exit=ExitStatus.INVALID, error=UsageError(message))

    def early_error(self, error: BankError, json_mode: bool) -> None:
        self.outcome = Outcome(exit=error.exit_code, error=error)


def count_lines(source: BinaryIO) -> int | None:
    """The number of lines in a regular file (a progress bar's total), read without moving
    ``source``; None for a pipe or a terminal, whose end is unknown."""
    try:
        fd = source.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        count, offset, last = 0, 0, b"\n"
        while chunk := os.pread(fd, 1 << 20, offset):
            count += chunk.count(b"\n")
            offset += len(chunk)
            last = chunk[-1:]
        return count + (last != b"\n")
    except (OSError, ValueError):
        return None


class Printer:
    """Waits for outcomes in input order and prints each as one JSON line."""

    def __init__(self, renderer: Renderer, invocation: Invocation,
                 on_printed: Callable[[int, int], None] = lambda line, failures: None
                 ) -> None:
        """``on_printed(line, failures)`` after each line: the progress bar."""
        self.renderer = renderer
        self.invocation = invocation
        self.on_printed = on_printed
        self.failures = 0
        self.first_failure: int = ExitStatus.OK
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
            # Awaited even when it cannot be printed: the line was sent.
            record = resolve(line, outcome, self.invocation)
            if self.closed_at is None:
                try:
                    self.renderer.record(record)
                except OSError:  # the reader went away (`| head`) or the disk is full
                    self.closed_at = line
            if record["exit"]:
                self.failures += 1
                self.first_failure = self.first_failure or record["exit"]
            self.on_printed(line, self.failures)
            self._queue.task_done()
        self._queue.task_done()


def resolve(line: int, outcome: Outcome, invocation: Invocation) -> dict[str, Any]:
    """The JSON line for an outcome, waiting for its actor call if it is still in flight."""
    error, payload = outcome.error, outcome.payload
    if error is None and hasattr(payload, "result"):
        try:
            payload = payload.result()
        except BankError as failed:
            error = failed
        except Exception as failed:  # never lose the lines after a surprise
            error = internal_error(failed, invocation.debug, invocation.stderr)
        if error is not None and outcome.op_id is not None:
            # One error may answer a whole group (no such account): each line names its own.
            error = copy.copy(error).about(outcome.op_id, outcome.transfer_id)
    if error is not None:
        return {"line": line, "exit": error.exit_code, "error": error_object(error)}
    return {"line": line, "exit": outcome.exit, "result": payload}


def run_line(invocation: Invocation, bank: Bank, pipeline: Pipeline, parent: Any,
             words: list[str]) -> Outcome:
    command = words[0]
    if command in REFUSED_IN_BATCH or command.startswith("-"):
        return Outcome(exit=ExitStatus.INVALID, error=InvalidBatchLine(
            f"{command!r} cannot run inside batch (global options and the commands "
            f"{', '.join(sorted(REFUSED_IN_BATCH))} are not allowed)"))
    channel = LineChannel(invocation, pipeline if command in PIPELINED else bank)
    token = CHANNEL.set(channel)
    try:
        code = execute(parent.command, words, parent=parent)
    finally:
        CHANNEL.reset(token)
    if channel.outcome is None:  # e.g. --help: nothing to report but its exit code
        return Outcome(exit=code, error=InvalidBatchLine("the line produced no result")
                       if code else None, payload={})
    return channel.outcome


def split_words(text: str) -> list[str]:
    """A line's words as a shell would split them; `#` starts a comment."""
    if any(quote in text for quote in "'\"\\"):
        return shlex.split(text, comments=True)
    return text.partition("#")[0].split()  # the same words, without shlex's per-char cost


def run_batch(invocation: Invocation, source: BinaryIO, parent: Any) -> int:
    """Run every line under ``parent`` (runner.parent_context: the command group and its
    settings); returns 0 if all did, else the first failing line's exit code."""
    bank = invocation.bank()
    renderer = invocation.renderer
    if source.isatty():  # lines typed by hand: a bar would redraw over the typing
        return _run_lines(invocation, bank, source, parent, lambda line, failures: None)
    total = count_lines(source) if renderer.shows_progress else None
    with renderer.tally("batch", "lines", total) as update:
        return _run_lines(invocation, bank, source, parent, update)


def _run_lines(invocation: Invocation, bank: Bank, source: BinaryIO, parent: Any,
               update: Callable[[int, int], None]) -> int:
    pipeline = bank.pipeline()
    printer = Printer(invocation.renderer, invocation, update)
    reader = LineReader(read_lines(source))
    queued = number = 0
    try:
        while True:
            if not reader.ready():
                pipeline.flush()  # the input stalls: let the lines already read run now
            text = reader.next()
            if text is None:
                break
            number += 1
            if isinstance(text, BankError):
                printer.put(number, Outcome(exit=text.exit_code, error=text))
                continue
            try:
                words = split_words(text)
            except ValueError as error:
                printer.put(number, Outcome(exit=ExitStatus.INVALID, error=InvalidBatchLine(
                    f"cannot split line {number}: {error}")))
                continue
            if not words:
                continue
            if printer.closed_at is not None:
                break  # no one can read the results: run no more lines
            if words[0] not in PIPELINED:
                pipeline.flush()
                printer.drain()
            printer.put(number, run_line(invocation, bank, pipeline, parent, words))
            queued += 1
            if queued % SEND_EVERY == 0:
                pipeline.flush()
    finally:
        pipeline.flush()  # the printer may be waiting on a group: always send them
        code = printer.close()
    if printer.closed_at is not None:
        invocation.stderr.write(
            f"raybank batch: could not print line {printer.closed_at} (output closed or "
            f"full); stopped reading input there. Lines already sent were run to the end; "
            f"their results were not printed.\n")
        return InfrastructureError.exit_code
    return code

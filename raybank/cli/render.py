"""One renderer for every command: a rich view for people, or exactly one JSON object.

Commands hand over a result (plain data, money as Decimal) and the name of its view; they
never print. In JSON mode money becomes 2-digit strings and nothing but the object is
written; in human mode each view (raybank.cli.views) draws tables, and errors go to stderr.
JSON mode never imports rich: scripts run raybank thousands of times.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any, TextIO

from raybank.domain.errors import BankError, error_object
from raybank.domain.money import format_money

if TYPE_CHECKING:
    from rich.console import Console


def to_json(payload: Any) -> str:
    """The contract's JSON of a payload: money as 2-digit strings, typed results
    (raybank.service.results) as their contract objects."""
    def encode(value: Any) -> Any:
        if isinstance(value, Decimal):
            return format_money(value)
        if hasattr(value, "to_contract"):
            return value.to_contract()
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")

    return json.dumps(payload, default=encode)


def write_json(out: TextIO, payload: Any) -> None:
    """``to_json(payload)``, byte for byte, written piece by piece: each item of a list at
    the top level on its own, so a listing of 100,000 accounts is never one 25 MB string."""
    payload = contract(payload)
    if not isinstance(payload, dict):
        out.write(to_json(payload))
        return
    out.write("{")
    for index, (key, value) in enumerate(payload.items()):
        out.write((", " if index else "") + to_json(key) + ": ")
        if isinstance(value, list):
            out.write("[")
            for position, item in enumerate(value):
                out.write((", " if position else "") + to_json(item))
            out.write("]")
        else:
            out.write(to_json(value))
    out.write("}")


def contract(payload: Any) -> Any:
    """A typed result as the contract's object (what the views draw); other payloads as is."""
    return payload.to_contract() if hasattr(payload, "to_contract") else payload


class Renderer:
    """Writes one command's outcome to the real stdout (results) or stderr (human errors)."""

    def __init__(self, json_mode: bool, stdout: TextIO, stderr: TextIO, *,
                 live: bool = True, **console_options: Any) -> None:
        """``console_options`` describe the user's terminal when it is not this process's
        (the gateway draws for a client): rich's force_terminal, width, _environ.
        ``live=False``: no progress bars (a batch line: the batch draws its own)."""
        self.json_mode = json_mode
        self.live = live
        self.stdout = stdout
        self.stderr = stderr
        self._console_options = console_options

    @cached_property
    def console(self) -> Console:
        return self._console(self.stdout, self._console_options.get("force_terminal"))

    @cached_property
    def error_console(self) -> Console:
        return self._console(self.stderr, self._console_options.get(
            "stderr_terminal", self._console_options.get("force_terminal")))

    def _console(self, file: TextIO, force_terminal: bool | None) -> Console:
        from rich.console import Console

        options = {key: value for key, value in self._console_options.items()
                   if key not in ("stderr_terminal", "force_terminal")}
        return Console(file=file, highlight=False, force_terminal=force_terminal, **options)

    def record(self, payload: dict[str, Any]) -> None:
        """One JSON line of a stream of results (`batch`), in either mode."""
        self.stdout.write(to_json(payload) + "\n")
        self.stdout.flush()

    def result(self, view: str, payload: Any) -> None:
        if self.json_mode:
            write_json(self.stdout, payload)
            self.stdout.write("\n")
        else:
            from raybank.cli.views import VIEWS

            for renderable in VIEWS[view](contract(payload)):
                if isinstance(renderable, str):  # verbatim (shell lines): never wrapped,
                    self.stdout.write(renderable)  # cropped or read as markup
                else:
                    self.console.print(renderable)
        self.stdout.flush()

    @property
    def shows_progress(self) -> bool:
        """Progress is for a person at this process's own terminal: none with --json, in a
        pipe or a log, for a batch line, or through the gateway (its stderr is a buffer
        sent back at the end, where a live bar would arrive as noise)."""
        return (self.live and not self.json_mode and self.stderr.isatty()
                and self.error_console.is_terminal)

    @contextlib.contextmanager
    def tally(self, label: str, unit: str, total: int | None = None, failed: str = "failed"
              ) -> Iterator[Callable[..., None]]:
        """A bar on stderr counting ``unit`` done, per second, and failures (batch,
        verify); yields ``update(done, failures, total=None)``."""
        if not self.shows_progress:
            yield lambda done, failures, total=None: None
            return
        from raybank.cli.progress import tally_bar

        with tally_bar(self.error_console, label, unit, total, failed) as update:
            yield update

    @contextlib.contextmanager
    def progress(self, label: str) -> Iterator[Callable[[int, int], None]]:
        """A progress bar on stderr for people (none with --json or off a terminal)."""
        if not self.shows_progress:
            yield lambda done, total: None
            return
        from rich.progress import Progress

        with Progress(console=self.error_console, transient=True) as bar:
            task = bar.add_task(label, total=None)
            yield lambda done, total: bar.update(task, completed=done, total=total)

    def error(self, error: BankError) -> None:
        """The error, with its op id when a mutating command failed (errors.error_object)."""
        if self.json_mode:
            self.stdout.write(to_json({"error": error_object(error)}) + "\n")
            self.stdout.flush()
        else:
            from rich.text import Text  # never markup: messages quote the user's own text

            # One line, unwrapped (the terminal wraps it): an op id is never cut in two.
            self.error_console.print(Text(f"Error: {error.explained()}", style="bold red"),
                                     soft_wrap=True)

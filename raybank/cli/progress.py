"""Progress bars for long work (`batch`, `verify`): how far, how fast, how many failed.

Drawn by rich on stderr, and only when stderr is this process's own terminal
(Renderer.tally decides): never on stdout, never into a pipe or a log.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text


class CountColumn(ProgressColumn):
    """``done/total unit``, or ``done unit`` while the total is unknown (a stream)."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        done = f"{task.completed:,.0f}"
        if task.total is not None:
            done += f"/{task.total:,.0f}"
        return Text(f"{done} {self.unit}", style="progress.download")


class RateColumn(ProgressColumn):
    """Units per second, from rich's own sliding window of updates."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} {self.unit}/s" if speed else f"- {self.unit}/s",
                    style="progress.data.speed")


class FailuresColumn(ProgressColumn):
    """How many items failed so far, red once there is one."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def render(self, task: Task) -> Text:
        failures = task.fields.get("failures", 0)
        return Text(f"{failures:,} {self.what}", style="red" if failures else "dim")


@contextlib.contextmanager
def tally_bar(console: Console, label: str, unit: str, total: int | None, failed: str
              ) -> Iterator[Callable[..., None]]:
    """A transient bar; yields ``update(done, failures, total=None)``."""
    columns = (TextColumn(label, style="progress.description"), BarColumn(),
               CountColumn(unit), RateColumn(unit), FailuresColumn(failed), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(label, total=total, failures=0)

        def update(done: int, failures: int, total: int | None = None) -> None:
            bar.update(task, completed=done, failures=failures, total=total)

        yield update

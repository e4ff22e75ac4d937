"""The transfer coordinator's two threading aids, pure Python so they test without Ray.

``LegGate``: every leg call the coordinator makes passes it, and a reader of the accounts
may pause it for a short lease: the pause waits for running legs to finish and lets none
start until it is resumed or its lease runs out (so a reader that dies never freezes
transfers). That is what lets ``accounts`` read every account at one consistent cut.

``Redrive``: one daemon thread that drives each transfer handed to it to its end, retrying
with capped exponential backoff, forever: a transfer is never left half done because its
storage or an actor was away for a while.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from raybank.domain.errors import TransfersBusy

log = logging.getLogger(__name__)
LOGGED_EVERY = 100


class LegGate:
    """Legs run side by side unless a reader holds a pause; pauses may overlap."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._running = 0
        self._leases: dict[str, float] = {}  # pause token -> when it ends (monotonic)

    def _paused(self) -> bool:
        """Whether a pause holds, forgetting the ones whose lease ran out."""
        now = time.monotonic()
        for token, ends in list(self._leases.items()):
            if ends <= now:
                del self._leases[token]
                log.warning("a pause of transfer legs ended by its lease, not by its reader")
        return bool(self._leases)

    def _wait(self, until: float) -> None:
        """Wait for a change, or until the earliest lease (or ``until``) ends."""
        wake = min([until, *self._leases.values()])
        self._changed.wait(None if wake == math.inf else max(0.0, wake - time.monotonic()))

    @contextlib.contextmanager
    def leg(self) -> Iterator[None]:
        """Run one leg call: wait while paused, and count it as running meanwhile."""
        with self._changed:
            while self._paused():
                self._wait(math.inf)
            self._running += 1
        try:
            yield
        finally:
            with self._changed:
                self._running -= 1
                self._changed.notify_all()

    def pause(self, lease_s: float, drain_s: float) -> str:
        """Stop legs: returns a token once none runs; the pause ends ``lease_s`` later at most.

        If running legs do not finish within ``drain_s``, the pause is withdrawn and
        InfrastructureError raised (``transfers-busy``): nothing was paused.
        """
        token = uuid.uuid4().hex
        give_up = time.monotonic() + drain_s
        with self._changed:
            self._leases[token] = math.inf  # no leg starts while the running ones finish
            while self._running:
                if time.monotonic() >= give_up:
                    del self._leases[token]
                    self._changed.notify_all()
                    raise TransfersBusy(
                        f"transfer legs still running after {drain_s:.0f}s: no consistent "
                        f"read possible now")
                self._wait(give_up)
            self._leases[token] = time.monotonic() + lease_s
        return token

    def resume(self, token: str) -> bool:
        """End a pause; False if its lease had already run out (legs may have run)."""
        with self._changed:
            held = self._leases.pop(token, 0.0) > time.monotonic()
            self._changed.notify_all()
        return held


class Redrive:
    """One daemon thread that calls ``finish(transfer_id)`` until it returns without error.

    ``finish`` drives the transfer to its end or raises; each failure is logged and retried
    after a delay that doubles from ``first_s`` up to ``max_s``. Adding a transfer that is
    already waiting keeps its earlier turn.
    """

    def __init__(self, finish: Callable[[str], None], first_s: float, max_s: float) -> None:
        self._finish = finish
        self._first_s, self._max_s = first_s, max_s
        self._due: dict[str, tuple[float, int]] = {}  # transfer id -> (when, failures so far)
        self._changed = threading.Condition()
        threading.Thread(target=self._run, daemon=True, name="raybank-transfer-redrive").start()

    def add(self, transfer_id: str) -> None:
        with self._changed:
            self._due.setdefault(transfer_id, (time.monotonic(), 0))
            self._changed.notify()

    def _next(self) -> tuple[str, int]:
        """Wait for the transfer whose turn comes first, and take it off the list."""
        with self._changed:
            while True:
                if self._due:
                    transfer_id, (when, failures) = min(self._due.items(),
                                                        key=lambda item: item[1][0])
                    wait = when - time.monotonic()
                    if wait <= 0:
                        del self._due[transfer_id]
                        return transfer_id, failures
                    self._changed.wait(wait)
                else:
                    self._changed.wait()

    def _run(self) -> None:
        while True:
            transfer_id, failures = self._next()
            try:
                self._finish(transfer_id)
            except Exception as error:  # any failure, a bug included, must not end the loop
                delay = min(self._max_s, self._first_s * 2 ** min(failures, 30))
                if failures < LOGGED_EVERY or failures % LOGGED_EVERY == 0:
                    # (every attempt at first, then every LOGGED_EVERY-th: a transfer stuck
                    # for a day would otherwise log every few seconds)
                    log.warning("transfer %s not finished yet (attempt %d), next try in "
                                "%.1fs: %s", transfer_id, failures + 1, delay, error)
                with self._changed:
                    self._due.setdefault(transfer_id, (time.monotonic() + delay, failures + 1))
                    self._changed.notify()

"""Fault injection, a testing aid: make raybank's processes fail at named steps, per home.

The one mechanism for every process raybank runs. A fault is a *step* (a named point in
the code, listed in ``CATALOG`` with what it does there) and a *subject* (whom it strikes
there: an account, a command, the coordinator). A test arms it with ``arm(home, step,
subject)``, which creates the empty file ``<home>/faults/<step>--<subject>``; the process
that reaches the step for that subject finds the file. Files, rather than environment
variables or call parameters, because actor processes inherit the cluster's environment,
not the caller's, and because no production signature should carry a test parameter.

``arm`` refuses unless the process that calls it enables fault injection in its
environment (``RAYBANK_FAULT_INJECTION=i-know-this-kills-actors``): tests set it in their
own process, and nothing raybank runs calls ``arm``, so nothing in normal use can arm a
fault. The checks need no switch: in a home without a ``faults`` folder, a check costs one
``access`` call that answers False (no exception is made); with one, a failed ``unlink``
(``access`` for a sticky fault). Any other error of the check (say ``faults`` is not a folder)
is raised: a test uses that to fail a change between its decision and its write.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FAULTS_DIR = "faults"
ENABLE_ENV = "RAYBANK_FAULT_INJECTION"
ENABLED = "i-know-this-kills-actors"

# What a step does to whoever reaches it armed.
EXIT = "exit"  # the subject's process exits at once, as a crash would; once
FAIL_ONCE = "fail-once"  # the call raises an unexpected exception; once
FAIL_WHILE_ARMED = "fail-while-armed"  # the call fails, every time, until the file is removed
DROP = "drop"  # the next change is acknowledged but never written; once

COORDINATOR = "coordinator"  # the subject that names the transfer coordinator itself

# Account actor (subject: the account).
BEFORE_APPEND, AFTER_APPEND, DROP_APPEND = "before-append", "after-append", "drop-append"
# Persistence actor (subject: the account whose append it serves).
POOL_AFTER_APPEND = "pool-after-append"
# Gateway and CLI (subject: the command word, or ``next`` for the next connection).
GATEWAY_BEFORE_REPLY, GATEWAY_ACCEPT_FAILS = "gateway-before-reply", "gateway-accept-fails"
COMMAND_RAISES = "command-raises"
# Transfer coordinator, in the order it reaches them (subject: ``coordinator``, or an account
# of the transfer, which the coordinator then kills for good).
TRANSFER_AFTER_BEGIN, TRANSFER_AFTER_HOLD = "transfer-after-begin", "transfer-after-hold"
TRANSFER_AFTER_CREDIT = "transfer-after-credit"
TRANSFER_BEFORE_SETTLE, TRANSFER_AFTER_SETTLE = "transfer-before-settle", "transfer-after-settle"
# Transfer coordinator, by leg (subject: the account the leg is sent to).
LEG_FAILS = {leg: f"fail-{leg}" for leg in ("hold", "transfer_in", "transfer_out", "release")}


@dataclass(frozen=True)
class Step:
    """A point in raybank's code where a test can make things fail."""

    name: str
    effect: str  # EXIT, FAIL_ONCE, FAIL_WHILE_ARMED or DROP
    subject: str  # what the subject names at this step
    where: str  # which process checks it, and at what moment


CATALOG: dict[str, Step] = {step.name: step for step in (
    Step(BEFORE_APPEND, EXIT, "account",
         "account actor: the change is decided, not yet durable"),
    Step(AFTER_APPEND, EXIT, "account",
         "account actor: the change is durable, the reply not sent"),
    Step(DROP_APPEND, DROP, "account",
         "account actor: a deliberate defect the simulator's checks must catch"),
    Step(POOL_AFTER_APPEND, EXIT, "account",
         "persistence actor: the account's event is durable, the reply not sent"),
    Step(GATEWAY_BEFORE_REPLY, EXIT, "command",
         "gateway: the command has run, its reply is not sent"),
    Step(GATEWAY_ACCEPT_FAILS, FAIL_ONCE, "next",
         "gateway: the next connection fails and is closed unanswered"),
    Step(COMMAND_RAISES, FAIL_ONCE, "command",
         "CLI, wherever the command runs: the command raises before it starts"),
    Step(TRANSFER_AFTER_BEGIN, EXIT, "coordinator or account",
         "coordinator: begun is durable, no leg sent"),
    Step(TRANSFER_AFTER_HOLD, EXIT, "coordinator or account",
         "coordinator: the hold is applied, held not yet durable"),
    Step(TRANSFER_AFTER_CREDIT, EXIT, "coordinator or account",
         "coordinator: the credit is applied, credited not yet durable"),
    Step(TRANSFER_BEFORE_SETTLE, EXIT, "coordinator or account",
         "coordinator: credited is durable, the settle not sent"),
    Step(TRANSFER_AFTER_SETTLE, EXIT, "coordinator or account",
         "coordinator: the settle is applied, committed not yet durable"),
    *(Step(step, FAIL_WHILE_ARMED, "account",
           f"coordinator: its {leg} leg on the account fails (exit 4, injected-fault)")
      for leg, step in LEG_FAILS.items()),
)}


class FaultsDisabled(RuntimeError):
    """``arm`` was called in a process that has not enabled fault injection."""


def arm(home: Path, step: str, subject: str) -> Path:
    """Arm ``step`` for ``subject`` in this home (tests only); returns the marker file.

    Refused unless this process's environment enables fault injection, for an unknown
    step (a typo would otherwise arm nothing, silently), and for a subject that is not
    one plain file name.
    """
    if os.environ.get(ENABLE_ENV) != ENABLED:
        raise FaultsDisabled(f"fault injection is a testing aid: set {ENABLE_ENV}={ENABLED} "
                             f"in the process that arms faults")
    if step not in CATALOG:
        raise ValueError(f"unknown fault step {step!r}: one of {', '.join(CATALOG)}")
    if not subject or subject.startswith(".") or "/" in subject or "\0" in subject:
        raise ValueError(f"invalid fault subject {subject!r}: use a plain name")
    folder = home / FAULTS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    marker = folder / f"{step}--{subject}"
    marker.touch(mode=0o600)
    return marker


def fires(home: Path, step: str, subject: str) -> bool:
    """Consume the fault armed for this step and subject; True if there was one."""
    folder = f"{home}/{FAULTS_DIR}"  # plain strings: this runs on every change
    if not os.access(folder, os.F_OK):  # the usual answer, without raising and catching
        return False
    try:  # two processes may find it: the one whose unlink succeeds consumes it
        os.unlink(f"{folder}/{step}--{subject}")
    except FileNotFoundError:
        return False
    return True


def crash_point(home: Path, step: str, subject: str) -> None:
    """Exit the process here if a fault is armed for this step and subject."""
    if fires(home, step, subject):
        os._exit(17)


def armed(home: Path, step: str, subject: str) -> bool:
    """Whether a fault that holds while armed is armed for this step and subject."""
    return os.access(f"{home}/{FAULTS_DIR}/{step}--{subject}", os.F_OK)

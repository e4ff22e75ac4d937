"""Fault injection, a testing aid: make an actor process die at a named step, once.

A fault is armed by creating the empty file ``<home>/faults/<step>--<subject>``; the process
that reaches that step for that subject removes the file (so it fires once) and exits at
once, exactly as a crash would. The steps: ``before-append`` and ``after-append`` in an
account actor, ``pool-after-append`` in a persistence actor (subject: the account; after its
event is durable, before the reply). Nothing in normal use creates that folder. Files rather
than environment variables, because actor processes inherit the cluster's environment, not
the caller's. The cost when nothing is armed is one failed ``unlink`` per step.

A *sticky* fault (``armed``) is different: it holds for as long as its file exists, and
whoever checks it decides what failing means (the transfer coordinator fails a leg with it).

Besides crashes there is one deliberate defect, ``drop-append``: an open account acknowledges
its next change without writing it. It exists so that tests can prove the simulator's checks
catch a lost acknowledged event.
"""

from __future__ import annotations

import os
from pathlib import Path

FAULTS_DIR = "faults"


def arm(home: Path, step: str, subject: str) -> Path:
    """Arm a fault (tests call this); returns the marker file."""
    folder = home / FAULTS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    marker = folder / f"{step}--{subject}"
    marker.touch(mode=0o600)
    return marker


def fires(home: Path, step: str, subject: str) -> bool:
    """Consume the fault armed for this step and subject; True if there was one."""
    try:  # a plain string path: this runs on every change, and pathlib costs more than it
        os.unlink(f"{home}/{FAULTS_DIR}/{step}--{subject}")
    except FileNotFoundError:
        return False
    return True


def crash_point(home: Path, step: str, subject: str) -> None:
    """Die here if a fault is armed for this step and subject."""
    if fires(home, step, subject):
        os._exit(17)


def armed(home: Path, step: str, subject: str) -> bool:
    """Whether a sticky fault is armed for this step and subject: it holds until removed."""
    return os.path.exists(f"{home}/{FAULTS_DIR}/{step}--{subject}")

"""The coordinator's threading aids, without Ray: the leg gate a reader pauses, and the
re-drive loop that never gives up on a transfer."""

from __future__ import annotations

import threading

import pytest

from raybank.actors.coordination import LegGate, Redrive
from raybank.domain.errors import InfrastructureError, StorageUnwritable

WAIT_S = 10.0  # generous: only a broken gate or loop ever waits this long


def run(target, *args) -> threading.Event:
    """Run ``target`` in a thread; the returned event is set once it has returned."""
    done = threading.Event()

    def body() -> None:
        target(*args)
        done.set()

    threading.Thread(target=body, daemon=True).start()
    return done


def hold_leg(gate: LegGate, entered: threading.Event, leave: threading.Event) -> None:
    with gate.leg():
        entered.set()
        leave.wait(WAIT_S)


def test_a_pause_waits_for_running_legs_and_no_leg_starts_until_resume():
    gate = LegGate()
    entered, leave = threading.Event(), threading.Event()
    running = run(hold_leg, gate, entered, leave)
    assert entered.wait(WAIT_S)
    tokens: list[str] = []
    paused = run(lambda: tokens.append(gate.pause(lease_s=WAIT_S, drain_s=WAIT_S)))
    assert not paused.wait(0.2)  # the running leg has not finished
    leave.set()
    assert running.wait(WAIT_S) and paused.wait(WAIT_S)
    second, leave_second = threading.Event(), threading.Event()
    blocked = run(hold_leg, gate, second, leave_second)
    assert not second.wait(0.2)  # paused: the next leg does not start
    assert gate.resume(tokens[0]) is True
    assert second.wait(WAIT_S)
    leave_second.set()
    assert blocked.wait(WAIT_S)


def test_a_lease_ends_by_itself_and_its_late_resume_says_so():
    gate = LegGate()
    token = gate.pause(lease_s=0.05, drain_s=WAIT_S)
    entered, leave = threading.Event(), threading.Event()
    leave.set()
    done = run(hold_leg, gate, entered, leave)
    assert entered.wait(WAIT_S) and done.wait(WAIT_S)  # the reader never resumed
    assert gate.resume(token) is False
    assert gate.resume("never-issued") is False


def test_two_readers_pause_together_and_legs_wait_for_both():
    gate = LegGate()
    first = gate.pause(lease_s=WAIT_S, drain_s=WAIT_S)
    second = gate.pause(lease_s=WAIT_S, drain_s=WAIT_S)
    entered, leave = threading.Event(), threading.Event()
    leave.set()
    done = run(hold_leg, gate, entered, leave)
    assert gate.resume(first) is True
    assert not entered.wait(0.2)
    assert gate.resume(second) is True
    assert done.wait(WAIT_S)


def test_a_pause_that_cannot_drain_in_time_fails_and_leaves_the_gate_open():
    gate = LegGate()
    entered, leave = threading.Event(), threading.Event()
    running = run(hold_leg, gate, entered, leave)
    assert entered.wait(WAIT_S)
    with pytest.raises(InfrastructureError) as failed:
        gate.pause(lease_s=WAIT_S, drain_s=0.05)
    assert failed.value.code == "transfers-busy"
    other, leave_other = threading.Event(), threading.Event()
    leave_other.set()
    assert run(hold_leg, gate, other, leave_other).wait(WAIT_S)
    leave.set()
    assert running.wait(WAIT_S)


def test_the_redrive_loop_retries_until_the_transfer_ends_and_never_gives_up():
    attempts: dict[str, int] = {"t1": 0, "t2": 0}
    finished = {tid: threading.Event() for tid in attempts}
    failures = {"t1": 40, "t2": 2}  # far more than any fixed retry budget

    def finish(transfer_id: str) -> None:
        attempts[transfer_id] += 1
        if attempts[transfer_id] <= failures[transfer_id]:
            raise StorageUnwritable("journal unwritable")
        finished[transfer_id].set()

    loop = Redrive(finish, first_s=0.001, max_s=0.005)
    loop.add("t1")
    loop.add("t2")
    loop.add("t1")  # queued twice: still one transfer to finish
    assert finished["t1"].wait(WAIT_S) and finished["t2"].wait(WAIT_S)
    assert attempts == {"t1": 41, "t2": 3}


def test_the_redrive_loop_survives_a_bug_in_one_transfer():
    done = threading.Event()
    calls: list[str] = []

    def finish(transfer_id: str) -> None:
        calls.append(transfer_id)
        if transfer_id == "bad" and calls.count("bad") == 1:
            raise ValueError("a bug")
        if transfer_id == "good":
            done.set()

    loop = Redrive(finish, first_s=0.001, max_s=0.005)
    loop.add("bad")
    loop.add("good")
    assert done.wait(WAIT_S)

"""Which account actors make room for one more, without Ray."""

from __future__ import annotations

import pytest

from raybank.domain.errors import InvalidOption
from raybank.routing.passivation import DEFAULT_MAX_LIVE, limits, to_passivate


def test_nothing_stops_while_there_is_room() -> None:
    assert to_passivate({"a": 100.0, "b": 5.0}, live=2, max_live=3) == []


def test_the_idlest_go_first_as_many_as_the_limit_needs() -> None:
    idle = {"a": 1.0, "b": 30.0, "c": 7.0, "d": 30.0}
    assert to_passivate(idle, live=4, max_live=4) == ["b"]  # ties broken by name
    assert to_passivate(idle, live=4, max_live=2) == ["b", "d", "c"]


def test_a_full_bank_makes_room_for_several_at_once() -> None:
    idle = {f"n{i:02d}": float(i) for i in range(64)}
    assert to_passivate(idle, live=64, max_live=64) == [f"n{i}" for i in range(63, 55, -1)]
    assert to_passivate(idle, live=63, max_live=64) == []


def test_actors_that_did_not_answer_count_but_stay() -> None:
    # Six live, two answered: both may go, but no more than exist to choose from.
    assert to_passivate({"a": 1.0, "b": 2.0}, live=6, max_live=2) == ["b", "a"]


def test_limits_come_from_the_environment_and_are_checked(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    monkeypatch.delenv("RAYBANK_MAX_LIVE", raising=False)
    assert limits()[0] == DEFAULT_MAX_LIVE
    monkeypatch.setenv("RAYBANK_MAX_LIVE", "2")
    monkeypatch.setenv("RAYBANK_IDLE_S", "0.5")
    assert limits() == (2, 0.5)
    monkeypatch.setenv("RAYBANK_MAX_LIVE", "0")
    with pytest.raises(InvalidOption):
        limits()

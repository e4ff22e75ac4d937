"""Group commit: an actor's apply_many answers each call in order with one journal sync."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest

from raybank.actors.account_actor import AccountActor
from raybank.domain.errors import InfrastructureError, RuleViolation


def count_syncs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every fsync and fdatasync from now on: whichever the journal uses to sync."""
    synced: list[str] = []
    for call in ("fsync", "fdatasync"):
        real = getattr(os, call)

        def spy(fd: int, call: str = call, real=real) -> None:
            synced.append(call)
            real(fd)

        monkeypatch.setattr(os, call, spy)
    return synced


def test_apply_many_answers_in_order_and_syncs_the_journal_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    actor = AccountActor(str(tmp_path), "ns", "acct")
    actor.open("open-1", Decimal("10.00"), Decimal("0.00"))
    synced = count_syncs(monkeypatch)
    answers = actor.apply_many([
        ("deposit", ("d-1", Decimal("5.00"))),
        ("withdraw", ("w-1", Decimal("100.00"))),
        ("withdraw", ("w-2", Decimal("15.00"))),
        ("deposit", ("d-1", Decimal("5.00"))),
        ("summary", ()),
    ])
    assert len(synced) == 1  # two changes written, one sync (without groups: two)
    assert answers[0]["balance"] == Decimal("15.00")
    assert isinstance(answers[1], RuleViolation)
    assert answers[2]["balance"] == Decimal("0.00")
    assert answers[3]["duplicate"] is True
    assert answers[4]["balance"] == Decimal("0.00")
    actor.passivate()
    reborn = AccountActor(str(tmp_path), "ns", "acct")  # what a restart rebuilds from disk
    assert reborn.summary()["balance"] == Decimal("0.00")
    reborn.passivate()


def test_apply_many_runs_only_account_commands(tmp_path: Path) -> None:
    actor = AccountActor(str(tmp_path), "ns", "acct")
    with pytest.raises(InfrastructureError):
        actor.apply_many([("passivate", ())])
    actor.passivate()

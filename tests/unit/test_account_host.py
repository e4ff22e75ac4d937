"""The account host without Ray: its locks, passivation and groups, over real storage."""

from __future__ import annotations

import errno
import os
import threading
from decimal import Decimal
from pathlib import Path

import pytest
import ray

from raybank.actors.account_host import AccountHost
from raybank.domain.errors import AccountNotFound

D = Decimal


class Clock:
    """A clock the test moves by hand, so idleness needs no sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def host_at(home: Path, max_live: int = 100, idle_s: float = 60.0,
            clock: Clock | None = None) -> AccountHost:
    return AccountHost(str(home), "unit", 0, max_live, idle_s, sweep=False,
                       clock=clock or Clock())


def open_accounts(host: AccountHost, *names: str) -> None:
    for name in names:
        host.call(name, "open", f"open-{name}", D("10.00"), D("0"), None)


def test_an_evicted_account_comes_back_with_every_change_and_op_id(tmp_path: Path) -> None:
    host = host_at(tmp_path, max_live=2)
    open_accounts(host, "a")
    assert host.call("a", "deposit", "pay-1", D("5.00"))["balance"] == D("15.00")
    open_accounts(host, "b", "c")  # a is the least recently used: evicted
    assert host.active() == ["b", "c"]
    again = host.call("a", "deposit", "pay-1", D("5.00"))
    assert again["balance"] == D("15.00") and again["duplicate"] is True
    assert host.call("a", "summary")["balance"] == D("15.00")
    stats = host.process()
    assert (stats["live"], stats["activations"], stats["evictions"]) == (2, 4, 2)


def test_an_account_with_a_call_in_flight_is_never_evicted(tmp_path: Path) -> None:
    host = host_at(tmp_path, max_live=1)
    open_accounts(host, "busy")
    with host._using("busy"):  # a call on "busy" is running
        open_accounts(host, "x", "y")
        assert "busy" in host.active()
    open_accounts(host, "z")  # once it ends, the limit holds again
    assert host.active() == ["z"]


def test_different_accounts_run_together_and_one_account_waits_its_turn(tmp_path: Path
                                                                         ) -> None:
    host = host_at(tmp_path)
    open_accounts(host, "slow", "other")
    done = threading.Event()

    def deposit_on_slow() -> None:
        host.call("slow", "deposit", "d-slow", D("1.00"))
        done.set()

    with host._using("slow"):
        worker = threading.Thread(target=deposit_on_slow)
        worker.start()
        # Another account is not held up by the busy one...
        assert host.call("other", "deposit", "d-other", D("1.00"))["balance"] == D("11.00")
        # ...while the busy account's next call waits for the running one.
        assert not done.wait(0.2)
    worker.join(5)
    assert done.is_set()
    assert host.call("slow", "summary")["balance"] == D("11.00")


def test_idle_accounts_are_passivated_after_the_idle_time(tmp_path: Path) -> None:
    clock = Clock()
    host = host_at(tmp_path, idle_s=60, clock=clock)
    open_accounts(host, "old")
    clock.now += 50
    open_accounts(host, "recent")
    clock.now += 20  # "old" idle 70 s, "recent" 20 s
    assert host.passivate_idle() == 1
    assert host.active() == ["recent"]
    assert host.call("old", "summary")["balance"] == D("10.00")


def test_groups_of_many_accounts_answer_per_account(tmp_path: Path) -> None:
    host = host_at(tmp_path)
    answers = host.apply_groups({
        "g1": [("open", ("o-g1", D("1.00"), D("0"), None)), ("deposit", ("d-g1", D("2.00")))],
        "g2": [("open", ("o-g2", D("5.00"), D("0"), None)), ("withdraw", ("w-g2", D("9.00")))],
        "ghost": [("deposit", ("d-ghost", D("1.00")))],
    })
    assert answers["g1"][1]["balance"] == D("3.00")
    assert answers["g2"][1].code == "insufficient-funds"  # refused, the group goes on
    assert isinstance(answers["ghost"][0], AccountNotFound)
    assert host.call("g2", "summary")["balance"] == D("5.00")


def test_a_new_incarnation_loads_accounts_from_storage_on_demand(tmp_path: Path) -> None:
    host = host_at(tmp_path)
    open_accounts(host, "kept")
    host.call("kept", "deposit", "once", D("2.50"))
    host.evict("kept")  # its files close, as they would with the dead process
    restarted = host_at(tmp_path)  # what Ray's restart runs: __init__ again
    assert restarted.active() == []
    assert restarted.call("kept", "deposit", "once", D("2.50"))["duplicate"] is True
    assert restarted.call("kept", "summary")["balance"] == D("12.50")


def test_only_account_methods_can_be_called(tmp_path: Path) -> None:
    host = host_at(tmp_path)
    with pytest.raises(ValueError):
        host.call("a", "passivate")
    with pytest.raises(ValueError):
        host.inspect("a", "deposit", "x", D("1"))


def count_syncs(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> list[int]:
    """Count fdatasync calls from now on (and make the first one fail if ``fail``)."""
    syncs: list[int] = []
    real = os.fdatasync

    def counted(fd: int) -> None:
        syncs.append(fd)
        if fail and len(syncs) == 1:
            raise OSError(errno.EIO, "injected")
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counted)
    return syncs


def test_groups_of_one_shard_share_one_sync(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    host = host_at(tmp_path)  # one shard
    open_accounts(host, "first")
    syncs = count_syncs(monkeypatch)
    names = [f"n{i}" for i in range(20)]
    answers = host.apply_groups({
        name: [("open", (f"o-{name}", D("1.00"), D("0"), None)),
               ("deposit", (f"d-{name}", D("2.00")))] for name in names})
    assert [answers[name][1]["balance"] for name in names] == [D("3.00")] * 20
    assert len(syncs) == 1  # forty changes of twenty accounts, one fdatasync


def test_a_failed_shard_sync_answers_every_group_and_keeps_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    host = host_at(tmp_path)
    open_accounts(host, "a", "b")
    with monkeypatch.context() as patch:
        count_syncs(patch, fail=True)  # the group's sync fails; erasing its records works
        answers = host.apply_groups({"a": [("deposit", ("d-a", D("5.00")))],
                                     "b": [("withdraw", ("w-b", D("1.00")))]})
    assert all(getattr(answers[name], "not_applied", False) for name in ("a", "b"))
    assert host.call("a", "summary")["balance"] == D("10.00")  # nothing of it kept
    assert host.call("b", "summary")["balance"] == D("10.00")
    assert host.call("a", "deposit", "d-a", D("5.00"))["balance"] == D("15.00")  # retried


def test_a_host_without_ray_never_starts_ray(tmp_path: Path) -> None:
    # Asking Ray where we run, outside a Ray process, starts a local Ray instance (and
    # writes a token into the user's home): a host in a unit test must not.
    assert not ray.is_initialized()
    host = host_at(tmp_path)
    open_accounts(host, "a")
    assert host.process()["node_id"] is None
    assert host.call("a", "listing", [])["process"]["node_id"] is None
    assert not ray.is_initialized()

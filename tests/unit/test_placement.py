"""A namespace's placement: a stable shard per name, fixed at the namespace's first account."""

from __future__ import annotations

from pathlib import Path

import pytest

from raybank.domain.errors import InvalidOption
from raybank.storage.placement import (
    DEFAULT_HOSTS,
    Placement,
    choose_placement,
    read_placement,
    shard_of,
)

NO_ACCOUNTS = lambda: False  # noqa: E731
SOME_ACCOUNTS = lambda: True  # noqa: E731


def test_the_shard_of_a_name_is_the_same_in_every_process() -> None:
    # blake2b, never hash(): these values must not change between runs or versions.
    assert [shard_of(name, 64) for name in ("alice", "bob", "sim-00001")] == [
        shard_of("alice", 64), shard_of("bob", 64), shard_of("sim-00001", 64)]
    assert shard_of("alice", 64) == int.from_bytes(
        __import__("hashlib").blake2b(b"alice", digest_size=8).digest(), "big") % 64
    placement = Placement("hosted", 64, 4)
    assert placement.host_of("alice") == shard_of("alice", 64) % 4
    assert sorted(s for h in range(4) for s in placement.shards_of_host(h)) == list(range(64))


def test_hosted_is_recorded_at_the_first_account_and_fixed_after(tmp_path: Path) -> None:
    chosen = choose_placement(tmp_path, "ns", "hosted", NO_ACCOUNTS)
    assert chosen == Placement("hosted", 64, DEFAULT_HOSTS) == read_placement(tmp_path, "ns")
    assert choose_placement(tmp_path, "ns", None, SOME_ACCOUNTS).hosted
    with pytest.raises(InvalidOption):
        choose_placement(tmp_path, "ns", "actor", SOME_ACCOUNTS)


def test_a_namespace_with_accounts_and_no_marker_stays_actor(tmp_path: Path) -> None:
    assert choose_placement(tmp_path, "old", None, SOME_ACCOUNTS) == Placement()
    with pytest.raises(InvalidOption):
        choose_placement(tmp_path, "old", "hosted", SOME_ACCOUNTS)
    assert read_placement(tmp_path, "old") is None


def test_an_unknown_placement_is_invalid_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidOption):
        choose_placement(tmp_path, "ns", "cloud", NO_ACCOUNTS)

"""What the CLI learns of a namespace without a cluster: how many accounts it holds."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from raybank.domain.account import Account
from raybank.service.namespace import STORAGE_KINDS, count_accounts
from raybank.storage import Storage


def open_account(home: Path, namespace: str, name: str, kind: str) -> None:
    store = Storage(home, namespace).stores[kind]
    account = Account(name=name)
    event = account.decide_open(f"open-{name}", D("1.00"), D("0.00"))
    account.apply(event)
    store.append(account, event)
    store.close_all()


def test_count_accounts_counts_every_format_in_one_namespace_only(tmp_path: Path) -> None:
    assert count_accounts(tmp_path, "raybank") == 0
    for name, kind in (("alice", "journal"), ("bob", "snapshot")):
        open_account(tmp_path, "raybank", name, kind)
    open_account(tmp_path, "other", "carol", "journal")
    assert count_accounts(tmp_path, "raybank") == 2
    assert count_accounts(tmp_path, "other") == 1


def test_the_storage_kinds_a_create_may_ask_for() -> None:
    assert STORAGE_KINDS == ("journal", "snapshot")

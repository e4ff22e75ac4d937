"""The seeds' Account actor with its file persistence, rebuilt as a baseline to measure.

As the book chapter (seeds/000) describes it: the balance is a float, every change pickles
the whole state ({'balance', 'minimal'}) with cloudpickle into one file per account key,
written in place with no fsync and no atomic rename. Two departures, both needed to run it:
the state is restored through a FilePersistence object as in the chapter's last version,
and the balance is read by ``get_balance`` because the chapter's ``balance`` method is
shadowed by the ``balance`` attribute of the same name.
"""

from __future__ import annotations

import os

import ray
from ray import cloudpickle


class FilePersistence:
    def __init__(self, basedir: str = ".") -> None:
        self.basedir = basedir

    def exists(self, key: str) -> bool:
        return os.path.exists(self.basedir + "/" + key)

    def save(self, key: str, data: dict) -> None:
        with open(self.basedir + "/" + key, "wb") as f:
            f.write(cloudpickle.dumps(data))

    def restore(self, key: str) -> dict | None:
        if not self.exists(key):
            return None
        with open(self.basedir + "/" + key, "rb") as f:
            return cloudpickle.loads(f.read())


@ray.remote
class SeedAccount:
    def __init__(self, balance: float, minimal_balance: float, account_key: str,
                 persistence: FilePersistence) -> None:
        self.persistence = persistence
        self.key = account_key
        state = persistence.restore(account_key)
        if state is None:
            if balance < minimal_balance:
                raise Exception("Starting balance is less then minimal balance")
            self.balance, self.minimal = balance, minimal_balance
            self.storestate()
        else:
            self.balance, self.minimal = state["balance"], state["minimal"]

    def storestate(self) -> None:
        self.persistence.save(self.key, {"balance": self.balance, "minimal": self.minimal})

    def get_balance(self) -> float:
        return self.balance

    def deposit(self, amount: float) -> float:
        if amount < 0:
            raise Exception("Can not deposit negative amount")
        self.balance = self.balance + amount
        self.storestate()
        return self.balance

    def withdraw(self, amount: float) -> float:
        if amount < 0:
            raise Exception("Can not withdraw negative amount")
        balance = self.balance - amount
        if balance < self.minimal:
            raise Exception("Withdraw is not supported by current balance")
        self.balance = balance
        self.storestate()
        return balance


@ray.remote
class Trivial:
    """Ray's own ceiling: a method that does nothing (as `ray microbenchmark`'s actor)."""

    def small_value(self) -> bytes:
        return b"ok"

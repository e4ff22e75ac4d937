"""What each command answers, as typed values: what the Bank returns.

Python callers (raybank.api) get these frozen dataclasses as they are, with money as
``Decimal`` and timestamps as ``datetime``; the command line prints each as the contract's
JSON object (../shared/CONTRACT.md) through ``to_contract``. Actors answer with the contract's
objects (plain data that crosses Ray as it is), which ``from_contract`` reads, so the two
shapes cannot drift apart: ``X.from_contract(d).to_contract() == d``. Keys a placement adds to
an object land in ``extra`` rather than being lost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


def _money(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _maybe_money(value: Any) -> Decimal | None:
    return None if value is None else _money(value)


def _rest(data: Mapping[str, Any], known: set[str]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in known}


@dataclass(frozen=True)
class Account:
    """An account as a command left it (create, deposit, withdraw, balance).

    ``duplicate`` is True when the op id had been applied before: the answer is the first
    one's, and nothing changed. ``held`` is the money held by unfinished transfers.
    """

    name: str
    balance: Decimal
    min_balance: Decimal
    held: Decimal = Decimal("0.00")
    duplicate: bool = False

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> Account:
        return cls(name=data["name"], balance=_money(data["balance"]),
                   min_balance=_money(data["min_balance"]),
                   held=_money(data.get("held", "0.00")),
                   duplicate=bool(data.get("duplicate", False)))

    def to_contract(self) -> dict[str, Any]:
        data: dict[str, Any] = {"name": self.name, "balance": self.balance,
                                "min_balance": self.min_balance}
        if self.held:
            data["held"] = self.held
        if self.duplicate:
            data["duplicate"] = True
        return data


@dataclass(frozen=True)
class ActorInfo:
    """Where an account's actor is: Ray's state (ALIVE, RESTARTING, DEAD, INACTIVE), its
    process, node and restart count. ``extra`` holds what a placement adds (its host)."""

    state: str
    pid: int | None
    node_id: str | None
    restarts: int
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> ActorInfo:
        return cls(state=data["state"], pid=data.get("pid"), node_id=data.get("node_id"),
                   restarts=int(data.get("restarts", 0)),
                   extra=_rest(data, {"state", "pid", "node_id", "restarts"}))

    def to_contract(self) -> dict[str, Any]:
        return {"state": self.state, "pid": self.pid, "node_id": self.node_id,
                "restarts": self.restarts, **self.extra}


@dataclass(frozen=True)
class AccountRow:
    """One row of `accounts`: the account, its actor, and the calls that actor has served
    (None for an account with no live actor)."""

    account: Account
    actor: ActorInfo
    calls: dict[str, int] | None = None

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> AccountRow:
        calls = data.get("calls")
        return cls(account=Account.from_contract(data),
                   actor=ActorInfo.from_contract(data["actor"]),
                   calls=None if calls is None else dict(calls))

    def to_contract(self) -> dict[str, Any]:
        data = {**self.account.to_contract(), "actor": self.actor.to_contract()}
        if self.calls is not None:
            data["calls"] = dict(self.calls)
        return data


@dataclass(frozen=True)
class Listing:
    """Every account, and their total at one consistent cut (never a transfer counted twice
    or not at all)."""

    accounts: list[AccountRow]
    total: Decimal
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> Listing:
        return cls(accounts=[AccountRow.from_contract(row) for row in data["accounts"]],
                   total=_money(data["total"]), extra=_rest(data, {"accounts", "total"}))

    def to_contract(self) -> dict[str, Any]:
        return {"accounts": [row.to_contract() for row in self.accounts],
                "total": self.total, **self.extra}

    @property
    def count(self) -> int:
        """How many accounts the bank has (``accounts`` may hold only the first few)."""
        return int(self.extra.get("count", len(self.accounts)))


@dataclass(frozen=True)
class Transfer:
    """A transfer's outcome: both accounts right after it (``source`` and ``target``)."""

    transfer_id: str
    amount: Decimal
    source: Account
    target: Account
    duplicate: bool = False

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> Transfer:
        return cls(transfer_id=data["transfer_id"], amount=_money(data["amount"]),
                   source=Account.from_contract(data["from"]),
                   target=Account.from_contract(data["to"]),
                   duplicate=bool(data.get("duplicate", False)))

    def to_contract(self) -> dict[str, Any]:
        data: dict[str, Any] = {"transfer_id": self.transfer_id, "amount": self.amount,
                                "from": self.source.to_contract(),
                                "to": self.target.to_contract()}
        if self.duplicate:
            data["duplicate"] = True
        return data


@dataclass(frozen=True)
class Event:
    """One entry of an account's journal: what it moved (``amount``) and the balance after."""

    seq: int
    op_id: str
    type: str
    amount: Decimal | None
    balance: Decimal
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> Event:
        return cls(seq=int(data["seq"]), op_id=data["op_id"], type=data["type"],
                   amount=_maybe_money(data["amount"]), balance=_money(data["balance"]),
                   at=datetime.fromisoformat(data["at"]),
                   extra=_rest(data, {"seq", "op_id", "type", "amount", "balance", "at"}))

    def to_contract(self) -> dict[str, Any]:
        return {"seq": self.seq, "op_id": self.op_id, "type": self.type,
                "amount": self.amount, "balance": self.balance,
                "at": self.at.isoformat(timespec="microseconds"), **self.extra}


@dataclass(frozen=True)
class History:
    name: str
    events: list[Event]

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> History:
        return cls(name=data["name"], events=[Event.from_contract(e) for e in data["events"]])

    def to_contract(self) -> dict[str, Any]:
        return {"name": self.name, "events": [event.to_contract() for event in self.events]}


@dataclass(frozen=True)
class KillSide:
    """The account and its actor on one side of a kill."""

    account: Account
    actor: ActorInfo

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> KillSide:
        return cls(account=Account.from_contract(data),
                   actor=ActorInfo.from_contract(data["actor"]))

    def to_contract(self) -> dict[str, Any]:
        return {**self.account.to_contract(), "actor": self.actor.to_contract()}


@dataclass(frozen=True)
class Kill:
    """`kill`: the account before and after its actor was killed (and restarted)."""

    name: str
    before: KillSide
    after: KillSide | None
    restarted: bool
    recovered: bool

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> Kill:
        after = data.get("after")
        return cls(name=data["name"], before=KillSide.from_contract(data["before"]),
                   after=None if after is None else KillSide.from_contract(after),
                   restarted=bool(data["restarted"]), recovered=bool(data["recovered"]))

    def to_contract(self) -> dict[str, Any]:
        return {"name": self.name, "before": self.before.to_contract(),
                "after": None if self.after is None else self.after.to_contract(),
                "restarted": self.restarted, "recovered": self.recovered}


@dataclass(frozen=True)
class Mismatch:
    """An account whose stored history and live (or loaded) state disagree."""

    name: str
    stored: Decimal
    live: Decimal
    what: str

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> Mismatch:
        return cls(name=data["name"], stored=_money(data["stored"]),
                   live=_money(data["live"]), what=data.get("what", ""))

    def to_contract(self) -> dict[str, Any]:
        return {"name": self.name, "stored": self.stored, "live": self.live, "what": self.what}


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    mismatches: list[Mismatch]

    @classmethod
    def from_contract(cls, data: Mapping[str, Any]) -> Verification:
        return cls(ok=bool(data["ok"]), checked=int(data["checked"]),
                   mismatches=[Mismatch.from_contract(m) for m in data["mismatches"]])

    def to_contract(self) -> dict[str, Any]:
        return {"ok": self.ok, "checked": self.checked,
                "mismatches": [mismatch.to_contract() for mismatch in self.mismatches]}

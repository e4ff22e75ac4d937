"""raybank from Python: ``raybank.connect()`` and the bank it returns (docs/python-api.md)."""

from raybank.api.connection import BankConnection, connect

__all__ = ["BankConnection", "connect"]

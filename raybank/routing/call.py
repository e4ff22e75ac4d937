"""One call to a named actor: sent at once, awaited later, its errors told apart.

Ray reports three different things as exceptions, and a user must be told which happened:

- the actor refused or failed the command (a ``BankError`` inside Ray's RayTaskError): that
  error, as the actor raised it;
- the actor died for good before answering: the call is sent once more to its successor
  (``on_death`` waits for the name to free); a second death is an infrastructure error;
- no answer in time: an infrastructure error. In the last two cases the change may or may
  not have been made, which ``BankError.may_have_applied`` says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ray
from ray.exceptions import (
    ActorDiedError,
    ActorUnavailableError,
    GetTimeoutError,
    RayError,
    RayTaskError,
)

from raybank.domain.error_registry import unwrap_remote
from raybank.domain.errors import ActorFailed, ActorUnavailable, CallTimeout

CALL_TIMEOUT_S = 120.0


class Call:
    """One submitted actor call; ``result()`` waits for it (calls from one caller to one
    actor run in the order they were sent, so a caller may keep many in flight)."""

    def __init__(self, label: str, find: Callable[[], ray.actor.ActorHandle], method: str,
                 args: tuple[Any, ...],
                 on_death: Callable[[ray.actor.ActorHandle], None]) -> None:
        self.label, self.find, self.method, self.args = label, find, method, args
        self.on_death = on_death
        self._send()

    def _send(self) -> None:
        self.handle = self.find()
        self.ref = getattr(self.handle, self.method).remote(*self.args)

    def result(self, timeout: float = CALL_TIMEOUT_S) -> Any:
        for attempt in range(2):
            try:
                return ray.get(self.ref, timeout=timeout)
            except RayTaskError as error:
                raise unwrap_remote(error) from None
            except (ActorDiedError, ActorUnavailableError) as error:
                if attempt:
                    raise ActorUnavailable(f"actor {self.label!r} is unavailable: "
                                           f"{error}") from None
                self.on_death(self.handle)
                self._send()
            except GetTimeoutError:
                raise CallTimeout(f"actor {self.label!r} did not answer in "
                                  f"{timeout:.0f}s") from None
            except RayError as error:  # anything else Ray raises: never a raw traceback
                raise ActorFailed(f"actor {self.label!r} failed: {error}") from None
        raise ActorUnavailable(f"actor {self.label!r} is unavailable")

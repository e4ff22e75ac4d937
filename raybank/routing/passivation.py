"""How many account actors may live at once, and which go first when one more is needed.

In ``actor`` placement every account is a process of about 82 MB; a bank with more accounts
than the machine has room for keeps at most RAYBANK_MAX_LIVE of them alive per namespace
(Akka's limit on active entities). When a command needs an actor that is not running, the
routing first asks the live ones how long each has been idle and passivates the idlest
(least recently used first). The actor itself makes the final decision, between two of its
calls, so an actor with a call in flight is never stopped; a call that meets a passivated
actor is sent once more to its successor (routing/call.py), which op ids make safe.
Separately, every actor stops itself after RAYBANK_IDLE_S of idleness (Orleans' idle
collection).
"""

from __future__ import annotations

import os

from raybank.domain.errors import InvalidOption

DEFAULT_MAX_LIVE = 64  # 64 x ~82 MB: about 5 GB of this machine's 24, with room for Ray
DEFAULT_IDLE_S = 900.0  # Orleans' default idle collection age is 15 minutes
ROOM_FRACTION = 8  # making room stops this fraction of the limit at once


def limits() -> tuple[int, float]:
    """RAYBANK_MAX_LIVE and RAYBANK_IDLE_S, as the process that routes calls sees them."""
    try:
        max_live = int(os.environ.get("RAYBANK_MAX_LIVE", DEFAULT_MAX_LIVE))
        idle_s = float(os.environ.get("RAYBANK_IDLE_S", DEFAULT_IDLE_S))
    except ValueError as error:
        raise InvalidOption(f"invalid RAYBANK_MAX_LIVE or RAYBANK_IDLE_S: {error}") from None
    if max_live < 1 or not idle_s > 0:
        raise InvalidOption("RAYBANK_MAX_LIVE must be at least 1 and RAYBANK_IDLE_S "
                            "greater than 0")
    return max_live, idle_s


def to_passivate(idle: dict[str, float], live: int, max_live: int) -> list[str]:
    """The accounts to stop so that one more actor fits: the idlest first, as many as the
    limit needs (``live`` counts actors that did not answer too: they stay). Once full, it
    frees an eighth of the limit at once, so the next few activations find room without
    asking every live actor again (each asking is a call to every one of them)."""
    if live < max_live:
        return []
    excess = live - (max_live - max(1, max_live // ROOM_FRACTION))
    return sorted(idle, key=lambda name: (-idle[name], name))[:excess]

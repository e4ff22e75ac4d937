"""The variables that let Ray's own tools and a hand-written driver reach raybank's cluster.

`raybank env` prints them, so that a notebook or a script can do what the tutorials do --
``ray.init(address=os.environ["RAY_ADDRESS"])`` then ``ray.get_actor("alice",
namespace="raybank")`` -- and `ray status` works, without anyone reading raybank's source to
find the token. Ray 2.60 reads RAY_AUTH_MODE, then the token from RAY_AUTH_TOKEN, else from
the file named by RAY_AUTH_TOKEN_PATH (ray._private.authentication), so a RAY_AUTH_TOKEN
left in the shell would win over the path: the shell lines unset it. No Ray import.
"""

from __future__ import annotations

import os
import shlex

from raybank.cluster.embedded import TOKEN_VARIABLE, Home, answers, auth_environment, up
from raybank.domain.errors import ClusterUnreachable

VARIABLES = ("RAY_ADDRESS", "RAY_AUTH_MODE", "RAY_AUTH_TOKEN_PATH", "RAYBANK_NAMESPACE")


def driver_environment(home: Home, address: str | None, namespace: str) -> dict[str, str]:
    """The four variables, for the embedded cluster (started if it is not running) or for
    the cluster at ``address``.

    For a cluster raybank did not start, raybank knows no token: the authentication
    variables are passed on as this process has them (``disabled`` and "" when unset).
    """
    if address is None:
        record, _ = up(home)
        return {"RAY_ADDRESS": record.address, **auth_environment(home),
                "RAYBANK_NAMESPACE": namespace}
    if not answers(address):
        raise ClusterUnreachable(f"no Ray cluster answers at {address}")
    record = home.read_record()
    if record is not None and record.address == address:
        auth = auth_environment(home)
    else:
        auth = {"RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "disabled"),
                "RAY_AUTH_TOKEN_PATH": os.environ.get("RAY_AUTH_TOKEN_PATH", "")}
    return {"RAY_ADDRESS": address, **auth, "RAYBANK_NAMESPACE": namespace}


def shell_lines(variables: dict[str, str]) -> str:
    """``export NAME=value`` lines for a POSIX shell's eval, every value quoted."""
    lines = [f"unset {TOKEN_VARIABLE}"]
    lines += [f"export {name}={shlex.quote(variables[name])}" for name in VARIABLES]
    return "\n".join(lines) + "\n"

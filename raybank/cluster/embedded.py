"""raybank's own Ray cluster: start it, find it again, attach to it, stop only it.

The embedded cluster is a ``ray start --head`` and, with ``up --nodes N``, N-1 worker nodes
on this machine (``ray start --address=<head>``, each its own raylet, as Ray's own
``ray.cluster_utils.Cluster`` does in its tests). Each node is launched in a session of its
own, and its processes are found and stopped only by proof (raybank.cluster.processes): never
``ray stop``, which would stop every Ray cluster of the user. ``cluster.json`` records the
head and every worker, so ``down`` stops exactly these and ``kill-node`` exactly one worker.

Ray binds its ports on every interface whatever its flags, so the cluster is made private
with token authentication: a random secret in ``cluster.token`` (mode 0600) that the cluster
and every raybank driver are given through RAY_AUTH_MODE / RAY_AUTH_TOKEN_PATH.

Nothing here imports Ray at module level: ``up``, ``down`` and ``status`` do not need it.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import secrets
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from raybank.cluster.processes import (
    CLUSTER_ID_VARIABLE,
    TEMP_PREFIX,
    answers,
    free_ports,
    stop_group,
)
from raybank.domain.errors import (
    ClusterStartFailed,
    ClusterUnreachable,
    InvalidHome,
    InvalidOption,
    MissingExtra,
    StorageCorrupt,
    StorageUnreadable,
)
from raybank.storage.files import PRIVATE_FILE, private_dir, read_bytes, write_atomically

START_TIMEOUT_S = 60.0
OBJECT_STORE_BYTES = 256 * 1024 * 1024
# Ray reads a token from here before RAY_AUTH_TOKEN_PATH: one left in the environment for
# another cluster would lock raybank out of its own, so it is never passed on.
TOKEN_VARIABLE = "RAY_AUTH_TOKEN"
# What Ray's dashboard imports (ray/dashboard/optional_deps.py), brought by ray[default]
# through raybank's `dashboard` extra; looked up without importing them.
DASHBOARD_MODULES = ("aiohttp", "aiohttp_cors", "grpc", "opencensus", "opentelemetry",
                     "prometheus_client", "pydantic")
WORKER_CPUS = 1
# Node-death detection. Ray's defaults (a health check every 3 s, dead after 5 failures, each
# waiting up to 10 s) take about 15 s to notice a lost node; on one machine over loopback a
# check answers in milliseconds, so a check a second, dead after 3 failures, notices a killed
# node in about 3 s (docs/design.md, "When a node dies", has the measurement). The GCS runs
# the checks, so the head's system config is the one that counts.
SYSTEM_CONFIG = {"health_check_period_ms": 1000, "health_check_timeout_ms": 1000,
                 "health_check_failure_threshold": 3}
# Ray's own start-up script, run with this interpreter so the same Ray is used.
_RAY_CLI = "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"


def _check_types(record: Any, types: dict[str, Any]) -> None:
    for key, kind in types.items():
        value = getattr(record, key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise TypeError(f"{key} is {value!r}")


@dataclass(frozen=True)
class WorkerNode:
    """A worker node raybank started (``up --nodes N``): its processes and its raylet."""

    session_id: int
    temp_dir: str
    cluster_id: str  # this node's own proof: RAYBANK_CLUSTER_ID of its processes
    node_manager_port: int  # tells its Ray node apart (ray.nodes()'s NodeManagerPort)
    started_at: float

    def __post_init__(self) -> None:
        _check_types(self, {"session_id": int, "temp_dir": str, "cluster_id": str,
                            "node_manager_port": int, "started_at": (int, float)})


@dataclass(frozen=True)
class ClusterRecord:
    """What raybank remembers of the cluster it started, in ``<home>/cluster.json``."""

    address: str
    session_id: int
    temp_dir: str
    started_at: float
    # Random, in the environment of every process of the head (RAYBANK_CLUSTER_ID).
    # Empty in records written before it existed: then only the temp-dir proofs apply.
    cluster_id: str = ""
    workers: tuple[WorkerNode, ...] = ()
    dashboard_url: str = ""  # "" when started without the dashboard (the default)

    def __post_init__(self) -> None:
        _check_types(self, {"address": str, "session_id": int, "temp_dir": str,
                            "started_at": (int, float), "cluster_id": str,
                            "workers": tuple, "dashboard_url": str})
        for worker in self.workers:
            if not isinstance(worker, WorkerNode):
                raise TypeError(f"worker is {worker!r}")

    @classmethod
    def from_json(cls, data: Any) -> ClusterRecord:
        if not isinstance(data, dict):
            raise TypeError(f"record is {data!r}")
        workers = data.get("workers", [])
        if not isinstance(workers, list) or not all(isinstance(w, dict) for w in workers):
            raise TypeError(f"workers is {workers!r}")
        return cls(**{**data, "workers": tuple(WorkerNode(**w) for w in workers)})

    def live_workers(self) -> list[WorkerNode]:
        """The recorded workers whose raylet still answers."""
        return [worker for worker in self.workers
                if answers(f"127.0.0.1:{worker.node_manager_port}", timeout=0.5)]


class Home:
    """The layout of a raybank data folder (RAYBANK_HOME), created private on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()

    def ensure(self) -> Home:
        """Create the home (0700) if it is missing; refuse one that is not private enough.

        An existing folder is never chmodded. If another user owns it or may write to it,
        they could replace raybank's files (cluster.json, the token, the journals): refused,
        exit 2, left as it was. One that others may only read is used as it is; everything
        raybank creates inside it is private (0700 folders, 0600 files).
        """
        private_dir(self.path)
        check_home(self.path)
        return self

    @property
    def record_path(self) -> Path:
        return self.path / "cluster.json"

    @property
    def token_path(self) -> Path:
        return self.path / "cluster.token"

    @property
    def log_dir(self) -> Path:
        return private_dir(self.path / "logs")

    def read_record(self) -> ClusterRecord | None:
        if not self.record_path.exists():
            return None
        try:
            return ClusterRecord.from_json(json.loads(read_bytes(self.record_path)))
        except (TypeError, ValueError) as error:
            raise StorageCorrupt(f"{self.record_path} is corrupt: {error}") from error

    def write_record(self, record: ClusterRecord) -> None:
        write_atomically(self.record_path, json.dumps(asdict(record)).encode())

    def token(self) -> Path:
        """The cluster's secret, created once with mode 0600."""
        if not self.token_path.exists():
            write_atomically(self.token_path, secrets.token_hex(32).encode())
        if self.token_path.stat().st_mode & 0o077:
            self.token_path.chmod(PRIVATE_FILE)
        return self.token_path

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise up/down between concurrent raybank processes."""
        self.ensure()
        fd = os.open(self.path / "cluster.lock", os.O_RDWR | os.O_CREAT, PRIVATE_FILE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def check_home(path: Path) -> None:
    """Refuse a home that another user owns or may write to (see Home.ensure)."""
    try:
        info = path.stat()
    except OSError as error:
        raise StorageUnreadable(f"cannot read data folder {path}: {error.strerror}") from error
    if info.st_uid != os.getuid():
        problem = "it belongs to another user"
    elif info.st_mode & 0o022:
        problem = f"other users may write to it (mode {stat.S_IMODE(info.st_mode):o})"
    else:
        return
    raise InvalidHome(f"refusing home {path}: {problem}; use a folder that only you can "
                      "write, such as ~/.raybank")


def running_record(home: Home) -> ClusterRecord | None:
    """The embedded cluster's record if that cluster is up."""
    record = home.read_record()
    return record if record and answers(record.address) else None


def auth_environment(home: Home) -> dict[str, str]:
    """The variables that let a process join the embedded cluster."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(home.token())}


def dashboard_installed() -> bool:
    """Are Ray's dashboard dependencies (`pip install 'raybank[dashboard]'`) importable?"""
    return all(importlib.util.find_spec(module) is not None for module in DASHBOARD_MODULES)


def up(home: Home, num_cpus: int | None = None, nodes: int = 1, dashboard: bool = False
       ) -> tuple[ClusterRecord, bool]:
    """Start the embedded cluster unless it runs; returns (record, started).

    ``nodes``: how many nodes it should have, the head and ``nodes - 1`` workers. On a
    running cluster with fewer live workers, workers are added until it has that many (a
    node lost to ``kill-node`` comes back this way); none is ever stopped.
    ``dashboard``: with Ray's dashboard on 127.0.0.1 (exit 2 if its extra is missing, or
    if the cluster already runs without it: a running cluster cannot add it).
    """
    if dashboard and not dashboard_installed():
        raise MissingExtra("the dashboard needs Ray's dashboard dependencies: "
                           "pip install 'raybank[dashboard]'")
    with home.lock():
        record = home.read_record()
        started = False
        if record is not None and answers(record.address):
            if dashboard and not record.dashboard_url:
                raise InvalidOption("raybank's cluster is running without the dashboard: "
                                    "stop it with `raybank down` (data stays on disk), then "
                                    "run `raybank up --dashboard`")
        else:
            if record:
                _stop_all(record)  # leftovers of a cluster that died: clear them first
            record, started = _start_head(home, num_cpus, dashboard), True
        missing = nodes - 1 - len(record.live_workers())
        if missing > 0:
            record = _start_workers(home, record, missing)
        return record, started


class _Launch(NamedTuple):
    process: subprocess.Popen[bytes]  # `ray start`, the leader of the node's session
    temp_dir: str
    cluster_id: str
    node_manager_port: int


def _ray_start(home: Home, arguments: list[str], log_name: str) -> _Launch:
    """Launch one ``ray start`` (one node) in a session of its own."""
    # Ray's socket paths must stay short, so its temp dir lives under /tmp, not the home.
    # Ray makes its temp dir world-writable; inside a 0700 folder, no one else can reach the
    # raylet's and object store's sockets in it.
    temp_dir = tempfile.mkdtemp(prefix=TEMP_PREFIX)
    node_manager, object_manager, agent_listen, agent_grpc, runtime_env, metrics = (
        free_ports(6))
    command = [
        sys.executable, "-c", _RAY_CLI, "start", *arguments,
        "--node-ip-address=127.0.0.1",
        f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
        f"--dashboard-agent-listen-port={agent_listen}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}",
        "--disable-usage-stats",
        f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={temp_dir}/ray",
    ]
    cluster_id = secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items()
           if key not in ("RAY_ADDRESS", TOKEN_VARIABLE)}
    env.update(auth_environment(home), **{CLUSTER_ID_VARIABLE: cluster_id})
    with open(home.log_dir / log_name, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=env, start_new_session=True, cwd=home.path)
    return _Launch(process, temp_dir, cluster_id, node_manager)


def _started(process: subprocess.Popen[bytes]) -> bool:
    try:
        return process.wait(timeout=START_TIMEOUT_S) == 0
    except subprocess.TimeoutExpired:
        return False


def _start_head(home: Home, num_cpus: int | None, dashboard: bool) -> ClusterRecord:
    gcs, web = free_ports(2)
    # Loopback only: the dashboard can submit jobs. Ray also asks its requests for the
    # cluster's token (token authentication covers the dashboard).
    dashboard_flags = (["--include-dashboard=true", "--dashboard-host=127.0.0.1",
                        f"--dashboard-port={web}"] if dashboard
                       else ["--include-dashboard=false"])
    head = _ray_start(home, [
        "--head", f"--port={gcs}", *dashboard_flags,
        f"--system-config={json.dumps(SYSTEM_CONFIG)}",
        f"--num-cpus={num_cpus or os.cpu_count() or 1}"], "ray-start.log")
    record = ClusterRecord(address=f"127.0.0.1:{gcs}", session_id=head.process.pid,
                           temp_dir=head.temp_dir, started_at=time.time(),
                           cluster_id=head.cluster_id,
                           dashboard_url=f"http://127.0.0.1:{web}" if dashboard else "")
    home.write_record(record)  # before waiting: a crash now still lets `down` clean up
    if not _started(head.process) or not answers(record.address):
        stop_group(record, gone_when_refused=record.address)
        home.record_path.unlink(missing_ok=True)
        raise ClusterStartFailed(f"could not start the embedded Ray cluster (see "
                                 f"{home.log_dir / 'ray-start.log'})")
    return record


def _start_workers(home: Home, record: ClusterRecord, count: int) -> ClusterRecord:
    """Start ``count`` worker nodes at once and record them; a worker that fails is cleared."""
    launched = [_ray_start(home, [f"--address={record.address}", f"--num-cpus={WORKER_CPUS}"],
                           "ray-start-worker.log") for _ in range(count)]
    workers = [WorkerNode(session_id=launch.process.pid, temp_dir=launch.temp_dir,
                          cluster_id=launch.cluster_id,
                          node_manager_port=launch.node_manager_port, started_at=time.time())
               for launch in launched]
    # Recorded before waiting: a crash now still lets `down` clean up.
    home.write_record(replace(record, workers=(*record.live_workers(), *workers)))
    failed = [worker for launch, worker in zip(launched, workers, strict=True)
              if not _started(launch.process)]
    for worker in failed:
        stop_group(worker)
    record = replace(record, workers=tuple(w for w in (*record.live_workers(), *workers)
                                           if w not in failed))
    home.write_record(record)
    if failed:
        raise ClusterStartFailed(f"could not start {len(failed)} of {count} worker nodes (see "
                                 f"{home.log_dir / 'ray-start-worker.log'})")
    return record


def kill_worker(home: Home, worker: WorkerNode) -> bool:
    """Crash one worker node: SIGKILL its processes (proved to be its own) and nothing else,
    wait until they are gone, and forget it. True if any of its processes were running."""
    with home.lock():
        killed = stop_group(worker, signals=(signal.SIGKILL,))
        record = home.read_record()
        if record is not None:
            home.write_record(replace(record, workers=tuple(
                w for w in record.workers if w != worker)))
        return killed


def _stop_all(record: ClusterRecord) -> bool:
    """Stop the workers, then the head; True if any of their processes were running."""
    stopped = [stop_group(worker) for worker in record.workers]
    return stop_group(record, gone_when_refused=record.address) or any(stopped)


def down(home: Home) -> bool:
    """Stop the embedded cluster, and nothing else; True if something was running."""
    with home.lock():
        record = home.read_record()
        if record is None:
            return False
        was_running = answers(record.address)
        stopped_any = _stop_all(record)
        home.record_path.unlink(missing_ok=True)
        return was_running or stopped_any


def attach(home: Home, address: str | None, namespace: str) -> str:
    """Make this process a Ray driver of the right cluster; returns the address used.

    Without ``address`` that is the embedded cluster, started if need be -- never
    ``address="auto"``, which would take whatever cluster happens to run on the machine.
    """
    record = home.read_record()
    if address is None:
        record, _ = up(home)
        address = record.address
    elif not answers(address):
        raise ClusterUnreachable(f"no Ray cluster answers at {address}")
    if record is not None and record.address == address:
        os.environ.pop(TOKEN_VARIABLE, None)
        os.environ.update(auth_environment(home))
    if "ray" not in sys.modules or not _already_driver(address):
        import ray

        try:
            ray.init(address=address, namespace=namespace, log_to_driver=False,
                     logging_level=logging.ERROR, configure_logging=True)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise ClusterUnreachable(f"cannot attach to the Ray cluster at {address}: "
                                     f"{error}") from error
    if record is None or record.address != address:
        _check_foreign_nodes(home)
    return address


def _check_foreign_nodes(home: Home) -> None:
    """On a cluster raybank did not start, make sure each other live node sees the home
    (this process runs on a node of the cluster: that one sees it)."""
    import ray

    from raybank.cluster.shared_home import check_shared_home

    here = ray.get_runtime_context().get_node_id()
    check_shared_home(home.path, [node["NodeID"] for node in ray.nodes()
                                  if node["Alive"] and node["NodeID"] != here])


def _already_driver(address: str) -> bool:
    """True if this process is already a driver of the cluster at ``address``.

    The command line attaches before anything imports Ray; a notebook may have imported
    (or even started) Ray first. Ray reads its authentication settings once, so a process
    that imported Ray before they were set is made to read them again (Ray's own test
    helpers do the same). A process that is a driver of another cluster cannot become one
    of this cluster: Ray allows one per process.
    """
    import ray

    if not ray.is_initialized():
        from ray._raylet import AuthenticationTokenLoader, Config

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
        return False
    current = ray.get_runtime_context().gcs_address
    if current != address:
        raise ClusterUnreachable(
            f"this Python process is already a Ray driver of {current}; raybank's cluster is "
            f"at {address}: call ray.shutdown() first, or raybank.connect(address={current!r})")
    return True

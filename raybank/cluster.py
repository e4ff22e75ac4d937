"""raybank's own Ray cluster: start it, find it again, attach to it, stop only it.

The embedded cluster is a ``ray start --head`` launched in a new session (``setsid``), so
every process Ray spawns for it -- GCS, raylet, agents, workers -- shares one session id
that no other cluster on the machine has. ``down`` stops exactly those processes; it never
runs ``ray stop``, which would stop every Ray cluster of the user.

Ray binds its ports on every interface whatever its flags, so the cluster is made private
with token authentication: a random secret in ``cluster.token`` (mode 0600) that the cluster
and every raybank driver are given through RAY_AUTH_MODE / RAY_AUTH_TOKEN_PATH.

Nothing here imports Ray at module level: ``up``, ``down`` and ``status`` do not need it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from raybank.errors import ClusterUnavailable, StorageError
from raybank.storage.files import PRIVATE_FILE, private_dir, read_bytes, write_atomically

START_TIMEOUT_S = 60.0
STOP_GRACE_S = 5.0
CONNECT_TIMEOUT_S = 2.0
OBJECT_STORE_BYTES = 256 * 1024 * 1024
# Ray's own start-up script, run with this interpreter so the same Ray is used.
_RAY_CLI = "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"


@dataclass(frozen=True)
class ClusterRecord:
    """What raybank remembers of the cluster it started, in ``<home>/cluster.json``."""

    address: str
    session_id: int
    temp_dir: str
    started_at: float


class Home:
    """The layout of a raybank data folder (RAYBANK_HOME), created private on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path.expanduser().absolute()

    def ensure(self) -> Home:
        private_dir(self.path)
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
            return ClusterRecord(**json.loads(read_bytes(self.record_path)))
        except (TypeError, ValueError) as error:
            raise StorageError(f"{self.record_path} is corrupt: {error}",
                               "storage-corrupt") from error

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


def answers(address: str, timeout: float = CONNECT_TIMEOUT_S) -> bool:
    """Does something accept TCP connections at ``host:port``? (Ray's init would hang.)"""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout):
            return True
    except (OSError, ValueError):
        return False


def running_record(home: Home) -> ClusterRecord | None:
    """The embedded cluster's record if that cluster is up."""
    record = home.read_record()
    return record if record and answers(record.address) else None


def _free_ports(count: int) -> list[int]:
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def auth_environment(home: Home) -> dict[str, str]:
    """The variables that let a process join the embedded cluster."""
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(home.token())}


def up(home: Home, num_cpus: int | None = None) -> tuple[ClusterRecord, bool]:
    """Start the embedded cluster unless it runs; returns (record, started)."""
    with home.lock():
        record = home.read_record()
        if record and answers(record.address):
            return record, False
        if record:
            _stop_session(record)  # leftovers of a cluster that died: clear them first
        return _start(home, num_cpus), True


def _start(home: Home, num_cpus: int | None) -> ClusterRecord:
    gcs, node_manager, object_manager, agent_listen, agent_grpc, runtime_env, metrics = (
        _free_ports(7)
    )
    # Ray's socket paths must stay short, so its temp dir lives under /tmp, not the home.
    # Ray makes its temp dir world-writable; inside a 0700 folder, no one else can reach the
    # raylet's and object store's sockets in it.
    temp_dir = tempfile.mkdtemp(prefix="raybank-")
    command = [
        sys.executable, "-c", _RAY_CLI, "start", "--head",
        "--node-ip-address=127.0.0.1", f"--port={gcs}",
        f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
        f"--dashboard-agent-listen-port={agent_listen}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}",
        "--include-dashboard=false", "--disable-usage-stats",
        f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={temp_dir}/ray",
        f"--num-cpus={num_cpus or os.cpu_count() or 1}",
    ]
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    env.update(auth_environment(home))
    log_path = home.log_dir / "ray-start.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=env, start_new_session=True, cwd=home.path)
    record = ClusterRecord(address=f"127.0.0.1:{gcs}", session_id=process.pid,
                           temp_dir=temp_dir, started_at=time.time())
    home.write_record(record)  # before waiting: a crash now still lets `down` clean up
    try:
        returncode = process.wait(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        returncode = None
    if returncode != 0 or not answers(record.address):
        _stop_session(record)
        home.record_path.unlink(missing_ok=True)
        raise ClusterUnavailable(
            f"could not start the embedded Ray cluster (see {log_path})", "cluster-start-failed"
        )
    return record


def down(home: Home) -> bool:
    """Stop the embedded cluster, and nothing else; True if something was running."""
    with home.lock():
        record = home.read_record()
        if record is None:
            return False
        was_running = answers(record.address)
        stopped_any = _stop_session(record)
        home.record_path.unlink(missing_ok=True)
        return was_running or stopped_any


def _session_processes(session_id: int) -> list[int]:
    """This user's Ray processes of one session (the embedded cluster's, and only those)."""
    uid = os.getuid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            stat = (entry / "stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            state, sid = fields[0], int(fields[3])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        # A session id can be reused after the cluster is gone: insist the process is Ray's.
        if sid == session_id and state != "Z" and b"ray" in cmdline:
            found.append(int(entry.name))
    return found


def _stop_session(record: ClusterRecord) -> bool:
    """SIGTERM the cluster's processes, SIGKILL what lingers; True if any were running."""
    found = _session_processes(record.session_id)
    pids = found
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and _session_processes(record.session_id):
            time.sleep(0.1)
        pids = _session_processes(record.session_id)
        if not pids:
            break
    # A zombie still passes `kill -0`; the cluster is gone when its GCS port refuses.
    deadline = time.monotonic() + STOP_GRACE_S
    while answers(record.address, timeout=0.2) and time.monotonic() < deadline:
        time.sleep(0.1)
    shutil.rmtree(record.temp_dir, ignore_errors=True)
    return bool(found)


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
        raise ClusterUnavailable(f"no Ray cluster answers at {address}", "cluster-unreachable")
    if record is not None and record.address == address:
        os.environ.update(auth_environment(home))
    if "ray" in sys.modules:
        raise RuntimeError("Ray was imported before attach() could set its authentication")
    import ray

    try:
        ray.init(address=address, namespace=namespace, log_to_driver=False,
                 logging_level=logging.ERROR, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterUnavailable(f"cannot attach to the Ray cluster at {address}: {error}",
                                 "cluster-unreachable") from error
    return address

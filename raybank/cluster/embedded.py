"""raybank's own Ray cluster: start it, find it again, attach to it, stop only it.

The embedded cluster is a ``ray start --head`` launched in a new session (``setsid``), so
every process Ray spawns for it -- GCS, raylet, agents, workers -- shares one session id.
Session ids are pids, and pids are reused: a record left by a cluster that died may name a
session that now belongs to something else. So ``down`` stops a process only if it is in
that session *and* proves it belongs to this cluster (see ``_belongs``). It never runs
``ray stop``, which would stop every Ray cluster of the user.

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
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

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
STOP_GRACE_S = 5.0
CONNECT_TIMEOUT_S = 2.0
OBJECT_STORE_BYTES = 256 * 1024 * 1024
TEMP_PREFIX = "raybank-"
CLUSTER_ID_VARIABLE = "RAYBANK_CLUSTER_ID"
# Ray reads a token from here before RAY_AUTH_TOKEN_PATH: one left in the environment for
# another cluster would lock raybank out of its own, so it is never passed on.
TOKEN_VARIABLE = "RAY_AUTH_TOKEN"
# What Ray's dashboard imports (ray/dashboard/optional_deps.py), brought by ray[default]
# through raybank's `dashboard` extra; looked up without importing them.
DASHBOARD_MODULES = ("aiohttp", "aiohttp_cors", "grpc", "opencensus", "opentelemetry",
                     "prometheus_client", "pydantic")
# Ray's own start-up script, run with this interpreter so the same Ray is used.
_RAY_CLI = "import sys; from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()"


@dataclass(frozen=True)
class ClusterRecord:
    """What raybank remembers of the cluster it started, in ``<home>/cluster.json``."""

    address: str
    session_id: int
    temp_dir: str
    started_at: float
    # Random, in the environment of every process of the cluster (RAYBANK_CLUSTER_ID).
    # Empty in records written before it existed: then only the temp-dir proofs apply.
    cluster_id: str = ""
    dashboard_url: str = ""  # "" when started without the dashboard (the default)

    def __post_init__(self) -> None:
        types = {"address": str, "session_id": int, "temp_dir": str,
                 "started_at": (int, float), "cluster_id": str, "dashboard_url": str}
        for key, kind in types.items():
            value = getattr(self, key)
            if not isinstance(value, kind) or isinstance(value, bool):
                raise TypeError(f"{key} is {value!r}")


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
            return ClusterRecord(**json.loads(read_bytes(self.record_path)))
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


def dashboard_installed() -> bool:
    """Are Ray's dashboard dependencies (`pip install 'raybank[dashboard]'`) importable?"""
    return all(importlib.util.find_spec(module) is not None for module in DASHBOARD_MODULES)


def up(home: Home, num_cpus: int | None = None, dashboard: bool = False
       ) -> tuple[ClusterRecord, bool]:
    """Start the embedded cluster unless it runs; returns (record, started).

    ``dashboard``: with Ray's dashboard on 127.0.0.1 (exit 2 if its extra is missing, or
    if the cluster already runs without it: a running cluster cannot add it).
    """
    if dashboard and not dashboard_installed():
        raise MissingExtra("the dashboard needs Ray's dashboard dependencies: "
                           "pip install 'raybank[dashboard]'")
    with home.lock():
        record = home.read_record()
        if record and answers(record.address):
            if dashboard and not record.dashboard_url:
                raise InvalidOption("raybank's cluster is running without the dashboard: "
                                    "stop it with `raybank down` (data stays on disk), then "
                                    "run `raybank up --dashboard`")
            return record, False
        if record:
            _stop_session(record)  # leftovers of a cluster that died: clear them first
        return _start(home, num_cpus, dashboard), True


def _start(home: Home, num_cpus: int | None, dashboard: bool = False) -> ClusterRecord:
    gcs, node_manager, object_manager, agent_listen, agent_grpc, runtime_env, metrics, web = (
        _free_ports(8)
    )
    # Loopback only: the dashboard can submit jobs. Ray also asks its requests for the
    # cluster's token (token authentication covers the dashboard).
    dashboard_flags = (["--include-dashboard=true", "--dashboard-host=127.0.0.1",
                        f"--dashboard-port={web}"] if dashboard
                       else ["--include-dashboard=false"])
    # Ray's socket paths must stay short, so its temp dir lives under /tmp, not the home.
    # Ray makes its temp dir world-writable; inside a 0700 folder, no one else can reach the
    # raylet's and object store's sockets in it.
    temp_dir = tempfile.mkdtemp(prefix=TEMP_PREFIX)
    command = [
        sys.executable, "-c", _RAY_CLI, "start", "--head",
        "--node-ip-address=127.0.0.1", f"--port={gcs}",
        f"--node-manager-port={node_manager}", f"--object-manager-port={object_manager}",
        f"--dashboard-agent-listen-port={agent_listen}",
        f"--dashboard-agent-grpc-port={agent_grpc}",
        f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}",
        *dashboard_flags, "--disable-usage-stats",
        f"--object-store-memory={OBJECT_STORE_BYTES}", f"--temp-dir={temp_dir}/ray",
        f"--num-cpus={num_cpus or os.cpu_count() or 1}",
    ]
    cluster_id = secrets.token_hex(16)
    env = {key: value for key, value in os.environ.items()
           if key not in ("RAY_ADDRESS", TOKEN_VARIABLE)}
    env.update(auth_environment(home), **{CLUSTER_ID_VARIABLE: cluster_id})
    log_path = home.log_dir / "ray-start.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   env=env, start_new_session=True, cwd=home.path)
    record = ClusterRecord(address=f"127.0.0.1:{gcs}", session_id=process.pid,
                           temp_dir=temp_dir, started_at=time.time(), cluster_id=cluster_id,
                           dashboard_url=f"http://127.0.0.1:{web}" if dashboard else "")
    home.write_record(record)  # before waiting: a crash now still lets `down` clean up
    try:
        returncode = process.wait(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        returncode = None
    if returncode != 0 or not answers(record.address):
        _stop_session(record)
        home.record_path.unlink(missing_ok=True)
        raise ClusterStartFailed(
            f"could not start the embedded Ray cluster (see {log_path})"
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


def _session_processes(record: ClusterRecord) -> list[int]:
    """This user's live processes of the cluster's session that prove they are the cluster's."""
    uid = os.getuid()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            state, sid = fields[0], int(fields[3])
        except (OSError, IndexError, ValueError):
            continue
        if sid == record.session_id and state != "Z" and _belongs(entry, record):
            found.append(int(entry.name))
    return found


def _belongs(process: Path, record: ClusterRecord) -> bool:
    """Does this process (a /proc entry) prove it is one of the cluster's own?

    Any one proof will do, because Ray's processes each show a different one: the cluster
    id in the environment every process inherits from ``ray start`` (setproctitle may
    overwrite that area in renamed workers), or the cluster's private temp dir in the
    command line (GCS, raylet), the working folder, or an open file (the agents that renamed
    themselves still hold their logs there; RAY-NOTES.md).
    """
    if record.cluster_id and _reads(process / "environ", lambda path: (
            f"{CLUSTER_ID_VARIABLE}={record.cluster_id}".encode()
            in path.read_bytes().split(b"\0"))):
        return True
    if not _created_temp_dir(record.temp_dir):
        return False  # a record naming some other folder proves nothing by it
    inside = os.fsencode(record.temp_dir.rstrip("/") + "/")

    def points_inside(link: Path) -> bool:
        return (os.fsencode(os.readlink(link)) + b"/").startswith(inside)

    return (_reads(process / "cmdline", lambda path: inside in path.read_bytes())
            or _reads(process / "cwd", points_inside)
            or _reads(process / "fd", lambda fds: any(
                _reads(fd, points_inside) for fd in fds.iterdir())))


def _reads(path: Path, check: Callable[[Path], bool]) -> bool:
    """``check(path)``, or False when the process is gone or hides it (another user's)."""
    try:
        return check(path)
    except OSError:
        return False


def _created_temp_dir(path: str) -> bool:
    """Is ``path`` a temp dir of the kind ``_start`` makes, owned by this user?"""
    folder = Path(path)
    if folder.parent != Path(tempfile.gettempdir()) or not folder.name.startswith(TEMP_PREFIX):
        return False
    try:
        info = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()


def _stop_session(record: ClusterRecord) -> bool:
    """SIGTERM the cluster's processes, SIGKILL what lingers; True if any were running."""
    found = _session_processes(record)
    pids = found
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline and _session_processes(record):
            time.sleep(0.1)
        pids = _session_processes(record)
        if not pids:
            break
    # A zombie still passes `kill -0`; the cluster is gone when its GCS port refuses.
    deadline = time.monotonic() + STOP_GRACE_S
    while answers(record.address, timeout=0.2) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _created_temp_dir(record.temp_dir):  # never a folder raybank did not make
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
        raise ClusterUnreachable(f"no Ray cluster answers at {address}")
    if record is not None and record.address == address:
        os.environ.pop(TOKEN_VARIABLE, None)
        os.environ.update(auth_environment(home))
    if "ray" in sys.modules and _already_driver(address):
        return address
    import ray

    try:
        ray.init(address=address, namespace=namespace, log_to_driver=False,
                 logging_level=logging.ERROR, configure_logging=True)
    except (ConnectionError, RuntimeError, ValueError) as error:
        raise ClusterUnreachable(f"cannot attach to the Ray cluster at {address}: "
                                 f"{error}") from error
    return address


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

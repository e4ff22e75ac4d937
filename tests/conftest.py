"""Shared fixtures: one real Ray cluster per test session, a fresh home and namespace per test.

The session cluster is raybank's own embedded cluster, started by the real CLI in a temporary
home (free ports, token auth) and stopped by `raybank down` at the end -- never `ray stop`.
Each test then gets its own RAYBANK_HOME that *finds* that cluster (a copy of its record and
token) and its own namespace, so tests share the cost of `ray start` but not each other's
accounts or data. When a test ends, its namespace's actors and its home's gateway are
released (tests.support.janitor): detached actors would otherwise outlive it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Raybank, attached_bank, start_cluster, stop_cluster
from tests.support.janitor import Janitor


@pytest.fixture
def fault_injection(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let this test arm faults (raybank.testing.faults.arm): only a process that enables
    fault injection in its environment may."""
    from raybank.testing.faults import ENABLE_ENV, ENABLED

    monkeypatch.setenv(ENABLE_ENV, ENABLED)


@pytest.fixture(scope="session")
def session_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Raybank]:
    """raybank's embedded cluster, started once for the whole session."""
    bank = start_cluster(tmp_path_factory.mktemp("session-home"))
    try:
        yield bank
    finally:
        stop_cluster(bank)


@pytest.fixture(scope="session")
def janitor(session_cluster: Raybank) -> Iterator[Janitor]:
    """Releases each test's namespace and gateway on the session cluster when it ends."""
    lines = session_cluster.json("env")
    cleaner = Janitor({**session_cluster.env, **lines})
    try:
        yield cleaner
    finally:
        cleaner.close()


@pytest.fixture
def placement() -> str:
    """The placement of each test's namespace: ``actor`` unless a test asks for both with
    ``@pytest.mark.parametrize("placement", PLACEMENTS)`` (which overrides this fixture)."""
    return "actor"


@pytest.fixture(scope="module")
def multinode_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Raybank]:
    """raybank's embedded cluster as a head and two worker nodes (`up --nodes 3`), shared by
    the multi-node tests (one module) and stopped by `raybank down` after them, so its three
    nodes do not run beside the rest of the suite.

    Separate from ``session_cluster``: a test here kills a node, which no other test should
    feel. Tests use its home with a namespace of their own.
    """
    bank = start_cluster(tmp_path_factory.mktemp("multinode-home"), "--nodes", "3")
    try:
        yield bank
    finally:
        stop_cluster(bank)


def released(janitor: Janitor, bank: Raybank) -> Iterator[Raybank]:
    """Yield the test's bank, then release its namespace and gateway."""
    yield bank
    janitor.release(bank.namespace, bank.home)


@pytest.fixture(params=["driver", "gateway"])
def raybank(request: pytest.FixtureRequest, session_cluster: Raybank, janitor: Janitor,
            tmp_path: Path, placement: str) -> Iterator[Raybank]:
    """Every test using this fixture runs the same checks through both paths."""
    bank = attached_bank(session_cluster, tmp_path, request.param, placement)
    yield from released(janitor, bank)


@pytest.fixture
def gateway_bank(session_cluster: Raybank, janitor: Janitor, tmp_path: Path,
                 placement: str) -> Iterator[Raybank]:
    """A home whose gateway is running: for checks of the gateway itself."""
    yield from released(janitor, attached_bank(session_cluster, tmp_path, "gateway", placement))


@pytest.fixture
def driver_bank(session_cluster: Raybank, janitor: Janitor, tmp_path: Path,
                placement: str) -> Iterator[Raybank]:
    """A home reached only as a Ray driver (no gateway started)."""
    yield from released(janitor, attached_bank(session_cluster, tmp_path, "driver", placement))

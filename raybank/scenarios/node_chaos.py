"""`simulate --node-chaos P`: lose a worker node mid-run, then add one back.

With probability ``P`` per completed operation (one roll per operation, seeded), one worker
node of raybank's own multi-node cluster is crashed as `kill-node` crashes it (SIGKILL of its
proven processes, nothing else), and a fresh worker is started in its place, so the run can
lose a node again later. One loss at a time: the kill and the re-add run in a thread of their
own while the workload goes on, and the rolls of operations completed meanwhile are spent.

The node the simulation's driver is attached to is never chosen: its clients and progress
actor run there (pinned), so what is lost is only accounts, hosts and the coordinator --
the bank's state, which storage must bring back.
"""

from __future__ import annotations

import random
import threading
from pathlib import Path

import ray

from raybank.cluster.embedded import ClusterRecord, Home, kill_worker, up
from raybank.domain.errors import ClusterStartFailed, InvalidOption
from raybank.routing.introspection import node_table


def usable_record(home: Path, address: str | None) -> ClusterRecord:
    """raybank's embedded cluster with at least one worker, if that is the one attached to;
    else node chaos is refused (exit 2) before anything runs."""
    record = Home(home).read_record()
    if record is None or address not in (None, record.address) or not record.workers:
        raise InvalidOption("--node-chaos needs raybank's own cluster of several nodes: "
                            "start it with `raybank up --nodes 3`")
    return record


class NodeChaos:
    """Kills a worker node now and then, and starts a new worker to replace it."""

    def __init__(self, home: Path, record: ClusterRecord, probability: float, seed: int
                 ) -> None:
        self._home = Home(home)
        self._nodes = 1 + len(record.workers)  # the size to restore after each loss
        self.probability = probability
        self._rng = random.Random(f"{seed}:node-chaos")
        self._driver_node = ray.get_runtime_context().get_node_id()
        self._seen = 0
        self._busy: threading.Thread | None = None
        self.kills = 0
        self.failures: list[str] = []  # why a replacement worker did not start (reported)

    def tick(self, done: int) -> None:
        """Roll once for each operation completed since the last tick."""
        rolls, self._seen = done - self._seen, done
        if self._busy is not None and self._busy.is_alive():
            return
        if any(self._rng.random() < self.probability for _ in range(rolls)):
            self._busy = threading.Thread(target=self._lose_one, daemon=True,
                                          name="node-chaos")
            self._busy.start()

    def finish(self) -> None:
        """Wait for a loss (and its replacement) still under way."""
        if self._busy is not None:
            self._busy.join()

    def _lose_one(self) -> None:
        record = self._home.read_record()
        if record is None:
            return
        alive = {node["node_manager_port"]: node for node in node_table() if node["alive"]}
        candidates = [worker for worker in record.workers
                      if worker.node_manager_port in alive
                      and alive[worker.node_manager_port]["node_id"] != self._driver_node]
        if not candidates:
            return
        kill_worker(self._home, self._rng.choice(candidates))
        self.kills += 1
        try:
            up(self._home, nodes=self._nodes)
        except ClusterStartFailed as error:
            self.failures.append(str(error))

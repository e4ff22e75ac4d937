"""A cluster of several nodes (`up --nodes 3`): the nodes listed, actors spread over them,
and the loss of a worker node survived -- nothing acknowledged lost, nothing applied twice.

All tests share one multi-node cluster (``multinode_cluster``), each in a namespace of its
own, reached as a Ray driver (the gateway could live on the node a test kills). The test
that kills a node runs last in this file; the others leave every node alive.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from tests.support.cli import CLI_TIMEOUT_S, Raybank

pytestmark = pytest.mark.ray

ACCOUNTS = 6


def bank_on(cluster: Raybank, **env: str) -> Raybank:
    return Raybank(home=cluster.home, namespace=f"test-{uuid.uuid4().hex[:12]}",
                   extra_env={"RAYBANK_NO_GATEWAY": "1", **env})


def open_accounts(bank: Raybank, balance: str) -> list[str]:
    names = [f"acct{i}" for i in range(ACCOUNTS)]
    script = "".join(f"create {name} --balance {balance}\n" for name in names)
    result = bank("batch", "-", "--json", input=script)
    assert result.code == 0, (result.stdout, result.stderr[-2000:])
    return names


def nodes_of(bank: Raybank) -> list[dict]:
    return bank.json("nodes")["nodes"]


# Once the GCS lists a new node alive, the other raylets learn of its resources a moment
# later (Ray's resource syncer); an actor spread before then goes to the nodes known so far.
SYNC_S = 3.0


def with_three_nodes(bank: Raybank) -> None:
    """`up --nodes 3` (a worker is added if one was lost), then wait until all three are
    alive and known to the schedulers, so the actors opened next are spread over them."""
    assert bank.json("up", "--nodes", "3")["nodes"] == 3
    deadline = time.monotonic() + 30
    while sum(node["alive"] for node in nodes_of(bank)) != 3:
        assert time.monotonic() < deadline, nodes_of(bank)
        time.sleep(0.5)
    time.sleep(SYNC_S)


def test_nodes_lists_the_head_and_two_workers_with_the_accounts_spread(multinode_cluster):
    bank = bank_on(multinode_cluster)
    with_three_nodes(bank)
    open_accounts(bank, "1.00")
    nodes = nodes_of(bank)
    assert [(node["head"], node["alive"]) for node in nodes] == [
        (True, True), (False, True), (False, True)]
    assert sum(node["accounts"] for node in nodes) == ACCOUNTS
    assert any(node["accounts"] for node in nodes[1:]), "no account was placed on a worker"
    assert [node["killable"] for node in nodes] == [False, True, True]
    # Each account's actor runs on one of these nodes.
    placed = {row["actor"]["node_id"] for row in bank.json("accounts")["accounts"]}
    assert placed <= {node["node_id"] for node in nodes}


def test_kill_node_refuses_the_head_a_foreign_node_and_an_unknown_id(
        multinode_cluster, tmp_path):
    bank = bank_on(multinode_cluster)
    head, worker, _ = nodes_of(bank)
    refused = bank.json("kill-node", head["node_id"][:10], expect=2)
    assert refused["error"]["code"] == "head-node-refused"
    assert bank.json("kill-node", "not-hex", expect=2)["error"]["code"] == "unknown-node"
    assert bank.json("kill-node", "0" * 56, expect=2)["error"]["code"] == "unknown-node"

    # Through --address, from a home that did not start this cluster: listed, never killed.
    other = tmp_path / "other-home"
    other.mkdir(mode=0o700)
    address = bank.json("status")["address"]
    stranger = bank_on(multinode_cluster, RAY_AUTH_MODE="token",
                       RAY_AUTH_TOKEN_PATH=str(multinode_cluster.home / "cluster.token"))
    stranger = Raybank(home=other, namespace=stranger.namespace, extra_env=stranger.extra_env)
    seen = stranger.json("--address", address, "nodes")["nodes"]
    assert {node["node_id"] for node in seen} == {head["node_id"], worker["node_id"],
                                                  nodes_of(bank)[2]["node_id"]}
    assert not any(node["killable"] for node in seen)
    foreign = stranger.json("--address", address, "kill-node", worker["node_id"], expect=2)
    assert foreign["error"]["code"] == "foreign-node"
    chaos = stranger.json("--address", address, "simulate", "--node-chaos", "0.1", expect=2)
    assert chaos["error"]["code"] == "invalid-option"
    assert all(node["alive"] for node in nodes_of(bank))  # nothing was killed


def session_processes(session_id: int) -> list[int]:
    """Live (not zombie) processes of a session."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[3]) == session_id and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def feed(stdin, lines: list[str], pause: float) -> None:
    """Write batch lines over time, so that some are sent after the node is killed."""
    for line in lines:
        stdin.write(line + "\n")
        stdin.flush()
        time.sleep(pause)
    stdin.close()


def test_a_killed_worker_loses_nothing_acknowledged_and_applies_nothing_twice(
        multinode_cluster):
    bank = bank_on(multinode_cluster)
    names = open_accounts(bank, "100.00")
    rows = bank.json("accounts")["accounts"]
    nodes = nodes_of(bank)
    workers = [node for node in nodes if not node["head"]]
    victim = max(workers, key=lambda node: node["accounts"])
    on_victim = sorted(row["name"] for row in rows
                       if row["actor"]["node_id"] == victim["node_id"])
    assert on_victim, "no account lives on a worker"

    # Deposits to every account (most to those on the victim) and transfers between them,
    # streamed into one batch while the node is killed.
    deposits = {f"dep-{i}": (on_victim[i % len(on_victim)] if i % 3 else names[i % ACCOUNTS],
                             Decimal(i % 7 + 1)) for i in range(45)}
    transfers = {f"tr-{i}": (names[i % ACCOUNTS], on_victim[i % len(on_victim)], Decimal("0.50"))
                 for i in range(9)}
    lines = []
    for i, (op_id, (name, amount)) in enumerate(deposits.items()):
        lines.append(f"deposit {name} {amount} --op-id {op_id}")
        if i % 5 == 4:
            op, (source, target, value) = list(transfers.items())[i // 5]
            if source != target:
                lines.append(f"transfer {source} {target} {value} --op-id {op}")
    transfers = {op: t for op, t in transfers.items()
                 if any(line.endswith(f"--op-id {op}") for line in lines)}
    port = int(victim["address"].rsplit(":", 1)[1])
    recorded = json.loads((multinode_cluster.home / "cluster.json").read_text())["workers"]
    [worker] = [w for w in recorded if w["node_manager_port"] == port]
    with tempfile.TemporaryFile("w+") as log:  # Ray's reports of the lost node: stderr
        batch = subprocess.Popen(bank.command("batch", "-", "--json"), env=bank.env,
                                 text=True, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 stderr=log)
        feeder = threading.Thread(target=feed, args=(batch.stdin, lines, 0.1))
        feeder.start()
        with batch.stdout:
            first = batch.stdout.readline()  # the batch runs: kill the node under it
            assert feeder.is_alive(), "every line was sent before the kill: make it longer"
            killed = bank("kill-node", victim["node_id"][:12], "--json")
            feeder.join(timeout=CLI_TIMEOUT_S)  # it closes the batch's input
            rest = batch.stdout.read()  # to its end: the batch has answered every line
        batch.wait(timeout=CLI_TIMEOUT_S)
        log.seek(0)
        errors = log.read()
    assert killed.code == 0, (killed.stdout, killed.stderr[-2000:])
    report = killed.json
    assert report["node_id"] == victim["node_id"]
    assert sorted(row["name"] for row in report["before"]) == on_victim
    alive = {node["node_id"] for node in nodes if node["node_id"] != victim["node_id"]}
    assert {row["actor"]["node_id"] for row in report["after"]} <= alive
    # Exactly that node's processes are gone, its folder too, and the record forgot it.
    assert session_processes(worker["session_id"]) == []
    assert not Path(worker["temp_dir"]).exists()
    record = json.loads((multinode_cluster.home / "cluster.json").read_text())
    assert worker not in record["workers"] and len(record["workers"]) == 1

    records = [json.loads(line) for line in (first + rest).splitlines()]
    assert len(records) == len(lines), errors[-2000:]
    # An unacknowledged line may or may not have been applied: repeat it with its op id, as a
    # script would; the bank applies it once either way.
    for record in records:
        if record["exit"] != 0:
            assert record["exit"] == 4, record
            words = lines[record["line"] - 1].split()
            bank.json(*words)

    expected = {name: Decimal("100.00") for name in names}
    for name, amount in deposits.values():
        expected[name] += amount
    for source, target, value in transfers.values():
        expected[source] -= value
        expected[target] += value
    listing = bank.json("accounts")
    assert {row["name"]: Decimal(row["balance"]) for row in listing["accounts"]} == expected
    assert Decimal(listing["total"]) == sum(expected.values())
    for name in names:
        op_ids = [event["op_id"] for event in bank.json("history", name)["events"]
                  if event["type"] == "deposit"]
        assert len(op_ids) == len(set(op_ids)), f"a deposit applied twice to {name}"
        assert sorted(op_ids) == sorted(op for op, (who, _) in deposits.items() if who == name)
    assert bank.json("verify")["ok"] is True

    # The dead node is listed as such; every account answers on a live node.
    after = {node["node_id"]: node for node in nodes_of(bank)}
    assert after[victim["node_id"]]["alive"] is False
    assert after[victim["node_id"]]["killable"] is False
    assert {row["actor"]["node_id"] for row in listing["accounts"]} <= alive
    assert all(row["actor"]["restarts"] >= 1 for row in listing["accounts"]
               if row["name"] in on_victim)
    # Killed once, refused the second time.
    again = bank.json("kill-node", victim["node_id"], expect=2)
    assert again["error"]["code"] == "node-not-alive"



def test_a_hosted_bank_reached_through_address_survives_a_node_loss(
        multinode_cluster, tmp_path):
    """Runs after the test above: `up --nodes 3` first adds a worker back in its place."""
    owner = bank_on(multinode_cluster)
    with_three_nodes(owner)
    address = owner.json("status")["address"]
    home = tmp_path / "shared-home"
    home.mkdir(mode=0o700)
    # Another home, through --address: the cluster is not this home's own.
    bank = Raybank(home=home, namespace=owner.namespace, extra_env={
        "RAYBANK_NO_GATEWAY": "1", "RAY_AUTH_MODE": "token", "RAYBANK_HOSTS": "6",
        "RAY_AUTH_TOKEN_PATH": str(multinode_cluster.home / "cluster.token")})
    names = [f"acct{i}" for i in range(ACCOUNTS * 2)]
    opened = bank("--address", address, "--placement", "hosted", "batch", "-", "--json",
                  input="".join(f"create {name} --balance 100.00\n" for name in names))
    assert opened.code == 0, (opened.stdout, opened.stderr[-2000:])
    # Every other live node was asked to read a marker in the home, and did.
    nodes = bank.json("--address", address, "nodes")["nodes"]
    alive = [node for node in nodes if node["alive"]]
    checked = json.loads((home / "shared-check.json").read_text())
    assert len(checked) >= len(alive) - 1 and set(checked) <= {n["node_id"] for n in alive}
    assert bank.json("--address", address, "status")["placement"] == "hosted"
    assert sum(node["hosts"] for node in alive) == 6
    workers = [node for node in alive if not node["head"]]
    victim = max(workers, key=lambda node: node["hosts"])
    assert victim["hosts"], "no host actor lives on a worker"

    lines = [f"deposit {names[i % len(names)]} {i % 5 + 1} --op-id hd-{i}" for i in range(60)]
    batch = subprocess.Popen(bank.command("--address", address, "batch", "-", "--json"),
                             env=bank.env, text=True, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    feeder = threading.Thread(target=feed, args=(batch.stdin, lines, 0.1))
    feeder.start()
    with batch.stdout:
        first = batch.stdout.readline()
        assert feeder.is_alive(), "every line was sent before the kill: make it longer"
        killed = owner("kill-node", victim["node_id"][:12], "--json")
        feeder.join(timeout=CLI_TIMEOUT_S)
        rest = batch.stdout.read()
    batch.wait(timeout=CLI_TIMEOUT_S)
    assert killed.code == 0, (killed.stdout, killed.stderr[-2000:])

    for record in [json.loads(line) for line in (first + rest).splitlines()]:
        if record["exit"] != 0:  # outcome unknown: repeated with its op id, applied once
            assert record["exit"] == 4, record
            bank.json("--address", address, *lines[record["line"] - 1].split())
    expected = {name: Decimal("100.00") for name in names}
    for i in range(60):
        expected[names[i % len(names)]] += i % 5 + 1
    listing = bank.json("--address", address, "accounts")
    assert {row["name"]: Decimal(row["balance"]) for row in listing["accounts"]} == expected
    live_ids = {node["node_id"] for node in alive} - {victim["node_id"]}
    assert {row["actor"]["node_id"] for row in listing["accounts"]} <= live_ids
    assert bank.json("--address", address, "verify")["ok"] is True
    after = {node["node_id"]: node for node in bank.json("--address", address, "nodes")["nodes"]}
    assert after[victim["node_id"]]["alive"] is False
    assert sum(node["hosts"] for node in after.values() if node["alive"]) == 6


def test_simulate_with_node_chaos_loses_nodes_and_every_invariant_holds(multinode_cluster):
    bank = bank_on(multinode_cluster)
    with_three_nodes(bank)
    report = bank.json("simulate", "--accounts", "6", "--ops", "300", "--concurrency", "2",
                       "--node-chaos", "0.02", "--seed", "7")
    assert report["node_kills"] >= 1
    assert report["ok"] is True and all(report["invariants"].values()), report["invariants"]
    # Each lost worker was replaced (a replacement that could not start is reported, and
    # the run went on without it): three nodes live again once Ray has noticed the loss.
    expected = 3 - len(report["node_failures"])
    deadline = time.monotonic() + 60
    while (alive := sum(node["alive"] for node in nodes_of(bank))) != expected:
        assert time.monotonic() < deadline, (alive, report["node_failures"])
        time.sleep(1)

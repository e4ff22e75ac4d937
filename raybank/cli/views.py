"""How each command's result looks to a person: rich tables and lines, one view per result.

Only human output needs these (and rich): JSON output never imports this module, so a
script's `--json` command does not pay for rich.

No text is ever read as rich markup: names, namespaces, addresses and messages are the
user's own, and "[/x]" would be taken for a tag (an error, or a style). Tables take only
Text cells (PlainTable) and styles are set as styles, not as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from raybank.cli.charts import balance_summary, latency_chart, throughput_chart
from raybank.domain.money import format_money


def _money(value: Decimal | None) -> str:
    return "" if value is None else format_money(value)


def _short(node_id: str | None) -> str:
    return node_id[:8] if node_id else "-"


class PlainTable(Table):
    """A table whose string cells are plain text, never markup."""

    def add_row(self, *renderables: Any, **options: Any) -> None:
        super().add_row(*(Text(cell) if isinstance(cell, str) else cell
                          for cell in renderables), **options)


def _table(*columns: str, title: str | None = None) -> Table:
    # Collapsed padding: the accounts table has eight columns and must fit 80.
    table = PlainTable(*columns, title=None if title is None else Text(title, "table.title"),
                       box=box.SIMPLE_HEAVY, title_justify="left", collapse_padding=True)
    for column in table.columns:
        if column.header in ("Balance", "Minimum", "Amount", "Held", "Stored", "Live", "After"):
            column.justify = "right"
            # On a narrow terminal money wraps rather than end in "...": a cut-off balance
            # would show a different number.
            column.overflow = "fold"
    return table


def _duplicate_note(result: dict[str, Any]) -> list[Any]:
    """A line for a repeated op id: the command was answered from the record, not run."""
    if not result.get("duplicate"):
        return []
    return [Text("Already applied: this op id was seen before; nothing changed.",
                 style="yellow")]


def account_view(result: dict[str, Any]) -> list[Any]:
    table = _table("Account", "Balance", "Minimum")
    table.add_row(result["name"], _money(result["balance"]), _money(result["min_balance"]))
    return [table, *_duplicate_note(result)]


def _actor_cells(actor: dict[str, Any]) -> tuple[Text, str, str, str]:
    state_style = {"ALIVE": "green", "RESTARTING": "yellow", "DEAD": "red"}.get(
        actor["state"], "dim")
    return (Text(actor["state"], style=state_style), str(actor["pid"] or "-"),
            _short(actor["node_id"]), str(actor["restarts"]))


def _hosts(rows: list[dict[str, Any]]) -> list[str]:
    """The "Host" column in hosted placement (each actor info names its host), else none."""
    return ["Host"] if any(row["actor"].get("host") for row in rows) else []


def _host_cell(actor: dict[str, Any], hosts: list[str]) -> list[str]:
    # "host-2" for raybank:host-2: the table has nine columns to fit in 80.
    return [(actor.get("host") or "-").removeprefix("raybank:")] if hosts else []


# Beyond this many rows a table would be laid out whole before its first line shows (and
# hold every cell in memory): a bigger listing prints one plain line per account instead.
TABLE_ROWS = 1000


def accounts_view(result: dict[str, Any]) -> list[Any]:
    rows = result["accounts"]
    count = result.get("count", len(rows))
    hosts = _hosts(rows)
    title = f"{count} accounts" if len(rows) == count else f"first {len(rows)} of {count} accounts"
    total = result.get("total")
    ending = [Text(f"{count} accounts, total {_money(total)}"
                   + (f" (showing the first {len(rows)}; see --limit)" if len(rows) < count
                      else ""), style="bold")] if total is not None else []
    if len(rows) > TABLE_ROWS:
        summary = balance_summary(rows, total) if len(rows) == count else []
        return [*summary, Text(title, "table.title"),
                *_plain_rows(rows, hosts), *ending]
    table = _table("Account", "Balance", "Minimum", "State", "PID", "Node", "Restarts",
                   *hosts, "Calls", title=title)
    for row in rows:
        calls = "\n".join(f"{k} {v}" for k, v in sorted(row.get("calls", {}).items()))
        table.add_row(row["name"], _money(row["balance"]), _money(row["min_balance"]),
                      *_actor_cells(row["actor"]), *_host_cell(row["actor"], hosts),
                      calls or "-")
    if total is not None:
        # Styled, under a rule: an account may itself be named "Total".
        table.add_section()
        table.add_row(Text("Total", style="bold"), Text(_money(total), style="bold"))
    summary = balance_summary(rows, total) if len(rows) == count else []
    return [*summary, table, *ending]


def _plain_rows(rows: list[dict[str, Any]], hosts: list[str]) -> list[str]:
    """One line per account, written verbatim (never read as markup), columns aligned."""
    width = max(len(row["name"]) for row in rows)
    money = max(len(_money(row["balance"])) for row in rows)
    lines = []
    for row in rows:
        actor = row["actor"]
        cells = [row["name"].ljust(width), _money(row["balance"]).rjust(money),
                 _money(row["min_balance"]), actor["state"], str(actor["pid"] or "-"),
                 _short(actor["node_id"]), str(actor["restarts"]), *_host_cell(actor, hosts)]
        lines.append("  ".join(cells) + "\n")
    return lines


def kill_view(result: dict[str, Any]) -> list[Any]:
    rows = [result[label] for label in ("before", "after") if result[label] is not None]
    hosts = _hosts(rows)
    table = _table("", "Balance", "Minimum", "State", "PID", "Node", "Restarts", *hosts,
                   title=f"kill {result['name']}" + (" --restart" if result["restarted"] else ""))
    for label in ("before", "after"):
        row = result[label]
        if row is not None:
            table.add_row(label, _money(row["balance"]), _money(row["min_balance"]),
                          *_actor_cells(row["actor"]), *_host_cell(row["actor"], hosts))
    verdict = (Text("State recovered from storage.", style="green") if result["recovered"]
               else Text("State differs after the kill!", style="bold red"))
    return [table, verdict]


def history_view(result: dict[str, Any]) -> list[Any]:
    table = _table("Seq", "At", "Type", "Amount", "Balance", "Op id",
                   title=f"history of {result['name']}")
    for event in result["events"]:
        table.add_row(str(event["seq"]), event["at"][:19].replace("T", " "), event["type"],
                      _money(event["amount"]), _money(event["balance"]), event["op_id"])
    return [table]


def transfer_view(result: dict[str, Any]) -> list[Any]:
    table = _table("", "Account", "Balance", "Minimum",
                   title=f"transfer {_money(result['amount'])} ({result['transfer_id']})")
    for label in ("from", "to"):
        side = result[label]
        table.add_row(label, side["name"], _money(side["balance"]), _money(side["min_balance"]))
    return [table, *_duplicate_note(result)]


def verify_view(result: dict[str, Any]) -> list[Any]:
    if result["ok"]:
        return [Text(f"All {result['checked']} accounts match their storage.", style="green")]
    table = _table("Account", "Stored", "Live", "What differs", title="mismatches")
    for row in result["mismatches"]:
        table.add_row(row["name"], _money(row["stored"]), _money(row["live"]), row["what"])
    return [table]


def status_view(result: dict[str, Any]) -> list[Any]:
    table = _table("Cluster", "Address", "Namespace", "Accounts", "Placement")
    table.add_row(Text("running", style="green") if result["running"]
                  else Text("stopped", style="red"),
                  result["address"] or "-", result["namespace"], str(result["accounts"]),
                  result["placement"])
    return [table]


def up_view(result: dict[str, Any]) -> list[Any]:
    verb = "Started" if result["started"] else "Already running:"
    nodes = result.get("nodes", 1)
    across = f" ({nodes} nodes)" if nodes > 1 else ""
    lines = [Text(f"{verb} raybank cluster at {result['address']}{across}")]
    if result.get("dashboard_url"):
        lines.append(Text(f"Dashboard: {result['dashboard_url']} (its token is in "
                          f"{result['token_path']})"))
    return lines


def down_view(result: dict[str, Any]) -> list[Any]:
    return [Text("Stopped raybank's cluster." if result["stopped"]
                 else "raybank's cluster was not running.")]


def nodes_view(result: dict[str, Any]) -> list[Any]:
    table = _table("Node", "Role", "State", "Address", "Accounts", "Hosts", "Services",
                   title=f"{len(result['nodes'])} nodes")
    for node in result["nodes"]:
        state = (Text("alive", style="green") if node["alive"]
                 else Text("dead", style="red"))
        table.add_row(node["node_id"][:12], "head" if node["head"] else "worker", state,
                      node["address"], str(node["accounts"]), str(node.get("hosts", 0)),
                      "\n".join(node.get("services", [])) or "-")
    return [table]


def kill_node_view(result: dict[str, Any]) -> list[Any]:
    table = _table("Account", "Balance", "Node", "After", "Node after", "Restarts",
                   title=f"kill-node {_short(result['node_id'])}")
    for before, after in zip(result["before"], result["after"], strict=True):
        table.add_row(before["name"], _money(before["balance"]),
                      _short(before["actor"]["node_id"]), _money(after["balance"]),
                      _short(after["actor"]["node_id"]), str(after["actor"]["restarts"]))
    count = len(result["before"])
    verdict = (Text(f"Node killed; its {count} accounts answered again on live nodes after "
                    f"{result['seconds']:.1f} s, balances unchanged.", style="green")
               if result["recovered"] else
               Text("Node killed; a balance changed meanwhile (another client was writing).",
                    style="yellow"))
    return [table, verdict]


def demo_view(result: dict[str, Any]) -> list[Any]:
    views: list[Any] = []
    for step in result["steps"]:
        views.append(Text(f"$ raybank {step['command']}", style="bold cyan"))
        if "error" in step:
            views.append(Text(f"refused: {step['error']['message']}", style="yellow"))
        else:
            views.extend(VIEWS[step["view"]](step["result"]))
    views.append(Text("Demo complete: every step behaved as expected." if result["ok"]
                      else "Demo found a problem.", style="green" if result["ok"] else "red"))
    return views


def simulate_view(result: dict[str, Any]) -> list[Any]:
    table = _table("Measure", "Value", title=f"simulation {result['namespace']} "
                   f"(seed {result['seed']})")
    memory = result["memory_mb_per_actor"]
    for label, value in (
        ("accounts", result["accounts"]), ("operations", result["ops"]),
        ("refused by rules", result["refused"]), ("retried (outcome unknown)", result["retried"]),
        ("seconds", f"{result['seconds']:.2f}"), ("ops/s", f"{result['ops_per_s']:.0f}"),
        ("latency p50 / p99 ms",
         f"{result['latency_ms']['p50']:.1f} / {result['latency_ms']['p99']:.1f}"),
        ("actors killed", result["kills"]), ("actor restarts", result["restarts"]),
        *([("nodes killed (and replaced)", result["node_kills"])]
          if result.get("node_chaos") else []),
        ("placement", result.get("placement", "actor")),
        ("memory per " + ("host actor" if result.get("placement") == "hosted"
                          else "account actor"), "-" if memory is None else f"{memory:.0f} MB"),
        ("activations / evictions",
         f"{result.get('activations', 0)} / {result.get('evictions', 0)}"),
        ("calls by method", ", ".join(f"{k} {v}" for k, v in result["calls"].items()) or "-"),
    ):
        table.add_row(label, str(value))
    checks = _table("Invariant", "Held")
    for name, held in result["invariants"].items():
        checks.add_row(name.replace("_", " "), Text("yes", style="green") if held
                       else Text("NO", style="bold red"))
    verdict = (Text("All invariants held.", style="green") if result["ok"]
               else Text("An invariant failed!", style="bold red"))
    charts = []
    if result.get("latency_histogram"):
        charts.append(latency_chart(result["latency_histogram"]))
    if result.get("throughput"):
        charts.append(throughput_chart(result["throughput"]))
    return [table, *charts, checks, verdict]


def env_view(result: dict[str, Any]) -> list[Any]:
    """Plain lines for `eval`: a str is written as it is (Renderer.result)."""
    from raybank.cluster.environment import shell_lines

    return [shell_lines(result)]


VIEWS: dict[str, Callable[[dict[str, Any]], list[Any]]] = {
    "account": account_view, "accounts": accounts_view, "kill": kill_view,
    "history": history_view, "transfer": transfer_view, "verify": verify_view,
    "status": status_view, "up": up_view, "down": down_view, "demo": demo_view,
    "simulate": simulate_view, "env": env_view, "nodes": nodes_view,
    "kill-node": kill_node_view,
}

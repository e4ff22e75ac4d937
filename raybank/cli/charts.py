"""Pictures in the terminal: horizontal bars of block characters, in rich tables.

Plain text, so they read the same in a terminal, in a log and in the SVG that
`simulate --plot` saves (rich's recorded console): no plotting dependency. Every cell is a
Text, never markup.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from raybank.domain.money import format_money

BAR_WIDTH = 40
BALANCE_BINS = 8
SUMMARY_FROM = 20  # `accounts` shows the distribution above tables this long


def bar(value: float, peak: float, width: int = BAR_WIDTH) -> Text:
    """A bar ``value/peak`` of ``width`` cells; a sliver for any value above zero."""
    cells = round(width * value / peak) if peak > 0 else 0
    return Text("█" * cells or ("▏" if value > 0 else ""), style="cyan")


def bar_chart(title: str, label: str, value: str, rows: list[tuple[str, float, str]]
              ) -> Table:
    """One bar per ``(label, value, value as shown)`` row, scaled to the largest."""
    # The headers are raybank's own words (never the user's), so plain strings are safe.
    table = Table(label, value, "", box=box.SIMPLE_HEAVY,
                  title=Text(title, "table.title"), title_justify="left",
                  collapse_padding=True)
    table.columns[1].justify = "right"
    peak = max((number for _, number, _ in rows), default=0)
    for row_label, number, shown in rows:
        table.add_row(Text(row_label), Text(shown), bar(number, peak))
    return table


def latency_chart(histogram: list[dict[str, Any]]) -> Table:
    rows = [(f"{b['from_ms']:.1f}-{b['to_ms']:.1f}", b["count"], str(b["count"]))
            for b in histogram]
    return bar_chart("latency (ms)", "ms", "ops", rows)


def throughput_chart(series: list[dict[str, Any]]) -> Table:
    rows = [(f"{point['at_s']:.1f}", point["ops_per_s"], f"{point['ops_per_s']:.0f}")
            for point in series]
    return bar_chart("throughput over time", "at s", "ops/s", rows)


def balance_summary(rows: list[dict[str, Any]], total: Decimal | None) -> list[Any]:
    """Count, total, lowest, median, highest and a histogram of balances, for a listing
    too long to take in row by row."""
    balances = sorted(row["balance"] for row in rows)
    if len(balances) < SUMMARY_FROM:
        return []
    low, high = balances[0], balances[-1]
    facts = (f"{len(balances)} accounts, total {format_money(total) if total is not None else '-'}"
             f"; lowest {format_money(low)}, median {format_money(balances[len(balances) // 2])}"
             f", highest {format_money(high)}")
    width = (high - low) / BALANCE_BINS
    counts = [0] * BALANCE_BINS
    for balance in balances:
        step = int((balance - low) / width) if width else 0
        counts[min(step, BALANCE_BINS - 1)] += 1
    if not width:
        counts, edges = [len(balances)], [low, high]
    else:
        edges = [low + width * step for step in range(BALANCE_BINS)] + [high]
    chart = bar_chart("balances", "from", "accounts",
                      [(format_money(edges[i].quantize(Decimal("0.01"))), counts[i],
                        str(counts[i])) for i in range(len(counts))])
    return [Text(facts), chart]

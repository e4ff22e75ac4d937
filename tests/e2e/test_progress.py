"""Progress bars: on stderr when it is a terminal (a pseudo-terminal here), never on stdout
and never in a pipe."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import termios

import pytest

from tests.support.cli import CLI_TIMEOUT_S, Raybank

pytestmark = pytest.mark.ray

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_on_a_terminal(bank: Raybank, *args: str) -> tuple[int, str, str]:
    """Run raybank with stderr on a pseudo-terminal and stdout on a pipe."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    process = subprocess.Popen(bank.command(*args), env=bank.env, stdout=subprocess.PIPE,
                               stderr=slave, stdin=subprocess.DEVNULL)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError as error:  # EIO: every copy of the terminal's other end is closed
            if error.errno != errno.EIO:
                raise
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    stdout = process.stdout.read().decode()
    process.stdout.close()
    return process.wait(timeout=CLI_TIMEOUT_S), stdout, ANSI.sub("", seen.decode())


def batch_file(tmp_path, lines: int):
    path = tmp_path / "ops.txt"
    commands = ["create a --balance 10"] + [f"deposit a 1.00 --op-id d{i}" for i in range(lines)]
    # verify runs alone inside the batch: it must not draw a bar of its own over batch's.
    path.write_text("\n".join([*commands, "verify", "withdraw a 99999.00"]) + "\n")
    return path, len(commands) + 2


def test_batch_draws_its_bar_on_a_terminal_and_keeps_stdout_pure_json(driver_bank, tmp_path):
    path, total = batch_file(tmp_path, 40)
    code, stdout, terminal = run_on_a_terminal(driver_bank, "batch", str(path))
    assert code == 1  # the last line is refused
    records = [json.loads(line) for line in stdout.splitlines()]
    assert [r["line"] for r in records] == list(range(1, total + 1))
    assert f"{total}/{total} lines" in terminal
    assert "lines/s" in terminal and "1 failed" in terminal
    assert "mismatched" not in terminal  # the verify line drew no bar of its own


def test_no_bar_when_stderr_is_not_a_terminal(driver_bank, tmp_path):
    path, total = batch_file(tmp_path, 5)
    result = driver_bank("batch", str(path))
    assert result.code == 1
    assert len(result.stdout.splitlines()) == total
    assert "lines/s" not in result.stderr and "lines/s" not in result.stdout


def test_verify_counts_accounts_on_a_terminal(driver_bank):
    for name in ("a", "b", "c"):
        driver_bank.json("create", name)
    code, stdout, terminal = run_on_a_terminal(driver_bank, "verify")
    assert code == 0
    assert "3/3 accounts" in terminal and "0 mismatched" in terminal
    assert "accounts/s" not in stdout

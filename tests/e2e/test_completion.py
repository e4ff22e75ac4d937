"""Shell completion: account names come from the namespace's folder, with no Ray and no
cluster (the real command, as bash's completion function runs it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from raybank.storage import layout

PROBE = ("import sys, runpy; sys.argv = ['raybank']\n"
         "try:\n    runpy.run_module('raybank', run_name='__main__')\n"
         "except SystemExit:\n"
         "    assert 'ray' not in sys.modules, 'ray was imported'\n"
         "    raise\n")


def make_accounts(home: Path, namespace: str, *names: str) -> None:
    """Account folders as storage lays them out: completion reads their names only."""
    for name in names:
        (layout.accounts_root(home, namespace) / layout.folder_name(name)).mkdir(parents=True)


def complete(home: Path, words: str, namespace: str = "raybank") -> list[str]:
    """What bash would offer for the last word of ``words`` (as `--show-completion` wires)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY")}
    env.update(RAYBANK_HOME=str(home), RAYBANK_NAMESPACE=namespace,
               _RAYBANK_COMPLETE="complete_bash", COMP_WORDS=words,
               COMP_CWORD=str(len(words.split()) - (0 if words.endswith(" ") else 1)))
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_a_partial_name_completes_to_the_accounts_it_starts(tmp_path):
    make_accounts(tmp_path, "raybank", "alice", "alfred", "bob")
    (layout.accounts_root(tmp_path, "raybank") / ".staging-alex").mkdir()  # being created
    make_accounts(tmp_path, "other", "alma")
    assert complete(tmp_path, "raybank balance al") == ["alfred", "alice"]
    assert complete(tmp_path, "raybank transfer alice b") == ["bob"]
    assert complete(tmp_path, "raybank deposit ") == ["alfred", "alice", "bob"]
    assert complete(tmp_path, "raybank history al", namespace="other") == ["alma"]
    assert complete(tmp_path, "raybank --namespace other kill a") == ["alma"]


def test_completion_needs_no_data_folder_and_creates_none(tmp_path):
    home = tmp_path / "never-used"
    assert complete(home, "raybank withdraw a") == []
    assert not home.exists()


def test_the_install_and_show_completion_options_are_offered():
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    shown = subprocess.run([sys.executable, "-m", "raybank", "--show-completion", "bash"],
                           env=env, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert "_RAYBANK_COMPLETE=complete_bash" in shown.stdout

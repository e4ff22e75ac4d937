"""The layers are a test: import-linter checks the contracts in pyproject.toml.

Layers one way (gateway, cli, scenarios, service, actors, routing/cluster/testing, storage,
domain), the CLI never reaching storage, actors or routing directly, a domain free of Ray,
Typer, Rich and cloudpickle, and no import cycle in any package (imports inside functions
count). docs/design.md draws the same picture.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_import_contracts_hold() -> None:
    # A child process: the linter builds its import graph from the source tree, not from
    # what this test session happens to have imported.
    done = subprocess.run(
        [sys.executable, "-c",
         "import sys; from importlinter.cli import lint_imports; "
         "sys.exit(lint_imports(no_cache=True, no_logo=True))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

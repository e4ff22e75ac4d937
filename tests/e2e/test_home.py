"""The home folder (--home / RAYBANK_HOME): raybank never changes the mode of a folder it
did not create, and refuses one that others can write. Ray-free: `status` needs no cluster."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from tests.support.cli import Raybank


def local(home: Path) -> Raybank:
    return Raybank(home=home, namespace="raybank", extra_env={"RAYBANK_NO_GATEWAY": "1"})


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_folder_others_may_read_keeps_its_mode_and_raybank_keeps_its_files_private(
        tmp_path: Path) -> None:
    home = tmp_path / "shared"
    home.mkdir()
    home.chmod(0o755)
    assert local(home).json("status")["running"] is False
    assert mode(home) == 0o755
    for entry in home.iterdir():  # what raybank made inside it is private
        assert mode(entry) & 0o077 == 0, entry


@pytest.mark.parametrize("folder_mode", [0o1777, 0o777, 0o775])
def test_a_folder_others_may_write_is_refused_and_left_as_it_was(
        tmp_path: Path, folder_mode: int) -> None:
    home = tmp_path / "open"
    home.mkdir()
    home.chmod(folder_mode)
    refused = local(home).json("status", expect=2)
    assert refused["error"]["code"] == "invalid-home"
    assert str(home) in refused["error"]["message"]
    assert mode(home) == folder_mode
    assert list(home.iterdir()) == []  # nothing written into it either
    human = local(home)("status")
    assert human.code == 2 and human.stdout == "" and "Error:" in human.stderr


def test_a_missing_home_and_its_missing_parents_are_created_private(tmp_path: Path) -> None:
    home = tmp_path / "new" / "deeper" / "home"
    old_mask = os.umask(0o022)
    try:
        assert local(home).json("status")["accounts"] == 0
    finally:
        os.umask(old_mask)
    for folder in (tmp_path / "new", tmp_path / "new" / "deeper", home):
        assert mode(folder) == 0o700, folder

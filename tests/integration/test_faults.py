"""The one fault-injection aid: armed per home, only by a process that enables it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from raybank.testing import faults
from raybank.testing.faults import CATALOG, ENABLE_ENV, ENABLED, FaultsDisabled, arm

README = Path(__file__).resolve().parents[2] / "README.md"


def test_arming_is_refused_unless_this_process_enables_fault_injection(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(ENABLE_ENV, raising=False)
    with pytest.raises(FaultsDisabled, match=ENABLE_ENV):
        arm(tmp_path, "transfer-after-hold", "coordinator")
    monkeypatch.setenv(ENABLE_ENV, "yes")
    with pytest.raises(FaultsDisabled):
        arm(tmp_path, "transfer-after-hold", "coordinator")
    assert list(tmp_path.iterdir()) == []  # nothing armed, not even the folder
    monkeypatch.setenv(ENABLE_ENV, ENABLED)
    assert arm(tmp_path, "transfer-after-hold", "coordinator").is_file()


@pytest.mark.usefixtures("fault_injection")
def test_unknown_steps_and_subjects_that_are_no_plain_name_are_refused(tmp_path: Path):
    for step, subject in [("after-hold", "coordinator"), ("transfer-after-lunch", "a"),
                          ("before-append", ""), ("before-append", "../a"),
                          ("before-append", ".hidden")]:
        with pytest.raises(ValueError):
            arm(tmp_path, step, subject)
    assert not (tmp_path / faults.FAULTS_DIR).exists()


@pytest.mark.usefixtures("fault_injection")
def test_a_fault_fires_once_for_its_subject_and_a_sticky_one_holds_until_removed(
        tmp_path: Path):
    arm(tmp_path, "transfer-after-credit", "bob")
    assert not faults.fires(tmp_path, "transfer-after-credit", "alice")
    assert not faults.fires(tmp_path, "transfer-before-settle", "bob")
    assert faults.fires(tmp_path, "transfer-after-credit", "bob")
    assert not faults.fires(tmp_path, "transfer-after-credit", "bob")
    marker = arm(tmp_path, "fail-transfer_out", "alice")
    assert faults.armed(tmp_path, "fail-transfer_out", "alice")
    assert faults.armed(tmp_path, "fail-transfer_out", "alice")
    assert not faults.armed(tmp_path, "fail-release", "alice")
    marker.unlink()
    assert not faults.armed(tmp_path, "fail-transfer_out", "alice")


def test_every_step_is_documented_in_the_readme():
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Fault injection"):]
    section = section[:section.index("\n## ", 1)]
    documented = set(re.findall(r"`([a-z_-]+)`", section))
    assert set(CATALOG) <= documented, set(CATALOG) - documented

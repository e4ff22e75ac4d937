"""Namespaces follow the account-name rules, from --namespace and RAYBANK_NAMESPACE alike,
and no user text is ever read as rich markup. Ray-free: `status` needs no cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from raybank.scenarios.demo import DEMO_PREFIX
from raybank.domain.errors import InvalidInput
from raybank.domain.names import new_op_id, validate_namespace
from raybank.scenarios.workload import SIMULATION_PREFIX
from tests.support.cli import Raybank

BAD = ["[/x]", "", "a" * 65, "a" * 200, "../up", ".hidden", "-x", "a b", "a/b", "é"]


@pytest.mark.parametrize("namespace", ["raybank", "test-0f3a", "A_1.b", "n" * 64])
def test_valid_namespaces(namespace: str) -> None:
    assert validate_namespace(namespace) == namespace


@pytest.mark.parametrize("namespace", BAD)
def test_invalid_namespaces_exit_2(namespace: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        validate_namespace(namespace)
    assert (raised.value.exit_code, raised.value.code) == (2, "invalid-namespace")


def test_raybanks_own_namespaces_follow_the_same_rules() -> None:
    from raybank.gateway.server import NAMESPACE as GATEWAY_NAMESPACE  # imports Ray

    for namespace in (f"{DEMO_PREFIX}{new_op_id()[:8]}", f"{SIMULATION_PREFIX}{new_op_id()[:8]}",
                      GATEWAY_NAMESPACE, "raybank"):
        assert validate_namespace(namespace) == namespace


def local(home: Path, namespace: str) -> Raybank:
    return Raybank(home=home, namespace=namespace, extra_env={"RAYBANK_NO_GATEWAY": "1"})


@pytest.mark.parametrize("namespace", ["[/x]", "a" * 200, "../up"])
def test_an_invalid_namespace_is_refused_from_the_environment_and_the_option(
        tmp_path: Path, namespace: str) -> None:
    from_env = local(tmp_path / "home", namespace).json("status", expect=2)
    assert from_env["error"]["code"] == "invalid-namespace"
    option = local(tmp_path / "home", "raybank")("--namespace", namespace, "status", "--json")
    assert option.code == 2 and option.json == from_env
    assert not (tmp_path / "home" / "namespaces").exists() or not any(
        (tmp_path / "home" / "namespaces").iterdir())


def test_an_empty_namespace_option_is_refused(tmp_path: Path) -> None:
    result = local(tmp_path / "home", "raybank")("--namespace", "", "status", "--json")
    assert result.code == 2 and result.json["error"]["code"] == "invalid-namespace"


def test_markup_in_a_namespace_is_shown_as_typed_for_people(tmp_path: Path) -> None:
    result = local(tmp_path / "home", "[/x]")("status")
    assert result.code == 2 and result.stdout == ""
    assert "'[/x]'" in result.stderr and "Traceback" not in result.stderr

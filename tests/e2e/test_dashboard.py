"""`raybank up --dashboard`: Ray's dashboard on loopback with the `dashboard` extra, and a
clear refusal without it (CI does not install the extra, so the positive path is skipped)."""

from __future__ import annotations

import urllib.request

import pytest

from raybank.cluster.embedded import dashboard_installed
from tests.support.cli import Raybank


@pytest.mark.skipif(dashboard_installed(), reason="the dashboard extra is installed")
def test_without_the_extra_up_dashboard_names_what_to_install_and_starts_nothing(tmp_path):
    bank = Raybank(home=tmp_path / "home", namespace="raybank")
    refused = bank.json("up", "--dashboard", expect=2)
    assert refused["error"]["code"] == "missing-extra"
    assert "pip install 'raybank[dashboard]'" in refused["error"]["message"]
    assert not (tmp_path / "home" / "cluster.json").exists()
    shown = bank("up", "--dashboard")
    assert shown.code == 2 and "pip install 'raybank[dashboard]'" in shown.stderr


@pytest.mark.ray
@pytest.mark.skipif(not dashboard_installed(), reason="needs pip install 'raybank[dashboard]'")
def test_with_the_extra_the_dashboard_answers_on_loopback(tmp_path):
    bank = Raybank(home=tmp_path / "home", namespace="raybank")
    try:
        up = bank.json("up", "--dashboard")
        url = up["dashboard_url"]
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status in (200, 401)  # Ray may ask the browser for the token
    finally:
        assert bank("down", "--json").code == 0


@pytest.mark.ray
@pytest.mark.skipif(not dashboard_installed(), reason="needs pip install 'raybank[dashboard]'")
def test_a_cluster_running_without_the_dashboard_says_how_to_get_it(session_cluster):
    refused = session_cluster.json("up", "--dashboard", expect=2)
    assert "raybank down" in refused["error"]["message"]

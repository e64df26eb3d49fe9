"""``modelreg ui``: starts ``streamlit run app.py`` with MODELREG_CATALOG set, or says clearly why it cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from registry_core import cli as cli_module

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def launched(monkeypatch):
    calls = []

    def fake_run(command, env, check):
        calls.append((command, env))
        return subprocess.CompletedProcess(command, 0)

    monkeypatch.setattr(subprocess, "run", fake_run)
    return calls


def test_ui_runs_streamlit_on_the_catalog(empty_catalog, cli, launched):
    result = cli("ui", "--port", "8765", "--headless", user="alice@example.com")
    assert result.code == 0, result.err
    command, env = launched[0]
    assert command[:4] == [sys.executable, "-m", "streamlit", "run"]
    assert Path(command[4]) == REPO / "app.py"
    assert command[command.index("--server.port") + 1] == "8765"
    assert command[command.index("--server.headless") + 1] == "true"
    assert env["MODELREG_CATALOG"] == str(empty_catalog.root.resolve())
    assert env["MODELREG_USER"] == "alice@example.com"


def test_ui_refuses_a_missing_catalog(tmp_path, cli, launched):
    result = cli("ui", catalog=tmp_path / "nowhere")
    assert result.code == 1
    assert "no catalog at" in result.err and launched == []


def test_ui_says_where_app_py_was_expected(empty_catalog, cli, launched, monkeypatch, tmp_path):
    # an install without the checkout: the package sits alone in site-packages
    monkeypatch.setattr(cli_module, "__file__", str(tmp_path / "site-packages" / "registry_core" / "cli.py"))
    result = cli("ui")
    assert result.code == 1 and launched == []
    assert "dashboard not found: expected" in result.err and "pip install -e ." in result.err


def test_dashboard_app_is_found_from_the_checkout():
    assert cli_module.dashboard_app() == REPO / "app.py"

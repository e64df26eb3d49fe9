"""``modelreg ui``: starts ``streamlit run app.py`` with MODELREG_CATALOG set, or says clearly why it cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from registry_core.cli import commands_dashboard as cli_module

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def launched(monkeypatch):
    calls = []

    class FakePopen:
        def __init__(self, command, env):
            calls.append((command, env))

        def wait(self):
            return 0

    monkeypatch.setattr(subprocess, "Popen", FakePopen)
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
    alone = tmp_path / "site-packages" / "registry_core" / "cli" / "commands_dashboard.py"
    monkeypatch.setattr(cli_module, "__file__", str(alone))
    result = cli("ui")
    assert result.code == 1 and launched == []
    assert "dashboard not found: expected" in result.err and "pip install -e ." in result.err


def test_dashboard_app_is_found_from_the_checkout():
    assert cli_module.dashboard_app() == REPO / "app.py"


def test_stopping_ui_stops_the_streamlit_server(empty_catalog, tmp_path):
    """SIGTERM to ``modelreg ui`` reaches the Streamlit child: the port closes and both processes exit."""
    import os
    import signal
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (tmp_path / "ui.log").open("w")
    env = {**os.environ, "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "registry_core.cli", "--catalog", str(empty_catalog.root), "ui",
                             "--port", str(port), "--headless"], stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/_stcore/health"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if urllib.request.urlopen(url, timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "ui.log").read_text()
            time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)  # to modelreg only, not its process group
        assert proc.wait(timeout=20) == 0
        with pytest.raises(OSError):
            urllib.request.urlopen(url, timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()

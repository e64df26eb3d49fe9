"""``modelreg ui``: run the Streamlit dashboard (``app.py`` of the checkout) on this catalog, and stop it
when the command is stopped."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from registry_core.catalog import Catalog
from registry_core.errors import NotFound


def dashboard_app() -> Path:
    """The dashboard's app.py: it ships in the source checkout, next to this package (``pip install -e .``)."""
    app = Path(__file__).resolve().parents[2] / "app.py"  # registry_core/cli/this.py -> the checkout
    if not app.is_file():
        raise NotFound(f"dashboard not found: expected {app} (the dashboard ships with the source checkout; "
                       "install modelreg from it with 'pip install -e .')")
    return app


def cmd_ui(args: argparse.Namespace, cat: Catalog) -> int:
    import importlib.util
    import os
    import subprocess

    app = dashboard_app()
    if importlib.util.find_spec("streamlit") is None:
        raise NotFound("the dashboard needs streamlit: pip install 'streamlit>=1.40,<2'")
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.address", args.address, "--browser.gatherUsageStats", "false"]
    if args.headless:
        command += ["--server.headless", "true"]
    env = {**os.environ, "MODELREG_CATALOG": str(cat.root.resolve())}
    if args.user:
        env["MODELREG_USER"] = args.user
    return run_child(subprocess.Popen(command, env=env))


def run_child(child) -> int:
    """Wait for the dashboard's server, passing SIGTERM, SIGINT and SIGHUP on to it.

    Stopping ``modelreg ui`` (Ctrl-C, ``kill``, a service manager) must stop the Streamlit server too,
    not leave it serving, re-parented to PID 1.  A second signal kills the child outright.
    """
    import signal

    received: list[int] = []

    def forward(signum: int, _frame: Any) -> None:
        received.append(signum)
        child.send_signal(signal.SIGKILL if len(received) > 1 else signum)

    forwarded = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
    previous = {s: signal.signal(s, forward) for s in forwarded}
    try:
        code = child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return 0 if received and code in (0, *(-s for s in (*forwarded, signal.SIGKILL))) else code

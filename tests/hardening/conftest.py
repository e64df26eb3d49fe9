"""Hardening fixtures: a hard time limit per test, the corpus base catalog, and the figures report.

Every test gets a deadline: SIGALRM fails it (a hang is a failure, not a stuck run), and a
faulthandler backstop kills the whole run with tracebacks if even that cannot interrupt it (a hang
inside C code).  Tests record figures (cases, kill points, processes, operations) with the
``figures`` fixture; they are printed at the end of ``python -m pytest tests/hardening``.
"""

from __future__ import annotations

import faulthandler
import signal
import time
from pathlib import Path

import pytest

from .corpus import build_base

DEFAULT_LIMIT_S = 60
_FIGURES: dict[str, object] = {}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "time_limit(seconds): fail the test if it runs longer (default 60 s)")


@pytest.fixture(autouse=True)
def time_limit(request: pytest.FixtureRequest):
    marker = request.node.get_closest_marker("time_limit")
    limit = marker.args[0] if marker else DEFAULT_LIMIT_S

    def expired(signum, frame):
        raise TimeoutError(f"{request.node.nodeid} ran longer than {limit} s (hang?)")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, limit)
    faulthandler.dump_traceback_later(limit + 60, exit=True)
    try:
        yield limit
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="session")
def base_catalog(tmp_path_factory) -> Path:
    """The healthy catalog every corpus case starts from (built once, copied per case)."""
    where = tmp_path_factory.mktemp("corpus-base")
    build_base(where / "catalog", where / "scratch")
    return where / "catalog"


@pytest.fixture(scope="session")
def figures() -> dict[str, object]:
    """Figures for the final report: ``figures["processes raced"] = 12``; counters are summed."""
    return _FIGURES


def add_figure(name: str, value: int | float) -> None:
    _FIGURES[name] = _FIGURES.get(name, 0) + value  # type: ignore[operator]


def max_figure(name: str, value: int | float) -> None:
    """A figure that keeps the largest value recorded (a peak, the slowest run)."""
    _FIGURES[name] = max(_FIGURES.get(name, value), value)  # type: ignore[type-var]


_START = time.monotonic()


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("hardening figures")
    for name, value in _FIGURES.items():
        terminalreporter.write_line(f"{name:<48} {value}")
    terminalreporter.write_line(f"{'wall time of this run (s)':<48} {time.monotonic() - _START:.1f}")

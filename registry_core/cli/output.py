"""What every command prints through: one line of stdout, an upload progress bar, a gate checklist."""

from __future__ import annotations

import sys
import time


def out(text: str) -> None:
    print(text)


def progress_bar():
    """A one-line upload progress bar on stderr, only when stderr is a terminal (never in logs or pipes)."""
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()

    def show(name: str, done: int, total: int) -> None:
        rate = done / max(time.monotonic() - started, 1e-6) / 1e6
        percent = 100 * done // total if total else 100
        sys.stderr.write(f"\r\x1b[Kuploading {name[-40:]}: {percent:3d}% of {total / 1e6:,.1f} MB, {rate:,.0f} MB/s")
        if done >= total:
            sys.stderr.write("\n")
        sys.stderr.flush()

    return show


def checklist(gates: list[dict]) -> str:
    if not gates:
        return "  (no gates)"
    return "\n".join(f"  [{'x' if g['passed'] else ' '}] {g['gate']}: {g['message']}" for g in gates)

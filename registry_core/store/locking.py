"""Per-model advisory locks, so lifecycle decisions of concurrent writers are serialized.

The lock only orders decisions (so a gate or approval count is evaluated on
fresh state); correctness of the files themselves comes from write-once
events, so a stale lock can never corrupt anything.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

from registry_core.store.cachedir import check_writable_cache


@contextlib.contextmanager
def model_lock(cache: Path, model: str) -> Iterator[None]:
    check_writable_cache(cache)  # a linked .modelreg is never followed, not even for a lock file
    folder = cache / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{model.lower()}.lock", "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

"""This process's DuckDB instance, shared by every catalog, index build and query of the core.

Starting a DuckDB instance costs ~15 ms (its catalog of built-in functions is built each time), more
than most of the queries the core runs, so the core starts one, lazily, and hands out cursors: each
cursor is a connection of its own (safe to use from its thread) over the same instance.  Index
builds get a second instance of their own: a cold build reads 20,000 catalog files, and the same
instance afterwards answered queries ~30% slower (its caches full of files it will never read
again).  The read-only sandbox of ``Catalog.query`` gets a fresh, locked-down instance each time.
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import duckdb

_INSTANCES: dict[str, duckdb.DuckDBPyConnection] = {}
_LOCK = threading.Lock()


def _cursor(purpose: str, metadata_cache: bool, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    with _LOCK:
        if purpose not in _INSTANCES:
            instance = duckdb.connect(":memory:")
            instance.execute(f"SET parquet_metadata_cache = {str(metadata_cache).lower()}")
            # DuckDB 2.0 hands file reads to 8 "async" I/O threads by default: on the catalog's small
            # files that cost more CPU than the reads (copying 20,000 metric tables: 2.8 s with them,
            # 1.8 s without, on one thread)
            instance.execute("SET async_threads = 0")
            if threads:
                instance.execute(f"SET threads = {threads}")
            # an in-memory instance spills big sorts to ".tmp" in the working directory by default: not
            # in the user's folder, ever
            spill = Path(tempfile.gettempdir()) / f"modelreg-duckdb-{os.getpid()}"
            instance.execute("SET temp_directory = $path", {"path": str(spill)})
            _INSTANCES[purpose] = instance
        return _INSTANCES[purpose].cursor()


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to the instance that answers queries (close it after use)."""
    return _cursor("queries", metadata_cache=True)


def build_cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to the instance that builds the index (close it after use)."""
    # one thread per query: a build runs its copy and its schema check side by side (and YAML in worker
    # processes); splitting a query over threads cost ~40% more CPU on the catalog's small files
    return _cursor("builds", metadata_cache=False, threads=1)

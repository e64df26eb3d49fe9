"""This process's DuckDB instance, shared by every catalog, index build and query of the core.

Starting a DuckDB instance costs ~15 ms (its catalog of built-in functions is built each time), more
than most of the queries the core runs, so the core starts one, lazily, and hands out cursors: each
cursor is a connection of its own (safe to use from its thread) over the same instance.  The
read-only sandbox of ``Catalog.query`` is the exception: it gets a fresh, locked-down instance.
"""

from __future__ import annotations

import threading

import duckdb

_DB: duckdb.DuckDBPyConnection | None = None
_LOCK = threading.Lock()


def cursor() -> duckdb.DuckDBPyConnection:
    """A new connection to the shared instance (close it after use)."""
    global _DB
    with _LOCK:
        if _DB is None:
            _DB = duckdb.connect(":memory:")
            _DB.execute("SET parquet_metadata_cache = true")
        return _DB.cursor()

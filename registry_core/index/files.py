"""Names of a generation's derived files: known without pyarrow (a warm read imports none)."""

from __future__ import annotations

import zlib

#: the tables of rows read from files (``tables.SCHEMAS``): one or more Parquet segments each
ROW_TABLES = ("models", "versions", "params", "lineage", "events", "file_problems", "metrics")
#: the derived tables, replayed from the events (``derive.DERIVED``): one Parquet file each, but headline
DERIVED_TABLES = ("stages", "requests", "aliases", "spans", "violations", "edits", "headline")
#: the headline table is split by model into this many files, so that a refresh rewrites only the
#: files of the models it touched (one file of 150,000 rows costs ~40 ms to read and write again);
#: each more file costs every headline query ~0.1 ms (16 files made the overview ~2 ms slower)
HEADLINE_BUCKETS = 4


def headline_file(bucket: int) -> str:
    return f"headline-{bucket:02d}.parquet"


def headline_bucket(model: str) -> int:
    """The headline file of a model's rows: stable across processes and versions (crc32, not hash())."""
    return zlib.crc32(model.encode()) % HEADLINE_BUCKETS

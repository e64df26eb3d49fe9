"""Metric tables read into an index segment: the SQL copy must give what ``conform`` gives.

``extract.write_metrics`` copies tables whose columns already have the schema's types with one DuckDB
query, and sends the others (and any table with a row the schema refuses) through ``conform``.  These
tests mix both kinds and compare the segment with what reading each table through ``conform`` gives.
"""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from registry_core import extract, scan
from registry_core.metrics import read_table_file
from registry_core.tables import SCHEMAS

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COPIED = extract._copied


def write(root: Path, model: str, version: int, name: str, table: pa.Table) -> scan.FileInfo:
    folder = root / "models" / model / "versions" / str(version) / "metrics"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / name)
    return scan.FileInfo(f"models/{model}/versions/{version}/metrics/{name}", "metrics", model, version, 0, 0)


def plain(n: int, offset: float = 0.0) -> pa.Table:
    return pa.table({
        "metric": ["loss"] * n, "value": [offset + i / 10 for i in range(n)], "dataset": ["train"] * n,
        "step": list(range(1, n + 1)), "timestamp": pa.array([T0 + dt.timedelta(seconds=i) for i in range(n)],
                                                             pa.timestamp("us", tz="UTC")),
        "slice": pa.array([None] * n, pa.string()),
    })


def expected_rows(root: Path, infos: list[scan.FileInfo]) -> list[tuple]:
    rows = []
    for info in infos:
        table = read_table_file(root / info.path)
        rows += [(info.model, info.version, r["metric"], r["value"], r["dataset"], r["step"], r["timestamp"],
                  r["slice"], info.path) for r in table.to_pylist()]
    return sorted(rows, key=repr)


def segment_rows(path: Path) -> list[tuple]:
    table = pq.read_table(path).cast(SCHEMAS["metrics"])
    return sorted((tuple(r.values()) for r in table.to_pylist()), key=repr)


def test_plain_and_other_tables_give_what_conform_gives(tmp_path):
    infos = [
        write(tmp_path, "a", 1, "curves.parquet", plain(5)),
        write(tmp_path, "a", 2, "curves.parquet", plain(3, 1.0)),
        # only the two required columns: copied by SQL, the others filled with nulls
        write(tmp_path, "b", 1, "summary.parquet", pa.table({"metric": ["auc"], "value": [0.9]})),
        # naive timestamps and int32 steps: read through conform (UTC assumed, steps widened)
        write(tmp_path, "b", 2, "naive.parquet", pa.table({
            "metric": ["auc", "auc"], "value": [0.7, 0.8], "step": pa.array([1, 2], pa.int32()),
            "timestamp": pa.array([dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)], pa.timestamp("ms")),
        })),
        # integer values: conform casts them to float
        write(tmp_path, "c", 1, "ints.parquet", pa.table({"metric": ["n"], "value": pa.array([3], pa.int64())})),
    ]
    problems: list = []
    out = tmp_path / "segment.parquet"
    failed = extract.write_metrics(tmp_path, infos, problems, out)
    assert (failed, problems) == (set(), [])
    assert segment_rows(out) == expected_rows(tmp_path, infos)


def test_rows_of_tables_alike_come_out_clustered_by_model(tmp_path, monkeypatch):
    """So that a query for one model skips the other row groups (the segment is not sorted again).

    Tables that all have the same plain columns are copied by one query, in file order, without a sort."""
    infos = [write(tmp_path, model, version, name, plain(3, version))
             for model in ("c", "a", "b") for version in (2, 10, 1) for name in ("z.parquet", "curves.parquet")]
    queries: list = []
    monkeypatch.setattr(extract, "_copied", lambda *args: queries.append(args) or COPIED(*args))
    out = tmp_path / "segment.parquet"
    assert extract.write_metrics(tmp_path, infos[::-1], [], out) == set()
    assert len(queries) == 1
    rows = [(r["model"], r["version"], r["_source"]) for r in pq.read_table(out).to_pylist()]
    assert rows == sorted(rows) and len(rows) == 54
    assert segment_rows(out) == expected_rows(tmp_path, infos)


@pytest.mark.parametrize(("table", "message"), [
    (pa.table({"metric": ["x", "y"], "value": [1.0, math.nan]}), "not a finite number"),
    (pa.table({"metric": ["x", ""], "value": [1.0, 2.0]}), "empty metric name"),
    (pa.table({"metric": ["x", None], "value": [1.0, 2.0]}), "empty values"),
    (pa.table({"metric": ["x"], "value": [1.0], "unit": ["ms"]}), "unknown column"),
    # 1 ns past the epoch does not fit in microseconds: SQL would truncate it silently
    (pa.table({"metric": ["x"], "value": [1.0], "timestamp": pa.array([1], pa.timestamp("ns", tz="UTC"))}),
     "cannot be read as"),
    # the same with every other column too: read together with plain tables, DuckDB would drop the extra
    # column and truncate the timestamp without a word
    (plain(2).append_column("unit", pa.array(["ms", "ms"])), "unknown column"),
    (plain(1).set_column(4, "timestamp", pa.array([1], pa.timestamp("ns", tz="UTC"))), "cannot be read as"),
    (plain(1).set_column(3, "step", pa.array([1.5])), "cannot be read as"),
])
@pytest.mark.parametrize("bad_first", [False, True])
def test_a_refused_table_is_reported_alone_and_the_rest_is_kept(tmp_path, table, message, bad_first):
    """Wherever the refused table sorts: all tables are first copied as if they had the first one's columns."""
    good = write(tmp_path, "a", 2 if bad_first else 1, "curves.parquet", plain(4))
    bad = write(tmp_path, "a", 1 if bad_first else 2, "bad.parquet", table)
    problems: list = []
    out = tmp_path / "segment.parquet"
    failed = extract.write_metrics(tmp_path, [good, bad], problems, out)
    with pytest.raises(Exception, match=message):  # conform refuses the table ...
        read_table_file(tmp_path / bad.path)
    # ... so it is reported alone, with conform's message, and the other table is kept
    assert failed == {bad.path}
    assert [(p[0], message in p[2]) for p in problems] == [(bad.path, True)]
    assert segment_rows(out) == expected_rows(tmp_path, [good])


def test_nothing_readable_writes_nothing(tmp_path):
    bad = write(tmp_path, "a", 1, "bad.parquet", pa.table({"value": [1.0]}))
    problems: list = []
    out = tmp_path / "segment.parquet"
    assert extract.write_metrics(tmp_path, [bad], problems, out) == {bad.path}
    assert "missing required column" in problems[0][2]
    assert not out.exists()

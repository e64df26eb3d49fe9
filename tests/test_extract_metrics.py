"""Metric tables read into an index segment: the SQL copy must give what ``conform`` gives.

``extract.write_metrics`` copies tables whose columns already have the schema's types with one DuckDB
query, and sends the others (and any table with a row the schema refuses) through ``conform``.  These
tests mix both kinds and compare the segment with what reading each table through ``conform`` gives.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry_core.errors import InvalidInput
from registry_core.format.metrics import read_table_file
from registry_core.index import extract, scan
from registry_core.index.tables import SCHEMAS

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
COPIED = extract._copied
BULK = extract._bulk


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
        try:
            table = read_table_file(root / info.path)
        except InvalidInput:
            continue
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


def spy_conform_reads(monkeypatch) -> list[str]:
    """The tables read through ``conform`` rather than copied by SQL."""
    read: list[str] = []
    monkeypatch.setattr(extract, "_bulk", lambda con, root, infos: read.extend(i.path for i in infos)
                        or BULK(con, root, infos))
    return read


N = 3
#: columns of another type that SQL reads exactly as conform does (no trip through conform)
CONVERTED = {
    "step int32": {"metric": ["a"] * N, "value": [1.0] * N, "step": pa.array([1, 2, None], pa.int32())},
    "step float, whole": {"metric": ["a"] * N, "value": [1.0] * N, "step": pa.array([1.0, None, -3.0])},
    "step all null": {"metric": ["a"] * N, "value": [1.0] * N, "step": pa.array([None] * N, pa.null())},
    "value float32": {"metric": ["a"] * N, "value": pa.array([0.5, 1.25, -2.0], pa.float32())},
    "value int": {"metric": ["a"] * N, "value": pa.array([1, 2**53, -(2**53)], pa.int64())},
    "value uint8": {"metric": ["a"] * N, "value": pa.array([1, 2, 255], pa.uint8())},
    "naive timestamp": {"metric": ["a"] * N, "value": [1.0] * N, "timestamp": pa.array(
        [dt.datetime(2026, 1, 1, 12, 30, 0, 1), None, dt.datetime(1999, 12, 31)], pa.timestamp("us"))},
    "dataset all null": {"metric": ["a"] * N, "value": [1.0] * N, "dataset": pa.array([None] * N, pa.null())},
    "large strings": {"metric": pa.array(["a", "b", "c"], pa.large_string()), "value": [1.0] * N,
                      "slice": pa.array(["eu", None, "us"], pa.large_string())},
}


@pytest.mark.parametrize("kind", CONVERTED)
def test_other_types_sql_reads_exactly_are_copied_by_sql(tmp_path, monkeypatch, kind):
    infos = [write(tmp_path, "a", 1, "curves.parquet", plain(4)),
             write(tmp_path, "a", 2, "odd.parquet", pa.table(CONVERTED[kind]))]
    through_conform = spy_conform_reads(monkeypatch)
    problems: list = []
    out = tmp_path / "segment.parquet"
    assert extract.write_metrics(tmp_path, infos, problems, out) == set()
    assert (problems, through_conform) == ([], [])
    assert segment_rows(out) == expected_rows(tmp_path, infos)


@pytest.mark.parametrize(("column", "message"), [
    ({"step": pa.array([1.0, 2.5, 3.0])}, "cannot be read as"),
    ({"step": pa.array([1.0, math.nan, 3.0])}, "cannot be read as"),
    ({"step": pa.array([1, 2**63, 3], pa.uint64())}, "cannot be read as"),
    ({"value": pa.array([1, 2**53 + 1, 3], pa.int64())}, "cannot be read as"),
])
def test_a_conversion_sql_cannot_make_exactly_is_left_to_conform(tmp_path, column, message):
    infos = [write(tmp_path, "a", 1, "curves.parquet", plain(4)),
             write(tmp_path, "a", 2, "odd.parquet", pa.table({"metric": ["a"] * N, "value": [1.0] * N, **column}))]
    problems: list = []
    out = tmp_path / "segment.parquet"
    assert extract.write_metrics(tmp_path, infos, problems, out) == {infos[1].path}
    assert [(p[0], message in p[2]) for p in problems] == [(infos[1].path, True)]
    assert segment_rows(out) == expected_rows(tmp_path, infos[:1])


def summary(offset: float) -> pa.Table:
    """A summary table as a pandas round trip writes it: float steps, all null."""
    return pa.table({"metric": ["auc", "f1"], "value": [offset, offset / 2], "dataset": ["test"] * 2,
                     "step": pa.array([None, None], pa.float64())})


def test_tables_of_each_name_are_copied_as_the_first_of_that_name(tmp_path, monkeypatch):
    """summary.parquet and curves.parquet have different columns: one query copies both kinds, each in
    file order (two sorted runs), without a second pass."""
    infos = [write(tmp_path, model, version, name, plain(3, version) if name == "curves.parquet" else summary(version))
             for model in ("b", "a") for version in (2, 10, 1) for name in ("summary.parquet", "curves.parquet")]
    queries: list = []
    monkeypatch.setattr(extract, "_copied", lambda *args: queries.append(args) or COPIED(*args))
    through_conform = spy_conform_reads(monkeypatch)
    out = tmp_path / "segment.parquet"
    assert extract.write_metrics(tmp_path, infos, [], out) == set()
    assert (len(queries), through_conform) == (2, [])
    rows = [(r["model"], r["version"], r["_source"]) for r in pq.read_table(out).to_pylist()]
    runs = [[row for row in rows if row[2].endswith(name)] for name in ("summary.parquet", "curves.parquet")]
    assert all(run == sorted(run) for run in runs) and rows in (runs[0] + runs[1], runs[1] + runs[0])
    assert segment_rows(out) == expected_rows(tmp_path, infos)


@pytest.mark.parametrize(("odd", "refused"), [
    (plain(2).set_column(3, "step", pa.array([1, 2], pa.int32())), False),  # read by SQL, its own way
    (plain(2).drop_columns(["slice"]), False),  # the copy of its name fails: each name is copied on its own
    (plain(2).set_column(4, "timestamp", pa.array([1, 2], pa.timestamp("ms"))), False),  # through conform
    # read with the first table's columns, DuckDB would drop the extra column, and truncate nanoseconds
    (plain(2).append_column("unit", pa.array(["ms", "ms"])), True),
    (plain(2).set_column(4, "timestamp", pa.array([1, 2], pa.timestamp("ns", tz="UTC"))), True),
])
@pytest.mark.parametrize("where", [0, 1, 3])
def test_a_table_unlike_the_first_of_its_name_is_read_again(tmp_path, odd, refused, where):
    infos = [write(tmp_path, "m", version, name, odd if (version, name) == (where, "curves.parquet")
                   else plain(3, version) if name == "curves.parquet" else summary(version))
             for version in range(4) for name in ("curves.parquet", "summary.parquet")]
    problems: list = []
    out = tmp_path / "segment.parquet"
    odd_path = f"models/m/versions/{where}/metrics/curves.parquet"
    assert extract.write_metrics(tmp_path, infos, problems, out) == ({odd_path} if refused else set())
    assert [p[0] for p in problems] == ([odd_path] if refused else [])
    assert segment_rows(out) == expected_rows(tmp_path, infos)
    rows = [(r["model"], r["version"]) for r in pq.read_table(out).to_pylist()]
    assert rows == sorted(rows)  # merged with a sort


STEPS = {
    "int64": (pa.int64(), [1, 2, None]), "int32": (pa.int32(), [1, None, 3]), "null": (pa.null(), [None] * 3),
    "whole floats": (pa.float64(), [1.0, None, 2.0]), "fractions": (pa.float64(), [1.5, 2.0, None]),
}
VALUES = {
    "float64": (pa.float64(), [0.5, 1.0, 2.0]), "float32": (pa.float32(), [0.5, 1.0, 2.0]),
    "int64": (pa.int64(), [1, 2, 3]), "huge": (pa.int64(), [1, 2**60, 3]), "nan": (pa.float64(), [1.0, math.nan, 0.0]),
}
STAMPS = {
    "us utc": pa.timestamp("us", tz="UTC"), "ms utc": pa.timestamp("ms", tz="UTC"), "us naive": pa.timestamp("us"),
    "ns utc": pa.timestamp("ns", tz="UTC"), "ns naive": pa.timestamp("ns"),
}
TABLES = st.fixed_dictionaries({
    "name": st.sampled_from(["curves.parquet", "summary.parquet", "extra.parquet"]),
    "step": st.none() | st.sampled_from(list(STEPS)),
    "value": st.sampled_from(list(VALUES)),
    "timestamp": st.none() | st.sampled_from(list(STAMPS)),
    "dataset": st.booleans(),
    "unknown": st.integers(0, 9),
})


def odd_table(spec: dict) -> pa.Table:
    kind, values = VALUES[spec["value"]]
    columns: dict = {"metric": ["m1", "m2", "m3"], "value": pa.array(values, kind)}
    if spec["step"]:
        kind, steps = STEPS[spec["step"]]
        columns["step"] = pa.array(steps, kind)
    if spec["timestamp"]:
        columns["timestamp"] = pa.array([1_700_000_000_000_000_123, None, 0], pa.int64()).cast(
            pa.timestamp("ns", tz="UTC"), safe=False).cast(STAMPS[spec["timestamp"]], safe=False)
    if spec["dataset"]:
        columns["dataset"] = ["test", None, "validation"]
    if spec["unknown"] == 0:
        columns["unit"] = ["ms"] * 3
    return pa.table(columns)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(TABLES, min_size=1, max_size=8))
def test_any_mix_of_tables_gives_what_conform_gives(tmp_path_factory, specs):
    """Whatever the columns, types and names: the segment holds exactly the rows conform reads, and
    exactly the tables conform refuses are reported."""
    root = tmp_path_factory.mktemp("mix")
    infos = []
    for n, spec in enumerate(specs):
        path = root / "models" / "m" / "versions" / str(n // 2 + 1) / "metrics" / spec["name"]
        if not path.exists():
            infos.append(write(root, "m", n // 2 + 1, spec["name"], odd_table(spec)))
    refused = set()
    for info in infos:
        try:
            read_table_file(root / info.path)
        except InvalidInput:
            refused.add(info.path)
    problems: list = []
    out = root / "segment.parquet"
    assert extract.write_metrics(root, infos, problems, out) == refused
    assert {p[0] for p in problems} == refused
    assert (segment_rows(out) if out.exists() else []) == expected_rows(root, infos)


def test_naive_timestamps_are_utc_whatever_the_local_time_zone(tmp_path):
    """As conform reads them; DuckDB would otherwise take them in the machine's zone (its default)."""
    infos = [write(tmp_path, "a", 1, "odd.parquet", pa.table(CONVERTED["naive timestamp"]))]
    script = ("import sys, pathlib, pyarrow.parquet as pq; from registry_core.index import extract, scan\n"
              "root = pathlib.Path(sys.argv[1])\n"
              "info = scan.FileInfo('models/a/versions/1/metrics/odd.parquet', 'metrics', 'a', 1, 0, 0)\n"
              "extract.write_metrics(root, [info], [], root / 'segment.parquet')\n"
              "print(pq.read_table(root / 'segment.parquet')['timestamp'].to_pylist())")
    found = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True,
                           env={**os.environ, "TZ": "Asia/Kolkata"}).stdout
    assert found.strip() == str(read_table_file(tmp_path / infos[0].path)["timestamp"].to_pylist())

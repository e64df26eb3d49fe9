"""Metric tables: the long Parquet format of SPEC 1.5, from any input shape.

pyarrow does the reading and writing; this module only normalizes inputs
(dicts, row lists, DataFrames, CSV/JSON/Parquet files) into one schema and
refuses what the spec does not allow (non-finite values, missing columns).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from registry_core.errors import InvalidInput

SCHEMA = pa.schema(
    [
        ("metric", pa.string()),
        ("value", pa.float64()),
        ("dataset", pa.string()),
        ("step", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("slice", pa.string()),
    ]
)
COLUMNS = SCHEMA.names
REQUIRED = ("metric", "value")

#: per metric table, checked on its footer before any row is read: a 734-byte file can claim 2^40 rows,
#: and 2 MB of run-length encoding can hold 300 million real ones
MAX_ROWS = 1_000_000
MAX_COLUMNS = 64
MAX_ROW_GROUPS = 10_000
#: column chunks as stored before compression (RLE and dictionaries stay encoded in this count)
MAX_TABLE_BYTES = 256 * 1024 * 1024
#: per string value (a metric, dataset or slice name) and per table once every row's strings are expanded:
#: one dictionary entry of 1 MB repeated for a million rows is a few KB on disk and a terabyte in a reader
MAX_STRING_CHARS = 1_000
MAX_STRING_BYTES = 128 * 1024 * 1024


def _rows_from_dict(metrics: dict, dataset: str | None) -> list[dict]:
    """``{"roc_auc": 0.9}`` or ``{"test": {"roc_auc": 0.9}}`` (dataset -> metric -> value)."""
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            rows.extend({"metric": m, "value": v, "dataset": str(key)} for m, v in value.items())
        else:
            rows.append({"metric": str(key), "value": value, "dataset": dataset})
    return rows


def to_table(metrics: Any, dataset: str | None = None, where: str = "metrics") -> pa.Table:
    """Normalize a dict, a list of rows, a DataFrame or an Arrow table into the metric schema."""
    if isinstance(metrics, dict):
        metrics = _rows_from_dict(metrics, dataset)
    if isinstance(metrics, list):
        for i, row in enumerate(metrics):
            if not isinstance(row, dict):
                raise InvalidInput(f"{where}: row {i} must be a mapping, got {row!r}")
        # every key of every row (from_pylist alone would keep only the first row's keys and drop the rest)
        keys = list(dict.fromkeys(key for row in metrics for key in row)) or ["metric", "value"]
        table = pa.table({key: [row.get(key) for row in metrics] for key in keys})
    elif isinstance(metrics, pa.Table):
        table = metrics
    elif hasattr(metrics, "to_dict") and hasattr(metrics, "columns"):
        table = pa.Table.from_pandas(metrics, preserve_index=False)
    else:
        raise InvalidInput(f"{where}: expected a dict, a list of rows or a DataFrame, got {type(metrics).__name__}")
    return conform(table, where, dataset)


def conform(table: pa.Table, where: str, dataset: str | None = None) -> pa.Table:
    """Cast ``table`` to SCHEMA (extra columns are an error), checking every rule of SPEC 1.5."""
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise InvalidInput(f"{where}: missing required column(s) {missing}")
    extra = [c for c in table.column_names if c not in COLUMNS]
    if extra:
        raise InvalidInput(f"{where}: unknown column(s) {extra}; allowed: {COLUMNS}")
    columns = []
    for name in COLUMNS:
        target = SCHEMA.field(name).type
        if name in table.column_names:
            column = table[name]
            if name == "dataset" and dataset is not None:
                filled = [dataset if v is None else v for v in column.to_pylist()]
                column = pa.array(filled, pa.string())
            try:
                if name == "timestamp" and pa.types.is_timestamp(column.type) and column.type.tz is None:
                    column = column.cast(pa.timestamp("us")).cast(target)
                elif name == "timestamp" and pa.types.is_string(column.type):
                    column = pa.array(
                        [None if v is None else _parse_ts(v, where) for v in column.to_pylist()], target
                    )
                else:
                    column = column.cast(target)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
                raise InvalidInput(f"{where}: column {name!r} cannot be read as {target}: {exc}") from None
        else:
            fill = dataset if name == "dataset" else None
            column = pa.array([fill] * table.num_rows, target)
        columns.append(column)
    out = pa.Table.from_arrays(columns, schema=SCHEMA)
    for name in REQUIRED:
        if out[name].null_count:
            raise InvalidInput(f"{where}: column {name!r} has empty values")
    finite = pc.is_finite(out["value"])
    if not pc.all(finite).as_py() and out.num_rows:
        bad = out["value"].filter(pc.invert(finite))[0].as_py()
        raise InvalidInput(f"{where}: value {bad!r} is not a finite number")
    if pc.any(pc.equal(out["metric"], "")).as_py():
        raise InvalidInput(f"{where}: empty metric name")
    problem = _long_strings((name, chunk) for name in ("metric", "dataset", "slice") for chunk in out[name].chunks)
    if problem is not None:  # what a reader of the catalog would refuse is never written
        raise InvalidInput(f"{where}: {problem}")
    return out


def _parse_ts(value: str, where: str):
    import datetime as dt

    text = value.strip().replace("Z", "+00:00")
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{where}: timestamp {value!r} is not ISO 8601") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def read_input_file(path: Path, dataset: str | None = None) -> pa.Table:
    """Read a CSV, JSON (list of rows or dict) or Parquet file given to ``log-metrics``."""
    where = str(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            table = read_parquet_checked(path, where)
        elif suffix == ".csv":  # an empty cell is null (no value), as in the other formats; "NA" is a name
            table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(
                null_values=[""], strings_can_be_null=True))
        elif suffix in (".json", ".jsonl"):
            data = json.loads(path.read_text(encoding="utf-8"))
            return to_table(data, dataset, where)
        else:
            raise InvalidInput(f"{where}: unsupported metrics file type {suffix!r}; use .csv, .json or .parquet")
    except FileNotFoundError:
        raise InvalidInput(f"{where}: file not found") from None
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        if isinstance(exc, InvalidInput):
            raise
        raise InvalidInput(f"{where}: cannot read metrics: {str(exc).splitlines()[0]}") from None
    return conform(table, where, dataset)


def to_parquet_bytes(table: pa.Table) -> bytes:
    """Serialize a conformed table (zstd) for an atomic write."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def footer_problem(metadata: pq.FileMetaData, file_size: int) -> str | None:
    """What is wrong with a Parquet footer, before any row is read (None if nothing): more rows, columns,
    row groups or bytes than a metric table may have, or counts and offsets that contradict each other
    or the file's size (a reader would trust them to allocate)."""
    rows, groups = metadata.num_rows, metadata.num_row_groups
    if rows < 0 or rows > MAX_ROWS:
        return f"footer claims {rows} rows; a metric table holds at most {MAX_ROWS}"
    if metadata.num_columns > MAX_COLUMNS or groups > MAX_ROW_GROUPS:
        return (f"footer claims {metadata.num_columns} columns in {groups} row groups; at most {MAX_COLUMNS} "
                f"columns and {MAX_ROW_GROUPS} row groups")
    counted = stored = 0
    for g in range(groups):
        group = metadata.row_group(g)
        if group.num_columns != metadata.num_columns or not 0 <= group.num_rows <= rows:
            return f"footer: row group {g} contradicts the file's row and column counts"
        counted += group.num_rows
        for c in range(group.num_columns):
            chunk = group.column(c)
            start = min(o for o in (chunk.dictionary_page_offset, chunk.data_page_offset) if o is not None)
            if start < 0 or chunk.total_compressed_size < 0 or start + chunk.total_compressed_size > file_size:
                return f"footer: column chunk {g}/{c} lies outside the file"
            stored += chunk.total_uncompressed_size
    if counted != rows:
        return f"footer: row groups hold {counted} rows, the file claims {rows}"
    if stored > MAX_TABLE_BYTES:
        return f"{stored} bytes of column data; a metric table holds at most {MAX_TABLE_BYTES}"
    return None


def _string_columns(schema: pq.ParquetSchema) -> list[str]:
    return [schema.column(i).name for i in range(len(schema))
            if schema.column(i).physical_type == "BYTE_ARRAY" and "." not in schema.column(i).path]


def _lengths(chunk: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Characters (bytes for binary) and bytes of each value of ``chunk``, looked up in its dictionary."""
    values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
    size = pc.binary_length(values)
    chars = pc.utf8_length(values) if pa.types.is_string(values.type) or pa.types.is_large_string(values.type) \
        else size
    if pa.types.is_dictionary(chunk.type):
        return pc.take(chars, chunk.indices), pc.take(size, chunk.indices)
    return chars, size


def strings_problem(path: Path, schema: pq.ParquetSchema) -> str | None:
    """What is wrong with the strings of a Parquet file (None if nothing): a value longer than
    MAX_STRING_CHARS, or more than MAX_STRING_BYTES once each row's strings are expanded.  Only the string
    columns are read, kept dictionary-encoded, so memory stays the size of the file's dictionaries plus
    four bytes a row; a footer can neither show nor bound this (its statistics are the writer's word)."""
    names = _string_columns(schema)
    if not names or not _may_expand(pq.read_metadata(path), set(names)):
        return None
    with pq.ParquetFile(path, read_dictionary=names) as file:
        def groups() -> Iterator[tuple[str, pa.Array]]:  # a row group at a time
            for g in range(file.num_row_groups):
                group = file.read_row_group(g, columns=names)
                yield from ((name, chunk) for name in group.column_names for chunk in group[name].chunks)

        return _long_strings(groups())


def _may_expand(metadata: pq.FileMetaData, names: set[str]) -> bool:
    """Whether the footer's own sizes allow the string columns to expand past MAX_STRING_BYTES (each row of a
    row group at most the size of its column chunk) or to hold a value past MAX_STRING_CHARS.  Tables whose
    footer rules both out (every ordinary metric table) skip the scan: it cost ~0.35 ms a table, 2.5 s of a
    10,000-version cold build.  A footer that understates its sizes cannot pass a bomb this way: a page
    larger than its chunk claims is a reader error, a problem on that file."""
    bound = 0
    for g in range(metadata.num_row_groups):
        group = metadata.row_group(g)
        for c in range(group.num_columns):
            column = group.column(c)
            if column.path_in_schema in names:
                size = column.total_uncompressed_size
                if size > MAX_STRING_CHARS:
                    return True
                bound += group.num_rows * size
    return bound > MAX_STRING_BYTES


def _long_strings(chunks: Iterable[tuple[str, pa.Array]]) -> str | None:
    """:func:`strings_problem` over (column name, values) pieces."""
    total = 0
    for name, chunk in chunks:
        chars, size = _lengths(chunk)
        longest = pc.max(chars).as_py() or 0
        if longest > MAX_STRING_CHARS:
            return f"column {name!r} holds a value of {longest} characters; at most {MAX_STRING_CHARS}"
        total += pc.sum(size).as_py() or 0
    if total > MAX_STRING_BYTES:
        return f"{total} bytes of strings once expanded; a metric table holds at most {MAX_STRING_BYTES}"
    return None


def _first_line(exc: BaseException) -> str:
    return (str(exc).splitlines() or [type(exc).__name__])[0]


def check_footer(path: Path, where: str) -> None:
    """Read only the footer and the string columns of a Parquet file and refuse it as
    :func:`footer_problem` or :func:`strings_problem` says (or if it cannot be read at all), before any
    reader trusts its counts or expands its dictionaries."""
    try:
        metadata = pq.read_metadata(path)
        problem = footer_problem(metadata, path.stat().st_size) or strings_problem(path, metadata.schema)
    except Exception as exc:  # whatever a damaged footer makes the reader raise
        raise InvalidInput(f"{where}: unreadable Parquet: {_first_line(exc)}") from None
    if problem is not None:
        raise InvalidInput(f"{where}: {problem}")


def read_parquet_checked(path: Path, where: str) -> pa.Table:
    """Read a Parquet file whose footer and strings pass :func:`footer_problem` and :func:`strings_problem`;
    any failure of the reader (it raises many kinds on damaged files: "Out of buffer", "don't know what
    type", "Invalid string encoding") is an InvalidInput naming ``where``."""
    try:
        with pq.ParquetFile(path) as file:
            problem = footer_problem(file.metadata, path.stat().st_size) or strings_problem(path, file.schema)
            if problem is None:
                return file.read()
    except (InvalidInput, FileNotFoundError):
        raise
    except Exception as exc:  # whatever a damaged file makes the reader raise
        raise InvalidInput(f"{where}: unreadable Parquet: {_first_line(exc)}") from None
    raise InvalidInput(f"{where}: {problem}")


def read_table_file(path: Path) -> pa.Table:
    """Read a metric table from the catalog, checking its footer first and then every row against the schema."""
    return conform(read_parquet_checked(path, str(path)), str(path))


def parse_metric_arg(text: str) -> dict:
    """``[DATASET:]NAME=VALUE`` from the command line."""
    left, sep, value = text.partition("=")
    if not sep or not left:
        raise InvalidInput(f"--metric {text!r}: expected [DATASET:]NAME=VALUE")
    dataset, colon, name = left.rpartition(":")
    try:
        number = float(value)
    except ValueError:
        raise InvalidInput(f"--metric {text!r}: {value!r} is not a number") from None
    return {"metric": name, "value": number, "dataset": dataset if colon else None}


def parse_metric_args(texts: list[str]) -> list[dict]:
    """Several ``--metric`` arguments; the same ``[DATASET:]NAME`` twice is refused (one would be lost)."""
    rows: list[dict] = []
    seen: dict[tuple[str | None, str], str] = {}
    for text in texts:
        row = parse_metric_arg(text)
        key = (row["dataset"], row["metric"])
        if key in seen:
            raise InvalidInput(f"--metric {text!r}: {text.partition('=')[0]} is already given "
                               f"by --metric {seen[key]!r}")
        seen[key] = text
        rows.append(row)
    return rows

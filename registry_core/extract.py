"""Read metric tables into an index segment, and problems, without touching the other files.

Metric tables are copied in bulk by DuckDB from the catalog's files into the segment; a group that
fails is split in halves until the broken files are isolated and reported one by one with pyarrow's
exact error.  (The YAML files are read by ``yamlrows``.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import db
from .errors import InvalidInput
from .layout import METRICS_DIR, MODELS_DIR, VERSIONS_DIR
from .metrics import conform, read_table_file
from .scan import FileInfo
from .tables import Problem


def _bulk(con: duckdb.DuckDBPyConnection, root: Path, infos: list[FileInfo]) -> pa.Table:
    paths = [str(root / i.path) for i in infos]
    table = con.sql("SELECT * FROM read_parquet($paths, filename = true)", params={"paths": paths}).to_arrow_table()
    # (no con.register of a key table here: registering an Arrow table makes duckdb import pandas)
    position = pc.index_in(table["filename"], value_set=pa.array(paths, pa.string()))
    body = conform(table.drop_columns(["filename"]), "metrics")
    body = body.add_column(0, "model", pa.array([i.model for i in infos], pa.string()).take(position))
    body = body.add_column(1, "version", pa.array([i.version for i in infos], pa.int64()).take(position))
    return body.append_column("_source", pa.array([i.path for i in infos], pa.string()).take(position))


def _by_schema(con: duckdb.DuckDBPyConnection, root: Path, infos: list[FileInfo]) -> list[tuple[str | None,
                                                                                                 list[FileInfo]]]:
    """Group tables with the same columns and types, as (signature, tables): read together, a column
    missing from some files would be dropped silently.  A table whose footer cannot be read ends up
    alone in its group, with no signature."""
    prefix = f"{root}/"  # (string joins: 20,000 pathlib joins cost ~0.3 s)
    by_path = {prefix + i.path: i for i in infos}
    try:
        rows = con.sql("SELECT file_name, string_agg(concat_ws(':', name, type, converted_type, logical_type, "
                       "repetition_type), ',' ORDER BY name) FROM parquet_schema($paths) GROUP BY file_name",
                       params={"paths": list(by_path)}).fetchall()
    except duckdb.Error:
        if len(infos) == 1:
            return [(None, infos)]
        middle = len(infos) // 2
        return _by_schema(con, root, infos[:middle]) + _by_schema(con, root, infos[middle:])
    groups: dict[str, list[FileInfo]] = {}
    for path, signature in rows:
        groups.setdefault(signature, []).append(by_path.pop(path))
    return list(groups.items()) + [(None, [i]) for i in by_path.values()]


def _read_groups(con: duckdb.DuckDBPyConnection, root: Path, groups: list[list[FileInfo]],
                 problems: list[Problem]) -> pa.Table | None:
    """Read groups of tables through ``conform`` (Arrow); a group that fails is split in halves until
    the broken files are isolated and reported with their exact error."""
    tables: list[pa.Table] = []
    groups = list(groups)
    while groups:
        group = groups.pop()
        try:
            tables.append(_bulk(con, root, group))
        except (duckdb.Error, InvalidInput, pa.ArrowException):
            if len(group) == 1:
                info = group[0]
                try:
                    read_table_file(root / info.path)
                    message = "could not be read together with the other tables (schema differs)"
                except InvalidInput as exc:
                    message = str(exc).removeprefix(f"{root / info.path}: ")
                problems.append((info.path, "error", message))
            else:
                middle = len(group) // 2
                groups.extend([group[:middle], group[middle:]])
    return pa.concat_tables(tables) if tables else None


#: DuckDB types of the columns of a table that SQL can copy as it is (what ``conform`` would keep)
_PLAIN_TYPES = {"metric": "VARCHAR", "value": "DOUBLE", "dataset": "VARCHAR", "step": "BIGINT",
                "timestamp": "TIMESTAMP WITH TIME ZONE", "slice": "VARCHAR"}
_TIMESTAMP_UNITS = ("timestamp:INT64:TIMESTAMP_MICROS:", "timestamp:INT64:TIMESTAMP_MILLIS:")
#: rows ``conform`` refuses; a table with any goes through it, to be reported with its exact error
_BAD_ROW = "metric IS NULL OR metric = '' OR value IS NULL OR NOT isfinite(value)"


def _described(con: duckdb.DuckDBPyConnection, path: str) -> dict[str, str] | None:
    """A Parquet file's columns and their DuckDB types (None if it cannot be read)."""
    try:
        return {row[0]: row[1] for row in con.sql("DESCRIBE SELECT * FROM read_parquet($path)",
                                                  params={"path": [path]}).fetchall()}
    except duckdb.Error:
        return None


def _plain(columns: dict[str, str] | None) -> list[str] | None:
    """The columns, if SQL can copy a table with these columns and types as it is (else None)."""
    if columns is None or not {"metric", "value"} <= columns.keys():
        return None
    return None if any(_PLAIN_TYPES.get(c) != t for c, t in columns.items()) else list(columns)


def _plain_columns(con: duckdb.DuckDBPyConnection, root: Path, signature: str | None,
                   group: list[FileInfo]) -> list[str] | None:
    """The columns of a group of same-schema tables if SQL can copy them as they are, else None."""
    if signature is None:
        return None
    columns = _plain(_described(con, f"{root}/{group[0].path}"))
    if columns and "timestamp" in columns and not any(unit in signature for unit in _TIMESTAMP_UNITS):
        return None  # nanoseconds would be truncated silently by SQL (conform refuses them)
    return columns


def _groups(root: Path, infos: list[FileInfo]) -> tuple[list[tuple[list[str], list[FileInfo]]],
                                                        list[list[FileInfo]]]:
    """Tables grouped by schema: (columns, tables) of the groups SQL can copy, and the other groups."""
    con = db.build_cursor()
    try:
        plain: list[tuple[list[str], list[FileInfo]]] = []
        slow: list[list[FileInfo]] = []
        for signature, group in _by_schema(con, root, infos):
            columns = _plain_columns(con, root, signature, group)
            if columns is None:
                slow.append(group)
            else:
                plain.append((columns, group))
        return plain, slow
    finally:
        con.close()


def _copied(n: int, columns: list[str]) -> str:
    """The query of one group of plain tables (paths in ``$g{n}``), in the segment's columns: model,
    version and source come from each row's file name (models/M/versions/V/metrics/F)."""
    picked = ", ".join(f'"{c}"' if c in columns else f'NULL::{_PLAIN_TYPES[c]} AS "{c}"' for c in _PLAIN_TYPES)
    return (f"SELECT split_part(filename, '/', -5) AS model, split_part(filename, '/', -3)::BIGINT AS version, "
            f"{picked}, concat_ws('/', '{MODELS_DIR}', split_part(filename, '/', -5), '{VERSIONS_DIR}', "
            f"split_part(filename, '/', -3), '{METRICS_DIR}', parse_filename(filename)) AS _source "
            f"FROM read_parquet($g{n}, filename = true)")


def _copy_all(con: duckdb.DuckDBPyConnection, root: Path, infos: list[FileInfo], out: Path) -> list[str] | None:
    """Copy every table into ``out`` as if all had the first one's columns and types; return those
    columns, or None if the first table is not plain or the copy failed."""
    columns = _plain(_described(con, f"{root}/{infos[0].path}"))
    if columns is None:
        return None
    try:
        con.sql(_copied(0, columns), params={"g0": [f"{root}/{i.path}" for i in infos]}).write_parquet(
            str(out), compression="zstd", row_group_size=20_000)
    except duckdb.Error:
        out.unlink(missing_ok=True)
        return None
    return columns


def _file_order(info: FileInfo) -> tuple[str, int, str]:
    return info.model, info.version, info.path


def write_metrics(root: Path, infos: list[FileInfo], problems: list[Problem], out: Path) -> set[str]:
    """Read every metric table in ``infos`` into the Parquet file ``out`` (rows sorted by model and
    version, in the index's metrics schema); return the paths of the tables that could not be read
    (each reported in ``problems``).  Nothing is written when no row was read.

    Tables whose columns already have the schema's types are copied by DuckDB, straight from the
    catalog's files into ``out``; the others, and any table with a row the schema refuses, are read
    through ``conform`` (Arrow) and added to the same query.  Usually every table has the same plain
    columns: then all are copied at once, in file order (no sort), while a second thread reads each
    file's schema to confirm it; the copy is thrown away and made again by groups if it was wrong.
    """
    if not infos:
        return set()
    infos = sorted(infos, key=_file_order)
    con = db.build_cursor()
    slow_file = out.with_name(f".slow-{out.name}")
    start = len(problems)
    try:
        with ThreadPoolExecutor(1) as pool:
            grouping = pool.submit(_groups, root, infos)
            guess = _copy_all(con, root, infos, out)
            plain, slow = grouping.result()
        written = guess is not None and not slow and len(plain) == 1 and set(plain[0][0]) == set(guess)
        if not written:
            out.unlink(missing_ok=True)
        while True:
            reported = len(problems)
            if not written:
                parts: list[str] = []
                params: dict[str, Any] = {}
                for n, (columns, group) in enumerate(plain):
                    params[f"g{n}"] = [f"{root}/{i.path}" for i in group]
                    parts.append(_copied(n, columns))
                rows = _read_groups(con, root, slow, problems) if slow else None
                if rows is not None:
                    pq.write_table(rows, slow_file)
                    parts.append("SELECT * FROM read_parquet($slow)")
                    params["slow"] = str(slow_file)
                if not parts:
                    break
                query = f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY model, version"
                con.sql(query, params=params).write_parquet(str(out), compression="zstd", row_group_size=20_000)
            written = False
            bad = {row[0] for row in con.sql(f"SELECT DISTINCT _source FROM read_parquet($out) WHERE {_BAD_ROW}",
                                             params={"out": str(out)}).fetchall()}
            if not bad:
                break
            # conform() refuses these: read them through it, to report each with its own message
            del problems[reported:]
            plain = [(columns, kept) for columns, group in plain if (kept := [i for i in group if i.path not in bad])]
            slow = [*slow, [i for i in infos if i.path in bad]]
            out.unlink()
        if out.exists() and not pq.ParquetFile(out).metadata.num_rows:
            out.unlink()
        return {path for path, _, _ in problems[start:]}
    finally:
        slow_file.unlink(missing_ok=True)
        con.close()

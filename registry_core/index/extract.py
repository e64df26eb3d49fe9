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

from registry_core.errors import InvalidInput
from registry_core.format.layout import metric_part_sql, metric_source_sql
from registry_core.format.metrics import check_footer, conform, read_table_file
from registry_core.index import db
from registry_core.index.scan import FileInfo
from registry_core.index.tables import Problem


def _admitted(root: Path, infos: list[FileInfo], problems: list[Problem]) -> list[FileInfo]:
    """The tables whose footer is readable and within the limits of a metric table; each other one is a
    problem on its own path, and no reader sees it (DuckDB would trust a footer's row count)."""
    kept = []
    for info in infos:
        path = root / info.path
        try:
            check_footer(path, str(path))
        except InvalidInput as exc:
            problems.append((info.path, "error", str(exc).removeprefix(f"{path}: ")))
        else:
            kept.append(info)
    return kept


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
        except Exception:  # (any reader error on a damaged file: the halves find it, reported below)
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


#: the index's metrics columns and their DuckDB types
_INDEX_TYPES = {"metric": "VARCHAR", "value": "DOUBLE", "dataset": "VARCHAR", "step": "BIGINT",
                "timestamp": "TIMESTAMP WITH TIME ZONE", "slice": "VARCHAR"}
_NUMBERS = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "FLOAT",
            "DOUBLE"}
#: DuckDB's type of a column that holds only nulls (Arrow's null type, e.g. a step column of summaries)
_NULL = '"NULL"'
_TIMESTAMP_UNITS = ("timestamp:INT64:TIMESTAMP_MICROS:", "timestamp:INT64:TIMESTAMP_MILLIS:")
#: rows ``conform`` refuses; a table with any goes through it, to be reported with its exact error
_BAD_ROW = "metric IS NULL OR metric = '' OR value IS NULL OR NOT isfinite(value)"
#: file names whose first table is described to guess how to copy all tables of that name
_GUESSES = 8


def _described(con: duckdb.DuckDBPyConnection, path: str) -> dict[str, str] | None:
    """A Parquet file's columns and their DuckDB types (None if it cannot be read)."""
    try:
        return {row[0]: row[1] for row in con.sql("DESCRIBE SELECT * FROM read_parquet($path)",
                                                  params={"path": [path]}).fetchall()}
    except duckdb.Error:
        return None


def _reading(column: str, kind: str) -> tuple[str, str | None] | None:
    """How SQL reads ``column`` of DuckDB type ``kind`` as ``conform`` does: (expression, condition under
    which the expression is exact, or None if always), or None if SQL cannot."""
    target, name = _INDEX_TYPES[column], f'"{column}"'
    if kind == target:
        return name, None
    if kind == _NULL:
        return f"NULL::{target}", None
    if column == "step" and kind in _NUMBERS:  # conform's cast refuses 1.5, NaN and what overflows
        return f"TRY_CAST({name} AS BIGINT)", f"{name} IS NULL OR TRY_CAST({name} AS BIGINT) = {name}"
    if column == "value" and kind in _NUMBERS:  # integers beyond 2**53 have no exact double
        return f"{name}::DOUBLE", None if kind in ("FLOAT", "DOUBLE") else f"abs({name}) <= 9007199254740992"
    if column == "timestamp" and kind == "TIMESTAMP":  # naive: UTC, as conform reads it
        return f"timezone('UTC', {name})", None
    return None


def _selection(columns: dict[str, str] | None) -> str | None:
    """The SELECT list that reads a table with these columns (name -> DuckDB type) into the index's
    metrics columns as ``conform`` would, or None if SQL cannot (a column missing, unknown or of another
    type).  Where a conversion is not exact, the row's metric is made NULL: the bad-row check then sends
    the table through ``conform``, which reports it."""
    if columns is None or not {"metric", "value"} <= columns.keys() or not columns.keys() <= _INDEX_TYPES.keys():
        return None
    picked: dict[str, str] = {}
    exact: list[str] = []
    for column, target in _INDEX_TYPES.items():
        found = _reading(column, columns[column]) if column in columns else (f"NULL::{target}", None)
        if found is None:
            return None
        picked[column] = found[0]
        if found[1]:
            exact.append(f"({found[1]})")
    if exact:
        picked["metric"] = f"CASE WHEN {' AND '.join(exact)} THEN {picked['metric']} END"
    return ", ".join(f'{sql} AS "{column}"' for column, sql in picked.items())


def _signature_selection(con: duckdb.DuckDBPyConnection, root: Path, signature: str | None,
                         group: list[FileInfo]) -> str | None:
    """The SELECT list of a group of same-schema tables (see ``_selection``), or None."""
    if signature is None:
        return None
    columns = _described(con, f"{root}/{group[0].path}")
    if columns and "timestamp" in columns and not any(unit in signature for unit in _TIMESTAMP_UNITS):
        return None  # nanoseconds would be truncated silently by SQL (conform refuses them)
    return _selection(columns)


def _schemas(root: Path, infos: list[FileInfo]) -> list[tuple[str | None, str | None, list[FileInfo]]]:
    """Tables grouped by schema: (signature, SELECT list or None if SQL cannot read them, tables)."""
    con = db.build_cursor()
    try:
        return [(signature, _signature_selection(con, root, signature, group), group)
                for signature, group in _by_schema(con, root, infos)]
    finally:
        con.close()


def _copied(n: int, selection: str) -> str:
    """The query of one group of tables read by ``selection`` (paths in ``$g{n}``), in the segment's
    columns: model, version and source come from each row's file name (models/M/versions/V/metrics/F)."""
    return (f"SELECT {metric_part_sql('filename', 'model')} AS model, "
            f"{metric_part_sql('filename', 'version')}::BIGINT AS version, "
            f"{selection}, {metric_source_sql('filename')} AS _source FROM read_parquet($g{n}, filename = true)")


def _guesses(con: duckdb.DuckDBPyConnection, root: Path, infos: list[FileInfo]) -> dict[str, list[FileInfo]]:
    """How to copy the tables before their schemas are known: SELECT list -> tables (in file order), each
    table read as the first table of its file name reads (a catalog usually writes the same tables
    under the same names: summary.parquet, curves.parquet).  Tables of a name whose first table SQL
    cannot read are left out."""
    first: dict[str, FileInfo] = {}
    for info in infos:
        first.setdefault(info.path.rpartition("/")[2], info)
    if len(first) > _GUESSES:  # names made up per table: every table read as the first one
        first = dict.fromkeys(first, infos[0])
    read = {info.path: _selection(_described(con, f"{root}/{info.path}")) for info in set(first.values())}
    guesses: dict[str, list[FileInfo]] = {}
    for info in infos:
        if (selection := read[first[info.path.rpartition("/")[2]].path]) is not None:
            guesses.setdefault(selection, []).append(info)
    return guesses


def _file_order(info: FileInfo) -> tuple[str, int, str]:
    return info.model, info.version, info.path


def _copy(con: duckdb.DuckDBPyConnection, root: Path, groups: list[tuple[str, list[FileInfo]]], out: Path) -> bool:
    """Copy groups of tables, each read by its SELECT list, into ``out`` one group after the other (each
    in file order); False if DuckDB refused."""
    parts = [_copied(n, selection) for n, (selection, _) in enumerate(groups)]
    params = {f"g{n}": [f"{root}/{i.path}" for i in group] for n, (_, group) in enumerate(groups)}
    try:
        con.sql(" UNION ALL ".join(parts), params=params).write_parquet(str(out), compression="zstd",
                                                                         row_group_size=20_000)
    except duckdb.Error:  # some table has columns the first of its group has not
        out.unlink(missing_ok=True)
        return False
    return True


def _copy_guesses(con: duckdb.DuckDBPyConnection, root: Path, infos: list[FileInfo], out: Path
                  ) -> list[tuple[Path, list[FileInfo]]]:
    """Copy the tables as ``_guesses`` reads them, all into ``out`` if DuckDB can, else each guess on its
    own: (file written, tables) for each guess copied.

    The guesses are written one after the other: a run of rows sorted by model and version each, so
    row groups still hold few models, and no sort is needed."""
    guesses = list(_guesses(con, root, infos).items())
    if not guesses:
        return []
    if _copy(con, root, guesses, out):
        return [(out, group) for _, group in guesses]
    if len(guesses) == 1:
        return []
    parts = [(out.with_name(f".part{n}-{out.name}"), guess) for n, guess in enumerate(guesses)]
    return [(part, group) for part, (selection, group) in parts if _copy(con, root, [(selection, group)], part)]


def write_metrics(root: Path, infos: list[FileInfo], problems: list[Problem], out: Path) -> set[str]:
    """Read every metric table in ``infos`` into the Parquet file ``out`` (in the index's metrics schema,
    rows in a few runs sorted by model and version, so that row groups hold few models); return the
    paths of the tables that could not be read (each reported in ``problems``).  Nothing is written
    when no row was read.

    Tables are copied by DuckDB straight from the catalog's files into ``out`` (with conversions where
    SQL reads a type exactly as ``conform`` does); the others, and any table with a row the schema
    refuses, are read through ``conform`` (Arrow).  The copy starts at once, in one query, each table read
    as the first of its file name is (tables of one name usually have the same columns), in file order
    (no sort), while a second thread reads every file's schema to confirm the guess; the tables whose
    schema differs from it are then dropped from the copy and read again, and everything is merged
    with a sort.
    """
    start = len(problems)
    infos = _admitted(root, sorted(infos, key=_file_order), problems)
    if not infos:
        return {path for path, _, _ in problems[start:]}
    con = db.build_cursor()
    temporary = [out.with_name(f".slow-{out.name}")]
    try:
        with ThreadPoolExecutor(1) as pool:
            grouping = pool.submit(_schemas, root, infos)
            copies = _copy_guesses(con, root, infos, out)
            schemas = grouping.result()
        temporary += [part for part, _ in copies if part != out]
        signature_of = {i.path: signature for signature, _, group in schemas for i in group}
        readable = {signature for signature, selection, _ in schemas if selection is not None}
        wrong: dict[Path, list[str]] = {}  # file copied -> paths of the tables it read wrong
        done: set[str] = set()
        for part, group in copies:
            reference = signature_of.get(group[0].path)
            misread = wrong.setdefault(part, [])
            for info in group:
                if reference in readable and signature_of.get(info.path) == reference:
                    done.add(info.path)
                else:
                    misread.append(info.path)
        again: set[str] = set()  # tables whose rows conform refuses
        while True:
            reported = len(problems)
            pending = [(selection, todo) for _, selection, group in schemas
                       if (todo := [i for i in group if i.path not in done and i.path not in again])]
            plain = [(selection, todo) for selection, todo in pending if selection is not None]
            slow = [todo for selection, todo in pending if selection is None]
            if again:
                slow.append([i for i in infos if i.path in again])
            if plain or slow or list(wrong) != [out] or wrong[out]:
                parts: list[str] = []
                params: dict[str, Any] = {}
                if out in wrong:  # (renamed, not re-read, if the query below fails and runs again)
                    part = out.rename(out.with_name(f".part-{out.name}"))
                    temporary.append(part)
                    wrong[part] = wrong.pop(out)
                for n, (part, misread) in enumerate(wrong.items()):
                    params[f"k{n}"] = str(part)
                    parts.append(f"SELECT * FROM read_parquet($k{n})")
                    if misread:
                        params[f"w{n}"] = misread
                        parts[-1] += f" WHERE _source NOT IN (SELECT unnest($w{n}))"
                for n, (selection, group) in enumerate(plain):
                    params[f"g{n}"] = [f"{root}/{i.path}" for i in group]
                    parts.append(_copied(n, selection))
                rows = _read_groups(con, root, slow, problems) if slow else None
                if rows is not None:
                    pq.write_table(rows, temporary[0])
                    parts.append("SELECT * FROM read_parquet($slow)")
                    params["slow"] = str(temporary[0])
                if not parts:
                    break
                query = f"SELECT * FROM ({' UNION ALL '.join(parts)}) ORDER BY model, version"
                try:
                    con.sql(query, params=params).write_parquet(str(out), compression="zstd",
                                                                row_group_size=20_000)
                except duckdb.Error:
                    if not plain:
                        raise
                    # a table DuckDB cannot read after all (a damaged page): read them all through
                    # conform, which isolates and reports it
                    del problems[reported:]
                    again |= {i.path for _, todo in plain for i in todo}
                    out.unlink(missing_ok=True)
                    continue
            bad = {row[0] for row in con.sql(f"SELECT DISTINCT _source FROM read_parquet($out) WHERE {_BAD_ROW}",
                                             params={"out": str(out)}).fetchall()}
            if not bad:
                break
            # conform refuses these: read every table again, these through it, to report each with its
            # own message
            del problems[reported:]
            again |= bad
            wrong, done = {}, set()
            out.unlink()
        if out.exists() and not pq.ParquetFile(out).metadata.num_rows:
            out.unlink()
        return {path for path, _, _ in problems[start:]}
    finally:
        for path in temporary:
            path.unlink(missing_ok=True)
        con.close()

"""Turn one catalog file into index rows (and problems), without touching the rest.

Each function reads one file and returns plain rows tagged with their source
path, so the index can drop and re-read exactly the files that changed.
Metric tables are read in bulk by DuckDB (one multi-threaded scan per schema
over all changed files); a group that fails is split in halves until the
broken files are isolated and reported one by one with pyarrow's exact error.
"""

from __future__ import annotations

import importlib.abc
import json
import math
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import db
from .errors import InvalidInput
from .events import parse_event
from .layout import METRICS_DIR, MODELS_DIR, VERSIONS_DIR
from .manifests import check_manifest, check_model_file
from .metrics import SCHEMA as METRIC_SCHEMA
from .metrics import conform, read_table_file
from .scan import FileInfo
from .yamlio import load_file, parse_time

Problem = tuple[str, str, str]  # (path, severity, message)

_S, _I, _B, _TS = pa.string(), pa.int64(), pa.bool_(), pa.timestamp("us", tz="UTC")
SCHEMAS: dict[str, pa.Schema] = {
    "models": pa.schema([("model", _S), ("description", _S), ("owner", _S), ("task", _S), ("tags", _S),
                         ("policies", _S), ("_source", _S)]),
    "versions": pa.schema([("model", _S), ("version", _I), ("created_at", _TS), ("created_by", _S),
                           ("description", _S), ("framework", _S), ("task", _S), ("params", _S), ("tags", _S),
                           ("path", _S), ("manifest", _S), ("_source", _S)]),
    "params": pa.schema([("model", _S), ("version", _I), ("name", _S), ("value", _S), ("_source", _S)]),
    "lineage": pa.schema([("model", _S), ("version", _I), ("kind", _S), ("name", _S), ("ref", _S), ("role", _S),
                          ("sha256", _S), ("_source", _S)]),
    "events": pa.schema([("id", _S), ("at", _TS), ("by", _S), ("model", _S), ("action", _S), ("version", _I),
                         ("stage", _S), ("reason", _S), ("request", _S), ("forced", _B), ("rollback_of", _I),
                         ("alias", _S), ("approvals_needed", _I), ("gates", _S), ("_source", _S)]),
    "file_problems": pa.schema([("path", _S), ("severity", _S), ("message", _S), ("_source", _S)]),
    "metrics": pa.schema([("model", _S), ("version", _I), *zip(METRIC_SCHEMA.names, METRIC_SCHEMA.types),
                          ("_source", _S)]),
}
#: YAML files to read before a build uses worker processes (below it, starting them costs more than it saves)
PARALLEL_FROM = 1500


_SORTED_JSON = json.JSONEncoder(default=str, sort_keys=True).encode
_PLAIN_JSON = json.JSONEncoder(default=str).encode


def _json(value: Any) -> str | None:
    return None if value is None else _SORTED_JSON(value)


def param_text(value: Any) -> str:
    """A param value as text for the ``params`` view: strings as they are, the rest as JSON.

    Ints and finite floats are written as JSON writes them (``str``, ``float.__repr__``) without
    going through the encoder: a build of 10,000 versions makes 110,000 of these.
    """
    kind = type(value)
    if kind is str:
        return value
    if kind is int:
        return str(value)
    if kind is float and math.isfinite(value):
        return float.__repr__(value)
    return _PLAIN_JSON(value)


def read_model(root: Path, info: FileInfo, rows: dict[str, list], problems: list[Problem]) -> None:
    try:
        raw = load_file(root / info.path)
    except InvalidInput as exc:
        problems.append((info.path, "error", str(exc).removeprefix(f"{root / info.path}: ")))
        return
    errors, warnings = check_model_file(raw, info.model)
    problems.extend((info.path, "warning", w) for w in warnings)
    if errors:
        problems.extend((info.path, "error", e) for e in errors)
        return
    raw = raw or {}
    rows["models"].append({
        "model": info.model, "description": raw.get("description"), "owner": raw.get("owner"),
        "task": raw.get("task"), "tags": _json(raw.get("tags") or {}), "policies": _json(raw.get("policies")),
        "_source": info.path,
    })


def read_manifest(root: Path, info: FileInfo, rows: dict[str, list], problems: list[Problem]) -> bool:
    """Add the version's rows; return False if the manifest is unusable (the version then does not exist)."""
    try:
        raw = load_file(root / info.path)
    except InvalidInput as exc:
        problems.append((info.path, "error", str(exc).removeprefix(f"{root / info.path}: ")))
        return False
    errors, warnings = check_manifest(raw, info.model, info.version)
    problems.extend((info.path, "warning", w) for w in warnings)
    if errors:
        problems.extend((info.path, "error", e) for e in errors)
        return False
    key = {"model": info.model, "version": info.version, "_source": info.path}
    params = raw.get("params") or {}
    lineage = raw.get("lineage") or {}
    rows["versions"].append({
        **key,
        "created_at": parse_time(raw["created_at"], "created_at"),
        "created_by": raw.get("created_by"), "description": raw.get("description"),
        "framework": raw.get("framework"), "task": raw.get("task"),
        "params": _json(params), "tags": _json(raw.get("tags") or {}),
        "path": info.path.rsplit("/", 1)[0], "manifest": _json(raw),
    })
    rows["params"].extend({**key, "name": str(name), "value": param_text(value)} for name, value in params.items())
    for item in lineage.get("datasets") or []:
        version = item.get("version")
        ref = item["name"] if version is None else f"{item['name']}@{version}"
        rows["lineage"].append({**key, "kind": "dataset", "name": item["name"], "ref": ref,
                                "role": item.get("role"), "sha256": item.get("sha256")})
    for parent in lineage.get("parents") or []:
        rows["lineage"].append({**key, "kind": "parent", "name": parent.partition("@")[0], "ref": parent,
                                "role": "parent", "sha256": None})
    return True


def read_event(root: Path, info: FileInfo, rows: dict[str, list], problems: list[Problem]) -> None:
    file_id = info.path.rsplit("/", 1)[1].removesuffix(".yaml")
    try:
        raw = load_file(root / info.path)
        event = parse_event(raw, info.model, file_id)
    except InvalidInput as exc:
        problems.append((info.path, "error", str(exc).removeprefix(f"{root / info.path}: ")))
        return
    rows["events"].append({
        "id": event.id, "at": event.at, "by": event.by, "model": event.model, "action": event.action,
        "version": event.version, "stage": event.stage, "reason": event.reason, "request": event.request,
        "forced": event.forced, "rollback_of": event.rollback_of, "alias": event.alias,
        "approvals_needed": event.approvals_needed, "gates": _json(list(event.gates)) if event.gates else None,
        "_source": info.path,
    })


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


_YAML_TABLES = ("models", "versions", "params", "lineage", "events")


def _read_yaml_chunk(root: str, infos: list[FileInfo]) -> tuple[dict[str, pa.Table], list[Problem], dict[str, bool]]:
    """Read model, manifest and event files; (tables of rows, problems, path -> produced its main row)."""
    rows: dict[str, list] = {name: [] for name in _YAML_TABLES}
    problems: list[Problem] = []
    ok: dict[str, bool] = {}
    base = Path(root)
    for info in infos:
        if info.kind == "manifest":
            ok[info.path] = read_manifest(base, info, rows, problems)
        else:
            before = len(rows["models"]) + len(rows["events"])
            (read_model if info.kind == "model" else read_event)(base, info, rows, problems)
            ok[info.path] = len(rows["models"]) + len(rows["events"]) > before
    # column by column: Table.from_pylist is ~5x slower on rows with datetimes and long strings
    tables = {name: pa.table({c: [row.get(c) for row in found] for c in SCHEMAS[name].names}, schema=SCHEMAS[name])
              for name, found in rows.items()}
    return tables, problems, ok


def read_yaml(root: Path, infos: list[FileInfo]) -> Callable[[], tuple[dict[str, pa.Table], list[Problem],
                                                                    dict[str, bool]]]:
    """Start reading YAML files; returns a function that waits for and returns what
    ``_read_yaml_chunk`` returns for all of them.

    From PARALLEL_FROM files on (a first build of a large catalog), the work is spread over worker
    processes (YAML parsing holds the GIL) while the caller goes on reading metric tables.  Workers are
    plain ``python -c`` subprocesses (no fork of a process that runs DuckDB threads, no re-import of the
    caller's main module); a worker that fails has its share read here instead.
    """
    workers = min(os.cpu_count() or 1, 4)
    if len(infos) < PARALLEL_FROM or workers < 2:
        result = _read_yaml_chunk(str(root), infos)
        return lambda: result
    size = -(-len(infos) // workers)
    chunks = [infos[i:i + size] for i in range(0, len(infos), size)]
    package = str(Path(__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([package, os.environ.get("PYTHONPATH", "")])}
    procs = []
    for chunk in chunks:
        try:
            proc = subprocess.Popen([sys.executable, "-c", _WORKER],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                    env=env)
            proc.stdin.write(json.dumps([str(root), [list(i) for i in chunk]]).encode())
            proc.stdin.close()
        except OSError:
            proc = None
        procs.append(proc)

    def wait() -> tuple[dict[str, pa.Table], list[Problem], dict[str, bool]]:
        parts = []
        for proc, chunk in zip(procs, chunks):
            part = None
            if proc is not None:
                out = proc.stdout.read()
                if proc.wait() == 0:
                    part = pickle.loads(out)  # noqa: S301 - our own worker's output, over a pipe
            parts.append(part or _read_yaml_chunk(str(root), chunk))
        tables = {name: pa.concat_tables([p[0][name] for p in parts]) for name in _YAML_TABLES}
        return tables, [x for p in parts for x in p[1]], {k: v for p in parts for k, v in p[2].items()}

    return wait


#: a worker reads its whole input first (so the caller never blocks on a full pipe), then imports the core
_WORKER = "import sys; data = sys.stdin.buffer.read(); from registry_core.extract import worker; worker(data)"


class _NoPandas(importlib.abc.MetaPathFinder):
    """Makes ``import pandas`` fail: pyarrow imports pandas (~180 ms) the first time it converts
    Python objects, only to check whether they are pandas objects, which a worker's never are."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is not used by a YAML worker", name=name)


def worker(data: bytes) -> None:
    """A YAML worker process: JSON [root, files] in, the pickled result of ``_read_yaml_chunk`` on stdout."""
    sys.meta_path.insert(0, _NoPandas())
    root, rows = json.loads(data)
    result = _read_yaml_chunk(root, [FileInfo(*row) for row in rows])
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()

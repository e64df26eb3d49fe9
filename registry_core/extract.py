"""Turn one catalog file into index rows (and problems), without touching the rest.

Each function reads one file and returns plain rows tagged with their source
path, so the index can drop and re-read exactly the files that changed.
Metric tables are read in bulk by DuckDB (one multi-threaded scan over all
changed files); a group that fails is split in halves until the broken files
are isolated and reported one by one with pyarrow's exact error.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .errors import InvalidInput
from .events import parse_event
from .manifests import check_manifest, check_model_file
from .metrics import conform, read_table_file
from .scan import FileInfo
from .yamlio import load_file, parse_time

Problem = tuple[str, str, str]  # (path, severity, message)


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def param_text(value: Any) -> str:
    """A param value as text for the ``params`` view: strings as they are, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


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
    keys = pa.table({
        "filename": paths,
        "model": pa.array([i.model for i in infos], pa.string()),
        "version": pa.array([i.version for i in infos], pa.int64()),
        "_source": [i.path for i in infos],
    })
    con.register("_keys", keys)
    table = con.sql(
        "SELECT k.model, k.version, k._source, m.* EXCLUDE (filename) "
        "FROM read_parquet($paths, filename = true, union_by_name = true) m JOIN _keys k USING (filename)",
        params={"paths": paths},
    ).to_arrow_table()
    con.unregister("_keys")
    body = conform(table.drop_columns(["model", "version", "_source"]), "metrics")
    for position, name in enumerate(("model", "version")):
        body = body.add_column(position, name, table[name])
    return body.append_column("_source", table["_source"])


def read_metrics(root: Path, infos: list[FileInfo], problems: list[Problem]) -> pa.Table | None:
    """Read every metric table in ``infos``; broken ones become problems, the rest one Arrow table."""
    if not infos:
        return None
    con = duckdb.connect()
    tables: list[pa.Table] = []
    groups = [infos]
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
    con.close()
    if not tables:
        return None
    return pa.concat_tables(tables)

"""Read the catalog's YAML files (models, manifests, events) into index rows, and problems.

Each function reads one file and adds rows tagged with their source path, so the index can drop and
re-read exactly the files that changed.  A first build of a large catalog spreads the files over
worker processes; they import only this module's needs (PyYAML, pyarrow), not DuckDB or pandas.
"""

from __future__ import annotations

import importlib.abc
import json
import math
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa

from registry_core.errors import InvalidInput
from registry_core.format import fastpaths
from registry_core.format.manifests import check_manifest, check_model_file
from registry_core.format.yamlio import load_file, parse_time
from registry_core.index.scan import FileInfo, Listing
from registry_core.index.tables import SCHEMAS, Problem
from registry_core.lifecycle.events import parse_event

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
        "description": event.description, "tags": _json(dict(event.tags)) if event.tags else None,
        "remove": _json(list(event.remove)) if event.remove else None,
        "_source": info.path,
    })


_YAML_TABLES = ("models", "versions", "params", "lineage", "events")
YAML_KINDS = ("manifest", "model", "event")
Result = tuple[dict[str, pa.Table], list[Problem], dict[str, bool]]
#: YAML files sent to a worker at a time while a walk finds them
_BATCH = 250


class _Rows:
    """Rows read from model, manifest and event files, and their problems."""

    def __init__(self, root: str) -> None:
        self.root = Path(root)
        self.rows: dict[str, list] = {name: [] for name in _YAML_TABLES}
        self.problems: list[Problem] = []
        self.ok: dict[str, bool] = {}  # path -> the file produced its main row
        self.tables: dict[str, list[pa.Table]] = {name: [] for name in _YAML_TABLES}

    def read(self, infos: list[FileInfo]) -> None:
        rows, problems, ok, base = self.rows, self.problems, self.ok, self.root
        for info in infos:
            if info.kind == "manifest":
                ok[info.path] = read_manifest(base, info, rows, problems)
            else:
                before = len(rows["models"]) + len(rows["events"])
                (read_model if info.kind == "model" else read_event)(base, info, rows, problems)
                ok[info.path] = len(rows["models"]) + len(rows["events"]) > before

    def flush(self) -> None:
        """Turn the rows read so far into Arrow tables (a worker does it after each batch, while the
        caller is still busy, rather than all at the end)."""
        # column by column: Table.from_pylist is ~5x slower on rows with datetimes and long strings
        for name, found in self.rows.items():
            if found:
                schema = SCHEMAS[name]
                self.tables[name].append(pa.table({c: [row.get(c) for row in found] for c in schema.names},
                                                  schema=schema))
                found.clear()

    def result(self) -> Result:
        self.flush()
        tables = {name: pa.concat_tables(parts) if parts else SCHEMAS[name].empty_table()
                  for name, parts in self.tables.items()}
        return tables, self.problems, self.ok


def _read_yaml_chunk(root: str, infos: list[FileInfo]) -> Result:
    """Read model, manifest and event files; (tables of rows, problems, path -> produced its main row)."""
    rows = _Rows(root)
    rows.read(infos)
    return rows.result()


class _Worker:
    """A worker process and the thread that writes its input (a worker still importing must not stall
    the caller on a full pipe).  Input: the root, then batches of files, one JSON line each."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        self.infos: list[FileInfo] = []
        self.lines: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.proc = subprocess.Popen([sys.executable, "-c", _WORKER], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
        self.lines.put(json.dumps(str(root)).encode() + b"\n")
        self.writer = threading.Thread(target=self._write, daemon=True)
        self.writer.start()

    def _write(self) -> None:
        stdin = self.proc.stdin
        try:
            while (line := self.lines.get()) is not None:
                stdin.write(line)
                stdin.flush()
            stdin.close()
        except OSError:
            pass  # the worker died: the caller reads its files itself

    def send(self, infos: list[FileInfo]) -> None:
        self.infos.extend(infos)
        self.lines.put(json.dumps([list(i) for i in infos]).encode() + b"\n")

    def result(self) -> Result | None:
        """Wait for the worker's rows (None if it failed)."""
        self.lines.put(None)
        out = self.proc.stdout.read()
        self.writer.join()
        return pickle.loads(out) if self.proc.wait() == 0 and out else None  # noqa: S301 - our own worker

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.lines.put(None)
        self.proc.wait()
        self.proc.stdout.close()


class Feed:
    """Reads a build's YAML files; in a first build, while the walk is still finding them.

    The walk calls the feed with each folder's listing.  From PARALLEL_FROM files on (a large
    catalog), worker processes start: they import while the walk goes on, then parse each batch of
    files as it arrives, so the walk's core is not the only one working; later the workers run while
    the caller copies metric tables.  Workers are plain ``python -c`` subprocesses (YAML parsing holds
    the GIL; no fork of a process that runs DuckDB threads, no re-import of the caller's main
    module).  A worker that fails has its files read by the caller instead.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.found: list[FileInfo] = []
        self.sent = 0
        self.workers: list[_Worker] = []

    def __call__(self, listing: Listing) -> None:
        self.add([i for i in listing.files if i.kind in YAML_KINDS])

    def add(self, infos: list[FileInfo]) -> None:
        self.found += infos
        # one core stays with the caller (the walk, then the metric copy): on 2 cores, 2 workers made a
        # first build of 10,000 versions ~0.5 s slower than 1
        count = min((os.cpu_count() or 1) - 1, 3)
        if not self.workers and len(self.found) >= PARALLEL_FROM and count >= 1 and fastpaths.enabled():
            package = str(Path(__file__).resolve().parent.parent)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join([package, os.environ.get("PYTHONPATH", "")])}
            try:
                self.workers = [_Worker(self.root, env) for _ in range(count)]
            except OSError:
                self.stop()
        if self.workers and len(self.found) - self.sent >= _BATCH:
            self._send()

    def _send(self) -> None:
        if len(self.found) > self.sent:
            self.workers[(self.sent // _BATCH) % len(self.workers)].send(self.found[self.sent:])
            self.sent = len(self.found)

    def finish(self, infos: list[FileInfo]) -> Callable[[], Result]:
        """Returns a function that waits for and returns the rows of ``infos`` (read by the workers if
        they are the files the feed was given, else read here)."""
        if not self.workers or {i.path for i in infos} != {i.path for i in self.found}:
            self.stop()
            result = _read_yaml_chunk(str(self.root), infos)
            return lambda: result
        self._send()

        def wait() -> Result:
            parts = [worker.result() or _read_yaml_chunk(str(self.root), worker.infos) for worker in self.workers]
            self.stop()
            tables = {name: pa.concat_tables([p[0][name] for p in parts]) for name in _YAML_TABLES}
            return tables, [x for p in parts for x in p[1]], {k: v for p in parts for k, v in p[2].items()}

        return wait

    def stop(self) -> None:
        """End the workers (a build that failed leaves none behind)."""
        for worker in self.workers:
            worker.stop()
        self.workers = []


_WORKER = "from registry_core.index.yamlrows import worker; worker()"


class _NoPandas(importlib.abc.MetaPathFinder):
    """Makes ``import pandas`` fail: pyarrow imports pandas (~180 ms) the first time it converts
    Python objects, only to check whether they are pandas objects, which a worker's never are."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is not used by a YAML worker", name=name)


def worker() -> None:
    """A YAML worker process: the root and batches of files as JSON lines in, the pickled result of
    ``_read_yaml_chunk`` for all of them on stdout."""
    sys.meta_path.insert(0, _NoPandas())
    stdin = sys.stdin.buffer
    rows = _Rows(json.loads(stdin.readline()))
    for line in stdin:
        rows.read([FileInfo(*row) for row in json.loads(line)])
        rows.flush()
    sys.stdout.buffer.write(pickle.dumps(rows.result(), protocol=pickle.HIGHEST_PROTOCOL))
    sys.stdout.buffer.flush()

"""The incremental index in ``.modelreg/``: what the files say, compacted into a few Parquet files.

A build compares file stats with the previous generation, re-reads only the
files that are new or changed, drops rows of deleted files, re-derives the
replayed state (stages, requests, aliases) and the headline metrics, and
writes a new *generation* folder.  ``CURRENT`` is then switched with an atomic
rename, so a reader always sees one complete generation.  Deleting
``.modelreg/`` is always safe: the next open rebuilds it from the files.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import extract
from .atomic import write_replace
from .derive import derive_tables
from .errors import InvalidInput
from .layout import Layout
from .metrics import SCHEMA as METRIC_SCHEMA
from .scan import FileInfo, ScanResult, scan
from .settings import Settings, parse_settings
from .yamlio import load_file

INDEX_FORMAT = 3
MAX_SEGMENTS = 6
KEEP_OLD_GENERATIONS_S = 600

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
}
METRICS_SCHEMA = pa.schema([("model", _S), ("version", _I), *zip(METRIC_SCHEMA.names, METRIC_SCHEMA.types),
                            ("_source", _S)])
FILES_SCHEMA = pa.schema([("path", _S), ("kind", _S), ("model", _S), ("version", _I), ("mtime_ns", _I),
                          ("size", _I)])
READERS = {"model": extract.read_model, "event": extract.read_event}


def load_settings(layout: Layout) -> tuple[Settings, list[tuple[str, str, str]]]:
    """registry.yaml parsed, or the defaults plus a problem if it is missing or broken.

    A registry.yaml that is a symbolic link is never followed: defaults apply and writes are refused.
    """
    if layout.registry.is_symlink():
        return Settings(), [(layout.registry.name, "error", "is a symbolic link, never followed "
                                                            "(defaults in use; writes are refused)")]
    if not layout.registry.exists():
        return Settings(), []
    try:
        settings = parse_settings(load_file(layout.registry), layout.registry.name)
    except InvalidInput as exc:
        message = str(exc).removeprefix(f"{layout.registry}: ").removeprefix(f"{layout.registry.name}: ")
        return Settings(), [(layout.registry.name, "error", message + " (defaults in use; writes are refused)")]
    return settings, [(layout.registry.name, "warning", w.split(": ", 1)[-1]) for w in settings.warnings]


@dataclass
class Generation:
    """One complete, immutable index build on disk."""

    folder: Path
    segments: list[str]
    settings: Settings
    settings_problems: list[tuple[str, str, str]] = field(default_factory=list)

    def table(self, name: str) -> Path:
        return self.folder / f"{name}.parquet"


def _table(rows: list[dict], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=schema)


def _drop_sources(table: pa.Table, sources: set[str]) -> pa.Table:
    if not sources or table.num_rows == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table["_source"], value_set=pa.array(sorted(sources), pa.string()))))


class Index:
    """Builds and opens the index of one catalog."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.base = layout.cache / "index"

    # -- reading the current generation -------------------------------------------------------
    def _current(self) -> Path | None:
        try:
            name = (self.base / "CURRENT").read_text().strip()
        except OSError:
            return None
        folder = self.base / name
        meta = folder / "meta.json"
        if not name or not meta.exists():
            return None
        try:
            if json.loads(meta.read_text()).get("format") != INDEX_FORMAT:
                return None
        except (OSError, ValueError):
            return None
        return folder

    def refresh(self) -> Generation:
        """Bring the index up to date with the files and return the current generation."""
        settings, settings_problems = load_settings(self.layout)
        found = scan(self.layout.root)
        folder = self._current()
        if folder is not None:
            old_files = pq.read_table(folder / "files.parquet")
            # Structural problems (a leftover, a link, a stray file) change no indexed file: compare them too.
            structural = [{"path": p, "severity": s, "message": m} for p, s, m in found.problems]
            if self._unchanged(old_files, found) and \
                    json.loads((folder / "structure.json").read_text()) == structural:
                meta = json.loads((folder / "meta.json").read_text())
                return Generation(folder, meta["segments"], settings, settings_problems)
        return self._build(folder, found, settings, settings_problems)

    @staticmethod
    def _unchanged(old_files: pa.Table, found: ScanResult) -> bool:
        if old_files.num_rows != len(found.files):
            return False
        paths = old_files["path"].to_pylist()
        mtimes = old_files["mtime_ns"].to_pylist()
        sizes = old_files["size"].to_pylist()
        files = found.files
        for path, mtime, size in zip(paths, mtimes, sizes):
            info = files.get(path)
            if info is None or info.mtime_ns != mtime or info.size != size:
                return False
        return True

    # -- building a new generation -------------------------------------------------------------
    def _build(self, previous: Path | None, found: ScanResult, settings: Settings,
               settings_problems: list[tuple[str, str, str]]) -> Generation:
        old_stats: dict[str, tuple[int, int]] = {}
        old_segments: list[str] = []
        tables: dict[str, pa.Table] = {}
        if previous is not None:
            files = pq.read_table(previous / "files.parquet").to_pydict()
            old_stats = {p: (m, s) for p, m, s in zip(files["path"], files["mtime_ns"], files["size"])}
            old_segments = json.loads((previous / "meta.json").read_text())["segments"]
            tables = {name: pq.read_table(previous / f"{name}.parquet") for name in SCHEMAS}
        else:
            tables = {name: schema.empty_table() for name, schema in SCHEMAS.items()}
        current = found.files
        changed = {p for p, info in current.items() if old_stats.get(p) != (info.mtime_ns, info.size)}
        removed = set(old_stats) - set(current)
        stale = changed | removed
        rows: dict[str, list] = {name: [] for name in SCHEMAS}
        problems: list[tuple[str, str, str]] = []
        manifest_changed: set[tuple[str, int]] = set()
        for path in stale:
            info = current.get(path)
            old_kind_manifest = path.endswith("/manifest.yaml")
            if old_kind_manifest:
                parts = path.split("/")
                manifest_changed.add((parts[1], int(parts[3])))
            if info is None:
                continue
            if info.kind == "manifest":
                extract.read_manifest(self.layout.root, info, rows, problems)
            elif info.kind in READERS:
                READERS[info.kind](self.layout.root, info, rows, problems)
        rows["file_problems"] = [{"path": p, "severity": s, "message": m, "_source": p} for p, s, m in problems]
        for name, schema in SCHEMAS.items():
            kept = _drop_sources(tables[name], stale)
            tables[name] = pa.concat_tables([kept, _table(rows[name], schema)])
        valid = {(m, v) for m, v in zip(tables["versions"]["model"].to_pylist(),
                                        tables["versions"]["version"].to_pylist())}
        # Metric tables of a version whose manifest appeared, changed or vanished are re-read too,
        # so that rows of unfinished registrations never reach the index.
        metric_files = [i for i in current.values() if i.kind == "metrics" and (i.model, i.version) in valid]
        reread = {i.path for i in metric_files if i.path in changed or (i.model, i.version) in manifest_changed}
        metric_stale = stale | {i.path for i in current.values() if i.kind == "metrics"
                                and (i.model, i.version) in manifest_changed}
        return self._write(previous, old_segments, tables, metric_files, reread, metric_stale, found,
                           settings, settings_problems)

    def _write(self, previous: Path | None, old_segments: list[str], tables: dict[str, pa.Table],
               metric_files: list[FileInfo], reread: set[str], metric_stale: set[str], found: ScanResult,
               settings: Settings, settings_problems: list[tuple[str, str, str]]) -> Generation:
        self.base.mkdir(parents=True, exist_ok=True)
        gitignore = self.layout.cache / ".gitignore"
        if not gitignore.exists():
            write_replace(gitignore, b"*\n")
        name = f"g-{time.time_ns()}-{secrets.token_hex(3)}"
        folder = self.base / name
        tmp = self.base / f".tmp-{name}"
        tmp.mkdir()
        metric_problems: list[tuple[str, str, str]] = []
        fresh = extract.read_metrics(self.layout.root, [i for i in metric_files if i.path in reread],
                                     metric_problems)
        segments = []
        for segment in old_segments:
            table = pq.read_table(previous / segment)
            kept = _drop_sources(table, metric_stale)
            if kept.num_rows == table.num_rows:
                os.link(previous / segment, tmp / segment)
                segments.append(segment)
            elif kept.num_rows:
                segments.append(self._write_segment(tmp, kept))
        if fresh is not None and fresh.num_rows:
            segments.append(self._write_segment(tmp, fresh))
        if len(segments) > MAX_SEGMENTS:
            merged = pa.concat_tables([pq.read_table(tmp / s) for s in segments])
            for segment in segments:
                (tmp / segment).unlink()
            segments = [self._write_segment(tmp, merged)]
        old_problems = tables["file_problems"]
        new_problems = _table([{"path": p, "severity": s, "message": m, "_source": p}
                               for p, s, m in metric_problems], SCHEMAS["file_problems"])
        tables["file_problems"] = pa.concat_tables([_drop_sources(old_problems, set(reread)), new_problems])
        for table_name, table in tables.items():
            pq.write_table(table, tmp / f"{table_name}.parquet", compression="zstd")
        files = sorted(found.files.values(), key=lambda i: i.path)
        pq.write_table(pa.Table.from_pylist([vars(i) for i in files], schema=FILES_SCHEMA), tmp / "files.parquet")
        structural = [{"path": p, "severity": s, "message": m} for p, s, m in found.problems]
        (tmp / "structure.json").write_text(json.dumps(structural))
        derive_tables(tmp, tables, segments, settings)
        (tmp / "meta.json").write_text(json.dumps({"format": INDEX_FORMAT, "segments": segments}))
        os.rename(tmp, folder)
        write_replace(self.base / "CURRENT", name.encode())
        self._collect(keep={name, previous.name if previous else ""})
        return Generation(folder, segments, settings, settings_problems)

    @staticmethod
    def _write_segment(folder: Path, table: pa.Table) -> str:
        name = f"metrics-{secrets.token_hex(4)}.parquet"
        table = table.sort_by([("model", "ascending"), ("version", "ascending")])
        pq.write_table(table.cast(METRICS_SCHEMA), folder / name, compression="zstd", row_group_size=100_000)
        return name

    def _collect(self, keep: set[str]) -> None:
        """Remove generations no reader can still be using (older than a few minutes)."""
        cutoff = time.time() - KEEP_OLD_GENERATIONS_S
        for entry in self.base.iterdir():
            if entry.name in keep or not entry.is_dir():
                continue
            try:
                if entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry, ignore_errors=True)
            except OSError:
                continue


def connect(generation: Generation) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the public views of SPEC section 3 over ``generation``."""
    from .views import create_views

    con = duckdb.connect(":memory:")
    create_views(con, generation)
    return con

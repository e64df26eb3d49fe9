"""The incremental index in ``.modelreg/``: what the files say, compacted into a few Parquet files.

Layout: ``.modelreg/index/<generation>/`` holds one complete, immutable build;
``CURRENT`` names the generation to read and is switched with an atomic
rename, so a reader (a CLI run, a dashboard session) always sees one complete
generation.  Deleting ``.modelreg/`` is always safe: the next open rebuilds it.

A generation is made of *batches*: the files read together in one build go
into one Parquet segment per table (``versions-<batch>.parquet``, ...), each
row tagged with its ``_source`` file.  A refresh:

1. stats every known folder and file (``scan.unchanged``: a warm open that
   finds nothing changed stops here and writes nothing);
2. re-lists only the folders whose ctime moved (``scan.update``);
3. re-reads only the new or changed files into one new batch, and rewrites
   only the old segments that held rows of changed or removed files (the
   other segments are hard-linked into the new generation);
4. re-derives the replayed state only for the models whose events, versions
   or policies changed, and the headline metrics only for the versions whose
   metric tables changed;
5. compacts: past ``MAX_BATCHES`` batches the small ones are merged, so
   queries never read more than a handful of files per table.

A file whose ctime falls in the same clock tick as the build (``scan.RACY``)
is recorded as untrusted and read again by the next build, so an edit made
in that tick cannot be missed.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import extract, scan
from .atomic import write_replace
from .derive import DERIVED, derive_headline, derive_state
from .errors import InvalidInput
from .extract import SCHEMAS
from .layout import Layout
from .settings import Settings, parse_settings
from .yamlio import load_file

INDEX_FORMAT = 4
MAX_BATCHES = 6
KEEP_OLD_GENERATIONS_S = 600

#: sort order and row-group size of each table's segments: small row groups let a query for one model or
#: one version skip the rest of a segment by its min/max statistics
LAYOUT = {
    "models": (["model"], 10_000), "versions": (["model", "version"], 2_000),
    "params": (["model", "version"], 20_000), "lineage": (["model", "version"], 20_000),
    "events": (["model", "id"], 10_000), "file_problems": (["path"], 10_000),
    "metrics": (["model", "version"], 20_000),
}


def load_settings(layout: Layout) -> tuple[Settings, list[tuple[str, str, str]]]:
    """registry.yaml parsed, or the defaults plus a problem if it is missing or broken.

    A registry.yaml that is a symbolic link is never followed: defaults apply and lifecycle writes are refused.
    """
    if layout.registry.is_symlink():
        return Settings(), [(layout.registry.name, "error", "is a symbolic link, never followed "
                                                            "(defaults in use; lifecycle writes are refused)")]
    if not layout.registry.exists():
        return Settings(), []
    try:
        settings = parse_settings(load_file(layout.registry), layout.registry.name)
    except InvalidInput as exc:
        message = str(exc).removeprefix(f"{layout.registry}: ").removeprefix(f"{layout.registry.name}: ")
        note = " (defaults in use; lifecycle writes are refused)"
        return Settings(), [(layout.registry.name, "error", message + note)]
    return settings, [(layout.registry.name, "warning", w.split(": ", 1)[-1]) for w in settings.warnings]


@dataclass
class Generation:
    """One complete, immutable index build on disk."""

    folder: Path
    tables: dict[str, list[str]]  # table of file rows -> its segment files in ``folder``
    settings: Settings
    settings_problems: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def segments(self) -> list[str]:
        """The metric segments (kept for callers of the first index format)."""
        return self.tables.get("metrics", [])

    def paths(self, name: str) -> list[Path]:
        """The Parquet files holding table ``name`` (a table of file rows, or a derived one)."""
        if name in DERIVED:
            return [self.folder / f"{name}.parquet"]
        return [self.folder / s for s in self.tables.get(name, [])]

    def read(self, name: str, filters: list | None = None) -> pa.Table:
        """Table ``name`` as one Arrow table (optionally filtered, e.g. ``[("model", "=", m)]``)."""
        schema = DERIVED.get(name) or SCHEMAS[name]
        parts = [pq.read_table(p, filters=filters) for p in self.paths(name)]
        return pa.concat_tables([p.cast(schema) for p in parts]) if parts else schema.empty_table()


def _drop_sources(table: pa.Table, sources: set[str]) -> pa.Table:
    if not sources or table.num_rows == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table["_source"], value_set=pa.array(sorted(sources), pa.string()))))


def _keep_models(table: pa.Table, models: set[str] | None) -> pa.Table:
    """Rows of ``table`` whose model is not in ``models`` (None: drop everything)."""
    if models is None:
        return table.schema.empty_table()
    if not models or table.num_rows == 0:
        return table
    return table.filter(pc.invert(pc.is_in(table["model"], value_set=pa.array(sorted(models), pa.string()))))


class _State:
    """What a generation knows about the files it was built from (``state.json``).

    ``files``: path -> [ctime_ns, size, batch, ok] where ``batch`` holds the file's rows (None if it was
    not read: a metric table of a version without a valid manifest) and ``ok`` says the file produced its
    main row (a manifest that parsed and passed its checks is a version).
    """

    def __init__(self, listings: dict[str, scan.Listing], files: dict[str, list]) -> None:
        self.listings = listings
        self.files = files

    @classmethod
    def load(cls, folder: Path) -> _State:
        raw = json.loads((folder / "state.json").read_text())
        listings: dict[str, scan.Listing] = {}
        for rel, ctime in zip(raw["dirs"], raw["dir_ctime"]):
            listings[rel] = scan.Listing(ctime)
        for rel in raw["dirs"]:
            if rel:
                listings[rel.rsplit("/", 1)[0] if "/" in rel else ""].subdirs.append(rel)
        for rel, problems in raw["dir_problems"].items():
            listings[rel].problems = [tuple(p) for p in problems]
        for rel, pending in raw["pending"].items():
            listings[rel].pending = (pending[0], pending[1])
        files: dict[str, list] = {}
        for path, ctime, size, batch, ok in zip(raw["files"], raw["file_ctime"], raw["file_size"],
                                                raw["file_batch"], raw["file_ok"]):
            kind, model, version = scan.classify(path)
            parent = path.rsplit("/", 1)[0] if "/" in path else ""
            listings[parent].files.append(scan.FileInfo(path, kind, model, version, ctime, size))
            files[path] = [ctime, size, batch, ok]
        return cls(listings, files)

    def save(self, folder: Path, clock: int) -> None:
        """Write the state; ctimes not older than ``clock`` (the build's start) are stored as untrusted."""
        def trusted(ctime: int) -> int:
            return ctime if ctime < clock else scan.RACY

        dirs = sorted(self.listings)
        files = sorted(self.files)
        raw = {
            "dirs": dirs, "dir_ctime": [trusted(self.listings[d].ctime_ns) for d in dirs],
            "dir_problems": {d: self.listings[d].problems for d in dirs if self.listings[d].problems},
            "pending": {d: self.listings[d].pending for d in dirs if self.listings[d].pending},
            "files": files, "file_ctime": [trusted(self.files[f][0]) for f in files],
            "file_size": [self.files[f][1] for f in files], "file_batch": [self.files[f][2] for f in files],
            "file_ok": [self.files[f][3] for f in files],
        }
        (folder / "state.json").write_text(json.dumps(raw, separators=(",", ":")))


class Index:
    """Builds and opens the index of one catalog."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.base = layout.cache / "index"

    # -- reading the current generation -------------------------------------------------------
    def _current(self) -> tuple[Path, dict] | None:
        try:
            name = (self.base / "CURRENT").read_text().strip()
            if not re.fullmatch(r"g-\d+-[0-9a-f]+", name):
                return None
            meta = json.loads((self.base / name / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(meta, dict) or meta.get("format") != INDEX_FORMAT:
            return None
        return self.base / name, meta

    def _clock(self) -> int:
        """The file system's "now" (ctime of a file written now): later ctimes are in or after this tick."""
        try:
            self.base.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.base / ".clock", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, b"\n")
                return os.fstat(fd).st_ctime_ns
            finally:
                os.close(fd)
        except OSError:
            return time.time_ns() - 2_000_000_000

    def refresh(self) -> Generation:
        """Bring the index up to date with the files and return the current generation."""
        clock = self._clock()
        settings, settings_problems = load_settings(self.layout)
        current = self._current()
        if current is not None:
            folder, meta = current
            try:
                quick = json.loads((folder / "stat.json").read_text())
                if (scan.unchanged(self.layout.root, quick["dirs"], quick["dir_ctime"])
                        and scan.unchanged(self.layout.root, quick["files"], quick["file_ctime"])):
                    return Generation(folder, meta["tables"], settings, settings_problems)
                state = _State.load(folder)
            except (OSError, ValueError, KeyError, TypeError):
                current, state = None, None
        if current is None:
            listings = scan.scan(self.layout.root).listings
            return _Build(self, None, None, None, listings, clock, settings, settings_problems).run()
        listings, _ = scan.update(self.layout.root, state.listings)
        try:
            return _Build(self, folder, meta, state, listings, clock, settings, settings_problems).run()
        except (OSError, ValueError, pa.ArrowException):
            # the previous generation vanished or is damaged (another process collected it): build anew
            listings = scan.scan(self.layout.root).listings
            return _Build(self, None, None, None, listings, clock, settings, settings_problems).run()

    # -- housekeeping ---------------------------------------------------------------------------
    def collect(self, keep: set[str]) -> None:
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


class _Build:
    """One new generation, made from the previous one (if any) and the current listings."""

    def __init__(self, index: Index, previous: Path | None, meta: dict | None, state: _State | None,
                 listings: dict[str, scan.Listing], clock: int, settings: Settings,
                 settings_problems: list[tuple[str, str, str]]) -> None:
        self.index = index
        self.root = index.layout.root
        self.previous = previous
        self.batches: dict[str, dict[str, str]] = dict(meta["batches"]) if meta else {}
        self.old_files = state.files if state else {}
        self.found = scan.ScanResult.of(listings)
        self.clock = clock
        self.settings = settings
        self.settings_problems = settings_problems

    def run(self) -> Generation:
        index = self.index
        index.base.mkdir(parents=True, exist_ok=True)
        gitignore = index.layout.cache / ".gitignore"
        if not gitignore.exists():
            write_replace(gitignore, b"*\n")
        name = f"g-{time.time_ns()}-{secrets.token_hex(3)}"
        self.tmp = index.base / f".tmp-{name}"
        self.tmp.mkdir()
        try:
            files = self._files()
            tables = self._write_batches(files)
            self._derive(files, tables)
            _State(self.found.listings, files).save(self.tmp, self.clock)
            quick = {"dirs": sorted(self.found.listings), "files": sorted(files)}
            quick["dir_ctime"] = [self._trusted(self.found.listings[d].ctime_ns) for d in quick["dirs"]]
            quick["file_ctime"] = [self._trusted(files[f][0]) for f in quick["files"]]
            (self.tmp / "stat.json").write_text(json.dumps(quick, separators=(",", ":")))
            (self.tmp / "structure.json").write_text(json.dumps(
                [{"path": p, "severity": s, "message": m} for p, s, m in self.found.problems]))
            (self.tmp / "meta.json").write_text(json.dumps({"format": INDEX_FORMAT, "batches": self.batches,
                                                            "tables": tables}))
            folder = index.base / name
            os.rename(self.tmp, folder)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        write_replace(index.base / "CURRENT", name.encode())
        index.collect(keep={name, self.previous.name if self.previous else ""})
        return Generation(folder, tables, self.settings, self.settings_problems)

    def _trusted(self, ctime: int) -> int:
        return ctime if ctime < self.clock else scan.RACY

    # -- which files to read ----------------------------------------------------------------------
    def _files(self) -> dict[str, list]:
        """Read what changed into a new batch; return the new file records (path -> [ctime, size, batch, ok])."""
        old, current = self.old_files, self.found.files
        changed = {p for p, info in current.items()
                   if p not in old or old[p][0] != info.ctime_ns or old[p][0] == scan.RACY}
        removed = set(old) - set(current)
        self.changed, self.removed = changed, removed
        touched_versions = {(i.model, i.version) for p in changed | removed
                            for i in [current.get(p) or _info(p)] if i.kind == "manifest"}
        # metric rows of a version whose manifest appeared, changed or vanished are read again, so that
        # rows of unfinished registrations never reach the index
        metric_reread = {p for p, i in current.items()
                         if i.kind == "metrics" and (i.model, i.version) in touched_versions}
        stale = (changed | removed | metric_reread) & set(old)
        self.stale = stale
        files = {p: list(old[p]) for p in current if p in old and p not in stale}
        for p in files:
            files[p][0], files[p][1] = current[p].ctime_ns, current[p].size
        batch = secrets.token_hex(4)
        self.new_batch = batch
        yaml_files = sorted(p for p in changed if current[p].kind in ("manifest", "model", "event"))
        waiting = extract.read_yaml(self.root, [current[p] for p in yaml_files])
        # metric tables are read while the YAML is parsed: those of every version that has a manifest
        # (old and valid, or just read); rows of versions whose manifest turns out invalid are dropped after
        maybe = {(i.model, i.version) for p, i in current.items() if i.kind == "manifest"
                 and (p in changed or files.get(p, [0, 0, None, False])[3])}
        candidates = [current[p] for p in sorted((changed | metric_reread) & set(current))
                      if current[p].kind == "metrics" and (current[p].model, current[p].version) in maybe]
        metric_problems: list[tuple[str, str, str]] = []
        metrics = extract.read_metrics(self.root, candidates, metric_problems)
        tables, problems, ok = waiting()
        valid = {(i.model, i.version) for p, i in current.items()
                 if i.kind == "manifest" and (ok[p] if p in ok else bool(files.get(p, [0, 0, None, False])[3]))}
        to_read = [i for i in candidates if (i.model, i.version) in valid]
        read_paths = {i.path for i in to_read}
        problems += [x for x in metric_problems if x[0] in read_paths]
        if metrics is not None and len(to_read) < len(candidates):
            metrics = metrics.filter(pc.is_in(metrics["_source"], value_set=pa.array(sorted(read_paths), pa.string())))
        for path in yaml_files:
            files[path] = [current[path].ctime_ns, current[path].size, batch, ok[path]]
        failed = {p for p, _, _ in metric_problems}
        for info in to_read:
            files[info.path] = [info.ctime_ns, info.size, batch, info.path not in failed]
        for p, info in current.items():
            if p not in files:
                files[p] = [info.ctime_ns, info.size, None, False]
        tables["file_problems"] = pa.Table.from_pylist(
            [{"path": p, "severity": s, "message": m, "_source": p} for p, s, m in problems],
            schema=SCHEMAS["file_problems"])
        tables["metrics"] = metrics.cast(SCHEMAS["metrics"]) if metrics is not None \
            else SCHEMAS["metrics"].empty_table()
        self.new_rows = tables
        self.touched_versions = touched_versions | {(i.model, i.version) for i in to_read}
        self.touched_versions |= {(m, v) for p in stale for _, m, v in [scan.classify(p)] if v is not None}
        return files

    # -- segments -------------------------------------------------------------------------------
    def _write_batches(self, files: dict[str, list]) -> dict[str, list[str]]:
        """Write the new batch, rewrite old batches that lost rows, link the rest; compact; list segments."""
        stale_by_batch: dict[str, set[str]] = {}
        for path in self.stale:
            batch = self.old_files[path][2]
            if batch is not None:
                stale_by_batch.setdefault(batch, set()).add(path)
        batches: dict[str, dict[str, str]] = {}
        for batch, segments in self.batches.items():
            lost = stale_by_batch.get(batch)
            batches[batch] = {}
            for table, segment in segments.items():
                if lost:
                    kept = _drop_sources(pq.read_table(self.previous / segment), lost)
                    if kept.num_rows:
                        batches[batch][table] = self._write_segment(table, batch, kept)
                else:
                    os.link(self.previous / segment, self.tmp / segment)
                    batches[batch][table] = segment
        new = {t: rows for t, rows in self.new_rows.items() if rows.num_rows}
        batches[self.new_batch] = {t: self._write_segment(t, self.new_batch, rows) for t, rows in new.items()}
        in_use = {f[2] for f in files.values() if f[2] is not None}
        batches = {b: s for b, s in batches.items() if b in in_use and s}
        self.batches = self._compact(batches, files)
        return {t: sorted(s[t] for s in self.batches.values() if t in s) for t in SCHEMAS}

    def _write_segment(self, table: str, batch: str, rows: pa.Table) -> str:
        order, group = LAYOUT[table]
        name = f"{table}-{batch}-{secrets.token_hex(2)}.parquet"
        rows = rows.sort_by([(c, "ascending") for c in order])
        pq.write_table(rows.cast(SCHEMAS[table]), self.tmp / name, compression="zstd", row_group_size=group)
        return name

    def _compact(self, batches: dict[str, dict[str, str]], files: dict[str, list]) -> dict[str, dict[str, str]]:
        """Past MAX_BATCHES, merge the small batches (and the big one too once they add up to half of it)."""
        if len(batches) <= MAX_BATCHES:
            return batches
        sizes = {b: sum(os.path.getsize(self.tmp / s) for s in segs.values()) for b, segs in batches.items()}
        largest = max(sizes, key=sizes.get)
        merge = [b for b in batches if b != largest]
        if sum(sizes[b] for b in merge) * 2 > sizes[largest]:
            merge.append(largest)
        merged = secrets.token_hex(4)
        out = {b: s for b, s in batches.items() if b not in merge}
        out[merged] = {}
        for table in SCHEMAS:
            parts = [pq.read_table(self.tmp / batches[b][table]) for b in merge if table in batches[b]]
            if parts:
                out[merged][table] = self._write_segment(table, merged, pa.concat_tables(parts))
        for b in merge:
            for segment in batches[b].values():
                (self.tmp / segment).unlink()
        for record in files.values():
            if record[2] in merge:
                record[2] = merged
        return out

    # -- derived tables ---------------------------------------------------------------------------
    def _derive(self, files: dict[str, list], tables: dict[str, list[str]]) -> None:
        def read(table: str, models: set[str] | None) -> pa.Table:
            """Rows of ``models`` (None: all); segments are sorted by model, so row groups are skipped."""
            where = [("model", "in", sorted(models))] if models is not None else None
            parts = [pq.read_table(self.tmp / s, filters=where).cast(SCHEMAS[table]) for s in tables[table]]
            return pa.concat_tables(parts) if parts else SCHEMAS[table].empty_table()

        everything = self.previous is None or bool({"registry.yaml"} & (self.changed | self.removed))
        touched_models = {m for p in self.changed | self.removed for _, m, _ in [scan.classify(p)] if m}
        versions: dict[str, set[int]] = {}
        for path, record in files.items():
            if record[3] and path.endswith("/manifest.yaml"):
                _, model, version = scan.classify(path)
                versions.setdefault(model, set()).add(version)
        redo = None if everything else touched_models
        previous = {name: _keep_models(pq.read_table(self.previous / f"{name}.parquet"), redo)
                    if self.previous else DERIVED[name].empty_table() for name in DERIVED if name != "headline"}
        if redo is None or redo:
            events, models = read("events", redo), read("models", redo)
            fresh = derive_state(events, models, versions, self.settings)
        else:
            fresh = {name: DERIVED[name].empty_table() for name in previous}
        for name, table in previous.items():
            pq.write_table(pa.concat_tables([table, fresh[name]]), self.tmp / f"{name}.parquet")
        segments = [str(self.tmp / s) for s in tables["metrics"]]
        valid = {(m, v) for m, vs in versions.items() for v in vs}
        touched = None if self.previous is None else self.touched_versions
        old = pq.read_table(self.previous / "headline.parquet") if self.previous else None
        headline = derive_headline(segments, touched, old, valid)
        pq.write_table(headline, self.tmp / "headline.parquet", compression="zstd", row_group_size=20_000)


def _info(path: str) -> scan.FileInfo:
    kind, model, version = scan.classify(path)
    return scan.FileInfo(path, kind, model, version, 0, 0)


def connect(generation: Generation) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection with the public views of SPEC section 3 over ``generation``."""
    from .views import create_views

    con = duckdb.connect(":memory:")
    create_views(con, generation)
    return con

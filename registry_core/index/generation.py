"""The incremental index in ``.modelreg/``: what the files say, compacted into a few Parquet files.

Layout: ``.modelreg/index/<generation>/`` holds one complete, immutable build;
``CURRENT`` names the generation to read and is switched with an atomic
rename, so a reader (a CLI run, a dashboard session) always sees one complete
generation.  Deleting ``.modelreg/`` is always safe: the next open rebuilds it.

A generation is made of *batches*: the files read together in one build go
into one Parquet segment per table (``versions-<batch>.parquet``, ...), each
row tagged with its ``_source`` file.  A refresh:

1. stats every known folder and file (``scan.ctimes``, one list comprehension:
   a warm open that finds nothing changed stops here and writes nothing);
2. re-lists only the folders whose ctime moved and re-stats the files of the
   folders where a file's ctime moved (``scan.update``); every other folder
   keeps its listing, and only the files of the listings that moved are looked at;
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

import functools
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb

from registry_core import lazy
from registry_core.format.layout import CACHE_DIR, MANIFEST, METRICS_DIR, MODELS_DIR, VERSIONS_DIR, Layout
from registry_core.format.settings import Settings, load_settings
from registry_core.index import db, freshness, scan
from registry_core.index.files import DERIVED_TABLES, HEADLINE_BUCKETS, headline_bucket, headline_file
from registry_core.store.atomic import write_replace
from registry_core.store.cachedir import UNWRITABLE, cache_problem, private_cache

# a warm read (``modelreg resolve``) needs none of these: imported on first use
pa = lazy.module("pyarrow")
pc = lazy.module("pyarrow.compute")
pq = lazy.module("pyarrow.parquet")
extract = lazy.module("registry_core.index.extract")
yamlrows = lazy.module("registry_core.index.yamlrows")
derive = lazy.module("registry_core.index.derive")
auditing = lazy.module("registry_core.index.auditing")
tables_ = lazy.module("registry_core.index.tables")

INDEX_FORMAT = 7
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


class FileRecord(NamedTuple):
    """What a generation knows of one file: immutable, so a state shared by every refresh that starts
    from it (this process's memo) cannot be changed by a refresh that fails half-way."""

    ctime_ns: int
    size: int
    batch: str | None  # the batch holding the file's rows (None: not read)
    ok: bool  # the file produced its main row


NO_RECORD = FileRecord(0, 0, None, False)


@dataclass
class Generation:
    """One complete, immutable index build on disk."""

    folder: Path
    tables: dict[str, list[str]]  # table of file rows -> its segment files in ``folder``
    settings: Settings
    settings_problems: list[tuple[str, str, str]] = field(default_factory=list)

    def paths(self, name: str) -> list[Path]:
        """The Parquet files holding table ``name`` (a table of file rows, or a derived one)."""
        if name == "headline":
            return [self.folder / headline_file(b) for b in range(HEADLINE_BUCKETS)]
        if name in DERIVED_TABLES:
            return [self.folder / f"{name}.parquet"]
        return [self.folder / s for s in self.tables.get(name, [])]


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


class _Stored(Mapping[str, scan.Listing]):
    """The listings of a stored state, as columns; a listing object is made only when asked for.

    A new process that finds one folder changed should not build 20,000 listing objects (and 34,000
    file records) to compare one: it builds those of the folders it looks at.
    """

    def __init__(self, dirs: list[str], dir_ctime: list[int], counts: list[int], paths: list[str],
                 ctimes: list[int], sizes: list[int], problems: dict[str, list], pending: dict[str, tuple]) -> None:
        self.dirs, self.dir_ctime, self.counts = dirs, dir_ctime, counts
        self.paths, self.ctimes, self.sizes = paths, ctimes, sizes
        self.problems, self.pending = problems, pending
        self.index = dict(zip(dirs, range(len(dirs))))
        self.starts = [0, *itertools.accumulate(counts)]
        self._children: dict[str, list[str]] | None = None
        self._made: dict[str, scan.Listing] = {}

    def __getitem__(self, rel: str) -> scan.Listing:
        made = self._made.get(rel)
        if made is not None:
            return made
        i = self.index[rel]
        if self._children is None:
            children: dict[str, list[str]] = {}
            for folder in self.dirs:
                if folder:
                    children.setdefault(folder.rsplit("/", 1)[0] if "/" in folder else "", []).append(folder)
            self._children = children
        start, count = self.starts[i], self.counts[i]
        files = []
        if count:
            kind, model, version = scan.classify(self.paths[start])  # one kind, model, version per folder
            files = [scan.FileInfo(path, kind, model, version, ctime, size) for path, ctime, size in
                     zip(self.paths[start:start + count], self.ctimes[start:start + count],
                         self.sizes[start:start + count])]
        made = scan.Listing(self.dir_ctime[i], files, self._children.get(rel, []), self.problems.get(rel, []),
                            self.pending.get(rel))
        self._made[rel] = made
        return made

    def __contains__(self, rel: object) -> bool:
        return rel in self.index

    def __iter__(self) -> Iterator[str]:
        return iter(self.dirs)

    def __len__(self) -> int:
        return len(self.dirs)


class _State:
    """What a generation knows about the folders and files it was built from.

    Stored as ``dirs.arrow`` and ``files.arrow`` (Arrow IPC: each folder, then each file folder by
    folder, with its recorded ctime) plus ``state.json`` (the few folders with problems or pending
    versions).

    ``listings``: folder -> its listing, with the files' ctimes as recorded (``scan.RACY`` if untrusted).
    ``files``: path -> FileRecord(ctime_ns, size, batch, ok) where ``batch`` holds the file's rows (None if it was
    not read: a metric table of a version without a valid manifest) and ``ok`` says the file produced its
    main row (a manifest that parsed and passed its checks is a version).  Records and listings are
    never changed in place once a generation is written: a state is shared by every refresh that
    starts from it.
    """

    def __init__(self, listings: Mapping[str, scan.Listing], files: dict[str, FileRecord]) -> None:
        self.listings = listings
        self.files = files

    @classmethod
    def load(cls, folder: Path) -> _State:
        raw = json.loads((folder / "state.json").read_text())
        dirs, files_table = _read_arrow(folder / "dirs.arrow"), _read_arrow(folder / "files.arrow")
        paths, ctimes, sizes, batches, oks = (files_table[c].to_pylist() for c in files_table.column_names)
        rels, dir_ctimes, counts = (dirs[c].to_pylist() for c in dirs.column_names)
        problems = {rel: [tuple(x) for x in found] for rel, found in raw["dir_problems"].items()}
        pending = {rel: (model, version) for rel, (model, version) in raw["pending"].items()}
        files = dict(zip(paths, map(FileRecord._make, zip(ctimes, sizes, batches, oks))))
        return cls(_Stored(rels, dir_ctimes, counts, paths, ctimes, sizes, problems, pending), files)

    def settled(self, clock: int) -> _State:
        """This state as it is stored: ctimes not older than ``clock`` (the build's start) are untrusted.

        Listings of a stored state were settled when it was written: only the others are looked at.
        """
        listings, files = self.listings, self.files
        racy_dirs = [rel for rel, listing in _made_here(listings).items() if listing.ctime_ns >= clock]
        racy_files = [path for path, record in files.items() if record[0] >= clock]
        if not racy_dirs and not racy_files:
            return self
        listings = listings if isinstance(listings, scan.Listings) else dict(listings)
        files = dict(files)
        for path in racy_files:
            files[path] = files[path]._replace(ctime_ns=scan.RACY)
        for rel in {*racy_dirs, *(p.rsplit("/", 1)[0] if "/" in p else "" for p in racy_files)}:
            old = listings[rel]
            listings[rel] = scan.Listing(
                scan.RACY if old.ctime_ns >= clock else old.ctime_ns,
                [i._replace(ctime_ns=scan.RACY) if i.ctime_ns >= clock else i for i in old.files],
                old.subdirs, old.problems, old.pending)
        return _State(listings, files)

    def columns(self) -> _Stored:
        """The state as columns: a stored state's, with the folders that changed since put at the end."""
        listings = self.listings
        if isinstance(listings, scan.Listings) and isinstance(listings.base, _Stored):
            base, changed = listings.base, listings.changed
            gone = sorted((base.index[rel] for rel in listings.removed | changed.keys() if rel in base.index),
                          reverse=True)
            dirs, dir_ctime, counts = list(base.dirs), list(base.dir_ctime), list(base.counts)
            paths, ctimes, sizes = list(base.paths), list(base.ctimes), list(base.sizes)
            for i in gone:  # from the end, so the positions before stay right
                start, end = base.starts[i], base.starts[i + 1]
                del dirs[i], dir_ctime[i], counts[i], paths[start:end], ctimes[start:end], sizes[start:end]
            problems = {rel: found for rel, found in base.problems.items() if rel not in listings.removed}
            pending = {rel: found for rel, found in base.pending.items() if rel not in listings.removed}
            items = changed.items()
        else:
            dirs, dir_ctime, counts, paths, ctimes, sizes = [], [], [], [], [], []
            problems, pending = {}, {}
            items = listings.items()
        for rel, listing in items:
            dirs.append(rel)
            dir_ctime.append(listing.ctime_ns)
            counts.append(len(listing.files))
            paths += [info.path for info in listing.files]
            ctimes += [info.ctime_ns for info in listing.files]
            sizes += [info.size for info in listing.files]
            problems.pop(rel, None)
            pending.pop(rel, None)
            if listing.problems:
                problems[rel] = listing.problems
            if listing.pending:
                pending[rel] = listing.pending
        return _Stored(dirs, dir_ctime, counts, paths, ctimes, sizes, problems, pending)

    def save(self, folder: Path, columns: _Stored, previous: Path | None = None, moved: list[str] | None = None
             ) -> None:
        """Write the state (a settled one, as ``columns``): Arrow files, files folder by folder; and the
        check files of ``freshness`` (the same paths and ctimes, grouped by model)."""
        records = [self.files[path] for path in columns.paths]
        _write_arrow(folder / "dirs.arrow", {"path": columns.dirs, "ctime": columns.dir_ctime,
                                             "files": columns.counts})
        _write_arrow(folder / "files.arrow", {"path": columns.paths, "ctime": columns.ctimes,
                                              "size": columns.sizes, "batch": [r[2] for r in records],
                                              "ok": [r[3] for r in records]})
        (folder / "state.json").write_text(json.dumps({"dir_problems": columns.problems, "pending": columns.pending}))
        freshness.write_check(folder, columns, previous, moved)


def _made_here(listings: Mapping[str, scan.Listing]) -> Mapping[str, scan.Listing]:
    """The listings not taken from a stored state as they were (all of them, for a fresh walk)."""
    if isinstance(listings, scan.Listings) and isinstance(listings.base, _Stored):
        return listings.changed
    return listings


@functools.cache
def _state_schemas() -> dict[str, pa.Schema]:
    return {
        "dirs.arrow": pa.schema([("path", pa.string()), ("ctime", pa.int64()), ("files", pa.int64())]),
        "files.arrow": pa.schema([("path", pa.string()), ("ctime", pa.int64()), ("size", pa.int64()),
                                  ("batch", pa.string()), ("ok", pa.bool_())]),
    }


def _write_arrow(path: Path, columns: dict[str, list]) -> None:
    table = pa.table(columns, schema=_state_schemas()[path.name])
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def _read_arrow(path: Path) -> pa.Table:
    """One state file, checked against its schema (a damaged one raises, and the index is rebuilt)."""
    with pa.memory_map(str(path)) as source:
        table = pa.ipc.open_file(source).read_all()
    if not table.schema.equals(_state_schemas()[path.name]):
        raise ValueError(f"{path}: unexpected columns")
    return table


class DamagedCache(ValueError):
    """A file of a generation cannot be read (truncated, overwritten): the index is rebuilt from the catalog."""


class CacheRebuilt(UserWarning):
    """Issued once when a damaged index was found and rebuilt (the CLI prints it as one line on stderr)."""


#: generations found damaged by this process: never read or built upon again
_DAMAGED: set[str] = set()


def check_parquet(path: Path) -> None:
    """Raise ``DamagedCache`` unless ``path`` is framed as a Parquet file: ``PAR1`` at both ends and a footer
    length that fits (a truncated or overwritten file fails).  Read without pyarrow, so that a warm read
    imports none; damage inside a footer that keeps the frame is caught when a query reads it
    (``Catalog._recover``)."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4)
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(size - 8, 0))
            tail = handle.read(8)
    except OSError as exc:
        raise DamagedCache(f"{path.name}: {exc.strerror or type(exc).__name__}") from None
    footer = int.from_bytes(tail[:4], "little") if len(tail) == 8 else -1
    if head != b"PAR1" or tail[4:] != b"PAR1" or not 0 < footer <= size - 12:
        raise DamagedCache(f"{path.name}: not a whole Parquet file (truncated or overwritten)")


def check_generation(folder: Path, tables: Mapping[str, list[str]]) -> None:
    """Raise ``DamagedCache`` unless every file a reader of ``folder`` needs can be read.

    Done once per process and generation (on the first open), so a damaged cache means a rebuild rather
    than every command failing with "unexpected ...": the footer of each Parquet file (a few dozen)
    and ``structure.json``.
    """
    names = [s for segments in tables.values() for s in segments]
    names += [f"{n}.parquet" for n in DERIVED_TABLES if n != "headline"]
    names += [headline_file(b) for b in range(HEADLINE_BUCKETS)]
    for name in names:
        check_parquet(folder / name)
    try:
        structure = json.loads((folder / "structure.json").read_text())
    except (OSError, ValueError) as exc:
        raise DamagedCache(f"structure.json: {exc}") from None
    if not isinstance(structure, list) or not all(
            isinstance(p, dict) and all(isinstance(p.get(k), str) for k in ("path", "severity", "message"))
            for p in structure):
        raise DamagedCache("structure.json: not a list of problems")


def _damaged_if_unreadable(read, folder: Path):
    """``read(folder)``, with a file that is there but unreadable reported as ``DamagedCache`` (a missing
    one is not damage: another process may have collected an old generation)."""
    try:
        return read(folder)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, pa.ArrowException) as exc:
        raise DamagedCache(f"{folder.name}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"
                           ) from None


def _state_file(folder: Path, name: str) -> pa.Table:
    return _damaged_if_unreadable(lambda f: _read_arrow(f / name), folder)


def _rebuilt(reason: str) -> None:
    warnings.warn(f"the index cache was damaged ({reason}); rebuilt it from the catalog", CacheRebuilt,
                  stacklevel=4)


@dataclass
class _Memo:
    """This process's copy of the latest generation's state: a refresh that finds it current skips
    reading the state's paths and, when something changed, the rest of it.  Generations are immutable,
    so a memo keyed by the generation's name can never be stale."""

    recorded: freshness.Recorded
    state: _State | None = None

    @property
    def name(self) -> str:
        return self.recorded.name


#: catalog root -> the memo of the last generation this process read or built there
_MEMOS: dict[str, _Memo] = {}


class Index:
    """Builds and opens the index of one catalog."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        #: why the catalog's .modelreg is refused (None: it is ours); reported as a problem of the catalog
        self.cache_problem = cache_problem(layout.cache)
        #: told (folders, files) as a first build's walk finds them
        self.progress: Callable[[int, int], None] | None = None
        self._settings_memo: tuple[tuple[int, int, int], tuple[Settings, list]] | None = None
        self._use(layout.cache if self.cache_problem is None else private_cache(layout.root))

    def _use(self, cache: Path) -> None:
        self.cache = cache
        self.base = cache / "index"
        self._unwritable: OSError | None = None

    # -- reading the current generation -------------------------------------------------------
    def _current(self, name: str | None = None) -> tuple[Path, dict] | None:
        """The current generation and its meta.json; None when the next refresh must build anew: no
        index yet, one of an older (or newer) INDEX_FORMAT (an upgrade, silently), or a damaged
        meta.json (said once, as any other damage)."""
        try:
            name = name or (self.base / "CURRENT").read_text().strip()
            if not re.fullmatch(r"g-\d+-[0-9a-f]+", name) or name in _DAMAGED:
                return None
            meta = json.loads((self.base / name / "meta.json").read_text())
        except FileNotFoundError:
            return self._switched(name)
        except (OSError, ValueError) as exc:
            return self._damaged(name, f"{name}/meta.json: {(str(exc).splitlines() or [type(exc).__name__])[0]}")
        written = meta.get("format") if isinstance(meta, dict) else None
        if type(written) is not int:
            return self._damaged(name, f"{name}/meta.json: no index format")
        if written != INDEX_FORMAT:
            return None
        return self.base / name, meta

    def _switched(self, name: str | None) -> tuple[Path, dict] | None:
        """CURRENT is missing (no index yet), or its generation's meta.json is: another process may have
        switched CURRENT and removed that generation between our two reads; else it is damage."""
        try:
            now = (self.base / "CURRENT").read_text().strip()
        except OSError:
            return None
        if now != name:
            return self._current(now)
        return self._damaged(now, f"{now}/meta.json: missing")

    @staticmethod
    def _damaged(name: str, reason: str) -> None:
        _DAMAGED.add(name)
        _rebuilt(reason)

    def current_name(self) -> str | None:
        """The name of the generation a refresh would start from (None: the next refresh builds anew)."""
        current = self._current()
        return current[0].name if current else None

    def _writable(self) -> None:
        """Raise the error that made ``_clock`` fail when the cache cannot be written: before reading the
        whole catalog for a build that could never be saved (``refresh`` then builds in temp)."""
        if self._unwritable is not None:
            raise self._unwritable

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
        except OSError as exc:
            self._unwritable = exc if exc.errno in UNWRITABLE else None
            return time.time_ns() - 2_000_000_000

    def _memo(self, folder: Path) -> _Memo:
        memo = _MEMOS.get(str(self.layout.root))
        if memo is None or memo.name != folder.name:
            self._check(folder)
            memo = _Memo(freshness.Recorded(self.layout.root, folder))
            _MEMOS[str(self.layout.root)] = memo
        return memo

    def _check(self, folder: Path) -> None:
        """``check_generation`` of the current generation, read from its own meta.json."""
        meta = json.loads((folder / "meta.json").read_text())
        check_generation(folder, meta["tables"])

    def forget(self, folder: Path, reason: str) -> None:
        """A reader found ``folder`` damaged: the next refresh builds anew, and says so once."""
        _DAMAGED.add(folder.name)
        _MEMOS.pop(str(self.layout.root), None)
        _rebuilt(reason)

    def _settings(self, clock: int) -> tuple[Settings, list[tuple[str, str, str]]]:
        """``load_settings``, parsed again only when registry.yaml changed: an in-process checked read
        should cost milliseconds.  Kept only once its ctime is older than ``clock`` (a later edit then
        moves it, even in the same tick as the one kept: the "racy" rule of the index)."""
        try:
            stat = os.stat(self.layout.registry, follow_symlinks=False)
            key = (stat.st_ctime_ns, stat.st_size, stat.st_ino)
        except OSError:
            key = None
        memo = self._settings_memo
        if key is not None and memo is not None and memo[0] == key:
            return memo[1]
        result = load_settings(self.layout)
        self._settings_memo = (key, result) if key is not None and key[0] < clock else None
        return result

    def refresh(self, scope: freshness.Scope = freshness.CATALOG) -> Generation:
        """Bring the index up to date with the files ``scope`` covers and return the current generation.

        One stat of each folder and file of the scope decides (``freshness``); when nothing moved,
        nothing is read or written.  A catalog that cannot be written (a read-only mount, a full disk) is
        indexed in this user's temp folder instead, so it can still be read.
        """
        self.cache_problem = cache_problem(self.layout.cache)  # (a link can appear while a dashboard runs)
        if self.cache_problem is not None and self.cache == self.layout.cache:
            self._use(private_cache(self.layout.root))
        try:
            return self._refresh(scope)
        except OSError as exc:
            if exc.errno not in UNWRITABLE or self.cache != self.layout.cache:
                raise
        self._use(private_cache(self.layout.root))
        return self._refresh(scope)

    def _refresh(self, scope: freshness.Scope) -> Generation:
        clock = self._clock()
        settings, settings_problems = self._settings(clock)
        if self.cache_problem is not None:
            settings_problems = [*settings_problems, (CACHE_DIR, "error", f"{self.cache_problem} (the index is kept "
                                                                          "in a temporary folder; writes are refused)")]
        current = self._current()
        if current is not None:
            folder, meta = current
            try:
                memo = self._memo(folder)
                changed_dirs, changed_files = memo.recorded.select(scope).changes()
                if not changed_dirs and not changed_files:
                    return Generation(folder, meta["tables"], settings, settings_problems)
                if memo.state is None:
                    memo.state = _damaged_if_unreadable(_State.load, folder)
                state = memo.state
            except FileNotFoundError:  # another process collected it: build anew, nothing to say
                current = None
            except (OSError, ValueError, KeyError, TypeError, IndexError, pa.ArrowException) as exc:
                # DamagedCache, or a check file of the generation (``freshness``) that does not read
                _DAMAGED.add(folder.name)
                _rebuilt(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
                current = None
        self._writable()
        if current is None:
            return self._first_build(clock, settings, settings_problems)
        listings = scan.update(self.layout.root, state.listings, changed_dirs, changed_files)
        try:
            return _Build(self, folder, meta, state, listings, clock, settings, settings_problems).run()
        except DamagedCache as exc:  # a segment it would have carried over: never into a new generation
            _DAMAGED.add(folder.name)
            _rebuilt(str(exc))
            return self._first_build(clock, settings, settings_problems)
        except OSError as exc:
            if exc.errno in UNWRITABLE:
                raise  # (refresh builds in temp)
            return self._first_build(clock, settings, settings_problems)
        except (ValueError, pa.ArrowException):
            # the previous generation vanished or is damaged (another process collected it): build anew
            return self._first_build(clock, settings, settings_problems)

    def _first_build(self, clock: int, settings: Settings, settings_problems: list[tuple[str, str, str]]
                     ) -> Generation:
        """Build from nothing: the YAML files are read (by worker processes, in a large catalog) while
        the walk is still finding them."""
        feed = yamlrows.Feed(self.layout.root)
        try:
            listings = scan.scan(self.layout.root, found=self._reporting(feed)).listings
            return _Build(self, None, None, None, listings, clock, settings, settings_problems, feed).run()
        finally:
            feed.stop()

    def _reporting(self, feed: yamlrows.Feed) -> Callable[[scan.Listing], None]:
        """``feed``, telling ``progress`` what the walk has found so far (a first build takes seconds)."""
        progress = self.progress
        if progress is None:
            return feed
        seen = [0, 0]

        def found(listing: scan.Listing) -> None:
            feed(listing)
            seen[0] += 1
            seen[1] += len(listing.files)
            progress(seen[0], seen[1])

        return found

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
                 listings: Mapping[str, scan.Listing], clock: int, settings: Settings,
                 settings_problems: list[tuple[str, str, str]], feed: yamlrows.Feed | None = None) -> None:
        self.index = index
        self.feed = feed or yamlrows.Feed(index.layout.root)
        self.root = index.layout.root
        self.previous = previous
        self.batches: dict[str, dict[str, str]] = dict(meta["batches"]) if meta else {}
        self.old_files = state.files if state else {}
        self.listings = listings
        # what moved: the listings that are not the previous state's very objects, and those that are gone
        old: Mapping[str, scan.Listing] = state.listings if state else {}
        if isinstance(listings, scan.Listings) and listings.base is old:
            affected = list(listings.changed)
            gone = [rel for rel in listings.removed if rel not in listings.changed]
        else:
            affected = [rel for rel, listing in listings.items() if listing is not old.get(rel)]
            gone = [rel for rel in old if rel not in listings]
        self.moved = affected + gone
        self.infos = {info.path: info for rel in affected for info in listings[rel].files}
        self.old_paths = {info.path for rel in affected + gone if rel in old for info in old[rel].files}
        self.clock = clock
        self.settings = settings
        self.settings_problems = settings_problems
        self.early_headline: Future[pa.Table] | None = None

    def run(self) -> Generation:
        index = self.index
        index.base.mkdir(parents=True, exist_ok=True)
        gitignore = index.cache / ".gitignore"
        if not gitignore.exists():
            write_replace(gitignore, b"*\n")
        name = f"g-{time.time_ns()}-{secrets.token_hex(3)}"
        self.tmp = index.base / f".tmp-{name}"
        self.tmp.mkdir()
        try:
            files = self._files()
            tables = self._write_batches(files)
            self._derive(files, tables)
            state = _State(self.listings, files).settled(self.clock)
            columns = state.columns()
            state.save(self.tmp, columns, self.previous, self.moved)
            problems = [x for rel in sorted(columns.problems) for x in columns.problems[rel]]
            (self.tmp / "structure.json").write_text(json.dumps(
                [{"path": p, "severity": s, "message": m} for p, s, m in problems]))
            (self.tmp / "meta.json").write_text(json.dumps({"format": INDEX_FORMAT, "batches": self.batches,
                                                            "tables": tables}))
            folder = index.base / name
            os.rename(self.tmp, folder)
        except BaseException:
            shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        write_replace(index.base / "CURRENT", name.encode())
        _MEMOS[str(self.root)] = _Memo(freshness.Recorded(self.root, folder), _State(columns, state.files))
        index.collect(keep={name, self.previous.name if self.previous else ""})
        return Generation(folder, tables, self.settings, self.settings_problems)

    def _metric_files(self, model: str, version: int) -> list[scan.FileInfo]:
        listing = self.listings.get(f"{MODELS_DIR}/{model}/{VERSIONS_DIR}/{version}/{METRICS_DIR}")
        return listing.files if listing else []

    # -- which files to read ----------------------------------------------------------------------
    def _files(self) -> dict[str, FileRecord]:
        """Read what changed into a new batch; return the new file records (path -> FileRecord).

        Only the files of the listings that moved are looked at (all of them in a first build).
        """
        old, current = self.old_files, self.infos
        changed = {p for p, info in current.items()
                   if p not in old or old[p][0] != info.ctime_ns or old[p][0] == scan.RACY}
        removed = self.old_paths - current.keys()
        self.changed, self.removed = changed, removed
        touched_versions = {(i.model, i.version) for p in changed | removed
                            for i in [current.get(p) or _info(p)] if i.kind == "manifest"}
        # metric rows of a version whose manifest appeared, changed or vanished are read again, so that
        # rows of unfinished registrations never reach the index
        infos = dict(current)
        for model, version in touched_versions:
            infos.update((i.path, i) for i in self._metric_files(model, version))
        metric_reread = {p for p, i in infos.items()
                         if i.kind == "metrics" and (i.model, i.version) in touched_versions}
        stale = (changed | removed | metric_reread) & old.keys()
        self.stale = stale
        files = dict(old)
        for p in stale | removed:
            del files[p]
        for p, info in current.items():
            record = files.get(p)
            if record is not None and (record[0] != info.ctime_ns or record[1] != info.size):
                files[p] = record._replace(ctime_ns=info.ctime_ns, size=info.size)
        batch = secrets.token_hex(4)
        self.new_batch = batch
        yaml_files = sorted(p for p in changed if current[p].kind in ("manifest", "model", "event"))
        waiting = self.feed.finish([current[p] for p in yaml_files])

        def manifest(model: str, version: int) -> str:
            return f"{MODELS_DIR}/{model}/{VERSIONS_DIR}/{version}/{MANIFEST}"

        # metric tables are read while the YAML is parsed (by worker processes in a big build): those of
        # every version that has a manifest (old and valid, or just read), straight into the new batch's
        # segment; rows of versions whose manifest turns out invalid are dropped after, so that rows of
        # unfinished registrations never reach the index
        candidates = [infos[p] for p in sorted(changed | metric_reread) if p in infos and infos[p].kind == "metrics"
                      and ((m := manifest(infos[p].model, infos[p].version)) in changed
                           or files.get(m, NO_RECORD).ok)]
        metric_problems: list[tuple[str, str, str]] = []
        segment = self.tmp / f"metrics-{batch}-{secrets.token_hex(2)}.parquet"
        failed = extract.write_metrics(self.root, candidates, metric_problems, segment)
        with ThreadPoolExecutor(1) as pool:
            if self.previous is None and segment.exists():
                # a first build's headline values come from this segment alone: computed while the YAML
                # is still being read (by a worker process, in a big build) rather than after
                self.early_headline = pool.submit(derive.derive_headline, [str(segment)], None, None, set())
            tables, problems, ok = waiting()
        to_read = [i for i in candidates
                   if ok.get(m := manifest(i.model, i.version), files.get(m, NO_RECORD).ok)]
        read_paths = {i.path for i in to_read}
        problems += [x for x in metric_problems if x[0] in read_paths]
        if len(to_read) < len(candidates) and segment.exists():
            self.early_headline = None  # (it included rows about to be dropped)
            _keep_sources(segment, read_paths)
        self.new_metrics = segment.name if segment.exists() else None
        for path in yaml_files:
            files[path] = FileRecord(current[path].ctime_ns, current[path].size, batch, ok[path])
        for info in to_read:
            files[info.path] = FileRecord(info.ctime_ns, info.size, batch, info.path not in failed)
        for p in changed | metric_reread:
            if p in infos and p not in files:
                files[p] = FileRecord(infos[p].ctime_ns, infos[p].size, None, False)
        tables["file_problems"] = pa.Table.from_pylist(
            [{"path": p, "severity": s, "message": m, "_source": p} for p, s, m in problems],
            schema=tables_.SCHEMAS["file_problems"])
        self.new_rows = tables
        self.touched_versions = touched_versions | {(i.model, i.version) for i in to_read}
        self.touched_versions |= {(m, v) for p in stale for _, m, v in [scan.classify(p)] if v is not None}
        return files

    # -- segments -------------------------------------------------------------------------------
    def _write_batches(self, files: dict[str, FileRecord]) -> dict[str, list[str]]:
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
                    check_parquet(self.previous / segment)
                    os.link(self.previous / segment, self.tmp / segment)
                    batches[batch][table] = segment
        new = {t: rows for t, rows in self.new_rows.items() if rows.num_rows}
        batches[self.new_batch] = {t: self._write_segment(t, self.new_batch, rows) for t, rows in new.items()}
        if self.new_metrics:
            batches[self.new_batch]["metrics"] = self.new_metrics
        in_use = {f[2] for f in files.values() if f[2] is not None}
        batches = {b: s for b, s in batches.items() if b in in_use and s}
        self.batches = self._compact(batches, files)
        return {t: sorted(s[t] for s in self.batches.values() if t in s) or [self._empty(t)] for t in tables_.SCHEMAS}

    def _empty(self, table: str) -> str:
        """A segment with no rows: every table has a file, so the views know its columns without pyarrow."""
        name = f"{table}-empty.parquet"
        pq.write_table(tables_.SCHEMAS[table].empty_table(), self.tmp / name)
        return name

    def _write_segment(self, table: str, batch: str, rows: pa.Table) -> str:
        order, group = LAYOUT[table]
        name = f"{table}-{batch}-{secrets.token_hex(2)}.parquet"
        rows = rows.sort_by([(c, "ascending") for c in order])
        pq.write_table(rows.cast(tables_.SCHEMAS[table]), self.tmp / name, compression="zstd", row_group_size=group)
        return name

    def _compact(self, batches: dict[str, dict[str, str]], files: dict[str, FileRecord]
                 ) -> dict[str, dict[str, str]]:
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
        for table in tables_.SCHEMAS:
            parts = [pq.read_table(self.tmp / batches[b][table]).cast(tables_.SCHEMAS[table])
                     for b in merge if table in batches[b]]
            if parts:
                out[merged][table] = self._write_segment(table, merged, pa.concat_tables(parts))
        for b in merge:
            for segment in batches[b].values():
                (self.tmp / segment).unlink()
        # new records, never the old ones changed: the previous state (this process's memo) shares them
        for path, record in files.items():
            if record.batch in merge:
                files[path] = record._replace(batch=merged)
        return out

    # -- derived tables ---------------------------------------------------------------------------
    def _valid_versions(self, files: dict[str, FileRecord], models: set[str] | None) -> dict[str, set[int]]:
        """model -> its versions with a valid manifest, for ``models`` (None: every model)."""
        versions: dict[str, set[int]] = {}
        if models is None:
            manifests = [p for p, record in files.items() if record[3] and p.endswith(f"/{MANIFEST}")]
        else:
            manifests = [f"{folder}/{MANIFEST}" for m in models
                         for listing in [self.listings.get(f"{MODELS_DIR}/{m}/{VERSIONS_DIR}")] if listing
                         for folder in listing.subdirs]
            manifests = [p for p in manifests if files.get(p, NO_RECORD).ok]
        for path in manifests:
            _, model, version = scan.classify(path)
            versions.setdefault(model, set()).add(version)
        return versions

    def _derive(self, files: dict[str, FileRecord], tables: dict[str, list[str]]) -> None:
        def read(table: str, models: set[str] | None) -> pa.Table:
            """Rows of ``models`` (None: all); segments are sorted by model, so row groups are skipped."""
            where = [("model", "in", sorted(models))] if models is not None else None
            parts = [pq.read_table(self.tmp / s, filters=where).cast(tables_.SCHEMAS[table]) for s in tables[table]]
            return pa.concat_tables(parts) if parts else tables_.SCHEMAS[table].empty_table()

        everything = self.previous is None or bool({"registry.yaml"} & (self.changed | self.removed))
        touched_models = {m for p in self.changed | self.removed for _, m, _ in [scan.classify(p)] if m}
        redo = None if everything else touched_models
        versions = self._valid_versions(files, redo)
        derived = derive.DERIVED
        previous = {name: _keep_models(pq.read_table(self.previous / f"{name}.parquet"), redo)
                    if self.previous else derived[name].empty_table() for name in derived if name != "headline"}
        segments = [str(self.tmp / s) for s in tables["metrics"]]
        touched = None if self.previous is None else self.touched_versions
        if touched is None or len(touched) > derive.FULL_HEADLINE_FROM:
            every = versions if redo is None else self._valid_versions(files, None)
            valid = {(m, v) for m, vs in every.items() for v in vs}
            early = self.early_headline
            everything_now = early.result() if early else derive.derive_headline(segments, None, None, valid)
            buckets = derive.split_headline(everything_now)
        else:
            buckets = {}
            by_bucket: dict[int, set[tuple[str, int]]] = {}
            for model, version in touched:
                by_bucket.setdefault(headline_bucket(model), set()).add((model, version))
            for bucket, these in by_bucket.items():
                # the rows recomputed are those of touched models x touched numbers (derive.derive_headline)
                names, numbers = {m for m, _ in these}, {v for _, v in these}
                valid = {(m, v) for m in names for v in numbers
                         if files.get(f"{MODELS_DIR}/{m}/{VERSIONS_DIR}/{v}/{MANIFEST}", NO_RECORD).ok}
                old = pq.read_table(self.previous / headline_file(bucket))
                fresh = derive.derive_headline(segments, these, old, valid)
                buckets[bucket] = fresh.sort_by([("model", "ascending"), ("version", "ascending")])
        for bucket in range(HEADLINE_BUCKETS):
            name = headline_file(bucket)
            if bucket in buckets:
                pq.write_table(buckets[bucket], self.tmp / name, compression="zstd", row_group_size=20_000)
            else:
                check_parquet(self.previous / name)
                os.link(self.previous / name, self.tmp / name)
        # the replay checks gates against the headline metrics, so the state is derived after them
        if redo is None or redo:
            events, models = read("events", redo), read("models", redo)
            where = [("model", "in", sorted(redo))] if redo is not None else None
            headline = pa.concat_tables([pq.read_table(self.tmp / headline_file(b), filters=where)
                                         for b in range(HEADLINE_BUCKETS)])
            source = auditing.AuditSource(self.root, self.settings, models, read("versions", redo), headline, events)
            fresh = derive.derive_state(events, models, versions, self.settings, source)
        else:
            fresh = {name: derived[name].empty_table() for name in previous}
        for name, table in previous.items():
            pq.write_table(pa.concat_tables([table, fresh[name]]), self.tmp / f"{name}.parquet")


def _keep_sources(segment: Path, sources: set[str]) -> None:
    """Rewrite a metrics segment with only the rows of ``sources`` (removed if none is left)."""
    con = db.build_cursor()
    try:
        kept = segment.with_name(f".kept-{segment.name}")
        rows = con.sql("SELECT * FROM read_parquet($segment) WHERE _source IN (SELECT unnest($sources))",
                       params={"segment": str(segment), "sources": sorted(sources)})
        rows.write_parquet(str(kept), compression="zstd", row_group_size=LAYOUT["metrics"][1])
        if pq.ParquetFile(kept).metadata.num_rows:
            os.replace(kept, segment)
        else:
            kept.unlink()
            segment.unlink()
    finally:
        con.close()


def _info(path: str) -> scan.FileInfo:
    kind, model, version = scan.classify(path)
    return scan.FileInfo(path, kind, model, version, 0, 0)


_SCHEMAS: list[str] = []  # schemas of generations in the shared DuckDB instance, oldest first
_SCHEMAS_LOCK = threading.Lock()
#: schemas kept in the shared instance (a reader pinned to an older generation than this is unheard of)
KEEP_SCHEMAS = 32


class Views:
    """The views of SPEC section 3 over one generation, in a schema of this process's DuckDB instance.

    The schema is made once per generation (generations never change); each query gets its own
    cursor (a DuckDB connection of the shared instance: safe across threads) pointed at it.
    """

    def __init__(self, generation: Generation) -> None:
        self.generation = generation
        self.schema = "g_" + hashlib.sha256(str(generation.folder).encode()).hexdigest()[:20]
        self._ensure()

    def _ensure(self) -> None:
        """Create the schema unless it exists (again, if it was dropped as one of the oldest)."""
        from registry_core.index.views import create_views

        with _SCHEMAS_LOCK:
            if self.schema in _SCHEMAS:
                return
            con = db.cursor()
            try:
                con.execute(f"CREATE SCHEMA {self.schema}")
                create_views(con, self.generation, self.schema)
                _SCHEMAS.append(self.schema)
                while len(_SCHEMAS) > KEEP_SCHEMAS:
                    con.execute(f"DROP SCHEMA IF EXISTS {_SCHEMAS.pop(0)} CASCADE")
            except BaseException:
                con.execute(f"DROP SCHEMA IF EXISTS {self.schema} CASCADE")
                raise
            finally:
                con.close()

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A new connection whose unqualified names are this generation's views (close it after use)."""
        if self.schema not in _SCHEMAS:
            self._ensure()
        con = db.cursor()
        con.execute(f"SET search_path = '{self.schema}'")
        return con

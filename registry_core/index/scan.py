"""Walk a catalog folder: which files exist, what kind they are, and their stats.

The walk never follows symbolic links (a link is reported, not read), skips
the ``.modelreg`` cache, and reports structural problems (leftover temporary
files, version folders without a manifest, bad folder names) on the way.
Nothing here parses file contents; that is the index's job, per changed file.

The walk is a set of independent directory *listings*: what a folder holds
depends only on that folder's entries.  So an index that kept the listings of
its last build can re-list just the folders whose change time (ctime) moved
(a file was created, renamed or removed in them) and re-stat the files of the
others (a file edited in place changes only its own ctime): see :func:`update`.
ctime rather than mtime, because no tool can set it back (``cp -p``, ``touch -d``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISDIR
from typing import NamedTuple

from registry_core.format.layout import (
    ARTIFACTS_DIR,
    CACHE_DIR,
    EVENTS_DIR,
    MANIFEST,
    METRICS_DIR,
    MODEL_FILE,
    MODELS_DIR,
    REGISTRY_FILE,
    VERSIONS_DIR,
    parse_path,
)
from registry_core.format.names import MAX_VERSION, is_name
from registry_core.store.atomic import is_temporary

Problem = tuple[str, str, str]  # (path, severity, message)
#: a stored ctime that must not be trusted (it was in the same clock tick as the scan): always re-check
RACY = -1
#: the "ctime" of a path that is gone
MISSING = -2
_LEFTOVER = "leftover temporary file of an interrupted write"


class FileInfo(NamedTuple):
    """One indexed file: ``path`` is relative to the catalog root, with ``/``; ``ctime_ns`` its change time.

    A named tuple rather than a dataclass: an index state holds tens of thousands of them.
    """

    path: str
    kind: str  # registry, model, manifest, metrics, event
    model: str | None
    version: int | None
    ctime_ns: int
    size: int


@dataclass(slots=True)
class Listing:
    """What one folder holds: indexed files, sub-folders to walk, problems, a pending version."""

    ctime_ns: int
    files: list[FileInfo] = field(default_factory=list)
    subdirs: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    pending: tuple[str, int] | None = None


@dataclass
class ScanResult:
    files: dict[str, FileInfo] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    pending_versions: list[tuple[str, int]] = field(default_factory=list)  # folders with no manifest yet
    listings: dict[str, Listing] = field(default_factory=dict)  # folder ('' = the root) -> its listing

    @classmethod
    def of(cls, listings: dict[str, Listing]) -> ScanResult:
        result = cls(listings=listings)
        for rel in sorted(listings):
            listing = listings[rel]
            result.files.update((f.path, f) for f in listing.files)
            result.problems.extend(listing.problems)
            if listing.pending:
                result.pending_versions.append(listing.pending)
        return result


def classify(rel: str) -> tuple[str, str | None, int | None]:
    """(kind, model, version) of an indexed file from its catalog-relative path (``layout.parse_path``)."""
    kind, model, version, _ = parse_path(rel)
    return kind, model, version


def _join(rel: str, name: str) -> str:
    return f"{rel}/{name}" if rel else name


def _entries(path: str) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as found:
            return sorted(found, key=lambda e: e.name)
    except OSError:
        return []


def _printable(name: str) -> str:
    """A file name as text that can be shown and stored: bytes that are not UTF-8 (which Python keeps
    as lone surrogates, and which no JSON, Parquet or terminal accepts) written as ``\\xff``."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _utf8_only(out: Listing, entries: list[os.DirEntry], rel: str) -> list[os.DirEntry]:
    """The entries whose names are UTF-8; each other one is an error on its (printable) path, and
    neither it nor anything under it is looked at (at the root, where unknown names are ignored, it is
    only left out)."""
    kept = []
    for entry in entries:
        if entry.name.isascii() or _printable(entry.name) == entry.name:
            kept.append(entry)
        elif rel:
            out.problems.append((_join(rel, _printable(entry.name)), "error",
                                 "name is not valid UTF-8; ignored with everything under it (rename it)"))
    return kept


class _Lister:
    """Lists one folder of a catalog according to its place in the layout."""

    def __init__(self, root: str) -> None:
        self.root = root

    def _file(self, out: Listing, entry: os.DirEntry, rel: str, kind: str) -> None:
        if entry.is_symlink():
            out.problems.append((rel, "error", "is a symbolic link; links are never followed, so it is ignored"))
            return
        if not entry.is_file(follow_symlinks=False):
            out.problems.append((rel, "error", f"expected a file for the {kind}, found something else"))
            return
        stat = entry.stat(follow_symlinks=False)
        _, model, version = classify(rel)
        out.files.append(FileInfo(rel, kind, model, version, stat.st_ctime_ns, stat.st_size))

    @staticmethod
    def _dir_ok(out: Listing, entry: os.DirEntry, rel: str) -> bool:
        if entry.is_symlink():
            out.problems.append((rel, "error", "is a symbolic link; links are never followed, so it is ignored"))
            return False
        if not entry.is_dir(follow_symlinks=False):
            out.problems.append((rel, "warning", "unexpected file here"))
            return False
        return True

    def list(self, rel: str) -> Listing | None:
        """The listing of folder ``rel``, or None if it is gone (or is no longer a folder)."""
        path = _join(self.root, rel) if rel else self.root
        try:
            stat = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        if not S_ISDIR(stat.st_mode):  # (not following links: a link to a folder is not one)
            return None
        out = Listing(stat.st_ctime_ns)
        parts = rel.split("/") if rel else []
        depth = len(parts)
        entries = _utf8_only(out, _entries(path), rel)
        if depth == 0:
            self._root(out, entries)
        elif depth == 1:
            self._models(out, entries)
        elif depth == 2:
            self._model(out, entries, rel)
        elif depth == 3 and parts[2] == VERSIONS_DIR:
            for entry in entries:
                if self._dir_ok(out, entry, _join(rel, entry.name)):
                    out.subdirs.append(_join(rel, entry.name))
        elif depth == 3:
            self._events(out, entries, rel)
        elif depth == 4:
            self._version(out, entries, rel, parts[1])
        else:
            self._metrics(out, entries, rel)
        return out

    def _root(self, out: Listing, entries: list[os.DirEntry]) -> None:
        for entry in entries:
            if entry.name == REGISTRY_FILE:
                self._file(out, entry, entry.name, "registry")
            elif is_temporary(entry.name):
                out.problems.append((entry.name, "warning", _LEFTOVER))
            elif entry.name == MODELS_DIR and entry.is_dir(follow_symlinks=False):
                out.subdirs.append(MODELS_DIR)

    def _models(self, out: Listing, entries: list[os.DirEntry]) -> None:
        seen_lower: dict[str, str] = {}
        for entry in entries:
            rel = f"{MODELS_DIR}/{entry.name}"
            if entry.name == CACHE_DIR or not self._dir_ok(out, entry, rel):
                continue
            model = entry.name
            if not is_name(model):
                out.problems.append((rel, "error", f"invalid model folder name {model!r}; ignored"))
                continue
            if model.lower() in seen_lower:
                out.problems.append((rel, "error", f"model name {model!r} differs from "
                                     f"{seen_lower[model.lower()]!r} only in case; names must be unique ignoring case"))
            seen_lower.setdefault(model.lower(), model)
            out.subdirs.append(rel)

    def _model(self, out: Listing, entries: list[os.DirEntry], rel: str) -> None:
        for entry in entries:
            item = _join(rel, entry.name)
            if entry.name == MODEL_FILE:
                self._file(out, entry, item, "model")
            elif entry.name in (VERSIONS_DIR, EVENTS_DIR) and self._dir_ok(out, entry, item):
                out.subdirs.append(item)
            elif entry.name in (VERSIONS_DIR, EVENTS_DIR):
                continue
            elif is_temporary(entry.name):
                out.problems.append((item, "warning", _LEFTOVER))
            else:
                out.problems.append((item, "warning", "unexpected entry in a model folder"))

    def _events(self, out: Listing, entries: list[os.DirEntry], rel: str) -> None:
        for entry in entries:
            item = _join(rel, entry.name)
            if entry.name == ".lock":
                continue
            if is_temporary(entry.name):
                out.problems.append((item, "warning", _LEFTOVER))
            elif entry.name.endswith(".yaml"):
                self._file(out, entry, item, "event")
            else:
                out.problems.append((item, "warning", "not an event file (.yaml); ignored"))

    def _version(self, out: Listing, entries: list[os.DirEntry], rel: str, model: str) -> None:
        name = rel.rsplit("/", 1)[1]
        if not (name.isascii() and name.isdigit()) or name.startswith("0") or int(name) > MAX_VERSION:
            out.problems.append((rel, "error", "version folders must be named by a positive integer "
                                 "(ASCII digits, no leading zeros, below 2^63)"))
            return
        has_manifest = False
        for entry in entries:
            item = _join(rel, entry.name)
            if is_temporary(entry.name):
                out.problems.append((item, "warning", _LEFTOVER + " ('modelreg gc' removes it)"))
            elif entry.name == MANIFEST:
                before = len(out.files)
                self._file(out, entry, item, "manifest")
                has_manifest = len(out.files) > before
            elif entry.name == METRICS_DIR and self._dir_ok(out, entry, item):
                out.subdirs.append(item)
            elif entry.name in (ARTIFACTS_DIR, METRICS_DIR):
                continue
            else:
                out.problems.append((item, "warning", "unexpected entry in a version folder"))
        if not has_manifest:
            out.pending = (model, int(name))
            out.problems.append((rel, "warning", "version folder without manifest.yaml: an unfinished or "
                                 "interrupted registration (not a version; 'modelreg gc' removes it once stale)"))

    def _metrics(self, out: Listing, entries: list[os.DirEntry], rel: str) -> None:
        for entry in entries:
            item = _join(rel, entry.name)
            if is_temporary(entry.name):
                out.problems.append((item, "warning", _LEFTOVER + " ('modelreg gc' removes it)"))
            elif entry.name.endswith(".parquet"):
                self._file(out, entry, item, "metrics")
            else:
                out.problems.append((item, "warning", "not a .parquet metric table; ignored"))


def _walk(lister: _Lister, start: list[str], listings: dict[str, Listing] | Listings,
          found: Callable[[Listing], None] | None = None) -> None:
    stack = list(start)
    while stack:
        rel = stack.pop()
        listing = lister.list(rel)
        if listing is not None:
            listings[rel] = listing
            stack.extend(listing.subdirs)
            if found is not None:
                found(listing)


def scan(root: Path, found: Callable[[Listing], None] | None = None) -> ScanResult:
    """Walk the catalog at ``root`` and return its files and structural problems; ``found`` is
    given each folder's listing as soon as it is made."""
    listings: dict[str, Listing] = {}
    _walk(_Lister(str(root)), [""], listings, found)
    return ScanResult.of(listings)


def _depth(rel: str) -> int:
    return rel.count("/") + 1 if rel else 0


def ctimes(paths: list[str]) -> list[int]:
    """The ctime of each (absolute) path now, MISSING where it is gone: the whole freshness check.

    One list comprehension over ``os.stat`` (about 2 us a path); the slower loop runs only when a
    path has gone.
    """
    stat = os.stat
    try:
        return [stat(p, follow_symlinks=False).st_ctime_ns for p in paths]
    except OSError:
        pass
    out = []
    for p in paths:
        try:
            out.append(stat(p, follow_symlinks=False).st_ctime_ns)
        except OSError:
            out.append(MISSING)
    return out


class Listings(Mapping[str, Listing]):
    """The listings of a previous walk (``base``, never copied or changed) and what changed since.

    A refresh touches a handful of folders of tens of thousands: this keeps its work proportional to
    them, and lets a lazily loaded base build listing objects only for the folders asked for.
    """

    def __init__(self, base: Mapping[str, Listing]) -> None:
        self.base = base
        self.changed: dict[str, Listing] = {}
        self.removed: set[str] = set()

    def __getitem__(self, rel: str) -> Listing:
        if rel in self.changed:
            return self.changed[rel]
        if rel in self.removed:
            raise KeyError(rel)
        return self.base[rel]

    def __contains__(self, rel: object) -> bool:
        return rel in self.changed or (rel not in self.removed and rel in self.base)

    def __iter__(self) -> Iterator[str]:
        yield from (rel for rel in self.base if rel not in self.removed and rel not in self.changed)
        yield from self.changed

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __setitem__(self, rel: str, listing: Listing) -> None:
        self.changed[rel] = listing
        self.removed.discard(rel)

    def discard(self, rel: str) -> None:
        """Forget ``rel`` (a folder that is gone, or is to be listed again)."""
        self.changed.pop(rel, None)
        if rel in self.base:
            self.removed.add(rel)


def update(root: Path, old: Mapping[str, Listing], changed_dirs: set[str], changed_files: set[str]
           ) -> Mapping[str, Listing]:
    """Bring the listings of a previous walk up to date, given what a stat of every known path found.

    ``changed_dirs``: known folders whose ctime moved or that are gone.  A moved ctime means entries
    were added, removed or renamed, so the folder is listed again (new sub-folders are walked,
    vanished ones dropped with everything under them).  ``changed_files``: known files whose ctime
    moved or that are gone (edited in place): their folder's files are stat'ed again.  Every other
    listing is kept as it is (the same object): the result is a :class:`Listings` over ``old``, or a
    plain dict when a folder vanished (rare: everything is looked at then).
    """
    lister = _Lister(str(root))
    listings = Listings(old)
    lost = False
    for rel in changed_dirs:
        listings.discard(rel)
    for rel in sorted(changed_dirs, key=_depth):
        fresh = lister.list(rel)
        if fresh is None:
            lost = True
            continue
        listings[rel] = fresh
        lost = lost or not set(old[rel].subdirs) <= set(fresh.subdirs)
        # new sub-folders are walked; known ones keep their listing (their own ctime was checked)
        _walk(lister, [d for d in fresh.subdirs if d not in old], listings)
    result: dict[str, Listing] | Listings = _reachable(listings) if lost else listings
    prefix = f"{root}/"
    stat = os.stat
    for rel in {path.rsplit("/", 1)[0] if "/" in path else "" for path in changed_files}:
        listing = result.get(rel)
        if listing is None or listing is not old.get(rel):
            continue  # listed again above (or dropped)
        files = []
        for info in listing.files:
            try:
                st = stat(prefix + info.path, follow_symlinks=False)
            except OSError:
                files = None  # removed in the same clock tick as the listing: list the folder again
                break
            if st.st_ctime_ns != info.ctime_ns or st.st_size != info.size:
                info = info._replace(ctime_ns=st.st_ctime_ns, size=st.st_size)
            files.append(info)
        if files is None:
            result[rel] = lister.list(rel) or Listing(RACY)
        else:
            result[rel] = Listing(listing.ctime_ns, files, listing.subdirs, listing.problems, listing.pending)
    return result


def _reachable(listings: Mapping[str, Listing]) -> dict[str, Listing]:
    """Only the folders still listed by their parent (drops moved or removed subtrees)."""
    kept: set[str] = set()
    for rel in sorted(listings, key=_depth):
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        if rel == "" or (parent in kept and rel in listings[parent].subdirs):
            kept.add(rel)
    return {rel: listing for rel, listing in listings.items() if rel in kept}

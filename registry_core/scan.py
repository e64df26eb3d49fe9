"""Walk a catalog folder: which files exist, what kind they are, and their stats.

The walk never follows symbolic links (a link is reported, not read), skips
the ``.modelreg`` cache, and reports structural problems (leftover temporary
files, version folders without a manifest, bad folder names) on the way.
Nothing here parses file contents; that is the index's job, per changed file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .atomic import is_temporary
from .layout import (
    ARTIFACTS_DIR,
    CACHE_DIR,
    EVENTS_DIR,
    MANIFEST,
    METRICS_DIR,
    MODEL_FILE,
    MODELS_DIR,
    REGISTRY_FILE,
    VERSIONS_DIR,
)
from .names import MAX_VERSION, is_name


@dataclass(frozen=True)
class FileInfo:
    """One indexed file: ``path`` is relative to the catalog root, with ``/``."""

    path: str
    kind: str  # registry, model, manifest, metrics, event
    model: str | None
    version: int | None
    mtime_ns: int
    size: int


@dataclass
class ScanResult:
    files: dict[str, FileInfo] = field(default_factory=dict)
    problems: list[tuple[str, str, str]] = field(default_factory=list)  # (path, severity, message)
    pending_versions: list[tuple[str, int]] = field(default_factory=list)  # folders with no manifest yet

    def problem(self, path: str, message: str, severity: str = "error") -> None:
        self.problems.append((path, severity, message))


def _entries(path: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as found:
            return sorted(found, key=lambda e: e.name)
    except OSError:
        return []


def _add(result: ScanResult, root: Path, entry: os.DirEntry, kind: str, model: str | None,
         version: int | None) -> None:
    rel = Path(entry.path).relative_to(root).as_posix()
    if entry.is_symlink():
        result.problem(rel, "is a symbolic link; links are never followed, so it is ignored")
        return
    if not entry.is_file(follow_symlinks=False):
        result.problem(rel, f"expected a file for the {kind}, found something else")
        return
    stat = entry.stat(follow_symlinks=False)
    result.files[rel] = FileInfo(rel, kind, model, version, stat.st_mtime_ns, stat.st_size)


def _dir_ok(result: ScanResult, root: Path, entry: os.DirEntry) -> bool:
    rel = Path(entry.path).relative_to(root).as_posix()
    if entry.is_symlink():
        result.problem(rel, "is a symbolic link; links are never followed, so it is ignored")
        return False
    if not entry.is_dir(follow_symlinks=False):
        result.problem(rel, "unexpected file here", "warning")
        return False
    return True


def _scan_version(result: ScanResult, root: Path, model: str, entry: os.DirEntry) -> None:
    rel = Path(entry.path).relative_to(root).as_posix()
    name = entry.name
    if not (name.isascii() and name.isdigit()) or name.startswith("0") or int(name) > MAX_VERSION:
        result.problem(rel, "version folders must be named by a positive integer (ASCII digits, no leading zeros, "
                            "below 2^63)")
        return
    version = int(entry.name)
    has_manifest = False
    for item in _entries(Path(entry.path)):
        if is_temporary(item.name):
            result.problem(Path(item.path).relative_to(root).as_posix(),
                           "leftover temporary file of an interrupted write ('modelreg gc' removes it)", "warning")
        elif item.name == MANIFEST:
            _add(result, root, item, "manifest", model, version)
            has_manifest = rel + "/" + MANIFEST in result.files
        elif item.name == METRICS_DIR and _dir_ok(result, root, item):
            for table in _entries(Path(item.path)):
                table_rel = Path(table.path).relative_to(root).as_posix()
                if is_temporary(table.name):
                    result.problem(table_rel, "leftover temporary file of an interrupted write "
                                   "('modelreg gc' removes it)", "warning")
                elif table.name.endswith(".parquet"):
                    _add(result, root, table, "metrics", model, version)
                else:
                    result.problem(table_rel, "not a .parquet metric table; ignored", "warning")
        elif item.name == ARTIFACTS_DIR:
            continue
        else:
            result.problem(Path(item.path).relative_to(root).as_posix(), "unexpected entry in a version folder",
                           "warning")
    if not has_manifest:
        result.pending_versions.append((model, version))
        result.problem(rel, "version folder without manifest.yaml: an unfinished or interrupted registration "
                       "(not a version; 'modelreg gc' removes it once stale)", "warning")


def scan(root: Path) -> ScanResult:
    """Walk the catalog at ``root`` and return its files and structural problems."""
    result = ScanResult()
    root = Path(root)
    for entry in _entries(root):
        if entry.name == REGISTRY_FILE:
            _add(result, root, entry, "registry", None, None)
        elif is_temporary(entry.name):
            result.problem(entry.name, "leftover temporary file of an interrupted write", "warning")
    seen_lower: dict[str, str] = {}
    for entry in _entries(root / MODELS_DIR):
        rel = f"{MODELS_DIR}/{entry.name}"
        if entry.name == CACHE_DIR or not _dir_ok(result, root, entry):
            continue
        model = entry.name
        if not is_name(model):
            result.problem(rel, f"invalid model folder name {model!r}; ignored")
            continue
        if model.lower() in seen_lower:
            result.problem(rel, f"model name {model!r} differs from {seen_lower[model.lower()]!r} only in case; "
                           "names must be unique ignoring case")
        seen_lower.setdefault(model.lower(), model)
        for item in _entries(Path(entry.path)):
            if item.name == MODEL_FILE:
                _add(result, root, item, "model", model, None)
            elif item.name == VERSIONS_DIR and _dir_ok(result, root, item):
                for version in _entries(Path(item.path)):
                    if _dir_ok(result, root, version):
                        _scan_version(result, root, model, version)
            elif item.name == EVENTS_DIR and _dir_ok(result, root, item):
                for event in _entries(Path(item.path)):
                    event_rel = Path(event.path).relative_to(root).as_posix()
                    if is_temporary(event.name) or event.name == ".lock":
                        if event.name != ".lock":
                            result.problem(event_rel, "leftover temporary file of an interrupted write", "warning")
                    elif event.name.endswith(".yaml"):
                        _add(result, root, event, "event", model, None)
                    else:
                        result.problem(event_rel, "not an event file (.yaml); ignored", "warning")
            elif is_temporary(item.name):
                result.problem(Path(item.path).relative_to(root).as_posix(),
                               "leftover temporary file of an interrupted write", "warning")
            else:
                result.problem(Path(item.path).relative_to(root).as_posix(), "unexpected entry in a model folder",
                               "warning")
    return result

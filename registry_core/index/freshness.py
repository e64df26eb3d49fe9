"""Which of a generation's recorded folders and files a freshness check stats: a call pays for what it reads.

A generation records the ctime of every folder and file it was built from.  A check compares some of
them with the disk (``scan.ctimes``); what it finds moved is then listed or read again (``scan.update``).
What is compared depends on the question (the *scope*):

- ``FULL`` (``validate``, ``modelreg refresh --full``): every folder and file.
- ``CATALOG`` (a question over every model: ``list``, ``query``, the problems): every folder, plus the
  files the format lets change (``registry.yaml``, each ``model.yaml``).  A folder's ctime moves whenever
  an entry is created, removed or renamed in it, so every file added, removed or replaced by rename (git
  checkout, atomic writers, ``sed -i``, most editors) is seen; the write-once files themselves (manifests,
  metric tables, events) are not stat'ed one by one.
- a set of model names (``resolve``, ``show``, ``promote``, one model's pages): every folder and file of
  those models, plus the shallow folders of every model (``models/``, ``models/<m>``, its ``versions`` and
  ``events`` folders: a version or event added anywhere, a model added or removed) and the files above.

What is *not* stat'ed keeps its recorded ctime in the next generation, so a later check of a wider
scope still sees it moved.  So an in-place rewrite of a write-once file (against the format: it keeps
its folder's ctime) is seen by the next check of its model or a full check, never lost.
"""

from __future__ import annotations

import os
import struct
from array import array
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_core.format.layout import MODELS_DIR
from registry_core.index import scan

FULL = "full"
CATALOG = "catalog"
#: FULL, CATALOG, or the names of the models a question reads
Scope = str | frozenset[str]

#: the folder of a generation holding what it recorded, grouped for the checks: ``_top`` (the root, ``models``,
#: each model's own, ``versions`` and ``events`` folders, ``registry.yaml`` and each ``model.yaml``) and one file
#: per model (its deeper folders, then its files): plain binary, read without pyarrow (a ``resolve`` process
#: imports none) and, for a model's question, without reading the other models'
CHECK_DIR = "check"
TOP = "_top"
_HEADER = struct.Struct("<4q")  # folders, files, bytes of the folders' paths, bytes of the files' paths


def _group(path: str, is_dir: bool) -> str:
    """The check file recording ``path`` (catalog-relative)."""
    parts = path.split("/", 3)
    if len(parts) < 3 or parts[0] != MODELS_DIR:
        return TOP
    if len(parts) == 3:  # models/<m>/versions|events|model.yaml
        return TOP if is_dir or parts[2] == "model.yaml" else parts[1]
    return parts[1]


def _model_of(path: str) -> str | None:
    parts = path.split("/", 2)
    return parts[1] if len(parts) > 1 and parts[0] == MODELS_DIR else None


def write_check(folder: Path, columns: Any, previous: Path | None = None, moved: Iterable[str] | None = None
                ) -> None:
    """Write the check files of a generation (in ``folder``, not yet published) from its state's
    ``columns`` (folders, then their files folder by folder: ``dirs``, ``dir_ctime``, ``counts``,
    ``paths``, ``ctimes``).

    With the ``previous`` generation and the folders that ``moved`` since it (changed or gone), only
    ``_top`` and the groups of the models they belong to are written; the others are hard links to
    the previous generation's (a refresh after one new version should not rewrite 200 groups).
    """
    out = folder / CHECK_DIR
    out.mkdir()
    only: set[str] | None = None
    if previous is not None and moved is not None and (previous / CHECK_DIR / TOP).exists():
        only = {m for m in map(_model_of, moved) if m is not None}
    groups: dict[str, tuple[list[str], list[int], list[str], list[int]]] = {TOP: ([], [], [], [])}
    start = 0
    paths, ctimes = columns.paths, columns.ctimes
    for d, d_ctime, count in zip(columns.dirs, columns.dir_ctime, columns.counts):
        end, first = start + count, start
        start = end
        group = _group(d, True)
        if only is not None and group != TOP and group not in only:
            continue  # (a deeper folder of a model that did not move: all its files are that model's)
        entry = groups.get(group) or groups.setdefault(group, ([], [], [], []))
        entry[0].append(d)
        entry[1].append(d_ctime)
        for path, ctime in zip(paths[first:end], ctimes[first:end]):
            file_group = _group(path, False)
            if only is not None and file_group != TOP and file_group not in only:
                break  # (one folder's files are of one group: the events of a model that did not move)
            entry = groups.get(file_group) or groups.setdefault(file_group, ([], [], [], []))
            entry[2].append(path)
            entry[3].append(ctime)
    for group, (gd, gdc, gf, gfc) in groups.items():
        dir_blob, file_blob = "\n".join(gd).encode(), "\n".join(gf).encode()
        with open(out / group, "wb") as handle:
            handle.write(_HEADER.pack(len(gd), len(gf), len(dir_blob), len(file_blob)))
            handle.write(array("q", gdc + gfc).tobytes())
            handle.write(dir_blob)
            handle.write(file_blob)
    if only is not None:
        for name in os.listdir(previous / CHECK_DIR):
            if name not in groups and name not in only:
                os.link(previous / CHECK_DIR / name, out / name)


@dataclass
class _Group:
    dirs: list[str]
    dir_ctime: list[int]
    files: list[str]
    file_ctime: list[int]


def _read_group(path: Path) -> _Group | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        n_dirs, n_files, dir_bytes, file_bytes = _HEADER.unpack_from(data)
    except struct.error:
        raise ValueError(f"{path}: damaged check file") from None
    at = _HEADER.size
    ctimes = array("q")
    ctimes.frombytes(data[at:at + 8 * (n_dirs + n_files)])
    at += 8 * (n_dirs + n_files)
    dirs = data[at:at + dir_bytes].decode().split("\n") if n_dirs else []
    files = data[at + dir_bytes:at + dir_bytes + file_bytes].decode().split("\n") if n_files else []
    if len(dirs) != n_dirs or len(files) != n_files or len(data) != at + dir_bytes + file_bytes:
        raise ValueError(f"{path}: damaged check file")
    values = ctimes.tolist()
    return _Group(dirs, values[:n_dirs], files, values[n_dirs:])


def scope_of(models: Iterable[str] | None, full: bool = False) -> Scope:
    """The scope of a question about ``models`` (None: about the whole catalog)."""
    if full:
        return FULL
    return CATALOG if models is None else frozenset(models)


def wider(a: Scope, b: Scope) -> Scope:
    """The scope covering both."""
    if FULL in (a, b):
        return FULL
    if CATALOG in (a, b):
        return CATALOG
    return frozenset(a) | frozenset(b)


@dataclass
class Selection:
    """Recorded paths of one scope: catalog-relative, absolute (ready for ``os.stat``), recorded ctimes."""

    dirs: list[str]
    dir_paths: list[str]
    dir_ctime: list[int]
    files: list[str]
    file_paths: list[str]
    file_ctime: list[int]

    def changes(self) -> tuple[set[str], set[str]]:
        """(folders, files) whose ctime moved or that are gone: the whole check, one stat per path."""
        dirs_now, files_now = scan.ctimes(self.dir_paths), scan.ctimes(self.file_paths)
        if dirs_now == self.dir_ctime and files_now == self.file_ctime:
            return set(), set()
        return ({d for d, now, then in zip(self.dirs, dirs_now, self.dir_ctime) if now != then},
                {f for f, now, then in zip(self.files, files_now, self.file_ctime) if now != then})


@dataclass
class Recorded:
    """What one generation recorded (its ``check/`` files), kept by the process that read or built it:
    each group is read once, and the selection of each scope made once (generations never change)."""

    root: Path
    folder: Path
    _groups: dict[str, _Group | None] = field(default_factory=dict)
    _selections: dict[Scope, Selection] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.folder.name

    def _get(self, group: str) -> _Group | None:
        if group not in self._groups:
            self._groups[group] = _read_group(self.folder / CHECK_DIR / group)
        return self._groups[group]

    def select(self, scope: Scope) -> Selection:
        found = self._selections.get(scope)
        if found is None:
            found = self._select(scope)
            if len(self._selections) > 64:  # many different model sets (a long-running service)
                self._selections.clear()
            self._selections[scope] = found
        return found

    def _select(self, scope: Scope) -> Selection:
        top = self._get(TOP)
        if top is None:
            raise ValueError(f"{self.folder}: no check files")
        if scope in (FULL, CATALOG):
            groups = sorted(name for name in os.listdir(self.folder / CHECK_DIR) if name != TOP)
        else:
            groups = sorted(scope)
        dirs, dir_ctime, files, file_ctime = list(top.dirs), list(top.dir_ctime), list(top.files), list(top.file_ctime)
        for name in groups:
            group = self._get(name) if "/" not in name and name not in (TOP, ".", "..") else None
            if group is None:
                continue
            dirs += group.dirs
            dir_ctime += group.dir_ctime
            if scope != CATALOG:
                files += group.files
                file_ctime += group.file_ctime
        prefix = f"{self.root}/"
        return Selection(dirs, [prefix + d if d else str(self.root) for d in dirs], dir_ctime,
                         files, [prefix + f for f in files], file_ctime)

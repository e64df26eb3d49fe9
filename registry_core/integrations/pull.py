"""``modelreg pull REF --to DIR``: copy a version's artifacts out for a deployment job, verified.

All or nothing: every file is copied to a temporary name inside DIR while its sha256 is computed
from the very bytes written, and only when every file matches the manifest are they renamed into
place.  A mismatch, a missing file, a link anywhere between the catalog and the file (never followed, so
nothing outside the catalog is read) or a recorded path that would leave DIR refuses the whole pull
and writes no file (the files already in DIR stay as they were).  Artifacts stored elsewhere by
URI are listed, not fetched.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from registry_core.errors import CatalogError, InvalidInput
from registry_core.format.manifests import safe_relative
from registry_core.store.artifacts import CHUNK
from registry_core.store.atomic import TMP_PREFIX

if TYPE_CHECKING:
    from registry_core.catalog import Catalog


def _target(folder: Path, rel: str) -> Path:
    """Where an artifact lands: its path below ``artifacts/``, checked to stay inside ``folder``."""
    parts = PurePosixPath(rel).parts
    inner = PurePosixPath(*parts[1:]) if len(parts) > 1 and parts[0] == "artifacts" else PurePosixPath(rel)
    target = folder / inner
    if not target.parent.resolve().is_relative_to(folder.resolve()):
        raise CatalogError(f"pull: {rel} would be written outside {folder} (a link in the way?); refused")
    return target


def _linked_part(root: Path, source: Path) -> Path | None:
    """The first part of ``source`` below the catalog ``root`` that is a link (None: no link on the way).

    Every folder from the catalog down to the file is looked at with ``lstat``: a linked ``artifacts/``
    folder, version folder or model folder would otherwise let a pull read a file outside the catalog.
    """
    path = root
    for part in source.relative_to(root).parts:
        path = path / part
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                return path
        except OSError:
            return None  # missing: reported as missing
    return None


def _copy_hashing(source: Path, tmp: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    # O_NOFOLLOW: a link put in place after the check is still not followed
    fd = os.open(source, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    with open(fd, "rb") as reader, open(tmp, "xb") as writer:
        while chunk := reader.read(CHUNK):
            digest.update(chunk)
            writer.write(chunk)
            size += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), size


def pull(catalog: Catalog, ref: str, to: str | os.PathLike) -> list[dict]:
    """Copy ``ref``'s artifacts into ``to``; returns one row per artifact (path, sha256, size, target)."""
    found = catalog.resolve(ref)
    folder = Path(to)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"--to {folder}: exists and is not a folder")
    version_dir = Path(found["path"])
    plan, rows = [], []
    for item in found["artifacts"]:
        if not isinstance(item, dict):
            continue
        if "uri" in item:
            rows.append({"path": item["uri"], "sha256": item.get("sha256"), "size": item.get("size"),
                         "target": None, "status": "stored elsewhere by URI; not fetched"})
            continue
        rel = safe_relative(item.get("path"))
        if rel is None:
            raise CatalogError(f"pull: {found['ref']}: artifact path {item.get('path')!r} leaves the version folder; "
                               "refused")
        if not item.get("sha256"):
            raise CatalogError(f"pull: {found['ref']}: {rel} has no recorded sha256; cannot verify it")
        source = version_dir / rel
        linked = _linked_part(catalog.root, source)
        if linked is not None:
            raise CatalogError(f"pull: {found['ref']}: {catalog.layout.relative(linked)} is a link, never followed "
                               "(artifacts are read only from inside the catalog); nothing was written")
        if not source.is_file():
            raise CatalogError(f"pull: {found['ref']}: {rel} is missing (or a link); nothing was written")
        plan.append((rel, item, source))
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for rel, item, source in plan:
            target = _target(folder, rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.parent.resolve().is_relative_to(folder.resolve()):
                raise CatalogError(f"pull: {rel} would be written outside {folder}; refused")
            tmp = target.with_name(f"{TMP_PREFIX}{target.name}.{secrets.token_hex(4)}")
            staged.append((tmp, target))
            digest, size = _copy_hashing(source, tmp)
            if digest != item["sha256"] or (item.get("size") is not None and size != item["size"]):
                raise CatalogError(f"pull: {found['ref']}: {rel} does not match its manifest (sha256 {digest[:12]}..., "
                                   f"recorded {item['sha256'][:12]}...); nothing was written")
            rows.append({"path": rel, "sha256": digest, "size": size, "target": str(target), "status": "verified"})
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return rows

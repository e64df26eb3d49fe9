"""``modelreg pull REF --to DIR``: copy a version's artifacts out for a deployment job, verified.

All or nothing: every file is copied to a temporary name inside DIR while its sha256 is computed
from the very bytes written, and only when every file matches the manifest are they renamed into
place.  A mismatch, a missing file or a recorded path that would leave DIR refuses the whole pull
and writes no file (the files already in DIR stay as they were).  Artifacts stored by URI (the
catalog's store, another bucket, HTTPS) are checked to exist with their size before anything is
written, then streamed and hashed the same way; one that is missing, altered or whose URI cannot be
read here fails the pull.  A link anywhere between the catalog and a local file is never
followed, so nothing outside the catalog is read.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from registry_core.errors import CatalogError, InvalidInput, RegistryError
from registry_core.format.manifests import safe_relative
from registry_core.store.artifacts import CHUNK
from registry_core.store.atomic import TMP_PREFIX
from registry_core.store.blobs import BlobStore, Unverifiable, locate
from registry_core.store.remote import hash_stream

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


def _fetch_hashing(store: BlobStore, key: str, tmp: Path) -> tuple[str, int]:
    with open(tmp, "xb") as writer:
        digest, size = hash_stream(store, key, writer.write)
        writer.flush()
        os.fsync(writer.fileno())
    return digest, size


def _remote(found: dict, item: dict, settings) -> tuple[str, tuple[BlobStore, str]]:
    """Where a stored artifact lands (its ``path``, else its file name) and its store and key, checked to
    exist with the recorded size before anything is written."""
    uri = item["uri"]
    rel = safe_relative(item.get("path")) if item.get("path") is not None else \
        "artifacts/" + PurePosixPath(unquote(urlsplit(str(uri)).path)).name
    if rel is None or rel == "artifacts/":
        raise CatalogError(f"pull: {found['ref']}: artifact {uri} has no usable path; refused")
    if not item.get("sha256"):
        raise CatalogError(f"pull: {found['ref']}: {uri} has no recorded sha256; cannot verify it")
    try:
        store, key = locate(uri, settings)
        size = store.size(key)
    except Unverifiable as exc:
        raise CatalogError(f"pull: {found['ref']}: {exc}; nothing was written") from None
    except RegistryError as exc:
        raise CatalogError(f"pull: {found['ref']}: {rel}: {exc}; nothing was written") from None
    if size is None:
        raise CatalogError(f"pull: {found['ref']}: {rel}: object is missing ({uri}); nothing was written")
    if item.get("size") is not None and size != item["size"]:
        raise CatalogError(f"pull: {found['ref']}: {rel}: size mismatch at {uri} (recorded {item['size']}, "
                           f"found {size}); nothing was written")
    return rel, (store, key)


def pull(catalog: Catalog, ref: str, to: str | os.PathLike) -> list[dict]:
    """Copy ``ref``'s artifacts into ``to``; returns one row per artifact (path, sha256, size, target)."""
    found = catalog.resolve(ref)
    folder = Path(to)
    if folder.exists() and not folder.is_dir():
        raise InvalidInput(f"--to {folder}: exists and is not a folder")
    version_dir = Path(found["path"])
    plan: list[tuple[str, dict, Path | tuple[BlobStore, str]]] = []
    rows: list[dict] = []
    for item in found["artifacts"]:
        if not isinstance(item, dict):
            continue
        if "uri" in item:
            rel, where = _remote(found, item, catalog.settings.artifacts)
            plan.append((rel, item, where))
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
    targets = [_target(folder, rel) for rel, _, _ in plan]
    if len(set(targets)) < len(targets):
        raise CatalogError(f"pull: {found['ref']}: two artifacts would be written to the same file; refused")
    folder.mkdir(parents=True, exist_ok=True)
    staged: list[tuple[Path, Path]] = []
    try:
        for (rel, item, source), target in zip(plan, targets):
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.parent.resolve().is_relative_to(folder.resolve()):
                raise CatalogError(f"pull: {rel} would be written outside {folder}; refused")
            tmp = target.with_name(f"{TMP_PREFIX}{target.name}.{secrets.token_hex(4)}")
            staged.append((tmp, target))
            try:
                digest, size = _copy_hashing(source, tmp) if isinstance(source, Path) else _fetch_hashing(*source, tmp)
            except RegistryError as exc:
                raise CatalogError(f"pull: {found['ref']}: {rel}: {exc}; nothing was written") from None
            recorded = str(item["sha256"]).lower()
            if digest != recorded or (item.get("size") is not None and size != item["size"]):
                raise CatalogError(f"pull: {found['ref']}: {rel} does not match its manifest (sha256 {digest[:12]}..., "
                                   f"recorded {recorded[:12]}...); nothing was written")
            rows.append({"path": rel, "sha256": digest, "size": size, "target": str(target), "status": "verified"})
        for tmp, target in staged:
            os.replace(tmp, target)
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return rows


def download_bundle(catalog: Catalog, ref: str, limit: int) -> dict:
    """``{name, size, data, uris}``: one verified file, or a zip of all, when they fit in ``limit`` bytes."""
    found = catalog.resolve(ref)
    items = [a for a in found["artifacts"] if isinstance(a, dict)]
    sizes = [a.get("size") for a in items]
    total = sum(s for s in sizes if isinstance(s, int))
    uris = [str(a.get("uri") or a.get("path")) for a in items]
    stem = found["ref"].replace("@", "-")
    if not items or None in sizes or total > limit:
        return {"name": None, "size": total, "data": None, "uris": uris}
    with tempfile.TemporaryDirectory(prefix="modelreg-download-") as tmp:
        rows = pull(catalog, found["ref"], tmp)
        if len(rows) == 1:
            path = Path(rows[0]["target"])
            return {"name": path.name, "size": total, "data": path.read_bytes(), "uris": uris}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
            for row in rows:
                archive.write(row["target"], Path(row["target"]).relative_to(tmp).as_posix())
        return {"name": f"{stem}-artifacts.zip", "size": total, "data": buffer.getvalue(), "uris": uris}

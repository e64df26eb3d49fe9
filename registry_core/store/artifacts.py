"""Artifacts: copying files into a version with their sha256 and size, and verifying them.

modelreg only ever hashes artifact bytes; it never unpickles, imports or runs
them.  Paths recorded in a manifest are checked to stay inside the version
folder, and links are not followed, so ``verify`` cannot be used to read
files elsewhere on the machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from registry_core.errors import InvalidInput
from registry_core.format.artifact_settings import ArtifactSettings
from registry_core.format.manifests import safe_relative
from registry_core.store.atomic import TMP_PREFIX
from registry_core.store.remote import check_uri

CHUNK = 1 << 20


def sha256_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def artifact_files(source: Path) -> list[tuple[Path, str]]:
    """The files of an ``--artifact`` (a file, or every file of a folder, links skipped) with the path each
    gets below ``artifacts/``: the file's own name, or the folder's name and the path inside it.

    A name starting with the temporary prefix is refused: ``gc`` takes such files for leftovers of
    interrupted writes.
    """
    source = Path(source)
    if not source.exists():
        raise InvalidInput(f"--artifact {source}: no such file or folder")
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and not p.is_symlink())
        pairs = [(p, (Path(source.name) / p.relative_to(source)).as_posix()) for p in files]
    else:
        pairs = [(source, source.name)]
    for path, rel in pairs:
        if any(part.startswith(TMP_PREFIX) for part in rel.split("/")):
            raise InvalidInput(f"--artifact {path}: names starting with {TMP_PREFIX!r} are reserved for "
                               "temporary files (rename it)")
    return pairs


def copy_file(path: Path, rel: str, artifacts_dir: Path) -> dict:
    """Copy one file to ``artifacts_dir/rel`` (atomically); return its manifest entry."""
    target = artifacts_dir / rel
    if target.exists():
        raise InvalidInput(f"--artifact {path}: two artifacts named {rel!r}")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(TMP_PREFIX + target.name)
    shutil.copyfile(path, tmp)
    os.replace(tmp, target)
    digest, size = sha256_file(target)
    return {"path": f"artifacts/{rel}", "sha256": digest, "size": size}


def copy_in(source: Path, artifacts_dir: Path) -> list[dict]:
    """Copy one file (or every file of a folder) into ``artifacts_dir``; return manifest entries."""
    return [copy_file(path, rel, artifacts_dir) for path, rel in artifact_files(source)]


@dataclass(frozen=True)
class ArtifactCheck:
    path: str
    ok: bool
    message: str


def verify_entries(version_dir: Path, artifacts: list, store: ArtifactSettings | None = None,
                   deep: bool | None = None) -> list[ArtifactCheck]:
    """Recompute checksums of the artifacts inside the version folder, and check those stored by URI.

    A stored object must exist with its recorded size; with ``deep`` (default: the catalog's
    ``artifacts.verify: deep``) its sha256 is recomputed too.  ``store`` gives the endpoint settings.
    """
    deep = (store is not None and store.verify == "deep") if deep is None else deep
    results = []
    root = version_dir.resolve()
    for item in artifacts or []:
        if not isinstance(item, dict):
            continue
        if "uri" in item:
            remote = check_uri(item, store, deep)
            results.append(ArtifactCheck(str(item.get("path") or item["uri"]), remote.ok, remote.message))
            continue
        rel = safe_relative(item.get("path"))
        if rel is None:
            results.append(ArtifactCheck(str(item.get("path")), False, "path escapes the version folder; refused"))
            continue
        path = version_dir / rel
        if path.is_symlink() or not path.resolve().is_relative_to(root):
            results.append(ArtifactCheck(rel, False, "is a link or leaves the version folder; refused"))
            continue
        if not path.is_file():
            results.append(ArtifactCheck(rel, False, "file is missing"))
            continue
        digest, size = sha256_file(path)
        recorded = str(item["sha256"]).lower() if item.get("sha256") is not None else None
        if recorded and digest != recorded:
            results.append(ArtifactCheck(rel, False, f"sha256 mismatch: recorded {recorded[:12]}..., "
                                                     f"found {digest[:12]}..."))
        elif item.get("size") is not None and size != item["size"]:
            results.append(ArtifactCheck(rel, False, f"size mismatch: recorded {item['size']}, found {size}"))
        elif not recorded:
            results.append(ArtifactCheck(rel, False, "no sha256 recorded"))
        else:
            results.append(ArtifactCheck(rel, True, "ok"))
    return results

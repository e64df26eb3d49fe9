"""Putting artifact files into the catalog's store, content-addressed and write-once (SPEC 1.8).

Each file goes to ``<store>/sha256/<2 hex>/<64 hex>``.  The key is the hash of the bytes, so it must be
known before the upload starts: a small file (up to one chunk) is read once into memory, hashed and sent
as one conditional PUT; a large file is hashed in a first read, skipped when the object already exists
with the same size, else streamed as a multipart upload of bounded memory.  A file whose size or
modification time changed between the hash and the end of the upload fails the upload (and its object
is removed) instead of leaving bytes under the wrong key.  (Hashing it a second time while sending would
also catch an edit that keeps both, at the price of a second full sha256 pass per upload.)
(Streaming to a temporary key and copying would read the file once, but a server-side copy is limited
to 5 GB on S3 and writes every byte twice, and re-registering a known file would upload it again.)
An object found with the wrong size is damaged by definition and is replaced.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

from registry_core.errors import CatalogError, InvalidInput
from registry_core.format.artifact_settings import ArtifactSettings
from registry_core.store.artifacts import artifact_files, sha256_file
from registry_core.store.blobs import CHUNK, BlobStore, content_key, open_store

Progress = Callable[[str, int, int], None]  # (file name, bytes done, bytes total)


def _chunks(path: Path, name: str, size: int, progress: Progress | None) -> Iterator[bytes]:
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            done += len(chunk)
            if progress:
                progress(name, done, size)
            yield chunk


def _stamp(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_size, stat.st_mtime_ns


def upload_file(store: BlobStore, path: Path, name: str | None = None,
                progress: Progress | None = None) -> dict:
    """Put one file into ``store``; returns ``{uri, sha256, size, uploaded}`` (uploaded False when present)."""
    name = name or path.name
    small = path.stat().st_size <= CHUNK
    data = b""
    if small:
        data = path.read_bytes()
        digest, size = hashlib.sha256(data).hexdigest(), len(data)
    else:
        stamp = _stamp(path)
        digest, size = sha256_file(path)
    key = content_key(digest)
    existing = store.size(key)
    uploaded = existing != size
    if uploaded:
        if existing is not None:
            store.delete(key)  # wrong size under a content key: damaged, replace it
        store.create(key, data if small else _chunks(path, name, size, progress))
        if not small and _stamp(path) != stamp:
            store.delete(key)
            raise CatalogError(f"--artifact {path}: the file changed while it was being uploaded; "
                               "nothing was registered")
    if progress:
        progress(name, size, size)
    return {"uri": f"{store.url}/{key}", "sha256": digest, "size": size, "uploaded": uploaded}


def upload_artifacts(sources: list, settings: ArtifactSettings,
                     progress: Progress | None = None) -> list[dict | tuple[Path, str]]:
    """Upload every file of ``sources`` (files or folders) to the catalog's store.

    A source may be ``(path, name)`` to store it as ``artifacts/<name>`` rather than under its own name.
    Returns, in order, a manifest entry ``{path, uri, sha256, size}`` per uploaded file, or ``(file, rel)``
    for a file small enough (``inline_max``) to be copied into the version folder by the caller.
    """
    if not settings.store:
        raise InvalidInput("no artifact store is configured (artifacts.store in registry.yaml)")
    store = open_store(settings.store, settings)
    planned: list[tuple[Path, str]] = []
    seen: set[str] = set()
    for item in sources:
        source, name = item if isinstance(item, tuple) else (item, None)
        for path, rel in artifact_files(Path(source)):
            rel = name + rel[len(Path(source).name):] if name else rel
            if rel in seen:
                raise InvalidInput(f"--artifact {source}: two artifacts named {rel!r}")
            seen.add(rel)
            planned.append((path, rel))
    out: list[dict | tuple[Path, str]] = []
    for path, rel in planned:
        if settings.inline_max is not None and path.stat().st_size <= settings.inline_max:
            out.append((path, rel))
            continue
        entry = upload_file(store, path, rel, progress)
        out.append({"path": f"artifacts/{rel}", "uri": entry["uri"], "sha256": entry["sha256"],
                    "size": entry["size"]})
    return out

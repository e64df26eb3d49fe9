"""Where artifact bytes live: a small protocol, a local-folder implementation, and the URI rules.

A store holds write-once objects under keys such as ``sha256/9f/9f2c...``.  The catalog never
needs more than these five operations, so a store is anything that can list, read as a stream,
create if absent, tell the size of an object, and delete one (only ``gc`` deletes).
Object stores (S3, GCS, Azure) are in :mod:`registry_core.store.objects`, which needs the optional
``obstore`` library; a local folder (``file:///mnt/models``) works without it.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from registry_core.errors import NotFound
from registry_core.format.artifact_settings import ArtifactSettings
from registry_core.store.atomic import TMP_PREFIX

CHUNK = 8 << 20  # bytes read, hashed and sent at a time: memory stays at a few chunks whatever the file size


class Unverifiable(Exception):
    """A URI that no store here can read (its scheme is unsupported, or it is malformed)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    modified: dt.datetime


class BlobStore(Protocol):
    """Write-once objects by key.  ``url`` + ``/`` + key is an object's URI."""

    url: str

    def size(self, key: str) -> int | None:
        """The object's size, or None when it does not exist."""

    def read(self, key: str) -> Iterator[bytes]:
        """The object's bytes as a stream of chunks (NotFound when it does not exist)."""

    def create(self, key: str, data: bytes | Iterable[bytes]) -> bool:
        """Write the object unless it exists; False when it was already there."""

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        """Every object whose key starts with ``prefix``."""

    def delete(self, key: str) -> None:
        """Remove the object (missing is fine)."""


def content_key(digest: str) -> str:
    """``sha256/<first 2 hex>/<64 hex>``: the key of the bytes whose sha256 is ``digest``."""
    return f"sha256/{digest[:2]}/{digest}"


class LocalBlobs:
    """A folder as a store (``file:///mnt/models``): a shared disk, NFS, or tests without a server."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.url = self.root.resolve().as_uri() if self.root.is_absolute() else f"file://{self.root}"

    def _path(self, key: str) -> Path:
        parts = [p for p in key.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise Unverifiable(f"object key {key!r} leaves the store")
        return self.root.joinpath(*parts)

    def size(self, key: str) -> int | None:
        path = self._path(key)
        return path.stat().st_size if path.is_file() and not path.is_symlink() else None

    def read(self, key: str) -> Iterator[bytes]:
        path = self._path(key)
        if path.is_symlink() or not path.is_file():
            raise NotFound(f"{self.url}/{key}: no such object")
        with open(path, "rb") as handle:
            while chunk := handle.read(CHUNK):
                yield chunk

    def create(self, key: str, data: bytes | Iterable[bytes]) -> bool:
        path = self._path(key)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{TMP_PREFIX}{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            with open(tmp, "xb") as handle:
                for chunk in [data] if isinstance(data, bytes | bytearray | memoryview) else data:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(tmp, path)  # exclusive: a racing writer of the same key gets FileExistsError
            except FileExistsError:
                return False
            return True
        finally:
            tmp.unlink(missing_ok=True)

    def list(self, prefix: str) -> Iterator[ObjectInfo]:
        for dirpath, _, filenames in os.walk(self.root):
            for name in filenames:
                path = Path(dirpath) / name
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix) and not name.startswith(TMP_PREFIX) and not path.is_symlink():
                    stat = path.stat()
                    yield ObjectInfo(key, stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def open_store(url: str, settings: ArtifactSettings | None = None) -> BlobStore:
    """The store at ``url`` (``file://``, ``s3://``, ``gs://``, ``az://``, ``http(s)://`` for reading)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise Unverifiable(f"{url}: file URIs on another host cannot be read here")
        return LocalBlobs(Path(unquote(parts.path)))
    if parts.scheme in ("s3", "s3a", "gs", "az", "abfs", "abfss", "azure", "http", "https"):
        from registry_core.store.objects import ObjectBlobs

        return ObjectBlobs(url, settings or ArtifactSettings())
    raise Unverifiable(f"{url}: the scheme {parts.scheme + ':' if parts.scheme else '(none)'} "
                       "is not supported, so it cannot be fetched or checked")


def locate(uri: str, settings: ArtifactSettings | None = None) -> tuple[BlobStore, str]:
    """The store and key of an artifact URI: the catalog's own store when the URI is below it, else a store
    opened at the URI's bucket (or host, or folder) with the same endpoint settings."""
    if not isinstance(uri, str) or not uri:
        raise Unverifiable(f"{uri!r} is not a URI")
    if settings and settings.store and uri.startswith(settings.store + "/"):
        return open_store(settings.store, settings), uri[len(settings.store) + 1:]
    parts = urlsplit(uri)
    if parts.scheme == "file":
        path = Path(unquote(parts.path))
        return open_store(f"file://{path.parent.as_posix()}", settings), path.name
    if not parts.scheme or not parts.netloc or not parts.path.strip("/"):
        raise Unverifiable(f"{uri}: the scheme {parts.scheme + ':' if parts.scheme else '(none)'} "
                           "is not supported, so it cannot be fetched or checked")
    same = settings if settings and settings.store and urlsplit(settings.store).scheme == parts.scheme else None
    return open_store(f"{parts.scheme}://{parts.netloc}", same), unquote(parts.path.lstrip("/"))

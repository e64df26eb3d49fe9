"""Checking artifacts stored by URI: in the catalog's store, another bucket, or on an HTTPS server.

By default an object must exist with its recorded size (one HEAD request); ``deep`` streams it and
recomputes the sha256.  A URI that cannot be read here (``runs:/``, an unknown scheme, an unreachable
server) is never taken on trust: the check fails and says why.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from registry_core.errors import RegistryError
from registry_core.format.artifact_settings import ArtifactSettings
from registry_core.store.blobs import BlobStore, Unverifiable, locate


@dataclass(frozen=True)
class RemoteCheck:
    ok: bool
    message: str


def hash_stream(store: BlobStore, key: str, sink: Callable[[bytes], object] | None = None) -> tuple[str, int]:
    """sha256 and size of an object, streamed (``sink`` receives every chunk, e.g. a file's write)."""
    digest = hashlib.sha256()
    size = 0
    for chunk in store.read(key):
        digest.update(chunk)
        size += len(chunk)
        if sink is not None:
            sink(chunk)
    return digest.hexdigest(), size


def check_uri(item: dict, settings: ArtifactSettings | None, deep: bool = False) -> RemoteCheck:
    """Check one ``{uri, sha256, size}`` entry against the object it names."""
    uri = item.get("uri")
    recorded = str(item["sha256"]).lower() if item.get("sha256") is not None else None
    size = item.get("size")
    if deep and not recorded:
        return RemoteCheck(False, "no sha256 recorded; cannot verify")
    if not deep and size is None and not recorded:
        return RemoteCheck(False, "no sha256 or size recorded; cannot verify")
    try:
        store, key = locate(uri, settings)
        if not deep:
            found = store.size(key)
            if found is None:
                return RemoteCheck(False, f"object is missing: {uri}")
            if size is not None and found != size:
                return RemoteCheck(False, f"size mismatch: recorded {size}, found {found} at {uri}")
            if size is None:  # nothing cheaper proves the bytes: hash them
                return check_uri(item, settings, deep=True)
            return RemoteCheck(True, "ok (exists with its size)")
        digest, found = hash_stream(store, key)
    except Unverifiable as exc:
        return RemoteCheck(False, f"unverified: {exc}")
    except RegistryError as exc:
        message = str(exc)
        return RemoteCheck(False, f"object is missing: {uri}" if "no such object" in message
                           else f"cannot be checked: {message}")
    if digest != recorded:
        return RemoteCheck(False, f"sha256 mismatch: recorded {recorded[:12]}..., found {digest[:12]}... at {uri}")
    if size is not None and found != size:
        return RemoteCheck(False, f"size mismatch: recorded {size}, found {found} at {uri}")
    return RemoteCheck(True, "ok (sha256 recomputed)")

"""Write-once, atomic file I/O.

Every file is written to a temporary name in its final folder, flushed, and
then linked into place.  ``os.link`` fails if the target exists, which makes
"write once" an exclusive operation even between processes and machines
sharing a file system; where hard links are not supported we fall back to
``os.rename`` after an existence check.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from registry_core.errors import Conflict

TMP_PREFIX = ".tmp-"


def _tmp_name(target: Path) -> Path:
    return target.with_name(f"{TMP_PREFIX}{target.name}.{os.getpid()}.{secrets.token_hex(4)}")


def _write_tmp(target: Path, data: bytes) -> Path:
    tmp = _tmp_name(target)
    with open(tmp, "xb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    return tmp


def write_once(target: Path, data: bytes, parents: bool = True) -> None:
    """Create ``target`` atomically with ``data``; raise Conflict if it exists.

    With ``parents=False`` the folder must already exist: a manifest is never written into a
    version folder that was removed meanwhile (e.g. by ``gc``), which would create an empty version.
    """
    if parents:
        target.parent.mkdir(parents=True, exist_ok=True)
    elif not target.parent.is_dir():
        raise Conflict(f"{target.parent} was removed while it was being written; nothing was registered")
    tmp = _write_tmp(target, data)
    try:
        try:
            os.link(tmp, target)
        except FileExistsError:
            raise Conflict(f"{target} already exists and files in a catalog are written once") from None
        except OSError:
            if target.exists():
                raise Conflict(f"{target} already exists and files in a catalog are written once") from None
            os.rename(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_replace(target: Path, data: bytes) -> None:
    """Atomically replace ``target`` (only for derived files such as the index cache)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _write_tmp(target, data)
    try:
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def is_temporary(name: str) -> bool:
    """True for leftovers of an interrupted write."""
    return name.startswith(TMP_PREFIX)

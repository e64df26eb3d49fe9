"""Where the index cache may live: the catalog's own ``.modelreg/``, or a private folder in temp.

``.modelreg/`` is ours only if it is a real folder owned by the catalog's owner.  A link (committed
by mistake, since the ignore rule does not match a link, or brought in by ``sync``) is never followed:
the index would be written into its target and old folders there deleted.  When ``.modelreg/`` is
refused, or the catalog cannot be written (a read-only mount, a full disk), reads keep working with
an index kept in this user's temp folder.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tempfile
from pathlib import Path

from registry_core.errors import CatalogError

#: errors that mean "this place cannot be written", not "something is wrong with the catalog"
UNWRITABLE = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM})


def cache_problem(cache: Path) -> str | None:
    """Why ``cache`` (a catalog's ``.modelreg``) must not be used, or None when it is fine or absent."""
    try:
        found = os.lstat(cache)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be looked at ({exc.strerror})"
    if stat.S_ISLNK(found.st_mode):
        return "is a symbolic link, never followed"
    if not stat.S_ISDIR(found.st_mode):
        return "is not a folder"
    owner = os.stat(cache.parent).st_uid
    if found.st_uid != owner:
        return f"is owned by another user (uid {found.st_uid}, the catalog's owner is {owner})"
    return None


def check_writable_cache(cache: Path) -> None:
    """Refuse a write that would use a ``.modelreg`` that is not ours (its locks live there)."""
    problem = cache_problem(cache)
    if problem is not None:
        raise CatalogError(f"{cache} {problem}: writes are refused until it is removed (it is only a cache)")


def private_cache(root: Path) -> Path:
    """This user's cache folder for the catalog at ``root``, in the temp folder (made private)."""
    home = Path(tempfile.gettempdir()) / f"modelreg-{os.geteuid()}"
    _own_folder(home)
    folder = home / hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:20]
    _own_folder(folder)
    return folder


def _own_folder(path: Path) -> None:
    """Make ``path`` (mode 0700) unless it exists; either way it must be a real folder of this user."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    found = os.lstat(path)
    if stat.S_ISLNK(found.st_mode) or not stat.S_ISDIR(found.st_mode) or found.st_uid != os.geteuid():
        raise CatalogError(f"{path}: not a private folder of this user; the index cannot be kept there")

"""gc: remove what interrupted writes left behind (temporary files, versions that never got a manifest)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

from registry_core.format.layout import ARTIFACTS_DIR, MANIFEST, MODELS_DIR, VERSIONS_DIR
from registry_core.index.scan import scan
from registry_core.store.atomic import is_temporary

if TYPE_CHECKING:
    from registry_core.catalog import Catalog


def gc(catalog: Catalog, older_than_s: float = 3600, dry_run: bool = False) -> list[str]:
    """Remove what interrupted writes left behind, once it is older than ``older_than_s``.

    Temporary files, and version folders without a manifest (a registration that never finished).
    A younger leftover may belong to a writer still at work, so it is kept.  Nothing inside the
    ``artifacts/`` folder of a registered version (one with a manifest) is ever collected: those are
    registered data whatever their names (an older release accepted ``--artifact .tmp-x``).
    """
    cutoff = time.time() - older_than_s
    found = scan(catalog.root)
    removed = []
    for model, version in found.pending_versions:
        folder = catalog.layout.version(model, version)
        if _newest_mtime(folder) < cutoff:
            removed.append(catalog.layout.relative(folder))
            if not dry_run:
                shutil.rmtree(folder, ignore_errors=True)
    for dirpath, dirnames, filenames in os.walk(catalog.root):
        parts = Path(dirpath).relative_to(catalog.root).parts
        if ".modelreg" in parts[:1] or _registered_artifacts(catalog.root, parts):
            dirnames[:] = []
            continue
        for name in filenames:
            path = Path(dirpath) / name
            if is_temporary(name) and path.lstat().st_mtime < cutoff:
                removed.append(catalog.layout.relative(path))
                if not dry_run:
                    path.unlink(missing_ok=True)
    return sorted(removed)


def _registered_artifacts(root: Path, parts: tuple[str, ...]) -> bool:
    """True for ``models/<m>/versions/<n>/artifacts`` of a version whose manifest exists."""
    return (len(parts) == 5 and parts[0] == MODELS_DIR and parts[2] == VERSIONS_DIR and parts[4] == ARTIFACTS_DIR
            and os.path.lexists(root.joinpath(*parts[:4], MANIFEST)))


def _newest_mtime(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            newest = max(newest, (Path(dirpath) / name).lstat().st_mtime)
    return newest

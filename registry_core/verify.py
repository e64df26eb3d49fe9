"""verify: recompute the checksums of the artifacts a version's manifest records."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from registry_core.store.artifacts import verify_entries

if TYPE_CHECKING:
    from registry_core.catalog import Catalog


def verify(catalog: Catalog, ref: str | None = None, deep: bool | None = None) -> list[dict]:
    """Recompute artifact checksums of one version or all: [{ref, path, ok, message}].

    Objects in a store are checked for existence and size, or with ``deep`` by their full sha256."""
    if ref is not None:
        found = catalog.resolve(ref)
        rows = catalog.sql("SELECT model, version, path, manifest FROM _versions WHERE model = ? AND version = ?",
                           [found["model"], found["version"]])
    else:
        rows = catalog.sql("SELECT model, version, path, manifest FROM _versions ORDER BY model, version")
    results = []
    for row in rows:
        artifacts = json.loads(row["manifest"]).get("artifacts") or []
        for check in verify_entries(catalog.root / row["path"], artifacts, catalog.settings.artifacts, deep):
            results.append({"ref": f"{row['model']}@{row['version']}", "path": check.path, "ok": check.ok,
                            "message": check.message})
    return results

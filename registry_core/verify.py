"""verify: recompute the checksums of the artifacts a version's manifest records."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from registry_core.store.artifacts import verify_entries

if TYPE_CHECKING:
    from registry_core.index.reader import Reader


def verify(reader: Reader, version: tuple[str, int] | None = None,
           deep: bool | None = None) -> list[dict]:
    """Recompute artifact checksums of one version (model, number) or all: [{ref, path, ok, message}].

    Objects in a store are checked for existence and size, or with ``deep`` by their full sha256."""
    rows = [reader.version_file(*version)] if version is not None else reader.version_files()
    results = []
    for row in rows:
        artifacts = json.loads(row["manifest"]).get("artifacts") or []
        for check in verify_entries(reader.root / row["path"], artifacts, reader.settings.artifacts, deep):
            results.append({"ref": f"{row['model']}@{row['version']}", "path": check.path, "ok": check.ok,
                            "message": check.message})
    return results

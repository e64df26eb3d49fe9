"""``gc --objects``: objects in the catalog's store that no manifest references.

They are what a failed or killed registration (or a tracking run that never finished) left behind:
uploads happen before the manifest is written, so an upload without a manifest is an orphan.  Every
``manifest.yaml`` below ``models/`` is read from disk (not through the index), and one that cannot be
read stops the collection: an object it might reference is never removed.  Objects younger than the
cut-off may belong to a registration still at work, and are kept.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from registry_core.errors import CatalogError, InvalidInput
from registry_core.format.artifact_settings import ArtifactSettings
from registry_core.format.yamlio import load_file
from registry_core.store.blobs import open_store


def referenced_uris(models: Path) -> set[str]:
    """Every artifact URI named by a manifest in the catalog (fails closed on an unreadable manifest)."""
    uris: set[str] = set()
    for manifest in sorted(models.glob("*/versions/*/manifest.yaml")):
        try:
            body = load_file(manifest)
        except (InvalidInput, OSError) as exc:
            raise CatalogError(f"gc --objects: cannot read {manifest} ({exc}); no object was removed") from None
        artifacts = body.get("artifacts") if isinstance(body, dict) else None
        for item in artifacts if isinstance(artifacts, list) else []:
            if isinstance(item, dict) and isinstance(item.get("uri"), str):
                uris.add(item["uri"])
    return uris


def orphan_objects(models: Path, settings: ArtifactSettings, older_than_s: float,
                   dry_run: bool = True) -> list[str]:
    """URIs of unreferenced objects under ``<store>/sha256/`` older than ``older_than_s``; removed unless dry run."""
    if not settings.store:
        raise InvalidInput("gc --objects: no artifact store is configured (artifacts.store in registry.yaml)")
    store = open_store(settings.store, settings)
    keep = referenced_uris(models)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=older_than_s)
    found = []
    for info in store.list("sha256/"):
        uri = f"{store.url}/{info.key}"
        if uri not in keep and info.modified < cutoff:
            found.append(uri)
            if not dry_run:
                store.delete(info.key)
    return sorted(found)

"""The facts the replay's policy check reads, gathered from an index build's tables (see lifecycle/audit)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from registry_core.format.artifact_settings import ArtifactSettings
from registry_core.format.settings import Settings
from registry_core.lifecycle.audit import Audit, Facts
from registry_core.lifecycle.events import Event
from registry_core.lifecycle.gates import Headline
from registry_core.lifecycle.inforce import InForce
from registry_core.store.artifacts import verify_entries


def builtin_checks(folder: Path, manifest: dict, store: ArtifactSettings | None = None
                   ) -> dict[str, tuple[bool, str]]:
    """The built-in checks of one version (SPEC 1.2): artifacts_verified hashes its files (and checks the
    objects of the catalog's artifact ``store``)."""
    results = verify_entries(folder, manifest.get("artifacts") or [], store)
    bad = [f"{r.path}: {r.message}" for r in results if not r.ok]
    lineage = manifest.get("lineage") or {}
    has_lineage = bool(lineage.get("datasets") or lineage.get("parents")) if isinstance(lineage, dict) else False
    description = str(manifest.get("description") or "").strip()
    return {
        "artifacts_verified": (not bad and bool(results),
                               "; ".join(bad) if bad else (f"{len(results)} artifact(s) verified" if results
                                                           else "no artifacts recorded")),
        "has_lineage": (has_lineage, "lineage recorded" if has_lineage else "no datasets or parents recorded"),
        "has_description": (bool(description), "has a description" if description else "no description"),
    }


class AuditSource:
    """One ``Audit`` per model, over the versions, headline metrics and policy history of a build."""

    def __init__(self, root: Path, settings: Settings, models: pa.Table, versions: pa.Table,
                 headline: pa.Table, events: pa.Table) -> None:
        self.root = root
        self.inforce = InForce(root, settings, dict(zip(models["model"].to_pylist(),
                                                        models["policies"].to_pylist(), strict=True)))
        # only the models that have events are replayed: read only their rows (a big catalog has
        # thousands of versions that were never promoted)
        wanted = pc.unique(events["model"])
        versions = versions.filter(pc.is_in(versions["model"], value_set=wanted))
        headline = headline.filter(pc.is_in(headline["model"], value_set=wanted))
        self.versions: dict[str, dict[int, dict]] = {}
        for row in versions.select(["model", "version", "created_at", "path", "manifest"]).to_pylist():
            self.versions.setdefault(row["model"], {})[row["version"]] = row
        self.headline: dict[str, dict[int, Headline]] = {}
        for row in headline.select(["model", "version", "metric", "dataset", "slice", "value"]).to_pylist():
            self.headline.setdefault(row["model"], {}).setdefault(row["version"], {})[
                (row["metric"], row["dataset"], row["slice"])] = row["value"]

    def audit(self, model: str, events: list[Event]) -> Audit:
        self.inforce.prepare(events)
        rows = self.versions.get(model, {})
        cache: dict[int, dict[str, tuple[bool, str]]] = {}

        def check(version: int, name: str) -> tuple[bool, str]:
            if name == "artifacts_verified":  # as recorded: artifacts are checked by verify, not by the replay
                return True, "not recorded; verify checks artifacts"
            if version not in cache:
                row = rows.get(version)
                cache[version] = builtin_checks(self.root / row["path"], json.loads(row["manifest"])) if row \
                    else {}
            return cache[version].get(name, (False, f"v{version} does not exist"))

        facts = Facts(created={v: r["created_at"] for v, r in rows.items()},
                      headline=self.headline.get(model, {}), check=check, written=self.inforce.written)
        return Audit(self.inforce.rules, facts)

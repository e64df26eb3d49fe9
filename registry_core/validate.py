"""validate (every file against the spec), verify (artifact checksums) and gc (leftovers of crashes).

Per-file problems are found while indexing (so the dashboard shows the same
list); this module adds the checks that need the whole catalog: events that
name missing versions or requests, clock skew, duplicate metric rows,
artifacts that are missing.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from registry_core.format.settings import same_user
from registry_core.index.scan import scan
from registry_core.lifecycle.inforce import event_commits
from registry_core.store.artifacts import verify_entries
from registry_core.store.atomic import is_temporary

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

SKEW = dt.timedelta(minutes=5)


def _event_problems(catalog: Catalog) -> list[dict]:
    problems = []
    events = catalog.sql("""SELECT e.*, v.version IS NOT NULL AS exists FROM _events e
                            LEFT JOIN _versions v USING (model, version)""")
    stages = set(catalog.settings.stage_names)
    for event in events:
        path = f"models/{event['model']}/events/{event['id']}.yaml"
        if event["version"] is not None and not event["exists"]:
            problems.append({"path": path, "severity": "error",
                             "message": f"names {event['model']}@{event['version']}, which does not exist"})
        if event["stage"] and event["stage"] not in stages:
            problems.append({"path": path, "severity": "error", "message": f"unknown stage {event['stage']!r}"})
        stamp = dt.datetime.strptime(event["id"][:22], "%Y%m%dT%H%M%S.%f").replace(tzinfo=dt.UTC)
        if abs(stamp - event["at"]) > SKEW:
            problems.append({"path": path, "severity": "warning",
                             "message": f"'at' {event['at'].isoformat()} is far from the time in its id "
                                        "(clock skew?); events are ordered by id"})
    return problems


def _signature_problems(catalog: Catalog) -> list[dict]:
    """``--require-signed``: each event's commit is signed (``git verify-commit``) by the author its ``by`` names."""
    found = event_commits(catalog.root)
    events = catalog.sql("SELECT model, id, \"by\" FROM _events ORDER BY model, id")
    if found is None:
        return [{"path": ".", "severity": "error", "message": "--require-signed: the catalog is not in a git "
                 "repository, so no event can be signed"}] if events else []
    top, commits = found
    verified: dict[str, bool] = {}
    problems = []
    for event in events:
        path = f"models/{event['model']}/events/{event['id']}.yaml"
        if path not in commits:
            problems.append({"path": path, "severity": "error", "message": "signed: not committed, so not signed"})
            continue
        commit, email = commits[path]
        if commit not in verified:
            verified[commit] = subprocess.run(["git", "verify-commit", commit], cwd=top, capture_output=True,
                                              check=False).returncode == 0
        if not verified[commit]:
            problems.append({"path": path, "severity": "error",
                             "message": f"signed: commit {commit[:12]} that added it has no valid signature"})
        elif not same_user(email, event["by"]):
            problems.append({"path": path, "severity": "error",
                             "message": f"signed: 'by' is {event['by']} but commit {commit[:12]} was authored by "
                                        f"{email}"})
    return problems


def validate(catalog: Catalog, require_signed: bool = False) -> list[dict]:
    """Every problem of the catalog, errors first: [{path, severity, message}]."""
    problems = catalog.problems()
    problems += _event_problems(catalog)
    if require_signed:
        problems += _signature_problems(catalog)
    duplicates = catalog.sql("""SELECT model, version, metric, dataset, step, slice, count(*) AS n FROM metrics
                                GROUP BY ALL HAVING count(*) > 1 AND step IS NOT NULL LIMIT 100""")
    for row in duplicates:
        problems.append({"path": f"models/{row['model']}/versions/{row['version']}/metrics", "severity": "warning",
                         "message": f"{row['n']} rows for {row['metric']} step {row['step']}"})
    for row in catalog.sql("SELECT model, version, path, manifest FROM _versions"):
        manifest = json.loads(row["manifest"])
        folder = catalog.root / row["path"]
        for item in manifest.get("artifacts") or []:
            rel = item.get("path")
            if not rel:
                continue
            path = folder / rel
            if path.is_symlink() or not path.resolve().is_relative_to(folder.resolve()):
                message = f"artifact {rel} is a link or leaves the version folder (verify refuses to read it)"
            elif not path.is_file():
                message = f"artifact {rel} is missing"
            else:
                continue
            problems.append({"path": f"{row['path']}/manifest.yaml", "severity": "error", "message": message})
    return sorted(problems, key=lambda p: (p["severity"] != "error", p["path"]))


def verify(catalog: Catalog, ref: str | None = None) -> list[dict]:
    """Recompute artifact checksums of one version or all: [{ref, path, ok, message}]."""
    if ref is not None:
        found = catalog.resolve(ref)
        rows = catalog.sql("SELECT model, version, path, manifest FROM _versions WHERE model = ? AND version = ?",
                           [found["model"], found["version"]])
    else:
        rows = catalog.sql("SELECT model, version, path, manifest FROM _versions ORDER BY model, version")
    results = []
    for row in rows:
        artifacts = json.loads(row["manifest"]).get("artifacts") or []
        for check in verify_entries(catalog.root / row["path"], artifacts):
            results.append({"ref": f"{row['model']}@{row['version']}", "path": check.path, "ok": check.ok,
                            "message": check.message})
    return results


def gc(catalog: Catalog, older_than_s: float = 3600, dry_run: bool = False) -> list[str]:
    """Remove what interrupted writes left behind, once it is older than ``older_than_s``.

    Temporary files, and version folders without a manifest (a registration that never finished).
    A younger leftover may belong to a writer still at work, so it is kept.
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
        if ".modelreg" in Path(dirpath).relative_to(catalog.root).parts[:1]:
            dirnames[:] = []
            continue
        for name in filenames:
            path = Path(dirpath) / name
            if is_temporary(name) and path.lstat().st_mtime < cutoff:
                removed.append(catalog.layout.relative(path))
                if not dry_run:
                    path.unlink(missing_ok=True)
    return sorted(removed)


def _newest_mtime(folder: Path) -> float:
    newest = folder.lstat().st_mtime
    for dirpath, _, filenames in os.walk(folder):
        for name in filenames:
            newest = max(newest, (Path(dirpath) / name).lstat().st_mtime)
    return newest

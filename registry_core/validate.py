"""validate: every file against the spec (``verify`` checks artifact checksums, ``gc`` removes leftovers).

Per-file problems are found while indexing (so the dashboard shows the same
list); this module adds the checks that need the whole catalog: events that
name missing versions or requests, clock skew, duplicate metric rows,
artifacts that are missing.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING

from registry_core.format.layout import EVENT_SUFFIX, Layout, build_path
from registry_core.format.settings import same_user
from registry_core.integrations.git import run
from registry_core.lifecycle.inforce import event_commits

if TYPE_CHECKING:
    from registry_core.index.reader import Reader

SKEW = dt.timedelta(minutes=5)


def _event_problems(reader: Reader) -> list[dict]:
    problems = []
    events = reader.events_checked()
    stages = set(reader.settings.stage_names)
    for event in events:
        path = build_path("event", event["model"], file=event["id"] + EVENT_SUFFIX)
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


def _signature_problems(reader: Reader) -> list[dict]:
    """``--require-signed``: each event's commit is signed (``git verify-commit``) by the author its ``by`` names."""
    found = event_commits(reader.root)
    events = reader.event_authors()
    if found is None:
        return [{"path": ".", "severity": "error", "message": "--require-signed: the catalog is not in a git "
                 "repository, so no event can be signed"}] if events else []
    top, commits = found
    verified: dict[str, bool] = {}
    problems = []
    for event in events:
        path = build_path("event", event["model"], file=event["id"] + EVENT_SUFFIX)
        if path not in commits:
            problems.append({"path": path, "severity": "error", "message": "signed: not committed, so not signed"})
            continue
        commit, email = commits[path]
        if commit not in verified:
            verified[commit] = run(top, "verify-commit", commit).returncode == 0
        if not verified[commit]:
            problems.append({"path": path, "severity": "error",
                             "message": f"signed: commit {commit[:12]} that added it has no valid signature"})
        elif not same_user(email, event["by"]):
            problems.append({"path": path, "severity": "error",
                             "message": f"signed: 'by' is {event['by']} but commit {commit[:12]} was authored by "
                                        f"{email}"})
    return problems


def validate(reader: Reader, require_signed: bool = False) -> list[dict]:
    """Every problem of the catalog, errors first: [{path, severity, message}]."""
    problems = reader.problems()
    problems += _event_problems(reader)
    if require_signed:
        problems += _signature_problems(reader)
    layout = Layout(reader.root)
    for row in reader.duplicate_steps():
        folder = layout.relative(layout.metrics(row["model"], row["version"]))
        problems.append({"path": folder, "severity": "warning",
                         "message": f"{row['n']} rows for {row['metric']} step {row['step']}"})
    for row in reader.version_files():
        manifest = json.loads(row["manifest"])
        folder = reader.root / row["path"]
        for item in manifest.get("artifacts") or []:
            rel = item.get("path")
            if not rel or "uri" in item:  # stored by URI: `path` is only where `pull` writes it
                continue
            path = folder / rel
            if path.is_symlink() or not path.resolve().is_relative_to(folder.resolve()):
                message = f"artifact {rel} is a link or leaves the version folder (verify refuses to read it)"
            elif not path.is_file():
                message = f"artifact {rel} is missing"
            else:
                continue
            problems.append({"path": build_path("manifest", row["model"], row["version"]), "severity": "error",
                             "message": message})
    return sorted(problems, key=lambda p: (p["severity"] != "error", p["path"]))

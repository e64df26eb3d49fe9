"""``modelreg diff REV``: what a branch changed in the catalog, as a pull-request comment or JSON.

The change is read from git: files added, changed or deleted under the catalog since the merge base
of REV and HEAD (committed or not, as ``git diff REV...`` plus untracked files).  New versions are
shown with their headline metrics against the version that held production *at the base* (what is
deployed now), and with the gate results of every stage that has gates; lifecycle events of the
change (requests, approvals, promotions, rollbacks, aliases) are listed.  Catalog files are written
once, so an edited or deleted manifest, event or metric table is flagged for the reviewer.
"""

from __future__ import annotations

import io
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_core.errors import InvalidInput
from registry_core.format.layout import EVENT_SUFFIX, MODELS_DIR, REGISTRY_FILE, parse_path
from registry_core.formats import plain
from registry_core.integrations.git import catalog_prefix, git, repo_root, run

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

PRODUCTION = "production"


def _changes(root: Path, prefix: str, base: str) -> list[tuple[str, str]]:
    """(status A/M/D, catalog-relative path) of everything that differs from ``base``, untracked included."""
    scope = prefix or "."
    found = []
    parts = [p for p in git(root, "diff", "--name-status", "--no-renames", "-z", base, "--", scope).split("\0") if p]
    found += [(status[0], path) for status, path in zip(parts[::2], parts[1::2])]
    for path in git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", scope).split("\0"):
        if path:
            found.append(("A", path))
    return [(s, p[len(prefix):]) for s, p in found if p.startswith(prefix) and "/.modelreg/" not in f"/{p}"]


def _base_catalog(catalog: Catalog, root: Path, prefix: str, base: str, folder: Path):
    """The catalog as it was at ``base``, extracted with git archive; None if it did not exist.

    Opened with the class of the catalog being diffed (the facade sits above this layer).
    """
    archive = run(root, "archive", "--format=tar", base, "--", prefix or ".", binary=True)
    if archive.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(folder, filter="data")
    path = folder / prefix
    if not (path / REGISTRY_FILE).exists() and not (path / MODELS_DIR).is_dir():
        return None
    return type(catalog)(path, user="modelreg-diff")


def _headline(catalog: Catalog, model: str, version: int) -> dict[tuple, float]:
    return catalog.reader().headline(model, version)


def _gates(catalog: Catalog, model: str, version: int) -> dict[str, list[dict]]:
    from registry_core.lifecycle.actions import policy_for

    out = {}
    for stage in catalog.settings.stage_names:
        if not policy_for(catalog, model, stage).gates:
            continue
        plan = catalog.plan(model, version, stage)
        out[stage] = [g.to_dict() for g in plan.gates]
    return out


def catalog_diff(catalog: Catalog, rev: str) -> dict[str, Any]:
    """The catalog changes since ``rev`` (its merge base with HEAD) as plain data."""
    root = repo_root(catalog)
    prefix = catalog_prefix(catalog, root)
    if not isinstance(rev, str) or not rev or rev.startswith("-"):
        raise InvalidInput(f"diff: {rev!r} is not a git revision")
    if not git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False).strip():
        raise InvalidInput(f"diff: unknown git revision {rev!r} in {root}")
    base = git(root, "merge-base", rev, "HEAD").strip()
    changes = _changes(root, prefix, base)
    new_versions, events, metrics_added, models_changed, rewritten = [], set(), [], [], []
    settings_changed = False
    added_versions = {(f.model, f.version) for s, p in changes if s == "A"
                      for f in [parse_path(p)] if f and f.kind == "manifest"}
    for status, path in sorted(changes):
        found = parse_path(path)
        kind = found.kind if found else None
        if kind == "registry":
            settings_changed = True
        elif kind == "model":
            models_changed.append(found.model)
        elif kind is None:
            continue
        elif status != "A":
            rewritten.append({"path": path, "change": "deleted" if status == "D" else "modified"})
        elif kind == "event":
            events.add(found.file.removesuffix(EVENT_SUFFIX))
        elif kind == "metrics" and (found.model, found.version) not in added_versions:
            metrics_added.append({"ref": f"{found.model}@{found.version}", "path": path})
    settings = catalog.settings
    with tempfile.TemporaryDirectory(prefix="modelreg-diff-") as tmp:
        before = _base_catalog(catalog, root, prefix, base, Path(tmp))
        for model, version in sorted(added_versions):
            row = catalog.reader().version(model, version)
            if row is None:
                continue  # a manifest the index refused: validate reports it
            holder = None
            if before is not None and before.reader().version_numbers(model):
                holder = before.state(model).holder(PRODUCTION)
            baseline = _headline(before, model, holder) if holder is not None else {}
            metrics = []
            for (metric, dataset, slice_), value in sorted(_headline(catalog, model, version).items(),
                                                           key=lambda kv: tuple(str(k or "") for k in kv[0])):
                other = baseline.get((metric, dataset, slice_))
                delta = None if other is None else value - other
                better = None if not delta else (delta > 0) == (settings.goal(metric) == "max")
                metrics.append({"metric": metric, "dataset": dataset, "slice": slice_, "value": value,
                                "production": other, "delta": delta, "better": better})
            summary = {k: row[k] for k in ("created_by", "description", "stage")}
            new_versions.append({"ref": f"{model}@{version}", "model": model, "version": version, **summary,
                                 "production": f"{model}@{holder}" if holder is not None else None,
                                 "metrics": metrics, "gates": _gates(catalog, model, version)})
    history = [e for e in catalog.history() if e["id"] in events]
    pending = {r["id"] for r in catalog.requests()}
    for event in history:
        event["pending"] = event["action"] == "request" and event["id"] in pending
    violations = [{"id": e["id"], "path": f"models/{e['model']}/events/{e['id']}.yaml", "model": e["model"],
                   "action": e["action"], "by": e["by"], "rule": e["violation"]}
                  for e in sorted(history, key=lambda e: e["id"]) if e.get("violation")]
    return {"rev": rev, "base": base, "versions": new_versions,
            "events": sorted(history, key=lambda e: e["id"]), "violations": violations,
            "metrics_added": metrics_added,
            "settings_changed": settings_changed, "models_changed": sorted(set(models_changed)),
            "rewritten": rewritten}


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _metric_name(row: dict) -> str:
    parts = [p for p in (row.get("dataset"), row.get("slice")) if p]
    return f"{row['metric']} [{' | '.join(parts)}]" if parts else row["metric"]


def to_markdown(diff: dict[str, Any]) -> str:
    """The diff as a pull-request comment."""
    lines = [f"## Model registry changes since `{diff['rev']}` ({diff['base'][:10]})", ""]
    if not (diff["versions"] or diff["events"] or diff["metrics_added"] or diff["settings_changed"]
            or diff["models_changed"] or diff["rewritten"]):
        return "\n".join([*lines, "No catalog changes.", ""])
    if diff["versions"]:
        lines += ["### New versions", ""]
    for v in diff["versions"]:
        lines += [f"#### `{v['ref']}` by {v['created_by'] or '?'} (stage: {v['stage']})", ""]
        if v["description"]:
            lines += [f"> {v['description']}", ""]
        against = f"production ({v['production']})" if v["production"] else "production (none)"
        lines += [f"| metric | value | {against} | Δ |", "|---|---|---|---|"]
        for m in v["metrics"]:
            mark = "" if m["better"] is None else (" ✅" if m["better"] else " ⚠️")
            delta = "" if m["delta"] is None else f"{m['delta']:+.4g}{mark}"
            lines.append(f"| {_metric_name(m)} | {_number(m['value'])} | {_number(m['production'])} | {delta} |")
        if not v["metrics"]:
            lines.append("| (no metrics) | | | |")
        lines.append("")
        for stage, gates in v["gates"].items():
            passed = sum(g["passed"] for g in gates)
            if not gates:
                lines.append(f"- gates for **{stage}**: not evaluated (already there or requested)")
                continue
            lines.append(f"- gates for **{stage}**: {'✅' if passed == len(gates) else '❌'} {passed}/{len(gates)} "
                         "passed")
            lines += [f"  - ❌ {g['gate']}: {g['message']}" for g in gates if not g["passed"]]
        lines.append("")
    if diff["events"]:
        lines += ["### Lifecycle", "", "| when | who | what | version | stage | reason |", "|---|---|---|---|---|---|"]
        for e in diff["events"]:
            what = e["action"] + (" (pending)" if e.get("pending") else "") + (" (forced)" if e.get("forced") else "")
            if e.get("rollback_of"):
                what = f"rollback from v{e['rollback_of']}"
            if e["action"] == "alias":
                what = f"alias {e.get('alias')}"
            if e.get("violation"):
                what = f"⛔ {what} (no effect: breaks the policy)"
            reason = (e.get("reason") or "").replace("|", "\\|")
            lines.append(f"| {plain(e['at'])} | {e['by']} | {what} | {e['model']}@{e['version']} | "
                         f"{e.get('stage') or ''} | {reason} |")
        lines.append("")
    if diff.get("violations"):
        lines += ["### ⛔ Events that break the policy (they have no effect; `modelreg validate` fails)", "",
                  *[f"- `{v['path']}` ({v['action']} by {v['by']}): {v['rule']}" for v in diff["violations"]], ""]
    other = [f"- metrics added to `{m['ref']}`: {m['path']}" for m in diff["metrics_added"]]
    other += ["- registry.yaml changed (stages, gates, roles or policies)"] if diff["settings_changed"] else []
    other += [f"- model.yaml of `{m}` changed" for m in diff["models_changed"]]
    if other:
        lines += ["### Other changes", "", *other, ""]
    if diff["rewritten"]:
        lines += ["### ⚠️ Files that are written once were changed", "",
                  *[f"- {r['path']} ({r['change']})" for r in diff["rewritten"]], ""]
    return "\n".join(lines)

"""Model cards: one version as Markdown with YAML front matter in the Hugging Face model card format.

The front matter is what the Hub (and ``huggingface_hub.ModelCard``) reads: ``model-index`` with
the headline metrics as evaluation results (grouped by dataset and split), ``datasets``,
``library_name``, ``tags``; the registry's own facts (reference, stage, checksums, parents) sit
under a ``modelreg`` key, which Hugging Face keeps as-is.  :func:`render_card` is pure (facts in,
text out), so the dashboard offers the same text as a download that ``modelreg card`` writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from registry_core.format.yamlio import dumps
from registry_core.formats import plain

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

UNSPECIFIED = "unspecified"


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _dataset_for(split: str | None, datasets: list[dict]) -> tuple[str, str | None, str | None]:
    """(dataset name, split, revision) for a metric's dataset column, using the lineage roles."""
    if not split:
        return UNSPECIFIED, None, None
    for entry in datasets:
        if entry.get("role") == split:
            return entry["name"], split, (str(entry["version"]) if entry.get("version") is not None else None)
    return split, split, None


def _model_index(model: str, task: str | None, headline: list[dict], datasets: list[dict]) -> list[dict]:
    results: dict[tuple, dict] = {}
    for row in headline:
        name, split, revision = _dataset_for(row.get("dataset"), datasets)
        key = (name, split, revision)
        if key not in results:
            dataset: dict[str, Any] = {"name": name, "type": name}
            if split:
                dataset["split"] = split
            if revision:
                dataset["revision"] = revision
            results[key] = {"task": {"type": task or UNSPECIFIED}, "dataset": dataset, "metrics": []}
        metric: dict[str, Any] = {"type": row["metric"], "value": float(row["value"]), "name": row["metric"]}
        if row.get("slice"):
            metric["name"] = f"{row['metric']} ({row['slice']})"
            metric["config"] = row["slice"]
        results[key]["metrics"].append(metric)
    return [{"name": model, "results": list(results.values())}] if results else []


def render_card(info: dict, pending: list[dict] | None = None, model_task: str | None = None) -> str:
    """The card of one version from ``Catalog.get(ref)``'s answer, the model's pending requests and
    the model's task (used when the manifest names none)."""
    manifest = info["manifest"]
    model, version, stage = info["model"], info["version"], info["stage"]
    lineage = manifest.get("lineage") or {}
    datasets = [d for d in lineage.get("datasets") or [] if isinstance(d, dict) and d.get("name")]
    task = manifest.get("task") or model_task
    requested = [r for r in pending or [] if r.get("version") == version]
    intended = requested[0]["stage"] if requested else stage
    artifacts = [a for a in manifest.get("artifacts") or [] if isinstance(a, dict)]
    front: dict[str, Any] = {}
    if manifest.get("framework"):
        front["library_name"] = str(manifest["framework"]).split()[0].lower()
    if (manifest.get("tags") or {}).get("license"):
        front["license"] = str(manifest["tags"]["license"])
    front["tags"] = ["modelreg", *([task] if task else []), f"stage-{stage}"]
    if datasets:
        front["datasets"] = list(dict.fromkeys(d["name"] for d in datasets))
    front["model-index"] = _model_index(model, task, info["headline"], datasets)
    if not front["model-index"]:
        del front["model-index"]
    front["modelreg"] = {
        "ref": f"{model}@{version}", "stage": stage, "intended_stage": intended, "aliases": info.get("aliases") or [],
        "created_at": manifest.get("created_at"), "created_by": manifest.get("created_by"),
        "parents": list(lineage.get("parents") or []),
        "artifacts": [{k: a.get(k) for k in ("path", "uri", "sha256", "size") if a.get(k) is not None}
                      for a in artifacts],
    }
    lines = ["---", dumps(plain(front)).decode().rstrip(), "---", "", f"# {model} v{version}", ""]
    if manifest.get("description"):
        lines += [str(manifest["description"]), ""]
    facts = [["Reference", f"`{model}@{version}`"], ["Stage", stage],
             ["Intended stage", f"{intended} (requested, awaiting approval)" if requested else intended],
             ["Registered", f"{manifest.get('created_at')} by {manifest.get('created_by', '?')}"]]
    facts += [["Framework", manifest["framework"]]] if manifest.get("framework") else []
    facts += [["Task", task]] if task else []
    if info.get("aliases"):
        facts.append(["Aliases", ", ".join(info["aliases"])])
    lines += [_table(["", ""], facts), ""]
    if info["headline"]:
        rows = [[h["metric"], h.get("dataset") or "", h.get("slice") or "", f"{h['value']:.6g}"]
                for h in info["headline"]]
        lines += ["## Evaluation results", "", _table(["metric", "dataset", "slice", "value"], rows), ""]
    lines += ["## Training data and lineage", ""]
    for d in datasets:
        extra = ", ".join(f"{k} {d[k]}" for k in ("uri", "sha256") if d.get(k))
        lines.append(f"- dataset **{d['name']}**" + (f" @ {d['version']}" if d.get("version") is not None else "")
                     + (f" ({d['role']})" if d.get("role") else "") + (f": {extra}" if extra else ""))
    lines += [f"- parent `{p}`" for p in lineage.get("parents") or []]
    lines += [f"- child `{c['ref']}` ({c['stage']})" for c in (info.get("lineage") or {}).get("children") or []]
    for key in ("run", "code"):
        if isinstance(lineage.get(key), dict):
            lines.append(f"- {key}: " + ", ".join(f"{k} {v}" for k, v in plain(lineage[key]).items()))
    if not (datasets or lineage.get("parents") or lineage.get("run") or lineage.get("code")):
        lines.append("- none recorded")
    lines.append("")
    if manifest.get("params"):
        lines += ["## Hyperparameters", "", _table(["param", "value"], [[k, v] for k, v in manifest["params"].items()]),
                  ""]
    if artifacts:
        lines += ["## Files", "", _table(["file", "sha256", "size"], [
            [a.get("path") or a.get("uri"), a.get("sha256") or "", a.get("size") or ""] for a in artifacts]), ""]
    events = info.get("events") or []
    if events:
        lines += ["## History", "", _table(["when", "who", "what", "stage", "why"], [
            [plain(e["at"]), e["by"], e["action"], e.get("stage") or "", e.get("reason") or ""] for e in events]), ""]
    return "\n".join(lines)


def model_card(catalog: Catalog, ref: str) -> str:
    """The Markdown model card of ``ref`` (what ``modelreg card`` writes and the dashboard offers)."""
    info = catalog.get(ref)
    model = catalog.reader().model(info["model"])
    return render_card(info, catalog.requests(info["model"]), model["task"] if model else None)

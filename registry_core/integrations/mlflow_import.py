"""Importing registered models from an MLflow tracking/registry store (``modelreg import-mlflow``).

Each MLflow model version becomes a catalog version: its run's params, every metric with its full
history, dataset inputs, tags and description, the model's artifacts (copied in, or referenced by
URI, with checksums either way: the URI of the files in MLflow's artifact store, file:// or s3:// ...,
so that ``verify`` and ``pull`` can check them without MLflow; with an artifact store configured a copy
goes to the store), created at its original time by its original user.  Stages and
aliases become promote and alias events dated at the moment MLflow last updated the version:
MLflow keeps no history of stage transitions or alias moves, so the importer records the current
state once (a later import records later changes).

A version remembers where it came from in the manifest tag ``imported_from: models:/NAME/N``, so
re-running the import brings in only versions, stages and aliases that are new.  mlflow is an
optional extra and is imported only inside :func:`import_mlflow`.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_core.errors import CatalogError, Conflict, InvalidInput, NotFound
from registry_core.format.names import check_alias
from registry_core.format.settings import NONE_STAGE
from registry_core.format.yamlio import dumps
from registry_core.integrations import gitsync
from registry_core.lifecycle import actions as lifecycle
from registry_core.lifecycle.policy import may_set_alias
from registry_core.store.artifacts import sha256_file
from registry_core.store.atomic import write_once

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

REASON = "imported from MLflow"
TAG = "imported_from"
#: manifest tag of a version whose MLflow files could not be downloaded (its source is recorded by URI)
UNVERIFIED_TAG = "imported_artifacts"
ARTIFACT_MODES = ("copy", "reference", "none")

#: keeps mlflow local, quiet and off the network; set before mlflow's first import
QUIET_ENV = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
    "MLFLOW_ALLOW_FILE_STORE": "true",  # reading an existing file store is what an import is for
    "GIT_PYTHON_REFRESH": "quiet",
}


def _scalar(text: str) -> Any:
    """MLflow keeps params as strings; bring numbers and booleans back so they can be plotted."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("none", "null"):
        return None
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        return value if not isinstance(value, float) or math.isfinite(value) else text
    return text


def _time(ms: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC) if ms else None


def _not_future(moment: dt.datetime | None) -> dt.datetime | None:
    """MLflow's clock (or a forged timestamp) may be ahead: nothing is dated after now."""
    return None if moment is None else min(moment, dt.datetime.now(dt.UTC))


def target_name(name: str) -> str:
    """A catalog model name for an MLflow model name (which may hold spaces, slashes, dots of Unity paths)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-._")[:100]
    if not cleaned:
        raise InvalidInput(f"MLflow model {name!r}: no usable characters for a catalog model name")
    return cleaned


def parse_prefixes(items: list[str] | None) -> list[tuple[str, str]]:
    """``PREFIX=DATASET`` pairs: ``test_=test`` turns MLflow's ``test_roc_auc`` into roc_auc on test."""
    pairs = []
    for item in items or []:
        prefix, sep, dataset = item.partition("=")
        if not sep or not prefix or not dataset:
            raise InvalidInput(f"--dataset-prefix {item!r}: expected PREFIX=DATASET, e.g. test_=test")
        pairs.append((prefix, dataset))
    return sorted(pairs, key=lambda p: -len(p[0]))


def _split(key: str, prefixes: list[tuple[str, str]]) -> tuple[str, str | None]:
    for prefix, dataset in prefixes:
        if key.startswith(prefix) and len(key) > len(prefix):
            return key[len(prefix):], dataset
    return key, None


class Unavailable(Exception):
    """A model version's files could not be downloaded (an empty ``runs:/.../model``, a store gone)."""


class _Source:
    """The MLflow store, read through MlflowClient (the only place mlflow is touched)."""

    def __init__(self, tracking_uri: str) -> None:
        for key, value in QUIET_ENV.items():
            os.environ.setdefault(key, value)
        try:
            import mlflow
            from mlflow import MlflowClient
        except ImportError:
            raise CatalogError("import-mlflow needs the mlflow package: pip install 'modelreg[mlflow]'") from None
        self.mlflow = mlflow
        self.uri = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    def _pages(self, search, size: int, **kwargs) -> Iterator[Any]:
        token = None
        while True:
            page = search(max_results=size, page_token=token, **kwargs)
            yield from page
            token = page.token
            if not token:
                return

    def models(self, names: list[str] | None) -> list[Any]:
        found = {m.name: m for m in self._pages(self.client.search_registered_models, 1000)}
        if not names:
            return [found[n] for n in sorted(found)]
        missing = [n for n in names if n not in found]
        if missing:
            raise NotFound(f"--model {missing[0]!r}: no such registered model in {self.uri}")
        return [found[n] for n in names]

    def versions(self, name: str) -> list[Any]:
        quoted = name.replace("'", "\\'")
        versions = self._pages(self.client.search_model_versions, 10000, filter_string=f"name = '{quoted}'")
        return sorted(versions, key=lambda v: int(v.version))

    def run(self, run_id: str | None):
        return self.client.get_run(run_id) if run_id else None

    def history(self, run_id: str, key: str) -> list[Any]:
        return self.client.get_metric_history(run_id, key)

    def location(self, uri: str) -> str:
        """Where MLflow keeps the files of a model version's source (``file://``, ``s3://`` ...), so that a
        reference can be verified without MLflow; URIs it cannot resolve are returned as they are."""
        match = re.match(r"^models:/(m-[0-9a-f]+)/?\Z", uri)
        if match:  # an MLflow 3 logged model: mlflow would resolve it against the process-wide registry
            return self.client.get_logged_model(match.group(1)).artifact_location
        match = re.match(r"^runs:/([0-9a-f]+)/(.*)\Z", uri)
        if match:
            return self.client.get_run(match.group(1)).info.artifact_uri.rstrip("/") + "/" + match.group(2)
        return uri

    def download(self, uri: str, folder: Path) -> Path:
        """The files at ``uri``, downloaded into ``folder``; ``Unavailable`` if the store has none there."""
        try:
            return self._download(self.location(uri), folder)
        except (self.mlflow.exceptions.MlflowException, OSError) as exc:
            lines = str(exc).strip().splitlines()
            raise Unavailable(lines[0] if lines else type(exc).__name__) from None

    def _download(self, uri: str, folder: Path) -> Path:
        path = self.mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(folder),
                                                        tracking_uri=self.uri)
        return Path(path)


def _metric_rows(source: _Source, run, prefixes: list[tuple[str, str]], skipped: list[str]) -> list[dict]:
    rows = []
    for key in sorted(run.data.metrics):
        history = source.history(run.info.run_id, key)
        metric, dataset = _split(key, prefixes)
        summary = len(history) == 1 and history[0].step == 0  # logged once: a summary value, not a curve
        for point in history:
            if not math.isfinite(point.value):
                skipped.append(f"{key} step {point.step}: {point.value}")
                continue
            rows.append({"metric": metric, "value": float(point.value),
                         "dataset": dataset or getattr(point, "dataset_name", None) or None,
                         "step": None if summary else int(point.step), "timestamp": _time(point.timestamp)})
    return rows


def _datasets(run) -> list[dict]:
    out = []
    for item in getattr(run.inputs, "dataset_inputs", None) or []:
        data = item.dataset
        entry: dict[str, Any] = {"name": data.name or "dataset"}
        if data.digest:
            entry["version"] = data.digest
        context = next((t.value for t in item.tags or [] if t.key == "mlflow.data.context"), None)
        if context:
            entry["role"] = context
        try:
            where = json.loads(data.source) if data.source else {}
        except ValueError:
            where = {}
        uri = next((where[k] for k in ("uri", "url", "path") if isinstance(where, dict) and where.get(k)), None)
        if isinstance(uri, str):
            entry["uri"] = uri
        out.append(entry)
    return out


def _lineage(run) -> tuple[dict | None, dict | None]:
    if run is None:
        return None, None
    info, tags = run.info, run.data.tags
    started = _time(info.start_time)
    run_info: dict[str, Any] = {"id": info.run_id, "uri": f"runs:/{info.run_id}"}
    if started:
        run_info["started_at"] = started
    if info.start_time and info.end_time:
        run_info["duration_s"] = round((info.end_time - info.start_time) / 1000, 3)
    code = {key: tags[tag] for key, tag in (("repo", "mlflow.source.git.repoURL"),
                                            ("commit", "mlflow.source.git.commit"),
                                            ("entrypoint", "mlflow.source.name")) if tags.get(tag)}
    return run_info, code or None


def _artifacts(source: _Source, mv, mode: str, folder: Path) -> list:
    """Paths to copy in, or ``{uri, sha256, size}`` references, for the model version's files."""
    if mode == "none" or not mv.source:
        return []
    fetched = source.download(mv.source, folder / "download")
    if fetched.is_dir():  # one folder name whatever the store calls it: artifacts/model/...
        fetched = fetched.rename(folder / "model")
    if mode == "copy":
        return [fetched]
    base = source.location(mv.source).rstrip("/")
    files = [fetched] if fetched.is_file() else sorted(p for p in fetched.rglob("*") if p.is_file())
    references = []
    for path in files:
        digest, size = sha256_file(path)
        rel = "" if path == fetched else "/" + path.relative_to(fetched).as_posix()
        local = path.relative_to(fetched.parent).as_posix()
        references.append({"uri": base + rel, "path": f"artifacts/{local}", "sha256": digest, "size": size})
    return references


def _imported(catalog: Catalog, model: str) -> dict[str, int]:
    """``models:/NAME/N`` -> catalog version, for versions an earlier import brought in."""
    found = {}
    for row in catalog.reader().version_files(model):
        origin = (json.loads(row["manifest"]).get("tags") or {}).get(TAG)
        if isinstance(origin, str):
            found[origin] = row["version"]
    return found


def _write_model_file(catalog: Catalog, model: str, registered) -> bool:
    path = catalog.layout.model_file(model)
    if path.exists():
        return False
    body: dict[str, Any] = {"name": model}
    if registered.description:
        body["description"] = registered.description
    if registered.tags:
        body["tags"] = {str(k): v for k, v in registered.tags.items()}
    try:
        write_once(path, dumps(body))
    except Conflict:
        return False
    return True


def _version(catalog: Catalog, source: _Source, model: str, mv, origin: str, artifacts: str,
             prefixes: list[tuple[str, str]], report: list[dict], unverified: list[dict]) -> int:
    run = source.run(mv.run_id)
    skipped: list[str] = []
    metrics = _metric_rows(source, run, prefixes, skipped) if run else []
    params = {k: _scalar(v) for k, v in (run.data.params if run else {}).items()}
    tags = {k: v for k, v in (run.data.tags if run else {}).items() if not k.startswith("mlflow.")}
    tags.update(mv.tags or {})
    tags[TAG] = origin
    run_info, code = _lineage(run)
    user = mv.user_id or (run.data.tags.get("mlflow.user") if run else None) or (run.info.user_id if run else None)
    description = mv.description or (run.data.tags.get("mlflow.note.content") if run else None)
    missing = None
    with tempfile.TemporaryDirectory(prefix="modelreg-mlflow-") as tmp:
        try:
            files = _artifacts(source, mv, artifacts, Path(tmp))
        except Unavailable as exc:
            # the rest of the version is worth having: its source is recorded by URI, with no checksum
            # (so verify and the artifacts_verified gate treat it as not verified), and reported
            missing = str(exc)
            files = [{"uri": mv.source}]
            tags[UNVERIFIED_TAG] = f"not verified: {missing}"
        writer = catalog.as_user(user) if user else catalog
        result = writer.register(model, params=params, metrics=metrics or None, artifacts=files,
                                 datasets=_datasets(run) if run else None, description=description or None,
                                 tags=tags, run=run_info, code=code,
                                 created_at=_not_future(_time(mv.creation_timestamp)))
    detail = f"{len(params)} params, {len(metrics)} metric rows"
    if skipped:
        detail += f"; skipped {len(skipped)} non-finite value(s), first: {skipped[0]}"
    report.append({"mlflow": origin, "ref": f"{model}@{result['version']}", "action": "registered",
                   "detail": detail})
    if missing is not None:
        unverified.append({"mlflow": origin, "ref": f"{model}@{result['version']}", "action": "artifacts not verified",
                           "detail": f"no files could be downloaded from {mv.source} ({missing}); recorded by URI"})
    return result["version"]


def _lifecycle(catalog: Catalog, model: str, registered, versions: list, numbers: dict[str, int],
               report: list[dict]) -> None:
    """Record MLflow's current stages and aliases that the catalog does not show yet."""
    stages = set(catalog.settings.stage_names)
    wanted: list[tuple[dt.datetime, int, str, str]] = []  # (when, version, kind, stage or alias)
    by_version = {str(v.version): v for v in versions}
    for mv in versions:
        number = numbers.get(str(mv.version))
        stage = (mv.current_stage or "None").lower()
        if number is None or stage == NONE_STAGE:
            continue
        when = _time(mv.last_updated_timestamp) or _time(mv.creation_timestamp)
        if stage in stages:
            wanted.append((when, number, "stage", stage))
        else:
            report.append({"mlflow": f"models:/{registered.name}/{mv.version}", "ref": f"{model}@{number}",
                           "action": "skipped", "detail": f"stage {mv.current_stage!r} is not a stage of this catalog"})
    for alias, version in sorted((registered.aliases or {}).items()):
        mv = by_version.get(str(version))
        number = numbers.get(str(version))
        if mv is None or number is None:
            continue
        when = _time(mv.last_updated_timestamp) or _time(mv.creation_timestamp)
        if alias in stages:  # MLflow 3 teams often use aliases named like stages: they are stages here
            wanted.append((when, number, "stage", alias))
            continue
        try:
            check_alias(alias, stages)
        except InvalidInput as exc:
            report.append({"mlflow": f"models:/{registered.name}@{alias}", "ref": f"{model}@{number}",
                           "action": "skipped", "detail": str(exc)})
            continue
        wanted.append((when, number, "alias", alias))
    # (action, version, stage or alias) -> latest time an earlier import recorded it
    recorded: dict[tuple, dt.datetime] = {}
    history = catalog.history(model)
    for row in history:
        if row["reason"] and row["reason"].startswith(REASON):
            key = (row["action"], row["version"], row["stage"] or row["alias"])
            recorded[key] = max(row["at"], recorded.get(key, row["at"]))
    # never in the future, never before what the catalog already holds (a later event always wins)
    last: dt.datetime | None = max((row["at"] for row in history), default=None)
    for when, number, kind, name in sorted(wanted, key=lambda w: (w[0], w[1], w[2] != "stage", w[3])):
        action = "promote" if kind == "stage" else "alias"
        seen = recorded.get((action, number, name))
        if seen is not None and seen >= when:
            continue  # an earlier import recorded this; what happened in the catalog since stands
        mlflow_ref = f"models:/{registered.name}" + (f"@{name}" if kind == "alias" else f"/{number}")
        fact = f"{REASON}: {'in' if kind == 'stage' else 'alias'} {name} there since {when.isoformat()}"
        when = min(when, dt.datetime.now(dt.UTC))
        if last is not None and when <= last:  # distinct times keep the ids in this order
            when = last + dt.timedelta(microseconds=1)
        try:
            done = _apply(catalog, model, number, kind, name, when, fact)
        except (Conflict, InvalidInput) as exc:
            done = ("skipped", str(exc))
        if done is None:
            continue
        if done[0] != "skipped":
            last = when
        report.append({"mlflow": mlflow_ref, "ref": f"{model}@{number}", "action": done[0], "detail": done[1]})


def _apply(catalog: Catalog, model: str, number: int, kind: str, name: str, when: dt.datetime,
           fact: str) -> tuple[str, str] | None:
    """Make one MLflow stage or alias true here, as the importing user may: directly, by a request, or not.

    Returns (action, detail) for the report, or None when the catalog already agrees.
    """
    if kind == "alias":
        if catalog.state(model).aliases.get(name, (None,))[0] == number:
            return None
        decision = may_set_alias(catalog.settings, name, catalog.user)
        if not decision:
            return "skipped", decision.reason
        lifecycle.record_imported(catalog, model, "alias", when, fact, version=number, alias=name)
        return f"alias {name}", f"as of {when.isoformat()}"
    plan = lifecycle.plan(catalog, model, number, name, catalog.user)
    if plan.current == name:
        return None
    gates = tuple(g.to_dict() for g in plan.gates)
    if plan.action == "promote":
        lifecycle.record_imported(catalog, model, "promote", when, fact, version=number, stage=name, gates=gates)
        return f"promoted to {name}", f"as of {when.isoformat()}"
    if plan.action == "request":
        event = lifecycle.record_imported(catalog, model, "request", when, fact, version=number, stage=name,
                                          gates=gates, approvals_needed=plan.needs_approval)
        return f"requested {name}", f"request {event.id} needs {plan.needs_approval} approval(s)"
    return "skipped", f"{name}: {plan.reason}"


def import_mlflow(catalog: Catalog, tracking_uri: str, models: list[str] | None = None, artifacts: str = "copy",
                  dataset_prefixes: list[str] | None = None) -> list[dict]:
    """Bring registered models from MLflow into the catalog; returns one row per thing imported or skipped.

    ``artifacts``: ``copy`` (into the version folder), ``reference`` (record ``uri`` + sha256 + size)
    or ``none``.  ``dataset_prefixes``: ``PREFIX=DATASET`` pairs splitting metric names into metric
    and dataset (``test_=test``).  Re-running imports only what is new.  A version whose files cannot
    be downloaded is imported all the same, its source recorded by URI without a checksum (not
    verified) and tagged ``imported_artifacts``; such versions are listed at the end of the report.
    """
    if artifacts not in ARTIFACT_MODES:
        raise InvalidInput(f"--artifacts {artifacts!r}: expected one of {', '.join(ARTIFACT_MODES)}")
    if not isinstance(tracking_uri, str) or not tracking_uri.strip():
        raise InvalidInput("--tracking-uri: give the MLflow store, e.g. sqlite:///mlflow.db or ./mlruns")
    prefixes = parse_prefixes(dataset_prefixes)
    if "://" not in tracking_uri and not tracking_uri.startswith("databricks") and not Path(tracking_uri).exists():
        raise InvalidInput(f"--tracking-uri {tracking_uri}: no such folder")
    source = _Source(tracking_uri)
    report: list[dict] = []
    unverified: list[dict] = []  # versions whose files could not be downloaded: reported at the end
    for registered in source.models(models):
        model = target_name(registered.name)
        if _write_model_file(catalog, model, registered):
            report.append({"mlflow": f"models:/{registered.name}", "ref": model, "action": "created model",
                           "detail": "model.yaml"})
        versions = source.versions(registered.name)
        numbers = {}
        known = _imported(catalog, model)
        for mv in versions:
            origin = f"models:/{registered.name}/{mv.version}"
            if origin in known:
                numbers[str(mv.version)] = known[origin]
                continue
            if mv.status and mv.status != "READY":
                report.append({"mlflow": origin, "ref": model, "action": "skipped",
                               "detail": f"status {mv.status}"})
                continue
            numbers[str(mv.version)] = _version(catalog, source, model, mv, origin, artifacts, prefixes, report,
                                                unverified)
        _lifecycle(catalog, model, registered, versions, numbers, report)
    gitsync.after_write(catalog)  # model.yaml files and imported events, when auto-commit is on
    return report + unverified

"""Creating catalogs, registering versions and adding metric tables.

A version number is taken by creating its folder (``mkdir`` is atomic and
exclusive, so two processes can never take the same number); metric tables
and artifacts go in next; ``manifest.yaml`` is written last, and only then
does the version exist.  Any failure before that removes the folder again.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from registry_core.errors import Conflict, InvalidInput
from registry_core.format.layout import Layout
from registry_core.format.manifests import check_manifest, safe_relative
from registry_core.format.metrics import parse_metric_args, read_input_file, to_parquet_bytes, to_table
from registry_core.format.names import check_name, is_digits, parse_ref
from registry_core.format.yamlio import dumps, iso, load_file
from registry_core.lifecycle.events import now
from registry_core.store.artifacts import artifact_files, copy_file, copy_in
from registry_core.store.atomic import write_once
from registry_core.store.locking import model_lock
from registry_core.store.upload import Progress, upload_artifacts

if TYPE_CHECKING:
    from registry_core.catalog import Catalog

REGISTRY_TEMPLATE = """\
# modelreg catalog settings (format 1). Every key is optional; see docs/catalog-format.md.
format: 1
name: {name}

# Stages a version can be promoted to (besides the implicit "none" of a new version).
# An exclusive stage holds at most one version per model; promoting another archives the holder.
stages:
  - name: staging
  - name: production
    exclusive: true
  - name: archived

# Direction of each metric, for "best", deltas and relative gates (undeclared: lower is better
# for names containing loss, error, mae, mse, rmse, latency, time, size; higher otherwise).
metrics: {{}}
#  roc_auc: {{goal: max}}
#  latency_p95_ms: {{goal: min, unit: ms}}

# What it takes to enter a stage. Example:
policies: {{}}
#  production:
#    from: [staging]
#    gates:
#      - {{metric: roc_auc, dataset: test, min: 0.85}}
#      - {{metric: roc_auc, dataset: test, vs: production, tolerance: 0.005}}
#      - {{check: artifacts_verified}}
#    approvals: 1
#    approvers: [lead]

# Who may move a named alias (absent = anyone).
aliases: {{}}

# Roles: user ids (emails) per role, used by policies.
roles: {{}}
#  lead: [alice@example.com]

# The dashboard trusts an identity header only if it is named here (behind a login proxy).
# auth:
#   trusted_header: X-Forwarded-Email
"""


def init_catalog(layout: Layout, name: str | None = None) -> None:
    root = layout.root
    if layout.registry.exists():
        raise Conflict(f"{root} already holds a catalog ({layout.registry} exists)")
    root.mkdir(parents=True, exist_ok=True)
    layout.models.mkdir(exist_ok=True)
    title = name or root.resolve().name
    write_once(layout.registry, REGISTRY_TEMPLATE.format(name=dumps({"n": title}).decode()[3:].strip()).encode())
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        write_once(gitignore, b".modelreg\n")  # no slash: a link named .modelreg is ignored too


def _check_case(layout: Layout, model: str) -> None:
    if not layout.models.is_dir():
        return
    for entry in os.scandir(layout.models):
        if entry.name.lower() == model.lower() and entry.name != model:
            raise Conflict(f"model {model!r} clashes with existing model {entry.name!r}: "
                           "names are unique ignoring case")


def _allocate(layout: Layout, model: str) -> tuple[int, Path]:
    """Take the next free version number by creating its folder (exclusive, never read-then-write)."""
    versions = layout.versions(model)
    versions.mkdir(parents=True, exist_ok=True)
    taken = [int(e.name) for e in os.scandir(versions) if is_digits(e.name)]
    number = max(taken, default=0) + 1
    while True:
        try:
            (versions / str(number)).mkdir()
            return number, versions / str(number)
        except FileExistsError:
            number += 1


def _datasets(datasets: list | None) -> list[dict]:
    """``ROLE=NAME@VERSION`` strings or dicts with at least a name."""
    out = []
    for item in datasets or []:
        if isinstance(item, dict):
            if not isinstance(item.get("name"), str) or not item["name"]:
                raise InvalidInput(f"dataset {item!r}: needs a 'name'")
            out.append(dict(item))
            continue
        if not isinstance(item, str):
            raise InvalidInput(f"dataset {item!r}: expected ROLE=NAME@VERSION")
        role, sep, rest = item.partition("=")
        if not sep:
            role, rest = "", item
        name, _, version = rest.partition("@")
        if not name:
            raise InvalidInput(f"--dataset {item!r}: expected ROLE=NAME@VERSION")
        entry: dict[str, Any] = {"name": name}
        if version:
            entry["version"] = version
        if role:
            entry["role"] = role
        out.append(entry)
    return out


def _reference(item: dict) -> dict:
    """An artifact stored elsewhere: ``{"uri", "sha256", "size"}`` (checksum and size optional), and ``path``
    where ``pull`` writes it (``artifacts/...``)."""
    if not isinstance(item.get("uri"), str) or not item["uri"] or set(item) - {"uri", "sha256", "size", "path"}:
        raise InvalidInput(f"artifact {item!r}: expected a mapping with 'uri' and optional 'sha256', 'size', 'path'")
    if "path" in item and not (isinstance(item["path"], str) and item["path"].startswith("artifacts/")
                               and safe_relative(item["path"])):
        raise InvalidInput(f"artifact {item['uri']}: path must be artifacts/<relative path>, got {item['path']!r}")
    digest, size = item.get("sha256"), item.get("size")
    if digest is not None and not (isinstance(digest, str) and len(digest) == 64):
        raise InvalidInput(f"artifact {item['uri']}: sha256 must be 64 hex digits")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise InvalidInput(f"artifact {item['uri']}: size must be a non-negative integer")
    return {k: item[k] for k in ("path", "uri", "sha256", "size") if item.get(k) is not None}


def _metrics_table(metrics: Any):
    if metrics is None:
        return None
    if isinstance(metrics, list) and metrics and all(isinstance(m, str) for m in metrics):
        metrics = parse_metric_args(metrics)
    if isinstance(metrics, str | os.PathLike):
        return read_input_file(Path(metrics))
    table = to_table(metrics, where="metrics")
    return table if table.num_rows else None


def _plain_params(params: dict | None) -> dict:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidInput(f"params must be a mapping, got {type(params).__name__}")
    out = {}
    for key, value in params.items():
        if hasattr(value, "item") and callable(value.item):  # numpy scalars
            value = value.item()
        if not isinstance(value, str | int | float | bool | list | dict | type(None)):
            raise InvalidInput(f"param {key!r}: {type(value).__name__} is not a plain value")
        out[str(key)] = value
    return out


def _parent_ref(catalog: Catalog, text: str) -> str:
    """``MODEL@N`` of a parent.  A numbered version is checked on its own manifest (a registration
    loop need not refresh the index of the whole catalog for each version); stages, aliases and
    ``latest`` are resolved through the index."""
    ref = parse_ref(text)
    if ref.version is not None:
        path = catalog.layout.manifest(ref.model, ref.version)
        # links are never followed (the index ignores them too): then the index decides
        if path.is_file() and not any(p.is_symlink() for p in (path, *list(path.parents)[:3])):
            try:
                errors, _ = check_manifest(load_file(path), ref.model, ref.version)
            except InvalidInput:
                errors = ["unreadable"]
            if not errors:
                return f"{ref.model}@{ref.version}"
    return catalog.resolve(ref)["ref"]


def register(catalog: Catalog, model: str, *, params: dict | None = None, metrics: Any = None,
             artifacts: list | None = None, datasets: list | None = None, parents: list | None = None,
             description: str | None = None, tags: dict | None = None, framework: str | None = None,
             task: str | None = None, run: dict | None = None, code: dict | None = None,
             environment: dict | None = None, created_at: dt.datetime | None = None,
             progress: Progress | None = None) -> dict:
    """Register a new version of ``model`` (created on first use) and return {model, version, path}.

    ``metrics``: a dict (``{"roc_auc": 0.9}`` or ``{"test": {"roc_auc": 0.9}}``), a list of rows,
    a DataFrame, or a path to a CSV/JSON/Parquet file.  ``artifacts``: file or folder paths to copy in,
    or ``{"uri", "sha256", "size"}`` mappings for files stored elsewhere.  ``created_at``: the original
    time of a version brought in by an importer (default: now).  With an artifact store configured
    (``artifacts.store`` in registry.yaml) the files are uploaded there first, before a version number is
    taken, and only their URIs and checksums enter the version folder; ``progress(name, done, total)`` is
    called as bytes go out.
    """
    layout = catalog.layout
    check_name(model)
    params = _plain_params(params)
    table = _metrics_table(metrics)
    dataset_entries = _datasets(datasets)
    parent_refs = [_parent_ref(catalog, p) for p in parents or []]
    copies = [a for a in artifacts or [] if not isinstance(a, dict)]
    references = [_reference(a) for a in artifacts or [] if isinstance(a, dict)]
    for path in copies:
        artifact_files(Path(path))  # exists, and no reserved names: checked before anything is written
    if created_at is not None and (not isinstance(created_at, dt.datetime) or created_at.tzinfo is None):
        raise InvalidInput(f"created_at must be a timezone-aware datetime, got {created_at!r}")
    if tags is not None and not isinstance(tags, dict):
        raise InvalidInput(f"tags must be a mapping, got {type(tags).__name__}")
    store = catalog.settings.artifacts
    uploading = bool(copies and store.store)
    staged: list = upload_artifacts(copies, store, progress) if uploading else []
    # The case check and the first mkdir are one step under the per-model lock (keyed on the
    # lower-case name), so "Foo" and "foo" registered at the same instant cannot both be created.
    with model_lock(layout.cache, model):
        _check_case(layout, model)
        version, folder = _allocate(layout, model)
    try:
        entries = []
        for item in staged:  # uploaded entries, or (file, rel) small enough to stay in the folder
            entries.append(item if isinstance(item, dict) else copy_file(item[0], item[1], folder / "artifacts"))
        for path in [] if uploading else copies:
            entries.extend(copy_in(Path(path), folder / "artifacts"))
        entries.extend(references)
        if table is not None:
            write_once(folder / "metrics" / "metrics.parquet", to_parquet_bytes(table))
        manifest: dict[str, Any] = {
            "model": model, "version": version, "created_at": iso(created_at or now()), "created_by": catalog.user,
        }
        optional = {
            "description": description, "framework": framework, "task": task, "params": params or None,
            "artifacts": entries or None, "environment": environment, "tags": {str(k): v for k, v in tags.items()}
            if tags else None,
        }
        lineage = {"datasets": dataset_entries or None, "parents": parent_refs or None, "run": run, "code": code}
        lineage = {k: v for k, v in lineage.items() if v}
        if lineage:
            optional["lineage"] = lineage
        manifest.update({k: v for k, v in optional.items() if v is not None})
        write_once(folder / "manifest.yaml", dumps(manifest), parents=False)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    return {"model": model, "version": version, "path": str(folder)}


def log_metrics(catalog: Catalog, ref: str, metrics: Any, dataset: str | None = None) -> str:
    """Add one more immutable metric table to an existing version; returns its path."""
    found = catalog.resolve(ref)
    if isinstance(metrics, str | os.PathLike):
        table = read_input_file(Path(metrics), dataset)
    else:
        table = to_table(metrics, dataset, "metrics")
    if not table.num_rows:
        raise InvalidInput("log-metrics: the table has no rows")
    name = f"{now().strftime('%Y%m%dT%H%M%S.%fZ')}-{secrets.token_hex(4)}.parquet"
    target = Path(found["path"]) / "metrics" / name
    write_once(target, to_parquet_bytes(table))
    return str(target)

"""Where files live inside a catalog folder (SPEC section 1), in both directions.

``Layout`` and :func:`build_path` make paths from names; :func:`parse_path` reads a catalog-relative
path back into what it names.  The walk (index.scan), git sync and diff, the index's SQL over metric
file names and validate's messages all go through these, so the layout is written down once.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import NamedTuple

from registry_core.format.names import MAX_VERSION, check_name, check_version, is_name

REGISTRY_FILE = "registry.yaml"
CACHE_DIR = ".modelreg"
MODELS_DIR = "models"
MODEL_FILE = "model.yaml"
VERSIONS_DIR = "versions"
MANIFEST = "manifest.yaml"
METRICS_DIR = "metrics"
ARTIFACTS_DIR = "artifacts"
EVENTS_DIR = "events"
EVENT_SUFFIX = ".yaml"

#: a metric table's path, part by part (the index reads model and version back from its file name)
METRIC_PATH = (MODELS_DIR, "{model}", VERSIONS_DIR, "{version}", METRICS_DIR, "{file}")


class CatalogPath(NamedTuple):
    """What a catalog-relative path names.

    ``kind`` is registry, model, event, manifest, metrics, artifact, or version (any other file in a
    version folder).  ``file`` is the event's or metric table's file name, the artifact's path below
    ``artifacts/``, or for ``version`` the path below the version folder; None for the fixed names.
    """

    kind: str
    model: str | None = None
    version: int | None = None
    file: str | None = None


def _is_version(part: str) -> bool:
    """A version folder's name: ASCII digits, no leading zero, at most MAX_VERSION (as index.scan requires)."""
    return part.isascii() and part.isdigit() and not part.startswith("0") and int(part) <= MAX_VERSION


@functools.lru_cache(maxsize=4096)
def _model_ok(name: str) -> bool:
    """``is_name``, remembered: a walk asks about the same few model names for every file."""
    return is_name(name)


_NOT_PARTS = frozenset(("", ".", ".."))


def parse_path(rel: str) -> CatalogPath | None:
    """What ``rel`` (relative to the catalog root, ``/``-separated) names; None if the layout has no place for it.

    Called for every file of a walk (tens of thousands in a first build), so it is kept cheap.
    """
    parts = rel.split("/")
    if not _NOT_PARTS.isdisjoint(parts):
        return None
    if len(parts) == 1:
        return CatalogPath("registry") if rel == REGISTRY_FILE else None
    if parts[0] != MODELS_DIR or len(parts) < 3 or not _model_ok(parts[1]):
        return None
    model, where = parts[1], parts[2]
    if len(parts) == 3:
        return CatalogPath("model", model) if where == MODEL_FILE else None
    if where == EVENTS_DIR:
        ok = len(parts) == 4 and parts[3].endswith(EVENT_SUFFIX)
        return CatalogPath("event", model, None, parts[3]) if ok else None
    if where != VERSIONS_DIR or len(parts) < 5 or not _is_version(parts[3]):
        return None
    version, rest = int(parts[3]), parts[4:]
    if rest == [MANIFEST]:
        return CatalogPath("manifest", model, version)
    if len(rest) == 2 and rest[0] == METRICS_DIR:
        return CatalogPath("metrics", model, version, rest[1])
    if len(rest) > 1 and rest[0] == ARTIFACTS_DIR:
        return CatalogPath("artifact", model, version, "/".join(rest[1:]))
    return CatalogPath("version", model, version, "/".join(rest))


def build_path(kind: str, model: str | None = None, version: int | None = None, file: str | None = None) -> str:
    """The catalog-relative path of a :class:`CatalogPath`; ``parse_path`` reads it back (see its kinds)."""
    if kind == "registry":
        return REGISTRY_FILE
    base = f"{MODELS_DIR}/{check_name(model)}"
    if kind == "model":
        return f"{base}/{MODEL_FILE}"
    if kind == "event":
        return f"{base}/{EVENTS_DIR}/{file}"
    folder = f"{base}/{VERSIONS_DIR}/{check_version(version)}"
    tail = {"manifest": MANIFEST, "metrics": f"{METRICS_DIR}/{file}", "artifact": f"{ARTIFACTS_DIR}/{file}",
            "version": file}.get(kind)
    if tail is None:
        raise ValueError(f"unknown catalog path kind {kind!r}")
    return f"{folder}/{tail}"


def metric_part_sql(column: str, part: str) -> str:
    """SQL for one part (``model``, ``version`` or ``file``) of a metric table's path in ``column``.

    The path may start anywhere (an absolute file name): parts are counted from its end, per METRIC_PATH.
    """
    index = METRIC_PATH.index("{" + part + "}")
    return f"split_part({column}, '/', {index - len(METRIC_PATH)})"


def metric_source_sql(column: str) -> str:
    """SQL for a metric table's catalog-relative path, rebuilt from its (absolute) file name in ``column``."""
    parts = [metric_part_sql(column, p[1:-1]) if p.startswith("{") else f"'{p}'" for p in METRIC_PATH]
    return f"concat_ws('/', {', '.join(parts)})"


class Layout:
    """Paths of one catalog. Every path built from a name goes through the name checks."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @property
    def registry(self) -> Path:
        return self.root / REGISTRY_FILE

    @property
    def cache(self) -> Path:
        return self.root / CACHE_DIR

    @property
    def models(self) -> Path:
        return self.root / MODELS_DIR

    def model(self, model: str) -> Path:
        return self.models / check_name(model)

    def model_file(self, model: str) -> Path:
        return self.model(model) / MODEL_FILE

    def versions(self, model: str) -> Path:
        return self.model(model) / VERSIONS_DIR

    def version(self, model: str, version: int) -> Path:
        return self.versions(model) / str(check_version(version))

    def manifest(self, model: str, version: int) -> Path:
        return self.version(model, version) / MANIFEST

    def metrics(self, model: str, version: int) -> Path:
        return self.version(model, version) / METRICS_DIR

    def artifacts(self, model: str, version: int) -> Path:
        return self.version(model, version) / ARTIFACTS_DIR

    def events(self, model: str) -> Path:
        return self.model(model) / EVENTS_DIR

    def relative(self, path: Path) -> str:
        return Path(path).relative_to(self.root).as_posix()

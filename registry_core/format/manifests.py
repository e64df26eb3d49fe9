"""manifest.yaml and model.yaml: checking their shape (SPEC 1.3 and 1.4).

``check_manifest`` returns the problems of a parsed manifest instead of
raising, so the index can skip one broken version and keep the rest, and
``validate`` can list every problem at once.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Any

from registry_core.errors import InvalidInput
from registry_core.format.layout import MODEL_FILE
from registry_core.format.names import parse_ref
from registry_core.format.settings import parse_policies
from registry_core.format.yamlio import parse_time

MANIFEST_KEYS = {
    "model", "version", "created_at", "created_by", "description", "framework", "task",
    "params", "artifacts", "lineage", "environment", "tags",
}
MODEL_KEYS = {"name", "description", "owner", "task", "tags", "policies"}
MAPPING_KEYS = ("params", "tags", "environment")
STRING_KEYS = ("created_by", "description", "framework", "task")
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}\Z")


def safe_relative(path: object) -> str | None:
    """Return the normalized relative path, or None if it is absolute or climbs out with ``..``."""
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        return None
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return pure.as_posix()


def _check_artifacts(value: Any, errors: list[str], warnings: list[str]) -> None:
    """A malformed checksum is only a warning: the version still exists (SPEC 1.4's own example abbreviates
    its checksums), and ``verify`` and the ``artifacts_verified`` gate fail for that file."""
    if not isinstance(value, list):
        errors.append("'artifacts' must be a list")
        return
    for i, item in enumerate(value):
        if not isinstance(item, dict) or not ("path" in item or "uri" in item):
            errors.append(f"artifacts[{i}] must be a mapping with a 'path', a 'uri' or both")
            continue
        if "uri" in item and (not isinstance(item["uri"], str) or not item["uri"]):
            errors.append(f"artifacts[{i}].uri must be a non-empty string")
        if "path" in item and safe_relative(item["path"]) is None:
            errors.append(f"artifacts[{i}].path {item['path']!r} must be relative and stay inside the version folder")
        if "sha256" in item and not (isinstance(item["sha256"], str) and SHA256_RE.match(item["sha256"])):
            warnings.append(f"artifacts[{i}].sha256 {item['sha256']!r} is not 64 hex digits, so this artifact "
                            "can never verify")
        if "size" in item and (isinstance(item["size"], bool) or not isinstance(item["size"], int) or item["size"] < 0):
            errors.append(f"artifacts[{i}].size must be a non-negative integer")


def _check_lineage(value: Any, errors: list[str]) -> None:
    if not isinstance(value, dict):
        errors.append("'lineage' must be a mapping")
        return
    datasets = value.get("datasets", [])
    if not isinstance(datasets, list):
        errors.append("lineage.datasets must be a list")
    else:
        for i, item in enumerate(datasets):
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                errors.append(f"lineage.datasets[{i}] must be a mapping with a string 'name'")
                continue
            for key in ("role", "sha256", "uri"):
                if item.get(key) is not None and not isinstance(item[key], str):
                    errors.append(f"lineage.datasets[{i}].{key} must be a string, got {item[key]!r}")
    parents = value.get("parents", [])
    if not isinstance(parents, list):
        errors.append("lineage.parents must be a list of references")
    else:
        for i, item in enumerate(parents):
            try:
                parse_ref(item)
            except InvalidInput as exc:
                errors.append(f"lineage.parents[{i}]: {exc}")
    for key in ("run", "code"):
        if key in value and not isinstance(value[key], dict):
            errors.append(f"lineage.{key} must be a mapping")


def check_manifest(raw: Any, model: str, version: int) -> tuple[list[str], list[str]]:
    """Return ``(errors, warnings)`` for a manifest found at ``models/<model>/versions/<version>/``."""
    if not isinstance(raw, dict):
        return [f"expected a mapping, got {type(raw).__name__}"], []
    errors: list[str] = []
    warnings: list[str] = []
    for key in ("model", "version", "created_at"):
        if key not in raw:
            errors.append(f"missing required key {key!r}")
    if "model" in raw and raw["model"] != model:
        errors.append(f"model {raw['model']!r} does not match its folder {model!r}")
    if "version" in raw and (isinstance(raw["version"], bool) or raw["version"] != version):
        errors.append(f"version {raw['version']!r} does not match its folder {version}")
    if "created_at" in raw:
        try:
            parse_time(raw["created_at"], "created_at")
        except InvalidInput as exc:
            errors.append(str(exc))
    for key in STRING_KEYS:
        if raw.get(key) is not None and not isinstance(raw[key], str):
            errors.append(f"{key!r} must be a string, got {raw[key]!r}")
    for key in MAPPING_KEYS:
        if raw.get(key) is not None and not isinstance(raw[key], dict):
            errors.append(f"{key!r} must be a mapping, got {type(raw[key]).__name__}")
    if raw.get("artifacts") is not None:
        _check_artifacts(raw["artifacts"], errors, warnings)
    if raw.get("lineage") is not None:
        _check_lineage(raw["lineage"], errors)
    warnings += [f"unknown key {key!r} (kept)" for key in raw if key not in MANIFEST_KEYS]
    return errors, warnings


def check_model_file(raw: Any, model: str) -> tuple[list[str], list[str]]:
    """Return ``(errors, warnings)`` for ``models/<model>/model.yaml``."""
    if raw is None:
        return [], []
    if not isinstance(raw, dict):
        return [f"expected a mapping, got {type(raw).__name__}"], []
    errors = []
    if "name" in raw and raw["name"] != model:
        errors.append(f"name {raw['name']!r} does not match its folder {model!r}")
    for key in ("description", "owner", "task"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            errors.append(f"{key!r} must be a string")
    if raw.get("tags") is not None and not isinstance(raw["tags"], dict):
        errors.append("'tags' must be a mapping")
    if raw.get("policies") is not None:
        try:
            parse_policies(raw["policies"], MODEL_FILE)
        except InvalidInput as exc:
            errors.append(str(exc).removeprefix(f"{MODEL_FILE}: "))
    warnings = [f"unknown key {key!r} (kept)" for key in raw if key not in MODEL_KEYS]
    return errors, warnings

"""Turning command-line text into values: ``KEY=VALUE`` pairs, their scalars, and mapping files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from registry_core.errors import InvalidInput


def kv(items: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInput(f"{what} {item!r}: expected KEY=VALUE")
        out[key] = scalar(value)
    return out


def scalar(text: str) -> Any:
    """``--param`` values: ints, floats, true/false, null, else the string itself."""
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none"):
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


def load_mapping_file(path: str, what: str) -> Any:
    from registry_core.format.yamlio import load_file

    file = Path(path)
    if file.suffix.lower() == ".json":
        try:
            return json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInput(f"{what} {path}: {exc}") from None
    return load_file(file)

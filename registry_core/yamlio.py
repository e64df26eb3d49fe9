"""Safe, bounded YAML reading and fast writing.

Only the safe loaders are used (the C one when PyYAML has libyaml, which is
about 7x faster on a large catalog).  Files are size-capped before parsing and
the parsed tree is node-capped afterwards, so neither a huge file nor an
alias bomb ("billion laughs") can exhaust memory or time later on.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import yaml

from .errors import InvalidInput

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 200
# Nesting needs an opening bracket, "- " or "? " per level, except block mappings, which need a line
# of deeper indentation per level (at most ~1,400 levels in MAX_BYTES).  libyaml's composer recurses
# in C and crashes the process past ~20,000 levels, so text with this many openers is walked first.
_OPENERS_BEFORE_WALK = 2_000


def _key(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(key) if key is None or isinstance(key, bool) else str(key)


def _count_nodes(tree: Any, path: Path) -> None:
    """Cap the expanded size, and make every mapping key a string (as the JSON of the index has them):
    keys of mixed types (``{1: a, b: c}``) would otherwise break every sorted JSON dump downstream."""
    seen = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise InvalidInput(f"{path}: YAML expands to more than {MAX_NODES} nodes (alias bomb?)")
        if isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                items = list(node.items())
                node.clear()
                node.update((_key(k), v) for k, v in items)
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def _check_depth(text: str, path: Path) -> None:
    """Refuse deep nesting before the (recursive) composer sees it; parse events come from a flat loop."""
    if sum(text.count(c) for c in "[{-?") < _OPENERS_BEFORE_WALK:
        return
    depth = 0
    for event in yaml.parse(text, Loader=Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise InvalidInput(f"{path}: YAML nested more than {MAX_DEPTH} levels deep")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def loads(data: bytes, path: Path) -> Any:
    """Parse YAML bytes read from ``path``; every failure is an InvalidInput naming the file."""
    if len(data) > MAX_BYTES:
        raise InvalidInput(f"{path}: file is {len(data)} bytes, larger than the {MAX_BYTES}-byte limit")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from None
    try:
        _check_depth(text, path)
        tree = yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{path}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise InvalidInput(f"{path}: YAML nested too deeply") from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2026-13-45
        raise InvalidInput(f"{path}: invalid YAML value: {exc}") from None
    _count_nodes(tree, path)
    return tree


def load_file(path: Path) -> Any:
    """Read and parse one YAML file, refusing files above the size cap without reading them."""
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise InvalidInput(f"{path}: file is {size} bytes, larger than the {MAX_BYTES}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    return loads(data, path)



def _plain(value: Any) -> Any:
    """Turn values into what the safe dumper writes (datetimes as UTC ISO strings)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return iso(value)
    return value


def dumps(tree: dict) -> bytes:
    """Serialize a mapping to YAML bytes, keys in insertion order."""
    return yaml.dump(_plain(tree), Dumper=Dumper, sort_keys=False, allow_unicode=True).encode("utf-8")


def iso(moment: dt.datetime) -> str:
    """UTC ISO 8601 with a Z, second precision unless there are microseconds."""
    moment = moment.astimezone(dt.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def parse_time(value: Any, what: str) -> dt.datetime:
    """Accept a datetime (YAML timestamps) or an ISO string; return an aware UTC datetime."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, dt.date):
        moment = dt.datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        try:
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            raise InvalidInput(f"{what}: not an ISO 8601 time: {value!r}") from None
    else:
        raise InvalidInput(f"{what}: expected a time, got {type(value).__name__} {value!r}")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)

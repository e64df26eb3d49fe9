"""Safe, bounded YAML reading and fast writing.

Only the safe loaders are used (the C one when PyYAML has libyaml, which is
about 7x faster on a large catalog).  Files are size-capped before parsing,
nesting is checked on the parser's events before anything is composed, and the
parsed tree is capped afterwards in nodes *and* in characters of scalars as
aliases expand them, so neither a huge file nor an alias bomb ("billion
laughs", or one 600 KB string repeated 90,000 times) can exhaust memory or
time later on.  Every limit is ours and checked first, in our words: a
library's own limits (libyaml >= 0.2.6 has a nesting limit) never decide the
message.

Reading a large catalog's ~15,000 small files is dominated by PyYAML's Python
side (tag resolution and the generic constructor), so ``loads`` first tries a
lean builder over libyaml's node tree (`_fast_load`) that makes exactly what
``CSafeLoader`` plus the key normalization of ``_count_nodes`` would make, and
counts nodes on the way.  It handles plain documents only (core scalar tags,
maps, sequences, aliases); anything else (merge keys, other tags, any error,
cycles, deep nesting) is left to the stock loader, so values and errors stay
exactly PyYAML's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from stat import S_ISREG
from typing import Any

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, ScalarNode
from yaml.resolver import Resolver

from registry_core.errors import InvalidInput
from registry_core.format import fastpaths

try:
    from yaml.cyaml import CParser as _CParser
except ImportError:  # PyYAML without libyaml: only the stock (pure Python) safe loader
    _CParser = None

Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

MAX_BYTES = 1_000_000
MAX_NODES = 100_000
MAX_DEPTH = 200
#: characters of scalars (keys and values) once aliases are expanded: without aliases a document
#: cannot hold more than its own size, so this is the file-size cap applied to what the file expands to
MAX_CHARS = MAX_BYTES
# Nesting needs an opening bracket, "- " or "? " per level, except block mappings, which need a line
# of deeper indentation per level: a document is at most (these openers + its deepest indentation + 1)
# levels deep.  Text that could be deeper than MAX_DEPTH is walked first (libyaml's composer recurses
# in C and crashes the process past ~20,000 levels; libyaml >= 0.2.6 stops at 1,000 with its own words).
_OPENERS = ("[", "{", "- ", "-\n", "-\t", "-\r", "? ", "?\n", "?\t", "?\r")


def _key(key: Any) -> str:
    return key if isinstance(key, str) else json.dumps(key) if key is None or isinstance(key, bool) else str(key)


def _too_many(path: Path) -> InvalidInput:
    return InvalidInput(f"{path}: YAML expands to more than {MAX_NODES} nodes (alias bomb?)")


def _too_long(path: Path) -> InvalidInput:
    return InvalidInput(f"{path}: YAML expands to more than {MAX_CHARS} characters of text (alias bomb?)")


def _too_deep(path: Path) -> InvalidInput:
    return InvalidInput(f"{path}: YAML nested more than {MAX_DEPTH} levels deep")


class _Parser(_CParser or object):
    """libyaml's parser and composer, with tag resolution left to `_scalar`.

    The composer calls ``resolve`` for every untagged (or ``!``-tagged) node, and the path-resolver
    hooks around every node: Python calls that cost as much as the C parsing.  Here they are C
    builtins: an untagged node's tag becomes ``slice(kind, value, implicit)`` (the arguments that
    ``Resolver.resolve`` would get), and the hooks do nothing (safe loading has no path resolvers).
    """

    resolve = slice
    descend_resolver = slice
    ascend_resolver = tuple


class _Unsupported(Exception):
    """Raised inside `_fast_load` for what only the stock constructor handles."""


_SAFE = SafeConstructor()
_RESOLVER = Resolver()
_STR, _SEQ, _MAP, _TIMESTAMP = (f"tag:yaml.org,2002:{t}" for t in ("str", "seq", "map", "timestamp"))
#: the scalar tags built here, by SafeConstructor's own functions (merge ``<<`` and value ``=`` are not)
_SCALARS = {tag: SafeConstructor.yaml_constructors[tag] for tag in (
    _STR, _TIMESTAMP, *(f"tag:yaml.org,2002:{t}" for t in ("null", "bool", "int", "float", "binary")))}
#: nesting deeper than this is left to the stock constructor (this builder recurses)
_FAST_DEPTH = 100
#: plain scalars repeat a lot (keys, enums, small numbers): their immutable values, by text
_plain_values: dict[str, Any] = {}
_PLAIN_CACHED = 20_000
_MISS = object()
_BUSY = object()  # in the memo: a node being built (met again: a cycle)


def _stock_tables() -> bool:
    """Whether the safe loader still resolves and constructs as PyYAML ships it (this builder's premise)."""
    return (Loader.yaml_implicit_resolvers is Resolver.yaml_implicit_resolvers and not Loader.yaml_path_resolvers
            and Loader.yaml_constructors is SafeConstructor.yaml_constructors)


def _scalar(node: ScalarNode) -> Any:
    """The value SafeConstructor makes of a scalar node (tag resolved as ``Resolver.resolve`` does)."""
    tag = node.tag
    if tag.__class__ is slice:
        value = node.value
        if not tag.step[0]:  # not plain: a string
            return value
        got = _plain_values.get(value, _MISS)
        if got is not _MISS:
            return got
        tag = _RESOLVER.resolve(ScalarNode, value, tag.step)
        construct = _SCALARS.get(tag)
        if construct is None:
            raise _Unsupported(tag)
        got = construct(_SAFE, node)
        if tag != _TIMESTAMP and len(value) <= 64:  # datetimes are made anew, as by the stock loader
            if len(_plain_values) >= _PLAIN_CACHED:
                _plain_values.clear()
            _plain_values[value] = got
        return got
    construct = _SCALARS.get(tag)
    if construct is None:
        raise _Unsupported(tag)
    return construct(_SAFE, node)


def _build(node: Any, depth: int, memo: dict | None) -> tuple[Any, int]:
    """(value, node count of its expansion) for ``node``; ``memo`` (by node id) when aliases may occur,
    so that an aliased node is one shared object as with the stock constructor."""
    if memo is not None:
        done = memo.get(id(node))
        if done is not None:
            if done is _BUSY:  # a recursive structure
                raise _Unsupported("cycle")
            return done
        memo[id(node)] = _BUSY
    if node.__class__ is ScalarNode:
        done = _scalar(node), 1
    elif depth >= _FAST_DEPTH:
        raise _Unsupported("depth")
    elif node.__class__ is MappingNode:
        done = _mapping(node, depth + 1, memo)
    else:
        done = _sequence(node, depth + 1, memo)
    if memo is not None:
        memo[id(node)] = done
    return done


def _mapping(node: MappingNode, depth: int, memo: dict | None) -> tuple[dict, int]:
    tag = node.tag
    if tag.__class__ is not slice and tag != _MAP:
        raise _Unsupported(tag)
    data: dict = {}
    sizes: dict = {}  # same keys as data: the node count of each (last) value
    all_str = True
    for key_node, value_node in node.value:
        if key_node.__class__ is not ScalarNode:  # unhashable, or an error: stock
            raise _Unsupported("key")
        key = _scalar(key_node) if memo is None else _build(key_node, depth, memo)[0]
        if memo is None and value_node.__class__ is ScalarNode:
            data[key] = _scalar(value_node)
            sizes[key] = 1
        else:
            data[key], sizes[key] = _build(value_node, depth, memo)
        if key.__class__ is not str:
            all_str = False
    if not all_str:  # as _count_nodes does it (dict keys: mixed types would break sorted JSON dumps)
        items = list(data.items())
        data.clear()
        data.update((_key(k), v) for k, v in items)
        sizes = {_key(k): n for k, n in sizes.items()}
    return data, 1 + len(sizes) + sum(sizes.values())


def _sequence(node: Any, depth: int, memo: dict | None) -> tuple[list, int]:
    tag = node.tag
    if tag.__class__ is not slice and tag != _SEQ:
        raise _Unsupported(tag)
    items = []
    total = 1
    for item in node.value:
        if memo is None and item.__class__ is ScalarNode:
            items.append(_scalar(item))
            total += 1
        else:
            value, count = _build(item, depth, memo)
            items.append(value)
            total += count
    return items, total


def _expanded_chars(root: Any) -> int:
    """Characters of the scalars of a (cycle-free) node graph as aliases expand it: each node's total
    is computed once (by id), so a 600 KB string aliased 90,000 times costs 90,000 additions."""
    totals: dict[int, int] = {}
    stack = [(root, False)]
    while stack:
        node, ready = stack.pop()
        key = id(node)
        if key in totals:
            continue
        if node.__class__ is ScalarNode:
            totals[key] = len(node.value)
            continue
        children = [part for pair in node.value for part in pair] if node.__class__ is MappingNode else node.value
        if ready:
            totals[key] = sum(totals[id(child)] for child in children)
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children)
    return totals[id(root)]


def _fast_load(text: str, path: Path) -> tuple[Any, int] | None:
    """(tree, node count) as the stock loader and `_count_nodes` would make them, or None to use those.

    With aliases, the characters they expand to are counted on the node graph first (cheap) and
    refused over MAX_CHARS; without, a document cannot expand beyond its own size."""
    if _CParser is None or not _stock_tables():
        return None
    try:
        node = _Parser(text).get_single_node()
        if node is None:
            return None, 1
        if "&" not in text:
            return _build(node, 0, None)
        built = _build(node, 0, {})
        chars = _expanded_chars(node) if built[1] <= MAX_NODES else 0  # (else: over the node cap)
    except Exception:  # errors too: the stock loader reports them as it always has
        return None
    if chars > MAX_CHARS:
        raise _too_long(path)
    return built


def _count_nodes(tree: Any, path: Path) -> None:
    """Cap the expanded size (nodes, then characters of scalars), and make every mapping key a string
    (as the JSON of the index has them): keys of mixed types (``{1: a, b: c}``) would otherwise break
    every sorted JSON dump downstream."""
    seen = chars = 0
    stack = [tree]
    while stack:
        node = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise _too_many(path)
        if isinstance(node, str | bytes):
            chars += len(node)
        elif isinstance(node, dict):
            if not all(isinstance(k, str) for k in node):
                items = list(node.items())
                node.clear()
                node.update((_key(k), v) for k, v in items)
            stack.extend(node.keys())
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    if chars > MAX_CHARS:  # (after the node cap, which is then the error, as with the builder's counts)
        raise _too_long(path)


def _could_nest_too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """False when the text cannot be more than ``limit`` levels deep (openers + deepest indentation + 1)."""
    room = limit - sum(text.count(opener) for opener in _OPENERS)
    return room <= 0 or text.startswith(" " * room) or "\n" + " " * room in text


def _check_depth(text: str, path: Path) -> None:
    """Refuse deep nesting before the (recursive) composer sees it, in our words.

    The parse events come from a flat loop, nothing is composed.  libyaml scans up to ~1,000
    characters ahead of the events it gives and has a nesting limit of its own since 0.2.6 (1,000
    levels): when it stops with an error, the text between the last event it gave and that error
    decides whether the nesting there could go past ours; if so, the message is ours."""
    if not _could_nest_too_deep(text):
        return
    depth, last = 0, 0
    try:
        for event in yaml.parse(text, Loader=Loader):
            last = event.end_mark.index
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    raise _too_deep(path)
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        window = text[last: len(text) if mark is None else mark.index + 1]
        if _could_nest_too_deep(window, MAX_DEPTH - depth):
            raise _too_deep(path) from None
        raise


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
        fast = _fast_load(text, path) if fastpaths.enabled() else None  # MODELREG_PLAIN=1: the stock loader only
        tree = fast[0] if fast else yaml.load(text, Loader=Loader)  # noqa: S506 - Loader is a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InvalidInput(f"{path}: invalid YAML{where}: {problem}") from None
    except RecursionError:
        raise _too_deep(path) from None
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. a timestamp like 2026-13-45
        raise InvalidInput(f"{path}: invalid YAML value: {exc}") from None
    if fast is None:
        _count_nodes(tree, path)
    elif fast[1] > MAX_NODES:
        raise _too_many(path)
    return tree


def read_regular(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, else InvalidInput naming it.

    Opened without blocking and checked on the open descriptor: a FIFO (or a device, a socket, a
    folder) is refused before anything is read; reading a FIFO would wait forever for a writer."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        stat = os.fstat(fd)
        if not S_ISREG(stat.st_mode):
            raise InvalidInput(f"{path}: not a regular file (a FIFO, device, socket or folder); refused")
        if stat.st_size > limit:
            raise InvalidInput(f"{path}: file is {stat.st_size} bytes, larger than the {limit}-byte limit")
        try:
            return handle.read(limit + 1)
        except OSError as exc:
            raise InvalidInput(f"{path}: cannot read ({exc.strerror})") from None


def load_file(path: Path) -> Any:
    """Read and parse one YAML file, refusing non-regular files and files above the size cap unread."""
    return loads(read_regular(path), path)


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

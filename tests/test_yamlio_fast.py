"""yamlio's fast builder against the stock safe loader: the same values, node counts and errors.

The reference for values is what ``loads`` did before the builder existed: ``yaml.load`` with
``CSafeLoader``, then ``_count_nodes`` (node cap, keys made strings).  Errors are compared with
``loads`` forced onto that stock path (so the messages are the ones users always got).
"""

from __future__ import annotations

import json
import string
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yaml.constructor import SafeConstructor
from yaml.resolver import Resolver

from registry_core.errors import InvalidInput
from registry_core.format import yamlio

PATH = Path("x.yaml")


def canon(value: Any, seen: dict[int, int] | None = None) -> Any:
    """A type-exact, order-exact picture of a loaded value; a container met again is a back-reference."""
    seen = {} if seen is None else seen
    if isinstance(value, dict | list):
        if id(value) in seen:
            return ("same as", seen[id(value)])
        seen[id(value)] = len(seen)
        if isinstance(value, dict):
            return ("dict", [(canon(k, seen), canon(v, seen)) for k, v in value.items()])
        return ("list", [canon(v, seen) for v in value])
    return (type(value).__name__, repr(value))


def expanded(tree: Any, cap: int) -> int:
    """Nodes of the tree with aliases expanded, counted as ``_count_nodes`` counts them (up to cap + 1)."""
    count, stack = 0, [tree]
    while stack and count <= cap:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


def reference(text: str) -> Any:
    tree = yaml.load(text, Loader=yaml.CSafeLoader)
    yamlio._count_nodes(tree, PATH)
    return tree


def outcome(load: Any, data: bytes) -> tuple:
    try:
        return ("value", canon(load(data, PATH)))
    except Exception as exc:  # not only InvalidInput: PyYAML lets a KeyError out for ``!!bool maybe``
        return ("error", type(exc).__name__, str(exc))


def stock_loads(data: bytes, path: Path) -> Any:
    with mock.patch.object(yamlio, "_fast_load", return_value=None):
        return yamlio.loads(data, path)


def check(text: str) -> bool:
    """Assert that the new loads behaves as the stock path; return whether the fast builder did the work."""
    data = text.encode()
    got = outcome(yamlio.loads, data)
    assert got == outcome(stock_loads, data), text
    if got[0] == "value":
        assert got[1] == canon(reference(text)), text
    fast = yamlio._fast_load(text, PATH)
    if fast is not None:
        if fast[1] <= yamlio.MAX_NODES:
            assert got == ("value", canon(fast[0])), text
            assert fast[1] == expanded(fast[0], yamlio.MAX_NODES), text
        else:
            assert got[0] == "error" and "nodes (alias bomb?)" in got[2], text
    return fast is not None


IMPLICIT = [
    "0", "12", "-12", "+12", "0x1F", "-0x1f", "0o17", "017", "0b101", "-0b1", "1_000", "1__0", "1:30",
    "-1:30:15", "09", "0_", "1.5", "-0.0", "0.", ".5", "1_0.5_0", "1e3", "1.0e+3", "6.8523015e+5",
    "685.230_15e+03", "190:20:30.15", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "yes", "Yes", "NO", "on",
    "Off", "y", "n", "true", "False", "TRUE", "~", "null", "Null", "NULL", "", "2002-12-14",
    "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z",
    "2001-12-14 21:59:43.1234567", "2001-12-14 21:59:43", "2026-13-45", "2026-02-30", "2001-1-1",
    "abc", "a b", "é", "12abc", "0x", "1.2.3", "-", "--", "x=1",
]
TAGGED = [
    "!!str 12", "!!str", "!!int '12'", "!!int abc", "!!int 0x1f", "!!float 1", "!!float '.nan'", "!!bool yes",
    "!!bool maybe", "!!null x", "!!timestamp 2001-01-01", "!!timestamp nope", "!!binary aGVsbG8=",
    "!!binary ???", "!!set {a, b}", "!!omap [a: 1, b: 2]", "!!pairs [a: 1, a: 2]", "!!seq [1]", "!!map {a: 1}",
    "!!str [1]", "!!map [1]", "!!seq {a: 1}", "!!int [1]", "!!python/object/apply:os.system ['true']",
    "!!python/name:os.system", "!!python/tuple [1]", "!foo bar", "! 12", "! [1]", "! {a: 1}",
    "!<tag:yaml.org,2002:int> 3", "!<tag:yaml.org,2002:merge> x", "!!value x", "=", "<<",
]
DOCUMENTS = [
    # merge keys and the value key
    "base: &b {x: 1, y: 2}\nder:\n  <<: *b\n  y: 3\n", "a: &a {x: 1}\nb: &b {y: 2}\nc: {<<: [*a, *b], z: 3}\n",
    "a: {<<: 1}\n", "a: {'<<': 1}\n", "{=: 1}\n", "a: {<<: {x: 1}, x: 2}\n",
    # anchors and aliases
    "a: &x {k: [1, 2]}\nb: *x\nc: *x\n", "a: &s hello\nb: *s\n", "a: &k key\n*k : v\n", "- &l [1, 2]\n- *l\n",
    "&a [*a]\n", "&a {x: *a}\n", "a: *nope\n", "a: &d 1\nb: &d 2\n", "a: &n .nan\nb: *n\n", "&t 2001-01-01\n",
    "a: &m {x: 1}\n? *m\n: v\n", "a: 'x & y'\n",
    # duplicate and non-string keys
    "a: 1\na: 2\n", "{a: [1, 2], a: 3}\n", "{a: 1, a: [1, {b: 2}]}\n", "1: a\n'1': b\n", "{1: a, 1.0: b, true: c}\n",
    "{null: a, ~: b}\n", "{2001-01-01: x, 2001-01-01 10:00:00: y}\n", "{.nan: 1, .nan: 2}\n", "{.nan: [1, 2], x: 1}\n",
    "{yes: 1, true: 2, 'true': 3}\n", "{!!binary aGVsbG8=: 1}\n", "{0x10: a, 16: b}\n", "{1: {2: {3: x}}}\n",
    "[{? [1]: x}]\n", "? {a: 1}\n: b\n", "? [a]\n: b\n", "{[1, 2]: x}\n", "{1: [big, list], '1': small}\n",
    "{'1': small, 1: [big, list]}\n",
    # empty documents, multiple documents, top-level scalars
    "", "   \n", "# only a comment\n", "---\n", "--- ~\n...\n", "---\n...\n", "a: 1\n---\nb: 2\n", "--- 1\n--- 2\n",
    "12", "'12'", "hello", "|\n  block\n  text\n", ">\n  folded\n  text\n", '"\\u00e9\\x41\\t"', "\ufeffa: 1\n",
    "%YAML 1.1\n---\na: 1\n", "%TAG !e! tag:yaml.org,2002:\n---\n!e!int 3\n", "%YAML 2.0\n--- x\n",
    # invalid YAML
    "a: [1, 2", "a: b: c", "\t- x", "key: 'unterminated", "- a\nb: c", "{a: 1}}", "a:\n- b\n c", "[", "*",
    "&a", "!<> x", "a: \"\\q\"", "\x00", "a: \x07",
    # nesting around the builder's recursion limit (deeper goes to the stock loader, which handles it)
    "[" * 99 + "]" * 99, "[" * 101 + "]" * 101, "{a: " * 150 + "x" + "}" * 150,
    "".join(f"{'  ' * i}k{i}:\n" for i in range(120)) + "  " * 120 + "leaf\n",
]


@pytest.mark.parametrize("text", [f"{s}\n" for s in IMPLICIT] + [f"k: {s}\n" for s in IMPLICIT]
                         + [f"{s}: v\n" for s in IMPLICIT] + [f"[{s}, {s}]\n" for s in IMPLICIT])
def test_implicit_scalars_in_every_position(text):
    check(text)


@pytest.mark.parametrize("text", TAGGED + [f"k: {s}\n" for s in TAGGED] + [f"- {s}\n- x\n" for s in TAGGED])
def test_explicit_tags(text):
    check(text)


@pytest.mark.parametrize("text", DOCUMENTS)
def test_tricky_documents(text):
    check(text)


def test_the_builder_does_the_plain_work_and_leaves_the_rest():
    """Not a vacuous comparison: ordinary documents (aliases included) never reach the stock loader."""
    plain = ["a: 1\nb: [x, 2.5, yes, ~, 2001-01-01, '3']\nc: {d: 0x10}\n", "a: &x {k: [1, 2]}\nb: *x\n",
             "{1: a, 1.0: b, true: c}\n", "a: 1\na: 2\n", "", "k: !!str 12\n", "k: !!binary aGVsbG8=\n"]
    assert all(yamlio._fast_load(t, PATH) is not None for t in plain)
    left = ["a: {<<: {x: 1}}\n", "{=: 1}\n", "s: !!set {a}\n", "&a [*a]\n", "a: [1\n", "a: 1\n---\nb\n",
            "[" * 101 + "]" * 101, "a: 2026-13-45\n", "k: !!bool maybe\n"]
    assert all(yamlio._fast_load(t, PATH) is None for t in left)
    shared = yamlio.loads(b"a: &x {k: [1, 2]}\nb: *x\n", PATH)
    assert shared["a"] is shared["b"]
    # plain scalars are cached, but dates are made anew as by the stock loader (which has one NaN object)
    for twice in ("[.nan, .NaN]", "[2001-01-01, 2001-01-01]", "[2001-01-01 10:00:00Z, 2001-01-01 10:00:00Z]"):
        first, second = yamlio.loads(twice.encode(), PATH)
        stock_first, stock_second = reference(twice)
        assert (first is second) == (stock_first is stock_second)


@mock.patch.object(yamlio, "MAX_NODES", 1000)  # the real cap works the same, only slower to reach
def test_node_cap_counts_like_the_stock_walk():
    at_cap = "[" + "0," * 999 + "]"  # the list and its items: exactly MAX_NODES
    assert check(at_cap) and len(yamlio.loads(at_cap.encode(), PATH)) == 999
    over = "[" + "0," * 1000 + "]"
    assert check(over)
    with pytest.raises(InvalidInput, match="more than 1000 nodes"):
        yamlio.loads(over.encode(), PATH)
    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefgh", "bcdefghi"))
    assert check(laughs)
    with pytest.raises(InvalidInput, match="alias bomb"):
        yamlio.loads(laughs.encode(), PATH)
    # duplicate keys: only the value that stays is counted, as by the walk over the built dict
    dup = "{a: [" + "0," * 997 + "], a: 1}"
    assert check(dup) and yamlio.loads(dup.encode(), PATH) == {"a": 1}
    # keys that become equal as strings: the value that stays after the merge is counted
    merged = "{1: [" + "0," * 996 + "], '1': x}"
    assert check(merged) and yamlio.loads(merged.encode(), PATH) == {"1": "x"}
    assert check("{'1': x, 1: [" + "0," * 996 + "]}")


def test_the_loader_tables_are_pyyamls_own():
    """The builder's premise: CSafeLoader resolves and constructs with PyYAML's stock tables."""
    assert yamlio._stock_tables()
    assert yamlio.Loader.yaml_implicit_resolvers is Resolver.yaml_implicit_resolvers
    assert yamlio.Loader.yaml_constructors is SafeConstructor.yaml_constructors


# -- generated documents ---------------------------------------------------------------------------
_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=6)
_SCALARS = st.one_of(
    st.sampled_from(IMPLICIT + TAGGED + ["*a0", "*a1", "- x", "a: b", "#", "{", "'", "&a0 v", "<<", "="]),
    _TEXT.map(lambda s: json.dumps(s, ensure_ascii=False)),
    _TEXT.map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.text(string.ascii_letters + string.digits + "._-:+ ", min_size=1, max_size=8),
)
_KEYS = st.one_of(_SCALARS, st.sampled_from(["<<", "=", "[1]", "{a: 1}", "1", "1.0", "true", "~", ".nan"]))


def _trees(scalars: st.SearchStrategy, keys: st.SearchStrategy, aliases: bool) -> st.SearchStrategy:
    """Nodes (kind, anchored, payload, flow style): scalars, sequences, mappings, and aliases (to the
    n-th anchor written before them, modulo their count; maybe an enclosing one: a cycle)."""
    anchored = st.booleans() if aliases else st.just(False)
    leaf = st.tuples(st.just("scalar"), anchored, scalars, st.just(True))
    if aliases:
        leaf = st.one_of(leaf, st.tuples(st.just("alias"), st.just(False), st.integers(0, 9), st.just(True)))
    return st.recursive(leaf, lambda inner: st.one_of(
        st.tuples(st.just("seq"), anchored, st.lists(inner, max_size=4), st.booleans()),
        st.tuples(st.just("map"), anchored, st.lists(st.tuples(keys, inner), max_size=4), st.booleans()),
    ), max_leaves=12)


class _Writer:
    """YAML text for a generated node, in flow style or (where the node says so) block style."""

    def __init__(self) -> None:
        self.anchors = 0

    def anchor(self, node: tuple) -> str:
        if not node[1]:
            return ""
        self.anchors += 1
        return f"&a{self.anchors} "

    def flow(self, node: tuple) -> str:
        if node[0] == "alias":
            return f"*a{node[2] % self.anchors + 1}" if self.anchors else "~"
        anchor = self.anchor(node)
        if node[0] == "scalar":
            return anchor + node[2]
        if node[0] == "seq":
            return anchor + "[" + ", ".join(self.flow(item) for item in node[2]) + "]"
        return anchor + "{" + ", ".join(f"{key}: {self.flow(value)}" for key, value in node[2]) + "}"

    def block(self, node: tuple, indent: int) -> str:
        """The text after ``key:`` or ``-``: flow collections and scalars inline, block ones on new lines."""
        if node[3] or not node[2]:
            return " " + self.flow(node)
        anchor = self.anchor(node).strip()
        pad = " " * indent
        if node[0] == "seq":
            lines = [f"{pad}-{self.block(item, indent + 2)}" for item in node[2]]
        else:
            lines = [f"{pad}{key}:{self.block(value, indent + 2)}" for key, value in node[2]]
        return (" " + anchor if anchor else "") + "\n" + "\n".join(lines)


def _texts(tree: tuple) -> list[str]:
    return [_Writer().block(tree, 0).lstrip(" \n") + "\n", _Writer().flow(tree)]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees(_SCALARS, _KEYS, aliases=True))
def test_generated_documents_load_as_with_the_stock_loader(tree):
    with mock.patch.object(yamlio, "MAX_NODES", 300):  # cycles reach the cap sooner
        for text in _texts(tree):
            check(text)


_SUPPORTED = st.one_of(
    st.sampled_from([s for s in IMPLICIT if s not in ("", "2026-13-45", "2026-02-30", "-", "--")]
                    + ["!!str 12", "!!int '12'", "!!float 1", "!!binary aGVsbG8=", "! 12", "!!null x"]),
    st.text(string.ascii_letters + "_", min_size=1, max_size=8),
    st.text(string.printable, max_size=8).map(lambda s: json.dumps(s)),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees(_SUPPORTED, _SUPPORTED, aliases=False))
def test_generated_plain_documents_take_the_fast_path(tree):
    for text in _texts(tree):
        assert check(text), text


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_trees(_SUPPORTED, _SUPPORTED, aliases=True))
def test_generated_documents_with_aliases_load_as_with_the_stock_loader(tree):
    with mock.patch.object(yamlio, "MAX_NODES", 300):  # cycles reach the cap sooner
        for text in _texts(tree):
            check(text)


@mock.patch.object(yamlio, "MAX_CHARS", 1000)  # the real cap (1,000,000) works the same
def test_text_cap_counts_aliases_expanded_like_the_stock_walk():
    """Under the node cap, a few references to a long string still expand to too much text."""
    refs = lambda n: "a: &a " + "x" * 100 + "\nb: [" + ", ".join(["*a"] * n) + "]\n"  # noqa: E731
    assert check(refs(8)) and len(yamlio.loads(refs(8).encode(), PATH)["b"]) == 8  # 902 characters
    over = refs(9).encode()  # 1,002 characters, 12 nodes
    assert outcome(yamlio.loads, over) == outcome(stock_loads, over)
    with pytest.raises(InvalidInput, match="more than 1000 characters of text"):
        yamlio.loads(over, PATH)
    merged = ("p: &p {k: " + "y" * 400 + "}\nq: [{<<: *p}, {<<: *p}]\n").encode()  # the stock path's walk
    with pytest.raises(InvalidInput, match="characters of text"):
        yamlio.loads(merged, PATH)


@pytest.mark.parametrize("text", ["[" * 1_500 + "]" * 1_500, "{a: " * 1_500 + "1" + "}" * 1_500,
                                  "".join(" " * i + f"k{i}:\n" for i in range(1_100)), "- " * 1_500 + "x\n"])
def test_deep_nesting_is_refused_in_our_words_whatever_libyamls_own_limit(text):
    """libyaml >= 0.2.6 (PyYAML 6.0.4) stops at 1,000 levels with its own message; ours must come first."""
    with pytest.raises(InvalidInput, match="nested more than 200 levels deep"):
        yamlio.loads(text.encode(), PATH)
    assert yamlio.loads(("[" * 200 + "]" * 200).encode(), PATH) is not None

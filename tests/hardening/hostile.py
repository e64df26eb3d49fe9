"""Generators of hostile files, one class at a time, each in several variants (issue 13).

Each generator returns :class:`Variant` s: how to damage a copy of the corpus base catalog (see
``corpus.build_base``), which path ``validate`` must name, and a pattern of the message.  The classes:
YAML alias bombs that stay under the byte and node caps, deep nesting (whatever PyYAML's own limit),
Parquet footers that lie or are mutated at random (fixed seed), metric tables of too many run-length
encoded rows, metric tables whose few KB of strings expand to gigabytes, names that are not UTF-8,
unicode digits where versions are expected, and catalog files that are FIFOs.
"""

from __future__ import annotations

import functools
import io
import os
import random
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .corpus import EVENTS, MANIFEST, METRICS, VICTIM_V2, add_event, event_id, good_table, parquet_bytes

Build = Callable[[Path, Path], None]


@dataclass(frozen=True)
class Variant:
    """One hostile file: ``path`` is a substring of the problem's path, ``message`` a regular expression.

    ``legal``: paths (relative to the catalog) of files that may turn out legal (a random mutation can
    leave a table readable): for these, no error is fine, but any error must name them."""

    id: str
    build: Build
    path: str
    message: str
    legal: tuple[str, ...] = ()


def _append(rel: str, text: str) -> Build:
    def build(root: Path, outside: Path) -> None:
        with open(root / rel, "a", encoding="utf-8") as handle:
            handle.write(text)
    return build


def _write(rel: str, data: bytes | str | Callable[[], bytes]) -> Build:
    def build(root: Path, outside: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        content = data() if callable(data) else data
        path.write_bytes(content.encode() if isinstance(content, str) else content)
    return build


# -- YAML: aliases that expand far past the caps, nesting past ours ------------------------------------
def _refs(name: str, count: int) -> str:
    return "[" + ", ".join([f"*{name}"] * count) + "]"


def alias_bombs() -> list[Variant]:
    """Files under 1 MB and 100,000 nodes whose aliases expand to gigabytes of text."""
    big, mid = "x" * 600_000, "y" * 100_000
    manifest_head = f"model: victim\nversion: 2\ncreated_at: 2026-10-01T00:00:00Z\ndescription: &a \"{big}\"\n"
    shapes = {
        # the issue's: one 600 KB string, 90,000 references (960 KB, ~54 GB expanded)
        "scalar-90000-refs": (MANIFEST, manifest_head + f"tags: {{t: {_refs('a', 90_000)}}}\n"),
        # two levels: 20 x 20 references to 100 KB
        "nested-lists": (MANIFEST, "model: victim\nversion: 2\ncreated_at: 2026-10-01T00:00:00Z\n"
                                   f"description: &a \"{mid}\"\nparams:\n  b: &b {_refs('a', 20)}\n"
                                   f"  c: {_refs('b', 400)}\n"),
        # many keys, every value the same big string
        "mapping-values": (MANIFEST, manifest_head + "params: {" + ", ".join(f"k{i}: *a" for i in range(5_000))
                           + "}\n"),
        # merge keys take the stock loader's path
        "merge-keys": (MANIFEST, "model: victim\nversion: 2\ncreated_at: 2026-10-01T00:00:00Z\n"
                                 f"params: &p {{blob: \"{mid}\"}}\n"
                                 "tags: [" + ", ".join(["{<<: *p}"] * 2_000) + "]\n"),
        "in-model-yaml": ("models/victim/model.yaml", f"name: victim\ndescription: &a \"{big}\"\n"
                                                      f"tags: {_refs('a', 50_000)}\n"),
        "in-registry-yaml": ("registry.yaml", f"format: 1\nname: &a \"{big}\"\nx: {_refs('a', 50_000)}\n"),
    }
    variants = [Variant(f"alias-{name}", _write(rel, text), rel, r"alias bomb") for name, (rel, text) in
                shapes.items()]
    variants.append(Variant("alias-in-an-event", lambda root, outside: add_event(
        root, f"action: promote\nversion: 1\nstage: staging\nreason: &a \"{big}\"\nx: {_refs('a', 50_000)}\n"),
        EVENTS, r"alias bomb"))
    return variants


def deep_nesting() -> list[Variant]:
    """More than 200 levels, in each way YAML nests (past PyYAML 6.0.4's own limit of 1,000 too)."""
    block_maps = "".join(" " * i + f"k{i}:\n" for i in range(1_200)) + " " * 1_200 + "x: 1\n"
    shapes = {
        "flow-sequences": "[" * 100_000 + "]" * 100_000,
        "flow-mappings": "{a: " * 5_000 + "1" + "}" * 5_000,
        "just-past-ours": "params: " + "[" * 201 + "]" * 201 + "\n",
        "block-mappings": block_maps,
        "compact-sequences": "- " * 3_000 + "x\n",
        "late-in-a-long-file": "tags:\n" + "  - a\n" * 100_000 + "  - " + "[" * 5_000 + "\n",
    }
    return [Variant(f"deep-{name}", _write(MANIFEST, text), MANIFEST, r"nested more than 200 levels")
            for name, text in shapes.items()]


# -- Parquet: footers that lie, footers mutated at random, too many rows --------------------------------
def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _constant_table(rows: int) -> pa.Table:
    """``rows`` rows of one metric and one value: a few KB of Parquet, run-length encoded."""
    metric = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array(["auc"]))
    return pa.table({"metric": metric, "value": pa.array(np.full(rows, 0.5))})


def lying_rows(claim: int, real: int = 100_003, groups_too: bool = True) -> bytes:
    """A table of ``real`` rows whose footer claims ``claim`` (the file's count, and the row group's too
    unless ``groups_too`` is False)."""
    data = parquet_bytes(_constant_table(real))
    length = struct.unpack("<I", data[-8:-4])[0]
    footer = data[-8 - length:-8]
    old, new = _varint(real << 1), _varint(claim << 1)  # (zigzag of a positive number)
    patched = footer.replace(old, new) if groups_too else footer[::-1].replace(old[::-1], new[::-1], 1)[::-1]
    assert patched != footer
    return data[:-8 - length] + patched + struct.pack("<I", len(patched)) + b"PAR1"


@functools.cache
def run_length_rows(rows: int, groups: int) -> bytes:
    """``rows`` honest rows in ``groups`` row groups (300 million: ~2 MB)."""
    chunk = _constant_table(rows // groups)
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, chunk.schema, compression="zstd") as writer:
        for _ in range(groups):
            writer.write_table(chunk, row_group_size=chunk.num_rows)
    return sink.getvalue()


def footer_lies() -> list[Variant]:
    bad = f"{METRICS}/bad.parquet"
    return [
        Variant("footer-claims-2^40-rows", _write(bad, lambda: lying_rows(2**40)), bad, r"claims \d+ rows"),
        Variant("footer-claims-2^62-rows", _write(bad, lambda: lying_rows(2**62)), bad, r"claims \d+ rows"),
        Variant("footer-row-groups-disagree", _write(bad, lambda: lying_rows(2**40, groups_too=False)), bad,
                r"claims|row group|unreadable"),
        Variant("300-million-rle-rows", _write(bad, lambda: run_length_rows(300_000_000, 30)), bad,
                r"claims 300000000 rows"),
        Variant("2-million-rle-rows", _write(bad, lambda: run_length_rows(2_000_000, 1)), bad,
                r"claims 2000000 rows"),
    ]


def long_strings(column: str, value: str, rows: int, dictionary: bool = True) -> bytes:
    """``rows`` rows whose ``column`` is ``value`` (kept in one dictionary entry unless ``dictionary`` is
    False): a few KB on disk, ``rows * len(value)`` bytes once a reader expands it."""
    def repeated(text: str) -> pa.Array:
        return pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, np.int32)), pa.array([text]))
    columns = {"metric": repeated("auc"), "value": pa.array(np.full(rows, 0.5)), column: repeated(value)}
    sink = io.BytesIO()
    pq.write_table(pa.table(columns), sink, compression="zstd", use_dictionary=dictionary)
    return sink.getvalue()


def many_long_names(rows: int = 1_000_000, distinct: int = 50, width: int = 900) -> bytes:
    """Names under the per-value cap, but a million of them: 900 MB of strings once expanded."""
    names = pa.array([f"{n:0>{width}}" for n in range(distinct)])
    metric = pa.DictionaryArray.from_arrays(pa.array(np.arange(rows, dtype=np.int32) % distinct), names)
    return parquet_bytes(pa.table({"metric": metric, "value": pa.array(np.full(rows, 0.5))}))


def string_bombs() -> list[Variant]:
    bad, megabyte = f"{METRICS}/long.parquet", "x" * 1_000_000
    too_long = r"holds a value of \d+ characters"
    return [
        *(Variant(f"1mb-{column}-x200k-rows", _write(bad, lambda c=column: long_strings(c, megabyte, 200_000)),
                  bad, too_long) for column in ("metric", "dataset", "slice")),
        Variant("1mb-slice-plain-x200-rows", _write(bad, lambda: long_strings("slice", megabyte, 200, False)),
                bad, too_long),
        Variant("1001-char-dataset", _write(bad, lambda: long_strings("dataset", "d" * 1001, 3)), bad, too_long),
        Variant("million-900-char-names", _write(bad, many_long_names), bad, r"bytes of strings once expanded"),
    ]


MUTATION_SEED = 80
MUTATIONS = 80
MUTATIONS_PER_CATALOG = 20


def mutated_footers(seed: int = MUTATION_SEED, count: int = MUTATIONS) -> list[bytes]:
    """``count`` copies of a good table, each with 1 to 4 random bytes of its footer changed."""
    rng = random.Random(seed)
    table = pa.table({"metric": ["recall", "auc"], "value": [0.5, 0.7], "dataset": ["test", "x"], "step": [1, 2]})
    data = parquet_bytes(table)
    start = len(data) - 8 - struct.unpack("<I", data[-8:-4])[0]
    out = []
    for _ in range(count):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(start, len(data) - 8)] = rng.randrange(256)
        out.append(bytes(mutated))
    return out


def footer_mutations() -> list[Variant]:
    """The mutations, a batch per catalog (each file either an error naming it, or a legal table)."""
    variants = []
    for first in range(0, MUTATIONS, MUTATIONS_PER_CATALOG):
        names = [f"{METRICS}/mutant-{n:02d}.parquet" for n in range(first, first + MUTATIONS_PER_CATALOG)]

        def build(root: Path, outside: Path, first: int = first, names: list[str] = names) -> None:
            for name, data in zip(names, mutated_footers()[first:first + MUTATIONS_PER_CATALOG], strict=True):
                (root / name).write_bytes(data)
        variants.append(Variant(f"footer-mutations-{first:02d}", build, f"{METRICS}/mutant-", r".", tuple(names)))
    return variants


# -- names and digits -----------------------------------------------------------------------------------
def _touch(rel: bytes, folder: bool = False) -> Build:
    def build(root: Path, outside: Path) -> None:
        path = os.path.join(bytes(root), rel)
        if folder:
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, b"manifest.yaml"), "wb") as handle:
                handle.write(b"model: victim\nversion: 3\ncreated_at: 2026-10-01\n")
        else:
            with open(path, "wb") as handle:
                handle.write(b"x: 1\n")
    return build


def non_utf8_names() -> list[Variant]:
    """A name that is not UTF-8 at every level under models/ (shown with \\x escapes)."""
    v2 = VICTIM_V2.encode()
    shapes = {
        "model-folder": (b"models/\xe9t\xe9", True, "models/\\xe9t\\xe9"),
        "file-in-model-folder": (b"models/victim/\xff", False, "models/victim/\\xff"),
        "event-file": (EVENTS.encode() + b"/\xfe\xff.yaml", False, f"{EVENTS}/\\xfe\\xff.yaml"),
        "version-folder": (b"models/victim/versions/3\xff", True, "models/victim/versions/3\\xff"),
        "metric-table": (v2 + b"/metrics/m\xc3.parquet", False, f"{METRICS}/m\\xc3.parquet"),
        "folder-in-metrics": (v2 + b"/metrics/\xc0\xaf", True, f"{METRICS}/\\xc0\\xaf"),
    }
    return [Variant(f"not-utf8-{name}", _touch(rel, folder), shown, r"not valid UTF-8")
            for name, (rel, folder, shown) in shapes.items()]


UNICODE_DIGITS = {"superscript-two": "\u00b2", "arabic-indic-one": "\u0661", "devanagari-one": "\u0967",
                  "fullwidth-one": "\uff11", "circled-one": "\u2460", "bengali-twelve": "\u09e7\u09e8"}


def unicode_digits() -> list[Variant]:
    """``str.isdigit`` accepts all of these: as a parent's version, and as a version folder."""
    variants = [Variant(f"parent-version-{name}", _append(MANIFEST, f"lineage: {{parents: ['fraud@{digits}']}}\n"),
                        MANIFEST, r"invalid selector") for name, digits in UNICODE_DIGITS.items()]
    variants += [Variant(f"version-folder-{name}", _write(f"models/victim/versions/{digits}/manifest.yaml",
                                                          "model: victim\nversion: 1\ncreated_at: 2026-10-01\n"),
                         f"models/victim/versions/{digits}", r"positive integer")
                 for name, digits in UNICODE_DIGITS.items() if name in ("arabic-indic-one", "fullwidth-one")]
    variants.append(Variant("event-version-superscript", lambda root, outside: add_event(
        root, "action: promote\nversion: '\u00b2'\nstage: staging\n"), EVENTS, r"'version' must be a positive"))
    return variants


# -- not regular files ------------------------------------------------------------------------------------
def _fifo(rel: str) -> Build:
    def build(root: Path, outside: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        os.mkfifo(path)
    return build


def fifos() -> list[Variant]:
    """Catalog files that are FIFOs: opening one for reading waits forever for a writer."""
    where = {"registry": "registry.yaml", "model": "models/victim/model.yaml", "manifest": MANIFEST,
             "event": f"{EVENTS}/{event_id()}.yaml", "metrics": f"{METRICS}/metrics.parquet"}
    return [Variant(f"fifo-{name}", _fifo(rel), rel, r"not a regular file|found something else")
            for name, rel in where.items()]


CLASSES: dict[str, Callable[[], list[Variant]]] = {
    "alias bombs": alias_bombs, "deep nesting": deep_nesting, "lying footers": footer_lies,
    "mutated footers": footer_mutations, "names not UTF-8": non_utf8_names, "unicode digits": unicode_digits,
    "FIFOs": fifos, "string bombs": string_bombs,
}
VARIANTS: list[Variant] = [variant for generate in CLASSES.values() for variant in generate()]


def legal_table(path: Path) -> bool:
    """Whether a (mutated) metric table is still one that pyarrow, or DuckDB, reads and the schema accepts
    (a mutation of the Arrow schema stored in the footer leaves DuckDB, which ignores it, a valid table)."""
    import duckdb

    from registry_core.errors import InvalidInput
    from registry_core.format.metrics import check_footer, conform, read_table_file

    try:
        read_table_file(path)
        return True
    except InvalidInput:
        pass
    try:
        check_footer(path, str(path))
        conform(duckdb.sql("SELECT * FROM read_parquet($p)", params={"p": str(path)}).to_arrow_table(), str(path))
    except (InvalidInput, duckdb.Error):
        return False
    return True


__all__ = ["CLASSES", "VARIANTS", "Variant", "good_table", "legal_table"]

"""Cold builds of the workload's catalog with its metric tables written the way other tools write them.

    python -m benchmarks.variants                 # 10,000 versions, every variant, median of 3
    python -m benchmarks.variants --size 2000 --repeats 5 --variants pandas sparse

``benchmarks.workload`` writes every metric table with the spec's exact types, which the index copies
with one SQL query.  Tables written by other tools take other paths (SQL conversions, or pyarrow's
checking reader), so a catalog generated elsewhere may build at another speed.  Each variant is the
workload's catalog (``benchmarks.run``'s, kept in ``--work``) with every file hard-linked except the
metric tables, which are written anew:

- ``pandas``: each table read into pandas and written back with ``DataFrame.to_parquet``: summaries'
  all-null steps become floats, strings become large strings, and pandas adds its schema metadata;
- ``sparse``: summary tables with only ``metric``, ``value`` and ``dataset`` (no step, timestamp,
  slice), curves as they are: two schemas, told apart by file name;
- ``one-table``: summary and curves in one ``metrics.parquet`` per version (half the files).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from registry_core.format.layout import METRICS_DIR

from .run import catalog_for
from .workload import SIZES, Workload


def _pandas(folder: Path) -> None:
    for path in folder.glob("*.parquet"):
        pq.read_table(path).to_pandas().to_parquet(path, index=False)


def _sparse(folder: Path) -> None:
    path = folder / "summary.parquet"
    pq.write_table(pq.read_table(path).select(["metric", "value", "dataset"]), path)


def _one_table(folder: Path) -> None:
    tables = [pq.read_table(folder / name) for name in ("summary.parquet", "curves.parquet")]
    pq.write_table(pa.concat_tables(tables), folder / "metrics.parquet")
    for name in ("summary.parquet", "curves.parquet"):
        (folder / name).unlink()


VARIANTS: dict[str, Callable[[Path], None]] = {"pandas": _pandas, "sparse": _sparse, "one-table": _one_table}


def _rewrite(job: tuple[str, list[str]]) -> None:
    kind, folders = job
    for folder in folders:
        VARIANTS[kind](Path(folder))


def _link_or_copy(source: str, target: str) -> None:
    """Metric tables are copied (they are rewritten in place, which must not reach ``base`` through a
    hard link); every other file is linked."""
    (shutil.copyfile if f"/{METRICS_DIR}/" in source else os.link)(source, target)


def make_variant(base: Path, kind: str, out: Path) -> Path:
    """``base`` hard-linked into ``out`` (no index), its metric tables rewritten as ``kind`` writes them."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(base, out, copy_function=_link_or_copy, ignore=shutil.ignore_patterns(".modelreg"))
    folders = sorted(str(p) for p in out.glob(f"models/*/versions/*/{METRICS_DIR}"))
    jobs = min(2, os.cpu_count() or 1)
    with ProcessPoolExecutor(jobs) as pool:
        list(pool.map(_rewrite, [(kind, folders[n::jobs]) for n in range(jobs)]))
    return out


def cold_build(root: Path) -> float:
    from registry_core import Catalog

    shutil.rmtree(root / ".modelreg", ignore_errors=True)
    started = time.perf_counter()
    Catalog(root).refresh()
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.variants", description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000, choices=sorted(SIZES))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "modelreg-bench",
                        help="where benchmarks.run keeps its catalogs (the variants go next to them)")
    parser.add_argument("--repeats", type=int, default=3, help="cold builds per catalog (median reported)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    base = catalog_for(Workload.of_size(args.size), args.work)
    catalogs = {"workload": base}
    for kind in args.variants:
        catalogs[kind] = make_variant(base, kind, args.work / f"variant-{kind}-{args.size}")
    cold_build(base)  # imports and first-use costs, untimed
    print(f"| metric tables written by | cold build at {args.size:,} versions (median of {args.repeats}) | runs |")
    print("|---|---|---|")
    for kind, root in catalogs.items():
        runs = [cold_build(root) for _ in range(args.repeats)]
        print(f"| {kind} | {statistics.median(runs):.2f} s | {', '.join(f'{r:.2f}' for r in runs)} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

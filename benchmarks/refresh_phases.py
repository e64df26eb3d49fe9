"""Where a refresh after one new version spends its time, phase by phase (issue #18).

On a catalog written by ``benchmarks.plain`` (``python -m benchmarks.plain OUT --versions 10000``), adds
one version at a time to its first model and times ``Catalog.resolve(MODEL@latest)`` (which refreshes
the index first), either in one long-running process (``--in-process``) or each in a new process.  Each
phase of the index's refresh is timed by wrapping its function: wall and CPU time (``process_time``,
all threads: on a loaded machine the CPU figure is the steadier one), medians over the repeats, with
the load average.  The versions added are removed again at the end.

    python -m benchmarks.refresh_phases CATALOG --size 10000 --repeats 9 --in-process
    python -m benchmarks.refresh_phases CATALOG --size 10000 --repeats 5
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import plain

#: run in the measured process: times each phase of ``resolve`` and prints them as JSON
PHASES = r"""
import functools, json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
from pathlib import Path
from registry_core import Catalog
from registry_core.index import derive, freshness, generation as g, scan
times = {"import": (time.perf_counter() - t0, time.process_time() - c0)} if sys.argv[3] == "new" else {}

def wrap(owner, name, label):
    inner = getattr(owner, name)
    @functools.wraps(inner)
    def timed(*args, **kwargs):
        t, c = time.perf_counter(), time.process_time()
        try:
            return inner(*args, **kwargs)
        finally:
            old = times.get(label, (0.0, 0.0))
            times[label] = (old[0] + time.perf_counter() - t, old[1] + time.process_time() - c)
    setattr(owner, name, timed)

for owner, name, label in [
        (g.Index, "refresh", "index refresh (all below)"), (g._State, "load", "read file state"),
        (scan, "update", "re-list moved folders"), (g._Build, "_files", "read changed files"),
        (g._Build, "_write_batches", "write segments"), (g._Build, "_derive", "re-derive"),
        (derive, "derive_headline", "  headline values"), (derive, "derive_state", "  replay"),
        (g._State, "settled", "settle file state"), (g._State, "columns", "file state as columns"),
        (g, "_write_arrow", "write files/dirs.arrow"), (freshness, "write_check", "write check files"),
        (g.Views, "__init__", "views of the generation")]:
    wrap(owner, name, label)

def one(catalog, ref):
    t, c = time.perf_counter(), time.process_time()
    catalog.resolve(ref)
    times["total"] = (time.perf_counter() - t, time.process_time() - c)
    found = dict(times)
    times.clear()
    return found

root = Path(sys.argv[1])
if sys.argv[3] == "new":
    print(json.dumps([one(Catalog(root), sys.argv[2])]))
else:
    from benchmarks import plain
    import random
    catalog = Catalog(root)
    catalog.refresh()
    times.clear()
    model, first, repeats = sys.argv[2], int(sys.argv[4]), int(sys.argv[5])
    out = []
    for n in range(repeats):
        plain.write_version(root, model, first + n, random.Random(n))
        out.append(one(catalog, f"{model}@latest"))
    print(json.dumps(out))
"""


def _clean(root: Path, model: str, per_model: int) -> None:
    for folder in (root / "models" / model / "versions").iterdir():
        if int(folder.name) > per_model:
            shutil.rmtree(folder)


def measure(root: Path, size: int, repeats: int, in_process: bool) -> tuple[list[dict], float, float]:
    """(the phase times of each repeat, the median process wall time, the load average)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parent.parent), *sys.path])}
    model, (_, per_model) = plain.model_name(0), plain.shape(size)
    _clean(root, model, per_model)
    load = os.getloadavg()[0]
    runs: list[dict] = []
    walls: list[float] = []
    try:
        if in_process:
            args = [sys.executable, "-c", PHASES, str(root), model, "in", str(per_model + 1), str(repeats)]
            runs = json.loads(subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout)
        else:
            args = [sys.executable, "-c", PHASES, str(root), f"{model}@latest", "new"]
            subprocess.run(args, env=env, check=True, capture_output=True)  # (the catalog as written: indexed)
            for n in range(repeats):
                plain.write_version(root, model, per_model + 1 + n, random.Random(n))
                started = time.perf_counter()
                out = subprocess.run(args, env=env, check=True, capture_output=True, text=True).stdout
                walls.append(time.perf_counter() - started)
                runs += json.loads(out)
    finally:
        _clean(root, model, per_model)
    return runs, statistics.median(walls) if walls else 0.0, load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("catalog", type=Path)
    parser.add_argument("--size", type=int, default=10_000, help="the --versions the catalog was written with")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--in-process", action="store_true", help="one long-running process (else a new one each)")
    args = parser.parse_args()
    runs, wall, load = measure(args.catalog, args.size, args.repeats, args.in_process)
    where = "in process" if args.in_process else f"new process (median process wall {wall * 1000:.0f} ms)"
    print(f"refresh after one new version, {args.size:,} versions, {where}, load {load:.1f}, medians of {len(runs)}")
    for label in dict.fromkeys(k for run in runs for k in run):
        values = [run[label] for run in runs if label in run]
        print(f"  {label:28} wall {statistics.median(v[0] for v in values) * 1000:8.1f} ms"
              f"  cpu {statistics.median(v[1] for v in values) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

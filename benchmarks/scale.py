"""modelreg at 1,000, 10,000 and 100,000 versions, timed as whole processes, with peak memory.

The catalogs are written by ``benchmarks.plain`` (plain pyarrow + PyYAML: not modelreg's writer) under
``$TMPDIR/modelreg-scale/plain-<N>`` and kept.  Every figure is the wall time of a ``modelreg`` process
(or, for the in-process rows, of the call inside one long-running process), next to the peak resident
memory of that process (``os.wait4``: this child's own ``ru_maxrss``) and the machine's load average
when it ran.  Results go to ``benchmarks/RESULTS-scale.json``; ``--plot FILE.svg`` draws time against
size on log scales, with MLflow's figures of ``RESULTS-mlflow.json`` beside them (measured up to
10,000 versions; the 100,000 points are extrapolated linearly from 10,000 and drawn hollow).

    python -m benchmarks.scale --sizes 1000 10000 100000 --plot docs/performance-scale.svg
    python -m benchmarks.scale --report-only --plot docs/performance-scale.svg
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
import tempfile
import time
from pathlib import Path

from benchmarks import plain

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS-scale.json"
MLFLOW = HERE / "RESULTS-mlflow.json"
FILTER_SQL = ("SELECT count(*) AS n FROM headline h JOIN params p USING (model, version) "
              "WHERE h.metric = 'accuracy' AND h.dataset = 'test' AND h.value > 0.9 "
              "AND p.name = 'optimizer' AND p.value = 'adam'")

# one long-running process (a script, a service, the dashboard): its own timings as JSON on stdout
IN_PROCESS = r"""
import json, sys, time, statistics, random
from pathlib import Path
from registry_core import Catalog
from benchmarks import plain
root, model, first_new = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def median(f, n):
    times = []
    for _ in range(n):
        t = time.perf_counter(); f(); times.append(time.perf_counter() - t)
    return statistics.median(times)
t = time.perf_counter(); cat = Catalog(root); cat.refresh(); opened = time.perf_counter() - t
out = {"open": opened}
out["resolve_checked"] = median(lambda: cat.resolve(f"{model}@production"), 21)
out["list_checked"] = median(cat.models, 5)
out["catalog_check"] = median(cat.refresh, 5)
out["full_check"] = median(lambda: cat.refresh(full=True), 3)
after = []
for n in range(3):
    plain.write_version(root, model, first_new + n, random.Random(n))
    t = time.perf_counter(); got = cat.resolve(f"{model}@latest"); after.append(time.perf_counter() - t)
    assert got["version"] == first_new + n, got
out["refresh_one"] = statistics.median(after)
print(json.dumps(out))
"""


def run(args: list[str], env: dict) -> tuple[float, float, str]:
    """(wall seconds, peak RSS in MB, stdout) of one child process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        child = subprocess.Popen(args, stdout=out, stderr=errors, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = code = os.waitstatus_to_exitcode(status)
        out.seek(0)
        errors.seek(0)
        text, err = out.read().decode(), errors.read().decode()
    if code:
        raise RuntimeError(f"{args}: exit {code}: {err.strip()[-500:]}")
    return wall, usage.ru_maxrss / 1024, text


def measure(root: Path, size: int, repeats: int) -> dict:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), *sys.path])}
    cli = [sys.executable, "-m", "registry_core.cli", "--catalog", str(root)]
    n_models, per_model = plain.shape(size)
    model = plain.model_name(0)
    rows: dict[str, dict] = {}

    def record(key: str, args: list[str], times: int) -> str:
        load = os.getloadavg()[0]
        runs = [run(args, env) for _ in range(times)]
        rows[key] = {"seconds": statistics.median(r[0] for r in runs), "peak_mb": max(r[1] for r in runs),
                     "runs": [round(r[0], 3) for r in runs], "load": round(load, 2)}
        print(f"{size:>7} {key:<22} {rows[key]['seconds']:8.3f} s {rows[key]['peak_mb']:7.0f} MB  load {load:.1f}",
              flush=True)
        return runs[-1][2]

    _remove_added(root, model, per_model)  # (left by an interrupted run)
    shutil.rmtree(root / ".modelreg", ignore_errors=True)
    record("cold_build", [*cli, "list", "--format", "json"], 1)
    record("list", [*cli, "list", "--format", "json"], repeats)
    assert record("resolve", [*cli, "resolve", f"{model}@production"], repeats).startswith(model)
    record("cross_filter", [*cli, "query", FILTER_SQL, "--format", "json"], repeats)
    record("full_check", [*cli, "refresh", "--full"], 1)
    new = per_model + 1
    times = []
    load = os.getloadavg()[0]
    for n in range(repeats):  # one new version arrives (as through git), then a new process asks for it
        plain.write_version(root, model, new + n, random.Random(n))
        times.append(run([*cli, "resolve", f"{model}@latest"], env))
        assert times[-1][2].strip() == f"{model}@{new + n}", times[-1][2]
    rows["refresh_one_new"] = {"seconds": statistics.median(t[0] for t in times), "peak_mb": max(t[1] for t in times),
                               "runs": [round(t[0], 3) for t in times], "load": round(load, 2)}
    print(f"{size:>7} refresh_one_new        {rows['refresh_one_new']['seconds']:8.3f} s", flush=True)
    load = os.getloadavg()[0]
    _, peak, text = run([sys.executable, "-c", IN_PROCESS, str(root), model, str(new + repeats)], env)
    inner = json.loads(text.strip().splitlines()[-1])
    for key, value in inner.items():
        rows[f"inproc_{key}"] = {"seconds": value, "peak_mb": peak, "load": round(load, 2)}
        print(f"{size:>7} inproc_{key:<15} {value * 1000:8.1f} ms", flush=True)
    _remove_added(root, model, per_model)  # the catalog as written, for the next run
    return {"versions": size, "models": n_models, "files": _count(root), "rows": rows,
            "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "cpus": os.cpu_count()}


def _remove_added(root: Path, model: str, per_model: int) -> None:
    for folder in (root / "models" / model / "versions").iterdir():
        if int(folder.name) > per_model:
            shutil.rmtree(folder)


def _count(root: Path) -> int:
    return sum(len(files) for folder, _, files in os.walk(root) if ".modelreg" not in folder)


ROWS = [("cold_build", "cold build (`list`, no `.modelreg/`)"), ("list", "`list`"),
        ("resolve", "`resolve MODEL@production`"), ("cross_filter", "cross-model filter (`query`, metric AND param)"),
        ("refresh_one_new", "`resolve MODEL@latest` after one new version"),
        ("full_check", "`refresh --full` (every file stat'ed)"),
        ("inproc_resolve_checked", "in process: checked `resolve`"),
        ("inproc_refresh_one", "in process: refresh after one new version"),
        ("inproc_list_checked", "in process: `models()` with its catalog-wide check"),
        ("inproc_catalog_check", "in process: catalog-wide check, nothing changed"),
        ("inproc_full_check", "in process: full check, nothing changed")]


def markdown(results: dict) -> str:
    """The table of docs/performance.md: wall time, peak memory of the process, load average."""
    sizes = sorted(results, key=int)
    lines = ["| wall time, peak memory (load) | " + " | ".join(f"{int(s):,}" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for key, label in ROWS:
        cells = []
        for size in sizes:
            row = results[size]["rows"].get(key)
            if row is None:
                cells.append("–")
                continue
            t = f"{row['seconds']:.2f} s" if row["seconds"] >= 1 else f"{row['seconds'] * 1000:.0f} ms"
            memory = "" if key.startswith("inproc_") else f", {row['peak_mb']:,.0f} MB"
            cells.append(f"{t}{memory} ({row['load']:.0f})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(results: dict, out: Path) -> None:
    """Time against size, log scales; MLflow beside (hollow markers: extrapolated)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(int(s) for s in results)
    fig, ax = plt.subplots(figsize=(8, 5))
    for key, label in [("cold_build", "cold build (process)"), ("list", "list (process)"),
                       ("resolve", "resolve (process)"), ("cross_filter", "cross-model filter (process)"),
                       ("refresh_one_new", "resolve after one new version (process)"),
                       ("inproc_resolve_checked", "checked resolve (in process)"),
                       ("inproc_refresh_one", "refresh after one new version (in process)")]:
        xs = [s for s in sizes if key in results[str(s)]["rows"]]
        ax.plot(xs, [results[str(s)]["rows"][key]["seconds"] for s in xs], marker="o", label=label)
    mlflow = json.loads(MLFLOW.read_text())
    for key, label in [("fresh_process_listing", "MLflow: listing (fresh process)"),
                       ("cross_filter", "MLflow: cross-model filter (in process)")]:
        xs = sorted(int(s) for s in mlflow if int(s) >= 1000)
        ys = [mlflow[str(s)]["timings_s"][key] for s in xs]
        line, = ax.plot(xs, ys, marker="s", linestyle="--", label=label)
        if xs and max(sizes) > xs[-1]:  # extrapolated linearly in versions: hollow
            far = ys[-1] * max(sizes) / xs[-1]
            ax.plot([xs[-1], max(sizes)], [ys[-1], far], linestyle=":", color=line.get_color())
            ax.plot([max(sizes)], [far], marker="s", markerfacecolor="none", color=line.get_color())
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("versions in the catalog")
    ax.set_ylabel("seconds")
    ax.set_title("modelreg on catalogs written by plain pyarrow + PyYAML (2 shared cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--where", type=Path, default=Path(tempfile.gettempdir()) / "modelreg-scale")
    parser.add_argument("--plot", type=Path)
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--markdown", action="store_true", help="print the table of docs/performance.md")
    args = parser.parse_args()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if not args.report_only:
        for size in args.sizes:
            root = args.where / f"plain-{size}"
            if not root.exists():
                print(size, "writing:", plain.generate(root, size), flush=True)
            results[str(size)] = measure(root, size, args.repeats)
            RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    if args.plot:
        plot(results, args.plot)
    if args.markdown:
        print(markdown(results))


if __name__ == "__main__":
    main()

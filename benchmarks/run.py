"""The modelreg side of the benchmark, side by side with MLflow: one command.

    python -m benchmarks.run                      # 200, 2,000 and 10,000 versions; MLflow from RESULTS-mlflow.json
    python -m benchmarks.run --sizes 2000 --mlflow run   # load MLflow in this run too (slow: ~20 versions/s)

For each size it writes the workload of :mod:`benchmarks.workload` as a catalog
(kept in ``--work`` and reused), then times, as medians of repeated runs:

- ``register``: versions/s through ``Catalog.register`` (params, 12 headline
  metrics and 3 curves of 50 steps, 2 datasets, a parent for ~30%, a small artifact),
  into a scratch model of the big catalog, removed afterwards;
- ``cold_build``: the index built from nothing (``.modelreg/`` deleted; the
  files themselves are in the OS page cache, as after any recent use);
- ``warm_open``: ``Catalog(path)`` plus its first refresh when nothing changed
  (the stat pass over every folder and file);
- ``refresh_one``: the refresh after one new version was registered;
- ``warm_open_new`` / ``refresh_one_new``: the same two without the file state a
  process keeps in memory (what a new process pays, imports aside);
- the queries, on an open catalog whose index is fresh (inside ``Catalog.snapshot()``:
  no freshness check; ``*_checked`` adds the check every read method makes by default):
  ``resolve``, ``overview`` (every model with its production version and headline
  metrics), ``leaderboard`` (one model's versions by test roc_auc), ``compare_10``,
  ``cross_filter`` (test accuracy > 0.9 and optimizer = adam, across models), ``curve``;
- ``cli_resolve`` / ``cli_list``: wall time of the ``modelreg`` process;
- ``page_*``: each dashboard page through Streamlit's AppTest (largest size only):
  first render with empty caches, and a rerun.

Answers are checked against ``Workload.expected()`` (``checks`` in the output).
Results go to ``benchmarks/RESULTS.json``; ``--markdown`` prints the table of
docs/performance.md and ``--plot PNG`` draws time against catalog size.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .workload import CURVES, SIZES, Workload, write_catalog

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "RESULTS.json"
MLFLOW_RESULTS = HERE / "RESULTS-mlflow.json"
PAGES = ["overview", "versions", "compare", "lineage", "promote", "history"]
#: operation -> the MLflow timing it is compared with (benchmarks/mlflow_side.py)
MLFLOW_KEYS = {"resolve": "resolve", "overview": "listing", "leaderboard": "leaderboard", "compare_10": "compare_10",
               "cross_filter": "cross_filter", "curve": "curve", "cli_list": "fresh_process_listing"}
#: targets at 10,000 versions (issue 4), seconds
TARGETS = {"cold_build": 5.0, "warm_open": 0.150, "refresh_one": 0.300, "warm_open_new": 0.150,
           "refresh_one_new": 0.300, "resolve": 0.020, "overview": 0.020,
           "leaderboard": 0.020, "compare_10": 0.020, "cross_filter": 0.020, "curve": 0.020, "cli_resolve": 0.6}
PAGE_TARGET = 1.5


#: CPU seconds used by each timed operation (median), next to its wall time: the machine may be busy with
#: other work, which stretches wall times but not the CPU an operation needs
CPU: dict[str, float] = {}


def cpu_now() -> float:
    """CPU seconds of this process (all its threads) and of its finished children."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def median_time(fn: Callable[[], Any], repeats: int, warmup: bool = True, name: str | None = None
                ) -> tuple[float, Any]:
    """Median wall time of ``fn`` over ``repeats`` runs (after one untimed run); and its last result."""
    result = fn() if warmup else None
    samples, cpu = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), cpu_now()
        result = fn()
        samples.append(time.perf_counter() - started)
        cpu.append(cpu_now() - cpu_started)
    if name:
        CPU[name] = statistics.median(cpu)
    return statistics.median(samples), result


def catalog_for(workload: Workload, work: Path) -> Path:
    """The workload's catalog under ``work``, written once and reused while its marker matches."""
    root = work / f"catalog-{workload.total}"
    marker = work / f"catalog-{workload.total}.json"
    identity = {"n_models": workload.n_models, "n_versions": workload.n_versions, "seed": workload.seed}
    if not (marker.exists() and json.loads(marker.read_text()) == identity and (root / "models").is_dir()):
        shutil.rmtree(root, ignore_errors=True)
        write_catalog(root, workload, jobs=min(2, os.cpu_count() or 1))
        marker.write_text(json.dumps(identity))
    return root


def version_args(record: Any, model: str, artifact: Path) -> dict[str, Any]:
    """``Catalog.register`` arguments carrying what one workload version carries."""
    rows = [{"metric": m, "value": v, "dataset": d} for (m, d), v in record.summary.items()]
    rows += [{"metric": name, "value": v, "dataset": CURVES[name], "step": i + 1}
             for name, values in record.curves.items() for i, v in enumerate(values)]
    return {
        "params": dict(record.params), "metrics": rows, "artifacts": [artifact],
        "datasets": [{"name": d.name, "version": d.version, "role": d.role, "uri": d.uri, "sha256": d.sha256}
                     for d in record.datasets],
        "parents": [f"{model}@{p}" for p in record.parents], "description": record.description,
        "framework": record.framework, "task": record.task, "tags": dict(record.tags),
    }


@contextlib.contextmanager
def scratch_model(cat: Any, name: str):
    """A model that exists only for the duration of a measurement."""
    try:
        yield name
    finally:
        shutil.rmtree(cat.root / "models" / name, ignore_errors=True)
        cat.refresh()


def time_register(cat: Any, workload: Workload, count: int) -> dict[str, Any]:
    from registry_core import Catalog

    records = workload.bundle(0).versions[:count]
    artifact = Path(tempfile.mkdtemp()) / "model.json"
    artifact.write_text(json.dumps({"weights": list(range(50))}))
    writer = Catalog(cat.root, user="bench@example.com")
    with scratch_model(cat, f"bench-register-{time.time_ns():x}") as name:
        # one untimed registration first: a process pays its imports (pyarrow loads pandas) once
        writer.register(f"{name}-warmup", **{**version_args(records[0], name, artifact), "parents": []})
        shutil.rmtree(cat.root / "models" / f"{name}-warmup")
        started = time.perf_counter()
        for record in records:
            writer.register(name, **version_args(record, name, artifact))
        seconds = time.perf_counter() - started
    return {"versions": count, "seconds": round(seconds, 3), "per_s": round(count / seconds, 1)}


def time_index(root: Path, workload: Workload, repeats: int, cold_repeats: int) -> dict[str, float]:
    from registry_core import Catalog
    from registry_core.index import generation as index

    out: dict[str, float] = {}

    def cold() -> None:
        shutil.rmtree(root / ".modelreg", ignore_errors=True)
        Catalog(root).refresh()

    out["cold_build"], _ = median_time(cold, cold_repeats, warmup=False, name="cold_build")
    Catalog(root).refresh()  # settles files recorded in the clock tick of the build
    out["warm_open"], _ = median_time(lambda: Catalog(root).refresh(), repeats, name="warm_open")

    cat = Catalog(root)
    cat.refresh()
    writer = Catalog(root, user="bench@example.com")
    record = workload.bundle(0).versions[-1]
    artifact = Path(tempfile.mkdtemp()) / "model.json"
    artifact.write_text("{}")
    samples, cpu = [], []
    with scratch_model(cat, f"bench-refresh-{time.time_ns():x}") as name:
        for _ in range(repeats):
            writer.register(name, **{**version_args(record, name, artifact), "parents": []})
            started, cpu_started = time.perf_counter(), cpu_now()
            cat.refresh()
            samples.append(time.perf_counter() - started)
            cpu.append(cpu_now() - cpu_started)
            cat.refresh()  # settle, untimed
    out["refresh_one"] = statistics.median(samples)
    CPU["refresh_one"] = statistics.median(cpu)

    # the same two, as a new process meets them: no file state in memory yet (imports aside)
    def first_open() -> None:
        index._MEMOS.clear()
        Catalog(root).refresh()

    out["warm_open_new"], _ = median_time(first_open, repeats, name="warm_open_new")
    samples, cpu = [], []
    with scratch_model(cat, f"bench-refresh-{time.time_ns():x}") as name:
        for _ in range(repeats):
            writer.register(name, **{**version_args(record, name, artifact), "parents": []})
            index._MEMOS.clear()
            started, cpu_started = time.perf_counter(), cpu_now()
            Catalog(root).refresh()
            samples.append(time.perf_counter() - started)
            cpu.append(cpu_now() - cpu_started)
            cat.refresh()  # settle, untimed
    out["refresh_one_new"] = statistics.median(samples)
    CPU["refresh_one_new"] = statistics.median(cpu)
    return out


def time_queries(root: Path, workload: Workload, repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    from registry_core import Catalog

    q = workload.queries()
    cat = Catalog(root)
    board = f"{q.leaderboard_metric}[{q.leaderboard_dataset}]"
    refs = [f"{q.compare_model}@{v}" for v in q.compare_versions]
    headline = ("accuracy", "roc_auc", "f1", "log_loss")

    def resolve() -> int:
        return cat.resolve(f"{q.resolve_model}@{q.resolve_stage}")["version"]

    def overview() -> dict[str, int]:
        models = cat.models()
        with cat.snapshot(check=False):  # models() has just checked
            rows = cat.sql("""SELECT s.model, s.version, h.metric, h.value FROM stages s
                              JOIN headline h USING (model, version)
                              WHERE s.stage = 'production' AND h.dataset = 'test' AND h.metric IN ?""",
                           [list(headline)])
        production = {r["model"]: r["version"] for r in rows}
        return {m["model"]: production.get(m["model"]) for m in models}

    def leaderboard() -> int:
        rows = cat.versions(q.leaderboard_model)
        return max(rows, key=lambda r: r.get("metrics", {}).get(board, float("-inf")))["version"]

    def compare() -> int:
        return len(cat.compare(refs).rows)

    def cross_filter() -> int:
        rows = cat.sql("""SELECT h.model, h.version FROM headline h JOIN params p USING (model, version)
                          WHERE h.metric = ? AND h.dataset = ? AND h.value > ? AND p.name = ? AND p.value = ?""",
                       [q.filter_metric, q.filter_dataset, q.filter_min, q.filter_param, q.filter_value])
        return len(rows)

    def curve() -> int:
        found = cat.resolve(f"{q.curve_model}@{q.curve_version}")
        with cat.snapshot(check=False):  # resolve() has just checked
            rows = cat.sql("""SELECT step, value FROM metrics WHERE model = ? AND version = ? AND metric = ?
                              AND step IS NOT NULL ORDER BY step""",
                           [found["model"], found["version"], q.curve_metric])
        return len(rows)

    timings: dict[str, float] = {}
    answers: dict[str, Any] = {}
    operations = {"resolve": resolve, "overview": overview, "leaderboard": leaderboard, "compare_10": compare,
                  "cross_filter": cross_filter, "curve": curve}
    cat.refresh()
    for name, fn in operations.items():
        with cat.snapshot():
            timings[name], answers[name] = median_time(fn, repeats, name=name)
        timings[f"{name}_checked"], _ = median_time(fn, repeats, name=f"{name}_checked")
    truth = workload.expected()
    checks = {
        "resolve": answers["resolve"] == truth["resolve"],
        "overview": answers["overview"] == truth["production"],
        "leaderboard": answers["leaderboard"] == truth["leaderboard_top"],
        "compare_10": answers["compare_10"] > 0,
        "cross_filter": answers["cross_filter"] == truth["filter_count"],
        "curve": answers["curve"] == len(next(iter(workload.versions())).curves[q.curve_metric]),
    }
    return timings, checks


def modelreg_command() -> list[str]:
    found = shutil.which("modelreg")
    return [found] if found else [sys.executable, "-c", "from registry_core.cli import main; main()"]


def time_cli(root: Path, workload: Workload, repeats: int) -> dict[str, float]:
    q = workload.queries()
    out = {}
    for name, args in (("cli_resolve", ["resolve", f"{q.resolve_model}@{q.resolve_stage}"]), ("cli_list", ["list"])):
        def run(args: list[str] = args) -> None:
            subprocess.run([*modelreg_command(), "--catalog", str(root), *args], check=True, capture_output=True)

        out[name], _ = median_time(run, repeats, name=name)
    return out


def time_pages(root: Path, repeats: int) -> dict[str, float]:
    """Each dashboard page through AppTest: the first render (empty caches) and a rerun."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    os.environ["MODELREG_CATALOG"] = str(root)
    out: dict[str, float] = {}
    warm = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
    warm.run()  # AppTest's own first-run cost in a process (~1 s) is not a page's
    for page in PAGES:
        if not (REPO / "pages" / f"{page}.py").exists():
            continue
        firsts, reruns, cpu = [], [], []
        for _ in range(repeats):
            st.cache_data.clear()
            st.cache_resource.clear()
            at = AppTest.from_file(str(REPO / "app.py"), default_timeout=120)
            started, cpu_started = time.perf_counter(), cpu_now()
            at.switch_page(f"dashboard/pages/{page}.py").run()
            firsts.append(time.perf_counter() - started)
            cpu.append(cpu_now() - cpu_started)
            if at.exception:
                raise RuntimeError(f"page {page}: {at.exception[0].value}")
            started = time.perf_counter()
            at.run()
            reruns.append(time.perf_counter() - started)
        out[f"page_{page}"] = statistics.median(firsts)
        CPU[f"page_{page}"] = statistics.median(cpu)
        out[f"page_{page}_rerun"] = statistics.median(reruns)
    return out


def mlflow_results(mode: str, sizes: list[int], work: Path, python: str) -> dict[str, Any]:
    """MLflow's timings per size: measured now (``run``) or from RESULTS-mlflow.json (``results``)."""
    if mode == "off":
        return {}
    if mode == "results":
        return json.loads(MLFLOW_RESULTS.read_text()) if MLFLOW_RESULTS.exists() else {}
    found = {}
    for size in sizes:
        out = work / f"mlflow-{size}.json"
        subprocess.run([python, "-m", "benchmarks.mlflow_side", "--size", str(size), "--store",
                        str(work / f"mlflow-{size}"), "--out", str(out), "--quiet"], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        found[str(size)] = json.loads(out.read_text())
    return found


def run_size(size: int, work: Path, repeats: int, register: int, pages: bool) -> dict[str, Any]:
    from registry_core import Catalog

    CPU.clear()
    workload = Workload.of_size(size)
    root = catalog_for(workload, work)
    cold_repeats = 3
    timings = time_index(root, workload, repeats, cold_repeats)
    cat = Catalog(root)
    cat.refresh()
    registration = time_register(cat, workload, register)
    query_times, checks = time_queries(root, workload, repeats)
    timings.update(query_times)
    timings.update(time_cli(root, workload, 5))
    if pages:
        timings.update(time_pages(root, 3))
    return {"versions": size, "models": workload.n_models, "register": registration,
            "timings_s": {k: round(v, 6) for k, v in timings.items()},
            "cpu_s": {k: round(v, 6) for k, v in CPU.items()}, "checks": checks,
            "load_average": os.getloadavg()}  # other work on the machine inflates wall times: say how much


def markdown(results: dict[str, Any], mlflow: dict[str, Any]) -> str:
    """The results table of docs/performance.md: one row per operation, one column per size, ratios."""
    sizes = sorted(results["sizes"], key=int)
    largest = sizes[-1]
    big = f"{int(largest):,}"
    head = ["operation", *[f"{int(s):,}" for s in sizes], f"CPU at {big}", f"target at {big}", "met",
            f"MLflow at {big}", "MLflow ÷ modelreg"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def fmt(seconds: float | None) -> str:
        if seconds is None:
            return "–"
        return f"{seconds:.2f} s" if seconds >= 1 else f"{seconds * 1000:.1f} ms"

    def ratio(value: float) -> str:
        return f"{value:.1f}x" if value < 10 else f"{value:.0f}x"

    def mlflow_value(size: str, key: str) -> float | None:
        found = mlflow.get(size, {})
        return (found.get("timings_s") or {}).get(key)

    rate = [results["sizes"][s]["register"]["per_s"] for s in sizes]
    ml_rate = (mlflow.get(largest, {}).get("rates_per_s") or {}).get("register") \
        or (mlflow.get(largest, {}).get("timings_s") or {}).get("register_per_s")
    target = f"≥ {10 * ml_rate:.0f}/s (10x MLflow)" if ml_rate else "10x MLflow"
    met = "yes" if ml_rate and rate[-1] >= 10 * ml_rate else ("no" if ml_rate else "?")
    rates = " | ".join(f"{r:.0f}/s" for r in rate)
    versus = f"{ml_rate}/s | {ratio(rate[-1] / ml_rate)}" if ml_rate else "– | –"
    lines.append(f"| register (versions/s) | {rates} | – | {target} | {met} | {versus} |")
    keys = [k for k in results["sizes"][largest]["timings_s"] if not k.endswith("_rerun")]
    for key in keys:
        values = [results["sizes"][s]["timings_s"].get(key) for s in sizes]
        limit = TARGETS.get(key, PAGE_TARGET if key.startswith("page_") else None)
        if key == "cross_filter" and mlflow_value(largest, "cross_filter"):
            limit = min(limit, mlflow_value(largest, "cross_filter") / 20)
        mine = values[-1]
        other = mlflow_value(largest, MLFLOW_KEYS[key]) if key in MLFLOW_KEYS else None
        rerun = results["sizes"][largest]["timings_s"].get(f"{key}_rerun")
        label = key + (f" (rerun {fmt(rerun)})" if rerun is not None else "")
        cpu = results["sizes"][largest].get("cpu_s", {}).get(key)
        lines.append(f"| {label} | " + " | ".join(fmt(v) for v in values) + f" | {fmt(cpu)}"
                     + f" | {'< ' + fmt(limit) if limit else '–'} | "
                     + ("–" if not limit or mine is None else ("yes" if mine < limit else "**no**"))
                     + f" | {fmt(other)} | " + (ratio(other / mine) if other and mine else "–") + " |")
    return "\n".join(lines)


def plot(results: dict[str, Any], path: Path) -> None:
    """Time against catalog size (log-log) for the main operations, with matplotlib."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = sorted(results["sizes"], key=int)
    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for key in ("cold_build", "refresh_one", "warm_open", "cli_resolve", "overview", "leaderboard",
                "cross_filter", "compare_10", "resolve", "curve"):
        values = [results["sizes"][s]["timings_s"].get(key) for s in sizes]
        if all(v is not None for v in values):
            ax.plot([int(s) for s in sizes], [v * 1000 for v in values], marker="o", label=key)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("versions in the catalog")
    ax.set_ylabel("median time (ms)")
    ax.set_title("modelreg: time against catalog size (2 cores)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=sorted(SIZES), choices=sorted(SIZES))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "modelreg-bench",
                        help="where catalogs (and MLflow stores) are kept between runs")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per operation (median reported)")
    parser.add_argument("--register", type=int, default=50, help="versions registered to time registration")
    parser.add_argument("--no-pages", action="store_true", help="skip the dashboard pages")
    parser.add_argument("--mlflow", choices=["results", "run", "off"], default="results",
                        help="MLflow timings: from benchmarks/RESULTS-mlflow.json, measured now, or none")
    parser.add_argument("--mlflow-python", default="/opt/mlflow-venv/bin/python"
                        if Path("/opt/mlflow-venv/bin/python").exists() else sys.executable)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--markdown", action="store_true", help="print the results table (Markdown)")
    parser.add_argument("--plot", type=Path, help="draw time against size into this PNG (needs matplotlib)")
    parser.add_argument("--report-only", action="store_true", help="measure nothing: table/plot from --out")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.report_only:
        results = json.loads(args.out.read_text())
    else:
        results = {"system": "modelreg", "python": platform.python_version(), "cpus": os.cpu_count(),
                   "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "sizes": {}}
        largest = max(args.sizes)
        for size in sorted(args.sizes):
            print(f"-- {size:,} versions", file=sys.stderr)
            results["sizes"][str(size)] = run_size(size, args.work, args.repeats, args.register,
                                                   pages=not args.no_pages and size == largest)
            args.out.write_text(json.dumps(results, indent=2) + "\n")
        results["mlflow"] = mlflow_results(args.mlflow, args.sizes, args.work, args.mlflow_python)
        args.out.write_text(json.dumps(results, indent=2) + "\n")
    if args.markdown:
        print(markdown(results, results.get("mlflow", {})))
    if args.plot:
        plot(results, args.plot)
    if not args.markdown:
        print(json.dumps(results["sizes"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

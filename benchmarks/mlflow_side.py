"""MLflow, measured on the same workload: the "side by side" reference.

Loads :class:`benchmarks.workload.Workload` into a real MLflow tracking and
model-registry store (SQLite backend, local artifact folder, in a temporary
directory) with the ``mlflow`` package itself, then times the questions a
registry answers, the natural MLflow way, as medians of repeated runs.

Mapping of the workload onto MLflow:

- a model is an experiment and a registered model of the same name;
- a version is a run (params; headline metrics as ``<dataset>_<metric>`` keys
  such as ``test_accuracy``; curves as ``train_loss``/``val_loss``/
  ``val_accuracy`` with steps; the two lineage datasets as dataset inputs; the
  parent as a ``parent`` tag) plus a model version pointing at the run;
- the stage history is replayed as aliases ``staging`` and ``production``
  (MLflow 3's replacement for stages; an alias moves, so "production is
  exclusive" holds, though MLflow keeps no history of alias moves).

Bulk loading uses ``MlflowClient.log_batch`` (one call per run for all its
metrics and params).  Registration "the way a user would" is timed separately
over a subset (``--register``): fluent ``mlflow.start_run`` + ``log_params`` +
``log_metrics`` + dataset inputs + an artifact + ``create_model_version``.

mlflow is an optional extra and is never imported at module import time: the
environment (tracking URI, telemetry off) must be set before its first import.
It pins ``pyarrow`` differently from the project, so run this in its own
virtualenv::

    python -m venv /opt/mlflow-venv && /opt/mlflow-venv/bin/pip install mlflow pyyaml
    /opt/mlflow-venv/bin/python -m benchmarks.mlflow_side --size 2000 --out result.json

The result is a JSON dict: ``timings_s`` (medians, in seconds) and
``rates_per_s`` (versions per second: bulk load, registration one by one).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks.workload import SIZES, ModelBundle, VersionRecord, Workload

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: environment that keeps MLflow local, quiet and off the network
QUIET_ENV: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "MLFLOW_ENABLE_ASYNC_LOGGING": "false",
    "MLFLOW_ENABLE_SYSTEM_METRICS_LOGGING": "false",
    "GIT_PYTHON_REFRESH": "quiet",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
}

#: what ``--store`` keeps next to ``mlflow.db`` to recognize an already loaded workload
MARKER = "workload.json"

#: the listing a fresh process answers (every model, its production version, headline metrics)
LISTING_SCRIPT = """
import mlflow
client = mlflow.MlflowClient()
rows, token = [], None
while True:
    page = client.search_registered_models(max_results=1000, page_token=token)
    for rm in page:
        mv = client.get_model_version_by_alias(rm.name, "production")
        run = client.get_run(mv.run_id)
        rows.append((rm.name, mv.version, run.data.metrics.get("test_roc_auc")))
    token = page.token
    if not token:
        break
print(len(rows))
"""


def ms(moment: dt.datetime) -> int:
    """MLflow timestamps are integer milliseconds since the epoch."""
    return int(moment.timestamp() * 1000)


def metric_key(metric: str, dataset: str) -> str:
    """Headline metric key in MLflow: ``test_accuracy``, ``validation_roc_auc``."""
    return f"{dataset}_{metric}"


def store_env(store: Path) -> dict[str, str]:
    """Environment variables that point MLflow at the SQLite store in ``store``."""
    uri = f"sqlite:///{store.resolve() / 'mlflow.db'}"
    return {**QUIET_ENV, "MLFLOW_TRACKING_URI": uri, "MLFLOW_REGISTRY_URI": uri}


def open_client(store: Path) -> MlflowClient:
    """Set the environment, import mlflow (first time only) and return a client on ``store``."""
    os.environ.update(store_env(store))
    import mlflow

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_registry_uri(os.environ["MLFLOW_REGISTRY_URI"])
    return mlflow.MlflowClient()


# ---------------------------------------------------------------------------
# loading


def _run_payload(record: VersionRecord) -> tuple[list[Any], list[Any], dict[str, str]]:
    """Metrics, params and tags of one version as MLflow entities."""
    from mlflow.entities import Metric, Param

    end = ms(record.created_at)
    metrics = [Metric(metric_key(m, d), value, end, 0) for (m, d), value in record.summary.items()]
    for name, values in record.curves.items():
        stamps = record.curve_times()
        metrics += [Metric(name, value, ms(stamps[i]), i + 1) for i, value in enumerate(values)]
    params = [Param(k, str(v)) for k, v in record.params.items()]
    tags = {
        "mlflow.user": record.created_by,
        "mlflow.note.content": record.description,
        "framework": record.framework,
        "git_commit": record.commit,
        **record.tags,
    }
    if record.parents:
        tags["parent"] = ",".join(f"{record.model}@{p}" for p in record.parents)
    return metrics, params, tags


def _dataset_inputs(record: VersionRecord) -> list[Any]:
    from mlflow.entities import Dataset, DatasetInput, InputTag

    return [
        DatasetInput(
            Dataset(
                name=d.name,
                digest=d.sha256[:36],
                source_type="s3",
                source=json.dumps({"uri": d.uri}),
            ),
            tags=[
                InputTag("mlflow.data.context", d.role),
                InputTag("version", d.version),
            ],
        )
        for d in record.datasets
    ]


def load_bundle(client: MlflowClient, bundle: ModelBundle, artifact_root: Path) -> None:
    """Load one model: experiment, registered model, a run + model version per version, aliases."""
    model = bundle.model
    experiment_id = client.create_experiment(
        model.name,
        artifact_location=str(artifact_root / model.name),
        tags={"owner": model.owner, "task": model.task},
    )
    client.create_registered_model(model.name, tags=model.tags, description=model.description)
    for record in bundle.versions:
        metrics, params, tags = _run_payload(record)
        start = ms(record.created_at - dt.timedelta(seconds=record.duration_s))
        run = client.create_run(experiment_id, start_time=start, tags=tags, run_name=f"v{record.version}")
        run_id = run.info.run_id
        client.log_batch(run_id, metrics=metrics, params=params)
        client.log_inputs(run_id, datasets=_dataset_inputs(record))
        client.set_terminated(run_id, end_time=ms(record.created_at))
        mv = client.create_model_version(
            model.name,
            source=f"{run.info.artifact_uri}/model",
            run_id=run_id,
            description=record.description,
        )
        if int(mv.version) != record.version:
            raise RuntimeError(f"{record.ref}: MLflow numbered it {mv.version}")
    for event in bundle.events:
        client.set_registered_model_alias(model.name, event.stage, str(event.version))


def load(client: MlflowClient, workload: Workload, store: Path, progress: bool = False) -> dict[str, Any]:
    """Load the whole workload; return the count, time and rate."""
    started = time.perf_counter()
    done = 0
    for bundle in workload.bundles():
        load_bundle(client, bundle, store / "artifacts")
        done += len(bundle.versions)
        if progress:
            rate = done / (time.perf_counter() - started)
            print(
                f"loaded {done}/{workload.total} versions ({rate:.1f}/s)",
                file=sys.stderr,
                flush=True,
            )
    seconds = time.perf_counter() - started
    return {
        "versions": done,
        "seconds": round(seconds, 2),
        "versions_per_s": round(done / seconds, 1),
    }


# ---------------------------------------------------------------------------
# registration the way a user does it


def register_like_a_user(client: MlflowClient, bundle: ModelBundle, name: str, stepwise: bool) -> dict[str, Any]:
    """Register ``bundle``'s versions again under model ``name``, one by one, with the fluent API.

    Each version: ``start_run``, ``log_params``, ``log_metrics`` (headline),
    the curves (one ``log_batch``, or one ``log_metrics`` per step as a
    training loop does when ``stepwise``), two dataset inputs, the parent tag,
    a small artifact (``log_dict``), then ``create_model_version``.
    """
    import mlflow
    from mlflow.entities import Metric

    experiment_id = client.create_experiment(name, artifact_location=str(Path(tempfile.mkdtemp()) / name))
    client.create_registered_model(name)
    started = time.perf_counter()
    for record in bundle.versions:
        with mlflow.start_run(experiment_id=experiment_id, run_name=f"v{record.version}") as run:
            run_id = run.info.run_id
            mlflow.log_params(record.params)
            mlflow.log_metrics({metric_key(m, d): v for (m, d), v in record.summary.items()})
            if stepwise:
                for i in range(len(record.curves["val_loss"])):
                    mlflow.log_metrics(
                        {k: values[i] for k, values in record.curves.items()},
                        step=i + 1,
                    )
            else:
                now = ms(dt.datetime.now(dt.UTC))
                curve = [Metric(k, v, now, i + 1) for k, values in record.curves.items() for i, v in enumerate(values)]
                client.log_batch(run_id, metrics=curve)
            client.log_inputs(run_id, datasets=_dataset_inputs(record))
            if record.parents:
                mlflow.set_tag("parent", f"{record.model}@{record.parents[0]}")
            mlflow.log_dict({"params": record.params}, "model/model.json")
        client.create_model_version(name, source=f"{run.info.artifact_uri}/model", run_id=run_id)
    seconds = time.perf_counter() - started
    return {
        "versions": len(bundle.versions),
        "seconds": round(seconds, 3),
        "per_s": round(len(bundle.versions) / seconds, 1),
    }


# ---------------------------------------------------------------------------
# the timed questions


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time of ``fn`` over ``repeats`` runs after one untimed warm-up; and its last result."""
    result = fn()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples), result


def _all_registered_models(client: MlflowClient) -> list[Any]:
    models, token = [], None
    while True:
        page = client.search_registered_models(max_results=1000, page_token=token)
        models += list(page)
        token = page.token
        if not token:
            return models


def measure(client: MlflowClient, workload: Workload, repeats: int) -> tuple[dict[str, float], dict[str, Any]]:
    """Time each question; return (median seconds by operation, answers to check against the workload)."""
    import mlflow

    q = workload.queries()
    board_key = metric_key(q.leaderboard_metric, q.leaderboard_dataset)
    compare_runs = [client.get_model_version(q.compare_model, str(v)).run_id for v in q.compare_versions]
    curve_run = client.get_model_version(q.curve_model, str(q.curve_version)).run_id
    headline_keys = [metric_key(m, "test") for m in ("accuracy", "roc_auc", "f1", "log_loss")]

    def resolve() -> int:
        return int(client.get_model_version_by_alias(q.resolve_model, q.resolve_stage).version)

    def listing() -> dict[str, int]:
        rows = {}
        for rm in _all_registered_models(client):
            mv = client.get_model_version_by_alias(rm.name, "production")
            run = client.get_run(mv.run_id)
            rows[rm.name] = int(mv.version)
            _ = {k: run.data.metrics.get(k) for k in headline_keys}
        return rows

    def leaderboard() -> int:
        experiment = client.get_experiment_by_name(q.leaderboard_model)
        runs = client.search_runs(
            [experiment.experiment_id],
            order_by=[f"metrics.{board_key} DESC"],
            max_results=1000,
        )
        return int(runs[0].info.run_name.lstrip("v"))

    def leaderboard_via_versions() -> int:
        versions = client.search_model_versions(f"name = '{q.leaderboard_model}'", max_results=1000)
        scored = [(client.get_run(mv.run_id).data.metrics[board_key], int(mv.version)) for mv in versions]
        return max(scored)[1]

    def compare() -> int:
        return len([client.get_run(run_id).data.metrics for run_id in compare_runs])

    def compare_with_lookup() -> int:
        runs = [client.get_run(client.get_model_version(q.compare_model, str(v)).run_id) for v in q.compare_versions]
        return len(runs)

    def cross_filter() -> int:
        key = metric_key(q.filter_metric, q.filter_dataset)
        found = mlflow.search_runs(
            search_all_experiments=True,
            filter_string=f"metrics.{key} > {q.filter_min} AND params.{q.filter_param} = '{q.filter_value}'",
        )
        return len(found)

    def curve() -> int:
        return len(client.get_metric_history(curve_run, q.curve_metric))

    timings: dict[str, float] = {}
    answers: dict[str, Any] = {}
    for name, fn in (
        ("resolve", resolve),
        ("listing", listing),
        ("leaderboard", leaderboard),
        ("leaderboard_via_versions", leaderboard_via_versions),
        ("compare_10", compare),
        ("compare_10_with_version_lookup", compare_with_lookup),
        ("cross_filter", cross_filter),
        ("curve", curve),
    ):
        timings[name], answers[name] = median_time(fn, repeats)
    return timings, answers


def fresh_process_listing(store: Path, repeats: int = 3) -> tuple[float, int]:
    """Median wall time of a new ``python -c`` that imports mlflow and answers the listing."""
    env = {**os.environ, **store_env(store)}
    samples, count = [], -1
    for _ in range(repeats):
        started = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", LISTING_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=store,
        )
        samples.append(time.perf_counter() - started)
        count = int(out.stdout.strip().splitlines()[-1])
    return statistics.median(samples), count


def check(workload: Workload, answers: dict[str, Any], listed: int) -> dict[str, bool]:
    """Did MLflow answer what the workload says is true?"""
    truth = workload.expected()
    return {
        "resolve": answers["resolve"] == truth["resolve"],
        "listing": answers["listing"] == truth["production"],
        "leaderboard": answers["leaderboard"] == answers["leaderboard_via_versions"] == truth["leaderboard_top"],
        "cross_filter": answers["cross_filter"] == truth["filter_count"],
        "curve": answers["curve"] == len(next(iter(workload.versions())).curves["val_loss"]),
        "fresh_process_listing": listed == workload.n_models,
    }


def run(
    workload: Workload,
    store: Path | None = None,
    repeats: int = 7,
    register: int = 50,
    progress: bool = False,
) -> dict[str, Any]:
    """Load (unless ``store`` already holds this workload), time everything, return the JSON-able result."""
    temporary = store is None
    store = Path(tempfile.mkdtemp(prefix="mlflow-bench-")) if store is None else Path(store)
    store.mkdir(parents=True, exist_ok=True)
    identity = {
        "n_models": workload.n_models,
        "n_versions": workload.n_versions,
        "seed": workload.seed,
    }
    marker = store / MARKER
    load_before = os.getloadavg()
    reuse = marker.exists() and json.loads(marker.read_text()) == identity
    if not reuse and (store / "mlflow.db").exists():
        raise FileExistsError(f"{store} holds another MLflow store; use an empty folder")
    try:
        client = open_client(store)
        import mlflow

        if reuse:
            loaded: dict[str, Any] = {"reused": True}
        else:
            loaded = load(client, workload, store, progress)
            marker.write_text(json.dumps(identity))
        timings, answers = measure(client, workload, repeats)
        timings["fresh_process_listing"], listed = fresh_process_listing(store)

        # last, so its runs never show up in the queries above
        registration: dict[str, Any] = {}
        rates: dict[str, float] = {}
        if "versions_per_s" in loaded:
            rates["load"] = loaded["versions_per_s"]
        if register > 0:
            bundle = workload.bundle(0)
            subset = ModelBundle(bundle.model, bundle.versions[:register], [])
            stamp = f"{time.time_ns():x}"
            registration["batch_curves"] = register_like_a_user(client, subset, f"bench-register-{stamp}", False)
            registration["stepwise_curves"] = register_like_a_user(client, subset, f"bench-stepwise-{stamp}", True)
            for name in (f"bench-register-{stamp}", f"bench-stepwise-{stamp}"):
                client.delete_registered_model(name)
                client.delete_experiment(client.get_experiment_by_name(name).experiment_id)
            rates["register"] = registration["batch_curves"]["per_s"]
            rates["register_stepwise"] = registration["stepwise_curves"]["per_s"]

        return {
            "system": "mlflow",
            "mlflow_version": mlflow.__version__,
            "backend": "sqlite",
            "versions": workload.total,
            "models": workload.n_models,
            "versions_per_model": workload.n_versions,
            "seed": workload.seed,
            "repeats": repeats,
            "load": loaded,
            "registration": registration,
            "timings_s": {k: round(v, 6) for k, v in timings.items()},
            "rates_per_s": rates,
            "checks": check(workload, answers, listed),
            # other work on the machine skews timings: record how busy it was
            "load_average": {
                "before": [round(x, 2) for x in load_before],
                "after": [round(x, 2) for x in os.getloadavg()],
            },
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "measured_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
    finally:
        if temporary:
            shutil.rmtree(store, ignore_errors=True)


def merge_result(path: Path, result: dict[str, Any]) -> None:
    """Keep one result per workload size in ``path`` (e.g. benchmarks/RESULTS-mlflow.json)."""
    merged = json.loads(path.read_text()) if path.exists() else {}
    merged[str(result["versions"])] = result
    path.write_text(json.dumps(dict(sorted(merged.items(), key=lambda kv: int(kv[0]))), indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mlflow_side",
        description="Load the benchmark workload into MLflow and time it.",
    )
    parser.add_argument("--size", type=int, choices=sorted(SIZES), help="named size (total versions)")
    parser.add_argument("--models", type=int, help="number of models (default 10)")
    parser.add_argument("--versions", type=int, help="versions per model (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--repeats",
        type=int,
        default=7,
        help="timed runs per question (median reported)",
    )
    parser.add_argument(
        "--register",
        type=int,
        default=50,
        help="versions registered one by one to time it (0: skip)",
    )
    parser.add_argument(
        "--store",
        type=Path,
        help="keep the MLflow store here and reuse it if it holds this workload",
    )
    parser.add_argument("--out", type=Path, help="also write the JSON result to this file")
    parser.add_argument(
        "--merge-into", type=Path, help="also store the result in this JSON file under the key of its size"
    )
    parser.add_argument("--quiet", action="store_true", help="no loading progress on stderr")
    args = parser.parse_args(argv)
    if args.size is not None and (args.models or args.versions):
        parser.error("give --size or --models/--versions, not both")
    models, versions = SIZES[args.size] if args.size else (args.models or 10, args.versions or 20)
    result = run(
        Workload(models, versions, args.seed),
        args.store,
        args.repeats,
        args.register,
        not args.quiet,
    )
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text + "\n")
    if args.merge_into:
        merge_result(args.merge_into, result)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

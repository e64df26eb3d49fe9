"""A deterministic registry workload, and a fast writer of it as catalog files.

The workload is *logical* data first (plain dataclasses: models, versions with
params, headline metrics, training curves, lineage, parents, and a stage
history of promote events), so that every system under comparison (the
catalog here, MLflow in :mod:`benchmarks.mlflow_side`) is loaded with exactly
the same facts.

:func:`write_catalog` then writes those records *directly* in the catalog
format of SPEC section 1 (``registry.yaml``, ``model.yaml``, ``manifest.yaml``,
Parquet metric tables, event files) without going through ``registry_core``:
it has to be fast (10,000 versions in well under a minute), and independent,
so that a benchmark of the core does not depend on the core's own writer.

Determinism: every version draws from its own ``random.Random`` seeded with a
string built from ``(seed, model index, version)``.  A version's data does not
depend on how many models or versions the workload has, so the 200-version
workload is the first versions of the first models of the bigger ones
(except the stage history, which designates a production version near the
end of each model).

Sizes (``SIZES``): 200 = 10 models x 20 versions; 2,000 = 20 models x 100
versions (deep histories, as a real team accumulates: the per-model queries
such as a leaderboard scan 100 versions; the listing spans 20 models);
10,000 = 100 models x 100 versions.

Usage::

    python -m benchmarks.workload /tmp/cat --size 2000
    python -m benchmarks.workload /tmp/cat --models 100 --versions 100 --jobs 2
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import math
import os
import random
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

Dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

#: named sizes: total versions -> (models, versions per model)
SIZES: dict[int, tuple[int, int]] = {200: (10, 20), 2000: (20, 100), 10000: (100, 100)}

#: the six headline metrics, each measured on both datasets (12 values per version)
HEADLINE_METRICS: tuple[str, ...] = (
    "accuracy",
    "roc_auc",
    "f1",
    "precision",
    "recall",
    "log_loss",
)
HEADLINE_DATASETS: tuple[str, ...] = ("validation", "test")
#: training curves: metric name -> dataset it is measured on
CURVES: dict[str, str] = {
    "train_loss": "train",
    "val_loss": "validation",
    "val_accuracy": "validation",
}
CURVE_STEPS = 50

#: metric directions written to registry.yaml (the same as the spec's name-based defaults)
METRIC_GOALS: dict[str, str] = {
    "accuracy": "max",
    "roc_auc": "max",
    "f1": "max",
    "precision": "max",
    "recall": "max",
    "log_loss": "min",
}

#: Arrow schema of a metric table (SPEC 1.5)
METRIC_SCHEMA = pa.schema(
    [
        pa.field("metric", pa.string(), nullable=False),
        pa.field("value", pa.float64(), nullable=False),
        pa.field("dataset", pa.string()),
        pa.field("step", pa.int64()),
        pa.field("timestamp", pa.timestamp("us", tz="UTC")),
        pa.field("slice", pa.string()),
    ]
)

BASE_TIME = dt.datetime(2025, 1, 6, 9, 0, tzinfo=dt.UTC)
VERSION_INTERVAL = dt.timedelta(hours=8)

_DOMAINS = (
    "fraud",
    "churn",
    "credit-risk",
    "ltv",
    "demand",
    "pricing",
    "ranking",
    "search",
    "recs",
    "spam",
    "toxicity",
    "intent",
    "sentiment",
    "ocr",
    "eta",
    "anomaly",
    "default",
    "upsell",
    "retention",
    "lead",
)
_KINDS = ("detector", "classifier", "scorer", "ranker", "model")
_SCIENTISTS = (
    "bob@example.com",
    "carol@example.com",
    "dave@example.com",
    "erin@example.com",
)
LEAD = "alice@example.com"
_TEAMS = ("risk", "growth", "search", "trust", "ops")
_FRAMEWORKS = ("xgboost 2.1.3", "lightgbm 4.5.0", "scikit-learn 1.5.2", "pytorch 2.5.1")
_OPTIMIZERS = ("adam", "sgd", "adamw")


# ---------------------------------------------------------------------------
# logical records


@dataclass(frozen=True)
class ModelRecord:
    """One registered model (what ``model.yaml`` says)."""

    index: int
    name: str
    description: str
    owner: str
    task: str
    tags: dict[str, str]


@dataclass(frozen=True)
class DatasetRecord:
    """One lineage dataset of a version."""

    name: str
    version: str
    role: str
    uri: str
    sha256: str


@dataclass(frozen=True)
class VersionRecord:
    """Everything one model version carries, system-neutral."""

    model: str
    version: int
    created_at: dt.datetime
    created_by: str
    description: str
    framework: str
    task: str
    params: dict[str, float | int | str]
    #: headline values: (metric, dataset) -> value
    summary: dict[tuple[str, str], float]
    #: training curves: metric -> values at steps 1..CURVE_STEPS (dataset from ``CURVES``)
    curves: dict[str, list[float]]
    datasets: tuple[DatasetRecord, ...]
    #: parent versions of the same model (warm starts)
    parents: tuple[int, ...]
    run_id: str
    duration_s: int
    commit: str
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"

    def headline(self, metric: str, dataset: str) -> float:
        return self.summary[(metric, dataset)]

    def curve_times(self) -> list[dt.datetime]:
        """When each curve step was measured: spread over the run, which ends at ``created_at``."""
        start = self.created_at - dt.timedelta(seconds=self.duration_s)
        return [start + dt.timedelta(seconds=self.duration_s * s / CURVE_STEPS) for s in range(1, CURVE_STEPS + 1)]


@dataclass(frozen=True)
class EventRecord:
    """One lifecycle event (SPEC 1.6); only ``promote`` is generated."""

    id: str
    at: dt.datetime
    by: str
    action: str
    model: str
    version: int
    stage: str
    reason: str


@dataclass(frozen=True)
class Queries:
    """The targets of the benchmark queries, so both sides ask the very same questions."""

    resolve_model: str
    resolve_stage: str
    leaderboard_model: str
    leaderboard_metric: str
    leaderboard_dataset: str
    compare_model: str
    compare_versions: tuple[int, ...]
    filter_metric: str
    filter_dataset: str
    filter_min: float
    filter_param: str
    filter_value: str
    curve_model: str
    curve_version: int
    curve_metric: str


# ---------------------------------------------------------------------------
# generation


def model_name(index: int) -> str:
    """Realistic, unique, spec-valid names: ``fraud-detector``, ``churn-classifier``, ..."""
    base = f"{_DOMAINS[index % len(_DOMAINS)]}-{_KINDS[(index // len(_DOMAINS)) % len(_KINDS)]}"
    cycle = index // (len(_DOMAINS) * len(_KINDS))
    return base if cycle == 0 else f"{base}-{cycle + 1}"


def make_model(index: int, seed: int = 0) -> ModelRecord:
    rng = random.Random(f"{seed}:model:{index}")
    name = model_name(index)
    domain = name.split("-")[0]
    return ModelRecord(
        index=index,
        name=name,
        description=f"{domain.capitalize()} model trained nightly from the {domain} feature store.",
        owner=rng.choice(_SCIENTISTS),
        task="binary-classification",
        tags={"team": rng.choice(_TEAMS), "tier": rng.choice(("1", "2", "3"))},
    )


def _sha(*parts: object) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def _clip(value: float, low: float = 0.0, high: float = 1.0) -> float:
    return min(high, max(low, value))


def make_version(model: ModelRecord, version: int, seed: int = 0) -> VersionRecord:
    """Generate one version; depends only on (seed, model index, version)."""
    rng = random.Random(f"{seed}:version:{model.index}:{version}")
    base_rng = random.Random(f"{seed}:quality:{model.index}")
    base = base_rng.uniform(0.78, 0.88)

    optimizer = rng.choice(_OPTIMIZERS)
    params: dict[str, float | int | str] = {
        "learning_rate": round(10 ** rng.uniform(-3, -0.7), 5),
        "n_estimators": rng.choice((100, 200, 300, 400, 600, 800)),
        "max_depth": rng.randint(3, 12),
        "min_child_weight": round(rng.uniform(0.5, 10), 3),
        "subsample": round(rng.uniform(0.5, 1.0), 3),
        "colsample_bytree": round(rng.uniform(0.4, 1.0), 3),
        "reg_lambda": round(10 ** rng.uniform(-2, 1), 4),
        "optimizer": optimizer,
        "batch_size": rng.choice((64, 128, 256, 512)),
        "class_weight": rng.choice(("balanced", "none")),
        "seed": rng.randint(0, 2**31 - 1),
    }

    # quality: a per-model base, a slow trend over versions, a small param effect, noise
    trend = 0.07 * (1 - math.exp(-version / 30))
    effect = {"adam": 0.01, "adamw": 0.008, "sgd": -0.01}[optimizer] - 0.002 * abs(int(params["max_depth"]) - 7)
    quality = base + trend + effect + rng.gauss(0, 0.015)
    summary: dict[tuple[str, str], float] = {}
    for dataset in HEADLINE_DATASETS:
        q = quality + (0.004 if dataset == "validation" else -0.004) + rng.gauss(0, 0.004)
        accuracy = _clip(q, 0.5, 0.995)
        precision = _clip(q - 0.04 + rng.gauss(0, 0.01), 0.3, 0.995)
        recall = _clip(q - 0.06 + rng.gauss(0, 0.015), 0.3, 0.995)
        summary[("accuracy", dataset)] = round(accuracy, 6)
        summary[("roc_auc", dataset)] = round(_clip(q + 0.05 + rng.gauss(0, 0.005), 0.5, 0.999), 6)
        summary[("f1", dataset)] = round(2 * precision * recall / (precision + recall), 6)
        summary[("precision", dataset)] = round(precision, 6)
        summary[("recall", dataset)] = round(recall, 6)
        summary[("log_loss", dataset)] = round(-math.log(accuracy) * 1.3 + rng.uniform(0, 0.02), 6)

    final_val = summary[("log_loss", "validation")]
    curves: dict[str, list[float]] = {
        "train_loss": [],
        "val_loss": [],
        "val_accuracy": [],
    }
    for step in range(1, CURVE_STEPS + 1):
        decay = math.exp(-step / 12)
        overfit = 0.0004 * max(0, step - 35) ** 1.5
        curves["train_loss"].append(round(final_val * 0.85 + 0.6 * decay + rng.gauss(0, 0.004), 6))
        curves["val_loss"].append(round(final_val + 0.55 * decay + overfit + rng.gauss(0, 0.006), 6))
        acc = summary[("accuracy", "validation")] - 0.25 * decay + rng.gauss(0, 0.003)
        curves["val_accuracy"].append(round(_clip(acc, 0.0, 1.0), 6))

    domain = model.name.split("-")[0]
    month = BASE_TIME + VERSION_INTERVAL * ((version - 1) // 10 * 10)
    data_version = f"{month:%Y-%m-%d}"
    datasets = (
        DatasetRecord(
            name=f"{domain}-events",
            version=data_version,
            role="train",
            uri=f"s3://acme-data/{domain}-events/{data_version}/train.parquet",
            sha256=_sha(seed, domain, data_version, "train"),
        ),
        DatasetRecord(
            name=f"{domain}-events",
            version=f"{data_version}-holdout",
            role="test",
            uri=f"s3://acme-data/{domain}-events/{data_version}/holdout.parquet",
            sha256=_sha(seed, domain, data_version, "test"),
        ),
    )
    parents = (version - 1,) if version > 1 and rng.random() < 0.3 else ()
    created_at = (
        BASE_TIME
        + dt.timedelta(minutes=37 * model.index)
        + VERSION_INTERVAL * (version - 1)
        + dt.timedelta(seconds=rng.randint(0, 3 * 3600), microseconds=rng.randint(0, 999_999))
    )
    framework = _FRAMEWORKS[model.index % len(_FRAMEWORKS)]
    return VersionRecord(
        model=model.name,
        version=version,
        created_at=created_at,
        created_by=rng.choice(_SCIENTISTS),
        description=f"{optimizer} with depth {params['max_depth']}, {params['n_estimators']} rounds"
        + (f", warm-started from v{parents[0]}" if parents else ""),
        framework=framework,
        task=model.task,
        params=params,
        summary=summary,
        curves=curves,
        datasets=datasets,
        parents=parents,
        run_id=_sha(seed, "run", model.index, version)[:32],
        duration_s=rng.randint(300, 7200),
        commit=_sha(seed, "commit", model.index, version)[:7],
        tags={
            "team": model.tags["team"],
            "trigger": rng.choice(("ci", "manual", "schedule")),
        },
    )


def event_id(at: dt.datetime, rng: random.Random) -> str:
    """SPEC 1.6 id: UTC time with microseconds, a dash, 8 hex digits (ids sort in time order)."""
    return f"{at.astimezone(dt.UTC):%Y%m%dT%H%M%S.%fZ}-{rng.getrandbits(32):08x}"


def make_events(model: ModelRecord, versions: list[VersionRecord], seed: int = 0) -> list[EventRecord]:
    """The stage history of one model, in id (= time) order.

    About 30% of versions are promoted to staging a few hours after they are
    registered; about 40% of those then go to production a day later
    (production is exclusive: on replay each promotion archives the holder).
    One of the three versions before the newest (which one depends on the
    model) is always taken through staging to production, so every model has a
    production version, and usually not its newest one.
    """
    events: list[EventRecord] = []
    designated = max(1, len(versions) - 1 - model.index % 3)
    for record in versions:
        rng = random.Random(f"{seed}:stage:{model.index}:{record.version}")
        staged = rng.random() < 0.3 or record.version == designated
        produced = staged and (rng.random() < 0.4 or record.version == designated)
        if not staged:
            continue
        at = record.created_at + dt.timedelta(
            hours=3, seconds=rng.randint(0, 3600), microseconds=rng.randint(0, 999_999)
        )
        events.append(
            EventRecord(
                event_id(at, rng),
                at,
                record.created_by,
                "promote",
                model.name,
                record.version,
                "staging",
                "validation metrics look good",
            )
        )
        if produced:
            at = record.created_at + dt.timedelta(
                hours=30,
                seconds=rng.randint(0, 3600),
                microseconds=rng.randint(0, 999_999),
            )
            events.append(
                EventRecord(
                    event_id(at, rng),
                    at,
                    LEAD,
                    "promote",
                    model.name,
                    record.version,
                    "production",
                    f"beats the holder on test roc_auc ({record.headline('roc_auc', 'test'):.4f})",
                )
            )
    events.sort(key=lambda e: e.id)
    return events


def replay(events: list[EventRecord]) -> dict[int, str]:
    """Current stage of each promoted version of one model (production exclusive, loser archived)."""
    stages: dict[int, str] = {}
    for event in sorted(events, key=lambda e: e.id):
        if event.stage == "production":
            for version, stage in stages.items():
                if stage == "production" and version != event.version:
                    stages[version] = "archived"
        stages[event.version] = event.stage
    return stages


@dataclass(frozen=True)
class ModelBundle:
    """One model with all its versions and events: the unit both loaders work on."""

    model: ModelRecord
    versions: list[VersionRecord]
    events: list[EventRecord]

    def stages(self) -> dict[int, str]:
        return replay(self.events)

    def holder(self, stage: str) -> int | None:
        """Version in ``stage`` now (the newest one for a non-exclusive stage)."""
        found = [v for v, s in self.stages().items() if s == stage]
        return max(found) if found else None


@dataclass(frozen=True)
class Workload:
    """``n_models`` x ``n_versions`` versions generated from ``seed``."""

    n_models: int
    n_versions: int
    seed: int = 0

    @classmethod
    def of_size(cls, total: int, seed: int = 0) -> Workload:
        if total not in SIZES:
            raise ValueError(f"unknown size {total}; known: {sorted(SIZES)}")
        return cls(*SIZES[total], seed=seed)

    @property
    def total(self) -> int:
        return self.n_models * self.n_versions

    def model(self, index: int) -> ModelRecord:
        return make_model(index, self.seed)

    def models(self) -> Iterator[ModelRecord]:
        for index in range(self.n_models):
            yield self.model(index)

    def bundle(self, index: int) -> ModelBundle:
        model = self.model(index)
        versions = [make_version(model, v, self.seed) for v in range(1, self.n_versions + 1)]
        return ModelBundle(model, versions, make_events(model, versions, self.seed))

    def bundles(self) -> Iterator[ModelBundle]:
        for index in range(self.n_models):
            yield self.bundle(index)

    def versions(self) -> Iterator[VersionRecord]:
        """Every version record, model by model, versions in order."""
        for bundle in self.bundles():
            yield from bundle.versions

    def events(self) -> Iterator[EventRecord]:
        for bundle in self.bundles():
            yield from bundle.events

    def queries(self) -> Queries:
        """Benchmark targets: the middle model for per-model queries, its 10 newest versions to compare."""
        middle = model_name(self.n_models // 2)
        newest = self.n_versions
        return Queries(
            resolve_model=middle,
            resolve_stage="production",
            leaderboard_model=middle,
            leaderboard_metric="roc_auc",
            leaderboard_dataset="test",
            compare_model=middle,
            compare_versions=tuple(range(max(1, newest - 9), newest + 1)),
            filter_metric="accuracy",
            filter_dataset="test",
            filter_min=0.9,
            filter_param="optimizer",
            filter_value="adam",
            curve_model=middle,
            curve_version=newest,
            curve_metric="val_loss",
        )

    def expected(self) -> dict[str, Any]:
        """Ground-truth answers to :meth:`queries`, to check each side's results."""
        q = self.queries()
        bundle = self.bundle(self.n_models // 2)
        board = sorted(
            bundle.versions,
            key=lambda r: -r.headline(q.leaderboard_metric, q.leaderboard_dataset),
        )
        matches = [
            r.ref
            for r in self.versions()
            if r.headline(q.filter_metric, q.filter_dataset) > q.filter_min
            and r.params[q.filter_param] == q.filter_value
        ]
        return {
            "resolve": bundle.holder(q.resolve_stage),
            "leaderboard_top": board[0].version,
            "filter_count": len(matches),
            "production": {b.model.name: b.holder("production") for b in self.bundles()},
        }


# ---------------------------------------------------------------------------
# writing the catalog


def iso(moment: dt.datetime) -> str:
    """UTC ISO 8601 with a Z (microseconds only when present), as registry_core writes times."""
    moment = moment.astimezone(dt.UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += f".{moment.microsecond:06d}"
    return text + "Z"


def _dump(tree: dict[str, Any]) -> bytes:
    return yaml.dump(tree, Dumper=Dumper, sort_keys=False, allow_unicode=True).encode()


REGISTRY_YAML: dict[str, Any] = {
    "format": 1,
    "name": "Benchmark workload",
    "stages": [
        {"name": "staging"},
        {"name": "production", "exclusive": True},
        {"name": "archived"},
    ],
    "metrics": {name: {"goal": goal} for name, goal in METRIC_GOALS.items()},
}


def manifest(record: VersionRecord, artifacts: list[dict[str, Any]]) -> dict[str, Any]:
    """The SPEC 1.4 manifest of a version."""
    doc: dict[str, Any] = {
        "model": record.model,
        "version": record.version,
        "created_at": iso(record.created_at),
        "created_by": record.created_by,
        "description": record.description,
        "framework": record.framework,
        "task": record.task,
        "params": dict(record.params),
    }
    if artifacts:
        doc["artifacts"] = artifacts
    doc["lineage"] = {
        "datasets": [
            {
                "name": d.name,
                "version": d.version,
                "role": d.role,
                "uri": d.uri,
                "sha256": d.sha256,
            }
            for d in record.datasets
        ],
        "parents": [f"{record.model}@{p}" for p in record.parents],
        "run": {
            "id": record.run_id,
            "started_at": iso(record.created_at - dt.timedelta(seconds=record.duration_s)),
            "duration_s": record.duration_s,
            "hardware": "8 vCPU, 32 GiB",
        },
        "code": {
            "repo": "git@github.com:acme/models.git",
            "commit": record.commit,
            "entrypoint": "train.py",
        },
    }
    doc["environment"] = {
        "python": "3.11.7",
        "requirements": [record.framework.replace(" ", "==")],
    }
    doc["tags"] = dict(record.tags)
    return doc


def summary_table(record: VersionRecord) -> pa.Table:
    """Headline rows (step null) of one version."""
    keys = list(record.summary)
    n = len(keys)
    return pa.Table.from_pydict(
        {
            "metric": [m for m, _ in keys],
            "value": [record.summary[k] for k in keys],
            "dataset": [d for _, d in keys],
            "step": [None] * n,
            "timestamp": [None] * n,
            "slice": [None] * n,
        },
        schema=METRIC_SCHEMA,
    )


def curves_table(record: VersionRecord) -> pa.Table:
    """Training curves of one version: one row per (metric, step), timestamped over the run."""
    times = record.curve_times()
    metric: list[str] = []
    value: list[float] = []
    dataset: list[str] = []
    step: list[int] = []
    stamp: list[dt.datetime] = []
    for name, values in record.curves.items():
        metric += [name] * len(values)
        value += values
        dataset += [CURVES[name]] * len(values)
        step += list(range(1, len(values) + 1))
        stamp += times[: len(values)]
    return pa.Table.from_pydict(
        {
            "metric": metric,
            "value": value,
            "dataset": dataset,
            "step": step,
            "timestamp": stamp,
            "slice": [None] * len(metric),
        },
        schema=METRIC_SCHEMA,
    )


def write_model(root: Path, bundle: ModelBundle, artifacts: bool = True) -> int:
    """Write one model's model.yaml, versions and events under ``root/models``; return files written."""
    model = bundle.model
    folder = root / "models" / model.name
    (folder / "events").mkdir(parents=True, exist_ok=True)
    files = 0
    (folder / "model.yaml").write_bytes(
        _dump(
            {
                "name": model.name,
                "description": model.description,
                "owner": model.owner,
                "task": model.task,
                "tags": dict(model.tags),
            }
        )
    )
    files += 1
    for record in bundle.versions:
        vdir = folder / "versions" / str(record.version)
        (vdir / "metrics").mkdir(parents=True, exist_ok=True)
        pq.write_table(summary_table(record), vdir / "metrics" / "summary.parquet")
        pq.write_table(curves_table(record), vdir / "metrics" / "curves.parquet")
        files += 2
        listed: list[dict[str, Any]] = []
        if artifacts:
            (vdir / "artifacts").mkdir(exist_ok=True)
            blob = json.dumps(
                {
                    "model": record.model,
                    "version": record.version,
                    "params": record.params,
                },
                sort_keys=True,
            ).encode()
            (vdir / "artifacts" / "model.json").write_bytes(blob)
            listed.append(
                {
                    "path": "artifacts/model.json",
                    "sha256": hashlib.sha256(blob).hexdigest(),
                    "size": len(blob),
                }
            )
            files += 1
        # the manifest last: a version exists iff its manifest exists
        (vdir / "manifest.yaml").write_bytes(_dump(manifest(record, listed)))
        files += 1
    for event in bundle.events:
        doc = {
            "id": event.id,
            "at": iso(event.at),
            "by": event.by,
            "action": event.action,
            "version": event.version,
            "stage": event.stage,
            "reason": event.reason,
        }
        (folder / "events" / f"{event.id}.yaml").write_bytes(_dump(doc))
        files += 1
    return files


def _write_model_job(args: tuple[str, int, int, int, int, bool]) -> int:
    root, n_models, n_versions, seed, index, artifacts = args
    return write_model(Path(root), Workload(n_models, n_versions, seed).bundle(index), artifacts)


def write_catalog(
    root: Path,
    workload: Workload,
    *,
    artifacts: bool = True,
    jobs: int = 1,
    force: bool = False,
) -> dict[str, Any]:
    """Write ``workload`` as a catalog at ``root``; return counts and the time it took.

    ``jobs`` > 1 writes models in parallel processes (each regenerates its
    models from the seed, so nothing but indexes crosses processes).
    """
    started = time.perf_counter()
    root = Path(root)
    if (root / "models").exists() and any((root / "models").iterdir()):
        if not force:
            raise FileExistsError(f"{root / 'models'} is not empty (use force=True / --force to replace it)")
        shutil.rmtree(root / "models")
        shutil.rmtree(root / ".modelreg", ignore_errors=True)
    (root / "models").mkdir(parents=True, exist_ok=True)
    (root / "registry.yaml").write_bytes(_dump(REGISTRY_YAML))
    (root / ".gitignore").write_text(".modelreg/\n")
    tasks = [
        (str(root), workload.n_models, workload.n_versions, workload.seed, i, artifacts)
        for i in range(workload.n_models)
    ]
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            files = sum(pool.map(_write_model_job, tasks, chunksize=max(1, len(tasks) // (jobs * 4))))
    else:
        files = sum(map(_write_model_job, tasks))
    return {
        "root": str(root),
        "models": workload.n_models,
        "versions_per_model": workload.n_versions,
        "versions": workload.total,
        "seed": workload.seed,
        "files": files + 2,
        "seconds": round(time.perf_counter() - started, 3),
    }


def generate(
    root: Path,
    n_models: int,
    n_versions: int,
    seed: int = 0,
    *,
    artifacts: bool = True,
    jobs: int = 1,
    force: bool = False,
) -> dict[str, Any]:
    """Generate the ``n_models`` x ``n_versions`` workload and write it as a catalog at ``root``."""
    return write_catalog(
        Path(root),
        Workload(n_models, n_versions, seed),
        artifacts=artifacts,
        jobs=jobs,
        force=force,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.workload",
        description="Write a deterministic benchmark workload as a catalog.",
    )
    parser.add_argument("out", type=Path, help="catalog folder to create")
    parser.add_argument("--size", type=int, choices=sorted(SIZES), help="named size (total versions)")
    parser.add_argument("--models", type=int, help="number of models (default 10)")
    parser.add_argument("--versions", type=int, help="versions per model (default 20)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--jobs",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="parallel writer processes",
    )
    parser.add_argument(
        "--no-artifacts",
        action="store_true",
        help="do not write a small artifact per version",
    )
    parser.add_argument("--force", action="store_true", help="replace an existing models/ folder")
    args = parser.parse_args(argv)
    if args.size is not None and (args.models or args.versions):
        parser.error("give --size or --models/--versions, not both")
    models, versions = SIZES[args.size] if args.size else (args.models or 10, args.versions or 20)
    if models < 1 or versions < 1:
        parser.error("--models and --versions must be positive")
    try:
        stats = generate(
            args.out,
            models,
            versions,
            args.seed,
            artifacts=not args.no_artifacts,
            jobs=args.jobs,
            force=args.force,
        )
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A catalog written the way another tool would: plain pyarrow and PyYAML, nothing of modelreg's.

Used by ``benchmarks.scale`` for catalogs of 1,000 to 100,000 versions.  Each version is a manifest
and ONE metric table (12 summary rows and a 20-step loss curve) written by ``pa.table`` without a
schema (so the types are what pyarrow infers: no ``timestamp`` or ``slice`` column); about 0.7
event files per version (staging, then production for some), so ~2.7 files per version like the
issue's reference catalog.  Deterministic for a seed; written by one process (fast: ~1 ms a version).

    python -m benchmarks.plain OUT --versions 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

REGISTRY = """format: 1
name: plain benchmark catalog
stages:
  - name: staging
  - name: production
    exclusive: true
  - name: archived
"""
METRICS = ["accuracy", "roc_auc", "f1", "precision", "recall", "log_loss"]
DATASETS = ["validation", "test"]
OPTIMIZERS = ["adam", "sgd", "adamw"]
START = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def shape(versions: int) -> tuple[int, int]:
    """(models, versions per model) for a catalog size: breadth and depth both grow."""
    return {1_000: (10, 100), 10_000: (100, 100), 100_000: (200, 500)}.get(versions, (max(1, versions // 100), 100))


def model_name(i: int) -> str:
    return f"model-{i:03d}"


def _dump(path: Path, data: dict) -> None:
    path.write_text(yaml.dump(data, Dumper=yaml.CSafeDumper, sort_keys=False))


def write_version(root: Path, model: str, version: int, rng: random.Random, link_from: str | None = None) -> None:
    """One version; with ``link_from`` its metric table is a hard link to that model's (same version)."""
    folder = root / "models" / model / "versions" / str(version)
    (folder / "metrics").mkdir(parents=True)
    at = START + dt.timedelta(hours=version * 3, minutes=rng.randrange(60))
    if link_from is not None:
        os.link(root / "models" / link_from / "versions" / str(version) / "metrics" / "metrics.parquet",
                folder / "metrics" / "metrics.parquet")
    names, values, datasets, steps = [], [], [], []
    for metric in METRICS:
        for dataset in DATASETS:
            names.append(metric)
            values.append(rng.random() if metric != "log_loss" else rng.uniform(0.1, 1.0))
            datasets.append(dataset)
            steps.append(None)
    for step in range(1, 21):
        names.append("loss")
        values.append(1.0 / step + rng.random() / 10)
        datasets.append("train")
        steps.append(step)
    if link_from is None:
            pq.write_table(pa.table({"metric": names, "value": values, "dataset": datasets, "step": steps}),
                       folder / "metrics" / "metrics.parquet")
    # YAML text made directly (what a template-based writer does; yaml.dump would double the time)
    (folder / "manifest.yaml").write_text(
        f"model: {model}\nversion: {version}\ncreated_at: '{at:%Y-%m-%dT%H:%M:%SZ}'\n"
        f"created_by: ci@example.com\ndescription: run {version}\nparams:\n"
        f"  learning_rate: {round(rng.uniform(0.001, 0.3), 4)}\n  max_depth: {rng.randrange(2, 12)}\n"
        f"  optimizer: {rng.choice(OPTIMIZERS)}\n  seed: {version}\nlineage:\n  datasets:\n"
        f"  - name: transactions\n    version: 2024-{1 + version % 12:02d}\n    role: train\n")


def write_events(root: Path, model: str, version: int, rng: random.Random, counter: list[int]) -> int:
    """~0.7 events per version: half go to staging, 2 in 5 of those to production."""
    written = 0
    if rng.random() < 0.5:
        stages = ["staging"] + (["production"] if rng.random() < 0.4 else [])
        for n, stage in enumerate(stages):
            at = START + dt.timedelta(hours=version * 3 + 1 + n)
            counter[0] += 1
            ident = at.strftime("%Y%m%dT%H%M%S.%fZ") + f"-{counter[0]:08x}"
            (root / "models" / model / "events" / f"{ident}.yaml").write_text(
                f"id: {ident}\nat: '{at:%Y-%m-%dT%H:%M:%SZ}'\nby: lead@example.com\naction: promote\n"
                f"version: {version}\nstage: {stage}\nreason: benchmark\n")
            written += 1
    return written


def generate(root: Path, versions: int, seed: int = 0, distinct: int | None = None) -> dict:
    """Write a catalog of ``versions`` versions at ``root``; returns counts.

    Models already written completely (an interrupted run) are kept.  With ``distinct``, only the metric
    tables of the first ``distinct`` models are written; the other models' are hard links to them
    (writing 100,000 Parquet files takes most of the time, on a loaded machine ~30 minutes): the index
    still opens and reads each path, but the page cache holds fewer distinct files.
    """
    started = time.perf_counter()
    n_models, per_model = shape(versions)
    root.mkdir(parents=True, exist_ok=True)
    (root / "registry.yaml").write_text(REGISTRY)
    counter, events = [0], 0
    for m in range(n_models):
        model = model_name(m)
        if (root / "models" / model / "versions" / str(per_model) / "manifest.yaml").exists():
            continue
        shutil.rmtree(root / "models" / model, ignore_errors=True)
        (root / "models" / model / "events").mkdir(parents=True)
        _dump(root / "models" / model / "model.yaml", {"name": model, "owner": "team@example.com"})
        rng = random.Random(f"{seed}-{model}")
        link = model_name(m % distinct) if distinct and m >= distinct else None
        for version in range(1, per_model + 1):
            write_version(root, model, version, rng, link)
            events += write_events(root, model, version, rng, counter)
    return {"models": n_models, "versions": n_models * per_model, "events": events,
            "seconds": round(time.perf_counter() - started, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--distinct", type=int, help="write the metric tables of this many models only; "
                        "the others' are hard links to theirs")
    args = parser.parse_args()
    print(generate(args.out, args.versions, args.seed, args.distinct))


if __name__ == "__main__":
    main()

"""Catalogs written by hand from SPEC section 1, with pyyaml and pyarrow only.

Nothing here imports ``registry_core``: these files are what another tool (or a
person with a text editor) would write, so reading them back tests the format,
not the project's own writer agreeing with itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import subprocess
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

UTC = dt.UTC
METRIC_SCHEMA = pa.schema([
    ("metric", pa.string()), ("value", pa.float64()), ("dataset", pa.string()), ("step", pa.int64()),
    ("timestamp", pa.timestamp("us", tz="UTC")), ("slice", pa.string()),
])

# The registry.yaml of SPEC 1.2, as written there.
SPEC_REGISTRY = """\
format: 1
name: Acme risk models
stages:
  - name: staging
  - name: production
    exclusive: true
  - name: archived
metrics:
  roc_auc: {goal: max}
  log_loss: {goal: min}
  latency_p95_ms: {goal: min, unit: ms}
policies:
  staging:
    gates:
      - {metric: roc_auc, dataset: validation, min: 0.80}
  production:
    from: [staging]
    gates:
      - {metric: roc_auc, dataset: test, min: 0.85}
      - {metric: roc_auc, dataset: test, vs: production, tolerance: 0.005}
      - {metric: latency_p95_ms, max: 50}
      - {metric: recall, dataset: test, slice: region=eu, min: 0.7}
      - {check: artifacts_verified}
    approvals: 1
    approvers: [lead]
    requesters: [data-scientist, lead]
aliases:
  champion: {setters: [lead]}
roles:
  lead: [alice@example.com]
  data-scientist: [bob@example.com, carol@example.com]
"""

ALICE, BOB, CAROL, MALLORY = "alice@example.com", "bob@example.com", "carol@example.com", "mallory@example.com"


def t(text: str) -> dt.datetime:
    """``"2026-10-01T10:00"`` -> an aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def event_id(at: dt.datetime, n: int) -> str:
    """An event id of SPEC 1.6: UTC time with microseconds, a dash, 8 hex digits."""
    return at.strftime("%Y%m%dT%H%M%S.%fZ") + f"-{n:08x}"


class CatalogBuilder:
    """Writes catalog files directly; every method returns the path it wrote."""

    _counter = itertools.count(1)

    def __init__(self, root: Path, registry: str | dict | None = SPEC_REGISTRY) -> None:
        self.root = Path(root)
        (self.root / "models").mkdir(parents=True, exist_ok=True)
        (self.root / ".gitignore").write_text(".modelreg/\n")
        if registry is not None:
            self.registry(registry)

    # -- files ------------------------------------------------------------------------------------
    def write_yaml(self, rel: str, data: Any) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
        return path

    def registry(self, data: str | dict) -> Path:
        return self.write_yaml("registry.yaml", data)

    def model(self, name: str, **fields: Any) -> Path:
        return self.write_yaml(f"models/{name}/model.yaml", {"name": name, **fields})

    def version(self, model: str, version: int, created_at: str = "2026-10-01T10:00:00Z",
                metrics: list[dict] | None = None, artifacts: dict[str, bytes] | list[dict] | None = None,
                **fields: Any) -> Path:
        """A version folder: metric table and artifacts first, manifest.yaml last.

        ``artifacts``: ``{name: bytes}`` files written with their sha256 and size, or a list of raw manifest
        entries (URIs, bad paths) written as given.
        """
        folder = self.root / "models" / model / "versions" / str(version)
        folder.mkdir(parents=True, exist_ok=True)
        if metrics is not None:
            self.metrics(model, version, metrics)
        entries = list(artifacts) if isinstance(artifacts, list) else []
        for name, data in (artifacts if isinstance(artifacts, dict) else {}).items():
            path = folder / "artifacts" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            entries.append({"path": f"artifacts/{name}", "sha256": hashlib.sha256(data).hexdigest(),
                            "size": len(data)})
        manifest = {"model": model, "version": version, "created_at": created_at, **fields}
        if entries:
            manifest["artifacts"] = entries
        return self.write_yaml(f"models/{model}/versions/{version}/manifest.yaml", manifest)

    def metrics(self, model: str, version: int, rows: list[dict], name: str = "metrics.parquet") -> Path:
        """One long-format metric table (SPEC 1.5) written with pyarrow."""
        full = [{c: row.get(c) for c in METRIC_SCHEMA.names} for row in rows]
        path = self.root / "models" / model / "versions" / str(version) / "metrics" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(pa.Table.from_pylist(full, schema=METRIC_SCHEMA), path)
        return path

    def event(self, model: str, action: str, at: str, by: str, **fields: Any) -> str:
        """One event file; returns its id."""
        moment = dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        ident = event_id(moment, next(self._counter))
        body = {"id": ident, "at": at, "by": by, "action": action, **fields}
        self.write_yaml(f"models/{model}/events/{ident}.yaml", body)
        return ident


def staging_gate(value: float) -> dict:
    """The stored result of SPEC_REGISTRY's one staging gate (roc_auc on validation >= 0.80)."""
    return {"gate": "roc_auc [validation] >= 0.8", "passed": value >= 0.8, "value": value, "baseline": 0.8,
            "message": f"{value:g} is within bounds"}


def fraud_catalog(root: Path) -> CatalogBuilder:
    """The story of the spec, by hand: fraud-detector v1..v3 and a bare churn model.

    2026-10-02 v1 -> staging; 10-03 v1 -> production; 10-16 v2 -> staging;
    10-17 bob requests v2 -> production; 10-18 alice approves, v2 promoted (v1 archived);
    10-19 alias champion -> v2.  v3 (11-01) is worse and in no stage.
    """
    b = CatalogBuilder(root)
    b.model("fraud-detector", description="Card fraud scoring", owner=ALICE, task="binary-classification",
            tags={"team": "risk"})
    b.version("fraud-detector", 1, "2026-10-01T10:00:00Z", created_by=BOB, description="Baseline GBM",
              framework="scikit-learn 1.5.2", task="binary-classification",
              params={"learning_rate": 0.1, "n_estimators": 200, "max_depth": 6},
              lineage={"datasets": [{"name": "transactions", "version": "2026-09", "role": "train"},
                                    {"name": "transactions", "version": "2026-09-holdout", "role": "test"}]},
              tags={"team": "risk"},
              artifacts={"model.bin": b"weights v1"},
              metrics=[
                  {"metric": "roc_auc", "value": 0.86, "dataset": "test"},
                  {"metric": "roc_auc", "value": 0.84, "dataset": "validation"},
                  {"metric": "latency_p95_ms", "value": 40.0},
                  {"metric": "recall", "value": 0.75, "dataset": "test", "slice": "region=eu"},
              ])
    b.version("fraud-detector", 2, "2026-10-15T09:30:00Z", created_by=CAROL, description="Velocity features",
              params={"learning_rate": 0.05, "n_estimators": 400, "max_depth": 6},
              lineage={"datasets": [{"name": "transactions", "version": "2026-10", "role": "train"}],
                       "parents": ["fraud-detector@1"],
                       "code": {"repo": "git@example.com:acme/fraud.git", "commit": "4be1c2a"}},
              artifacts={"model.bin": b"weights v2"},
              metrics=[
                  {"metric": "roc_auc", "value": 0.88, "dataset": "test"},
                  {"metric": "roc_auc", "value": 0.86, "dataset": "validation"},
                  {"metric": "latency_p95_ms", "value": 45.0},
                  {"metric": "recall", "value": 0.78, "dataset": "test", "slice": "region=eu"},
                  # a training curve: the headline of log_loss[train] is the largest step
                  {"metric": "log_loss", "value": 0.50, "dataset": "train", "step": 1},
                  {"metric": "log_loss", "value": 0.30, "dataset": "train", "step": 2},
                  {"metric": "log_loss", "value": 0.20, "dataset": "train", "step": 3},
              ])
    # monitoring rows of a deployed version: the newest null-step row is the headline
    b.metrics("fraud-detector", 2, [
        {"metric": "precision", "value": 0.70, "dataset": "live", "timestamp": t("2026-10-20T00:00")},
        {"metric": "precision", "value": 0.72, "dataset": "live", "timestamp": t("2026-10-21T00:00")},
    ], name="monitoring.parquet")
    b.version("fraud-detector", 3, "2026-11-01T08:00:00Z", created_by=BOB,
              params={"learning_rate": 0.2, "n_estimators": 400, "max_depth": 8},
              metrics=[
                  {"metric": "roc_auc", "value": 0.80, "dataset": "test"},
                  {"metric": "roc_auc", "value": 0.79, "dataset": "validation"},
                  {"metric": "latency_p95_ms", "value": 60.0},
              ])
    b.event("fraud-detector", "promote", "2026-10-02T12:00:00Z", ALICE, version=1, stage="staging",
            reason="first candidate", gates=[staging_gate(0.84)])
    # the first production version, before the team had a holder to compare with: forced by the lead
    b.event("fraud-detector", "promote", "2026-10-03T12:00:00Z", ALICE, version=1, stage="production",
            reason="go live", forced=True)
    b.event("fraud-detector", "promote", "2026-10-16T12:00:00Z", BOB, version=2, stage="staging",
            gates=[staging_gate(0.86)])
    request = b.event("fraud-detector", "request", "2026-10-17T12:00:00Z", BOB, version=2, stage="production",
                      reason="better recall")
    b.event("fraud-detector", "approve", "2026-10-18T12:00:00Z", ALICE, version=2, stage="production",
            request=request)
    b.event("fraud-detector", "promote", "2026-10-18T12:00:01Z", ALICE, version=2, stage="production",
            request=request, reason="better recall",
            gates=[{"gate": "roc_auc [test] >= 0.85", "passed": True, "value": 0.88, "baseline": 0.85,
                    "message": "0.88 is within bounds"}])
    b.event("fraud-detector", "alias", "2026-10-19T12:00:00Z", ALICE, version=2, alias="champion")
    # a model with no model.yaml and a manifest with only the required keys
    b.version("churn", 1, "2026-10-05T00:00:00Z")
    return b


# -- git clones for the sync tests ------------------------------------------------------------------
def git(cwd: Path, *args: str) -> str:
    """Run git in ``cwd`` (the test's own git, never the core's runner); its output."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def clone(remote: Path, where: Path, email: str) -> Path:
    """A clone of ``remote`` at ``where`` whose commits are by ``email``."""
    git(remote.parent, "clone", "-q", str(remote), str(where))
    git(where, "config", "user.name", email.split("@")[0])
    git(where, "config", "user.email", email)
    return where

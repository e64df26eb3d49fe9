"""SPEC 1: a catalog written by hand is read correctly, and what modelreg writes is readable by anyone."""

import datetime as dt
import hashlib
import re

import duckdb
import pyarrow.parquet as pq
import pytest
import yaml
from builders import ALICE, BOB, CAROL, CatalogBuilder

from registry_core import Catalog


def test_hand_written_catalog_has_no_problems(fraud):
    assert fraud.validate() == []


def test_hand_written_versions_are_read(fraud):
    rows = fraud.sql("SELECT model, version, created_by, description, framework, stage FROM versions "
                     "ORDER BY model, version")
    assert rows == [
        {"model": "churn", "version": 1, "created_by": None, "description": None, "framework": None,
         "stage": "none"},
        {"model": "fraud-detector", "version": 1, "created_by": BOB, "description": "Baseline GBM",
         "framework": "scikit-learn 1.5.2", "stage": "archived"},
        {"model": "fraud-detector", "version": 2, "created_by": CAROL, "description": "Velocity features",
         "framework": None, "stage": "production"},
        {"model": "fraud-detector", "version": 3, "created_by": BOB, "description": None, "framework": None,
         "stage": "none"},
    ]


def test_hand_written_model_file_and_a_model_without_one(fraud):
    rows = {r["model"]: r for r in fraud.sql("SELECT * FROM models")}
    assert rows["fraud-detector"]["description"] == "Card fraud scoring"
    assert rows["fraud-detector"]["owner"] == ALICE
    assert rows["fraud-detector"]["task"] == "binary-classification"
    assert rows["churn"]["description"] is None


def test_headline_rule_of_spec_1_5(fraud):
    headline = {(r["version"], r["metric"], r["dataset"], r["slice"]): r["value"]
                for r in fraud.sql("SELECT * FROM headline WHERE model = 'fraud-detector'")}
    assert headline[(2, "roc_auc", "test", None)] == 0.88
    assert headline[(2, "recall", "test", "region=eu")] == 0.78
    assert headline[(2, "log_loss", "train", None)] == 0.20        # no null step: the largest step
    assert headline[(2, "precision", "live", None)] == 0.72        # several null steps: the newest
    assert headline[(1, "latency_p95_ms", None, None)] == 40.0


def test_null_step_beats_any_step(cat_path):
    b = CatalogBuilder(cat_path, registry=None)
    b.version("m", 1, metrics=[{"metric": "acc", "value": 0.5, "step": 10}, {"metric": "acc", "value": 0.9}])
    assert Catalog(cat_path).sql("SELECT value FROM headline") == [{"value": 0.9}]


def test_every_metric_row_and_its_columns(fraud):
    rows = fraud.sql("SELECT * FROM metrics WHERE model = 'fraud-detector' AND version = 2 "
                     "AND metric = 'precision' ORDER BY timestamp")
    assert [r["value"] for r in rows] == [0.70, 0.72]
    assert rows[0]["timestamp"] == dt.datetime(2026, 10, 20, tzinfo=dt.UTC)
    assert rows[0]["step"] is None and rows[0]["dataset"] == "live"
    assert len(fraud.sql("SELECT * FROM metrics WHERE model = 'fraud-detector'")) == 4 + 9 + 3


def test_hand_written_events_replay_into_stages_and_aliases(fraud):
    stages = fraud.sql("SELECT model, stage, version, \"by\" FROM stages ORDER BY stage")
    assert stages == [{"model": "fraud-detector", "stage": "archived", "version": 1, "by": ALICE},
                      {"model": "fraud-detector", "stage": "production", "version": 2, "by": ALICE}]
    assert fraud.sql("SELECT model, alias, version FROM aliases") == [
        {"model": "fraud-detector", "alias": "champion", "version": 2}]
    assert fraud.sql("SELECT * FROM requests") == []


def test_hand_written_lineage_and_params(fraud):
    lineage = fraud.sql("SELECT kind, name, ref, role FROM lineage WHERE model = 'fraud-detector' AND version = 2 "
                        "ORDER BY kind")
    assert lineage == [{"kind": "dataset", "name": "transactions", "ref": "transactions@2026-10", "role": "train"},
                       {"kind": "parent", "name": "fraud-detector", "ref": "fraud-detector@1", "role": "parent"}]
    params = fraud.sql("SELECT name, value FROM params WHERE model = 'fraud-detector' AND version = 1 ORDER BY name")
    assert params == [{"name": "learning_rate", "value": "0.1"}, {"name": "max_depth", "value": "6"},
                      {"name": "n_estimators", "value": "200"}]


def test_registry_yaml_of_the_spec_is_parsed(fraud):
    settings = fraud.settings
    assert settings.name == "Acme risk models"
    assert settings.stage_names == ["staging", "production", "archived"]
    assert settings.is_exclusive("production") and not settings.is_exclusive("staging")
    assert settings.goal("log_loss") == "min" and settings.unit("latency_p95_ms") == "ms"
    production = settings.policies["production"]
    assert production.from_stages == ("staging",) and production.approvals == 1
    assert production.approvers == ("lead",) and production.requesters == ("data-scientist", "lead")
    assert len(production.gates) == 5
    assert settings.alias_setters == {"champion": ("lead",)}
    assert settings.roles_of(CAROL) == ["data-scientist"]


def test_missing_registry_yaml_means_defaults(cat_path):
    CatalogBuilder(cat_path, registry=None).version("m", 1)
    settings = Catalog(cat_path).settings
    assert settings.stage_names == ["staging", "production", "archived"]
    assert settings.is_exclusive("production") and settings.policies == {}


def test_a_version_exists_iff_its_manifest_exists(cat_path):
    b = CatalogBuilder(cat_path, registry=None)
    b.version("m", 1)
    (cat_path / "models/m/versions/2/metrics").mkdir(parents=True)   # a registration in progress
    b.metrics("m", 2, [{"metric": "acc", "value": 1.0}])
    cat = Catalog(cat_path)
    assert [r["version"] for r in cat.sql("SELECT version FROM versions")] == [1]
    assert cat.sql("SELECT * FROM metrics") == []
    assert cat.resolve("m@latest")["version"] == 1


def test_unknown_manifest_keys_are_kept_and_warned(cat_path):
    CatalogBuilder(cat_path, registry=None).version("m", 1, notes="kept")
    cat = Catalog(cat_path)
    assert cat.get("m@1")["manifest"]["notes"] == "kept"
    assert [(p["severity"], "'notes'" in p["message"]) for p in cat.validate()] == [("warning", True)]


# -- what modelreg writes, read by DuckDB or pyarrow alone ---------------------------------------------------
@pytest.fixture
def written(empty_catalog, tmp_path):
    artifact = tmp_path / "model.skops"
    artifact.write_bytes(b"\x00weights")
    empty_catalog.register("fraud-detector", params={"lr": 0.05}, artifacts=[artifact],
                           metrics={"test": {"roc_auc": 0.9}, "validation": {"roc_auc": 0.88}},
                           datasets=["train=transactions@2026-10"], description="d", framework="xgboost 2")
    empty_catalog.register("fraud-detector", metrics=[{"metric": "loss", "value": 0.3, "step": 1}])
    return empty_catalog


def test_written_manifest_reads_with_yaml_safe_load(written):
    manifest = yaml.safe_load((written.root / "models/fraud-detector/versions/1/manifest.yaml").read_text())
    assert manifest["model"] == "fraud-detector" and manifest["version"] == 1
    assert manifest["created_by"] == BOB and manifest["params"] == {"lr": 0.05}
    created = dt.datetime.fromisoformat(manifest["created_at"].replace("Z", "+00:00"))
    assert created.tzinfo is not None
    assert manifest["artifacts"] == [{"path": "artifacts/model.skops",
                                      "sha256": hashlib.sha256(b"\x00weights").hexdigest(), "size": 8}]
    assert manifest["lineage"]["datasets"] == [{"name": "transactions", "version": "2026-10", "role": "train"}]


def test_written_metrics_read_with_a_duckdb_glob(written, monkeypatch):
    monkeypatch.chdir(written.root.parent)
    rows = duckdb.sql("SELECT * FROM 'cat/models/*/versions/*/metrics/*.parquet' ORDER BY metric, dataset").fetchall()
    columns = duckdb.sql("SELECT * FROM 'cat/models/*/versions/*/metrics/*.parquet'").columns
    assert columns == ["metric", "value", "dataset", "step", "timestamp", "slice"]
    assert [(r[0], r[1], r[2], r[3]) for r in rows] == [("loss", 0.3, None, 1), ("roc_auc", 0.9, "test", None),
                                                        ("roc_auc", 0.88, "validation", None)]


def test_written_metric_table_has_the_spec_schema(written):
    table = pq.read_table(next((written.root / "models/fraud-detector/versions/1/metrics").glob("*.parquet")))
    types = {f.name: str(f.type) for f in table.schema}
    assert types == {"metric": "string", "value": "double", "dataset": "string", "step": "int64",
                     "timestamp": "timestamp[us, tz=UTC]", "slice": "string"}


def test_written_events_are_yaml_named_by_their_sortable_id(written):
    written.promote("fraud-detector", 1, "staging", reason="try")
    (event_file,) = (written.root / "models/fraud-detector/events").glob("*.yaml")
    event = yaml.safe_load(event_file.read_text())
    assert event_file.stem == event["id"]
    assert {"id", "at", "by", "action", "version", "stage", "reason"} <= set(event)
    assert (event["by"], event["action"], event["version"], event["stage"]) == (BOB, "promote", 1, "staging")
    assert re.fullmatch(r"\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{8}", event["id"])


def test_init_writes_registry_yaml_and_gitignore(empty_catalog):
    root = empty_catalog.root
    assert (root / ".gitignore").read_text().strip() == ".modelreg"
    registry = yaml.safe_load((root / "registry.yaml").read_text())
    assert registry["format"] == 1 and registry["name"] == "Test catalog"
    assert "#" in (root / "registry.yaml").read_text()   # commented
    assert (root / "models").is_dir()


def test_the_cache_can_be_deleted(written):
    import shutil

    before = written.sql("SELECT * FROM headline ORDER BY ALL")
    shutil.rmtree(written.root / ".modelreg")
    assert Catalog(written.root).sql("SELECT * FROM headline ORDER BY ALL") == before


SPEC_MANIFEST = """\
model: fraud-detector
version: 4
created_at: 2026-11-20T10:12:00Z
created_by: bob@example.com
description: Gradient boosting with velocity features.
framework: scikit-learn 1.5.2
task: binary-classification
params: {learning_rate: 0.05, n_estimators: 400, max_depth: 6}
artifacts:
  - {path: artifacts/model.skops, sha256: 9f2c..., size: 182344}        # inside the version folder
  - {uri: s3://models/fraud/4/weights.bin, sha256: 1ab4..., size: 7340032}  # or elsewhere
lineage:
  datasets:
    - {name: transactions, version: "2026-10", role: train, uri: "s3://...", sha256: "..."}
    - {name: transactions, version: "2026-10-holdout", role: test}
  parents: [fraud-detector@3]      # warm start, fine-tune, distillation sources
  run: {id: "9a7b...", uri: "...", started_at: ..., duration_s: 1834, hardware: "8 vCPU, 32 GiB"}
  code: {repo: "git@github.com:acme/fraud.git", commit: 4be1c2a, entrypoint: train.py}
environment: {python: "3.11.7", requirements: [scikit-learn==1.5.2]}
tags: {team: risk, ticket: RISK-142}
"""


def test_the_spec_manifest_example_verbatim(cli, cat_path):
    """SPEC 1.4's example, abbreviated checksums included: the version exists; only verify fails."""
    b = CatalogBuilder(cat_path)
    b.write_yaml("models/fraud-detector/versions/4/manifest.yaml", SPEC_MANIFEST)
    (cat_path / "models/fraud-detector/versions/4/artifacts").mkdir()
    (cat_path / "models/fraud-detector/versions/4/artifacts/model.skops").write_bytes(b"x" * 182344)
    info = cli("show", "fraud-detector@4", "--format", "json").json
    assert info["manifest"]["params"] == {"learning_rate": 0.05, "n_estimators": 400, "max_depth": 6}
    assert info["manifest"]["created_by"] == BOB and info["stage"] == "none"
    assert info["lineage"]["parents"] == ["fraud-detector@3"]
    assert [d["ref"] for d in info["lineage"]["datasets"]] == ["transactions@2026-10",
                                                              "transactions@2026-10-holdout"]
    assert cli("resolve", "fraud-detector@latest").out.strip() == "fraud-detector@4"
    validate = cli("validate", "--format", "json")
    assert validate.code == 0 and {p["severity"] for p in validate.json} == {"warning"}
    assert cli("verify").code == 1


def test_metric_tables_written_by_other_tools(cat_path):
    """Only metric and value are required; any column order, int or float32 values, pandas NaN steps."""
    import pandas as pd
    import pyarrow as pa

    b = CatalogBuilder(cat_path, registry=None)
    b.version("m", 1)
    folder = cat_path / "models/m/versions/1/metrics"
    folder.mkdir()
    pq.write_table(pa.table({"metric": ["a"], "value": pa.array([1], pa.int64())}), folder / "minimal.parquet")
    pq.write_table(pa.table({"value": pa.array([0.5], pa.float32()), "metric": ["b"], "dataset": ["test"]}),
                   folder / "reordered.parquet")
    pd.DataFrame({"metric": ["c", "c", "c"], "value": [0.1, 0.2, 0.3], "step": [1, 2, None],
                  "timestamp": [dt.datetime(2026, 1, 1), None, dt.datetime(2026, 1, 2)]}).to_parquet(
        folder / "pandas.parquet")
    cat = Catalog(cat_path)
    assert cat.problems() == []
    rows = cat.sql("SELECT metric, value, dataset, step, timestamp FROM metrics ORDER BY metric, step")
    assert [(r["metric"], r["value"], r["dataset"], r["step"]) for r in rows] == [
        ("a", 1.0, None, None), ("b", 0.5, "test", None), ("c", 0.1, None, 1), ("c", 0.2, None, 2),
        ("c", 0.3, None, None)]
    assert rows[2]["timestamp"] == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    headline = {r["metric"]: r["value"] for r in cat.sql("SELECT metric, value FROM headline")}
    assert headline == {"a": 1.0, "b": 0.5, "c": 0.3}

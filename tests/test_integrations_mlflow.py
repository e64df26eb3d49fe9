"""import-mlflow against real MLflow stores (SQLite and file) made by the mlflow package itself."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from registry_core import Catalog
from registry_core.integrations.mlflow_import import QUIET_ENV, REASON, import_mlflow, parse_prefixes, target_name

mlflow = pytest.importorskip("mlflow")

PREFIXES = ["test_=test", "val_=validation"]


def _ms(ms: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC)


def _experiment(client, mlflow, name: str, folder) -> None:
    """Select (creating it if needed) an experiment whose artifacts stay in the test's folder, not ./mlruns."""
    if client.get_experiment_by_name(name) is None:
        client.create_experiment(name, artifact_location=(folder / "artifacts" / name).as_uri())
    mlflow.set_experiment(name)


def _train(client, mlflow, experiment: str, lr: float, auc: float, folder, epochs: int = 4) -> str:
    """One real run: params, a val_loss curve, test metrics, a dataset input, a tag, a model file."""
    import pandas as pd

    _experiment(client, mlflow, experiment, folder)
    frame = pd.DataFrame({"amount": [1.0, 2.5, 3.0], "label": [0, 1, 0]})
    data = mlflow.data.from_pandas(frame, source="s3://acme/transactions/2026-10.parquet", name="transactions")
    with mlflow.start_run() as run:
        mlflow.log_params({"learning_rate": lr, "n_estimators": 400, "booster": "gbtree"})
        for epoch in range(epochs):
            mlflow.log_metric("val_loss", 1.0 / (epoch + 1) + lr, step=epoch)
        mlflow.log_metric("test_roc_auc", auc)
        mlflow.log_metric("latency_ms", 12.5)
        mlflow.log_input(data, context="training")
        mlflow.set_tag("team", "risk")
        weights = folder / f"weights-{lr}.bin"
        weights.write_bytes(os.urandom(256))
        mlflow.log_artifact(str(weights), artifact_path="model")
    return run.info.run_id


@contextlib.contextmanager
def _mlflow_at(uri: str, folder) -> Iterator:
    """An MlflowClient on the store at ``uri``, quiet, with HOME in ``folder``; MLflow's URIs reset after."""
    with pytest.MonkeyPatch.context() as mp:
        for key, value in QUIET_ENV.items():
            mp.setenv(key, value)
        mp.setenv("HOME", str(folder))
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)
        try:
            yield mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
        finally:
            mlflow.set_tracking_uri(None)
            mlflow.set_registry_uri(None)


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    """A real SQLite tracking + registry store: fraud-detector v1..v3 with stages and an alias."""
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    with _mlflow_at(uri, folder) as client:
        client.create_registered_model("fraud-detector", description="Card fraud scoring", tags={"owner": "risk"})
        runs = []
        for lr, auc in ((0.1, 0.86), (0.05, 0.91), (0.02, 0.93)):
            run_id = _train(client, mlflow, "fraud", lr, auc, folder)
            runs.append(run_id)
            client.create_model_version("fraud-detector", f"runs:/{run_id}/model", run_id,
                                        description=f"lr {lr}", tags={"ticket": "RISK-1"})
            time.sleep(0.01)
        client.transition_model_version_stage("fraud-detector", "1", "Production")
        time.sleep(0.01)
        client.transition_model_version_stage("fraud-detector", "2", "Production", archive_existing_versions=True)
        time.sleep(0.01)
        client.transition_model_version_stage("fraud-detector", "3", "Staging")
        client.set_registered_model_alias("fraud-detector", "champion", "2")
        # An MLflow 3 logged model (source models:/m-...) under a name the catalog must adapt.
        _experiment(client, mlflow, "churn", folder)

        class Echo(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return model_input

        with mlflow.start_run():
            mlflow.log_param("k", 3)
            mlflow.log_metric("test_f1", 0.7)
            mlflow.pyfunc.log_model(name="model", python_model=Echo(), registered_model_name="Churn Model",
                                    pip_requirements=["pandas"])
        yield {"uri": uri, "client": client, "runs": runs, "folder": folder}


@pytest.fixture(scope="module")
def file_store(tmp_path_factory):
    """A real file store (./mlruns layout): one model, one version in Staging."""
    folder = tmp_path_factory.mktemp("mlruns")
    uri = (folder / "mlruns").as_uri()
    with _mlflow_at(uri, folder) as client:
        client.create_registered_model("ranker")
        run_id = _train(client, mlflow, "ranker", 0.3, 0.8, folder, epochs=3)
        client.create_model_version("ranker", f"runs:/{run_id}/model", run_id)
        client.transition_model_version_stage("ranker", "1", "Staging")
        yield {"uri": uri, "client": client, "run": run_id}


@pytest.fixture
def imported(empty_catalog, sqlite_store):
    rows = import_mlflow(empty_catalog, sqlite_store["uri"], models=["fraud-detector"], dataset_prefixes=PREFIXES)
    return empty_catalog, rows


def test_versions_params_and_metrics_match_mlflow(imported, sqlite_store):
    cat, rows = imported
    client = sqlite_store["client"]
    assert [r["ref"] for r in rows if r["action"] == "registered"] == [f"fraud-detector@{n}" for n in (1, 2, 3)]
    listed = {v["version"]: v for v in cat.versions("fraud-detector")}
    assert sorted(listed) == [1, 2, 3]
    for number, run_id in enumerate(sqlite_store["runs"], start=1):
        mv = client.get_model_version("fraud-detector", str(number))
        run = client.get_run(run_id)
        version = listed[number]
        assert version["created_at"] == _ms(mv.creation_timestamp)
        assert version["created_by"] == run.data.tags["mlflow.user"]
        assert version["description"] == mv.description
        # headline metrics: MLflow's latest values, split into metric and dataset by the prefixes
        assert version["metrics"] == pytest.approx({"roc_auc[test]": run.data.metrics["test_roc_auc"],
                                                    "loss[validation]": run.data.metrics["val_loss"],
                                                    "latency_ms": run.data.metrics["latency_ms"]})
        # params as numbers where MLflow kept strings
        names = {r["name"] for r in cat.sql(
            "SELECT name FROM params WHERE model = 'fraud-detector' AND version = ?", [number])}
        assert names == set(run.data.params)
        info = cat.get(f"fraud-detector@{number}")
        assert info["manifest"]["params"] == {"learning_rate": float(run.data.params["learning_rate"]),
                                              "n_estimators": 400, "booster": "gbtree"}
        assert info["manifest"]["tags"] == {"team": "risk", "ticket": "RISK-1",
                                            "imported_from": f"models:/fraud-detector/{number}"}
        assert info["lineage"]["datasets"][0]["name"] == "transactions"
        assert info["manifest"]["lineage"]["datasets"][0]["uri"] == "s3://acme/transactions/2026-10.parquet"
        assert info["manifest"]["lineage"]["run"]["id"] == run_id
        # the full curve, step by step, with MLflow's timestamps
        curve = cat.metrics(f"fraud-detector@{number}", curves_only=True)
        history = client.get_metric_history(run_id, "val_loss")
        assert [(r["metric"], r["dataset"], r["step"], r["value"], r["timestamp"]) for r in curve] == [
            ("loss", "validation", h.step, pytest.approx(h.value), _ms(h.timestamp)) for h in history]


def test_stages_aliases_and_events_keep_mlflow_times(imported, sqlite_store):
    cat, _ = imported
    client = sqlite_store["client"]
    stages = {v["version"]: v["stage"] for v in cat.versions("fraud-detector")}
    assert stages == {1: "archived", 2: "production", 3: "staging"}
    assert cat.resolve("fraud-detector@production")["version"] == 2
    assert cat.resolve("fraud-detector@champion")["version"] == 2
    history = cat.history("fraud-detector")
    assert all(e["reason"].startswith(f"{REASON}: ") and " there since " in e["reason"] for e in history)
    assert all(e["by"] == cat.user for e in history)
    promotions = {(e["version"], e["stage"]): e["at"] for e in history if e["action"] == "promote"}
    for number in ("2", "3"):
        mv = client.get_model_version("fraud-detector", number)
        at = promotions[(int(number), mv.current_stage.lower())]
        assert abs(at - _ms(mv.last_updated_timestamp)) < dt.timedelta(milliseconds=1)
    ids = [e["id"] for e in sorted(history, key=lambda e: e["at"])]
    assert ids == sorted(ids)  # ids made from the original times sort in time order
    assert [p for p in cat.validate() if p["severity"] == "error"] == []


def test_artifacts_are_copied_with_checksums(imported, sqlite_store):
    cat, _ = imported
    checks = cat.verify("fraud-detector@2")
    assert checks and all(c["ok"] for c in checks)
    entry = cat.resolve("fraud-detector@2")["artifacts"][0]
    assert entry["path"] == "artifacts/model/weights-0.05.bin"
    original = (sqlite_store["folder"] / "weights-0.05.bin").read_bytes()
    assert entry["sha256"] == hashlib.sha256(original).hexdigest() and entry["size"] == len(original)


def test_rerun_imports_only_what_is_new(imported, sqlite_store):
    cat, _ = imported
    before = sorted(p.name for p in cat.layout.events("fraud-detector").iterdir())
    assert import_mlflow(cat, sqlite_store["uri"], models=["fraud-detector"], dataset_prefixes=PREFIXES) == []
    assert sorted(p.name for p in cat.layout.events("fraud-detector").iterdir()) == before
    # a promotion done in the catalog since the import is not undone by importing again
    cat.as_user("alice@example.com").promote("fraud-detector", 1, "staging", reason="re-check")
    assert import_mlflow(cat, sqlite_store["uri"], models=["fraud-detector"]) == []
    assert cat.versions("fraud-detector")[-1]["stage"] == "staging"


def test_new_mlflow_version_and_transition_are_picked_up(empty_catalog, sqlite_store, tmp_path):
    client = sqlite_store["client"]
    client.create_registered_model("scorer")
    run_id = _train(client, mlflow, "scorer", 0.2, 0.8, tmp_path, epochs=2)
    client.create_model_version("scorer", f"runs:/{run_id}/model", run_id)
    first = import_mlflow(empty_catalog, sqlite_store["uri"], models=["scorer"])
    assert [r["action"] for r in first] == ["created model", "registered"]
    run_id = _train(client, mlflow, "scorer", 0.1, 0.85, tmp_path, epochs=2)
    client.create_model_version("scorer", f"runs:/{run_id}/model", run_id)
    client.transition_model_version_stage("scorer", "1", "Production")
    again = import_mlflow(empty_catalog, sqlite_store["uri"], models=["scorer"])
    assert [(r["ref"], r["action"]) for r in again] == [("scorer@2", "registered"),
                                                        ("scorer@1", "promoted to production")]
    assert empty_catalog.resolve("scorer@production")["version"] == 1


def test_mlflow3_logged_model_and_unusual_name(empty_catalog, sqlite_store):
    rows = import_mlflow(empty_catalog, sqlite_store["uri"], models=["Churn Model"], artifacts="reference")
    assert target_name("Churn Model") == "Churn-Model"
    assert [r["ref"] for r in rows if r["action"] == "registered"] == ["Churn-Model@1"]
    found = empty_catalog.resolve("Churn-Model@1")
    names = {a["uri"].rsplit("/", 1)[-1]: a for a in found["artifacts"]}
    assert "MLmodel" in names and all(len(a["sha256"]) == 64 and a["size"] > 0 for a in names.values())
    # the references name where MLflow keeps the files, so verify and pull check them without MLflow
    assert all(a["uri"].startswith("file://") and a["path"].startswith("artifacts/model/") for a in names.values())
    assert all(c["ok"] for c in empty_catalog.verify("Churn-Model@1", deep=True))
    assert empty_catalog.versions("Churn-Model")[0]["metrics"] == {"test_f1": pytest.approx(0.7)}


def test_file_store(empty_catalog, file_store):
    rows = import_mlflow(empty_catalog, file_store["uri"], dataset_prefixes=PREFIXES)
    assert [(r["ref"], r["action"]) for r in rows] == [("ranker", "created model"), ("ranker@1", "registered"),
                                                      ("ranker@1", "promoted to staging")]
    version = empty_catalog.versions("ranker")[0]
    assert version["stage"] == "staging"
    run = file_store["client"].get_run(file_store["run"])
    assert version["metrics"]["roc_auc[test]"] == pytest.approx(run.data.metrics["test_roc_auc"])
    assert len(empty_catalog.metrics("ranker@1", curves_only=True)) == 3
    assert all(c["ok"] for c in empty_catalog.verify("ranker@1"))


def test_cli_import_and_errors(cli, empty_catalog, sqlite_store):
    result = cli("import-mlflow", "--tracking-uri", sqlite_store["uri"], "--model", "fraud-detector",
                 "--dataset-prefix", "test_=test", "--artifacts", "none", "--format", "json")
    assert result.code == 0, result.err
    assert sum(r["action"] == "registered" for r in result.json) == 3
    assert empty_catalog.resolve("fraud-detector@1")["artifacts"] == []
    missing = cli("import-mlflow", "--tracking-uri", sqlite_store["uri"], "--model", "nope")
    assert missing.code == 1 and "no such registered model" in missing.err
    bad = cli("import-mlflow", "--tracking-uri", sqlite_store["uri"], "--dataset-prefix", "test_")
    assert bad.code == 1 and "PREFIX=DATASET" in bad.err


def test_prefixes_longest_first():
    assert parse_prefixes(["t_=train", "test_=test"]) == [("test_", "test"), ("t_", "train")]


def test_import_with_auto_commit_commits_everything(empty_catalog, sqlite_store, monkeypatch):
    import subprocess

    root = empty_catalog.root
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    monkeypatch.setenv("MODELREG_GIT_COMMIT", "1")
    import_mlflow(empty_catalog, sqlite_store["uri"], models=["fraud-detector"], artifacts="none")
    log = subprocess.run(["git", "log", "--format=%B"], cwd=root, capture_output=True, text=True).stdout
    for number in (1, 2, 3):
        assert f"Register fraud-detector@{number} (" in log
    assert f"Promote fraud-detector@2 to production ({empty_catalog.user}): {REASON}" in log
    assert f"Point alias champion at fraud-detector@2 ({empty_catalog.user})" in log
    status = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout
    assert status == ""


@pytest.mark.parametrize("mode", ["copy", "reference"])
def test_a_version_without_files_is_imported_and_reported(empty_catalog, sqlite_store, tmp_path, mode):
    """``runs:/.../model`` with no files (a run that never logged its model) does not abort the import."""
    name = f"hollow-{mode}"
    with _mlflow_at(sqlite_store["uri"], tmp_path) as client:  # (another module fixture may own the URI)
        client.create_registered_model(name)
        _experiment(client, mlflow, "hollow", tmp_path)
        with mlflow.start_run() as run:
            mlflow.log_metric("test_f1", 0.5)
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
        full = _train(client, mlflow, "hollow", 0.3, 0.8, tmp_path, epochs=1)
        client.create_model_version(name, f"runs:/{full}/model", full)
    rows = import_mlflow(empty_catalog, sqlite_store["uri"], models=[name], artifacts=mode)
    assert [(r["ref"], r["action"]) for r in rows] == [(name, "created model"), (f"{name}@1", "registered"),
                                                      (f"{name}@2", "registered"),
                                                      (f"{name}@1", "artifacts not verified")]
    assert f"runs:/{run.info.run_id}/model" in rows[-1]["detail"]
    hollow = empty_catalog.get(f"{name}@1")
    assert hollow["artifacts"] == [{"uri": f"runs:/{run.info.run_id}/model"}]
    assert hollow["manifest"]["tags"]["imported_artifacts"].startswith("not verified")
    assert empty_catalog.versions(name)[1]["metrics"] == {"test_f1": pytest.approx(0.5)}
    checks = empty_catalog.verify(f"{name}@1")  # recorded by URI without a checksum: reported, never passed
    assert [(c["ok"], c["message"]) for c in checks] == [(False, "no sha256 or size recorded; cannot verify")]
    assert all(c["ok"] and "sha256" not in c["message"] for c in empty_catalog.verify(f"{name}@2"))
    assert import_mlflow(empty_catalog, sqlite_store["uri"], models=[name], artifacts=mode) == []


def test_copy_puts_model_files_in_the_artifact_store(empty_catalog, file_store, tmp_path):
    store = tmp_path / "store"
    with open(empty_catalog.layout.registry, "a") as handle:
        handle.write(f"artifacts:\n  store: {store.as_uri()}\n")
    cat = Catalog(empty_catalog.root, user=empty_catalog.user)
    import_mlflow(cat, file_store["uri"], artifacts="copy")
    found = cat.resolve("ranker@1")
    assert found["artifacts"] and all(a["uri"].startswith(store.as_uri() + "/sha256/") for a in found["artifacts"])
    assert not (Path(found["path"]) / "artifacts").exists()
    stored = sorted(p.name for p in store.rglob("*") if p.is_file())
    assert stored == sorted(a["sha256"] for a in found["artifacts"])
    assert all(c["ok"] for c in cat.verify("ranker@1", deep=True))


def test_import_goes_through_the_policy_and_never_dates_in_the_future(cat_path, sqlite_store, tmp_path):
    """bob may request production but not move the lead's champion alias; MLflow says 2100: dated now."""
    import shutil
    import sqlite3

    from registry_core import Catalog

    db = tmp_path / "future.db"
    shutil.copy(sqlite_store["folder"] / "mlflow.db", db)
    with sqlite3.connect(db) as con:
        con.execute("UPDATE model_versions SET last_updated_time = 4102444800000")  # 2100-01-01
    cat = Catalog.init(cat_path, user="bob@example.com")
    (cat.root / "registry.yaml").write_text(
        "format: 1\npolicies:\n  production:\n    approvals: 1\n    approvers: [lead]\n"
        "aliases:\n  champion: {setters: [lead]}\nroles:\n  lead: [alice@example.com]\n")
    rows = import_mlflow(cat, f"sqlite:///{db}", models=["fraud-detector"])
    actions = {(r["ref"], r["action"]) for r in rows if r["action"] != "registered"}
    assert ("fraud-detector@2", "requested production") in actions
    assert ("fraud-detector@3", "promoted to staging") in actions
    assert ("fraud-detector@2", "skipped") in actions  # the champion alias
    skipped = next(r for r in rows if r["action"] == "skipped")
    assert "may not move alias champion" in skipped["detail"]
    now = dt.datetime.now(dt.UTC)
    assert all(e["at"] <= now for e in cat.history("fraud-detector"))
    assert all(v["created_at"] <= now for v in cat.versions("fraud-detector"))
    assert [p for p in cat.validate() if p["severity"] == "error"] == []
    assert cat.requests("fraud-detector")[0]["version"] == 2
    # the lead's later decision is not outranked by anything the import wrote
    cat.as_user("alice@example.com").promote("fraud-detector", 1, "production", reason="hotfix", force=True)
    assert cat.resolve("fraud-detector@production")["version"] == 1

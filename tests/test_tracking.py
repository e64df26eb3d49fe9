"""registry_core.integrations.tracking: a training run registers one version, atomically, with what it logged."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from builders import BOB

from registry_core import Catalog, InvalidInput
from registry_core.integrations.tracking import fingerprint, git_facts, start_run


def manifest_of(run) -> dict:
    with open(os.path.join(run.path, "manifest.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_a_run_registers_everything_it_logged(empty_catalog, tmp_path):
    model_file = tmp_path / "model.skops"
    model_file.write_bytes(b"weights v1")
    X = np.arange(12, dtype=np.float64).reshape(4, 3)
    with start_run("fraud-detector", catalog=empty_catalog.root, description="first try", user=BOB,
                   task="binary-classification", framework="scikit-learn 1.5", tags={"team": "risk"},
                   code=False) as run:
        run.log_params({"learning_rate": np.float64(0.1), "hidden": (64, 32)})
        run.log_param("max_depth", 3)
        for step in range(3):
            run.log_metric("val_loss", 1.0 / (step + 1), step=step, dataset="validation")
        run.log_metrics({"roc_auc": 0.91, "recall": 0.8}, dataset="test")
        run.log_metric("recall", 0.75, dataset="test", slice="region=eu")
        train = run.log_dataset("train", name="breast-cancer", version="sklearn-1.5", data=X)
        run.log_artifact(model_file)
        run.set_tags({"ticket": "RISK-1"})
        assert run.version is None
    assert (run.version, run.ref) == (1, "fraud-detector@1")

    manifest = manifest_of(run)
    assert manifest["created_by"] == BOB
    assert manifest["description"] == "first try"
    assert manifest["task"] == "binary-classification"
    assert manifest["framework"] == "scikit-learn 1.5"
    assert manifest["params"] == {"learning_rate": 0.1, "hidden": [64, 32], "max_depth": 3}
    assert manifest["tags"] == {"team": "risk", "ticket": "RISK-1"}
    assert manifest["lineage"]["datasets"] == [train]
    assert train == {"name": "breast-cancer", "version": "sklearn-1.5", "role": "train",
                     "sha256": fingerprint(X), "rows": 4}
    assert "code" not in manifest["lineage"]
    facts = manifest["lineage"]["run"]
    assert facts["id"] == run.id and facts["duration_s"] >= 0 and facts["started_at"].endswith("Z")
    assert facts["cpu_count"] == os.cpu_count()
    assert facts["platform"] == f"{platform.system()}-{platform.machine()}"
    assert "vCPU" in facts["hardware"]
    assert manifest["environment"]["python"] == platform.python_version()
    assert f"numpy=={np.__version__}" in manifest["environment"]["requirements"]
    [artifact] = manifest["artifacts"]
    assert artifact["path"] == "artifacts/model.skops"
    assert artifact["sha256"] == hashlib.sha256(b"weights v1").hexdigest()

    catalog = Catalog(empty_catalog.root)
    rows = catalog.get("fraud-detector@1")["headline"]
    headline = {(h["metric"], h["dataset"], h["slice"]): h["value"] for h in rows}
    assert headline[("roc_auc", "test", None)] == 0.91
    assert headline[("recall", "test", "region=eu")] == 0.75
    assert headline[("val_loss", "validation", None)] == pytest.approx(1 / 3)  # the last step of the curve
    assert all(r["ok"] for r in catalog.verify("fraud-detector@1"))


def test_curves_go_to_the_metrics_view_with_their_steps(empty_catalog):
    with start_run("digits", catalog=empty_catalog, code=False) as run:
        for epoch in range(5):
            run.log_metric("loss", 2.0 - epoch * 0.3, step=epoch, dataset="train")
            run.log_metric("accuracy", 0.5 + epoch * 0.1, step=np.int64(epoch), dataset="validation")
        run.log_metric("accuracy", 0.93, dataset="test")
    rows = empty_catalog.query("""SELECT metric, dataset, step, value FROM metrics
                                  WHERE model = 'digits' AND step IS NOT NULL ORDER BY metric, step""")
    assert list(rows["step"][rows["metric"] == "loss"]) == [0, 1, 2, 3, 4]
    assert list(rows["dataset"][rows["metric"] == "accuracy"].unique()) == ["validation"]
    assert rows[rows["metric"] == "loss"]["value"].iloc[-1] == pytest.approx(0.8)
    headline = empty_catalog.query("SELECT value FROM headline WHERE model = 'digits' AND dataset = 'test'")
    assert list(headline["value"]) == [0.93]


def test_an_exception_in_the_block_registers_nothing(empty_catalog, tmp_path):
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"x")
    with pytest.raises(RuntimeError, match="diverged"):
        with start_run("fraud-detector", catalog=empty_catalog, code=False) as run:
            run.log_metric("loss", 0.5, step=1)
            run.log_artifact(weights)
            staged = run._tmp
            raise RuntimeError("training diverged")
    assert run.version is None and run.ref is None
    assert not staged.exists()
    assert not empty_catalog.layout.model("fraud-detector").exists()
    assert empty_catalog.query("SELECT count(*) AS n FROM versions")["n"][0] == 0
    with pytest.raises(InvalidInput, match="has ended"):
        run.log_metric("loss", 0.4, step=2)


def test_artifacts_are_copied_when_logged(empty_catalog, tmp_path):
    weights = tmp_path / "model.json"
    weights.write_text('{"w": 1}')
    folder = tmp_path / "tokenizer"
    folder.mkdir()
    (folder / "vocab.txt").write_text("a b c")
    with start_run("m", catalog=empty_catalog, code=False) as run:
        run.log_artifact(weights)
        run.log_artifact(folder)
        run.log_artifact(weights, name="model-copy.json")
        with pytest.raises(InvalidInput, match="already logged"):
            run.log_artifact(weights)
        weights.write_text('{"w": 2}')  # changed after logging: the logged bytes are kept
    paths = {a["path"]: a for a in manifest_of(run)["artifacts"]}
    assert set(paths) == {"artifacts/model.json", "artifacts/tokenizer/vocab.txt", "artifacts/model-copy.json"}
    assert paths["artifacts/model.json"]["sha256"] == hashlib.sha256(b'{"w": 1}').hexdigest()


def test_parents_are_pinned_to_a_version_number(empty_catalog):
    with start_run("m", catalog=empty_catalog, code=False):
        pass
    with start_run("m", catalog=empty_catalog, code=False) as child:
        assert child.add_parent("m@latest") == "m@1"
    assert empty_catalog.lineage("m@2")["parents"] == ["m@1"]
    assert empty_catalog.lineage("m@1")["children"] == [{"ref": "m@2", "stage": "none"}]


def test_bad_input_fails_at_the_line_that_logged_it(empty_catalog, tmp_path):
    with start_run("m", catalog=empty_catalog, code=False) as run:
        with pytest.raises(InvalidInput, match="not a finite number"):
            run.log_metric("loss", float("nan"))
        with pytest.raises(InvalidInput, match="not a number"):
            run.log_metric("loss", "low")
        with pytest.raises(InvalidInput, match="step must be an integer"):
            run.log_metric("loss", 0.1, step=1.5)
        with pytest.raises(InvalidInput, match="no such file"):
            run.log_artifact(tmp_path / "missing.bin")
        with pytest.raises(InvalidInput, match="cannot fingerprint"):
            run.log_dataset("train", "d", data=object())
        with pytest.raises(InvalidInput, match="no such file"):
            run.log_dataset("train", "d", data=tmp_path / "missing.csv")
    assert run.version == 1  # the refused calls changed nothing
    assert empty_catalog.metrics("m@1") == []
    with pytest.raises(InvalidInput, match="model name"):
        start_run("../evil", catalog=empty_catalog)


def test_fingerprints_follow_the_data(tmp_path):
    a = np.arange(6, dtype=np.int64)
    assert fingerprint(a) == fingerprint(np.arange(6, dtype=np.int64))
    assert fingerprint(a) != fingerprint(a.reshape(2, 3))  # same bytes, other shape
    assert fingerprint(a) != fingerprint(a.astype(np.int32))
    assert fingerprint((a, a)) != fingerprint(a)
    frame = pd.DataFrame({"x": [1, 2], "y": ["a", "b"]})
    assert fingerprint(frame) == fingerprint(frame.copy())
    assert fingerprint(frame) != fingerprint(frame.rename(columns={"y": "z"}))
    assert fingerprint(frame["x"]) != fingerprint(frame["x"] + 1)
    data = tmp_path / "data.csv"
    data.write_bytes(b"x,y\n1,a\n")
    assert fingerprint(data) == fingerprint(str(data)) == hashlib.sha256(b"x,y\n1,a\n").hexdigest()
    assert fingerprint(b"x,y\n1,a\n") == fingerprint(data)
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "part-0.csv").write_bytes(b"1")
    before = fingerprint(folder)
    (folder / "part-1.csv").write_bytes(b"2")
    assert fingerprint(folder) != before


TRAIN_SCRIPT = """\
import sys
from registry_core.integrations.tracking import start_run

with start_run("m", catalog=sys.argv[1], user="bob@example.com") as run:
    run.log_metric("accuracy", 0.9, dataset="test")
print(run.path)
"""


def _run_script(folder, catalog_root) -> dict:
    script = folder / "train.py"
    if not script.exists():
        script.write_text(TRAIN_SCRIPT)
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(folder.parent)}
    out = subprocess.run([sys.executable, str(script), str(catalog_root)], cwd=folder, env=env,
                         capture_output=True, text=True, check=True).stdout
    with open(os.path.join(out.strip(), "manifest.yaml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_the_git_commit_of_the_training_code_is_recorded(empty_catalog, tmp_path):
    repo = tmp_path / "project"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN_SCRIPT)
    for args in (["init", "-q"], ["add", "train.py"], ["commit", "-q", "-m", "train"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    code = _run_script(repo, empty_catalog.root)["lineage"]["code"]
    assert code == {"commit": commit, "entrypoint": "train.py", "dirty": False}
    subprocess.run(["git", "remote", "add", "origin", "git@example.com:acme/fraud.git"], cwd=repo, check=True)
    (repo / "train.py").write_text(TRAIN_SCRIPT + "# tuned\n")
    code = _run_script(repo, empty_catalog.root)["lineage"]["code"]
    assert code == {"repo": "git@example.com:acme/fraud.git", "commit": commit, "entrypoint": "train.py",
                    "dirty": True}


def test_outside_git_the_run_still_registers(empty_catalog, tmp_path):
    folder = tmp_path / "scratch"
    folder.mkdir()
    manifest = _run_script(folder, empty_catalog.root)
    assert "code" not in manifest["lineage"]
    assert manifest["lineage"]["run"]["duration_s"] >= 0


def test_git_facts_skip_the_catalog_when_judging_dirty(tmp_path, monkeypatch):
    repo = tmp_path / "project"
    (repo / "catalog").mkdir(parents=True)
    (repo / "catalog" / "registry.yaml").write_text("format: 1\n")
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "c"]):
        subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)
    (repo / "catalog" / "registry.yaml").write_text("format: 1\nname: x\n")
    monkeypatch.chdir(repo)
    monkeypatch.setattr("registry_core.integrations.tracking.entrypoint", lambda: None)
    assert git_facts(exclude=repo / "catalog")["dirty"] is False
    assert git_facts()["dirty"] is True


def test_explicit_code_and_requirements_replace_detection(empty_catalog):
    with start_run("m", catalog=empty_catalog, code={"repo": "r", "commit": "abc"},
                   requirements=["torch==2.5.0"]) as run:
        pass
    manifest = manifest_of(run)
    assert manifest["lineage"]["code"] == {"repo": "r", "commit": "abc"}
    assert manifest["environment"]["requirements"] == ["torch==2.5.0"]
    assert json.loads(empty_catalog.query("SELECT tags FROM versions")["tags"][0]) == {}

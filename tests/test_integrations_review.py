"""CI/CD and review: pull (verified copy-out), diff (pull-request summary), card (Hugging Face format)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest
from builders import ALICE, BOB

from registry_core import Catalog
from registry_core.errors import CatalogError
from registry_core.integrations.card import model_card, render_card
from registry_core.integrations.diff import catalog_diff, to_markdown
from registry_core.integrations.pull import pull


def git(cwd, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


# -- pull -----------------------------------------------------------------------------------------------
def test_pull_copies_verified_files(fraud, tmp_path):
    rows = pull(fraud, "fraud-detector@production", tmp_path / "out")
    assert [(r["path"], r["status"]) for r in rows] == [("artifacts/model.bin", "verified")]
    assert (tmp_path / "out" / "model.bin").read_bytes() == b"weights v2"
    assert rows[0]["sha256"] == hashlib.sha256(b"weights v2").hexdigest()
    assert sorted(os.listdir(tmp_path / "out")) == ["model.bin"]  # no temporary leftovers


def test_pull_refuses_a_tampered_file_and_writes_nothing(fraud, cli, fraud_builder, tmp_path):
    (fraud.root / "models/fraud-detector/versions/2/artifacts/model.bin").write_bytes(b"weights v2!")
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.bin").write_bytes(b"previous deployment")
    result = cli("pull", "fraud-detector@2", "--to", str(out), catalog=fraud.root)
    assert result.code == 1 and "does not match its manifest" in result.err and "nothing was written" in result.err
    assert (out / "model.bin").read_bytes() == b"previous deployment"
    assert sorted(os.listdir(out)) == ["model.bin"]


def test_pull_never_writes_outside_the_folder(fraud, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (fraud.root / "models/fraud-detector/versions/1/artifacts/sub").mkdir()
    (fraud.root / "models/fraud-detector/versions/1/artifacts/sub/x.bin").write_bytes(b"x")
    manifest = fraud.root / "models/fraud-detector/versions/1/manifest.yaml"
    digest = hashlib.sha256(b"x").hexdigest()
    manifest.write_text(manifest.read_text().replace(
        "artifacts:\n", f"artifacts:\n- {{path: artifacts/sub/x.bin, sha256: {digest}, size: 1}}\n", 1))
    (out / "sub").symlink_to(outside)  # a link planted in the target folder
    with pytest.raises(CatalogError, match="outside"):
        pull(fraud, "fraud-detector@1", out)
    assert os.listdir(outside) == []


def test_pull_cli_json_and_unknown_ref(fraud, cli, tmp_path):
    result = cli("pull", "fraud-detector@champion", "--to", str(tmp_path / "d"), "--format", "json",
                 catalog=fraud.root)
    assert result.code == 0 and result.json[0]["target"].endswith("model.bin")
    missing = cli("pull", "fraud-detector@9", "--to", str(tmp_path / "e"), catalog=fraud.root)
    assert missing.code == 1 and "does not exist" in missing.err and not (tmp_path / "e").exists()


# -- card -----------------------------------------------------------------------------------------------
def test_card_is_parsed_by_huggingface_hub(fraud, tmp_path, cli):
    hub = pytest.importorskip("huggingface_hub")
    path = tmp_path / "README.md"
    result = cli("card", "fraud-detector@2", "--output", str(path), catalog=fraud.root)
    assert result.code == 0, result.err
    card = hub.ModelCard.load(path)
    assert card.data.model_name == "fraud-detector"
    assert card.data.datasets == ["transactions"]
    assert "binary-classification" in card.data.tags  # the model's task, as the manifest names none
    results = {(r.metric_type, r.dataset_split, r.metric_config): r for r in card.data.eval_results}
    assert results[("roc_auc", "test", None)].metric_value == pytest.approx(0.88)
    assert results[("roc_auc", "validation", None)].metric_value == pytest.approx(0.86)
    assert results[("recall", "test", "region=eu")].metric_value == pytest.approx(0.78)
    train = results[("log_loss", "train", None)]
    assert (train.dataset_name, train.dataset_revision, train.task_type) == ("transactions", "2026-10",
                                                                            "binary-classification")
    assert len(card.data.eval_results) == len(fraud.get("fraud-detector@2")["headline"])
    extra = card.data.to_dict()["modelreg"]
    assert extra["ref"] == "fraud-detector@2" and extra["stage"] == "production"
    assert extra["parents"] == ["fraud-detector@1"]
    assert extra["artifacts"][0]["sha256"] == hashlib.sha256(b"weights v2").hexdigest()
    assert "# fraud-detector v2" in card.text and "Velocity features" in card.text


def test_card_intended_stage_is_the_pending_request(fraud, tmp_path):
    hub = pytest.importorskip("huggingface_hub")
    info = fraud.get("fraud-detector@3")
    text = render_card(info, [{"version": 3, "stage": "production"}], "binary-classification")
    card = hub.ModelCard(text)
    assert card.data.to_dict()["modelreg"]["intended_stage"] == "production"
    assert "| Intended stage | production (requested, awaiting approval) |" in text
    bare = hub.ModelCard(model_card(fraud, "churn@1"))  # only the required manifest keys: still a valid card
    assert bare.data.eval_results is None and bare.data.to_dict()["modelreg"]["stage"] == "none"


# -- diff -------------------------------------------------------------------------------------------------
@pytest.fixture
def repo(fraud):
    """The fraud catalog committed on main, with a feature branch checked out."""
    root = fraud.root.parent
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "cat")
    git(root, "commit", "-q", "-m", "catalog")
    git(root, "checkout", "-q", "-b", "feature")
    return fraud


def test_diff_shows_new_versions_against_production_with_gates(repo):
    bob = repo.as_user(BOB)
    bob.register("fraud-detector", description="Deeper trees", artifacts=None, metrics=[
        {"metric": "roc_auc", "value": 0.91, "dataset": "test"},
        {"metric": "roc_auc", "value": 0.90, "dataset": "validation"},
        {"metric": "latency_p95_ms", "value": 60.0},
    ])
    git(repo.root.parent, "add", "cat")
    git(repo.root.parent, "commit", "-q", "-m", "register v4")
    bob.promote("fraud-detector", 4, "staging", reason="looks good")  # not committed yet: still part of the change
    repo.as_user(ALICE).log_metrics("fraud-detector@2", {"live": {"precision": 0.74}})
    result = catalog_diff(repo, "main")
    (version,) = result["versions"]
    assert version["ref"] == "fraud-detector@4" and version["production"] == "fraud-detector@2"
    by_metric = {(m["metric"], m["dataset"]): m for m in version["metrics"]}
    assert by_metric[("roc_auc", "test")]["production"] == 0.88
    assert by_metric[("roc_auc", "test")]["delta"] == pytest.approx(0.03) and by_metric[("roc_auc", "test")]["better"]
    assert by_metric[("latency_p95_ms", None)]["better"] is False
    production = {g["gate"]: g["passed"] for g in version["gates"]["production"]}
    assert production["latency_p95_ms <= 50"] is False and production["roc_auc [test] >= 0.85"] is True
    assert version["gates"]["staging"] == []  # already in staging: nothing left to evaluate
    assert [(e["action"], e["version"], e["stage"]) for e in result["events"]] == [("promote", 4, "staging")]
    assert [m["ref"] for m in result["metrics_added"]] == ["fraud-detector@2"]
    assert result["rewritten"] == [] and result["settings_changed"] is False
    text = to_markdown(result)
    assert "#### `fraud-detector@4` by bob@example.com (stage: staging)" in text
    assert "| roc_auc [test] | 0.91 | 0.88 | +0.03 ✅ |" in text
    assert "| latency_p95_ms | 60 | 45 | +15 ⚠️ |" in text
    assert "❌ latency_p95_ms <= 50: 60ms is above the maximum 50ms" in text
    assert "| bob@example.com | promote | fraud-detector@4 | staging | looks good |" in text


def test_diff_flags_edited_immutable_files_and_settings(repo, cli):
    manifest = repo.root / "models/fraud-detector/versions/1/manifest.yaml"
    manifest.write_text(manifest.read_text().replace("Baseline GBM", "Baseline GBM (edited)"))
    registry = repo.root / "registry.yaml"
    registry.write_text(registry.read_text().replace("min: 0.85", "min: 0.80"))
    result = cli("diff", "main", "--format", "json", catalog=repo.root)
    assert result.code == 0, result.err
    assert result.json["rewritten"] == [{"path": "models/fraud-detector/versions/1/manifest.yaml",
                                         "change": "modified"}]
    assert result.json["settings_changed"] is True
    text = cli("diff", "main", catalog=repo.root).out
    assert "Files that are written once were changed" in text and "registry.yaml changed" in text


def test_diff_with_no_change_and_bad_revision(repo, cli):
    assert "No catalog changes." in cli("diff", "main", catalog=repo.root).out
    bad = cli("diff", "no-such-branch", catalog=repo.root)
    assert bad.code == 1 and "unknown git revision 'no-such-branch'" in bad.err


def test_diff_when_the_catalog_is_new_on_the_branch(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    (root / "README").write_text("x")
    git(root, "add", "README")
    git(root, "commit", "-q", "-m", "start")
    cat = Catalog.init(root / "catalog", user=BOB)
    cat.register("fraud", metrics={"roc_auc": 0.9})
    result = catalog_diff(cat, "main")
    assert [v["ref"] for v in result["versions"]] == ["fraud@1"]
    assert result["versions"][0]["production"] is None
    assert "production (none)" in to_markdown(result)


def test_version_page_offers_the_card_as_a_download(fraud_builder, monkeypatch):
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("MODELREG_CATALOG", str(fraud_builder.root))
    monkeypatch.setenv("MODELREG_USER", BOB)
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=60)
    at.query_params["model"] = "fraud-detector"
    at.query_params["version"] = "2"
    at.run()
    at.switch_page("dashboard/pages/versions.py").run()
    assert not at.exception, [e.value for e in at.exception]
    (button,) = [e for e in at.get("download_button") if e.proto.label == "⬇️ Model card"]
    assert button.proto.help.startswith("A Markdown model card")

"""The bundled demo catalog: valid, verified, telling its story; and the script that builds it."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest
from hardening.checks import assert_resolve_agrees_with_replay

from registry_core import Catalog

ROOT = Path(__file__).resolve().parent.parent


def load_builder():
    pytest.importorskip("sklearn")
    pytest.importorskip("skops")
    spec = importlib.util.spec_from_file_location("build_demo_catalog", ROOT / "scripts" / "build_demo_catalog.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def demo(tmp_path) -> Catalog:
    """A copy of the committed catalog (reading it writes an index cache; keep the checkout clean)."""
    shutil.copytree(ROOT / "catalog", tmp_path / "catalog", ignore=shutil.ignore_patterns(".modelreg"))
    return Catalog(tmp_path / "catalog", user="alice@example.com")


def test_the_committed_catalog_is_valid_and_verified(demo):
    assert [p for p in demo.validate() if p["severity"] == "error"] == []
    checks = demo.verify()
    assert len(checks) >= 9 and all(c["ok"] for c in checks)
    size = sum(p.stat().st_size for p in demo.root.rglob("*") if p.is_file() and ".modelreg" not in p.parts)
    assert size < 5 * 2**20


def test_the_committed_catalog_tells_the_story(demo):
    versions = demo.query("SELECT model, count(*) AS n FROM versions GROUP BY model")
    assert len(versions) >= 3 and versions["n"].min() >= 4
    events = demo.history()
    actions = {e["action"] for e in events}
    assert {"request", "approve", "reject", "promote", "alias"} <= actions
    assert any(e["forced"] for e in events)
    assert any(e.get("rollback_of") for e in events)
    assert demo.query("SELECT * FROM requests")["by"].tolist() == ["bob@example.com"]
    assert "champion" in set(demo.query("SELECT alias FROM aliases")["alias"])
    assert demo.query("SELECT count(*) AS n FROM lineage WHERE kind = 'parent'")["n"][0] >= 1
    curves = demo.query("SELECT model, count(*) AS n FROM metrics WHERE step IS NOT NULL GROUP BY model")
    assert len(curves) == len(versions)
    live = demo.query("SELECT count(*) AS n FROM metrics WHERE timestamp IS NOT NULL")
    assert live["n"][0] >= 14
    datasets = demo.query("SELECT DISTINCT name FROM lineage WHERE kind = 'dataset'")
    assert len(datasets) >= 3
    for model in versions["model"]:
        for version in demo.versions(model):
            manifest = demo.get(f"{model}@{version['version']}")["manifest"]
            assert all(d.get("sha256") for d in manifest["lineage"]["datasets"])
            assert manifest["artifacts"][0]["path"] == "artifacts/model.skops"


def test_the_builder_refuses_to_delete_what_is_not_a_catalog(tmp_path):
    builder = load_builder()
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "registry.yaml").write_text("format: 1\n")
    (precious / "chapter1.tex").write_text("...")
    with pytest.raises(SystemExit, match="does not look like a modelreg catalog"):
        builder.prepare(precious)
    assert (precious / "chapter1.tex").exists()
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    with pytest.raises(SystemExit, match="not a folder"):
        builder.prepare(a_file)
    empty = tmp_path / "empty"
    empty.mkdir()
    builder.prepare(empty)  # an empty folder is fine to build into
    assert empty.is_dir()


def test_a_loaded_demo_model_predicts(demo):
    builder = load_builder()
    model, ref = builder.load_model(demo, "digits-classifier@champion")
    data = builder.digits()
    accuracy = (model.predict(data.X["test"]) == data.y["test"]).mean()
    headline = {(h["metric"], h["dataset"]): h["value"] for h in demo.get(ref)["headline"]}
    assert accuracy == pytest.approx(headline[("accuracy", "test")])


@pytest.mark.slow
def test_the_builder_rebuilds_a_valid_catalog(tmp_path, capsys):
    builder = load_builder()
    out = tmp_path / "demo"
    assert builder.main(["--out", str(out)]) == 0
    assert "validate: 0 errors" in capsys.readouterr().out
    builder.prepare(out)  # what it built, it may delete again
    assert not out.exists()


def test_every_reference_resolves_as_the_replay_of_the_events_says(demo):
    """``resolve`` reads the index's replayed stages and aliases; on the real histories of the demo
    catalog (promotions, rollbacks, archived versions, aliases) it agrees with replaying the events."""
    for model in [m["model"] for m in demo.models()]:
        aliases = [r["alias"] for r in demo.sql("SELECT alias FROM aliases WHERE model = ?", [model])]
        assert_resolve_agrees_with_replay(demo, model, aliases)


def test_listed_stage_holders_are_the_replayed_ones_most_recent_first(demo):
    listed = demo.models()
    assert any(len(versions) > 1 for row in listed for versions in row["stages"].values())
    for row in listed:
        state = demo.state(row["model"])
        assert row["stages"] == {s: state.holders(s) for s in demo.settings.stage_names if state.holders(s)}

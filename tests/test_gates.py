"""SPEC 1.2 gates, through ``modelreg promote --format json``, on hand-written catalogs."""

import pytest
import yaml
from builders import CatalogBuilder

from registry_core.format.settings import Gate, Settings
from registry_core.lifecycle.gates import evaluate


def catalog(cat_path, gates, metrics=None, declared=None, holder=None, **version_fields):
    """A catalog whose staging policy has ``gates``; m@1 holds production with ``holder`` metrics; m@2 is the
    candidate with ``metrics``."""
    registry = {"format": 1, "metrics": declared or {}, "policies": {"staging": {"gates": gates}}}
    b = CatalogBuilder(cat_path, registry=yaml.safe_dump(registry))
    b.version("m", 1, metrics=[{"metric": k, "value": v} for k, v in (holder or {}).items()])
    if holder is not None:
        b.event("m", "promote", "2026-10-02T00:00:00Z", "x", version=1, stage="production")
    b.version("m", 2, "2026-10-03T00:00:00Z", metrics=metrics if isinstance(metrics, list) else
              [{"metric": k, "value": v} for k, v in (metrics or {}).items()], **version_fields)
    return b


def promote(cli):
    result = cli("promote", "m", "2", "staging", "--format", "json")
    assert result.code in (0, 3), result.err
    return result


def only_gate(result):
    (gate,) = result.json["gates"]
    return gate


# -- absolute ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("value, passed", [(0.79, False), (0.8, True), (0.95, True)])
def test_min(cli, cat_path, value, passed):
    catalog(cat_path, [{"metric": "acc", "min": 0.8}], {"acc": value})
    result = promote(cli)
    assert result.code == (0 if passed else 3)
    gate = only_gate(result)
    assert gate == {"gate": "acc >= 0.8", "passed": passed, "value": value, "baseline": 0.8,
                    "message": f"{value:g} is within bounds" if passed else f"{value:g} is below the minimum 0.8"}


@pytest.mark.parametrize("value, passed", [(51, False), (50, True), (10, True)])
def test_max_with_unit(cli, cat_path, value, passed):
    catalog(cat_path, [{"metric": "latency_ms", "max": 50}], {"latency_ms": value},
            declared={"latency_ms": {"goal": "min", "unit": "ms"}})
    result = promote(cli)
    gate = only_gate(result)
    assert (gate["passed"], gate["baseline"]) == (passed, 50)
    if not passed:
        assert gate["message"] == "51ms is above the maximum 50ms"
        assert result.err.strip() == ("error: refused: m@2 -> staging: gate failed: latency_ms <= 50: "
                                      "51ms is above the maximum 50ms")


def test_min_and_max_together(cli, cat_path):
    catalog(cat_path, [{"metric": "size", "min": 1, "max": 2}], {"size": 3})
    gate = only_gate(promote(cli))
    assert gate["gate"] == "size >= 1 and <= 2" and not gate["passed"]


def test_missing_metric_fails(cli, cat_path):
    catalog(cat_path, [{"metric": "acc", "min": 0.5}], {"other": 1.0})
    gate = only_gate(promote(cli))
    assert not gate["passed"] and gate["value"] is None and gate["message"] == "no value for acc"


def test_dataset_is_picked(cli, cat_path):
    rows = [{"metric": "acc", "value": 0.9, "dataset": "test"}, {"metric": "acc", "value": 0.5, "dataset": "val"}]
    catalog(cat_path, [{"metric": "acc", "dataset": "test", "min": 0.8}], rows)
    gate = only_gate(promote(cli))
    assert gate["passed"] and gate["value"] == 0.9 and gate["gate"] == "acc [test] >= 0.8"


def test_no_dataset_named_when_several_exist_fails_with_the_reason(cli, cat_path):
    rows = [{"metric": "acc", "value": 0.9, "dataset": "test"}, {"metric": "acc", "value": 0.5, "dataset": "val"}]
    catalog(cat_path, [{"metric": "acc", "min": 0.1}], rows)
    gate = only_gate(promote(cli))
    assert not gate["passed"] and "several datasets (test, val)" in gate["message"]


def test_slice_gate(cli, cat_path):
    rows = [{"metric": "recall", "value": 0.9, "dataset": "test"},
            {"metric": "recall", "value": 0.6, "dataset": "test", "slice": "region=eu"}]
    catalog(cat_path, [{"metric": "recall", "dataset": "test", "slice": "region=eu", "min": 0.7}], rows)
    gate = only_gate(promote(cli))
    assert gate["gate"] == "recall [test] [region=eu] >= 0.7"
    assert not gate["passed"] and gate["value"] == 0.6


# -- relative to a stage holder, direction-aware -------------------------------------------------------------
@pytest.mark.parametrize("metric, declared, candidate, passed", [
    ("roc_auc", {"roc_auc": {"goal": "max"}}, 0.896, True),       # within tolerance below the holder
    ("roc_auc", {"roc_auc": {"goal": "max"}}, 0.894, False),      # worse by more than the tolerance
    ("roc_auc", {}, 0.894, False),                                 # undeclared: higher is better
    ("val_loss", {}, 0.904, True),                                 # undeclared "loss": lower is better
    ("val_loss", {}, 0.906, False),
    ("p95_latency", {}, 0.8, True),
    ("train_time_s", {}, 0.95, False),
    ("error_budget", {"error_budget": {"goal": "max"}}, 0.95, True),   # declared goal beats the name rule
    ("error_budget", {}, 0.95, False),
    ("model_size_mb", {"model_size_mb": {"goal": "min"}}, 0.95, False),
])
def test_vs_holder_with_tolerance_follows_the_goal(cli, cat_path, metric, declared, candidate, passed):
    catalog(cat_path, [{"metric": metric, "vs": "production", "tolerance": 0.005}], {metric: candidate},
            declared=declared, holder={metric: 0.9})
    result = promote(cli)
    gate = only_gate(result)
    assert (gate["passed"], gate["value"], gate["baseline"]) == (passed, candidate, 0.9)
    assert gate["gate"] == f"{metric} not worse than production (tolerance 0.005)"
    assert "production v1: 0.9" in gate["message"]
    assert result.code == (0 if passed else 3)


def test_vs_without_tolerance_means_not_worse_at_all(cli, cat_path):
    catalog(cat_path, [{"metric": "acc", "vs": "production"}], {"acc": 0.8999}, holder={"acc": 0.9})
    assert not only_gate(promote(cli))["passed"]


def test_vs_with_no_holder_passes_and_says_so(cli, cat_path):
    catalog(cat_path, [{"metric": "acc", "vs": "production"}], {"acc": 0.5})
    gate = only_gate(promote(cli))
    assert gate["passed"] and gate["baseline"] is None
    assert gate["message"] == "no version in production to compare with"


def test_vs_when_the_holder_lacks_the_metric_passes_and_says_so(cli, cat_path):
    catalog(cat_path, [{"metric": "acc", "vs": "production"}], {"acc": 0.5}, holder={"other": 1.0})
    gate = only_gate(promote(cli))
    assert gate["passed"] and "has no value to compare with" in gate["message"]


# -- built-in checks -----------------------------------------------------------------------------------------
def test_artifacts_verified_passes_and_fails_after_tampering(cli, cat_path):
    b = catalog(cat_path, [{"check": "artifacts_verified"}], {}, artifacts={"w.bin": b"weights"})
    gate = only_gate(cli("promote", "m", "2", "staging", "--format", "json"))
    assert gate == {"gate": "check artifacts_verified", "passed": True, "value": None, "baseline": None,
                    "message": "1 artifact(s) verified"}
    cli("promote", "m", "2", "archived")
    (b.root / "models/m/versions/2/artifacts/w.bin").write_bytes(b"tampered")
    result = promote(cli)
    assert result.code == 3 and "sha256 mismatch" in only_gate(result)["message"]


def test_artifacts_verified_fails_without_artifacts(cli, cat_path):
    catalog(cat_path, [{"check": "artifacts_verified"}], {})
    gate = only_gate(promote(cli))
    assert not gate["passed"] and gate["message"] == "no artifacts recorded"


def test_artifacts_verified_fails_on_a_missing_file(cli, cat_path):
    b = catalog(cat_path, [{"check": "artifacts_verified"}], {}, artifacts={"w.bin": b"weights"})
    (b.root / "models/m/versions/2/artifacts/w.bin").unlink()
    gate = only_gate(promote(cli))
    assert not gate["passed"] and "missing" in gate["message"]


@pytest.mark.parametrize("fields, passed", [
    ({}, False),
    ({"lineage": {"datasets": [{"name": "d"}]}}, True),
    ({"lineage": {"parents": ["m@1"]}}, True),
    ({"lineage": {"code": {"commit": "abc"}}}, False),
])
def test_has_lineage(cli, cat_path, fields, passed):
    catalog(cat_path, [{"check": "has_lineage"}], {}, **fields)
    assert only_gate(promote(cli))["passed"] is passed


@pytest.mark.parametrize("fields, passed", [({}, False), ({"description": "   "}, False),
                                            ({"description": "GBM"}, True)])
def test_has_description(cli, cat_path, fields, passed):
    catalog(cat_path, [{"check": "has_description"}], {}, **fields)
    assert only_gate(promote(cli))["passed"] is passed


def test_every_gate_is_reported_even_when_the_first_fails(cli, cat_path):
    catalog(cat_path, [{"metric": "acc", "min": 0.9}, {"check": "has_description"}, {"metric": "acc", "max": 1}],
            {"acc": 0.5}, description="d")
    result = promote(cli)
    assert [g["passed"] for g in result.json["gates"]] == [False, True, True]
    assert result.code == 3


# -- bad gates in registry.yaml ------------------------------------------------------------------------------
@pytest.mark.parametrize("gate, words", [
    ({"metric": "acc"}, "needs 'min', 'max' or 'vs'"),
    ({"check": "is_awesome"}, "unknown check"),
    ({"metric": "acc", "min": "high"}, "expected a number"),
    ({"metric": "acc", "min": 1, "colour": "red"}, "unknown gate key"),
    ({"min": 1}, "needs 'metric' or 'check'"),
])
def test_bad_gates_are_named_by_validate_and_refuse_writes(cli, cat_path, gate, words):
    catalog(cat_path, [gate], {"acc": 1.0})
    result = cli("validate")
    assert result.code == 1 and "registry.yaml" in result.out and words in result.out
    refused = cli("promote", "m", "2", "staging")
    assert refused.code == 1 and words in refused.err


# -- the pure evaluator --------------------------------------------------------------------------------------
def test_evaluate_is_pure_and_asks_for_the_baseline_only_for_vs_gates():
    asked = []

    def baseline_for(stage):
        asked.append(stage)
        return 7, {("loss", None, None): 0.5}

    results = evaluate((Gate(metric="loss", max=1.0), Gate(metric="loss", vs="production", tolerance=0.1)),
                       {("loss", None, None): 0.55}, Settings(), baseline_for, {})
    assert [r.passed for r in results] == [True, True]
    assert asked == ["production"] and results[1].baseline == 0.5

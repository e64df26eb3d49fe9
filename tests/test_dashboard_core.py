"""The derived answers the dashboard draws (they live in registry_core, so the CLI could use them too)."""

from __future__ import annotations

import pytest
from builders import ALICE

from registry_core.errors import InvalidInput
from registry_core.format.settings import Settings
from registry_core.lifecycle.compare import default_versions, pareto_front, primary_metric


def test_pareto_front_respects_each_axis_direction():
    points = {"a": (0.90, 40.0), "b": (0.88, 30.0), "c": (0.85, 35.0), "d": (0.90, 50.0), "e": (0.80, 20.0)}
    # maximise x (roc_auc), minimise y (latency): c is beaten by b, d by a
    assert pareto_front(points, ("max", "min")) == ["e", "b", "a"]
    # maximise both: only the top-right corner survives
    assert pareto_front(points, ("max", "max")) == ["d"]


def test_pareto_front_keeps_ties_and_handles_empty():
    assert pareto_front({"a": (1.0, 1.0), "b": (1.0, 1.0)}, ("max", "max")) == ["a", "b"]
    assert pareto_front({}, ("max", "min")) == []


def test_default_versions_are_production_staging_then_newest():
    rows = [{"version": 5, "stage": "none"}, {"version": 4, "stage": "staging"},
            {"version": 3, "stage": "staging"}, {"version": 2, "stage": "production"},
            {"version": 1, "stage": "archived"}]
    assert default_versions(rows) == [2, 4, 5]
    assert default_versions([{"version": 1, "stage": "production"}]) == [1]
    assert default_versions([]) == []


def test_primary_metric_prefers_declared_metrics_on_test():
    settings = Settings(metrics={"roc_auc": {"goal": "max"}, "log_loss": {"goal": "min"}})
    keys = ["log_loss[test]", "roc_auc[validation]", "roc_auc[test]", "roc_auc[test|region=eu]", "accuracy"]
    assert primary_metric(settings, keys) == "roc_auc[test]"
    assert primary_metric(Settings(), ["zeta", "alpha[val]"]) == "alpha[val]"
    assert primary_metric(settings, []) is None


def test_dataset_usage_lists_versions_and_their_deployments(fraud):
    names = {d["name"]: d for d in fraud.datasets()}
    assert names["transactions"]["versions"] == 2
    assert names["transactions"]["refs"] == ["transactions@2026-09", "transactions@2026-09-holdout",
                                             "transactions@2026-10"]
    usage = fraud.dataset_usage("transactions")
    assert [(u["version"], u["dataset"], u["role"], u["stage"]) for u in usage] == [
        (2, "transactions@2026-10", "train", "production"),
        (1, "transactions@2026-09", "train", "archived"),
        (1, "transactions@2026-09-holdout", "test", "archived"),
    ]
    assert usage[0]["deployed"] == ["production", "staging"]
    assert usage[1]["deployed"] == ["production", "staging"]
    assert fraud.dataset_usage("nothing-like-this") == []
    assert fraud.as_user(ALICE).dataset_usage("transactions") == usage


def test_metric_rows_keep_keys_the_first_row_lacks(empty_catalog):
    """A slice (or step, timestamp) named only on later rows must not be dropped silently."""
    empty_catalog.register("m", metrics=[{"metric": "roc_auc", "value": 0.9, "dataset": "test"},
                                         {"metric": "recall", "value": 0.8, "dataset": "test", "slice": "region=eu"},
                                         {"metric": "loss", "value": 0.5, "step": 3}])
    rows = {(r["metric"], r["slice"], r["step"]) for r in empty_catalog.metrics("m@1")}
    assert rows == {("roc_auc", None, None), ("recall", "region=eu", None), ("loss", None, 3)}


def test_lineage_dot_colours_parents_by_stage_when_told(fraud):
    from registry_core.integrations.lineage_dot import STAGE_COLORS, to_dot

    info = fraud.lineage("fraud-detector@2")
    assert '"fraud-detector@1" [shape=box];' in to_dot(info)
    coloured = to_dot(info, {"fraud-detector@1": "archived"})
    archived = STAGE_COLORS["archived"]
    assert f'"fraud-detector@1" [shape=box, style=filled, fillcolor="{archived}", fontcolor=white];' in coloured


def test_primary_metric_takes_the_test_dataset_before_test_shifted():
    settings = Settings(metrics={"log_loss": {"goal": "min"}})
    keys = ["log_loss[test-shifted]", "log_loss[test]", "log_loss[validation]", "accuracy[test]"]
    assert primary_metric(settings, keys) == "log_loss[test]"
    assert primary_metric(Settings(), ["a[test-shifted]", "a[test|eu]", "a[test]"]) == "a[test]"


def test_next_stage_follows_the_order_and_never_defaults_to_archived():
    from registry_core.lifecycle.policy import next_stage

    settings = Settings()
    assert [next_stage(settings, s) for s in ("none", "staging", "production", "archived")] == [
        "staging", "production", "production", "staging"]


def test_compare_with_puts_other_holders_or_the_newest_beside_a_version():
    from registry_core.lifecycle.compare import compare_with

    rows = [{"version": 5, "stage": "none"}, {"version": 4, "stage": "staging"},
            {"version": 2, "stage": "production"}, {"version": 1, "stage": "archived"}]
    assert compare_with(rows, 2) == [2, 4, 5]
    assert compare_with([{"version": 3, "stage": "production"}, {"version": 2, "stage": "none"},
                         {"version": 1, "stage": "none"}], 3) == [3, 2, 1]


def test_event_sentences_name_the_request_they_answer():
    from registry_core.lifecycle.events import sentence

    row = {"id": "x", "at": None, "by": "alice", "model": "m", "action": "reject", "version": 4,
           "stage": "production", "request": "20261207T000000.000000Z-12345678", "forced": None, "extra": 1}
    assert sentence(row) == "alice rejected the request for m@4 -> production"


def test_usage_by_version_folds_roles_and_dataset_versions():
    from registry_core.integrations.impact import usage_by_version

    usage = [{"model": "m", "version": 2, "dataset": "d@1", "role": "train", "stage": "production",
              "deployed": ["production"]},
             {"model": "m", "version": 2, "dataset": "d@2", "role": "test", "stage": "production",
              "deployed": ["production"]},
             {"model": "m", "version": 1, "dataset": "d", "role": None, "stage": "none", "deployed": []}]
    rows = usage_by_version(usage)
    assert [(r["ref"], r["roles"], r["dataset_versions"]) for r in rows] == [
        ("m@2", ["train", "test"], ["1", "2"]), ("m@1", ["?"], ["(unversioned)"])]


def test_filter_versions_by_metrics_and_params(fraud):
    assert fraud.filter_versions("fraud-detector", "roc_auc[test] >= 0") == [
        v["version"] for v in fraud.versions("fraud-detector") if "roc_auc[test]" in v.get("metrics", {})]
    best = max(v["metrics"]["roc_auc[test]"] for v in fraud.versions("fraud-detector") if "metrics" in v
               and "roc_auc[test]" in v["metrics"])
    assert fraud.filter_versions("fraud-detector", f"roc_auc[test] >= {best}") != []
    assert fraud.filter_versions("fraud-detector", f"roc_auc[test] > {best}") == []
    params = fraud.params("fraud-detector")
    name, value, version = params[0]["name"], params[0]["value"], params[0]["version"]
    assert version in fraud.filter_versions("fraud-detector", f"{name} = {value}")
    with pytest.raises(InvalidInput, match="cannot read"):
        fraud.filter_versions("fraud-detector", "roc_auc[test] is high")
    with pytest.raises(InvalidInput, match="not a number"):
        fraud.filter_versions("fraud-detector", "optimizer > adam")


def test_compare_charts_leave_out_seeds_and_train_metrics():
    from registry_core.lifecycle.compare import default_bars, tunable_params

    assert tunable_params(["seed", "random_state", "model.seed", "learning_rate", "seeds_per_batch"]) == [
        "learning_rate", "seeds_per_batch"]
    keys = ["log_loss[train]", "roc_auc[test]", "roc_auc[train]", "roc_auc[test|eu]", "latency_p95_ms"]
    assert default_bars(keys, "roc_auc[test]") == ["roc_auc[test]", "latency_p95_ms"]


def test_best_cells_stay_readable_in_dark_mode():
    """A translucent fill and no fixed text colour: the theme's text (dark or light) stays on top."""
    import re

    from dashboard.charts import BEST_CELL

    assert "background-color: rgba(" in BEST_CELL
    alpha = float(re.search(r"rgba\([^)]*,\s*([0-9.]+)\)", BEST_CELL).group(1))
    assert alpha <= 0.4
    assert not re.search(r"(^|;)\s*color:", BEST_CELL)

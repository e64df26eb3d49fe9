"""The derived answers the dashboard draws (they live in registry_core, so the CLI could use them too)."""

from __future__ import annotations

from builders import ALICE

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

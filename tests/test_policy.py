"""Who may do what: pure decisions, each with its reason (the CLI's exit-3 text and the dashboard's tooltip)."""

import datetime as dt

import pytest
from builders import ALICE, BOB, CAROL, MALLORY, SPEC_REGISTRY

from registry_core.format.settings import Policy, default_goal, parse_settings
from registry_core.format.yamlio import loads
from registry_core.lifecycle.events import Request
from registry_core.lifecycle.policy import from_rule, may_answer, may_approve, may_request, may_set_alias, target_stage


@pytest.fixture
def settings():
    return parse_settings(loads(SPEC_REGISTRY.encode(), "registry.yaml"), "registry.yaml")


def request(by=BOB):
    return Request("r1", "m", 4, "production", by, dt.datetime.now(dt.UTC), None, 1)


def test_requesters_by_role_or_user(settings):
    production = settings.policies["production"]
    assert may_request(settings, production, BOB) and may_request(settings, production, ALICE)
    refused = may_request(settings, production, MALLORY)
    assert not refused and refused.reason == ("mallory@example.com (no role) may not request production; "
                                              "requesters are: data-scientist, lead")
    assert may_request(settings, Policy("staging", requesters=(MALLORY,)), MALLORY)


def test_absent_lists_mean_anyone(settings):
    staging = settings.policies["staging"]
    assert may_request(settings, staging, MALLORY) and may_approve(settings, staging, MALLORY)
    assert may_set_alias(settings, "challenger", MALLORY)


def test_approvers(settings):
    production = settings.policies["production"]
    assert may_approve(settings, production, ALICE)
    assert may_approve(settings, production, CAROL).reason == (
        "carol@example.com (data-scientist) is not an approver for production; approvers are: lead")


def test_answering_requests(settings):
    production = settings.policies["production"]
    assert not may_answer(settings, production, request(), BOB, "approve")
    assert may_answer(settings, production, request(), ALICE, "approve")
    assert may_answer(settings, production, request(), ALICE, "reject")
    assert not may_answer(settings, production, request(), CAROL, "reject")
    assert may_answer(settings, production, request(), BOB, "cancel")
    assert may_answer(settings, production, request(), ALICE, "cancel")
    assert not may_answer(settings, production, request(), CAROL, "cancel")
    approved = request(by=CAROL)
    approved.approvals.append(ALICE)
    assert "already approved" in may_answer(settings, production, approved, ALICE, "approve").reason
    # the requester cannot approve even as an approver
    assert "cannot approve it" in may_answer(settings, production, request(by=ALICE), ALICE, "approve").reason


def test_from_rule(settings):
    production = settings.policies["production"]
    assert from_rule(production, "staging")
    assert from_rule(production, "none").reason == "must be in staging before production; it is in none"
    assert from_rule(Policy("production", from_stages=("staging", "canary")), "archived").reason == (
        "must be in staging or canary before production; it is in archived")
    assert from_rule(settings.policies["staging"], "none")


def test_alias_setters(settings):
    assert may_set_alias(settings, "champion", ALICE)
    assert not may_set_alias(settings, "champion", BOB)


def test_target_stage(settings):
    assert target_stage(settings, "production") and target_stage(settings, "archived")
    assert "cannot promote to 'none'" in target_stage(settings, "none").reason
    assert "unknown stage 'prod'" in target_stage(settings, "prod").reason


@pytest.mark.parametrize("metric, goal", [
    ("roc_auc", "max"), ("accuracy", "max"), ("log_loss", "min"), ("val_error", "min"), ("MAE", "min"),
    ("mse", "min"), ("rmse", "min"), ("latency_p95_ms", "min"), ("inference_time", "min"), ("model_size", "min"),
    ("f1", "max"), ("throughput", "max"),
])
def test_undeclared_metric_direction(metric, goal):
    assert default_goal(metric) == goal


def test_declared_goal_wins(settings):
    assert settings.goal("log_loss") == "min" and settings.goal("roc_auc") == "max"
    assert settings.goal("recall") == "max" and settings.goal("train_loss") == "min"

"""SPEC 1.6 and 2: promotions, requests, approvals, rejections, cancels, --force, rollback, events.

Runs on the hand-written spec catalog (registry.yaml of SPEC 1.2): production needs staging first,
five gates, one approval from a lead; requesters are data scientists and leads.
"""

import datetime as dt

import pytest
import yaml
from builders import ALICE, BOB, CAROL, MALLORY, staging_gate

FD = "fraud-detector"


@pytest.fixture
def story(fraud_builder, fraud):
    """The fraud catalog plus v4: good on every gate, with an artifact, in staging."""
    fraud_builder.version(FD, 4, "2026-11-05T10:00:00Z", created_by=BOB, description="v4",
                          artifacts={"model.bin": b"weights v4"},
                          lineage={"datasets": [{"name": "transactions", "version": "2026-11"}]},
                          metrics=[{"metric": "roc_auc", "value": 0.90, "dataset": "test"},
                                   {"metric": "roc_auc", "value": 0.88, "dataset": "validation"},
                                   {"metric": "latency_p95_ms", "value": 42.0},
                                   {"metric": "recall", "value": 0.80, "dataset": "test", "slice": "region=eu"}])
    fraud_builder.event(FD, "promote", "2026-11-05T11:00:00Z", ALICE, version=4, stage="staging",
                        gates=[staging_gate(0.88)])
    return fraud


def events(cat):
    folder = cat.root / f"models/{FD}/events"
    return [yaml.safe_load(p.read_text()) for p in sorted(folder.glob("*.yaml"))]


def request_v4(cli, user=BOB):
    result = cli("promote", FD, "4", "production", "--reason", "better on every gate", "--format", "json", user=user)
    assert result.code == 0, result.err
    return result.json


# -- stages --------------------------------------------------------------------------------------------------
def test_exclusive_stage_archives_the_previous_holder(cli, empty_catalog):
    for _ in range(3):
        empty_catalog.register("m")
    assert cli("promote", "m", "1", "production").code == 0
    assert cli("promote", "m", "2", "production").code == 0
    stages = {r["version"]: r["stage"] for r in empty_catalog.sql("SELECT version, stage FROM versions")}
    assert stages == {1: "archived", 2: "production", 3: "none"}


def test_non_exclusive_stage_holds_several_and_ref_means_the_newest(cli, empty_catalog):
    for _ in range(3):
        empty_catalog.register("m")
    cli("promote", "m", "2", "staging")
    cli("promote", "m", "1", "staging")
    assert sorted(r["version"] for r in empty_catalog.sql("SELECT version FROM stages WHERE stage = 'staging'")) \
        == [1, 2]
    assert cli("resolve", "m@staging").out.strip() == "m@1"      # the most recently promoted


def test_stages_come_from_registry_yaml(cli, empty_catalog):
    (empty_catalog.root / "registry.yaml").write_text(
        "format: 1\nstages:\n  - name: canary\n  - name: live\n    exclusive: true\n")
    empty_catalog.register("m")
    empty_catalog.register("m")
    assert cli("promote", "m", "1", "canary").code == 0
    assert cli("promote", "m", "1", "live").code == 0
    assert cli("promote", "m", "2", "live").code == 0
    assert cli("resolve", "m@archived").out.strip() == "m@1"     # archived is always there
    unknown = cli("promote", "m", "2", "production")
    assert unknown.code == 1 and "unknown stage 'production'" in unknown.err and "canary" in unknown.err


@pytest.mark.parametrize("stage", ["none", "bogus"])
def test_promote_to_none_or_an_unknown_stage_exits_1(cli, empty_catalog, stage):
    empty_catalog.register("m")
    assert cli("promote", "m", "1", stage).code == 1


def test_promote_a_missing_version_or_into_its_own_stage_exits_1(cli, empty_catalog):
    empty_catalog.register("m")
    assert cli("promote", "m", "7", "staging").code == 1
    cli("promote", "m", "1", "staging")
    again = cli("promote", "m", "1", "staging")
    assert again.code == 1 and "already in staging" in again.err


def test_without_policies_anyone_promotes_directly(cli, empty_catalog):
    empty_catalog.register("m")
    result = cli("promote", "m", "1", "production", "--format", "json", user=MALLORY)
    assert result.json == {"status": "promoted", "request": None, "reason": None, "gates": []}


# -- the from rule, requesters -------------------------------------------------------------------------------
def test_from_rule_refuses_with_exit_3_and_the_exact_reason(cli, story):
    result = cli("promote", FD, "3", "production", user=ALICE)
    assert result.code == 3
    assert result.err.startswith("error: refused: fraud-detector@3 -> production: ")
    assert "must be in staging before production; it is in none" in result.err
    assert result.err.count("\n") == 1


def test_requesters_from_roles(cli, story):
    result = cli("promote", FD, "4", "production", user=MALLORY)
    assert result.code == 3
    assert ("mallory@example.com (no role) may not request production; requesters are: data-scientist, lead"
            in result.err)
    assert len(events(story)) == 8       # nothing written


# -- requests and approvals ----------------------------------------------------------------------------------
def test_request_then_approval_by_a_lead_promotes(cli, story):
    pending = request_v4(cli)
    assert pending["status"] == "pending" and pending["request"]
    assert [set(g) for g in pending["gates"]] == [{"gate", "passed", "value", "baseline", "message"}] * 5
    assert all(g["passed"] for g in pending["gates"])
    listed = cli("requests", FD, "--format", "json").json
    assert [(r["id"], r["version"], r["stage"], r["by"], r["approvals"], r["needed"]) for r in listed] == [
        (pending["request"], 4, "production", BOB, 0, 1)]
    assert cli("resolve", f"{FD}@production").out.strip() == f"{FD}@2"   # not yet

    approved = cli("approve", FD, pending["request"], "--reason", "looks good", "--format", "json", user=ALICE)
    assert approved.code == 0, approved.err
    assert approved.json == {"status": "promoted", "request": pending["request"], "approvals": 1, "needed": 1}
    assert cli("resolve", f"{FD}@production").out.strip() == f"{FD}@4"
    assert cli("resolve", f"{FD}@2", "--format", "json").json["stage"] == "archived"
    assert cli("requests", "--format", "json").json == []


def test_requester_cannot_approve_own_request(cli, story):
    pending = request_v4(cli)
    own = cli("approve", FD, pending["request"], user=BOB)
    assert own.code == 3
    assert "bob@example.com opened this request and cannot approve it" in own.err


def test_only_approvers_approve(cli, story):
    pending = request_v4(cli)
    result = cli("approve", FD, pending["request"], user=CAROL)
    assert result.code == 3
    assert ("carol@example.com (data-scientist) is not an approver for production; approvers are: lead"
            in result.err)
    assert cli("requests", "--format", "json").json[0]["approvals"] == 0


def test_two_approvals_from_two_other_people(cli, story, fraud_builder):
    fraud_builder.model(FD, policies={"production": {"approvals": 2, "approvers": ["lead", "data-scientist"]}})
    pending = request_v4(cli)
    first = cli("approve", FD, pending["request"], "--format", "json", user=CAROL)
    assert first.json == {"status": "pending", "request": pending["request"], "approvals": 1, "needed": 2}
    twice = cli("approve", FD, pending["request"], user=CAROL)
    assert twice.code == 3 and "already approved" in twice.err
    assert cli("approve", FD, pending["request"], user=BOB).code == 3      # still the requester
    assert cli("approve", FD, pending["request"], "--format", "json", user=ALICE).json["status"] == "promoted"
    assert cli("resolve", f"{FD}@production").out.strip() == f"{FD}@4"


def test_a_second_request_for_the_same_move_is_a_conflict(cli, story):
    request_v4(cli)
    again = cli("promote", FD, "4", "production", user=CAROL)
    assert again.code == 1 and "already pending" in again.err


def test_reject(cli, story):
    pending = request_v4(cli)
    result = cli("reject", FD, pending["request"], "--reason", "not this week", "--format", "json", user=ALICE)
    assert result.json["status"] == "rejected"
    assert cli("requests", "--format", "json").json == []
    late = cli("approve", FD, pending["request"], user=ALICE)
    assert late.code == 1 and "rejected, not pending" in late.err
    assert cli("resolve", f"{FD}@production").out.strip() == f"{FD}@2"
    assert cli("reject", FD, "no-such-request", user=ALICE).code == 1


def test_cancel_by_requester_or_approver_only(cli, story):
    pending = request_v4(cli)
    other = cli("cancel", FD, pending["request"], user=CAROL)
    assert other.code == 3 and "only the requester (bob@example.com) or an approver" in other.err
    assert cli("cancel", FD, pending["request"], "--format", "json").json["status"] == "cancelled"
    assert cli("requests", "--format", "json").json == []
    second = request_v4(cli)
    assert cli("cancel", FD, second["request"], user=ALICE).code == 0


def test_reject_is_for_approvers(cli, story):
    pending = request_v4(cli)
    assert cli("reject", FD, pending["request"], user=CAROL).code == 3


# -- gates at promotion time ---------------------------------------------------------------------------------
def test_failing_gates_exit_3_with_the_checklist(cli, story):
    cli("promote", FD, "3", "staging", "--force", "--reason", "try", user=ALICE)
    result = cli("promote", FD, "3", "production", "--format", "json", user=BOB)
    assert result.code == 3
    assert result.json["status"] == "refused" and result.json["request"] is None
    failed = [g["gate"] for g in result.json["gates"] if not g["passed"]]
    assert failed == ["roc_auc [test] >= 0.85", "roc_auc [test] not worse than production (tolerance 0.005)",
                      "latency_p95_ms <= 50", "recall [test] [region=eu] >= 0.7", "check artifacts_verified"]
    assert "gate failed: roc_auc [test] >= 0.85: 0.8 is below the minimum 0.85" in result.err
    table = cli("promote", FD, "3", "production", user=BOB)
    assert table.code == 3 and "[ ] latency_p95_ms <= 50: 60ms is above the maximum 50ms" in table.out


def test_gates_are_re_checked_when_the_last_approval_lands(cli, story, fraud_builder):
    pending = request_v4(cli)
    # meanwhile production got a much better holder: v4 is now worse than it by more than the tolerance
    fraud_builder.version(FD, 5, "2026-11-06T00:00:00Z", metrics=[{"metric": "roc_auc", "value": 0.99,
                                                                  "dataset": "test"}])
    later = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # after the request, as in real life
    fraud_builder.event(FD, "promote", later, ALICE, version=5, stage="production", forced=True, reason="hotfix")
    result = cli("approve", FD, pending["request"], user=ALICE)
    assert result.code == 3 and "not worse than production" in result.err
    assert cli("resolve", f"{FD}@production").out.strip() == f"{FD}@5"


# -- --force -------------------------------------------------------------------------------------------------
def test_force_needs_a_reason(cli, story):
    result = cli("promote", FD, "3", "production", "--force", user=ALICE)
    assert result.code == 1 and "--force needs a --reason" in result.err
    assert len(events(story)) == 8


def test_force_is_for_approvers_only(cli, story):
    result = cli("promote", FD, "3", "production", "--force", "--reason", "trust me", user=BOB)
    assert result.code == 3
    assert "--force: bob@example.com (data-scientist) is not an approver for production" in result.err
    assert len(events(story)) == 8


def test_force_by_an_approver_records_the_override(cli, story):
    result = cli("promote", FD, "3", "production", "--force", "--reason", "incident 42", "--format", "json",
                 user=ALICE)
    assert result.code == 0, result.err
    assert result.json["status"] == "promoted" and not all(g["passed"] for g in result.json["gates"])
    event = events(story)[-1]
    assert event["forced"] is True and event["reason"] == "incident 42" and event["by"] == ALICE
    assert event["action"] == "promote" and event["version"] == 3 and event["stage"] == "production"
    assert any(not g["passed"] for g in event["gates"])
    assert cli("history", FD, "--format", "json").json[0]["forced"] is True


# -- rollback ------------------------------------------------------------------------------------------------
def test_rollback_puts_back_the_previous_holder(cli, story):
    result = cli("rollback", FD, "--reason", "v2 misbehaves", "--format", "json", user=ALICE)
    assert result.code == 0, result.err
    assert result.json == {"status": "rolled back", "model": FD, "stage": "production", "version": 1,
                           "replaced": 2}
    assert cli("resolve", f"{FD}@production").out.strip() == f"{FD}@1"
    assert cli("resolve", f"{FD}@2", "--format", "json").json["stage"] == "archived"
    event = events(story)[-1]
    assert (event["action"], event["version"], event["stage"], event["rollback_of"], event["reason"]) == (
        "promote", 1, "production", 2, "v2 misbehaves")


def test_rollback_needs_an_approver_and_a_reason(cli, story):
    refused = cli("rollback", FD, "--reason", "x", user=BOB)
    assert refused.code == 3 and "not an approver for production" in refused.err
    assert cli("rollback", FD, user=ALICE).code == 1
    assert cli("resolve", f"{FD}@production").out.strip() == f"{FD}@2"


def test_rollback_with_nothing_before_exits_1(cli, empty_catalog):
    empty_catalog.register("m")
    assert cli("rollback", "m", "--reason", "x").code == 1          # nothing in production
    cli("promote", "m", "1", "production")
    result = cli("rollback", "m", "--reason", "x")
    assert result.code == 1 and "nothing to roll back to" in result.err


def test_rollback_of_another_exclusive_stage(cli, empty_catalog):
    (empty_catalog.root / "registry.yaml").write_text(
        "format: 1\nstages:\n  - {name: staging, exclusive: true}\n  - {name: production, exclusive: true}\n")
    empty_catalog.register("m")
    empty_catalog.register("m")
    cli("promote", "m", "1", "staging")
    cli("promote", "m", "2", "staging")
    assert cli("rollback", "m", "--stage", "staging", "--reason", "x").code == 0
    assert cli("resolve", "m@staging").out.strip() == "m@1"


# -- events --------------------------------------------------------------------------------------------------
def test_events_carry_who_when_what_why_and_gates(cli, story):
    pending = request_v4(cli)
    cli("approve", FD, pending["request"], "--reason", "ok", user=ALICE)
    request, approve, promote = events(story)[-3:]
    assert (request["action"], request["by"], request["version"], request["stage"], request["reason"]) == (
        "request", BOB, 4, "production", "better on every gate")
    assert len(request["gates"]) == 5 and request["approvals_needed"] == 1
    assert (approve["action"], approve["by"], approve["request"], approve["reason"]) == (
        "approve", ALICE, pending["request"], "ok")
    assert (promote["action"], promote["by"], promote["request"], promote["version"]) == (
        "promote", ALICE, pending["request"], 4)
    assert {g["gate"] for g in promote["gates"]} == {g["gate"] for g in request["gates"]}
    for event in (request, approve, promote):
        assert (str(event["at"]).endswith("Z") and event["id"] < promote["id"]) or event is promote


def test_model_yaml_policy_overrides_the_catalog(cli, story, fraud_builder):
    fraud_builder.model(FD, description="override", policies={"production": {"gates": []}})
    result = cli("promote", FD, "3", "production", "--format", "json", user=MALLORY)
    assert result.code == 0, result.err
    assert result.json == {"status": "promoted", "request": None, "reason": None, "gates": []}


def test_model_yaml_override_can_be_stricter(cli, story, fraud_builder):
    fraud_builder.model(FD, policies={"staging": {"gates": [{"check": "has_description"}],
                                                  "requesters": [ALICE]}})
    refused = cli("promote", FD, "3", "staging", user=BOB)
    assert refused.code == 3 and "may not request staging; requesters are: alice@example.com" in refused.err
    refused = cli("promote", FD, "3", "staging", user=ALICE)
    assert refused.code == 3 and "check has_description: no description" in refused.err


def test_writes_are_refused_while_registry_yaml_is_broken(cli, story):
    (story.root / "registry.yaml").write_text("policies: [broken\n")
    result = cli("promote", FD, "4", "production", user=ALICE)
    assert result.code == 1 and "registry.yaml" in result.err
    assert cli("resolve", f"{FD}@production").code == 0      # reads go on

"""SPEC 4: the Python API mirrors the CLI; errors are one exception family carrying the CLI's exit codes."""

import pandas as pd
import pytest
from builders import ALICE, BOB, CAROL, MALLORY

import registry_core
from registry_core import Catalog, CatalogError, Conflict, InvalidInput, NotFound, PolicyRefused, RegistryError

FD = "fraud-detector"


def test_the_api_surface_of_the_spec():
    for method in ("register", "log_metrics", "get", "resolve", "compare", "promote", "approve", "reject", "cancel",
                   "rollback", "history", "query", "validate", "verify"):
        assert callable(getattr(Catalog, method)), method
    assert registry_core.Catalog is Catalog


@pytest.mark.parametrize("error, code", [(InvalidInput, 1), (NotFound, 1), (Conflict, 1), (CatalogError, 1),
                                         (PolicyRefused, 3)])
def test_one_error_family_with_exit_codes(error, code):
    assert issubclass(error, RegistryError) and error.exit_code == code


def test_errors_carry_the_message_the_cli_prints(cli, fraud):
    with pytest.raises(NotFound) as info:
        fraud.resolve(f"{FD}@9")
    assert cli("resolve", f"{FD}@9").err == f"error: {info.value}\n"
    bob = fraud.as_user(BOB)
    with pytest.raises(PolicyRefused) as refused:
        bob.promote(FD, 3, "production")
    assert refused.value.exit_code == 3
    assert cli("promote", FD, "3", "production", user=BOB).err == f"error: {refused.value}\n"
    assert {g.gate for g in refused.value.gates} >= {"latency_p95_ms <= 50"}


def test_catalog_on_a_missing_folder(tmp_path):
    with pytest.raises(CatalogError, match="no catalog"):
        Catalog(tmp_path / "missing")


def test_catalog_path_from_the_environment(fraud, monkeypatch):
    monkeypatch.setenv("MODELREG_CATALOG", str(fraud.root))
    assert Catalog().resolve(f"{FD}@production")["version"] == 2


def test_the_default_user_is_git_then_env(fraud, monkeypatch):
    assert Catalog(fraud.root).user == "tester@example.com"
    monkeypatch.setenv("MODELREG_USER", "env@example.com")
    assert Catalog(fraud.root).user == "env@example.com"
    assert Catalog(fraud.root, user="x@example.com").user == "x@example.com"


def test_register_get_resolve_round_trip(empty_catalog, tmp_path):
    artifact = tmp_path / "model.pkl"
    artifact.write_bytes(b"bytes")
    frame = pd.DataFrame({"metric": ["acc"], "value": [0.9], "dataset": ["test"]})
    result = empty_catalog.register("m", params={"lr": 0.1}, metrics=frame, artifacts=[str(artifact)],
                                    datasets=[{"name": "d", "version": "1", "role": "train", "uri": "s3://d"}],
                                    description="first", tags={"team": "x"}, framework="torch 2",
                                    run={"id": "abc", "duration_s": 3}, code={"commit": "4be1c2a"},
                                    environment={"python": "3.11"})
    assert set(result) == {"model", "version", "path"} and result["version"] == 1
    info = empty_catalog.get("m@1")
    manifest = info["manifest"]
    assert manifest["lineage"]["run"] == {"id": "abc", "duration_s": 3}
    assert manifest["lineage"]["code"] == {"commit": "4be1c2a"}
    assert manifest["lineage"]["datasets"][0]["uri"] == "s3://d"
    assert manifest["environment"] == {"python": "3.11"} and manifest["created_by"] == BOB
    assert info["headline"] == [{"metric": "acc", "dataset": "test", "slice": None, "value": 0.9}]
    assert empty_catalog.resolve("m@latest")["artifacts"][0]["path"] == "artifacts/model.pkl"


def test_query_returns_a_dataframe(fraud):
    frame = fraud.query("SELECT model, version FROM versions ORDER BY model, version")
    assert isinstance(frame, pd.DataFrame) and len(frame) == 4


def test_lifecycle_through_the_api(fraud_builder, fraud):
    fraud_builder.version(FD, 4, "2026-11-05T10:00:00Z", description="v4", artifacts={"m.bin": b"4"},
                          metrics=[{"metric": "roc_auc", "value": 0.9, "dataset": "test"},
                                   {"metric": "roc_auc", "value": 0.9, "dataset": "validation"},
                                   {"metric": "latency_p95_ms", "value": 10.0},
                                   {"metric": "recall", "value": 0.9, "dataset": "test", "slice": "region=eu"}])
    alice, bob, carol = fraud, fraud.as_user(BOB), fraud.as_user(CAROL)
    assert bob.promote(FD, 4, "staging")["status"] == "promoted"
    pending = carol.promote(FD, "4", "production", reason="go")
    assert pending["status"] == "pending"
    assert [r["id"] for r in alice.requests(FD)] == [pending["request"]]
    with pytest.raises(PolicyRefused):
        carol.approve(FD, pending["request"])
    assert alice.approve(FD, pending["request"])["status"] == "promoted"
    assert alice.resolve(f"{FD}@production")["version"] == 4
    assert alice.rollback(FD, "production", reason="bad")["version"] == 2
    with pytest.raises(PolicyRefused):
        fraud.as_user(MALLORY).rollback(FD, "production", reason="x")
    history = alice.history(FD)
    assert history[0]["by"] == ALICE and history[0]["rollback_of"] == 4
    assert alice.alias(FD, 4, "challenger") == {"model": FD, "alias": "challenger", "version": 4}
    comparison = alice.compare([f"{FD}@production", f"{FD}@challenger"])
    assert comparison.refs == [f"{FD}@2", f"{FD}@4"]
    assert alice.verify() and all(r["ok"] for r in alice.verify())
    assert alice.validate() == []


def test_plan_answers_without_writing(fraud):
    events = sorted((fraud.root / f"models/{FD}/events").iterdir())
    plan = fraud.plan(FD, 3, "production", user=BOB)
    assert plan.action == "refused" and not plan.allowed
    assert "must be in staging before production" in plan.reason
    assert not plan.force.allowed and "not an approver" in plan.force.reason
    assert fraud.plan(FD, 3, "production", user=ALICE, force=True).action == "promote"
    assert sorted((fraud.root / f"models/{FD}/events").iterdir()) == events


def test_reject_and_cancel_through_the_api(fraud_builder, fraud):
    fraud_builder.event(FD, "promote", "2026-11-02T00:00:00Z", ALICE, version=3, stage="staging", forced=True,
                        reason="setup")
    bob = fraud.as_user(BOB)
    # v3 fails the production gates: even a request is refused
    with pytest.raises(PolicyRefused, match="gate failed"):
        bob.promote(FD, 3, "production")
    fraud_builder.model(FD, policies={"production": {"approvals": 1, "approvers": ["lead"]}})
    first = bob.promote(FD, 3, "production")
    assert fraud.reject(FD, first["request"], reason="no")["status"] == "rejected"
    second = bob.promote(FD, 3, "production")
    assert bob.cancel(FD, second["request"])["status"] == "cancelled"
    with pytest.raises(Conflict):
        bob.cancel(FD, second["request"])
    with pytest.raises(NotFound):
        bob.cancel(FD, "nope")


def test_bad_input_raises_invalid_input(empty_catalog):
    for call in (lambda: empty_catalog.register("../x"),
                 lambda: empty_catalog.register("m", params=[1]),
                 lambda: empty_catalog.register("m", tags="x"),
                 lambda: empty_catalog.resolve("m@"),
                 lambda: empty_catalog.query("DROP TABLE versions"),
                 lambda: empty_catalog.promote("m", 0, "staging")):
        with pytest.raises(InvalidInput):
            call()


def test_indexed_says_whether_the_next_refresh_is_a_first_build(fraud_builder):
    import shutil

    shutil.rmtree(fraud_builder.root / ".modelreg", ignore_errors=True)
    cat = Catalog(fraud_builder.root)
    assert not cat.indexed
    cat.refresh()
    assert cat.indexed and Catalog(fraud_builder.root).indexed
    shutil.rmtree(fraud_builder.root / ".modelreg")
    assert not Catalog(fraud_builder.root).indexed

"""SPEC 1.6: describe and tag are events; show, the versions view and history reflect the latest value."""

import yaml
from builders import ALICE, BOB

from registry_core import Catalog

FD = "fraud-detector"


def manifest_text(root, version):
    return (root / f"models/{FD}/versions/{version}/manifest.yaml").read_text()


def test_describe_and_tag_write_events_and_leave_the_manifest(cli, fraud):
    before = manifest_text(fraud.root, 2)
    assert cli("describe", f"{FD}@2", "Velocity features, retrained").code == 0
    assert cli("tag", f"{FD}@2", "ticket=RISK-7", "owner=carol", "--format", "json").json["tags"] == {
        "ticket": "RISK-7", "owner": "carol"}
    assert cli("tag", f"{FD}@1", "--remove", "team").code == 0
    assert cli("describe", f"{FD}@production", "Velocity features v2").code == 0  # the latest one wins
    assert manifest_text(fraud.root, 2) == before
    rows = {r["version"]: r for r in Catalog(fraud.root).sql(
        "SELECT version, description, tags FROM versions WHERE model = ?", [FD])}
    assert rows[2]["description"] == "Velocity features v2"
    assert yaml.safe_load(rows[2]["tags"]) == {"ticket": "RISK-7", "owner": "carol"}
    assert yaml.safe_load(rows[1]["tags"]) == {}  # the manifest's team tag removed
    assert rows[3]["description"] is None
    shown = cli("show", f"{FD}@2").out
    assert "description: Velocity features v2" in shown and "tags: owner=carol, ticket=RISK-7" in shown
    events = Catalog(fraud.root).history(FD)
    assert [e["action"] for e in events[:4]] == ["describe", "tag", "tag", "describe"]
    assert cli("validate").code == 0


def test_tag_then_remove_and_python_api(fraud):
    cat = Catalog(fraud.root, user=BOB)
    cat.tag(f"{FD}@3", {"stage-note": "try"})
    cat.tag(f"{FD}@3", remove=["stage-note"])
    cat.describe(f"{FD}@3", "Deeper trees")
    info = cat.get(f"{FD}@3")
    assert info["tags"] == {} and info["description"] == "Deeper trees"
    assert "description" not in info["manifest"]


def test_bad_edits_are_refused_and_write_nothing(cli, fraud):
    events = sorted((fraud.root / f"models/{FD}/events").iterdir())
    assert cli("tag", f"{FD}@2").code == 1
    assert cli("tag", f"{FD}@2", "novalue").code == 1
    assert cli("tag", f"{FD}@2", "a=1", "--remove", "a").code == 1
    assert cli("describe", f"{FD}@2", "  ").code == 1
    assert cli("describe", f"{FD}@9", "x").code == 1
    assert sorted((fraud.root / f"models/{FD}/events").iterdir()) == events


def test_history_tells_rollbacks_from_promotions(cli, fraud):
    assert cli("rollback", FD, "--reason", "regression", user=ALICE).code == 0
    result = cli("history", FD, "--format", "csv")
    header, first = result.out.splitlines()[:2]
    assert "action" in header.split(",") and "rollback_of" in header.split(",")
    assert ",rollback,1," in first and ",2," in first
    rows = cli("history", FD, "--format", "json").json
    assert rows[0]["kind"] == "rollback" and rows[0]["action"] == "promote"
    assert {r["kind"] for r in rows[1:]} >= {"promote", "request", "approve", "alias"}

"""SPEC 2, reading: list, show, compare, lineage, resolve (also --at), alias, history, on a hand-written catalog."""

import pytest
from builders import ALICE, BOB, CAROL

FD = "fraud-detector"


# -- list ----------------------------------------------------------------------------------------------------
def test_list_models_json(ro_cli):
    result = ro_cli("list", "--format", "json")
    assert result.code == 0, result.err
    rows = {r["model"]: r for r in result.json}
    assert set(rows) == {"churn", FD}
    assert rows[FD]["latest"] == 3 and rows[FD]["versions"] == 3
    assert rows[FD]["stages"] == {"production": [2], "archived": [1]}
    assert rows["churn"]["stages"] == {}


def test_list_models_table_shows_stage_holders(ro_cli):
    lines = ro_cli("list").out.splitlines()
    assert lines[0].split() == ["MODEL", "LATEST", "VERSIONS", "STAGING", "PRODUCTION", "DESCRIPTION"]
    assert lines[2].split()[:4] == [FD, "3", "3", "2"]


def test_list_one_model_with_headline_metrics(ro_cli):
    rows = ro_cli("list", FD, "--format", "json").json
    assert [r["version"] for r in rows] == [3, 2, 1]
    assert [r["stage"] for r in rows] == ["none", "production", "archived"]
    assert rows[1]["metrics"]["roc_auc[test]"] == 0.88
    assert rows[1]["metrics"]["recall[test|region=eu]"] == 0.78
    assert rows[1]["created_by"] == CAROL
    csv = ro_cli("list", FD, "--format", "csv").out.splitlines()
    assert csv[0].startswith("version,stage,created_at,created_by,") and "roc_auc[test]" in csv[0]


def test_list_unknown_model_exits_1(ro_cli):
    result = ro_cli("list", "ghost")
    assert result.code == 1 and "ghost" in result.err


# -- show ----------------------------------------------------------------------------------------------------
def test_show_json_has_everything(ro_cli):
    info = ro_cli("show", f"{FD}@production", "--format", "json").json
    assert info["ref"] == f"{FD}@2" and info["stage"] == "production" and info["aliases"] == ["champion"]
    assert info["manifest"]["params"]["n_estimators"] == 400
    assert {(h["metric"], h["dataset"]): h["value"] for h in info["headline"]}[("roc_auc", "test")] == 0.88
    assert info["artifacts"][0]["path"] == "artifacts/model.bin"
    assert info["lineage"]["parents"] == [f"{FD}@1"]
    assert {e["action"] for e in info["events"]} == {"promote", "request", "approve", "alias"}


def test_show_table(ro_cli):
    text = ro_cli("show", f"{FD}@1").out
    assert f"{FD}@1  stage: archived" in text
    assert "roc_auc[test]" in text and "artifacts/model.bin" in text and "child fraud-detector@2" in text


# -- compare -------------------------------------------------------------------------------------------------
def test_compare_json_best_and_deltas(ro_cli):
    result = ro_cli("compare", f"{FD}@1", f"{FD}@2", f"{FD}@3", "--format", "json")
    assert result.code == 0, result.err
    data = result.json
    assert data["refs"] == [f"{FD}@1", f"{FD}@2", f"{FD}@3"]
    rows = {(r["metric"], r["dataset"], r["slice"]): r for r in data["metrics"]}
    auc = rows[("roc_auc", "test", None)]
    assert auc["best"] == [f"{FD}@2"] and auc["goal"] == "max"
    assert auc["deltas"][f"{FD}@2"] == pytest.approx(0.02) and auc["deltas"][f"{FD}@1"] == 0
    latency = rows[("latency_p95_ms", None, None)]
    assert latency["goal"] == "min" and latency["best"] == [f"{FD}@1"]     # direction from registry.yaml
    assert {p["name"] for p in data["params"]} == {"learning_rate", "n_estimators", "max_depth"}


def test_compare_table_marks_best_and_lists_differing_params(ro_cli):
    text = ro_cli("compare", f"{FD}@1", f"{FD}@production").out
    assert "0.88*" in text and "(* = best)" in text
    assert "params that differ" in text and "learning_rate" in text


def test_compare_unknown_ref_exits_1(ro_cli):
    assert ro_cli("compare", f"{FD}@1", f"{FD}@99").code == 1


# -- lineage -------------------------------------------------------------------------------------------------
def test_lineage_json(ro_cli):
    info = ro_cli("lineage", f"{FD}@2", "--format", "json").json
    assert info["ref"] == f"{FD}@2" and info["stage"] == "production"
    assert info["datasets"] == [{"name": "transactions", "ref": "transactions@2026-10", "role": "train",
                                 "sha256": None}]
    assert info["parents"] == [f"{FD}@1"] and info["children"] == []
    assert ro_cli("lineage", f"{FD}@1", "--format", "json").json["children"] == [
        {"ref": f"{FD}@2", "stage": "production"}]


def test_lineage_dot(ro_cli):
    dot = ro_cli("lineage", f"{FD}@2", "--format", "dot").out
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert f'"{FD}@1" -> "{FD}@2"' in dot
    assert '"dataset:transactions@2026-10" -> "fraud-detector@2"' in dot


# -- resolve -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ref, expected", [
    (f"{FD}@1", 1), (f"{FD}@latest", 3), (FD, 3), (f"{FD}@production", 2), (f"{FD}@archived", 1),
    (f"{FD}@champion", 2), (f"{FD}@none", 3),
])
def test_resolve_every_kind_of_reference(ro_cli, ref, expected):
    result = ro_cli("resolve", ref)
    assert (result.code, result.out.strip()) == (0, f"{FD}@{expected}")


def test_resolve_json_adds_stage_path_and_artifacts(ro_cli):
    data = ro_cli("resolve", f"{FD}@production", "--format", "json").json
    assert {"model", "version", "stage", "path", "artifacts"} <= set(data)
    assert data["stage"] == "production" and data["version"] == 2
    assert data["path"].endswith("models/fraud-detector/versions/2")
    assert data["artifacts"][0]["size"] == len(b"weights v2")


@pytest.mark.parametrize("at, expected", [
    ("2026-10-02T00:00:00Z", None),          # nothing in production yet
    ("2026-10-10T00:00:00Z", 1),
    ("2026-10-18T00:00:00+00:00", 1),        # request pending
    ("2026-10-18T13:00:00Z", 2),
    ("2026-12-01", 2),
])
def test_resolve_at_a_past_moment(ro_cli, at, expected):
    result = ro_cli("resolve", f"{FD}@production", "--at", at, "--format", "json")
    if expected is None:
        assert result.code == 1 and "production" in result.err
    else:
        assert result.code == 0, result.err
        assert result.json["version"] == expected and result.json["stage"] == "production"


def test_resolve_at_ignores_versions_created_later(ro_cli):
    assert ro_cli("resolve", f"{FD}@latest", "--at", "2026-10-20T00:00:00Z").out.strip() == f"{FD}@2"
    stage_of_v1 = lambda at: ro_cli("resolve", f"{FD}@1", "--at", at, "--format", "json").json["stage"]  # noqa: E731
    assert stage_of_v1("2026-10-10T00:00:00Z") == "production"
    assert stage_of_v1("2026-10-20T00:00:00Z") == "archived"
    assert ro_cli("resolve", f"{FD}@none", "--at", "2026-10-20T00:00:00Z").code == 1   # v3 did not exist yet


@pytest.mark.parametrize("ref", [f"{FD}@9", f"{FD}@nosuch", f"{FD}@staging", "ghost@1"])
def test_resolve_not_found_exits_1(ro_cli, ref):
    result = ro_cli("resolve", ref)
    assert result.code == 1 and result.err.startswith("error: ") and result.out == ""


@pytest.mark.parametrize("ref", ["../x@1", "a/b", "m@"])
def test_resolve_bad_reference_exits_1(ro_cli, ref):
    assert ro_cli("resolve", ref).code == 1


def test_resolve_bad_time_exits_1(ro_cli):
    result = ro_cli("resolve", f"{FD}@production", "--at", "yesterday")
    assert result.code == 1 and "--at" in result.err


# -- alias ---------------------------------------------------------------------------------------------------
def test_alias_set_move_remove(cli, fraud):
    result = cli("alias", FD, "3", "challenger", "--format", "json", user=BOB)
    assert result.code == 0 and result.json == {"model": FD, "alias": "challenger", "version": 3}
    assert cli("resolve", f"{FD}@challenger").out.strip() == f"{FD}@3"
    assert cli("alias", FD, "2", "challenger", user=BOB).out.strip() == f"challenger -> {FD}@2"
    assert cli("resolve", f"{FD}@challenger").out.strip() == f"{FD}@2"
    assert cli("alias", FD, "2", "challenger", "--remove", user=BOB).code == 0
    assert cli("resolve", f"{FD}@challenger").code == 1
    aliases = fraud.sql("SELECT alias, version FROM aliases ORDER BY alias")
    assert aliases == [{"alias": "champion", "version": 2}]


def test_one_version_per_alias(cli, fraud):
    cli("alias", FD, "3", "champion", user=ALICE)
    assert fraud.sql("SELECT version FROM aliases WHERE alias = 'champion'") == [{"version": 3}]


@pytest.mark.parametrize("name", ["7", "latest", "none", "production", "../x"])
def test_alias_bad_names_exit_1(cli, fraud, name):
    result = cli("alias", FD, "2", name, user=ALICE)
    assert result.code == 1 and result.err.startswith("error: ")


def test_alias_setters_from_registry_yaml(cli, fraud):
    refused = cli("alias", FD, "3", "champion", user=BOB)
    assert refused.code == 3
    assert refused.err.strip() == ("error: refused: alias champion: bob@example.com (data-scientist) may not move "
                                   "alias champion; setters are: lead")
    assert cli("resolve", f"{FD}@champion").out.strip() == f"{FD}@2"


def test_alias_to_a_missing_version_or_same_version(cli, fraud):
    assert cli("alias", FD, "9", "x1", user=ALICE).code == 1
    assert cli("alias", FD, "2", "champion", user=ALICE).code == 1      # already there
    assert cli("alias", FD, "2", "ghost", "--remove", user=ALICE).code == 1


# -- history -------------------------------------------------------------------------------------------------
def test_history_newest_first_with_who_when_what_why(ro_cli):
    rows = ro_cli("history", FD, "--format", "json").json
    assert [r["action"] for r in rows] == ["alias", "promote", "approve", "request", "promote", "promote", "promote"]
    assert rows[-1]["by"] == ALICE and rows[-1]["reason"] == "first candidate"
    assert rows[-1]["at"] == "2026-10-02T12:00:00Z"
    assert rows[1]["gates"][0]["passed"] is True


def test_history_table_and_all_models(ro_cli):
    lines = ro_cli("history").out.splitlines()
    assert lines[0].split()[:4] == ["AT", "BY", "MODEL", "ACTION"]
    assert len(lines) == 1 + 7

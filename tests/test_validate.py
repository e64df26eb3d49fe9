"""SPEC 2 validate and verify; a broken file never stops list, query or resolve for the rest."""

import hashlib

import pytest
import yaml
from builders import ALICE

FD = "fraud-detector"


def problems(cli):
    result = cli("validate", "--format", "json")
    return result.code, result.json


def test_a_clean_catalog_validates(cli, fraud):
    result = cli("validate")
    assert result.code == 0 and result.out.strip() == "0 error(s), 0 warning(s)"


BROKEN = {
    "bad yaml": ("models/fraud-detector/versions/3/manifest.yaml", "model: [unclosed\n", "invalid YAML"),
    "wrong types": ("models/fraud-detector/versions/3/manifest.yaml",
                    "model: fraud-detector\nversion: 3\ncreated_at: 2026-11-01T08:00:00Z\nparams: [1, 2]\n",
                    "'params' must be a mapping"),
    "python tag": ("models/fraud-detector/versions/3/manifest.yaml",
                   "model: fraud-detector\nversion: 3\ncreated_at: 2026-11-01T08:00:00Z\n"
                   "description: !!python/object/apply:os.system ['touch /tmp/pwned-by-modelreg-tests']\n",
                   "invalid YAML"),
    "wrong folder": ("models/fraud-detector/versions/3/manifest.yaml",
                     "model: fraud-detector\nversion: 4\ncreated_at: 2026-11-01T08:00:00Z\n",
                     "does not match its folder"),
    "missing key": ("models/fraud-detector/versions/3/manifest.yaml", "model: fraud-detector\nversion: 3\n",
                    "missing required key 'created_at'"),
    "dataset role a number": ("models/fraud-detector/versions/3/manifest.yaml",
                              "model: fraud-detector\nversion: 3\ncreated_at: 2026-11-01T08:00:00Z\n"
                              "lineage: {datasets: [{name: tx, version: 3, role: 7, sha256: 12345}]}\n",
                              "lineage.datasets[0].role must be a string"),
    "bad parquet": ("models/fraud-detector/versions/3/metrics/metrics.parquet", "not parquet at all",
                    "Parquet"),
    "bad event": ("models/fraud-detector/events/20261101T000000.000000Z-0000ffff.yaml",
                  "id: 20261101T000000.000000Z-0000ffff\nat: 2026-11-01T00:00:00Z\nby: x\naction: explode\n",
                  "unknown action"),
    "bad model file": ("models/fraud-detector/model.yaml", "name: [\n", "invalid YAML"),
}


@pytest.mark.parametrize("case", BROKEN)
def test_validate_names_the_file_and_the_problem(cli, fraud, case):
    rel, text, words = BROKEN[case]
    (fraud.root / rel).write_text(text)
    code, found = problems(cli)
    assert code == 1
    errors = [p for p in found if p["severity"] == "error"]
    assert any(p["path"] == rel and words in p["message"] for p in errors), found
    table = cli("validate")
    assert table.code == 1 and f"error: {rel}: " in table.out


@pytest.mark.parametrize("case", BROKEN)
def test_a_broken_file_never_stops_list_query_or_resolve(cli, fraud, case):
    rel, text, _ = BROKEN[case]
    (fraud.root / rel).write_text(text)
    assert cli("list").code == 0
    listed = cli("list", FD, "--format", "json")
    assert listed.code == 0 and {1, 2} <= {r["version"] for r in listed.json}
    assert cli("resolve", f"{FD}@production").out.strip() == f"{FD}@2"
    assert cli("resolve", "churn@1").code == 0
    query = cli("query", "SELECT count(*) AS n FROM versions WHERE model = 'churn'", "--format", "json")
    assert query.json == [{"n": 1}]
    assert cli("history", "--format", "json").code == 0


def test_the_python_tag_is_never_executed(cli, fraud, tmp_path):
    marker = tmp_path / "pwned"
    (fraud.root / "models/fraud-detector/versions/3/manifest.yaml").write_text(
        f"model: fraud-detector\nversion: 3\ncreated_at: 2026-11-01T08:00:00Z\n"
        f"description: !!python/object/apply:os.system ['touch {marker}']\n")
    cli("validate")
    cli("list", FD)
    assert not marker.exists()


def test_a_broken_registry_yaml_keeps_reads_going(cli, fraud):
    (fraud.root / "registry.yaml").write_text("stages: 7\n")
    code, found = problems(cli)
    assert code == 1 and any(p["path"] == "registry.yaml" and "stages" in p["message"] for p in found)
    assert cli("resolve", f"{FD}@production").code == 0


def test_unknown_keys_are_warnings_not_errors(cli, fraud_builder, fraud):
    fraud_builder.version("churn", 2, "2026-10-06T00:00:00Z", colour="blue")
    code, found = problems(cli)
    assert code == 0
    assert found == [{"path": "models/churn/versions/2/manifest.yaml", "severity": "warning",
                      "message": "unknown key 'colour' (kept)"}]


def test_event_naming_a_missing_version_is_an_error(cli, fraud_builder, fraud):
    fraud_builder.event(FD, "promote", "2026-11-03T00:00:00Z", ALICE, version=99, stage="staging")
    code, found = problems(cli)
    assert code == 1 and any("fraud-detector@99" in p["message"] for p in found)
    assert cli("resolve", f"{FD}@staging").code == 1      # the event moved nothing


def test_a_version_folder_without_manifest_is_a_warning(cli, fraud):
    (fraud.root / "models/churn/versions/2").mkdir()
    code, found = problems(cli)
    assert code == 0 and [p["path"] for p in found] == ["models/churn/versions/2"]


# -- verify --------------------------------------------------------------------------------------------------
def test_verify_recomputes_checksums(cli, fraud):
    result = cli("verify", "--format", "json")
    assert result.code == 0
    assert {(r["ref"], r["path"], r["ok"]) for r in result.json} == {
        (f"{FD}@1", "artifacts/model.bin", True), (f"{FD}@2", "artifacts/model.bin", True)}


def test_verify_exits_1_after_tampering(cli, fraud):
    (fraud.root / "models/fraud-detector/versions/2/artifacts/model.bin").write_bytes(b"weights v3")
    result = cli("verify", "--format", "json")
    assert result.code == 1
    bad = [r for r in result.json if not r["ok"]]
    assert [(r["ref"], r["path"]) for r in bad] == [(f"{FD}@2", "artifacts/model.bin")]
    assert "sha256 mismatch" in bad[0]["message"]
    assert result.err.startswith("error: ") and "fraud-detector@2" in result.err
    assert cli("verify", f"{FD}@1").code == 0
    assert cli("verify", f"{FD}@production").code == 1


def test_verify_size_mismatch_and_missing_file(cli, empty_catalog, tmp_path):
    artifact = tmp_path / "a.bin"
    artifact.write_bytes(b"12345")
    empty_catalog.register("m", artifacts=[artifact])
    empty_catalog.register("m", artifacts=[artifact])
    folder = empty_catalog.root / "models/m/versions"
    (folder / "1/artifacts/a.bin").unlink()
    manifest = yaml.safe_load((folder / "2/manifest.yaml").read_text())
    assert manifest["artifacts"][0]["size"] == 5
    (folder / "2/artifacts/a.bin").write_bytes(b"123456")
    result = cli("verify", "--format", "json")
    assert result.code == 1
    assert [r["message"] for r in result.json if not r["ok"]] == [
        "file is missing", f"sha256 mismatch: recorded {manifest['artifacts'][0]['sha256'][:12]}..., found "
        f"{hashlib.sha256(b'123456').hexdigest()[:12]}..."]


def test_verify_refuses_paths_outside_the_version(cli, fraud_builder, fraud):
    fraud_builder.version("churn", 2, "2026-10-06T00:00:00Z",
                          artifacts=[{"path": "../../../../registry.yaml", "sha256": "0" * 64}])
    result = cli("verify", "churn@2", "--format", "json")
    assert result.code == 1


def test_verify_of_a_uri_artifact_it_cannot_read_fails_with_the_reason(cli, fraud_builder, fraud):
    """A URI is never trusted blindly (issue 15): unsupported or unreachable means not verified."""
    fraud_builder.version("churn", 2, "2026-10-06T00:00:00Z",
                          artifacts=[{"uri": "runs:/9a7b/model/w.bin", "sha256": "a" * 64, "size": 7}])
    result = cli("verify", "churn@2", "--format", "json")
    assert result.code == 1 and result.json[0]["ok"] is False
    assert "unverified" in result.json[0]["message"] and "runs:" in result.json[0]["message"]


def test_verify_accepts_upper_case_checksums_and_survives_odd_ones(cli, fraud_builder, fraud):
    data = b"weights"
    fraud_builder.version("churn", 2, "2026-10-06T00:00:00Z",
                          artifacts=[{"path": "artifacts/a.bin", "sha256": hashlib.sha256(data).hexdigest().upper()},
                                     {"path": "artifacts/b.bin", "sha256": 12345}])
    (fraud.root / "models/churn/versions/2/artifacts").mkdir()
    for name in ("a.bin", "b.bin"):
        (fraud.root / "models/churn/versions/2/artifacts" / name).write_bytes(data)
    result = cli("verify", "churn@2", "--format", "json")
    assert result.code == 1
    assert [(r["path"], r["ok"]) for r in result.json] == [("artifacts/a.bin", True), ("artifacts/b.bin", False)]
    problems = cli("validate", "--format", "json").json
    assert any("artifacts[1].sha256 12345 is not 64 hex digits" in p["message"] for p in problems)

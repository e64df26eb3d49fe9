"""SPEC 2: the modelreg command line: exit codes, one-line errors, output formats, catalog and user lookup."""

import csv
import io
import json
import os
import subprocess

import pytest
from builders import ALICE, BOB

FD = "fraud-detector"


def modelreg(*args, cwd=None, env=None):
    return subprocess.run(["modelreg", *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=60)


# -- the real console script ---------------------------------------------------------------------------------
def test_console_script_exit_codes(fraud):
    root = fraud.root
    ok = modelreg("--catalog", root, "resolve", f"{FD}@production")
    assert (ok.returncode, ok.stdout, ok.stderr) == (0, f"{FD}@2\n", "")
    missing = modelreg("--catalog", root, "resolve", f"{FD}@42")
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr == f"error: {FD}@42 does not exist\n"
    usage = modelreg("--catalog", root, "resolve")
    assert usage.returncode == 2 and "usage:" in usage.stderr
    refused = modelreg("--catalog", root, "--user", BOB, "promote", FD, "3", "production")
    assert refused.returncode == 3
    assert refused.stderr.startswith(f"error: refused: {FD}@3 -> production: ")
    assert refused.stderr.count("\n") == 1


def test_console_script_takes_catalog_and_user_from_the_environment(fraud):
    env = {**os.environ, "MODELREG_USER": ALICE, "MODELREG_CATALOG": str(fraud.root)}
    result = modelreg("alias", FD, "3", "champion", "--format", "json", env=env)
    assert result.returncode == 0, result.stderr        # champion setters: lead (alice)
    assert json.loads(result.stdout)["version"] == 3


def test_default_catalog_is_dot_catalog(tmp_path, empty_catalog):
    (tmp_path / "cat").rename(tmp_path / "catalog")
    result = modelreg("--user", BOB, "register", "m", cwd=tmp_path)
    assert (result.returncode, result.stdout) == (0, "m@1\n")
    assert (tmp_path / "catalog/models/m/versions/1/manifest.yaml").exists()


# -- in-process ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [[], ["nope"], ["promote", FD], ["list", "--format", "xml"],
                                  ["resolve", "x", "--bogus"], ["show", "x", "--format", "csv"]])
def test_usage_errors_exit_2(ro_cli, argv):
    assert ro_cli(*argv).code == 2


@pytest.mark.parametrize("argv", [
    ["list"], ["list", FD], ["requests"], ["history"], ["history", FD], ["query", "SELECT * FROM models"],
    ["validate"], ["verify"], ["compare", f"{FD}@1", f"{FD}@2"], ["lineage", f"{FD}@2"],
])
def test_every_listing_takes_table_json_and_csv(ro_cli, argv):
    table = ro_cli(*argv)
    assert table.code == 0, table.err
    as_json = ro_cli(*argv, "--format", "json")
    assert as_json.code == 0 and isinstance(as_json.json, list | dict)
    as_csv = ro_cli(*argv, "--format", "csv")
    assert as_csv.code == 0
    assert next(csv.reader(io.StringIO(as_csv.out)))   # a header row


def test_register_json_shape(cli, fraud):
    result = cli("register", "new-model", "--format", "json")
    assert result.json == {"model": "new-model", "version": 1,
                           "path": str(fraud.root / "models/new-model/versions/1")}


def test_promote_json_shape_in_all_three_outcomes(cli, fraud_builder, fraud):
    promoted = cli("promote", "churn", "1", "archived", "--format", "json")
    assert list(promoted.json) == ["status", "request", "reason", "gates"] and promoted.json["status"] == "promoted"
    refused = cli("promote", FD, "3", "production", "--format", "json")
    assert refused.code == 3 and refused.json["status"] == "refused" and refused.json["request"] is None
    assert refused.json["reason"] and refused.json["reason"] in refused.err  # the same why as on stderr
    assert all(set(g) == {"gate", "passed", "value", "baseline", "message"} for g in refused.json["gates"])
    fraud_builder.model("churn", policies={"staging": {"approvals": 1}})
    pending = cli("promote", "churn", "1", "staging", "--format", "json")
    assert pending.json == {"status": "pending", "request": pending.json["request"], "reason": None, "gates": []}
    assert cli("requests", "--format", "json").json[0]["id"] == pending.json["request"]


def test_errors_are_one_line_on_stderr_and_nothing_on_stdout(ro_cli):
    for argv in (["show", "ghost@1"], ["compare", "ghost@1"], ["lineage", f"{FD}@7"], ["list", "../x"],
                 ["log-metrics", f"{FD}@1", "/nonexistent.csv"], ["approve", FD, "r0"], ["history", "a/b"]):
        result = ro_cli(*argv)
        assert result.code == 1, argv
        assert result.err.startswith("error: ") and result.err.count("\n") == 1, (argv, result.err)
        assert result.out == "", argv


def test_help_of_every_command(cli):
    from registry_core.cli import build_parser

    parser = build_parser()
    commands = parser._subparsers._group_actions[0].choices
    for name in commands:
        result = cli(name, "--help")
        assert result.code == 0 and "usage: modelreg" in result.out, name


def test_user_flag_wins_over_env(cli, fraud, monkeypatch):
    monkeypatch.setenv("MODELREG_USER", BOB)
    cli("alias", FD, "3", "champion", user=ALICE)      # bob may not; alice may
    assert fraud.sql("SELECT \"by\", version FROM aliases") == [{"by": ALICE, "version": 3}]

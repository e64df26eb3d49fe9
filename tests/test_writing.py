"""SPEC 1 and 2: init, register (every metric form), log-metrics; atomic, write-once, manifest last."""

import hashlib
import json
import os

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from builders import BOB

from registry_core import Conflict, InvalidInput, NotFound


def headline(cat, ref="m@1"):
    found = cat.resolve(ref)
    return {(r["metric"], r["dataset"]): r["value"]
            for r in cat.sql("SELECT * FROM headline WHERE model = ? AND version = ?",
                             [found["model"], found["version"]])}


def manifest(cat, model="m", version=1):
    return yaml.safe_load((cat.root / f"models/{model}/versions/{version}/manifest.yaml").read_text())


# -- init ----------------------------------------------------------------------------------------------------
def test_init_via_cli_then_refuses_a_second_time(cli, cat_path):
    assert cli("init", str(cat_path)).code == 0
    assert (cat_path / "registry.yaml").exists()
    again = cli("init", str(cat_path))
    assert again.code == 1 and again.err.startswith("error: ") and "registry.yaml" in again.err


def test_commands_on_a_missing_catalog_exit_1(cli, tmp_path):
    result = cli("list", catalog=tmp_path / "nowhere")
    assert result.code == 1 and "no catalog" in result.err and "nowhere" in result.err


# -- register: metric forms ----------------------------------------------------------------------------------
def test_metrics_as_a_flat_dict(empty_catalog):
    empty_catalog.register("m", metrics={"acc": 0.9, "loss": 0.1})
    assert headline(empty_catalog) == {("acc", None): 0.9, ("loss", None): 0.1}


def test_metrics_as_dataset_to_metric_dict(empty_catalog):
    empty_catalog.register("m", metrics={"test": {"acc": 0.9}, "validation": {"acc": 0.8}})
    assert headline(empty_catalog) == {("acc", "test"): 0.9, ("acc", "validation"): 0.8}


def test_metrics_as_a_list_of_rows_with_steps_and_slices(empty_catalog):
    empty_catalog.register("m", metrics=[
        {"metric": "loss", "value": 0.5, "step": 1, "dataset": "train"},
        {"metric": "loss", "value": 0.2, "step": 2, "dataset": "train"},
        {"metric": "recall", "value": 0.7, "dataset": "test", "slice": "region=eu"},
    ])
    assert headline(empty_catalog) == {("loss", "train"): 0.2, ("recall", "test"): 0.7}
    assert len(empty_catalog.metrics("m@1", curves_only=True)) == 2


def test_metrics_as_a_dataframe(empty_catalog):
    frame = pd.DataFrame({"metric": ["acc", "acc"], "value": [0.7, 0.9], "step": [1, 2]})
    empty_catalog.register("m", metrics=frame)
    assert headline(empty_catalog) == {("acc", None): 0.9}


@pytest.mark.parametrize("kind", ["csv", "json", "parquet"])
def test_metrics_from_a_file_via_the_api(empty_catalog, tmp_path, kind):
    path = tmp_path / f"metrics.{kind}"
    rows = [{"metric": "acc", "value": 0.91, "dataset": "test"}]
    if kind == "csv":
        path.write_text("metric,value,dataset\nacc,0.91,test\n")
    elif kind == "json":
        path.write_text(json.dumps(rows))
    else:
        pq.write_table(pa.Table.from_pylist(rows), path)
    empty_catalog.register("m", metrics=str(path))
    assert headline(empty_catalog) == {("acc", "test"): 0.91}


@pytest.mark.parametrize("kind", ["csv", "json", "parquet"])
def test_metrics_file_via_the_cli(cli, empty_catalog, tmp_path, kind):
    path = tmp_path / f"metrics.{kind}"
    if kind == "csv":
        path.write_text("metric,value,dataset,step\nloss,0.4,train,1\nloss,0.3,train,2\n")
    elif kind == "json":
        path.write_text(json.dumps({"train": {"loss": 0.3}}))
    else:
        pq.write_table(pa.table({"metric": ["loss"], "value": [0.3], "dataset": ["train"]}), path)
    result = cli("register", "m", "--metrics", path)
    assert result.code == 0, result.err
    assert headline(empty_catalog) == {("loss", "train"): 0.3}


def test_metric_flags_with_and_without_dataset(cli, empty_catalog):
    result = cli("register", "m", "--metric", "test:roc_auc=0.91", "--metric", "latency_ms=12.5")
    assert (result.code, result.out.strip()) == (0, "m@1")
    assert headline(empty_catalog) == {("roc_auc", "test"): 0.91, ("latency_ms", None): 12.5}


@pytest.mark.parametrize("bad", ["acc", "acc=", "=1", "acc=high", "acc=nan", "acc=inf"])
def test_bad_metric_flags_exit_1_and_write_nothing(cli, empty_catalog, bad):
    result = cli("register", "m", "--metric", bad)
    assert result.code == 1 and result.err.startswith("error: ") and result.err.count("\n") == 1
    assert not (empty_catalog.root / "models/m/versions/1").exists()


def test_bad_metric_values_are_refused_by_the_api(empty_catalog):
    for bad in ({"acc": float("nan")}, {"acc": "high"}, [{"value": 1.0}], [{"metric": "a", "value": 1, "x": 2}],
                42):
        with pytest.raises(InvalidInput):
            empty_catalog.register("m", metrics=bad)
    assert not (empty_catalog.root / "models/m/versions").exists() or \
        not any((empty_catalog.root / "models/m/versions").iterdir())



@pytest.mark.parametrize("row", [{"metric": "m" * 1001, "value": 1.0},
                                 {"metric": "a", "value": 1.0, "dataset": "d" * 1001},
                                 {"metric": "a", "value": 1.0, "slice": "é" * 1001}])
def test_names_longer_than_a_reader_accepts_are_refused_by_the_writer(empty_catalog, row):
    """What the index would refuse on reading (1,000 characters a value) is never written."""
    empty_catalog.register("m", metrics=[{"metric": "a" * 1000, "value": 1.0, "slice": "é" * 1000}])
    with pytest.raises(InvalidInput, match="holds a value of 1001 characters; at most 1000"):
        empty_catalog.register("m", metrics=[row])
    assert sorted(p.name for p in (empty_catalog.root / "models/m/versions").iterdir()) == ["1"]

# -- register: everything else -------------------------------------------------------------------------------
def test_register_records_everything_via_the_cli(cli, empty_catalog, tmp_path):
    model_file = tmp_path / "model.bin"
    model_file.write_bytes(b"abc" * 100)
    folder = tmp_path / "tokenizer"
    (folder / "sub").mkdir(parents=True)
    (folder / "vocab.txt").write_text("a b c")
    (folder / "sub" / "merges.txt").write_text("ab")
    params_file = tmp_path / "params.yaml"
    params_file.write_text("n_estimators: 400\nmax_depth: 6\n")
    cli("register", "m")
    result = cli("register", "m", "--artifact", model_file, "--artifact", folder, "--params", params_file,
                 "--param", "lr=0.05", "--param", "booster=gbtree", "--param", "early=true",
                 "--dataset", "train=transactions@2026-10", "--dataset", "test=holdout@v2", "--parent", "m@1",
                 "--description", "velocity features", "--tag", "team=risk", "--tag", "ticket=RISK-142",
                 "--framework", "scikit-learn 1.5.2", "--task", "binary-classification",
                 "--metric", "test:roc_auc=0.9", "--format", "json")
    assert result.code == 0, result.err
    assert set(result.json) == {"model", "version", "path"}
    assert result.json["model"] == "m" and result.json["version"] == 2
    data = manifest(empty_catalog, version=2)
    assert data["created_by"] == BOB
    assert data["params"] == {"n_estimators": 400, "max_depth": 6, "lr": 0.05, "booster": "gbtree", "early": True}
    assert data["lineage"]["datasets"] == [{"name": "transactions", "version": "2026-10", "role": "train"},
                                           {"name": "holdout", "version": "v2", "role": "test"}]
    assert data["lineage"]["parents"] == ["m@1"]
    assert data["description"] == "velocity features"
    assert data["tags"] == {"team": "risk", "ticket": "RISK-142"}
    assert data["framework"] == "scikit-learn 1.5.2" and data["task"] == "binary-classification"
    artifacts = {a["path"]: a for a in data["artifacts"]}
    assert set(artifacts) == {"artifacts/model.bin", "artifacts/tokenizer/vocab.txt",
                              "artifacts/tokenizer/sub/merges.txt"}
    for rel, entry in artifacts.items():
        copied = (empty_catalog.root / "models/m/versions/2" / rel).read_bytes()
        assert entry["sha256"] == hashlib.sha256(copied).hexdigest() and entry["size"] == len(copied)
    assert artifacts["artifacts/model.bin"]["size"] == 300


def test_parents_are_resolved_to_a_version_number(empty_catalog):
    empty_catalog.register("base")
    empty_catalog.promote("base", 1, "staging")
    empty_catalog.register("m", parents=["base@staging"])
    assert manifest(empty_catalog)["lineage"]["parents"] == ["base@1"]


def test_a_missing_parent_or_artifact_writes_nothing(empty_catalog, tmp_path):
    with pytest.raises(NotFound):
        empty_catalog.register("m", parents=["ghost@1"])
    with pytest.raises(InvalidInput, match="no-such-file"):
        empty_catalog.register("m", artifacts=[tmp_path / "no-such-file"])
    assert not list((empty_catalog.root / "models").rglob("manifest.yaml"))


def test_acting_user_comes_from_user_then_env_then_git(cli, empty_catalog, monkeypatch):
    cli("register", "m", user=None)
    assert manifest(empty_catalog, version=1)["created_by"] == "tester@example.com"   # git config
    monkeypatch.setenv("MODELREG_USER", "env@example.com")
    cli("register", "m", user=None)
    assert manifest(empty_catalog, version=2)["created_by"] == "env@example.com"
    cli("register", "m", user="flag@example.com")
    assert manifest(empty_catalog, version=3)["created_by"] == "flag@example.com"


def test_catalog_from_the_environment(capsys, empty_catalog, monkeypatch):
    from registry_core.cli import main

    monkeypatch.setenv("MODELREG_CATALOG", str(empty_catalog.root))
    assert main(["register", "m"]) == 0
    assert capsys.readouterr().out.strip() == "m@1"


def test_versions_are_numbered_in_sequence(empty_catalog):
    assert [empty_catalog.register("m")["version"] for _ in range(3)] == [1, 2, 3]
    assert empty_catalog.register("other")["version"] == 1


@pytest.mark.parametrize("bad", ["../x", "a/b", "con", ".hidden", ""])
def test_bad_model_names_are_refused_before_anything_is_written(cli, empty_catalog, bad):
    before = sorted(p.relative_to(empty_catalog.root) for p in empty_catalog.root.rglob("*")
                    if ".modelreg" not in p.parts)
    result = cli("register", bad)
    assert result.code == 1 and "error: " in result.err
    after = sorted(p.relative_to(empty_catalog.root) for p in empty_catalog.root.rglob("*")
                   if ".modelreg" not in p.parts)
    assert after == before


def test_model_names_are_unique_ignoring_case(empty_catalog):
    empty_catalog.register("Fraud")
    with pytest.raises(Conflict, match="Fraud"):
        empty_catalog.register("fraud")


def test_bad_key_value_flags_exit_1(cli, empty_catalog):
    assert cli("register", "m", "--param", "novalue").code == 1
    assert cli("register", "m", "--tag", "=x").code == 1
    assert cli("register", "m", "--dataset", "train=").code == 1


# -- atomic, write-once, manifest last -----------------------------------------------------------------------
def test_manifest_is_written_last(empty_catalog, tmp_path, monkeypatch):
    """Record the order of the final writes: every other file exists before manifest.yaml."""
    from registry_core.lifecycle import registration as writing
    from registry_core.store import atomic

    seen = []
    real = atomic.write_once

    def spy(target, data, **kwargs):
        seen.append((target.name, sorted(p.name for p in target.parent.parent.rglob("*") if p.is_file())))
        real(target, data, **kwargs)

    monkeypatch.setattr(writing, "write_once", spy)
    artifact = tmp_path / "a.bin"
    artifact.write_bytes(b"x")
    empty_catalog.register("m", metrics={"acc": 1.0}, artifacts=[artifact])
    assert seen[-1][0] == "manifest.yaml"
    assert {"a.bin", "metrics.parquet"} <= set(seen[-1][1])


def test_a_failed_registration_leaves_no_version(empty_catalog, monkeypatch):
    from registry_core.lifecycle import registration as writing

    def boom(*_):
        raise OSError("disk full")

    monkeypatch.setattr(writing, "to_parquet_bytes", boom)
    with pytest.raises(OSError):
        empty_catalog.register("m", metrics={"acc": 1.0})
    assert not (empty_catalog.root / "models/m/versions/1").exists()
    monkeypatch.undo()
    assert empty_catalog.register("m")["version"] == 1


def test_write_once_refuses_to_overwrite(tmp_path):
    from registry_core.store.atomic import write_once

    target = tmp_path / "f.yaml"
    write_once(target, b"one")
    with pytest.raises(Conflict):
        write_once(target, b"two")
    assert target.read_bytes() == b"one"
    assert os.listdir(tmp_path) == ["f.yaml"]   # no temporary file left behind


def test_no_temporary_files_after_register(empty_catalog, tmp_path):
    artifact = tmp_path / "a.bin"
    artifact.write_bytes(b"x")
    empty_catalog.register("m", metrics={"acc": 1.0}, artifacts=[artifact])
    leftovers = [p for p in empty_catalog.root.rglob(".tmp-*") if ".modelreg" not in p.parts]
    assert leftovers == []


# -- log-metrics ---------------------------------------------------------------------------------------------
def test_log_metrics_adds_a_table_and_keeps_the_old_one(cli, empty_catalog, tmp_path):
    empty_catalog.register("m", metrics={"acc": 0.5})
    csv = tmp_path / "more.csv"
    csv.write_text("metric,value,step\nloss,0.9,1\nloss,0.4,2\n")
    result = cli("log-metrics", "m@1", csv, "--dataset", "train", "--format", "json")
    assert result.code == 0, result.err
    assert result.json["ref"] == "m@1" and result.json["path"].endswith(".parquet")
    tables = sorted((empty_catalog.root / "models/m/versions/1/metrics").glob("*.parquet"))
    assert len(tables) == 2
    assert headline(empty_catalog) == {("acc", None): 0.5, ("loss", "train"): 0.4}


@pytest.mark.parametrize("kind", ["json", "parquet"])
def test_log_metrics_json_and_parquet(cli, empty_catalog, tmp_path, kind):
    empty_catalog.register("m")
    path = tmp_path / f"x.{kind}"
    if kind == "json":
        path.write_text(json.dumps([{"metric": "acc", "value": 0.8, "dataset": "test"}]))
    else:
        pq.write_table(pa.table({"metric": ["acc"], "value": [0.8], "dataset": ["test"]}), path)
    assert cli("log-metrics", "m@latest", path).code == 0
    assert headline(empty_catalog) == {("acc", "test"): 0.8}


def test_log_metrics_errors(cli, empty_catalog, tmp_path):
    empty_catalog.register("m")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,score\nacc,1\n")
    result = cli("log-metrics", "m@1", bad)
    assert result.code == 1 and "bad.csv" in result.err and "metric" in result.err
    assert cli("log-metrics", "m@9", bad).code == 1
    txt = tmp_path / "x.txt"
    txt.write_text("x")
    assert "unsupported" in cli("log-metrics", "m@1", txt).err
    assert "not found" in cli("log-metrics", "m@1", tmp_path / "missing.csv").err
    assert len(list((empty_catalog.root / "models/m/versions/1").rglob("*.parquet"))) == 0


def test_log_metrics_api_with_rows(empty_catalog):
    empty_catalog.register("m")
    empty_catalog.log_metrics("m@1", {"acc": 0.7}, dataset="test")
    assert headline(empty_catalog) == {("acc", "test"): 0.7}



def test_a_version_folder_removed_mid_registration_is_not_recreated(empty_catalog, monkeypatch):
    """gc removing an unfinished folder must not leave an empty version written by the late writer."""
    import shutil

    from registry_core.lifecycle import registration as writing

    real_dumps = writing.dumps

    def remove_folder_then_dump(tree):
        shutil.rmtree(empty_catalog.root / "models/m/versions/1")
        return real_dumps(tree)

    monkeypatch.setattr(writing, "dumps", remove_folder_then_dump)
    with pytest.raises(Conflict, match="removed while it was being written"):
        empty_catalog.register("m", metrics={"acc": 0.5})
    assert not (empty_catalog.root / "models/m/versions/1").exists()


def test_names_differing_only_in_case_are_refused_by_register(empty_catalog):
    empty_catalog.register("Fraud")
    with pytest.raises(Conflict, match="unique ignoring case"):
        empty_catalog.register("fraud")


def test_a_metric_flag_given_twice_is_refused(cli, empty_catalog):
    result = cli("register", "m", "--metric", "test:auc=0.91", "--metric", "test:auc=0.85")
    assert result.code == 1 and "test:auc" in result.err and "already given" in result.err
    assert not (empty_catalog.root / "models/m/versions/1").exists()
    with pytest.raises(InvalidInput, match="already given"):
        empty_catalog.register("m", metrics=["auc=1", "auc=2"])
    assert cli("register", "m", "--metric", "test:auc=0.91", "--metric", "train:auc=0.85").code == 0


def test_empty_csv_cells_are_null_not_empty_strings(cli, empty_catalog, tmp_path):
    path = tmp_path / "m.csv"
    path.write_text('metric,value,dataset,slice\nauc,0.9,,\nacc,0.8,"",NA\n')
    assert cli("register", "m", "--metrics", str(path)).code == 0
    rows = empty_catalog.sql("SELECT metric, dataset, slice FROM metrics ORDER BY metric")
    assert [tuple(r.values()) if isinstance(r, dict) else r for r in rows] == [("acc", None, "NA"), ("auc", None, None)]

"""A call pays for what it reads: which paths each freshness check stats, and what it is guaranteed to see.

See registry_core/index/freshness.py.  The incremental-equals-fresh property over every kind of check is
in test_index_incremental.py; here: the paths a check stats, and the guarantee for files rewritten in place.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from builders import BOB

from registry_core import Catalog
from registry_core.index import generation, scan

FRAUD = "models/fraud-detector/"


@pytest.fixture
def stats(monkeypatch) -> list[str]:
    """Every path a freshness check stats (catalog-relative)."""
    seen: list[str] = []
    real = scan.ctimes

    def counting(paths: list[str]) -> list[int]:
        seen.extend(paths)
        return real(paths)

    monkeypatch.setattr(scan, "ctimes", counting)
    return seen


def settled(root) -> Catalog:
    """A catalog whose index is built and settled (the first build's clock-tick files read again)."""
    Catalog(root).refresh(full=True)
    generation._MEMOS.clear()
    Catalog(root).refresh(full=True)
    return Catalog(root)


def rel(root, paths: list[str]) -> set[str]:
    return {os.path.relpath(p, root).replace(os.sep, "/") for p in paths}


def test_a_model_read_stats_that_model_only(fraud_builder, stats):
    b = fraud_builder
    b.version("churn", 2, metrics=[{"metric": "auc", "value": 0.7, "dataset": "test"}])
    cat = settled(b.root)
    stats.clear()
    assert cat.resolve("fraud-detector@production")["version"] == 2
    seen = rel(b.root, stats)
    assert "models/fraud-detector/versions/2/manifest.yaml" in seen
    assert "models/churn/versions" in seen  # every model's shallow folders: new versions anywhere
    assert "registry.yaml" in seen
    assert not [p for p in seen if p.startswith("models/churn/versions/")]  # nothing deeper of churn


def test_a_catalog_wide_read_stats_folders_not_write_once_files(fraud_builder, stats):
    cat = settled(fraud_builder.root)
    stats.clear()
    cat.models()
    seen = rel(fraud_builder.root, stats)
    assert f"{FRAUD}versions/3/metrics" in seen and f"{FRAUD}events" in seen
    assert {p for p in seen if p.endswith((".parquet", "manifest.yaml")) or "/events/" in p} == set()
    assert f"{FRAUD}model.yaml" in seen and "registry.yaml" in seen
    stats.clear()
    cat.refresh(full=True)
    assert f"{FRAUD}versions/3/manifest.yaml" in rel(fraud_builder.root, stats)


def test_one_freshness_pass_per_read(fraud_builder, monkeypatch):
    cat = settled(fraud_builder.root)
    calls = []
    real = generation.freshness.Selection.changes
    monkeypatch.setattr(generation.freshness.Selection, "changes", lambda self: calls.append(1) or real(self))
    cat.get("fraud-detector@production")
    assert len(calls) == 1
    calls.clear()
    cat.models()
    assert len(calls) == 1
    calls.clear()
    from registry_core.cli import main

    assert main(["--catalog", str(fraud_builder.root), "list"]) == 0
    assert len(calls) == 1


def rewrite_in_place(path, old: str, new: str) -> None:
    """What a non-atomic editor does: the same file (inode) truncated and written again."""
    text = path.read_text()
    assert old in text
    with open(path, "r+") as handle:
        handle.seek(0)
        handle.truncate()
        handle.write(text.replace(old, new))


def test_rename_in_is_seen_by_a_catalog_wide_read(fraud_builder):
    b = fraud_builder
    cat = settled(b.root)
    manifest = b.root / FRAUD / "versions/3/manifest.yaml"
    tmp = manifest.with_name(".tmp-edit")
    tmp.write_text(manifest.read_text().replace("created_by: " + BOB, "created_by: someone@example.com"))
    os.replace(tmp, manifest)  # atomic writers, git checkout, sed -i: the folder's ctime moves
    rows = cat.sql("SELECT created_by FROM versions WHERE model = 'fraud-detector' AND version = 3")
    assert rows == [{"created_by": "someone@example.com"}]


def test_an_in_place_rewrite_is_seen_by_its_model_and_by_the_full_check_never_lost(fraud_builder):
    b = fraud_builder
    cat = settled(b.root)
    manifest = b.root / FRAUD / "versions/2/manifest.yaml"
    rewrite_in_place(manifest, "Velocity features", "rewritten in place")
    query = "SELECT description FROM versions WHERE model = 'fraud-detector' AND version = 2"
    # a catalog-wide read does not stat write-once files (documented): it may still answer from the index...
    cat.refresh()
    b.version("churn", 2)  # ...and a new generation built for another change keeps the old ctime recorded
    cat.refresh()
    # so the next read of the model sees it
    assert cat.versions("fraud-detector")[1]["description"] == "rewritten in place"
    with cat.snapshot(check=False):  # no new check: the index itself holds the new text
        assert cat.sql(query) == [{"description": "rewritten in place"}]

    rewrite_in_place(manifest, "rewritten in place", "rewritten again")
    cat.validate()  # a full check
    with cat.snapshot(check=False):
        assert cat.sql(query) == [{"description": "rewritten again"}]


def test_a_model_read_sees_a_new_version_of_another_model(fraud_builder):
    """Lineage children live in other models: their new versions are seen by the shallow folder check."""
    b = fraud_builder
    cat = settled(b.root)
    b.version("churn", 2, lineage={"parents": ["fraud-detector@3"]})
    assert cat.lineage("fraud-detector@3")["children"] == [{"ref": "churn@2", "stage": "none"}]


def test_refresh_full_command(fraud_builder):
    settled(fraud_builder.root)
    manifest = fraud_builder.root / FRAUD / "versions/3/manifest.yaml"
    rewrite_in_place(manifest, "created_by", "created_by")  # same bytes, new ctime
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-m", "registry_core.cli", "--catalog", str(fraud_builder.root),
                          "refresh", "--full", "--format", "json"], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr
    assert '"checked": "every file"' in run.stdout


def test_the_names_known_without_pyarrow_are_those_of_the_schemas():
    from registry_core.index import files
    from registry_core.index.derive import DERIVED
    from registry_core.index.tables import SCHEMAS

    assert list(files.ROW_TABLES) == list(SCHEMAS)
    assert set(files.DERIVED_TABLES) == set(DERIVED)


def test_a_warm_resolve_imports_no_pyarrow(fraud_builder):
    settled(fraud_builder.root)
    code = ("import sys; from registry_core.cli import main; main(['--catalog', sys.argv[1], 'resolve', "
            "'fraud-detector@production']); print(sorted(m for m in sys.modules if m.startswith('pyarrow')))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-c", code, str(fraud_builder.root)], capture_output=True, text=True,
                         env=env)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["fraud-detector@2", "[]"]


def test_a_first_build_reports_its_walk(fraud_builder):
    seen: list[tuple[int, int]] = []
    cat = Catalog(fraud_builder.root)
    cat.on_first_build(lambda folders, files: seen.append((folders, files)))
    cat.refresh()
    assert seen and seen[-1][1] == len([p for p in fraud_builder.root.rglob("*") if p.is_file()
                                        and ".modelreg" not in p.parts and p.suffix in (".yaml", ".parquet")])
    assert seen == sorted(seen)


def test_the_cli_shows_a_first_build_on_a_terminal(fraud_builder):
    """stderr is a terminal: the walk's progress is printed, then the line is cleared."""
    import pty

    primary, secondary = pty.openpty()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    run = subprocess.run([sys.executable, "-m", "registry_core.cli", "--catalog", str(fraud_builder.root),
                          "resolve", "fraud-detector@production"], stdout=subprocess.PIPE, stderr=secondary,
                         env=env, text=True)
    os.close(secondary)
    shown = os.read(primary, 65536).decode()
    os.close(primary)
    assert run.returncode == 0 and run.stdout.strip() == "fraud-detector@2"
    assert shown.endswith("\r\x1b[K")


def test_a_refresh_rewrites_the_check_files_of_the_models_it_touched_only(fraud_builder):
    b = fraud_builder
    cat = settled(b.root)
    before = cat.refresh().folder / "check"
    b.version("churn", 2)
    after = cat.refresh().folder / "check"
    assert after != before
    assert (after / "fraud-detector").stat().st_ino == (before / "fraud-detector").stat().st_ino  # linked
    assert (after / "churn").stat().st_ino != (before / "churn").stat().st_ino
    generation._MEMOS.clear()  # a new process reads them back
    assert Catalog(b.root).resolve("churn@latest")["version"] == 2

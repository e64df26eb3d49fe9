"""Boundaries (issue 13, items 6-9): pull never leaves the catalog, query results are capped, gc never
takes registered data, sync plans only with valid version folders.

Each class is a generator of variants: the same check runs over every way in (a link at each level of
a version's folders, each kind of oversized result, each reserved artifact name, each invalid folder).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

import pytest
from builders import ALICE, BOB

from registry_core import Catalog
from registry_core.errors import Conflict, InvalidInput
from registry_core.integrations.gitsync import plan_renumbering, sync

from .conftest import add_figure

SECRET = b"outside the catalog: never read"
SECRET_HASH = hashlib.sha256(SECRET).hexdigest()


# -- 6. pull refuses links ----------------------------------------------------------------------------------
def _link_artifacts_folder(version: Path, outside: Path) -> None:
    (outside / "model.bin").write_bytes(SECRET)
    os.rename(version / "artifacts", version / "artifacts.real")
    (version / "artifacts").symlink_to(outside, target_is_directory=True)


def _link_artifact_file(version: Path, outside: Path) -> None:
    (outside / "model.bin").write_bytes(SECRET)
    (version / "artifacts" / "model.bin").unlink()
    (version / "artifacts" / "model.bin").symlink_to(outside / "model.bin")


def _link_inner_folder(version: Path, outside: Path) -> None:
    # the manifest records artifacts/sub/model.bin; sub is a link
    (outside / "model.bin").write_bytes(SECRET)
    manifest = version / "manifest.yaml"
    manifest.write_text(manifest.read_text().replace("artifacts/model.bin", "artifacts/sub/model.bin"))
    (version / "artifacts" / "sub").symlink_to(outside, target_is_directory=True)


LINKS = {"artifacts folder": _link_artifacts_folder, "artifact file": _link_artifact_file,
         "folder inside artifacts": _link_inner_folder}


@pytest.mark.parametrize("where", sorted(LINKS))
def test_pull_refuses_a_link_anywhere_and_reads_nothing_outside(where, cli, fraud, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    version = fraud.root / "models/fraud-detector/versions/2"
    LINKS[where](version, outside)
    before = os.stat(outside / "model.bin").st_atime_ns
    os.utime(outside / "model.bin", ns=(before - 10**9, os.stat(outside / "model.bin").st_mtime_ns))
    atime = os.stat(outside / "model.bin").st_atime_ns
    out = tmp_path / "out"
    result = cli("pull", "fraud-detector@2", "--to", str(out), catalog=fraud.root)
    assert result.code == 1 and "link" in result.err and "nothing was written" in result.err, result.err
    assert SECRET_HASH[:8] not in result.err + result.out
    assert not out.exists() or os.listdir(out) == []
    assert os.stat(outside / "model.bin").st_atime_ns == atime  # not even opened
    add_figure("pull: links refused (each level of a version's folders)", 1)


# -- 7. query results are capped ----------------------------------------------------------------------------
OVERSIZED = ["SELECT range FROM range(300000000)", "SELECT repeat('x', 1000000) FROM range(4000)",
             "SELECT range % 7 AS r FROM range(100001) ORDER BY r", "SELECT * FROM versions, range(200000)"]


@pytest.mark.parametrize("sql", OVERSIZED)
def test_query_results_are_capped_with_a_clear_message(sql, cli, fraud):
    start = time.monotonic()
    result = cli("query", sql, catalog=fraud.root)
    took = time.monotonic() - start
    assert result.code == 1 and "query result too large" in result.err and result.out == ""
    assert len(result.err.strip().splitlines()) == 1
    assert took < 25, f"{sql}: {took:.1f} s"
    add_figure("query: oversized results stopped", 1)


def test_query_at_the_cap_still_answers(fraud):
    frame = fraud.query("SELECT range FROM range(100000)")
    assert len(frame) == 100_000 and frame["range"].iloc[-1] == 99_999
    typed = fraud.query("SELECT model, version, created_at FROM versions ORDER BY model, version")
    assert str(typed["version"].dtype) == "int64" and "UTC" in str(typed["created_at"].dtype)


# -- 8. gc never deletes registered data --------------------------------------------------------------------
RESERVED = [".tmp-weights.bin", ".tmp-", "folder/.tmp-inner.bin", ".tmp-folder/model.bin"]


@pytest.mark.parametrize("name", RESERVED)
def test_register_refuses_reserved_artifact_names_and_writes_nothing(name, fraud, tmp_path):
    source = tmp_path / "src" / name
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(b"weights")
    top = tmp_path / "src" / Path(name).parts[0]
    before = sorted(p.name for p in fraud.layout.versions("churn").iterdir())
    with pytest.raises(InvalidInput, match="reserved for temporary files"):
        fraud.register("churn", artifacts=[str(top)])
    assert sorted(p.name for p in fraud.layout.versions("churn").iterdir()) == before
    add_figure("register: reserved artifact names refused", 1)


@pytest.mark.parametrize("name", [".tmp-weights.bin", "sub/.tmp-x.bin"])
def test_gc_never_collects_inside_a_registered_versions_artifacts(name, fraud, cli):
    """A catalog written by an older release may hold such artifacts: gc keeps them, verify stays green."""
    version = fraud.layout.version("churn", 1)
    path = version / "artifacts" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"registered weights")
    manifest = version / "manifest.yaml"
    digest = hashlib.sha256(b"registered weights").hexdigest()
    text = manifest.read_text()
    entry = f"- {{path: artifacts/{name}, sha256: {digest}, size: 18}}\n"
    manifest.write_text(text.replace("artifacts:\n", "artifacts:\n" + entry, 1) if "artifacts:\n" in text
                        else text + "artifacts:\n" + entry)
    old = time.time() - 7200
    os.utime(path, (old, old))
    leftover = fraud.layout.metrics("churn", 1) / ".tmp-metrics.parquet.1.abcd"
    leftover.parent.mkdir(exist_ok=True)
    leftover.write_bytes(b"half")
    os.utime(leftover, (old, old))
    removed = fraud.gc(older_than_s=0)
    assert path.exists() and fraud.layout.relative(leftover) in removed
    assert all(fraud.layout.relative(path) != r for r in removed)
    assert all(r["ok"] for r in fraud.verify("churn@1"))
    add_figure("gc: registered artifacts kept", 1)


# -- 9. sync plans only with valid folders ------------------------------------------------------------------
def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def _clones(tmp_path: Path) -> tuple[Catalog, Catalog]:
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    clones = []
    for who, email in (("alice", ALICE), ("bob", BOB)):
        git(tmp_path, "clone", "-q", str(remote), str(tmp_path / who))
        git(tmp_path / who, "config", "user.name", who)
        git(tmp_path / who, "config", "user.email", email)
        if who == "alice":
            cat = Catalog.init(tmp_path / who / "catalog", user=ALICE)
            cat.register("fraud")
            git(tmp_path / who, "add", "catalog")
            git(tmp_path / who, "commit", "-q", "-m", "fraud@1")
            git(tmp_path / who, "push", "-q", "-u", "origin", "main")
        clones.append(tmp_path / who / "catalog")
    return Catalog(clones[0], user=ALICE), Catalog(clones[1], user=BOB)


INVALID_FOLDERS = ["99999999999999999999", "9223372036854775808", "02", "0", "\u0661\u0662"]


@pytest.mark.time_limit(120)
@pytest.mark.parametrize("folder", INVALID_FOLDERS)
def test_sync_ignores_invalid_remote_version_folders(folder, tmp_path):
    alice, bob = _clones(tmp_path)
    alice.register("fraud")  # a real collision with bob's 2
    bad = alice.layout.versions("fraud") / folder
    bad.mkdir()
    (bad / "manifest.yaml").write_text(f"model: fraud\nversion: {folder}\ncreated_at: 2026-01-01T00:00:00Z\n"
                                       "created_by: mallory@example.com\n")
    sync(alice)
    bob.register("fraud")
    bob.promote("fraud", 2, "staging", reason="bob's")
    result = sync(bob)
    assert result.renumbered == [{"model": "fraud", "from": 2, "to": 3}]
    assert [v["version"] for v in bob.versions("fraud")] == [3, 2, 1]
    assert bob.resolve("fraud@staging")["version"] == 3
    add_figure("sync: invalid remote version folders ignored", 1)


def test_renumbering_past_the_largest_version_is_refused():
    top = 2**63 - 1
    assert plan_renumbering({"m": {1}}, {"m": {1, 2}}, {"m": {1, 2, top - 1}}) == {"m": {2: top}}
    with pytest.raises(Conflict, match="2\\^63"):
        plan_renumbering({"m": {1}}, {"m": {1, 2}}, {"m": {1, 2, top}})

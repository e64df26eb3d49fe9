"""modelreg sync and auto-commit on real git repositories: a bare remote and two clones racing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import yaml
from builders import clone, git

from registry_core import Catalog
from registry_core.errors import CatalogError, Conflict
from registry_core.integrations.gitsync import plan_renumbering, sync

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
def clones(tmp_path):
    """A bare remote holding a catalog with fraud@1, cloned by alice and by bob."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    a = clone(remote, tmp_path / "alice", ALICE)
    cat = Catalog.init(a / "catalog", user=ALICE)
    cat.register("fraud", metrics={"test": {"roc_auc": 0.8}})
    git(a, "add", "catalog")
    git(a, "commit", "-q", "-m", "catalog with fraud@1")
    git(a, "push", "-q", "-u", "origin", "main")
    b = clone(remote, tmp_path / "bob", BOB)
    return Catalog(a / "catalog", user=ALICE), Catalog(b / "catalog", user=BOB)


def manifest(cat: Catalog, version: int) -> dict:
    return yaml.safe_load(cat.layout.manifest("fraud", version).read_text())


def test_collision_renumbers_local_versions_events_and_parents(clones):
    alice, bob = clones
    alice.register("fraud", metrics={"test": {"roc_auc": 0.9}})
    alice.promote("fraud", 2, "staging", reason="alice's candidate")
    bob.register("fraud", metrics={"test": {"roc_auc": 0.85}})
    bob.promote("fraud", 2, "staging", reason="bob's candidate")
    bob.register("fraud", parents=["fraud@2"], metrics={"test": {"roc_auc": 0.87}})

    first = sync(alice)
    assert first.committed and first.pushed == 1 and first.renumbered == []
    second = sync(bob)
    assert second.renumbered == [{"model": "fraud", "from": 2, "to": 3}, {"model": "fraud", "from": 3, "to": 4}]
    assert second.pulled == 1 and second.pushed == 1

    assert [manifest(bob, n)["created_by"] for n in (1, 2, 3, 4)] == [ALICE, ALICE, BOB, BOB]
    assert manifest(bob, 3)["version"] == 3 and manifest(bob, 4)["lineage"]["parents"] == ["fraud@3"]
    bob_event = [e for e in bob.history("fraud") if e["by"] == BOB]
    assert [(e["action"], e["version"], e["reason"]) for e in bob_event] == [("promote", 3, "bob's candidate")]
    message = git(bob.root, "log", "-1", "--format=%B")
    assert "Register fraud@3 (bob@example.com)" in message and "Register fraud@4 (bob@example.com)" in message
    assert "Promote fraud@3 to staging (bob@example.com): bob's candidate" in message

    third = sync(alice)
    assert third.pulled == 1 and third.pushed == 0
    assert git(alice.root, "rev-parse", "HEAD") == git(bob.root, "rev-parse", "HEAD")
    for cat in (alice, bob):
        assert [v["version"] for v in cat.versions("fraud")] == [4, 3, 2, 1]
        assert {v["version"]: v["stage"] for v in cat.versions("fraud")} == {1: "none", 2: "staging", 3: "staging",
                                                                             4: "none"}
        assert cat.versions("fraud")[1]["metrics"] == {"roc_auc[test]": 0.85}
        assert [p for p in cat.validate() if p["severity"] == "error"] == []


def test_two_clones_racing_to_push(clones):
    alice, bob = clones
    for _ in range(3):
        alice.register("fraud", metrics={"test": {"roc_auc": 0.9}})
        bob.register("fraud", metrics={"test": {"roc_auc": 0.7}})
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}
    procs = [subprocess.Popen([sys.executable, "-m", "registry_core.cli", "--catalog", str(cat.root), "sync"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for cat in (alice, bob)]
    outcomes = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outcomes
    assert sum("renumbered" in out for out, _ in outcomes) == 1  # exactly one of them lost the race
    sync(alice)
    sync(bob)
    assert git(alice.root, "rev-parse", "HEAD") == git(bob.root, "rev-parse", "HEAD")
    for cat in (alice, bob):
        versions = cat.versions("fraud")
        assert sorted(v["version"] for v in versions) == list(range(1, 8))
        assert sorted(v["created_by"] for v in versions) == [ALICE] * 4 + [BOB] * 3
        assert [p for p in cat.validate() if p["severity"] == "error"] == []


def test_conflict_outside_the_catalog_stops_before_pushing(clones):
    alice, bob = clones
    for cat, text in ((alice, "alice\n"), (bob, "bob\n")):
        (cat.root.parent / "train.py").write_text(text)
        git(cat.root.parent, "add", "train.py")
        git(cat.root.parent, "commit", "-q", "-m", "train.py")
    sync(alice)
    bob.register("fraud")
    before = git(bob.root, "rev-parse", "origin/main")
    with pytest.raises(Conflict, match=r"conflict in train\.py"):
        sync(bob)
    assert not (bob.root.parent / ".git" / "rebase-merge").exists()
    git(bob.root.parent, "fetch", "-q")
    assert git(bob.root, "rev-parse", "origin/main") != before  # alice's push, and nothing of bob's
    assert "bob" not in git(bob.root, "log", "origin/main", "--format=%an")


def test_auto_commit_messages_say_what_and_who(clones, monkeypatch):
    alice, _ = clones
    monkeypatch.setenv("MODELREG_GIT_COMMIT", "1")
    alice.register("fraud", metrics={"test": {"roc_auc": 0.9}})
    alice.promote("fraud", 2, "production", reason="beats v1")
    alice.alias("fraud", 2, "champion")
    alice.log_metrics("fraud@2", {"latency_ms": 12.0})
    subjects = git(alice.root, "log", "--format=%s", "-4").splitlines()
    assert subjects == ["Log metrics for fraud@2", f"Point alias champion at fraud@2 ({ALICE})",
                        f"Promote fraud@2 to production ({ALICE}): beats v1", f"Register fraud@2 ({ALICE})"]
    assert git(alice.root, "status", "--porcelain") == ""


def test_auto_commit_from_registry_yaml_and_env_override(clones, monkeypatch):
    alice, _ = clones
    registry = alice.layout.registry
    registry.write_text(registry.read_text() + "git:\n  auto_commit: true\n")
    git(alice.root, "commit", "-q", "-am", "auto-commit on")
    alice.register("fraud")
    assert git(alice.root, "log", "-1", "--format=%s").strip() == f"Register fraud@2 ({ALICE})"
    monkeypatch.setenv("MODELREG_GIT_COMMIT", "0")
    alice.register("fraud")
    assert git(alice.root, "log", "-1", "--format=%s").strip() == f"Register fraud@2 ({ALICE})"
    assert "fraud/versions/3/" in git(alice.root, "status", "--porcelain", "--untracked-files=all")


def test_auto_commit_outside_git_says_the_write_happened(tmp_path, monkeypatch):
    cat = Catalog.init(tmp_path / "plain", user=ALICE)
    monkeypatch.setenv("MODELREG_GIT_COMMIT", "1")
    with pytest.raises(CatalogError, match=r"written, but not committed.*not inside a git repository"):
        cat.register("fraud")
    assert cat.versions("fraud")[0]["version"] == 1


def test_bad_git_setting_is_reported(empty_catalog):
    registry = empty_catalog.layout.registry
    registry.write_text(registry.read_text() + "git: {auto_commit: sometimes}\n")
    problems = empty_catalog.validate()
    assert any("'git' must be a mapping like {auto_commit: true}" in p["message"] for p in problems)


def test_sync_cli(clones, cli):
    alice, bob = clones
    bob.register("fraud")
    result = cli("sync", "--format", "json", catalog=bob.root)
    assert result.code == 0, result.err
    assert result.json["pushed"] == 1 and result.json["renumbered"] == []
    alice.register("fraud")
    result = cli("sync", catalog=alice.root)
    assert result.code == 0 and "renumbered fraud@2 -> fraud@3" in result.out


def test_plan_renumbering_keeps_order_and_leaves_shared_versions():
    base = {"fraud": {1}}
    local = {"fraud": {1, 2, 3}, "churn": {1}}
    theirs = {"fraud": {1, 2}, "churn": set(), "new": {1}}
    assert plan_renumbering(base, local, theirs) == {"fraud": {2: 3, 3: 4}}
    assert plan_renumbering(base, {"fraud": {1, 2}}, {"fraud": {1}}) == {}
    assert plan_renumbering({}, {"new": {1}}, {"new": {1, 2}}) == {"new": {1: 3}}


def test_first_sync_pushes_a_new_branch(tmp_path):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    work = tmp_path / "work"
    git(tmp_path, "init", "-q", "-b", "main", str(work))
    git(work, "remote", "add", "origin", str(remote))
    cat = Catalog.init(work / "catalog", user=ALICE)
    cat.register("fraud")
    result = sync(cat)
    assert result.pushed == 1 and result.committed
    assert git(remote, "log", "--format=%s", "main").strip() == f"Register fraud@1 ({ALICE}) (and 1 more)"
    assert git(work, "rev-parse", "--abbrev-ref", "main@{upstream}").strip() == "origin/main"


def test_unfinished_writes_are_left_out_of_commits(clones):
    alice, _ = clones
    unfinished = alice.layout.versions("fraud") / "7"
    (unfinished / "metrics").mkdir(parents=True)
    (unfinished / "metrics" / "metrics.parquet").write_bytes(b"half")
    (alice.layout.events("fraud")).mkdir(parents=True, exist_ok=True)
    (alice.layout.events("fraud") / ".tmp-x.yaml.1.abcd").write_text("id: half")
    number = alice.register("fraud")["version"]  # 8: the unfinished folder's number stays taken
    sync(alice)
    committed = git(alice.root.parent, "ls-files", "catalog/models/fraud")
    assert f"versions/{number}/manifest.yaml" in committed
    assert "versions/7/" not in committed and ".tmp-" not in committed

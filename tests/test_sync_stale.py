"""SPEC 1.7: sync never pushes a decision made on a stale view (two real clones and a bare remote)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from builders import clone, git

from registry_core import Catalog
from registry_core.errors import PolicyRefused
from registry_core.integrations.gitsync import sync

ALICE, BOB = "alice@example.com", "bob@example.com"
REGISTRY = """format: 1
policies:
  production:
    gates:
      - {metric: roc_auc, dataset: test, vs: production}
"""


def setup(tmp_path: Path, registry: str | None) -> tuple[Catalog, Catalog, Path]:
    """fraud@1 (0.80) in production, @2 (0.85) and @3 (0.90) registered; pushed; cloned by alice and bob."""
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    a = clone(remote, tmp_path / "alice", ALICE)
    cat = Catalog.init(a / "catalog", user=ALICE)
    if registry:
        (cat.root / "registry.yaml").write_text(registry)
    for value in (0.80, 0.85, 0.90):
        cat.register("fraud", metrics={"test": {"roc_auc": value}})
    cat.promote("fraud", 1, "production", reason="first")
    git(a, "add", "catalog")
    git(a, "commit", "-q", "-m", "catalog")
    git(a, "push", "-q", "-u", "origin", "main")
    b = clone(remote, tmp_path / "bob", BOB)
    return Catalog(a / "catalog", user=ALICE), Catalog(b / "catalog", user=BOB), remote


def remote_production(remote: Path, tmp_path: Path) -> str:
    check = tmp_path / "check"
    git(tmp_path, "clone", "-q", str(remote), str(check))
    ref = Catalog(check / "catalog").resolve("fraud@production")["ref"]
    subprocess.run(["rm", "-rf", str(check)], check=True)
    return ref


@pytest.mark.parametrize("registry", [REGISTRY, None], ids=["gates-vs-new-holder", "exclusivity"])
def test_a_promotion_against_an_old_holder_is_not_pushed(tmp_path, registry, cli):
    alice, bob, remote = setup(tmp_path, registry)
    alice.promote("fraud", 3, "production", reason="best")
    sync(alice)
    bob.promote("fraud", 2, "production", reason="better than v1")  # bob has not pulled: he sees v1
    bob_tip = git(bob.root, "rev-parse", "HEAD")
    with pytest.raises(PolicyRefused) as refused:
        sync(bob)
    message = str(refused.value)
    assert "1 local event(s) no longer hold" in message and "--drop-stale" in message
    event = next(e["id"] for e in bob.history("fraud") if e["by"] == BOB)
    assert f"models/fraud/events/{event}.yaml" in message
    expected = "breaks the policy after the pull: gates" if registry else "production held by v1, v2 in none"
    assert expected in message
    assert remote_production(remote, tmp_path) == "fraud@3"
    # bob's commit (made by sync) is kept as it was, on what he had seen; not pushed
    assert git(bob.root, "rev-parse", "HEAD~1") == bob_tip and "Promote fraud@2" in git(bob.root, "log", "-1")
    result = cli("sync", "--format", "json", catalog=bob.root, user=BOB)
    assert result.code == 3 and "no longer hold" in result.err
    dropped = cli("sync", "--drop-stale", "--format", "json", catalog=bob.root, user=BOB)
    assert dropped.code == 0, dropped.err
    assert [d["id"] for d in dropped.json["dropped"]] == [event]
    assert remote_production(remote, tmp_path) == "fraud@3"
    assert git(bob.root, "rev-parse", "HEAD") == git(alice.root, "rev-parse", "HEAD")
    assert not (bob.root / f"models/fraud/events/{event}.yaml").exists()


def test_drop_stale_pushes_the_rest(tmp_path):
    alice, bob, remote = setup(tmp_path, None)
    alice.promote("fraud", 3, "production", reason="best")
    sync(alice)
    bob.promote("fraud", 2, "production", reason="stale")
    git(bob.root.parent, "add", "-A")
    git(bob.root.parent, "commit", "-qm", "bob's promotion")
    bob.register("fraud", metrics={"test": {"roc_auc": 0.7}})
    bob.promote("fraud", 4, "staging", reason="fresh decision")
    result = sync(bob, drop_stale=True)
    assert len(result.dropped) == 1 and result.pushed >= 1
    fresh = Catalog(bob.root)
    assert fresh.resolve("fraud@production")["version"] == 3
    assert fresh.resolve("fraud@staging")["version"] == 4
    assert remote_production(remote, tmp_path) == "fraud@3"


def test_an_approval_of_a_request_answered_upstream_is_not_pushed(tmp_path):
    registry = "format: 1\npolicies:\n  production:\n    approvals: 1\n"
    alice, bob, remote = setup(tmp_path, None)
    (alice.root / "registry.yaml").write_text(registry)
    carol = alice.as_user("carol@example.com")
    pending = carol.promote("fraud", 2, "production", reason="please")
    sync(alice)
    sync(bob)
    alice.reject("fraud", pending["request"], reason="no")
    sync(alice)
    bob.approve("fraud", pending["request"], reason="yes")
    with pytest.raises(PolicyRefused, match="already rejected"):
        sync(bob)
    assert remote_production(remote, tmp_path) == "fraud@1"


def test_independent_local_decisions_are_pushed(tmp_path):
    alice, bob, remote = setup(tmp_path, REGISTRY)
    alice.promote("fraud", 2, "staging", reason="try")
    sync(alice)
    bob.promote("fraud", 3, "production", reason="best")
    result = sync(bob)
    assert result.pushed == 1 and result.dropped == []
    assert remote_production(remote, tmp_path) == "fraud@3"

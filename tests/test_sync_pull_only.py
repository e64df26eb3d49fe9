"""``modelreg sync --pull-only``: a read-only clone (dashboard replica, CI) fast-forwards and never writes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from builders import ALICE

from registry_core import Catalog
from registry_core.errors import Conflict
from registry_core.integrations.gitsync import pull_only


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def test_replica_fast_forwards_and_refuses_local_commits(tmp_path, cli):
    remote = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    writer = tmp_path / "writer"
    git(tmp_path, "clone", "-q", str(remote), str(writer))
    cat = Catalog.init(writer / "catalog", user=ALICE)
    cat.register("fraud")
    git(writer, "add", "catalog")
    git(writer, "commit", "-q", "-m", "fraud@1")
    git(writer, "push", "-q", "-u", "origin", "main")
    replica = tmp_path / "replica"
    git(tmp_path, "clone", "-q", str(remote), str(replica))
    cat.register("fraud")
    git(writer, "add", "catalog")
    git(writer, "commit", "-q", "-m", "fraud@2")
    git(writer, "push", "-q")
    head = git(remote, "rev-parse", "main")
    result = cli("sync", "--pull-only", "--format", "json", catalog=replica / "catalog")
    assert result.code == 0, result.err
    assert result.json["pulled"] == 1 and result.json["pushed"] == 0 and result.json["committed"] is None
    assert [v["version"] for v in Catalog(replica / "catalog").versions("fraud")] == [2, 1]
    # a replica that wrote something of its own is refused, and the remote is untouched
    Catalog(replica / "catalog", user=ALICE).register("fraud")
    git(replica, "add", "catalog")
    git(replica, "commit", "-q", "-m", "local")
    cat.register("fraud")
    git(writer, "add", "catalog")
    git(writer, "commit", "-q", "-m", "fraud@3")
    git(writer, "push", "-q")
    head = git(remote, "rev-parse", "main")
    with pytest.raises(Conflict, match="cannot fast-forward"):
        pull_only(Catalog(replica / "catalog"))
    assert git(remote, "rev-parse", "main") == head

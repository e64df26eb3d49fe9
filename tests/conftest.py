"""Shared fixtures: an isolated environment, small real catalogs, and an in-process CLI runner."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from builders import ALICE, BOB, CatalogBuilder, fraud_catalog


@pytest.fixture(autouse=True)
def isolated_env(tmp_path_factory, monkeypatch):
    """No MODELREG_* from the outside, a fake HOME and a known git identity."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("MODELREG_"):
            monkeypatch.delenv(name)
    gitconfig = home / ".gitconfig"
    gitconfig.write_text("[user]\n\tname = Test Runner\n\temail = tester@example.com\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(gitconfig))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("GIT_AUTHOR_EMAIL", "GIT_COMMITTER_EMAIL", "EMAIL"):
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def cat_path(tmp_path) -> Path:
    return tmp_path / "cat"


@pytest.fixture
def empty_catalog(cat_path):
    """A catalog made by ``Catalog.init`` with the commented default registry.yaml, acting as bob."""
    from registry_core import Catalog

    return Catalog.init(cat_path, name="Test catalog", user=BOB)


@pytest.fixture(scope="session")
def fraud_template(tmp_path_factory) -> Path:
    """The hand-written fraud catalog, written once per session."""
    root = tmp_path_factory.mktemp("template") / "cat"
    fraud_catalog(root)
    return root


@pytest.fixture
def fraud_builder(fraud_template, cat_path) -> CatalogBuilder:
    """The hand-written spec story (see builders.fraud_catalog); no registry_core writer involved.

    Each test gets its own copy of the session's template.
    """
    shutil.copytree(fraud_template, cat_path, symlinks=True)
    return CatalogBuilder(cat_path, registry=None)


@pytest.fixture
def candidate(fraud_builder) -> Path:
    """The fraud story plus v4: good enough for production, registered by bob with artifacts and lineage
    (the dashboard's AppTest and browser tests act on it)."""
    from registry_core import Catalog

    root = fraud_builder.root
    model_file = root.parent / "model.bin"
    model_file.write_bytes(b"weights v4")
    Catalog(root, user=BOB).register(
        "fraud-detector", params={"learning_rate": 0.03, "n_estimators": 600, "max_depth": 6},
        metrics=[{"metric": "roc_auc", "value": 0.9, "dataset": "test"},
                 {"metric": "roc_auc", "value": 0.88, "dataset": "validation"},
                 {"metric": "latency_p95_ms", "value": 30.0},
                 {"metric": "recall", "value": 0.8, "dataset": "test", "slice": "region=eu"}],
        artifacts=[model_file], datasets=["train=transactions@2026-11"], parents=["fraud-detector@2"],
        description="More trees, lower rate")
    return root


@pytest.fixture(scope="module")
def fraud_ro(fraud_template, tmp_path_factory) -> Path:
    """One copy of the fraud catalog shared by a module's tests that only read (its index is built once)."""
    root = tmp_path_factory.mktemp("readonly") / "cat"
    shutil.copytree(fraud_template, root, symlinks=True)
    return root


@pytest.fixture
def ro_cli(cli, fraud_ro):
    """``cli`` on the module's shared read-only fraud catalog: use it only for commands that do not write."""

    def run(*args: str, user: str | None = BOB) -> Result:
        return cli(*args, user=user, catalog=fraud_ro)

    return run


@pytest.fixture
def fraud(fraud_builder):
    """``Catalog`` over the hand-written fraud catalog, acting as alice (a lead)."""
    from registry_core import Catalog

    return Catalog(fraud_builder.root, user=ALICE)


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys, cat_path):
    """Run ``modelreg`` in-process: ``cli("list", "--format", "json", user=...)`` -> Result."""
    from registry_core.cli import main

    def run(*args: str, user: str | None = BOB, catalog: Path | None = None) -> Result:
        capsys.readouterr()
        argv = ["--catalog", str(catalog or cat_path)]
        if user:
            argv += ["--user", user]
        try:
            code = main([*argv, *map(str, args)])
        except SystemExit as exc:  # argparse usage errors and --help
            code = exc.code
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    return run

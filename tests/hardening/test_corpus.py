"""Every corpus case: validate names the file and the problem, the rest keeps working, nothing leaks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from registry_core import Catalog

from .checks import READ_COMMANDS, Outcome, check_case, check_rest
from .conftest import add_figure
from .corpus import BOB, CASES, KINDS, SECRET, materialize, outside_state


def test_the_corpus_covers_every_file_kind():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    assert set(KINDS) == {"registry", "model", "manifest", "artifact", "metrics", "event", "structure"}


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_case(case, base_catalog, tmp_path, monkeypatch):
    root, outside = materialize(case, base_catalog, tmp_path)
    monkeypatch.chdir(tmp_path)
    before, listing = outside_state(outside), sorted(os.listdir(tmp_path))
    check_case(case, root)
    assert outside_state(outside) == before, "something outside the catalog was read or written"
    assert sorted(os.listdir(tmp_path)) == listing, "something was created next to the catalog"
    assert not Path("PWNED").exists(), "a YAML tag ran code"
    add_figure("corpus cases passed", 1)


def build_all(base: Path, where: Path) -> tuple[Path, Path, int]:
    """One catalog with every case applied at once (registry.yaml: the last registry case wins)."""
    root, outside = materialize(CASES[0], base, where)
    applied = 1
    for case in CASES[1:]:
        try:
            case.build(root, outside)
            applied += 1
        except (OSError, ValueError):  # an earlier case already removed or replaced what this one damages
            continue
    return root, outside, applied


def test_every_case_at_once(base_catalog, tmp_path, monkeypatch):
    """All the damage in one catalog: every read command still answers for the healthy models."""
    root, outside, applied = build_all(base_catalog, tmp_path)
    monkeypatch.chdir(tmp_path)
    before = outside_state(outside)
    outcome = Outcome()
    check_rest(Catalog(root, user=BOB), outcome, READ_COMMANDS)
    outcome.texts.append(str(Catalog(root).validate()))
    assert SECRET not in outcome.text()
    assert outside_state(outside) == before
    add_figure("cases applied to one catalog at once", applied)

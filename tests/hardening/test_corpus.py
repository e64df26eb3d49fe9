"""Every corpus case: validate names the file and the problem, the rest keeps working, nothing leaks.

The cases run in two worker processes (both cores), each case under its own time limit; each case is
still its own test, failing with the traceback from its worker.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import traceback
from pathlib import Path

import pytest

from registry_core import Catalog

from .checks import APP, READ_COMMANDS, Outcome, check_case, check_dashboard, check_rest, check_writes
from .conftest import add_figure
from .corpus import BOB, CASES, KINDS, ODDITIES, SECRET, materialize, outside_state, prepare_outside

BY_ID = {case.id: case for case in CASES}
CASE_LIMIT_S = 120


def run_case(case_id: str, base: str, where: str) -> str | None:
    """In a worker: damage a copy of the base catalog one way and check it; returns None or the failure."""
    case = BY_ID[case_id]
    try:
        root, outside = materialize(case, Path(base), Path(where))
        os.chdir(where)
        before, listing = outside_state(outside), sorted(os.listdir(where))
        check_case(case, root)
        if APP.exists():  # every dashboard page opens on the damaged catalog and shows no secret either
            assert SECRET not in "\n".join(check_dashboard(root))
        assert outside_state(outside) == before, "something outside the catalog was read or written"
        assert sorted(os.listdir(where)) == listing, "something was created next to the catalog"
        assert not Path("PWNED").exists(), "a YAML tag ran code"
        return None
    except Exception:
        return traceback.format_exc()


@pytest.fixture(scope="module")
def results(base_catalog, tmp_path_factory) -> dict[str, str | None]:
    where = tmp_path_factory.mktemp("cases")
    found: dict[str, str | None] = {}
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        jobs = {case.id: pool.apply_async(run_case, (case.id, str(base_catalog), str(where / case.id)))
                for case in CASES}
        for case_id, job in jobs.items():
            try:
                found[case_id] = job.get(timeout=CASE_LIMIT_S)
            except multiprocessing.TimeoutError:
                found[case_id] = f"{case_id} did not finish within {CASE_LIMIT_S} s (hang?)"
    return found


def test_the_corpus_covers_every_file_kind():
    assert len(CASES) >= 30
    assert len({case.id for case in CASES}) == len(CASES)
    assert set(KINDS) == {"registry", "model", "manifest", "artifact", "metrics", "event", "structure"}


@pytest.mark.time_limit(900)
@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_case(case, results):
    assert results[case.id] is None, results[case.id]
    add_figure("corpus cases passed", 1)
    if APP.exists():
        add_figure("dashboard pages opened on corpus catalogs", len(list(APP.parent.glob("dashboard/pages/*.py"))) + 1)


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


@pytest.mark.time_limit(300)
def test_every_case_at_once(base_catalog, tmp_path, monkeypatch):
    """All the damage in one catalog: every read command still answers for the healthy models."""
    root, outside, applied = build_all(base_catalog, tmp_path)
    monkeypatch.chdir(tmp_path)
    before = outside_state(outside)
    outcome = Outcome()
    check_rest(Catalog(root, user=BOB), outcome, READ_COMMANDS)
    outcome.texts.append(str(Catalog(root).validate()))
    check_writes(root, registry_broken=True)  # the last registry case applied is broken
    if APP.exists():
        outcome.texts += check_dashboard(root)
    assert SECRET not in outcome.text()
    assert outside_state(outside) == before
    add_figure("cases applied to one catalog at once", applied)


@pytest.mark.time_limit(300)
def test_odd_but_legal_catalogs_keep_working(base_catalog, tmp_path, monkeypatch):
    """Legal in YAML and Parquet, unusual in practice: no error, and every reader and page still works."""
    root, outside = tmp_path / "catalog", tmp_path / "outside"
    shutil.copytree(base_catalog, root, symlinks=True)
    prepare_outside(outside)
    for build in ODDITIES.values():
        build(root, outside)
    monkeypatch.chdir(tmp_path)
    assert [p for p in Catalog(root).validate() if p["severity"] == "error"] == []
    outcome = Outcome()
    check_rest(Catalog(root, user=BOB), outcome, READ_COMMANDS)
    if APP.exists():
        check_dashboard(root)
    add_figure("odd but legal variations, all at once", len(ODDITIES))

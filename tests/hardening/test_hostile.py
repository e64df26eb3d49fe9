"""Issue 13: one hostile file is that file's problem, never the catalog's (every variant of every class).

Each variant runs in a worker process whose address space is capped (RLIMIT_AS): an alias bomb
expanded, or 300 million rows read, would end in a MemoryError there, not in a slow machine.  A
variant must show as an error naming its file in ``modelreg validate`` (exit 1) and in the
``_problems`` view behind the dashboard's problems page, while the healthy models still list and
resolve as before.  The first variant of each class also opens every dashboard page.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import resource
import shutil
import time
import traceback
from pathlib import Path

import pytest

from registry_core import Catalog

from .checks import APP, QUICK_COMMANDS, Outcome, check_dashboard, check_rest, run_cli
from .conftest import add_figure, max_figure
from .corpus import BOB, SECRET, prepare_outside
from .hostile import CLASSES, VARIANTS, Variant, legal_table

BY_ID = {variant.id: variant for variant in VARIANTS}
FIRST_OF_CLASS = {generate()[0].id for generate in CLASSES.values()}
#: address space of a worker: ~0.5 GB is python + duckdb + pyarrow + streamlit before any work
MEMORY_LIMIT = 3 * 1024**3
VARIANT_LIMIT_S = 180


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _errors_named(problems: list[dict], variant: Variant) -> list[dict]:
    return [p for p in problems if p["severity"] == "error" and variant.path in p["path"]
            and re.search(variant.message, p["message"])]


def check_variant(variant: Variant, root: Path) -> dict[str, float]:
    """The contract for one hostile file; returns the figures measured."""
    started = time.monotonic()
    command = run_cli(root, "validate", "--format", "json")
    seconds = time.monotonic() - started
    assert "unexpected" not in command.err, command.err
    problems = json.loads(command.out)
    view = Catalog(root).sql("SELECT path, severity, message FROM _problems")
    if variant.legal:  # random mutations: each file is an error naming it, or a table that is legal
        for rel in variant.legal:
            named = [p for p in problems if p["severity"] == "error" and p["path"] == rel]
            assert named or legal_table(root / rel), f"{rel}: no error, and it is not a legal table: {problems}"
        errors = [p for p in problems if p["severity"] == "error"]
        assert all(p["path"] in variant.legal for p in errors), errors
        assert command.code == (1 if errors else 0), command
    else:
        assert _errors_named(problems, variant), f"no error on {variant.path!r} matching " \
                                                 f"{variant.message!r} in {problems}"
        assert _errors_named(view, variant), f"the _problems view misses it: {view}"
        assert command.code == 1, command
    outcome = Outcome()
    check_rest(Catalog(root, user=BOB), outcome, QUICK_COMMANDS)
    if variant.id in FIRST_OF_CLASS and APP.exists():
        outcome.texts += check_dashboard(root)
    assert SECRET not in outcome.text()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"validate_s": seconds, "peak_mb": peak_kb / 1024}


def run_variant(variant_id: str, base: str, where: str) -> tuple[str | None, dict[str, float]]:
    """In a worker: damage a copy of the base catalog one way and check it."""
    variant = BY_ID[variant_id]
    try:
        root, outside = Path(where) / "catalog", Path(where) / "outside"
        shutil.copytree(base, root, symlinks=True)
        prepare_outside(outside)
        variant.build(root, outside)
        return None, check_variant(variant, root)
    except Exception:
        return traceback.format_exc(), {}
    finally:
        shutil.rmtree(where, ignore_errors=True)


@pytest.fixture(scope="module")
def results(base_catalog, tmp_path_factory) -> dict[str, tuple[str | None, dict[str, float]]]:
    where = tmp_path_factory.mktemp("hostile")
    found: dict[str, tuple[str | None, dict[str, float]]] = {}
    with multiprocessing.get_context("spawn").Pool(2, initializer=_cap_memory) as pool:
        jobs = {v.id: pool.apply_async(run_variant, (v.id, str(base_catalog), str(where / v.id))) for v in VARIANTS}
        for variant_id, job in jobs.items():
            try:
                found[variant_id] = job.get(timeout=VARIANT_LIMIT_S)
            except multiprocessing.TimeoutError:
                found[variant_id] = (f"{variant_id} did not finish within {VARIANT_LIMIT_S} s (hang?)", {})
    return found


def test_every_class_has_several_variants():
    for name, generate in CLASSES.items():
        assert len(generate()) >= 3, name
    assert len({v.id for v in VARIANTS}) == len(VARIANTS)


@pytest.mark.time_limit(1800)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda variant: variant.id)
def test_variant(variant, results):
    failure, figures = results[variant.id]
    assert failure is None, failure
    add_figure("hostile variants passed", 1)
    max_figure("hostile: slowest validate of a variant (s)", round(figures["validate_s"], 2))
    max_figure("hostile: highest peak RSS of a worker (MB)", round(figures["peak_mb"]))

"""The benchmark itself: it runs from its documented command, checks its answers, and the catalogs it
derives with metric tables written by other tools index to the same numbers as the original."""

from __future__ import annotations

import json

import pytest

from benchmarks import run, variants
from benchmarks.workload import Workload, write_catalog
from registry_core import Catalog


def test_the_benchmark_runs_and_every_answer_checks(tmp_path):
    out = tmp_path / "results.json"
    assert run.main(["--sizes", "200", "--repeats", "1", "--register", "3", "--no-pages", "--mlflow", "off",
                     "--work", str(tmp_path), "--out", str(out)]) == 0
    size = json.loads(out.read_text())["sizes"]["200"]
    assert size["checks"] and all(size["checks"].values()), size["checks"]
    assert {"cold_build", "warm_open", "refresh_one", "resolve", "overview", "cross_filter", "cli_resolve"} <= set(
        size["timings_s"])
    assert all(seconds > 0 for seconds in size["timings_s"].values())


def rows(root, sql: str) -> list[tuple]:
    return sorted(tuple(row.values()) for row in Catalog(root).sql(sql))


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench") / "catalog"
    write_catalog(root, Workload(n_models=3, n_versions=4), artifacts=False)
    return root


@pytest.mark.parametrize("kind", list(variants.VARIANTS))
def test_a_variant_has_other_tables_and_the_same_numbers(base, tmp_path, kind):
    variant = variants.make_variant(base, kind, tmp_path / kind)
    before = {p.relative_to(base): p.read_bytes() for p in base.glob("models/*/versions/*/metrics/*.parquet")}
    after = {p.relative_to(variant): p.read_bytes() for p in variant.glob("models/*/versions/*/metrics/*.parquet")}
    assert before != after
    assert {p.relative_to(base): p.read_bytes() for p in base.glob("models/*/versions/*/metrics/*.parquet")} == before
    assert rows(variant, "SELECT * FROM _problems") == []
    for view in ("metrics", "headline", "versions", "stages"):
        assert rows(variant, f"SELECT * FROM {view}") == rows(base, f"SELECT * FROM {view}"), view
    assert variants.cold_build(variant) > 0

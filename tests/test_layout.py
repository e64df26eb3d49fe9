"""format.layout owns catalog paths in both directions: build -> parse round trips, and the SQL agrees."""

import duckdb
from hypothesis import given, settings
from hypothesis import strategies as st

from registry_core.format.layout import (
    CatalogPath,
    Layout,
    build_path,
    metric_part_sql,
    metric_source_sql,
    parse_path,
)
from registry_core.format.names import MAX_VERSION, is_name

names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,20}", fullmatch=True).filter(is_name)
versions = st.integers(1, MAX_VERSION)
files = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,12}", fullmatch=True)
subpaths = st.lists(files, min_size=1, max_size=3).map("/".join)
RESERVED_FIRST = {"manifest.yaml", "metrics", "artifacts"}



def path(kind, model=st.none(), version=st.none(), file=st.none()):
    return st.tuples(st.just(kind), model, version, file).map(lambda parts: CatalogPath(*parts))


paths = st.one_of(
    path("registry"),
    path("model", names),
    path("event", names, file=files.map(lambda f: f + ".yaml")),
    path("manifest", names, versions),
    path("metrics", names, versions, files),
    path("artifact", names, versions, subpaths),
    path("version", names, versions, subpaths.filter(lambda p: p.split("/")[0] not in RESERVED_FIRST)),
)


@settings(deadline=None)  # a loaded machine must not fail a property
@given(paths)
def test_build_then_parse_gives_back_what_was_built(built):
    assert parse_path(build_path(*built)) == built


@settings(deadline=None)  # a loaded machine must not fail a property
@given(st.lists(st.sampled_from(["models", "m", "versions", "events", "metrics", "artifacts", "3", "03", "0",
                                 "manifest.yaml", "model.yaml", "registry.yaml", "e.yaml", "t.parquet", "..", ""]),
                min_size=1, max_size=7).map("/".join))
def test_parse_then_build_gives_back_the_same_path(rel):
    found = parse_path(rel)
    if found is not None:
        assert build_path(*found) == rel


def test_the_layout_object_and_build_path_agree(tmp_path):
    layout = Layout(tmp_path)
    assert layout.relative(layout.manifest("m", 4)) == build_path("manifest", "m", 4)
    assert layout.relative(layout.model_file("m")) == build_path("model", "m")
    assert layout.relative(layout.metrics("m", 4) / "t.parquet") == build_path("metrics", "m", 4, "t.parquet")


def test_what_the_layout_has_no_place_for_parses_to_none():
    for rel in ("notes.txt", "models/m", "models/m/other.yaml", "models/m/versions/007/manifest.yaml",
                "models/../versions/1/manifest.yaml", "models/m/events/e.json",
                "models/.hidden/model.yaml", "models/m/events/sub/e.yaml"):
        assert parse_path(rel) is None, rel


@settings(deadline=None)  # a loaded machine must not fail a property
@given(names, versions, files)
def test_the_index_sql_reads_a_metric_table_path_like_parse_path(model, version, file):
    rel = build_path("metrics", model, version, file)
    row = duckdb.execute(f"SELECT {metric_part_sql('f', 'model')}, {metric_part_sql('f', 'version')}::BIGINT, "
                     f"{metric_source_sql('f')} FROM (SELECT '/some/catalog/' || ? AS f)", [rel]).fetchone()
    found = parse_path(rel)
    assert row == (found.model, found.version, rel)

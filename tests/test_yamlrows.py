"""Rows the index builds from YAML: the fast paths must give what the plain code gives."""

from __future__ import annotations

import json

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from registry_core.index import scan, yamlrows

values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(values)
def test_param_text_is_json_for_everything_but_strings(value):
    assert yamlrows.param_text(value) == (value if isinstance(value, str) else json.dumps(value, default=str))


def test_tables_built_column_by_column_equal_from_pylist(fraud_builder):
    root = fraud_builder.root
    infos = [i for i in scan.scan(root).files.values() if i.kind in ("manifest", "model", "event")]
    tables, _, ok = yamlrows._read_yaml_chunk(str(root), infos)
    assert any(ok.values())
    rows: dict[str, list] = {name: [] for name in yamlrows._YAML_TABLES}
    for info in infos:
        reader = {"manifest": yamlrows.read_manifest, "model": yamlrows.read_model, "event": yamlrows.read_event}
        reader[info.kind](root, info, rows, [])
    for name, table in tables.items():
        assert table.num_rows == len(rows[name])
        assert table.equals(pa.Table.from_pylist(rows[name], schema=yamlrows.SCHEMAS[name]))

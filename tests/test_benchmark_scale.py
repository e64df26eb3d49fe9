"""benchmarks/plain.py writes a catalog modelreg reads without a problem; benchmarks/scale.py reports it."""

from __future__ import annotations

from benchmarks import plain, scale
from registry_core import Catalog


def test_the_plain_writer_writes_a_valid_catalog(tmp_path):
    counts = plain.generate(tmp_path / "cat", 200)
    assert counts["models"] == 2 and counts["versions"] == 200
    cat = Catalog(tmp_path / "cat")
    assert cat.validate() == []
    assert cat.sql("SELECT count(*) AS n FROM versions") == [{"n": 200}]
    assert cat.sql("SELECT count(*) AS n FROM headline WHERE metric = 'accuracy'") == [{"n": 400}]
    assert cat.resolve("model-000@latest")["version"] == 100
    # linked metric tables, and a resumed run keeps what was written
    linked = plain.generate(tmp_path / "linked", 300, distinct=1)
    assert linked["versions"] == 300
    a, b = (tmp_path / "linked/models" / m / "versions/7/metrics/metrics.parquet" for m in ("model-000", "model-002"))
    assert a.stat().st_ino == b.stat().st_ino
    assert plain.generate(tmp_path / "linked", 300)["events"] == 0  # nothing left to write


def test_the_report_table_has_every_row():
    row = {"seconds": 0.5, "peak_mb": 100, "load": 1.0}
    results = {"1000": {"rows": {key: row for key, _ in scale.ROWS}}}
    table = scale.markdown(results)
    assert table.count("\n") == len(scale.ROWS) + 1
    assert "500 ms, 100 MB (1)" in table

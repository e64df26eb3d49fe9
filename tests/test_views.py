"""SPEC 3: the public SQL views (names and columns exactly) and the read-only query sandbox."""

import pytest

from registry_core import Catalog, InvalidInput


@pytest.fixture(scope="module")
def cat_ro(fraud_ro):
    return Catalog(fraud_ro, user="reader@example.com")

SPEC_VIEWS = {
    "models": ["model", "description", "owner", "task", "tags"],
    "versions": ["model", "version", "created_at", "created_by", "description", "framework", "stage", "params",
                 "tags", "path"],
    "metrics": ["model", "version", "metric", "value", "dataset", "step", "timestamp", "slice"],
    "headline": ["model", "version", "metric", "dataset", "slice", "value"],
    "params": ["model", "version", "name", "value"],
    "lineage": ["model", "version", "kind", "name", "ref", "role"],
    "events": ["id", "at", "by", "model", "action", "version", "stage", "reason", "request", "forced", "gates",
               "rollback_of", "alias", "violation"],
    "stages": ["model", "stage", "version", "since", "by"],
    "requests": ["id", "model", "version", "stage", "by", "at", "approvals", "needed"],
    "aliases": ["model", "alias", "version", "since", "by"],
    "stage_history": ["model", "stage", "version", "start", "end", "by"],
}


@pytest.mark.parametrize("view", SPEC_VIEWS)
def test_view_columns_are_exactly_the_spec(cat_ro, view):
    assert list(cat_ro.query(f"SELECT * FROM {view}").columns) == SPEC_VIEWS[view]


@pytest.mark.parametrize("view", SPEC_VIEWS)
def test_view_columns_on_an_empty_catalog(empty_catalog, view):
    frame = empty_catalog.query(f"SELECT * FROM {view}")
    assert list(frame.columns) == SPEC_VIEWS[view] and len(frame) == 0


def test_query_via_the_cli_returns_json_rows(ro_cli):
    result = ro_cli("query", 'SELECT model, stage, version, "by" FROM stages ORDER BY stage', "--format", "json")
    assert result.code == 0, result.err
    assert result.json == [
        {"model": "fraud-detector", "stage": "archived", "version": 1, "by": "alice@example.com"},
        {"model": "fraud-detector", "stage": "production", "version": 2, "by": "alice@example.com"},
    ]


def test_query_csv_and_table(ro_cli):
    csv = ro_cli("query", "SELECT model, version FROM versions ORDER BY model, version", "--format", "csv")
    assert csv.out.splitlines() == ["model,version", "churn,1", "fraud-detector,1", "fraud-detector,2",
                                    "fraud-detector,3"]
    table = ro_cli("query", "SELECT count(*) AS n FROM versions")
    assert table.out.split() == ["N", "4"]


def test_events_view_content(cat_ro):
    frame = cat_ro.query('SELECT action, version, stage, "by", forced, violation FROM events ORDER BY id')
    assert list(frame["action"]) == ["promote", "promote", "promote", "request", "approve", "promote", "alias"]
    assert list(frame["forced"]) == [False, True, False, False, False, False, False]  # v1's first go-live
    assert frame["violation"].isna().all()


def test_requests_view_lists_pending_with_counts(fraud_builder, fraud):
    # v1 back to staging, asking for more approvals than the policy does (allowed: stricter)
    ident = fraud_builder.event("fraud-detector", "request", "2026-11-02T09:00:00Z", "carol@example.com",
                                version=1, stage="staging", reason="try it", approvals_needed=1)
    fraud_builder.event("fraud-detector", "approve", "2026-11-02T10:00:00Z", "carol@example.com", version=1,
                        stage="staging", request=ident)   # the requester's own approval does not count
    records = fraud.query("SELECT * FROM requests").to_dict("records")
    assert [r | {"at": None} for r in records] == [{
        "id": ident, "model": "fraud-detector", "version": 1, "stage": "staging",
        "by": "carol@example.com", "at": None, "approvals": 0, "needed": 1}]
    assert records[0]["at"].isoformat().startswith("2026-11-02T09:00:00")


@pytest.mark.parametrize("sql", [
    "INSERT INTO versions VALUES (1)",
    "DELETE FROM versions",
    "UPDATE versions SET model = 'x'",
    "CREATE TABLE t AS SELECT 1",
    "DROP VIEW versions",
    "COPY (SELECT * FROM versions) TO '{out}'",
    "COPY versions TO '{out}' (FORMAT parquet)",
    "ATTACH '{out}' AS other",
    "INSTALL httpfs",
    "LOAD httpfs",
    "SET enable_external_access = true",
    "PRAGMA version",
    "SELECT * FROM read_csv('/etc/passwd')",
    "SELECT * FROM read_text('/etc/passwd')",
    "SELECT * FROM '/etc/passwd'",
    "SELECT * FROM read_parquet('{parquet}')",
    "SELECT * FROM glob('/etc/*')",
    "SELECT 1; SELECT 2",
    "",
])
def test_query_refuses_writes_files_attach_extensions(ro_cli, cat_ro, tmp_path, sql):
    out = tmp_path / "stolen.csv"
    parquet = next(cat_ro.root.rglob("metrics.parquet"))
    text = sql.format(out=out, parquet=parquet)
    result = ro_cli("query", text)
    assert result.code == 1, result.out
    assert result.err.startswith("error: ") and result.err.count("\n") == 1
    assert "root:" not in result.out
    assert not out.exists()
    with pytest.raises(InvalidInput):
        cat_ro.query(text)


def test_query_cannot_reach_the_private_views_or_the_index_files(cat_ro):
    with pytest.raises(InvalidInput):
        cat_ro.query("SELECT manifest FROM _versions")
    index = next((cat_ro.root / ".modelreg").rglob("*.parquet"))
    with pytest.raises(InvalidInput):
        cat_ro.query(f"SELECT * FROM read_parquet('{index}')")


def test_query_allows_joins_and_ctes_over_views(cat_ro):
    frame = cat_ro.query("""
        WITH prod AS (SELECT model, version FROM stages WHERE stage = 'production')
        SELECT h.metric, h.value FROM headline h JOIN prod USING (model, version)
        WHERE h.metric = 'roc_auc' AND h.dataset = 'test'""")
    assert frame.to_dict("records") == [{"metric": "roc_auc", "value": 0.88}]


def test_bad_sql_is_an_error_naming_the_problem(ro_cli):
    result = ro_cli("query", "SELECT nope FROM versions")
    assert result.code == 1 and "nope" in result.err


def test_views_of_a_generation_dropped_from_the_shared_instance_come_back(fraud_builder, tmp_path, monkeypatch):
    """The process's DuckDB instance keeps the views of the newest generations only; a catalog still
    reading an older one gets them made again rather than a missing-schema error."""
    from registry_core.index import generation as index

    monkeypatch.setattr(index, "KEEP_SCHEMAS", 1)
    first = Catalog(fraud_builder.root)
    expected = first.sql("SELECT count(*) AS n FROM versions")
    other = Catalog.init(tmp_path / "other")
    other.refresh()  # its views push the first catalog's schema out
    assert first._views.schema not in index._SCHEMAS
    with first.snapshot(check=False):  # still on its old generation
        assert first.sql("SELECT count(*) AS n FROM versions") == expected

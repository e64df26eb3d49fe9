"""The public SQL views of SPEC section 3, over one index generation.

These names and columns are a stable public interface: ``modelreg query``,
the Python API and the dashboard all read them.  Extra, non-public views are
prefixed with ``_`` (``_spans``, ``_problems``).
"""

from __future__ import annotations

import json

import duckdb

from registry_core.index.files import ROW_TABLES

VIEWS = {
    "models": """
        SELECT DISTINCT ON (model) model, description, owner, task, tags::JSON AS tags FROM (
            SELECT model, description, owner, task, tags, 0 AS o FROM {models}
            UNION ALL SELECT DISTINCT model, NULL, NULL, NULL, '{{}}', 1 FROM {versions}
        ) ORDER BY model, o""",
    "versions": """
        SELECT v.model, v.version, v.created_at, v.created_by, coalesce(ed.description, v.description) AS description,
               v.framework, coalesce(s.stage, 'none') AS stage, v.params::JSON AS params,
               (CASE WHEN ed.tags IS NULL THEN v.tags ELSE json_merge_patch(v.tags, ed.tags) END)::JSON AS tags,
               v.path
        FROM {versions} v
        LEFT JOIN read_parquet('{t}/stages.parquet') s USING (model, version)
        LEFT JOIN read_parquet('{t}/edits.parquet') ed USING (model, version)""",
    "metrics": "SELECT model, version, metric, value, dataset, step, timestamp, slice FROM {metrics}",
    "headline": "SELECT model, version, metric, dataset, slice, value FROM {headline}",
    "params": "SELECT model, version, name, value FROM {params}",
    "lineage": "SELECT model, version, kind, name, ref, role FROM {lineage}",
    "events": """SELECT e.id, e."at", e."by", e.model, e.action, e.version, e.stage, e.reason, e.request,
                        e.forced, e.gates::JSON AS gates, e.rollback_of, e.alias, v.rule AS violation
                 FROM {events} e LEFT JOIN read_parquet('{t}/violations.parquet') v USING (model, id)""",
    "stages": """SELECT model, stage, version, since, "by" FROM read_parquet('{t}/stages.parquet')""",
    "requests": """SELECT id, model, version, stage, "by", "at", approvals, needed
                   FROM read_parquet('{t}/requests.parquet')""",
    "aliases": """SELECT model, alias, version, since, "by" FROM read_parquet('{t}/aliases.parquet')""",
    "stage_history": """SELECT model, stage, version, start, "end", "by" FROM read_parquet('{t}/spans.parquet')""",
    "_spans": "SELECT * FROM read_parquet('{t}/spans.parquet')",
    "_violations": "SELECT * FROM read_parquet('{t}/violations.parquet')",
    "_events": """SELECT e.* EXCLUDE (_source), v.rule AS violation FROM {events} e
                  LEFT JOIN read_parquet('{t}/violations.parquet') v USING (model, id)""",
    "_versions": "SELECT * EXCLUDE (_source) FROM {versions}",
    "_lineage": "SELECT * EXCLUDE (_source) FROM {lineage}",
    "_requests": "SELECT * FROM read_parquet('{t}/requests.parquet')",
    "_model_files": "SELECT * EXCLUDE (_source) FROM {models}",
}
PUBLIC_VIEWS = [name for name in VIEWS if not name.startswith("_")]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def source(generation, table: str) -> str:
    """SQL for the rows of one table of the generation: its files, or an empty relation of the right types."""
    paths = generation.paths(table)
    if paths:
        return f"read_parquet([{', '.join(_quote(str(p)) for p in paths)}])"
    from registry_core.index.tables import SCHEMAS  # (pyarrow; a generation has a file for every table)

    columns = ", ".join(f"NULL::{_SQL_TYPES[str(f.type)]} AS \"{f.name}\"" for f in SCHEMAS[table])
    return f"(SELECT {columns} WHERE false)"


_SQL_TYPES = {"string": "VARCHAR", "int64": "BIGINT", "bool": "BOOLEAN", "double": "DOUBLE",
              "timestamp[us, tz=UTC]": "TIMESTAMPTZ"}


def create_views(con: duckdb.DuckDBPyConnection, generation, schema: str = "main") -> None:
    """Create every view in ``schema`` on ``con``; the catalog's problems become the ``_problems`` view."""
    folder = str(generation.folder).replace("'", "''")
    sources = {table: source(generation, table) for table in [*ROW_TABLES, "headline"]}  # headline: always 4 files
    con.execute("SET parquet_metadata_cache = true")
    for name, sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE VIEW {schema}.{name} AS {sql.format(t=folder, **sources)}")
    structural = json.loads((generation.folder / "structure.json").read_text())
    rows = [(p["path"], p["severity"], p["message"]) for p in structural]
    rows += generation.settings_problems
    con.execute(f"CREATE OR REPLACE TABLE {schema}._structure(path VARCHAR, severity VARCHAR, message VARCHAR)")
    if rows:
        con.executemany(f"INSERT INTO {schema}._structure VALUES (?, ?, ?)", rows)
    con.execute(f"""CREATE OR REPLACE VIEW {schema}._problems AS
        SELECT path, severity, message FROM {schema}._structure
        UNION ALL SELECT path, severity, message FROM {sources["file_problems"]}
        UNION ALL SELECT 'models/' || model || '/events/' || id || '.yaml', 'error',
                         'breaks the policy (' || rule || '); it has no effect'
                  FROM read_parquet('{folder}/violations.parquet')""")

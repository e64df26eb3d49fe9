"""The public SQL views of SPEC section 3, over one index generation.

These names and columns are a stable public interface: ``modelreg query``,
the Python API and the dashboard all read them.  Extra, non-public views are
prefixed with ``_`` (``_spans``, ``_problems``).
"""

from __future__ import annotations

import json

import duckdb

VIEWS = {
    "models": """
        SELECT DISTINCT ON (model) model, description, owner, task, tags::JSON AS tags FROM (
            SELECT model, description, owner, task, tags, 0 AS o FROM read_parquet('{t}/models.parquet')
            UNION ALL SELECT DISTINCT model, NULL, NULL, NULL, '{{}}', 1 FROM read_parquet('{t}/versions.parquet')
        ) ORDER BY model, o""",
    "versions": """
        SELECT v.model, v.version, v.created_at, v.created_by, v.description, v.framework,
               coalesce(s.stage, 'none') AS stage, v.params::JSON AS params, v.tags::JSON AS tags, v.path
        FROM read_parquet('{t}/versions.parquet') v
        LEFT JOIN read_parquet('{t}/stages.parquet') s USING (model, version)""",
    "metrics": "SELECT model, version, metric, value, dataset, step, timestamp, slice FROM {metrics}",
    "headline": "SELECT model, version, metric, dataset, slice, value FROM read_parquet('{t}/headline.parquet')",
    "params": "SELECT model, version, name, value FROM read_parquet('{t}/params.parquet')",
    "lineage": "SELECT model, version, kind, name, ref, role FROM read_parquet('{t}/lineage.parquet')",
    "events": """SELECT id, "at", "by", model, action, version, stage, reason, request, forced
                 FROM read_parquet('{t}/events.parquet')""",
    "stages": """SELECT model, stage, version, since, "by" FROM read_parquet('{t}/stages.parquet')""",
    "requests": """SELECT id, model, version, stage, "by", "at", approvals, needed
                   FROM read_parquet('{t}/requests.parquet')""",
    "aliases": """SELECT model, alias, version, since, "by" FROM read_parquet('{t}/aliases.parquet')""",
    "_spans": "SELECT * FROM read_parquet('{t}/spans.parquet')",
    "_events": "SELECT * EXCLUDE (_source) FROM read_parquet('{t}/events.parquet')",
    "_versions": "SELECT * EXCLUDE (_source) FROM read_parquet('{t}/versions.parquet')",
    "_lineage": "SELECT * EXCLUDE (_source) FROM read_parquet('{t}/lineage.parquet')",
    "_requests": "SELECT * FROM read_parquet('{t}/requests.parquet')",
    "_model_files": "SELECT * EXCLUDE (_source) FROM read_parquet('{t}/models.parquet')",
}
PUBLIC_VIEWS = [name for name in VIEWS if not name.startswith("_")]


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def create_views(con: duckdb.DuckDBPyConnection, generation) -> None:
    """Create every view on ``con``; the catalog's problems become the ``_problems`` view."""
    folder = str(generation.folder).replace("'", "''")
    if generation.segments:
        files = ", ".join(_quote(str(generation.folder / s)) for s in generation.segments)
        metrics = f"read_parquet([{files}])"
    else:
        metrics = ("(SELECT NULL::VARCHAR AS model, NULL::BIGINT AS version, NULL::VARCHAR AS metric, "
                   "NULL::DOUBLE AS value, NULL::VARCHAR AS dataset, NULL::BIGINT AS step, "
                   "NULL::TIMESTAMPTZ AS timestamp, NULL::VARCHAR AS slice WHERE false)")
    for name, sql in VIEWS.items():
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {sql.format(t=folder, metrics=metrics)}")
    structural = json.loads((generation.folder / "structure.json").read_text())
    rows = [(p["path"], p["severity"], p["message"]) for p in structural]
    rows += generation.settings_problems
    con.execute("CREATE OR REPLACE TABLE _structure(path VARCHAR, severity VARCHAR, message VARCHAR)")
    if rows:
        con.executemany("INSERT INTO _structure VALUES (?, ?, ?)", rows)
    con.execute(f"""CREATE OR REPLACE VIEW _problems AS
        SELECT path, severity, message FROM _structure
        UNION ALL SELECT path, severity, message FROM read_parquet('{folder}/file_problems.parquet')""")

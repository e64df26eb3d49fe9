"""``Reader``: the questions the core asks of one index generation, and the only home of their SQL.

A reader is bound to one generation's views (``generation.Views``), so every answer it gives is
of the same state of the catalog; ``Catalog.reader()`` hands out the current one (or the open
``snapshot()``'s).  Lifecycle rules, validate and verify take a reader instead of the ``Catalog``
facade.  The private views it names (``_versions``, ``_model_files``, ``_problems``, ...) are
the index's business: nothing outside ``registry_core/index/`` holds SQL (``Catalog.sql`` passes
tests' and benchmarks' own statements through; ``Catalog.query`` is the user's sandbox), and
tests/test_architecture.py checks it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path

import duckdb

from registry_core import lazy
from registry_core.format.settings import Settings
from registry_core.index import filters
from registry_core.index.generation import Generation, Views
from registry_core.lifecycle.events import Event, ModelState, replay

derive = lazy.module("registry_core.index.derive")  # pyarrow-backed: a warm ``resolve`` does without

Headline = dict[tuple[str, str | None, str | None], float]


class Reader:
    """Read-only questions over one generation of the index; rows come back as dicts."""

    def __init__(self, views: Views, root: Path,
                 recover: Callable[[Generation, Exception], Views | None] | None = None) -> None:
        self.views = views
        self.root = root  # the catalog folder: versions' ``path`` is relative to it
        self._recover = recover  # a read that fails on a damaged index file gets rebuilt views once

    @property
    def settings(self) -> Settings:
        return self.views.generation.settings

    @property
    def settings_problems(self) -> list[tuple[str, str, str]]:
        return self.views.generation.settings_problems

    def rows(self, sql: str, params: dict | list | None = None) -> list[dict]:
        """Run one statement of this module (or the facade's ``Catalog.sql``) over the views."""
        try:
            return self._rows(sql, params)
        except duckdb.Error as exc:
            fresh = self._recover(self.views.generation, exc) if self._recover else None
            if fresh is None:
                raise
            self.views = fresh
            return self._rows(sql, params)

    def _rows(self, sql: str, params: dict | list | None) -> list[dict]:
        cursor = self.views.cursor()
        try:
            result = cursor.execute(sql, params) if params is not None else cursor.execute(sql)
            columns = [d[0] for d in result.description]
            return [dict(zip(columns, row)) for row in result.fetchall()]
        finally:
            cursor.close()

    # -- one model, one version ----------------------------------------------------------------------
    def model_policies(self, model: str) -> str | None:
        """model.yaml's ``policies`` as JSON text, or None (no model.yaml, or no overrides)."""
        rows = self.rows("SELECT policies FROM _model_files WHERE model = ?", [model])
        return rows[0]["policies"] if rows else None

    def version_file(self, model: str, version: int) -> dict | None:
        """{model, version, path, manifest (JSON text), created_at} of one version, or None."""
        rows = self.rows("SELECT model, version, path, manifest, created_at FROM _versions "
                         "WHERE model = ? AND version = ?", [model, version])
        return rows[0] if rows else None

    def version_files(self, model: str | None = None) -> list[dict]:
        """``version_file`` of every version (of one model), by model and version."""
        where, params = ("WHERE model = ?", [model]) if model is not None else ("", None)
        return self.rows(f"SELECT model, version, path, manifest, created_at FROM _versions {where} "
                         "ORDER BY model, version", params)

    def version_numbers(self, model: str) -> list[int]:
        return [r["version"] for r in self.rows("SELECT version FROM _versions WHERE model = ? ORDER BY version",
                                                [model])]

    def headline(self, model: str, version: int) -> Headline:
        """{(metric, dataset, slice): value} of one version's headline metrics."""
        rows = self.rows("SELECT metric, dataset, slice, value FROM headline WHERE model = ? AND version = ?",
                         [model, version])
        return {(r["metric"], r["dataset"], r["slice"]): r["value"] for r in rows}

    def file_error(self, path: str) -> str | None:
        """The first error the index found in catalog file ``path``, if any."""
        rows = self.rows("SELECT message FROM _problems WHERE path = ? AND severity = 'error' LIMIT 1", [path])
        return rows[0]["message"] if rows else None

    def model(self, model: str) -> dict | None:
        """One row of the ``models`` view, or None."""
        rows = self.rows("SELECT * FROM models WHERE model = ?", [model])
        return rows[0] if rows else None

    def version(self, model: str, version: int) -> dict | None:
        """One row of the ``versions`` view (with its stage), or None."""
        rows = self.rows("SELECT * FROM versions WHERE model = ? AND version = ?", [model, version])
        return rows[0] if rows else None

    # -- listings (the Catalog's read methods) ----------------------------------------------------------
    def models(self) -> list[dict]:
        """Every model with its latest version, version count and stage holders (most recently promoted
        first, as ModelState.holders orders them)."""
        models = self.rows("""
            SELECT m.model, m.description, m.owner, m.task, m.tags, v.latest, coalesce(v.versions, 0) AS versions
            FROM models m
            LEFT JOIN (SELECT model, max(version) AS latest, count(*) AS versions FROM _versions GROUP BY model) v
                USING (model)
            ORDER BY m.model""")
        holders: dict[str, dict[str, list[int]]] = {}
        # lists made by DuckDB (archived versions add up to thousands of rows in a big catalog)
        for row in self.rows("""SELECT model, stage, list(version ORDER BY since DESC, version DESC) AS versions
                                FROM stages GROUP BY model, stage ORDER BY model, stage"""):
            holders.setdefault(row["model"], {})[row["stage"]] = row["versions"]
        for row in models:
            row["stages"] = holders.get(row["model"], {})
            row["tags"] = json.loads(row["tags"]) if row["tags"] else {}
        return models

    def versions(self, model: str) -> list[dict]:
        """One model's versions, newest first, with stage."""
        rows = self.rows("""SELECT model, version, created_at, created_by, description, framework, stage, tags
                            FROM versions WHERE model = ? ORDER BY version DESC""", [model])
        for row in rows:
            row["tags"] = json.loads(row["tags"]) if row["tags"] else {}
        return rows

    def headlines(self, model: str, version: int | None = None) -> list[dict]:
        """Headline metric rows {metric, dataset, slice, value} of one version, by metric, dataset and slice;
        without ``version``, of every version of the model (with ``version``, in the index's order)."""
        if version is None:
            return self.rows("SELECT version, metric, dataset, slice, value FROM headline WHERE model = ?", [model])
        return self.rows("""SELECT metric, dataset, slice, value FROM headline WHERE model = ? AND version = ?
                            ORDER BY metric, dataset, slice""", [model, version])

    def metrics(self, model: str, version: int, curves_only: bool = False) -> list[dict]:
        where = " AND step IS NOT NULL" if curves_only else ""
        return self.rows(f"""SELECT metric, value, dataset, step, timestamp, slice FROM metrics
                             WHERE model = ? AND version = ?{where} ORDER BY metric, dataset, step""",
                         [model, version])

    def existing(self, keys: list[str]) -> set[tuple[str, int]]:
        """The (model, version) of the ``MODEL@N`` keys that exist, in one query."""
        if not keys:
            return set()
        rows = self.rows("SELECT model, version FROM _versions WHERE list_contains($keys, model || '@' || version)",
                         {"keys": keys})
        return {(r["model"], r["version"]) for r in rows}

    def compared(self, keys: list[tuple[str, int]]) -> tuple[list[dict], list[dict]]:
        """(headline rows, param rows) of the versions ``keys``."""
        wanted = {"m": [m for m, _ in keys], "v": [v for _, v in keys]}
        picked = "JOIN (SELECT unnest($m) AS model, unnest($v) AS version) USING (model, version)"
        return (self.rows(f"SELECT * FROM headline {picked}", wanted),
                self.rows(f"SELECT model, version, name, value FROM params {picked}", wanted))

    def lineage(self, model: str, version: int) -> tuple[list[dict], list[dict]]:
        """(upstream rows: kind, name, ref, role, sha256; children: model, version, stage) of one version."""
        rows = self.rows("SELECT kind, name, ref, role, sha256 FROM _lineage WHERE model = ? AND version = ?",
                         [model, version])
        children = self.rows("""SELECT l.model, l.version, coalesce(s.stage, 'none') AS stage FROM _lineage l
                                LEFT JOIN stages s USING (model, version)
                                WHERE l.kind = 'parent' AND l.ref = ? ORDER BY l.model, l.version""",
                             [f"{model}@{version}"])
        return rows, children

    def datasets(self) -> list[dict]:
        return self.rows("""SELECT name, list(DISTINCT ref ORDER BY ref) AS refs, count(DISTINCT (model, version))
                            AS versions FROM _lineage WHERE kind = 'dataset' GROUP BY name ORDER BY name""")

    def dataset_usage(self, name: str) -> list[dict]:
        return self.rows("""
            SELECT l.model, l.version, l.ref AS dataset, l.role, coalesce(s.stage, 'none') AS stage,
                   coalesce(list(DISTINCT sp.stage ORDER BY sp.stage) FILTER (WHERE sp.stage IS NOT NULL), [])
                       AS deployed
            FROM _lineage l LEFT JOIN stages s USING (model, version) LEFT JOIN _spans sp USING (model, version)
            WHERE l.kind = 'dataset' AND l.name = ?
            GROUP BY ALL ORDER BY l.model, l.version DESC, l.ref""", [name])

    def requests(self, model: str | None = None) -> list[dict]:
        where, params = ("WHERE model = ?", [model]) if model else ("", None)
        return self.rows(f"SELECT * FROM _requests {where} ORDER BY \"at\"", params)

    def history(self, model: str | None = None) -> list[dict]:
        """Event rows, newest first (``gates`` as JSON text)."""
        where, params = ("WHERE model = ?", [model]) if model else ("", None)
        return self.rows(f"SELECT * FROM _events {where} ORDER BY id DESC", params)

    def resolved_now(self, model: str, selector: str | None, version: int | None) -> dict | None:
        """{version, stage, path, manifest} a reference points at in the current state, in one query over the
        index's replayed tables (``stages``, ``aliases``: the replay ``state`` makes, done when the index was
        built); None when it points nowhere."""
        params: dict = {"model": model}
        if version is not None:
            target, params["version"] = "$version", version
        elif selector == "latest":
            target = "(SELECT max(version) FROM _versions WHERE model = $model)"
        elif selector == "none":  # a version never promoted has no row in stages: the newest such one
            target = """(SELECT max(version) FROM _versions WHERE model = $model
                         AND version NOT IN (SELECT version FROM stages WHERE model = $model))"""
        elif selector in self.settings.stage_names:  # the holder most recently promoted (ModelState.holder)
            params["selector"] = selector
            target = """(SELECT version FROM stages WHERE model = $model AND stage = $selector
                         ORDER BY since DESC, version DESC LIMIT 1)"""
        else:
            params["selector"] = selector
            target = "(SELECT version FROM aliases WHERE model = $model AND alias = $selector)"
        rows = self.rows(f"""SELECT v.version, coalesce(s.stage, 'none') AS stage, v.path, v.manifest
                             FROM _versions v LEFT JOIN stages s USING (model, version)
                             WHERE v.model = $model AND v.version = {target}""", params)
        return rows[0] if rows else None

    # -- lifecycle state -------------------------------------------------------------------------------
    def events(self, model: str) -> list[Event]:
        """One model's events as records, in id order."""
        rows = self.rows("SELECT * FROM _events WHERE model = ? ORDER BY id", [model])
        return derive.events_from_rows(rows).get(model, [])

    def state(self, model: str, at: dt.datetime | None = None) -> ModelState:
        """Replay one model's events (up to ``at``) into its lifecycle state; events naming no version are
        left out, as the index's own replay leaves them."""
        existing = set(self.version_numbers(model))
        events = [e for e in self.events(model) if e.version is None or e.version in existing]
        needed = derive.needed_approvals(self.settings, self.model_policies(model))
        # events that break the policy have no effect; the index's replay found them (validate lists them)
        skip = set(self.violations(model))
        state = replay(model, events, self.settings, needed, until=at, skip=skip)
        # approvals needed as the index's checked replay found them (the policy in force at each request)
        for row in self.rows("SELECT id, needed FROM _requests WHERE model = ?", [model]):
            if row["id"] in state.requests:
                state.requests[row["id"]].needed = row["needed"]
        return state

    def violations(self, model: str) -> dict[str, str]:
        """{event id: the rule it breaks} of one model's events that have no effect (the checked replay)."""
        return {r["id"]: r["rule"] for r in self.rows("SELECT id, rule FROM _violations WHERE model = ?", [model])}

    def violation(self, model: str, event_id: str) -> str | None:
        """The rule an event breaks (the index's checked replay), or None when it takes effect."""
        rows = self.rows("SELECT rule FROM _violations WHERE model = ? AND id = ?", [model, event_id])
        return rows[0]["rule"] if rows else None

    # -- the whole catalog (validate) ----------------------------------------------------------------
    def problems(self) -> list[dict]:
        return self.rows("SELECT path, severity, message FROM _problems ORDER BY severity, path")

    def events_checked(self) -> list[dict]:
        """Every event row, with ``exists``: whether the version it names (if any) exists."""
        return self.rows("""SELECT e.*, v.version IS NOT NULL AS exists FROM _events e
                            LEFT JOIN _versions v USING (model, version)""")

    def event_authors(self) -> list[dict]:
        """{model, id, by} of every event, by model and id (for ``validate --require-signed``)."""
        return self.rows('SELECT model, id, "by" FROM _events ORDER BY model, id')

    def duplicate_steps(self, limit: int = 100) -> list[dict]:
        """Curve points logged more than once: {model, version, metric, dataset, step, slice, n}."""
        return self.rows(f"""SELECT model, version, metric, dataset, step, slice, count(*) AS n FROM metrics
                             GROUP BY ALL HAVING count(*) > 1 AND step IS NOT NULL LIMIT {int(limit)}""")

    # -- series for the dashboard's charts and filters ------------------------------------------------
    def curves(self, model: str, versions: list[int]) -> list[dict]:
        return self.rows("""SELECT version, metric, dataset, slice, step, value FROM metrics
                            WHERE model = ? AND step IS NOT NULL AND list_contains(?, version)
                            ORDER BY version, metric, dataset, step""", [model, versions])

    def monitoring(self, model: str) -> list[dict]:
        return self.rows("""SELECT version, metric, dataset, slice, timestamp, value FROM metrics
                            WHERE model = ? AND timestamp IS NOT NULL AND step IS NULL
                            ORDER BY timestamp""", [model])

    def params(self, model: str) -> list[dict]:
        return self.rows("SELECT version, name, value FROM params WHERE model = ? ORDER BY version, name", [model])

    def headline_keys(self) -> list[dict]:
        return self.rows("SELECT DISTINCT model, metric, dataset, slice FROM headline")

    def headlines_of(self, pairs: list[tuple[str, int]]) -> list[dict]:
        return self.rows("""SELECT h.* FROM headline h JOIN (SELECT unnest($m) AS model, unnest($v) AS version)
                            USING (model, version)""", {"m": [m for m, _ in pairs], "v": [v for _, v in pairs]})

    def filter_versions(self, model: str, expression: str) -> list[int]:
        """Versions of ``model`` matching a filter expression (``index.filters``), newest first."""
        sql, params = filters.to_sql(model, filters.parse(expression))
        return [row["version"] for row in self.rows(sql, params)]

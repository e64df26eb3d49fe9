"""``Reader``: the questions the core asks of one index generation, and the only home of their SQL.

A reader is bound to one generation's views (``generation.Views``), so every answer it gives is
of the same state of the catalog; ``Catalog.reader()`` hands out the current one (or the open
``snapshot()``'s).  Lifecycle rules, validate and verify take a reader instead of the ``Catalog``
facade.  The private views it names (``_versions``, ``_model_files``, ``_problems``, ...) are
the index's business: nothing outside this module spells them (``Catalog.sql`` aside, which tests
and the dashboard's ad hoc questions still use).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from registry_core.format.settings import Settings
from registry_core.index.derive import events_from_rows, needed_approvals
from registry_core.index.generation import Views
from registry_core.lifecycle.events import Event, ModelState, replay

Headline = dict[tuple[str, str | None, str | None], float]


class Reader:
    """Read-only questions over one generation of the index; rows come back as dicts."""

    def __init__(self, views: Views, root: Path) -> None:
        self.views = views
        self.root = root  # the catalog folder: versions' ``path`` is relative to it

    @property
    def settings(self) -> Settings:
        return self.views.generation.settings

    @property
    def settings_problems(self) -> list[tuple[str, str, str]]:
        return self.views.generation.settings_problems

    def rows(self, sql: str, params: dict | list | None = None) -> list[dict]:
        """Run one statement of this module (or the facade's ``Catalog.sql``) over the views."""
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

    # -- lifecycle state -------------------------------------------------------------------------------
    def events(self, model: str) -> list[Event]:
        """One model's events as records, in id order."""
        rows = self.rows("SELECT * FROM _events WHERE model = ? ORDER BY id", [model])
        return events_from_rows(rows).get(model, [])

    def state(self, model: str, at: dt.datetime | None = None) -> ModelState:
        """Replay one model's events (up to ``at``) into its lifecycle state; events naming no version are
        left out, as the index's own replay leaves them."""
        existing = set(self.version_numbers(model))
        events = [e for e in self.events(model) if e.version is None or e.version in existing]
        needed = needed_approvals(self.settings, self.model_policies(model))
        return replay(model, events, self.settings, needed, until=at)

    # -- the whole catalog (validate) ----------------------------------------------------------------
    def problems(self) -> list[dict]:
        return self.rows("SELECT path, severity, message FROM _problems ORDER BY severity, path")

    def events_checked(self) -> list[dict]:
        """Every event row, with ``exists``: whether the version it names (if any) exists."""
        return self.rows("""SELECT e.*, v.version IS NOT NULL AS exists FROM _events e
                            LEFT JOIN _versions v USING (model, version)""")

    def duplicate_steps(self, limit: int = 100) -> list[dict]:
        """Curve points logged more than once: {model, version, metric, dataset, step, slice, n}."""
        return self.rows(f"""SELECT model, version, metric, dataset, step, slice, count(*) AS n FROM metrics
                             GROUP BY ALL HAVING count(*) > 1 AND step IS NOT NULL LIMIT {int(limit)}""")

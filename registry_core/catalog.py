"""The Python API: ``Catalog(path)`` with one method per CLI command.

Reads go through the DuckDB views of the index (refreshed from file stats on
each read, so files written by other processes show up); writes go through
``writing`` and ``lifecycle``, which own the write-once rules and the policy.
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import functools
import json
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from registry_core.errors import CatalogError, InvalidInput, NotFound, RegistryError
from registry_core.format.layout import Layout
from registry_core.format.names import Ref, check_name, check_version, parse_ref
from registry_core.format.settings import Settings, default_user, find_catalog
from registry_core.format.yamlio import parse_time
from registry_core.index.derive import events_from_rows, needed_approvals
from registry_core.index.generation import Generation, Index, Views
from registry_core.integrations.gitsync import committing
from registry_core.lifecycle import actions as lifecycle
from registry_core.lifecycle import edits
from registry_core.lifecycle import registration as writing
from registry_core.lifecycle.compare import Comparison, compare_versions
from registry_core.lifecycle.events import ModelState, replay

_F = TypeVar("_F", bound=Callable[..., Any])


def _one_refresh(method: _F) -> _F:
    """A read operation: the index is refreshed once on entry, and every query inside sees that generation."""
    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        with self.snapshot():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


QUERY_TIMEOUT_S = 30.0
QUERY_MEMORY = "1GB"


class Catalog:
    """One catalog folder. Thread-safe for reads; writes are safe across processes."""

    def __init__(self, path: str | os.PathLike | None = None, user: str | None = None) -> None:
        self.layout = Layout(find_catalog(path))
        if not self.layout.root.is_dir():
            raise CatalogError(f"no catalog at {self.layout.root} (run 'modelreg init {self.layout.root}')")
        self.root = self.layout.root
        self.user = default_user(user)
        self._index = Index(self.layout)
        self._generation: Generation | None = None
        self._views: Views | None = None
        self._lock = threading.RLock()
        self._pinned = threading.local()  # depth of snapshot() blocks open in this thread

    @classmethod
    def init(cls, path: str | os.PathLike, name: str | None = None, user: str | None = None) -> Catalog:
        writing.init_catalog(Layout(Path(path)), name)
        return cls(path, user)

    def as_user(self, user: str) -> Catalog:
        """The same catalog acting as another user (the dashboard makes one per session)."""
        other = copy.copy(self)
        other.user = user
        other._pinned = threading.local()  # its own snapshot() blocks
        return other

    # -- the index --------------------------------------------------------------------------------
    def refresh(self) -> Generation:
        """Pick up changes on disk (cheap when nothing changed) and return the current generation.

        Inside a ``snapshot()`` block of this thread it returns the block's generation without looking.
        """
        with self._lock:
            if self._generation is not None and getattr(self._pinned, "depth", 0):
                return self._generation
            generation = self._index.refresh()
            if self._generation is None or generation.folder != self._generation.folder:
                self._views = Views(generation)
            self._generation = generation
            return generation

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Generation]:
        """Reads inside the block see one generation of the index, refreshed once on entry.

        Every read method is one such block, so an operation costs one freshness check (a stat of
        every catalog folder and file) however many queries it runs; a caller that asks several
        questions of one consistent state (a dashboard page run) can open its own.  For reads only:
        a write inside the block would not see its own result.
        """
        generation = self.refresh()
        self._pinned.depth = getattr(self._pinned, "depth", 0) + 1
        try:
            yield generation
        finally:
            self._pinned.depth -= 1

    @property
    def settings(self) -> Settings:
        return self.refresh().settings

    @property
    def indexed(self) -> bool:
        """True once an index of this catalog exists: the next refresh is incremental, not a first build
        (which reads every file: ~1 s per 1,500 versions), so a caller can warn before it."""
        return self._generation is not None or self._index.current_name() is not None

    @property
    def fingerprint(self) -> str:
        """Changes whenever any file of the catalog changes: a cache key for the dashboard."""
        return self.refresh().folder.name

    def sql(self, sql: str, params: dict | list | None = None, refresh: bool = True) -> list[dict]:
        """Run internal SQL over the views; rows as dicts."""
        if refresh or self._views is None:
            self.refresh()
        with self._lock:
            cursor = self._views.cursor()
        try:
            result = cursor.execute(sql, params) if params is not None else cursor.execute(sql)
            columns = [d[0] for d in result.description]
            return [dict(zip(columns, row)) for row in result.fetchall()]
        finally:
            cursor.close()

    @_one_refresh
    def query(self, sql: str):
        """Run one read-only SELECT over the public views; returns a pandas DataFrame.

        The statement runs in a fresh in-memory database holding copies of the views it names,
        with file access disabled and the configuration locked, so it cannot read or write files,
        attach databases or load extensions, whatever it says.  It cannot spill to disk either, and
        is stopped after QUERY_TIMEOUT_S or past QUERY_MEMORY (the dashboard serves many people).
        """
        from registry_core.index.views import PUBLIC_VIEWS, create_views

        if not isinstance(sql, str) or not sql.strip():
            raise InvalidInput("query: empty SQL")
        try:
            statements = duckdb.extract_statements(sql)
        except duckdb.Error as exc:
            raise InvalidInput(f"query: {str(exc).splitlines()[0]}") from None
        if len(statements) != 1:
            raise InvalidInput(f"query: expected one statement, got {len(statements)}")
        kind = statements[0].type.name
        if kind != "SELECT":
            raise InvalidInput(f"query is read-only: {kind} statements are not allowed (only SELECT over the views)")
        generation = self.refresh()
        con = duckdb.connect(":memory:")
        try:
            create_views(con, generation)
            con.execute("CREATE SCHEMA public_views")
            for view in PUBLIC_VIEWS:
                if re.search(rf"\b{view}\b", sql, re.IGNORECASE):
                    con.execute(f"CREATE TABLE public_views.{view} AS SELECT * FROM main.{view}")
            con.execute("SET search_path = 'public_views'")
            con.execute("SET temp_directory = ''")  # never spill to disk: a query writes nothing
            con.execute(f"SET memory_limit = '{QUERY_MEMORY}'")
            con.execute("SET enable_external_access = false")
            con.execute("SET lock_configuration = true")
            timer = threading.Timer(QUERY_TIMEOUT_S, con.interrupt)
            timer.start()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # pandas deprecation noise from DuckDB's .df()
                    return con.sql(sql).df()
            finally:
                timer.cancel()
        except duckdb.InterruptException:
            raise InvalidInput(f"query ran longer than {QUERY_TIMEOUT_S:g} s and was stopped") from None
        except duckdb.Error as exc:
            raise InvalidInput(f"query failed: {str(exc).splitlines()[0]}") from None
        finally:
            con.close()

    # -- references ------------------------------------------------------------------------------

    @_one_refresh
    def state(self, model: str, at: dt.datetime | None = None) -> ModelState:
        """Replay one model's events (up to ``at``) into its lifecycle state."""
        rows = self._index_events(model)
        existing = {r["version"] for r in self.sql("SELECT version FROM _versions WHERE model = ?", [model])}
        events = [e for e in rows if e.version is None or e.version in existing]
        model_row = self.sql("SELECT policies FROM _model_files WHERE model = ?", [model])
        needed = needed_approvals(self.settings, model_row[0]["policies"] if model_row else None)
        # events that break the policy have no effect; the index's replay found them (validate lists them)
        skip = {r["id"] for r in self.sql("SELECT id FROM _violations WHERE model = ?", [model])}
        state = replay(model, events, self.settings, needed, until=at, skip=skip)
        # approvals needed as the index's checked replay found them (the policy in force at each request)
        for row in self.sql("SELECT id, needed FROM _requests WHERE model = ?", [model]):
            if row["id"] in state.requests:
                state.requests[row["id"]].needed = row["needed"]
        return state

    def _index_events(self, model: str):
        rows = self.sql("SELECT * FROM _events WHERE model = ? ORDER BY id", [model])
        return events_from_rows(rows).get(model, [])

    @_one_refresh
    def resolve(self, ref: str | Ref, at: str | dt.datetime | None = None) -> dict:
        """``MODEL@VERSION|STAGE|ALIAS|latest`` -> {model, version, stage, path, artifacts}."""
        parsed = ref if isinstance(ref, Ref) else parse_ref(ref)
        if at is None:
            return self._resolve_now(parsed)
        moment = parse_time(at, "--at")
        model = parsed.model
        rows = self.sql("SELECT version, created_at, path, manifest FROM _versions WHERE model = ? ORDER BY version",
                        [model])
        rows = [r for r in rows if r["created_at"] <= moment]
        if not rows:
            raise NotFound(f"model {model!r} has no versions at {moment.isoformat()}")
        by_version = {r["version"]: r for r in rows}
        state = self.state(model, moment)
        selector = parsed.selector
        if parsed.version is not None:
            version = parsed.version
            if version not in by_version:
                raise NotFound(f"{model}@{version} does not exist")
        elif selector == "latest":
            version = max(by_version)
        elif selector in self.settings.stage_names or selector == "none":
            # A version never promoted has no entry in the replayed state: "none" is the newest such one.
            holder = (max((v for v in by_version if state.stage(v) == "none"), default=None)
                      if selector == "none" else state.holder(selector))
            if holder is None:
                raise NotFound(f"no version of {model!r} is in {selector} at {moment.isoformat()}")
            version = holder
        elif selector in state.aliases:
            version = state.aliases[selector][0]
        else:
            raise NotFound(f"{selector!r} is not a version, stage or alias of {model!r}")
        row = by_version[version]
        return self._resolved(model, version, state.stage(version), row)

    def _resolved(self, model: str, version: int, stage: str, row: dict) -> dict:
        return {
            "model": model, "version": version, "ref": f"{model}@{version}", "stage": stage,
            "path": str(self.root / row["path"]), "artifacts": json.loads(row["manifest"]).get("artifacts") or [],
        }

    def _resolve_now(self, parsed: Ref) -> dict:
        """``resolve`` in the current state, in one query over the index's replayed tables (``stages``,
        ``aliases``: the same replay ``state`` makes, done when the index was built) rather than
        replaying the model's events: what CI/CD asks most ("what is in production?")."""
        model, selector = parsed.model, parsed.selector
        params: dict[str, Any] = {"model": model}
        if parsed.version is not None:
            target, params["version"] = "$version", parsed.version
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
        rows = self.sql(f"""SELECT v.version, coalesce(s.stage, 'none') AS stage, v.path, v.manifest
                            FROM _versions v LEFT JOIN stages s USING (model, version)
                            WHERE v.model = $model AND v.version = {target}""", params)
        if rows:
            return self._resolved(model, rows[0]["version"], rows[0]["stage"], rows[0])
        if not self.sql("SELECT 1 FROM _versions WHERE model = ? LIMIT 1", [model]):
            raise NotFound(f"model {model!r} has no versions")
        if parsed.version is not None:
            raise NotFound(f"{model}@{parsed.version} does not exist")
        if selector == "none" or selector in self.settings.stage_names:
            raise NotFound(f"no version of {model!r} is in {selector}")
        raise NotFound(f"{selector!r} is not a version, stage or alias of {model!r}")

    # -- reading ---------------------------------------------------------------------------------
    @_one_refresh
    def models(self) -> list[dict]:
        """Every model with its latest version, version count and current stage holders."""
        models = self.sql("""
            SELECT m.model, m.description, m.owner, m.task, v.latest, coalesce(v.versions, 0) AS versions
            FROM models m
            LEFT JOIN (SELECT model, max(version) AS latest, count(*) AS versions FROM _versions GROUP BY model) v
                USING (model)
            ORDER BY m.model""")
        holders: dict[str, dict[str, list[int]]] = {}
        # most recently promoted first, as ModelState.holders orders them; lists made by DuckDB (archived
        # versions add up to thousands of rows in a big catalog)
        for row in self.sql("""SELECT model, stage, list(version ORDER BY since DESC, version DESC) AS versions
                               FROM stages GROUP BY model, stage ORDER BY model, stage"""):
            holders.setdefault(row["model"], {})[row["stage"]] = row["versions"]
        for row in models:
            row["stages"] = holders.get(row["model"], {})
        return models

    @_one_refresh
    def versions(self, model: str) -> list[dict]:
        """One model's versions, newest first, with stage and headline metrics (``metric[dataset]`` keys)."""
        check_name(model)
        rows = self.sql("""SELECT model, version, created_at, created_by, description, framework, stage
                           FROM versions WHERE model = ? ORDER BY version DESC""", [model])
        if not rows:
            raise NotFound(f"model {model!r} not found")
        by_version = {r["version"]: r for r in rows}
        for h in self.sql("SELECT version, metric, dataset, slice, value FROM headline WHERE model = ?", [model]):
            by_version[h["version"]].setdefault("metrics", {})[metric_key(h)] = h["value"]
        return rows

    @_one_refresh
    def get(self, ref: str) -> dict:
        """Everything about one version: manifest, stage, aliases, headline metrics, lineage, events."""
        found = self.resolve(ref)
        model, version = found["model"], found["version"]
        row = self.sql("SELECT * FROM _versions WHERE model = ? AND version = ?", [model, version])[0]
        headline = self.sql("""SELECT metric, dataset, slice, value FROM headline WHERE model = ? AND version = ?
                               ORDER BY metric, dataset, slice""", [model, version])
        state = self.state(model)
        current = self.sql("SELECT description, tags FROM versions WHERE model = ? AND version = ?",
                           [model, version])[0]
        return {
            **found,
            "description": current["description"],  # the latest, after describe events
            "tags": json.loads(current["tags"]) if current["tags"] else {},  # after tag events
            "manifest": json.loads(row["manifest"]),
            "aliases": sorted(a for a, (v, _, _) in state.aliases.items() if v == version),
            "headline": headline,
            "lineage": self.lineage(f"{model}@{version}"),
            "events": [e for e in self.history(model) if e["version"] == version or e.get("rollback_of") == version],
        }

    @_one_refresh
    def metrics(self, ref: str, curves_only: bool = False) -> list[dict]:
        found = self.resolve(ref)
        where = " AND step IS NOT NULL" if curves_only else ""
        return self.sql(f"""SELECT metric, value, dataset, step, timestamp, slice FROM metrics
                            WHERE model = ? AND version = ?{where} ORDER BY metric, dataset, step""",
                        [found["model"], found["version"]])

    @_one_refresh
    def compare(self, refs: list[str]) -> Comparison:
        if not refs:
            raise InvalidInput("compare: give at least one reference")
        keys = self._version_keys(refs)
        wanted = {"m": [m for m, _ in keys], "v": [v for _, v in keys]}
        picked = "JOIN (SELECT unnest($m) AS model, unnest($v) AS version) USING (model, version)"
        headline = self.sql(f"SELECT * FROM headline {picked}", wanted)
        params = self.sql(f"SELECT model, version, name, value FROM params {picked}", wanted)
        return compare_versions(keys, headline, params, self.settings)

    def _version_keys(self, refs: list[str]) -> list[tuple[str, int]]:
        """(model, version) of each reference: ``MODEL@N`` ones checked together in one query, the others
        (stages, aliases, latest; and missing versions, for resolve's error) resolved one by one."""
        parsed = [r if isinstance(r, Ref) else parse_ref(r) for r in refs]
        numbered = sorted({f"{p.model}@{p.version}" for p in parsed if p.version is not None})
        found = {(r["model"], r["version"]) for r in self.sql(
            "SELECT model, version FROM _versions WHERE list_contains($keys, model || '@' || version)",
            {"keys": numbered})} if numbered else set()
        keys = []
        for ref in parsed:
            if (ref.model, ref.version) in found:
                keys.append((ref.model, ref.version))
            else:
                resolved = self.resolve(ref)
                keys.append((resolved["model"], resolved["version"]))
        return keys

    @_one_refresh
    def lineage(self, ref: str) -> dict:
        """Upstream datasets and parents, downstream children of one version."""
        found = self.resolve(ref)
        model, version = found["model"], found["version"]
        rows = self.sql("SELECT kind, name, ref, role, sha256 FROM _lineage WHERE model = ? AND version = ?",
                        [model, version])
        children = self.sql("""SELECT l.model, l.version, coalesce(s.stage, 'none') AS stage FROM _lineage l
                               LEFT JOIN stages s USING (model, version)
                               WHERE l.kind = 'parent' AND l.ref = ? ORDER BY l.model, l.version""",
                            [f"{model}@{version}"])
        return {
            "ref": f"{model}@{version}", "stage": found["stage"],
            "datasets": [{k: r[k] for k in ("name", "ref", "role", "sha256")} for r in rows if r["kind"] == "dataset"],
            "parents": [r["ref"] for r in rows if r["kind"] == "parent"],
            "children": [{"ref": f"{c['model']}@{c['version']}", "stage": c["stage"]} for c in children],
        }

    @_one_refresh
    def datasets(self) -> list[dict]:
        """Every dataset named in some version's lineage: {name, refs, versions} (a dataset's impact starts here)."""
        return self.sql("""SELECT name, list(DISTINCT ref ORDER BY ref) AS refs, count(DISTINCT (model, version))
                           AS versions FROM _lineage WHERE kind = 'dataset' GROUP BY name ORDER BY name""")

    @_one_refresh
    def dataset_usage(self, name: str) -> list[dict]:
        """Every version that used dataset ``name``, with its role, current stage and every stage it has held
        (``deployed``: the stages other than archived it was ever promoted to), newest first."""
        return self.sql("""
            SELECT l.model, l.version, l.ref AS dataset, l.role, coalesce(s.stage, 'none') AS stage,
                   coalesce(list(DISTINCT sp.stage ORDER BY sp.stage) FILTER (WHERE sp.stage IS NOT NULL), [])
                       AS deployed
            FROM _lineage l LEFT JOIN stages s USING (model, version) LEFT JOIN _spans sp USING (model, version)
            WHERE l.kind = 'dataset' AND l.name = ?
            GROUP BY ALL ORDER BY l.model, l.version DESC, l.ref""", [name])

    @_one_refresh
    def requests(self, model: str | None = None) -> list[dict]:
        where, params = ("WHERE model = ?", [model]) if model else ("", None)
        return self.sql(f"SELECT * FROM _requests {where} ORDER BY \"at\"", params)

    @_one_refresh
    def history(self, model: str | None = None) -> list[dict]:
        """The audit trail, newest first."""
        where, params = ("WHERE model = ?", [check_name(model)]) if model else ("", None)
        rows = self.sql(f"SELECT * FROM _events {where} ORDER BY id DESC", params)
        for row in rows:
            row["gates"] = json.loads(row["gates"]) if row["gates"] else []
            # a rollback is a promote event that names the version it replaced: say which it is
            row["kind"] = "rollback" if row["rollback_of"] is not None else row["action"]
        return rows

    @_one_refresh
    def problems(self) -> list[dict]:
        return self.sql("SELECT path, severity, message FROM _problems ORDER BY severity, path")

    # -- writing ---------------------------------------------------------------------------------
    @committing
    def register(self, model: str, **kwargs: Any) -> dict:
        """Add a version; see ``writing.register`` for the arguments. Returns {model, version, path}."""
        return writing.register(self, model, **kwargs)

    @committing
    def log_metrics(self, ref: str, metrics: Any, dataset: str | None = None) -> str:
        return writing.log_metrics(self, ref, metrics, dataset)

    def plan(self, model: str, version: int | str, stage: str, force: bool = False,
             user: str | None = None) -> lifecycle.Plan:
        """What promoting would do now (gates, permissions), without writing anything."""
        return lifecycle.plan(self, model, check_version(version), stage, user or self.user, force)

    @committing
    def promote(self, model: str, version: int | str, stage: str, reason: str | None = None,
                force: bool = False) -> dict:
        return lifecycle.promote(self, model, check_version(version), stage, reason, force)

    @committing
    def approve(self, model: str, request: str, reason: str | None = None) -> dict:
        return lifecycle.answer(self, model, request, "approve", reason)

    @committing
    def reject(self, model: str, request: str, reason: str | None = None) -> dict:
        return lifecycle.answer(self, model, request, "reject", reason)

    @committing
    def cancel(self, model: str, request: str, reason: str | None = None) -> dict:
        return lifecycle.answer(self, model, request, "cancel", reason)

    @committing
    def rollback(self, model: str, stage: str = "production", reason: str | None = None) -> dict:
        return lifecycle.rollback(self, model, stage, reason)

    @committing
    def alias(self, model: str, version: int | str | None, name: str, remove: bool = False) -> dict:
        return lifecycle.set_alias(self, model, version, name, remove)

    @committing
    def describe(self, ref: str, text: str) -> dict:
        """Record a new description of a version (an event; the manifest stays as written)."""
        return edits.describe(self, ref, text)

    @committing
    def tag(self, ref: str, tags: dict[str, str] | None = None, remove: list[str] | None = None) -> dict:
        """Set and/or remove tags of a version (an event; the manifest stays as written)."""
        return edits.tag(self, ref, tags, remove)

    @_one_refresh
    def validate(self, require_signed: bool = False) -> list[dict]:
        """Every problem, errors first; ``require_signed``: each event's commit must be signed by its ``by``."""
        from registry_core.validate import validate

        return validate(self, require_signed)

    def gc(self, older_than_s: float = 3600, dry_run: bool = False) -> list[str]:
        """Remove leftovers of interrupted writes older than ``older_than_s``; returns their paths."""
        from registry_core.validate import gc

        return gc(self, older_than_s, dry_run)

    @_one_refresh
    def verify(self, ref: str | None = None) -> list[dict]:
        from registry_core.validate import verify

        return verify(self, ref)


def metric_key(row: dict) -> str:
    """``roc_auc[test]`` / ``recall[test|region=eu]``: one column name per headline series."""
    parts = [p for p in (row.get("dataset"), row.get("slice")) if p]
    return f"{row['metric']}[{'|'.join(parts)}]" if parts else row["metric"]


__all__ = ["Catalog", "RegistryError", "metric_key"]

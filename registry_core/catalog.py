"""The Python API: ``Catalog(path)`` with one method per CLI command, named like it (``modelreg show`` is
``Catalog.show``, ``import-mlflow`` is ``import_mlflow``); tests/test_cli_api.py keeps them paired.

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
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from registry_core import lazy
from registry_core.errors import CatalogError, InvalidInput, NotFound, RegistryError, unwritable
from registry_core.format.layout import Layout
from registry_core.format.names import Ref, check_name, check_version, parse_ref
from registry_core.format.settings import Settings, default_user, find_catalog
from registry_core.format.yamlio import parse_time
from registry_core.index.freshness import CATALOG, scope_of
from registry_core.index.generation import Generation, Index, Views
from registry_core.index.reader import Reader
from registry_core.integrations.gitsync import committing
from registry_core.lifecycle import actions as lifecycle
from registry_core.lifecycle import edits
from registry_core.lifecycle.compare import Comparison, compare_versions
from registry_core.lifecycle.events import ModelState

# pyarrow-backed: a ``resolve`` process does without (imported on first use)
derive = lazy.module("registry_core.index.derive")
writing = lazy.module("registry_core.lifecycle.registration")

_F = TypeVar("_F", bound=Callable[..., Any])


def _one_refresh(method: _F) -> _F:
    """A read operation over the whole catalog: the index is refreshed once on entry (every folder is
    checked, see ``index.freshness``), and every query inside sees that generation."""
    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        with self.snapshot():
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _models_named(first: Any) -> list[str] | None:
    """The models a read about ``first`` (a model name, a reference, or a list of references) reads;
    None if it cannot tell (the method then reports the bad argument after a catalog-wide check)."""
    items = first if isinstance(first, (list, tuple)) else [first]
    models = []
    for item in items:
        if isinstance(item, Ref):
            models.append(item.model)
        elif isinstance(item, str):
            models.append(item.split("@", 1)[0])
        else:
            return None
    return models if models and all(models) else None


def _marks(method: _F) -> _F:
    """A write about the model(s) named by its first argument: a watcher (``watch``) is told at once."""
    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        finally:
            if self._watcher is not None:
                first = args[0] if args else next((kwargs[k] for k in ("model", "ref") if k in kwargs), None)
                self._watcher.mark(_models_named(first) if first is not None else None)

    return wrapper  # type: ignore[return-value]


def _writes(method: _F) -> _F:
    """A write to the catalog: a read-only mount, a full disk or a quota is a CatalogError naming the
    catalog and the file, not a bare OSError (reads keep working on such a disk)."""
    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except OSError as exc:
            refused = unwritable(exc, str(self.root))
            if refused is None:
                raise
            raise refused from exc

    return wrapper  # type: ignore[return-value]


def _model_refresh(method: _F) -> _F:
    """A read operation about the model(s) named by its first argument: the refresh on entry checks
    those models' folders and files only (plus every model's shallow folders: ``index.freshness``)."""
    @functools.wraps(method)
    def wrapper(self: Catalog, *args: Any, **kwargs: Any) -> Any:
        first = args[0] if args else next((kwargs[k] for k in ("model", "ref", "refs") if k in kwargs), None)
        with self.snapshot(models=_models_named(first) if first is not None else None):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


QUERY_TIMEOUT_S = 30.0
QUERY_MEMORY = "1GB"
#: the largest result ``query`` hands back (rows, and bytes in Arrow): past either the query is stopped
QUERY_MAX_ROWS = 100_000
QUERY_MAX_BYTES = 256 << 20


def _bounded_frame(con: duckdb.DuckDBPyConnection, sql: str):
    """The result of ``sql`` as a DataFrame, fetched in small batches and refused past the caps.

    DuckDB's time and memory limits cover running the query, not fetching its result (300 million
    rows took 33 s and 7 GB to fetch; 4,000 strings of 1 MB raised a bare ``MemoryError``); streamed,
    a result is stopped as soon as it passes ``QUERY_MAX_ROWS`` or ``QUERY_MAX_BYTES``.
    """
    import pyarrow as pa  # (a query's result only: a warm ``resolve`` imports no pyarrow)

    reader = con.sql(sql).to_arrow_reader(256)
    batches, rows, size = [], 0, 0
    try:
        for batch in reader:
            rows += batch.num_rows
            size += batch.nbytes
            if rows > QUERY_MAX_ROWS or size > QUERY_MAX_BYTES:
                raise InvalidInput(f"query result too large: more than {QUERY_MAX_ROWS:,} rows or "
                                   f"{QUERY_MAX_BYTES >> 20} MB; add a LIMIT or aggregate")
            batches.append(batch)
    finally:
        reader.close()
    table = pa.Table.from_batches(batches, schema=reader.schema)
    return con.from_arrow(table).df()  # DuckDB's own conversion: the same column types as ``.df()``


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
        self._watcher = None  # see watch(); shared by as_user copies

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
    def refresh(self, models: Iterable[str] | None = None, full: bool = False) -> Generation:
        """Pick up changes on disk (cheap when nothing changed) and return the current generation.

        What is checked (``index.freshness``): the folders and files of ``models`` (plus every model's
        shallow folders), else every folder of the catalog (files added, removed or renamed anywhere),
        or with ``full`` every folder and file (also files rewritten in place, which the format forbids).
        Inside a ``snapshot()`` block of this thread it returns the block's generation without looking.
        """
        with self._lock:
            if self._generation is not None and getattr(self._pinned, "depth", 0):
                return self._generation
            generation = self._watched() if self._watcher and models is None and not full else None
            if generation is None:
                generation = self._index.refresh(scope_of(models, full))
            if self._generation is None or generation.folder != self._generation.folder:
                self._views = Views(generation)
            self._generation = generation
            return generation

    def on_first_build(self, progress: Callable[[int, int], None] | None) -> None:
        """Tell ``progress(folders, files)`` what a first build's walk has found so far (the CLI shows it
        on a terminal; a first build of 100,000 versions takes a while)."""
        self._index.progress = progress

    def watch(self) -> bool:
        """Watch the folder (inotify) rather than stat it: catalog-wide reads then check only what the
        watcher saw change (for a long-running process: the dashboard).  False without ``watchdog``;
        until the watch is set up, and for good if it cannot be (inotify's limit on watched folders),
        reads keep checking on their own."""
        with self._lock:
            if self._watcher is None:
                from registry_core.index import watch

                self._watcher = watch.start(self.root)
            return self._watcher is not None

    def _watched(self) -> Generation | None:
        """The current generation as the watcher knows it: no stat when it saw nothing change."""
        watcher = self._watcher
        scope = watcher.take()
        if scope is None and watcher.generation is not None:
            return watcher.generation
        try:
            watcher.generation = self._index.refresh(scope or CATALOG)
        except BaseException:
            watcher.put_back(scope or CATALOG)
            raise
        return watcher.generation

    @contextlib.contextmanager
    def snapshot(self, models: Iterable[str] | None = None, full: bool = False, check: bool = True
                 ) -> Iterator[Generation]:
        """Reads inside the block see one generation of the index, refreshed once on entry.

        Every read method is one such block, so an operation costs one freshness check (of the
        models it reads, or of every folder: see ``refresh``) however many queries it runs; a caller
        that asks several questions of one consistent state (a dashboard page run) can open its own.
        ``check=False`` keeps the generation this object last refreshed to (one the caller has just
        checked), if any.  For reads only: a write inside the block would not see its own result.
        """
        if check or self._generation is None:
            generation = self.refresh(models, full)
        else:
            generation = self._generation
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

    def reader(self, models: Iterable[str] | None = None) -> Reader:
        """The index as of now (or of this thread's open ``snapshot()``): what lifecycle, validate and
        verify read through, instead of this facade.  ``models``: the refresh checks only those models'
        files (see ``refresh``).  To read without a new check, open ``snapshot(check=False)`` or keep
        the reader: ``snapshot`` is the one way to say how fresh reads must be."""
        with self._lock:
            self.refresh(models)
            return Reader(self._views, self.root, self._recover)

    def sql(self, sql: str, params: dict | list | None = None) -> list[dict]:
        """Run a caller's SQL (tests, benchmarks) over the views; rows as dicts (through a ``Reader``,
        which rebuilds a damaged index once, see ``_recover``).  The core's own questions are ``Reader``
        methods."""
        return self.reader().rows(sql, params)

    def _recover(self, generation: Generation, exc: Exception) -> Views | None:
        """A read failed with ``exc``: if it comes from a file of ``generation`` (damage inside a Parquet
        file, which the first-open check cannot see), forget it and return freshly built views; else None."""
        if str(generation.folder) not in str(exc):
            return None
        with self._lock:
            self._index.forget(generation.folder, str(exc).splitlines()[0])
            self._generation = None
        self.refresh()
        return self._views

    @_one_refresh
    def query(self, sql: str):
        """Run one read-only SELECT over the public views; returns a pandas DataFrame.

        The statement runs in a fresh in-memory database holding copies of the views it names,
        with file access disabled and the configuration locked, so it cannot read or write files,
        attach databases or load extensions, whatever it says.  It cannot spill to disk either, and
        is stopped after QUERY_TIMEOUT_S or past QUERY_MEMORY (the dashboard serves many people), and
        its result is capped at QUERY_MAX_ROWS rows and QUERY_MAX_BYTES.
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
        def copy_views(con: duckdb.DuckDBPyConnection, generation: Generation) -> None:
            create_views(con, generation)
            con.execute("CREATE SCHEMA public_views")
            for view in PUBLIC_VIEWS:
                if re.search(rf"\b{view}\b", sql, re.IGNORECASE):
                    con.execute(f"CREATE TABLE public_views.{view} AS SELECT * FROM main.{view}")

        generation = self.refresh()
        con = duckdb.connect(":memory:")
        try:
            try:
                copy_views(con, generation)
            except duckdb.Error as exc:  # a damaged index file: rebuilt, then once more
                if not self._damaged(generation, exc):
                    raise
                con.close()
                con = duckdb.connect(":memory:")
                copy_views(con, self.refresh())
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
                    return _bounded_frame(con, sql)
            finally:
                timer.cancel()
        except MemoryError:
            raise InvalidInput(f"query result does not fit in memory (the limit is {QUERY_MEMORY}); add a LIMIT "
                               "or aggregate") from None
        except duckdb.InterruptException:
            raise InvalidInput(f"query ran longer than {QUERY_TIMEOUT_S:g} s and was stopped") from None
        except duckdb.Error as exc:
            raise InvalidInput(f"query failed: {str(exc).splitlines()[0]}") from None
        finally:
            con.close()

    # -- references ------------------------------------------------------------------------------

    @_model_refresh
    def state(self, model: str, at: dt.datetime | None = None) -> ModelState:
        """Replay one model's events (up to ``at``) into its lifecycle state."""
        return self.reader().state(model, at)

    @_model_refresh
    def resolve(self, ref: str | Ref, at: str | dt.datetime | None = None) -> dict:
        """``MODEL@VERSION|STAGE|ALIAS|latest`` -> {model, version, stage, path, artifacts}."""
        parsed = ref if isinstance(ref, Ref) else parse_ref(ref)
        if at is None:
            return self._resolve_now(parsed)
        moment = parse_time(at, "--at")
        model = parsed.model
        rows = [r for r in self.reader().version_files(model) if r["created_at"] <= moment]
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
        """``resolve`` in the current state from the index's replayed tables, rather than replaying the
        model's events: what CI/CD asks most ("what is in production?")."""
        model, selector = parsed.model, parsed.selector
        reader = self.reader()
        row = reader.resolved_now(model, selector, parsed.version)
        if row:
            return self._resolved(model, row["version"], row["stage"], row)
        if not reader.version_numbers(model):
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
        return self.reader().models()

    @_model_refresh
    def versions(self, model: str) -> list[dict]:
        """One model's versions, newest first, with stage and headline metrics (``metric[dataset]`` keys)."""
        check_name(model)
        reader = self.reader()
        rows = reader.versions(model)
        if not rows:
            raise NotFound(f"model {model!r} not found")
        by_version = {r["version"]: r for r in rows}
        for h in reader.headlines(model):
            by_version[h["version"]].setdefault("metrics", {})[metric_key(h)] = h["value"]
        return rows

    @_model_refresh
    def get(self, ref: str) -> dict:
        """Everything about one version: manifest, stage, aliases, headline metrics, lineage, events."""
        found = self.resolve(ref)
        model, version = found["model"], found["version"]
        reader = self.reader()
        row = reader.version_file(model, version)
        headline = reader.headlines(model, version)
        state = self.state(model)
        current = reader.version(model, version)
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

    @_model_refresh
    def metrics(self, ref: str, curves_only: bool = False) -> list[dict]:
        found = self.resolve(ref)
        return self.reader().metrics(found["model"], found["version"], curves_only)

    @_model_refresh
    def compare(self, refs: list[str]) -> Comparison:
        if not refs:
            raise InvalidInput("compare: give at least one reference")
        keys = self._version_keys(refs)
        headline, params = self.reader().compared(keys)
        return compare_versions(keys, headline, params, self.settings)

    def _version_keys(self, refs: list[str]) -> list[tuple[str, int]]:
        """(model, version) of each reference: ``MODEL@N`` ones checked together in one query, the others
        (stages, aliases, latest; and missing versions, for resolve's error) resolved one by one."""
        parsed = [r if isinstance(r, Ref) else parse_ref(r) for r in refs]
        numbered = sorted({f"{p.model}@{p.version}" for p in parsed if p.version is not None})
        found = self.reader().existing(numbered)
        keys = []
        for ref in parsed:
            if (ref.model, ref.version) in found:
                keys.append((ref.model, ref.version))
            else:
                resolved = self.resolve(ref)
                keys.append((resolved["model"], resolved["version"]))
        return keys

    @_model_refresh
    def lineage(self, ref: str) -> dict:
        """Upstream datasets and parents, downstream children of one version."""
        found = self.resolve(ref)
        model, version = found["model"], found["version"]
        rows, children = self.reader().lineage(model, version)
        return {
            "ref": f"{model}@{version}", "stage": found["stage"],
            "datasets": [{k: r[k] for k in ("name", "ref", "role", "sha256")} for r in rows if r["kind"] == "dataset"],
            "parents": [r["ref"] for r in rows if r["kind"] == "parent"],
            "children": [{"ref": f"{c['model']}@{c['version']}", "stage": c["stage"]} for c in children],
        }

    @_one_refresh
    def datasets(self, name: str | None = None) -> list[dict]:
        """Every dataset named in some version's lineage: {name, refs, versions} (a dataset's impact starts here).

        With ``name``: the versions that used that dataset (``dataset_usage``); NotFound if none did.
        """
        if name is not None:
            usage = self.dataset_usage(name)
            if not usage:
                raise NotFound(f"no version used dataset {name!r} (see 'modelreg datasets')")
            return usage
        return self.reader().datasets()

    @_one_refresh
    def dataset_usage(self, name: str) -> list[dict]:
        """Every version that used dataset ``name``, with its role, current stage and every stage it has held
        (``deployed``: the stages other than archived it was ever promoted to), newest first."""
        return self.reader().dataset_usage(name)

    @_model_refresh
    def requests(self, model: str | None = None) -> list[dict]:
        return self.reader().requests(model)

    @_model_refresh
    def history(self, model: str | None = None) -> list[dict]:
        """The audit trail, newest first."""
        rows = self.reader().history(check_name(model) if model else None)
        for row in rows:
            row["gates"] = json.loads(row["gates"]) if row["gates"] else []
            # a rollback is a promote event that names the version it replaced: say which it is
            row["kind"] = "rollback" if row["rollback_of"] is not None else row["action"]
        return rows

    @_one_refresh
    def problems(self) -> list[dict]:
        return self.reader().problems()

    # -- series for charts and filters (the dashboard reads only through these) -----------------------
    @_one_refresh
    def curves(self, model: str, versions: list[int]) -> list[dict]:
        """Every stepped metric row (training curves) of these versions of ``model``."""
        return self.reader().curves(check_name(model), list(versions))

    @_one_refresh
    def monitoring(self, model: str) -> list[dict]:
        """Time-stamped summary rows of ``model`` (the monitoring of deployed versions), oldest first."""
        return self.reader().monitoring(check_name(model))

    @_one_refresh
    def params(self, model: str) -> list[dict]:
        """Every param of every version of ``model``: {version, name, value} (values as text)."""
        return self.reader().params(check_name(model))

    @_one_refresh
    def headline_series(self) -> dict[str, list[str]]:
        """Every model's headline series, as ``metric[dataset|slice]`` keys, in one query."""
        found: dict[str, set[str]] = {}
        for row in self.reader().headline_keys():
            found.setdefault(row["model"], set()).add(metric_key(row))
        return {model: sorted(keys) for model, keys in found.items()}

    @_one_refresh
    def headlines(self, pairs: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, float]]:
        """Headline values of these (model, version) pairs: {(model, version): {metric_key: value}}."""
        out: dict[tuple[str, int], dict[str, float]] = {}
        for row in self.reader().headlines_of(pairs) if pairs else []:
            out.setdefault((row["model"], row["version"]), {})[metric_key(row)] = row["value"]
        return out

    @_one_refresh
    def filter_versions(self, model: str, expression: str) -> list[int]:
        """Versions of ``model`` whose metrics and params match ``expression`` (see ``index.filters``),
        newest first: ``roc_auc[test] > 0.9 and optimizer = adam``."""
        return self.reader().filter_versions(check_name(model), expression)

    # -- writing ---------------------------------------------------------------------------------
    @_writes
    @_marks
    @committing
    def register(self, model: str, **kwargs: Any) -> dict:
        """Add a version; see ``writing.register`` for the arguments. Returns {model, version, path}."""
        return writing.register(self, model, **kwargs)

    @_writes
    @_marks
    @committing
    def log_metrics(self, ref: str, metrics: Any, dataset: str | None = None) -> str:
        return writing.log_metrics(self, ref, metrics, dataset)

    def plan(self, model: str, version: int | str, stage: str, force: bool = False,
             user: str | None = None, answering: str | None = None) -> lifecycle.Plan:
        """What promoting would do now (gates, permissions), without writing anything.

        ``answering``: the id of a pending request for this promotion, evaluated as its approver would
        see it (the request itself is not a competing one)."""
        return lifecycle.plan(self, model, check_version(version), stage, user or self.user, force, answering)

    def rollback_plan(self, model: str, stage: str = "production", user: str | None = None) -> tuple:
        """Who may roll back ``stage`` of ``model``, and from which version to which: (Decision, holder, previous)."""
        return lifecycle.rollback_plan(self, model, stage, user or self.user)

    def policy(self, model: str, stage: str):
        """The policy of ``stage`` for ``model``: its model.yaml override, else registry.yaml's."""
        return lifecycle.policy_for(self, check_name(model), stage)

    @_writes
    @_marks
    @committing
    def promote(self, model: str, version: int | str, stage: str, reason: str | None = None,
                force: bool = False) -> dict:
        return lifecycle.promote(self, model, check_version(version), stage, reason, force)

    @_writes
    @_marks
    @committing
    def approve(self, model: str, request: str, reason: str | None = None) -> dict:
        return lifecycle.answer(self, model, request, "approve", reason)

    @_writes
    @_marks
    @committing
    def reject(self, model: str, request: str, reason: str | None = None) -> dict:
        return lifecycle.answer(self, model, request, "reject", reason)

    @_writes
    @_marks
    @committing
    def cancel(self, model: str, request: str, reason: str | None = None) -> dict:
        return lifecycle.answer(self, model, request, "cancel", reason)

    @_writes
    @_marks
    @committing
    def rollback(self, model: str, stage: str = "production", reason: str | None = None) -> dict:
        return lifecycle.rollback(self, model, stage, reason)

    @_writes
    @_marks
    @committing
    def alias(self, model: str, version: int | str | None, name: str, remove: bool = False) -> dict:
        return lifecycle.set_alias(self, model, version, name, remove)

    @_writes
    @committing
    def describe(self, ref: str, text: str) -> dict:
        """Record a new description of a version (an event; the manifest stays as written)."""
        return edits.describe(self, ref, text)

    @_writes
    @committing
    def tag(self, ref: str, tags: dict[str, str] | None = None, remove: list[str] | None = None) -> dict:
        """Set and/or remove tags of a version (an event; the manifest stays as written)."""
        return edits.tag(self, ref, tags, remove)

    def validate(self, require_signed: bool = False) -> list[dict]:
        """Every problem of the catalog, errors first, after a full check (every file stat'ed, also in-place
        rewrites); ``require_signed``: each event's commit must be signed by its ``by``."""
        from registry_core.validate import validate

        with self.snapshot(full=True):
            return validate(self.reader(), require_signed)

    @_writes
    def gc(self, older_than_s: float = 3600, dry_run: bool = False, objects: bool = False) -> list[str]:
        """Remove leftovers of interrupted writes older than ``older_than_s``; returns their paths.

        ``objects``: instead, the objects in the artifact store that no manifest references (their URIs).
        """
        if objects:
            from registry_core.store.orphans import orphan_objects

            return orphan_objects(self.layout.models, self.settings.artifacts, older_than_s, dry_run)
        from registry_core.gc import gc

        return gc(self, older_than_s, dry_run)

    @_model_refresh
    def verify(self, ref: str | None = None, deep: bool | None = None) -> list[dict]:
        """Check artifacts; stored objects by existence and size, or their full sha256 with ``deep``
        (default: the catalog's ``artifacts.verify``)."""
        from registry_core.verify import verify

        found = self.resolve(ref) if ref is not None else None
        return verify(self.reader(), (found["model"], found["version"]) if found else None, deep)

    def artifact_download(self, ref: str, limit: int = 200 * 2**20) -> dict:
        """A version's artifacts for a browser download: ``{name, size, data, uris}``.

        ``data`` is one file's bytes, or a zip of several, fetched and verified like ``pull``; it is
        None when the artifacts together exceed ``limit`` bytes, and ``uris`` then says where they are.
        """
        from registry_core.integrations.pull import download_bundle

        return download_bundle(self, ref, limit)

    # -- the CLI's other verbs, by their names ------------------------------------------------------
    def show(self, ref: str) -> dict:
        """``modelreg show``: everything about one version (``get``)."""
        return self.get(ref)

    def list(self, model: str | None = None) -> list[dict]:
        """``modelreg list``: every model (``models``), or one model's versions (``versions``)."""
        return self.models() if model is None else self.versions(model)

    def sync(self, remote: str | None = None, push: bool = True, pull_only: bool = False,
             drop_stale: bool = False) -> dict:
        """``modelreg sync``: commit, pull with rebase (renumbering colliding local versions), check that no
        local event went stale on the merged state (exit 3, or drop them with ``drop_stale``), push.

        ``pull_only``: fast-forward from the remote and never commit or push (a read-only replica)."""
        from registry_core.integrations.gitsync import pull_only as fast_forward
        from registry_core.integrations.gitsync import sync

        if pull_only:
            return fast_forward(self, remote=remote).to_dict()
        return sync(self, remote=remote, push=push, drop_stale=drop_stale).to_dict()

    def pull(self, ref: str, to: str | os.PathLike) -> list[dict]:
        """``modelreg pull``: copy a version's artifacts into folder ``to``, verified by checksum."""
        from registry_core.integrations.pull import pull

        return pull(self, ref, to)

    def card(self, ref: str) -> str:
        """``modelreg card``: a Markdown model card (Hugging Face format) for a version."""
        from registry_core.integrations.card import model_card

        return model_card(self, ref)

    def diff(self, rev: str) -> dict:
        """``modelreg diff``: the catalog changes since git revision ``rev`` (its merge base with HEAD)."""
        from registry_core.integrations.diff import catalog_diff

        return catalog_diff(self, rev)

    @_writes
    def import_mlflow(self, tracking_uri: str, models: list[str] | None = None, artifacts: str = "copy",
                      dataset_prefixes: list[str] | None = None) -> list[dict]:
        """``modelreg import-mlflow``: bring registered models, runs and stages in from an MLflow store."""
        from registry_core.integrations.mlflow_import import import_mlflow

        return import_mlflow(self, tracking_uri, models=models, artifacts=artifacts,
                             dataset_prefixes=dataset_prefixes)


def metric_key(row: dict) -> str:
    """``roc_auc[test]`` / ``recall[test|region=eu]``: one column name per headline series."""
    parts = [p for p in (row.get("dataset"), row.get("slice")) if p]
    return f"{row['metric']}[{'|'.join(parts)}]" if parts else row["metric"]


__all__ = ["Catalog", "RegistryError", "metric_key"]

"""Logging from training code: ``with start_run("model") as run: ...`` registers one version.

The run only collects in memory (artifacts are copied to a private temporary
folder when logged, so later changes to the file do not leak in); nothing
touches the catalog until the block ends without an exception, and then one
``Catalog.register`` call writes the version atomically.  If the block raises,
the temporary folder is removed and no version exists.

Besides what the code logs, the run records what it can find out by itself,
best effort and never failing: the git commit of the training code, the run's
duration and hardware, the Python version and the versions of the packages
the process imported.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import importlib.metadata
import math
import operator
import os
import platform
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from registry_core.catalog import Catalog
from registry_core.errors import CatalogError, InvalidInput
from registry_core.format.names import check_name, parse_ref
from registry_core.format.yamlio import iso
from registry_core.integrations.git import run
from registry_core.store.upload import upload_artifacts

Number = int | float

CHUNK = 1 << 20


def start_run(model: str, catalog: str | os.PathLike | Catalog | None = None, *, description: str | None = None,
              user: str | None = None, task: str | None = None, framework: str | None = None,
              tags: dict | None = None, code: dict | bool | None = None,
              requirements: list[str] | None = None) -> Run:
    """Open a run that registers a new version of ``model`` when its ``with`` block ends.

    ``catalog``: a path or an open ``Catalog`` (default: ``$MODELREG_CATALOG``, else ``./catalog``);
    ``user``: the acting user (default as for the CLI).  ``code``: a mapping to record instead of the
    detected git facts, or ``False`` to record none; ``requirements``: ``name==version`` strings to
    record instead of the detected package versions.
    """
    if isinstance(catalog, Catalog):
        opened = catalog.as_user(user) if user else catalog
    else:
        opened = Catalog(catalog, user=user)
    return Run(opened, check_name(model), description=description, task=task, framework=framework, tags=tags,
               code=code, requirements=requirements)


class Run:
    """One training run; see ``start_run``.  After the block: ``version``, ``ref`` and ``path``."""

    def __init__(self, catalog: Catalog, model: str, *, description: str | None = None, task: str | None = None,
                 framework: str | None = None, tags: dict | None = None, code: dict | bool | None = None,
                 requirements: list[str] | None = None) -> None:
        self.catalog = catalog
        self.model = model
        self.description = description
        self.task = task
        self.framework = framework
        self.id = uuid.uuid4().hex
        self.params: dict[str, Any] = {}
        self.tags: dict[str, Any] = {}
        self.datasets: list[dict] = []
        self.parents: list[str] = []
        self.version: int | None = None
        self.ref: str | None = None
        self.path: str | None = None
        self._metrics: dict[tuple, dict] = {}
        self._artifacts: list[Path] = []
        self._uploaded: list[dict] = []  # entries of files already in the catalog's artifact store
        self._names: set[str] = set()
        self._code = code
        self._requirements = requirements
        self._tmp: Path | None = None
        self._started_at = dt.datetime.now(dt.UTC)
        self._started = time.monotonic()
        self._closed = False
        if tags:
            self.set_tags(tags)

    # -- the context manager ------------------------------------------------------------------------
    def __enter__(self) -> Run:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if kind is None:
            self.finish()
        else:
            self.abort()

    def finish(self) -> dict:
        """Register the version now (the ``with`` block does this); returns {model, version, path}."""
        self._check_open()
        try:
            found = self.catalog.register(
                self.model, params=self.params, metrics=list(self._metrics.values()) or None,
                artifacts=[str(p) for p in self._artifacts] + self._uploaded, datasets=self.datasets,
                parents=self.parents,
                description=self.description, tags=self.tags or None, framework=self.framework, task=self.task,
                run=self._run_facts(), code=self._code_facts(), environment=self._environment(),
            )
        finally:
            self.abort()
        self.version = found["version"]
        self.ref = f"{self.model}@{self.version}"
        self.path = found["path"]
        return found

    def abort(self) -> None:
        """Drop everything logged; nothing is registered."""
        self._closed = True
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    def _check_open(self) -> None:
        if self._closed:
            raise InvalidInput(f"run {self.id} of {self.model} has ended; start a new run")

    # -- what training code logs --------------------------------------------------------------------
    def log_param(self, key: str, value: Any) -> None:
        """One hyperparameter; a later value for the same key replaces the earlier one."""
        self._check_open()
        if not isinstance(key, str) or not key:
            raise InvalidInput(f"param name must be a non-empty string, got {key!r}")
        self.params[key] = _plain(value)

    def log_params(self, params: dict) -> None:
        if not isinstance(params, dict):
            raise InvalidInput(f"log_params: expected a mapping, got {type(params).__name__}")
        for key, value in params.items():
            self.log_param(str(key), value)

    def log_metric(self, name: str, value: Number, step: int | None = None, *, dataset: str | None = None,
                   slice: str | None = None, timestamp: dt.datetime | None = None) -> None:
        """One measurement: with a ``step`` it is a point of a training curve, without one a headline value.

        Logging the same (name, dataset, slice, step, timestamp) again replaces the earlier value.
        """
        self._check_open()
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"metric name must be a non-empty string, got {name!r}")
        number = _finite(value, name)
        if step is not None:
            try:
                step = operator.index(step)
            except TypeError:
                raise InvalidInput(f"metric {name!r}: step must be an integer, got {step!r}") from None
        for label, text in (("dataset", dataset), ("slice", slice)):
            if text is not None and (not isinstance(text, str) or not text):
                raise InvalidInput(f"metric {name!r}: {label} must be a non-empty string, got {text!r}")
        if timestamp is not None:
            if not isinstance(timestamp, dt.datetime):
                raise InvalidInput(f"metric {name!r}: timestamp must be a datetime, got {timestamp!r}")
            timestamp = timestamp if timestamp.tzinfo else timestamp.replace(tzinfo=dt.UTC)
        row = {"metric": name, "value": number, "dataset": dataset, "step": step, "timestamp": timestamp,
               "slice": slice}
        self._metrics[(name, dataset, slice, step, timestamp)] = row

    def log_metrics(self, metrics: dict, step: int | None = None, *, dataset: str | None = None,
                    slice: str | None = None) -> None:
        """Several metrics of the same step, dataset and slice: ``{"roc_auc": 0.91, "log_loss": 0.2}``."""
        if not isinstance(metrics, dict):
            raise InvalidInput(f"log_metrics: expected a mapping of metric to value, got {type(metrics).__name__}")
        for name, value in metrics.items():
            self.log_metric(str(name), value, step, dataset=dataset, slice=slice)

    def log_dataset(self, role: str, name: str, version: str | None = None, *, data: Any = None,
                    uri: str | None = None, sha256: str | None = None) -> dict:
        """Record a dataset used for ``role`` (train, validation, test ...) with its fingerprint.

        ``data``: a NumPy array, a pandas DataFrame or Series, bytes, a path to a file or a folder, or a
        tuple/list of these (e.g. ``(X, y)``); its sha256 is recorded (see ``fingerprint``).  Returns the
        lineage entry.
        """
        self._check_open()
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"dataset name must be a non-empty string, got {name!r}")
        entry: dict[str, Any] = {"name": name}
        if version is not None:
            entry["version"] = str(version)
        if role:
            entry["role"] = str(role)
        if uri:
            entry["uri"] = str(uri)
        if data is not None:
            entry["sha256"] = fingerprint(data)
            rows = _row_count(data)
            if rows is not None:
                entry["rows"] = rows
        elif sha256:
            entry["sha256"] = str(sha256)
        self.datasets.append(entry)
        return entry

    def log_artifact(self, path: str | os.PathLike, name: str | None = None) -> None:
        """Copy a file or folder now; it is stored as ``artifacts/<name>`` (default: its own name).

        With an artifact store configured, the files are uploaded to it now instead (content-addressed, so
        the bytes logged are the bytes registered); files under ``inline_max`` are copied as before.  If the
        run then fails, the uploaded objects are orphans that ``modelreg gc --objects`` removes.
        """
        self._check_open()
        source = Path(path)
        if not source.exists():
            raise InvalidInput(f"log_artifact: {source}: no such file or folder")
        target_name = name or source.name
        if not target_name or "/" in target_name or target_name in (".", ".."):
            raise InvalidInput(f"log_artifact: {target_name!r} is not a file name")
        if target_name in self._names:
            raise InvalidInput(f"log_artifact: an artifact named {target_name!r} is already logged")
        self._names.add(target_name)
        if self._tmp is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="modelreg-run-"))
        target = self._tmp / str(len(self._names)) / target_name
        target.parent.mkdir()
        store = self.catalog.settings.artifacts
        if store.store:
            inline = False
            for item in upload_artifacts([(source, target_name)], store):
                if isinstance(item, dict):
                    self._uploaded.append(item)
                    continue
                inline = True
                (target.parent / item[1]).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(item[0], target.parent / item[1])
            if inline:
                self._artifacts.append(target)
            return
        if source.is_dir():
            shutil.copytree(source, target, symlinks=False)
        else:
            shutil.copyfile(source, target)
        self._artifacts.append(target)

    def set_tag(self, key: str, value: Any) -> None:
        self._check_open()
        self.tags[str(key)] = _plain(value)

    def set_tags(self, tags: dict) -> None:
        if not isinstance(tags, dict):
            raise InvalidInput(f"set_tags: expected a mapping, got {type(tags).__name__}")
        for key, value in tags.items():
            self.set_tag(key, value)

    def add_parent(self, ref: str) -> str:
        """A version this one starts from (warm start, fine-tune, distillation); pinned to its number now."""
        self._check_open()
        pinned = self.catalog.resolve(parse_ref(ref))["ref"]
        if pinned not in self.parents:
            self.parents.append(pinned)
        return pinned

    # -- what the run finds out by itself -----------------------------------------------------------
    def _run_facts(self) -> dict:
        return {"id": self.id, "started_at": iso(self._started_at),
                "duration_s": round(time.monotonic() - self._started, 3), **hardware()}

    def _code_facts(self) -> dict | None:
        if self._code is False:
            return None
        if isinstance(self._code, dict):
            return dict(self._code)
        return git_facts(exclude=self.catalog.root) or None

    def _environment(self) -> dict:
        requirements = self._requirements if self._requirements is not None else imported_packages()
        return {"python": platform.python_version(), "requirements": list(requirements)}


# -- helpers (public: training code may want them on their own) ---------------------------------------
def fingerprint(data: Any) -> str:
    """sha256 of a dataset: array bytes (with dtype and shape), a DataFrame's rows, bytes, or a file/folder.

    Two arrays with the same values, dtype and shape have the same fingerprint; a DataFrame's covers its
    column names, dtypes, index and values.
    """
    digest = hashlib.sha256()
    _feed(digest, data)
    return digest.hexdigest()


def _feed(digest: Any, data: Any) -> None:
    if isinstance(data, bytes | bytearray | memoryview):
        digest.update(bytes(data))
    elif isinstance(data, str | os.PathLike):
        _feed_path(digest, Path(data))
    elif isinstance(data, tuple | list):
        for i, part in enumerate(data):
            digest.update(f"\0part {i}\0".encode())
            _feed(digest, part)
    elif _is_pandas(data):
        import pandas as pd

        header = [f"{data.name}:{data.dtype}"] if isinstance(data, pd.Series) else \
            [f"{c}:{t}" for c, t in data.dtypes.items()]
        digest.update(("\0".join(header) + "\0").encode())
        digest.update(pd.util.hash_pandas_object(data, index=True).to_numpy().tobytes())
    elif hasattr(data, "__array__"):
        import numpy as np

        array = np.asarray(data)
        digest.update(f"{array.dtype.str}{array.shape}\0".encode())
        if array.dtype.hasobject:
            digest.update(repr(array.tolist()).encode())
        else:
            digest.update(np.ascontiguousarray(array).tobytes())
    else:
        raise InvalidInput(f"log_dataset: cannot fingerprint a {type(data).__name__}; give an array, a DataFrame, "
                           "bytes or a path")


def _is_pandas(data: Any) -> bool:
    pandas = sys.modules.get("pandas")  # never imported just to ask
    return pandas is not None and isinstance(data, pandas.DataFrame | pandas.Series)


def _feed_path(digest: Any, path: Path) -> None:
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(f"\0{file.relative_to(path).as_posix()}\0".encode())
            _feed_file(digest, file)
    elif path.is_file():
        _feed_file(digest, path)
    else:
        raise InvalidInput(f"log_dataset: {path}: no such file or folder")


def _feed_file(digest: Any, path: Path) -> None:
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)


def _row_count(data: Any) -> int | None:
    if isinstance(data, tuple | list) and data:
        data = data[0]
    shape = getattr(data, "shape", None)
    return int(shape[0]) if shape else None


def _plain(value: Any) -> Any:
    """A value a manifest can hold: numpy scalars become numbers, tuples lists, other objects text."""
    if hasattr(value, "item") and callable(value.item) and getattr(value, "shape", None) == ():
        value = value.item()
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


def _finite(value: Any, name: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(f"metric {name!r}: {value!r} is not a number") from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise InvalidInput(f"metric {name!r}: {value!r} is not a finite number")
    return number


def hardware() -> dict:
    """CPU count, memory and platform of this machine, and a one-line summary."""
    cpus = os.cpu_count()
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        memory = None
    facts: dict[str, Any] = {"cpu_count": cpus, "memory_bytes": memory,
                             "platform": f"{platform.system()}-{platform.machine()}"}
    parts = [f"{cpus} vCPU" if cpus else None, f"{memory / 2**30:.1f} GiB" if memory else None, facts["platform"]]
    facts["hardware"] = ", ".join(p for p in parts if p)
    return {k: v for k, v in facts.items() if v is not None}


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = run(cwd, *args, timeout=10)
    except CatalogError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def entrypoint() -> Path | None:
    """The script being run (``python train.py``), if any."""
    main = sys.modules.get("__main__")
    candidate = getattr(main, "__file__", None) or (sys.argv[0] if sys.argv and sys.argv[0] else None)
    if candidate and Path(candidate).is_file():
        return Path(candidate).resolve()
    return None


def git_facts(exclude: Path | None = None) -> dict:
    """{repo, commit, entrypoint, dirty} of the training code, as far as git knows; {} outside a repository.

    ``repo`` is the ``origin`` remote (omitted when there is none, so no local path is recorded);
    ``dirty`` says whether tracked files differ from the commit, not counting the ``exclude`` folder
    (the catalog being written to).
    """
    script = entrypoint()
    where = script.parent if script else Path.cwd()
    top = _git(["rev-parse", "--show-toplevel"], where)
    commit = _git(["rev-parse", "HEAD"], where)
    if not top or not commit:
        return {}
    top_path = Path(top).resolve()
    facts: dict[str, Any] = {}
    remote = _git(["remote", "get-url", "origin"], where)
    if remote:
        facts["repo"] = remote
    facts["commit"] = commit
    if script and script.is_relative_to(top_path):
        facts["entrypoint"] = script.relative_to(top_path).as_posix()
    pathspec = ["--", "."]
    if exclude is not None and Path(exclude).resolve().is_relative_to(top_path):
        pathspec.append(f":(exclude){Path(exclude).resolve().relative_to(top_path).as_posix()}")
    status = _git(["status", "--porcelain", "--untracked-files=no", *pathspec], top_path)
    if status is not None:
        facts["dirty"] = bool(status)
    return facts


@functools.cache
def _module_owners() -> dict[str, list[str]]:
    """Top-level module -> distributions (scanning every installed package takes most of a second)."""
    try:
        return importlib.metadata.packages_distributions()
    except Exception:  # broken package metadata must not fail a training run
        return {}


def imported_packages() -> list[str]:
    """``name==version`` of every installed distribution this process has imported, sorted."""
    owners = _module_owners()
    names = set()
    for module in list(sys.modules):
        top = module.partition(".")[0]
        if top in sys.stdlib_module_names or top.startswith("_"):
            continue
        names.update(owners.get(top, ()))
    found = []
    for name in sorted(names, key=str.lower):
        try:
            found.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found

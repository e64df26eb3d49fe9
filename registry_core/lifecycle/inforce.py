"""The policy in force when each event was written: registry.yaml and model.yaml at the commit that added it.

When the catalog is in git, one ``git log --diff-filter=A`` pass finds the commit (and its time) that added
each event file, and one ``git cat-file --batch`` reads registry.yaml and the model.yaml files as of those
commits; both are cached per HEAD.  An event not committed yet (or a catalog outside git) is judged by the
current files, at the current time.  A policy file that cannot be read at that commit falls back to the
current one (the current one is what the CLI enforces; ``validate`` reports broken files separately).
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import yaml

from registry_core.errors import InvalidInput
from registry_core.format.settings import Policy, Settings, parse_policies, parse_settings
from registry_core.lifecycle.audit import Rules
from registry_core.lifecycle.events import Event

_CACHE: dict[tuple[str, str], _History] = {}


def _git(cwd: Path, *args: str, input_: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, input=input_.encode() if input_ else None,
                          timeout=120, check=False)


class _History:
    """Which commit added each event file of the catalog, and the policy files as of those commits."""

    def __init__(self, top: Path, prefix: str) -> None:
        self.top, self.prefix = top, prefix
        self.added: dict[str, tuple[str, dt.datetime]] = {}  # catalog-relative event path -> (commit, time)
        self.authors: dict[str, str] = {}  # commit -> author e-mail
        self.blobs: dict[str, bytes | None] = {}  # "commit:path" -> content (None: absent)
        spec = f":(glob){prefix}models/*/events/*.yaml"
        done = _git(top, "log", "--format=%x01%H %ct %ae", "--name-only", "--diff-filter=A", "--no-renames", "--",
                    spec)
        commit, when = "", dt.datetime.min.replace(tzinfo=dt.UTC)
        for line in done.stdout.decode(errors="replace").splitlines():
            if line.startswith("\x01"):
                commit, stamp, *email = line[1:].split(" ", 2)
                when = dt.datetime.fromtimestamp(int(stamp), dt.UTC)
                self.authors[commit] = email[0] if email else ""
            elif line.strip():
                # newest first: the oldest commit that added the path wins
                self.added[line.strip().removeprefix(prefix)] = (commit, when)

    def files(self, names: list[str]) -> None:
        """Read ``commit:path`` names not read yet, in one ``git cat-file --batch``."""
        wanted = [n for n in dict.fromkeys(names) if n not in self.blobs]
        if not wanted:
            return
        done = _git(self.top, "cat-file", "--batch", input_="".join(f"{n}\n" for n in wanted))
        out, pos = done.stdout, 0
        for name in wanted:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            pos = end + 1
            if len(header) == 3 and header[1] == b"blob":
                size = int(header[2])
                self.blobs[name] = out[pos:pos + size]
                pos += size + 1
            else:
                self.blobs[name] = None
                if len(header) == 3:  # not a blob (a tree): skip its content
                    pos += int(header[2]) + 1


class InForce:
    """``rules(event)`` and ``written(event)`` for the events of one catalog."""

    def __init__(self, root: Path, settings: Settings, model_policies: dict[str, str | None],
                 now: dt.datetime | None = None) -> None:
        self.settings = settings
        self.model_policies = model_policies
        self.now = now or dt.datetime.now(dt.UTC)
        self.history = _history(root)
        self._settings: dict[bytes | None, Settings] = {}
        self._policies: dict[tuple[str, bytes | None], dict[str, Policy]] = {}

    def _path(self, event: Event) -> str:
        return f"models/{event.model}/events/{event.id}.yaml"

    def prepare(self, events: list[Event]) -> None:
        """Read every policy file these events need in one git process."""
        if self.history is None:
            return
        names = []
        for event in events:
            added = self.history.added.get(self._path(event))
            if added:
                base = f"{added[0]}:{self.history.prefix}"
                names += [f"{base}registry.yaml", f"{base}models/{event.model}/model.yaml"]
        self.history.files(names)

    def written(self, event: Event) -> dt.datetime:
        added = self.history.added.get(self._path(event)) if self.history else None
        return added[1] if added else self.now

    def current(self, model: str) -> Rules:
        return Rules(self.settings, _overrides(self.model_policies.get(model)))

    def rules(self, event: Event) -> Rules:
        added = self.history.added.get(self._path(event)) if self.history else None
        if added is None:
            return self.current(event.model)
        base = f"{added[0]}:{self.history.prefix}"
        registry = self.history.blobs.get(f"{base}registry.yaml")
        settings = self._settings.get(registry)
        if settings is None:
            settings = self._settings[registry] = _parse_settings(registry, self.settings)
        model_file = self.history.blobs.get(f"{base}models/{event.model}/model.yaml")
        key = (event.model, model_file)
        if key not in self._policies:
            self._policies[key] = _parse_overrides(model_file, self.current(event.model).overrides)
        return Rules(settings, self._policies[key])


def event_commits(root: Path) -> tuple[Path, dict[str, tuple[str, str]]] | None:
    """(repository top, catalog-relative event path -> (commit that added it, its author e-mail)); None
    outside git."""
    history = _history(root)
    if history is None:
        return None
    return history.top, {path: (commit, history.authors.get(commit, "")) for path, (commit, _) in
                         history.added.items()}


def _history(root: Path) -> _History | None:
    try:
        done = _git(root, "rev-parse", "--show-toplevel", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.decode().split()
    if done.returncode != 0 or len(lines) != 2:
        return None
    top, head = Path(lines[0]), lines[1]
    try:
        prefix = root.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        return None
    prefix = "" if prefix == "." else prefix + "/"
    key = (str(root.resolve()), head)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = _History(top, prefix)
    return _CACHE[key]


def _parse_settings(data: bytes | None, fallback: Settings) -> Settings:
    if data is None:
        return Settings()
    try:
        return parse_settings(yaml.safe_load(data.decode()), "registry.yaml")
    except (InvalidInput, yaml.YAMLError, UnicodeDecodeError):
        return fallback


def _parse_overrides(data: bytes | None, fallback: dict[str, Policy]) -> dict[str, Policy]:
    if data is None:
        return {}
    try:
        raw = yaml.safe_load(data.decode())
        return parse_policies(raw.get("policies") if isinstance(raw, dict) else None, "model.yaml")
    except (InvalidInput, yaml.YAMLError, UnicodeDecodeError):
        return fallback


def _overrides(policies: str | None) -> dict[str, Policy]:
    if not policies:
        return {}
    try:
        return parse_policies(json.loads(policies), "model.yaml")
    except InvalidInput:
        return {}

"""registry.yaml: stages, metric goals, policies, roles, with the defaults of the spec.

This module is the one table of defaults (stages, metric directions, built-in
checks) that validation, the CLI help and the docs read.
"""

from __future__ import annotations

import getpass
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from registry_core.errors import InvalidInput
from registry_core.format.artifact_settings import ArtifactSettings, parse_artifacts
from registry_core.format.layout import Layout
from registry_core.format.names import check_name
from registry_core.format.yamlio import load_file

DEFAULT_STAGES: list[dict[str, Any]] = [
    {"name": "staging"},
    {"name": "production", "exclusive": True},
    {"name": "archived"},
]
NONE_STAGE = "none"
ARCHIVED = "archived"
BUILTIN_CHECKS = {
    "artifacts_verified": "every artifact matches its recorded sha256 and size (in the version folder or the store)",
    "has_lineage": "the manifest names at least one dataset or parent",
    "has_description": "the manifest has a non-empty description",
}
LOWER_IS_BETTER = ("loss", "error", "mae", "mse", "rmse", "latency", "time", "size")
GATE_KEYS = {"metric", "dataset", "slice", "min", "max", "vs", "tolerance", "check"}
POLICY_KEYS = {"from", "gates", "approvals", "approvers", "requesters"}
TOP_KEYS = {"format", "name", "stages", "metrics", "policies", "aliases", "roles", "auth", "git", "artifacts", "demo"}


def default_goal(metric: str) -> str:
    """Direction of an undeclared metric: lower is better for losses, errors, latencies, sizes."""
    lowered = metric.lower()
    return "min" if any(word in lowered for word in LOWER_IS_BETTER) else "max"


@dataclass(frozen=True)
class Gate:
    """One gate of a policy: a metric threshold, a comparison with a stage holder, or a check."""

    metric: str | None = None
    dataset: str | None = None
    slice: str | None = None
    min: float | None = None
    max: float | None = None
    vs: str | None = None
    tolerance: float = 0.0
    check: str | None = None

    def label(self) -> str:
        if self.check:
            return f"check {self.check}"
        where = "".join(f" [{part}]" for part in (self.dataset, self.slice) if part)
        if self.vs:
            tol = f" (tolerance {self.tolerance:g})" if self.tolerance else ""
            return f"{self.metric}{where} not worse than {self.vs}{tol}"
        bounds = []
        if self.min is not None:
            bounds.append(f">= {self.min:g}")
        if self.max is not None:
            bounds.append(f"<= {self.max:g}")
        return f"{self.metric}{where} {' and '.join(bounds)}"


@dataclass(frozen=True)
class Policy:
    """What it takes to enter one stage."""

    stage: str
    gates: tuple[Gate, ...] = ()
    from_stages: tuple[str, ...] | None = None
    approvals: int = 0
    approvers: tuple[str, ...] | None = None
    requesters: tuple[str, ...] | None = None


@dataclass
class Settings:
    """The parsed registry.yaml (or its defaults)."""

    name: str = "modelreg catalog"
    stages: list[dict[str, Any]] = field(default_factory=lambda: [dict(s) for s in DEFAULT_STAGES])
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    policies: dict[str, Policy] = field(default_factory=dict)
    alias_setters: dict[str, tuple[str, ...]] = field(default_factory=dict)
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)
    trusted_header: str | None = None
    git_auto_commit: bool = False  # commit every write (see gitsync); $MODELREG_GIT_COMMIT overrides
    artifacts: ArtifactSettings = field(default_factory=ArtifactSettings)
    demo: bool = False  # a demo catalog: the dashboard lets one browser act as each of its roles' users
    warnings: list[str] = field(default_factory=list)

    @property
    def stage_names(self) -> list[str]:
        return [s["name"] for s in self.stages]

    def is_exclusive(self, stage: str) -> bool:
        return any(s["name"] == stage and s.get("exclusive") for s in self.stages)

    def goal(self, metric: str) -> str:
        declared = self.metrics.get(metric, {}).get("goal")
        return declared if declared in ("min", "max") else default_goal(metric)

    def unit(self, metric: str) -> str:
        return str(self.metrics.get(metric, {}).get("unit") or "")

    def roles_of(self, user: str) -> list[str]:
        who = identity(user)
        return sorted(role for role, members in self.roles.items() if who in {identity(m) for m in members})

    def matches(self, user: str, allowed: tuple[str, ...] | None) -> bool:
        """True if ``allowed`` is absent, or names the user or one of the user's roles (trimmed, case-folded)."""
        if allowed is None:
            return True
        named = {identity(a) for a in allowed}
        return identity(user) in named or any(identity(role) in named for role in self.roles_of(user))


def identity(user: str) -> str:
    """How identities compare (SPEC 1.6): trimmed and case-folded; they are recorded as given."""
    return user.strip().casefold()


def same_user(a: str, b: str) -> bool:
    return identity(a) == identity(b)


def _as_list(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise InvalidInput(f"{where}: expected a string or a list of strings, got {value!r}")


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"{where}: expected a number, got {value!r}")
    return float(value)


def parse_gate(raw: Any, where: str) -> Gate:
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: a gate must be a mapping, got {raw!r}")
    unknown = set(raw) - GATE_KEYS
    if unknown:
        raise InvalidInput(f"{where}: unknown gate key(s) {sorted(unknown)}")
    if "check" in raw:
        if raw["check"] not in BUILTIN_CHECKS:
            raise InvalidInput(f"{where}: unknown check {raw['check']!r}; known: {sorted(BUILTIN_CHECKS)}")
        return Gate(check=raw["check"])
    metric = raw.get("metric")
    if not isinstance(metric, str) or not metric:
        raise InvalidInput(f"{where}: a gate needs 'metric' or 'check'")
    if not any(k in raw for k in ("min", "max", "vs")):
        raise InvalidInput(f"{where}: gate on {metric!r} needs 'min', 'max' or 'vs'")
    for key in ("dataset", "slice", "vs"):
        if key in raw and not isinstance(raw[key], str):
            raise InvalidInput(f"{where}: gate key {key!r} must be a string, got {raw[key]!r}")
    return Gate(
        metric=metric,
        dataset=raw.get("dataset"),
        slice=raw.get("slice"),
        min=_number(raw["min"], f"{where}.min") if "min" in raw else None,
        max=_number(raw["max"], f"{where}.max") if "max" in raw else None,
        vs=raw.get("vs"),
        tolerance=_number(raw.get("tolerance", 0.0), f"{where}.tolerance"),
    )


def parse_policies(raw: Any, where: str) -> dict[str, Policy]:
    """Parse a ``policies:`` mapping (registry.yaml or a model.yaml override)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: 'policies' must be a mapping of stage to policy")
    policies = {}
    for stage, body in raw.items():
        here = f"{where}: policies.{stage}"
        body = body or {}
        if not isinstance(body, dict):
            raise InvalidInput(f"{here} must be a mapping")
        unknown = set(body) - POLICY_KEYS
        if unknown:
            raise InvalidInput(f"{here}: unknown key(s) {sorted(unknown)}")
        gates = body.get("gates") or []
        if not isinstance(gates, list):
            raise InvalidInput(f"{here}.gates must be a list")
        approvals = body.get("approvals", 0)
        if isinstance(approvals, bool) or not isinstance(approvals, int) or approvals < 0:
            raise InvalidInput(f"{here}.approvals must be a non-negative integer, got {approvals!r}")
        policies[str(stage)] = Policy(
            stage=str(stage),
            gates=tuple(parse_gate(g, f"{here}.gates[{i}]") for i, g in enumerate(gates)),
            from_stages=_as_list(body["from"], f"{here}.from") if "from" in body else None,
            approvals=approvals,
            approvers=_as_list(body["approvers"], f"{here}.approvers") if "approvers" in body else None,
            requesters=_as_list(body["requesters"], f"{here}.requesters") if "requesters" in body else None,
        )
    return policies


def parse_settings(raw: Any, where: str) -> Settings:
    """Build Settings from the parsed registry.yaml; raise InvalidInput on the first error."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: expected a mapping")
    settings = Settings()
    fmt = raw.get("format", 1)
    if fmt != 1:
        raise InvalidInput(f"{where}: unsupported format {fmt!r} (this modelreg reads format 1)")
    settings.warnings = [f"{where}: unknown key {k!r}" for k in raw if k not in TOP_KEYS]
    if "name" in raw:
        settings.name = str(raw["name"])
    if "stages" in raw:
        stages = raw["stages"]
        if not isinstance(stages, list) or not stages:
            raise InvalidInput(f"{where}: 'stages' must be a non-empty list")
        parsed = []
        for i, stage in enumerate(stages):
            if isinstance(stage, str):
                stage = {"name": stage}
            if not isinstance(stage, dict) or "name" not in stage:
                raise InvalidInput(f"{where}: stages[{i}] must be a mapping with a 'name'")
            name = check_name(stage["name"], f"stage name in {where}")
            if name == "none":
                raise InvalidInput(f"{where}: 'none' is the implicit stage of a new version and cannot be declared")
            parsed.append({"name": name, "exclusive": bool(stage.get("exclusive", False))})
        if ARCHIVED not in {s["name"] for s in parsed}:
            parsed.append({"name": ARCHIVED, "exclusive": False})
        settings.stages = parsed
    metrics = raw.get("metrics") or {}
    if not isinstance(metrics, dict):
        raise InvalidInput(f"{where}: 'metrics' must be a mapping of metric to {{goal, unit}}")
    for metric, spec in metrics.items():
        spec = spec or {}
        if not isinstance(spec, dict) or spec.get("goal", "max") not in ("min", "max"):
            raise InvalidInput(f"{where}: metrics.{metric} needs goal 'min' or 'max', got {spec!r}")
        settings.metrics[str(metric)] = dict(spec)
    settings.policies = parse_policies(raw.get("policies"), where)
    for stage in settings.policies:
        if stage not in settings.stage_names:
            raise InvalidInput(f"{where}: policy for unknown stage {stage!r}")
    aliases = raw.get("aliases") or {}
    if not isinstance(aliases, dict):
        raise InvalidInput(f"{where}: 'aliases' must be a mapping")
    for alias, spec in aliases.items():
        spec = spec or {}
        if not isinstance(spec, dict):
            raise InvalidInput(f"{where}: aliases.{alias} must be a mapping")
        if "setters" in spec:
            settings.alias_setters[str(alias)] = _as_list(spec["setters"], f"{where}: aliases.{alias}.setters")
    roles = raw.get("roles") or {}
    if not isinstance(roles, dict):
        raise InvalidInput(f"{where}: 'roles' must be a mapping of role to user ids")
    settings.roles = {str(role): _as_list(members or [], f"{where}: roles.{role}") for role, members in roles.items()}
    auth = raw.get("auth") or {}
    if not isinstance(auth, dict):
        raise InvalidInput(f"{where}: 'auth' must be a mapping")
    header = auth.get("trusted_header")
    if header is not None and (not isinstance(header, str) or not re.match(r"^[A-Za-z0-9-]+\Z", header)):
        raise InvalidInput(f"{where}: auth.trusted_header must be an HTTP header name, got {header!r}")
    settings.trusted_header = header
    git_settings = raw.get("git") or {}
    if not isinstance(git_settings, dict) or set(git_settings) - {"auto_commit"} \
            or not isinstance(git_settings.get("auto_commit", False), bool):
        raise InvalidInput(f"{where}: 'git' must be a mapping like {{auto_commit: true}}, got {git_settings!r}")
    settings.git_auto_commit = git_settings.get("auto_commit", False)
    settings.artifacts = parse_artifacts(raw.get("artifacts"), where)
    demo = raw.get("demo", False)
    if not isinstance(demo, bool):
        raise InvalidInput(f"{where}: 'demo' must be true or false, got {demo!r}")
    settings.demo = demo
    return settings


def default_user(explicit: str | None = None) -> str:
    """The acting user: explicit, else $MODELREG_USER, else git's user.email, else the OS login."""
    if explicit:
        return explicit
    env = os.environ.get("MODELREG_USER")
    if env:
        return env
    try:
        email = subprocess.run(
            ["git", "config", "user.email"], capture_output=True, text=True, timeout=5, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        email = ""
    if email:
        return email
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def find_catalog(explicit: str | os.PathLike | None = None) -> Path:
    """The catalog folder: explicit, else $MODELREG_CATALOG, else ./catalog."""
    return Path(explicit or os.environ.get("MODELREG_CATALOG") or "catalog")


def load_settings(layout: Layout) -> tuple[Settings, list[tuple[str, str, str]]]:
    """registry.yaml parsed, or the defaults plus a problem if it is missing or broken.

    A registry.yaml that is a symbolic link is never followed: defaults apply and lifecycle writes are refused.
    """
    if layout.registry.is_symlink():
        return Settings(), [(layout.registry.name, "error", "is a symbolic link, never followed "
                                                            "(defaults in use; lifecycle writes are refused)")]
    if not layout.registry.exists():
        return Settings(), []
    try:
        settings = parse_settings(load_file(layout.registry), layout.registry.name)
    except InvalidInput as exc:
        message = str(exc).removeprefix(f"{layout.registry}: ").removeprefix(f"{layout.registry.name}: ")
        note = " (defaults in use; lifecycle writes are refused)"
        return Settings(), [(layout.registry.name, "error", message + note)]
    return settings, [(layout.registry.name, "warning", w.split(": ", 1)[-1]) for w in settings.warnings]

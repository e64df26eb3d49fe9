"""Lifecycle events (SPEC 1.6) and the replay that turns them into current state.

Events are small immutable records, one YAML file each.  The state (who holds
which stage, pending requests, aliases, the stage timeline) is a pure fold
over the events in id order, so it can be recomputed at any past moment and
property-tested.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
import threading
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

from registry_core.errors import InvalidInput
from registry_core.format.names import MAX_VERSION, NAME_RE
from registry_core.format.settings import ARCHIVED, NONE_STAGE, Settings, identity
from registry_core.format.yamlio import iso, parse_time

if TYPE_CHECKING:
    from registry_core.lifecycle.audit import Audit

ACTIONS = ("request", "approve", "reject", "cancel", "promote", "alias", "describe", "tag")
#: edits after registration (SPEC 1.6): they change what a version says, not where it is
EDITS = ("describe", "tag")
EVENT_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}\.[0-9]{6}Z-[0-9a-f]{8}\Z")

_last_moment = dt.datetime.min.replace(tzinfo=dt.UTC)
_lock = threading.Lock()


def now() -> dt.datetime:
    """Current UTC time, strictly increasing within this process (so ids of one command sort)."""
    global _last_moment
    with _lock:
        moment = dt.datetime.now(dt.UTC)
        if moment <= _last_moment:
            moment = _last_moment + dt.timedelta(microseconds=1)
        _last_moment = moment
        return moment


def new_id(moment: dt.datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(4)


def event_time(event_id: str) -> dt.datetime:
    """The UTC time an event id names (ids sort in time order)."""
    return dt.datetime.strptime(event_id[:22], "%Y%m%dT%H%M%S.%f").replace(tzinfo=dt.UTC)


@dataclass(frozen=True)
class Event:
    """One lifecycle event. ``str()`` reads as a sentence for the audit trail."""

    id: str
    at: dt.datetime
    by: str
    model: str
    action: str
    version: int | None = None
    stage: str | None = None
    reason: str | None = None
    request: str | None = None
    gates: tuple = ()
    forced: bool = False
    rollback_of: int | None = None
    alias: str | None = None
    approvals_needed: int | None = None
    description: str | None = None
    tags: tuple = ()  # (key, value) pairs set by a tag event
    remove: tuple = ()  # keys removed by a tag event

    def to_yaml_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id, "at": iso(self.at), "by": self.by, "action": self.action,
                                "version": self.version}
        for key in ("stage", "reason", "request", "alias", "rollback_of", "approvals_needed"):
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        if self.forced:
            data["forced"] = True
        if self.gates:
            data["gates"] = [dict(g) for g in self.gates]
        if self.action == "describe":
            data["description"] = self.description
        if self.tags:
            data["tags"] = dict(self.tags)
        if self.remove:
            data["remove"] = list(self.remove)
        return data

    def __str__(self) -> str:
        ref = f"{self.model}@{self.version}"
        # an answer names what was asked (the request id alone means nothing to a reader)
        asked = f"the request for {ref} -> {self.stage}" if self.version is not None and self.stage else \
            f"request {self.request}"
        text = {
            "request": f"{self.by} requested {ref} -> {self.stage}",
            "approve": f"{self.by} approved {asked}",
            "reject": f"{self.by} rejected {asked}",
            "cancel": f"{self.by} cancelled {asked}",
            "promote": f"{self.by} {'rolled back to' if self.rollback_of else 'promoted'} {ref} -> {self.stage}"
            + (" (forced)" if self.forced else ""),
            "alias": f"{self.by} pointed alias {self.alias} at {ref}"
            if self.version is not None
            else f"{self.by} removed alias {self.alias}",
            "describe": f"{self.by} described {ref}",
            "tag": f"{self.by} tagged {ref}"
            + "".join(f" {k}={v}" for k, v in self.tags) + "".join(f" -{k}" for k in self.remove),
        }[self.action]
        return text + (f": {self.reason}" if self.reason else "")


def sentence(row: dict[str, Any]) -> str:
    """The audit-trail sentence of an event row as the views return it (``Catalog.history``)."""
    known = {f.name for f in fields(Event)} - {"gates"}
    values = {name: row[name] for name in known if name in row}
    values["forced"] = bool(values.get("forced"))
    tags, remove = values.get("tags"), values.get("remove")  # JSON text in the views, or already decoded
    tags = json.loads(tags) if isinstance(tags, str) else tags
    remove = json.loads(remove) if isinstance(remove, str) else remove
    values["tags"] = tuple(tags.items()) if isinstance(tags, dict) else tuple(tags or ())
    values["remove"] = tuple(remove or ())
    return str(Event(**values))


def _is_version(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_VERSION


def parse_event(raw: Any, model: str, file_id: str) -> Event:
    """Build an Event from a parsed YAML file; raise InvalidInput naming the problem."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"expected a mapping, got {type(raw).__name__}")
    for key in ("id", "at", "by", "action"):
        if key not in raw:
            raise InvalidInput(f"missing required key {key!r}")
    if raw["id"] != file_id:
        raise InvalidInput(f"id {raw['id']!r} does not match the file name {file_id!r}")
    if not isinstance(file_id, str) or not EVENT_ID_RE.match(file_id):
        raise InvalidInput(f"id {file_id!r} is not an event id (UTC time with microseconds, '-', 8 hex digits)")
    if raw["action"] not in ACTIONS:
        raise InvalidInput(f"unknown action {raw['action']!r}; known: {', '.join(ACTIONS)}")
    if not isinstance(raw["by"], str) or not raw["by"]:
        raise InvalidInput(f"'by' must be a non-empty string, got {raw['by']!r}")
    version = raw.get("version")
    if version is not None and not _is_version(version):
        raise InvalidInput(f"'version' must be a positive integer, got {version!r}")
    action = raw["action"]
    if action in ("request", "promote") and (version is None or not isinstance(raw.get("stage"), str)):
        raise InvalidInput(f"a {action} event needs 'version' and 'stage'")
    if action in ("approve", "reject", "cancel") and not isinstance(raw.get("request"), str):
        raise InvalidInput(f"a {action} event needs 'request' (the id of the request it answers)")
    if action == "alias" and not (isinstance(raw.get("alias"), str) and NAME_RE.match(raw["alias"])):
        raise InvalidInput(f"an alias event needs a valid 'alias', got {raw.get('alias')!r}")
    for key in ("stage", "reason", "request"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            raise InvalidInput(f"{key!r} must be a string, got {raw[key]!r}")
    gates = raw.get("gates") or []
    if not isinstance(gates, list) or not all(isinstance(g, dict) for g in gates):
        raise InvalidInput("'gates' must be a list of mappings")
    if action in EDITS and version is None:
        raise InvalidInput(f"a {action} event needs 'version'")
    if action == "describe" and not isinstance(raw.get("description"), str):
        raise InvalidInput("a describe event needs 'description' (a string)")
    tags, remove = raw.get("tags") or {}, raw.get("remove") or []
    if action == "tag" and not (isinstance(tags, dict) and isinstance(remove, list)
                                and all(isinstance(k, str) for k in [*tags, *remove]) and (tags or remove)):
        raise InvalidInput("a tag event needs 'tags' (a mapping) and/or 'remove' (a list of keys)")
    rollback_of = raw.get("rollback_of")
    if rollback_of is not None and not _is_version(rollback_of):
        raise InvalidInput(f"'rollback_of' must be a version number, got {rollback_of!r}")
    needed = raw.get("approvals_needed")
    if needed is not None and (isinstance(needed, bool) or not isinstance(needed, int) or not 0 <= needed <= 1000):
        raise InvalidInput(f"'approvals_needed' must be an integer from 0 to 1000, got {needed!r}")
    return Event(
        id=raw["id"],
        at=parse_time(raw["at"], "at"),
        by=raw["by"],
        model=model,
        action=action,
        version=version,
        stage=raw.get("stage"),
        reason=raw.get("reason"),
        request=raw.get("request"),
        gates=tuple(gates),
        forced=bool(raw.get("forced", False)),
        rollback_of=rollback_of,
        alias=raw.get("alias"),
        approvals_needed=needed,
        description=raw.get("description") if action == "describe" else None,
        tags=tuple((k, str(v)) for k, v in tags.items()) if action == "tag" else (),
        remove=tuple(remove) if action == "tag" else (),
    )


@dataclass
class Request:
    id: str
    model: str
    version: int
    stage: str
    by: str
    at: dt.datetime
    reason: str | None
    needed: int
    approvals: list[str] = field(default_factory=list)
    status: str = "pending"  # pending, approved, promoted, rejected, cancelled
    gates: tuple = ()  # as recorded by the request


@dataclass
class Span:
    """A version holding a stage from ``start`` until ``end`` (None = still holds it)."""

    model: str
    stage: str
    version: int
    start: dt.datetime
    by: str
    end: dt.datetime | None = None


@dataclass
class ModelState:
    """The replayed state of one model."""

    model: str
    stage_of: dict[int, str] = field(default_factory=dict)
    since: dict[int, tuple[dt.datetime, str]] = field(default_factory=dict)
    requests: dict[str, Request] = field(default_factory=dict)
    aliases: dict[str, tuple[int, dt.datetime, str]] = field(default_factory=dict)
    spans: list[Span] = field(default_factory=list)
    violations: dict[str, str] = field(default_factory=dict)  # event id -> the rule it breaks (no effect)
    descriptions: dict[int, str] = field(default_factory=dict)  # the latest describe event of each version
    tag_patches: dict[int, dict[str, str | None]] = field(default_factory=dict)  # tag events; None removes

    def stage(self, version: int) -> str:
        return self.stage_of.get(version, NONE_STAGE)

    def holders(self, stage: str) -> list[int]:
        """Versions in ``stage``, most recently promoted first."""
        found = [v for v, s in self.stage_of.items() if s == stage]
        return sorted(found, key=lambda v: (self.since[v][0], v), reverse=True)

    def holder(self, stage: str) -> int | None:
        found = self.holders(stage)
        return found[0] if found else None

    def pending(self) -> list[Request]:
        return [r for r in self.requests.values() if r.status == "pending"]

    def previous_holder(self, stage: str) -> int | None:
        """The version that held ``stage`` before the current holder's latest entry into it."""
        current = self.holder(stage)
        if current is None:
            return None
        earlier = [s for s in self.spans if s.stage == stage and s.version != current and s.end is not None]
        entered = max((s.start for s in self.spans if s.stage == stage and s.version == current), default=None)
        earlier = [s for s in earlier if entered is None or s.start <= entered]
        return max(earlier, key=lambda s: (s.end, s.start)).version if earlier else None


def replay(model: str, events: list[Event], settings: Settings, needed_for: dict[str, int],
           until: dt.datetime | None = None, audit: Audit | None = None,
           skip: frozenset[str] | set[str] = frozenset()) -> ModelState:
    """Fold ``events`` (any order; sorted here by id) into a ModelState, optionally up to a moment.

    With ``audit``, each event is first checked on the state so far; one that breaks the policy is
    recorded in ``violations`` and has no effect.  ``skip``: ids known to be violations (from the index).
    """
    state = ModelState(model)
    open_spans: dict[int, Span] = {}

    def move(version: int, stage: str, event: Event) -> None:
        if state.stage_of.get(version) == stage:
            return
        if version in open_spans:
            open_spans.pop(version).end = event.at
        if settings.is_exclusive(stage):
            for other in [v for v, s in state.stage_of.items() if s == stage and v != version]:
                move(other, ARCHIVED, event)
        state.stage_of[version] = stage
        state.since[version] = (event.at, event.by)
        if stage not in (NONE_STAGE, ARCHIVED):
            span = Span(model, stage, version, event.at, event.by)
            state.spans.append(span)
            open_spans[version] = span

    for event in sorted(events, key=lambda e: e.id):
        if until is not None and event.at > until:
            continue
        if event.id in skip:
            continue
        if audit is not None:
            problem = audit.violation(state, event)
            if problem is not None:
                state.violations[event.id] = problem
                continue
        if event.action == "promote":
            if event.rollback_of is not None and state.stage_of.get(event.rollback_of) == event.stage:
                move(event.rollback_of, ARCHIVED, event)
            move(event.version, event.stage, event)
            request = state.requests.get(event.request or "")
            if request is not None and request.status in ("pending", "approved"):
                request.status = "promoted"
        elif event.action == "request":
            needed = event.approvals_needed
            if audit is not None:  # never fewer than the policy in force asked for
                needed = max(needed or 0, audit.rules_for(event).policy(event.stage).approvals)
            elif needed is None:
                needed = needed_for.get(event.stage, 0)
            state.requests[event.id] = Request(event.id, model, event.version, event.stage, event.by, event.at,
                                               event.reason, needed, gates=event.gates)
        elif event.action in ("approve", "reject", "cancel"):
            request = state.requests.get(event.request)
            if request is None or request.status != "pending":
                continue
            if event.action == "approve":
                who = identity(event.by)
                if who != identity(request.by) and who not in {identity(a) for a in request.approvals}:
                    request.approvals.append(event.by)
                if len(request.approvals) >= request.needed:
                    request.status = "approved"
                    move(request.version, request.stage, event)
            else:
                request.status = "rejected" if event.action == "reject" else "cancelled"
        elif event.action == "describe":
            state.descriptions[event.version] = event.description
        elif event.action == "tag":
            patch = state.tag_patches.setdefault(event.version, {})
            patch.update(dict(event.tags))
            patch.update(dict.fromkeys(event.remove))
        elif event.action == "alias":
            if event.version is None:
                state.aliases.pop(event.alias, None)
            else:
                state.aliases[event.alias] = (event.version, event.at, event.by)
    return state

"""Promotions, requests, approvals, rollbacks and aliases: the only code that writes events.

Each decision is ``planning``'s, made under a per-model lock on freshly refreshed state, so what
the dashboard shows (``planning.plan``) is what ``promote`` does.

The decisions read the index through a ``Reader`` (one generation) and write through an
``EventWriter`` (the acting user's events); the public functions take the ``Catalog`` only to
lock, refresh and hand those out.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from registry_core.errors import Conflict, InvalidInput, NotFound, refusal
from registry_core.format.layout import build_path
from registry_core.format.names import check_alias, check_name
from registry_core.format.yamlio import dumps
from registry_core.lifecycle.events import Event, new_id, now
from registry_core.lifecycle.planning import (  # Plan, plan, policy_for, rollback_plan: also imported from here
    Plan,
    plan,
    plan_on,
    policy_for,
    rollback_decision,
    rollback_plan,
    stage_policy,
)
from registry_core.lifecycle.policy import may_answer, may_set_alias, target_stage
from registry_core.store.atomic import write_once
from registry_core.store.locking import model_lock

__all__ = ["EventWriter", "Plan", "answer", "plan", "policy_for", "promote", "record_imported", "rollback",
           "rollback_plan", "set_alias"]

if TYPE_CHECKING:
    from registry_core.catalog import Catalog
    from registry_core.format.layout import Layout


@dataclass(frozen=True)
class EventWriter:
    """Writes ``user``'s events into one catalog, each once (``write_once``: an id never exists twice)."""

    layout: Layout
    user: str

    def new(self, model: str, action: str, **fields) -> Event:
        moment = now()
        return Event(id=new_id(moment), at=moment, by=self.user, model=model, action=action, **fields)

    def write(self, event: Event) -> Event:
        write_once(self.layout.events(event.model) / f"{event.id}.yaml", dumps(event.to_yaml_dict()))
        return event

    def record(self, model: str, action: str, **fields) -> Event:
        return self.write(self.new(model, action, **fields))


def _settings_ok(catalog: Catalog, model: str) -> None:
    """Refuse lifecycle writes while the policy they depend on cannot be read (fail closed).

    That is a broken registry.yaml, or a broken model.yaml: its policies could be stricter than the
    catalog's, so falling back to the catalog's would let through what the model's owners forbid.
    """
    reader = catalog.reader(models=[model])
    errors = [p for p in reader.settings_problems if p[1] == "error"]
    if errors:
        raise InvalidInput(f"{errors[0][0]}: {errors[0][2]}")
    path = build_path("model", check_name(model))
    broken = reader.file_error(path)
    if broken:
        raise InvalidInput(f"{path}: {broken} (lifecycle changes of {model} are refused until it is fixed)")


def _fresh(catalog: Catalog) -> Catalog:
    """A view of the catalog outside any caller's ``snapshot()``: decisions under the lock see the files now."""
    return catalog.as_user(catalog.user)


def _took_effect(catalog: Catalog, event: Event) -> None:
    """Check that an event just written counts in the replay (SPEC 1.9); if not, take it back and say why.

    It can break the policy only through the clock (this machine's clock behind a version's ``created_at``
    or an earlier event); the file was written under the model's lock and not committed, so it is removed.
    """
    rule = _fresh(catalog).reader(models=[event.model]).violation(event.model, event.id)
    if rule:
        path = catalog.layout.events(event.model) / f"{event.id}.yaml"
        path.unlink(missing_ok=True)
        raise Conflict(f"{catalog.layout.relative(path)} was written but would have no effect ({rule}); "
                       "it was removed: check this machine's clock")


def record_imported(catalog: Catalog, model: str, action: str, at: dt.datetime, reason: str, **fields) -> Event:
    """Write an event that happened in another system (an importer's history), with its original time.

    The caller decides whether the acting user may (``plan``, ``may_set_alias``) and passes the gates;
    the replay checks the event like any other, and one that would have no effect is removed again
    (Conflict).  ``reason`` says where it came from; ``by`` is the one who ran the import.  The id is
    made from ``at``, so the event sorts at its time.
    """
    check_name(model)
    if at.tzinfo is None:
        raise InvalidInput(f"imported event time {at!r} has no time zone")
    if action not in ("promote", "alias", "request"):
        raise InvalidInput(f"importers record promote, request and alias events, not {action!r}")
    event = Event(id=new_id(at), at=at.astimezone(dt.UTC), by=catalog.user, model=model, action=action,
                  reason=reason, **fields)
    EventWriter(catalog.layout, catalog.user).write(event)
    _took_effect(catalog, event)
    return event


def promote(catalog: Catalog, model: str, version: int, stage: str, reason: str | None = None,
            force: bool = False) -> dict:
    """Promote, or open a request when approvals are needed; raise PolicyRefused with the reasons."""
    _settings_ok(catalog, model)
    if force and not (reason and reason.strip()):
        raise InvalidInput("--force needs a --reason saying why the policy is overridden")
    events = EventWriter(catalog.layout, catalog.user)
    with model_lock(catalog.layout.cache, model):
        result = plan_on(_fresh(catalog).reader(models=[model]), model, version, stage, events.user, force)
        gates = tuple(g.to_dict() for g in result.gates)
        if not result.allowed:
            raise result.error()
        if result.action == "request":
            event = events.record(model, "request", version=version, stage=stage, reason=reason, gates=gates,
                                  approvals_needed=result.needs_approval)
            _took_effect(catalog, event)
            return {"status": "pending", "request": event.id, "gates": list(gates)}
        event = events.record(model, "promote", version=version, stage=stage, reason=reason, gates=gates,
                              forced=force)
        _took_effect(catalog, event)
        return {"status": "promoted", "request": None, "gates": list(gates)}


def answer(catalog: Catalog, model: str, request_id: str, action: str, reason: str | None = None) -> dict:
    """approve / reject / cancel a pending request; the last needed approval promotes."""
    _settings_ok(catalog, model)
    check_name(model)
    events = EventWriter(catalog.layout, catalog.user)
    with model_lock(catalog.layout.cache, model):
        reader = _fresh(catalog).reader(models=[model])
        state = reader.state(model)
        request = state.requests.get(request_id)
        if request is None:
            raise NotFound(f"no request {request_id!r} for model {model!r}")
        if request.status != "pending":
            raise Conflict(f"request {request_id} is {request.status}, not pending")
        policy = stage_policy(reader, model, request.stage)
        decision = may_answer(reader.settings, policy, request, events.user, action)
        if not decision:
            raise refusal(decision.kind, f"{action} {request_id}: {decision.reason}")
        gates: tuple = ()
        completes = action == "approve" and len(request.approvals) + 1 >= request.needed
        if completes:
            result = plan_on(reader, model, request.version, request.stage, request.by, answering=request_id)
            if result.blockers:
                raise refusal(result.kind, f"approving {request_id} would promote {model}@{request.version} to "
                                           f"{request.stage}, but: {result.reason}", result.gates)
            gates = tuple(g.to_dict() for g in result.gates)
        events.record(model, action, version=request.version, stage=request.stage, request=request_id, reason=reason)
        if completes:
            events.record(model, "promote", version=request.version, stage=request.stage, request=request_id,
                          reason=reason or request.reason, gates=gates)
            status = "promoted"
        else:
            status = {"approve": "pending", "reject": "rejected", "cancel": "cancelled"}[action]
        approvals = len(request.approvals) + (1 if action == "approve" else 0)
        return {"status": status, "request": request_id, "approvals": approvals, "needed": request.needed}


def rollback(catalog: Catalog, model: str, stage: str, reason: str | None) -> dict:
    _settings_ok(catalog, model)
    check_name(model)
    if not (reason and reason.strip()):
        raise InvalidInput("rollback needs a --reason")
    if not target_stage(catalog.settings, stage):
        raise InvalidInput(target_stage(catalog.settings, stage).reason)
    events = EventWriter(catalog.layout, catalog.user)
    with model_lock(catalog.layout.cache, model):
        decision, current, previous = rollback_decision(_fresh(catalog).reader(models=[model]), model, stage,
                                                        events.user)
        if not decision:
            raise refusal(decision.kind, f"rollback: {decision.reason}")
        event = events.record(model, "promote", version=previous, stage=stage, reason=reason, rollback_of=current)
        _took_effect(catalog, event)
        return {"status": "rolled back", "model": model, "stage": stage, "version": previous, "replaced": current}


def set_alias(catalog: Catalog, model: str, version, name: str, remove: bool = False) -> dict:
    _settings_ok(catalog, model)
    check_name(model)
    alias = check_alias(name, set(catalog.settings.stage_names))
    decision = may_set_alias(catalog.settings, alias, catalog.user)
    if not decision:
        raise refusal(decision.kind, f"alias {alias}: {decision.reason}")
    with model_lock(catalog.layout.cache, model):
        catalog = _fresh(catalog)
        catalog.refresh([model])
        state = catalog.state(model)
        if remove:
            if alias not in state.aliases:
                raise NotFound(f"{model} has no alias {alias!r}")
            number = None
        else:
            number = catalog.resolve(f"{model}@{version}")["version"]
            if state.aliases.get(alias, (None,))[0] == number:
                raise Conflict(f"alias {alias} already points at {model}@{number}")
        EventWriter(catalog.layout, catalog.user).record(model, "alias", version=number, alias=alias)
        return {"model": model, "alias": alias, "version": number}


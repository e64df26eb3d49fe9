"""Promotions, requests, approvals, rollbacks and aliases: the only code that writes events.

``plan`` answers "what would happen if this user promoted now?" without
writing anything; the dashboard draws its checklist and disabled buttons from
it and ``promote`` acts on it, so the two can never disagree.  Each decision
is made under a per-model lock on freshly refreshed state.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from registry_core.errors import Conflict, InvalidInput, NotFound, PolicyRefused
from registry_core.format.names import check_alias, check_name
from registry_core.format.settings import Policy, parse_policies
from registry_core.format.yamlio import dumps
from registry_core.index.auditing import builtin_checks
from registry_core.lifecycle.events import Event, ModelState, new_id, now
from registry_core.lifecycle.gates import GateResult, Headline, evaluate
from registry_core.lifecycle.policy import (
    Decision,
    from_rule,
    may_answer,
    may_approve,
    may_request,
    may_set_alias,
    target_stage,
)
from registry_core.store.atomic import write_once
from registry_core.store.locking import model_lock

if TYPE_CHECKING:
    from registry_core.catalog import Catalog


@dataclass
class Plan:
    """What promoting ``model@version`` to ``stage`` would do for ``user`` right now."""

    model: str
    version: int
    stage: str
    user: str
    current: str
    gates: list[GateResult] = field(default_factory=list)
    blockers: list[str] = field(default_factory=list)  # why it would be refused (exit 3)
    needs_approval: int = 0
    force: Decision = field(default_factory=lambda: Decision(False, ""))
    action: str = "refused"  # promote, request or refused

    @property
    def allowed(self) -> bool:
        return self.action != "refused"

    @property
    def reason(self) -> str:
        return "; ".join(self.blockers)


def policy_for(catalog: Catalog, model: str, stage: str) -> Policy:
    """The stage's policy for this model: model.yaml's override, else registry.yaml's, else none."""
    rows = catalog.sql("SELECT policies FROM _model_files WHERE model = ?", [model], refresh=False)
    if rows and rows[0]["policies"]:
        overrides = parse_policies(json.loads(rows[0]["policies"]), f"models/{model}/model.yaml")
        if stage in overrides:
            return overrides[stage]
    return catalog.settings.policies.get(stage, Policy(stage))


def _headline(catalog: Catalog, model: str, version: int) -> Headline:
    rows = catalog.sql("SELECT metric, dataset, slice, value FROM headline WHERE model = ? AND version = ?",
                       [model, version], refresh=False)
    return {(r["metric"], r["dataset"], r["slice"]): r["value"] for r in rows}


def _checks(catalog: Catalog, model: str, version: int) -> dict[str, tuple[bool, str]]:
    row = catalog.sql("SELECT path, manifest FROM _versions WHERE model = ? AND version = ?", [model, version],
                      refresh=False)[0]
    return builtin_checks(catalog.root / row["path"], json.loads(row["manifest"]))


def _evaluate(catalog: Catalog, state: ModelState, model: str, version: int, policy: Policy) -> list[GateResult]:
    if not policy.gates:
        return []

    def baseline_for(stage: str) -> tuple[int | None, Headline]:
        holder = state.holder(stage)
        return holder, (_headline(catalog, model, holder) if holder is not None else {})

    checks = _checks(catalog, model, version) if any(g.check for g in policy.gates) else {}
    return evaluate(policy.gates, _headline(catalog, model, version), catalog.settings, baseline_for, checks)


def _settings_ok(catalog: Catalog, model: str) -> None:
    """Refuse lifecycle writes while the policy they depend on cannot be read (fail closed).

    That is a broken registry.yaml, or a broken model.yaml: its policies could be stricter than the
    catalog's, so falling back to the catalog's would let through what the model's owners forbid.
    """
    errors = [p for p in catalog.refresh().settings_problems if p[1] == "error"]
    if errors:
        raise InvalidInput(f"{errors[0][0]}: {errors[0][2]}")
    path = f"models/{check_name(model)}/model.yaml"
    broken = catalog.sql("SELECT message FROM _problems WHERE path = ? AND severity = 'error' LIMIT 1", [path],
                         refresh=False)
    if broken:
        raise InvalidInput(f"{path}: {broken[0]['message']} (lifecycle changes of {model} are refused until it "
                           "is fixed)")


def plan(catalog: Catalog, model: str, version: int, stage: str, user: str, force: bool = False,
         answering: str | None = None) -> Plan:
    """Evaluate a promotion without writing; raises only for things that do not exist.

    ``answering`` is the id of the request being approved, which is not a competing request.
    All its reads share one freshness check of the index (``Catalog.snapshot``).
    """
    check_name(model)
    with catalog.snapshot():
        return _plan(catalog, model, version, stage, user, force, answering)


def _plan(catalog: Catalog, model: str, version: int, stage: str, user: str, force: bool,
          answering: str | None) -> Plan:
    stage_ok = target_stage(catalog.settings, stage)
    if not stage_ok:
        raise InvalidInput(stage_ok.reason)
    catalog.resolve(f"{model}@{version}")
    state = catalog.state(model)
    current = state.stage(version)
    policy = policy_for(catalog, model, stage)
    result = Plan(model, version, stage, user, current)
    result.force = may_approve(catalog.settings, policy, user)
    if current == stage:
        result.blockers.append(f"{model}@{version} is already in {stage}")
        return result
    pending = [r for r in state.pending() if r.version == version and r.stage == stage and r.id != answering]
    if pending:
        result.blockers.append(f"a request for {model}@{version} -> {stage} is already pending ({pending[0].id})")
        return result
    requester = may_request(catalog.settings, policy, user)
    origin = from_rule(policy, current)
    result.gates = _evaluate(catalog, state, model, version, policy)
    failed = [g for g in result.gates if not g.passed]
    result.needs_approval = policy.approvals
    if force:
        if not result.force:
            result.blockers.append(f"--force: {result.force.reason}")
        else:
            result.action = "promote"
        return result
    if not requester:
        result.blockers.append(requester.reason)
    if not origin:
        result.blockers.append(origin.reason)
    result.blockers.extend(f"gate failed: {g.gate}: {g.message}" for g in failed)
    if not result.blockers:
        result.action = "request" if policy.approvals > 0 else "promote"
    return result


def _fresh(catalog: Catalog) -> Catalog:
    """A view of the catalog outside any caller's ``snapshot()``: decisions under the lock see the files now."""
    return catalog.as_user(catalog.user)


def _write(catalog: Catalog, event: Event) -> None:
    write_once(catalog.layout.events(event.model) / f"{event.id}.yaml", dumps(event.to_yaml_dict()))


def _took_effect(catalog: Catalog, event: Event) -> None:
    """Check that an event just written counts in the replay (SPEC 1.9); if not, take it back and say why.

    It can break the policy only through the clock (this machine's clock behind a version's ``created_at``
    or an earlier event); the file was written under the model's lock and not committed, so it is removed.
    """
    rows = catalog.sql("SELECT rule FROM _violations WHERE model = ? AND id = ?", [event.model, event.id])
    if rows:
        path = catalog.layout.events(event.model) / f"{event.id}.yaml"
        path.unlink(missing_ok=True)
        raise Conflict(f"{catalog.layout.relative(path)} was written but would have no effect ({rows[0]['rule']}); "
                       "it was removed: check this machine's clock")


def _event(catalog: Catalog, model: str, action: str, **fields) -> Event:
    moment = now()
    return Event(id=new_id(moment), at=moment, by=catalog.user, model=model, action=action, **fields)


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
    _write(catalog, event)
    _took_effect(catalog, event)
    return event


def promote(catalog: Catalog, model: str, version: int, stage: str, reason: str | None = None,
            force: bool = False) -> dict:
    """Promote, or open a request when approvals are needed; raise PolicyRefused with the reasons."""
    _settings_ok(catalog, model)
    if force and not (reason and reason.strip()):
        raise InvalidInput("--force needs a --reason saying why the policy is overridden")
    with model_lock(catalog.layout.cache, model):
        catalog = _fresh(catalog)
        result = plan(catalog, model, version, stage, catalog.user, force)
        gates = tuple(g.to_dict() for g in result.gates)
        if not result.allowed:
            if any(b.startswith(("a request for", f"{model}@{version} is already")) for b in result.blockers):
                raise Conflict(result.reason)
            raise PolicyRefused(f"refused: {model}@{version} -> {stage}: {result.reason}", result.gates)
        if result.action == "request":
            event = _event(catalog, model, "request", version=version, stage=stage, reason=reason, gates=gates,
                           approvals_needed=result.needs_approval)
            _write(catalog, event)
            _took_effect(catalog, event)
            return {"status": "pending", "request": event.id, "gates": list(gates)}
        event = _event(catalog, model, "promote", version=version, stage=stage, reason=reason, gates=gates,
                       forced=force)
        _write(catalog, event)
        _took_effect(catalog, event)
        return {"status": "promoted", "request": None, "gates": list(gates)}


def answer(catalog: Catalog, model: str, request_id: str, action: str, reason: str | None = None) -> dict:
    """approve / reject / cancel a pending request; the last needed approval promotes."""
    _settings_ok(catalog, model)
    check_name(model)
    with model_lock(catalog.layout.cache, model):
        catalog = _fresh(catalog)
        catalog.refresh()
        state = catalog.state(model)
        request = state.requests.get(request_id)
        if request is None:
            raise NotFound(f"no request {request_id!r} for model {model!r}")
        if request.status != "pending":
            raise Conflict(f"request {request_id} is {request.status}, not pending")
        policy = policy_for(catalog, model, request.stage)
        decision = may_answer(catalog.settings, policy, request, catalog.user, action)
        if not decision:
            raise PolicyRefused(f"refused: {action} {request_id}: {decision.reason}")
        gates: tuple = ()
        completes = action == "approve" and len(request.approvals) + 1 >= request.needed
        if completes:
            result = plan(catalog, model, request.version, request.stage, request.by, answering=request_id)
            if result.blockers:
                raise PolicyRefused(f"refused: approving {request_id} would promote {model}@{request.version} to "
                                    f"{request.stage}, but: {result.reason}", result.gates)
            gates = tuple(g.to_dict() for g in result.gates)
        _write(catalog, _event(catalog, model, action, version=request.version, stage=request.stage,
                               request=request_id, reason=reason))
        if completes:
            _write(catalog, _event(catalog, model, "promote", version=request.version, stage=request.stage,
                                   request=request_id, reason=reason or request.reason, gates=gates))
            status = "promoted"
        else:
            status = {"approve": "pending", "reject": "rejected", "cancel": "cancelled"}[action]
        approvals = len(request.approvals) + (1 if action == "approve" else 0)
        return {"status": status, "request": request_id, "approvals": approvals, "needed": request.needed}


def rollback_plan(catalog: Catalog, model: str, stage: str, user: str) -> tuple[Decision, int | None, int | None]:
    """Who may roll back, and from which version to which; the dashboard shows the reason."""
    with catalog.snapshot():
        state = catalog.state(model)
        current, previous = state.holder(stage), state.previous_holder(stage)
        decision = may_approve(catalog.settings, policy_for(catalog, model, stage), user)
        if not decision:
            return Decision(False, f"{decision.reason} (rollback is for approvers)"), current, previous
        if current is None:
            return Decision(False, f"no version of {model} is in {stage}"), current, previous
        if previous is None:
            return Decision(False, f"{model}@{current} is the first version in {stage}; nothing to roll back to"), \
                current, previous
        return Decision(True, f"puts {model}@{previous} back in {stage} in place of v{current}"), current, previous


def rollback(catalog: Catalog, model: str, stage: str, reason: str | None) -> dict:
    _settings_ok(catalog, model)
    check_name(model)
    if not (reason and reason.strip()):
        raise InvalidInput("rollback needs a --reason")
    if not target_stage(catalog.settings, stage):
        raise InvalidInput(target_stage(catalog.settings, stage).reason)
    with model_lock(catalog.layout.cache, model):
        catalog = _fresh(catalog)
        catalog.refresh()
        decision, current, previous = rollback_plan(catalog, model, stage, catalog.user)
        if not decision:
            if "approver" in decision.reason:
                raise PolicyRefused(f"refused: rollback: {decision.reason}")
            raise NotFound(f"rollback: {decision.reason}")
        event = _event(catalog, model, "promote", version=previous, stage=stage, reason=reason, rollback_of=current)
        _write(catalog, event)
        _took_effect(catalog, event)
        return {"status": "rolled back", "model": model, "stage": stage, "version": previous, "replaced": current}


def set_alias(catalog: Catalog, model: str, version, name: str, remove: bool = False) -> dict:
    _settings_ok(catalog, model)
    check_name(model)
    alias = check_alias(name, set(catalog.settings.stage_names))
    decision = may_set_alias(catalog.settings, alias, catalog.user)
    if not decision:
        raise PolicyRefused(f"refused: alias {alias}: {decision.reason}")
    with model_lock(catalog.layout.cache, model):
        catalog = _fresh(catalog)
        catalog.refresh()
        state = catalog.state(model)
        if remove:
            if alias not in state.aliases:
                raise NotFound(f"{model} has no alias {alias!r}")
            number = None
        else:
            number = catalog.resolve(f"{model}@{version}")["version"]
            if state.aliases.get(alias, (None,))[0] == number:
                raise Conflict(f"alias {alias} already points at {model}@{number}")
        _write(catalog, _event(catalog, model, "alias", version=number, alias=alias))
        return {"model": model, "alias": alias, "version": number}


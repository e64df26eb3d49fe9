"""Planning a promotion: what would happen if this user promoted now, without writing anything.

``plan`` answers for the CLI (``modelreg plan``), the dashboard's checklist and disabled buttons, and
``actions.promote``, which acts on it, so they can never disagree.  Every refusal is a ``Decision``
whose ``kind`` picks the error (``Plan.error``).  The functions read one generation of the index
through a ``Reader``; ``plan``, ``policy_for`` and ``rollback_plan`` take the ``Catalog`` for callers
that hold one (the dashboard).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from registry_core.errors import CONFLICT, GATE, MISSING, POLICY, InvalidInput, NotFound, RegistryError, refusal
from registry_core.format.layout import build_path
from registry_core.format.names import check_name
from registry_core.format.settings import Policy, parse_policies
from registry_core.lifecycle.events import ModelState
from registry_core.lifecycle.gates import GateResult, Headline, evaluate
from registry_core.lifecycle.policy import Decision, from_rule, may_approve, may_request, target_stage

if TYPE_CHECKING:
    from registry_core.catalog import Catalog
    from registry_core.index.reader import Reader


@dataclass
class Plan:
    """What promoting ``model@version`` to ``stage`` would do for ``user`` right now."""

    model: str
    version: int
    stage: str
    user: str
    current: str
    gates: list[GateResult] = field(default_factory=list)
    blockers: list[Decision] = field(default_factory=list)  # why it would be refused, each with its kind
    needs_approval: int = 0
    force: Decision = field(default_factory=lambda: Decision(False, ""))
    action: str = "refused"  # promote, request or refused

    @property
    def allowed(self) -> bool:
        return self.action != "refused"

    @property
    def reason(self) -> str:
        return "; ".join(b.reason for b in self.blockers)

    @property
    def kind(self) -> str:
        """A conflict if any blocker is one (exit 1: nothing to decide), else the first blocker's kind."""
        kinds = [b.kind for b in self.blockers]
        return CONFLICT if CONFLICT in kinds else next(iter(kinds), POLICY)

    def error(self) -> RegistryError:
        """The error ``promote`` raises for this refused plan; its class comes from ``kind``."""
        if self.kind == CONFLICT:
            return refusal(CONFLICT, self.reason)
        return refusal(self.kind, f"{self.model}@{self.version} -> {self.stage}: {self.reason}", self.gates)


def policy_for(catalog: Catalog, model: str, stage: str) -> Policy:
    """``stage_policy`` as of the catalog's current index, without a new freshness check (the dashboard
    asks this way, inside a page run's snapshot)."""
    with catalog.snapshot(check=False):
        return stage_policy(catalog.reader(), model, stage)


def stage_policy(reader: Reader, model: str, stage: str) -> Policy:
    """The stage's policy for this model: model.yaml's override, else registry.yaml's, else none."""
    policies = reader.model_policies(model)
    if policies:
        overrides = parse_policies(json.loads(policies), build_path("model", model))
        if stage in overrides:
            return overrides[stage]
    return reader.settings.policies.get(stage, Policy(stage))


def _checks(reader: Reader, model: str, version: int) -> dict[str, tuple[bool, str]]:
    from registry_core.index.auditing import builtin_checks  # (pyarrow: a warm ``resolve`` does without)

    row = reader.version_file(model, version)
    return builtin_checks(reader.root / row["path"], json.loads(row["manifest"]), reader.settings.artifacts)


def _evaluate(reader: Reader, state: ModelState, model: str, version: int, policy: Policy) -> list[GateResult]:
    if not policy.gates:
        return []

    def baseline_for(stage: str) -> tuple[int | None, Headline]:
        holder = state.holder(stage)
        return holder, (reader.headline(model, holder) if holder is not None else {})

    checks = _checks(reader, model, version) if any(g.check for g in policy.gates) else {}
    return evaluate(policy.gates, reader.headline(model, version), reader.settings, baseline_for, checks)


def plan(catalog: Catalog, model: str, version: int, stage: str, user: str, force: bool = False,
         answering: str | None = None) -> Plan:
    """Evaluate a promotion without writing; raises only for things that do not exist.

    ``answering`` is the id of the request being approved, which is not a competing request.
    All its reads share one freshness check of the index (``Catalog.snapshot``).
    """
    check_name(model)
    with catalog.snapshot([model]):
        return plan_on(catalog.reader(), model, version, stage, user, force, answering)


def _exists(reader: Reader, model: str, version: int) -> None:
    if reader.version_file(model, version) is None:
        if not reader.version_numbers(model):
            raise NotFound(f"model {model!r} has no versions")
        raise NotFound(f"{model}@{version} does not exist")


def plan_on(reader: Reader, model: str, version: int, stage: str, user: str, force: bool = False,
            answering: str | None = None) -> Plan:
    """``plan`` over one generation of the index."""
    settings = reader.settings
    stage_ok = target_stage(settings, stage)
    if not stage_ok:
        raise InvalidInput(stage_ok.reason)
    _exists(reader, model, version)
    state = reader.state(model)
    current = state.stage(version)
    policy = stage_policy(reader, model, stage)
    result = Plan(model, version, stage, user, current)
    result.force = may_approve(settings, policy, user)
    if current == stage:
        result.blockers.append(Decision(False, f"{model}@{version} is already in {stage}", CONFLICT))
        return result
    pending = [r for r in state.pending() if r.version == version and r.stage == stage and r.id != answering]
    if pending:
        result.blockers.append(Decision(False, f"a request for {model}@{version} -> {stage} is already pending "
                                               f"({pending[0].id})", CONFLICT))
        return result
    requester = may_request(settings, policy, user)
    origin = from_rule(policy, current)
    result.gates = _evaluate(reader, state, model, version, policy)
    failed = [g for g in result.gates if not g.passed]
    result.needs_approval = policy.approvals
    if force:
        if not result.force:
            result.blockers.append(Decision(False, f"--force: {result.force.reason}", result.force.kind))
        else:
            result.action = "promote"
        return result
    result.blockers.extend(d for d in (requester, origin) if not d)
    result.blockers.extend(Decision(False, f"gate failed: {g.gate}: {g.message}", GATE) for g in failed)
    if not result.blockers:
        result.action = "request" if policy.approvals > 0 else "promote"
    return result


def rollback_plan(catalog: Catalog, model: str, stage: str, user: str) -> tuple[Decision, int | None, int | None]:
    """Who may roll back, and from which version to which; the dashboard shows the reason."""
    with catalog.snapshot([model]):
        return rollback_decision(catalog.reader(), model, stage, user)


def rollback_decision(reader: Reader, model: str, stage: str, user: str) -> tuple[Decision, int | None, int | None]:
    state = reader.state(model)
    current, previous = state.holder(stage), state.previous_holder(stage)
    decision = may_approve(reader.settings, stage_policy(reader, model, stage), user)
    if not decision:
        return Decision(False, f"{decision.reason} (rollback is for approvers)", decision.kind), current, previous
    if current is None:
        return Decision(False, f"no version of {model} is in {stage}", MISSING), current, previous
    if previous is None:
        return Decision(False, f"{model}@{current} is the first version in {stage}; nothing to roll back to",
                        MISSING), current, previous
    return Decision(True, f"puts {model}@{previous} back in {stage} in place of v{current}"), current, previous

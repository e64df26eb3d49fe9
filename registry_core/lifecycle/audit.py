"""The policy check of every replayed event (SPEC 1.9): an event that breaks it does not take effect.

``Audit.violation(state, event)`` is called by ``events.replay`` before an event is applied, on the state
replayed so far, so each event is judged on what was true when it was written: the policy then in force
(``Rules``, from git history when the catalog is in git), the holders then, the immutable metric tables.
It returns the broken rule as one sentence, or None.  Pure: every fact comes in through ``Facts``.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from registry_core.format.settings import NONE_STAGE, Policy, Settings
from registry_core.lifecycle.events import Event, ModelState, event_time
from registry_core.lifecycle.gates import GateResult, Headline, evaluate
from registry_core.lifecycle.policy import from_rule, may_answer, may_approve, may_request, may_set_alias

#: how far in the future of the checking machine (or of its commit) an event may be dated
FUTURE = dt.timedelta(minutes=5)


@dataclass(frozen=True)
class Rules:
    """The policy in force for one event: registry.yaml's settings and the model's overrides."""

    settings: Settings
    overrides: dict[str, Policy] = field(default_factory=dict)

    def policy(self, stage: str) -> Policy:
        return self.overrides.get(stage) or self.settings.policies.get(stage, Policy(stage))


@dataclass
class Facts:
    """What the checks read besides the events: versions, headline metrics, built-in checks, clocks.

    ``written(event)`` is when the event was written (its commit's time in git, else now);
    ``check(version, name)`` recomputes a built-in check (``artifacts_verified`` hashes files).
    """

    created: dict[int, dt.datetime]
    headline: dict[int, Headline]
    check: Callable[[int, str], tuple[bool, str]]
    written: Callable[[Event], dt.datetime]


def _close(a: object, b: object) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b


def gates_differ(stored: tuple, fresh: list[GateResult]) -> str | None:
    """Why the stored gate results are not the recomputed ones (None if they agree)."""
    if len(stored) != len(fresh):
        return f"records {len(stored)} gate result(s); the policy has {len(fresh)}"
    for old, new in zip(stored, fresh, strict=True):
        if old.get("gate") != new.gate:
            return f"records gate {old.get('gate')!r} where the policy has {new.gate!r}"
        for key in ("passed", "value", "baseline"):
            if not _close(old.get(key), getattr(new, key)):
                return (f"records {key} {old.get(key)!r} for gate {new.gate!r}; the metric tables give "
                        f"{getattr(new, key)!r}")
    return None


class Audit:
    """Checks one model's events against the rules in force and the facts (see the module docstring)."""

    def __init__(self, rules_for: Callable[[Event], Rules], facts: Facts) -> None:
        self.rules_for = rules_for
        self.facts = facts

    def gates(self, state: ModelState, rules: Rules, version: int, stage: str,
              stored: tuple = ()) -> list[GateResult]:
        """The gates of ``stage`` for ``version`` on ``state``; a recorded artifacts check is taken as given."""
        policy = rules.policy(stage)
        if not policy.gates:
            return []
        recorded = {g.get("gate"): g for g in stored}

        def baseline_for(other: str) -> tuple[int | None, Headline]:
            holder = state.holder(other)
            return holder, (self.facts.headline.get(holder, {}) if holder is not None else {})

        checks = {}
        for gate in policy.gates:
            if gate.check:
                old = recorded.get(gate.label())
                checks[gate.check] = ((bool(old.get("passed")), str(old.get("message") or ""))
                                      if gate.check == "artifacts_verified" and old is not None
                                      else self.facts.check(version, gate.check))
        return evaluate(policy.gates, self.facts.headline.get(version, {}), rules.settings, baseline_for, checks)

    def violation(self, state: ModelState, event: Event) -> str | None:
        written = self.facts.written(event)
        latest = max(event.at, event_time(event.id))
        if latest > written + FUTURE:
            return f"time: dated {latest.isoformat()}, more than 5 minutes after it was written ({written.isoformat()})"
        rules = self.rules_for(event)
        if event.version is not None and event.action in ("request", "promote", "alias") \
                and event.version in self.facts.created and event.at < self.facts.created[event.version]:
            return (f"time: dated {event.at.isoformat()}, before v{event.version} was created "
                    f"({self.facts.created[event.version].isoformat()})")
        if event.action == "promote":
            return self._promote(state, event, rules)
        if event.action == "request":
            return self._request(state, event, rules)
        if event.action in ("approve", "reject", "cancel"):
            return self._answer(state, event, rules)
        if event.action == "alias":
            decision = may_set_alias(rules.settings, event.alias, event.by)
            return None if decision else f"alias setter: {decision.reason}"
        return None

    def _entry(self, state: ModelState, event: Event, rules: Rules, version: int, stage: str,
               by: str) -> str | None:
        """Requester, ``from`` and gates: what an unforced move into ``stage`` needs."""
        if stage not in rules.settings.stage_names:
            return f"stage: unknown stage {stage!r}"
        policy = rules.policy(stage)
        requester = may_request(rules.settings, policy, by)
        if not requester:
            return f"requester: {requester.reason}"
        origin = from_rule(policy, state.stage(version))
        if not origin:
            return f"from: {origin.reason}"
        return None

    def _promote(self, state: ModelState, event: Event, rules: Rules) -> str | None:
        stage, version = event.stage, event.version
        if stage not in rules.settings.stage_names and stage != NONE_STAGE:
            return f"stage: unknown stage {stage!r}"
        policy = rules.policy(stage)
        request = state.requests.get(event.request or "")
        if request is not None and request.status == "approved" and request.version == version \
                and request.stage == stage:
            return None  # the record of a promotion its last approval made (that approval was checked)
        if event.rollback_of is not None:
            decision = may_approve(rules.settings, policy, event.by)
            if not decision:
                return f"rollback: {decision.reason}"
            if not (event.reason and event.reason.strip()):
                return "rollback: a rollback needs a reason"
            current, previous = state.holder(stage), state.previous_holder(stage)
            if event.rollback_of != current or version != previous:
                return (f"rollback: rolls back v{event.rollback_of} to v{version}, but {stage} was held by "
                        f"{'v' + str(current) if current else 'no version'} after "
                        f"{'v' + str(previous) if previous else 'no other version'}")
            return None
        if event.forced:
            decision = may_approve(rules.settings, policy, event.by)
            if not decision:
                return f"forced: {decision.reason}; only an approver may force"
            if not (event.reason and event.reason.strip()):
                return "forced: a forced promotion needs a reason"
            return None
        if state.stage(version) == stage:
            return None
        problem = self._entry(state, event, rules, version, stage, event.by)
        if problem:
            return problem
        if policy.approvals > 0:
            return (f"approvals: {stage} needs {policy.approvals} approval(s); this promotion was neither "
                    "approved through a request nor forced")
        return self._gates_hold(state, event, rules, version, stage, require=True)

    def _gates_hold(self, state: ModelState, event: Event, rules: Rules, version: int, stage: str,
                    require: bool) -> str | None:
        fresh = self.gates(state, rules, version, stage, event.gates)
        if not fresh:
            return None
        if event.gates or require:
            differ = gates_differ(event.gates, fresh)
            if differ:
                return f"gates: {differ}"
        failed = [g for g in fresh if not g.passed]
        if failed:
            return f"gates: gate failed: {failed[0].gate}: {failed[0].message}"
        return None

    def _request(self, state: ModelState, event: Event, rules: Rules) -> str | None:
        problem = self._entry(state, event, rules, event.version, event.stage, event.by)
        if problem:
            return problem
        policy = rules.policy(event.stage)
        if event.approvals_needed is not None and event.approvals_needed < policy.approvals:
            return (f"approvals: records approvals_needed {event.approvals_needed}; the policy for "
                    f"{event.stage} needs {policy.approvals}")
        if state.stage(event.version) == event.stage:
            return f"request: {event.model}@{event.version} is already in {event.stage}"
        return self._gates_hold(state, event, rules, event.version, event.stage, require=False)

    def _answer(self, state: ModelState, event: Event, rules: Rules) -> str | None:
        request = state.requests.get(event.request or "")
        if request is None and event.request in state.violations:
            return f"request: answers request {event.request}, which breaks the policy and has no effect"
        if request is None:
            return f"request: answers unknown request {event.request}"
        if request.status != "pending":
            return f"request: answers request {request.id}, which is already {request.status}"
        if event.at < request.at:
            return f"time: dated {event.at.isoformat()}, before the request it answers ({request.at.isoformat()})"
        policy = rules.policy(request.stage)
        decision = may_answer(rules.settings, policy, request, event.by, event.action)
        if not decision:
            return f"{'approver' if event.action != 'cancel' else 'cancel'}: {decision.reason}"
        if event.action == "approve" and len(request.approvals) + 1 >= request.needed:
            problem = self._entry(state, event, rules, request.version, request.stage, request.by)
            if problem:
                return f"approving completes the request, but {problem}"
            fresh = self.gates(state, rules, request.version, request.stage, request.gates)
            failed = [g for g in fresh if not g.passed]
            if failed:
                return (f"gates: approving completes the request, but gate failed: {failed[0].gate}: "
                        f"{failed[0].message}")
        return None

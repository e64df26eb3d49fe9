"""Who may do what: every decision is a value with its reason.

The CLI's exit-3 message and the dashboard's "why is this button disabled"
are the same text, from these functions.
"""

from __future__ import annotations

from dataclasses import dataclass

from registry_core.errors import POLICY
from registry_core.format.settings import ARCHIVED, NONE_STAGE, Policy, Settings, same_user
from registry_core.lifecycle.events import Request


@dataclass(frozen=True)
class Decision:
    """A yes or no with its reason; a no's ``kind`` (errors.CONFLICT, POLICY, GATE, MISSING) picks the error."""

    allowed: bool
    reason: str
    kind: str = POLICY

    def __bool__(self) -> bool:
        return self.allowed


def _who(settings: Settings, user: str) -> str:
    roles = settings.roles_of(user)
    return f"{user} ({', '.join(roles)})" if roles else f"{user} (no role)"


def _names(allowed: tuple[str, ...]) -> str:
    return ", ".join(allowed)


def may_request(settings: Settings, policy: Policy, user: str) -> Decision:
    if settings.matches(user, policy.requesters):
        return Decision(True, f"{user} may request {policy.stage}")
    return Decision(False, f"{_who(settings, user)} may not request {policy.stage}; "
                           f"requesters are: {_names(policy.requesters)}")


def may_approve(settings: Settings, policy: Policy, user: str) -> Decision:
    """May ``user`` approve (and force, and roll back) for this stage?"""
    if policy.approvers is None or settings.matches(user, policy.approvers):
        return Decision(True, f"{user} is an approver for {policy.stage}")
    return Decision(False, f"{_who(settings, user)} is not an approver for {policy.stage}; "
                           f"approvers are: {_names(policy.approvers)}")


def may_answer(settings: Settings, policy: Policy, request: Request, user: str, action: str) -> Decision:
    """approve, reject or cancel a pending request."""
    if action == "cancel":
        if same_user(user, request.by):
            return Decision(True, f"{user} opened the request")
        allowed = may_approve(settings, policy, user)
        if allowed:
            return allowed
        return Decision(False, f"only the requester ({request.by}) or an approver for {policy.stage} may cancel; "
                               f"{allowed.reason}")
    if action == "approve" and same_user(user, request.by):
        return Decision(False, f"{user} opened this request and cannot approve it; "
                               "approvals must come from someone other than the requester")
    if action == "approve" and any(same_user(user, a) for a in request.approvals):
        return Decision(False, f"{user} has already approved this request")
    return may_approve(settings, policy, user)


def from_rule(policy: Policy, current: str) -> Decision:
    if policy.from_stages is None or current in policy.from_stages:
        return Decision(True, "")
    return Decision(False, f"must be in {' or '.join(policy.from_stages)} before {policy.stage}; it is in {current}")


def may_set_alias(settings: Settings, alias: str, user: str) -> Decision:
    setters = settings.alias_setters.get(alias)
    if settings.matches(user, setters):
        return Decision(True, f"{user} may move alias {alias}")
    return Decision(False, f"{_who(settings, user)} may not move alias {alias}; setters are: {_names(setters)}")


def target_stage(settings: Settings, stage: str) -> Decision:
    if stage in settings.stage_names:
        return Decision(True, "")
    known = ", ".join(settings.stage_names)
    if stage == NONE_STAGE:
        return Decision(False, f"cannot promote to {NONE_STAGE!r}; archive it instead ({ARCHIVED})")
    return Decision(False, f"unknown stage {stage!r}; stages are: {known}")


def next_stage(settings: Settings, current: str) -> str:
    """The stage a version in ``current`` would go to next in the catalog's order, never ``archived``.

    A version in no stage, or archived, goes to the first stage; one in the last stage before
    archived stays where it is (there is nowhere further to promote it: archiving is never a default).
    """
    order = [s for s in settings.stage_names if s != ARCHIVED]
    if not order:
        return ARCHIVED
    if current not in order:
        return order[0]
    return order[min(order.index(current) + 1, len(order) - 1)]

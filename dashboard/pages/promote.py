"""Promote: a version's gate checklist, live, with values and baselines; Promote / Request with a reason
in a confirm dialog; pending requests with Approve / Reject / Cancel; Rollback.

Every button asks the core (``Catalog.plan``, ``policy.may_answer``, ``lifecycle.rollback_plan``)
whether this user may press it, and a disabled button says why in the core's words.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.context import current
from dashboard.widgets import (
    PROMOTE,
    VERSIONS,
    act,
    badge,
    empty,
    pick_model,
    reset_on_change,
    synced_select,
)
from registry_core.lifecycle.events import Request
from registry_core.lifecycle.policy import may_answer, next_stage

DIALOG = "promote_dialog"  # open state of the confirm dialogs lives in session_state (works in AppTest too)

ctx = current()
cat, key, settings, identity = ctx.catalog, ctx.key, ctx.settings, ctx.identity
st.title("Promote")

models = [m["model"] for m in data.models(cat, key) if m["versions"]]
if not models:
    empty("No versions to promote yet.", "Register a version first; its gate checklist shows up here.")
    st.stop()


def _close() -> None:
    st.session_state.pop(DIALOG, None)


@st.dialog("Confirm")
def confirm() -> None:
    """The one confirm dialog: promote / request / force, or roll back; a reason is asked for every action."""
    job = st.session_state[DIALOG]
    st.markdown(job["summary"])
    reason = st.text_area("Reason (recorded in the event)", key="dialog_reason",
                          placeholder="why, for the audit trail" + (" (required)" if job["needs_reason"] else ""))
    left, right = st.columns(2)
    if left.button(job["button"], key="dialog_confirm", type="primary", width="stretch"):
        act(lambda: run_job(job, reason.strip() or None), on_done=_close)
    if right.button("Cancel", key="dialog_cancel", width="stretch"):
        _close()
        st.rerun()


def run_job(job: dict, reason: str | None) -> str:
    """Write through the core; return the toast text."""
    model, stage = job["model"], job["stage"]
    if job["kind"] == "rollback":
        result = cat.rollback(model, stage, reason)
        return f"Rolled back {model} {stage}: v{result['replaced']} → v{result['version']}"
    result = cat.promote(model, job["version"], stage, reason=reason, force=job["force"])
    if result["status"] == "pending":
        return f"Request {result['request']} opened: {model}@{job['version']} → {stage} awaits approval"
    return f"Promoted {model}@{job['version']} → {stage}" + (" (forced)" if job["force"] else "")


def answer(model: str, request: Request, action: str, reason: str | None) -> str:
    """approve / reject / cancel through the core; return the toast text."""
    result = getattr(cat, action)(model, request.id, reason=reason)
    if result["status"] == "promoted":
        return f"Approved: {model}@{request.version} promoted to {request.stage}"
    return f"Request {request.id}: {result['status']} ({result['approvals']}/{result['needed']} approvals)"


def why_not(allowed: bool, reason: str) -> str | None:
    """The help text of a disabled button: the core's reason, or the session's read-only reason."""
    if not identity.can_act:
        return identity.why_read_only
    return None if allowed else reason


main, side = st.columns([3, 2], gap="large")
with main:
    top = st.columns(3)
    model = pick_model(ctx, models, key="promote_model", container=top[0])
    reset_on_change("promote_model", model, ["version", "stage"])
    versions = data.versions(cat, key, model)
    stage_of = {v["version"]: v["stage"] for v in versions}
    number = synced_select("Version", list(stage_of), key="promote_version", param="version",
                           default=versions[0]["version"], parse=int, container=top[1],
                           format_func=lambda n: f"v{n} · {stage_of[n]}")
    targets = [s for s in settings.stage_names]
    here = stage_of[number]
    after = next_stage(settings, here)
    stage = synced_select("Target stage", targets, key="promote_stage", param="stage", default=after,
                          container=top[2])
    force = st.toggle("Override gates and approvals (force; approvers only, reason required)", key="promote_force")

    plan = data.plan(cat, key, model, number, stage, ctx.user or "anonymous", force)
    st.markdown(f"#### {model}@{number} → {stage}")
    badge(here)
    if plan.gates:
        st.dataframe(pd.DataFrame([{
            "": "✅" if g.passed else "❌", "gate": g.gate, "value": g.value, "baseline": g.baseline,
            "message": g.message} for g in plan.gates]), hide_index=True, width="stretch", key="promote_gates",
            column_config={"": st.column_config.TextColumn(width="small"),
                           "value": st.column_config.NumberColumn(format="%.4g"),
                           "baseline": st.column_config.NumberColumn(
                               format="%.4g", help="the gate's threshold, or the stage holder's value")})
    elif data.policy(cat, key, model, stage).gates:
        st.caption(f"The gates of {stage} are not evaluated: {plan.reason}.")
    else:
        st.caption(f"No gates for {stage}: promotion needs only permission.")
    if plan.action == "promote":
        st.success(f"Ready: {'forcing' if force else 'promoting'} moves {model}@{number} to {stage} now.", icon="✅")
    elif plan.action == "request":
        st.info(f"Gates pass; {stage} needs {plan.needs_approval} approval(s) from someone else, so this opens a "
                "request.", icon="📝")
    else:
        st.warning("Not possible now: " + plan.reason, icon="⛔")
    label = ("Force promote" if force else
             f"Request {stage}" if plan.needs_approval and plan.action != "promote" else f"Promote to {stage}")
    help_text = why_not(plan.allowed, plan.reason)
    if st.button(label, key="promote_button", type="primary", disabled=help_text is not None, help=help_text):
        st.session_state[DIALOG] = {
            "kind": "promote", "model": model, "version": number, "stage": stage, "force": force,
            "needs_reason": force, "button": label,
            "summary": f"**{label}**: {model}@{number} ({here}) → **{stage}**"
                       + (f", {plan.needs_approval} approval(s) needed" if plan.action == "request" else ""),
        }
    if help_text and not identity.can_act:  # a refused plan is explained just above
        st.caption(f"Why disabled: {help_text}")
    st.page_link(VERSIONS, label=f"Open {model}@{number} →", query_params={"model": model, "version": str(number)})

    st.divider()
    st.markdown("#### Rollback")
    rollable = [s for s in targets if s != "archived"]
    r_stage = st.selectbox("Stage", rollable, key="rollback_stage",
                           index=rollable.index("production") if "production" in rollable else 0)
    decision, holder, previous = data.rollback(cat, key, model, r_stage, ctx.user or "anonymous")
    st.caption(decision.reason)
    help_text = why_not(decision.allowed, decision.reason)
    rb_label = f"Roll back {r_stage}: v{holder} → v{previous}" if holder and previous else f"Roll back {r_stage}"
    if st.button(rb_label, key="rollback_button", disabled=help_text is not None, help=help_text):
        st.session_state[DIALOG] = {
            "kind": "rollback", "model": model, "stage": r_stage, "needs_reason": True, "button": "Roll back",
            "summary": f"**Roll back {model} {r_stage}**: put v{previous} back in place of v{holder}.",
        }

with side:
    st.markdown("#### Pending requests")
    pending = data.requests(cat, key)
    if not pending:
        st.caption("No pending requests. A request opens when someone asks for a stage that needs approvals.")
    pending.sort(key=lambda r: (r["model"] != model, r["at"]))
    for row in pending:
        request = data.state(cat, key, row["model"]).requests[row["id"]]
        policy = data.policy(cat, key, row["model"], request.stage)
        with st.container(border=True):
            st.markdown(f"**{row['model']}@{request.version} → {request.stage}**  \n"
                                    f"asked by {request.by} on {request.at:%Y-%m-%d %H:%M} · "
                                    f"{len(request.approvals)}/{request.needed} approvals"
                                    + (f" ({', '.join(request.approvals)})" if request.approvals else ""))
            if request.reason:
                st.caption(f"“{request.reason}”")
            reason = st.text_input("Reason", key=f"answer_reason_{row['id']}", label_visibility="collapsed",
                                   placeholder="reason (optional)")
            buttons = st.columns(3)
            for col, action in zip(buttons, ("approve", "reject", "cancel")):
                decision = may_answer(settings, policy, request, ctx.user or "anonymous", action)
                help_text = why_not(decision.allowed, decision.reason)
                if col.button(action.capitalize(), key=f"{action}_{row['id']}", disabled=help_text is not None,
                              help=help_text, type="primary" if action == "approve" else "secondary",
                              width="stretch"):
                    act(partial(answer, row["model"], request, action, reason.strip() or None))
            st.page_link(PROMOTE, label="Show its gates →",
                         query_params={"model": row["model"], "version": str(request.version),
                                       "stage": request.stage})
    st.caption(f"Acting as **{ctx.user or 'nobody (read-only)'}**")

if st.session_state.get(DIALOG):
    confirm()

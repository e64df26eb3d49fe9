"""Promote: pending requests first, each with its gates as recorded and as they evaluate now beside
Approve / Reject / Cancel; then a version's gate checklist, live, with Promote / Request in a confirm
dialog; then Rollback.

Every button asks the core (``Catalog.plan``, ``policy.may_answer``, ``Catalog.rollback_plan``)
whether this user may press it, and a disabled button says why in the core's words.
"""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from dashboard import data
from dashboard.context import current
from dashboard.widgets import (
    VERSIONS,
    act,
    badge_md,
    empty,
    in_dashboard_terms,
    pick_model,
    reset_on_change,
    synced_select,
)
from registry_core.lifecycle.events import Request
from registry_core.lifecycle.policy import may_answer, next_stage

DIALOG = "promote_dialog"  # open state of the confirm dialogs lives in session_state (works in AppTest too)
SHOWN_REQUESTS = 10  # cards drawn with their gates; more are listed by name

ctx = current()
cat, key, settings, identity = ctx.catalog, ctx.key, ctx.settings, ctx.identity
user = ctx.user or "anonymous"
st.title("Promote")

models = [m["model"] for m in data.models(cat, key) if m["versions"]]
if not models:
    empty("No versions to promote yet.", "Register a version first; its gate checklist shows up here.")
    st.stop()


def _close() -> None:
    st.session_state.pop(DIALOG, None)


@st.dialog("Confirm")
def confirm() -> None:
    """The one confirm dialog: promote / request / override, or roll back; a reason is asked for every action."""
    job = st.session_state[DIALOG]
    st.markdown(job["summary"])
    reason = st.text_area("Reason (recorded in the event)", key="dialog_reason",
                          placeholder="why, for the audit trail" + (" (required)" if job["needs_reason"] else ""))
    left, right = st.columns(2)
    if left.button(job["button"], key="dialog_confirm", type="primary", width="stretch"):
        if job["needs_reason"] and not reason.strip():
            st.error(f"{job['button']} needs a reason: write why in the box above; nothing was changed.", icon="✍️")
        else:
            act(lambda: run_job(job, reason.strip() or None), on_done=_close)
    if right.button("Cancel", key="dialog_cancel", width="stretch"):
        _close()
        st.rerun()


def run_job(job: dict, reason: str | None) -> str:
    """Write through the core; return what happened, in words."""
    model, stage = job["model"], job["stage"]
    if job["kind"] == "rollback":
        result = cat.rollback(model, stage, reason)
        return f"Rolled back {model} {stage}: v{result['replaced']} → v{result['version']}"
    result = cat.promote(model, job["version"], stage, reason=reason, force=job["force"])
    if result["status"] == "pending":
        return f"Request opened: {model}@{job['version']} → {stage} awaits approval"
    return f"Promoted {model}@{job['version']} → {stage}" + (" (override)" if job["force"] else "")


def answer(model: str, request: Request, action: str, reason: str | None) -> str:
    """approve / reject / cancel through the core; return what happened, naming the request."""
    result = getattr(cat, action)(model, request.id, reason=reason)
    what = f"{model}@{request.version} → {request.stage}"
    if result["status"] == "promoted":
        return f"Approved: {model}@{request.version} promoted to {request.stage}"
    return f"Request {what}: {result['status']} ({result['approvals']}/{result['needed']} approvals)"


def why_not(allowed: bool, reason: str) -> str | None:
    """The help text of a disabled button: the core's reason, or the session's read-only reason."""
    if not identity.can_act:
        return identity.why_read_only
    return None if allowed else in_dashboard_terms(reason)


def gate_rows(recorded: list[dict], now: list) -> pd.DataFrame:
    """One row per gate: as recorded when the request was opened, and as it evaluates now."""
    then = {g["gate"]: g for g in recorded}
    names = list(dict.fromkeys([*then, *(g.gate for g in now)]))
    current_of = {g.gate: g for g in now}
    rows = []
    for name in names:
        old, new = then.get(name), current_of.get(name)
        rows.append({"gate": name,
                     "recorded": "—" if old is None else ("✅ " if old["passed"] else "❌ ") + _num(old["value"]),
                     "now": "—" if new is None else ("✅ " if new.passed else "❌ ") + _num(new.value),
                     "baseline": _num(new.baseline if new is not None else (old or {}).get("baseline")),
                     "message": new.message if new is not None else (old or {}).get("message", "")})
    return pd.DataFrame(rows, columns=["gate", "recorded", "now", "baseline", "message"])


def _num(value) -> str:
    return "" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def request_card(row: dict, selected: bool) -> None:
    """A pending request: who asked what and why, its gates (recorded and now), Approve / Reject / Cancel."""
    model = row["model"]
    request = data.state(cat, key, model).requests[row["id"]]
    policy = data.policy(cat, key, model, request.stage)
    recorded = next((e["gates"] for e in data.history(cat, key, model) if e["id"] == request.id), [])
    now = data.plan(cat, key, model, request.version, request.stage, user, False, request.id)
    with st.container(border=True):
        st.markdown(f"{'👉 ' if selected else ''}**{model}@{request.version} → {request.stage}** · asked by "
                    f"{request.by} on {request.at:%Y-%m-%d %H:%M} UTC · "
                    f"{len(request.approvals)}/{request.needed} approvals"
                    + (f" ({', '.join(request.approvals)})" if request.approvals else ""))
        if request.reason:
            st.caption(f"“{request.reason}”")
        if recorded or now.gates:
            failing = [g.gate for g in now.gates if not g.passed]
            st.dataframe(gate_rows(recorded, now.gates), hide_index=True, width="stretch",
                         key=f"request_gates_{request.id}",  # a bounded gate column keeps "now" in view at 800 px
                         column_config={"gate": st.column_config.TextColumn(width="medium"),
                                        "recorded": st.column_config.TextColumn(width="small"),
                                        "now": st.column_config.TextColumn(width="small")})
            if failing:
                st.warning("Now failing: " + ", ".join(failing), icon="⚠️")
        else:
            st.caption(f"No gates for {request.stage}: it needs only approval.")
        reason = st.text_input("Reason", key=f"answer_reason_{request.id}", label_visibility="collapsed",
                               placeholder="reason (optional, recorded in the event)")
        buttons = st.columns(3)
        for col, action in zip(buttons, ("approve", "reject", "cancel")):
            decision = may_answer(settings, policy, request, user, action)
            help_text = why_not(decision.allowed, decision.reason)
            if col.button(action.capitalize(), key=f"{action}_{request.id}", disabled=help_text is not None,
                          help=help_text, type="primary" if action == "approve" else "secondary",
                          width="stretch"):
                act(partial(answer, model, request, action, reason.strip() or None))


top = st.columns(2)
model = pick_model(ctx, models, key="promote_model", container=top[0])
reset_on_change("promote_model", model, ["version", "stage"])
versions = data.versions(cat, key, model)
stage_of = {v["version"]: v["stage"] for v in versions}
# labels without the stage: the browser keeps a keyed picker's old label after an action changes it,
# so the stage is shown beside the picker (the badge below), never inside it
number = synced_select("Version", list(stage_of), key="promote_version", param="version",
                       default=versions[0]["version"], parse=int, container=top[1],
                       format_func=lambda n: f"v{n}")
here = stage_of[number]
targets = list(settings.stage_names)
stage = synced_select("Target stage", targets, key="promote_stage", param="stage",
                      default=next_stage(settings, here), container=top[0],
                      help="defaults to the next stage of the catalog's order (never archived)")
force = top[1].toggle("Override gates and approvals (approvers only, reason required)", key="promote_force")

pending = sorted(data.requests(cat, key),
                 key=lambda r: ((r["model"], r["version"], r["stage"]) != (model, number, stage),
                                r["model"] != model, r["at"]))
st.subheader(f"Pending requests ({len(pending)})")
if not pending:
    st.caption("No pending requests. A request opens when someone asks for a stage that needs approvals.")
for row in pending[:SHOWN_REQUESTS]:
    request_card(row, (row["model"], row["version"], row["stage"]) == (model, number, stage))
if len(pending) > SHOWN_REQUESTS:
    st.caption(f"{len(pending) - SHOWN_REQUESTS} more: " + ", ".join(
        f"{r['model']}@{r['version']} → {r['stage']}" for r in pending[SHOWN_REQUESTS:SHOWN_REQUESTS + 20])
        + (" …" if len(pending) > SHOWN_REQUESTS + 20 else "") + ". Pick one above to review it first.")

st.subheader(f"{model}@{number} → {stage}")
st.markdown(f"v{number} is now {badge_md(here)}")
waiting = [r for r in pending if (r["model"], r["version"], r["stage"]) == (model, number, stage)]
if here == stage:
    st.success(f"{model}@{number} is in {stage}.", icon="✅")
elif waiting:
    st.info(f"{model}@{number} → {stage} awaits approval: its request is the first one under Pending requests, "
            "with its gates as recorded and as they are now.", icon="📝")
else:
    plan = data.plan(cat, key, model, number, stage, user, force)
    if plan.gates:
        st.dataframe(pd.DataFrame([{
            "": "✅" if g.passed else "❌", "gate": g.gate, "value": g.value, "baseline": g.baseline,
            "message": g.message} for g in plan.gates]), hide_index=True, width="stretch", key="promote_gates",
            column_config={"": st.column_config.TextColumn(width="small"),
                           "value": st.column_config.NumberColumn(format="%.4g"),
                           "baseline": st.column_config.NumberColumn(
                               format="%.4g", help="the gate's threshold, or the stage holder's value")})
    elif not data.policy(cat, key, model, stage).gates:
        st.caption(f"No gates for {stage}: promotion needs only permission.")
    if plan.action == "promote":
        st.success(f"Ready: {'overriding' if force else 'promoting'} moves {model}@{number} to {stage} now.",
                   icon="✅")
    elif plan.action == "request":
        st.info(f"Gates pass; {stage} needs {plan.needs_approval} approval(s) from someone else, so this opens a "
                "request.", icon="📝")
    else:
        st.warning("Not possible now: " + in_dashboard_terms(plan.reason), icon="⛔")
    label = ("Override and promote" if force else
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

st.subheader("Rollback")
rollable = [s for s in targets if s != "archived"]
r_stage = st.selectbox("Stage", rollable, key="rollback_stage",
                       index=rollable.index("production") if "production" in rollable else 0)
decision, holder, previous = data.rollback(cat, key, model, r_stage, user)
st.caption(in_dashboard_terms(decision.reason))
help_text = why_not(decision.allowed, decision.reason)
rb_label = f"Roll back {r_stage}: v{holder} → v{previous}" if holder and previous else f"Roll back {r_stage}"
if st.button(rb_label, key="rollback_button", disabled=help_text is not None, help=help_text):
    st.session_state[DIALOG] = {
        "kind": "rollback", "model": model, "stage": r_stage, "needs_reason": True, "button": "Roll back",
        "summary": f"**Roll back {model} {r_stage}**: put v{previous} back in place of v{holder}.",
    }
st.caption(f"Acting as **{ctx.user or 'nobody (read-only)'}**")

if st.session_state.get(DIALOG):
    confirm()

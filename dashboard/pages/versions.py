"""Versions: one model's versions (filterable, stage badges, metric columns, a metric's trend),
and one version's detail: params, metrics, curves, artifacts, lineage, history."""

from __future__ import annotations

from functools import partial

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import current
from dashboard.downloads import artifact_download
from dashboard.widgets import (
    COMPARE,
    LINEAGE,
    PROMOTE,
    VERSIONS,
    act,
    badge_md,
    empty,
    metric_label,
    pick_model,
    reset_on_change,
    shown_action,
    stage_label,
    synced_select,
)
from registry_core import RegistryError, metric_key
from registry_core.integrations.card import render_card
from registry_core.lifecycle.compare import compare_with, primary_metric
from registry_core.lifecycle.policy import may_set_alias


def move_alias(model: str, number: int | None, name: str) -> str:
    """Point alias ``name`` at ``number`` (None: remove it) through the core, which re-checks the setters rule."""
    cat.alias(model, number, name, remove=number is None)
    return f"Alias {name} of {model} " + (f"now points at v{number}" if number is not None else "removed")


def aliases_editor(model: str, number: int, mine: list[str]) -> None:
    """Point an alias at this version, or remove one of its aliases, by those the alias' setters rule allows."""
    editor = st.expander("Aliases: point one here or remove one", icon="🏷️", key="versions_aliases",
                         on_change="rerun")  # lazy: its widgets run and draw only once opened
    with editor:
        if not editor.open:
            return
        known = sorted({*settings.alias_setters, *mine})
        cols = st.columns([2, 1, 1])
        name = cols[0].selectbox("Alias", known, key="alias_name", accept_new_options=True, index=None,
                                 placeholder="pick or type an alias name")
        if not name:
            st.caption("Aliases are named pointers (`champion`, `candidate`) that code resolves as MODEL@ALIAS.")
            return
        decision = may_set_alias(settings, name, ctx.user or "anonymous")
        help_text = (ctx.identity.why_read_only if not ctx.identity.can_act else
                     None if decision.allowed else decision.reason)
        if cols[1].button(f"Point {name} at v{number}", key="alias_set", disabled=help_text is not None,
                          help=help_text, width="stretch"):
            act(partial(move_alias, model, number, name))
        if cols[2].button(f"Remove {name}", key="alias_remove", disabled=help_text is not None or name not in mine,
                          help=help_text or (None if name in mine else f"{name} does not point at v{number}"),
                          width="stretch"):
            act(partial(move_alias, model, None, name))
        if help_text:
            st.caption(f"Why disabled: {help_text}")


ctx = current()
cat, key, settings = ctx.catalog, ctx.key, ctx.settings
st.title("Versions")

models = [m["model"] for m in data.models(cat, key) if m["versions"]]
if not models:
    empty("No versions registered yet.",
          "Register one with `modelreg register MODEL --metric test:roc_auc=0.9` or `Catalog.register()`; "
          "it appears here on the next refresh.")
    st.stop()

top = st.columns(2)  # two to a row: pickers stay readable at 800 px
model = pick_model(ctx, models, key="versions_model", container=top[0])
reset_on_change("versions_model", model, ["version"])
versions = data.versions(cat, key, model)
model_row = next(m for m in data.models(cat, key) if m["model"] == model)
all_stages = ["none", *settings.stage_names]
stages = top[1].multiselect("Stages", all_stages, key="versions_stages", placeholder="all stages",
                            format_func=stage_label)
below = st.columns(2)
search = below[0].text_input("Search", key="versions_search", placeholder="description, author, framework, tag…")
where = below[1].text_input("Filter on metrics and params", key="versions_filter",
                      placeholder="e.g. roc_auc[test] > 0.9 and optimizer = adam",
                      help="clauses joined by 'and': a metric[dataset] or a param, an operator (= != > >= < <=) "
                           "and a value; run as one query over the catalog's SQL views")
if model_row["tags"]:
    st.caption("Model tags: " + " · ".join(f"`{k}={v}`" for k, v in model_row["tags"].items()))

metric_keys = sorted({k for v in versions for k in v.get("metrics", {})})
headline = primary_metric(settings, metric_keys)
ordered_keys = [k for k in [headline, *metric_keys] if k is not None]
ordered_keys = list(dict.fromkeys(ordered_keys))
frame = pd.DataFrame([{
    "version": v["version"], "stage": stage_label(v["stage"]),
    **{k: v.get("metrics", {}).get(k) for k in ordered_keys[:1]},
    "created": pd.Timestamp(v["created_at"]) if v["created_at"] is not None else pd.NaT,
    "by": v["created_by"] or "", "description": v["description"] or "", "framework": v["framework"] or "",
    "tags": ", ".join(f"{k}={t}" for k, t in (v.get("tags") or {}).items()),
    **{k: v.get("metrics", {}).get(k) for k in ordered_keys[1:]},
} for v in versions])
shown = frame
if stages:
    shown = shown[[v["stage"] in stages for v in versions]]
if search:
    needle = search.lower()
    text = (shown["description"] + " " + shown["by"] + " " + shown["framework"] + " " + shown["tags"]).str.lower()
    shown = shown[text.str.contains(needle, regex=False)]
if where.strip():
    try:
        matching = set(data.filtered(cat, key, model, where.strip()))
    except RegistryError as exc:
        st.error(str(exc), icon="⛔")
        matching = None
    if matching is not None:
        shown = shown[shown["version"].isin(matching)]

st.caption(f"{len(shown)} of {len(frame)} versions of **{model}** · click a row to open it")
event = st.dataframe(
    shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
    key="versions_table", height=min(400, 38 + 35 * max(len(shown), 1)),
    column_config={
        "version": st.column_config.NumberColumn("version", format="v%d", width="small", pinned=True),
        "stage": st.column_config.TextColumn("stage", pinned=True),
        "created": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm"),
        **{k: st.column_config.NumberColumn(metric_label(k, settings) + (" ★" if k == headline else ""),
                                            format="%.4g", help="the headline metric" if k == headline else None)
           for k in metric_keys},
    })
picked = event.selection.rows if event and event.selection else []
if picked:
    number = int(shown.iloc[picked[0]]["version"])
    if number != st.session_state.get("_versions_table_pick"):
        st.session_state["_versions_table_pick"] = number
        st.query_params["version"] = str(number)

if metric_keys and len(versions) > 1:
    with st.expander("Trend of a metric across versions", expanded=True):
        trend_key = synced_select("Metric", metric_keys, key="versions_trend_metric", param="trend",
                                  default=primary_metric(settings, metric_keys),
                                  format_func=lambda k: metric_label(k, settings))
        points = pd.DataFrame([{"version": v["version"], "stage": v["stage"], "value": v["metrics"][trend_key]}
                               for v in versions if trend_key in v.get("metrics", {})]).sort_values("version")
        st.plotly_chart(charts.trend(points, metric_label(trend_key, settings)), key="versions_trend",
                        config={"displayModeBar": False})

st.divider()
numbers = [v["version"] for v in versions]
number = synced_select("Version", numbers, key="versions_version", param="version", default=numbers[0],
                       parse=int, format_func=lambda n: f"v{n}")
info = data.version(cat, key, f"{model}@{number}")
manifest = info["manifest"]

head = st.columns([3, 1, 1, 1])
with head[0]:
    st.subheader(f"{model}@{number}")
    st.markdown(" ".join([badge_md(info["stage"]), *(f":violet-badge[🏷️ {a}]" for a in info["aliases"])]))
    st.caption(f"created {manifest.get('created_at')} by {manifest.get('created_by', 'unknown')}"
               + (f" · {manifest['framework']}" if manifest.get("framework") else "")
               + (f" · {manifest['task']}" if manifest.get("task") else ""))
    if info.get("description"):  # the latest, after describe events
        st.markdown(info["description"])
    if info.get("tags"):  # after tag events
        st.caption("tags: " + ", ".join(f"{k}={v}" for k, v in sorted(info["tags"].items())))
    task = next((m["task"] for m in data.models(cat, key) if m["model"] == model), None)
    pending = [r for r in data.requests(cat, key) if r["model"] == model]
    st.download_button("⬇️ Model card", render_card(info, pending, task), file_name=f"{model}-v{number}-README.md",
                       mime="text/markdown", key="versions_card",
                       help="A Markdown model card in the Hugging Face format, as `modelreg card` writes it")
head[1].page_link(COMPARE, label="Compare →",
                  query_params={"model": model, "versions": ",".join(map(str, compare_with(versions, number)))})
head[2].page_link(LINEAGE, label="Lineage →", query_params={"model": model, "version": str(number)})
head[3].page_link(PROMOTE, label="Promote →", query_params={"model": model, "version": str(number)})

if manifest.get("tags"):
    st.caption("Tags: " + " · ".join(f"`{k}={v}`" for k, v in manifest["tags"].items()))
aliases_editor(model, number, info["aliases"])

# Lazy tabs: only the open tab's content runs and reaches the browser (every tab drawn up front, five
# tables and a chart, kept the page settling about 1 s after a bare Streamlit page).
tabs = st.tabs(["Metrics", "Params", "Artifacts", "Lineage", "History"], key="versions_tab", on_change="rerun")
with tabs[0]:
    if tabs[0].open:
        if info["headline"]:
            st.dataframe([{"metric": metric_label(metric_key(h), settings), "value": h["value"],
                           "goal": settings.goal(h["metric"])} for h in info["headline"]],
                         hide_index=True, width="stretch",
                         column_config={"value": st.column_config.NumberColumn(format="%.6g")})
        else:
            st.caption("No metrics recorded. Add a table with `modelreg log-metrics "
                       f"{model}@{number} metrics.csv`.")
        steps = data.curves(cat, key, model, (number,))
        if not steps.empty:
            names = sorted(steps["metric"].unique())
            curve = st.selectbox("Training curve", names, key="versions_curve")
            part = steps[steps["metric"] == curve]
            st.plotly_chart(charts.curves(part, metric_label(curve, settings)), key="versions_curves",
                            config={"displayModeBar": False})
with tabs[1]:
    if tabs[1].open:
        if manifest.get("params"):
            st.dataframe([{"param": k, "value": str(v)} for k, v in manifest["params"].items()], hide_index=True,
                         width="stretch")
        else:
            st.caption("No params recorded.")
with tabs[2]:
    if tabs[2].open:
        if manifest.get("artifacts"):
            st.dataframe(manifest["artifacts"], hide_index=True, width="stretch")
            st.caption(f"folder: `{info['path']}`")
            artifact_download(cat, f"{model}@{number}", "versions_artifacts")
        else:
            st.caption("No artifacts recorded (register with `--artifact PATH` to keep the model's files here).")
with tabs[3]:
    if tabs[3].open:
        lineage = info["lineage"]
        for d in lineage["datasets"]:
            st.markdown(f"📦 dataset **{d['ref']}**" + (f" ({d['role']})" if d["role"] else ""))
        for parent in lineage["parents"]:
            p_model, _, p_number = parent.rpartition("@")
            st.page_link(VERSIONS, label=f"⬆️ parent {parent}",
                         query_params={"model": p_model, "version": p_number})
        for child in lineage["children"]:
            c_model, _, c_number = child["ref"].rpartition("@")
            st.page_link(VERSIONS, label=f"⬇️ child {child['ref']} ({child['stage']})",
                         query_params={"model": c_model, "version": c_number})
        if not (lineage["datasets"] or lineage["parents"] or lineage["children"]):
            st.caption("No lineage recorded: register with `--dataset train=NAME@VERSION` or `--parent REF`.")
        for k, title in (("run", "Training run"), ("code", "Code")):
            facts = (manifest.get("lineage") or {}).get(k)
            if facts:
                st.markdown(f"**{title}**")
                st.dataframe([{"field": name, "value": "" if value is None else str(value)}
                              for name, value in (facts.items() if isinstance(facts, dict) else [(k, facts)])],
                             hide_index=True, width="stretch")
with tabs[4]:
    if tabs[4].open:
        if info["events"]:
            st.dataframe([{"at": e["at"], "by": e["by"], "action": shown_action(e), "stage": e["stage"] or "",
                           "alias": e.get("alias") or "", "reason": e["reason"] or ""} for e in info["events"]],
                         hide_index=True, width="stretch",
                         column_config={"at": st.column_config.DatetimeColumn("at (UTC)",
                                                                              format="YYYY-MM-DD HH:mm:ss")})
        else:
            st.caption("No lifecycle events for this version yet: promote it from the Promote page.")

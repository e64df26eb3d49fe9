"""Versions: one model's versions (filterable, stage badges, metric columns, a metric's trend),
and one version's detail: params, metrics, curves, artifacts, lineage, history."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import current
from dashboard.widgets import (
    COMPARE,
    LINEAGE,
    PROMOTE,
    badge_md,
    empty,
    metric_label,
    pick_model,
    reset_on_change,
    stage_label,
    synced_select,
)
from registry_core import metric_key
from registry_core.integrations.card import render_card
from registry_core.lifecycle.compare import primary_metric

ctx = current()
cat, key, settings = ctx.catalog, ctx.key, ctx.settings
st.title("Versions")

models = [m["model"] for m in data.models(cat, key) if m["versions"]]
if not models:
    empty("No versions registered yet.",
          "Register one with `modelreg register MODEL --metric test:roc_auc=0.9` or `Catalog.register()`; "
          "it appears here on the next refresh.")
    st.stop()

top = st.columns([2, 2, 3])
model = pick_model(ctx, models, key="versions_model", container=top[0])
reset_on_change("versions_model", model, ["version"])
versions = data.versions(cat, key, model)
all_stages = ["none", *settings.stage_names]
stages = top[1].multiselect("Stages", all_stages, key="versions_stages", placeholder="all stages",
                            format_func=stage_label)
search = top[2].text_input("Search", key="versions_search", placeholder="description, author, framework…")

metric_keys = sorted({k for v in versions for k in v.get("metrics", {})})
frame = pd.DataFrame([{
    "version": v["version"], "stage": stage_label(v["stage"]), "created": v["created_at"],
    "by": v["created_by"], "description": v["description"] or "", "framework": v["framework"] or "",
    **{k: v.get("metrics", {}).get(k) for k in metric_keys},
} for v in versions])
shown = frame
if stages:
    shown = shown[[v["stage"] in stages for v in versions]]
if search:
    needle = search.lower()
    text = (shown["description"] + " " + shown["by"].fillna("") + " " + shown["framework"]).str.lower()
    shown = shown[text.str.contains(needle, regex=False)]

st.caption(f"{len(shown)} of {len(frame)} versions of **{model}** · click a row to open it")
event = st.dataframe(
    shown, hide_index=True, width="stretch", on_select="rerun", selection_mode="single-row",
    key="versions_table", height=min(400, 38 + 35 * max(len(shown), 1)),
    column_config={
        "version": st.column_config.NumberColumn("version", format="%d", width="small"),
        "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm"),
        **{k: st.column_config.NumberColumn(metric_label(k, settings), format="%.4g") for k in metric_keys},
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
holders = [v["version"] for v in versions if v["stage"] == "production" and v["version"] != number]
head[1].page_link(COMPARE, label="Compare →",
                  query_params={"model": model, "versions": ",".join(map(str, [*holders[:1], number]))})
head[2].page_link(LINEAGE, label="Lineage →", query_params={"model": model, "version": str(number)})
head[3].page_link(PROMOTE, label="Promote →", query_params={"model": model, "version": str(number)})

tabs = st.tabs(["Metrics", "Params", "Artifacts", "Lineage", "History"])
with tabs[0]:
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
    if manifest.get("params"):
        st.dataframe([{"param": k, "value": str(v)} for k, v in manifest["params"].items()], hide_index=True,
                     width="stretch")
    else:
        st.caption("No params recorded.")
with tabs[2]:
    if manifest.get("artifacts"):
        st.dataframe(manifest["artifacts"], hide_index=True, width="stretch")
        st.caption(f"folder: `{info['path']}`")
    else:
        st.caption("No artifacts recorded (register with `--artifact PATH` to keep the model's files here).")
with tabs[3]:
    lineage = info["lineage"]
    for d in lineage["datasets"]:
        st.markdown(f"📦 dataset **{d['ref']}**" + (f" ({d['role']})" if d["role"] else ""))
    for parent in lineage["parents"]:
        p_model, _, p_number = parent.rpartition("@")
        st.page_link("pages/versions.py", label=f"⬆️ parent {parent}",
                     query_params={"model": p_model, "version": p_number})
    for child in lineage["children"]:
        c_model, _, c_number = child["ref"].rpartition("@")
        st.page_link("pages/versions.py", label=f"⬇️ child {child['ref']} ({child['stage']})",
                     query_params={"model": c_model, "version": c_number})
    if not (lineage["datasets"] or lineage["parents"] or lineage["children"]):
        st.caption("No lineage recorded: register with `--dataset train=NAME@VERSION` or `--parent REF`.")
    for k in ("run", "code"):
        if (manifest.get("lineage") or {}).get(k):
            st.json(manifest["lineage"][k], expanded=False)
with tabs[4]:
    if info["events"]:
        st.dataframe([{k: e[k] for k in ("at", "by", "action", "stage", "reason")} for e in info["events"]],
                     hide_index=True, width="stretch")
    else:
        st.caption("No lifecycle events for this version yet: promote it from the Promote page.")

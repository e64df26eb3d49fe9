"""Compare: headline table (best marked, deltas to a chosen baseline), bars per metric, training
curves, a two-metric trade-off across all versions with the Pareto front, parallel coordinates of
params against a metric, and the params that differ."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.charts import BEST_CELL, BETTER, WORSE
from dashboard.context import current
from dashboard.widgets import (
    VERSIONS,
    empty,
    metric_label,
    pick_model,
    reset_on_change,
    stage_label,
    synced_multiselect,
    synced_select,
)
from registry_core import metric_key
from registry_core.lifecycle.compare import default_bars, default_versions, pareto_front, primary_metric, tunable_params

AXES = 8  # parallel-coordinate axes beyond this overlap their labels
BARS = 3  # bar charts shown at first: one row (each is a subplot a browser draws; more are one pick away)

ctx = current()
cat, key, settings = ctx.catalog, ctx.key, ctx.settings
st.title("Compare")

models = [m["model"] for m in data.models(cat, key) if m["versions"]]
if not models:
    empty("Nothing to compare yet.", "Register at least two versions of a model, then pick them here.")
    st.stop()

top = st.columns([3, 1])
model = pick_model(ctx, models, key="compare_model", container=top[0])
reset_on_change("compare_model", model, ["versions", "baseline"])
versions = data.versions(cat, key, model)
stage_of = {v["version"]: v["stage"] for v in versions}
numbers = [v["version"] for v in versions]
chosen = synced_multiselect("Versions", numbers, key="compare_versions", param="versions",
                            default=default_versions(versions), parse=int, wrap=True,
                            format_func=lambda n: f"v{n} · {stage_of[n]}",
                            placeholder="pick versions (default: production, staging, newest)")
if not chosen:
    empty("Pick one or more versions to compare.", "By default the production and staging holders and the newest "
                                                   "version are picked.")
    st.stop()
baseline = synced_select("Baseline", chosen, key="compare_baseline", param="baseline", default=chosen[0],
                         parse=int, container=top[1], format_func=lambda n: f"v{n}",
                         help="deltas are measured from this version")

ordered = [baseline, *[n for n in chosen if n != baseline]]
comparison = data.compare(cat, key, tuple(f"{model}@{n}" for n in ordered))
refs = [f"{model}@{n}" for n in chosen]

links = st.columns(min(len(chosen), 6))
for i, n in enumerate(chosen):
    links[i % len(links)].page_link(VERSIONS, label=f"v{n} {stage_label(stage_of[n])} →",
                                    query_params={"model": model, "version": str(n)})

st.subheader("Headline metrics")
rows = []
for row in comparison.rows:
    row["key"] = metric_key(row)
    flat = {"metric": metric_label(row["key"], settings), "goal": "↑ max" if row["goal"] == "max" else "↓ min"}
    for ref in refs:
        flat[f"v{ref.rsplit('@', 1)[1]}"] = row["values"][ref]
    for ref in refs:
        if ref != f"{model}@{baseline}":
            flat[f"Δ v{ref.rsplit('@', 1)[1]}"] = row["deltas"][ref]
    rows.append(flat)
if rows:
    table = pd.DataFrame(rows)
    best_cells = {(i, f"v{ref.rsplit('@', 1)[1]}") for i, row in enumerate(comparison.rows) for ref in row["best"]}

    def _style(frame: pd.DataFrame) -> pd.DataFrame:
        styles = pd.DataFrame("", index=frame.index, columns=frame.columns)
        for i, column in best_cells:
            styles.loc[i, column] = BEST_CELL
        for i, row in enumerate(comparison.rows):
            sign = 1 if row["goal"] == "max" else -1
            for column in frame.columns:
                value = frame.loc[i, column]
                if column.startswith("Δ ") and pd.notna(value) and value != 0:
                    styles.loc[i, column] = BETTER if value * sign > 0 else WORSE
        return styles

    number_columns = [c for c in table.columns if c not in ("metric", "goal")]
    styled = table.style.apply(_style, axis=None).format(
        {c: (lambda v: "" if pd.isna(v) else f"{v:+.4g}") if c.startswith("Δ") else
         (lambda v: "" if pd.isna(v) else f"{v:.4g}") for c in number_columns})
    st.dataframe(styled, hide_index=True, width="stretch", key="compare_table", height=38 + 35 * len(table))
    st.caption(f"Best value per metric highlighted (by each metric's goal); Δ is each version minus the baseline "
               f"v{baseline}, green when better.")
    keys = [r["key"] for r in comparison.rows]
    first = primary_metric(settings, keys)
    suggested = default_bars(keys, first, limit=BARS)
    barred = synced_multiselect("Bar charts for", keys, key="compare_bar_metrics", param="bars", default=suggested,
                                format_func=lambda k: metric_label(k, settings))
    if barred:
        shown_rows = [r for r in comparison.rows if r["key"] in barred]
        st.plotly_chart(charts.bars(shown_rows, refs, {r["key"]: metric_label(r["key"], settings)
                                                       for r in shown_rows}),
                        key="compare_bars", config={"displayModeBar": False})
else:
    st.caption("These versions have no headline metrics.")

steps = data.curves(cat, key, model, tuple(chosen))
st.subheader("Training curves")
if steps.empty:
    st.caption("None of these versions logged stepped metrics (rows with a `step`: one per epoch or iteration).")
else:
    names = sorted(steps["metric"].unique())
    curve = synced_select("Curve", names, key="compare_curve", param="curve",
                          format_func=lambda k: metric_label(k, settings))
    st.plotly_chart(charts.curves(steps[steps["metric"] == curve], metric_label(curve, settings)),
                    key="compare_curves", config={"displayModeBar": False})

all_keys = sorted({k for v in versions for k in v.get("metrics", {})})
# Two lazy tabs, not two columns: only the open one runs and draws (the parallel coordinates are WebGL,
# slow to draw in a browser without a GPU; both together kept Compare ~2 s behind a bare Streamlit page).
left, right = st.tabs(["Trade-off across all versions", "Params against a metric"], key="compare_view",
                      on_change="rerun")
with left:
    if left.open and len(all_keys) < 2:
        st.caption("Needs two metrics recorded on this model's versions.")
    elif left.open:
        first = primary_metric(settings, all_keys)
        cx, cy = st.columns(2)
        x_key = synced_select("x", all_keys, key="compare_x", param="x", default=first,
                              container=cx, format_func=lambda k: metric_label(k, settings))
        y_key = synced_select("y", all_keys, key="compare_y", param="y",
                              default=next(k for k in all_keys if k != x_key), container=cy,
                              format_func=lambda k: metric_label(k, settings))
        points = pd.DataFrame([{"version": v["version"], "stage": v["stage"], "x": v["metrics"][x_key],
                                "y": v["metrics"][y_key]} for v in versions
                               if x_key in v.get("metrics", {}) and y_key in v.get("metrics", {})])
        if points.empty:
            st.caption("No version has both metrics.")
        else:
            goals = (settings.goal(x_key.split("[", 1)[0]), settings.goal(y_key.split("[", 1)[0]))
            front = [int(k) for k in pareto_front({str(r.version): (r.x, r.y) for r in points.itertuples()}, goals)]
            st.plotly_chart(charts.tradeoff(points, front, chosen, metric_label(x_key, settings),
                                            metric_label(y_key, settings)), key="compare_tradeoff",
                            config={"displayModeBar": False})
            st.caption(f"Pareto front ({' & '.join(f'{g} {k}' for g, k in zip(goals, (x_key, y_key)))}): "
                       + ", ".join(f"v{n}" for n in front))
with right:
    frame = data.params(cat, key, model) if right.open else pd.DataFrame()
    numeric = [c for c in tunable_params(list(frame.columns))
               if pd.to_numeric(frame[c], errors="coerce").notna().all() and frame[c].nunique() > 1][:AXES]
    if right.open and (not numeric or not all_keys):
        st.caption("Needs numeric params that vary across versions, and a metric.")
    elif right.open:
        color_key = synced_select("Metric", all_keys, key="compare_color", param="color",
                                  default=primary_metric(settings, all_keys),
                                  format_func=lambda k: metric_label(k, settings))
        values = {v["version"]: v["metrics"][color_key] for v in versions if color_key in v.get("metrics", {})}
        table = frame[numeric].apply(pd.to_numeric).loc[[n for n in frame.index if n in values]]
        table[color_key] = [values[n] for n in table.index]
        st.plotly_chart(charts.parallel(table, color_key, metric_label(color_key, settings)),
                        key="compare_parallel", config={"displayModeBar": False})

st.subheader("Params that differ")
differing = comparison.differing_params
if differing:
    st.dataframe([{"param": p["name"], **{f"v{ref.rsplit('@', 1)[1]}": None if p["values"][ref] is None
                                          else str(p["values"][ref]) for ref in refs}} for p in differing],
                 hide_index=True, width="stretch", key="compare_params")
else:
    st.caption("All compared versions share the same params." if len(chosen) > 1 else
               "Pick a second version to see which params differ.")

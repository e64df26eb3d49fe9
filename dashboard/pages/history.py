"""History: the audit trail with filters and CSV download; a timeline of which version held each stage
when, with monitoring metrics over time and the promotions marked on it."""

from __future__ import annotations

import datetime as dt
from functools import partial

import pandas as pd
import streamlit as st

from dashboard import charts, data
from dashboard.context import current
from dashboard.widgets import TRAIL_COLUMNS as COLUMNS
from dashboard.widgets import empty, pick_model, shown_action, synced_multiselect, trail_csv

ctx = current()
cat, key, settings = ctx.catalog, ctx.key, ctx.settings
st.title("History")

events = data.history(cat, key)
models = [m["model"] for m in data.models(cat, key) if m["versions"]]

st.subheader("Audit trail")
if not events:
    empty("No lifecycle events yet.", "Promotions, requests, approvals, rollbacks and alias moves are recorded "
                                      "here, newest first, once someone makes one (Promote page or CLI).")
else:
    f = st.columns([2, 2, 2, 3])
    chosen_models = synced_multiselect("Models", sorted({e["model"] for e in events}), key="history_models",
                                       param="models", container=f[0], placeholder="all models")
    actions = synced_multiselect("Actions", sorted({shown_action(e) for e in events}), key="history_actions",
                                 param="actions", container=f[1], placeholder="all actions")
    people = synced_multiselect("People", sorted({e["by"] for e in events}), key="history_people",
                                param="by", container=f[2], placeholder="everyone")
    search = f[3].text_input("Search reasons", key="history_search", placeholder="text in the reason…")
    first, last = min(e["at"] for e in events).date(), max(e["at"] for e in events).date()
    period = st.date_input("Between", (first, last), min_value=first, max_value=last, key="history_period")
    rows = [e for e in events
            if (not chosen_models or e["model"] in chosen_models) and (not actions or shown_action(e) in actions)
            and (not people or e["by"] in people)
            and (not search or search.lower() in (e["reason"] or "").lower())
            and (len(period) != 2 or period[0] <= e["at"].date() <= period[1])]
    st.caption(f"{len(rows)} of {len(events)} events, newest first")
    st.dataframe(pd.DataFrame([{**{c: e.get(c) for c in COLUMNS}, "action": shown_action(e)} for e in rows],
                              columns=COLUMNS), hide_index=True,
                 width="stretch", key="history_table", height=min(420, 38 + 35 * max(len(rows), 1)),
                 column_config={"at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                                "version": st.column_config.NumberColumn(format="%d"),
                                "rollback_of": st.column_config.NumberColumn(
                                    "rollback of", format="v%d", help="the version this rollback replaced"),
                                "forced": st.column_config.CheckboxColumn()})
    st.download_button("Download CSV", partial(trail_csv, rows), file_name="modelreg-history.csv",
                       mime="text/csv", key="history_csv", icon="⬇️")

st.subheader("Stage timeline")
if not models:
    st.caption("No models yet.")
    st.stop()
model = pick_model(ctx, models, key="history_model")
state = data.state(cat, key, model)
spans = [vars(s) for s in state.spans]
promotions = [{"at": e["at"], "stage": e["stage"],
               "label": f"v{e['version']} → {e['stage']} by {e['by']}" + (" (rollback)" if e["rollback_of"] else "")
                        + (f": {e['reason']}" if e["reason"] else "")}
              for e in data.history(cat, key, model) if e["action"] == "promote"]
monitoring = data.monitoring(cat, key, model)
if not monitoring.empty:
    series = sorted(monitoring["metric"].unique())
    picked = synced_multiselect("Monitoring metrics", series, key="history_monitor", param="monitor",
                                default=series[:2])
    monitoring = monitoring[monitoring["metric"].isin(picked)]
if not spans:
    st.caption(f"No version of {model} has held a stage yet: promote one and its time in the stage is drawn here.")
else:
    stages = [s for s in settings.stage_names if s != "archived"]
    stages += sorted({s["stage"] for s in spans} - set(stages))
    st.plotly_chart(charts.timeline(spans, promotions, monitoring, stages, dt.datetime.now(dt.UTC)),
                    key="history_timeline", config={"displayModeBar": False})
    st.caption("Bars: which version held each stage, and when (colours follow the versions in every chart). "
               "▼ marks each promotion or rollback; the lower panel shows time-stamped metrics of the deployed "
               "versions (monitoring).")

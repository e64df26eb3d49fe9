"""Overview: counts, every model with its stage holders and headline metric, pending approvals,
recent activity and the catalog's problems."""

from __future__ import annotations

import datetime as dt

import streamlit as st

from dashboard import data
from dashboard.context import current
from dashboard.widgets import PROMOTE, VERSIONS, empty, metric_label, problems_panel
from registry_core.lifecycle.compare import primary_metric
from registry_core.lifecycle.events import sentence

ctx = current()
cat, key = ctx.catalog, ctx.key
st.title("Overview")

models = data.models(cat, key)
requests = data.requests(cat, key)
events = data.history(cat, key)
week_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=7)

c1, c2, c3, c4, c5 = st.columns(5)
c1.metric("Models", len(models))
c2.metric("Versions", sum(m["versions"] or 0 for m in models))
c3.metric("In production", sum(len(m["stages"].get("production", [])) for m in models))
c4.metric("Pending approvals", len(requests))
c5.metric("Events this week", sum(e["at"] >= week_ago for e in events))

if not models:
    empty("This catalog has no models yet.",
          "Register a first version from your training code (`Catalog(path).register(\"my-model\", metrics=...)`) "
          "or the command line: `modelreg register my-model --metric test:roc_auc=0.9`. It shows up here on the "
          "next refresh.")
else:
    st.subheader("Models")
    stages = [s for s in ctx.settings.stage_names if s != "archived"]
    keys_of = data.headline_keys(cat, key)
    # the version whose headline is shown: the production holder, else the newest
    shown = {m["model"]: ((m["stages"].get("production") or [m["latest"]])[0]) for m in models if m["latest"]}
    values = data.headline_values(cat, key, tuple(sorted(shown.items())))
    rows = []
    for m in models:
        headline = primary_metric(ctx.settings, keys_of.get(m["model"], []))
        number = shown.get(m["model"])
        row = {"model": m["model"], "open": f"versions?model={m['model']}", "latest": m["latest"],
               "versions": m["versions"]}
        for stage in stages:
            row[stage] = ", ".join(f"v{v}" for v in m["stages"].get(stage, [])) or "—"
        row["headline"] = metric_label(headline, ctx.settings) if headline else "—"
        row["value"] = values.get((m["model"], number), {}).get(headline) if headline else None
        row["of"] = f"v{number}" + (" (production)" if m["stages"].get("production") else " (newest)") \
            if headline else ""
        row["description"] = m["description"] or ""
        rows.append(row)
    st.dataframe(rows, hide_index=True, width="stretch", key="overview_models", column_config={
        "value": st.column_config.NumberColumn("headline value", format="%.4g"),
        "of": st.column_config.TextColumn("measured on", help="the production version, else the newest"),
        "open": st.column_config.LinkColumn("open", display_text="versions →"),
    })
    go_cols = st.columns([3, 1])
    target = go_cols[0].selectbox("Open a model", [m["model"] for m in models], key="overview_open_model")
    go_cols[1].page_link(VERSIONS, label=f"Versions of {target} →", query_params={"model": target})

left, right = st.columns(2)
with left:
    st.subheader("Pending approvals")
    if not requests:
        st.caption("Nothing waits for approval. Requests appear here when someone asks for a stage that needs "
                   "an approver (Promote page or `modelreg promote`).")
    for r in requests:
        with st.container(border=True):
            st.markdown(f"**{r['model']}@{r['version']} → {r['stage']}** · asked by {r['by']} "
                                    f"· {r['approvals']}/{r['needed']} approvals")
            if r.get("reason"):
                st.caption(r["reason"])
            st.page_link(PROMOTE, label="Review on Promote →",
                         query_params={"model": r["model"], "version": str(r["version"]), "stage": r["stage"]})
with right:
    st.subheader("Recent activity")
    if not events:
        st.caption("No lifecycle events yet: promotions, requests and approvals are listed here.")
    for e in events[:8]:
        st.markdown(f"`{e['at']:%Y-%m-%d %H:%M}` {sentence(e)}")

if ctx.problems:
    problems_panel(ctx.problems, expanded=True)
else:
    st.caption("✅ No problems found in the catalog's files.")

"""Lineage: one version's datasets, parents and children as a stage-coloured graph, and a dataset's
impact: every version (and deployment) that used it."""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.context import current
from dashboard.widgets import LINEAGE, VERSIONS, empty, pick_model, reset_on_change, stage_label, synced_select
from registry_core.integrations.impact import usage_by_version
from registry_core.integrations.lineage_dot import STAGE_COLORS, to_dot

ctx = current()
cat, key = ctx.catalog, ctx.key
st.title("Lineage")

models = [m["model"] for m in data.models(cat, key) if m["versions"]]
if not models:
    empty("No versions registered yet.", "Lineage appears once versions name their datasets (`--dataset "
                                         "train=NAME@VERSION`) or parents (`--parent MODEL@N`).")
    st.stop()

top = st.columns(2)  # the pickers span the page: at 800 px a third of it is too narrow for a name
model = pick_model(ctx, models, key="lineage_model", container=top[0])
reset_on_change("lineage_model", model, ["version"])
versions = data.versions(cat, key, model)
stage_of = {v["version"]: v["stage"] for v in versions}
number = synced_select("Version", list(stage_of), key="lineage_version", param="version",
                       default=versions[0]["version"], parse=int, container=top[1],
                       format_func=lambda n: f"v{n} · {stage_of[n]}")
graph_col, impact_col = st.columns([3, 2], gap="large")
with graph_col:
    info = data.lineage(cat, key, f"{model}@{number}")
    parent_stages = {}
    for parent in info["parents"]:
        p_model, _, p_number = parent.rpartition("@")
        if p_model in models:
            found = {v["version"]: v["stage"] for v in data.versions(cat, key, p_model)}
            parent_stages[parent] = found.get(int(p_number), "none") if p_number.isdigit() else "none"
    st.graphviz_chart(to_dot(info, parent_stages), width="stretch")
    st.caption("Colours: " + " · ".join(f"<span style='color:{c}'>■</span> {s}" for s, c in STAGE_COLORS.items()),
               unsafe_allow_html=True)
    related = [*info["parents"], *(c["ref"] for c in info["children"])]
    if related:
        st.markdown("**Go to a related version**")
        cols = st.columns(min(len(related), 4))
        for i, ref in enumerate(related):
            r_model, _, r_number = ref.rpartition("@")
            kind = "parent" if ref in info["parents"] else "child"
            cols[i % len(cols)].page_link(LINEAGE, label=f"{kind} {ref} →",
                                          query_params={"model": r_model, "version": r_number})
    elif not info["datasets"]:
        st.caption(f"{info['ref']} records no datasets, parents or children. Register versions with "
                   "`--dataset train=NAME@VERSION` and `--parent REF` to draw the graph.")
    st.page_link(VERSIONS, label=f"Open {info['ref']} →", query_params={"model": model, "version": str(number)})

with impact_col:
    st.subheader("Dataset impact")
    datasets = data.datasets(cat, key)
    if not datasets:
        st.caption("No version names a dataset yet.")
        st.stop()
    names = [d["name"] for d in datasets]
    mine = [d["ref"].split("@", 1)[0] for d in info["datasets"]]
    dataset = synced_select("Dataset", names, key="lineage_dataset", param="dataset",
                            default=mine[0] if mine else names[0])
    usage = data.dataset_usage(cat, key, dataset)
    deployed = [u for u in usage if u["deployed"]]
    c1, c2, c3 = st.columns(3)
    c1.metric("Versions", len({(u["model"], u["version"]) for u in usage}))
    c2.metric("Models", len({u["model"] for u in usage}))
    c3.metric("Ever deployed", len({(u["model"], u["version"]) for u in deployed}),
              help="versions that held a stage (staging, production...) at some time")
    st.dataframe([{"version": r["ref"], "stage now": stage_label(r["stage"]), "ever held": ", ".join(r["deployed"])
                   or "—", "roles": ", ".join(r["roles"]), "dataset versions": ", ".join(r["dataset_versions"])}
                  for r in usage_by_version(usage)], hide_index=True, width="stretch", key="lineage_usage")
    refs = list(dict.fromkeys(f"{u['model']}@{u['version']}" for u in usage))
    target = st.selectbox("Open a version that used it", refs, key="lineage_open")
    if target:
        t_model, _, t_number = target.rpartition("@")
        st.page_link(VERSIONS, label=f"{target} →", query_params={"model": t_model, "version": t_number})

"""modelreg dashboard: the router and the shared sidebar (catalog, acting user, refresh, problems).

Run with ``streamlit run app.py`` or ``modelreg ui``; the catalog is
``$MODELREG_CATALOG``, else the bundled demo ``catalog/`` next to this file.
"""

from __future__ import annotations

import streamlit as st

from dashboard import data
from dashboard.context import DEMO_KEY, build_context, catalog_path, run_with
from dashboard.identity import DEMO_ENV, demo_mode, demo_users
from dashboard.widgets import show_flash
from registry_core import RegistryError

st.set_page_config(page_title="modelreg", page_icon="📦", layout="wide")

PAGES = [
    st.Page("dashboard/pages/overview.py", title="Overview", icon="🏠", default=True),
    st.Page("dashboard/pages/versions.py", title="Versions", icon="🗂️"),
    st.Page("dashboard/pages/compare.py", title="Compare", icon="📊"),
    st.Page("dashboard/pages/lineage.py", title="Lineage", icon="🧬"),
    st.Page("dashboard/pages/promote.py", title="Promote", icon="🚀"),
    st.Page("dashboard/pages/history.py", title="History", icon="🕑"),
]
page = st.navigation(PAGES)

try:
    ctx = build_context()
except RegistryError as exc:
    st.error(f"Cannot open the catalog: {exc}", icon="⛔")
    st.info(f"Set MODELREG_CATALOG to a catalog folder, or create one with `modelreg init {catalog_path()}`.")
    st.stop()
except Exception as exc:  # an unreadable index or a bug: say so, and offer the way out
    st.error(f"Cannot read the catalog at {catalog_path()}: {type(exc).__name__}: {exc}", icon="⛔")
    st.caption("The index in .modelreg/ is a cache: deleting it is always safe. `modelreg validate` lists "
               "broken files.")
    st.exception(exc)
    st.stop()

with st.sidebar:
    st.markdown(f"**{ctx.settings.name}**")
    st.caption(f"`{ctx.catalog.root}`")
    if demo_mode(ctx.settings):
        why = "demo catalog" if ctx.settings.demo else f"demo mode, {DEMO_ENV}=1"
        st.selectbox(f"🎭 Act as ({why})", demo_users(ctx.settings, ctx.identity), key=DEMO_KEY,
                     help="Demo only: lets one browser play several people (a lead approves, a data scientist "
                          "requests). Real catalogs do not have it.")
        if not ctx.settings.roles_of(ctx.user or ""):
            roles = ", ".join(f"{u} ({', '.join(ctx.settings.roles_of(u))})"
                              for u in demo_users(ctx.settings, ctx.identity) if ctx.settings.roles_of(u))
            st.info(f"A demo catalog: act as someone with a role ({roles}) to try requesting, approving and "
                    "rolling back.", icon="🎭")
    if ctx.user:
        roles = ctx.settings.roles_of(ctx.user)
        st.markdown(f"👤 **{ctx.user}**")
        st.caption(f"roles: {', '.join(roles) if roles else 'none'} · from {ctx.identity.source}")
    else:
        st.markdown("👤 **read-only**")
        st.caption(ctx.identity.why_read_only)
    if st.button("Refresh", key="refresh", icon="🔄", help="Re-read the catalog folder (new files show up anyway "
                                                           "on every rerun)"):
        data.clear()
        st.rerun()
    if ctx.problems:
        errors = sum(p["severity"] == "error" for p in ctx.problems)
        st.warning(f"{errors} error(s), {len(ctx.problems) - errors} warning(s) in catalog files: see Overview.",
                   icon="⚠️")

show_flash()
# One freshness check of the index per rerun: every read of the page sees the same generation
# (lifecycle writes step outside it, under their lock, to decide on the files as they are now).
with run_with(ctx), ctx.catalog.snapshot(check=False):  # build_context has just checked
    try:
        page.run()
    except RegistryError as exc:
        st.error(str(exc), icon="⛔")
    except Exception as exc:  # a bug must not take the whole dashboard down: show it, keep the sidebar
        st.error(f"This page failed: {type(exc).__name__}: {exc}", icon="🐞")
        st.exception(exc)

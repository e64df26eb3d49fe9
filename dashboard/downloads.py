"""Downloading a version's artifacts from the dashboard: fetched and verified by the core (like ``pull``),
only on request and within a size limit; larger ones are shown by URI for ``modelreg pull``."""

from __future__ import annotations

import streamlit as st

from registry_core import Catalog, RegistryError

LIMIT = 200 * 2**20  # bytes a browser download may hold; larger artifacts are linked by URI


def artifact_download(cat: Catalog, ref: str, key: str) -> None:
    """A "prepare" button; once clicked, the download button (or the URIs when too large, or the error)."""
    if not st.button("⬇️ Prepare download", key=f"{key}_prepare",
                     help=f"fetch and verify the files (up to {LIMIT >> 20} MB together)"):
        return
    try:
        bundle = cat.artifact_download(ref, LIMIT)
    except RegistryError as exc:
        st.error(str(exc))
        return
    if bundle["data"] is None:
        st.info(f"{bundle['size'] / 1e6:,.1f} MB is too large for a browser download: `modelreg pull {ref} "
                "--to DIR` fetches and verifies it.\n\n" + "\n".join(f"- `{uri}`" for uri in bundle["uris"]))
        return
    st.download_button(f"⬇️ {bundle['name']} ({bundle['size'] / 1e6:,.1f} MB)", bundle["data"],
                       file_name=bundle["name"], key=f"{key}_file", on_click="ignore")

"""The catalog, the acting user and the fingerprint of one script run.

``app.py`` builds the context once per run and hands it to the page through a
thread-local (each session's script runs in its own thread), so the index is
refreshed once per run.  The pages live in ``dashboard/pages/``, not in a ``pages/``
folder next to app.py, so Streamlit never starts in its legacy multipage mode:
every page run goes through app.py's ``st.navigation``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import streamlit as st

from registry_core import Catalog
from registry_core.format.settings import Settings

from .identity import DEMO_ENV, Identity, demo_mode, demo_users, resolve_identity

APP_DIR = Path(__file__).resolve().parent.parent
_local = threading.local()
DEMO_KEY = "demo_user"


def catalog_path() -> Path:
    """``$MODELREG_CATALOG``, else the bundled demo ``catalog/`` next to app.py."""
    named = os.environ.get("MODELREG_CATALOG")
    return Path(named).expanduser().resolve() if named else APP_DIR / "catalog"


@st.cache_resource(show_spinner=False)
def open_catalog(path: str) -> Catalog:
    """One Catalog per folder, shared by every session (reads are thread-safe); sessions act through as_user.

    It watches the folder (inotify), so a rerun that finds nothing changed stats nothing; where it
    cannot (no watchdog, inotify's limit), every rerun checks every folder instead."""
    catalog = Catalog(path)
    catalog.watch()
    return catalog


@dataclass
class Context:
    """What a page needs: the catalog acting as this session's user, and a cache key that is never stale."""

    catalog: Catalog
    identity: Identity
    fingerprint: str
    settings: Settings
    problems: list[dict] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str]:
        """Cache key of every loader: the folder and its current fingerprint."""
        return str(self.catalog.root), self.fingerprint

    @property
    def user(self) -> str | None:
        return self.identity.user


def build_context() -> Context:
    """Open (or reuse) the catalog, pick up changes on disk, and resolve who is acting."""
    shared = open_catalog(str(catalog_path()))
    if shared.indexed:
        generation = shared.refresh()
    else:  # a first build reads every file (a fresh clone of a big catalog: seconds), say so
        with st.spinner("Indexing the catalog for the first time (about 1 s per 1,500 versions)..."):
            generation = shared.refresh()
    settings = generation.settings
    identity = resolve_identity(settings)
    if demo_mode(settings):
        chosen = st.session_state.get(DEMO_KEY)
        if chosen and chosen != identity.user and chosen in demo_users(settings, identity):
            source = "demo catalog: acting as" if settings.demo else f"demo: acting as ({DEMO_ENV}=1)"
            identity = Identity(chosen, source)
    catalog = shared.as_user(identity.user or "anonymous")
    from . import data  # data imports this module for Context

    return Context(catalog, identity, generation.folder.name, settings, data.problems(catalog, (str(shared.root),
                                                                                                generation.folder.name)))


@contextmanager
def run_with(ctx: Context) -> Iterator[None]:
    """Make ``ctx`` the context of the page that runs inside this block (same thread)."""
    _local.ctx = ctx
    try:
        yield
    finally:
        _local.ctx = None


def current() -> Context:
    """The context of this run: the one app.py built, else a fresh one (a page script run on its own)."""
    ctx = getattr(_local, "ctx", None)
    return ctx if ctx is not None else build_context()

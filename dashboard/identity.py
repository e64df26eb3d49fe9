"""Who is acting: Streamlit sign-in, else a trusted proxy header, else $MODELREG_USER, else git.

The order is the SPEC's.  A browser cannot choose its identity: a header is
trusted only when registry.yaml names it (``auth: {trusted_header: ...}``),
and the demo "act as" selector exists only for a catalog whose registry.yaml says
``demo: true`` (the bundled demo) or when the server was started with ``MODELREG_DEMO_USERS=1``.
When sign-in or a trusted header is configured but
absent, the session is read-only rather than falling back to the server's user.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from registry_core.format.settings import Settings, default_user

DEMO_ENV = "MODELREG_DEMO_USERS"


@dataclass(frozen=True)
class Identity:
    user: str | None  # None: read-only session
    source: str  # where the identity came from, shown in the sidebar
    why_read_only: str = ""

    @property
    def can_act(self) -> bool:
        return self.user is not None


def _signed_in() -> Identity | None:
    info = st.user.to_dict()
    if "is_logged_in" not in info:  # no [auth] section in secrets.toml: Streamlit sign-in is not configured
        return None
    if info.get("is_logged_in"):
        user = info.get("email") or info.get("sub")
        if user:
            return Identity(str(user), "Streamlit sign-in")
    return Identity(None, "Streamlit sign-in", "sign in to promote, approve or roll back")


def _from_header(settings: Settings) -> Identity | None:
    header = settings.trusted_header
    if not header:
        return None
    value = (st.context.headers.get(header) or "").strip()
    if value:
        return Identity(value, f"header {header}")
    return Identity(None, f"header {header}",
                    f"no {header} header on this request: open the dashboard through the login proxy to act")


def resolve_identity(settings: Settings) -> Identity:
    found = _signed_in() or _from_header(settings)
    if found is not None:
        return found
    if os.environ.get("MODELREG_USER"):
        return Identity(os.environ["MODELREG_USER"], "MODELREG_USER")
    return Identity(default_user(), "git user.email (or login name)")


def demo_mode(settings: Settings) -> bool:
    """The "act as" picker: on for a demo catalog (``demo: true`` in registry.yaml) or ``MODELREG_DEMO_USERS=1``."""
    return settings.demo or os.environ.get(DEMO_ENV) == "1"


def demo_users(settings: Settings, identity: Identity) -> list[str]:
    """Who the demo selector offers: the resolved user and everyone named in registry.yaml's roles."""
    users = {member for members in settings.roles.values() for member in members}
    first = [identity.user] if identity.user else []
    return first + sorted(users - set(first))

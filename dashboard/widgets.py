"""Shared widgets: stage badges, selectors kept in the URL, the problems panel, toasts, empty states."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import streamlit as st

from registry_core import RegistryError, formats
from registry_core.format.settings import Settings

STAGE_BADGE = {"production": "green", "staging": "orange", "archived": "gray", "none": "gray"}
STAGE_MARK = {"production": "🟢", "staging": "🟡", "archived": "⚪", "none": "·"}
FLASH_KEY = "_flash"

# Page files, for st.page_link / st.switch_page (paths relative to app.py, as st.navigation lists them).
OVERVIEW, VERSIONS, COMPARE = (f"dashboard/pages/{name}.py" for name in ("overview", "versions", "compare"))
LINEAGE, PROMOTE, HISTORY = (f"dashboard/pages/{name}.py" for name in ("lineage", "promote", "history"))


def stage_label(stage: str | None) -> str:
    """A stage as table text: a coloured mark and the name (tables cannot hold badges)."""
    stage = stage or "none"
    return f"{STAGE_MARK.get(stage, '🔵')} {stage}"


def badge_md(stage: str | None) -> str:
    """A stage badge in Markdown (``:green-badge[production]``), to sit in a line of text."""
    stage = stage or "none"
    return f":{STAGE_BADGE.get(stage, 'blue')}-badge[{stage}]"


def badge(stage: str | None) -> None:
    st.markdown(badge_md(stage))


def metric_label(key: str, settings: Settings) -> str:
    """``latency_p95_ms [ms]``: a metric key with its unit from registry.yaml."""
    unit = settings.unit(key.split("[", 1)[0])
    return f"{key} ({unit})" if unit else key


def _url_value(param: str) -> str | None:
    value = st.query_params.get(param)
    return value if value not in (None, "") else None


def synced_select(label: str, options: Sequence, key: str, param: str, default: Any = None,
                  parse: Callable[[str], Any] = str, container=st, **kwargs) -> Any:
    """A selectbox whose choice lives in the URL (``?param=``), so every view can be shared by link.

    A new URL (a link, a pasted address) wins over the widget's remembered value; a new choice in
    the widget is written back to the URL.
    """
    options = list(options)
    seen_key = f"{key}__url"
    url = _url_value(param)
    sticky = f"_last_{param}"
    if url != st.session_state.get(seen_key) or st.session_state.get(key) not in options:
        wanted = st.session_state.get(sticky, default)
        if url is not None:
            try:
                wanted = parse(url)
            except (TypeError, ValueError):
                wanted = None
        chosen = wanted if wanted in options else (default if default in options else
                                                   (options[0] if options else None))
        st.session_state[key] = chosen
        if url is not None and wanted not in options:  # a bad link says so, never silently shows another thing
            st.warning(f"{label} {url!r} from the link was not found; showing {chosen} instead.", icon="🔎")
    value = container.selectbox(label, options, key=key, **kwargs)
    text = None if value is None else str(value)
    if text is None:
        st.query_params.pop(param, None)
    else:
        st.query_params[param] = text
    st.session_state[seen_key] = text
    st.session_state[sticky] = value
    return value


def synced_multiselect(label: str, options: Sequence, key: str, param: str, default: Sequence = (),
                       parse: Callable[[str], Any] = str, container=st, **kwargs) -> list:
    """A multiselect kept in the URL as a comma-separated list."""
    options = list(options)
    seen_key = f"{key}__url"
    url = _url_value(param)
    if url != st.session_state.get(seen_key) or key not in st.session_state:
        wanted = []
        for part in (url or "").split(","):
            try:
                wanted.append(parse(part))
            except (TypeError, ValueError):
                continue
        if url is None:
            wanted = list(default)
        st.session_state[key] = [w for w in dict.fromkeys(wanted) if w in options]
    else:
        st.session_state[key] = [v for v in st.session_state[key] if v in options]
    values = container.multiselect(label, options, key=key, **kwargs)
    text = ",".join(str(v) for v in values)
    if text:
        st.query_params[param] = text
    else:
        st.query_params.pop(param, None)
    st.session_state[seen_key] = text or None
    return values


def pick_model(ctx, models: list[str], key: str, container=st) -> str | None:
    """The model selector every page starts with (``?model=``)."""
    if not models:
        return None
    return synced_select("Model", models, key=key, param="model", default=models[0], container=container)


def empty(message: str, hint: str = "") -> None:
    """An empty state that tells the user what to do next."""
    st.info(message + (f"\n\n{hint}" if hint else ""), icon="ℹ️")


def notify(message: str, icon: str = "✅") -> None:
    """Queue a toast for the next run (actions end with st.rerun, which would drop a toast shown now)."""
    st.session_state[FLASH_KEY] = (message, icon)


def show_flash() -> None:
    """What the last action did, plainly at the top of the page (and as a toast), for this run only."""
    flash = st.session_state.pop(FLASH_KEY, None)
    if flash:
        st.toast(flash[0], icon=flash[1])
        st.success(f"Done: {flash[0]}", icon=flash[1])


def in_dashboard_terms(text: str) -> str:
    """A core message in the dashboard's words: the CLI's option names mean nothing here."""
    return (text.replace("--force needs a --reason", "overriding needs a reason")
            .replace("needs a --reason", "needs a reason: write it in the Reason box")
            .replace("--force: ", "override: ").replace("--reason", "a reason").replace("--force", "override"))


def act(action: Callable[[], str], on_done: Callable[[], None] | None = None) -> bool:
    """Run one write through the core; on success queue a toast with what happened and rerun.

    A refusal or error is shown where the button is, in the core's words, and nothing is written.
    """
    try:
        message = action()
    except RegistryError as exc:
        st.error(in_dashboard_terms(str(exc)), icon="⛔")
        return False
    if on_done is not None:
        on_done()
    notify(message)
    st.rerun()
    return True  # pragma: no cover - st.rerun() does not return


def problems_panel(problems: list[dict], expanded: bool = False) -> None:
    """Broken or suspicious files, in the words of the index (never a crash)."""
    errors = sum(p["severity"] == "error" for p in problems)
    title = f"Catalog problems: {errors} error(s), {len(problems) - errors} warning(s)"
    with st.expander(title, expanded=expanded, icon="⚠️"):
        st.caption("Files that could not be read are left out of every view until fixed; "
                   "`modelreg validate` lists the same problems and more.")
        st.dataframe(problems, hide_index=True, width="stretch",
                     column_config={"path": st.column_config.TextColumn("file"),
                                    "severity": st.column_config.TextColumn("severity", width="small")})


def reset_on_change(name: str, value: Any, params: Sequence[str]) -> None:
    """When ``value`` (e.g. the model) changes, forget the URL choices that belonged to the old one."""
    marker = f"_prev_{name}"
    previous = st.session_state.get(marker)
    if previous is not None and previous != value:
        for param in params:
            st.query_params.pop(param, None)
            st.session_state.pop(f"_last_{param}", None)
    st.session_state[marker] = value


TRAIL_COLUMNS = ["at", "by", "model", "action", "version", "stage", "rollback_of", "reason", "request", "forced", "id"]


def shown_action(event: dict) -> str:
    """A promote that puts a previous holder back is a rollback: say so (the file records ``promote``)."""
    return "rollback" if event["action"] == "promote" and event.get("rollback_of") is not None else event["action"]


def trail_csv(rows: list[dict]) -> str:
    """Audit-trail rows as CSV, with full UTC timestamps (to the microsecond) and ``rollback_of``."""
    return formats.to_csv([{**e, "at": e["at"].isoformat()} for e in rows], TRAIL_COLUMNS) + "\n"

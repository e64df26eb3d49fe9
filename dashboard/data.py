"""Cached reads: every loader is keyed by (catalog folder, fingerprint), so a change on disk is never stale.

The ``_catalog`` argument is not hashed (Streamlit skips ``_``-prefixed
arguments); ``key`` is ``Context.key``.  Loaders return plain values, never
live objects, so a cached answer cannot change under a page.
"""

from __future__ import annotations

import json

import pandas as pd
import streamlit as st

from registry_core import Catalog
from registry_core.format.settings import Policy
from registry_core.lifecycle.actions import Plan
from registry_core.lifecycle.compare import Comparison
from registry_core.lifecycle.events import ModelState
from registry_core.lifecycle.policy import Decision

Key = tuple[str, str]
cached = st.cache_data(show_spinner=False, max_entries=256)


@cached
def problems(_catalog: Catalog, key: Key) -> list[dict]:
    return _catalog.problems()


@cached
def models(_catalog: Catalog, key: Key) -> list[dict]:
    return _catalog.models()


@cached
def versions(_catalog: Catalog, key: Key, model: str) -> list[dict]:
    return _catalog.versions(model)


@cached
def version(_catalog: Catalog, key: Key, ref: str) -> dict:
    return _catalog.get(ref)


@cached
def curves(_catalog: Catalog, key: Key, model: str, numbers: tuple[int, ...]) -> pd.DataFrame:
    """Every stepped metric row of these versions (training curves)."""
    return pd.DataFrame(_catalog.curves(model, list(numbers)),
                        columns=["version", "metric", "dataset", "slice", "step", "value"])


@cached
def monitoring(_catalog: Catalog, key: Key, model: str) -> pd.DataFrame:
    """Time-stamped summary rows (monitoring of deployed versions) of one model."""
    return pd.DataFrame(_catalog.monitoring(model),
                        columns=["version", "metric", "dataset", "slice", "timestamp", "value"])


@cached
def params(_catalog: Catalog, key: Key, model: str) -> pd.DataFrame:
    """One row per version, one column per param (values as the index stores them: text)."""
    rows = _catalog.params(model)
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows).pivot(index="version", columns="name", values="value")
    return frame.map(_plain)


@cached
def filtered(_catalog: Catalog, key: Key, model: str, expression: str) -> list[int]:
    """``Catalog.filter_versions``: the versions matching a metric/param filter."""
    return _catalog.filter_versions(model, expression)


def _plain(text):
    """Param text back to a number where it is one (params are stored as JSON-ish text)."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return text
    return value if isinstance(value, int | float) and not isinstance(value, bool) else text


@cached
def compare(_catalog: Catalog, key: Key, refs: tuple[str, ...]) -> Comparison:
    return _catalog.compare(list(refs))


@cached
def lineage(_catalog: Catalog, key: Key, ref: str) -> dict:
    return _catalog.lineage(ref)


@cached
def datasets(_catalog: Catalog, key: Key) -> list[dict]:
    return _catalog.datasets()


@cached
def dataset_usage(_catalog: Catalog, key: Key, name: str) -> list[dict]:
    return _catalog.dataset_usage(name)


@cached
def history(_catalog: Catalog, key: Key, model: str | None = None) -> list[dict]:
    return _catalog.history(model)


@cached
def requests(_catalog: Catalog, key: Key) -> list[dict]:
    return _catalog.requests()


@cached
def state(_catalog: Catalog, key: Key, model: str) -> ModelState:
    return _catalog.state(model)


@cached
def plan(_catalog: Catalog, key: Key, model: str, number: int, stage: str, user: str, force: bool,
         answering: str | None = None) -> Plan:
    """The live gate checklist and permission for one user (keyed by user: answers differ per person);
    ``answering``: a pending request's id, to see its gates as they evaluate now."""
    return _catalog.plan(model, number, stage, force=force, user=user, answering=answering)


def clear() -> None:
    """Forget every cached answer (the Refresh button; the fingerprint already covers file changes)."""
    st.cache_data.clear()


@cached
def headline_keys(_catalog: Catalog, key: Key) -> dict[str, list[str]]:
    """Every model's headline series (``metric[dataset]`` keys), in one query."""
    return _catalog.headline_series()


@cached
def headline_values(_catalog: Catalog, key: Key, pairs: tuple[tuple[str, int], ...]) -> dict[tuple[str, int], dict]:
    """Headline metrics of the given (model, version) pairs: {(model, version): {metric_key: value}}."""
    return _catalog.headlines(list(pairs))


@cached
def rollback(_catalog: Catalog, key: Key, model: str, stage: str, user: str) -> tuple[Decision, int | None, int | None]:
    """``Catalog.rollback_plan``: who may roll back this stage, and from which version to which."""
    return _catalog.rollback_plan(model, stage, user)


@cached
def policy(_catalog: Catalog, key: Key, model: str, stage: str) -> Policy:
    """The stage's policy for this model (model.yaml's override, else registry.yaml's)."""
    return _catalog.policy(model, stage)

"""modelreg's core: the catalog format, the DuckDB index, policies and the lifecycle.

This package never imports Streamlit; the CLI and the dashboard are thin
layers over ``Catalog``.  Its names are imported on first use, so that a
process that needs one module (an index build's YAML worker) does not pay
for all of them (DuckDB, the lifecycle, ...).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from registry_core.catalog import Catalog, metric_key
    from registry_core.errors import CatalogError, Conflict, InvalidInput, NotFound, PolicyRefused, RegistryError

__version__ = "0.1.0"
__all__ = [
    "Catalog", "CatalogError", "Conflict", "InvalidInput", "NotFound", "PolicyRefused", "RegistryError",
    "metric_key",
]
_HOMES = {"Catalog": "catalog", "metric_key": "catalog"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_HOMES.get(name, 'errors')}", __name__), name)
    globals()[name] = value
    return value

"""modelreg's core: the catalog format, the DuckDB index, policies and the lifecycle.

This package never imports Streamlit; the CLI and the dashboard are thin
layers over ``Catalog``.
"""

from .catalog import Catalog, metric_key
from .errors import CatalogError, Conflict, InvalidInput, NotFound, PolicyRefused, RegistryError

__version__ = "0.1.0"
__all__ = [
    "Catalog", "CatalogError", "Conflict", "InvalidInput", "NotFound", "PolicyRefused", "RegistryError",
    "metric_key",
]

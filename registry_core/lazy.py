"""Modules imported on first use: a ``modelreg resolve`` process should not pay for pyarrow (~0.1-0.2 s).

``pa = lazy.module("pyarrow")`` at the top of a module reads like an import; the module is imported the
first time one of its names is used.  Only for modules whose import-time work is not needed before then.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class _Lazy(ModuleType):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self.__name__)
        return getattr(module, attr)


def module(name: str) -> Any:
    """A stand-in for module ``name`` that imports it when an attribute is first looked up."""
    return _Lazy(name)
